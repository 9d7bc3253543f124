"""One as-of run as named stages: select -> bases -> scenarios -> projection -> valuation
-> risk -> index -> cross-checks -> reverse stress -> tables.

:func:`run_model` is pure: it reads nothing from disk (the caller passes loaded
:class:`~stressmodel.inputs.load.Inputs`) and writes nothing; :mod:`stressmodel.run.outputs`
writes the result. Data flows one way.
"""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Callable, Sequence
from concurrent.futures import Executor
from dataclasses import dataclass, field, replace
from typing import Any

import polars as pl

from stressmodel.analysis import risk, scoring
from stressmodel.analysis.consolidation import Priors
from stressmodel.analysis.midcycle import MidCycleDrivers, midcycle_dcf, price_implied
from stressmodel.analysis.reverse import reverse_stress
from stressmodel.analysis.valuation import cross_checks, dcf, present_value_fcf, terminal_quarter
from stressmodel.errors import UsageError
from stressmodel.inputs.load import Inputs
from stressmodel.inputs.periods import month_index, quarter_end_date, quarter_label
from stressmodel.inputs.scenarios import NAMED_SCENARIOS, PERMANENT_GRID_KIND, Scenario
from stressmodel.model.base import BaseSet, compute_bases, latest_actuals
from stressmodel.model.cases import case_frame, per_firm_case_frame, scenario_frame
from stressmodel.model.collector import collector_paused
from stressmodel.model.engine import KEYS, choose_backend, project
from stressmodel.model.prices import PricePath, prnd_path
from stressmodel.model.retained import opening_retained_earnings
from stressmodel.model.through_cycle import MidCycleMargin, midcycle_margin
from stressmodel.model.trade import TradePath, trade_path
from stressmodel.pipeline.result import RunOptions, RunResult

Progress = Callable[[str], None]


def default_as_of(inputs: Inputs, firms: Sequence[str]) -> tuple[int, dict[str, str]]:
    """The latest quarter for which most (more than half) of the selected firms have
    income-statement actuals (revenue), and the firms that have later data (ticker -> their
    latest quarter). Firms whose latest actuals are older run from their latest figures and
    are marked stale (see :func:`stale_quarters`)."""
    latest = latest_actuals(inputs)
    missing = [t for t in firms if latest.get(t) is None]
    if missing:
        raise UsageError(
            f"no actual revenue for {', '.join(missing)}: cannot choose an as-of quarter"
        )
    known = [latest[t] for t in firms]
    q = next(
        c
        for c in sorted(set(known), reverse=True)  # type: ignore[type-var]
        if sum(1 for k in known if k >= c) * 2 > len(known)  # type: ignore[operator]
    )
    later = {t: quarter_label(latest[t]) for t in firms if latest[t] != q}  # type: ignore[arg-type]
    return q, later


def unrunnable_message(as_of: int, firms: Sequence[str], not_runnable: dict[str, str]) -> str:
    """Why no selected firm can be run: each firm named once, firms with the same reason
    grouped, the reason in plain words."""
    by_reason: dict[str, list[str]] = {}
    for t in firms:
        by_reason.setdefault(not_runnable.get(t, "no statements"), []).append(t)
    reasons = "; ".join(f"{', '.join(ts)}: {why}" for why, ts in by_reason.items())
    return f"no selected firm can be run as of {quarter_label(as_of)} ({reasons})"


def select_firms(inputs: Inputs, firms: Sequence[str] | None) -> list[str]:
    if firms:
        unknown = [t for t in firms if t not in inputs.tickers]
        if unknown:
            raise UsageError(
                f"not in firms.csv: {', '.join(unknown)} (known: {', '.join(inputs.tickers)})"
            )
        return list(dict.fromkeys(firms))
    return [r["ticker"] for r in inputs.register if r["default_run"] == "yes"]


@dataclass(frozen=True)
class Selection:
    """Which firms, as of which quarter, over how many quarters."""

    firms: tuple[str, ...]
    as_of: int
    later: dict[str, str]
    horizon: int
    stale: dict[str, tuple[str | None, int | None]] = field(default_factory=dict)
    price_date: dt.date | None = None  # value at the close on or before this date
    price_stale_days: int = 45

    @property
    def quarters(self) -> tuple[str, ...]:
        return tuple(quarter_label(self.as_of + k) for k in range(1, self.horizon + 1))


@dataclass(frozen=True)
class Bases:
    """Base figures of every runnable firm (the peer universe) and which firms run."""

    bases: BaseSet
    universe: tuple[str, ...]
    runnable: tuple[str, ...]
    not_run: dict[str, str]


@dataclass(frozen=True)
class Scenarios:
    """The named scenarios, the grid, the trade path and the case frame."""

    named: tuple[Scenario, ...]
    grid: tuple[Scenario, ...]
    trade: TradePath
    firms_frame: pl.DataFrame
    cases: pl.DataFrame
    prices: PricePath | None = None
    #: the engine every projection of the run's cases uses: the one ``auto`` picks for every
    #: universe firm under every scenario (see :func:`peer_cases`), so that dropping peers'
    #: cases or projecting firms in chunks changes no bit of any number
    backend: str = "auto"


@dataclass(frozen=True)
class Valuation:
    firm_values: pl.DataFrame
    values: pl.DataFrame  # every case (trailing and mid-cycle value per share)
    rate: float
    growth: float
    margins: dict[str, MidCycleMargin]
    drivers: MidCycleDrivers


@dataclass(frozen=True)
class Risk:
    quarter_metrics: pl.DataFrame
    case_metrics: pl.DataFrame
    actual: pl.DataFrame
    debt_at_risk: pl.DataFrame
    fx_note: str


