"""The model registry: the store contract on SQLite and PostgreSQL, the API, promotion gates."""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from sklearn.datasets import load_digits
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import train_test_split

import tracker
from tracker.cards import SECTION_KEYS
from tracker.exceptions import ModelNotFoundError, PromotionRefused, ValidationError
from tracker.store import RunQuery, SQLStore, open_store
from tracker.store.ops import CreateRun

# Small iteration budgets on purpose (fast tests); convergence does not matter here.
pytestmark = pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")

# --- the store contract ------------------------------------------------------------------


@pytest.fixture(params=["sqlite", "postgres"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[SQLStore]:
    url = (
        f"sqlite:///{tmp_path / 'r.db'}"
        if request.param == "sqlite"
        else request.getfixturevalue("pg_url")
    )
    s = open_store(url, queued=False)
    assert isinstance(s, SQLStore)
    yield s
    s.close()


def _register(store: SQLStore, name: str = "m", digest: str = "ab" * 16) -> int:
    return store.register_model_version(
        name,
        run_id="r" * 32,
        model_name="model",
        digest=digest,
        sha256="cd" * 32,
        meta={"format": "skops"},
        who="tester",
        reason="first",
    ).version


def test_versions_count_up_per_name_and_keep_their_content(store: SQLStore) -> None:
    assert [_register(store), _register(store), _register(store, "other")] == [1, 2, 1]
    versions = store.model_versions("m")
    assert [(v.name, v.version, v.created_by) for v in versions] == [
        ("m", 1, "tester"),
        ("m", 2, "tester"),
    ]
    assert versions[0].meta == {"format": "skops"}
    assert {v.name for v in store.model_versions()} == {"m", "other"}


def test_aliases_move_with_their_history_and_unknown_versions_write_nothing(
    store: SQLStore,
) -> None:
    _register(store)
    _register(store)
    store.set_model_alias("m", "champion", 1, who="a", reason="first pick")
    store.set_model_alias("m", "champion", 2, who="b")
    assert [v.aliases for v in store.model_versions("m")] == [(), ("champion",)]
    before = store.registry_events("m")
    with pytest.raises(ModelNotFoundError, match="no version 7"):
        store.set_model_alias("m", "champion", 7, who="c")
    with pytest.raises(ModelNotFoundError, match="no registered model"):
        store.set_model_alias("nope", "champion", 1, who="c")
    assert store.registry_events("m") == before  # nothing half-written
    assert [v.aliases for v in store.model_versions("m")] == [(), ("champion",)]
    moved = before[-1]
    assert (moved.action, moved.version, moved.previous, moved.who) == ("set_alias", 2, 1, "b")
    removed = store.set_model_alias("m", "champion", None, who="d")
    assert (removed.action, removed.previous) == ("remove_alias", 2)
    assert [e.action for e in store.registry_events("m")] == [
        "register",
        "register",
        "set_alias",
        "set_alias",
        "remove_alias",
    ]


def test_a_refusal_is_kept_as_history_without_moving_anything(store: SQLStore) -> None:
    _register(store)
    store.set_model_alias("m", "champion", 1, who="a")
    event = store.add_registry_event(
        "m",
        "promotion_refused",
        who="b",
        version=1,
        alias="champion",
        reason="try",
        detail={"requirements": [{"requirement": "card", "held": False, "detail": "x"}]},
    )
    assert event.previous == 1
    got = store.registry_events("m")[-1]
    assert got.detail["requirements"][0]["requirement"] == "card"
    assert got.reason == "try"


@pytest.mark.postgres
def test_concurrent_registrations_on_postgres_never_share_a_number(pg_url: str) -> None:
    stores = [open_store(pg_url, queued=False) for _ in range(4)]
    for s in stores:
        s.model_versions()  # migrate once before the race
    got: list[int] = []
    errors: list[BaseException] = []
    lock = threading.Lock()

    def worker(s: SQLStore) -> None:
        try:
            for _ in range(5):
                v = _register(s, "race")
                with lock:
                    got.append(v)
        except BaseException as exc:  # reported below
            errors.append(exc)

    threads = [threading.Thread(target=worker, args=(s,)) for s in stores]  # type: ignore[arg-type]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    assert sorted(got) == list(range(1, 21))
    assert [v.version for v in stores[0].model_versions("race")] == list(range(1, 21))
    for s in stores:
        s.close()


# --- the API -------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def digits() -> tuple[np.ndarray, ...]:
    X, y = load_digits(return_X_y=True)
    return tuple(train_test_split(X, y, test_size=0.3, random_state=0))  # type: ignore[return-value]


def _fit(digits: tuple[np.ndarray, ...], c: float, **metrics: float) -> tracker.ModelRef:
    X_train, X_test, y_train, y_test = digits
    model = LogisticRegression(C=c, max_iter=200).fit(X_train, y_train)
    with tracker.start_run(name=f"C={c}") as run:
        run.log_metrics({"accuracy": float(model.score(X_test, y_test)), **metrics})
        return run.log_model(model, "model", input_example=X_train[:2])


def test_register_alias_and_load_by_every_reference(digits: tuple[np.ndarray, ...]) -> None:
    X_test = digits[1]
    ref1 = _fit(digits, 0.1)
    ref2 = _fit(digits, 1.0)
    v1 = tracker.register_model(ref1, "digits", reason="baseline")
    v2 = tracker.register_model(ref2.uri, "digits")
    assert (v1.version, v2.version) == (1, 2)
    assert v1.digest == ref1.digest
    assert v1.source == ref1.uri
    tracker.set_alias("digits", "champion", 1)
    assert tracker.get_model_version("digits@champion").version == 1
    assert tracker.get_model_version("digits/2").version == 2
    assert tracker.get_model_version("models:/digits/latest").version == 2
    [listed] = tracker.list_models()
    assert (listed.name, listed.latest_version, listed.versions) == ("digits", 2, 2)
    assert listed.aliases == {"champion": 1}
    original = tracker.load_model(ref1)
    for ref in ("models:/digits@champion", "models:/digits/1", v1):
        assert np.array_equal(
            tracker.load_model(ref).predict_proba(X_test), original.predict_proba(X_test)
        )
    history = tracker.model_history("digits")
    assert [e.action for e in history] == ["register", "register", "set_alias"]
    assert history[0].reason == "baseline"
    assert history[0].who


@pytest.mark.parametrize(
    ("ref", "match"),
    [
        ("digits@nope", "no alias 'nope'"),
        ("digits/9", "no version 9"),
        ("unknown/1", "no registered model named 'unknown'"),
        ("digits", "not a model version reference"),
        ("digits@7", "only digits"),
    ],
    ids=["alias", "version", "model", "malformed", "numeric-alias"],
)
def test_unknown_versions_and_aliases_say_what_exists(
    digits: tuple[np.ndarray, ...], ref: str, match: str
) -> None:
    tracker.register_model(_fit(digits, 0.1), "digits")
    with pytest.raises((ModelNotFoundError, ValidationError), match=match):
        tracker.get_model_version(ref)


def test_register_refuses_bad_names_before_writing(digits: tuple[np.ndarray, ...]) -> None:
    ref = _fit(digits, 0.1)
    for bad in ("a/b", "a@b", " ", ""):
        with pytest.raises(ValidationError):
            tracker.register_model(ref, bad)
    assert tracker.list_models() == []


# --- promotion -------------------------------------------------------------------------------


def test_promotion_moves_the_alias_only_when_every_requirement_holds(
    digits: tuple[np.ndarray, ...],
) -> None:
    fast = tracker.register_model(_fit(digits, 0.1, latency_p95_ms=5.0), "digits")
    slow = tracker.register_model(_fit(digits, 1.0, latency_p95_ms=500.0), "digits")
    promoted = tracker.promote("digits", fast.version, require=["latency_p95_ms <= 100"])
    assert promoted.aliases == ("champion",)
    with pytest.raises(PromotionRefused) as info:
        tracker.promote("digits", slow.version, require=["latency_p95_ms <= 100", "accuracy >= 0"])
    assert list(info.value.failed) == ["latency_p95_ms <= 100"]
    assert "500" in info.value.failed["latency_p95_ms <= 100"]
    assert tracker.get_model_version("digits@champion").version == fast.version  # unmoved
    last = tracker.model_history("digits")[-1]
    assert (last.action, last.version, last.alias, last.previous) == (
        "promotion_refused",
        slow.version,
        "champion",
        fast.version,
    )
    assert [r["held"] for r in last.detail["requirements"]] == [False, True]


def test_an_unknown_requirement_is_refused_before_anything_is_written(
    digits: tuple[np.ndarray, ...],
) -> None:
    v = tracker.register_model(_fit(digits, 0.1), "digits")
    before = tracker.model_history("digits")
    for bad in (["fast_enough"], ["latency_p95_ms == 3"], ["no_worse_than="]):
        with pytest.raises(ValidationError, match="requirement"):
            tracker.promote("digits", v.version, require=bad)
    assert tracker.model_history("digits") == before
    with pytest.raises(ModelNotFoundError):
        tracker.promote("digits", 5, require=["card"])
    assert tracker.model_history("digits") == before


def test_the_card_requirement_needs_every_section_filled(digits: tuple[np.ndarray, ...]) -> None:
    v = tracker.register_model(_fit(digits, 0.1), "digits")
    with pytest.raises(PromotionRefused, match="still needs input"):
        tracker.promote("digits", v.version, require=["card"])
    tracker.model_card(v.uri, **{k: f"Text for {k}." for k in SECTION_KEYS})
    assert tracker.promote("digits", v.version, require=["card"]).aliases == ("champion",)


def _search(digits: tuple[np.ndarray, ...], name: str) -> tracker.ModelVersion:
    """A small constrained search with a test re-check; its chosen model registered."""
    X_train, X_test, y_train, y_test = digits
    X_fit, X_val, y_fit, y_val = train_test_split(X_train, y_train, test_size=0.3, random_state=1)

    def objective(trial: object) -> dict[str, float]:
        c = trial.suggest_float("C", 1e-3, 10.0, log=True)  # type: ignore[attr-defined]
        model = LogisticRegression(C=c, max_iter=200).fit(X_fit, y_fit)
        tracker.log_model(model, "model")
        return {"accuracy": float(model.score(X_val, y_val)), "size_kb": 4.0}

    def test(trial: object) -> dict[str, float]:
        c = trial.suggest_float("C", 1e-3, 10.0, log=True)  # type: ignore[attr-defined]
        model = LogisticRegression(C=c, max_iter=200).fit(X_fit, y_fit)
        return {"accuracy": float(model.score(X_test, y_test)), "size_kb": 4.0}

    result = tracker.optimize(
        objective,
        n_trials=3,
        objectives={"accuracy": "maximize"},
        constraints=["size_kb <= 10"],
        test=test,
        show_progress=False,
        seed=0,
    )
    assert result.chosen is not None
    assert result.chosen.run_id is not None
    return tracker.register_model(f"runs:/{result.chosen.run_id}/model", name)


@pytest.mark.slow
def test_search_requirements_feasible_on_test_and_no_worse_than_champion(
    digits: tuple[np.ndarray, ...],
) -> None:
    # a version from a search whose test re-check held, and a plain run that was never checked
    chosen = _search(digits, "digits")
    plain = tracker.register_model(_fit(digits, 1e-4), "digits")
    first = tracker.promote(
        "digits", chosen.version, require=["feasible_on_test", "no_worse_than=champion"]
    )
    assert first.aliases == ("champion",)
    with pytest.raises(PromotionRefused) as info:
        tracker.promote("digits", plain.version, require=["feasible_on_test"])
    assert "not a search trial" in info.value.failed["feasible_on_test"]
    # a much weaker model from another search is worse on the objective than the champion
    X_train, _, y_train, _ = digits
    weak = LogisticRegression(C=1e-6, max_iter=50).fit(X_train[:50], y_train[:50])
    champion_run = tracker.get_run(chosen.run_id)
    with tracker.start_run(name="weak", kind="trial", parent=champion_run.parent_id) as run:
        run.log_metrics({"accuracy": 0.1})
        ref = run.log_model(weak, "model")
    worse = tracker.register_model(ref, "digits")
    with pytest.raises(PromotionRefused, match="accuracy") as info:
        tracker.promote("digits", worse.version, require=["no_worse_than=champion"])
    assert "worse than version" in info.value.failed["no_worse_than=champion"]
    assert tracker.get_model_version("digits@champion").version == chosen.version


# --- the card of a version -------------------------------------------------------------------


def test_the_card_of_a_version_holds_digest_schema_history_and_lineage(
    digits: tuple[np.ndarray, ...],
) -> None:
    X_train = digits[0]
    X_y = digits[2]
    with tracker.start_run(name="fit") as run:
        run.log_data("X_train", X_train)
        run.log_data("y_train", X_y)
        model = LogisticRegression(C=0.5, max_iter=200).fit(X_train, X_y)
        ref = run.log_model(model, "model", input_example=X_train[:3])
    v = tracker.register_model(ref, "digits", reason="first <b>model</b>")
    tracker.set_alias("digits", "champion", v.version)
    card = tracker.model_card("models:/digits@champion")
    doc = card.to_dict()
    reg = doc["registered_model"]
    assert reg["artifact"]["digest"] == ref.digest
    assert reg["artifact"]["sha256"] == ref.artifact.sha256
    assert reg["input_schema"] == {"type": "ndarray", "shape": [None, 64], "dtype": "float64"}
    assert [e["action"] for e in reg["history"]] == ["register", "set_alias"]
    assert {d["name"] for d in reg["training_data"]} == {"X_train", "y_train"}
    assert doc["subject"]["run_id"] == run.id
    md, html = card.to_markdown(), card.to_html()
    for text in (md, html):
        assert ref.digest in text
        assert "models:/digits/1" in text
        assert "Registry history" in text
    assert "<b>model</b>" not in html  # user text stays inert
    with pytest.raises(ModelNotFoundError):
        tracker.model_card("models:/digits@staging")


def test_registry_writes_wait_for_the_run_records(digits: tuple[np.ndarray, ...]) -> None:
    # registering right after logging, in the same process: the queued records are flushed
    ref = _fit(digits, 0.1)
    start = time.time()
    v = tracker.register_model(ref, "digits")
    assert v.created.timestamp() >= start - 1
    assert tracker.get_store().model_versions("digits")[0].run_id == ref.run_id


def test_a_direct_store_without_the_run_still_registers(tmp_path: Path) -> None:
    store = open_store(f"sqlite:///{tmp_path / 'x.db'}", queued=False)
    rid = uuid.uuid4().hex
    store.write([CreateRun(run_id=rid, name="r", kind="run", start_time=time.time())])
    v = store.register_model_version(
        "x", run_id=rid, model_name="m", digest="0" * 32, sha256="0" * 64, meta={}, who="w"
    )
    assert v.version == 1
    store.close()


def test_the_card_command_takes_a_registry_reference(
    digits: tuple[np.ndarray, ...], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from tracker.cli import main

    v = tracker.register_model(_fit(digits, 0.1), "digits")
    tracker.set_alias("digits", "champion", v.version)
    url = str(tracker.get_store().url.redacted())
    tracker.get_store().flush()
    assert main(["--store", url, "card", "models:/digits@champion", "--format", "json"]) == 0
    assert '"registered_model"' in capsys.readouterr().out
    assert main(["--store", url, "card", "models:/digits@nope"]) != 0
    assert "no alias 'nope'" in capsys.readouterr().err


def test_a_version_loads_its_pinned_bytes_even_without_its_artifact_record(
    digits: tuple[np.ndarray, ...],
) -> None:
    import sqlalchemy as sa

    from tracker.store._sql import models as m

    ref = _fit(digits, 0.1)
    v = tracker.register_model(ref, "digits")
    backend = tracker.get_store().backend  # type: ignore[attr-defined]
    with backend.engine.begin() as conn:
        conn.execute(sa.delete(m.artifacts).where(m.artifacts.c.run_id == ref.run_id))
    X_test = digits[1]
    loaded = tracker.load_model(v.uri)
    assert np.array_equal(loaded.predict(X_test), tracker.load_model(v).predict(X_test))
    assert tracker.get_model_version(v.uri).digest == ref.digest


@pytest.mark.parametrize("target", ["sqlite", "postgres"])
def test_an_archive_carries_the_registry_of_its_runs(
    digits: tuple[np.ndarray, ...],
    tmp_path: Path,
    request: pytest.FixtureRequest,
    monkeypatch: pytest.MonkeyPatch,
    target: str,
) -> None:
    from tracker.store.archive import export_runs, import_runs

    # given a registry with two versions, an alias and a refused promotion
    a = tracker.register_model(_fit(digits, 0.1, latency_p95_ms=1.0), "digits", reason="first")
    tracker.register_model(_fit(digits, 1.0, latency_p95_ms=900.0), "digits")
    tracker.set_alias("digits", "champion", a.version)
    with pytest.raises(PromotionRefused):
        tracker.promote("digits", 2, require=["latency_p95_ms <= 10"])
    source = tracker.get_store()
    archive = tmp_path / "a.json"
    export_runs(source, archive)
    # when it is imported into another store, twice
    url = (
        f"sqlite:///{tmp_path / 'b.db'}"
        if target == "sqlite"
        else request.getfixturevalue("pg_url")
    )
    other = open_store(url, queued=False)
    import_runs(other, archive)
    import_runs(other, archive)
    # then the versions, aliases and history are the same, once
    assert other.model_versions() == source.model_versions()
    assert other.registry_events("digits") == source.registry_events("digits")
    # and the versions load from the same artifact root (an archive carries records)
    from tracker.store.artifacts import for_store

    root = for_store(source).root()
    assert root is not None
    monkeypatch.setenv("TRACKER_ARTIFACTS", root.url)
    loaded = tracker.load_model("models:/digits@champion", store=other)
    assert loaded.predict(digits[1][:5]).shape == (5,)
    other.close()


def test_importing_over_another_model_of_the_same_name_writes_nothing(
    digits: tuple[np.ndarray, ...], tmp_path: Path
) -> None:
    from tracker.store.archive import export_runs, import_runs

    tracker.register_model(_fit(digits, 0.1), "digits")
    archive = tmp_path / "a.json"
    export_runs(tracker.get_store(), archive)
    other = open_store(f"sqlite:///{tmp_path / 'c.db'}", queued=False)
    other.register_model_version(
        "digits",
        run_id="x" * 32,
        model_name="m",
        digest="0" * 32,
        sha256="0" * 64,
        meta={},
        who="w",
    )
    with pytest.raises(ValidationError, match="another model"):
        import_runs(other, archive)
    assert len(other.model_versions()) == 1
    assert other.count_runs(RunQuery()) == 0  # the runs were refused with it
    other.close()
