"""Model cards built from tracked runs: Markdown, HTML and JSON.

A card (Mitchell et al. 2019) fills itself from the records (docs/records.md) and asks a
person only for what needs judgement::

    from tracker.cards import build_card
    card = build_card(search_run_id, intended_use="Triage of support tickets")
    card.save("card.md")      # Hugging Face front matter + model-index
    card.save("card.html")    # one self-contained file, inline plots, no scripts
    card.save("card.json")    # every measured value with the id of its run

Human sections (:data:`SECTION_KEYS`) are stored on the card's run and kept across
regenerations; an edited ``card.md`` or ``card.json`` is read back with
``build_card(run, from_file="card.md")``. Sliced evaluation lives in
:mod:`tracker.cards.slices`.

This package never imports :mod:`tracker.run` (the server imports it); the notebook
facade ``tracker.model_card`` / ``tracker.evaluate_slices`` adds the active run on top.
"""

from __future__ import annotations

import copy
import json
import os
import secrets
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from tracker.cards._build import SCHEMA, SCHEMA_VERSION, card_content
from tracker.cards._metrics import METRICS, SliceMetric
from tracker.cards._model import CardDocument
from tracker.cards._sections import (
    SECTION_KEYS,
    SECTIONS,
    read_card_file,
    sections_from_file,
    stored_sections,
    update_sections,
    validate_sections,
)
from tracker.cards.slices import SliceReport, compute_slices, evaluate_slices
from tracker.display import clip, one_line
from tracker.exceptions import RunNotFoundError, ValidationError
from tracker.records import ModelVersion, Run
from tracker.store import BaseStore, get_store
from tracker.store.ops import SetAttrs
from tracker.store.query import Condition, RunQuery

__all__ = [
    "FORMATS",
    "METRICS",
    "SECTIONS",
    "SECTION_KEYS",
    "CardDocument",
    "ModelCard",
    "SliceMetric",
    "SliceReport",
    "build_card",
    "compute_slices",
    "evaluate_slices",
    "load_card",
    "read_card_file",
    "resolve_run_id",
    "sections_from_file",
    "update_sections",
]

#: File extension to card format.
FORMATS: Mapping[str, str] = {
    ".md": "md",
    ".markdown": "md",
    ".html": "html",
    ".htm": "html",
    ".json": "json",
}


