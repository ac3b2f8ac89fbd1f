# Dataset rules: every source ends as a prepared-dataset folder (labels.csv + meta.yaml + images).


localrules:
    generate_embedded,


rule generate_embedded:
    output:
        meta=f"{DATASET_DIR}/meta.yaml",
        labels=f"{DATASET_DIR}/labels.csv",
    wildcard_constraints:
        dataset=datasets_of_source("embedded"),
    params:
        out=output_dir,
        args=embedded_args,
    log:
        f"{RESULTS}/datasets/logs/{{dataset}}.log",
    conda:
        "../../environment.yml"
    shell:
        "l2l generate --out {params.out} {params.args} > {log} 2>&1"
