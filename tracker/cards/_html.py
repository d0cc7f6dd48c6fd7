"""Render a card to one self-contained HTML file (inline CSS and SVG, no scripts).

Every user string goes through :func:`~tracker.cards._escape.h`; human sections are
Markdown, rendered here by a small converter that escapes the whole text first and then
adds only its own tags (paragraphs, lists, headings, emphasis, code, links whose URL passed
:func:`~tracker.cards._escape.safe_url`). A Content-Security-Policy forbids scripts and
every external load, so even a mistake in escaping could not run code or fetch anything.
"""

from __future__ import annotations

import html
import re
from collections.abc import Mapping, Sequence
from typing import Any

from tracker.cards._escape import h, safe_url
from tracker.cards._format import ci, framework_text, num, pct, plain, split_title, value_of
from tracker.viz.cards import ForestRow, ParetoPoint, forest_svg, latency_svg, line_svg, pareto_svg

__all__ = ["human_html", "render_html", "render_html_fragment", "slice_table_html"]

CSP = (
    "default-src 'none'; style-src 'unsafe-inline'; img-src data:; base-uri 'none'; "
    "form-action 'none'"
)

_CSS = """
.tracker-card{font-family:-apple-system,BlinkMacSystemFont,"Segoe UI",Helvetica,Arial,
sans-serif;color:#1f2328;max-width:980px;margin:0 auto;padding:8px 16px 48px;line-height:1.5;
font-size:15px}
.tracker-card h1{font-size:1.8em;border-bottom:1px solid #d0d7de;padding-bottom:.3em}
.tracker-card h2{font-size:1.35em;border-bottom:1px solid #d0d7de;padding-bottom:.2em;
margin-top:1.8em}
.tracker-card h3{font-size:1.1em;margin-top:1.4em}.tracker-card h4{font-size:1em}
.tracker-card table{border-collapse:collapse;margin:.6em 0;font-size:13.5px;display:block;
overflow-x:auto}
.tracker-card th,.tracker-card td{border:1px solid #d0d7de;padding:4px 8px;text-align:left;
vertical-align:top}
.tracker-card th{background:#f6f8fa}
.tracker-card td.num{text-align:right;font-variant-numeric:tabular-nums}
.tracker-card code{font-family:ui-monospace,SFMono-Regular,Menlo,monospace;font-size:12.5px;
background:#f6f8fa;padding:1px 4px;border-radius:4px;word-break:break-all}
.tracker-card code.rid{white-space:nowrap;word-break:normal}
.tracker-card .human{border-left:3px solid #1f6feb;padding:2px 12px;margin:.5em 0}
.tracker-card .needs-input{border-left:3px solid #bf8700;background:#fff8c5;padding:6px 12px;
margin:.5em 0;color:#6e5600}
.tracker-card .caveat{margin:.3em 0}.tracker-card .warning{color:#9a3412}
.tracker-card .flag-worse{color:#d1242f;font-weight:600}
.tracker-card .flag-small{color:#9a6700}
.tracker-card .muted{color:#59636e;font-size:13px}.tracker-card nav{font-size:13.5px}
.tracker-card nav a{margin-right:10px}
.tracker-card svg.tracker-plot{max-width:680px;display:block;margin:.5em 0}
.tracker-card details{margin:.5em 0}
.tracker-card .summary-needs{background:#fff8c5;padding:8px 12px;border-radius:6px}
@media print{.tracker-card nav{display:none}}
"""


# --- human Markdown -> HTML -------------------------------------------------------------------

_INLINE = re.compile(
    r"(?P<code>`+)(?P<codebody>.+?)(?P=code)"
    r"|(?P<img>!)?\[(?P<text>[^\]\n]*)\]\((?P<url>[^)\s]+)(?:\s+&quot;[^)]*&quot;)?\)"
    r"|\*\*(?P<bold>[^*\n]+)\*\*|__(?P<bold2>[^_\n]+)__"
    r"|(?<![\w*])\*(?P<em>[^*\n]+)\*(?!\w)|(?<!\w)_(?P<em2>[^_\n]+)_(?!\w)"
    r"|(?P<auto>https?://[^\s<>&]+)"
)


