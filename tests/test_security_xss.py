"""Every HTML fragment the project emits is inert, checked in a real browser without a CSP.

Given records whose every user-text field (run, search, study, trial and session names,
tag and param keys and values, notes, metric and objective names, constraint
expressions, sampler name and reason, data names and column dtypes, notebook path, cell
source, environment and hardware entries, slice labels, and every human card section)
holds one payload of ``tests/xss_corpus.py``, when each emitter renders them (the
standalone card with its CSP removed, ``ModelCard._repr_html_``, the card's Markdown
through a renderer that passes raw HTML, ``Lineage._repr_markdown_`` the same way,
``SliceReport._repr_html_``, the records' own views (``Run``, ``CellExecution``,
``DataRef`` and ``RunList`` ``_repr_html_``), the search progress widget's HTML, and the API's
``format=html`` card from a real Jupyter server), then headless Chromium loads each page
and:

* nothing ran: no ``__xss``/``alert`` call, no ``document.title`` write, while control
  handlers of the same kinds placed after the fragment (``onerror``, ``onload``,
  ``ontoggle``, ``onfocus`` with ``autofocus``, ``onanimationstart``) all fired;
* the page holds no element that can run or load code, no ``on*`` attribute and no URL
  whose scheme is not http, https or mailto (relative URLs resolve to http here);
* every field's canary (``~field~``, next to the payload) is on the page as text, so
  each payload really went through each field.

The panel's card preview shows the API's HTML in a sandboxed iframe
(``labext/test/cardPreview.spec.ts`` checks the sandbox).
"""

from __future__ import annotations

import ast
import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from markdown_it import MarkdownIt

import tracker
from tracker.cards import SECTION_KEYS, build_card
from tracker.cards.slices import compute_slices
from tracker.provenance import lineage
from tracker.run import RunList
from tracker.store import RunQuery, open_store
from tracker.store.ops import (
    CreateRun,
    EndRun,
    LogCell,
    LogData,
    LogMetrics,
    MetricRow,
    Op,
    SetAttrs,
    SetParams,
    SetRunFields,
    SetTags,
)
from tracker.store.query import Condition

from .chromium import Chromium, require_chromium
from .server_helpers import JupyterServer
from .xss_corpus import IDS, PAYLOADS
from .xss_harness import Pages, check, page, render

pytestmark = pytest.mark.slow

T0 = 1_767_225_600.0


def v(payload: str, field: str) -> str:
    """A field's value: the payload, then the field's canary."""
    return f"{payload} ~{field}~"


# --- hostile records -------------------------------------------------------------------------


@dataclass(frozen=True)
class Ids:
    session: str
    search: str
    chosen: str


def _id(i: int, kind: str, n: int = 0) -> str:
    return f"{i:04d}{kind}{n:04d}".ljust(32, "0")


def _ref(digest: str, payload: str) -> dict[str, Any]:
    return {
        "algorithm": "xxh3-128",
        "digest": digest,
        "kind": "dataframe",
        "nbytes": 800,
        "shape": [50, 2],
        "dtypes": {v(payload, "column"): v(payload, "dtype"), "y": "int64"},
        "rows": 50,
        "nulls": {v(payload, "column"): 1},
        "partial": True,
        "path": None,
        "profile": {"partial_reason": v(payload, "partial")},
    }