class ModelCard:
    """A model card: structured content plus its Markdown, HTML and JSON renderings.

    Build one with :func:`build_card` (or ``tracker.model_card``). The content is the
    plain dict :meth:`to_dict` returns (the JSON format). The Markdown and HTML renderings
    serialize one typed document laid out from it once, on first use
    (:mod:`tracker.cards._model`), so both formats always say the same.
    """

    def __init__(self, content: Mapping[str, Any], *, _owned: bool = False) -> None:
        if content.get("schema") != SCHEMA:
            raise ValidationError("not a tracker model card (its 'schema' field is missing)")
        # build_card hands over a dict nobody else holds: copying it would only cost time.
        self._doc: dict[str, Any] = dict(content) if _owned else copy.deepcopy(dict(content))
        self._document: CardDocument | None = None

    # --- identity and contents ------------------------------------------------------------

    @property
    def run_id(self) -> str:
        """The card's run (a search, a trial or a run)."""
        return str(self._doc["subject"]["run_id"])

    @property
    def name(self) -> str:
        """The model's name (its run's name)."""
        return str(self._doc["model_details"]["name"])

    @property
    def sections(self) -> dict[str, str]:
        """Human section key to text (``""`` where input is needed)."""
        return {k: v["text"] for k, v in self._doc["sections"].items()}

    @property
    def needs_input(self) -> list[str]:
        """Keys of the human sections that are still empty."""
        return [k for k, v in self._doc["sections"].items() if v["needs_input"]]

    @property
    def caveats(self) -> list[dict[str, Any]]:
        """The caveats the tracker found (``code``, ``severity``, ``text``, ``run_ids``)."""
        return copy.deepcopy(self._doc["caveats"])

    def __repr__(self) -> str:
        return one_line(
            "ModelCard",
            repr(clip(self.name, 40)),
            f"run={self.run_id[:12]}",
            f"caveats={len(self._doc['caveats'])}",
            f"needs_input={len(self.needs_input)}",
        )

    # --- renderings ------------------------------------------------------------------------

    def to_dict(self) -> dict[str, Any]:
        """The card's structured content (a deep copy; JSON-safe)."""
        return copy.deepcopy(self._doc)

    def to_json(self) -> str:
        """The card as JSON: every measured value carries ``run_id`` and ``path``."""
        return json.dumps(self._doc, indent=2, ensure_ascii=False, allow_nan=False) + "\n"

    def document(self) -> CardDocument:
        """The typed document every format serializes (laid out once, then kept).

        The card's content never changes after construction (:meth:`to_dict` returns
        copies), so neither does its document.
        """
        if self._document is None:
            from tracker.cards._layout import layout

            self._document = layout(self._doc)
        return self._document

    def to_markdown(self) -> str:
        """The card as Markdown with Hugging Face-compatible YAML front matter."""
        from tracker.cards._markdown import render_markdown

        return render_markdown(self.document())

    def to_html(self) -> str:
        """The card as one self-contained HTML document (inline CSS and SVG, no scripts)."""
        from tracker.cards._html import render_html

        return render_html(self.document())

    def _repr_html_(self) -> str:
        from tracker.cards._html import render_html_fragment

        return render_html_fragment(self.document())

    def render(self, fmt: str) -> str:
        """The card in format ``md``, ``html`` or ``json``."""
        if fmt in ("md", "markdown"):
            return self.to_markdown()
        if fmt == "html":
            return self.to_html()
        if fmt == "json":
            return self.to_json()
        raise ValidationError(f"unknown card format {fmt!r}; use md, html or json")

    # --- files --------------------------------------------------------------------------------

    def save(
        self,
        path: str | os.PathLike[str],
        *,
        within: str | os.PathLike[str] | None = None,
        overwrite: bool = False,
    ) -> Path:
        """Write the card to ``path``, in the format its extension names.

        Writes exactly that file (through a temporary file beside it, replaced atomically)
        and nothing else. Refuses, before writing anything: an unknown extension; a
        directory; a symbolic link (it would write elsewhere); a missing parent folder;
        a path outside ``within``; an existing file that is not a tracker card; and an
        existing card whose human sections hold text this card lacks (rebuild with
        ``build_card(run, from_file=path)`` to keep it).

        Args:
            path: Target file (``.md``, ``.html`` or ``.json``).
            within: If given, ``path`` must resolve inside this folder.
            overwrite: Replace an existing non-card file or a card with other human text.

        Returns:
            The absolute path written.

        Raises:
            ValidationError: one of the refusals above (nothing is written).
        """
        target = Path(os.fspath(path)).expanduser()
        fmt = FORMATS.get(target.suffix.lower())
        if fmt is None:
            raise ValidationError(
                f"cannot tell the card format of {str(target)!r}: end the name with "
                f"{', '.join(sorted(FORMATS))}"
            )
        target = Path(os.path.abspath(target))
        if within is not None:
            root = Path(os.fspath(within)).expanduser().resolve()
            real = target.parent.resolve() / target.name
            if not real.is_relative_to(root):
                raise ValidationError(
                    f"refusing to write {str(target)!r}: it is outside {str(root)!r}"
                )
        if target.is_symlink():
            raise ValidationError(
                f"refusing to write {str(target)!r}: it is a symbolic link, and writing through "
                "it would change another file; remove the link or choose another name"
            )
        if target.is_dir():
            raise ValidationError(f"refusing to write {str(target)!r}: it is a directory")
        if not target.parent.is_dir():
            raise ValidationError(
                f"refusing to write {str(target)!r}: the folder {str(target.parent)!r} does not "
                "exist (create it first)"
            )
        if target.exists() and not overwrite:
            self._check_existing(target, fmt)
        text = self.render(fmt)
        tmp = target.parent / f".{target.name}.{secrets.token_hex(6)}.tmp"
        fd = os.open(
            tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0), 0o644
        )
        try:
            with os.fdopen(fd, "w", encoding="utf-8", newline="\n") as fh:
                fh.write(text)
            os.replace(tmp, target)
        except BaseException:
            tmp.unlink(missing_ok=True)
            raise
        return target

    def _check_existing(self, target: Path, fmt: str) -> None:
        try:
            head = target.read_text(encoding="utf-8", errors="replace")
        except OSError as exc:
            raise ValidationError(f"cannot read the existing {str(target)!r}: {exc}") from None
        is_card = (
            "tracker:card run=" in head
            or f'"schema": "{SCHEMA}"' in head
            or ('class="tracker-card"' in head)
        )
        if not is_card:
            raise ValidationError(
                f"refusing to replace {str(target)!r}: it exists and is not a tracker model "
                "card; choose another name or pass overwrite=True"
            )
        if fmt not in ("md", "json"):
            return
        try:
            existing = read_card_file(target)
        except ValidationError:
            return
        if existing.run_id not in (None, self.run_id):
            raise ValidationError(
                f"refusing to replace {str(target)!r}: it is the card of run "
                f"{existing.run_id}, not {self.run_id}; choose another name or pass overwrite=True"
            )
        mine = self.sections
        lost = sorted(
            k
            for k, v in existing.sections.items()
            if v.strip() and v.strip() != mine.get(k, "").strip()
        )
        if lost:
            raise ValidationError(
                f"refusing to replace {str(target)!r}: its human sections {', '.join(lost)} hold "
                "text this card does not; rebuild with build_card(run, from_file=...) (or "
                "`tracker card RUN -o FILE`, which does) to keep it, or pass overwrite=True"
            )

    # --- construction --------------------------------------------------------------------------

    @classmethod
    def from_dict(cls, content: Mapping[str, Any]) -> ModelCard:
        """A card from :meth:`to_dict` output (e.g. a saved JSON card)."""
        return cls(content)