def _inline(escaped: str) -> str:
    def repl(m: re.Match[str]) -> str:
        if m.group("code"):
            return f"<code>{m.group('codebody').strip()}</code>"
        if m.group("url") is not None:
            url = html.unescape(m.group("url"))
            # An empty link shows its URL: the escaped form, never the unescaped one.
            text = m.group("text") or m.group("url")
            ok = safe_url(url)
            if ok is None:
                return f'{text} <span class="muted">[unsafe link removed]</span>'
            return f'<a href="{h(ok)}" rel="noopener noreferrer nofollow">{text}</a>'
        if m.group("bold") or m.group("bold2"):
            return f"<strong>{m.group('bold') or m.group('bold2')}</strong>"
        if m.group("em") or m.group("em2"):
            return f"<em>{m.group('em') or m.group('em2')}</em>"
        url = html.unescape(m.group("auto"))
        if safe_url(url) is None:  # the pattern only matches http(s); safe_url still decides
            return m.group("auto")
        return f'<a href="{h(url)}" rel="noopener noreferrer nofollow">{h(url)}</a>'

    return _INLINE.sub(repl, escaped)


def human_html(text: str) -> str:
    """A human section's Markdown as safe HTML (a small, escaped-first subset)."""
    lines = text.replace("\r\n", "\n").replace("\r", "\n").split("\n")
    out: list[str] = []
    para: list[str] = []
    items: list[str] = []
    list_tag = ""
    i = 0

    def flush() -> None:
        nonlocal list_tag
        if para:
            out.append("<p>" + "<br>".join(_inline(h(x)) for x in para) + "</p>")
            para.clear()
        if items:
            out.append(
                f"<{list_tag}>"
                + "".join(f"<li>{_inline(h(x))}</li>" for x in items)
                + f"</{list_tag}>"
            )
            items.clear()
            list_tag = ""

    while i < len(lines):
        line = lines[i]
        stripped = line.strip()
        if stripped.startswith("```"):
            flush()
            body = []
            i += 1
            while i < len(lines) and not lines[i].strip().startswith("```"):
                body.append(lines[i])
                i += 1
            out.append("<pre><code>" + h("\n".join(body)) + "</code></pre>")
        elif not stripped:
            flush()
        elif m := re.match(r"^(#{1,6})\s+(.*)$", stripped):
            flush()
            level = min(len(m.group(1)) + 3, 6)
            out.append(f"<h{level}>{_inline(h(m.group(2)))}</h{level}>")
        elif m := re.match(r"^[-*+]\s+(.*)$", stripped):
            if para or list_tag == "ol":
                flush()
            list_tag = "ul"
            items.append(m.group(1))
        elif m := re.match(r"^\d+[.)]\s+(.*)$", stripped):
            if para or list_tag == "ul":
                flush()
            list_tag = "ol"
            items.append(m.group(1))
        else:
            if items:
                flush()
            para.append(stripped)
        i += 1
    flush()
    return "".join(out)


# --- pieces --------------------------------------------------------------------------------------


def _table(
    headers: Sequence[str], rows: Sequence[Sequence[str]], num_cols: Sequence[int] = ()
) -> str:
    if not rows:
        return ""
    head = "".join(f"<th>{x}</th>" for x in headers)
    body = "".join(
        "<tr>"
        + "".join(
            f'<td class="num">{c}</td>' if j in num_cols else f"<td>{c}</td>"
            for j, c in enumerate(r)
        )
        + "</tr>"
        for r in rows
    )
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def _run(run_id: str | None) -> str:
    return f'<code class="rid" title="{h(run_id)}">{h(run_id[:12])}</code>' if run_id else "–"


def _section(doc: Mapping[str, Any], key: str, heading: str | None = None, level: int = 3) -> str:
    s = doc["sections"][key]
    title = heading or s["title"]
    anchor = f'<h{level} id="section-{h(key)}">{h(title)}</h{level}>' if level else ""
    if s["needs_input"]:
        body = (
            f'<div class="needs-input" data-section="{h(key)}">'
            f"<strong>Needs input:</strong> {h(s['prompt'])}</div>"
        )
    else:
        body = f'<div class="human" data-section="{h(key)}">{human_html(s["text"])}</div>'
    return anchor + body


