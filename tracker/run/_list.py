"""What :func:`tracker.search_runs` returns: a list of runs that shows itself as a table."""

from __future__ import annotations

from typing import Any

from tracker.display import html_table, html_view, text_table
from tracker.records import Run

__all__ = ["RunList"]


class RunList(list[Run]):
    """Runs as :func:`tracker.search_runs` returns them: a list, shown as a compact table.

    Its ``repr`` is an aligned text table (id, name, kind, status, start, seconds, then the
    first params and metrics; at most :attr:`MAX_ROWS` rows) and, in a notebook, an HTML
    table. :func:`tracker.runs_frame` gives every column of every run as a DataFrame.
    """

    #: Rows a ``repr`` shows before it says how many more there are.
    MAX_ROWS = 30

    def table(self, max_keys: int = 6) -> tuple[list[str], list[list[Any]]]:
        """Headers and rows of the table: ``p.<param>`` and ``m.<metric>`` columns last."""
        pkeys = sorted({k for r in self for k in r.params})[:max_keys]
        mkeys = sorted({k for r in self for k in r.metrics})[:max_keys]
        headers = ["id", "name", "kind", "status", "started", "secs"]
        headers += [f"p.{k}" for k in pkeys] + [f"m.{k}" for k in mkeys]
        rows = []
        for r in self:
            secs = r.duration_s
            row: list[Any] = [
                r.id[:8],
                r.name + (" (!)" if r.nondeterministic else ""),
                r.kind.value,
                r.status.value,
                r.start_time.strftime("%Y-%m-%d %H:%M:%S"),
                round(secs, 3) if secs is not None else None,
            ]
            row += [r.params.get(k) for k in pkeys] + [r.metrics.get(k) for k in mkeys]
            rows.append(row)
        return headers, rows

    def to_text(self, max_rows: int | None = None) -> str:
        """The aligned text table (every row unless ``max_rows``)."""
        if not self:
            return "no runs"
        headers, rows = RunList(self[:max_rows] if max_rows is not None else self).table()
        more = len(self) - len(rows)
        tail = f"\n… {more} more; tracker.runs_frame(...) has every run" if more > 0 else ""
        return text_table(rows, headers) + tail

    def __repr__(self) -> str:
        return self.to_text(self.MAX_ROWS)

    def _repr_html_(self) -> str:
        if not self:
            return html_view("no runs")
        headers, rows = RunList(self[: self.MAX_ROWS]).table()
        more = len(self) - len(rows)
        return html_view(
            f"{len(self)} run(s)",
            f"the first {len(rows)}; tracker.runs_frame(...) has every run" if more else "",
            [("", html_table(rows, headers))],
        )
