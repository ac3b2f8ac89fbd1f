# Dataset rules: every source ends as a prepared-dataset folder (labels.csv + meta.yaml + images).


localrules:
    generate_embedded,


rule generate_embedded:
    output:
        meta=f"{DATASET_DIR}/meta.yaml",
        labels=f"{DATASET_DIR}/labels.csv",
    wildcard_constraints:
        dataset=datasets_of("embedded"),
    params:
        out=output_dir,
        args=embedded_args,
    log:
        f"{RESULTS}/datasets/logs/{{dataset}}.log",
    conda:
        CONDA_ENV
    shell:
        "l2l generate --out {params.out:q} {params.args:q} > {log:q} 2>&1"


localrules:
    source_url,
    download_dataset,


# The URL goes to `l2l download` / `l2l prepare` in a file: a token in its query string never shows in a
# printed shell command or in Snakemake's log (the l2l commands redact it in theirs).
rule source_url:
    output:
        f"{DOWNLOADS}/{{dataset}}/source_url.txt",
    wildcard_constraints:
        dataset=datasets_of(url=True),
    log:
        f"{DOWNLOADS}/logs/{{dataset}}/source_url.log",
    run:
        write_url_file(wildcards.dataset, output[0])


# Login nodes have the network, compute nodes often do not: downloads run locally.
rule download_dataset:
    input:
        url=f"{DOWNLOADS}/{{dataset}}/source_url.txt",
    output:
        f"{DOWNLOADS}/{{dataset}}/{{file}}",
    wildcard_constraints:
        dataset=datasets_of(url=True),
        file=r"[^/]+(?<!source_url\.txt)",
    params:
        args=download_args,
    log:
        f"{DOWNLOADS}/logs/{{dataset}}/{{file}}.log",
    conda:
        CONDA_ENV
    shell:
        "l2l download --url-file {input.url:q} {params.args:q} --out {output:q} > {log:q} 2>&1"


# The real datasets, from a download or a local folder/archive (manual mode). On failure the log's
# tail (e.g. where to get the data and where to put it) is shown with Snakemake's error.
rule prepare_dataset:
    input:
        source=prepare_input,
        url=url_file_input,
    output:
        meta=f"{DATASET_DIR}/meta.yaml",
        labels=f"{DATASET_DIR}/labels.csv",
    wildcard_constraints:
        dataset=datasets_of(*datasets.PREPARED_SOURCES),
    params:
        source=prepare_source,
        out=output_dir,
        args=prepare_args,
        url_arg=url_file_arg,
    log:
        f"{RESULTS}/datasets/logs/{{dataset}}.log",
    conda:
        CONDA_ENV
    shell:
        "l2l prepare {params.args:q} {params.url_arg:q} --source {params.source:q} --out {params.out:q} > {log:q} 2>&1 "
        "|| {{ tail -n 20 {log:q} >&2; exit 1; }}"
# Decoded, resized uint8 images of one split at one input size (l2l.data.cache), read by train jobs
# when data.cache is on, so no job decodes an image file per step.
rule cache_dataset:
    input:
        meta=f"{DATASET_DIR}/meta.yaml",
    output:
        f"{DATASET_DIR}/cache/{{split}}_{{height}}x{{width}}.npy",
    wildcard_constraints:
        split="train|val|test",
        height=r"\d+",
        width=r"\d+",
    params:
        root=dataset_dir,
    log:
        f"{RESULTS}/datasets/logs/{{dataset}}_cache_{{split}}_{{height}}x{{width}}.log",
    conda:
        CONDA_ENV
    shell:
        "l2l cache --data {params.root:q} --split {wildcards.split:q} "
        "--image-size {wildcards.height:q} {wildcards.width:q} > {log:q} 2>&1"
