"""The public Python API: start, log, end, read back, search; clear errors for bad input."""

from __future__ import annotations

import math
import subprocess
import sys
import threading
from decimal import Decimal
from pathlib import Path

import numpy as np
import pytest

import tracker
from tracker import RunKind, RunStatus


def test_the_readme_example(tmp_path: Path) -> None:
    tracker.set_store(f"sqlite:///{tmp_path / 'readme.db'}")
    with tracker.start_run(name="baseline", tags={"model": "svc"}) as run:
        run.log_params({"C": 1.0, "kernel": "rbf"})
        run.log_metrics({"accuracy": 0.93})
    r = tracker.get_run(run.id)
    assert r.name == "baseline"
    assert r.status is RunStatus.FINISHED
    assert r.params == {"C": 1.0, "kernel": "rbf"}
    assert r.metrics == {"accuracy": 0.93}
    assert r.tags == {"model": "svc"}
    assert r.end_time is not None
    assert r.end_time >= r.start_time
    assert (tmp_path / "readme.db").exists()


def test_module_level_logging_acts_on_the_active_run() -> None:
    with tracker.start_run() as run:
        assert tracker.active_run() == run
        tracker.log_param("lr", 0.1)
        tracker.log_params({"opt": {"name": "adam", "beta": 0.9}})
        tracker.log_metric("loss", 0.5, step=1)
        tracker.log_metrics({"loss": 0.25}, step=2)
    assert tracker.active_run() is None
    r = tracker.get_run(run)
    assert r.params == {"lr": 0.1, "opt.name": "adam", "opt.beta": 0.9}
    assert [(m.step, m.value) for m in tracker.metric_history(run, "loss")] == [(1, 0.5), (2, 0.25)]


@pytest.mark.parametrize(
    "call",
    [
        lambda: tracker.log_params({"a": 1}),
        lambda: tracker.log_metrics({"a": 1.0}),
        lambda: tracker.log_param("a", 1),
        lambda: tracker.log_metric("a", 1.0),
        lambda: tracker.log_data("x", b"abc"),
    ],
    ids=["log_params", "log_metrics", "log_param", "log_metric", "log_data"],
)
def test_logging_without_an_active_run_says_how_to_start_one(call) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(tracker.NoActiveRunError, match=r"start_run"):
        call()


def test_an_exception_marks_the_run_failed_with_the_error() -> None:
    with pytest.raises(ZeroDivisionError), tracker.start_run(name="boom") as run:
        run.log_metrics({"before": 1.0})
        _ = 1 / 0
    r = tracker.get_run(run.id)
    assert r.status is RunStatus.FAILED
    assert r.error is not None
    assert r.error.type == "ZeroDivisionError"
    assert "division by zero" in r.error.message
    assert r.error.traceback is not None
    assert "1 / 0" in r.error.traceback
    assert r.metrics == {"before": 1.0}  # what was logged before the error is kept


def test_keyboard_interrupt_marks_the_run_interrupted() -> None:
    with pytest.raises(KeyboardInterrupt), tracker.start_run() as run:
        raise KeyboardInterrupt
    assert tracker.get_run(run.id).status is RunStatus.INTERRUPTED


def test_nested_runs_get_the_active_run_as_parent_unless_told_otherwise() -> None:
    with tracker.start_run(name="outer") as outer:
        with tracker.start_run(name="inner") as inner:
            pass
        with tracker.start_run(name="top", parent=None) as top:
            pass
    assert tracker.get_run(inner).parent_id == outer.id
    assert tracker.get_run(top).parent_id is None
    children = tracker.search_runs(parent=outer)
    assert [r.name for r in children] == ["inner"]
    roots = {r.name for r in tracker.search_runs(parent=None)}
    assert roots == {"outer", "top"}


