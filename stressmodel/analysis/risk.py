"""Distress metrics on the projection, per quarter and per case, and for the last actual
period (methods.md sections 1-7).

Annual flows for the annual models are trailing four quarters of the projection; the
quarters before the first projected one are the base-period run-rate (so the baseline
is a steady state). Choices the data force, stated once here and in the outputs:

- Retained earnings for Altman's X2: the opening balance of
  :func:`stressmodel.model.retained.opening_retained_earnings` (reported, or a labelled
  estimate) plus the net income of the projected quarters.
- Ohlson: total assets in US dollars at the latest CNY/USD rate on or before the as-of
  date, deflated by the US GDP deflator (1968 = 100) of the prior year; CFO is the funds
  from operations proxy.
- Distance to default under a scenario: the market value of the firm's assets
  (market cap + the baseline default point) moves in proportion to the modelled
  enterprise value (the mid-cycle EV where the valuation gives it, else the trailing
  one), A_s = (E + F_baseline) x EV_s / EV_baseline, and the stressed equity is
  what is left above the scenario's default point, E_s = A_s - F_s (the default point is
  the worst over the horizon: short-term debt + revolver + half of long-term debt). Where
  the baseline EV is not positive the equity moves by the modelled change in equity value
  instead (E_s = E + shares x (V_s - V_baseline)). Asset volatility is held at its as-of
  value (a property of the business, not of the scenario), which keeps DD monotone in
  the shock.
"""

from __future__ import annotations

import math

import polars as pl

from stressmodel.analysis import distress as D
from stressmodel.inputs.periods import quarter_end_date
from stressmodel.model.base import BaseSet
from stressmodel.model.engine import KEYS

ANNUALISED = ("ebit", "ebitda", "net_income", "cfo", "revenue", "interest_expense")


def base_quarter_frame(
    bases: BaseSet, tickers: list[str], retained: dict[str, float] | None = None
) -> pl.DataFrame:
    """Per firm: the model's steady-state quarter (run-rate) values of the annualised
    flows, as-of market data used by the risk models and the opening retained earnings
    (``retained``: ticker -> CNY mn; 0 where not given)."""
    retained = retained or {}
    rows = []
    for t in tickers:
        fb = bases.firms[t]
        p = fb.params
        R0 = p["revenue_export_q0"] + p["revenue_domestic_q0"]
        cogs = p["unit_variable_cost0"] * p["normal_production"] + p["fixed_overhead"]
        ebit = R0 - cogs - p["opex"]
        interest = p["interest_rate"] / 4 * (p["st_debt0"] + p["lt_debt0"])
        ebt = ebit - interest
        ni = ebt - p["tax_rate"] * max(ebt, 0.0)
        rows.append(
            {
                "ticker": t,
                "base_revenue": R0,
                "base_ebit": ebit,
                "base_ebitda": ebit + p["depreciation"],
                "base_net_income": ni,
                "base_cfo": ni + p["depreciation"],
                "base_interest_expense": interest,
                "base_retained_earnings": retained.get(t, 0.0),
                "market_cap": fb.get("market_cap"),
                "shares": fb.get("shares"),
                "equity_volatility": fb.get("equity_volatility"),
                "past_year_return": fb.get("past_year_return"),
            }
        )
    return pl.DataFrame(
        rows,
        schema={
            "ticker": pl.String,
            **{
                k: pl.Float64
                for k in (
                    "base_revenue",
                    "base_ebit",
                    "base_ebitda",
                    "base_net_income",
                    "base_cfo",
                    "base_interest_expense",
                    "base_retained_earnings",
                    "market_cap",
                    "shares",
                    "equity_volatility",
                    "past_year_return",
                )
            },
        },
    )


NO_MATERIAL_DEBT = "n/a: no material debt"


def fx_and_deflator(bases: BaseSet, sector: object) -> tuple[float, float, str]:
    """CNY per USD on or before the as-of date and the prior-year deflator (1968 = 100)."""
    end = quarter_end_date(bases.as_of)
    fx_pt = sector.point_on_or_before("cny_per_usd", end)  # type: ignore[attr-defined]
    if fx_pt is None:
        pts = sector.params["cny_per_usd"].points  # type: ignore[attr-defined]
        fx_pt = min(pts, key=lambda p: p[0])
        fx_note = f"CNY/USD {fx_pt[1]} of {fx_pt[0]} (no rate on or before the as-of date)"
    else:
        fx_note = f"CNY/USD {fx_pt[1]} of {fx_pt[0]}"
    deflator, d_note = sector.deflator_index_1968(end.year - 1)  # type: ignore[attr-defined]
    return float(fx_pt[1]), deflator, f"{fx_note}; {d_note} rebased 1968 = 100: {deflator:.2f}"


