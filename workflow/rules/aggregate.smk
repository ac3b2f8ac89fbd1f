# Tables and plots: mean ± std over seeds, from the run folders.


localrules:
    aggregate,


rule aggregate:
    input:
        grid_metrics,
    output:
        md=f"{EXP_DIR}/table.md",
        csv=report(
            f"{EXP_DIR}/table.csv",
            caption="../report/table_csv.rst",
            category="Results",
            labels={"table": "mean ± std (CSV)"},
        ),
        plot=report(
            f"{EXP_DIR}/error.png",
            caption="../report/error.rst",
            category="Results",
            labels={"table": "test error plot"},
        ),
        runs=f"{EXP_DIR}/runs.csv",
        html=report(
            f"{EXP_DIR}/table.html",
            caption="../report/table.rst",
            category="Results",
            labels={"table": "mean ± std over seeds"},
        ),
        runs_html=report(
            f"{EXP_DIR}/runs.html",
            caption="../report/runs.rst",
            category="Results",
            labels={"table": "every run"},
        ),
    params:
        out_dir=output_dir,
    log:
        f"{LOGS}/aggregate.log",
    conda:
        CONDA_ENV
    shell:
        "l2l aggregate --metrics {input:q} --out-dir {params.out_dir:q} > {log:q} 2>&1"
