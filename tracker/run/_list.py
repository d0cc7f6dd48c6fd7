"""What :func:`tracker.search_runs` returns: a list of runs that shows itself as a table."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

from tracker.display import html_table, html_view, text_table
from tracker.records import Run

__all__ = ["RunList"]


class RunList(list[Run]):
    """Runs as :func:`tracker.search_runs` returns them: a list, shown as a compact table.

    Its ``repr`` is an aligned text table (id, name, kind, status, start, seconds, then the
    first params and metrics; at most :attr:`MAX_ROWS` rows) and, in a notebook, an HTML
    table. :func:`tracker.runs_frame` gives every column of every run as a DataFrame.

    A page of a search (``search_runs(..., limit=100)``) also says where the next page
    starts (:attr:`next_page_token`) and how many runs the whole search matches
    (:attr:`total`, :attr:`total_exact`).

    Attributes:
        next_page_token: Pass it as ``search_runs(..., page_token=...)`` (same filter and
            order) for the runs after this page; ``None`` when this page is the last one
            (it held fewer than ``limit`` runs, or there was no limit).
    """

    #: Rows a ``repr`` shows before it says how many more there are.
    MAX_ROWS = 30

    def __init__(
        self,
        runs: Iterable[Run] = (),
        *,
        next_page_token: str | None = None,
        count: Callable[[], tuple[int, bool]] | None = None,
    ) -> None:
        super().__init__(runs)
        self.next_page_token = next_page_token
        self._count = count
        self._total: tuple[int, bool] | None = None

    def _counted(self) -> tuple[int, bool]:
        if self._total is None:
            # Counted on first use only: a page that is never asked its total costs no count.
            self._total = self._count() if self._count is not None else (len(self), True)
        return self._total

    @property
    def total(self) -> int:
        """How many runs the whole search matches, on every page (counted on first use).

        Exact up to 200 matches; beyond, an estimate from a sample (see
        :attr:`total_exact`), so asking costs about a page's time even at a million runs.
        A list that is not a page of a search (no ``limit``) has ``len(self)``.
        """
        return self._counted()[0]

    @property
    def total_exact(self) -> bool:
        """Whether :attr:`total` is exact (false: an estimate, beyond 200 matches)."""
        return self._counted()[1]

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