def quarter_metrics(
    projection: pl.DataFrame,
    base_q: pl.DataFrame,
    fx: float,
    deflator: float,
    material: tuple[float, float] | None = None,
) -> pl.DataFrame:
    """Add trailing-four-quarter flows and per-quarter distress metrics to the projection."""
    df = projection.join(base_q, on="ticker", how="left")
    order = pl.col("step")
    ttm = []
    for c in ANNUALISED:
        pre = (4 - pl.col("step")).clip(lower_bound=0).cast(pl.Float64) * pl.col(f"base_{c}")
        ttm.append(
            (pl.col(c).rolling_sum(4, min_samples=1).over(KEYS, order_by=order) + pre).alias(
                f"{c}_ttm"
            )
        )
    df = df.with_columns(ttm)
    df = df.with_columns(
        pl.col("net_income_ttm")
        .shift(4)
        .over(KEYS, order_by=order)
        .fill_null(4 * pl.col("base_net_income"))
        .alias("net_income_ttm_prev"),
        (
            pl.col("base_retained_earnings")
            + pl.col("net_income").cum_sum().over(KEYS, order_by=order)
        ).alias("retained_earnings"),
        (pl.col("current_assets") - pl.col("current_liabilities")).alias("working_capital"),
        (pl.col("total_debt") - pl.col("cash")).alias("net_debt"),
    )
    return solvency_scores(
        df, fx, deflator, ebit="ebit", interest="interest_expense", material=material
    )


def solvency_scores(
    df: pl.DataFrame,
    fx: float,
    deflator: float,
    *,
    ebit: str,
    interest: str,
    material: tuple[float, float] | None = None,
    debt: str = "total_debt",
) -> pl.DataFrame:
    """Interest cover (``ebit`` / ``interest``), Altman Z'' and its zone, the Ohlson O-score
    and probability, and net debt / EBITDA, on a frame with the balance-sheet columns
    (``working_capital``, ``retained_earnings``, ``equity``, ``total_liabilities``,
    ``total_assets``, ``current_assets``, ``current_liabilities``, ``net_debt``) and the
    trailing-twelve-month flows (``ebit_ttm``, ``ebitda_ttm``, ``net_income_ttm``,
    ``net_income_ttm_prev``, ``cfo_ttm``). The same definitions serve the projected quarters
    and the last actual period.

    ``material``: (debt share of assets, annual interest floor in CNY mn) below which the
    firm has no material debt and interest cover is ``n/a: no material debt`` (sector.toml
    ``material_debt_share_of_assets`` and ``material_interest_floor``)."""
    icr = D.interest_cover(ebit, interest)
    z = D.altman_z_double_prime(
        "working_capital",
        "retained_earnings",
        "ebit_ttm",
        "equity",
        "total_liabilities",
        "total_assets",
    )
    size = D.ohlson_size("total_assets", fx, deflator)
    nd = D.net_debt_to_ebitda("net_debt", "ebitda_ttm")
    icr_value, icr_status = icr.value, icr.status
    if material is not None:
        share, floor = material
        none = (pl.col(debt) < share * pl.col("total_assets")) | (4 * pl.col(interest) < floor)
        icr_value = pl.when(none).then(pl.lit(None, dtype=pl.Float64)).otherwise(icr_value)
        icr_status = pl.when(none).then(pl.lit(NO_MATERIAL_DEBT)).otherwise(icr_status)
    df = df.with_columns(
        icr_value.alias("interest_cover"),
        icr_status.alias("interest_cover_status"),
        z.value.alias("altman_z"),
        z.status.alias("altman_z_status"),
        size.value.alias("ohlson_size"),
        nd.value.alias("net_debt_to_ebitda"),
        nd.status.alias("net_debt_to_ebitda_status"),
    )
    o = D.ohlson_o_score(
        "ohlson_size",
        "total_liabilities",
        "total_assets",
        "working_capital",
        "current_liabilities",
        "current_assets",
        "net_income_ttm",
        "net_income_ttm_prev",
        "cfo_ttm",
    )
    return df.with_columns(o.value.alias("ohlson_o"), o.status.alias("ohlson_status")).with_columns(
        D.ohlson_probability("ohlson_o").alias("ohlson_probability"),
        D.altman_zone_double_prime("altman_z").alias("altman_zone"),
    )