def hostile_ops(i: int, p: str) -> tuple[list[Op], Ids]:
    """A session, a cell, a search with trials and a chosen model, all fields hostile."""
    ids = Ids(_id(i, "5e55"), _id(i, "5ea4"), _id(i, "7e1a", 0))
    env = {
        "python": "3.11.9",
        "implementation": "CPython",
        "platform": v(p, "platform"),
        "hostname": v(p, "host"),
        "packages": {v(p, "package"): v(p, "version")},
        "git_commit": v(p, "commit"),
        "git_dirty": True,
        "git_root": v(p, "gitroot"),
        "hardware": {v(p, "hwkey"): v(p, "hwvalue")},
    }
    digest = f"{i:032x}"
    cell = _id(i, "ce11")
    oa, ob = v(p, "objective_a"), v(p, "objective_b")
    expr = v(p, "constraint")
    ops: list[Op] = [
        CreateRun(
            ids.session, v(p, "session"), "session", T0, notebook=v(p, "notebook"), environment=env
        ),
        LogCell(
            cell,
            ids.session,
            0,
            v(p, "cellid"),
            1,
            v(p, "source"),
            "ab" * 16,
            "ok",
            None,
            [],
            [v(p, "dataname")],
            {},
            {},
            T0 + 1,
            12.0,
        ),
        # The cell that started the search reads what the first cell wrote.
        LogCell(
            _id(i, "ce11", 1),
            ids.session,
            1,
            None,
            2,
            v(p, "searchcell"),
            "cd" * 16,
            "ok",
            None,
            [v(p, "dataname")],
            [],
            {},
            {},
            T0 + 1.9,
            60_000.0,
            child_run_id=ids.search,
        ),
        LogData(
            _id(i, "da7a", 1),
            ids.session,
            v(p, "dataname"),
            _ref(digest, p),
            T0 + 1.5,
            role="output",
            cell_record_id=cell,
        ),
        CreateRun(
            ids.search,
            v(p, "search"),
            "search",
            T0 + 2,
            parent_id=ids.session,
            tags={"optuna.study_name": v(p, "study")},
            notebook=v(p, "notebook"),
            environment=env,
        ),
        LogData(_id(i, "da7a", 2), ids.search, v(p, "dataname"), _ref(digest, p), T0 + 2),
    ]
    trials = [_id(i, "7e1a", n) for n in range(3)]
    values = [(0.95, 40.0), (0.90, 20.0), (0.97, 150.0)]
    for n, (tid, (acc, lat)) in enumerate(zip(trials, values, strict=True)):
        feasible = lat <= 100
        ops += [
            CreateRun(
                tid,
                v(p, "trial"),
                "trial",
                T0 + 3 + n,
                parent_id=ids.search,
                environment=env,
                tags={"optuna.study_name": v(p, "study"), "optuna.trial_number": str(n)},
            ),
            SetParams(tid, {v(p, "param"): v(p, "paramvalue"), "C": 0.1 * (n + 1)}),
            LogMetrics(
                tid,
                [
                    MetricRow(_id(i, "3e71", 10 * n + 1), oa, acc, None, T0 + 3.5 + n),
                    MetricRow(_id(i, "3e71", 10 * n + 2), ob, lat, None, T0 + 3.5 + n),
                ],
            ),
            SetAttrs(
                tid,
                {
                    "trial": {
                        "number": n,
                        "state": "complete",
                        "values": {oa: acc, ob: lat},
                        "constraints": {
                            expr: {
                                "value": lat,
                                "violation": max(0.0, lat - 100),
                                "feasible": feasible,
                            }
                        },
                        "feasible": feasible,
                        "pareto": feasible,
                        "duration_s": 0.5,
                        "error": None,
                    }
                },
            ),
            EndRun(tid, "finished", T0 + 3.9 + n),
        ]
    slices = {
        "by": v(p, "sliceby"),
        "metrics": [v(p, "slicemetric")],
        "higher_is_better": {v(p, "slicemetric"): True},
        "overall": {
            v(p, "slicemetric"): {"value": 0.95, "ci_low": 0.93, "ci_high": 0.97, "n": 100}
        },
        "slices": [
            {
                "slice": v(p, "slice"),
                "n": 80,
                "metrics": {v(p, "slicemetric"): {"value": 0.9, "ci_low": 0.85, "ci_high": 0.94}},
                "worse_than_overall": [v(p, "slicemetric")],
                "too_small": False,
            },
        ],
        "confidence": 0.95,
        "method": v(p, "slicemethod"),
        "n_boot": 100,
        "seed": 0,
        "min_count": 30,
    }
    ops += [
        SetAttrs(
            ids.chosen,
            {
                "test": {oa: 0.94, ob: 41.0},
                "latency": {
                    "p50_ms": 20.0,
                    "p90_ms": 30.0,
                    "p95_ms": 40.0,
                    "p99_ms": 50.0,
                    "n": 100,
                    "batch_size": 1,
                    "p95_upper_ci_ms": 44.0,
                    "hardware": {v(p, "lathw"): v(p, "lathwvalue")},
                },
                "slices": slices,
            },
        ),
        SetTags(
            ids.chosen,
            {
                v(p, "tagkey"): v(p, "tagvalue"),
                "version": v(p, "modelversion"),
                "framework": v(p, "framework"),
                "model_type": v(p, "modeltype"),
            },
        ),
        SetRunFields(ids.chosen, {"notes": v(p, "notes")}),
        LogMetrics(
            ids.search,
            [
                MetricRow(_id(i, "4e70", k), "hypervolume", 0.1 * k, k, T0 + 10 + k)
                for k in (1, 2, 3)
            ],
        ),
        SetAttrs(
            ids.search,
            {
                "search": {
                    "study_name": v(p, "study"),
                    "storage": v(p, "storage"),
                    "objectives": {oa: "maximize", ob: "minimize"},
                    "constraints": [{"expr": expr, "metric": ob, "op": "<=", "bound": 100}],
                    "sampler": {"name": v(p, "sampler"), "reason": v(p, "reason")},
                    "seed": 0,
                    "budget": {"n_trials": 3, "timeout": None},
                    "n_jobs": 1,
                    "space": {
                        v(p, "param"): {"type": "categorical", "choices": [v(p, "paramvalue")]}
                    },
                },
                "pareto": trials[:2],
                "chosen": ids.chosen,
                "recheck": {
                    ids.chosen: {
                        "validation": {oa: 0.95, ob: 40.0},
                        "test": {oa: 0.94, ob: 41.0},
                        "latency": None,
                        "feasible_on_test": True,
                        "violations": {},
                    }
                },
            },
        ),
        EndRun(ids.search, "finished", T0 + 20),
    ]
    return ops, ids


