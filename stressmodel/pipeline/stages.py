"""One as-of run: inputs -> bases -> scenarios -> projection -> risk, valuation, score.

:func:`run_model` is pure: it reads nothing from disk (the caller passes loaded
:class:`~stressmodel.inputs.load.Inputs`) and writes nothing; :mod:`stressmodel.run.outputs`
writes the result. Data flows one way.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence

import polars as pl

from stressmodel.analysis import risk, scoring
from stressmodel.analysis.consolidation import Priors
from stressmodel.analysis.reverse import reverse_stress
from stressmodel.analysis.valuation import cross_checks, dcf
from stressmodel.errors import UsageError
from stressmodel.inputs.load import Inputs
from stressmodel.inputs.periods import month_index, quarter_end_date, quarter_label
from stressmodel.inputs.scenarios import NAMED_SCENARIOS
from stressmodel.model.base import compute_bases, latest_actuals
from stressmodel.model.cases import case_frame, scenario_frame
from stressmodel.model.engine import KEYS, project
from stressmodel.model.trade import trade_path
from stressmodel.pipeline.result import RunOptions, RunResult

Progress = Callable[[str], None]


def default_as_of(inputs: Inputs, firms: Sequence[str]) -> tuple[int, dict[str, str]]:
    """The latest quarter for which every selected firm has actuals, and the firms that
    have later data (ticker -> their latest quarter)."""
    latest = latest_actuals(inputs)
    missing = [t for t in firms if latest.get(t) is None]
    if missing:
        raise UsageError(
            f"no actual revenue for {', '.join(missing)}: cannot choose an as-of quarter"
        )
    q = min(latest[t] for t in firms)  # type: ignore[type-var]
    later = {t: quarter_label(latest[t]) for t in firms if latest[t] != q}  # type: ignore[arg-type]
    return q, later


def select_firms(inputs: Inputs, firms: Sequence[str] | None) -> list[str]:
    if firms:
        unknown = [t for t in firms if t not in inputs.tickers]
        if unknown:
            raise UsageError(
                f"not in firms.csv: {', '.join(unknown)} (known: {', '.join(inputs.tickers)})"
            )
        return list(dict.fromkeys(firms))
    return [r["ticker"] for r in inputs.register if r["default_run"] == "yes"]


def run_model(inputs: Inputs, options: RunOptions, progress: Progress | None = None) -> RunResult:
    """Run every scenario for the selected firms as of one quarter."""
    say = progress or (lambda _msg: None)
    timings: dict[str, float] = {}
    t0 = time.perf_counter()
    firms = select_firms(inputs, options.firms)
    latest = latest_actuals(inputs)
    if options.as_of is None:
        as_of, later = default_as_of(inputs, firms)
    else:
        as_of = options.as_of
        later = {
            t: quarter_label(latest[t])
            for t in firms
            if latest.get(t) is not None and latest[t] > as_of
        }  # type: ignore[operator]
    horizon = options.horizon or inputs.sector.int("horizon_quarters")
    at = inputs.as_of(as_of)
    say(f"bases as of {quarter_label(as_of)}")
    bases = compute_bases(inputs, as_of)
    runnable = [t for t in firms if t in bases.firms]
    not_run = {t: bases.not_runnable.get(t, "no data") for t in firms if t not in bases.firms}
    if not runnable:
        reasons = "; ".join(f"{t}: {bases.not_runnable.get(t, 'no data')}" for t in firms)
        raise UsageError(f"no selected firm can be run as of {quarter_label(as_of)} ({reasons})")
    timings["bases"] = time.perf_counter() - t0

    # scenarios and the trade-implied path
    t1 = time.perf_counter()
    quarters = tuple(quarter_label(as_of + k) for k in range(1, horizon + 1))
    end = quarter_end_date(as_of)
    sector = inputs.sector
    tp = trade_path(
        at.trade,
        month_index(end.year, end.month),
        [as_of + k for k in range(1, horizon + 1)],
        str(sector["export_controls_start"]),
        int(sector["trade_reference_year"]),
        sector.float("trade_forecast_interval"),
    )
    named = tuple(inputs.scenarios.named[n] for n in inputs.scenarios.named)
    grid = tuple(inputs.scenarios.grid_scenarios())
    scen = scenario_frame([*named, *grid], as_of, horizon, tp.loss)
    universe = list(bases.firms)  # every runnable firm: the peer universe
    firms_frame = bases.frame(universe)
    cases = case_frame(firms_frame, scen)
    timings["scenarios"] = time.perf_counter() - t1

    say(f"projecting {cases.height} cases x {horizon} quarters")
    t2 = time.perf_counter()
    proj_all = project(cases, horizon, quarters, as_of + 1)
    timings["projection"] = time.perf_counter() - t2

    t3 = time.perf_counter()
    firm_values = pl.DataFrame(
        {
            "ticker": universe,
            "shares": [bases.firms[t].get("shares") for t in universe],
            "net_debt0": [
                bases.firms[t].value("total_debt") - bases.firms[t].value("cash") for t in universe
            ],
        },
        schema={"ticker": pl.String, "shares": pl.Float64, "net_debt0": pl.Float64},
    )
    rate, growth = sector.float("discount_rate"), sector.float("terminal_growth")
    val = dcf(proj_all, cases, firm_values, rate, growth, horizon).sort(KEYS)
    timings["valuation"] = time.perf_counter() - t3

    say("risk metrics and consolidation index")
    t4 = time.perf_counter()
    base_q = risk.base_quarter_frame(bases, universe)
    fx, deflator, fx_note = risk.fx_and_deflator(bases, sector)
    qm = risk.quarter_metrics(proj_all, base_q, fx, deflator)
    cm = risk.distance_to_default(risk.case_metrics(qm, val, horizon))
    actual = risk.actual_metrics(bases, universe, fx, deflator)
    opening_debt = pl.DataFrame(
        {
            "ticker": universe,
            "debt": [
                bases.firms[t].params["st_debt0"] + bases.firms[t].params["lt_debt0"]
                for t in universe
            ],
        }
    )
    dar = risk.debt_at_risk_by_scenario(qm.filter(pl.col("ticker").is_in(runnable)), opening_debt)
    priors = Priors.from_parameters(inputs.priors)
    dummies = scoring.firm_dummies(inputs, universe, sector)
    stats, med_roa = scoring.universe_stats(
        actual, bases, cm.filter(pl.col("scenario") == "baseline").sort("ticker")
    )
    comp = scoring.components(cm, actual, bases, dummies, med_roa)
    scored = scoring.score_cases(
        comp.filter(pl.col("ticker").is_in(runnable)),
        stats,
        priors,
        n_draws=1000,
        seed=sector.int("mc_seed"),
        rank_scenarios=[sc.name for sc in named],
    )
    timings["risk"] = time.perf_counter() - t4

    # prices on or before the as-of date
    prices = {t: bases.firms[t].get("share_price") for t in universe}
    price_dates = {
        t: (
            bases.firms[t].figures["share_price_date"].how
            if "share_price_date" in bases.firms[t].figures
            else None
        )
        for t in universe
    }

    multiples, multiples_note = cross_checks(
        [
            {
                "ticker": t,
                "market_cap": bases.firms[t].get("market_cap"),
                "net_debt": bases.firms[t].value("total_debt") - bases.firms[t].value("cash"),
                "ebitda": bases.firms[t].value("ebit_ttm") + bases.firms[t].value("da_ttm"),
                "net_income": bases.firms[t].value("net_income_ttm"),
                "book_equity": bases.firms[t].value("equity_attributable"),
                "book_equity_estimated": bases.firms[t].figures["equity_attributable"].basis
                == "estimated",
                "shares": bases.firms[t].get("shares"),
            }
            for t in universe
        ]
    )

    say("reverse stress test")
    t5 = time.perf_counter()
    rev = reverse_stress(
        firms_frame.filter(pl.col("ticker").is_in(runnable)),
        firm_values,
        prices,
        price_dates,
        inputs.scenarios,
        as_of,
        horizon,
        rate,
        sector.float("wacc_sensitivity"),
        growth,
    )
    timings["reverse_stress"] = time.perf_counter() - t5

    named_names = [s.name for s in named]
    keep = pl.col("ticker").is_in(runnable)
    projection = qm.filter(keep & pl.col("scenario").is_in(named_names)).sort(
        [*KEYS, "quarter_index"]
    )
    scen_params = pl.DataFrame(
        [
            {
                "scenario": sc.name,
                "scenario_kind": sc.kind,
                "export_shock": sc.export_shock,
                "output_cut": sc.output_cut,
            }
            for sc in (*named, *grid)
        ]
    )
    contrib_cols = [c for c in scored.columns if c.startswith("contrib_")]
    summary = (
        cm.filter(keep)
        .join(scen_params, on="scenario", how="left")
        .join(val.select(*KEYS, "enterprise_value", "equity_value"), on=list(KEYS), how="left")
        .join(
            scored.select(
                *KEYS,
                "consolidation_score",
                "consolidation_low",
                "consolidation_high",
                "consolidation_median",
                "rank_point",
                "rank_stability",
                "score_status",
                *contrib_cols,
            ),
            on=list(KEYS),
            how="left",
        )
        .with_columns(
            pl.col("ticker")
            .replace_strict(prices, default=None, return_dtype=pl.Float64)
            .alias("share_price"),
            pl.col("ticker")
            .replace_strict(price_dates, default=None, return_dtype=pl.String)
            .alias("price_date"),
        )
        .with_columns(
            pl.when(pl.col("share_price") > 0)
            .then(pl.col("value_per_share") / pl.col("share_price") - 1)
            .otherwise(None)
            .alias("upside"),
            pl.lit("uncalibrated index").alias("consolidation_label"),
        )
    )
    summary = _order_summary(summary, named_names)
    monte_carlo: dict[str, pl.DataFrame] = {}
    if options.paths > 0:
        from stressmodel.analysis.montecarlo import run_paths

        say(f"Monte Carlo: {options.paths} paths")
        t6 = time.perf_counter()
        monte_carlo["montecarlo"] = run_paths(
            firms_frame.filter(keep), inputs.scenarios, sector, as_of, options.paths
        )
        timings["montecarlo"] = time.perf_counter() - t6
    timings["total"] = time.perf_counter() - t0
    return RunResult(
        as_of=as_of,
        horizon=horizon,
        quarters=quarters,
        tickers=tuple(runnable),
        later_data=later,
        bases=bases,
        scenarios=named,
        grid=grid,
        trade=tp,
        cases=cases,
        projection=projection,
        grid_summary=summary.filter(pl.col("scenario_kind") == "grid"),
        valuation=val.filter(keep),
        summary=summary,
        extras={
            "reverse_stress": rev,
            "debt_at_risk": dar,
            "actual_metrics": actual.filter(keep),
            "peer_stats": stats.to_frame(),
            "peer_median_roa": med_roa,
            "consolidation": scored,
            "dummies": dummies,
            "priors": priors,
            "fx_note": fx_note,
            "multiples": multiples.filter(keep),
            "multiples_note": multiples_note,
            "universe": universe,
            "not_run": not_run,
            **monte_carlo,
        },
        timings=timings,
    )


SUMMARY_FIRST = (
    "ticker",
    "scenario",
    "scenario_kind",
    "export_shock",
    "output_cut",
    "min_cash",
    "cash_runway_quarters",
    "runway_status",
    "min_interest_cover",
    "interest_cover_status",
    "altman_z",
    "altman_zone",
    "ohlson_probability",
    "distance_to_default",
    "default_probability",
    "dd_status",
    "net_debt_to_ebitda",
    "net_debt_to_ebitda_status",
    "consolidation_score",
    "consolidation_low",
    "consolidation_high",
    "value_per_share",
    "value_status",
    "share_price",
    "price_date",
    "upside",
)


def _order_summary(summary: pl.DataFrame, named: list[str]) -> pl.DataFrame:
    rank = {n: i for i, n in enumerate(named)}
    s = (
        summary.with_columns(
            pl.col("scenario")
            .replace_strict(rank, default=len(rank), return_dtype=pl.Int32)
            .alias("_r")
        )
        .sort(["ticker", "_r", "export_shock", "output_cut"])
        .drop("_r")
    )
    first = [c for c in SUMMARY_FIRST if c in s.columns]
    return s.select(*first, pl.exclude(first))


def _case_summary(proj: pl.DataFrame, val: pl.DataFrame) -> pl.DataFrame:
    """Key figures per case: minimum net cash, first revolving draw, runway."""
    agg = proj.group_by(KEYS).agg(
        (pl.col("cash") - pl.col("revolver")).min().alias("min_cash"),
        pl.col("step").filter(pl.col("revolver_draw") > 1e-9).min().alias("first_draw_step"),
        pl.col("revolver").max().alias("max_revolver"),
    )
    return agg.join(val, on=list(KEYS), how="left").sort(KEYS)


def named_scenario_names() -> tuple[str, ...]:
    return NAMED_SCENARIOS
