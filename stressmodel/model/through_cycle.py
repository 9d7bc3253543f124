"""The through-the-cycle EBIT margin of each firm: the average of its reported fiscal-year
operating margins over a window of years (sector.toml ``midcycle_margin_first_year`` to
``midcycle_margin_last_year``), or the sector figure where a firm reports too few years.

Only fiscal years that ended on or before the as-of quarter count (pass inputs restricted
with :meth:`~stressmodel.inputs.load.Inputs.as_of`), so a back-test run never sees a
later year. Units: fractions of revenue.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class MidCycleMargin:
    """A firm's through-the-cycle EBIT margin with how it was obtained.

    ``basis`` is ``reported`` (average of the firm's own fiscal years, listed in
    ``years`` with the margin of each) or ``sector`` (the sector.toml fallback)."""

    ticker: str
    value: float
    basis: str
    how: str
    years: tuple[tuple[int, float], ...] = ()
    sources: tuple[str, ...] = ()


def fiscal_year_margins(
    rows: Iterable[Mapping[str, Any]], first: int, last: int, as_of: int
) -> tuple[list[tuple[int, float]], list[str]]:
    """(year, operating income / revenue) for every fiscal year in [first, last] that the
    statement rows give both figures for (full-year spans ending in a fourth quarter on or
    before ``as_of``), and the sources used. Revenue must be positive."""
    fy: dict[tuple[int, str], tuple[float, str]] = {}
    for r in rows:
        if r["item"] not in ("revenue", "operating_income") or r.get("kind") == "TTM":
            continue
        end, span = int(r["end"]), int(r["span"])
        if span != 4 or end % 4 != 3 or end > as_of:
            continue
        year = end // 4
        if first <= year <= last:
            fy[(year, str(r["item"]))] = (float(r["value"]), str(r["source"]))
    out: list[tuple[int, float]] = []
    sources: list[str] = []
    for year in range(first, last + 1):
        rev, ebit = fy.get((year, "revenue")), fy.get((year, "operating_income"))
        if rev is None or ebit is None or rev[0] <= 0:
            continue
        out.append((year, ebit[0] / rev[0]))
        for src in (rev[1], ebit[1]):
            if src not in sources:
                sources.append(src)
    return out, sources


def midcycle_margin(
    ticker: str,
    rows: Iterable[Mapping[str, Any]],
    as_of: int,
    first: int,
    last: int,
    min_years: int,
    sector_margin: float,
) -> MidCycleMargin:
    """The firm's average FY operating margin over [first, last], or the sector figure
    when fewer than ``min_years`` years are reported (never another firm's figure)."""
    years, sources = fiscal_year_margins(rows, first, last, as_of)
    if len(years) >= min_years:
        avg = sum(m for _y, m in years) / len(years)
        listed = ", ".join(f"FY{y} {m:.2%}" for y, m in years)
        return MidCycleMargin(
            ticker,
            avg,
            "reported",
            f"average of reported FY operating income / revenue ({listed})",
            tuple(years),
            tuple(sources),
        )
    have = f"{len(years)} reported fiscal year{'s' if len(years) != 1 else ''}"
    return MidCycleMargin(
        ticker,
        sector_margin,
        "sector",
        f"sector figure midcycle_ebit_margin_sector ({sector_margin:.2%}, sector.toml): only {have} "
        f"in FY{first}-FY{last}, at least {min_years} needed",
        tuple(years),
        ("inputs/sector.toml midcycle_ebit_margin_sector",),
    )
