"""The planning layer: what a run is, torch-free (importing it never imports torch).

* :mod:`l2l.plan.runs`: run-config resolution (shared settings <- recipe <- protocol block <- variant),
  the stage-one edge of two-stage methods, the files a run reads, the default grid.
* :mod:`l2l.plan.variants`: canonical variant names of run folders.
* :mod:`l2l.plan.tables`: the runs each paper table needs, per suite and protocol.

Snakemake (``workflow/rules/common.smk``) only calls these; so do the CLI (`l2l resolve`) and the tests.
"""

from l2l.plan.runs import DEFAULT_PROTOCOL, RUN_PATH, Planner, Run, folder_templates, merge
from l2l.plan.tables import TablePlanner, plan_runs, plan_table, suite_map
from l2l.plan import datasets
from l2l.plan.variants import nested, parse_variant, stage_one_variant, variant_name

__all__ = ["DEFAULT_PROTOCOL", "RUN_PATH", "Planner", "Run", "TablePlanner", "datasets", "folder_templates", "merge", "nested", "parse_variant",
           "plan_runs", "plan_table", "stage_one_variant", "suite_map", "variant_name"]