def test_threads_have_their_own_active_run() -> None:
    seen: dict[str, str] = {}
    with tracker.start_run(name="main") as main:

        def work(i: int) -> None:
            with tracker.start_run(name=f"t{i}") as r:
                r.log_metrics({"i": float(i)})
                seen[f"t{i}"] = tracker.active_run().id  # type: ignore[union-attr]

        threads = [threading.Thread(target=work, args=(i,)) for i in range(4)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert tracker.active_run() == main
    runs = {r.name: r for r in tracker.search_runs(parent=main)}
    assert set(runs) == {"t0", "t1", "t2", "t3"}
    for name, rid in seen.items():
        assert runs[name].id == rid
        assert runs[name].metrics == {"i": float(name[1:])}


def test_params_accept_the_documented_types() -> None:
    with tracker.start_run() as run:
        run.log_params(
            {
                "s": "x",
                "i": 3,
                "f": 0.5,
                "b": False,
                "n": None,
                "np_int": np.int64(7),
                "np_float": np.float32(0.25),
                "np_bool": np.bool_(True),
                "np_str": np.str_("y"),
                "nested": {"deep": {"k": 1}},
                "nan": float("nan"),
            }
        )
    p = tracker.get_run(run.id).params
    assert p["np_int"] == 7
    assert type(p["np_int"]) is int
    assert p["np_float"] == 0.25
    assert p["np_bool"] is True
    assert p["np_str"] == "y"
    assert p["nested.deep.k"] == 1
    assert p["n"] is None
    assert math.isnan(p["nan"])  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("value", "type_name"),
    [
        ([1, 2], "list"),
        (np.array([1.0]), "ndarray"),
        (Decimal("1.5"), "Decimal"),
        (Path("/tmp"), "PosixPath"),
        (object(), "object"),
    ],
    ids=["list", "ndarray", "decimal", "path", "object"],
)
def test_bad_param_values_name_the_key_and_type(value: object, type_name: str) -> None:
    with tracker.start_run() as run:
        with pytest.raises(
            tracker.TrackerError, match=rf"param 'model\.bad' has type .*{type_name}"
        ):
            run.log_params({"model": {"bad": value}, "ok": 1})
        run.log_params({"after": 1})
    assert tracker.get_run(run.id).params == {"after": 1}  # nothing from the bad call


@pytest.mark.parametrize(
    ("metrics", "message"),
    [
        ({"acc": "0.9"}, "metric 'acc' must be a real number, got str"),
        ({"acc": True}, "metric 'acc' must be a real number, got bool"),
        ({"acc": np.bool_(True)}, "metric 'acc' must be a real number"),
        ({"acc": 1 + 2j}, "metric 'acc' must be a real number, got complex"),
        ({"acc": None}, "metric 'acc' must be a real number, got NoneType"),
        ({"acc": np.array([0.5])}, r"one-element array: pass value\.item\(\)"),
        ({"": 1.0}, "metric names must not be empty"),
        ({3: 1.0}, "metric names must be strings"),
    ],
    ids=["str", "bool", "np-bool", "complex", "none", "array", "empty-name", "int-name"],
)
def test_bad_metrics_are_refused_with_the_reason(metrics: dict, message: str) -> None:  # type: ignore[type-arg]
    with tracker.start_run(), pytest.raises(tracker.ValidationError, match=message):
        tracker.log_metrics(metrics)


def test_metrics_accept_numpy_and_keep_nan_and_infinities() -> None:
    with tracker.start_run() as run:
        run.log_metrics({"a": np.float32(0.5), "b": np.int64(3), "nan": np.nan, "inf": -np.inf})
    m = tracker.get_run(run.id).metrics
    assert m["a"] == 0.5
    assert m["b"] == 3.0
    assert math.isnan(m["nan"])
    assert m["inf"] == -math.inf


@pytest.mark.parametrize("step", [-1, 1.5, "2", True], ids=["negative", "float", "str", "bool"])
def test_bad_steps_are_refused(step: object) -> None:
    with tracker.start_run() as run, pytest.raises(tracker.ValidationError, match="step must be"):
        run.log_metric("x", 1.0, step=step)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"name": ""}, "non-empty string"),
        ({"kind": "banana"}, "unknown run kind 'banana'"),
        ({"tags": {"a": [1]}}, "tag 'a' must be a string"),
        ({"params": {"x": {1, 2}}}, "param 'x' has type"),
        ({"parent": 3}, "parent must be a run"),
    ],
    ids=["empty-name", "kind", "tag", "param", "parent"],
)
def test_start_run_refuses_bad_arguments_before_recording(kwargs: dict, message: str) -> None:  # type: ignore[type-arg]
    with pytest.raises(tracker.ValidationError, match=message):
        tracker.start_run(**kwargs)
    assert tracker.active_run() is None
    assert tracker.search_runs() == []


def test_logging_to_an_ended_run_is_an_error() -> None:
    with tracker.start_run() as run:
        pass
    with pytest.raises(tracker.TrackerError, match="has ended"):
        run.log_metrics({"late": 1.0})


def test_tags_notes_name_and_attrs() -> None:
    with tracker.start_run(name="a", tags={"x": 1}) as run:
        run.set_tags({"stage": "dev", "flag": True})
        run.set_notes("looks good")
        run.set_name("renamed")
        run.set_attrs({"card": {"sections": {"intended_use": "demo"}}})
    r = tracker.get_run(run.id)
    assert r.tags == {"x": "1", "stage": "dev", "flag": "True"}
    assert r.notes == "looks good"
    assert r.name == "renamed"
    assert r.attrs["card"] == {"sections": {"intended_use": "demo"}}