def case_metrics(qm: pl.DataFrame, valuation: pl.DataFrame, horizon: int) -> pl.DataFrame:
    """Per case: worst values over the horizon, runway and distance to default."""
    agg = qm.group_by(KEYS).agg(
        (pl.col("cash") - pl.col("revolver")).min().alias("min_cash"),
        pl.col("step").filter(pl.col("revolver_draw") > 1e-9).min().alias("cash_runway_quarters"),
        pl.col("interest_cover").min().alias("min_interest_cover"),
        pl.col("interest_cover_status")
        .filter(pl.col("interest_cover_status") != "ok")
        .first()
        .alias("interest_cover_issue"),
        pl.col("altman_z").min().alias("altman_z"),
        pl.col("ohlson_probability").max().alias("ohlson_probability"),
        pl.col("net_debt_to_ebitda")
        .filter(pl.col("step") == horizon)
        .first()
        .alias("net_debt_to_ebitda"),
        pl.col("net_debt_to_ebitda_status")
        .filter(pl.col("step") == horizon)
        .first()
        .alias("net_debt_to_ebitda_status"),
        (pl.col("st_debt") + pl.col("revolver") + 0.5 * pl.col("lt_debt"))
        .max()
        .alias("default_point"),
        pl.col("revenue").filter(pl.col("step") <= 4).sum().alias("revenue_first_year"),
        pl.col("market_cap").first(),
        pl.col("shares").first(),
        pl.col("equity_volatility").first(),
        pl.col("past_year_return").first(),
    )
    extra = [c for c in ("enterprise_value", "enterprise_value_midcycle") if c in valuation.columns]
    out = agg.join(
        valuation.select(*KEYS, "value_per_share", "value_status", *extra),
        on=list(KEYS),
        how="left",
    )
    out = out.with_columns(
        D.altman_zone_double_prime("altman_z").alias("altman_zone"),
        pl.when(pl.col("cash_runway_quarters").is_null())
        .then(pl.lit(f"no revolving draw within {horizon} quarters"))
        .otherwise(
            pl.format(
                "first revolving draw in projected quarter {}", pl.col("cash_runway_quarters")
            )
        )
        .alias("runway_status"),
        pl.when(pl.col("min_interest_cover").is_not_null())
        .then(pl.lit("ok"))
        .otherwise(pl.col("interest_cover_issue").fill_null("n/a"))
        .alias("interest_cover_status"),
    ).drop("interest_cover_issue")
    return out


def distance_to_default(cases: pl.DataFrame, base_scenario: str = "baseline") -> pl.DataFrame:
    """Naive DD and PD per case (see module docstring for the stressed inputs)."""
    ev_col = next(
        (c for c in ("enterprise_value_midcycle", "enterprise_value") if c in cases.columns), None
    )
    vb = cases.filter(pl.col("scenario") == base_scenario).select(
        "ticker",
        pl.col("value_per_share").alias("vps_base"),
        pl.col("default_point").alias("f_base"),
        (pl.col(ev_col) if ev_col else pl.lit(None, pl.Float64)).alias("ev_base"),
    )
    df = cases.join(vb, on="ticker", how="left")
    e0, f0, se = pl.col("market_cap"), pl.col("f_base"), pl.col("equity_volatility")
    sigma_d = 0.05 + 0.25 * se
    sigma_v0 = e0 / (e0 + f0) * se + f0 / (e0 + f0) * sigma_d
    ev_s = pl.col(ev_col) if ev_col else pl.lit(None, pl.Float64)
    proportional = pl.col("ev_base").is_not_null() & (pl.col("ev_base") > 0) & ev_s.is_not_null()
    ratio = pl.when(proportional).then(pl.max_horizontal(ev_s, pl.lit(0.0)) / pl.col("ev_base"))
    e_s = (
        pl.when(proportional)
        .then((e0 + f0) * pl.col("asset_value_ratio") - pl.col("default_point"))
        .otherwise(
            e0
            + pl.col("shares")
            * (pl.col("value_per_share").fill_null(0.0) - pl.col("vps_base").fill_null(0.0))
        )
    )
    df = df.with_columns(
        ratio.alias("asset_value_ratio"),
        pl.when(proportional)
        .then(pl.lit(f"market assets x {ev_col} / baseline {ev_col}" if ev_col else ""))
        .otherwise(pl.lit("market equity + shares x (value per share - baseline value per share)"))
        .alias("asset_value_basis"),
    )
    df = df.with_columns(
        sigma_v0.alias("asset_volatility"),
        e_s.alias("stressed_equity"),
        (e_s + pl.col("default_point")).alias("stressed_asset_value"),
    )
    df = df.with_columns(
        ((1 + pl.col("past_year_return")) * pl.col("stressed_equity") / e0 - 1).alias(
            "stressed_return"
        )
    )
    f = pl.col("default_point")
    sv = pl.col("asset_volatility")
    dd_value = (
        ((pl.col("stressed_equity") + f) / f).log() + (pl.col("stressed_return") - sv.pow(2) / 2)
    ) / sv
    status = (
        pl.when(pl.col("market_cap").is_null() | (pl.col("market_cap") <= 0))
        .then(pl.lit("n/a: no market value of equity on or before the as-of date"))
        .when(f <= 1e-9)
        .then(pl.lit("n/a: no debt (default point is zero); PD taken as 0"))
        .when(pl.col("stressed_equity") <= 0)
        .then(pl.lit("n/a: stressed equity value exhausted; PD taken as 1"))
        .otherwise(pl.lit("ok"))
    )
    df = df.with_columns(status.alias("dd_status"))
    ok = pl.col("dd_status") == "ok"
    df = df.with_columns(pl.when(ok).then(dd_value).otherwise(None).alias("distance_to_default"))
    return df.with_columns(
        pl.when(ok)
        .then(D.norm_cdf(-pl.col("distance_to_default")))
        .when(pl.col("dd_status").str.contains("PD taken as 0"))
        .then(0.0)
        .when(pl.col("dd_status").str.contains("PD taken as 1"))
        .then(1.0)
        .otherwise(None)
        .alias("default_probability")
    ).drop("vps_base", "f_base", "ev_base")


