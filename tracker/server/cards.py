"""Model cards for the API: ``tracker.cards`` when it provides them, else a basic card.

The cards package (``build_card``, ``update_sections``, ``SECTION_KEYS``) owns model
cards. Until that package is installed alongside, the API still serves a card so the
panel works: a basic one built here from the run record, with the human sections
stored where ``docs/records.md`` says (``attrs["card"]``). ``features()`` tells the
panel which of the two answered.
"""

from __future__ import annotations

import html
import json
import math
import re
import time
from collections.abc import Mapping
from typing import Any, Protocol

from tracker import cards as _cards
from tracker.records import Run, float_to_json
from tracker.store import BaseStore
from tracker.store.ops import SetAttrs

__all__ = [
    "DEFAULT_SECTION_KEYS",
    "MAX_SECTION_CHARS",
    "Card",
    "build",
    "card_generator",
    "current_sections",
    "section_keys",
    "section_title",
    "update",
]

#: The human sections of docs/records.md, used when ``tracker.cards`` does not list its own.
DEFAULT_SECTION_KEYS: tuple[str, ...] = (
    "intended_use",
    "out_of_scope_uses",
    "owners",
    "factors",
    "metrics_rationale",
    "ethical_considerations",
    "caveats_and_recommendations",
    "license",
    "citation",
)
#: A human section longer than this is refused (a card is read by people).
MAX_SECTION_CHARS = 50_000


class Card(Protocol):
    """What the API needs of a model card."""

    def to_markdown(self) -> str:
        """Markdown text."""

    def to_html(self) -> str:
        """A standalone HTML document."""

    def to_json(self) -> str:
        """JSON text."""


def card_generator() -> str:
    """``"tracker.cards"`` when the cards package builds cards, else ``"server"``."""
    return "tracker.cards" if hasattr(_cards, "build_card") else "server"


def section_keys() -> tuple[str, ...]:
    """The human section keys, in display order."""
    keys = getattr(_cards, "SECTION_KEYS", None)
    if keys:
        return tuple(str(k) for k in keys)
    return DEFAULT_SECTION_KEYS


def section_title(key: str) -> str:
    """``"caveats_and_recommendations"`` -> ``"Caveats and recommendations"``."""
    text = key.replace("_", " ").strip()
    return text[:1].upper() + text[1:]


def current_sections(run: Run) -> tuple[dict[str, str], float | None]:
    """The human sections stored on a run, and when they were last saved."""
    raw = run.attrs.get("card")
    if not isinstance(raw, Mapping):
        return {}, None
    secs = raw.get("sections")
    sections = (
        {str(k): str(v) for k, v in secs.items() if v is not None}
        if isinstance(secs, Mapping)
        else {}
    )
    updated = raw.get("updated")
    return sections, float(updated) if isinstance(updated, int | float) else None


def build(run_id: str, store: BaseStore) -> Card:
    """The model card of a run.

    Raises:
        RunNotFoundError: no such run.
    """
    builder = getattr(_cards, "build_card", None)
    if builder is not None:
        card: Card = builder(run_id, store=store)
        return card
    return _BasicCard(store.get_run(run_id, with_cells=False))


def update(run_id: str, sections: Mapping[str, str], store: BaseStore) -> None:
    """Save human sections (merged into the stored ones; ``""`` clears one)."""
    updater = getattr(_cards, "update_sections", None)
    if updater is not None:
        updater(run_id, dict(sections), store=store)
        return
    run = store.get_run(run_id, with_cells=False)
    merged, _ = current_sections(run)
    merged.update(sections)
    merged = {k: v for k, v in merged.items() if v != ""}
    store.write([SetAttrs(run_id, {"card": {"sections": merged, "updated": time.time()}})])


# --- the basic card ---------------------------------------------------------------------

_MD_SPECIAL = re.compile(r"([\\`*_\[\]#|<>&])")


def _md(text: object) -> str:
    """Markdown-escape a user string so it shows as typed (and no HTML gets through)."""
    return _MD_SPECIAL.sub(r"\\\1", str(text)).replace("\n", " ")