@dataclass(frozen=True)
class Index:
    priors: Priors
    dummies: pl.DataFrame
    stats: Any
    median_roa: float
    scored: pl.DataFrame


def run_model(
    inputs: Inputs,
    options: RunOptions,
    progress: Progress | None = None,
    *,
    forecaster: Callable[..., Any] | None = None,
    executor: Executor | None = None,
    spill: Spill | None = None,
) -> RunResult:
    """Run every scenario for the selected firms as of one quarter, stage by stage.

    ``forecaster``: a stand-in for the trade forecast with the same results (the run's
    on-disk cache, :mod:`stressmodel.run.cache`); None fits it. ``executor``: a
    concurrent.futures executor (a Dask cluster's) for the Monte Carlo's firm chunks.

    ``options.chunk_firms``: project, value and reduce the reported firms in chunks of
    that many (:func:`_chunked_stages`), with the same results as at once; ``spill``
    takes each chunk's grid-scenario quarters (e.g. to a parquet part) and returns what
    stands for them in ``RunResult.grid_projection`` (a lazy frame), so that no more
    than one chunk's quarters are held; without it they are kept and concatenated.

    Python's cyclic collector is paused for the run (:mod:`stressmodel.model.collector`):
    the stages make few reference cycles (a few hundred objects per run at 100 firms) but
    every full collection walks all the run's tracked objects (12-18% of the model stages'
    CPU at 100 firms); the cycles are collected after it."""
    with collector_paused():
        return _run_model(inputs, options, progress, forecaster, executor, spill)


def _run_model(
    inputs: Inputs,
    options: RunOptions,
    progress: Progress | None,
    forecaster: Callable[..., Any] | None,
    executor: Executor | None,
    spill: Spill | None,
) -> RunResult:
    say = progress or (lambda _msg: None)
    timings: dict[str, float] = {}
    timed = _timer(timings)
    t0 = time.perf_counter()
    sel = select(inputs, options)
    say(f"bases as of {quarter_label(sel.as_of)}")
    bases = timed("bases", stage_bases, inputs, sel, start=t0)
    scen = timed("scenarios", stage_scenarios, inputs, sel, bases, forecaster)
    chunk = options.chunk_firms
    if chunk is not None and chunk < len(bases.runnable):
        if chunk < 1:
            raise ValueError("chunk_firms must be at least 1")
        return _run_chunked(
            inputs, options, sel, bases, scen, chunk, say, timings, t0, executor, spill
        )
    say(f"projecting {scen.cases.height} cases x {sel.horizon} quarters")
    proj = timed("projection", stage_projection, scen, sel)
    val = timed("valuation", stage_valuation, inputs, bases, scen, proj, sel)
    say("risk metrics and consolidation index")
    t4 = time.perf_counter()
    rk = stage_risk(inputs, bases, proj, val, sel)
    # the quarter metrics are a copy of the projection with more columns; nothing later
    # reads the projection itself (1.2 GB at 1,000 firms)
    del proj
    idx = stage_index(inputs, bases, rk, scen)
    timings["risk"] = time.perf_counter() - t4
    # hand the quarter metrics over to the tables stage, which consumes them
    quarter_rows = [rk.quarter_metrics]
    rk = replace(rk, quarter_metrics=rk.quarter_metrics.clear())
    split = _split_quarters(quarter_rows, bases, scen)
    return _finish(
        inputs, options, sel, bases, scen, val, rk, idx, split, say, timings, t0, executor
    )


def _finish(
    inputs: Inputs,
    options: RunOptions,
    sel: Selection,
    bases: Bases,
    scen: Scenarios,
    val: Valuation,
    rk: Risk,
    idx: Index,
    split: tuple[pl.DataFrame, Any],
    say: Progress,
    timings: dict[str, float],
    t0: float,
    executor: Executor | None,
) -> RunResult:
    """The stages after the index (cross-checks, reverse stress, Monte Carlo, tables),
    the same for a run at once and a chunked one."""
    timed = _timer(timings)
    multiples, multiples_note = stage_cross_checks(bases)
    say("reverse stress test")
    rev = timed("reverse_stress", stage_reverse_stress, inputs, bases, scen, val, sel)
    monte_carlo: dict[str, pl.DataFrame] = {}
    if options.paths > 0:
        say(f"Monte Carlo: {options.paths} paths")
        monte_carlo = timed(
            "montecarlo", stage_monte_carlo, inputs, bases, scen, sel, options.paths, executor
        )
    timings["total"] = time.perf_counter() - t0
    return stage_tables(
        sel,
        bases,
        scen,
        val,
        rk,
        idx,
        rev,
        (multiples, multiples_note),
        monte_carlo,
        timings,
        split=split,
    )


#: takes a chunk's grid-scenario quarters and returns what stands for them (a lazy scan of
#: where they were written)
Spill = Callable[[pl.DataFrame], pl.LazyFrame]


def _split_quarters(
    quarter_rows: list[pl.DataFrame], b: Bases, scen: Scenarios
) -> tuple[pl.DataFrame, pl.DataFrame]:
    """The reported firms' named-scenario quarters and grid-scenario quarters, each sorted
    by (ticker, scenario, quarter_index), consuming the one frame in ``quarter_rows``."""
    keep = pl.col("ticker").is_in(list(b.runnable))
    projection, grid_projection = _sorted_rows(
        quarter_rows,
        [
            keep & pl.col("scenario").is_in([sc.name for sc in scen.named]),
            keep & pl.col("scenario").is_in([sc.name for sc in scen.grid]),
        ],
    )
    return projection, grid_projection


