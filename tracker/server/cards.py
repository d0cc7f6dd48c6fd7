"""Model cards for the API, from :mod:`tracker.cards`.

The cards package builds cards from the records and keeps the human sections on the
card's run (``attrs["card"]``, docs/records.md). The API only renders, lists the
sections with their titles and prompts, and saves edits through it.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Protocol

from tracker.cards import SECTION_KEYS, SECTIONS, build_card, update_sections
from tracker.records import Run
from tracker.store import BaseStore

__all__ = [
    "MAX_SECTION_CHARS",
    "Card",
    "build",
    "current_sections",
    "section_keys",
    "section_prompt",
    "section_title",
    "update",
]

#: A human section longer than this is refused (a card is read by people).
MAX_SECTION_CHARS = 50_000
_SPECS = {s.key: s for s in SECTIONS}


class Card(Protocol):
    """What the API needs of a model card."""

    def to_markdown(self) -> str:
        """Markdown text."""

    def to_html(self) -> str:
        """A standalone HTML document."""

    def to_json(self) -> str:
        """JSON text."""


def section_keys() -> tuple[str, ...]:
    """The human section keys, in display order."""
    return tuple(SECTION_KEYS)


def section_title(key: str) -> str:
    """The section's title as the card prints it."""
    spec = _SPECS.get(key)
    return spec.title if spec else key.replace("_", " ").capitalize()


def section_prompt(key: str) -> str:
    """What a person should write in the section."""
    spec = _SPECS.get(key)
    return spec.prompt if spec else ""


def current_sections(run: Run) -> tuple[dict[str, str], float | None]:
    """The human sections stored on a run, and when they were last saved."""
    raw = run.attrs.get("card")
    if not isinstance(raw, Mapping):
        return {}, None
    secs = raw.get("sections")
    sections = (
        {str(k): str(v) for k, v in secs.items() if isinstance(v, str)}
        if isinstance(secs, Mapping)
        else {}
    )
    updated = raw.get("updated")
    return sections, float(updated) if isinstance(updated, int | float) else None


def build(run_id: str, store: BaseStore) -> Card:
    """The model card of a run (reading never writes: ``persist=False``).

    Raises:
        RunNotFoundError: no such run.
    """
    card: Card = build_card(run_id, store=store, persist=False)
    return card


def update(run_id: str, sections: Mapping[str, str], store: BaseStore) -> None:
    """Save human sections (merged into the stored ones; ``""`` clears one)."""
    update_sections(run_id, dict(sections), store=store)
