# Dataset rules: every source ends as a prepared-dataset folder (labels.csv + meta.yaml + images).


localrules:
    generate_embedded,


rule generate_embedded:
    output:
        meta=f"{RESULTS}/datasets/{DATASET}/meta.yaml",
        labels=f"{RESULTS}/datasets/{DATASET}/labels.csv",
    params:
        out=output_dir,
        n_train=config["dataset"]["embedded"]["n_train"],
        n_val=config["dataset"]["embedded"]["n_val"],
        n_test=config["dataset"]["embedded"]["n_test"],
        size=config["dataset"]["embedded"]["image_size"],
        seed=config["dataset"]["embedded"]["seed"],
    log:
        f"{RESULTS}/datasets/logs/{DATASET}.log",
    conda:
        "../../environment.yml"
    shell:
        "l2l generate --out {params.out} --n-train {params.n_train} --n-val {params.n_val} "
        "--n-test {params.n_test} --image-size {params.size} --seed {params.seed} > {log} 2>&1"
