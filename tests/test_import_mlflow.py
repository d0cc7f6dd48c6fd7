"""``tracker import-mlflow``: a store the real MLflow client wrote, imported into every backend.

The MLflow side is written once per module in a subprocess (MLflow keeps a global tracking
URI and active-run stack that must not leak into the tracker's tests), with everything a
user's MLflow store holds: two experiments, a parent and a child run, params that are
numbers, text that only looks like one, metric histories with steps, user and system tags,
a note, a failed and a killed run, and artifacts (a file and a directory).
"""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import pytest

from tracker.exceptions import ConfigError, RunNotFoundError
from tracker.interop import import_mlflow
from tracker.interop.mlflow import param_from_text
from tracker.store import open_store
from tracker.store.artifacts import for_store

pytest.importorskip("mlflow")  # installed by the test extra; CI always has it

_WRITER = textwrap.dedent(
    """
    import json, sys, time
    from pathlib import Path
    import mlflow
    from mlflow import MlflowClient

    uri, out = sys.argv[1], Path(sys.argv[2])
    mlflow.set_tracking_uri(uri)
    ids = {}
    mlflow.set_experiment("churn")
    with mlflow.start_run(run_name="parent") as parent:
        mlflow.log_params({"lr": 0.1, "n_estimators": 200, "kernel": "rbf", "code": "007",
                           "balanced": True, "depth": None})
        for step in range(5):
            mlflow.log_metric("loss", 1.0 / (step + 1), step=step)
        mlflow.log_metric("accuracy", 0.91)
        mlflow.set_tags({"team": "risk", "mlflow.note.content": "the baseline"})
        mlflow.log_text("hello", "notes/hello.txt")
        mlflow.log_dict({"a": 1}, "config.json")
        with mlflow.start_run(run_name="child", nested=True) as child:
            mlflow.log_metric("accuracy", 0.93)
        ids["parent"], ids["child"] = parent.info.run_id, child.info.run_id
    mlflow.set_experiment("other")
    with mlflow.start_run(run_name="broken") as broken:
        mlflow.log_param("lr", 1)
    MlflowClient().set_terminated(broken.info.run_id, status="FAILED")
    with mlflow.start_run(run_name="stopped") as stopped:
        pass
    MlflowClient().set_terminated(stopped.info.run_id, status="KILLED")
    ids["broken"], ids["stopped"] = broken.info.run_id, stopped.info.run_id

    # A registered model: two versions, an alias, trained on bundled data.
    from sklearn.datasets import load_iris
    from sklearn.linear_model import LogisticRegression
    import mlflow.sklearn
    X, y = load_iris(return_X_y=True)
    mlflow.set_experiment("churn")
    for c, fmt in ((0.5, "cloudpickle"), (2.0, "skops")):  # MLflow 3's default is skops
        with mlflow.start_run(run_name=f"fit-{c}") as fit:
            model = LogisticRegression(C=c, max_iter=500).fit(X, y)
            info = mlflow.sklearn.log_model(model, name="model", serialization_format=fmt)
            mlflow.register_model(info.model_uri, "iris-clf")
        ids[f"fit-{c}"] = fit.info.run_id
        pred = json.dumps(model.predict_proba(X).tolist())
        (Path(sys.argv[2]).parent / f"pred-{c}.json").write_text(pred)
    MlflowClient().set_registered_model_alias("iris-clf", "champion", "2")
    out.write_text(json.dumps(ids))
    """
)


@pytest.fixture(scope="module")
def mlflow_store(tmp_path_factory: pytest.TempPathFactory) -> tuple[str, dict[str, str]]:
    """An MLflow SQLite tracking store written by the real client, and its run ids."""
    where = tmp_path_factory.mktemp("mlflow")
    uri = f"sqlite:///{where / 'mlflow.db'}"
    out = where / "ids.json"
    subprocess.run(
        [sys.executable, "-c", _WRITER, uri, str(out)],
        cwd=where,
        check=True,
        capture_output=True,
        timeout=600,
    )
    ids: dict[str, str] = json.loads(out.read_text())
    return uri, ids


def test_params_come_back_as_the_values_they_were_only_when_lossless() -> None:
    assert param_from_text("10") == 10
    assert param_from_text("0.1") == 0.1
    assert param_from_text("True") is True
    assert param_from_text("None") is None
    for text in ("007", "1e3", "rbf", "1.50", " 1", "+1"):
        assert param_from_text(text) == text


