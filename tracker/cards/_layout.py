"""Lay a card's content out as a :class:`~tracker.cards._model.CardDocument`.

The one place that decides what a card shows and in which order (Mitchell et al. 2019:
model details, intended use, factors, metrics, training and evaluation data, quantitative
analyses, ethical considerations, caveats and recommendations; then lineage). It reads
only the content dict (:mod:`tracker.cards._build`, the JSON format), so a card reloaded
from JSON lays out exactly as the one built from the records.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from tracker.cards._analyses import analyses_section, measured, text_cell
from tracker.cards._format import broken_on_test, framework_text, pct, plain, split_title
from tracker.cards._frontmatter import front_matter
from tracker.cards._human import parse_human
from tracker.cards._model import (
    Block,
    CardDocument,
    CaveatItem,
    CaveatList,
    Cell,
    Code,
    CodeBlock,
    Details,
    Flag,
    HumanSection,
    Inline,
    Muted,
    Paragraph,
    RunRef,
    Section,
    Strong,
    Table,
    Text,
    Value,
)
from tracker.cards._registry import registry_section

__all__ = ["layout"]

_NOT_RECORDED: Cell = (Muted("not recorded"),)
#: Columns listed per data entry in the column-type tables (a wide frame stays readable).
MAX_COLUMNS = 50


def _human(
    doc: Mapping[str, Any], key: str, title: str | None = None, level: int = 3
) -> HumanSection:
    s = doc["sections"][key]
    return HumanSection(
        key=key,
        title=title or s["title"],
        text=s["text"],
        needs_input=bool(s["needs_input"]),
        prompt=s["prompt"],
        blocks=() if s["needs_input"] else parse_human(s["text"]),
        level=level,
    )


def _joined(parts: Sequence[Inline], sep: str = ", ") -> list[Inline]:
    out: list[Inline] = []
    for p in parts:
        out += [Text(sep)] if out else []
        out.append(p)
    return out


# --- model details ---------------------------------------------------------------------------


def _details_rows(d: Mapping[str, Any]) -> list[tuple[Cell, ...]]:
    fw = d.get("framework")
    run: Cell = (RunRef(d["run_id"]),)
    if d["model_run_id"] != d["run_id"]:
        run += (Text(" (model: trial run "), RunRef(d["model_run_id"]), Text(")"))
    rows: list[tuple[Cell, ...]] = [
        (text_cell("Name"), text_cell(d["name"])),
        (
            text_cell("Version"),
            (measured(d["version"], number=False),)
            if d.get("version")
            else (Text("run "), RunRef(d["model_run_id"])),
        ),
        (text_cell("Date"), text_cell(d["date"])),
        (
            text_cell("Type"),
            (measured(d["type"], number=False),) if d.get("type") else _NOT_RECORDED,
        ),
        (text_cell("Task"), text_cell(d["task"]) if d.get("task") else _NOT_RECORDED),
        (text_cell("Framework"), text_cell(framework_text(fw)) if fw else _NOT_RECORDED),
        (text_cell("Status"), text_cell(d["status"])),
        (text_cell("Run"), run),
    ]
    if d.get("tags"):
        tags = [Value(f"{k}={v}", literal=True) for k, v in d["tags"].items()]
        rows.append((text_cell("Tags"), tuple(_joined(tags))))
    return rows


def _details(doc: Mapping[str, Any]) -> Section:
    d = doc["model_details"]
    blocks: list[Block] = [Table((text_cell("Field"), text_cell("Value")), tuple(_details_rows(d)))]
    if d.get("notes"):
        blocks.append(Paragraph((Strong("Notes recorded with the run:"),)))
        blocks.append(Paragraph((Text(d["notes"]),), style="pre"))
    blocks += [_human(doc, "description"), _human(doc, "owners")]
    hp = d["hyperparameters"]
    hyper: Block = (
        Table(
            tuple(text_cell(x) for x in ("Parameter", "Value", "Run")),
            tuple(
                (text_cell(x["name"]), (measured(x, literal=True),), (RunRef(x["run_id"]),))
                for x in hp
            ),
        )
        if hp
        else Paragraph((Text("No hyperparameters were recorded."),))
    )
    blocks.append(Section("Hyperparameters", 3, (hyper,)))
    blocks += [_human(doc, "license"), _human(doc, "citation")]
    return Section("Model details", 2, tuple(blocks), anchor="model-details", nav="Details")


# --- metrics and data --------------------------------------------------------------------------


def _metrics(doc: Mapping[str, Any]) -> Section:
    rows = tuple(
        (
            text_cell(m["name"]),
            text_cell(split_title(m.get("split"))),
            (measured(m),),
            text_cell(m.get("role") or ""),
            (RunRef(m["run_id"]),),
        )
        for m in doc["metrics"]
    )
    table: Block = (
        Table(
            tuple(text_cell(x) for x in ("Metric", "Split", "Value", "Role", "Run")),
            rows,
            numeric=frozenset({2}),
        )
        if rows
        else Paragraph((Text("No metrics were recorded."),))
    )
    blocks = (table, _human(doc, "metrics_rationale"))
    return Section("Metrics", 2, blocks, anchor="metrics", nav="Metrics")


def _data_row(d: Mapping[str, Any]) -> tuple[Cell, ...]:
    digest: Cell = (Code(d["digest"][:16], title=f"{d['algorithm']}:{d['digest']}"),)
    if d.get("partial"):
        digest += (Text(" "), Flag("warning", "partial", d.get("partial_reason") or ""))
    shape = "×".join(str(x) for x in d["shape"]) if d.get("shape") else ""
    return (
        text_cell(d["name"]),
        text_cell(split_title(d["split"]) if d["split"] != "other" else "–"),
        digest,
        text_cell(plain(d["rows"]) if d.get("rows") is not None else "–"),
        text_cell(shape),
        text_cell(d["kind"]),
        (RunRef(d["run_id"]),),
    )


def _columns(items: Sequence[Mapping[str, Any]]) -> Details | None:
    rows: list[tuple[Cell, ...]] = []
    for d in items:
        nulls = d.get("nulls") or {}
        for k, v in list((d.get("dtypes") or {}).items())[:MAX_COLUMNS]:
            rows.append(
                (
                    text_cell(d["name"]),
                    text_cell(k or "–"),
                    text_cell(v),
                    text_cell(nulls.get(k, "")),
                )
            )
    if not rows:
        return None
    headers = tuple(text_cell(x) for x in ("Data", "Column", "dtype", "nulls"))
    return Details("Column types", (Table(headers, tuple(rows)),))


def _data_blocks(items: Sequence[Mapping[str, Any]]) -> list[Block]:
    headers = ("Name", "Split", "Hash (xxh3-128, first 16)", "Rows", "Shape", "Kind", "Run")
    table = Table(
        tuple(text_cell(x) for x in headers),
        tuple(_data_row(d) for d in items),
        numeric=frozenset({3}),
    )
    columns = _columns(items)
    return [table] if columns is None else [table, columns]


def _data(doc: Mapping[str, Any]) -> tuple[Section, Section]:
    train: list[Block] = (
        _data_blocks(doc["training_data"])
        if doc["training_data"]
        else [Paragraph((Text("No training data hash was recorded."),))]
    )
    train.append(_human(doc, "training_data_notes"))
    ev: list[Block] = (
        _data_blocks(doc["evaluation_data"])
        if doc["evaluation_data"]
        else [Paragraph((Text("No evaluation data hash was recorded."),))]
    )
    if doc["splits"]:
        splits = ", ".join(
            f"{split_title(s['split'])} {s['rows']} rows ({pct(s['fraction'])})"
            for s in doc["splits"]
        )
        ev.append(Paragraph((Strong("Splits:"), Text(f" {splits}"))))
    if doc["other_data"]:
        ev.append(Paragraph((Text("Other data recorded with the model:"),)))
        ev += _data_blocks(doc["other_data"])
    ev.append(_human(doc, "evaluation_data_notes"))
    return (
        Section("Training data", 2, tuple(train), anchor="training-data", nav="Data"),
        Section("Evaluation data", 2, tuple(ev), anchor="evaluation-data"),
    )


# --- caveats and lineage -----------------------------------------------------------------------


def _caveats(doc: Mapping[str, Any]) -> Section:
    found: Block = (
        CaveatList(
            tuple(
                CaveatItem(c["code"], c["severity"], c["text"], tuple(c.get("run_ids") or ()))
                for c in doc["caveats"]
            )
        )
        if doc["caveats"]
        else Paragraph((Text("The tracker found nothing to warn about in these records."),))
    )
    blocks = (
        Section("Found by the tracker", 3, (found,)),
        _human(doc, "caveats_and_recommendations", "From the authors"),
    )
    return Section("Caveats and recommendations", 2, blocks, anchor="caveats", nav="Caveats")


def _cells(lin: Mapping[str, Any]) -> list[Block]:
    cells = lin["cells"]
    head = Paragraph(
        (
            Strong("Cells that produced the model"),
            Text(f" ({len(cells)} of {lin['session_cells']} in session "),
            RunRef(lin["session_run_id"]),
            Text("):"),
        )
    )

    def io(refs: Mapping[str, Any]) -> Cell:
        parts = [(Text(f"{k} "), Code(v["digest"][:12])) for k, v in refs.items()]
        out: list[Inline] = []
        for i, (name, code) in enumerate(parts):
            out += [Text(", "), name, code] if i else [name, code]
        return tuple(out) or text_cell("–")

    rows = []
    for c in cells:
        status: Cell = (Text(c["status"]),)
        if c["nondeterministic"]:
            status += (Text(" "), Flag("worse", "not reproducible"))
        rows.append(
            (
                text_cell(plain(c["seq"])),
                text_cell(plain(c["execution_count"]) if c["execution_count"] is not None else "–"),
                (Code(c["source_hash"][:16], title=c["source_hash"]),),
                status,
                io(c["inputs"]),
                io(c["outputs"]),
            )
        )
    headers = tuple(text_cell(x) for x in ("#", "In", "Source hash", "Status", "Inputs", "Outputs"))
    blocks: list[Block] = [head, Table(headers, tuple(rows))]
    for c in cells:
        if "source" in c:
            code = CodeBlock(c["source"], "python")
            blocks.append(Details(f"Source of cell {plain(c['seq'])}", (code,)))
    return blocks


def _lineage(doc: Mapping[str, Any]) -> Section:
    lin = doc["lineage"]
    chain: list[Inline] = [Strong("Runs:"), Text(" ")]
    for i, r in enumerate(lin["chain"]):
        chain += [Text(" ← ")] if i else []
        chain += [Text(f"{r['kind']} {r['name']} ("), RunRef(r["run_id"]), Text(")")]
    blocks: list[Block] = [Paragraph(tuple(chain))]
    src = lin.get("notebook") or lin.get("script")
    if src:
        blocks.append(Paragraph((Strong("Source:"), Text(" "), Value(src, literal=True))))
    if lin["cells"]:
        blocks += _cells(lin)
    git = lin.get("git")
    if git:
        line: Cell = (Strong("Git:"), Text(" commit "), Code(git["commit"]))
        if git.get("dirty"):
            line += (Text(" "), Flag("warning", "with uncommitted changes"))
        blocks.append(Paragraph(line))
    env = lin.get("environment")
    if env:
        hw = env.get("hardware") or {}
        text = f" {env['implementation']} {env['python']} on {env['platform']}"
        if hw:
            text += "; hardware: " + ", ".join(f"{k}: {plain(v)}" for k, v in hw.items())
        blocks.append(Paragraph((Strong("Environment:"), Text(text))))
        packages = env.get("packages") or {}
        if packages:
            rows = tuple((text_cell(k), text_cell(v)) for k, v in packages.items())
            table = Table((text_cell("Package"), text_cell("Version")), rows)
            blocks.append(Details(f"{len(packages)} packages", (table,)))
    return Section("Lineage", 2, tuple(blocks), anchor="lineage", nav="Lineage")


# --- the document ------------------------------------------------------------------------------


def _summary(doc: Mapping[str, Any]) -> tuple[Block, ...]:
    out: list[Block] = []
    needs = [s["title"] for s in doc["sections"].values() if s["needs_input"]]
    if needs:
        lead = Strong(f"{len(needs)} section(s) need input:")
        out.append(Paragraph((lead, Text(" " + ", ".join(needs) + ".")), style="needs"))
    search = doc.get("search") or {}
    closest = search.get("closest")
    if closest and not search.get("chosen"):
        out.append(
            Paragraph(
                (
                    Strong("No configuration met the budget on held-out data."),
                    Text(
                        " Every configuration on the Pareto front broke a constraint on the "
                        "test re-check, so this card documents the search and no chosen model. "
                        f"The closest, trial {plain(closest['number'])}, breaks "
                        f"{broken_on_test(closest)} on test data; it is shown as the closest, "
                        "not as a model to ship."
                    ),
                ),
                style="alert",
            )
        )
    return tuple(out)


def layout(doc: Mapping[str, Any]) -> CardDocument:
    """The card document of a card's content (see the module docstring)."""
    slices = doc["quantitative_analyses"]["slices"]
    factors: list[Block] = [_human(doc, "factors", "Relevant factors")]
    if slices:
        by = ", ".join(s["by"] for s in slices)
        factors.append(Paragraph((Text(f"Evaluated factors: {by} (see Quantitative analyses)."),)))
    training, evaluation = _data(doc)
    registered = registry_section(doc)
    sections = (
        _details(doc),
        *((registered,) if registered is not None else ()),
        Section(
            "Intended use",
            2,
            (_human(doc, "intended_use"), _human(doc, "out_of_scope_uses")),
            anchor="intended-use",
            nav="Intended use",
        ),
        Section("Factors", 2, tuple(factors), anchor="factors"),
        _metrics(doc),
        training,
        evaluation,
        analyses_section(doc),
        Section(
            "Ethical considerations",
            2,
            (_human(doc, "ethical_considerations", level=0),),
            anchor="ethical-considerations",
        ),
        _caveats(doc),
        _lineage(doc),
    )
    gen = doc["generator"]
    return CardDocument(
        run_id=str(doc["subject"]["run_id"]),
        title=f"Model card: {doc['model_details']['name']}",
        schema_version=int(doc["schema_version"]),
        generator=(str(gen["name"]), str(gen["version"])),
        front_matter=front_matter(doc),
        summary=_summary(doc),
        sections=sections,
        content=doc,
    )
