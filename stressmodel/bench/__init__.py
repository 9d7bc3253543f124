"""The benchmark behind ``stressmodel bench``: how fast the engine and a whole run are,
on a seeded synthetic universe built from the shipped firms.

Stages, for each universe size N (default 2, 100 and 1,000 firms; ``quick``: 2 and 100):

- ``projection``: :func:`stressmodel.model.engine.project` over the sensitivity grid
  (77 scenarios) x 12 quarters, every line item; also with a subset of line items
  (:data:`KEY_OUTPUTS`). Reported in firm-scenario-quarter rows per second.
- ``risk_valuation``: the DCF, the per-quarter distress metrics, the per-case metrics and
  the distance to default on that projection (as :func:`stressmodel.pipeline.stages.run_model`
  calls them).
- ``end_to_end``: :func:`stressmodel.run.app.run_and_write` (read and validate the inputs,
  bases, every scenario, risk, scoring, reverse stress, tables, workbooks) on a temporary
  inputs folder holding the synthetic universe; ``workbooks``: the workbook stage of that
  run, with the cells written (counted by opening the files with openpyxl).

Once: the naive reference (:func:`stressmodel.model.reference.project_naive`, Python loops per
firm, scenario and quarter over floats) on a subset of the grid, checked against the
engine and timed in the same process; and the Monte Carlo (10,000 paths for 603072.SH and
300224.SZ on the shipped inputs).

Two synthetic universes, both seeded and both built from the shipped firms:

- for the projection and risk stages, :func:`synthetic_bases` perturbs the base
  parameters that :func:`stressmodel.model.base.compute_bases` gives the shipped firms (size,
  export share, cash, debt, receivable days, interest rate), keeping every opening
  balance sheet balanced;
- for the end-to-end run, :func:`write_synthetic_inputs` writes firms.csv, statements
  files and prices.csv in the documented format (inputs/README.md): each synthetic firm
  is a shipped firm with every CNY mn and tonne figure (statements, market cap, share
  count) scaled by a seeded size factor. Files rather than bases handed to the pipeline,
  so that the end-to-end figure includes reading, validating and computing the bases of
  N firms, as a real run of N firms would, without reaching into the pipeline.

Timings are wall-clock (``time.perf_counter``); a stage timed more than once reports
the first call (``cold``: it pays for first-touch memory and library warm-up) and the
median of the repeats. Resident memory is sampled on a thread every 2 ms (psutil).
"""

from __future__ import annotations

import csv
import gc
import math
import os
import platform
import re
import statistics
import tempfile
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl
import psutil

from stressmodel import __version__
from stressmodel.inputs.load import Inputs, load_inputs
from stressmodel.inputs.periods import quarter_label
from stressmodel.inputs.scenarios import Scenario, grid_name
from stressmodel.inputs.statements import Figure
from stressmodel.model.base import BaseSet, FirmBase
from stressmodel.model.cases import case_frame, scenario_frame
from stressmodel.model.engine import line_items, project
from stressmodel.model.quarter import ALL_FIRM_PARAMS, DRIVERS, OPENING_PARAMS, SCENARIO_PARAMS
from stressmodel.pipeline.stages import default_as_of, select_firms

Progress = Callable[[str], None]

SIZES: tuple[int, ...] = (2, 100, 1000)
QUICK_SIZES: tuple[int, ...] = (2, 100)
#: the two firms named in the issue: first in the synthetic universe, and the Monte Carlo's
NAMED_FIRMS: tuple[str, ...] = ("603072.SH", "300224.SZ")
GRID_HORIZON = 12
MC_PATHS = 10_000
SEED = 20250404
#: line items of the subset projection (what a grid summary or the Monte Carlo reads)
KEY_OUTPUTS: tuple[str, ...] = (
    "revenue",
    "ebit",
    "interest_expense",
    "net_income",
    "fcf",
    "cash",
    "revolver",
    "revolver_draw",
    "total_debt",
    "equity",
)
#: the largest universe that gets an end-to-end run by default: the consolidation index's
#: the largest universe that gets an end-to-end run (every size the benchmark asks for;
#: 1,000 firms write 1,001 workbooks, several minutes)
E2E_MAX_FIRMS = 1000
#: firms of the naive reference subset (x 77 scenarios x 12 quarters)
NAIVE_FIRMS = 4
QUICK_NAIVE_FIRMS = 2
MB = 1024.0 * 1024.0