def test_everything_arrives_on_every_backend_and_twice_changes_nothing(
    mlflow_store: tuple[str, dict[str, str]],
    store_url: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    uri, ids = mlflow_store
    monkeypatch.setenv("TRACKER_ARTIFACTS", str(tmp_path / "artifacts"))  # PostgreSQL has none
    store = open_store(store_url, queued=False)
    report = import_mlflow(uri, store)
    assert (report.experiments, report.runs) == (3, 6)  # Default, churn, other
    assert report.artifacts == 2
    assert report.metric_points == 7

    parent = store.get_run(ids["parent"])
    assert parent.name == "parent"
    assert parent.status.value == "finished"
    assert parent.params == {
        "lr": 0.1,
        "n_estimators": 200,
        "kernel": "rbf",
        "code": "007",
        "balanced": True,
        "depth": None,
    }
    assert parent.tags["team"] == "risk"
    assert parent.tags["experiment"] == "churn"
    assert not any(k.startswith("mlflow.") for k in parent.tags)
    mlflow_attrs: Any = parent.attrs["mlflow"]
    assert mlflow_attrs["experiment"] == "churn"
    assert mlflow_attrs["tags"]["mlflow.runName"] == "parent"
    assert parent.notes == "the baseline"
    loss = store.metric_history(ids["parent"], "loss")
    assert [(m.step, m.value) for m in loss] == [(s, 1.0 / (s + 1)) for s in range(5)]
    assert parent.metrics["accuracy"] == 0.91

    child = store.get_run(ids["child"])
    assert child.parent_id == ids["parent"]
    assert child.metrics["accuracy"] == 0.93
    assert store.get_run(ids["broken"]).status.value == "failed"
    assert store.get_run(ids["stopped"]).status.value == "interrupted"

    files = {a.name: a for a in store.artifacts(run_id=ids["parent"])}
    assert set(files) == {"notes", "config.json"}
    assert files["notes"].kind == "directory"
    assert json.loads(for_store(store).load_bytes(files["config.json"])) == {"a": 1}

    before = (
        len(store.metric_history(ids["parent"], "loss")),
        len(store.artifacts()),
        store.get_run(ids["parent"]),
    )
    again = import_mlflow(uri, store)
    assert again.runs == 6
    assert again.versions == 0  # the registry too: nothing new
    after = (
        len(store.metric_history(ids["parent"], "loss")),
        len(store.artifacts()),
        store.get_run(ids["parent"]),
    )
    assert after == before


def test_registered_models_arrive_with_versions_aliases_and_predictions(
    mlflow_store: tuple[str, dict[str, str]], tmp_path: Path
) -> None:
    import numpy as np
    from sklearn.datasets import load_iris

    import tracker
    from tracker.exceptions import UntrustedModelError

    uri, ids = mlflow_store
    store = open_store(f"sqlite:///{tmp_path / 'reg.db'}", queued=False)
    report = import_mlflow(uri, store)
    assert (report.models, report.versions) == (1, 2), report
    assert not report.skipped, report.skipped
    versions = store.model_versions("iris-clf")
    assert [v.version for v in versions] == [1, 2]
    assert [v.run_id for v in versions] == [ids["fit-0.5"], ids["fit-2.0"]]
    assert versions[1].aliases == ("champion",)
    assert [e.action for e in store.registry_events("iris-clf")] == ["register", "register"]
    X, _ = load_iris(return_X_y=True)
    where = Path(uri.removeprefix("sqlite:///")).parent
    # Version 2 was saved by MLflow with skops: it loads like a model logged here.
    model = tracker.load_model("models:/iris-clf@champion", store=store)
    expected = json.loads((where / "pred-2.0.json").read_text())
    assert np.array_equal(model.predict_proba(X), np.array(expected))
    # Version 1 is a cloudpickle: it runs code when loaded, so it needs trusted=True.
    with pytest.raises(UntrustedModelError, match="pickle"):
        tracker.load_model("models:/iris-clf/1", store=store)
    model = tracker.load_model("models:/iris-clf/1", trusted=True, store=store)
    expected = json.loads((where / "pred-0.5.json").read_text())
    assert np.array_equal(model.predict_proba(X), np.array(expected))
    # The whole MLflow model directory is kept beside the model.
    names = {a.name for a in store.artifacts(run_id=ids["fit-2.0"])}
    assert "mlflow-iris-clf-v2.mlflow" in names


def test_one_experiment_and_no_artifacts(
    mlflow_store: tuple[str, dict[str, str]], tmp_path: Path
) -> None:
    uri, ids = mlflow_store
    store = open_store(f"sqlite:///{tmp_path / 'one.db'}", queued=False)
    report = import_mlflow(uri, store, experiments=["other"], artifacts=False)
    assert (report.experiments, report.runs, report.artifacts) == (1, 2, 0)
    assert report.versions == 0
    assert any("registered models" in why for why in report.skipped)
    assert store.get_run(ids["broken"]).params == {"lr": 1}


def test_a_store_with_no_artifact_root_is_refused_before_any_run_is_written(
    mlflow_store: tuple[str, dict[str, str]], pg_url: str
) -> None:
    uri, ids = mlflow_store
    store = open_store(pg_url, queued=False)
    with pytest.raises(ConfigError, match="TRACKER_ARTIFACTS"):
        import_mlflow(uri, store)
    with pytest.raises(RunNotFoundError):
        store.get_run(ids["parent"])
    assert import_mlflow(uri, store, artifacts=False).runs == 6


def _cli(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "tracker", *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=600,
    )


def test_the_command_imports_and_bad_input_is_one_line(
    mlflow_store: tuple[str, dict[str, str]], tmp_path: Path
) -> None:
    uri, ids = mlflow_store
    db = f"sqlite:///{tmp_path / 'cli.db'}"
    done = _cli("--store", db, "import-mlflow", uri, cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert "6 run(s)" in done.stdout
    assert open_store(db, queued=False).get_run(ids["child"]).name == "child"

    for bad, says in (
        ([str(tmp_path / "nowhere")], "neither an MLflow tracking URI"),
        ([uri, "--experiment", "chrun"], "no MLflow experiment named 'chrun'"),
    ):
        done = _cli("--store", db, "import-mlflow", *bad, cwd=tmp_path)
        assert done.returncode == 2, done.stdout + done.stderr
        assert says in done.stderr
        assert "Traceback" not in done.stderr
        assert len(done.stderr.strip().splitlines()) == 1, done.stderr
