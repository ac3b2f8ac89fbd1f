# The rehearsal (`snakemake --cores 2 paper --config rehearsal=true`, docs/rehearsal.md): each paper dataset's
# source is a tiny stand-in in its real file format, written here and read by the real prepare_dataset rule.


localrules:
    standin_dataset,


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