def _details(doc: Mapping[str, Any]) -> str:
    d = doc["model_details"]
    fw = d.get("framework")
    rows = [
        ["Name", h(d["name"])],
        [
            "Version",
            h(value_of(d["version"])) if d.get("version") else f"run {_run(d['model_run_id'])}",
        ],
        ["Date", h(d["date"])],
        [
            "Type",
            h(value_of(d["type"])) if d.get("type") else '<span class="muted">not recorded</span>',
        ],
        ["Task", h(d["task"]) if d.get("task") else '<span class="muted">not recorded</span>'],
        [
            "Framework",
            h(framework_text(fw)) if fw else '<span class="muted">not recorded</span>',
        ],
        ["Status", h(d["status"])],
        [
            "Run",
            _run(d["run_id"])
            + (
                f" (model: trial run {_run(d['model_run_id'])})"
                if d["model_run_id"] != d["run_id"]
                else ""
            ),
        ],
    ]
    if d.get("tags"):
        rows.append(
            ["Tags", ", ".join(f"<code>{h(k)}={h(v)}</code>" for k, v in d["tags"].items())]
        )
    parts = ['<h2 id="model-details">Model details</h2>', _table(["Field", "Value"], rows)]
    if d.get("notes"):
        parts.append(
            "<p><strong>Notes recorded with the run:</strong></p>"
            f'<p style="white-space:pre-wrap">{h(d["notes"])}</p>'
        )
    parts += [_section(doc, "description"), _section(doc, "owners"), "<h3>Hyperparameters</h3>"]
    hp = d["hyperparameters"]
    parts.append(
        _table(
            ["Parameter", "Value", "Run"],
            [[h(x["name"]), f"<code>{h(plain(x['value']))}</code>", _run(x["run_id"])] for x in hp],
        )
        if hp
        else "<p>No hyperparameters were recorded.</p>"
    )
    parts += [_section(doc, "license"), _section(doc, "citation")]
    return "".join(parts)


def _metrics(doc: Mapping[str, Any]) -> str:
    rows = [
        [
            h(m["name"]),
            h(split_title(m.get("split"))),
            h(num(m["value"])),
            h(m.get("role") or ""),
            _run(m["run_id"]),
        ]
        for m in doc["metrics"]
    ]
    body = (
        _table(["Metric", "Split", "Value", "Role", "Run"], rows, [2])
        if rows
        else "<p>No metrics were recorded.</p>"
    )
    return f'<h2 id="metrics">Metrics</h2>{body}{_section(doc, "metrics_rationale")}'


def _data_table(items: Sequence[Mapping[str, Any]]) -> str:
    rows = []
    for d in items:
        shape = "×".join(str(x) for x in d["shape"]) if d.get("shape") else ""
        digest = f'<code title="{h(d["algorithm"])}:{h(d["digest"])}">{h(d["digest"][:16])}</code>'
        if d.get("partial"):
            digest += (
                f' <span class="warning" title="{h(d.get("partial_reason") or "")}">partial</span>'
            )
        profile = ""
        if d.get("dtypes") or d.get("profile"):
            cols = d.get("dtypes") or {}
            nulls = d.get("nulls") or {}
            prof_rows = [[h(k), h(v), h(nulls.get(k, ""))] for k, v in list(cols.items())[:50]]
            profile = (
                (
                    f"<details><summary>{len(cols)} column(s)</summary>"
                    + _table(["Column", "dtype", "nulls"], prof_rows)
                    + "</details>"
                )
                if prof_rows
                else ""
            )
        rows.append(
            [
                h(d["name"]),
                h(split_title(d["split"]) if d["split"] != "other" else "–"),
                digest,
                h(d.get("rows") if d.get("rows") is not None else "–"),
                h(shape),
                h(d["kind"]) + profile,
                _run(d["run_id"]),
            ]
        )
    return _table(["Name", "Split", "Hash (xxh3-128)", "Rows", "Shape", "Kind", "Run"], rows, [3])


def _data(doc: Mapping[str, Any]) -> str:
    parts = ['<h2 id="training-data">Training data</h2>']
    parts.append(
        _data_table(doc["training_data"])
        if doc["training_data"]
        else "<p>No training data hash was recorded.</p>"
    )
    parts.append(_section(doc, "training_data_notes"))
    parts.append('<h2 id="evaluation-data">Evaluation data</h2>')
    parts.append(
        _data_table(doc["evaluation_data"])
        if doc["evaluation_data"]
        else "<p>No evaluation data hash was recorded.</p>"
    )
    if doc["splits"]:
        parts.append(
            "<p><strong>Splits:</strong> "
            + ", ".join(
                f"{h(split_title(s['split']))} {h(s['rows'])} rows ({h(pct(s['fraction']))})"
                for s in doc["splits"]
            )
            + "</p>"
        )
    if doc["other_data"]:
        parts.append("<p>Other data recorded with the model:</p>" + _data_table(doc["other_data"]))
    parts.append(_section(doc, "evaluation_data_notes"))
    return "".join(parts)


