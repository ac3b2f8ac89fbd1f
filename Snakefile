# l2l: Label2Label benchmark pipeline. Thin entry point; the rules live in workflow/rules/.
# `snakemake --cores 8 all` runs the embedded demo configured in config/config.yaml.

import os

from snakemake.utils import min_version

# Snakemake 9: storage/executor plugins, `--sdm`, report format used by the rules.
min_version("9.0")

# workflow/envs/l2l.yaml installs this checkout into the `--sdm conda` environment through ${L2L_ROOT}.
os.environ.setdefault("L2L_ROOT", workflow.basedir)


# Resolved against the Snakefile, so `--directory` and `--configfile` overrides work from anywhere.
configfile: os.path.join(workflow.basedir, "config/config.yaml")


# The paper's datasets (LFWA, PA-100K, Clothing) and recipes; `snakemake all` stays the embedded demo.
configfile: os.path.join(workflow.basedir, "config/paper_datasets.yaml")


# `snakemake --report results/report.html`: this description, then the outputs marked report() in the rules.
report: "workflow/report/workflow.rst"


# The paper's Tables 1-10 and their suites (`snakemake paper`, `snakemake ablations`, `snakemake table5`).
configfile: os.path.join(workflow.basedir, "config/tables.yaml")


# The field's benchmarks (PETA, RAPv1, RAPv2, PETAzs, RAPzs, CelebA, PA-100K) and `snakemake field` (docs/field.md).
configfile: os.path.join(workflow.basedir, "config/field.yaml")


include: "workflow/rules/common.smk"
include: "workflow/rules/data.smk"
include: "workflow/rules/rehearsal.smk"
include: "workflow/rules/weights.smk"
include: "workflow/rules/preflight.smk"
include: "workflow/rules/train.smk"
include: "workflow/rules/aggregate.smk"
include: "workflow/rules/tables.smk"
include: "workflow/rules/zoo.smk"


rule all:
    default_target: True
    input:
        all_targets(),
