"""Human sections of a model card: what needs judgement, kept across regenerations.

Sections live on the card's run as ``attrs["card"] = {"sections": {key: text},
"updated": epoch seconds}`` (docs/records.md). They come from arguments to
:func:`tracker.cards.build_card`, from :func:`update_sections` (the side panel), or from a
card file a person edited: a Markdown card marks each section with

.. code-block:: text

    <!-- tracker:section intended_use -->
    ...text kept when the card is regenerated...
    <!-- tracker:end intended_use -->

and a JSON card holds it at ``sections.<key>.text``. :func:`sections_from_file` reads
both back.
"""

from __future__ import annotations

import json
import os
import re
import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tracker.cards._escape import md_human, md_inline, unescape_md_human
from tracker.exceptions import ValidationError
from tracker.store import BaseStore, get_store
from tracker.store.ops import SetAttrs

__all__ = [
    "CARD_MARKER",
    "SECTIONS",
    "SECTION_KEYS",
    "SectionSpec",
    "parse_markdown_sections",
    "placeholder",
    "read_card_file",
    "section_block",
    "sections_from_file",
    "stored_sections",
    "update_sections",
    "validate_sections",
]

MAX_SECTION_CHARS = 100_000


@dataclass(frozen=True, slots=True)
class SectionSpec:
    """A human section: its key, its title, and what a person should write there."""

    key: str
    title: str
    prompt: str


SECTIONS: tuple[SectionSpec, ...] = (
    SectionSpec(
        "description",
        "Description",
        "Describe the model in a few sentences: what it predicts, from which inputs, and how "
        "it is used.",
    ),
    SectionSpec("owners", "Owners", "Who owns and maintains this model, and how to reach them."),
    SectionSpec(
        "intended_use",
        "Primary intended uses",
        "What the model is for, and who its intended users are.",
    ),
    SectionSpec(
        "out_of_scope_uses",
        "Out-of-scope uses",
        "Uses the model was not designed or evaluated for, and that should be avoided.",
    ),
    SectionSpec(
        "factors",
        "Relevant factors",
        "Groups, instruments and environments whose differences may change the model's "
        "performance, and which of them were evaluated (the slices below are the measured "
        "ones).",
    ),
    SectionSpec(
        "metrics_rationale",
        "Why these metrics",
        "Why these metrics and thresholds were chosen, and what an error costs.",
    ),
    SectionSpec(
        "training_data_notes",
        "About the training data",
        "Where the training data comes from, why it was chosen, and how it was preprocessed.",
    ),
    SectionSpec(
        "evaluation_data_notes",
        "About the evaluation data",
        "Where the evaluation data comes from, why it was chosen, and how it relates to the "
        "data the model will see in use.",
    ),
    SectionSpec(
        "ethical_considerations",
        "Ethical considerations",
        "Sensitive data, risks and harms, mitigations, and affected groups.",
    ),
    SectionSpec(
        "caveats_and_recommendations",
        "Caveats and recommendations (authors)",
        "What the tracker cannot know: known limitations, and recommendations for use.",
    ),
    SectionSpec("license", "License", "The license the model is released under."),
    SectionSpec("citation", "Citation", "How to cite the model, if it should be cited."),
)

#: Keys of the human sections, in card order.
SECTION_KEYS: tuple[str, ...] = tuple(s.key for s in SECTIONS)
_SPEC = {s.key: s for s in SECTIONS}

#: First line of every Markdown card: identifies the card's run when a file is read back.
CARD_MARKER = "<!-- tracker:card run={run_id} schema={schema} -->"
_CARD_RE = re.compile(r"<!-- tracker:card run=([0-9A-Za-z_-]+) schema=(\d+) -->")
_BLOCK_RE = re.compile(
    r"^<!-- tracker:section ([a-z_]+) -->[ \t]*\n(.*?)^<!-- tracker:end \1 -->[ \t]*$",
    re.MULTILINE | re.DOTALL,
)


def placeholder(key: str, prompt: str | None = None) -> str:
    """The text shown for an empty section (and recognised, and dropped, on reading back).

    Args:
        key: The section.
        prompt: The question to show (default: the section's own).
    """
    return f"*Needs input: {md_inline(prompt if prompt is not None else _SPEC[key].prompt)}*"


# Any placeholder, whichever version of the prompt it shows (a card saved by an older
# tracker, or rendered from an older JSON card): an empty section when read back.
_PLACEHOLDER_RE = re.compile(r"\A\*Needs input: [^\n]*\*\Z")


def section_block(key: str, text: str, prompt: str | None = None) -> str:
    """A human section in a Markdown card, between its markers (``prompt`` if empty)."""
    body = md_human(text).strip("\n") if text.strip() else placeholder(key, prompt)
    return f"<!-- tracker:section {key} -->\n{body}\n<!-- tracker:end {key} -->"


