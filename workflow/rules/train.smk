# One train job per (backbone, method, variant, seed); the same parameters always map to the same
# run folder, so no run is computed twice.


localrules:
    init_tracking,


rule init_tracking:
    output:
        TRACKING_MARKER,
    params:
        uri=config["tracking_uri"],
    log:
        f"{ELOGS}/init_tracking.log",
    conda:
        CONDA_ENV
    shell:
        "l2l init-tracking --uri {params.uri:q} --experiment {wildcards.experiment:q} --out {output:q} > {log:q} 2>&1"


rule train:
    input:
        meta=f"{DATASET_DIR}/meta.yaml",
        tracking=TRACKING_MARKER,
        cache=cache_inputs,
        stage_one=stage_one_model,
        weights=weights_files,
        preflight=preflight_input,
    output:
        metrics=f"{RUN_DIR}/metrics.json",
        history=f"{RUN_DIR}/history.csv",
        model=f"{RUN_DIR}/model.pt",
    params:
        run_dir=output_dir,
        cfg=run_config_json,
        tags=run_tags,
        log_target=train_log_target,  # the run folder's train.log, which the rule's log links to
        runs_per_gpu=config["resources"]["runs_per_gpu"],
    log:
        TRAIN_LOG,
    threads: config["resources"]["threads"]
    resources:
        mem_mb=train_mem_mb,
        runtime=train_runtime,
        gpu=train_gpus,
    conda:
        CONDA_ENV
    # Every value quoted ({x:q}). Snakemake deletes {log} before a job starts, so {log} is a link to the
    # run folder's train.log, which every attempt appends to (after a marker line): a resumed job's log
    # keeps the killed attempt's lines. Pretrained weights: only from the fetched cache, offline (the
    # environment common.smk sets: L2L_WEIGHTS_DIR, TORCH_HOME, HF_HUB_OFFLINE).
    shell:
        "ln -sfn {params.log_target:q} {log:q}; "
        "echo \"==== attempt started $(date -u +%Y-%m-%dT%H:%M:%SZ) ====\" >> {log:q}; "
        "l2l train --config-json {params.cfg:q} --set train.threads={threads} {params.tags:q} "
        "--runs-per-gpu {params.runs_per_gpu:q} --out {params.run_dir:q} >> {log:q} 2>&1"