def _f(v: Any) -> float:
    v = value_of(v)
    try:
        return float(v)
    except (TypeError, ValueError):
        return float("nan")


def slice_table_html(
    s: Mapping[str, Any], *, run_id: str | None = None, plots: bool = False
) -> str:
    """One sliced evaluation as an HTML table (also a ``SliceReport``'s notebook view)."""
    metrics = list(s["metrics"])
    overall = s["overall"]
    headers = ["Slice", "n"] + [h(m) for m in metrics] + ["Flags"]
    n_all = next(iter(overall.values())).get("n") if overall else None
    rows = [
        ["<strong>overall</strong>", h(n_all if n_all is not None else "–")]
        + [_stat(overall[m]) if m in overall else "–" for m in metrics]
        + [""]
    ]
    for x in s["slices"]:
        flags = []
        if x["worse_than_overall"]:
            flags.append(
                '<span class="flag-worse">worse than overall: '
                + h(", ".join(x["worse_than_overall"]))
                + "</span>"
            )
        if x["too_small"]:
            flags.append('<span class="flag-small">too small</span>')
        rows.append(
            [h(x["slice"]), h(x["n"])]
            + [_stat(x["metrics"][m]) if m in x["metrics"] else "–" for m in metrics]
            + ["; ".join(flags)]
        )
    conf = round(100 * float(s.get("confidence", 0.95)))
    note = (
        f'<p class="muted">{conf}% {h(s.get("method", "bootstrap"))} intervals, '
        f"{h(s.get('n_boot'))} resamples; "
        f"slices under {h(s.get('min_count'))} rows are too small"
        + (f"; run {_run(run_id)}" if run_id else "")
        + ".</p>"
    )
    out = f'<div class="tracker-card" style="padding:0">{note}' if not plots else note
    out += _table(headers, rows, list(range(1, len(metrics) + 2)))
    if plots:
        for m in metrics:
            if m not in overall:
                continue
            fr = [
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
            ]
            out += forest_svg(fr, overall=_f(overall[m]), metric=m, title=f"{m} by {s['by']}")
    return out if plots else out + "</div>"


def _slices(doc: Mapping[str, Any]) -> str:
    parts = []
    for s in doc["quantitative_analyses"]["slices"]:
        parts.append(f"<h3>By {h(s['by'])}</h3>")
        parts.append(slice_table_html(s, run_id=s["run_id"], plots=True))
    return "".join(parts)


def _latency(doc: Mapping[str, Any]) -> str:
    lat = doc["quantitative_analyses"]["latency"]
    if not lat:
        return ""
    bound = None
    for c in (doc.get("search") or {}).get("constraints") or []:
        if "latency" in str(c.get("metric", "")):
            try:
                bound = float(c.get("bound"))
            except (TypeError, ValueError):
                bound = None
    parts = ['<h3 id="latency">Latency</h3>']
    rows = []
    for x in lat:
        hw = x.get("hardware") or {}
        rows.append(
            [h(x["name"])]
            + [
                h(num(x[f])) if f in x else "–"
                for f in ("p50_ms", "p90_ms", "p95_ms", "p99_ms", "p95_upper_ci_ms")
            ]
            + [
                h(x.get("n") if x.get("n") is not None else "–"),
                h(x.get("batch_size") or "–"),
                h(", ".join(f"{k}: {plain(v)}" for k, v in hw.items()) or "not recorded"),
                _run(x["run_id"]),
            ]
        )
    parts.append(
        _table(
            [
                "Measurement",
                "p50 ms",
                "p90 ms",
                "p95 ms",
                "p99 ms",
                "p95 upper CI ms",
                "n",
                "batch",
                "Hardware",
                "Run",
            ],
            rows,
            [1, 2, 3, 4, 5, 6],
        )
    )
    first = lat[0]
    pcts = [
        (f.split("_")[0], _f(first[f]))
        for f in ("p50_ms", "p90_ms", "p95_ms", "p99_ms")
        if f in first
    ]
    if pcts:
        parts.append(latency_svg(pcts, bound=bound, title=f"Latency percentiles ({first['name']})"))
    return "".join(parts)


