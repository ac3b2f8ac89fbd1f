# The paper's tables (config/tables.yaml): one job per (suite, table) aggregates the runs the table needs;
# MACs from `l2l macs`; the IC-MLM attention maps of the paper's Fig. 3. Targets: `paper` (all tables on
# the real datasets), `table1` ... `table10` (one of them), `ablations` (the CPU demo of the whole grid).


localrules:
    table,
    reproduction_summary,
    macs,
    attention_map,
    paper,
    ablations,


wildcard_constraints:
    table="|".join(config["tables"]),
    split=r"[a-z]+",
    sample=r"\d+",
    layer=r"\d+",
    head=r"\d+",


rule table:
    input:
        unpack(table_inputs),
    output:
        md=f"{TABLE_DIR}/table.md",
        csv=f"{TABLE_DIR}/table.csv",
        stats=f"{TABLE_DIR}/stats.csv",
        html=report(f"{TABLE_DIR}/table.html", caption="../report/paper_table.rst", category="Paper tables",
                    subcategory="{table}", labels={"table": "{table}", "figure": "table"}),
        plot=report(f"{TABLE_DIR}/plot.png", caption="../report/paper_plot.rst", category="Paper tables",
                    subcategory="{table}", labels={"table": "{table}", "figure": "error plot"}),
        curves=report(f"{TABLE_DIR}/curves.png", caption="../report/paper_curves.rst", category="Paper tables",
                      subcategory="{table}", labels={"table": "{table}", "figure": "validation curves"}),
    params:
        plan=table_plan_json,
        out_dir=output_dir,
    log:
        f"{ELOGS}/tables/{{table}}.log",
    conda:
        CONDA_ENV
    shell:
        "l2l table --plan-json {params.plan:q} --paper {input.paper:q} --macs {input.macs:q} "
        "--out-dir {params.out_dir:q} > {log:q} 2>&1"


rule reproduction_summary:
    input:
        tables=reproduction_inputs,
    output:
        md=f"{SUMMARY}.md",
        csv=f"{SUMMARY}.csv",
        checks=f"{EXP}/tables/reproduction_checks.csv",
        html=report(
            f"{SUMMARY}.html",
            caption="../report/reproduction.rst",
            category="Reproduction summary",
            labels={"experiment": "{experiment}"},
        ),
    params:
        out_dir=output_dir,
        protocol=suite_protocol,
        suite=suite_of,
    log:
        f"{ELOGS}/tables/reproduction_summary.log",
    conda:
        CONDA_ENV
    shell:
        "l2l reproduction --tables {input.tables:q} --suite {params.suite:q} --protocol {params.protocol:q} "
        "--out-dir {params.out_dir:q} > {log:q} 2>&1"


rule macs:
    input:
        meta=f"{DATASET_DIR}/meta.yaml",
    output:
        MACS_JSON,
    params:
        cfg=run_config_json,
    log:
        f"{ELOGS}/macs/{{dataset}}/{{backbone}}/{{method}}/{{variant}}/{{protocol}}.log",
    conda:
        CONDA_ENV
    shell:
        "l2l macs --config-json {params.cfg:q} --out {output:q} > {log:q} 2>&1"


rule attention_map:
    input:
        unpack(attention_inputs),
    output:
        report(ATTENTION_PNG, caption="../report/attention.rst", category="Attention maps (Fig. 3)",
               labels={"sample": "{sample}", "layer": "{layer}", "head": "{head}"}),
    params:
        run=attention_run,
        out_dir=output_dir,
    log:
        f"{ELOGS}/attention/{{split}}{{sample}}_layer{{layer}}_head{{head}}.log",
    conda:
        CONDA_ENV
    shell:
        "l2l attention --run {params.run:q} --split {wildcards.split:q} --samples {wildcards.sample:q} "
        "--layer {wildcards.layer:q} --head {wildcards.head:q} --out-dir {params.out_dir:q} --log-mlflow > {log:q} 2>&1"


rule paper:
    input:
        paper_targets,


rule ablations:
    input:
        ablation_targets,


for _table in config["tables"]:

    rule:
        name:
            _table
        input:
            table_target_function(_table),
        localrule: True