def sections(p: str) -> dict[str, str]:
    return {k: f"{p}\n\n~section_{k}~" for k in SECTION_KEYS}


# --- emitters ----------------------------------------------------------------------------------


@dataclass
class Corpus:
    store_url: str
    ids: dict[str, Ids]


@pytest.fixture(scope="module")
def corpus(tmp_path_factory: pytest.TempPathFactory) -> Corpus:
    root = tmp_path_factory.mktemp("xss-store")
    url = f"sqlite:///{root / 'store.db'}"
    store = open_store(url, queued=False)
    all_ids = {}
    try:
        for i, (pid, payload) in enumerate(PAYLOADS):
            ops, ids = hostile_ops(i, payload)
            store.write(ops)
            # Stored on the run, so the API's card shows the same sections.
            build_card(ids.chosen, store=store, sections=sections(payload))
            all_ids[pid] = ids
    finally:
        store.close()
    return Corpus(url, all_ids)


@pytest.fixture(scope="module")
def api(corpus: Corpus, tmp_path_factory: pytest.TempPathFactory) -> Iterator[JupyterServer]:
    server = JupyterServer(
        tmp_path_factory.mktemp("xss-server"), store_url=corpus.store_url
    ).start()
    try:
        yield server
    finally:
        server.stop()


def _markdown(text: str) -> str:
    """Markdown as a renderer that passes raw HTML through (as CommonMark allows) shows it."""
    return MarkdownIt("commonmark", {"html": True}).enable("table").render(text)


def _card_emitters(corpus: Corpus, api: JupyterServer, pid: str) -> dict[str, tuple[str, bool]]:
    """Emitter name -> (HTML, whether it is a whole document)."""
    ids = corpus.ids[pid]
    store = open_store(corpus.store_url, queued=False)
    try:
        card = build_card(ids.chosen, store=store, include_source=True, persist=False)
        md = card.to_markdown()
        out = {
            "card-html": (card.to_html(), True),
            "card-repr-html": (card._repr_html_(), False),
            "card-markdown": (_markdown(md), False),
            # What a notebook shows for tracker.lineage(...): Markdown holding a <pre>.
            "lineage-markdown": (
                _markdown(lineage(ids.chosen, store=store)._repr_markdown_()),
                False,
            ),
        }
    finally:
        store.close()
    r = api.api(f"/runs/{ids.chosen}/card?format=html")
    assert r.status == 200, r.body[:500]
    out["api-card-html"] = (r.body.decode("utf-8"), True)
    return out


