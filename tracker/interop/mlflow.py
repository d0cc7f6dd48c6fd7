"""Import an MLflow tracking store: experiments, runs, params, metrics, tags, artifacts, models.

MLflow is read through its own ``MlflowClient``, so any tracking URI it understands works
(``sqlite:///mlflow.db``, a ``mlruns`` folder, ``http://`` servers) and the schema of its
database is never our concern. MLflow is optional: ``pip install jupyterlab-tracker[mlflow]``
(the ``mlflow-skinny`` client is enough).

How MLflow maps onto runs here:

* the MLflow run id is the run's id, so ``runs:/<id>/...`` references keep working and a
  second import writes nothing new (every row's id is derived from the source's ids and
  times, and the store ignores a row it already has);
* the experiment's name becomes the tag ``experiment``; MLflow's own ``mlflow.*`` tags
  (source, git commit, user, logged-model history) go to the run's attrs under
  ``"mlflow"`` with the experiment id and the original artifact URI, so they stay queryable
  without crowding the tags; the run's note (``mlflow.note.content``) becomes its notes;
  ``mlflow.parentRunId`` becomes the parent;
* params, which MLflow stores as text, are read back as numbers or booleans only when that
  is lossless (``"0.1"`` becomes 0.1, ``"007"`` stays text), so filters like
  ``params.lr < 0.01`` work;
* every metric keeps its full history (value, step, time);
* ``FINISHED``/``FAILED``/``KILLED`` become finished/failed/interrupted; a run MLflow still
  shows as running stays running;
* artifacts are copied into the artifact store by content (stored once, verified on load);
* registered models keep their names, version numbers, aliases and creation times; each
  version's pickled model becomes a model artifact of its run (see ``_mlflow_models``).

Every run is turned into ops (and so validated) before the first write: a store holding a
value no backend here can keep is refused whole, naming the run and the key.
"""

from __future__ import annotations

import os
import tempfile
import warnings
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tracker.exceptions import ConfigError, ValidationError
from tracker.store import BaseStore, Op
from tracker.store.artifacts import for_store
from tracker.store.ops import (
    CreateRun,
    EndRun,
    LogMetrics,
    MetricRow,
    SetAttrs,
    SetParams,
    SetRunFields,
    metric_row_id,
)

__all__ = ["MlflowImport", "import_mlflow", "param_from_text"]

_STATUS = {"FINISHED": "finished", "FAILED": "failed", "KILLED": "interrupted"}
_NOTE_TAG = "mlflow.note.content"
_PARENT_TAG = "mlflow.parentRunId"
_NAME_TAG = "mlflow.runName"
_PAGE = 1000  # MLflow's own page limit for search_runs is 50,000; smaller pages bound memory
_BATCH = 500  # ops per store write
_BAR_ENV = "MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR"


@dataclass
class MlflowImport:
    """What :func:`import_mlflow` read and wrote.

    Attributes:
        uri: The MLflow tracking URI read (as given).
        experiments: Experiments read.
        runs: Runs read (a second import reads them again but writes nothing new).
        metric_points: Metric history points read.
        artifacts: Artifact files and directories copied.
        models: Registered models imported (with :attr:`versions` versions).
        versions: Registered model versions imported.
        skipped: Anything left out, each with why (never silent).
    """

    uri: str
    experiments: int = 0
    runs: int = 0
    metric_points: int = 0
    artifacts: int = 0
    models: int = 0
    versions: int = 0
    skipped: list[str] = field(default_factory=list)

    def __str__(self) -> str:
        text = (
            f"imported from {self.uri}: {self.experiments} experiment(s), {self.runs} run(s), "
            f"{self.metric_points} metric point(s), {self.artifacts} artifact(s)"
        )
        if self.models or self.versions:
            text += f", {self.models} registered model(s) with {self.versions} version(s)"
        for why in self.skipped:
            text += f"\n  skipped: {why}"
        return text


def param_from_text(text: str) -> Any:
    """An MLflow param (always text) as the value it was, when that is lossless.

    ``"10"`` -> 10, ``"0.1"`` -> 0.1, ``"True"`` -> True, ``"None"`` -> None; anything whose
    value would not print back to the same text (``"007"``, ``"1e3"``, ``"+1"``) stays text,
    so nothing is changed that a user could tell apart.
    """
    if text in ("True", "False"):
        return text == "True"
    if text == "None":
        return None
    for parse in (int, float):
        try:
            value = parse(text)
        except ValueError:
            continue
        if str(value) == text:
            return value
    return text


def _client(uri: str) -> Any:
    try:
        from mlflow.tracking import MlflowClient
    except ImportError:
        raise ConfigError(
            "importing from MLflow needs its client: pip install 'jupyterlab-tracker[mlflow]' "
            "(or pip install mlflow-skinny)"
        ) from None
    path = Path(uri)
    if "://" not in uri and path.is_dir():
        uri = path.resolve().as_uri()  # a bare mlruns folder
    elif "://" not in uri:
        raise ConfigError(
            f"{uri!r} is neither an MLflow tracking URI nor an existing mlruns folder; "
            "try sqlite:///mlflow.db, ./mlruns or http://host:5000"
        )
    return MlflowClient(tracking_uri=uri)


def _paged(search: Callable[..., Any], **kwargs: Any) -> Iterator[Any]:
    token = None
    while True:
        page = search(max_results=_PAGE, page_token=token, **kwargs)
        yield from page
        token = getattr(page, "token", None)
        if not token:
            return


