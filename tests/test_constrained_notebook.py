"""notebooks/constrained_search.ipynb end to end, executed headless in a real kernel.

The notebook tunes a classifier for accuracy and p95 latency under a latency budget, with a
test-set re-check. It runs once here with nbclient against this module's own SQLite store
(as ``make demo`` runs it), and the tests read back what it recorded: the records, not
what the notebook printed, are what the panel, the cards and the demo rely on.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import nbformat
import optuna
import pytest
from nbclient import NotebookClient

import tracker
from tracker.records import Run, RunKind, RunStatus

from .capture_harness import errors, kernel_env, outputs_text

pytestmark = [pytest.mark.kernel, pytest.mark.slow]

NOTEBOOK = Path(__file__).resolve().parent.parent / "notebooks" / "constrained_search.ipynb"
N_TRIALS = 30  # the notebook's n_trials
BUDGET_MS = 2.0  # the notebook's LATENCY_BUDGET_MS
CONSTRAINT = "latency_p95_ms <= 2"  # its canonical form, the key everywhere
OBJECTIVES = {"accuracy": "maximize", "latency_p95_ms": "minimize"}
SPLITS = {"X_train", "y_train", "X_val", "y_val", "X_test", "y_test"}


@dataclass
class Executed:
    """The notebook after its run, and the store it wrote to."""

    nb: nbformat.NotebookNode
    store: str

    def use(self) -> None:
        tracker.set_store(self.store)

    def search(self) -> Run:
        (search,) = tracker.search_runs(kind="search")
        return tracker.get_run(search.id)

    def trials(self) -> list[Run]:
        runs = tracker.search_runs(parent=self.search().id)
        return sorted(runs, key=lambda r: int(r.tags["optuna.trial_number"]))


@pytest.fixture(scope="module")
def executed(tmp_path_factory: pytest.TempPathFactory) -> Executed:
    work = tmp_path_factory.mktemp("constrained_search")
    store = f"sqlite:///{work / 'tracker.db'}"
    env = kernel_env(
        TRACKER_STORE=store,
        TRACKER_SPOOL_DIR=str(work / "spool"),
        # As JupyterLab does: the session run is named after the notebook.
        JPY_SESSION_NAME=str(NOTEBOOK),
    )
    nb = nbformat.read(NOTEBOOK, as_version=4)
    client = NotebookClient(
        nb,
        timeout=300,
        kernel_name="python3",
        allow_errors=True,
        resources={"metadata": {"path": str(work)}},
    )
    client.execute(env=env)
    return Executed(nb, store)


def attrs(run: Run) -> dict[str, Any]:
    """A run's attrs as plain JSON (what docs/records.md describes)."""
    return dict(run.attrs)


def _dominates(a: list[float], b: list[float]) -> bool:
    return all(x <= y for x, y in zip(a, b, strict=True)) and a != b


def _losses(run: Run) -> list[float]:
    values = attrs(run)["trial"]["values"]
    return [-values[k] if d == "maximize" else values[k] for k, d in OBJECTIVES.items()]


def test_the_notebook_is_committed_without_outputs() -> None:
    nb = nbformat.read(NOTEBOOK, as_version=4)
    code = [c for c in nb.cells if c.cell_type == "code"]
    assert code
    assert all(c.outputs == [] and c.execution_count is None for c in code)


def test_no_cell_raised_and_every_cell_left_a_record(executed: Executed) -> None:
    code = [c for c in executed.nb.cells if c.cell_type == "code"]
    failed = {c.id: outputs_text(c)[-2000:] for c in code if errors(c)}
    assert failed == {}
    assert all(c.execution_count is not None for c in code)

    executed.use()
    (session,) = tracker.search_runs(kind="session")
    assert session.name == "constrained_search"
    cells = tracker.get_run(session.id).cells
    # Every cell after `%load_ext tracker` / `%track on` has a record, in order, all ok.
    assert [c.source for c in cells] == [c.source for c in code[1:]]
    assert [c.status for c in cells] == ["ok"] * len(cells)


def test_one_search_with_its_trials_under_the_session(executed: Executed) -> None:
    executed.use()
    (session,) = tracker.search_runs(kind="session")
    search = executed.search()
    assert search.parent_id == session.id
    assert search.status is RunStatus.FINISHED
    spec = attrs(search)["search"]
    assert spec["objectives"] == OBJECTIVES
    assert [c["expr"] for c in spec["constraints"]] == [CONSTRAINT]
    assert spec["budget"]["n_trials"] == N_TRIALS

    trials = executed.trials()
    assert len(trials) == N_TRIALS
    assert [int(t.tags["optuna.trial_number"]) for t in trials] == list(range(N_TRIALS))
    assert {t.kind for t in trials} == {RunKind.TRIAL}
    assert {t.status for t in trials} == {RunStatus.FINISHED}
    assert {attrs(t)["trial"]["state"] for t in trials} == {"complete"}
    assert search.metrics["n_trials"] == N_TRIALS

    # data= hashed the splits once: the same digests on the search and on every trial.
    assert set(search.data) == SPLITS
    for t in trials:
        assert {k: v.digest for k, v in t.data.items()} == {
            k: v.digest for k, v in search.data.items()
        }


