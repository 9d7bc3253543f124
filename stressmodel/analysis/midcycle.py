"""The mid-cycle DCF and what today's price implies (issue 14, item 7; methods.md 8.3).

The *trailing* DCF (:func:`stressmodel.analysis.valuation.dcf`) values the normalised
post-horizon quarter in perpetuity: today's margins for ever. The *mid-cycle* DCF keeps
the same explicit quarters (the scenario's projection, discounted quarterly) and the same
working-capital release at the horizon H, and replaces the Gordon term by annual steps
after H:

    R_0 = 4 x normalised horizon revenue, m_0 = its EBIT margin, o = 4 (D&A - capex) / R_0
    R_y = R_{y-1} (1 + g_e) for y <= Y (explicit growth years), (1 + g) afterwards
    m_y = m_0 + (m* - m_0) min(y / N, 1)          (N reversion years; N = 0: m* at once)
    EBIT_y = m_y R_y;  FCF_y = EBIT_y - tax max(EBIT_y, 0) + o R_y - w (R_y - R_{y-1})
    post = max(0, sum_{y=1..T} FCF_y (1+k)^-y + (1+k)^-T max(0, FCF_{T+1}) / (k - g)),
           T = max(Y, N), FCF_{T+1} at margin m* and growth g
    EV_mid = PV(explicit FCF) + (1+k)^(-H/4) (WC_release + post)
    value per share = max(0, EV_mid - net debt) / shares

w is the firm's net working capital per unit of annual revenue at the as-of quarter
(receivables + inventory - payables), so growth costs working capital. With m* = m_0,
g_e = g and w = 0 the sum telescopes to 4 FCF_norm (1 + g) / (k - g): the trailing value.

What the price implies: holding the other drivers at their sector.toml values, the
mid-cycle value per share is solved for the through-the-cycle margin m*, the explicit
revenue growth g_e and the perpetual growth g at which it equals the price, each with
:func:`stressmodel.analysis.rootfind.first_crossing` and a status.

Pure functions; fractions and CNY mn.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import polars as pl

from stressmodel.analysis.rootfind import (
    STATUS_BREACHED,
    STATUS_BREACHED_AT_ZERO,
    STATUS_NOT_FINITE_PREFIX,
    first_crossing,
)
from stressmodel.analysis.valuation import discount_factor, present_value_fcf, terminal_quarter
from stressmodel.model.engine import KEYS


@dataclass(frozen=True)
class MidCycleDrivers:
    """Post-horizon drivers of the mid-cycle DCF (sector.toml, each sourced there)."""

    reversion_years: int
    growth_years: int
    revenue_growth: float
    terminal_growth: float


def post_horizon_value(
    rev0: np.ndarray | float,
    margin0: np.ndarray | float,
    other0: np.ndarray | float,
    tax: np.ndarray | float,
    rate: float,
    target_margin: np.ndarray | float,
    reinvest: np.ndarray | float,
    drivers: MidCycleDrivers,
    *,
    revenue_growth: np.ndarray | None = None,
    terminal_growth: np.ndarray | None = None,
) -> np.ndarray:
    """Value at the horizon of the cash flows after it (module docstring), per element.

    ``rev0`` annual normalised revenue at the horizon (CNY mn), ``margin0`` its EBIT
    margin, ``other0`` annual D&A less capex per unit of revenue, ``tax`` the tax rate,
    ``reinvest`` net working capital per unit of revenue. Floored at zero (abandonment).
    ``revenue_growth`` / ``terminal_growth``: per-element values instead of the drivers'
    (the price-implied growth solves evaluate a whole grid of them at once)."""
    k = rate
    ge: np.ndarray | float = drivers.revenue_growth if revenue_growth is None else revenue_growth
    g: np.ndarray | float = drivers.terminal_growth if terminal_growth is None else terminal_growth
    if np.any(np.asarray(k) <= np.asarray(g)):
        raise ValueError("the discount rate must exceed the terminal growth")
    shape = np.broadcast_shapes(
        *(np.shape(x) for x in (rev0, margin0, other0, tax, target_margin, reinvest, ge, g))
    )
    r0 = np.broadcast_to(np.asarray(rev0, dtype=float), shape)
    m0, o, t, m_star, w = (
        np.broadcast_to(np.asarray(x, dtype=float), shape)
        for x in (margin0, other0, tax, target_margin, reinvest)
    )
    n, ny = drivers.reversion_years, drivers.growth_years
    horizon = max(n, ny)

    def fcf(rev: np.ndarray, prev: np.ndarray, margin: np.ndarray) -> np.ndarray:
        ebit = margin * rev
        return ebit - t * np.maximum(ebit, 0.0) + o * rev - w * (rev - prev)

    pv = np.zeros_like(r0)
    prev = r0
    for y in range(1, horizon + 1):
        rev = prev * (1 + (ge if y <= ny else g))
        share = 1.0 if n == 0 else min(y / n, 1.0)
        pv = pv + fcf(rev, prev, m0 + (m_star - m0) * share) * (1 + k) ** (-y)
        prev = rev
    nxt = prev * (1 + g)
    tv = np.maximum(fcf(nxt, prev, m_star), 0.0) / (k - g)
    return np.asarray(np.maximum(pv + tv * (1 + k) ** (-horizon), 0.0), dtype=float)


def post_horizon_value_scalar(
    rev0: float,
    margin0: float,
    other0: float,
    tax: float,
    rate: float,
    target_margin: float,
    reinvest: float,
    drivers: MidCycleDrivers,
) -> float:
    """:func:`post_horizon_value` of one element in Python floats: the same operations in
    the same order (IEEE-754 double arithmetic either way; ``max(x, 0.0)`` returns what
    ``np.maximum(x, 0.0)`` returns, NaN and -0.0 included), so the same value to the bit
    (tests/test_midcycle.py), without numpy's per-call cost on 0-d arrays (the price-implied
    root finding calls it ~12 times per firm and axis: 1,000 firms took ~5 s)."""
    k = float(rate)
    ge, g = float(drivers.revenue_growth), float(drivers.terminal_growth)
    if k <= g:
        raise ValueError("the discount rate must exceed the terminal growth")
    # None reads as NaN, as np.asarray(None, dtype=float) does
    r0, m0, o, t, m_star, w = (
        math.nan if x is None else float(x)
        for x in (rev0, margin0, other0, tax, target_margin, reinvest)
    )
    n, ny = drivers.reversion_years, drivers.growth_years
    horizon = max(n, ny)

    def fcf(rev: float, prev: float, margin: float) -> float:
        ebit = margin * rev
        return ebit - t * _max0(ebit) + o * rev - w * (rev - prev)

    pv = 0.0
    prev = r0
    for y in range(1, horizon + 1):
        rev = prev * (1 + (ge if y <= ny else g))
        share = 1.0 if n == 0 else min(y / n, 1.0)
        pv = pv + fcf(rev, prev, m0 + (m_star - m0) * share) * (1 + k) ** (-y)
        prev = rev
    nxt = prev * (1 + g)
    tv = _max0(fcf(nxt, prev, m_star)) / (k - g)
    return _max0(pv + tv * (1 + k) ** (-horizon))


def _max0(x: float) -> float:
    """``np.maximum(x, 0.0)`` for a float: x when x >= 0 or NaN (so -0.0 stays -0.0)."""
    return x if x >= 0.0 or x != x else 0.0


def terminal_frame(
    projection: pl.DataFrame,
    cases: pl.DataFrame,
    horizon: int,
    terminal: pl.DataFrame | None = None,
) -> pl.DataFrame:
    """Per case: the normalised horizon quarter (:func:`~stressmodel.model.quarter.terminal`)
    revenue, EBIT and working-capital release, the PV of the explicit FCF at no rate yet
    (left to the caller) and the firm parameters the mid-cycle DCF needs. ``terminal``:
    :func:`~stressmodel.analysis.valuation.terminal_quarter` of the same arguments, when
    the caller has it."""
    frame = terminal_quarter(projection, cases, horizon) if terminal is None else terminal
    rev_q0 = pl.col("f_revenue_export_q0") + pl.col("f_revenue_domestic_q0")
    return frame.select(
        *KEYS,
        (4.0 * pl.col("tv_revenue")).alias("mc_revenue0"),
        pl.when(pl.col("tv_revenue") > 1e-9)
        .then(pl.col("tv_ebit") / pl.col("tv_revenue"))
        .otherwise(None)
        .alias("mc_margin0"),
        pl.when(pl.col("tv_revenue") > 1e-9)
        .then(pl.col("f_depreciation") * (1 - pl.col("f_capex_to_da")) / pl.col("tv_revenue"))
        .otherwise(0.0)
        .alias("mc_other0"),
        pl.col("f_tax_rate").alias("mc_tax"),
        pl.when(rev_q0 > 1e-9)
        .then(
            pl.max_horizontal(
                (pl.col("f_receivables0") + pl.col("f_inventory0") - pl.col("f_payables0"))
                / (4.0 * rev_q0),
                pl.lit(0.0),
            )
        )
        .otherwise(0.0)
        .alias("mc_reinvest"),
        "tv_working_capital_release",
    )


def midcycle_dcf(
    projection: pl.DataFrame,
    cases: pl.DataFrame,
    firm_values: pl.DataFrame,
    margins: dict[str, float],
    rate: float,
    horizon: int,
    drivers: MidCycleDrivers,
    *,
    terminal: pl.DataFrame | None = None,
    pv: pl.DataFrame | None = None,
) -> pl.DataFrame:
    """Mid-cycle value per case: ``ticker, scenario, midcycle_margin, post_horizon_value,
    enterprise_value_midcycle, value_per_share_midcycle, value_status_midcycle``.

    ``firm_values``: ``ticker, shares, net_debt0``; ``margins``: ticker -> m*.
    ``terminal`` / ``pv``: as :func:`~stressmodel.analysis.valuation.dcf` takes them (the
    same frames serve both DCFs of the same cases)."""
    if pv is None:
        pv = present_value_fcf(projection, rate)
    frame = (
        terminal_frame(projection, cases, horizon, terminal)
        .join(pv, on=list(KEYS), how="left")
        .join(firm_values, on="ticker", how="left")
        .with_columns(
            pl.col("ticker")
            .replace_strict(margins, default=None, return_dtype=pl.Float64)
            .alias("midcycle_margin")
        )
        .sort(KEYS)
    )
    m_star = frame["midcycle_margin"].to_numpy()
    m0 = frame["mc_margin0"].fill_null(np.nan).to_numpy()
    m0 = np.where(np.isfinite(m0), m0, m_star)
    post = post_horizon_value(
        frame["mc_revenue0"].to_numpy(),
        m0,
        frame["mc_other0"].to_numpy(),
        frame["mc_tax"].to_numpy(),
        rate,
        m_star,
        frame["mc_reinvest"].to_numpy(),
        drivers,
    )
    d_h = discount_factor(rate, horizon)
    ev = frame["pv_fcf"].to_numpy() + d_h * (frame["tv_working_capital_release"].to_numpy() + post)
    equity = ev - frame["net_debt0"].to_numpy()
    shares = frame["shares"].fill_null(np.nan).to_numpy()
    ok = np.isfinite(shares) & (shares > 0) & np.isfinite(m_star)
    vps = np.where(ok, np.maximum(equity, 0.0) / np.where(ok, shares, 1.0), np.nan)
    status = np.where(
        ~np.isfinite(m_star),
        "n/a: no mid-cycle margin",
        np.where(
            ~ok,
            "n/a: no share count on or before the as-of date",
            np.where(
                equity < 0,
                "floored at 0: modelled equity value is negative (limited liability)",
                "ok",
            ),
        ),
    )
    return frame.select(*KEYS, "midcycle_margin").with_columns(
        pl.Series("post_horizon_value_midcycle", post),
        pl.Series("enterprise_value_midcycle", ev),
        pl.Series("value_per_share_midcycle", vps).fill_nan(None),
        pl.Series("value_status_midcycle", status),
    )


# --- what the price implies ------------------------------------------------------------------


def _solve(
    value: Callable[[float], float],
    price: float,
    lo: float,
    hi: float,
    step: float,
    what: str,
    values: Callable[[np.ndarray], np.ndarray] | None = None,
) -> tuple[float | None, str]:
    """x in [lo, hi] at which an increasing ``value(x)`` first reaches ``price``;
    ``values``: ``value`` over an array in one call (the grid scan)."""
    crossing = first_crossing(
        lambda s: -value(lo + s),
        -price,
        s_max=hi - lo,
        grid_step=step,
        f_grid=None if values is None else (lambda s: -values(lo + s)),
    )
    note = "" if crossing.monotone else " (value not monotone on the grid: first crossing)"
    if crossing.status == STATUS_BREACHED and crossing.shock is not None:
        return lo + crossing.shock, f"solved: mid-cycle value per share equals the price{note}"
    if crossing.status == STATUS_BREACHED_AT_ZERO:
        return (
            None,
            f"no {what} in [{lo:g}, {hi:g}] explains the price: it is below the value even at {lo:g}",
        )
    if crossing.status.startswith(STATUS_NOT_FINITE_PREFIX):
        return None, "n/a: value per share not defined"
    return (
        None,
        f"no {what} in [{lo:g}, {hi:g}] explains the price: it is above the value even at {hi:g}{note}",
    )


#: search ranges (fractions) of the price-implied axes
MARGIN_RANGE = (-0.2, 0.6, 0.01)
GROWTH_RANGE = (-0.3, 0.6, 0.01)
PERPETUAL_LOW, PERPETUAL_STEP = -0.1, 0.0025


def price_implied(
    projection: pl.DataFrame,
    cases: pl.DataFrame,
    firm_values: pl.DataFrame,
    margins: dict[str, float],
    prices: dict[str, float | None],
    rate: float,
    horizon: int,
    drivers: MidCycleDrivers,
) -> pl.DataFrame:
    """Per firm (one case each, the no-shock case): the mid-cycle value per share and
    the through-the-cycle margin, explicit revenue growth and perpetual growth at which
    it equals the price, each with a status."""
    pv = projection.group_by(KEYS).agg(
        (pl.col("fcf") * discount_factor(rate, pl.col("step"))).sum().alias("pv_fcf")
    )
    frame = (
        terminal_frame(projection, cases, horizon)
        .join(pv, on=list(KEYS), how="left")
        .join(firm_values, on="ticker", how="left")
    )
    d_h = float(discount_factor(rate, horizon))
    out = [
        _implied_row(r, prices.get(r["ticker"]), margins.get(r["ticker"]), rate, d_h, drivers)
        for r in frame.sort("ticker").iter_rows(named=True)
    ]
    schema = {
        "ticker": pl.String,
        "midcycle_margin": pl.Float64,
        "value_no_shock_midcycle": pl.Float64,
        "implied_midcycle_margin": pl.Float64,
        "implied_midcycle_margin_status": pl.String,
        "implied_revenue_growth_5y": pl.Float64,
        "implied_revenue_growth_5y_status": pl.String,
        "implied_perpetual_growth": pl.Float64,
        "implied_perpetual_growth_status": pl.String,
    }
    return pl.DataFrame(out, schema=schema).select(list(schema))


IMPLIED_AXES = ("implied_midcycle_margin", "implied_revenue_growth_5y", "implied_perpetual_growth")


def _implied_row(
    r: dict[str, Any],
    price: float | None,
    m_star: float | None,
    rate: float,
    d_h: float,
    drivers: MidCycleDrivers,
) -> dict[str, object]:
    """The three price-implied axes of one firm from its no-shock case ``r``."""
    m0 = r["mc_margin0"] if r["mc_margin0"] is not None else m_star
    shares = r["shares"]

    def vps(m: float | None, ge: float, g: float) -> float:
        if m is None or shares is None or shares <= 0:
            return float("nan")
        d = MidCycleDrivers(drivers.reversion_years, drivers.growth_years, ge, g)
        post = post_horizon_value_scalar(
            r["mc_revenue0"],
            m0 if m0 is not None else m,
            r["mc_other0"],
            r["mc_tax"],
            rate,
            m,
            r["mc_reinvest"],
            d,
        )
        ev = r["pv_fcf"] + d_h * (r["tv_working_capital_release"] + post)
        return max(ev - r["net_debt0"], 0.0) / shares

    def vps_grid(m: Any, ge: Any, g: Any) -> np.ndarray:
        """:func:`vps` over arrays (one of m, ge, g an array), element for element the
        same operations (called only where m, m0 and the share count are defined)."""
        post = post_horizon_value(
            r["mc_revenue0"],
            m0 if m0 is not None else m,
            r["mc_other0"],
            r["mc_tax"],
            rate,
            m,
            r["mc_reinvest"],
            drivers,
            revenue_growth=np.asarray(ge, dtype=float),
            terminal_growth=np.asarray(g, dtype=float),
        )
        ev = r["pv_fcf"] + d_h * (r["tv_working_capital_release"] + post)
        return np.asarray(np.maximum(ev - r["net_debt0"], 0.0) / shares, dtype=float)

    ge0, g0 = drivers.revenue_growth, drivers.terminal_growth
    row: dict[str, object] = {"ticker": r["ticker"], "midcycle_margin": m_star}
    v_mid = vps(m_star, ge0, g0)
    row["value_no_shock_midcycle"] = v_mid if np.isfinite(v_mid) else None
    if price is None or shares is None or shares <= 0 or m_star is None:
        why = (
            "n/a: no share price on or before the as-of date"
            if price is None
            else "n/a: no share count"
            if shares is None or shares <= 0
            else "n/a: no mid-cycle margin"
        )
        for c in IMPLIED_AXES:
            row[c], row[c + "_status"] = None, why
        return row
    lo, hi, st = MARGIN_RANGE
    row["implied_midcycle_margin"], row["implied_midcycle_margin_status"] = _solve(
        lambda m: vps(m, ge0, g0),
        price,
        lo,
        hi,
        st,
        "mid-cycle EBIT margin",
        lambda m: vps_grid(m, ge0, g0),
    )
    lo, hi, st = GROWTH_RANGE
    row["implied_revenue_growth_5y"], row["implied_revenue_growth_5y_status"] = _solve(
        lambda ge: vps(m_star, ge, g0),
        price,
        lo,
        hi,
        st,
        f"revenue growth over {drivers.growth_years} years",
        lambda ge: vps_grid(m_star, ge, g0),
    )
    row["implied_perpetual_growth"], row["implied_perpetual_growth_status"] = _solve(
        lambda g: vps(m_star, ge0, g),
        price,
        PERPETUAL_LOW,
        rate - PERPETUAL_STEP,
        PERPETUAL_STEP,
        "perpetual growth",
        lambda g: vps_grid(m_star, ge0, g),
    )
    return row
