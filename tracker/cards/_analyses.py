"""Layout of a card's quantitative analyses: sliced evaluations, latency, the search.

Part of the card layout (:mod:`tracker.cards._layout`): content in, typed blocks out
(:mod:`tracker.cards._model`). Also lays out one sliced evaluation on its own, for a
:class:`~tracker.cards.slices.SliceReport` in a notebook.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

from tracker.cards._format import broken_on_test, ci, num, plain, value_of
from tracker.cards._model import (
    Block,
    Cell,
    Code,
    Figure,
    Flag,
    Inline,
    Muted,
    Origin,
    Paragraph,
    RunRef,
    Section,
    Strong,
    Table,
    Text,
    Value,
)
from tracker.cards._svg import (
    ForestPlot,
    ForestRow,
    LatencyPlot,
    LinePlot,
    ParetoPlot,
    ParetoPoint,
)

__all__ = [
    "analyses_section",
    "constraint_text",
    "measured",
    "origin_of",
    "slice_blocks",
    "text_cell",
]

_PERCENTILES = ("p50_ms", "p90_ms", "p95_ms", "p99_ms")


def text_cell(text: object) -> Cell:
    """A cell of plain text."""
    return (Text(str(text)),)


def measured(m: Any, *, literal: bool = False, number: bool | None = None) -> Value:
    """A value of the content for display, with its origin when it is a measured value.

    Args:
        m: A measured value (``{"value", "run_id", "path"}``) or a bare value.
        literal: A value as written (a param): code in HTML.
        number: Display as a number (4 significant digits); default: unless ``literal``.
    """
    as_number = not literal if number is None else number
    text = num(m) if as_number else plain(value_of(m))
    origin = origin_of(m)
    return Value(text, () if origin is None else (origin,), literal)


def origin_of(m: Any) -> Origin | None:
    """The origin of a measured value of the content (``None`` for a bare value)."""
    if not (isinstance(m, Mapping) and isinstance(m.get("run_id"), str) and "path" in m):
        return None
    step = m.get("step")
    return Origin(
        m["run_id"], tuple(m["path"]), m.get("value"), step if isinstance(step, int) else None
    )


def _or_dash(m: Any) -> Cell:
    return (measured(m),) if m is not None else (Text("–"),)


def _f(v: Any) -> float:
    v = value_of(v)
    try:
        return float(v)
    except (TypeError, ValueError):
        return float("nan")


def constraint_text(c: Mapping[str, Any]) -> str:
    """A search constraint as its expression (``latency_p95_ms <= 100``)."""
    return str(c.get("expr") or f"{c.get('metric')} {c.get('op')} {c.get('bound')}")


# --- slices ---------------------------------------------------------------------------------


def _stat(v: Mapping[str, Any]) -> Cell:
    interval = ci(v.get("ci_low"), v.get("ci_high"))
    return (measured(v),) + ((Text(" "), Muted(interval)) if interval else ())


def _slice_row(x: Mapping[str, Any], metrics: Sequence[str]) -> tuple[Cell, ...]:
    flags: list[Inline] = []
    if x["worse_than_overall"]:
        flags.append(Flag("worse", "worse than overall: " + ", ".join(x["worse_than_overall"])))
    if x["too_small"]:
        flags += [Text("; ")] if flags else []
        flags.append(Flag("small", "too small"))
    return (
        text_cell(x["slice"]),
        text_cell(plain(x["n"])),
        *(_stat(x["metrics"][m]) if m in x["metrics"] else text_cell("–") for m in metrics),
        tuple(flags),
    )


def _forest(s: Mapping[str, Any], m: str) -> Figure:
    rows = tuple(
        ForestRow(
            str(x["slice"]),
            int(x["n"] or 0),
            _f(x["metrics"].get(m)),
            _f((x["metrics"].get(m) or {}).get("ci_low")),
            _f((x["metrics"].get(m) or {}).get("ci_high")),
            m in x["worse_than_overall"],
            bool(x["too_small"]),
        )
        for x in s["slices"]
    )
    return Figure(ForestPlot(rows, _f(s["overall"][m]), m, f"{m} by {s['by']}"))


def slice_blocks(
    s: Mapping[str, Any], *, run_id: str | None = None, plots: bool = False
) -> list[Block]:
    """One sliced evaluation: a note on the method, the table, and a forest plot per metric."""
    metrics = list(s["metrics"])
    overall = s["overall"]
    conf = round(100 * float(s.get("confidence", 0.95)))
    note: list[Inline] = [
        Text(
            f"{conf}% {s.get('method', 'bootstrap')} intervals, {s.get('n_boot')} resamples; "
            f"slices under {s.get('min_count')} rows are too small"
        )
    ]
    if run_id:
        note += [Text("; run "), RunRef(run_id)]
    note.append(Text("."))
    n_all = next(iter(overall.values())).get("n") if overall else None
    head: tuple[Cell, ...] = (
        (Strong("overall"),),
        text_cell(plain(n_all) if n_all is not None else "–"),
        *(_stat(overall[m]) if m in overall else text_cell("–") for m in metrics),
        (),
    )
    table = Table(
        headers=tuple(text_cell(x) for x in ("Slice", "n", *metrics, "Flags")),
        rows=(head, *(_slice_row(x, metrics) for x in s["slices"])),
        numeric=frozenset(range(1, len(metrics) + 2)),
    )
    blocks: list[Block] = [Paragraph(tuple(note), style="muted"), table]
    if plots:
        blocks += [_forest(s, m) for m in metrics if m in overall]
    return blocks


# --- latency --------------------------------------------------------------------------------


def _latency_bound(search: Mapping[str, Any] | None) -> float | None:
    bound = None
    for c in (search or {}).get("constraints") or []:
        if "latency" in str(c.get("metric", "")):
            try:
                bound = float(c.get("bound"))
            except (TypeError, ValueError):
                bound = None
    return bound


def _latency(lat: Sequence[Mapping[str, Any]], search: Mapping[str, Any] | None) -> Section:
    rows = []
    for x in lat:
        hw = x.get("hardware") or {}
        rows.append(
            (
                text_cell(x["name"]),
                *(_or_dash(x.get(f)) for f in (*_PERCENTILES, "p95_upper_ci_ms")),
                text_cell(plain(x["n"]) if x.get("n") is not None else "–"),
                text_cell(plain(x["batch_size"]) if x.get("batch_size") else "–"),
                text_cell(", ".join(f"{k}: {plain(v)}" for k, v in hw.items()) or "not recorded"),
                (RunRef(x["run_id"]),),
            )
        )
    headers = ("Measurement", "p50 ms", "p90 ms", "p95 ms", "p99 ms", "p95 upper CI ms")
    blocks: list[Block] = [
        Table(
            headers=tuple(text_cell(x) for x in (*headers, "n", "batch", "Hardware", "Run")),
            rows=tuple(rows),
            numeric=frozenset(range(1, 7)),
        )
    ]
    first = lat[0]
    pcts = tuple((f.split("_")[0], _f(first[f])) for f in _PERCENTILES if f in first)
    if pcts:
        title = f"Latency percentiles ({first['name']})"
        blocks.append(Figure(LatencyPlot(pcts, _latency_bound(search), title)))
    return Section("Latency", 3, tuple(blocks), anchor="latency")


# --- search ---------------------------------------------------------------------------------


def _search_rows(s: Mapping[str, Any]) -> tuple[tuple[Cell, ...], ...]:
    c = s["counts"]
    budget = s.get("budget") or {}
    sampler = s.get("sampler") or {}
    cons: list[Inline] = []
    for x in s["constraints"]:
        cons += [Text(", ")] if cons else []
        cons.append(Code(constraint_text(x)))
    objectives = ", ".join(f"{o['metric']} ({o['direction']})" for o in s["objectives"])
    rows: list[tuple[Cell, ...]] = [
        (text_cell("Search run"), (RunRef(s["run_id"]), Text(f" ({s['name']})"))),
        (text_cell("Study"), text_cell(s.get("study_name") or "–")),
        (text_cell("Objectives"), text_cell(objectives or "not recorded")),
        (text_cell("Constraints"), tuple(cons) or text_cell("none")),
        (
            text_cell("Budget"),
            text_cell(", ".join(f"{k}={plain(v)}" for k, v in budget.items()) or "not recorded"),
        ),
        (
            text_cell("Sampler"),
            text_cell(
                str(sampler.get("name", "–"))
                + (f" ({sampler['reason']})" if sampler.get("reason") else "")
            ),
        ),
        (text_cell("Seed"), text_cell(plain(s["seed"]) if s.get("seed") is not None else "–")),
        (
            text_cell("Trials"),
            text_cell(
                f"{c['trials']} (" + ", ".join(f"{k} {v}" for k, v in c["by_state"].items()) + ")"
            ),
        ),
        (text_cell("Feasible"), text_cell(plain(c["feasible"]))),
        (text_cell("On the Pareto front"), text_cell(plain(c["pareto"]))),
    ]
    if s["hypervolume"]:
        last = s["hypervolume"][-1]
        rows.append(
            (
                text_cell("Final hypervolume"),
                (measured(last), Text(f" (after {last.get('step')} trials)")),
            )
        )
    return tuple(rows)


def _trials_figure(s: Mapping[str, Any]) -> Figure | None:
    objectives, trials = s["objectives"], s["trials"]
    if len(objectives) >= 2:
        xo, yo = objectives[0], objectives[1]
        on_front = {p["run_id"] for p in s["pareto"]}
        pts = tuple(
            ParetoPoint(
                _f(t["values"].get(xo["metric"])),
                _f(t["values"].get(yo["metric"])),
                f"trial {t['number']}: {xo['metric']}={num(t['values'].get(xo['metric']))}, "
                f"{yo['metric']}={num(t['values'].get(yo['metric']))}",
                bool(t.get("feasible")),
                bool(t.get("pareto")) or t["run_id"] in on_front,
                t["run_id"] == s.get("chosen_run_id"),
            )
            for t in trials
        )
        plot = ParetoPlot(
            pts,
            xo["metric"],
            yo["metric"],
            xo["direction"],
            yo["direction"],
            f"Trials: {xo['metric']} vs {yo['metric']} (validation)",
        )
        more = len(objectives) > 2
        return Figure(
            plot, f"Plotted: the first two of {len(objectives)} objectives." if more else None
        )
    if len(objectives) != 1:
        return None
    o = objectives[0]
    best: list[float] = []
    cur = None
    for t in trials:  # best feasible value so far
        v = _f(t["values"].get(o["metric"]))
        if v == v and t.get("feasible") is not False:
            pick = max if o["direction"] == "maximize" else min
            cur = v if cur is None else pick(cur, v)
        best.append(cur if cur is not None else math.nan)
    nums = tuple(
        float(t["number"]) if t["number"] is not None else float(i) for i, t in enumerate(trials)
    )
    dots = tuple(
        (n, _f(t["values"].get(o["metric"])), f"trial {t['number']}")
        for n, t in zip(nums, trials, strict=True)
    )
    line = LinePlot(
        nums, tuple(best), "trial", f"best {o['metric']} so far", f"{o['metric']} by trial", dots
    )
    return Figure(line)


def _feasible_text(flag: Any) -> str:
    return "yes" if flag else "no" if flag is False else "–"


def _pareto(s: Mapping[str, Any]) -> Section:
    names = [o["metric"] for o in s["objectives"]]
    marked = {s.get("chosen_run_id"): Flag("chosen", "★", "chosen")}
    if s.get("closest_run_id"):
        marked[s["closest_run_id"]] = Flag("closest", "◇", "closest, not chosen")
    rows = []
    for p in s["pareto"]:
        mark = marked.get(p["run_id"])
        params = ", ".join(f"{k}={plain(value_of(v))}" for k, v in p["params"].items())
        sources = tuple(o for v in p["params"].values() if (o := origin_of(v)) is not None)
        rows.append(
            (
                (Text(plain(p["number"])), *((Text(" "), mark) if mark else ())),
                *(
                    (measured(p["values"][n]),) if n in p["values"] else text_cell("–")
                    for n in names
                ),
                *((measured(p["test"][n]),) if n in p["test"] else text_cell("–") for n in names),
                text_cell(_feasible_text(p.get("feasible_on_test"))),
                (Value(params, sources, literal=True),),
                (RunRef(p["run_id"]),),
            )
        )
    headers = ["Trial", *(f"{n} (val)" for n in names), *(f"{n} (test)" for n in names)]
    blocks: list[Block] = [
        Table(
            headers=tuple(text_cell(x) for x in (*headers, "Feasible on test", "Params", "Run")),
            rows=tuple(rows),
            numeric=frozenset(range(1, 2 * len(names) + 1)),
        )
    ]
    shown = {p["run_id"] for p in s["pareto"]}
    if s.get("chosen_run_id") in shown:
        blocks.append(Paragraph((Text("★ the chosen point."),)))
    if s.get("closest_run_id") in shown:
        blocks.append(
            Paragraph(
                (Text("◇ the closest point: none met every constraint on held-out test data."),)
            )
        )
    return Section("Pareto front (validation, with test re-check)", 4, tuple(blocks))


def _point_table(p: Mapping[str, Any]) -> Table:
    rows: list[tuple[Cell, ...]] = [
        (text_cell(k), _or_dash(p["values"].get(k)), _or_dash(p["test"].get(k)))
        for k in sorted(set(p["values"]) | set(p["test"]))
    ]
    for expr, cv in p["constraints"].items():
        mark = " ✓" if cv.get("feasible") else " ✗"
        rows.append(((Code(expr),), (measured(cv), Text(mark)), text_cell("–")))
    return Table(
        headers=tuple(text_cell(x) for x in ("Metric", "Validation", "Test")),
        rows=tuple(rows),
        numeric=frozenset({1, 2}),
    )


def _chosen(p: Mapping[str, Any]) -> Section:
    blocks: list[Block] = [_point_table(p)]
    if p.get("feasible_on_test") is not None:
        yes = "yes" if p["feasible_on_test"] else "no"
        blocks.append(Paragraph((Text("Feasible on test: "), Strong(yes), Text("."))))
    return Section(f"Chosen point: trial {plain(p['number'])}", 4, tuple(blocks))


def _closest(p: Mapping[str, Any]) -> Section:
    note = Paragraph(
        (
            Strong("Not a chosen model."),
            Text(
                " No configuration met every constraint on held-out test data; this is the "
                f"closest one: on test data it breaks {broken_on_test(p)}."
            ),
        ),
        style="alert",
    )
    title = f"Closest point: trial {plain(p['number'])} (not chosen)"
    return Section(title, 4, (note, _point_table(p)))


def _search(s: Mapping[str, Any]) -> Section:
    blocks: list[Block] = [
        Table(headers=(text_cell(""), text_cell("")), rows=_search_rows(s)),
    ]
    figure = _trials_figure(s)
    if figure is not None:
        blocks.append(figure)
    if s["hypervolume"]:
        hv = s["hypervolume"]
        line = LinePlot(
            tuple(float(x.get("step") or i) for i, x in enumerate(hv)),
            tuple(_f(x) for x in hv),
            "finished trials",
            "hypervolume",
            "Hypervolume of the feasible front",
        )
        blocks.append(Figure(line))
    if s["pareto"]:
        blocks.append(_pareto(s))
    if s.get("chosen"):
        blocks.append(_chosen(s["chosen"]))
    elif s.get("closest"):
        blocks.append(_closest(s["closest"]))
    return Section("Search", 3, tuple(blocks), anchor="search")


# --- the section ----------------------------------------------------------------------------


def analyses_section(doc: Mapping[str, Any]) -> Section:
    """The card's "Quantitative analyses" section."""
    qa = doc["quantitative_analyses"]
    search = doc.get("search")
    blocks: list[Block] = []
    if doc["metrics"]:
        see = "See Metrics above" + (" and the search summary below." if search else ".")
        blocks.append(Section("Overall", 3, (Paragraph((Text(see),)),)))
    if not (qa["slices"] or qa["latency"] or search):
        blocks.append(
            Paragraph((Text("No sliced evaluation, latency measurement or search was recorded."),))
        )
    for s in qa["slices"]:
        body = slice_blocks(s, run_id=s["run_id"], plots=True)
        blocks.append(Section(f"By {s['by']}", 3, tuple(body)))
    if qa["latency"]:
        blocks.append(_latency(qa["latency"], search))
    if search:
        blocks.append(_search(search))
    return Section(
        "Quantitative analyses", 2, tuple(blocks), anchor="quantitative-analyses", nav="Analyses"
    )