def firm_chunks(runnable: Sequence[str], universe: Sequence[str], size: int) -> list[list[str]]:
    """The firms of each chunk of a chunked run: the reported firms in ticker order, ``size``
    at a time (so that the chunks' sorted tables concatenate to the whole run's sorted
    tables), then the peers (universe firms not reported: one case each) as one chunk."""
    ordered = sorted(runnable)
    chunks = [ordered[i : i + size] for i in range(0, len(ordered), size)]
    reported = set(runnable)
    peers = [t for t in universe if t not in reported]
    return chunks + ([peers] if peers else [])


def _run_chunked(
    inputs: Inputs,
    options: RunOptions,
    sel: Selection,
    bases: Bases,
    scen: Scenarios,
    size: int,
    say: Progress,
    timings: dict[str, float],
    t0: float,
    executor: Executor | None,
    spill: Spill | None,
) -> RunResult:
    """:func:`run_model` in firm chunks: each chunk is projected, valued and put through
    the risk metrics, then reduced to its per-case tables (values, case metrics, the debt
    at risk's worst quarters) and its named- and grid-scenario quarters (the grid's handed
    to ``spill``); its quarters are released before the next chunk. The cross-firm figures
    (peer statistics, the index's band and ranks, debt at risk, the summary) are computed
    from the reduced tables of every chunk, as a run at once computes them from its whole
    frames: every reduced row reads one case, so the tables are the same."""
    vctx = valuation_context(inputs, bases, sel)
    rctx = risk_context(inputs, bases, sel)
    reported = set(bases.runnable)
    named = [sc.name for sc in scen.named]
    grid = [sc.name for sc in scen.grid]
    values: list[pl.DataFrame] = []
    metrics: list[pl.DataFrame] = []
    worst: list[pl.DataFrame] = []
    named_rows: list[pl.DataFrame] = []
    grid_rows: list[Any] = []
    for key in ("projection", "valuation", "risk"):
        timings[key] = 0.0
    chunks = firm_chunks(bases.runnable, bases.universe, size)
    case_rows = CaseRows(scen.cases)
    for i, firms in enumerate(chunks, start=1):
        cases = case_rows.of(firms)
        say(f"chunk {i} of {len(chunks)}: projecting {cases.height} cases x {sel.horizon} quarters")
        t = time.perf_counter()
        proj = project(cases, sel.horizon, sel.quarters, sel.as_of + 1, backend=scen.backend)
        t1 = time.perf_counter()
        vals = value_cases(vctx, proj, cases, sel)
        t2 = time.perf_counter()
        qm = risk.quarter_metrics(proj, rctx.base_q, rctx.fx, rctx.deflator, rctx.material)
        del proj
        metrics.append(risk.case_metrics(qm, vals, sel.horizon))
        values.append(vals)
        if firms[0] in reported:
            worst.append(risk.debt_at_risk_worst(qm))
            held = [qm]
            del qm
            n_rows, g_rows = _sorted_rows(
                held, [pl.col("scenario").is_in(named), pl.col("scenario").is_in(grid)]
            )
            named_rows.append(n_rows)
            grid_rows.append(spill(g_rows) if spill is not None else g_rows)
            del g_rows
        else:
            del qm
        t3 = time.perf_counter()
        timings["projection"] += t1 - t
        timings["valuation"] += t2 - t1
        timings["risk"] += t3 - t2
    say("risk metrics and consolidation index")
    t = time.perf_counter()
    val = replace(vctx, values=pl.concat(values, how="vertical").sort(KEYS))
    dar = risk.debt_at_risk_from_worst(pl.concat(worst, how="vertical"), rctx.opening_debt)
    # the distance to default on every chunk's case metrics at once, as a run at once takes
    # it: polars divides by a broadcast (one-row) column through its reciprocal, so a chunk
    # of one firm would differ in the last bit
    cm = risk.distance_to_default(pl.concat(metrics, how="vertical"))
    rk = Risk(pl.DataFrame(), cm, rctx.actual, dar, rctx.fx_note)
    idx = stage_index(inputs, bases, rk, scen)
    timings["risk"] += time.perf_counter() - t
    projection = pl.concat(named_rows, how="vertical")
    # spilled: a lazy frame over the parts, combined when projections.parquet is written
    grid_projection = pl.concat(grid_rows, how="vertical")
    return _finish(
        inputs,
        options,
        sel,
        bases,
        scen,
        val,
        rk,
        idx,
        (projection, grid_projection),
        say,
        timings,
        t0,
        executor,
    )


class CaseRows:
    """The rows of a case frame per firm, indexed once: :meth:`of` is
    ``cases.filter(pl.col("ticker").is_in(firms))`` (the same rows in the same order) as
    one gather of the chunk's rows, instead of a filter over every case and column per
    chunk (1,000 firms in 334 chunks: ~2.8 s profiled)."""

    def __init__(self, cases: pl.DataFrame) -> None:
        self.cases = cases
        self.positions: dict[str, list[int]] = {}
        for i, t in enumerate(cases["ticker"].to_list()):
            if t is not None:  # is_in drops a null ticker
                self.positions.setdefault(t, []).append(i)

    def of(self, firms: Sequence[str]) -> pl.DataFrame:
        rows = sorted(i for t in set(firms) for i in self.positions.get(t, ()))
        return self.cases[rows]


def _timer(timings: dict[str, float]) -> Callable[..., Any]:
    def timed(name: str, fn: Callable[..., Any], *args: Any, start: float | None = None) -> Any:
        t = time.perf_counter() if start is None else start
        out = fn(*args)
        timings[name] = time.perf_counter() - t
        return out

    return timed