def _expr(c: Mapping[str, Any]) -> str:
    return str(c.get("expr") or f"{c.get('metric')} {c.get('op')} {c.get('bound')}")


def _search(doc: Mapping[str, Any]) -> str:
    s = doc.get("search")
    if not s:
        return ""
    c = s["counts"]
    budget = s.get("budget") or {}
    sampler = s.get("sampler") or {}
    rows = [
        ["Search run", _run(s["run_id"]) + f" ({h(s['name'])})"],
        ["Study", h(s.get("study_name") or "–")],
        [
            "Objectives",
            ", ".join(f"{h(o['metric'])} ({h(o['direction'])})" for o in s["objectives"])
            or "not recorded",
        ],
        [
            "Constraints",
            ", ".join(f"<code>{h(_expr(x))}</code>" for x in s["constraints"]) or "none",
        ],
        ["Budget", h(", ".join(f"{k}={plain(v)}" for k, v in budget.items()) or "not recorded")],
        [
            "Sampler",
            h(
                str(sampler.get("name", "–"))
                + (f" ({sampler['reason']})" if sampler.get("reason") else "")
            ),
        ],
        ["Seed", h(s.get("seed") if s.get("seed") is not None else "–")],
        [
            "Trials",
            h(f"{c['trials']} (" + ", ".join(f"{k} {v}" for k, v in c["by_state"].items()) + ")"),
        ],
        ["Feasible", h(c["feasible"])],
        ["On the Pareto front", h(c["pareto"])],
    ]
    parts = ['<h3 id="search">Search</h3>', _table(["", ""], rows)]
    objectives = s["objectives"]
    trials = s["trials"]
    if len(objectives) >= 2:
        xo, yo = objectives[0], objectives[1]
        pts = [
            ParetoPoint(
                _f(t["values"].get(xo["metric"])),
                _f(t["values"].get(yo["metric"])),
                f"trial {t['number']}: {xo['metric']}={num(t['values'].get(xo['metric']))}, "
                f"{yo['metric']}={num(t['values'].get(yo['metric']))}",
                bool(t.get("feasible")),
                bool(t.get("pareto")) or any(p["run_id"] == t["run_id"] for p in s["pareto"]),
                t["run_id"] == s.get("chosen_run_id"),
            )
            for t in trials
        ]
        parts.append(
            pareto_svg(
                pts,
                x_name=xo["metric"],
                y_name=yo["metric"],
                x_direction=xo["direction"],
                y_direction=yo["direction"],
                title=f"Trials: {xo['metric']} vs {yo['metric']} (validation)",
            )
        )
        if len(objectives) > 2:
            parts.append(
                f'<p class="muted">Plotted: the first two of {len(objectives)} objectives.</p>'
            )
    elif len(objectives) == 1:
        o = objectives[0]
        best: list[float] = []
        cur = None
        for t in trials:
            v = _f(t["values"].get(o["metric"]))
            if v == v and t.get("feasible") is not False:
                cur = (
                    v
                    if cur is None
                    else (max(cur, v) if o["direction"] == "maximize" else min(cur, v))
                )
            best.append(cur if cur is not None else float("nan"))
        nums = [
            float(t["number"]) if t["number"] is not None else float(i)
            for i, t in enumerate(trials)
        ]
        parts.append(
            line_svg(
                nums,
                best,
                x_label="trial",
                y_label=f"best {o['metric']} so far",
                title=f"{o['metric']} by trial",
                points=[
                    (n, _f(t["values"].get(o["metric"])), f"trial {t['number']}")
                    for n, t in zip(nums, trials, strict=True)
                ],
            )
        )
    if s["hypervolume"]:
        hv = s["hypervolume"]
        parts.append(
            line_svg(
                [float(x.get("step") or i) for i, x in enumerate(hv)],
                [_f(x) for x in hv],
                x_label="finished trials",
                y_label="hypervolume",
                title="Hypervolume of the feasible front",
            )
        )
    names = [o["metric"] for o in objectives]
    if s["pareto"]:
        parts.append("<h4>Pareto front (validation, with test re-check)</h4>")
        rows = []
        for p in s["pareto"]:
            star = (
                ' <strong title="chosen">★</strong>'
                if p["run_id"] == s.get("chosen_run_id")
                else ""
            )
            rows.append(
                [h(p["number"]) + star]
                + [h(num(p["values"].get(n))) for n in names]
                + [h(num(p["test"].get(n))) if n in p["test"] else "–" for n in names]
                + [
                    h(
                        "yes"
                        if p.get("feasible_on_test")
                        else "no"
                        if p.get("feasible_on_test") is False
                        else "–"
                    )
                ]
                + [
                    "<code>"
                    + h(", ".join(f"{k}={plain(value_of(v))}" for k, v in p["params"].items()))
                    + "</code>",
                    _run(p["run_id"]),
                ]
            )
        parts.append(
            _table(
                ["Trial"]
                + [f"{h(n)} (val)" for n in names]
                + [f"{h(n)} (test)" for n in names]
                + ["Feasible on test", "Params", "Run"],
                rows,
                list(range(1, 2 * len(names) + 1)),
            )
        )
    ch = s.get("chosen")
    if ch:
        parts.append(f"<h4>Chosen point: trial {h(ch['number'])}</h4>")
        keys = sorted(set(ch["values"]) | set(ch["test"]))
        rows = [
            [
                h(k),
                h(num(ch["values"].get(k))),
                h(num(ch["test"].get(k))) if k in ch["test"] else "–",
            ]
            for k in keys
        ]
        for expr, cv in ch["constraints"].items():
            rows.append(
                [
                    f"<code>{h(expr)}</code>",
                    h(num(cv)) + (" ✓" if cv.get("feasible") else " ✗"),
                    "–",
                ]
            )
        parts.append(_table(["Metric", "Validation", "Test"], rows, [1, 2]))
        if ch.get("feasible_on_test") is not None:
            parts.append(
                "<p>Feasible on test: "
                f"<strong>{'yes' if ch['feasible_on_test'] else 'no'}</strong>.</p>"
            )
    return "".join(parts)


