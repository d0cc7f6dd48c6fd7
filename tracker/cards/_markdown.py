"""Render a card to Markdown with Hugging Face model-card front matter.

The front matter is YAML whose strings are all double-quoted JSON strings (a subset of
YAML), so no user string can break out of its scalar. Metrics go in ``model-index``
(one result per evaluated split; the dataset ``revision`` is the data's content hash).

The body escapes every user string (:mod:`tracker.cards._escape`); human sections sit
between ``tracker:section`` markers so an edited file can be read back.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any

from tracker.cards._escape import md_code, md_text
from tracker.cards._format import ci, framework_text, num, pct, plain, split_title, value_of
from tracker.cards._sections import CARD_MARKER, section_block

__all__ = ["front_matter", "render_markdown"]

_HF_LIBRARIES = {
    "scikit-learn": "sklearn",
    "PyTorch": "pytorch",
    "TensorFlow": "tensorflow",
    "Keras": "keras",
    "JAX": "jax",
    "XGBoost": "xgboost",
    "LightGBM": "lightgbm",
    "CatBoost": "catboost",
}
_HF_TASKS = {
    "classification": ("tabular-classification", "Tabular Classification"),
    "regression": ("tabular-regression", "Tabular Regression"),
}


_YAML_ESCAPES = {ch: f"\\u{ord(ch):04x}" for ch in "<>&[]"}

# --- YAML ---------------------------------------------------------------------------------------


def _scalar(v: Any) -> str:
    if v is None:
        return "null"
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, int | float):
        return json.dumps(v)
    # A JSON string is a YAML double-quoted scalar. HTML and link brackets are escaped
    # too, so a renderer that shows the front matter as Markdown meets neither raw HTML
    # nor a link in it; YAML reads the escapes back to the same text.
    text = json.dumps(str(v), ensure_ascii=True)
    return "".join(_YAML_ESCAPES.get(ch, ch) for ch in text)


def _yaml(obj: Any, indent: int = 0) -> list[str]:
    pad = "  " * indent
    lines: list[str] = []
    if isinstance(obj, Mapping):
        for k, v in obj.items():
            key = _scalar(k) if not str(k).replace("-", "").replace("_", "").isalnum() else str(k)
            if isinstance(v, Mapping) and v:
                lines.append(f"{pad}{key}:")
                lines.extend(_yaml(v, indent + 1))
            elif isinstance(v, list) and v:
                lines.append(f"{pad}{key}:")
                lines.extend(_yaml(v, indent))
            else:
                lines.append(f"{pad}{key}: {_empty(v)}")
    elif isinstance(obj, list):
        for item in obj:
            if isinstance(item, Mapping) and item:
                sub = _yaml(item, indent + 1)
                lines.append(f"{pad}- {sub[0].lstrip()}")
                lines.extend(sub[1:])
            else:
                lines.append(f"{pad}- {_scalar(item)}")
    return lines


def _empty(v: Any) -> str:
    if isinstance(v, list):
        return "[]"
    if isinstance(v, Mapping):
        return "{}"
    return _scalar(v)


def _finite(v: Any) -> float | None:
    if isinstance(v, bool) or not isinstance(v, int | float):
        return None
    f = float(v)
    return f if f == f and abs(f) != float("inf") else None


def front_matter(doc: Mapping[str, Any]) -> dict[str, Any]:
    """The Hugging Face model-card metadata of a card."""
    details = doc["model_details"]
    meta: dict[str, Any] = {}
    lic = doc["sections"]["license"]["text"].strip()
    if lic:
        meta["license"] = lic if (len(lic) <= 64 and lic.split() == [lic]) else "other"
    fw = details.get("framework") or {}
    lib = None if fw.get("ambiguous") else _HF_LIBRARIES.get(str(fw.get("name")))
    if lib:
        meta["library_name"] = lib
    task = _HF_TASKS.get(str(details.get("task")))
    tags = ["jupyterlab-tracker", f"tracker-{details['kind']}"]
    if task:
        tags.append(task[0])
    meta["tags"] = tags
    by_split: dict[str, list[dict[str, Any]]] = {}
    for m in doc["metrics"]:
        v = _finite(m.get("value"))
        if v is None:
            continue
        by_split.setdefault(m.get("split") or "evaluation", []).append(
            {
                "type": m["name"],
                "value": v,
                "name": f"{m['name']} ({split_title(m.get('split'))})",
                "verified": False,
            }
        )
    results = []
    eval_data: dict[str, Mapping[str, Any]] = {}
    for d in doc["evaluation_data"]:
        eval_data.setdefault(d["split"], d)  # the first recorded (features before labels)
    for split in sorted(
        by_split,
        key=lambda s: (
            ("train", "validation", "test").index(s) if s in ("train", "validation", "test") else 9
        ),
    ):
        data = eval_data.get(split) or (
            doc["training_data"][0] if split == "train" and doc["training_data"] else None
        )
        dataset: dict[str, Any] = {
            "name": data["name"] if data else f"{split_title(split)} data",
            "type": data["name"] if data else "unknown",
            "split": split,
        }
        if data:
            dataset["revision"] = f"{data['algorithm']}:{data['digest']}"
        result: dict[str, Any] = {}
        result["task"] = {"type": task[0], "name": task[1]} if task else {"type": "other"}
        result["dataset"] = dataset
        result["metrics"] = by_split[split]
        results.append(result)
    if results:
        meta["model-index"] = [{"name": details["name"], "results": results}]
    return meta


# --- body -------------------------------------------------------------------------------------


def _table(headers: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    if not rows:
        return ""
    out = ["| " + " | ".join(headers) + " |", "|" + "|".join("---" for _ in headers) + "|"]
    out += ["| " + " | ".join(r) + " |" for r in rows]
    return "\n".join(out)


def _t(v: Any) -> str:
    return md_text(plain(v), table=True)


def _run(run_id: str | None) -> str:
    return md_code(run_id[:12]) if run_id else "–"


def _section(doc: Mapping[str, Any], key: str, heading: str | None = None, level: int = 3) -> str:
    block = section_block(key, doc["sections"][key]["text"])
    if level == 0:
        return block
    title = heading or doc["sections"][key]["title"]
    return f"{'#' * level} {md_text(title)}\n\n{block}"


def _details(doc: Mapping[str, Any]) -> list[str]:
    d = doc["model_details"]
    fw = d.get("framework")
    rows = [
        ["Name", _t(d["name"])],
        [
            "Version",
            _t(value_of(d["version"])) if d.get("version") else f"run {_run(d['model_run_id'])}",
        ],
        ["Date", _t(d["date"])],
        ["Type", _t(value_of(d["type"])) if d.get("type") else "not recorded"],
        ["Task", _t(d["task"]) if d.get("task") else "not recorded"],
        [
            "Framework",
            _t(framework_text(fw)) if fw else "not recorded",
        ],
        ["Status", _t(d["status"])],
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
        rows.append(["Tags", ", ".join(f"{_t(k)}={_t(v)}" for k, v in d["tags"].items())])
    out = ["## Model details", "", _table(["Field", "Value"], rows), ""]
    if d.get("notes"):
        out += ["**Notes recorded with the run:**", "", md_text(d["notes"]), ""]
    out += [_section(doc, "description"), "", _section(doc, "owners"), ""]
    hp = d["hyperparameters"]
    out.append("### Hyperparameters")
    out.append("")
    out.append(
        _table(
            ["Parameter", "Value", "Run"],
            [[_t(h["name"]), _t(h["value"]), _run(h["run_id"])] for h in hp],
        )
        if hp
        else "No hyperparameters were recorded."
    )
    out += ["", _section(doc, "license"), "", _section(doc, "citation"), ""]
    return out


def _metrics(doc: Mapping[str, Any]) -> list[str]:
    rows = [
        [
            _t(m["name"]),
            _t(split_title(m.get("split"))),
            _t(num(m["value"])),
            _t(m.get("role") or ""),
            _run(m["run_id"]),
        ]
        for m in doc["metrics"]
    ]
    out = ["## Metrics", ""]
    out.append(
        _table(["Metric", "Split", "Value", "Role", "Run"], rows)
        if rows
        else "No metrics were recorded."
    )
    out += ["", _section(doc, "metrics_rationale"), ""]
    return out


def _data_rows(items: Sequence[Mapping[str, Any]]) -> str:
    rows = []
    for d in items:
        shape = "×".join(str(x) for x in d["shape"]) if d.get("shape") else ""
        rows.append(
            [
                _t(d["name"]),
                _t(split_title(d["split"]) if d["split"] != "other" else "–"),
                md_code(d["digest"][:16]) + (" **(partial)**" if d.get("partial") else ""),
                _t(d.get("rows") if d.get("rows") is not None else "–"),
                _t(shape),
                _t(d["kind"]),
                _run(d["run_id"]),
            ]
        )
    return _table(
        ["Name", "Split", "Hash (xxh3-128, first 16)", "Rows", "Shape", "Kind", "Run"], rows
    )


def _data(doc: Mapping[str, Any]) -> list[str]:
    out = ["## Training data", ""]
    out.append(
        _data_rows(doc["training_data"])
        if doc["training_data"]
        else "No training data hash was recorded."
    )
    out += ["", _section(doc, "training_data_notes"), "", "## Evaluation data", ""]
    out.append(
        _data_rows(doc["evaluation_data"])
        if doc["evaluation_data"]
        else "No evaluation data hash was recorded."
    )
    if doc["splits"]:
        out += [
            "",
            "**Splits:** "
            + ", ".join(
                f"{split_title(s['split'])} {s['rows']} rows ({pct(s['fraction'])})"
                for s in doc["splits"]
            ),
        ]
    if doc["other_data"]:
        out += ["", "Other data recorded with the model:", "", _data_rows(doc["other_data"])]
    out += ["", _section(doc, "evaluation_data_notes"), ""]
    return out


def _stat(v: Mapping[str, Any]) -> str:
    return f"{num(v)} {ci(v['ci_low'], v['ci_high'])}".strip()


def _slices(doc: Mapping[str, Any]) -> list[str]:
    out: list[str] = []
    for s in doc["quantitative_analyses"]["slices"]:
        conf = round(100 * float(s["confidence"]))
        out += [f"### By {md_text(s['by'])}", ""]
        out.append(
            f"{conf}% {md_text(s['method'])} intervals ({s.get('n_boot')} resamples); slices "
            f"under {s.get('min_count')} rows are marked too small. Run {_run(s['run_id'])}."
        )
        out.append("")
        headers = ["Slice", "n"] + [md_text(m, table=True) for m in s["metrics"]] + ["Flags"]
        rows = [
            ["**overall**", _t(next(iter(s["overall"].values()))["n"]) if s["overall"] else "–"]
            + [_stat(s["overall"][m]) if m in s["overall"] else "–" for m in s["metrics"]]
            + [""]
        ]
        for x in s["slices"]:
            flags = []
            if x["worse_than_overall"]:
                flags.append(
                    "⚠ worse than overall: "
                    + ", ".join(md_text(m, table=True) for m in x["worse_than_overall"])
                )
            if x["too_small"]:
                flags.append("too small")
            rows.append(
                [_t(x["slice"]), _t(x["n"])]
                + [_stat(x["metrics"][m]) if m in x["metrics"] else "–" for m in s["metrics"]]
                + ["; ".join(flags)]
            )
        out += [_table(headers, rows), ""]
    return out


def _latency(doc: Mapping[str, Any]) -> list[str]:
    lat = doc["quantitative_analyses"]["latency"]
    if not lat:
        return []
    out = ["### Latency", ""]
    rows = []
    for x in lat:
        hw = x.get("hardware") or {}
        rows.append(
            [_t(x["name"])]
            + [_t(num(x[f])) if f in x else "–" for f in ("p50_ms", "p95_ms", "p99_ms")]
            + [
                _t(num(x["p95_upper_ci_ms"])) if "p95_upper_ci_ms" in x else "–",
                _t(x.get("n") if x.get("n") is not None else "–"),
                _t(x.get("batch_size") or "–"),
                _t(", ".join(f"{k}: {plain(v)}" for k, v in hw.items()) or "not recorded"),
                _run(x["run_id"]),
            ]
        )
    out.append(
        _table(
            [
                "Measurement",
                "p50 ms",
                "p95 ms",
                "p99 ms",
                "p95 upper CI ms",
                "n",
                "batch",
                "Hardware",
                "Run",
            ],
            rows,
        )
    )
    out.append("")
    return out


def _search(doc: Mapping[str, Any]) -> list[str]:
    s = doc.get("search")
    if not s:
        return []
    out = ["### Search", ""]
    obj = (
        ", ".join(f"{md_text(o['metric'])} ({md_text(o['direction'])})" for o in s["objectives"])
        or "not recorded"
    )
    cons = (
        ", ".join(
            md_code(c.get("expr") or f"{c.get('metric')} {c.get('op')} {c.get('bound')}")
            for c in s["constraints"]
        )
        or "none"
    )
    budget = s.get("budget") or {}
    sampler = s.get("sampler") or {}
    c = s["counts"]
    rows = [
        ["Search run", _run(s["run_id"]) + f" ({_t(s['name'])})"],
        ["Study", _t(s.get("study_name") or "–")],
        ["Objectives", obj],
        ["Constraints", cons],
        ["Budget", _t(", ".join(f"{k}={plain(v)}" for k, v in budget.items()) or "not recorded")],
        [
            "Sampler",
            _t(
                f"{sampler.get('name', '–')}"
                + (f" ({sampler['reason']})" if sampler.get("reason") else "")
            ),
        ],
        ["Seed", _t(s.get("seed") if s.get("seed") is not None else "–")],
        [
            "Trials",
            _t(f"{c['trials']} (" + ", ".join(f"{k} {v}" for k, v in c["by_state"].items()) + ")"),
        ],
        ["Feasible", _t(c["feasible"])],
        ["On the Pareto front", _t(c["pareto"])],
    ]
    if s["hypervolume"]:
        last = s["hypervolume"][-1]
        rows.append(["Final hypervolume", _t(num(last)) + f" (after {last.get('step')} trials)"])
    out += [_table(["", ""], rows), ""]
    objectives = [o["metric"] for o in s["objectives"]]
    if s["pareto"]:
        out += ["#### Pareto front (validation)", ""]
        headers = [
            "Trial",
            *[md_text(o, table=True) for o in objectives],
            "Test " + ", ".join(md_text(o, table=True) for o in objectives),
            "Params",
            "Run",
        ]
        rows = []
        for p in s["pareto"]:
            mark = " ★" if p["run_id"] == s.get("chosen_run_id") else ""
            rows.append(
                [_t(p["number"]) + mark]
                + [_t(num(p["values"].get(o))) for o in objectives]
                + [", ".join(_t(num(p["test"].get(o))) for o in objectives) if p["test"] else "–"]
                + [_t(", ".join(f"{k}={plain(value_of(v))}" for k, v in p["params"].items()))]
                + [_run(p["run_id"])]
            )
        out += [_table(headers, rows), "", "★ the chosen point.", ""]
    ch = s.get("chosen")
    if ch:
        out += [f"#### Chosen point: trial {_t(ch['number'])}", ""]
        names = sorted(set(ch["values"]) | set(ch["test"]))
        rows = [
            [
                _t(n),
                _t(num(ch["values"].get(n))),
                _t(num(ch["test"].get(n))) if n in ch["test"] else "–",
            ]
            for n in names
        ]
        for expr, cv in ch["constraints"].items():
            rows.append([md_code(expr), _t(num(cv)) + (" ✓" if cv.get("feasible") else " ✗"), "–"])
        out.append(_table(["Metric", "Validation", "Test"], rows))
        if ch.get("feasible_on_test") is not None:
            out += ["", f"Feasible on test: **{'yes' if ch['feasible_on_test'] else 'no'}**."]
        out.append("")
    return out


def _caveats(doc: Mapping[str, Any]) -> list[str]:
    out = ["## Caveats and recommendations", "", "### Found by the tracker", ""]
    if doc["caveats"]:
        for c in doc["caveats"]:
            icon = "⚠" if c["severity"] == "warning" else "ℹ"
            out.append(f"- {icon} {md_text(c['text'])} ({md_code(c['code'])})")
    else:
        out.append("The tracker found nothing to warn about in these records.")
    out += ["", _section(doc, "caveats_and_recommendations", "From the authors"), ""]
    return out


def _lineage(doc: Mapping[str, Any]) -> list[str]:
    lin = doc["lineage"]
    out = ["## Lineage", ""]
    chain = " ← ".join(
        f"{_t(r['kind'])} {_t(r['name'])} ({_run(r['run_id'])})" for r in lin["chain"]
    )
    out += [f"**Runs:** {chain}", ""]
    src = lin.get("notebook") or lin.get("script")
    if src:
        out += [f"**Source:** {_t(src)}", ""]
    if lin["cells"]:
        out += [
            f"**Cells that produced the model** ({len(lin['cells'])} of "
            f"{lin['session_cells']} in session {_run(lin['session_run_id'])}):",
            "",
        ]
        rows = []
        for c in lin["cells"]:
            ins = ", ".join(f"{_t(k)} {md_code(v['digest'][:12])}" for k, v in c["inputs"].items())
            outs = ", ".join(
                f"{_t(k)} {md_code(v['digest'][:12])}" for k, v in c["outputs"].items()
            )
            rows.append(
                [
                    _t(c["seq"]),
                    _t(c["execution_count"] if c["execution_count"] is not None else "–"),
                    md_code(c["source_hash"][:16]),
                    _t(c["status"]) + (" ⚠ not reproducible" if c["nondeterministic"] else ""),
                    ins or "–",
                    outs or "–",
                ]
            )
        out += [_table(["#", "In", "Source hash", "Status", "Inputs", "Outputs"], rows), ""]
        if any("source" in c for c in lin["cells"]):
            for c in lin["cells"]:
                if "source" in c:
                    fence = "````" if "```" in c["source"] else "```"
                    out += [
                        f"Cell {_t(c['seq'])}:",
                        "",
                        f"{fence}python",
                        c["source"].replace(fence, ""),
                        fence,
                        "",
                    ]
    git = lin.get("git")
    if git:
        out += [
            f"**Git:** commit {md_code(git['commit'])}"
            + (" with uncommitted changes" if git.get("dirty") else ""),
            "",
        ]
    env = lin.get("environment")
    if env:
        hw = env.get("hardware") or {}
        out += [
            f"**Environment:** {_t(env['implementation'])} {_t(env['python'])} "
            f"on {_t(env['platform'])}"
            + (
                f"; hardware: {_t(', '.join(f'{k}: {plain(v)}' for k, v in hw.items()))}"
                if hw
                else ""
            ),
            "",
        ]
        if env.get("packages"):
            out += [
                "<details><summary>Packages</summary>",
                "",
                _table(
                    ["Package", "Version"], [[_t(k), _t(v)] for k, v in env["packages"].items()]
                ),
                "",
                "</details>",
                "",
            ]
    return out


def render_markdown(doc: Mapping[str, Any]) -> str:
    """The card as Markdown (see the module docstring)."""
    meta = front_matter(doc)
    d = doc["model_details"]
    parts: list[str] = ["---", *_yaml(meta), "---", ""]
    parts.append(CARD_MARKER.format(run_id=doc["subject"]["run_id"], schema=doc["schema_version"]))
    parts.append(
        "<!-- Generated by jupyterlab-tracker from tracked records. Text between the "
        "tracker:section markers is yours: edit it here and regenerate with "
        f"`tracker card {doc['subject']['run_id']} -o <this file>`; it is kept. "
        "Everything else is regenerated from the records. -->"
    )
    parts += ["", f"# Model card: {md_text(d['name'])}", ""]
    needs = [s["title"] for s in doc["sections"].values() if s["needs_input"]]
    if needs:
        parts += [
            f"> **{len(needs)} section(s) need input:** "
            + ", ".join(md_text(t) for t in needs)
            + ".",
            "",
        ]
    parts += _details(doc)
    parts += [
        "## Intended use",
        "",
        _section(doc, "intended_use"),
        "",
        _section(doc, "out_of_scope_uses"),
        "",
    ]
    parts += ["## Factors", "", _section(doc, "factors", "Relevant factors"), ""]
    slices = doc["quantitative_analyses"]["slices"]
    if slices:
        parts += [
            "Evaluated factors: "
            + ", ".join(md_text(s["by"]) for s in slices)
            + " (see Quantitative analyses).",
            "",
        ]
    parts += _metrics(doc)
    parts += _data(doc)
    parts += ["## Quantitative analyses", ""]
    overall = [m for m in doc["metrics"]]
    if overall:
        parts += [
            "### Overall",
            "",
            "See Metrics above" + (" and the search summary below." if doc.get("search") else "."),
            "",
        ]
    parts += _slices(doc)
    parts += _latency(doc)
    parts += _search(doc)
    parts += ["## Ethical considerations", "", _section(doc, "ethical_considerations", level=0), ""]
    parts += _caveats(doc)
    parts += _lineage(doc)
    text = "\n".join(parts).rstrip() + "\n"
    return text