def select(inputs: Inputs, options: RunOptions) -> Selection:
    """Stage 0: the firms, the as-of quarter and the horizon."""
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
    return Selection(
        tuple(firms),
        as_of,
        later,
        horizon,
        stale_quarters(inputs, firms, as_of),
        options.price_date,
        inputs.sector.int("price_stale_days"),
    )


def stale_quarters(
    inputs: Inputs, firms: Sequence[str], as_of: int
) -> dict[str, tuple[str | None, int | None]]:
    """Per firm: its latest quarter with income-statement actuals on or before ``as_of``
    and how many quarters that is behind the as-of (0 = current; None = no actuals)."""
    latest = latest_actuals(inputs.as_of(as_of))
    out: dict[str, tuple[str | None, int | None]] = {}
    for t in firms:
        q = latest.get(t)
        out[t] = (quarter_label(q), as_of - q) if q is not None else (None, None)
    return out


def stage_bases(inputs: Inputs, sel: Selection, *, selected_only: bool = False) -> Bases:
    """Stage 1: base figures and model parameters of every firm at the as-of quarter.

    ``selected_only``: the selected firms' bases only (the peer medians still from every
    firm; the universe is then the selected firms), for callers that read no peer's base
    (the back-tests)."""
    bases = compute_bases(
        inputs, sel.as_of, sel.price_date, tickers=sel.firms if selected_only else None
    )
    runnable = [t for t in sel.firms if t in bases.firms]
    not_run = {t: bases.not_runnable.get(t, "no data") for t in sel.firms if t not in bases.firms}
    if not runnable:
        raise UsageError(unrunnable_message(sel.as_of, sel.firms, bases.not_runnable))
    return Bases(bases, tuple(bases.firms), tuple(runnable), not_run)


def stage_scenarios(
    inputs: Inputs,
    sel: Selection,
    b: Bases,
    forecaster: Callable[..., Any] | None = None,
    *,
    with_grid: bool = True,
) -> Scenarios:
    """Stage 2: scenario paths, the trade-implied path and the firm x scenario cases.

    ``with_grid=False``: the named scenarios only (``grid`` empty), for the back-tests,
    which read nothing else (the same named cases, in the same firm-major order)."""
    as_of, horizon = sel.as_of, sel.horizon
    end = quarter_end_date(as_of)
    sector = inputs.sector
    tp = trade_path(
        inputs.as_of(as_of).trade,
        month_index(end.year, end.month),
        [as_of + k for k in range(1, horizon + 1)],
        str(sector["export_controls_start"]),
        int(sector["trade_reference_year"]),
        sector.float("trade_forecast_interval"),
        forecaster,
        floor=sector.float("trade_index_floor"),
        ceiling=sector.float("trade_index_ceiling"),
        min_months=sector.int("trade_min_months_for_fit"),
        half_life=sector.float("trade_fallback_half_life_months"),
    )
    named = tuple(inputs.scenarios.named[n] for n in inputs.scenarios.named)
    grid = tuple(inputs.scenarios.grid_scenarios()) if with_grid else ()
    pp = prnd_path(
        sector.params["prnd_oxide_price"].points, as_of, [as_of + k for k in range(1, horizon + 1)]
    )
    scen = scenario_frame([*named, *grid], as_of, horizon, tp.loss, pp.change)
    firms_frame = b.bases.frame(list(b.universe))
    cases = peer_cases(firms_frame, scen, b.runnable)
    backend = choose_backend("auto", firms_frame.height * scen.height)
    return Scenarios(named, grid, tp, firms_frame, cases, pp, backend)


#: the one scenario of which a peer (a universe firm the run does not report) is projected
PEER_SCENARIO = "baseline"


def peer_cases(
    firms: pl.DataFrame, scenarios: pl.DataFrame, runnable: Sequence[str]
) -> pl.DataFrame:
    """The cases a run projects: every case of the firms it reports (``runnable``) and
    only the :data:`PEER_SCENARIO` case of every other universe firm, in the order of
    :func:`~stressmodel.model.cases.case_frame` (firm-major) with the other rows left out
    (built without the whole cross join: 10,000 firms x 259 cases are 1.5 GB). Nothing else
    reads a peer's projection: the consolidation index's peer statistics take the actual
    metrics and the baseline cash runway of every universe firm (:func:`stage_index`), the
    cross-check multiples and actual metrics come from base figures, and every other table
    is filtered to the reported firms. Without a baseline scenario: every case."""
    if PEER_SCENARIO not in set(scenarios["scenario"].to_list()):
        return case_frame(firms, scenarios)
    reported = pl.col("ticker").is_in(list(runnable))
    f = firms.with_row_index("_firm")
    sc = scenarios.with_row_index("_scen")
    parts = [
        case_frame(f.filter(reported), sc),
        case_frame(f.filter(~reported), sc.filter(pl.col("scenario") == PEER_SCENARIO)),
    ]
    return pl.concat(parts, how="vertical").sort("_firm", "_scen").drop("_firm", "_scen")


def stage_projection(scen: Scenarios, sel: Selection) -> pl.DataFrame:
    """Stage 3: the quarterly projection of every case."""
    return project(scen.cases, sel.horizon, sel.quarters, sel.as_of + 1, backend=scen.backend)


def _net_debt(bases: BaseSet, t: str) -> float:
    # net debt counts liquidity: cash + short-term investments (交易性金融资产, bank products)
    return bases.firms[t].value("total_debt") - bases.firms[t].value("liquidity")