def _record_emitters(corpus: Corpus, pid: str) -> dict[str, tuple[str, bool]]:
    """The records' own notebook views: a run, a cell record, a data ref, search results."""
    ids = corpus.ids[pid]
    store = open_store(corpus.store_url, queued=False)
    try:
        chosen = store.get_run(ids.chosen)
        session = store.get_run(ids.session)
        search = store.get_run(ids.search)
        trials = RunList(
            store.search_runs(RunQuery(conditions=(Condition("parent_id", "=", ids.search),)))
        )
    finally:
        store.close()
    (ref,) = search.data.values()
    return {
        "run-repr-html": (chosen._repr_html_(), False),
        "cell-repr-html": (session.cells[0]._repr_html_(), False),
        "dataref-repr-html": (ref._repr_html_(), False),
        "runlist-repr-html": (trials._repr_html_(), False),
    }


def _slice_report_html(p: str) -> str:
    rng = np.random.default_rng(0)
    y = rng.integers(0, 2, 120)
    pred = np.where(rng.random(120) < 0.8, y, 1 - y)
    groups = np.array([v(p, "slicelabel_a")] * 60 + [v(p, "slicelabel_b")] * 60, dtype=object)
    report = compute_slices(
        y,
        pred,
        groups,
        metrics={v(p, "slicefn"): lambda t, q: float(np.mean(t == q))},
        by_name=v(p, "slicename"),
        n_boot=50,
        min_count=10,
    )
    return report._repr_html_()


def _widget_html(p: str) -> str:
    import ipywidgets as w

    from tracker.tuning import SearchProgress, TrialSummary
    from tracker.widgets import SearchProgressWidget

    oa, ob = v(p, "w_objective_a"), v(p, "w_objective_b")
    good = TrialSummary(
        number=1,
        run_id=None,
        state="complete",
        params={v(p, "w_param"): v(p, "w_paramvalue"), "C": 0.5},
        values={oa: 0.9, ob: 12.0},
        metrics={oa: 0.9, ob: 12.0},
        feasible=True,
        pareto=True,
    )
    bad = TrialSummary(
        2, None, "fail", {v(p, "w_param"): "x"}, {}, {}, False, error=v(p, "w_error")
    )
    widget = SearchProgressWidget(interval=0.0, display_now=False)
    widget(
        SearchProgress(
            study_name=v(p, "w_study"),
            search_run_id="0" * 32,
            objectives={oa: "maximize", ob: "minimize"},
            constraints=[v(p, "w_constraint")],
            n_finished=2,
            n_complete=1,
            n_feasible=1,
            n_failed=1,
            target=4,
            elapsed_s=1.0,
            timeout_s=None,
            last=bad,
            front=[good],
            trials=[good, bad],
            hypervolume=0.5,
            sampler=v(p, "w_sampler"),
            done=True,
        )
    )

    def html_of(node: Any) -> Iterator[str]:  # every HTML widget, wherever the layout puts it
        if isinstance(node, w.HTML | w.HTMLMath):
            yield node.value
        for child in getattr(node, "children", ()):
            yield from html_of(child)

    return "".join(html_of(widget.widget))


def _trace_html(p: str, where: Path) -> str:
    """``Trace._repr_html_`` of a file logged as an artifact by a run with hostile names."""
    import tempfile

    from tracker.store.artifacts import for_store
    from tracker.store.ops import CreateRun
    from tracker.tracing import trace

    tmp = Path(tempfile.mkdtemp(dir=where))
    store = open_store(f"sqlite:///{tmp / 'trace.db'}", queued=False)
    try:
        store.write([CreateRun(run_id="tr0", name=v(p, "tr_run"), kind="run", start_time=1.0)])
        model = tmp / "model.bin"
        model.write_bytes(f"weights {p}".encode())
        for_store(store).log("tr0", model, v(p, "tr_artifact"), write=store.write)
        store.flush()
        return trace(model, store=store)._repr_html_()
    finally:
        for_store(store).close()
        store.close()


