# Preflight of a suite before any of its train jobs (l2l/preflight.py): data, packages, offline weights,
# GPU, disk, all problems at once; results/<suite>/preflight.md plans the runs and GPU-hours per table.
# Train jobs of a suite take it as an ancient() input: it runs first, and rerunning it never retrains.


localrules:
    preflight,


rule preflight:
    input:
        standins=rehearsal_preflight_inputs,
    output:
        f"{EXP}/preflight.md",
    wildcard_constraints:
        experiment="|".join(TABLES.experiments()) or "^$",
    params:
        targets=preflight_targets,
        local=workflow_is_local(),
    log:
        f"{ELOGS}/preflight.log",
    priority: 100  # first among the jobs ready at the start: its problems are printed before another job fails
    run:
        run_preflight(config, params.targets, output[0], params.local, log[0])
