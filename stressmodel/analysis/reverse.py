"""The reverse stress test: which permanent export shock breaks each firm, and which one
today's share price implies (methods.md section 8).

For every firm, with a permanent export shock s from the next quarter (the
``[reverse_stress]`` template of scenarios.toml), three metrics are solved for the s at
which they cross their threshold:

- value per share = the market price (the price-implied shock), also at the discount
  rate +/- the sensitivity width;
- minimum net cash (cash less revolving draws) = minimum operating cash (the first
  revolving draw within the horizon);
- minimum quarterly interest cover = 1.

Each metric falls as s rises. The solver evaluates s = 0 and s = 1 for every firm, then
bisects all (firm, metric) pairs with one vectorised projection per iteration.
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import polars as pl

from stressmodel.analysis.rootfind import bisect_vectorised
from stressmodel.analysis.valuation import dcf
from stressmodel.inputs.scenarios import ScenarioSet
from stressmodel.model.cases import per_firm_case_frame, scenario_frame
from stressmodel.model.engine import KEYS, project

XTOL = 1e-10
METRICS = ("value", "value_low_rate", "value_high_rate", "cash", "icr")


def _evaluate(
    firms: pl.DataFrame,
    firm_values: pl.DataFrame,
    prices: dict[str, float | None],
    shocks: np.ndarray,
    metric: list[str],
    scenarios: ScenarioSet,
    as_of: int,
    horizon: int,
    rate: float,
    width: float,
    growth: float,
) -> np.ndarray:
    """Metric minus threshold for each (firm row, metric) pair at its shock."""
    n = firms.height
    sc = [scenarios.reverse_scenario(float(s), horizon, name=f"r{i}") for i, s in enumerate(shocks)]
    scen = scenario_frame(sc, as_of, horizon, None)
    cases = per_firm_case_frame(firms, scen)
    quarters = [f"q{k}" for k in range(1, horizon + 1)]
    proj = project(cases, horizon, quarters, as_of + 1)
    out = np.full(n, np.nan)
    tick = firms["ticker"].to_list()
    names = scen["scenario"].to_list()
    idx = {(t, s): i for i, (t, s) in enumerate(zip(tick, names, strict=True))}
    need_value = {m for m in metric if m.startswith("value")}
    for m, r in (
        ("value", rate),
        ("value_low_rate", rate - width),
        ("value_high_rate", rate + width),
    ):
        if m not in need_value:
            continue
        val = dcf(proj, cases, firm_values, r, growth, horizon)
        for row in val.iter_rows(named=True):
            i = idx[(row["ticker"], row["scenario"])]
            if metric[i] == m:
                price = prices.get(row["ticker"])
                vps = row["value_per_share"]
                out[i] = np.nan if (price is None or vps is None) else vps - price
    agg = proj.group_by(KEYS).agg(
        ((pl.col("cash") - pl.col("revolver")).min()).alias("min_net_cash"),
        (pl.col("ebit") / pl.col("interest_expense"))
        .filter(pl.col("interest_expense") > 1e-9)
        .min()
        .alias("min_icr"),
        pl.col("interest_expense").min().alias("min_interest"),
    )
    min_cash = dict(zip(firms["ticker"].to_list(), firms["f_min_cash"].to_list(), strict=True))
    for row in agg.iter_rows(named=True):
        i = idx[(row["ticker"], row["scenario"])]
        if metric[i] == "cash":
            out[i] = row["min_net_cash"] - min_cash[row["ticker"]]
        elif metric[i] == "icr":
            out[i] = (
                np.nan
                if row["min_icr"] is None or row["min_interest"] <= 1e-9
                else row["min_icr"] - 1.0
            )
    return out


def reverse_stress(
    firms: pl.DataFrame,
    firm_values: pl.DataFrame,
    prices: dict[str, float | None],
    price_dates: dict[str, str | None],
    scenarios: ScenarioSet,
    as_of: int,
    horizon: int,
    rate: float,
    width: float,
    growth: float,
) -> pl.DataFrame:
    """One row per firm: value without a shock, the shocks at which each metric crosses
    its threshold, and a status per metric."""
    tickers = firms["ticker"].to_list()
    pairs = [(t, m) for t in tickers for m in METRICS]
    rows = pl.concat([firms.filter(pl.col("ticker") == t) for t, _m in pairs]) if pairs else firms
    metric = [m for _t, m in pairs]

    def g(s: np.ndarray) -> np.ndarray:
        return _evaluate(
            rows, firm_values, prices, s, metric, scenarios, as_of, horizon, rate, width, growth
        )

    at0 = g(np.zeros(len(pairs)))
    at1 = g(np.ones(len(pairs)))
    solvable = np.isfinite(at0) & np.isfinite(at1) & (at0 >= 0) & (at1 < 0)
    lo, hi = np.zeros(len(pairs)), np.where(solvable, 1.0, 0.0)
    roots = (
        bisect_vectorised(g, lo, hi, xtol=XTOL) if solvable.any() else np.full(len(pairs), np.nan)
    )
    # the value at zero shock, for the report
    base_vals = _evaluate(
        rows,
        firm_values,
        {t: 0.0 for t in tickers},
        np.zeros(len(pairs)),
        ["value"] * len(pairs),
        scenarios,
        as_of,
        horizon,
        rate,
        width,
        growth,
    )
    result: dict[str, dict[str, object]] = {t: {"ticker": t} for t in tickers}
    for i, (t, m) in enumerate(pairs):
        r = result[t]
        if m == "value":
            r["value_no_shock"] = float(base_vals[i]) if np.isfinite(base_vals[i]) else None
        shock, status = _classify(
            m, at0[i], at1[i], roots[i], solvable[i], prices.get(t), base_vals[i]
        )
        r[_column(m)] = shock
        r[_column(m) + "_status"] = status
    growth_at_price = implied_growth(
        firms, firm_values, prices, scenarios, as_of, horizon, rate, growth
    )
    out = []
    for t in tickers:
        r = result[t]
        r["implied_growth"], r["implied_growth_status"] = growth_at_price.get(t, (None, "n/a"))
        r["share_price"] = prices.get(t)
        r["price_date"] = price_dates.get(t)
        r["status"] = r.pop("implied_export_shock_status")
        out.append(r)
    schema = {
        "ticker": pl.String,
        "share_price": pl.Float64,
        "price_date": pl.String,
        "value_no_shock": pl.Float64,
        "implied_export_shock": pl.Float64,
        "shock_cash_breaks": pl.Float64,
        "shock_icr_below_1": pl.Float64,
        "status": pl.String,
        "shock_cash_breaks_status": pl.String,
        "shock_icr_below_1_status": pl.String,
        "implied_shock_low_rate": pl.Float64,
        "implied_shock_low_rate_status": pl.String,
        "implied_shock_high_rate": pl.Float64,
        "implied_shock_high_rate_status": pl.String,
        "implied_growth": pl.Float64,
        "implied_growth_status": pl.String,
    }
    return pl.DataFrame(out, schema=schema).select(list(schema))


def _column(metric: str) -> str:
    return {
        "value": "implied_export_shock",
        "value_low_rate": "implied_shock_low_rate",
        "value_high_rate": "implied_shock_high_rate",
        "cash": "shock_cash_breaks",
        "icr": "shock_icr_below_1",
    }[metric]


def _classify(
    metric: str, f0: float, f1: float, root: float, solvable: bool, price: float | None, v0: float
) -> tuple[float | None, str]:
    if metric.startswith("value"):
        if price is None:
            return None, "n/a: no share price on or before the as-of date"
        if not np.isfinite(f0):
            return None, "n/a: no value per share (no share count)"
        if solvable and np.isfinite(root):
            return float(root), "solved: value per share equals the price"
        if f0 < 0:
            gap = (price / v0 - 1) if v0 > 0 else float("inf")
            gap_text = f"{gap:.1%}" if np.isfinite(gap) else "infinitely (value is zero)"
            return (
                None,
                f"no shock in [0, 1] explains the price: it is above even the no-shock value by {gap_text}",
            )
        return (
            None,
            "no shock in [0, 1] explains the price: it is below the value even with all exports lost for good",
        )
    if metric == "cash":
        if not np.isfinite(f0):
            return None, "n/a"
        if f0 < 0:
            return 0.0, "breached at s = 0: a revolving draw is needed even without a shock"
        if solvable and np.isfinite(root):
            return float(root), "solved: first revolving draw within the horizon"
        return None, "not breached: no revolving draw within the horizon even with all exports lost"
    if not np.isfinite(f0):
        return None, "n/a: no interest expense (no debt)"
    if f0 < 0:
        return 0.0, "breached at s = 0: interest cover below 1 even without a shock"
    if solvable and np.isfinite(root):
        return float(root), "solved: interest cover first falls below 1"
    if not np.isfinite(f1):
        return None, "n/a: interest cover undefined under the full shock"
    return None, "not breached: interest cover stays at or above 1 even with all exports lost"


def plug_back(
    firms: pl.DataFrame,
    firm_values: pl.DataFrame,
    scenarios: ScenarioSet,
    as_of: int,
    horizon: int,
    rate: float,
    growth: float,
    shocks: dict[str, float],
) -> dict[str, float]:
    """Value per share of each firm at its solved shock (the plug-back check)."""
    tick = [t for t in firms["ticker"].to_list() if t in shocks]
    rows = firms.filter(pl.col("ticker").is_in(tick))
    sc = [
        replace(scenarios.reverse_scenario(shocks[t], horizon), name=f"r{i}")
        for i, t in enumerate(rows["ticker"].to_list())
    ]
    cases = per_firm_case_frame(rows, scenario_frame(sc, as_of, horizon, None))
    proj = project(cases, horizon, [f"q{k}" for k in range(1, horizon + 1)], as_of + 1)
    val = dcf(proj, cases, firm_values, rate, growth, horizon)
    return {r["ticker"]: r["value_per_share"] for r in val.iter_rows(named=True)}


def implied_growth(
    firms: pl.DataFrame,
    firm_values: pl.DataFrame,
    prices: dict[str, float | None],
    scenarios: ScenarioSet,
    as_of: int,
    horizon: int,
    rate: float,
    growth: float,
) -> dict[str, tuple[float | None, str]]:
    """Perpetual growth of normalised free cash flow after the horizon at which the
    no-shock value equals the price (methods.md 8.3 step 4), in closed form:
    with A = price x shares + net debt - PV(FCF) - d_H WC_release and
    B = A / (4 FCF_norm d_H), the Gordon term 4 FCF_norm (1+g)/(k-g) = A/d_H gives
    g* = (B k - 1) / (1 + B)."""
    tick = firms["ticker"].to_list()
    sc = [replace(scenarios.reverse_scenario(0.0, horizon), name=f"g{i}") for i in range(len(tick))]
    cases = per_firm_case_frame(firms, scenario_frame(sc, as_of, horizon, None))
    proj = project(cases, horizon, [f"q{k}" for k in range(1, horizon + 1)], as_of + 1)
    val = dcf(proj, cases, firm_values, rate, growth, horizon).join(
        firm_values, on="ticker", how="left"
    )
    d_h = (1 + rate) ** (-horizon / 4)
    out: dict[str, tuple[float | None, str]] = {}
    for r in val.iter_rows(named=True):
        t, price, shares = r["ticker"], prices.get(r["ticker"]), r["shares"]
        if price is None or shares is None:
            out[t] = (None, "n/a: no price or share count")
            continue
        if r["tv_fcf"] <= 0:
            out[t] = (
                None,
                "n/a: normalised free cash flow is not positive, no growth rate reproduces the price",
            )
            continue
        a = price * shares + r["net_debt0"] - r["pv_fcf"] - d_h * r["tv_working_capital_release"]
        if a <= 0:
            out[t] = (None, "n/a: the price is below the value of the horizon cash flows alone")
            continue
        b = a / (4 * r["tv_fcf"] * d_h)
        out[t] = ((b * rate - 1) / (1 + b), "solved: no-shock value equals the price")
    return out