def _search_result_html(p: str) -> str:
    """``SearchResult._repr_html_`` of a re-checked search where nothing held on test."""
    from tracker.tuning import SearchResult, TrialResult

    oa, ob, budget = v(p, "sr_objective_a"), v(p, "sr_objective_b"), v(p, "sr_constraint")
    trial = TrialResult(
        number=3,
        run_id="1" * 32,
        state="complete",
        params={v(p, "sr_param"): v(p, "sr_paramvalue")},
        values={oa: 0.9, ob: 4.0},
        metrics={oa: 0.9, ob: 4.0},
        constraints={budget: {"violation": 0.0}},
        feasible=True,
        pareto=True,
        duration_s=1.0,
        test={oa: 0.88, ob: 9.0},
        feasible_on_test=False,
        test_violations={budget: 0.5},
    )
    result = SearchResult(
        study=None,  # type: ignore[arg-type]  # the HTML view never reads the study
        study_name=v(p, "sr_study"),
        search_run_id="0" * 32,
        objectives={oa: "maximize", ob: "minimize"},
        constraints=[budget],
        sampler={"name": v(p, "sr_sampler"), "reason": v(p, "sr_reason")},
        trials=[trial],
        pareto=[trial],
        chosen=None,
        recheck={"1" * 32: {"feasible_on_test": False}},
        closest=trial,
    )
    return result._repr_html_()


# What each emitter must show of the fields (the canaries that must be on the page).
CARD_FIELDS = [
    "trial",
    "tagkey",
    "tagvalue",
    "modelversion",
    "framework",
    "param",
    "paramvalue",
    "notes",
    "objective_a",
    "objective_b",
    "dataname",
    "column",
    "dtype",
    "notebook",
    "source",
    "searchcell",
    "study",
    "search",
    "constraint",
    "sampler",
    "reason",
    "sliceby",
    "slicemetric",
    "slice",
    "slicemethod",
    "lathw",
    "lathwvalue",
    "platform",
    "package",
    "version",
    "commit",
    "hwkey",
    "hwvalue",
    "partial",
    *[f"section_{k}" for k in SECTION_KEYS],
]
EXPECTED: dict[str, list[str]] = {
    "card-html": CARD_FIELDS,
    "card-repr-html": CARD_FIELDS,
    "card-markdown": [f for f in CARD_FIELDS if f not in ("column", "dtype", "partial")],
    # The API leaves the cells' code out (include_source is off there).
    "api-card-html": [f for f in CARD_FIELDS if f not in ("source", "searchcell")],
    "lineage-markdown": ["trial", "dataname"],
    "slice-report": ["slicefn", "slicelabel_a", "slicelabel_b"],  # `by` is the caller's heading
    "widget": ["w_study", "w_objective_a", "w_objective_b", "w_param", "w_paramvalue", "w_sampler"],
    "search-result": [
        "sr_study",
        "sr_objective_a",
        "sr_objective_b",
        "sr_constraint",
        "sr_sampler",
    ],
    "run-repr-html": [
        "trial",
        "param",
        "paramvalue",
        "objective_a",
        "objective_b",
        "tagkey",
        "tagvalue",
        "notes",
    ],
    "cell-repr-html": ["source"],
    "trace-repr-html": ["tr_run", "tr_artifact"],
    "dataref-repr-html": ["column", "dtype", "partial"],
    "runlist-repr-html": ["trial", "param", "paramvalue", "objective_a", "objective_b"],
}


@pytest.fixture(scope="module")
def browser(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Chromium, Pages]]:
    require_chromium()
    chromium = Chromium(tmp_path_factory.mktemp("chromium") / "profile")
    pages = Pages()
    try:
        yield chromium, pages
    finally:
        pages.close()
        chromium.close()


