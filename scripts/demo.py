"""`make demo`: the main job on the embedded SQLite default.

Creates a few runs through the public API and prints them as a table, then executes two
notebooks headless in real kernels, as JupyterLab would run them: notebooks/quickstart.ipynb
(notebook tracking; its cell records are shown) and notebooks/constrained_search.ipynb (a
search for accuracy and p95 latency under a latency budget, re-checked on test data; its
front is read back from the store; the notebook registers the chosen trial's stored model and
promotes it through a gate). Then it writes the model card of that registry version (.md and
.html, with a sliced evaluation of the stored model on the test split; nothing is re-fitted),
tries a second gate that needs a finished card, and reads it all back
through the side panel's REST API on a real Jupyter server. Executed notebooks and the card
go to .tracker/demo/.
"""

from __future__ import annotations

import sys
import textwrap
from pathlib import Path
from typing import Any

import numpy as np
from sklearn.datasets import load_digits
from sklearn.model_selection import train_test_split
from sklearn.svm import SVC
from traitlets.config import Config

import tracker
from tracker.cli import runs_table
from tracker.records import Run


def runs_demo() -> None:
    X, y = load_digits(return_X_y=True)
    X_train, X_test, y_train, y_test = train_test_split(X, y, test_size=0.3, random_state=0)
    print(f"store: {tracker.get_store().url}")
    for C in (0.1, 1.0, 10.0):
        with tracker.start_run(name=f"svc-C{C}", tags={"model": "svc", "demo": "runs"}) as run:
            run.log_params({"C": C, "kernel": "rbf", "gamma": "scale"})
            run.log_data("X_train", X_train)
            run.log_data("y_train", y_train)
            model = SVC(C=C).fit(X_train, y_train)
            run.log_metrics({"accuracy": float(np.mean(model.predict(X_test) == y_test))})
    runs = tracker.search_runs(tags={"demo": "runs"}, order_by="metrics.accuracy desc", limit=10)
    print(runs_table(runs))


NOTEBOOKS = Path(__file__).resolve().parent.parent / "notebooks"
SEARCH_NOTEBOOK = "constrained_search"


def kernel_config() -> Config:
    """Kernel settings for headless runs: no plain-text TCP between us and the kernel.

    ipykernel warns "Kernel is running over TCP without encryption" on stderr unless its
    kernel manager provisions CurveZMQ keys (which it does when asked to and the kernelspec
    declares support, as ipykernel's does) or the kernel listens on local IPC sockets.
    """
    import zmq

    config = Config()
    if zmq.has("curve"):
        config.KernelManager.transport_encryption = "auto"
    else:
        config.KernelManager.transport = "ipc"
    return config


def run_notebook(name: str) -> float:
    """Execute notebooks/<name>.ipynb headless, as JupyterLab would run it; return seconds.

    The executed copy, outputs included, is saved under .tracker/demo/ to open afterwards.
    """
    import os
    import time

    import nbformat
    from nbclient import NotebookClient

    notebook = NOTEBOOKS / f"{name}.ipynb"
    nb = nbformat.read(notebook, as_version=4)
    client = NotebookClient(
        nb,
        timeout=600,
        kernel_name="python3",
        config=kernel_config(),
        resources={"metadata": {"path": str(notebook.parent)}},
    )
    t0 = time.perf_counter()
    # JupyterLab tells the kernel which notebook it runs through JPY_SESSION_NAME.
    client.execute(env={**os.environ, "JPY_SESSION_NAME": str(notebook)})
    elapsed = time.perf_counter() - t0
    nbformat.write(nb, demo_dir() / notebook.name)
    return elapsed


def demo_dir() -> Path:
    out = tracker.config.project_root() / ".tracker" / "demo"
    out.mkdir(parents=True, exist_ok=True)
    return out


