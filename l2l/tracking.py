"""MLflow logging: the only module that imports mlflow.

Parallel train jobs share one sqlite store. SQLite allows one writer at a time and
MLflow's schema set-up and experiment creation race when several processes start
together, so for sqlite URIs every MLflow call holds an exclusive ``fcntl`` lock on
``<db>.lock`` and is retried on "database is locked". A tracking server
(``MLFLOW_TRACKING_URI=http://...``) serialises writes itself and takes no lock.

A sqlite file that is not a database (truncated, overwritten, corrupted) makes sqlalchemy raise a
``DatabaseError`` from deep inside MLflow's schema check; every call here turns it into one line naming
the file and the fix (:func:`store_error`). Read-only commands (``l2l predict --run runs:/<id>``) never
create a store: a sqlite URI naming no file is refused (:func:`require_store`).

Runs grouped by table cell (docs/zoo.md): a train job that carries the pipeline's ``wildcard.*`` tags gets a
parent run for its cell (dataset × backbone × method × variant × protocol), found by the tag ``l2l.cell_id``
or created, and the child is created in the same locked call, so parallel seed jobs of one cell share one
parent and a job killed after the parent was made reuses it on rerun. ``l2l zoo`` writes the cell's
aggregate onto the parent (:func:`update_parent`). The selected checkpoint becomes an MLflow logged model
(:meth:`Tracker.log_model`; the pyfunc in :mod:`l2l.mlflow_pyfunc` runs ``l2l predict``'s path), and
MLflow's own system-metrics monitor logs ``system/...`` per run (:meth:`Tracker.start_system_metrics`).
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import os
import re
import shutil
import sqlite3
import subprocess
import time
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import Any, TypeVar

T = TypeVar("T")


def resolve_uri(configured: str) -> str:
    """``MLFLOW_TRACKING_URI`` wins over the config, so one env var redirects a whole pipeline."""
    return os.environ.get("MLFLOW_TRACKING_URI") or configured


def sqlite_path(uri: str) -> Path | None:
    return Path(uri[len("sqlite:///"):]) if uri.startswith("sqlite:///") else None


@contextlib.contextmanager
def _store_lock(uri: str) -> Iterator[None]:
    db = sqlite_path(uri)
    if db is None:
        yield
        return
    db.parent.mkdir(parents=True, exist_ok=True)
    with open(f"{db}.lock", "a") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


def store_error(uri: str, error: BaseException) -> Exception | None:
    """One-line UserError for a sqlite store that cannot be read (not a database, malformed), else None."""
    from l2l.errors import UserError

    db = sqlite_path(uri)
    seen: BaseException | None = error
    while db is not None and seen is not None:
        if type(seen).__name__ == "DatabaseError" or isinstance(seen, sqlite3.DatabaseError):
            reason = " ".join(str(getattr(seen, "orig", None) or seen).split())[:200]
            if "locked" not in reason.lower():
                return UserError(f"{db}: cannot be used as an MLflow store ({reason}); if it is corrupted, move it "
                                 f"aside (mv {db} {db}.broken) and re-run to start a new store, or set tracking.uri "
                                 f"(or MLFLOW_TRACKING_URI) to another store")
        seen = seen.__cause__ or seen.__context__
    return None


def require_store(uri: str) -> None:
    """Refuse a sqlite URI naming no file: a read-only command must not create an empty store there."""
    from l2l.errors import UserError

    db = sqlite_path(uri)
    if db is not None and not db.is_file():
        raise UserError(f"{db}: no MLflow store there (a mistyped --uri, or run from another folder); pass --uri "
                        f"sqlite:///<path to the mlflow.db that holds the run> or set MLFLOW_TRACKING_URI")


def git_commit() -> str:
    """HEAD of the code's checkout, with '-dirty' when it has uncommitted changes."""
    here = Path(__file__).resolve().parent
    try:
        sha = subprocess.run(["git", "rev-parse", "HEAD"], cwd=here, capture_output=True, text=True,
                             check=True, timeout=10).stdout.strip()
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=here,
                               capture_output=True, text=True, timeout=10).stdout.strip()
        return sha + ("-dirty" if dirty else "")
    except (OSError, subprocess.SubprocessError):
        return "unknown"


