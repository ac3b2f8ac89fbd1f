# One train job per (backbone, method, variant, seed); the same parameters always map to the same
# run folder, so no run is computed twice.


localrules:
    init_tracking,


rule init_tracking:
    output:
        TRACKING_MARKER,
    params:
        uri=config["tracking_uri"],
        experiment=EXPERIMENT,
    log:
        f"{LOGS}/init_tracking.log",
    conda:
        "../../environment.yml"
    shell:
        "l2l init-tracking --uri {params.uri} --experiment {params.experiment} --out {output} > {log} 2>&1"


rule train:
    input:
        meta=dataset_meta,
        tracking=TRACKING_MARKER,
        cache=cache_inputs,
        stage_one=stage_one_model,
    output:
        metrics=f"{RUN_DIR}/metrics.json",
        history=f"{RUN_DIR}/history.csv",
        model=f"{RUN_DIR}/model.pt",
    params:
        run_dir=output_dir,
        cfg=run_config_arg,
        tags=run_tags_arg,
        runs_per_gpu=config["resources"]["runs_per_gpu"],
    log:
        f"{LOGS}/train/{{dataset}}/{{backbone}}/{{method}}/{{variant}}/seed{{seed}}.log",
    threads: config["resources"]["threads"]
    resources:
        mem_mb=config["resources"]["mem_mb"],
        runtime=config["resources"]["runtime"],
        gpu=train_gpus(),
    conda:
        "../../environment.yml"
    shell:
        "l2l train --config-json {params.cfg} --set train.threads={threads} {params.tags} "
        "--runs-per-gpu {params.runs_per_gpu:q} --out {params.run_dir} > {log} 2>&1"