def digits_splits() -> dict[str, np.ndarray]:
    """The splits of notebooks/constrained_search.ipynb (checked against its data hashes)."""
    X, y = load_digits(return_X_y=True)
    X_rest, X_test, y_rest, y_test = train_test_split(
        X, y, test_size=0.25, random_state=0, stratify=y
    )
    X_train, X_val, y_train, y_val = train_test_split(
        X_rest, y_rest, test_size=0.3, random_state=0, stratify=y_rest
    )
    return {
        "X_train": X_train,
        "y_train": y_train,
        "X_val": X_val,
        "y_val": y_val,
        "X_test": X_test,
        "y_test": y_test,
    }


def notebook_search() -> Run:
    """The search the latest run of the constrained search notebook recorded."""
    (session,) = tracker.search_runs(kind="session", name=SEARCH_NOTEBOOK, limit=1)
    (search,) = tracker.search_runs(kind="search", parent=session.id, limit=1)
    return tracker.get_run(search.id)


def search_demo() -> None:
    """notebooks/constrained_search.ipynb headless, then its search read back from the store."""
    elapsed = run_notebook(SEARCH_NOTEBOOK)
    search = notebook_search()
    spec = search.attrs["search"]
    budget = " and ".join(c["expr"] for c in spec["constraints"])
    trials = {t.id: t for t in tracker.search_runs(parent=search.id)}
    print(
        f"\nconstrained search notebook: {elapsed:.0f} s, search {search.name!r} ({search.id[:8]})"
    )
    print(
        f"  {search.metrics['n_trials']:.0f} trials, {search.metrics['n_feasible']:.0f} feasible"
        f" under {budget}; sampler {spec['sampler']['name']}"
    )
    objectives: dict[str, str] = spec["objectives"]
    first, direction = next(iter(objectives.items()))
    front = sorted(
        (trials[i] for i in search.attrs.get("pareto", [])),
        key=lambda t: -t.metrics[first] if direction == "maximize" else t.metrics[first],
    )
    if not front:
        _explain_nothing_feasible(list(trials.values()), budget)
        return
    _print_front(search, front, objectives)
    chosen, closest = search.attrs.get("chosen"), search.attrs.get("closest")
    if chosen:
        print(
            "  (validation -> test; * is the most accurate on validation of those feasible on test)"
        )
    else:
        _explain_nothing_held(search, closest, spec["constraints"])
    print(f"  executed notebook, plots included: {demo_dir() / (SEARCH_NOTEBOOK + '.ipynb')}")


def _print_front(search: Run, front: list[Run], objectives: dict[str, str]) -> None:
    recheck = search.attrs.get("recheck", {})
    chosen, closest = search.attrs.get("chosen"), search.attrs.get("closest")
    stayed = sum(bool(recheck.get(t.id, {}).get("feasible_on_test")) for t in front)
    marks = "* chosen, ! infeasible on test" + (", ~ closest (not a choice)" if closest else "")
    print(f"  Pareto front: {len(front)} trials, {stayed} still feasible on test ({marks})")
    width = {k: max(len(k), 18) for k in objectives}
    print("      trial  " + "".join(f"{k:<{width[k]}}" for k in objectives) + "params")
    for t in front:
        check = recheck.get(t.id, {})
        test = check.get("test", {})
        cells = []
        for k in objectives:
            cell = f"{t.metrics[k]:.4g}" + (f" -> {test[k]:.4g}" if k in test else "")
            cells.append(f"{cell:<{width[k]}}")
        mark = (
            "*"
            if t.id == chosen
            else "~"
            if t.id == closest
            else "!"
            if check.get("feasible_on_test") is False
            else " "
        )
        print(f"    {mark} #{_number(t):<5} {''.join(cells)}{_params(t)}")


def _explain_nothing_held(
    search: Run, closest: str | None, constraints: list[dict[str, Any]]
) -> None:
    budget = " and ".join(c["expr"] for c in constraints)
    lines = [
        f"No configuration met the budget on held-out data: every Pareto trial breaks {budget}"
        " when re-measured on the test split, so the search chose nothing and there is no"
        " model to present."
    ]
    if closest:
        test = search.attrs["recheck"][closest]["test"]
        metrics = {c["metric"] for c in constraints}
        figures = ", ".join(f"{k} {v:.4g}" for k, v in test.items() if k in metrics)
        lines.append(
            f"The closest, trial #{_number(tracker.get_run(closest))} ({figures} on test), is"
            " marked ~: the one to look at next, not a model to ship. Latency depends on the"
            " machine and on what else it runs; on a busy machine it can exceed a budget that"
            " held where the notebook was written."
        )
    for line in lines:
        print(textwrap.fill(line, 100, initial_indent="  ", subsequent_indent="  "))