def source_tags(commit: str, entry_point: str = "l2l train") -> dict[str, str]:
    """MLflow's standard source tags (its UI shows the commit in the runs table's version column).

    ``commit`` is :func:`git_commit`'s value; a "-dirty" suffix goes to its own tag, since MLflow
    expects a bare hash in ``mlflow.source.git.commit``.
    """
    sha, dirty = commit.removesuffix("-dirty"), commit.endswith("-dirty")
    tags = {"mlflow.source.type": "JOB", "mlflow.source.name": entry_point, "git_commit": commit}
    if sha != "unknown":
        tags["mlflow.source.git.commit"] = sha
        tags["git_dirty"] = str(dirty).lower()
    return tags


CELL_FIELDS = ("dataset", "backbone", "method", "variant", "protocol")
PARENT_TAG = "mlflow.parentRunId"  # what MLflow's UI nests a child run under
ROLE_TAG, CELL_TAG, CELL_ID_TAG = "l2l.role", "l2l.cell", "l2l.cell_id"


def cell_of(tags: Mapping[str, str]) -> dict[str, str] | None:
    """The table cell of a pipeline train job (its ``wildcard.*`` tags, seed left out); None for a run by hand."""
    if not all(f"wildcard.{f}" in tags for f in CELL_FIELDS):
        return None
    return {f: str(tags[f"wildcard.{f}"]) for f in CELL_FIELDS}


def cell_id(cell: Mapping[str, str]) -> str:
    """A hex id of the cell: a filter value with no quote or slash in it, whatever the variant holds."""
    return hashlib.sha256("\x1f".join(cell[f] for f in CELL_FIELDS).encode()).hexdigest()[:24]


def cell_name(cell: Mapping[str, str]) -> str:
    return "/".join(cell[f] for f in ("dataset", "method", "backbone", "variant", "protocol"))


