"""The ``%track`` line magic and the ``%%track`` cell magic.

``%track on [--name NAME] [--store URL]``   record every cell from now on
``%track off``                              stop recording cells
``%track status``                           store, session run, cells, overhead, last error
``%track sync [--timeout S]``               wait until every record is in the store
``%track params NAME [NAME ...]``           log variables as params of this cell's record
``%track metrics NAME [NAME ...] [--step N]`` log variables as metrics of this cell's record
``%track sklearn on|off``                   scikit-learn autologging
``%track rehash``                           forget cached data hashes (hash again on next use)
``%%track [--name NAME]``                   make this cell a run of its own

A bad argument gives a usage message (IPython's ``UsageError``), never a traceback.
"""

from __future__ import annotations

import argparse
import ast
import shlex
import statistics
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any, NoReturn

from IPython.core.error import UsageError
from IPython.core.magic import Magics, line_cell_magic, magics_class

from tracker import run as run_api
from tracker.exceptions import TrackerError
from tracker.records import RunStatus

if TYPE_CHECKING:
    from ._recorder import Capture

__all__ = ["TrackMagics", "parse_track_cell_args", "track_cell_transformer"]

_HELP = "See `%track?` for the reference."


class _Help(Exception):
    """``--help`` was asked for and printed."""


class _Parser(argparse.ArgumentParser):
    """argparse that reports errors as IPython usage errors instead of exiting."""

    def error(self, message: str) -> NoReturn:
        raise UsageError(
            f"{self.prog}: {message}\nusage: {self.format_usage().strip()[7:]}\n{_HELP}"
        )

    def exit(self, status: int = 0, message: str | None = None) -> NoReturn:
        if message:
            self.error(message)
        raise _Help()


def _build_parser() -> _Parser:
    p = _Parser(prog="%track", add_help=True, description="Notebook tracking.")
    sub = p.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    on = sub.add_parser("on", help="record every cell from now on")
    on.add_argument("--name", help="name of the session run (default: the notebook's name)")
    on.add_argument("--store", help="store URL (default: TRACKER_STORE or the project store)")
    sub.add_parser("off", help="stop recording cells")
    sub.add_parser("status", help="show what is being recorded where")
    sync = sub.add_parser("sync", help="wait until every record is in the store")
    sync.add_argument("--timeout", type=float, default=30.0, help="seconds (default 30)")
    params = sub.add_parser("params", help="log variables as params of this cell's record")
    params.add_argument("names", nargs="+", metavar="NAME")
    metrics = sub.add_parser("metrics", help="log variables as metrics of this cell's record")
    metrics.add_argument("names", nargs="+", metavar="NAME")
    metrics.add_argument("--step", type=int, help="step (epoch, iteration) of the values")
    sk = sub.add_parser("sklearn", help="scikit-learn autologging")
    sk.add_argument("state", choices=["on", "off"])
    sub.add_parser("rehash", help="forget cached data hashes")
    sub.add_parser("help", help="show this help")
    return p


def _build_cell_parser() -> _Parser:
    p = _Parser(prog="%%track", add_help=True, description="Make this cell a run of its own.")
    p.add_argument("--name", help="name of the run (default: '<session> [<execution count>]')")
    return p


_PARSER = _build_parser()
_CELL_PARSER = _build_cell_parser()


def _without_comment(line: str) -> str:
    """``line`` up to a ``#`` comment: one that starts a word, outside quotes.

    IPython hands a line magic its whole line, comment included, and examples write
    ``%track on  # every cell...``. As in a shell, ``#`` inside a word (``--name run#3``)
    or inside quotes is kept.
    """
    quote = None
    word_start = True
    for i, ch in enumerate(line):
        if quote is not None:
            if ch == quote:
                quote = None
        elif ch in "'\"":
            quote = ch
        elif ch == "#" and word_start:
            return line[:i]
        word_start = ch.isspace()
    return line


def _split(line: str) -> list[str]:
    try:
        return shlex.split(_without_comment(line))
    except ValueError as exc:
        raise UsageError(f"%track: cannot read the arguments ({exc})\n{_HELP}") from None


def parse_track_cell_args(line: str) -> argparse.Namespace | None:
    """The arguments of a ``%%track`` line, or ``None`` if they are not valid."""
    try:
        return _CELL_PARSER.parse_args(_split(line))
    except (UsageError, _Help, ValueError):
        return None