def debt_at_risk_by_scenario(qm: pl.DataFrame, opening_debt: pl.DataFrame) -> pl.DataFrame:
    """Debt at risk per scenario by the IMF/ECB method (methods.md section 7): the share of
    debt held by firms whose interest cover on trailing four quarters (EBIT TTM / interest
    TTM; quarters before the first projected one at the base run-rate) falls below 1 in
    some projected quarter, weighted by each firm's debt at the as-of quarter
    (``opening_debt``: ticker, debt) so that the share moves with interest cover, not
    with debt growth.

    Columns of :func:`stressmodel.analysis.distress.debt_at_risk` plus ``icr_basis``,
    ``first_quarter_at_risk`` (the first projected quarter in which any firm's TTM cover
    is below 1), ``firms_at_risk`` ("ticker (quarter)", in the order they cross) and, for
    comparison, ``dar_share_single_quarter`` (the same share with the cover of the worst
    single quarter, the previous definition)."""
    return debt_at_risk_from_worst(debt_at_risk_worst(qm), opening_debt)


def debt_at_risk_worst(qm: pl.DataFrame) -> pl.DataFrame:
    """The part of :func:`debt_at_risk_by_scenario` that reads the quarters, reduced to one
    row per case (ticker, scenario): the TTM cover's worst quarter (``ebit``,
    ``interest_expense``), the first step and quarter at risk, and the worst single
    quarter's (``ebit_1q``, ``interest_expense_1q``). Firm chunks' frames concatenated give
    the whole run's (every figure is of one case), so a chunked run needs no quarters
    after its chunk."""
    flagged = qm.with_columns(
        D.debt_at_risk_flag("ebit_ttm", "interest_expense_ttm", pl.lit(1.0)).alias("ttm_at_risk")
    )
    key = (
        pl.when(pl.col("interest_expense_ttm") > 0)
        .then(pl.col("ebit_ttm") / pl.col("interest_expense_ttm"))
        .otherwise(pl.when(pl.col("ebit_ttm") < 0).then(-math.inf).otherwise(math.inf))
    )
    single = pl.col("interest_cover").fill_null(math.inf)
    return flagged.group_by(KEYS).agg(
        pl.col("ebit_ttm").sort_by(key).first().alias("ebit"),
        pl.col("interest_expense_ttm").sort_by(key).first().alias("interest_expense"),
        pl.col("step").filter(pl.col("ttm_at_risk").fill_null(False)).min().alias("first_step"),
        pl.col("quarter")
        .sort_by("step")
        .filter(pl.col("ttm_at_risk").fill_null(False).sort_by(pl.col("step")))
        .first()
        .alias("first_quarter"),
        pl.col("ebit").sort_by(single).first().alias("ebit_1q"),
        pl.col("interest_expense").sort_by(single).first().alias("interest_expense_1q"),
    )


