"""``tracker card RUN``: the model card of a run or search (Markdown, HTML or JSON)."""

from __future__ import annotations

import argparse
import sys

from tracker.cli._common import Subparsers, add_command, current_store

__all__ = ["register"]


def register(sub: Subparsers) -> None:
    """Add ``card``."""
    s = add_command(
        sub,
        "card",
        _cmd_card,
        help="the model card of a run or search (Markdown, HTML or JSON)",
        examples=[
            "tracker card 3f2a9c1e                     # Markdown on stdout",
            "tracker card 3f2a9c1e -o card.html",
            "tracker card 3f2a9c1e -o card.md --section intended_use='Triage'",
        ],
    )
    s.add_argument(
        "run", help="run or search id (or a unique prefix), or models:/NAME@ALIAS or models:/NAME/N"
    )
    s.add_argument("--format", choices=["md", "html", "json"], help="default: from -o, else md")
    s.add_argument("-o", "--output", help="write here (.md, .html, .json); default: stdout")
    s.add_argument(
        "--section",
        action="append",
        metavar="KEY=TEXT",
        help="set a human section, e.g. intended_use='Triage' (repeatable; stored on the run)",
    )
    s.add_argument("--sections-from", help="read human sections from an edited .md/.json card")
    s.add_argument("--include-source", action="store_true", help="add the lineage cells' code")
    s.add_argument(
        "--force", action="store_true", help="replace a file that is not a card of this run"
    )


def _cmd_card(args: argparse.Namespace) -> int:
    from pathlib import Path

    from tracker.cards import FORMATS, build_card, read_card_file
    from tracker.exceptions import ValidationError

    sections: dict[str, str] = {}
    for item in args.section or []:
        key, sep, text = item.partition("=")
        if not sep:
            raise ValidationError(f"--section takes KEY=TEXT, got {item!r}")
        sections[key.strip()] = text
    fmt = args.format
    out = Path(args.output) if args.output else None
    if out is not None:
        by_ext = FORMATS.get(out.suffix.lower())
        if by_ext is None:
            raise ValidationError(
                f"cannot tell the format of {str(out)!r}: end it with {', '.join(sorted(FORMATS))}"
            )
        if fmt is not None and fmt != by_ext:
            raise ValidationError(
                f"--format {fmt} does not match the extension of {str(out)!r}; drop one of them"
            )
        fmt = by_ext
    fmt = fmt or "md"
    from_file = args.sections_from
    # Regenerating over an edited card keeps the person's text: read it back first.
    editable = out is not None and out.suffix.lower() in (".md", ".markdown", ".json")
    if from_file is None and out is not None and editable and out.is_file():
        try:
            if not out.is_symlink() and read_card_file(out).run_id is not None:
                from_file = str(out)
        except ValidationError:
            pass  # not a card: save() refuses to replace it below
    card = build_card(
        args.run,
        store=current_store(),
        from_file=from_file,
        include_source=args.include_source,
        sections=sections,
    )
    if out is None:
        sys.stdout.write(card.render(fmt))
        return 0
    path = card.save(out, overwrite=args.force)
    kept = [k for k, v in card.sections.items() if v]
    print(
        f"wrote {fmt} model card of run {card.run_id} to {path}"
        + (f" (kept {len(kept)} human section(s))" if kept else "")
        + (f"; {len(card.needs_input)} section(s) need input" if card.needs_input else "")
    )
    return 0
