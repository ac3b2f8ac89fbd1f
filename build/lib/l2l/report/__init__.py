"""Tables and figures from finished run folders: the one report layer (never imports torch or models).

* :mod:`l2l.report.run_reader`: read a run folder's ``metrics.json`` (+ ``config.yaml``) into one flat row;
* :mod:`l2l.report.render`: mean ± std over seeds, number formatting, the one markdown table writer,
  the HTML page writer, method labels and order;
* :mod:`l2l.report.plots`: every PNG (demo bar chart, a paper table's figures);
* :mod:`l2l.report.aggregate`: ``l2l aggregate`` (the demo's table: one row per dataset × backbone × method);
* :mod:`l2l.report.paper`: ``l2l table`` (a paper table planned by :func:`l2l.plan.tables.plan_table`: ours,
  paper, delta, paired statistics);
* :mod:`l2l.report.header`: the first page of ``snakemake --report``, read from the runs its tables
  aggregate, every value escaped as reStructuredText text.

Metric names and directions come from :mod:`l2l.metrics` (``METRICS``, ``LOWER_IS_BETTER``).
"""
