# The model zoo of an experiment (l2l/report/zoo.py): zoo.md / zoo.csv / zoo.html with each run's
# checkpoint as model-<sha8>.pt, its MLflow run id and the command that re-creates it; it also logs each
# cell's mean, std, n, bootstrap interval and paper number onto the cell's MLflow parent run.


localrules:
    zoo,


rule zoo:
    input:
        unpack(zoo_inputs),
    output:
        md=f"{EXP}/zoo.md",
        csv=f"{EXP}/zoo.csv",
        pairs=f"{EXP}/zoo_pairs.csv",
        html=report(
            f"{EXP}/zoo.html",
            caption="../report/zoo.rst",
            category="Model zoo",
            labels={"experiment": "{experiment}"},
        ),
    params:
        out_dir=output_dir,
        suite=zoo_suite,
        protocol=zoo_protocol,
        seed=config["bootstrap"]["seed"],
        samples=config["bootstrap"]["samples"],
        min_seeds=config["bootstrap"]["min_seeds"],
    log:
        f"{ELOGS}/zoo.log",
    conda:
        CONDA_ENV
    shell:
        "l2l zoo --metrics {input.metrics:q} --tables {input.tables:q} --experiment {wildcards.experiment:q} "
        "--suite={params.suite:q} --protocol={params.protocol:q} --bootstrap-seed {params.seed:q} "
        "--bootstrap-samples {params.samples:q} --min-seeds {params.min_seeds:q} --out-dir {params.out_dir:q} "
        "> {log:q} 2>&1"
