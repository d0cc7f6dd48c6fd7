"""Plots for model cards as inline SVG: self-contained, offline, deterministic, light.

A card's HTML must be one file that opens offline and stays small with 1,000 trials, and
its golden files must be byte-stable. Plotly would embed ~4 MB of JavaScript per card
(or load it from a CDN, which breaks offline reading), so card plots are plain SVG built
here from numbers: no JavaScript, no fonts, no external references. Every text that may
come from a user (metric names, slice labels) is XML-escaped.

Interactive figures for notebooks and the panel live in :mod:`tracker.viz` (the only
plotly importer); these card plots import nothing beyond the standard library.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from html import escape

__all__ = [
    "ForestPlot",
    "ForestRow",
    "LatencyPlot",
    "LinePlot",
    "ParetoPlot",
    "ParetoPoint",
    "forest_svg",
    "latency_svg",
    "line_svg",
    "nice_ticks",
    "pareto_svg",
]

W, H = 640, 360
ML, MR, MT, MB = 72, 24, 28, 52
_COLORS = {
    "front": "#1f6feb",
    "feasible": "#8aa4c8",
    "infeasible": "#d0d7de",
    "chosen": "#d1242f",
    "line": "#1f6feb",
    "worse": "#d1242f",
    "small": "#9a6700",
    "ok": "#1f6feb",
    "grid": "#eaeef2",
    "axis": "#57606a",
}


def _e(text: object) -> str:
    return escape(str(text), quote=True)


def _n(v: float) -> str:
    s = f"{v:.1f}"
    return "0.0" if s == "-0.0" else s


def nice_ticks(lo: float, hi: float, n: int = 5) -> list[float]:
    """About ``n`` round tick values covering ``[lo, hi]``."""
    if not (math.isfinite(lo) and math.isfinite(hi)):
        return []
    if hi <= lo:
        return [lo]
    raw = (hi - lo) / max(n, 1)
    mag = 10 ** math.floor(math.log10(raw))
    step = next(m * mag for m in (1, 2, 2.5, 5, 10) if m * mag >= raw)
    start = math.ceil(lo / step - 1e-9) * step
    ticks: list[float] = []
    t = start
    while t <= hi + step * 1e-9 and len(ticks) < 50:
        ticks.append(round(t, 12))
        t += step
    return ticks


def _fmt_tick(v: float) -> str:
    if v == 0:
        return "0"
    if abs(v) >= 1e5 or abs(v) < 1e-3:
        return f"{v:.2e}"
    return f"{v:.4g}"


@dataclass(frozen=True)
class _Scale:
    lo: float
    hi: float
    a: float  # pixel of lo
    b: float  # pixel of hi

    def __call__(self, v: float) -> float:
        if self.hi == self.lo:
            return (self.a + self.b) / 2
        return self.a + (v - self.lo) * (self.b - self.a) / (self.hi - self.lo)


def _extent(values: Sequence[float], pad: float = 0.05) -> tuple[float, float]:
    vals = [v for v in values if math.isfinite(v)]
    if not vals:
        return 0.0, 1.0
    lo, hi = min(vals), max(vals)
    if lo == hi:
        d = abs(lo) * 0.1 or 1.0
        return lo - d, hi + d
    d = (hi - lo) * pad
    return lo - d, hi + d


def _frame(
    title: str, x_label: str, y_label: str, xs: _Scale, ys: _Scale, height: int = H
) -> list[str]:
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {W} {height}" '
        f'width="100%" role="img" aria-label="{_e(title)}" class="tracker-plot">',
        f"<title>{_e(title)}</title>",
        f'<rect x="0" y="0" width="{W}" height="{height}" fill="#ffffff"/>',
    ]
    for t in nice_ticks(xs.lo, xs.hi):
        x = _n(xs(t))
        parts.append(
            f'<line x1="{x}" y1="{MT}" x2="{x}" y2="{height - MB}" stroke="{_COLORS["grid"]}"/>'
            f'<text x="{x}" y="{height - MB + 16}" text-anchor="middle" font-size="11" '
            f'fill="{_COLORS["axis"]}">{_e(_fmt_tick(t))}</text>'
        )
    for t in nice_ticks(ys.lo, ys.hi):
        y = _n(ys(t))
        parts.append(
            f'<line x1="{ML}" y1="{y}" x2="{W - MR}" y2="{y}" stroke="{_COLORS["grid"]}"/>'
            f'<text x="{ML - 6}" y="{y}" text-anchor="end" dominant-baseline="middle" '
            f'font-size="11" fill="{_COLORS["axis"]}">{_e(_fmt_tick(t))}</text>'
        )
    parts.append(
        f'<rect x="{ML}" y="{MT}" width="{W - ML - MR}" height="{height - MT - MB}" fill="none" '
        f'stroke="{_COLORS["axis"]}"/>'
        f'<text x="{(ML + W - MR) / 2:.1f}" y="{height - 12}" text-anchor="middle" font-size="12" '
        f'fill="#24292f">{_e(x_label)}</text>'
        f'<text x="16" y="{(MT + height - MB) / 2:.1f}" text-anchor="middle" font-size="12" '
        f'fill="#24292f" transform="rotate(-90 16 {(MT + height - MB) / 2:.1f})">'
        f"{_e(y_label)}</text>"
    )
    return parts


@dataclass(frozen=True)
class ParetoPoint:
    """One trial in a Pareto plot."""

    x: float
    y: float
    label: str
    feasible: bool
    pareto: bool
    chosen: bool = False


def pareto_svg(
    points: Sequence[ParetoPoint],
    *,
    x_name: str,
    y_name: str,
    x_direction: str = "minimize",
    y_direction: str = "maximize",
    title: str = "Pareto front",
) -> str:
    """Trials in the plane of two objectives: the feasible front joined, the chosen ringed."""
    pts = [p for p in points if math.isfinite(p.x) and math.isfinite(p.y)]
    xs = _Scale(*_extent([p.x for p in pts]), ML, W - MR)
    ys = _Scale(*_extent([p.y for p in pts]), H - MB, MT)
    arrow = {"minimize": "↓ better", "maximize": "↑ better"}
    parts = _frame(
        title,
        f"{x_name} ({'lower' if x_direction == 'minimize' else 'higher'} is better)",
        f"{y_name} ({arrow.get(y_direction, y_direction)})",
        xs,
        ys,
    )
    for p in sorted(pts, key=lambda p: (p.pareto, p.chosen)):
        if p.pareto:
            continue
        color = _COLORS["feasible"] if p.feasible else _COLORS["infeasible"]
        parts.append(
            f'<circle cx="{_n(xs(p.x))}" cy="{_n(ys(p.y))}" r="3" fill="{color}">'
            f"<title>{_e(p.label)}</title></circle>"
        )
    front = sorted((p for p in pts if p.pareto), key=lambda p: (p.x, p.y))
    if len(front) > 1:
        path = " ".join(f"{_n(xs(p.x))},{_n(ys(p.y))}" for p in front)
        parts.append(
            f'<polyline points="{path}" fill="none" stroke="{_COLORS["front"]}" '
            'stroke-width="1.5"/>'
        )
    for p in front:
        parts.append(
            f'<circle cx="{_n(xs(p.x))}" cy="{_n(ys(p.y))}" r="4.5" fill="{_COLORS["front"]}">'
            f"<title>{_e(p.label)}</title></circle>"
        )
    for p in pts:
        if p.chosen:
            parts.append(
                f'<circle cx="{_n(xs(p.x))}" cy="{_n(ys(p.y))}" r="8" fill="none" '
                f'stroke="{_COLORS["chosen"]}" stroke-width="2.5"><title>chosen: {_e(p.label)}'
                "</title></circle>"
            )
    legend = [
        ("front", "Pareto front (feasible)"),
        ("feasible", "feasible"),
        ("infeasible", "infeasible"),
        ("chosen", "chosen"),
    ]
    x0 = ML + 8
    for i, (key, text) in enumerate(legend):
        x = x0 + i * 140
        parts.append(
            f'<circle cx="{x}" cy="{MT - 12}" r="4" fill="{_COLORS[key]}"/>'
            f'<text x="{x + 8}" y="{MT - 12}" dominant-baseline="middle" font-size="11" '
            f'fill="#24292f">{_e(text)}</text>'
        )
    parts.append("</svg>")
    return "".join(parts)


def line_svg(
    xs_: Sequence[float],
    ys_: Sequence[float],
    *,
    x_label: str,
    y_label: str,
    title: str,
    points: Sequence[tuple[float, float, str]] = (),
) -> str:
    """A line (e.g. hypervolume by finished trials), with optional labelled dots."""
    pairs = [(x, y) for x, y in zip(xs_, ys_, strict=True) if math.isfinite(x) and math.isfinite(y)]
    allx = [p[0] for p in pairs] + [p[0] for p in points]
    ally = [p[1] for p in pairs] + [p[1] for p in points]
    xs = _Scale(*_extent(allx, 0.02), ML, W - MR)
    ys = _Scale(*_extent(ally), H - MB, MT)
    parts = _frame(title, x_label, y_label, xs, ys)
    for x, y, label in points:
        if math.isfinite(x) and math.isfinite(y):
            parts.append(
                f'<circle cx="{_n(xs(x))}" cy="{_n(ys(y))}" r="2.5" fill="{_COLORS["feasible"]}">'
                f"<title>{_e(label)}</title></circle>"
            )
    if pairs:
        path = " ".join(f"{_n(xs(x))},{_n(ys(y))}" for x, y in pairs)
        parts.append(
            f'<polyline points="{path}" fill="none" stroke="{_COLORS["line"]}" stroke-width="2"/>'
        )
    parts.append("</svg>")
    return "".join(parts)


@dataclass(frozen=True)
class ForestRow:
    """One slice in a forest plot."""

    label: str
    n: int
    value: float
    lo: float
    hi: float
    worse: bool
    too_small: bool


def forest_svg(rows: Sequence[ForestRow], *, overall: float, metric: str, title: str) -> str:
    """Per-slice value and interval against the overall figure (a vertical line)."""
    row_h = 26
    height = MT + MB + row_h * max(len(rows), 1)
    left = 180
    vals = [overall] + [v for r in rows for v in (r.value, r.lo, r.hi)]
    xs = _Scale(*_extent(vals), left, W - MR)
    ys = _Scale(0, max(len(rows), 1), MT, height - MB)
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {W} {height}" width="100%" '
        f'role="img" aria-label="{_e(title)}" class="tracker-plot">',
        f"<title>{_e(title)}</title>",
        f'<rect x="0" y="0" width="{W}" height="{height}" fill="#ffffff"/>',
    ]
    for t in nice_ticks(xs.lo, xs.hi):
        x = _n(xs(t))
        parts.append(
            f'<line x1="{x}" y1="{MT}" x2="{x}" y2="{height - MB}" stroke="{_COLORS["grid"]}"/>'
            f'<text x="{x}" y="{height - MB + 16}" text-anchor="middle" font-size="11" '
            f'fill="{_COLORS["axis"]}">{_e(_fmt_tick(t))}</text>'
        )
    if math.isfinite(overall):
        x = _n(xs(overall))
        parts.append(
            f'<line x1="{x}" y1="{MT - 6}" x2="{x}" y2="{height - MB}" stroke="#24292f" '
            f'stroke-dasharray="4 3"/><text x="{x}" y="{MT - 10}" text-anchor="middle" '
            f'font-size="11" fill="#24292f">overall {_e(_fmt_tick(overall))}</text>'
        )
    for i, r in enumerate(rows):
        y = ys(i + 0.5)
        color = _COLORS["worse"] if r.worse else _COLORS["small"] if r.too_small else _COLORS["ok"]
        label = r.label if len(r.label) <= 24 else r.label[:23] + "…"
        parts.append(
            f'<text x="{left - 8}" y="{_n(y)}" text-anchor="end" dominant-baseline="middle" '
            f'font-size="11" fill="#24292f">{_e(label)} (n={r.n})</text>'
        )
        if math.isfinite(r.lo) and math.isfinite(r.hi):
            parts.append(
                f'<line x1="{_n(xs(r.lo))}" y1="{_n(y)}" x2="{_n(xs(r.hi))}" y2="{_n(y)}" '
                f'stroke="{color}" stroke-width="2"/>'
            )
        if math.isfinite(r.value):
            flag = " - worse than overall" if r.worse else " - too small" if r.too_small else ""
            parts.append(
                f'<circle cx="{_n(xs(r.value))}" cy="{_n(y)}" r="4.5" fill="{color}"><title>'
                f"{_e(r.label)}: {_e(metric)} {_e(_fmt_tick(r.value))} [{_e(_fmt_tick(r.lo))}, "
                f"{_e(_fmt_tick(r.hi))}]{_e(flag)}</title></circle>"
            )
    parts.append(
        f'<text x="{(left + W - MR) / 2:.1f}" y="{height - 12}" text-anchor="middle" '
        f'font-size="12" fill="#24292f">{_e(metric)}</text></svg>'
    )
    return "".join(parts)


def latency_svg(
    percentiles: Sequence[tuple[str, float]], *, bound: float | None = None, title: str
) -> str:
    """Horizontal bars of latency percentiles (ms), with a constraint bound if any."""
    row_h = 30
    height = MT + MB + row_h * max(len(percentiles), 1)
    left = 90
    vals = [0.0] + [v for _, v in percentiles] + ([bound] if bound is not None else [])
    _lo, hi = _extent(vals, 0.08)
    xs = _Scale(0.0, hi, left, W - MR)
    ys = _Scale(0, max(len(percentiles), 1), MT, height - MB)
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {W} {height}" width="100%" '
        f'role="img" aria-label="{_e(title)}" class="tracker-plot">',
        f"<title>{_e(title)}</title>",
        f'<rect x="0" y="0" width="{W}" height="{height}" fill="#ffffff"/>',
    ]
    for t in nice_ticks(0.0, hi):
        x = _n(xs(t))
        parts.append(
            f'<line x1="{x}" y1="{MT}" x2="{x}" y2="{height - MB}" stroke="{_COLORS["grid"]}"/>'
            f'<text x="{x}" y="{height - MB + 16}" text-anchor="middle" font-size="11" '
            f'fill="{_COLORS["axis"]}">{_e(_fmt_tick(t))}</text>'
        )
    for i, (name, v) in enumerate(percentiles):
        y = ys(i + 0.5)
        if math.isfinite(v):
            parts.append(
                f'<rect x="{left}" y="{_n(y - 9)}" width="{_n(max(xs(v) - left, 0.5))}" '
                'height="18" '
                f'fill="{_COLORS["ok"]}"><title>{_e(name)}: {_e(_fmt_tick(v))} ms</title></rect>'
            )
        parts.append(
            f'<text x="{left - 8}" y="{_n(y)}" text-anchor="end" dominant-baseline="middle" '
            f'font-size="11" fill="#24292f">{_e(name)}</text>'
        )
    if bound is not None and math.isfinite(bound):
        x = _n(xs(bound))
        parts.append(
            f'<line x1="{x}" y1="{MT - 6}" x2="{x}" y2="{height - MB}" stroke="{_COLORS["worse"]}" '
            f'stroke-width="2" stroke-dasharray="5 3"/><text x="{x}" y="{MT - 10}" '
            f'text-anchor="middle" font-size="11" fill="{_COLORS["worse"]}">bound '
            f"{_e(_fmt_tick(bound))} ms</text>"
        )
    parts.append(
        f'<text x="{(left + W - MR) / 2:.1f}" y="{height - 12}" text-anchor="middle" '
        f'font-size="12" fill="#24292f">milliseconds</text></svg>'
    )
    return "".join(parts)


# --- plots as data (figures of the card document; drawn only by formats that show them) -----


@dataclass(frozen=True)
class ParetoPlot:
    """Trials in the plane of two objectives (see :func:`pareto_svg`)."""

    points: tuple[ParetoPoint, ...]
    x_name: str
    y_name: str
    x_direction: str
    y_direction: str
    title: str

    def svg(self) -> str:
        """The plot as inline SVG."""
        return pareto_svg(
            self.points,
            x_name=self.x_name,
            y_name=self.y_name,
            x_direction=self.x_direction,
            y_direction=self.y_direction,
            title=self.title,
        )


@dataclass(frozen=True)
class LinePlot:
    """A line with optional labelled dots (see :func:`line_svg`)."""

    xs: tuple[float, ...]
    ys: tuple[float, ...]
    x_label: str
    y_label: str
    title: str
    points: tuple[tuple[float, float, str], ...] = ()

    def svg(self) -> str:
        """The plot as inline SVG."""
        return line_svg(
            self.xs,
            self.ys,
            x_label=self.x_label,
            y_label=self.y_label,
            title=self.title,
            points=self.points,
        )


@dataclass(frozen=True)
class ForestPlot:
    """Per-slice values and intervals against the overall figure (see :func:`forest_svg`)."""

    rows: tuple[ForestRow, ...]
    overall: float
    metric: str
    title: str

    def svg(self) -> str:
        """The plot as inline SVG."""
        return forest_svg(self.rows, overall=self.overall, metric=self.metric, title=self.title)


@dataclass(frozen=True)
class LatencyPlot:
    """Latency percentiles in ms, with a constraint bound (see :func:`latency_svg`)."""

    percentiles: tuple[tuple[str, float], ...]
    bound: float | None
    title: str

    def svg(self) -> str:
        """The plot as inline SVG."""
        return latency_svg(self.percentiles, bound=self.bound, title=self.title)
