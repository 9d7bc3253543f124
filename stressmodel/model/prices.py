"""The observed PrNd oxide price path as a quarterly raw-material driver.

sector.toml ``prnd_oxide_price`` holds points labelled by quarter (``2025Q2``: a quarterly
average), by half year (``2025H1``: a half-year average) or by date (``2026-01-09``: a spot
price); labels with a suffix (``2024H1-low``) are not averages and are not used. A quarter's
level is, in this order: its own quarterly average; the other quarter of a half year whose
average and one quarterly average are known (2 x half - quarter, derived); a spot price
dated in the quarter. Quarters after the last known level hold it (no extrapolation).

Scenarios with ``price_path = "prnd"`` take ``level(q) / level(as-of) - 1`` as the
raw-material change of projected quarter q: the scenario *assumes* the observed path, so
points dated after the as-of are used on purpose (say so wherever a back-test uses it).
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterable
from dataclasses import dataclass

from stressmodel.inputs.periods import parse_quarter, quarter_label

_Q = re.compile(r"^(\d{4})Q([1-4])$")
_H = re.compile(r"^(\d{4})H([12])$")


@dataclass(frozen=True)
class PricePath:
    change: dict[int, float]  # absolute quarter -> level / as-of level - 1
    levels: dict[int, tuple[float, str]]  # quarter -> (CNY per tonne, how)
    status: str


def quarterly_levels(points: Iterable[tuple[str, float, str]]) -> dict[int, tuple[float, str]]:
    """Quarter index -> (level, how) from the labelled points (module docstring)."""
    pts = list(points)
    levels: dict[int, tuple[float, str]] = {}
    for period, value, _src in pts:
        if _Q.match(period):
            levels[parse_quarter(period)] = (float(value), f"{period} average")
    for period, value, _src in pts:
        m = _H.match(period)
        if not m:
            continue
        first = parse_quarter(f"{m.group(1)}Q{1 if m.group(2) == '1' else 3}")
        pair = (first, first + 1)
        known = [q for q in pair if q in levels]
        if len(known) == 1:
            other = pair[1] if known[0] == pair[0] else pair[0]
            v = 2.0 * float(value) - levels[known[0]][0]
            if v > 0:
                levels[other] = (
                    v,
                    f"derived: 2 x {period} average - {quarter_label(known[0])} average",
                )
    for period, value, _src in pts:
        try:
            d = dt.date.fromisoformat(period)
        except ValueError:
            continue
        q = parse_quarter(f"{d.year}Q{(d.month - 1) // 3 + 1}")
        levels.setdefault(q, (float(value), f"spot {period}"))
    return levels


def level_at(levels: dict[int, tuple[float, str]], q: int) -> float | None:
    """The level of quarter ``q``: its own, else the latest earlier one held."""
    known = [k for k in levels if k <= q]
    return levels[max(known)][0] if known else None


def prnd_path(
    points: Iterable[tuple[str, float, str]], as_of: int, quarters: list[int]
) -> PricePath:
    levels = quarterly_levels(points)
    base = level_at(levels, as_of)
    if base is None:
        return PricePath(
            {q: 0.0 for q in quarters},
            levels,
            f"no PrNd level on or before {quarter_label(as_of)}: no price path",
        )
    change = {}
    for q in quarters:
        v = level_at(levels, q)
        change[q] = 0.0 if v is None else v / base - 1.0
    last = max(levels)
    return PricePath(
        change,
        levels,
        f"PrNd oxide path relative to {quarter_label(as_of)} ({base:,.0f} CNY/t); "
        f"levels after {quarter_label(last)} held flat; the observed path is a scenario assumption",
    )
