"""Value per share under each scenario, and the price-implied export shock.

Discounted cash flow (methods.md section 8): unlevered free cash flow of every projected
quarter, discounted at ``(1 + k) ** (-t / 4)``, plus, at the horizon H, the cash released
as working capital returns to normal and a Gordon terminal value on the normalised
post-recovery quarter (:func:`stressmodel.model.quarter.terminal`):

    EV = sum_t FCF_t (1+k)^(-t/4) + (1+k)^(-H/4) [WC_release + max(0, 4 FCF_norm (1+g) / (k - g))]
    value per share = max(0, EV - (debt_0 - cash_0)) / shares

The terminal value is floored at zero (a business with negative normalised cash flow is
abandoned rather than run at a loss forever) and so is equity value (limited liability);
both floors are reported in ``value_status``.

Net debt and the share count are those of the as-of quarter.
"""

from __future__ import annotations

import bisect
import math
from collections.abc import Callable, Sequence

import numpy as np
import polars as pl

from stressmodel.model.engine import KEYS, PolarsOps
from stressmodel.model.quarter import ALL_FIRM_PARAMS, SCENARIO_PARAMS, terminal

TERMINAL_INPUTS = (
    "intensity",
    "export_reference_demand",
    "export_loss",
    "licence_delay",
    "demand_export",
    "demand_domestic",
    "price_export",
    "price_domestic",
    "unit_variable_cost",
    "held_fraction",
    "inventory_tonnes",
    "receivables",
    "payables",
)


def discount_factor(k: float, step: int | pl.Expr) -> float | pl.Expr:
    """(1 + k) ** (-step / 4): the discount factor of projected quarter ``step``."""
    if isinstance(step, pl.Expr):
        return pl.lit(1.0 + k).pow(-step.cast(pl.Float64) / 4.0)
    return (1.0 + k) ** (-step / 4.0)


def present_value_fcf(projection: pl.DataFrame, k: float) -> pl.DataFrame:
    """Per case (``ticker, scenario, pv_fcf``): the explicit quarters' free cash flow
    discounted at ``k`` (:func:`discount_factor`), CNY mn; one row per case, in no
    particular order (callers join it on the case keys)."""
    return projection.group_by(KEYS).agg(
        (pl.col("fcf") * discount_factor(k, pl.col("step"))).sum().alias("pv_fcf")
    )


def terminal_quarter(projection: pl.DataFrame, cases: pl.DataFrame, horizon: int) -> pl.DataFrame:
    """Per case: the horizon quarter's line items (``last_*``), the firm and scenario
    parameters (``f_*``, ``s_*``) and the normalised terminal quarter of
    :func:`~stressmodel.model.quarter.terminal` (``tv_*``), which both DCFs start from."""
    last = projection.filter(pl.col("step") == horizon).select(
        *KEYS, *[pl.col(c).alias(f"last_{c}") for c in TERMINAL_INPUTS]
    )
    params = cases.select(
        *KEYS, *[f"f_{p}" for p in ALL_FIRM_PARAMS], *[f"s_{p}" for p in SCENARIO_PARAMS]
    )
    frame = last.join(params, on=list(KEYS), how="left")
    ops = PolarsOps()
    terminal(
        ops,
        {p: pl.col(f"f_{p}") for p in ALL_FIRM_PARAMS},
        {p: pl.col(f"s_{p}") for p in SCENARIO_PARAMS},
        {c: pl.col(f"last_{c}") for c in TERMINAL_INPUTS},
    )
    for group in ops.levels():
        frame = frame.with_columns(group)
    return frame