def stage_valuation(
    inputs: Inputs, b: Bases, scen: Scenarios, proj: pl.DataFrame, sel: Selection
) -> Valuation:
    """Stage 4: value per share of every case (quarterly DCF)."""
    ctx = valuation_context(inputs, b, sel)
    return replace(ctx, values=value_cases(ctx, proj, scen.cases, sel))


def valuation_context(inputs: Inputs, b: Bases, sel: Selection) -> Valuation:
    """What the valuation reads beside the quarters, for every universe firm (shares, net
    debt, discount rate, growth, mid-cycle margins and drivers); ``values`` empty."""
    universe = list(b.universe)
    firm_values = pl.DataFrame(
        {
            "ticker": universe,
            "shares": [b.bases.firms[t].get("shares") for t in universe],
            "net_debt0": [_net_debt(b.bases, t) for t in universe],
        },
        schema={"ticker": pl.String, "shares": pl.Float64, "net_debt0": pl.Float64},
    )
    sector = inputs.sector
    rate, growth = sector.float("discount_rate"), sector.float("terminal_growth")
    margins = midcycle_margins(inputs, universe, sel.as_of)
    return Valuation(firm_values, pl.DataFrame(), rate, growth, margins, midcycle_drivers(inputs))


def value_cases(
    ctx: Valuation, proj: pl.DataFrame, cases: pl.DataFrame, sel: Selection
) -> pl.DataFrame:
    """Trailing and mid-cycle value of every case of ``cases`` from its quarters ``proj``
    (sorted by case; each row reads its own case only)."""
    # both DCFs start from the same terminal quarter and explicit PV: computed once (a
    # chunked run pays each polars pass once per chunk)
    terminal = terminal_quarter(proj, cases, sel.horizon)
    pv = present_value_fcf(proj, ctx.rate)
    val = dcf(
        proj, cases, ctx.firm_values, ctx.rate, ctx.growth, sel.horizon, terminal=terminal, pv=pv
    ).sort(KEYS)
    mid = midcycle_dcf(
        proj,
        cases,
        ctx.firm_values,
        {t: m.value for t, m in ctx.margins.items()},
        ctx.rate,
        sel.horizon,
        ctx.drivers,
        terminal=terminal,
        pv=pv,
    )
    return val.join(mid, on=list(KEYS), how="left").sort(KEYS)


def midcycle_drivers(inputs: Inputs) -> MidCycleDrivers:
    sector = inputs.sector
    return MidCycleDrivers(
        sector.int("midcycle_reversion_years"),
        sector.int("midcycle_growth_years"),
        sector.float("midcycle_revenue_growth"),
        sector.float("terminal_growth"),
    )


def midcycle_margins(
    inputs: Inputs, tickers: Sequence[str], as_of: int
) -> dict[str, MidCycleMargin]:
    """Each firm's through-the-cycle EBIT margin from statements dated by the as-of."""
    sector, dated = inputs.sector, inputs.as_of(as_of)
    return {
        t: midcycle_margin(
            t,
            dated.statements.get(t, ()),
            as_of,
            sector.int("midcycle_margin_first_year"),
            sector.int("midcycle_margin_last_year"),
            sector.int("midcycle_margin_min_years"),
            sector.float("midcycle_ebit_margin_sector"),
        )
        for t in tickers
    }


def stage_risk(
    inputs: Inputs, b: Bases, proj: pl.DataFrame, val: Valuation, sel: Selection
) -> Risk:
    """Stage 5: distress metrics per quarter and per case, actual metrics, debt at risk."""
    ctx = risk_context(inputs, b, sel)
    qm = risk.quarter_metrics(proj, ctx.base_q, ctx.fx, ctx.deflator, ctx.material)
    cm = risk.distance_to_default(risk.case_metrics(qm, val.values, sel.horizon))
    dar = risk.debt_at_risk_by_scenario(
        qm.filter(pl.col("ticker").is_in(list(b.runnable))), ctx.opening_debt
    )
    return Risk(qm, cm, ctx.actual, dar, ctx.fx_note)


@dataclass(frozen=True)
class RiskContext:
    """What the risk stage reads beside the quarters, for every universe firm."""

    base_q: pl.DataFrame
    fx: float
    deflator: float
    fx_note: str
    material: tuple[float, float]
    actual: pl.DataFrame
    opening_debt: pl.DataFrame


def risk_context(inputs: Inputs, b: Bases, sel: Selection) -> RiskContext:
    """The base quarter, FX and deflator, materiality, actual metrics and opening debt of
    every universe firm (from base figures; no projection)."""
    universe = list(b.universe)
    dated = inputs.as_of(sel.as_of)
    re0 = {
        t: opening_retained_earnings(t, dated.statements.get(t, ()), sel.as_of) for t in universe
    }
    retained = {t: r.value for t, r in re0.items()}
    base_q = risk.base_quarter_frame(b.bases, universe, retained)
    fx, deflator, fx_note = risk.fx_and_deflator(b.bases, inputs.sector)
    material = (
        inputs.sector.float("material_debt_share_of_assets"),
        inputs.sector.float("material_interest_floor"),
    )
    actual = risk.actual_metrics(
        b.bases, universe, fx, deflator, material, retained=retained
    ).with_columns(
        pl.col("ticker")
        .replace_strict({t: r.basis for t, r in re0.items()}, default=None, return_dtype=pl.String)
        .alias("retained_earnings_basis"),
        pl.col("ticker")
        .replace_strict({t: r.how for t, r in re0.items()}, default=None, return_dtype=pl.String)
        .alias("retained_earnings_how"),
    )
    opening_debt = pl.DataFrame(
        {
            "ticker": universe,
            "debt": [
                b.bases.firms[t].params["st_debt0"] + b.bases.firms[t].params["lt_debt0"]
                for t in universe
            ],
        }
    )
    return RiskContext(base_q, fx, deflator, fx_note, material, actual, opening_debt)