def _caveats(doc: Mapping[str, Any]) -> str:
    parts = ['<h2 id="caveats">Caveats and recommendations</h2><h3>Found by the tracker</h3>']
    if doc["caveats"]:
        parts.append(
            "<ul>"
            + "".join(
                f'<li class="caveat {h(c["severity"])}" data-code="{h(c["code"])}">'
                f"{'⚠ ' if c['severity'] == 'warning' else 'ℹ '}"
                f"{h(c['text'])} <code>{h(c['code'])}</code></li>"
                for c in doc["caveats"]
            )
            + "</ul>"
        )
    else:
        parts.append("<p>The tracker found nothing to warn about in these records.</p>")
    parts.append(_section(doc, "caveats_and_recommendations", "From the authors"))
    return "".join(parts)


def _io(refs: Mapping[str, Any]) -> str:
    return ", ".join(f"{h(k)} <code>{h(v['digest'][:12])}</code>" for k, v in refs.items()) or "–"


def _stat(v: Mapping[str, Any]) -> str:
    interval = h(ci(v.get("ci_low"), v.get("ci_high")))
    return f'{h(num(v))} <span class="muted">{interval}</span>'


def _lineage(doc: Mapping[str, Any]) -> str:
    lin = doc["lineage"]
    parts = ['<h2 id="lineage">Lineage</h2>']
    parts.append(
        "<p><strong>Runs:</strong> "
        + " ← ".join(f"{h(r['kind'])} {h(r['name'])} ({_run(r['run_id'])})" for r in lin["chain"])
        + "</p>"
    )
    src = lin.get("notebook") or lin.get("script")
    if src:
        parts.append(f"<p><strong>Source:</strong> <code>{h(src)}</code></p>")
    if lin["cells"]:
        parts.append(
            f"<p><strong>Cells that produced the model</strong> ({len(lin['cells'])} of "
            f"{h(lin['session_cells'])} in session {_run(lin['session_run_id'])}):</p>"
        )
        rows = []
        for c in lin["cells"]:
            io = _io
            status = h(c["status"]) + (
                ' <span class="flag-worse">not reproducible</span>' if c["nondeterministic"] else ""
            )
            src_html = (
                f"<details><summary>source</summary><pre><code>{h(c['source'])}</code></pre></details>"
                if "source" in c
                else ""
            )
            rows.append(
                [
                    h(c["seq"]),
                    h(c["execution_count"] if c["execution_count"] is not None else "–"),
                    f'<code title="{h(c["source_hash"])}">{h(c["source_hash"][:16])}</code>'
                    + src_html,
                    status,
                    io(c["inputs"]),
                    io(c["outputs"]),
                ]
            )
        parts.append(_table(["#", "In", "Source hash", "Status", "Inputs", "Outputs"], rows))
    git = lin.get("git")
    if git:
        parts.append(
            f"<p><strong>Git:</strong> commit <code>{h(git['commit'])}</code>"
            + (' <span class="warning">with uncommitted changes</span>' if git.get("dirty") else "")
            + "</p>"
        )
    env = lin.get("environment")
    if env:
        hw = env.get("hardware") or {}
        parts.append(
            f"<p><strong>Environment:</strong> {h(env['implementation'])} {h(env['python'])} "
            f"on {h(env['platform'])}"
            + (
                f"; hardware: {h(', '.join(f'{k}: {plain(v)}' for k, v in hw.items()))}"
                if hw
                else ""
            )
            + "</p>"
        )
        if env.get("packages"):
            parts.append(
                f"<details><summary>{len(env['packages'])} packages</summary>"
                + _table(["Package", "Version"], [[h(k), h(v)] for k, v in env["packages"].items()])
                + "</details>"
            )
    return "".join(parts)