class Tracker:
    """One MLflow run. Create with :meth:`start`; every call is locked and retried for sqlite."""

    def __init__(self, uri: str, run_id: str, experiment_id: str) -> None:
        self.uri, self.run_id, self.experiment_id = uri, run_id, experiment_id
        self._client = None
        self._monitor: Any = None

    @property
    def client(self):
        if self._client is None:
            from mlflow.tracking import MlflowClient

            self._client = MlflowClient(tracking_uri=self.uri)
        return self._client

    def _call(self, fn: Callable[[], T], retries: int = 20) -> T:
        for attempt in range(retries):
            try:
                with _store_lock(self.uri):
                    return fn()
            except Exception as e:  # sqlalchemy OperationalError is wrapped by MlflowException
                if "locked" not in str(e).lower() or attempt == retries - 1:
                    bad_store = store_error(self.uri, e)
                    if bad_store is not None:
                        raise bad_store from e
                    raise
                time.sleep(min(0.05 * 2**attempt, 2.0))
        raise AssertionError("unreachable")

    @classmethod
    def start(cls, uri: str, experiment: str, run_name: str, tags: Mapping[str, str],
              params: Mapping[str, str], run_id: str | None = None) -> "Tracker":
        """Open ``run_id`` if given and present (a resumed job), else create a new run."""
        tracker = cls(uri, "", "")
        tracker.experiment_id = tracker._call(lambda: get_or_create_experiment(tracker.client, experiment, uri))
        if run_id and tracker._run_exists(run_id):
            tracker.run_id = run_id
            tracker._call(lambda: tracker.client.update_run(run_id, status="RUNNING"))
            return tracker
        # parent lookup/creation and the child in ONE locked call: parallel seeds of a cell share one parent
        run = tracker._call(lambda: tracker._create_child(run_name, tags))
        tracker.run_id = run.info.run_id
        tracker.log_params(params)
        return tracker

    def _create_child(self, run_name: str, tags: Mapping[str, str]) -> Any:
        cell, tags = cell_of(tags), dict(tags)
        if cell is not None:
            tags[PARENT_TAG] = self._parent_of(cell)
        return self.client.create_run(self.experiment_id, tags=tags, run_name=run_name)

    def _parent_of(self, cell: Mapping[str, str]) -> str:
        """The cell's parent run (the oldest if a store without our lock ever got two), else a new one.
        Called with the store lock held."""
        found = self.client.search_runs([self.experiment_id], f"tags.`{CELL_ID_TAG}` = '{cell_id(cell)}'",
                                        order_by=["attributes.start_time ASC"], max_results=10)
        if found:
            return found[0].info.run_id
        tags = {ROLE_TAG: "parent", CELL_TAG: cell_name(cell), CELL_ID_TAG: cell_id(cell),
                **{f"wildcard.{f}": cell[f] for f in CELL_FIELDS},
                "mlflow.note.content": f"Table cell {cell_name(cell)}: its seed runs are the children; "
                                       "`l2l zoo` logs their mean, std, n, 95 % bootstrap CI and the paper's "
                                       "number here."}
        parent = self.client.create_run(self.experiment_id, tags=tags, run_name=cell_name(cell))
        self.client.set_terminated(parent.info.run_id, status="FINISHED")
        return parent.info.run_id

    def _run_exists(self, run_id: str) -> bool:
        """False when the store no longer has the run (deleted, or the job now logs to another URI)."""
        from mlflow.exceptions import MlflowException

        try:
            run = self._call(lambda: self.client.get_run(run_id))
        except MlflowException:
            return False
        return run.info.lifecycle_stage == "active"

    def logged_steps(self, key: str) -> set[int]:
        """Steps already logged for ``key``: lets a resumed run fill gaps without duplicating points."""
        return {m.step for m in self._call(lambda: self.client.get_metric_history(self.run_id, key))}

    def logged_models(self) -> list[Any]:
        """The logged models of this run (a rerun after a failure past log_model must not log a second)."""
        return self._call(lambda: self.client.search_logged_models(
            [self.experiment_id], filter_string=f"source_run_id = '{self.run_id}'"))

    def log_params(self, params: Mapping[str, str]) -> None:
        from mlflow.entities import Param

        items = [Param(k, str(v)[:6000]) for k, v in params.items()]
        for i in range(0, len(items), 100):
            self._call(lambda chunk=items[i:i + 100]: self.client.log_batch(self.run_id, params=chunk))

    def set_tags(self, tags: Mapping[str, str]) -> None:
        from mlflow.entities import RunTag

        self._call(lambda: self.client.log_batch(self.run_id, tags=[RunTag(k, str(v)) for k, v in tags.items()]))

    def log_metrics(self, metrics: Mapping[str, float], step: int | None = None) -> None:
        from mlflow.entities import Metric

        now = int(time.time() * 1000)
        items = [Metric(k, float(v), now, step or 0) for k, v in metrics.items()]
        self._call(lambda: self.client.log_batch(self.run_id, metrics=items))

    def log_artifact(self, path: str | Path) -> None:
        self._call(lambda: self.client.log_artifact(self.run_id, str(path)))

    def log_weights(self, model_file: str | Path) -> None:
        """The selected epoch's weights under the artifact folder ``model/`` (with config.yaml, so
        ``l2l predict --run runs:/<id>`` can rebuild the model from the artifacts alone)."""
        self._call(lambda: self.client.log_artifact(self.run_id, str(model_file), "model"))

    def log_dataset_input(self, name: str, digest: str, source: str, profile: Mapping[str, Any],
                          context: str = "training") -> None:
        """The prepared dataset as a run input (MLflow's Datasets column): name, labels.csv digest, folder."""
        import json

        from mlflow.entities import Dataset, DatasetInput, InputTag

        dataset = Dataset(name=name, digest=digest[:36] or "unknown", source_type="local", source=source,
                          profile=json.dumps(dict(profile), sort_keys=True))
        item = DatasetInput(dataset, tags=[InputTag("mlflow.data.context", context)])
        self._call(lambda: self.client.log_inputs(self.run_id, datasets=[item]))

    def start_system_metrics(self, resume: bool = False) -> None:
        """MLflow's system-metrics monitor (CPU, memory, disk, network; GPU where pynvml finds one) for
        this run, its writes through the store lock; sampling every MLFLOW_SYSTEM_METRICS_SAMPLING_INTERVAL
        seconds (10 unless set)."""
        self._monitor = _locked_monitor(self, resume)
        self._monitor.start()

    def stop_system_metrics(self) -> None:
        """Stop the monitor and log what it sampled since its last write (a short run gets one point too)."""
        monitor, self._monitor = self._monitor, None
        if monitor is None:
            return
        monitor._shutdown_event.set()
        if monitor._process is not None:
            monitor._process.join()
        try:
            left = monitor.aggregate_metrics()
            if left:
                monitor.publish_metrics(left)
        except Exception as e:  # noqa: BLE001 (the run's own ending must not fail for its system metrics)
            import sys

            print(f"system metrics of MLflow run {self.run_id}: last samples not logged ({e})", file=sys.stderr)

    def log_model(self, run_dir: str | Path, step: int, attributes: list[str], example: str | Path,
                  name: str) -> str:
        """The run's selected checkpoint as an MLflow logged model (pyfunc, ``l2l predict``'s path), linked
        to this run and to its metrics at ``step`` (the selected epoch's test metrics). Returns the model id.

        ``name`` (the run's name, :func:`model_name`) must not be ``model``: MLflow resolves ``runs:/<id>/<name>/...`` to the logged model of that
        name, which would shadow the run's plain ``model/model.pt`` artifact that ``l2l predict --run`` reads."""
        import tempfile

        def log() -> str:
            import mlflow
            import pandas as pd

            # MLflow re-reads the logged files to validate the input example with a tqdm bar per call:
            # carriage returns in a job log (tests/test_progress.py); a value the user set wins
            os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")
            with tempfile.TemporaryDirectory() as tmp, _tracking_uri(self.uri):
                folder = Path(tmp) / "run"  # only what a prediction needs, no resume.ckpt
                folder.mkdir()
                for file in ("config.yaml", "model.pt"):
                    shutil.copy2(Path(run_dir) / file, folder / file)
                with mlflow.start_run(run_id=self.run_id):
                    info = mlflow.pyfunc.log_model(
                        name=model_name(name), python_model=str(Path(__file__).with_name("mlflow_pyfunc.py")),
                        artifacts={"run": str(folder)}, signature=_signature(attributes),
                        input_example=pd.DataFrame({"image": [str(Path(example).resolve())]}),
                        pip_requirements=_pip_requirements(), step=step,
                        tags={"l2l.selected_epoch": str(step)})
            return info.model_id

        return self._call(log)

    def finish(self, status: str = "FINISHED") -> None:
        self.stop_system_metrics()
        self._call(lambda: self.client.set_terminated(self.run_id, status=status))


