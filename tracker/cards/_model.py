"""The typed model card document: what every format shows, decided once.

:mod:`tracker.cards._build` reads the records into the card's *content* (a JSON-safe
dict; it is the JSON format, reloadable by :func:`tracker.cards.load_card`), and
:func:`tracker.cards._layout.layout` turns that content into a :class:`CardDocument`: the
card's sections in order, each a sequence of blocks (paragraphs, tables, figures, caveats,
human sections), made of inlines (text, code, run references, links...). Every measured
value shown carries its :class:`Origin` (the run whose record holds it and where), as the
content does.

The renderers only serialize a document: :mod:`~tracker.cards._markdown` and
:mod:`~tracker.cards._html` choose syntax, never content, and the JSON renderer writes
:attr:`CardDocument.content`. A new field is added here and in the layout once; a test
checks that every renderer handles every block and inline type, and that every value of a
document appears in each format.

All classes are frozen: a document is built once and read by several renderers.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol, TypeAlias

__all__ = [
    "BLOCK_TYPES",
    "INLINE_TYPES",
    "Block",
    "CardDocument",
    "CaveatItem",
    "CaveatList",
    "Cell",
    "Code",
    "CodeBlock",
    "Details",
    "Emphasis",
    "Figure",
    "Flag",
    "FlagKind",
    "Heading",
    "HumanSection",
    "Inline",
    "LineBreak",
    "Link",
    "ListBlock",
    "Muted",
    "Origin",
    "Paragraph",
    "Plot",
    "RunRef",
    "Section",
    "Strong",
    "Table",
    "Text",
    "Value",
]


@dataclass(frozen=True, slots=True)
class Origin:
    """Where a shown value comes from: ``path`` in the record of run ``run_id``.

    ``value`` is the value as the content holds it (JSON-safe; ``"NaN"`` for NaN), and
    ``step`` the step of a metric-history point.
    """

    run_id: str
    path: tuple[Any, ...]
    value: Any
    step: int | None = None


# --- inlines ---------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Text:
    """Plain text (escaped by every renderer)."""

    text: str


@dataclass(frozen=True, slots=True)
class Value:
    """A value as displayed (``text``), with where it came from when it was measured.

    ``origins`` holds one :class:`Origin` per measured value the text shows (several for
    a list such as a trial's params; none for a value that is not a record's, such as a
    file path). ``literal`` marks a value as written (a param, a tag, a path): HTML sets
    it as code, Markdown as plain text.
    """

    text: str
    origins: tuple[Origin, ...] = ()
    literal: bool = False


@dataclass(frozen=True, slots=True)
class Code:
    """Code or an identifier (a hash, an expression, a commit), with an optional tooltip."""

    text: str
    title: str | None = None


@dataclass(frozen=True, slots=True)
class RunRef:
    """A run id, shown short (its first 12 characters), or a dash when there is none."""

    run_id: str | None


@dataclass(frozen=True, slots=True)
class Strong:
    """Strongly emphasised text."""

    text: str


@dataclass(frozen=True, slots=True)
class Emphasis:
    """Emphasised text."""

    text: str


@dataclass(frozen=True, slots=True)
class Muted:
    """Subdued text: what the records lack (``not recorded``), an interval, a note."""

    text: str


FlagKind: TypeAlias = Literal["worse", "small", "warning", "chosen", "closest"]


@dataclass(frozen=True, slots=True)
class Flag:
    """A marker a reader must notice: a worse slice, a partial hash, the chosen point."""

    kind: FlagKind
    text: str
    title: str | None = None


@dataclass(frozen=True, slots=True)
class Link:
    """A link from a human section.

    Renderers emit it only if its URL passes :func:`tracker.cards._escape.safe_url`
    (checked when the layout builds it and again when a renderer serializes it).
    """

    url: str
    text: str


@dataclass(frozen=True, slots=True)
class LineBreak:
    """A line break inside a paragraph of a human section."""


Inline: TypeAlias = (
    Text | Value | Code | RunRef | Strong | Emphasis | Muted | Flag | Link | LineBreak
)
#: A table cell or a run of inline content.
Cell: TypeAlias = tuple[Inline, ...]

#: Every inline type (a test checks that each renderer serializes each of them).
INLINE_TYPES: tuple[type, ...] = (
    Text,
    Value,
    Code,
    RunRef,
    Strong,
    Emphasis,
    Muted,
    Flag,
    Link,
    LineBreak,
)


# --- blocks ----------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Paragraph:
    """A paragraph.

    ``style``: ``muted`` (a note), ``pre`` (keeps the text's own line breaks), ``needs``
    (what still needs a person) or ``alert`` (what a reader must not miss).
    """

    inlines: Cell
    style: Literal["plain", "muted", "pre", "needs", "alert"] = "plain"


@dataclass(frozen=True, slots=True)
class Heading:
    """A heading inside a human section (levels 1-6 as the author wrote them)."""

    level: int
    inlines: Cell


@dataclass(frozen=True, slots=True)
class ListBlock:
    """A bulleted or numbered list (from a human section)."""

    items: tuple[Cell, ...]
    ordered: bool = False


@dataclass(frozen=True, slots=True)
class CodeBlock:
    """Preformatted code (cell source, a fenced block of a human section)."""

    text: str
    language: str | None = None


@dataclass(frozen=True, slots=True)
class Table:
    """A table: header cells, rows of cells, and which columns hold numbers."""

    headers: tuple[Cell, ...]
    rows: tuple[tuple[Cell, ...], ...]
    numeric: frozenset[int] = frozenset()


class Plot(Protocol):
    """A figure's data; :meth:`svg` draws it (only formats that show plots call it)."""

    @property
    def title(self) -> str:
        """What the plot shows."""

    def svg(self) -> str:
        """The plot as inline SVG."""


@dataclass(frozen=True, slots=True)
class Figure:
    """A plot drawn from data the card's tables also hold, with an optional caption.

    Markdown has no inline graphics a model hub renders, so the Markdown card leaves
    figures (and their captions) out; every figure illustrates values that a table of
    the same section shows.
    """

    plot: Plot
    caption: str | None = None


@dataclass(frozen=True, slots=True)
class CaveatItem:
    """One caveat the tracker found (see :mod:`tracker.cards._caveats`)."""

    code: str
    severity: str
    text: str
    run_ids: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class CaveatList:
    """The caveats the tracker found, in order."""

    items: tuple[CaveatItem, ...]


@dataclass(frozen=True, slots=True)
class HumanSection:
    """A section a person writes, kept across regenerations.

    ``text`` is the Markdown as stored (what the Markdown card holds between its
    ``tracker:section`` markers and the JSON card at ``sections.<key>.text``); ``blocks``
    is the same text parsed (a small, safe subset: paragraphs, lists, headings, code,
    emphasis, links). ``level`` 0 puts no heading above it.
    """

    key: str
    title: str
    text: str
    needs_input: bool
    prompt: str
    blocks: tuple[Block, ...] = ()
    level: int = 3


@dataclass(frozen=True, slots=True)
class Details:
    """Supporting detail a reader opens on demand (packages, column types)."""

    summary: str
    blocks: tuple[Block, ...]


@dataclass(frozen=True, slots=True)
class Section:
    """A titled part of the card.

    ``anchor`` names it for links; ``nav`` is its label in the card's table of contents
    (top-level sections only).
    """

    title: str
    level: int
    blocks: tuple[Block, ...]
    anchor: str | None = None
    nav: str | None = None


Block: TypeAlias = (
    Paragraph
    | Heading
    | ListBlock
    | CodeBlock
    | Table
    | Figure
    | CaveatList
    | HumanSection
    | Details
    | Section
)

#: Every block type (a test checks that each renderer serializes each of them).
BLOCK_TYPES: tuple[type, ...] = (
    Paragraph,
    Heading,
    ListBlock,
    CodeBlock,
    Table,
    Figure,
    CaveatList,
    HumanSection,
    Details,
    Section,
)


@dataclass(frozen=True, slots=True)
class CardDocument:
    """A whole card, as every format shows it.

    Attributes:
        run_id: The card's run.
        title: The card's title (``Model card: <name>``).
        schema_version: Version of the JSON content's schema.
        generator: ``(name, version)`` of the program that built the content.
        front_matter: Model-hub metadata (Hugging Face model-card fields; the Markdown
            card's YAML front matter).
        summary: Blocks above the first section (what needs input; a search whose
            configurations all broke the budget on test data).
        sections: The top-level sections, in order.
        content: The card's content (the JSON format), from which all the above is laid out.
    """

    run_id: str
    title: str
    schema_version: int
    generator: tuple[str, str]
    front_matter: Mapping[str, Any]
    summary: tuple[Block, ...]
    sections: tuple[Section, ...]
    content: Mapping[str, Any] = field(repr=False)
