"""log_model / load_model: skops without pickle, verified loads, trusted types, refs."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from sklearn.datasets import load_breast_cancer
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import train_test_split
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import FunctionTransformer, StandardScaler

import tracker
from tracker.exceptions import (
    ArtifactNotFoundError,
    IntegrityError,
    NoActiveRunError,
    UntrustedModelError,
    ValidationError,
)
from tracker.records import ModelRef
from tracker.store.artifacts import for_store


class DoubleScaler(StandardScaler):
    """A user-defined estimator: skops saves it, but loading it must be trusted by name."""


@pytest.fixture(scope="module")
def data() -> tuple[pd.DataFrame, pd.DataFrame, pd.Series, pd.Series]:
    X, y = load_breast_cancer(return_X_y=True, as_frame=True)
    X_train, X_test, y_train, y_test = train_test_split(X, y, test_size=0.3, random_state=0)
    return X_train, X_test, y_train, y_test


@pytest.fixture(scope="module")
def pipeline(data: tuple[pd.DataFrame, ...]) -> object:
    X_train, _, y_train, _ = data
    return make_pipeline(StandardScaler(), LogisticRegression(max_iter=500)).fit(X_train, y_train)


def test_a_pipeline_round_trips_and_predicts_exactly_like_the_original(
    data: tuple[pd.DataFrame, ...], pipeline: object
) -> None:
    # given a fitted pipeline logged with an input example, on a run with its training data
    X_train, X_test, _, _ = data
    with tracker.start_run(name="fit") as run:
        run.log_data("train", X_train)
        ref = run.log_model(pipeline, "model", input_example=X_train.head())
    # when it is loaded back by the ModelRef and by its runs:/ URI
    by_ref = tracker.load_model(ref)
    by_uri = tracker.load_model(f"runs:/{run.id}/model")
    # then both predict exactly like the original
    for loaded in (by_ref, by_uri):
        assert np.array_equal(loaded.predict(X_test), pipeline.predict(X_test))  # type: ignore[attr-defined]
        assert np.array_equal(
            loaded.predict_proba(X_test),
            pipeline.predict_proba(X_test),  # type: ignore[attr-defined]
        )
    # and the record says what it is, what it takes, what it was trained on, where it ran
    assert isinstance(ref, ModelRef)
    assert ref.format == "skops"
    assert ref.framework == "scikit-learn"
    import sklearn

    assert ref.framework_version == sklearn.__version__
    assert ref.model_class == "sklearn.pipeline.Pipeline"
    assert ref.input_schema is not None
    assert ref.input_schema["type"] == "dataframe"
    assert [c["name"] for c in ref.input_schema["columns"]] == list(X_train.columns)
    assert {c["dtype"] for c in ref.input_schema["columns"]} == {"float64"}
    assert [(d["name"], d["run_id"]) for d in ref.training_data] == [("train", run.id)]
    assert ref.training_data[0]["digest"] == tracker.hash_data(X_train).digest
    assert ref.environment_id
    assert len(ref.environment_id) == 32
    # and the model is an artifact of kind "model" listed on the run
    stored = tracker.get_run(run.id).artifacts["model"]
    assert stored.kind == "model"
    assert stored.digest == ref.digest
    assert stored.media_type == "application/x-skops"


def test_array_input_schema_records_shape_and_dtype(pipeline: object) -> None:
    X = np.zeros((3, 30), dtype=np.float32)
    with tracker.start_run() as run:
        ref = run.log_model(pipeline, input_example=X)
    assert ref.input_schema == {"type": "ndarray", "shape": [None, 30], "dtype": "float32"}
    assert ref.name == "model"


def test_module_level_log_model_attaches_to_the_active_run(pipeline: object) -> None:
    with pytest.raises(NoActiveRunError, match="log_model"):
        tracker.log_model(pipeline, "m")
    with tracker.start_run() as run:
        ref = tracker.log_model(pipeline, "m")
    assert ref.run_id == run.id


def test_the_same_model_logged_twice_is_stored_once(pipeline: object) -> None:
    with tracker.start_run() as a:
        ra = a.log_model(pipeline, "m")
    with tracker.start_run() as b:
        rb = b.log_model(pipeline, "m")
    assert ra.digest == rb.digest
    root = for_store(tracker.get_store()).blob_store()
    assert root.exists(ra.digest)


def test_a_pipeline_saves_in_one_pass_to_the_bytes_skops_dumps_would_give(
    pipeline: object, monkeypatch: pytest.MonkeyPatch
) -> None:
    # given the canonical rewrite of what skops' own dumps writes for a pipeline (whose
    # state holds its steps as tuples)
    import skops.io as sio

    from tracker.models._canonical import canonical_skops, dumps_skops

    expected = canonical_skops(bytes(sio.dumps(pipeline)))

    # when skops' dumps is made unavailable, so only the one-pass save can answer
    def refused(*args: object, **kwargs: object) -> bytes:
        raise AssertionError("the one-pass save fell back to skops.io.dumps")

    monkeypatch.setattr(sio, "dumps", refused)
    # then it writes exactly the same bytes (and the same digest) without it
    assert dumps_skops(pipeline) == expected


def test_an_object_skops_cannot_hold_names_the_pickle_format() -> None:
    # a FunctionTransformer around a lambda: skops saves functions by name only
    odd = FunctionTransformer(lambda x: x + 1).fit(np.zeros((2, 2)))
    with tracker.start_run() as run, pytest.raises(ValidationError, match='format="pickle"'):
        run.log_model(odd, "odd")
    assert "odd" not in tracker.get_run(run.id).artifacts  # nothing half-written


def test_a_pickle_loads_only_when_trusted() -> None:
    odd = FunctionTransformer(np.log1p).fit(np.zeros((2, 2)))
    with tracker.start_run():
        ref = tracker.log_model({"weights": [1, 2, 3]}, "blob", format="pickle")
    with pytest.raises(UntrustedModelError, match="trusted=True"):
        tracker.load_model(ref)
    assert tracker.load_model(ref, trusted=True) == {"weights": [1, 2, 3]}
    assert odd is not None


def test_numpy_ufuncs_and_sklearn_classes_are_trusted_without_asking() -> None:
    model = FunctionTransformer(np.log1p).fit(np.ones((2, 2)))
    with tracker.start_run():
        ref = tracker.log_model(model, "log1p")
    loaded = tracker.load_model(ref)
    assert np.array_equal(loaded.transform(np.ones((2, 2))), model.transform(np.ones((2, 2))))


def test_an_unknown_type_must_be_trusted_by_name(data: tuple[pd.DataFrame, ...]) -> None:
    X_train = data[0]
    model = DoubleScaler().fit(X_train)
    with tracker.start_run():
        ref = tracker.log_model(model, "custom")
    name = f"{DoubleScaler.__module__}.DoubleScaler"
    with pytest.raises(UntrustedModelError, match="DoubleScaler") as info:
        tracker.load_model(ref)
    assert info.value.types == [name]
    loaded = tracker.load_model(ref, trusted=[name])
    assert np.array_equal(loaded.transform(X_train), model.transform(X_train))


def test_tree_models_need_the_tree_type_trusted_by_name() -> None:
    # skops marks the node storage of tree models unsafe to trust by default (it cannot
    # check a crafted file's node indices): a tree model loads only when it is named
    from sklearn.ensemble import RandomForestClassifier

    X = np.random.default_rng(0).normal(size=(40, 3))
    model = RandomForestClassifier(n_estimators=3, random_state=0).fit(X, [0, 1] * 20)
    with tracker.start_run():
        ref = tracker.log_model(model, "forest")
    with pytest.raises(UntrustedModelError, match="out-of-range") as info:
        tracker.load_model(ref)
    assert info.value.types == ["sklearn.tree._tree.Tree"]
    loaded = tracker.load_model(ref, trusted=["sklearn.tree._tree.Tree"])
    assert np.array_equal(loaded.predict_proba(X), model.predict_proba(X))


def test_a_tampered_blob_raises_integrity_error_and_loads_nothing(pipeline: object) -> None:
    with tracker.start_run():
        ref = tracker.log_model(pipeline, "model")
    root = for_store(tracker.get_store()).blob_store()
    path = Path(str(root.local_path(ref.digest)))
    os.chmod(path, stat.S_IRUSR | stat.S_IWUSR)
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0xFF
    path.write_bytes(bytes(data))
    with pytest.raises(IntegrityError, match="model"):
        tracker.load_model(ref)


@pytest.mark.parametrize(
    ("ref", "error", "match"),
    [
        ("runs:/nope/model", ArtifactNotFoundError, "no model named"),
        ("runs:/", ValidationError, "runs:/<run_id>/<name>"),
        ("file.skops", ValidationError, "models:/<name>@<alias>"),
        (42, ValidationError, "a model reference"),
    ],
    ids=["unknown-run", "no-name", "bare-string", "not-a-string"],
)
def test_bad_model_references_say_what_to_write(
    ref: object, error: type[Exception], match: str
) -> None:
    with pytest.raises(error, match=match):
        tracker.load_model(ref)


def test_an_ordinary_artifact_is_not_loaded_as_a_model() -> None:
    with tracker.start_run() as run:
        run.log_text("hello", "notes.txt")
    with pytest.raises(ValidationError, match="load_artifact"):
        tracker.load_model(f"runs:/{run.id}/notes.txt")


def test_bad_log_model_arguments_store_nothing(pipeline: object) -> None:
    with tracker.start_run() as run:
        with pytest.raises(ValidationError, match="unknown model format"):
            run.log_model(pipeline, "m", format="joblib")
        with pytest.raises(ValidationError, match="empty or blank"):
            run.log_model(pipeline, " ")
    assert tracker.get_run(run.id).artifacts == {}


def test_log_model_inside_a_search_objective_attaches_to_the_trial_run(
    data: tuple[pd.DataFrame, ...],
) -> None:
    X_train, X_test, y_train, y_test = data

    def objective(trial: object) -> dict[str, float]:
        c = trial.suggest_float("C", 0.01, 10.0, log=True)  # type: ignore[attr-defined]
        model = make_pipeline(StandardScaler(), LogisticRegression(C=c, max_iter=300))
        model.fit(X_train, y_train)
        tracker.log_model(model, "model", input_example=X_train.head(2))
        return {"accuracy": float(model.score(X_test, y_test))}

    result = tracker.optimize(
        objective, n_trials=2, objectives={"accuracy": "maximize"}, show_progress=False, seed=0
    )
    for trial in result.trials:
        assert trial.run_id is not None
        model = tracker.load_model(f"runs:/{trial.run_id}/model")
        assert model.score(X_test, y_test) == pytest.approx(trial.values["accuracy"])


@pytest.mark.parametrize("keep", ["pareto", "all"])
def test_keep_models_pareto_lets_gc_collect_models_of_dominated_trials(
    data: tuple[pd.DataFrame, ...], keep: str
) -> None:
    # given a search whose trials each log a different model
    from tracker.store.artifacts import collect_garbage

    X_train, X_test, y_train, y_test = data

    def objective(trial: object) -> dict[str, float]:
        c = trial.suggest_float("C", 1e-4, 10.0, log=True)  # type: ignore[attr-defined]
        model = make_pipeline(StandardScaler(), LogisticRegression(C=c, max_iter=300))
        model.fit(X_train, y_train)
        tracker.log_model(model, "model")
        return {"accuracy": float(model.score(X_test, y_test))}

    result = tracker.optimize(
        objective,
        n_trials=4,
        objectives={"accuracy": "maximize"},
        show_progress=False,
        seed=0,
        keep_models=keep,
    )
    # when the search ends and gc runs with no grace period
    store = tracker.get_store()
    digests = {
        t.run_id: store.artifacts(run_id=t.run_id, name="model")[-1].digest for t in result.trials
    }
    front = {t.run_id for t in result.pareto}
    kept = {digests[r] for r in front}
    report = collect_garbage(for_store(store), grace_s=0, delete=True)
    collected = {b.digest for b in report.garbage}
    # then only models of trials off the front are gone (unless equal to a kept one)
    dominated = {d for r, d in digests.items() if r not in front} - kept
    assert collected == (dominated if keep == "pareto" else set())
    for run_id in front:
        tracker.load_model(f"runs:/{run_id}/model")
    # and the records stay listed on the runs either way
    assert all("model" in tracker.get_run(r).artifacts for r in digests)


def test_keep_models_is_checked_before_the_search(data: tuple[pd.DataFrame, ...]) -> None:
    with pytest.raises(ValidationError, match="keep_models"):
        tracker.optimize(lambda t: {"a": 1.0}, n_trials=1, keep_models="some")


def test_trusted_types_are_read_from_the_schema_without_a_second_walk(
    pipeline: object, monkeypatch: pytest.MonkeyPatch, data: tuple[pd.DataFrame, ...]
) -> None:
    # a pipeline of sklearn classes loads on the fast path: skops' get_untrusted_types
    # (a second build of the object tree) is only for files that need an error message
    from tracker.models import _formats

    with tracker.start_run():
        ref = tracker.log_model(pipeline, "model")

    def walked(data: bytes) -> list[str]:
        raise AssertionError("the slow path ran")

    monkeypatch.setattr(_formats, "untrusted_types", walked)
    loaded = tracker.load_model(ref)
    assert np.array_equal(loaded.predict(data[1]), pipeline.predict(data[1]))  # type: ignore[attr-defined]