def model_name(run_name: str) -> str:
    """A run's name as a logged model's: ``/`` → ``-``, MLflow's other forbidden characters (``:.%"'``) → ``_``."""
    return re.sub(r"[:.%\"']", "_", run_name.replace("/", "-"))


def _locked_monitor(tracker: Tracker, resume: bool) -> Any:
    """A SystemMetricsMonitor whose writes go through ``tracker`` (locked, retried) instead of its own client."""
    from mlflow.system_metrics.system_metrics_monitor import SystemMetricsMonitor

    class Monitor(SystemMetricsMonitor):
        def publish_metrics(self, metrics: dict[str, float]) -> None:
            tracker.log_metrics({f"system/{k}": v for k, v in metrics.items()}, step=self._logging_step)
            self._logging_step += 1
            for monitor in self.monitors:
                monitor.clear_metrics()

    return tracker._call(lambda: Monitor(tracker.run_id, resume_logging=resume, tracking_uri=tracker.uri))


@contextlib.contextmanager
def _tracking_uri(uri: str) -> Iterator[None]:
    """MLflow's fluent API (log_model) reads a process-global URI (and sets MLFLOW_TRACKING_URI): set both for
    the call and put them back (MLflow's own helper)."""
    from mlflow.tracking._tracking_service.utils import _use_tracking_uri

    env = os.environ.get("MLFLOW_TRACKING_URI")
    try:
        with _use_tracking_uri(uri):
            yield
    finally:  # unset by MLflow when no URI was set in-process, even if the environment had one
        if env is not None:
            os.environ["MLFLOW_TRACKING_URI"] = env


def _signature(attributes: list[str]) -> Any:
    """Input: a column ``image`` of image paths; output: ``l2l predict``'s columns (<attr>_prob, <attr>_pred)."""
    from mlflow.models import ModelSignature
    from mlflow.types import ColSpec, Schema

    out = [ColSpec(kind, f"{a}_{col}") for a in attributes for col, kind in (("prob", "float"), ("pred", "integer"))]
    return ModelSignature(inputs=Schema([ColSpec("string", "image")]), outputs=Schema(out))


def _pip_requirements() -> list[str]:
    """Pinned from this environment (MLflow's own inference would load the model in a subprocess, slowly)."""
    from importlib.metadata import PackageNotFoundError, version

    reqs = []
    for name in ("mlflow", "torch", "torchvision", "pandas", "pyyaml", "numpy", "pillow"):
        try:
            reqs.append(f"{name}=={version(name)}")
        except PackageNotFoundError:
            continue
    return reqs + ["l2l"]  # the package itself (pip install -e <checkout>): the model runs its predict path


def default_artifact_location(uri: str, experiment: str) -> str | None:
    """Artifacts of a sqlite store live beside the db (``<dir>/mlartifacts``), not in the cwd."""
    db = sqlite_path(uri)
    return (db.resolve().parent / "mlartifacts" / experiment).as_uri() if db else None