def dcf(
    projection: pl.DataFrame,
    cases: pl.DataFrame,
    firm_values: pl.DataFrame,
    discount_rate: float,
    growth: float,
    horizon: int,
    *,
    terminal: pl.DataFrame | None = None,
    pv: pl.DataFrame | None = None,
) -> pl.DataFrame:
    """Enterprise and equity value per case.

    ``projection``: engine output; ``cases``: the case frame (f_ and s_ columns);
    ``firm_values``: ``ticker, shares, net_debt0`` (million shares, CNY mn).
    ``terminal`` / ``pv``: :func:`terminal_quarter` of (projection, cases, horizon) and
    :func:`present_value_fcf` of (projection, discount_rate) when the caller has them
    already (the mid-cycle DCF of the same cases reads the same two frames).
    Returns ``ticker, scenario, pv_fcf, tv_fcf, tv_working_capital_release, terminal_value,
    enterprise_value, equity_value, value_per_share`` (null with ``value_status`` when the
    share count is unknown or not positive).
    """
    k, g = discount_rate, growth
    if pv is None:
        pv = present_value_fcf(projection, k)
    frame = terminal_quarter(projection, cases, horizon) if terminal is None else terminal
    d_h = discount_factor(k, horizon)
    out = (
        frame.select(*KEYS, "tv_fcf", "tv_working_capital_release")
        .join(pv, on=list(KEYS), how="left")
        .join(firm_values, on="ticker", how="left")
        .with_columns(
            pl.max_horizontal(4.0 * pl.col("tv_fcf") * (1 + g) / (k - g), pl.lit(0.0)).alias(
                "terminal_value"
            )
        )
        .with_columns(
            (
                pl.col("pv_fcf")
                + d_h * (pl.col("tv_working_capital_release") + pl.col("terminal_value"))
            ).alias("enterprise_value")
        )
        .with_columns((pl.col("enterprise_value") - pl.col("net_debt0")).alias("equity_value"))
        .with_columns(
            pl.when(pl.col("shares").is_not_null() & (pl.col("shares") > 0))
            .then(pl.max_horizontal(pl.col("equity_value"), pl.lit(0.0)) / pl.col("shares"))
            .otherwise(None)
            .alias("value_per_share"),
            pl.when(pl.col("shares").is_null() | (pl.col("shares") <= 0))
            .then(pl.lit("n/a: no share count on or before the as-of date"))
            .when(pl.col("equity_value") < 0)
            .then(pl.lit("floored at 0: modelled equity value is negative (limited liability)"))
            .when(4.0 * pl.col("tv_fcf") * (1 + g) / (k - g) < 0)
            .then(pl.lit("terminal value floored at 0: normalised free cash flow is negative"))
            .otherwise(pl.lit("ok"))
            .alias("value_status"),
        )
    )
    return out.select(
        *KEYS,
        "pv_fcf",
        "tv_fcf",
        "tv_working_capital_release",
        "terminal_value",
        "enterprise_value",
        "equity_value",
        "value_per_share",
        "value_status",
    )


def dcf_arrays(
    fcf: np.ndarray,
    tv_fcf: np.ndarray,
    tv_working_capital_release: np.ndarray,
    net_debt0: np.ndarray,
    shares: np.ndarray,
    discount_rate: float,
    growth: float,
) -> np.ndarray:
    """Value per share of :func:`dcf` on numpy arrays, for callers that value many small
    case sets (the reverse stress test's bisection), where a polars frame per call costs
    more than the arithmetic.

    ``fcf``: quarters x cases (projected quarter t = 1..H in row t - 1); the other
    arguments one value per case (``tv_*`` from :func:`~stressmodel.model.quarter.terminal`,
    ``net_debt0`` and ``shares`` as in :func:`dcf`). Same formula, floors and operation
    order as :func:`dcf`; NaN where the share count is unknown or not positive.
    Agrees with :func:`dcf` to a few units in the last place (the summation order of the
    discounted cash flows may differ; tests/test_valuation.py)."""
    k, g = discount_rate, growth
    horizon = fcf.shape[0]
    pv = np.zeros(fcf.shape[1])
    for t in range(horizon):
        pv = pv + fcf[t] * discount_factor(k, t + 1)
    d_h = discount_factor(k, horizon)
    terminal_value = np.maximum(4.0 * tv_fcf * (1 + g) / (k - g), 0.0)
    ev = pv + d_h * (tv_working_capital_release + terminal_value)
    equity = ev - net_debt0
    ok = np.isfinite(shares) & (shares > 0)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(ok, np.maximum(equity, 0.0) / np.where(ok, shares, 1.0), np.nan)