def validate_sections(
    sections: Mapping[str, object], *, allow_none: bool = False
) -> dict[str, str]:
    """Check section keys and values; return them as ``{key: text}``.

    Raises:
        ValidationError: an unknown key (lists the valid ones) or a value that is not text.
    """
    if not isinstance(sections, Mapping):
        raise ValidationError(
            f"sections must be a dict of key -> text, not {type(sections).__name__}"
        )
    out: dict[str, str] = {}
    for key, value in sections.items():
        if key not in _SPEC:
            raise ValidationError(
                f"unknown model card section {key!r}; use one of {', '.join(SECTION_KEYS)}"
            )
        if value is None and allow_none:
            value = ""
        if not isinstance(value, str):
            raise ValidationError(
                f"model card section {key!r} must be text, not {type(value).__name__}"
            )
        if len(value) > MAX_SECTION_CHARS:
            raise ValidationError(
                f"model card section {key!r} has {len(value)} characters; "
                f"the limit is {MAX_SECTION_CHARS}"
            )
        out[key] = value.strip("\n").rstrip()
    return out


def stored_sections(attrs: Mapping[str, Any]) -> dict[str, str]:
    """The human sections stored in a run's attrs (only known keys with text)."""
    card = attrs.get("card")
    raw = card.get("sections") if isinstance(card, Mapping) else None
    if not isinstance(raw, Mapping):
        return {}
    return {k: v for k, v in raw.items() if k in _SPEC and isinstance(v, str) and v.strip()}


def parse_markdown_sections(text: str) -> dict[str, str]:
    """Human sections of a Markdown card (placeholders count as empty)."""
    out: dict[str, str] = {}
    for m in _BLOCK_RE.finditer(text):
        key, body = m.group(1), m.group(2).strip("\n").rstrip()
        if key not in _SPEC:
            continue
        if not body.strip() or _PLACEHOLDER_RE.match(body.strip()):
            out[key] = ""
        else:
            out[key] = unescape_md_human(body)
    return out


@dataclass(frozen=True, slots=True)
class CardFile:
    """What a card file says: its run and its human sections."""

    path: Path
    format: str
    run_id: str | None
    sections: dict[str, str]


def read_card_file(path: str | os.PathLike[str]) -> CardFile:
    """Read the run id and human sections of a saved card (``.md`` or ``.json``).

    Raises:
        ValidationError: the file is missing, unreadable, or not a tracker card.
    """
    p = Path(path)
    try:
        text = p.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ValidationError(f"card file {str(p)!r} does not exist") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ValidationError(f"cannot read card file {str(p)!r}: {exc}") from None
    suffix = p.suffix.lower()
    if suffix == ".json":
        try:
            doc = json.loads(text)
        except json.JSONDecodeError as exc:
            raise ValidationError(f"{str(p)!r} is not valid JSON ({exc}); fix the edit") from None
        if not isinstance(doc, dict) or not isinstance(doc.get("sections"), dict):
            raise ValidationError(f"{str(p)!r} is not a tracker model card (no 'sections')")
        sections: dict[str, str] = {}
        for key, entry in doc["sections"].items():
            if key not in _SPEC:
                continue
            value = entry.get("text") if isinstance(entry, dict) else entry
            sections[key] = value if isinstance(value, str) else ""
        subject = doc.get("subject")
        rid = subject.get("run_id") if isinstance(subject, dict) else None
        return CardFile(p, "json", rid if isinstance(rid, str) else None, sections)
    if suffix in (".md", ".markdown"):
        m = _CARD_RE.search(text)
        if m is None:
            raise ValidationError(
                f"{str(p)!r} is not a tracker model card (no '<!-- tracker:card ... -->' line)"
            )
        return CardFile(p, "md", m.group(1), parse_markdown_sections(text))
    raise ValidationError(
        f"cannot read human sections from {str(p)!r}: use a .md or .json card "
        "(HTML cards are for reading, not editing)"
    )


def sections_from_file(path: str | os.PathLike[str]) -> dict[str, str]:
    """Human sections of an edited ``.md`` or ``.json`` card (empty ones as ``""``)."""
    return read_card_file(path).sections


def update_sections(
    run_id: str, sections: Mapping[str, str | None], *, store: BaseStore | None = None
) -> dict[str, str]:
    """Store human sections on a run; return all of them (``""`` for empty ones).

    Keys not given keep their text; an empty string (or ``None``) clears a section.

    Args:
        run_id: The card's run (the search run for a search's card).
        sections: Section key to Markdown text.
        store: Where the run is (default: the process's store).

    Returns:
        Every key of :data:`SECTION_KEYS` to its text after the update.

    Raises:
        ValidationError: an unknown key or a non-text value (nothing is written then).
        RunNotFoundError: no such run.
    """
    new = validate_sections(sections, allow_none=True)
    st = store or get_store()
    run = st.get_run(run_id, with_cells=False)
    merged = stored_sections(run.attrs)
    merged.update(new)
    kept = {k: merged[k] for k in SECTION_KEYS if merged.get(k, "").strip()}
    if kept != stored_sections(run.attrs):
        doc = {"sections": kept, "updated": time.time()}
        st.write([SetAttrs(run_id=run.id, attrs={"card": doc})])
    return {k: kept.get(k, "") for k in SECTION_KEYS}