def _run_ops(client: Any, run: Any, experiment: Any) -> tuple[list[Op], int]:
    """The ops that write one MLflow run, and how many metric points they hold."""
    info, data = run.info, run.data
    rid = str(info.run_id)
    start = (info.start_time or 0) / 1000.0
    tags = dict(data.tags)
    user_tags = {k: v for k, v in tags.items() if not k.startswith("mlflow.")}
    user_tags["experiment"] = str(experiment.name)
    system = {k: v for k, v in tags.items() if k.startswith("mlflow.")}
    name = info.run_name or tags.get(_NAME_TAG) or f"mlflow-{rid[:8]}"
    ops: list[Op] = [
        CreateRun(
            run_id=rid,
            name=str(name),
            kind="run",
            start_time=start,
            parent_id=tags.get(_PARENT_TAG),
            tags=user_tags,
            status="running",
        ),
        SetAttrs(
            run_id=rid,
            attrs={
                "mlflow": {
                    "experiment_id": str(experiment.experiment_id),
                    "experiment": str(experiment.name),
                    "artifact_uri": str(info.artifact_uri or ""),
                    "tags": system,
                }
            },
        ),
    ]
    if tags.get(_NOTE_TAG):
        ops.append(SetRunFields(run_id=rid, fields={"notes": tags[_NOTE_TAG]}))
    if data.params:
        ops.append(
            SetParams(run_id=rid, params={k: param_from_text(v) for k, v in data.params.items()})
        )
    rows = [
        MetricRow(
            id=metric_row_id(rid, key, float(m.value), int(m.step), m.timestamp / 1000.0),
            key=key,
            value=float(m.value),
            step=int(m.step),
            timestamp=m.timestamp / 1000.0,
        )
        for key in sorted(data.metrics)
        for m in client.get_metric_history(rid, key)
    ]
    if rows:
        ops.append(LogMetrics(run_id=rid, metrics=rows))
    status = _STATUS.get(str(info.status))
    if status is not None:
        end = (info.end_time or info.start_time or 0) / 1000.0
        ops.append(EndRun(run_id=rid, status=status, end_time=max(end, start)))
    return ops, len(rows)


def _copy_artifacts(client: Any, store: BaseStore, run: Any, report: MlflowImport) -> None:
    rid = str(run.info.run_id)
    entries = client.list_artifacts(rid)
    if not entries:
        return
    when = (run.info.end_time or run.info.start_time or 0) / 1000.0
    artifacts = for_store(store)
    with tempfile.TemporaryDirectory(prefix="tracker-mlflow-") as tmp:
        for entry in entries:
            local = Path(client.download_artifacts(rid, entry.path, tmp))
            artifacts.log(rid, local, entry.path, write=store.write, timestamp=when)
            report.artifacts += 1


def import_mlflow(
    uri: str,
    store: BaseStore,
    *,
    experiments: Sequence[str] | None = None,
    artifacts: bool = True,
) -> MlflowImport:
    """Copy an MLflow tracking store into ``store`` (idempotent).

    Args:
        uri: An MLflow tracking URI (``sqlite:///mlflow.db``, ``http://host:5000``) or a
            ``mlruns`` folder.
        store: Where the runs go.
        experiments: Only these experiments (names); default all active ones.
        artifacts: Also copy each run's artifacts into the artifact store.

    Returns:
        What was read and written.

    Raises:
        ConfigError: MLflow's client is not installed, or ``uri`` names nothing.
        ValidationError: an experiment is unknown, or a run holds a value no backend here
            can keep (names the run and the key; nothing is written then).
    """
    with warnings.catch_warnings():
        # MLflow's own stores use APIs their libraries have deprecated (SQLAlchemy's
        # noload, for one): the user can do nothing about those, so they are not shown.
        warnings.simplefilter("ignore", DeprecationWarning)
        # Nor are its per-file download progress bars: the report says what was copied.
        bar = os.environ.get(_BAR_ENV)
        os.environ[_BAR_ENV] = "false"
        try:
            return _import(uri, store, experiments, artifacts)
        finally:
            if bar is None:
                os.environ.pop(_BAR_ENV, None)
            else:
                os.environ[_BAR_ENV] = bar


def _import(
    uri: str, store: BaseStore, experiments: Sequence[str] | None, artifacts: bool
) -> MlflowImport:
    client = _client(uri)
    report = MlflowImport(uri=uri)
    if artifacts:
        for_store(store).root()  # no root for the artifacts: say so before writing a run
    found = list(_paged(client.search_experiments))
    if experiments is not None:
        by_name = {e.name: e for e in found}
        missing = [n for n in experiments if n not in by_name]
        if missing:
            raise ValidationError(
                f"no MLflow experiment named {missing[0]!r} at {uri}; "
                f"it has: {', '.join(sorted(by_name)) or 'none'}"
            )
        found = [by_name[n] for n in experiments]
    ops: list[Op] = []
    runs: list[Any] = []
    for exp in found:
        report.experiments += 1
        for run in _paged(client.search_runs, experiment_ids=[exp.experiment_id]):
            try:
                run_ops, points = _run_ops(client, run, exp)
            except ValidationError as exc:
                raise ValidationError(
                    f"MLflow run {run.info.run_id} ({exp.name!r}): {exc}; nothing was imported"
                ) from None
            ops.extend(run_ops)
            runs.append(run)
            report.metric_points += points
    for i in range(0, len(ops), _BATCH):
        store.write(ops[i : i + _BATCH])
    report.runs = len(runs)
    if artifacts:
        for run in runs:
            _copy_artifacts(client, store, run, report)
        from tracker.interop._mlflow_models import import_registry

        import_registry(client, store, uri, report)
    elif list(client.search_registered_models(max_results=1)):
        report.skipped.append("registered models: their versions pin model files, import artifacts")
    store.flush()
    return report