def _value(v: object) -> str:
    if isinstance(v, float):
        return str(float_to_json(v)) if not math.isfinite(v) else f"{v:.6g}"
    return str(v)


class _BasicCard:
    """A card from the run record alone (what the API serves without ``tracker.cards``)."""

    def __init__(self, run: Run) -> None:
        self.run = run
        self.sections, self.updated = current_sections(run)

    def to_dict(self) -> dict[str, Any]:
        r = self.run
        return {
            "schema": "tracker.basic-card/1",
            "run_id": r.id,
            "model_details": {
                "name": r.name,
                "kind": r.kind.value,
                "status": r.status.value,
                "started": r.start_time.isoformat(),
                "ended": r.end_time.isoformat() if r.end_time else None,
                "tags": dict(r.tags),
                "params": {
                    k: _value(v) if isinstance(v, float) else v for k, v in r.params.items()
                },
                "notes": r.notes,
            },
            "metrics": {k: float_to_json(v) for k, v in r.metrics.items()},
            "data": {k: v.to_dict() for k, v in r.data.items()},
            "environment": r.environment.to_dict() if r.environment else None,
            "sections": {k: self.sections.get(k, "") for k in section_keys()},
            "needs_input": [k for k in section_keys() if not self.sections.get(k)],
        }

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=2, allow_nan=False, default=str)

    def _parts(self) -> list[tuple[str, list[tuple[str, str]]]]:
        r = self.run
        details = [("Name", r.name), ("Run id", r.id), ("Status", r.status.value)]
        details += [("Started", r.start_time.isoformat())]
        details += [(f"tag {k}", v) for k, v in sorted(r.tags.items())]
        details += [(f"param {k}", _value(v)) for k, v in sorted(r.params.items())]
        metrics = [(k, _value(v)) for k, v in sorted(r.metrics.items())]
        data = [
            (k, f"{v.kind} {v.short}" + (f" shape {list(v.shape)}" if v.shape else ""))
            for k, v in sorted(r.data.items())
        ]
        parts = [("Model details", details), ("Metrics", metrics), ("Data", data)]
        if r.environment:
            env = r.environment
            parts.append(("Environment", [("Python", env.python), ("Platform", env.platform)]))
        return parts

    def to_markdown(self) -> str:
        lines = [f"# Model card: {_md(self.run.name)}", ""]
        for title, rows in self._parts():
            lines += [f"## {title}", ""]
            lines += [f"- **{_md(k)}**: {_md(v)}" for k, v in rows] or ["_none recorded_"]
            lines.append("")
        for key in section_keys():
            text = self.sections.get(key, "")
            lines += [f"## {section_title(key)}", ""]
            lines += [html.escape(text) if text else "_Needs input._", ""]
        return "\n".join(lines)

    def to_html(self) -> str:
        e = html.escape
        body = [f"<h1>Model card: {e(self.run.name)}</h1>"]
        for title, rows in self._parts():
            body.append(f"<h2>{e(title)}</h2>")
            if rows:
                items = "".join(f"<tr><th>{e(k)}</th><td>{e(v)}</td></tr>" for k, v in rows)
                body.append(f"<table>{items}</table>")
            else:
                body.append("<p><em>none recorded</em></p>")
        for key in section_keys():
            text = self.sections.get(key, "")
            body.append(f"<h2>{e(section_title(key))}</h2>")
            body.append(
                f"<p>{e(text)}</p>" if text else '<p class="needs-input"><em>Needs input.</em></p>'
            )
        return (
            '<!DOCTYPE html><html><head><meta charset="utf-8">'
            f"<title>Model card: {e(self.run.name)}</title>"
            "<style>body{font-family:sans-serif;max-width:60em;margin:1em auto;padding:0 1em}"
            "th{text-align:left;padding-right:1em}.needs-input{color:#a60}</style>"
            f"</head><body>{''.join(body)}</body></html>"
        )
