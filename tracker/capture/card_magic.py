"""``%card RUN [--format md|html|json] [--out PATH]``: a run's model card in the notebook.

``RUN`` is a run id (or unique prefix), or the name of a variable holding a run, an active
run or a search result. Without ``--out`` the card is shown in the notebook; with it, it
is written there (the format follows the extension) and the path is printed. Regenerating
over an edited ``.md`` or ``.json`` card keeps its human sections.

A mistake (an unknown run, a bad path) prints one line and never raises into the cell.
"""

from __future__ import annotations

import argparse
import shlex
import sys
from pathlib import Path
from typing import Any

from IPython.core.magic import Magics, line_magic, magics_class

__all__ = ["CardMagics"]


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="%card", add_help=False, exit_on_error=False)
    p.add_argument("run")
    p.add_argument("--format", "-f", choices=["md", "html", "json"], default=None)
    p.add_argument("--out", "-o", default=None)
    p.add_argument("--include-source", action="store_true")
    return p


@magics_class
class CardMagics(Magics):
    """The ``%card`` line magic."""

    @line_magic
    def card(self, line: str) -> Any:
        """Show or save a run's model card: ``%card RUN [--format md|html|json] [--out PATH]``."""
        try:
            return self._card(line)
        except SystemExit:
            return None
        except Exception as exc:  # a card problem must never fail the user's cell
            print(f"%card: {exc}", file=sys.stderr)
            return None

    def _card(self, line: str) -> Any:
        from tracker.cards import FORMATS, build_card, read_card_file
        from tracker.exceptions import ValidationError
        from tracker.store import get_store

        try:
            args = _parser().parse_args(shlex.split(line))
        except (argparse.ArgumentError, ValueError) as exc:
            print(
                f"%card: {exc}\nusage: %card RUN [--format md|html|json] [--out PATH]",
                file=sys.stderr,
            )
            return None
        target: object = args.run
        ns = self.shell.user_ns if self.shell is not None else {}
        if args.run.isidentifier() and args.run in ns:
            target = ns[args.run]  # a variable holding a run or a search result
        store = getattr(target, "store", None) or get_store()
        fmt = args.format
        from_file = None
        if args.out:
            out = Path(args.out).expanduser()
            by_ext = FORMATS.get(out.suffix.lower())
            if by_ext is None:
                raise ValidationError(
                    f"cannot tell the format of {args.out!r}: end it with .md, .html or .json"
                )
            if fmt is not None and fmt != by_ext:
                raise ValidationError(
                    f"--format {fmt} does not match the extension of {args.out!r}"
                )
            if by_ext in ("md", "json") and out.is_file() and not out.is_symlink():
                try:
                    if read_card_file(out).run_id is not None:
                        from_file = out
                except ValidationError:
                    pass
        card = build_card(
            target, store=store, from_file=from_file, include_source=args.include_source
        )
        if args.out:
            path = card.save(args.out)
            note = f"; {len(card.needs_input)} section(s) need input" if card.needs_input else ""
            print(f"model card of run {card.run_id} written to {path}{note}")
            return None
        from IPython import display as ipd

        # IPython.display is untyped: go through Any.
        show: Any = ipd.display
        if fmt == "md":
            show(getattr(ipd, "Markdown")(card.to_markdown()))  # noqa: B009
        elif fmt == "json":
            show(getattr(ipd, "JSON")(card.to_dict()))  # noqa: B009
        else:
            show(getattr(ipd, "HTML")(card._repr_html_()))  # noqa: B009
        return None