def debt_at_risk_from_worst(worst: pl.DataFrame, opening_debt: pl.DataFrame) -> pl.DataFrame:
    """:func:`debt_at_risk_by_scenario` from the per-case rows of :func:`debt_at_risk_worst`
    (of every firm, in any order)."""
    # sorted so that the sums run in one order: group_by returns groups in any order
    both = worst.join(opening_debt, on="ticker", how="left").sort(KEYS)
    frame = both.select(*KEYS, "ebit", "interest_expense", "first_step", "first_quarter", "debt")
    out = D.debt_at_risk(
        frame, by="scenario", ebit="ebit", interest_expense="interest_expense", debt="debt"
    )
    flags = frame.with_columns(D.debt_at_risk_flag("ebit", "interest_expense", "debt"))
    crossing = (
        flags.filter(pl.col("at_risk").fill_null(False))
        .sort(["scenario", "first_step", "ticker"])
        .group_by("scenario", maintain_order=True)
        .agg(
            pl.col("first_quarter").first().alias("first_quarter_at_risk"),
            pl.format("{} ({})", "ticker", "first_quarter").str.join("; ").alias("firms_at_risk"),
        )
    )
    single = _single_quarter_share(
        both.select(
            *KEYS,
            pl.col("ebit_1q").alias("ebit"),
            pl.col("interest_expense_1q").alias("interest_expense"),
            "debt",
        )
    )
    return (
        out.join(crossing, on="scenario", how="left")
        .join(single, on="scenario", how="left")
        .with_columns(
            pl.lit("trailing four quarters").alias("icr_basis"),
            pl.col("firms_at_risk").fill_null(""),
        )
        .sort("scenario")
    )


def _single_quarter_share(frame: pl.DataFrame) -> pl.DataFrame:
    """DaR share with each firm's worst single-quarter interest cover (for comparison)."""
    return D.debt_at_risk(
        frame, by="scenario", ebit="ebit", interest_expense="interest_expense", debt="debt"
    ).select("scenario", pl.col("dar_share").alias("dar_share_single_quarter"))


def actual_metrics(
    bases: BaseSet,
    tickers: list[str],
    fx: float,
    deflator: float,
    material: tuple[float, float] | None = None,
    retained: dict[str, float] | None = None,
) -> pl.DataFrame:
    """Distress metrics at the as-of quarter from base figures (the last actual period),
    on the model's opening balance sheet (the projection's quarter 0); ``retained``:
    opening retained earnings per firm (0 where not given)."""
    retained = retained or {}
    rows = []
    for t in tickers:
        fb = bases.firms[t]
        p = fb.params
        ca = p["cash0"] + p["receivables0"] + p["inventory0"] + p["other_current_assets"]
        cl = p["st_debt0"] + p["payables0"] + p["tax_payable0"] + p["other_current_liabilities"]
        debt = p["st_debt0"] + p["lt_debt0"]
        rows.append(
            {
                "ticker": t,
                "total_assets": fb.value("total_assets"),
                "total_liabilities": fb.value("total_liabilities"),
                "equity": fb.value("equity_total"),
                "current_assets": ca,
                "current_liabilities": cl,
                "working_capital": ca - cl,
                "ebit_ttm": fb.value("ebit_ttm"),
                "ebitda_ttm": fb.value("ebit_ttm") + fb.value("da_ttm"),
                "net_income_ttm": fb.value("net_income_ttm"),
                "net_income_ttm_prev": fb.get("net_income_ttm_prev")
                if fb.get("net_income_ttm_prev") is not None
                else fb.value("net_income_ttm"),
                "cfo_ttm": fb.value("cfo_ttm"),
                "interest_ttm": fb.get("interest_ttm"),
                "revenue_ttm": fb.value("revenue_ttm"),
                "debt": debt,
                "cash": p["cash0"],
                "net_debt": debt - p["cash0"],
                "retained_earnings": retained.get(t, 0.0),
                "default_point": p["st_debt0"] + 0.5 * p["lt_debt0"],
                "market_cap": fb.get("market_cap"),
                "equity_volatility": fb.get("equity_volatility"),
                "past_year_return": fb.get("past_year_return"),
            }
        )
    cols = [k for k in rows[0] if k != "ticker"] if rows else []
    df = pl.DataFrame(rows, schema={"ticker": pl.String, **{c: pl.Float64 for c in cols}})
    df = solvency_scores(
        df, fx, deflator, ebit="ebit_ttm", interest="interest_ttm", material=material, debt="debt"
    )
    dd = D.naive_dd("market_cap", "default_point", "equity_volatility", "past_year_return")
    return df.with_columns(
        dd.value.alias("distance_to_default"),
        dd.status.alias("dd_status"),
        D.naive_pd(dd.value).alias("default_probability"),
        (pl.col("net_income_ttm") / pl.col("total_assets")).alias("roa"),
    )