def _explain_nothing_feasible(trials: list[Run], budget: str) -> None:
    fastest = min((t.metrics.get("latency_p95_ms", float("inf")) for t in trials), default=None)
    line = (
        f"No configuration met the budget ({budget}) even on validation data, so there is no"
        " Pareto front, no test re-check and no model to present."
    )
    if fastest is not None:
        line += (
            f" The fastest trial's p95 was {fastest:.3g} ms: latency depends on the machine and"
            " on what else it runs, and here it exceeds what the budget was set for."
        )
    print(textwrap.fill(line, 100, initial_indent="  ", subsequent_indent="  "))


def _number(trial: Run) -> int:
    return int(trial.tags["optuna.trial_number"])


def _params(run: Run) -> str:
    return " ".join(
        f"{k}={v:.3g}" if isinstance(v, float) else f"{k}={v}" for k, v in run.params.items()
    )


MODEL_NAME = "digits-extra-trees"  # what notebooks/constrained_search.ipynb registers
TREES = ["sklearn.tree._tree.Tree"]  # tree models load with it named (docs/models.md)


def card_demo() -> None:
    """The card of the chosen model's registry version: the stored model, sliced on test."""
    search = notebook_search()
    chosen_id = search.attrs.get("chosen")
    if not chosen_id:
        print(
            "\nmodel card: skipped. No configuration met the budget on held-out data, so the"
            " search has no chosen model to register, evaluate and document."
        )
        return
    # The slices need the test split: check by content hash that these splits are the
    # ones the search recorded.
    splits = digits_splits()
    changed = [k for k, v in splits.items() if tracker.hash_data(v).digest != search.data[k].digest]
    if changed:
        print(
            f"card: the notebook's splits differ from this script's ({', '.join(changed)}); skipped"
        )
        return
    # The notebook registered the chosen trial's own model (logged in the objective):
    # nothing is re-fitted.
    versions = tracker.get_store().model_versions(MODEL_NAME)
    try:
        version = next((v for v in reversed(versions) if v.run_id == chosen_id), None)
        version = version or tracker.register_model(f"runs:/{chosen_id}/model", MODEL_NAME)
    except tracker.ArtifactNotFoundError:  # a store from before the notebook logged models
        print(f"\nmodel card: skipped. Trial {chosen_id[:8]} kept no model; run the notebook again")
        return
    model = tracker.load_model(version, trusted=TREES)
    tracker.evaluate_slices(
        model,
        splits["X_test"],
        splits["y_test"],
        by=splits["y_test"],
        by_name="digit",
        metrics=["accuracy"],
        run=chosen_id,
    )
    card = tracker.model_card(
        version.uri,
        description=(
            "An extra-trees classifier for 8x8 images of handwritten digits, tuned for "
            "accuracy under a p95 latency budget for one prediction."
        ),
        intended_use="A demonstration of jupyterlab-tracker's model cards.",
        owners="The jupyterlab-tracker demo",
    )
    md = card.save(demo_dir() / "model_card.md", overwrite=True)
    html = card.save(demo_dir() / "model_card.html", overwrite=True)
    caveats = ", ".join(c["code"] for c in card.caveats) or "none"
    aliases = ", ".join(f"@{a}" for a in version.aliases) or "no alias"
    print(f"\nmodel card of {version.uri} ({aliases}): trial {chosen_id[:8]}'s stored model")
    print(f"  digest {version.digest}; sliced by digit on the test split; caveats: {caveats}")
    print(f"  {len(card.needs_input)} section(s) need a person's input")
    # A second gate: production needs a finished card as well. Sections still need a
    # person, so this promotion is refused, and the refusal is kept in the history.
    try:
        tracker.promote(MODEL_NAME, version.version, alias="production", require=["card"])
    except tracker.PromotionRefused as refused:
        print(f"  promotion to @production refused: {', '.join(refused.failed)} (see the card)")
    for event in tracker.model_history(MODEL_NAME)[-3:]:
        print(f"  history: {event.action} v{event.version} {event.alias or ''} by {event.who}")
    print(f"  {md}\n  {html}")


