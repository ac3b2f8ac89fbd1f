# Tables and plots: mean ± std over seeds, from the run folders.


localrules:
    aggregate,


rule aggregate:
    input:
        grid_metrics(),
    output:
        md=f"{EXP_DIR}/table.md",
        csv=f"{EXP_DIR}/table.csv",
        plot=f"{EXP_DIR}/error.png",
        runs=f"{EXP_DIR}/runs.csv",
    params:
        out_dir=output_dir,
    log:
        f"{LOGS}/aggregate.log",
    conda:
        "../../environment.yml"
    shell:
        "l2l aggregate --metrics {input} --out-dir {params.out_dir} > {log} 2>&1"
