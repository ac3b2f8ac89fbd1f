# The paper's tables (config/tables.yaml): one job per (suite, table) aggregates the runs the table needs;
# MACs from `l2l macs`; the IC-MLM attention maps of the paper's Fig. 3. Targets: `paper` (all tables on
# the real datasets), `table1` ... `table10` (one of them), `ablations` (the CPU demo of the whole grid),
# `field` (the field's benchmarks, config/field.yaml: a table per set, their overview; docs/field.md).
# Every table gets its per-attribute table (attributes.md beside table.md).


localrules:
    table,
    reproduction_summary,
    macs,
    attention_map,
    paper,
    ablations,
    field,
    attribute_table,
    suite_overview,


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


rule attribute_table:
    input:
        unpack(attribute_inputs),
    output:
        md=f"{TABLE_DIR}/attributes.md",
        csv=f"{TABLE_DIR}/attributes.csv",
        html=report(f"{TABLE_DIR}/attributes.html", caption="../report/attributes.rst", category="Per attribute",
                    subcategory="{table}", labels={"table": "{table}", "figure": "per attribute"}),
    params:
        plan=table_plan_json,
        out_dir=output_dir,
    log:
        f"{ELOGS}/tables/{{table}}_attributes.log",
    conda:
        CONDA_ENV
    shell:
        "l2l attributes --plan-json {params.plan:q} --meta {input.meta:q} --out-dir {params.out_dir:q} > {log:q} 2>&1"


rule suite_overview:
    input:
        unpack(overview_inputs),
    output:
        md=f"{OVERVIEW}.md",
        csv=f"{OVERVIEW}.csv",
        html=report(f"{OVERVIEW}.html", caption="../report/overview.rst", category="Suite overview",
                    labels={"experiment": "{experiment}"}),
    params:
        spec=overview_spec_json,
        suite=suite_of,
        protocol=suite_protocol,
        seeds=suite_seeds,
        uri=config["tracking_uri"],
        out_dir=output_dir,
    log:
        f"{ELOGS}/tables/overview.log",
    conda:
        CONDA_ENV
    shell:
        "l2l overview --tables {input.tables:q} --stats {input.stats:q} --spec-json {params.spec:q} "
        "--suite {params.suite:q} --protocol {params.protocol:q} --seeds {params.seeds:q} "
        "--out-dir {params.out_dir:q} --log-mlflow {params.uri:q} {wildcards.experiment:q} "
        "--artifacts {input.attributes:q} > {log:q} 2>&1"


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


rule field:
    input:
        field_targets,


for _table in config["tables"]:

    rule:
        name:
            _table
        input:
            table_target_function(_table),
        localrule: True