def quickstart_demo() -> None:
    """notebooks/quickstart.ipynb executed headless, as JupyterLab would run it."""
    elapsed = run_notebook("quickstart")
    (latest,) = tracker.search_runs(kind="session", name="quickstart", limit=1)
    session = tracker.get_run(latest.id)
    children = tracker.search_runs(parent=session.id)
    print(
        f"\nquickstart notebook: {elapsed:.0f} s, {len(session.cells)} cell records"
        f" in session run {session.id}"
    )
    print(f"  store: {tracker.get_store().url}")
    print(f"  child runs: {', '.join(f'{r.name} ({r.kind.value})' for r in children) or 'none'}")
    for cell in session.cells:
        first = cell.source.splitlines()[0][:48]
        data = ", ".join(f"{k}={v.short}" for k, v in cell.outputs.items())
        print(f"  [{cell.execution_count}] {cell.status:5} {cell.duration_ms:8.1f} ms  {first}")
        if cell.metrics or data:
            metrics = ", ".join(f"{k}={v:.4g}" for k, v in cell.metrics.items())
            line = f"{metrics}{'; ' if metrics and data else ''}{data}"
            print(textwrap.fill(line, 100, initial_indent=" " * 8, subsequent_indent=" " * 8))
    print(f"  read them back: tracker.get_run({session.id!r}).cells")
    print(f"  or: tracker show {session.id}")


def panel_demo() -> None:
    """What the side panel reads: the REST API of a real Jupyter server over this store."""
    import json
    import secrets
    import socket
    import subprocess
    import time
    import urllib.request

    tracker.sync()
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    token = secrets.token_hex(16)
    root = tracker.config.project_root()
    proc = subprocess.Popen(
        [sys.executable, "-m", "jupyter", "server", "--no-browser", f"--port={port}",
         "--ip=127.0.0.1", f"--IdentityProvider.token={token}", f"--ServerApp.root_dir={root}",
         "--ServerApp.allow_root=True", "--ServerApp.port_retries=0"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip

    def get(path: str) -> dict:  # type: ignore[type-arg]
        req = urllib.request.Request(
            f"http://127.0.0.1:{port}/tracker/api/v1/{path}",
            headers={"Authorization": f"token {token}"},
        )
        with urllib.request.urlopen(req, timeout=30) as r:
            return dict(json.load(r))

    try:
        for _ in range(300):
            try:
                store = get("store")
                break
            except OSError:
                time.sleep(0.1)
        else:
            print("the Jupyter server did not start; skipping the panel step")
            return
        page = get("runs?limit=5&exclude_kind=trial")
        searches = get("searches?limit=1")["searches"]
        where = store["configured_by"]
        print(f"\npanel API: {store['kind']} store, {store['runs']} runs (from {where})")
        for r in page["runs"]:
            print(f"  {r['kind']:8} {r['status']:9} {r['name']}")
        if searches:
            s = get(f"searches/{searches[0]['id']}")
            front = len(s["pareto"])
            print(
                f"  search {s['search']['name']!r}: {s['n_trials']} trials, "
                f"{s['n_feasible']} feasible, {front} on the Pareto front"
            )
            if s["chosen"]:
                print(f"  chosen trial run {s['chosen'][:8]}")
            elif s["closest"]:
                print(
                    "  nothing chosen: no configuration met the budget on held-out data;"
                    f" closest trial run {s['closest'][:8]} (not a choice)"
                )
        print("Open it in JupyterLab: `jupyter lab`, then the Tracker tab in the right sidebar.")
    finally:
        proc.terminate()
        proc.wait(timeout=30)


def main() -> int:
    runs_demo()
    quickstart_demo()
    search_demo()
    card_demo()
    panel_demo()
    return 0


if __name__ == "__main__":
    sys.exit(main())