def get_or_create_experiment(client: Any, name: str, uri: str) -> str:
    """Survives the race of several jobs creating the same experiment at once."""
    from mlflow.exceptions import MlflowException

    exp = client.get_experiment_by_name(name)
    if exp is not None:
        return exp.experiment_id
    try:
        return client.create_experiment(name, artifact_location=default_artifact_location(uri, name))
    except MlflowException:
        exp = client.get_experiment_by_name(name)
        if exp is None:
            raise
        return exp.experiment_id


def ensure_experiment(uri: str, name: str) -> str:
    """Create the store and experiment once, before parallel jobs start (used by a local rule)."""
    tracker = Tracker(uri, "", "")
    return tracker._call(lambda: get_or_create_experiment(tracker.client, name, uri))


def update_parents(uri: str, cells: list[tuple[list[str], dict[str, float], dict[str, str]]]) -> int:
    """Log each cell's aggregate onto its parent run: ``(child run ids, metrics, tags)`` per cell, the
    parent found through the children's ``mlflow.parentRunId``. Returns how many parents were updated
    (a cell whose runs have no parent, e.g. trained by hand or before issue 24, is skipped)."""
    from mlflow.entities import Metric, RunTag
    from mlflow.exceptions import MlflowException

    tracker, now, updated = Tracker(uri, "", ""), int(time.time() * 1000), 0
    for children, metrics, tags in cells:
        parents = set()
        for child in children:
            try:
                parents.add(tracker._call(lambda c=child: tracker.client.get_run(c)).data.tags.get(PARENT_TAG))
            except MlflowException:
                continue
        for parent in parents - {None}:
            items = [Metric(k, float(v), now, 0) for k, v in metrics.items() if v == v]  # NaN (no spread): left out
            tracker._call(lambda p=parent, m=items: tracker.client.log_batch(
                p, metrics=m, tags=[RunTag(k, str(v)) for k, v in tags.items()]))
            updated += 1
    return updated


def describe_experiment(uri: str, experiment: str, text: str) -> None:
    """The experiment's description (MLflow shows the ``mlflow.note.content`` tag above its runs)."""
    tracker = Tracker(uri, "", "")
    exp = tracker._call(lambda: tracker.client.get_experiment_by_name(experiment))
    if exp is not None:
        tracker._call(lambda: tracker.client.set_experiment_tag(exp.experiment_id, "mlflow.note.content", text))


def log_artifacts_to_run(uri: str, run_id: str, paths: list[str | Path], artifact_path: str | None = None) -> None:
    """Attach files (e.g. attention maps) to a finished run without changing its status."""
    tracker = Tracker(uri, run_id, "")
    for p in paths:
        tracker._call(lambda p=p: tracker.client.log_artifact(run_id, str(p), artifact_path))


RUN_REF = re.compile(r"^(?:runs:/)?([0-9a-f]{32})/?$")


def is_run_ref(ref: str) -> bool:
    """True for ``runs:/<id>`` or a bare 32-hex MLflow run id (what ``l2l predict --run`` accepts)."""
    return bool(RUN_REF.match(ref))


def fetch_run(uri: str, ref: str, dst: str | Path) -> Path:
    """Download a run's config.yaml and weights into ``dst`` (a run-folder layout) and return it.

    Only the two files a prediction needs are fetched; they are loaded with ``weights_only=True``
    afterwards like any run folder, so a run from a shared server cannot execute code here.
    """
    from mlflow.exceptions import MlflowException

    from l2l.errors import UserError

    match = RUN_REF.match(ref)
    if not match:
        raise UserError(f"'{ref}' is not an MLflow run reference; use runs:/<run id> or a run folder")
    run_id, dst = match.group(1), Path(dst)
    require_store(uri)
    tracker = Tracker(uri, run_id, "")
    dst.mkdir(parents=True, exist_ok=True)
    try:
        for artifact in ("config.yaml", "model/model.pt"):
            local = Path(tracker._call(lambda a=artifact: tracker.client.download_artifacts(run_id, a, str(dst))))
            if local.parent != dst:
                local.replace(dst / local.name)
    except MlflowException as e:
        raise UserError(f"MLflow run {run_id} at {uri}: {' '.join(str(e).split())[:300]}; check the run id "
                        f"and MLFLOW_TRACKING_URI (runs logged before weights were artifacts have no model/model.pt)"
                        ) from e
    except OSError as e:
        raise UserError(f"MLflow run {run_id}: its artifacts cannot be read ({e}); runs logged before weights "
                        f"were artifacts have no model/model.pt, use the run folder instead") from e
    return dst