# --- the closed-form reverse DCF of methods.md section 8.3 ---------------------------------


def annuity_factor(rate: float, years: int) -> float:
    """Present value of 1 a year for ``years`` years at ``rate``: (1 - (1+r)^-n) / r."""
    if rate == 0:
        return float(years)
    return (1 - (1 + rate) ** (-years)) / rate


def perpetuity_value(fcf1: float, rate: float, growth: float) -> float:
    """Gordon growth value FCF1 / (r - g); requires r > g."""
    if rate <= growth:
        raise ValueError("the discount rate must exceed the growth rate")
    return fcf1 / (rate - growth)


def shocked_ev_sum(
    fcf1: float,
    rate: float,
    growth: float,
    loss: float,
    shock: float,
    years: int,
    horizon: int = 400,
) -> float:
    """EV as an explicit sum over ``horizon`` years: FCF_t = FCF1 (1+g)^(t-1) minus
    ``loss * shock`` in each of the first ``years`` years (the brute-force check of the
    closed form)."""
    t = np.arange(1, horizon + 1, dtype=float)
    fcf = fcf1 * (1 + growth) ** (t - 1) - np.where(t <= years, loss * shock, 0.0)
    return float(np.sum(fcf * (1 + rate) ** (-t)))


def implied_shock_closed_form(
    fcf1: float, rate: float, growth: float, loss: float, years: int, market_ev: float
) -> float:
    """s* with EV(s*) = market EV for EV(s) = FCF1/(r - g) - loss s annuity(r, years)."""
    return (perpetuity_value(fcf1, rate, growth) - market_ev) / (loss * annuity_factor(rate, years))


def implied_growth(fcf1: float, rate: float, market_ev: float) -> float:
    """Perpetual growth the market EV implies at zero shock: g* = r - FCF1 / EV."""
    return rate - fcf1 / market_ev


def solve_bracketed(
    f: Callable[[float], float], lo: float, hi: float, xtol: float = 1e-10
) -> float:
    """Root of f on [lo, hi] with brentq (f(lo) and f(hi) of opposite signs)."""
    from scipy.optimize import brentq

    return float(brentq(f, lo, hi, xtol=xtol))


# --- peer multiples and a cross-sectional regression ----------------------------------------


def peer_multiples(rows: Sequence[dict[str, float | str | None]]) -> pl.DataFrame:
    """EV/EBITDA, P/E and P/B per firm from ``ticker, market_cap, net_debt, ebitda,
    net_income, book_equity``; a multiple is null with a status where its denominator is
    not positive."""
    out = []
    for r in rows:
        mc, nd, ebitda, ni, be = (
            r.get(k) for k in ("market_cap", "net_debt", "ebitda", "net_income", "book_equity")
        )

        def ratio(num: float | None, den: float | None, what: str) -> tuple[float | None, str]:
            if num is None or den is None:
                return None, f"n/a: {what} missing"
            if den <= 0:
                return None, f"n/a: non-positive {what}"
            return float(num) / float(den), "ok"

        ev = None if mc is None or nd is None else float(mc) + float(nd)  # type: ignore[arg-type]
        ev_ebitda, s1 = ratio(ev, ebitda, "EBITDA")  # type: ignore[arg-type]
        pe, s2 = ratio(mc, ni, "net income")  # type: ignore[arg-type]
        pb, s3 = ratio(mc, be, "book equity")  # type: ignore[arg-type]
        roe = None if be is None or ni is None or float(be) <= 0 else float(ni) / float(be)  # type: ignore[arg-type]
        out.append(
            {
                "ticker": r["ticker"],
                "ev_ebitda": ev_ebitda,
                "ev_ebitda_status": s1,
                "pe": pe,
                "pe_status": s2,
                "pb": pb,
                "pb_status": s3,
                "roe": roe,
            }
        )
    return pl.DataFrame(
        out,
        schema={
            "ticker": pl.String,
            "ev_ebitda": pl.Float64,
            "ev_ebitda_status": pl.String,
            "pe": pl.Float64,
            "pe_status": pl.String,
            "pb": pl.Float64,
            "pb_status": pl.String,
            "roe": pl.Float64,
        },
    )