def track_cell_transformer(lines: list[str]) -> list[str]:
    """IPython cleanup transformer: run a ``%%track`` cell's body as ordinary cell code.

    ``%%track ARGS`` becomes the line magic ``%track __cell__ ARGS`` (which starts the
    cell's run); the body then runs as normal top-level code: its last expression is
    displayed, ``await`` and line magics work, tracebacks point at the right lines.
    Invalid arguments leave the cell alone, so the real cell magic reports them.
    """
    if not lines:
        return lines
    first = lines[0]
    if not first.startswith("%%track"):
        return lines
    rest = first[len("%%track") :]
    if rest and not rest[0].isspace():
        return lines  # %%tracking or similar: not ours
    args = rest.strip()
    if parse_track_cell_args(args) is None:
        return lines
    return [f"%track __cell__ {args}\n", *lines[1:]]


@magics_class
class TrackMagics(Magics):
    """``%track`` and ``%%track`` (see the module docstring)."""

    def __init__(self, shell: Any, capture: Capture) -> None:
        super().__init__(shell)
        self.capture = capture

    @line_cell_magic
    def track(self, line: str, cell: str | None = None) -> Any:
        """Notebook tracking.

        Line magic::

            %track on [--name NAME] [--store URL]  record every cell from now on
            %track off                             stop recording cells
            %track status                          store, session run, cells, last error
            %track sync [--timeout S]              wait until every record is in the store
            %track params NAME [NAME ...]          log variables as params (dicts expand)
            %track metrics NAME [NAME ...] [--step N]  log variables as metrics
            %track sklearn on|off                  scikit-learn autologging
            %track rehash                          forget cached data hashes

        Cell magic::

            %%track [--name NAME]                  make this cell a run of its own,
                                                   a child of the session run
        """
        if cell is not None:
            return self._cell(line, cell)
        line = _without_comment(line)
        words = line.split()
        if (
            len(words) > 1
            and words[0] in ("params", "metrics")
            and all(w.isidentifier() for w in words[1:])
        ):
            # The common case, in cells that run over and over: no argparse needed.
            try:
                return self._dispatch(words[0], argparse.Namespace(names=words[1:], step=None))
            except TrackerError as exc:
                raise UsageError(f"%track {words[0]}: {exc}") from None
        words = _split(line)
        try:
            if words[:1] == ["__cell__"]:
                # The marker a %%track cell starts with (see track_cell_transformer).
                args = _CELL_PARSER.parse_args(words[1:])
                args.command = "__cell__"
            else:
                args = _PARSER.parse_args(words)
        except _Help:
            return None
        command = args.command or "status"
        try:
            return self._dispatch(command, args)
        except TrackerError as exc:
            raise UsageError(f"%track {command}: {exc}") from None

    def _dispatch(self, command: str, args: argparse.Namespace) -> Any:
        capture = self.capture
        if command == "on":
            session = capture.start(name=args.name, store=args.store)
            print(
                f"tracker: tracking on. Session run {session.name!r} ({session.id[:8]}) "
                f"in {run_api.get_store().url}"
            )
        elif command == "off":
            capture.stop()
            print("tracker: tracking off (`%track on` resumes the same session run)")
        elif command == "status":
            print(status_text(capture))
        elif command == "sync":
            stats = run_api.sync(timeout=args.timeout)
            pending = stats.get("pending", 0)
            state = "every record is in the store" if not pending else f"{pending} still pending"
            print(f"tracker: {state} ({run_api.get_store().url})")
        elif command in ("params", "metrics"):
            self._log(command, args.names, getattr(args, "step", None))
        elif command == "sklearn":
            self._sklearn(args.state == "on")
        elif command == "rehash":
            n = len(capture.cache)
            capture.cache.clear()
            print(f"tracker: forgot {n} cached data hash(es); data is hashed again when next used")
        elif command == "help":
            _PARSER.print_help()
        elif command == "__cell__":
            capture.begin_track_cell(args.name)
        return None

    def _log(self, what: str, names: Sequence[str], step: int | None) -> None:
        shell: Any = self.shell
        ns = shell.user_ns
        values: dict[str, Any] = {}
        for name in names:
            if not name.isidentifier():
                raise UsageError(f"%track {what}: {name!r} is not a variable name\n{_HELP}")
            if name not in ns:
                raise UsageError(f"%track {what}: name {name!r} is not defined in the notebook")
            value = ns[name]
            if isinstance(value, Mapping):
                values.update(value)  # a dict of params/metrics expands into its items
            else:
                values[name] = value
        run = self.capture.target_run()
        if run is None:
            raise UsageError(
                f"%track {what}: nothing to log to. Turn tracking on with `%track on`, "
                "make the cell a run with `%%track`, or start a run with tracker.start_run()"
            )
        if what == "params":
            run.log_params(values)
        else:
            run.log_metrics(values, step=step)

    def _sklearn(self, on: bool) -> None:
        from ._sklearn import SklearnAutolog

        capture = self.capture
        if on:
            if capture.sklearn is None:
                capture.sklearn = SklearnAutolog(capture)
            if not capture.sklearn.active:
                capture.sklearn.enable()
            where = "the session run" if capture.enabled else "the active run"
            print(f"tracker: scikit-learn autologging on (logs to {where})")
            if run_api.active_run() is None:
                print("tracker: no run is active yet: `%track on` records to the notebook session")
        else:
            if capture.sklearn is not None and capture.sklearn.active:
                capture.sklearn.disable()
            print("tracker: scikit-learn autologging off")

    def _cell(self, line: str, cell: str) -> Any:
        """``%%track`` reached as a real cell magic: run the body here, as its own run.

        This happens when the cell is nested in another cell magic or run through
        ``run_cell_magic``; normally the transformer turns the cell into plain code.
        """
        try:
            args = _CELL_PARSER.parse_args(_split(line))
        except _Help:
            return None
        capture = self.capture
        try:
            run = capture.begin_track_cell(args.name)
        except TrackerError as exc:
            raise UsageError(f"%%track: {exc}") from None
        shell: Any = self.shell
        try:
            source = shell.transform_cell(cell)
            tree = ast.parse(source)
            last = tree.body.pop() if tree.body and isinstance(tree.body[-1], ast.Expr) else None
            ns = shell.user_ns
            exec(compile(tree, "<%%track>", "exec"), ns)
            value = None
            if last is not None:
                expr = ast.Expression(last.value)
                value = eval(compile(expr, "<%%track>", "eval"), ns)
        except BaseException as exc:
            current = capture.current
            if run.status is RunStatus.RUNNING and (current is None or current.cell_run is not run):
                status = (
                    RunStatus.INTERRUPTED
                    if isinstance(exc, KeyboardInterrupt)
                    else RunStatus.FAILED
                )
                run.end(status, exc)
            raise
        current = capture.current
        if run.status is RunStatus.RUNNING and (current is None or current.cell_run is not run):
            run.end(RunStatus.FINISHED)  # no cell record will end it: we are on our own
        return value