def render_html_fragment(doc: Mapping[str, Any]) -> str:
    """The card as an HTML fragment (a ``div.tracker-card`` with its own style)."""
    d = doc["model_details"]
    needs = [s["title"] for s in doc["sections"].values() if s["needs_input"]]
    parts = [
        f"<style>{_CSS}</style>",
        f'<div class="tracker-card" data-run-id="{h(doc["subject"]["run_id"])}">',
    ]
    parts.append(f"<h1>Model card: {h(d['name'])}</h1>")
    parts.append(
        '<nav><a href="#model-details">Details</a><a href="#intended-use">Intended use</a>'
        '<a href="#metrics">Metrics</a><a href="#training-data">Data</a>'
        '<a href="#quantitative-analyses">Analyses</a><a href="#caveats">Caveats</a>'
        '<a href="#lineage">Lineage</a></nav>'
    )
    if needs:
        parts.append(
            f'<p class="summary-needs"><strong>{len(needs)} section(s) need input:</strong> '
            f"{h(', '.join(needs))}.</p>"
        )
    parts.append(_details(doc))
    parts.append(
        '<h2 id="intended-use">Intended use</h2>'
        + _section(doc, "intended_use")
        + _section(doc, "out_of_scope_uses")
    )
    parts.append('<h2 id="factors">Factors</h2>' + _section(doc, "factors"))
    sl = doc["quantitative_analyses"]["slices"]
    if sl:
        parts.append("<p>Evaluated factors: " + h(", ".join(s["by"] for s in sl)) + ".</p>")
    parts.append(_metrics(doc))
    parts.append(_data(doc))
    parts.append('<h2 id="quantitative-analyses">Quantitative analyses</h2>')
    parts.append(_slices(doc) + _latency(doc) + _search(doc))
    if not (sl or doc["quantitative_analyses"]["latency"] or doc.get("search")):
        parts.append(
            "<p>No sliced evaluation, latency measurement or search was recorded; see Metrics.</p>"
        )
    parts.append(
        '<h2 id="ethical-considerations">Ethical considerations</h2>'
        + _section(doc, "ethical_considerations", level=0)
    )
    parts.append(_caveats(doc))
    parts.append(_lineage(doc))
    gen = doc["generator"]
    parts.append(
        f'<p class="muted">Generated by {h(gen["name"])} {h(gen["version"])} from tracked '
        f"records (card schema {h(doc['schema_version'])}).</p>"
    )
    parts.append("</div>")
    return "".join(parts)


def render_html(doc: Mapping[str, Any]) -> str:
    """The card as one self-contained HTML document."""
    name = doc["model_details"]["name"]
    return (
        "<!DOCTYPE html>\n"
        '<html lang="en"><head><meta charset="utf-8">'
        f'<meta http-equiv="Content-Security-Policy" content="{h(CSP)}">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f'<meta name="generator" content="{h(doc["generator"]["name"])} '
        f'{h(doc["generator"]["version"])}">'
        f"<title>Model card: {h(name)}</title></head><body>"
        + render_html_fragment(doc)
        + "</body></html>\n"
    )