def pb_roe_regression(multiples: pl.DataFrame) -> tuple[pl.DataFrame, str]:
    """OLS of P/B on ROE across peers with HC3 robust errors: warranted P/B per firm and
    the firm's residual (actual - warranted). Needs at least 4 firms with both figures.
    The fit is :func:`stressmodel.analysis.ols.ols_hc3` (statsmodels' arithmetic in numpy)."""
    from stressmodel.analysis.ols import ols_hc3

    data = multiples.filter(pl.col("pb").is_not_null() & pl.col("roe").is_not_null())
    if data.height < 4:
        return multiples.with_columns(
            pl.lit(None, pl.Float64).alias("pb_warranted"),
            pl.lit(None, pl.Float64).alias("pb_residual"),
        ), (f"n/a: P/B on ROE needs at least 4 firms with both figures, {data.height} have them")
    res = ols_hc3(data["roe"].to_numpy(), data["pb"].to_numpy())
    if res.rank < 2:
        return multiples.with_columns(
            pl.lit(None, pl.Float64).alias("pb_warranted"),
            pl.lit(None, pl.Float64).alias("pb_residual"),
        ), "n/a: P/B on ROE needs firms with different ROE"
    a, b = res.intercept, res.slope
    se_b = res.slope_se
    out = multiples.with_columns(
        pl.when(pl.col("roe").is_not_null())
        .then(a + b * pl.col("roe"))
        .otherwise(None)
        .alias("pb_warranted")
    ).with_columns((pl.col("pb") - pl.col("pb_warranted")).alias("pb_residual"))
    note = f"P/B = {a:.3f} + {b:.3f} x ROE (HC3 s.e. of slope {se_b:.3f}, n = {data.height}, R2 = {res.rsquared:.3f})"
    if not math.isfinite(se_b):
        note += "; standard error not finite"
    return out, note