@pytest.mark.parametrize(("pid", "payload"), PAYLOADS, ids=IDS)
def test_payload_in_every_field_of_every_emitter_is_inert(
    pid: str,
    payload: str,
    corpus: Corpus,
    api: JupyterServer,
    browser: tuple[Chromium, Pages],
    tmp_path: Path,
) -> None:
    emitters: dict[str, tuple[str, bool]] = _card_emitters(corpus, api, pid)
    emitters["slice-report"] = (_slice_report_html(payload), False)
    emitters["widget"] = (_widget_html(payload), False)
    emitters["search-result"] = (_search_result_html(payload), False)
    emitters["trace-repr-html"] = (_trace_html(payload, tmp_path), False)
    emitters |= _record_emitters(corpus, pid)
    failures = {}
    for name, (html, document) in emitters.items():
        result = render(browser, f"{pid}-{name}", page(html, document))
        if bad := check(result, EXPECTED[name]):
            failures[name] = bad
    assert failures == {}, json.dumps(failures, indent=1)[:6000]


def test_the_harness_catches_what_it_looks_for(browser: tuple[Chromium, Pages]) -> None:
    # The same checks on raw, unescaped payloads: each kind of failure is reported.
    raw = "".join(
        p for pid, p in PAYLOADS if pid in ("img-onerror", "issue-img", "a-js", "svg-onload")
    )
    result = render(browser, "harness-raw", page(raw + " ~canary~", False))
    bad = check(result, ["canary", "absent"])
    assert "ran: __xss(img-onerror)" in bad
    assert "ran: __xss(svg-onload)" in bad
    assert "ran: document.title=pwned" in bad
    assert any(b.startswith("href=javascript:") for b in bad)
    assert any(b.startswith("handler onerror") for b in bad)
    assert "field 'absent' is not on the page" in bad
    assert "field 'canary' is not on the page" not in bad
    # An element left open swallows the controls, and that is reported too.
    result = render(browser, "harness-open", page("<textarea>", False), deadline_s=3.0)
    assert any("controls that never fired" in b for b in check(result, []))
    # A clean fragment passes.
    clean = render(browser, "harness-clean", page("<p>fine ~ok~</p>", False))
    assert check(clean, ["ok"]) == []


def test_emitters_are_in_the_list(corpus: Corpus, api: JupyterServer) -> None:
    pid = IDS[0]
    names = set(_card_emitters(corpus, api, pid)) | {"slice-report", "widget", "search-result"}
    names |= {"trace-repr-html"}
    names |= set(_record_emitters(corpus, pid))
    assert names == set(EXPECTED)


def test_every_notebook_html_emitter_is_covered_here() -> None:
    # A class that renders itself as HTML in a notebook, or code that fills an HTML
    # widget, must be in the corpus test above; a new one fails here until it is.
    covered_reprs = {"ModelCard", "SliceReport", "Lineage", "SearchResult", "Trace"}
    covered_reprs |= {"Run", "CellExecution", "DataRef", "RunList"}
    covered_widget_modules = {"tracker/widgets/_progress.py"}
    root = Path(tracker.__file__).parent
    reprs, widget_modules = set(), set()
    for path in root.rglob("*.py"):
        tree = ast.parse(path.read_text())
        for node in ast.walk(tree):
            if isinstance(node, ast.ClassDef) and any(
                isinstance(f, ast.FunctionDef) and f.name in _REPRS for f in node.body
            ):
                reprs.add(node.name)
            if (
                isinstance(node, ast.Call)
                and isinstance(node.func, ast.Attribute | ast.Name)
                and getattr(node.func, "attr", getattr(node.func, "id", "")) in ("HTML", "HTMLMath")
            ):
                widget_modules.add(path.relative_to(root.parent).as_posix())
    assert reprs == covered_reprs
    assert widget_modules == covered_widget_modules


_REPRS = {"_repr_html_", "_repr_markdown_", "_repr_svg_", "_repr_mimebundle_"}