def test_environment_is_recorded(tmp_path: Path) -> None:
    import sklearn  # noqa: F401  # imported during the run: must appear in the packages

    with tracker.start_run() as run:
        pass
    env = tracker.get_run(run.id).environment
    assert env is not None
    assert env.python == ".".join(map(str, sys.version_info[:3]))
    assert env.hostname
    assert "numpy" in env.packages
    assert "scikit-learn" in env.packages
    assert env.hardware["logical_cores"] >= 1
    # this repository is a git checkout: its commit is recorded
    head = subprocess.run(["git", "rev-parse", "HEAD"], capture_output=True, text=True, check=False)
    if head.returncode == 0:
        assert env.git_commit == head.stdout.strip()
        assert env.git_dirty in (True, False)


def test_search_runs_by_every_criterion() -> None:
    with tracker.start_run(
        name="svc-a", tags={"model": "svc"}, params={"C": 1.0, "kernel": "rbf"}
    ) as a:
        a.log_metrics({"acc": 0.91})
    with tracker.start_run(
        name="svc-b", tags={"model": "svc"}, params={"C": 10.0, "kernel": "linear"}
    ) as b:
        b.log_metrics({"acc": 0.95})
    with pytest.raises(RuntimeError), tracker.start_run(name="tree", tags={"model": "tree"}) as c:
        raise RuntimeError("x")

    def names(*args: object, **kw: object) -> list[str]:
        return [r.name for r in tracker.search_runs(*args, **kw)]  # type: ignore[arg-type]

    assert names(name="svc-*", order_by="name") == ["svc-a", "svc-b"]
    assert names(tags={"model": "svc"}, order_by="metrics.acc desc") == ["svc-b", "svc-a"]
    assert names(params={"kernel": "rbf"}) == ["svc-a"]
    assert names(params={"C": (">", 2)}) == ["svc-b"]
    assert names(metrics={"acc": (">=", 0.92)}) == ["svc-b"]
    assert names(status="failed") == ["tree"]
    assert names(status=["failed", "finished"], order_by="name", limit=2, offset=1) == [
        "svc-b",
        "tree",
    ]
    assert names("metrics.acc > 0.9 and params.kernel = 'linear'") == ["svc-b"]
    assert names(kind="run", started_after=tracker.get_run(b).start_time, order_by="name") == [
        "svc-b",
        "tree",
    ]
    assert tracker.search_runs(name="nothing") == []
    with pytest.raises(tracker.ValidationError, match="unknown status 'done'"):
        tracker.search_runs(status="done")
    with pytest.raises(tracker.ValidationError, match="unknown field"):
        tracker.search_runs("accuracy > 1")
    _ = c


def test_runs_frame_columns() -> None:
    with tracker.start_run(name="a", params={"C": 1}, tags={"t": "x"}) as run:
        run.log_metrics({"acc": 0.5})
    frame = tracker.runs_frame()
    assert list(frame["name"]) == ["a"]
    assert frame.loc[0, "params.C"] == 1
    assert frame.loc[0, "metrics.acc"] == 0.5
    assert frame.loc[0, "tags.t"] == "x"
    assert frame.columns[0] == "id"
    empty = tracker.runs_frame(name="nobody")
    assert len(empty) == 0
    assert "status" in empty.columns


def test_run_kinds_and_sources() -> None:
    with tracker.start_run(kind="search") as s, tracker.start_run(kind=RunKind.TRIAL) as t:
        pass
    assert tracker.get_run(s).kind is RunKind.SEARCH
    assert tracker.get_run(t).kind is RunKind.TRIAL
    assert tracker.get_run(t).parent_id == s.id


def test_get_run_unknown_id() -> None:
    with pytest.raises(tracker.RunNotFoundError, match="no run with id 'missing'"):
        tracker.get_run("missing")
    with pytest.raises(KeyError):  # it is also a KeyError, like a dict lookup
        tracker.get_run("missing")


def test_the_run_api_names_import_from_tracker_run_as_before_the_split() -> None:
    import tracker.run as run_module

    for name in run_module.__all__:
        assert getattr(run_module, name) is not None, name
    # What the CLI, the tests and tracker/__init__.py take from tracker.run besides __all__.
    for name in ("DEFAULT", "_build_query", "_open_runs", "metric_history", "MAX_KEY"):
        assert hasattr(run_module, name), name
    assert run_module.start_run is tracker.start_run
    assert run_module.flatten_params({"a": {"b": 1}}) == {"a.b": 1}