def leave_one_out_medians(values: Sequence[float | None]) -> list[float | None]:
    """Per position i, ``np.median`` of the non-null values at every other position (None
    when there are none), to the bit: from one sorted copy, the middle of the sorted values
    with one occurrence of ``values[i]`` left out (the mean of the two middle ones, (a + b)
    / 2 as numpy takes it, for an even count). O(n log n) where a median per firm is
    O(n^2): 10,000 firms' cross-checks took 50 s. Values holding a NaN take numpy's path."""
    present = [v for v in values if v is not None]
    if any(math.isnan(v) for v in present):
        return [
            float(np.median(o))
            if (o := [v for j, v in enumerate(values) if j != i and v is not None])
            else None
            for i in range(len(values))
        ]
    s = sorted(present)
    k = len(s)

    def middle(drop: int | None) -> float | None:
        n = k - (drop is not None)
        if n == 0:
            return None

        def at(j: int) -> float:
            return s[j] if drop is None or j < drop else s[j + 1]

        if n % 2:
            return float(at(n // 2))
        return float((at(n // 2 - 1) + at(n // 2)) / 2)

    whole = middle(None)
    return [whole if v is None else middle(bisect.bisect_left(s, v)) for v in values]


def cross_checks(
    firm_rows: Sequence[dict[str, float | str | bool | None]],
) -> tuple[pl.DataFrame, str]:
    """Peer-multiple cross-checks of value per share at the as-of quarter.

    ``firm_rows``: per firm ``ticker, market_cap, net_debt, ebitda, net_income,
    book_equity, shares`` and ``book_equity_estimated`` (True when the book equity is a
    fallback estimate). Per firm: its EV/EBITDA, P/E and P/B; the median of each multiple
    over the OTHER firms (leave-one-out, so a firm is not valued on itself); the value per
    share those medians imply; and from an OLS of P/B on ROE across the firms whose book
    equity is reported or derived (not estimated), with HC3 robust errors, the warranted
    P/B and the residual (actual - warranted). Returns the frame and the regression note.
    """
    mult = peer_multiples(
        [
            {
                k: r.get(k)
                for k in ("ticker", "market_cap", "net_debt", "ebitda", "net_income", "book_equity")
            }
            for r in firm_rows
        ]
    )
    extra = pl.DataFrame(
        {
            "ticker": [r["ticker"] for r in firm_rows],
            "shares": [r.get("shares") for r in firm_rows],
            "net_debt": [r.get("net_debt") for r in firm_rows],
            "ebitda": [r.get("ebitda") for r in firm_rows],
            "net_income": [r.get("net_income") for r in firm_rows],
            "book_equity": [r.get("book_equity") for r in firm_rows],
            "book_equity_estimated": [bool(r.get("book_equity_estimated")) for r in firm_rows],
        },
        schema={
            "ticker": pl.String,
            "shares": pl.Float64,
            "net_debt": pl.Float64,
            "ebitda": pl.Float64,
            "net_income": pl.Float64,
            "book_equity": pl.Float64,
            "book_equity_estimated": pl.Boolean,
        },
    )
    df = mult.join(extra, on="ticker", how="left")
    medians: dict[str, list[float | None]] = {}
    for m in ("ev_ebitda", "pe", "pb"):
        medians[m] = leave_one_out_medians(df[m].to_list())
    df = df.with_columns(
        pl.Series("peer_median_ev_ebitda", medians["ev_ebitda"], dtype=pl.Float64),
        pl.Series("peer_median_pe", medians["pe"], dtype=pl.Float64),
        pl.Series("peer_median_pb", medians["pb"], dtype=pl.Float64),
    )
    ok = pl.col("shares").is_not_null() & (pl.col("shares") > 0)
    df = df.with_columns(
        pl.when(ok & (pl.col("ebitda") > 0))
        .then(
            (pl.col("peer_median_ev_ebitda") * pl.col("ebitda") - pl.col("net_debt"))
            / pl.col("shares")
        )
        .otherwise(None)
        .alias("implied_vps_ev_ebitda"),
        pl.when(ok & (pl.col("net_income") > 0))
        .then(pl.col("peer_median_pe") * pl.col("net_income") / pl.col("shares"))
        .otherwise(None)
        .alias("implied_vps_pe"),
        pl.when(ok & (pl.col("book_equity") > 0))
        .then(pl.col("peer_median_pb") * pl.col("book_equity") / pl.col("shares"))
        .otherwise(None)
        .alias("implied_vps_pb"),
    )
    reg_input = df.with_columns(
        pl.when(pl.col("book_equity_estimated")).then(None).otherwise(pl.col("pb")).alias("pb"),
        pl.when(pl.col("book_equity_estimated")).then(None).otherwise(pl.col("roe")).alias("roe"),
    )
    fitted, note = pb_roe_regression(reg_input.select("ticker", "pb", "roe"))
    df = df.join(fitted.select("ticker", "pb_warranted"), on="ticker", how="left").with_columns(
        (pl.col("pb") - pl.col("pb_warranted")).alias("pb_residual"),
        pl.when(pl.col("book_equity_estimated"))
        .then(pl.lit("n/a: book equity is an estimate; left out of the regression"))
        .when(pl.col("pb_warranted").is_null())
        .then(pl.lit(note if note.startswith("n/a") else "n/a: P/B or ROE not defined"))
        .otherwise(pl.lit("ok"))
        .alias("pb_regression_status"),
    )
    return df, note