def test_the_constraint_is_recorded_on_every_completed_trial(executed: Executed) -> None:
    executed.use()
    trials = executed.trials()
    study_name = attrs(executed.search())["search"]["study_name"]
    study = optuna.load_study(study_name=str(study_name), storage=executed.store)
    by_number = {ft.number: ft for ft in study.get_trials(deepcopy=False)}
    feasible = 0
    for t in trials:
        info = attrs(t)["trial"]
        latency = t.metrics["latency_p95_ms"]
        assert latency > 0
        assert set(info["constraints"]) == {CONSTRAINT}
        c = info["constraints"][CONSTRAINT]
        assert c["value"] == pytest.approx(latency)
        assert c["violation"] == pytest.approx((latency - BUDGET_MS) / BUDGET_MS)
        assert c["feasible"] is (latency <= BUDGET_MS)
        assert info["feasible"] is c["feasible"]
        feasible += c["feasible"]
        # ... and on the Optuna trial, where the sampler reads it.
        ft = by_number[info["number"]]
        assert ft.system_attrs[f"constraints:{CONSTRAINT}"] == pytest.approx(c["violation"])
        # The latency measurement behind the metric is on the trial run too.
        assert attrs(t)["latency"]["p95_ms"] == pytest.approx(latency)
        assert attrs(t)["latency"]["n"] == 100
    assert executed.search().metrics["n_feasible"] == feasible
    # How many meet the budget depends on the machine and its load (on an idle reference
    # machine the seeded trials span about 0.8 to 8 ms, so some do and some do not; under
    # heavy load none may): the records must be right either way, and the tests below
    # check the front and the choice for whichever case this run produced.


def test_the_front_is_the_feasible_non_dominated_trials(executed: Executed) -> None:
    executed.use()
    search = executed.search()
    trials = executed.trials()
    by_id = {t.id: t for t in trials}
    pareto = list(attrs(search)["pareto"])
    assert set(pareto) <= set(by_id)

    feasible = [t for t in trials if attrs(t)["trial"]["feasible"]]
    expected = {
        t.id
        for t in feasible
        if not any(_dominates(_losses(o), _losses(t)) for o in feasible if o.id != t.id)
    }
    assert set(pareto) == expected
    for t in trials:
        assert attrs(t)["trial"]["pareto"] is (t.id in expected)


def test_test_values_on_every_pareto_trial_and_the_choice(executed: Executed) -> None:
    executed.use()
    search = executed.search()
    trials = executed.trials()
    pareto = set(attrs(search)["pareto"])
    recheck = attrs(search)["recheck"]
    assert set(recheck) == pareto

    for t in trials:
        if t.id not in pareto:
            assert "test" not in attrs(t)  # only the front is re-checked
            continue
        test = attrs(t)["test"]
        assert 0.5 < test["accuracy"] <= 1.0
        assert math.isfinite(test["latency_p95_ms"])
        assert test["latency_p95_ms"] > 0
        entry = recheck[t.id]
        assert entry["test"] == test
        assert entry["validation"]["accuracy"] == pytest.approx(t.metrics["accuracy"])
        assert entry["feasible_on_test"] is (test["latency_p95_ms"] <= BUDGET_MS)
        assert entry["latency"]["n"] == 300  # recheck_repeats, not the search's 100

    stays = [i for i in pareto if recheck[i]["feasible_on_test"]]
    if not pareto:
        # Nothing met the budget even on validation (a machine much slower than the ones
        # the notebook was written on): nothing re-checked, nothing chosen, nothing closest.
        assert "chosen" not in attrs(search)
        assert "closest" not in attrs(search)
    elif stays:
        chosen = str(attrs(search)["chosen"])
        assert chosen in stays
        best = max(recheck[i]["validation"]["accuracy"] for i in stays)
        assert recheck[chosen]["validation"]["accuracy"] == best
        assert "closest" not in attrs(search)
    else:
        # No configuration met the budget on held-out data (this machine may be loaded):
        # nothing is chosen, and the closest is named as such (issue 15).
        assert "chosen" not in attrs(search)
        closest = str(attrs(search)["closest"])
        assert closest in pareto
        excess = {i: max(0.0, recheck[i]["violations"][CONSTRAINT]) for i in pareto}
        assert excess[closest] == min(excess.values())


def test_the_notebook_says_what_it_chose_or_that_nothing_met_the_budget(
    executed: Executed,
) -> None:
    executed.use()
    search = executed.search()
    printed = "".join(outputs_text(c) for c in executed.nb.cells if c.cell_type == "code")
    if "chosen" in attrs(search):
        assert "chosen: trial #" in printed
        assert f"chosen trial run: {attrs(search)['chosen']}" in printed
    elif not attrs(search)["pareto"]:
        assert "no configuration met the budget (latency_p95_ms <= 2) even on validation" in printed
        assert "trial run:" not in printed
    else:
        assert "no configuration met the budget on held-out data" in printed
        closest = attrs(search)["closest"]
        assert f"closest trial run (does not meet the budget): {closest}" in printed
