# The rehearsal (`snakemake --cores 2 paper --config rehearsal=true`, docs/rehearsal.md): each paper dataset's
# source is a tiny stand-in in its real file format, written here and read by the real prepare_dataset rule.


localrules:
    standin_dataset,
    standin_weights,


rule standin_dataset:
    output:
        directory(f"{RESULTS}/standins/{{dataset}}"),
    wildcard_constraints:
        dataset="|".join(STANDINS) or "^$",
    params:
        source=lambda w: config["datasets"][w.dataset]["source"],
    log:
        f"{RESULTS}/standins/logs/{{dataset}}.log",
    conda:
        CONDA_ENV
    shell:
        "l2l standin {params.source:q} --out {output:q} > {log:q} 2>&1"


# Randomly initialised weights in the real file names and formats (l2l.weights.write_standin_mirror), as the
# rehearsal's weights_mirror: the real fetch_weights rule copies them into the cache, train jobs load them offline.
rule standin_weights:
    output:
        f"{STANDIN_MIRROR}/{{library}}/{{weights_file}}",
    wildcard_constraints:
        library="torchvision|timm",
        weights_file=r"[A-Za-z0-9_.-]+\.(pth|safetensors)",
    params:
        pair=standin_weights_pair,
        mirror=lambda w, output: os.path.dirname(os.path.dirname(output[0])),  # <mirror>/<library>/<file>
    log:
        f"{RESULTS}/standins/logs/weights/{{library}}/{{weights_file}}.log",
    conda:
        CONDA_ENV
    shell:
        "l2l weights standin --backbone {params.pair:q} --out {params.mirror:q} > {log:q} 2>&1"