TARGETS = {
    "engine_rows_per_second": 20e6,
    "projection_1000_firms_seconds": 0.5,
    "projection_1000_firms_peak_rss_mb": 2048.0,
    "end_to_end_seconds_100_firms": 30.0,
    "speedup_vs_naive": 100.0,
    "montecarlo_seconds": 2.0,
}


# --- measuring -----------------------------------------------------------------------------


class PeakRss:
    """Peak resident set size of this process while the block runs (MB), sampled on a
    thread every ``interval`` seconds and at both ends."""

    def __init__(self, interval: float = 0.002) -> None:
        self.interval = interval
        self._proc = psutil.Process()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.before_mb = 0.0
        self.peak_mb = 0.0

    def _rss(self) -> float:
        return float(self._proc.memory_info().rss) / MB

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            self.peak_mb = max(self.peak_mb, self._rss())

    def __enter__(self) -> PeakRss:
        self.before_mb = self.peak_mb = self._rss()
        self._thread = threading.Thread(target=self._run, name="stressmodel-bench-rss", daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
        self.peak_mb = max(self.peak_mb, self._rss())


def _timed(fn: Callable[[], Any]) -> tuple[float, Any]:
    t = time.perf_counter()
    out = fn()
    return time.perf_counter() - t, out


def _repeat(fn: Callable[[], Any], repeats: int) -> tuple[float, list[float], Any]:
    """First call's seconds, the repeats' seconds, and the last result (earlier results
    are released before the next call so that at most one is held)."""
    gc.collect()
    first, out = _timed(fn)
    times = []
    for _ in range(repeats):
        del out
        gc.collect()
        dt, out = _timed(fn)
        times.append(dt)
    return first, times, out


def _median(xs: Sequence[float]) -> float:
    return float(statistics.median(xs)) if xs else math.nan


def machine() -> dict[str, Any]:
    """Cores, memory and versions of the machine the benchmark runs on."""
    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as fh:
            for line in fh:
                if line.startswith("model name"):
                    cpu = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    return {
        "cpu": cpu,
        "cores": os.cpu_count(),
        "memory_gib": round(psutil.virtual_memory().total / 1024**3, 1),
        "os": platform.platform(),
        "python": platform.python_version(),
        "polars": pl.__version__,
        "numpy": np.__version__,
        "polars_threads": pl.thread_pool_size(),
        "stressmodel": __version__,
        "load_average_1min": _load_average(),
    }


def _load_average() -> float | None:
    """Other processes compete for the cores: the 1-minute load average when asked."""
    try:
        return round(os.getloadavg()[0], 2)
    except OSError:  # pragma: no cover - not available
        return None


# --- the synthetic universe ------------------------------------------------------------------

#: base parameters in CNY mn or tonnes (scaled with the size of a synthetic firm)
SIZE_PARAMS = frozenset(
    {
        "q_export0",
        "q_domestic0",
        "normal_production",
        "fixed_overhead",
        "opex",
        "depreciation",
        "inventory_tonnes0",
        "inventory0",
        "min_cash",
        "other_current_assets",
        "other_current_liabilities",
        "other_noncurrent_liabilities",
        # the opening balances (every one in CNY mn)
        *OPENING_PARAMS,
    }
)
#: base figures in CNY mn or million shares (scaled with the size of a synthetic firm)
SIZE_FIGURES = frozenset(
    {
        "revenue_ttm",
        "cogs_ttm",
        "ebit_ttm",
        "da_ttm",
        "net_income_ttm",
        "net_income_ttm_prev",
        "cfo_ttm",
        "interest_ttm",
        "cash",
        "receivables",
        "inventory",
        "total_assets",
        "total_liabilities",
        "equity_total",
        "equity_attributable",
        "total_debt",
        "st_debt",
        "shares",
        "market_cap",
    }
)


def templates(inputs: Inputs, bases: BaseSet) -> list[str]:
    """The shipped firms a synthetic universe is built from: the default-run firms that
    can be run, the two named firms first."""
    default = [t for t in select_firms(inputs, None) if t in bases.firms]
    named = [t for t in NAMED_FIRMS if t in default]
    return named + [t for t in default if t not in named]


def synthetic_ticker(template: str, i: int) -> str:
    """The template's exchange prefix and suffix around a serial number: 60 + 0042 + .SH."""
    if not 0 <= i < 10_000:
        raise ValueError("at most 10,000 synthetic firms")
    return f"{template[:2]}{i:04d}{template[6:]}"


def synthetic_bases(
    shipped: BaseSet, template_firms: Sequence[str], n: int, seed: int = SEED
) -> BaseSet:
    """N firms, firm i a perturbed copy of ``template_firms[i % len]`` (seeded per firm,
    so firm i is the same in every universe size):

    - size: every CNY mn and tonne parameter x exp(Normal(0, 0.5));
    - export share of volume x Uniform(0.7, 1.3), capped at 0.95, at unchanged normal
      volume; last-quarter revenue by region follows (price x volume);
    - cash x Uniform(0.5, 1.5) and debt x Uniform(0.5, 1.5), equity absorbing both so that
      the opening balance sheet still balances;
    - receivable days x Uniform(0.8, 1.2) (within the cap), interest rate x Uniform(0.8, 1.2).
    """
    if not template_firms:
        raise ValueError("no shipped firm to build a synthetic universe from")
    firms: dict[str, FirmBase] = {}
    for i in range(n):
        t = template_firms[i % len(template_firms)]
        fb = shipped.firms[t]
        r = np.random.default_rng([seed, i])
        size = float(np.exp(r.normal(0.0, 0.5)))
        p = {k: (v * size if k in SIZE_PARAMS else v) for k, v in fb.params.items()}
        volume = p["q_export0"] + p["q_domestic0"]
        if volume > 0:
            x = min(p["q_export0"] / volume * float(r.uniform(0.7, 1.3)), 0.95)
            p["q_export0"], p["q_domestic0"] = volume * x, volume * (1 - x)
            p["revenue_export_q0"] = p["price_export0"] * p["q_export0"]
            p["revenue_domestic_q0"] = p["price_domestic0"] * p["q_domestic0"]
        cash = p["cash0"] * float(r.uniform(0.5, 1.5))
        debt_factor = float(r.uniform(0.5, 1.5))
        st, lt = p["st_debt0"] * debt_factor, p["lt_debt0"] * debt_factor
        p["equity0"] += (cash - p["cash0"]) - (st - p["st_debt0"]) - (lt - p["lt_debt0"])
        p["cash0"], p["st_debt0"], p["lt_debt0"] = cash, st, lt
        p["dso_days"] = min(p["dso_days"] * float(r.uniform(0.8, 1.2)), p["max_dso_days"])
        p["interest_rate"] = p["interest_rate"] * float(r.uniform(0.8, 1.2))
        figures = {
            k: Figure(
                f.value * size if k in SIZE_FIGURES else f.value,
                f.basis,
                f.how,
                f.sources,
                f.quarter,
            )
            for k, f in fb.figures.items()
        }
        figures["cash"] = Figure(cash, "estimated", "synthetic", ())
        figures["short_term_investments"] = Figure(0.0, "estimated", "synthetic", ())
        figures["liquidity"] = Figure(cash, "estimated", "synthetic", ())
        figures["total_debt"] = Figure(st + lt, "estimated", "synthetic", ())
        figures["st_debt"] = Figure(st, "estimated", "synthetic", ())
        ticker = synthetic_ticker(t, i)
        firms[ticker] = FirmBase(ticker, fb.as_of, figures, p, [f"synthetic: {t} x {size:.3f}"])
    return BaseSet(shipped.as_of, firms, shipped.peers, {}, {})


#: units of statement items and price observations scaled with a synthetic firm's size
SIZE_UNITS = frozenset({"CNY mn", "tonnes", "tonnes/year"})


def _scale(text: str, factor: float) -> str:
    return repr(float(text) * factor) if text.strip() else text


def write_synthetic_inputs(
    src: Path, dest: Path, template_firms: Sequence[str], n: int, seed: int = SEED
) -> list[str]:
    """An inputs folder of N synthetic firms in the documented format (inputs/README.md):
    firm i is ``template_firms[i % len]`` with every CNY mn and tonne figure of its
    statements and prices, and its share count, x exp(Normal(0, 0.5)) (seeded per firm);
    ratios, prices per share and per tonne unchanged. Sector, scenario, trade, event and prior
    files are copied. Returns the tickers."""
    dest.mkdir(parents=True, exist_ok=True)
    (dest / "statements").mkdir(exist_ok=True)
    for name in (
        "sector.toml",
        "scenarios.toml",
        "trade.csv",
        "policy_events.csv",
        "consolidation_priors.csv",
    ):
        (dest / name).write_bytes((src / name).read_bytes())
    with open(src / "firms.csv", encoding="utf-8", newline="") as fh:
        reader = csv.DictReader(fh)
        columns = list(reader.fieldnames or [])
        register = {r["ticker"]: r for r in reader}
    with open(src / "prices.csv", encoding="utf-8", newline="") as fh:
        reader = csv.DictReader(fh)
        price_columns = list(reader.fieldnames or [])
        prices: dict[str, list[dict[str, str]]] = {}
        for r in reader:
            prices.setdefault(r["ticker"], []).append(r)
    statements: dict[str, tuple[list[str], list[dict[str, str]]]] = {}
    for t in dict.fromkeys(template_firms):
        with open(src / "statements" / f"{t}.csv", encoding="utf-8", newline="") as fh:
            reader = csv.DictReader(fh)
            statements[t] = (list(reader.fieldnames or []), list(reader))
    tickers, firm_rows, price_rows = [], [], []
    for i in range(n):
        t = template_firms[i % len(template_firms)]
        ticker = synthetic_ticker(t, i)
        size = float(np.exp(np.random.default_rng([seed, i]).normal(0.0, 0.5)))
        row = dict(register[t])
        row.update(
            ticker=ticker,
            company_name=f"Synthetic {i} (from {t})",
            default_run="yes",
            shares_outstanding=_scale(row["shares_outstanding"], size),
            note=f"synthetic benchmark firm: {t} x {size:.4f}",
        )
        firm_rows.append(row)
        for p in prices.get(t, []):
            value = _scale(p["value"], size) if p["unit"] in SIZE_UNITS else p["value"]
            price_rows.append({**p, "ticker": ticker, "value": value})
        cols, rows = statements[t]
        with open(dest / "statements" / f"{ticker}.csv", "w", encoding="utf-8", newline="") as fh:
            w = csv.DictWriter(fh, cols, lineterminator="\n")
            w.writeheader()
            for r in rows:
                w.writerow(
                    {
                        **r,
                        "value": _scale(r["value"], size)
                        if r["unit"] in SIZE_UNITS
                        else r["value"],
                    }
                )
        tickers.append(ticker)
    for name, cols, rows in (
        ("firms.csv", columns, firm_rows),
        ("prices.csv", price_columns, price_rows),
    ):
        with open(dest / name, "w", encoding="utf-8", newline="") as fh:
            w = csv.DictWriter(fh, cols, lineterminator="\n")
            w.writeheader()
            w.writerows(rows)
    return tickers


# --- stages --------------------------------------------------------------------------------


@dataclass(frozen=True)
class Setting:
    """What every stage shares: shipped inputs, as-of quarter, grid and templates."""

    inputs_dir: Path
    inputs: Inputs
    as_of: int
    shipped: BaseSet
    templates: tuple[str, ...]
    grid: tuple[Scenario, ...]
    grid_frame: pl.DataFrame  # scenario frame of the grid over GRID_HORIZON quarters
    #: the grid of issue 17's engine figure: 77 scenarios (export shock in steps of 0.1 x
    #: every output cut), a subset of the shipped grid (steps of 0.05)
    engine_grid_frame: pl.DataFrame

    @property
    def labels(self) -> list[str]:
        return [quarter_label(self.as_of + k) for k in range(1, GRID_HORIZON + 1)]


def setting(inputs_dir: Path) -> Setting:
    """The shipped inputs, the as-of quarter, the bases and the grid's scenario frame: the
    grid's paths come from the pipeline's own stages (trade path and PrNd price path as
    a run computes them), over :data:`GRID_HORIZON` quarters."""
    from stressmodel.pipeline import stages
    from stressmodel.pipeline.result import RunOptions

    inputs = load_inputs(inputs_dir)
    as_of, _later = default_as_of(inputs, select_firms(inputs, None))
    sel = stages.select(inputs, RunOptions(as_of=as_of, horizon=GRID_HORIZON))
    b = stages.stage_bases(inputs, sel)
    scen = stages.stage_scenarios(inputs, sel, b)
    shipped = b.bases
    # the 147-point export shock x output cut grid, as in every earlier benchmark (the
    # permanent-share grid, kind grid_permanent, runs in `stressmodel run` but is left out
    # here so that the figures stay comparable with benchmarks/RESULTS.md)
    grid = tuple(sc for sc in scen.grid if sc.kind == "grid")
    frame = scenario_frame(
        list(grid),
        as_of,
        GRID_HORIZON,
        scen.trade.loss,
        scen.prices.change if scen.prices else None,
    )
    tenths = (pl.col("s_export_shock") * 10).round(9)
    engine_frame = frame.filter(tenths == tenths.round(0))
    return Setting(
        Path(inputs_dir),
        inputs,
        as_of,
        shipped,
        tuple(templates(inputs, shipped)),
        grid,
        frame,
        engine_frame,
    )


def bench_projection(
    cases: pl.DataFrame, s: Setting, repeats: int
) -> tuple[dict[str, Any], pl.DataFrame]:
    """Every line item (cold call, then ``repeats``), and the :data:`KEY_OUTPUTS` subset."""
    rows = cases.height * GRID_HORIZON
    with PeakRss() as mem:
        cold, warm, proj = _repeat(
            lambda: project(cases, GRID_HORIZON, s.labels, s.as_of + 1), repeats
        )
        sub_cold, sub_warm, sub = _repeat(
            lambda: project(cases, GRID_HORIZON, s.labels, s.as_of + 1, outputs=KEY_OUTPUTS),
            repeats,
        )
        del sub
    balance = float(proj["balance_check"].abs().max() or 0.0) / max(
        float(proj["total_assets"].abs().max() or 1.0), 1.0
    )
    seconds = _median(warm) if warm else cold
    sub_seconds = _median(sub_warm) if sub_warm else sub_cold
    return {
        "cases": cases.height,
        "rows": rows,
        "line_items": len(line_items()),
        "cold_seconds": cold,
        "seconds": seconds,
        "repeats": len(warm),
        "rows_per_second": rows / seconds,
        "cold_rows_per_second": rows / cold,
        "subset_line_items": len(KEY_OUTPUTS),
        "subset_cold_seconds": sub_cold,
        "subset_seconds": sub_seconds,
        "subset_rows_per_second": rows / sub_seconds,
        "output_mb": proj.estimated_size() / MB,
        "rss_before_mb": mem.before_mb,
        "peak_rss_mb": mem.peak_mb,
        "max_balance_check_relative": balance,
    }, proj


def bench_risk_valuation(
    proj: pl.DataFrame, cases: pl.DataFrame, bases: BaseSet, s: Setting
) -> dict[str, Any]:
    """DCF, quarter and case distress metrics and distance to default, as run_model does."""
    from stressmodel.analysis import risk
    from stressmodel.analysis.valuation import dcf

    universe = list(bases.firms)
    sector = s.inputs.sector
    firm_values = pl.DataFrame(
        {
            "ticker": universe,
            "shares": [bases.firms[t].get("shares") for t in universe],
            "net_debt0": [
                bases.firms[t].value("total_debt") - bases.firms[t].value("liquidity")
                for t in universe
            ],
        },
        schema={"ticker": pl.String, "shares": pl.Float64, "net_debt0": pl.Float64},
    )
    base_name = (
        grid_name(0.0, 0.0)
        if any(sc.name == grid_name(0.0, 0.0) for sc in s.grid)
        else s.grid[0].name
    )
    timings: dict[str, float] = {}
    gc.collect()
    with PeakRss() as mem:
        t0 = time.perf_counter()
        val = dcf(
            proj,
            cases,
            firm_values,
            sector.float("discount_rate"),
            sector.float("terminal_growth"),
            GRID_HORIZON,
        )
        timings["valuation"] = time.perf_counter() - t0
        t1 = time.perf_counter()
        base_q = risk.base_quarter_frame(bases, universe)
        fx, deflator, _note = risk.fx_and_deflator(bases, sector)
        qm = risk.quarter_metrics(proj, base_q, fx, deflator)
        cm = risk.distance_to_default(
            risk.case_metrics(qm, val, GRID_HORIZON), base_scenario=base_name
        )
        timings["risk"] = time.perf_counter() - t1
    seconds = timings["valuation"] + timings["risk"]
    return {
        "seconds": seconds,
        "stage_seconds": timings,
        "cases": cm.height,
        "rows_per_second": proj.height / seconds,
        "rss_before_mb": mem.before_mb,
        "peak_rss_mb": mem.peak_mb,
    }


#: engine vs naive loops: polars computes x / c as x * (1 / c), a few units in the last place
REL_TOL = 1e-12
ABS_TOL = 1e-9


def bench_naive(firms: pl.DataFrame, s: Setting, repeats: int) -> dict[str, Any]:
    """The analyst's loops (reference.project_naive) against the engine on the same
    cases: timed in this process, every line item compared (relative 1e-12, absolute
    1e-9 CNY mn for values that are zero up to rounding)."""
    from stressmodel.model.reference import project_naive

    scen = s.grid_frame
    firm_dicts = [
        {p: float(r[f"f_{p}"]) for p in ALL_FIRM_PARAMS} for r in firms.iter_rows(named=True)
    ]
    scen_rows = list(scen.iter_rows(named=True))
    scen_dicts = [{p: float(r[f"s_{p}"]) for p in SCENARIO_PARAMS} for r in scen_rows]
    drivers = [
        [{p: float(r[f"d_{p}_{k}"]) for p in DRIVERS} for k in range(1, GRID_HORIZON + 1)]
        for r in scen_rows
    ]
    naive_cold, naive_warm, naive = _repeat(
        lambda: project_naive(firm_dicts, scen_dicts, drivers), repeats
    )
    naive_seconds = _median(naive_warm) if naive_warm else naive_cold
    cases = case_frame(firms, scen)
    cold, warm, proj = _repeat(lambda: project(cases, GRID_HORIZON, s.labels, s.as_of + 1), repeats)
    engine_seconds = _median(warm) if warm else cold
    # engine rows are quarter-major, cases firm-major: row (k, firm a, scenario j)
    n_f, n_s = len(firm_dicts), len(scen_dicts)
    items = line_items()
    mismatches, worst = 0, 0.0
    for name in items:
        ref = np.array(
            [
                [[naive[a][j][k][name] for j in range(n_s)] for a in range(n_f)]
                for k in range(GRID_HORIZON)
            ]
        ).ravel()
        got = proj[name].to_numpy()
        mismatches += int(np.count_nonzero(~np.isclose(got, ref, rtol=REL_TOL, atol=ABS_TOL)))
        scale = np.maximum(np.abs(ref), 1.0)
        worst = max(worst, float(np.max(np.abs(got - ref) / scale)) if ref.size else 0.0)
    rows = n_f * n_s * GRID_HORIZON
    return {
        "firms": n_f,
        "scenarios": n_s,
        "quarters": GRID_HORIZON,
        "rows": rows,
        "naive_seconds": naive_seconds,
        "naive_cold_seconds": naive_cold,
        "naive_rows_per_second": rows / naive_seconds,
        "engine_seconds": engine_seconds,
        "engine_rows_per_second": rows / engine_seconds,
        "speedup_same_cases": naive_seconds / engine_seconds,
        "values_compared": rows * len(items),
        "values_different": mismatches,
        "max_relative_difference": worst,
        "identical": mismatches == 0,
    }


def bench_montecarlo(s: Setting, paths: int, repeats: int) -> dict[str, Any]:
    """P paths for the two named firms on the shipped inputs (sector.toml distributions)."""
    from stressmodel.analysis.montecarlo import MonteCarloSpec, simulate

    firms = s.shipped.frame([t for t in NAMED_FIRMS if t in s.shipped.firms])
    spec = MonteCarloSpec.from_sector(s.inputs.sector, s.inputs.scenarios, paths)
    with PeakRss() as mem:
        cold, warm, table = _repeat(lambda: simulate(firms, spec, s.as_of), repeats)
    seconds = _median(warm) if warm else cold
    return {
        "firms": firms["ticker"].to_list(),
        "paths": paths,
        "cases": firms.height * paths,
        "cold_seconds": cold,
        "seconds": seconds,
        "peak_rss_mb": mem.peak_mb,
        "probabilities": table.select(
            "ticker", *[c for c in table.columns if c.startswith("p_")]
        ).to_dicts(),
    }


def workbook_status() -> tuple[bool, str]:
    """Whether :func:`stressmodel.report.write_workbooks` exists in this build."""
    try:
        from stressmodel.run.app import workbook_writer

        workbook_writer()
    except Exception as exc:  # ImportError or ReportError: the writer is not there yet
        return False, f"unavailable: {exc}"
    return True, "ok"


_CELL = re.compile(rb"<c [^>]*?(/?)>")


def count_cells(paths: Sequence[Path]) -> int:
    """Non-empty cells (values and formulas) of the workbooks: the ``<c>`` elements with
    content in each worksheet's XML (a formatted blank is a self-closed ``<c .../>``).
    The same count as reading every cell back with openpyxl (tests/test_bench.py), at a
    small fraction of the time (openpyxl took about 17 minutes for 1,000 workbooks)."""
    import zipfile

    cells = 0
    for path in paths:
        with zipfile.ZipFile(path) as zf:
            for name in zf.namelist():
                if name.startswith("xl/worksheets/sheet") and name.endswith(".xml"):
                    cells += sum(1 for m in _CELL.finditer(zf.read(name)) if not m.group(1))
    return cells


def bench_end_to_end(
    s: Setting, n: int, workbooks: bool, status: str, workers: int = 1
) -> dict[str, Any]:
    """``run_and_write`` on a temporary inputs folder of N synthetic firms, the firm
    workbooks written by ``workers`` processes."""
    from stressmodel.pipeline.result import RunOptions
    from stressmodel.run.app import run_and_write

    out: dict[str, Any] = {
        "firms": n,
        "workbooks": workbooks,
        "workbook_status": status,
        "workers": workers,
    }
    with tempfile.TemporaryDirectory(prefix="stressmodel-bench-") as tmp:
        src, dest = Path(tmp) / "inputs", Path(tmp) / "outputs"
        out["write_inputs_seconds"], _tickers = _timed(
            lambda: write_synthetic_inputs(s.inputs_dir, src, s.templates, n)
        )
        gc.collect()
        try:
            with PeakRss() as mem:
                seconds, report = _timed(
                    lambda: run_and_write(
                        src, dest, RunOptions(), workbooks=workbooks, workers=workers
                    )
                )
        except Exception as exc:
            if not workbooks:
                raise
            # the workbook writer exists but failed: say so, and time the run without it
            out["workbooks"] = False
            out["workbook_status"] = f"failed: {type(exc).__name__}: {exc}"
            with PeakRss() as mem:
                seconds, report = _timed(
                    lambda: run_and_write(src, dest, RunOptions(), workbooks=False, force=True)
                )
        out["seconds"] = seconds
        out["rss_before_mb"], out["peak_rss_mb"] = mem.before_mb, mem.peak_mb
        out["as_of"] = report.result.as_of_label
        out["horizon"] = report.result.horizon
        # one summary row per firm and case (the run's report keeps only the named cases'
        # valuation and case rows after the workbooks)
        out["cases"] = report.result.summary.height
        manifest = report.folder / "manifest.json"
        stages: dict[str, float] = {}
        if manifest.exists():
            import json

            stages = dict(json.loads(manifest.read_text(encoding="utf-8")).get("stage_seconds", {}))
        out["stage_seconds"] = stages
        books = sorted(report.folder.rglob("*.xlsx"))
        if out["workbooks"]:
            wb_seconds = stages.get("workbooks")
            cells = count_cells(books)
            out["workbook_files"] = len(books)
            out["workbook_seconds"] = wb_seconds
            out["workbook_cells"] = cells
            out["workbook_cells_per_second"] = cells / wb_seconds if wb_seconds else None
    return out


# --- the whole benchmark -------------------------------------------------------------------


def parse_sizes(text: str | None) -> tuple[int, ...] | None:
    """``--sizes 2,10`` -> (2, 10)."""
    if not text:
        return None
    from stressmodel.errors import UsageError

    try:
        sizes = tuple(int(x) for x in text.split(",") if x.strip())
    except ValueError:
        raise UsageError(
            f"--sizes takes comma-separated firm counts like 2,100; got {text!r}"
        ) from None
    if not sizes or any(not 1 <= n < 10_000 for n in sizes):
        raise UsageError(f"--sizes takes firm counts from 1 to 9999; got {text!r}")
    return tuple(dict.fromkeys(sizes))


def run_benchmark(
    inputs_dir: Path,
    *,
    quick: bool = False,
    sizes: Sequence[int] | None = None,
    repeats: int | None = None,
    naive_firms: int | None = None,
    mc_paths: int = MC_PATHS,
    end_to_end_sizes: Sequence[int] | None = None,
    progress: Progress | None = None,
    shipped_run: bool = True,
    fanout_firms: int = 100,
    parallel_workers: int = 2,
    cluster_workers: int = 2,
) -> dict[str, Any]:
    """Run every stage; return one JSON-ready dict (see :func:`summary_figures` for the
    headline figures). ``end_to_end_sizes``: the sizes that get an end-to-end run
    (default: every size); those of 100 firms or more are also run with the firm
    workbooks written by ``parallel_workers`` processes. ``shipped_run``: time
    ``stressmodel run`` on the shipped inputs in a fresh process. ``fanout_firms``: the
    firms of the Monte Carlo run serially and on a Dask LocalCluster (0: none)."""
    from stressmodel.bench import speed
    from stressmodel.bench.validate import bench_validate, firms_for

    say = progress or (lambda _m: None)
    t_start = time.perf_counter()
    sizes = tuple(sizes if sizes is not None else (QUICK_SIZES if quick else SIZES))
    repeats = repeats if repeats is not None else (2 if quick else 3)
    naive_firms = (
        naive_firms if naive_firms is not None else (QUICK_NAIVE_FIRMS if quick else NAIVE_FIRMS)
    )
    e2e = set(
        [n for n in sizes if n <= E2E_MAX_FIRMS] if end_to_end_sizes is None else end_to_end_sizes
    )
    load_at_start = _load_average()
    say("reading the shipped inputs")
    s = setting(Path(inputs_dir))
    wb_ok, wb_status = workbook_status()
    report: dict[str, Any] = {
        "machine": machine(),
        "settings": {
            "inputs": str(inputs_dir),
            "as_of": quarter_label(s.as_of),
            "sizes": list(sizes),
            "repeats": repeats,
            "grid_scenarios": len(s.grid),
            "horizon": GRID_HORIZON,
            "seed": SEED,
            "templates": list(s.templates),
            "key_outputs": list(KEY_OUTPUTS),
            "quick": quick,
        },
        "workbook_status": wb_status,
        "sizes": {},
    }
    for n in sizes:
        say(f"N = {n}: synthetic universe and projection ({n} x {len(s.grid)} x {GRID_HORIZON})")
        bases = synthetic_bases(s.shipped, s.templates, n)
        cases = case_frame(bases.frame(), s.grid_frame)
        entry: dict[str, Any] = {}
        entry["projection"], proj = bench_projection(cases, s, repeats)
        say(
            f"N = {n}: polars engine, numpy kernel and fused kernel side by side "
            f"({n} x {s.engine_grid_frame.height} x {GRID_HORIZON})"
        )
        engine_cases = case_frame(bases.frame(), s.engine_grid_frame)
        entry["engines"] = speed.bench_engines(
            engine_cases, GRID_HORIZON, s.labels, s.as_of + 1, repeats
        )
        entry["engines"]["scenarios"] = s.engine_grid_frame.height
        del engine_cases
        say(f"N = {n}: risk and valuation")
        entry["risk_valuation"] = bench_risk_valuation(proj, cases, bases, s)
        del proj
        gc.collect()
        if n in e2e:
            say(
                f"N = {n}: end-to-end run"
                + (" with workbooks" if wb_ok else " (workbooks unavailable)")
            )
            entry["end_to_end"] = bench_end_to_end(s, n, wb_ok, wb_status)
            if n >= 100 and wb_ok and parallel_workers > 1:
                say(f"N = {n}: end-to-end run, workbooks by {parallel_workers} processes")
                entry["end_to_end_workers"] = bench_end_to_end(
                    s, n, wb_ok, wb_status, workers=parallel_workers
                )
        else:
            entry["end_to_end_status"] = (
                f"not run: end-to-end runs are limited to {E2E_MAX_FIRMS} firms"
            )
        report["sizes"][str(n)] = entry
    say(f"naive reference: {naive_firms} firms x {len(s.grid)} scenarios x {GRID_HORIZON} quarters")
    naive_universe = synthetic_bases(s.shipped, s.templates, naive_firms).frame()
    report["naive"] = bench_naive(naive_universe, s, repeats)
    say(f"Monte Carlo: {mc_paths} paths x {len(NAMED_FIRMS)} firms")
    report["montecarlo"] = bench_montecarlo(s, mc_paths, repeats)
    if fanout_firms > 0:
        from stressmodel.analysis.montecarlo import MonteCarloSpec

        say(
            f"Monte Carlo fan-out: {mc_paths} paths x {fanout_firms} firms, serial and local:{cluster_workers}"
        )
        spec = MonteCarloSpec.from_sector(s.inputs.sector, s.inputs.scenarios, mc_paths)
        universe = synthetic_bases(s.shipped, s.templates, fanout_firms).frame()
        report["montecarlo_fanout"] = speed.bench_montecarlo_fanout(
            universe, spec, s.as_of, cluster_workers
        )
    say("validate on a synthetic register")
    report["validate"] = bench_validate(Path(inputs_dir), list(s.templates), firms_for(sizes))
    say("store bandwidth")
    report["store_bandwidth"] = speed.store_bandwidth()
    if shipped_run:
        say("stressmodel run on the shipped inputs (fresh processes)")
        report["shipped_run"] = speed.bench_shipped_run(Path(inputs_dir))
    report["process_peak_rss_mb"] = _process_peak_mb()
    report["load_average_1min_at_end"] = _load_average()
    report["machine_load"] = {
        "load_average_1min_start": load_at_start,
        "load_average_1min_end": report["load_average_1min_at_end"],
        "cpus": os.cpu_count(),
        "note": "1-minute load average of the whole machine; above the CPU count, other "
        "processes held cores during the run and wall-clock figures are inflated",
    }
    report["benchmark_seconds"] = time.perf_counter() - t_start
    report.update(summary_figures(report))
    return report


def _process_peak_mb() -> float:
    try:
        import resource

        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0  # kB on Linux
    except (ImportError, OSError):  # pragma: no cover - not Linux
        return math.nan


# the headline figures and the text table (kept importable from here)
from stressmodel.bench.report import format_report, summary_figures  # noqa: E402, F401