def load_card(path: str | os.PathLike[str]) -> ModelCard:
    """A card from a saved JSON card (to render it in another format without the store).

    Raises:
        ValidationError: the file is missing or not a JSON tracker card.
    """
    p = Path(os.fspath(path))
    try:
        doc = json.loads(p.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ValidationError(f"card file {str(p)!r} does not exist") from None
    except (OSError, ValueError) as exc:
        raise ValidationError(f"cannot read {str(p)!r} as a JSON card: {exc}") from None
    if not isinstance(doc, dict):
        raise ValidationError(f"{str(p)!r} is not a tracker model card")
    if doc.get("schema_version", 0) > SCHEMA_VERSION:
        raise ValidationError(
            f"{str(p)!r} uses card schema {doc.get('schema_version')}, newer than this tracker "
            f"({SCHEMA_VERSION}); upgrade jupyterlab-tracker"
        )
    return ModelCard(doc)


def resolve_run_id(run_or_id: object, store: BaseStore) -> str:
    """The run id behind a run, a run id (or unique prefix), or an object with ``id``/``run_id``.

    Raises:
        ValidationError: not a run reference, or an ambiguous prefix.
        RunNotFoundError: no such run.
    """
    if isinstance(run_or_id, Run):
        return run_or_id.id
    if isinstance(run_or_id, str):
        text = run_or_id.strip()
        if not text:
            raise ValidationError("a run id must not be empty")
        if len(text) >= 32:
            return text
        try:
            return store.get_run(text, with_cells=False).id
        except RunNotFoundError:
            pass
        if any(ch in text for ch in "%_'\\"):
            raise RunNotFoundError(text, store.url.redacted())
        found = store.search_runs(
            RunQuery(conditions=(Condition("id", "like", f"{text}%"),), order_by=(), limit=2)
        )
        if len(found) == 1:
            return found[0].id
        if len(found) > 1:
            raise ValidationError(f"run id prefix {text!r} is ambiguous; give more characters")
        raise RunNotFoundError(text, store.url.redacted())
    for attr in ("search_run_id", "run_id", "id"):  # a SearchResult, a trial, a run
        value = getattr(run_or_id, attr, None)
        if isinstance(value, str) and value:
            return value
    inner = getattr(run_or_id, "run", None)
    if inner is not None and inner is not run_or_id:
        return resolve_run_id(inner, store)
    raise ValidationError(
        f"expected a run, a search result or a run id, got {type(run_or_id).__name__}"
    )


def build_card(
    run_or_id: object,
    *,
    store: BaseStore | None = None,
    from_file: str | os.PathLike[str] | None = None,
    include_source: bool = False,
    persist: bool = True,
    sections: Mapping[str, str] | None = None,
    **human_sections: str,
) -> ModelCard:
    """Build the model card of a run, a search (its chosen trial), or a trial.

    Human sections come, later ones winning, from the run's stored sections, from the
    non-empty sections of an edited card file (``from_file``), and from keyword
    arguments. When those add or change text, it is stored on the run (``persist``) so
    the next regeneration keeps it.

    Args:
        run_or_id: A run id (or unique prefix), a :class:`~tracker.records.Run`, an
            active run, a search result, or a registered version (a
            :class:`~tracker.records.ModelVersion`, ``"models:/name@alias"`` or
            ``"models:/name/3"``: the card of its run, with the registered model's
            digest, input schema and registry history).
        store: Where the records are (default: the process's store).
        from_file: An edited ``.md`` or ``.json`` card of the same run.
        include_source: Put the source code of the lineage cells in the card (off by
            default: code may hold things not meant for a published card).
        persist: Store changed human sections on the run.
        sections: Human sections as a dict (for programs; same as keyword arguments).
        **human_sections: Section key (see :data:`SECTION_KEYS`) to Markdown text.

    Returns:
        The :class:`ModelCard`.

    Raises:
        ValidationError: an unknown section, a bad file, or a file of another run
            (before anything is read or written).
        RunNotFoundError: no such run.
    """
    given = validate_sections({**(sections or {}), **human_sections})
    from_path = read_card_file(from_file) if from_file is not None else None
    st = store or get_store()
    version = _model_version(run_or_id, st)
    run_id = version.run_id if version is not None else resolve_run_id(run_or_id, st)
    if from_path is not None and from_path.run_id not in (None, run_id):
        raise ValidationError(
            f"{str(from_path.path)!r} is the card of run {from_path.run_id}, not {run_id}; "
            "pass the card file of this run"
        )
    subject = st.get_run(run_id, with_cells=False)
    stored = stored_sections(subject.attrs)
    merged = dict(stored)
    if from_path is not None:
        merged.update({k: v for k, v in from_path.sections.items() if v.strip()})
    merged.update(given)
    merged = {k: v for k, v in merged.items() if v.strip()}
    if persist and merged != stored:
        doc = {
            "sections": {k: merged[k] for k in SECTION_KEYS if k in merged},
            "updated": time.time(),
        }
        st.write([SetAttrs(run_id=subject.id, attrs={"card": doc})])
    content = card_content(
        st, subject, merged, include_source=include_source, model_version=version
    )
    return ModelCard(content, _owned=True)


def _model_version(ref: object, store: BaseStore) -> ModelVersion | None:
    """The registered version a card reference names (``models:/...``), if it names one."""
    if isinstance(ref, ModelVersion):
        return ref
    if isinstance(ref, str) and ref.startswith("models:/"):
        from tracker.models import find_version, parse_version_ref

        return find_version(store, parse_version_ref(ref))
    return None