def stage_index(inputs: Inputs, b: Bases, rk: Risk, scen: Scenarios) -> Index:
    """Stage 6: the consolidation index with its band and ranks."""
    sector = inputs.sector
    universe = list(b.universe)
    priors = Priors.from_parameters(inputs.priors)
    dummies = scoring.firm_dummies(inputs, universe, sector)
    stats, med_roa = scoring.universe_stats(
        rk.actual, b.bases, rk.case_metrics.filter(pl.col("scenario") == "baseline").sort("ticker")
    )
    comp = scoring.components(rk.case_metrics, rk.actual, b.bases, dummies, med_roa)
    scored = scoring.score_cases(
        comp.filter(pl.col("ticker").is_in(list(b.runnable))),
        stats,
        priors,
        n_draws=1000,
        seed=sector.int("mc_seed"),
        rank_scenarios=[sc.name for sc in scen.named],
    )
    return Index(priors, dummies, stats, med_roa, scored)


def stage_cross_checks(b: Bases) -> tuple[pl.DataFrame, str]:
    """Stage 7: peer-multiple cross-checks of value per share."""
    bases = b.bases
    return cross_checks(
        [
            {
                "ticker": t,
                "market_cap": bases.firms[t].get("market_cap"),
                "net_debt": _net_debt(bases, t),
                "ebitda": bases.firms[t].value("ebit_ttm") + bases.firms[t].value("da_ttm"),
                "net_income": bases.firms[t].value("net_income_ttm"),
                "book_equity": bases.firms[t].value("equity_attributable"),
                "book_equity_estimated": bases.firms[t].figures["equity_attributable"].basis
                == "estimated",
                "shares": bases.firms[t].get("shares"),
            }
            for t in b.universe
        ]
    )


def _prices(b: Bases) -> tuple[dict[str, float | None], dict[str, str | None]]:
    """Prices on or before the as-of date, and their dates."""
    firms = b.bases.firms
    prices = {t: firms[t].get("share_price") for t in b.universe}
    dates = {
        t: (
            firms[t].figures["share_price_date"].how
            if "share_price_date" in firms[t].figures
            else None
        )
        for t in b.universe
    }
    return prices, dates


def stage_reverse_stress(
    inputs: Inputs, b: Bases, scen: Scenarios, val: Valuation, sel: Selection
) -> pl.DataFrame:
    """Stage 8: the export shocks that break each firm and the one the price implies."""
    prices, price_dates = _prices(b)
    firms = scen.firms_frame.filter(pl.col("ticker").is_in(list(b.runnable)))
    rev = reverse_stress(
        firms,
        val.firm_values,
        prices,
        price_dates,
        inputs.scenarios,
        sel.as_of,
        sel.horizon,
        val.rate,
        inputs.sector.float("wacc_sensitivity"),
        val.growth,
    )
    implied = stage_price_implied(inputs, firms, val, sel, prices)
    return lead_with_price_implied(rev, implied)


def stage_price_implied(
    inputs: Inputs,
    firms: pl.DataFrame,
    val: Valuation,
    sel: Selection,
    prices: dict[str, float | None],
) -> pl.DataFrame:
    """What the price implies on the mid-cycle DCF (no export shock): through-the-cycle
    margin, explicit revenue growth and perpetual growth, with the discount-rate parts."""
    tick = firms["ticker"].to_list()
    sc = [
        inputs.scenarios.reverse_scenario(0.0, sel.horizon, name=f"m{i}") for i in range(len(tick))
    ]
    cases = per_firm_case_frame(firms, scenario_frame(sc, sel.as_of, sel.horizon, None))
    proj = project(cases, sel.horizon, list(sel.quarters), sel.as_of + 1)
    margins = {t: m.value for t, m in val.margins.items()}
    out = price_implied(
        proj, cases, val.firm_values, margins, prices, val.rate, sel.horizon, val.drivers
    )
    sector = inputs.sector
    return out.with_columns(
        pl.col("ticker")
        .replace_strict(
            {t: m.basis for t, m in val.margins.items()}, default=None, return_dtype=pl.String
        )
        .alias("midcycle_margin_basis"),
        pl.col("ticker")
        .replace_strict(
            {t: m.how for t, m in val.margins.items()}, default=None, return_dtype=pl.String
        )
        .alias("midcycle_margin_how"),
        pl.lit(val.rate).alias("discount_rate"),
        pl.lit(sector.float("risk_free_rate")).alias("risk_free_rate"),
        pl.lit(sector.float("equity_risk_premium")).alias("equity_risk_premium"),
        pl.lit(sector.float("size_and_cycle_premium")).alias("size_and_cycle_premium"),
        pl.lit(val.drivers.revenue_growth).alias("midcycle_revenue_growth"),
        pl.lit(val.drivers.growth_years).alias("midcycle_growth_years"),
        pl.lit(val.drivers.reversion_years).alias("midcycle_reversion_years"),
        pl.lit(val.growth).alias("terminal_growth"),
    )


#: the price-implied axes reverse_stress.csv leads with
PRICE_IMPLIED_FIRST = (
    "ticker",
    "share_price",
    "price_date",
    "implied_midcycle_margin",
    "implied_midcycle_margin_status",
    "implied_revenue_growth_5y",
    "implied_revenue_growth_5y_status",
    "implied_perpetual_growth",
    "implied_perpetual_growth_status",
    "implied_export_shock",
    "status",
    "value_no_shock",
    "value_no_shock_midcycle",
    "midcycle_margin",
)


