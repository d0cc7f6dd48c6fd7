"""`make demo`: the main job on the embedded SQLite default.

Creates a few runs through the public API and prints them as a table, then runs a small
constrained search and writes the model card of its chosen model (.md and .html), then
executes notebooks/quickstart.ipynb headless with notebook tracking on and shows its cell
records, then reads it all back through the side panel's REST API on a real Jupyter
server. Later steps are added as they land.
"""

from __future__ import annotations

import sys

import numpy as np
from sklearn.datasets import load_digits
from sklearn.model_selection import train_test_split
from sklearn.svm import SVC

import tracker
from tracker.cli import runs_table


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


def card_demo() -> None:
    """A small constrained search, a sliced evaluation of its chosen model, then its card."""
    from pathlib import Path

    X, y = load_digits(return_X_y=True)
    X_rest, X_test, y_rest, y_test = train_test_split(X, y, test_size=0.3, random_state=1)
    X_train, X_val, y_train, y_val = train_test_split(X_rest, y_rest, test_size=0.3, random_state=1)

    def fit(params: dict) -> SVC:
        return SVC(C=params["C"], gamma=params["gamma"]).fit(X_train, y_train)

    def evaluate(model: SVC, X_eval: np.ndarray, y_eval: np.ndarray) -> dict[str, float]:
        latency = tracker.measure_latency(model.predict, X_eval[:64], repeats=60, warmup=5)
        return {"accuracy": float(np.mean(model.predict(X_eval) == y_eval)), **latency.metrics()}

    def objective(trial) -> dict[str, float]:  # type: ignore[no-untyped-def]
        C = trial.suggest_float("C", 0.1, 100.0, log=True)
        gamma = trial.suggest_float("gamma", 1e-4, 1e-1, log=True)
        return evaluate(fit({"C": C, "gamma": gamma}), X_val, y_val)

    def test(params: dict) -> dict[str, float]:
        return evaluate(fit(params), X_test, y_test)

    result = tracker.optimize(
        objective,
        n_trials=15,
        objectives={"accuracy": "maximize", "latency_p95_ms": "minimize"},
        constraints=["latency_p95_ms <= 50"],
        seed=0,
        test=test,
        data={
            "X_train": X_train,
            "y_train": y_train,
            "X_val": X_val,
            "y_val": y_val,
            "X_test": X_test,
            "y_test": y_test,
        },
        show_progress=False,
    )
    if result.chosen is None:
        print("card: the search found no feasible model; no card written")
        return
    model = fit(dict(result.chosen.params))
    tracker.evaluate_slices(
        model,
        X_test,
        y_test,
        by=y_test,
        by_name="digit",
        metrics=["accuracy"],
        run=result.chosen.run_id,
    )
    card = tracker.model_card(
        result,
        description="An RBF support vector classifier for 8x8 images of handwritten digits.",
        intended_use="A demonstration of jupyterlab-tracker's model cards.",
        owners="The jupyterlab-tracker demo",
    )
    out = Path(".tracker") / "demo"
    out.mkdir(parents=True, exist_ok=True)
    md = card.save(out / "model_card.md", overwrite=True)
    html = card.save(out / "model_card.html", overwrite=True)
    print(
        f"model card of search {card.run_id[:12]}: {len(card.caveats)} caveat(s), "
        f"{len(card.needs_input)} section(s) need input"
    )
    print(f"  {md}\n  {html}")


def search_demo() -> None:
    """A real constrained search: SVC on digits, accuracy vs p95 latency, test re-check."""
    from sklearn.svm import SVC

    X, y = load_digits(return_X_y=True)
    X_rest, X_test, y_rest, y_test = train_test_split(X, y, test_size=0.25, random_state=0)
    X_train, X_val, y_train, y_val = train_test_split(X_rest, y_rest, test_size=0.3, random_state=0)

    def fit(trial):  # type: ignore[no-untyped-def]
        C = trial.suggest_float("C", 1e-2, 1e2, log=True)
        gamma = trial.suggest_float("gamma", 1e-4, 1e-1, log=True)
        return SVC(C=C, gamma=gamma).fit(X_train, y_train)

    def objective(trial):  # type: ignore[no-untyped-def]
        model = fit(trial)
        lat = tracker.measure_latency(model.predict, X_val, warmup=5, repeats=60)
        return {
            "accuracy": float(model.score(X_val, y_val)),
            **lat.metrics(),
            "n_support": float(model.n_support_.sum()),
        }

    def test(trial):  # type: ignore[no-untyped-def]
        model = fit(trial)
        lat = tracker.measure_latency(model.predict, X_test, warmup=5)
        return {"accuracy": float(model.score(X_test, y_test)), **lat.metrics()}

    result = tracker.optimize(
        objective,
        25,
        objectives={"accuracy": "maximize", "latency_p95_ms": "minimize"},
        constraints=["latency_p95_ms <= 2"],
        study_name="demo-svc-digits",
        seed=0,
        test=test,
        data={"X_train": X_train},
    )
    print(result)
    print(f"sampler: {result.sampler['name']} ({result.sampler['reason']})")
    print("Pareto front, validation vs test:")
    for t in result.pareto:
        print(f"  {t!r}")
    print(f"chosen: {result.chosen!r}")
    fig = result.plot_pareto()
    out = tracker.config.project_root() / ".tracker" / "demo_pareto.html"
    fig.write_html(out)
    print(f"Pareto plot: {out}")


def quickstart_demo() -> None:
    """notebooks/quickstart.ipynb executed headless, as JupyterLab would run it."""
    import os
    from pathlib import Path

    import nbformat
    from nbclient import NotebookClient

    notebook = Path(__file__).resolve().parent.parent / "notebooks" / "quickstart.ipynb"
    nb = nbformat.read(notebook, as_version=4)
    client = NotebookClient(
        nb,
        timeout=600,
        kernel_name="python3",
        resources={"metadata": {"path": str(notebook.parent)}},
    )
    # JupyterLab tells the kernel which notebook it runs through JPY_SESSION_NAME.
    client.execute(env={**os.environ, "JPY_SESSION_NAME": str(notebook)})
    (latest,) = tracker.search_runs(kind="session", name="quickstart", limit=1)
    session = tracker.get_run(latest.id)
    children = tracker.search_runs(parent=session.id)
    print(f"quickstart notebook: {len(session.cells)} cell records in session run {session.id}")
    print(f"  store: {tracker.get_store().url}")
    print(f"  child runs: {', '.join(f'{r.name} ({r.kind.value})' for r in children) or 'none'}")
    for cell in session.cells:
        first = cell.source.splitlines()[0][:48]
        data = ", ".join(f"{k}={v.short}" for k, v in cell.outputs.items())
        print(f"  [{cell.execution_count}] {cell.status:5} {cell.duration_ms:8.1f} ms  {first}")
        if cell.metrics or data:
            metrics = ", ".join(f"{k}={v:.4g}" for k, v in cell.metrics.items())
            print(f"        {metrics}{'; ' if metrics and data else ''}{data}")
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
        print("Open it in JupyterLab: `jupyter lab`, then the Tracker tab in the right sidebar.")
    finally:
        proc.terminate()
        proc.wait(timeout=30)


def main() -> int:
    runs_demo()
    search_demo()
    card_demo()
    quickstart_demo()
    panel_demo()
    return 0


if __name__ == "__main__":
    sys.exit(main())