def status_text(capture: Capture) -> str:
    """What ``%track status`` prints."""
    lines = [f"tracker: tracking {'on' if capture.enabled else 'off'}"]
    store = run_api.get_store()
    pending = getattr(store, "pending", None)
    down = getattr(store, "is_down", False)
    state = " (unreachable: records wait in the local spool)" if down else ""
    lines.append(f"  store:           {store.url}{state}")
    if pending is not None:
        lines.append(f"  pending writes:  {pending}")
    rejected = getattr(store, "rejected_count", None)
    if rejected is not None:
        n = rejected()
        hint = " (`tracker sync --rejected` lists and retries them)" if n else ""
        lines.append(f"  rejected records: {n}{hint}")
    session = capture.session
    if session is not None:
        lines.append(f"  session run:     {session.name} ({session.id}, {session.status.value})")
    else:
        lines.append("  session run:     none yet (`%track on` starts it)")
    if capture.kernel is not None and capture.kernel.notebook:
        lines.append(f"  notebook:        {capture.kernel.notebook}")
    lines.append(f"  cells recorded:  {capture.cells_recorded}")
    times = list(capture.overhead_ms)
    if times:
        times.sort()
        p99 = times[min(len(times) - 1, round(0.99 * (len(times) - 1)))]
        lines.append(
            f"  hook overhead:   median {statistics.median(times):.2f} ms, "
            f"p99 {p99:.2f} ms over the last {len(times)} cell(s)"
        )
    cache = capture.cache
    lines.append(
        f"  data hashing:    {cache.hashed} hash(es), {cache.hashed_bytes / 1e6:.1f} MB in "
        f"{cache.hash_seconds * 1000:.0f} ms; {cache.hits} reused; {len(cache)} cached"
    )
    if capture.files_skipped:
        lines.append(f"  files not hashed (per-cell limit): {capture.files_skipped}")
    sk = capture.sklearn
    lines.append(f"  sklearn autolog: {'on' if sk is not None and sk.active else 'off'}")
    last = capture.last_error or getattr(store, "last_error", None)
    count = f" ({capture.errors} failure(s) so far)" if capture.errors else ""
    lines.append(f"  last tracker error: {last or 'none'}{count}")
    return "\n".join(lines)