def lead_with_price_implied(rev: pl.DataFrame, implied: pl.DataFrame) -> pl.DataFrame:
    """The reverse-stress table with the price-implied axes joined and put first."""
    df = rev.join(implied, on="ticker", how="left")
    first = [c for c in PRICE_IMPLIED_FIRST if c in df.columns]
    return df.select(*first, pl.exclude(first))


def stage_monte_carlo(
    inputs: Inputs,
    b: Bases,
    scen: Scenarios,
    sel: Selection,
    paths: int,
    executor: Executor | None = None,
) -> dict[str, pl.DataFrame]:
    """Optional stage: Monte Carlo over the export shock's size and duration; on an
    executor in firm chunks (every firm draws the same paths, so any chunking gives the
    serial result)."""
    from stressmodel.analysis.montecarlo import MonteCarloSpec

    keep = pl.col("ticker").is_in(list(b.runnable))
    firms = scen.firms_frame.filter(keep)
    spec = MonteCarloSpec.from_sector(inputs.sector, inputs.scenarios, paths)
    return {"montecarlo": monte_carlo_in_chunks(firms, spec, sel.as_of, executor)}


def monte_carlo_in_chunks(
    firms: pl.DataFrame, spec: Any, as_of: int, executor: Executor | None, chunks: int | None = None
) -> pl.DataFrame:
    """:func:`stressmodel.analysis.montecarlo.simulate` for ``firms``: at once without an
    executor, else in ``chunks`` contiguous firm chunks (default: one per 25 firms, at
    least 2) submitted to it, concatenated and sorted by ticker as ``simulate`` sorts."""
    from stressmodel.analysis.montecarlo import simulate

    n = firms.height
    if executor is None or n < 2:
        return simulate(firms, spec, as_of)
    k = min(n, chunks if chunks is not None else max(2, n // 25))
    bounds = [round(i * n / k) for i in range(k + 1)]
    parts = [firms.slice(bounds[i], bounds[i + 1] - bounds[i]) for i in range(k)]
    futures = [executor.submit(simulate, p, spec, as_of) for p in parts if p.height]
    return pl.concat([f.result() for f in futures]).sort("ticker")


def _no_material_debt(rev: pl.DataFrame, case_metrics: pl.DataFrame) -> pl.DataFrame:
    """A firm with no material debt (interest cover ``n/a: no material debt`` in
    ``baseline``) has no interest-cover threshold: its reverse-stress ICR shock reads the
    same status instead of a shock at which a negligible interest bill is not covered."""
    if (
        "shock_icr_below_1" not in rev.columns
        or "interest_cover_status" not in case_metrics.columns
    ):
        return rev
    none = case_metrics.filter(
        (pl.col("scenario") == "baseline")
        & (pl.col("interest_cover_status") == risk.NO_MATERIAL_DEBT)
    )["ticker"].to_list()
    if not none:
        return rev
    m = pl.col("ticker").is_in(none)
    return rev.with_columns(
        pl.when(m).then(None).otherwise(pl.col("shock_icr_below_1")).alias("shock_icr_below_1"),
        pl.when(m)
        .then(pl.lit(risk.NO_MATERIAL_DEBT))
        .otherwise(pl.col("shock_icr_below_1_status"))
        .alias("shock_icr_below_1_status"),
    )


def _sorted_rows(held: list[pl.DataFrame], masks: Sequence[pl.Expr]) -> list[pl.DataFrame]:
    """Per mask, ``frame.filter(mask).sort([*KEYS, "quarter_index"])`` (keys unique per
    row) of the one frame in ``held``, which is taken out of it and consumed column by
    column: the order is found on the key columns, then each column is gathered and
    released, so the run holds the quarter rows (~1.7 GB at 1,000 firms) about once instead
    of two or three times (filter, sort, source)."""
    frame = held.pop()
    orders = [
        frame.select(*KEYS, "quarter_index", mask.alias("_keep"))
        .with_row_index("_row")
        .filter(pl.col("_keep"))
        .sort([*KEYS, "quarter_index"])
        .get_column("_row")
        for mask in masks
    ]
    columns = frame.get_columns()
    del frame
    columns.reverse()
    # columns are gathered a batch at a time: one polars call per batch instead of per
    # column (a chunk of 3 firms has ~110 columns of ~6,000 rows; a call costs ~0.2 ms),
    # with a batch small enough that what it adds is little next to the frame itself
    batch = max(1, SORTED_ROWS_BATCH_BYTES // (8 * max(1, columns[0].len() if columns else 1)))
    out: list[list[pl.Series]] = [[] for _ in masks]
    while columns:
        part = pl.DataFrame([columns.pop() for _ in range(min(batch, len(columns)))])
        for order, parts in zip(orders, out, strict=True):
            parts.extend(part.select(pl.all().gather(order)).get_columns())
        del part
    return [pl.DataFrame(parts) for parts in out]


#: the source bytes (8 per row and column) :func:`_sorted_rows` gathers in one call
SORTED_ROWS_BATCH_BYTES = 32 * 1024**2


def stage_tables(
    sel: Selection,
    b: Bases,
    scen: Scenarios,
    val: Valuation,
    rk: Risk,
    idx: Index,
    rev: pl.DataFrame,
    multiples: tuple[pl.DataFrame, str],
    monte_carlo: dict[str, pl.DataFrame],
    timings: dict[str, float],
    quarter_rows: list[pl.DataFrame] | None = None,
    *,
    split: tuple[pl.DataFrame, Any] | None = None,
) -> RunResult:
    """Stage 9: the result tables: named-scenario projection, case summary, extras.

    ``quarter_rows``: a list holding the quarter metrics (``rk.quarter_metrics`` when None),
    emptied as they are split into the named and grid projections (the caller keeps no
    other reference, so their memory is released column by column). ``split``: those two
    already (a chunked run's; the grid's may be a lazy frame of spilled parts)."""
    runnable = list(b.runnable)
    named, grid = scen.named, scen.grid
    prices, price_dates = _prices(b)
    firms_b = b.bases.firms
    ages = {
        t: (
            int(firms_b[t].value("price_age_days"))
            if "price_age_days" in firms_b[t].figures
            else None
        )
        for t in b.universe
    }
    groups = {t: firms_b[t].peer_group for t in b.universe}
    named_names = [s.name for s in named]
    keep = pl.col("ticker").is_in(runnable)
    # the named scenarios' quarters, and the grid scenarios' (written to projections.parquet
    # after the named ones)
    if split is None:
        split = _split_quarters(
            quarter_rows if quarter_rows is not None else [rk.quarter_metrics], b, scen
        )
    projection, grid_projection = split
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
    scored = idx.scored
    contrib_cols = [c for c in scored.columns if c.startswith("contrib_")]
    summary = (
        rk.case_metrics.filter(keep)
        .join(scen_params, on="scenario", how="left")
        .join(
            val.values.select(
                *KEYS,
                *[
                    c
                    for c in (
                        "enterprise_value",
                        "equity_value",
                        "value_per_share_midcycle",
                        "value_status_midcycle",
                        "enterprise_value_midcycle",
                        "midcycle_margin",
                    )
                    if c not in rk.case_metrics.columns  # the risk stage already carries some
                ],
            ),
            on=list(KEYS),
            how="left",
        )
        .join(peer_range(multiples[0]), on="ticker", how="left")
        .join(
            rk.actual.select(
                "ticker",
                pl.col("retained_earnings").alias("retained_earnings0"),
                "retained_earnings_basis",
            ),
            on="ticker",
            how="left",
        )
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
            pl.col("ticker")
            .replace_strict(ages, default=None, return_dtype=pl.Int64)
            .alias("price_age_days"),
            pl.col("ticker")
            .replace_strict(
                {t: sel.stale.get(t, (None, None))[0] for t in ages},
                default=None,
                return_dtype=pl.String,
            )
            .alias("latest_actuals"),
            pl.col("ticker")
            .replace_strict(
                {t: sel.stale.get(t, (None, None))[1] for t in ages},
                default=None,
                return_dtype=pl.Int64,
            )
            .alias("stale_quarters"),
            pl.col("ticker")
            .replace_strict(groups, default=None, return_dtype=pl.String)
            .alias("peer_group"),
        )
        .with_columns(
            (pl.col("price_age_days") > sel.price_stale_days).alias("price_stale"),
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
    return RunResult(
        as_of=sel.as_of,
        horizon=sel.horizon,
        quarters=sel.quarters,
        tickers=tuple(runnable),
        later_data=sel.later,
        bases=b.bases,
        scenarios=named,
        grid=grid,
        trade=scen.trade,
        cases=scen.cases,
        projection=projection,
        grid_projection=grid_projection,
        valuation=val.values.filter(keep),
        summary=summary,
        extras={
            "reverse_stress": _no_material_debt(rev, rk.case_metrics),
            "debt_at_risk": rk.debt_at_risk,
            "actual_metrics": rk.actual.filter(keep),
            "peer_stats": idx.stats.to_frame(),
            "peer_median_roa": idx.median_roa,
            "consolidation": scored,
            "dummies": idx.dummies,
            "priors": idx.priors,
            "fx_note": rk.fx_note,
            "multiples": multiples[0].filter(keep),
            "multiples_note": multiples[1],
            "universe": list(b.universe),
            "not_run": b.not_run,
            "price_path": scen.prices,
            **monte_carlo,
        },
        timings=timings,
    )


def peer_range(multiples: pl.DataFrame) -> pl.DataFrame:
    """Per firm, the lowest and highest value per share its peers' median EV/EBITDA, P/E
    and P/B imply (the cross-checks of multiples.csv); null where none is defined."""
    cols = [
        c
        for c in ("implied_vps_ev_ebitda", "implied_vps_pe", "implied_vps_pb")
        if c in multiples.columns
    ]
    if not cols:
        return pl.DataFrame(
            schema={"ticker": pl.String, "peer_vps_low": pl.Float64, "peer_vps_high": pl.Float64}
        )
    return multiples.select(
        "ticker",
        pl.min_horizontal(*cols).alias("peer_vps_low"),
        pl.max_horizontal(*cols).alias("peer_vps_high"),
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
    "value_per_share_midcycle",
    "value_status_midcycle",
    "peer_vps_low",
    "peer_vps_high",
    "share_price",
    "price_date",
    "price_age_days",
    "price_stale",
    "latest_actuals",
    "stale_quarters",
    "upside",
)


def _order_summary(summary: pl.DataFrame, named: list[str]) -> pl.DataFrame:
    rank = {n: i for i, n in enumerate(named)}
    s = (
        summary.with_columns(
            pl.col("scenario")
            .replace_strict(rank, default=len(rank), return_dtype=pl.Int32)
            .alias("_r"),
            # the export shock x permanent share grid after the first grid (ties on shock and cut)
            (pl.col("scenario_kind") == PERMANENT_GRID_KIND).alias("_k"),
        )
        .sort(["ticker", "_r", "_k", "export_shock", "output_cut", "scenario"], maintain_order=True)
        .drop("_r", "_k")
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
