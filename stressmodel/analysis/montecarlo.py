"""Monte Carlo over the export shock: how likely each firm needs its revolving facility,
and how likely it runs out of cash, within 4 and 8 quarters.

Each path draws an export shock size and a shock duration (sector.toml):

    export_shock ~ Uniform(mc_export_shock_low, mc_export_shock_high)
    duration     ~ uniform on the whole quarters mc_duration_min .. mc_duration_max

and takes every other parameter from the ``seed`` scenario of scenarios.toml (start,
recovery, permanent share, output cut, storage cost, licence delay, raw materials, ...;
always the parametric intensity path). Draws use numpy's ``default_rng(mc_seed)`` by
inverse transform of two uniforms per path, u for the shock and v for the duration:

    shock = low + (high - low) * u,   duration = min + floor((max - min + 1) * v)

so a run is reproducible, every firm sees the same paths (common random numbers), and a
harsher distribution (higher bounds) moves every path's shock and duration up, never down.

Paths are cases of the projection engine, like scenarios: firms x paths in one frame,
one vectorised projection, a Python loop over quarters only.

Per firm (``montecarlo.csv``): the share of paths with a revolving draw (revolver draw
above 1e-9 CNY mn, as in the runway of :func:`stressmodel.analysis.risk.case_metrics`) and with
net cash (cash less revolver) below zero, in projected quarters 1..4 and 1..8.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace

import numpy as np
import polars as pl

from stressmodel.inputs.scenarios import Scenario, ScenarioSet, intensity, scenario_paths
from stressmodel.inputs.sector import Sector
from stressmodel.model.cases import case_frame
from stressmodel.model.engine import KEYS, project
from stressmodel.model.quarter import SCENARIO_PARAMS

#: windows (projected quarters) of the reported probabilities; the projection runs to the last
WINDOWS: tuple[int, ...] = (4, 8)
#: a revolving draw counts above this many CNY mn (as in risk.case_metrics)
DRAW_EPS = 1e-9
BASE_SCENARIO = "seed"
#: firm x path cases projected at once (about 0.5 GB); more are projected in blocks of paths
MAX_CASES = 1_000_000
#: the line items the probabilities need
OUTPUTS: tuple[str, ...] = ("cash", "revolver", "revolver_draw")

COLUMNS: tuple[str, ...] = (
    "ticker",
    "paths",
    *(f"p_revolver_draw_{w}q" for w in WINDOWS),
    *(f"p_out_of_cash_{w}q" for w in WINDOWS),
    "export_shock_low",
    "export_shock_high",
    "duration_min",
    "duration_max",
    "seed",
    "base_scenario",
)


@dataclass(frozen=True)
class MonteCarloSpec:
    """The distributions of the draws and the scenario that supplies everything else."""

    paths: int
    export_shock_low: float
    export_shock_high: float
    duration_min: int
    duration_max: int
    seed: int
    base: Scenario

    def __post_init__(self) -> None:
        if self.paths < 1:
            raise ValueError("at least one Monte Carlo path is needed")
        if not 0.0 <= self.export_shock_low <= self.export_shock_high <= 1.0:
            raise ValueError("export shock bounds must satisfy 0 <= low <= high <= 1")
        if not 0 <= self.duration_min <= self.duration_max:
            raise ValueError("duration bounds must satisfy 0 <= min <= max")

    @classmethod
    def from_sector(cls, sector: Sector, scenarios: ScenarioSet, paths: int) -> MonteCarloSpec:
        return cls(
            paths=paths,
            export_shock_low=sector.float("mc_export_shock_low"),
            export_shock_high=sector.float("mc_export_shock_high"),
            duration_min=sector.int("mc_duration_min"),
            duration_max=sector.int("mc_duration_max"),
            seed=sector.int("mc_seed"),
            base=scenarios.named[BASE_SCENARIO],
        )


def draw(spec: MonteCarloSpec) -> tuple[np.ndarray, np.ndarray]:
    """Export shock (fraction) and duration (quarters, int) of every path."""
    rng = np.random.default_rng(spec.seed)
    u = rng.random(spec.paths)
    v = rng.random(spec.paths)
    shock = spec.export_shock_low + (spec.export_shock_high - spec.export_shock_low) * u
    width = spec.duration_max - spec.duration_min + 1
    duration = spec.duration_min + np.minimum(np.floor(width * v).astype(np.int64), width - 1)
    return shock, duration


def path_frame(spec: MonteCarloSpec, as_of: int, horizon: int) -> pl.DataFrame:
    """One row per path in the scenario-frame layout of :func:`stressmodel.model.cases.scenario_frame`
    (``scenario`` = ``mc00001``..., ``s_<param>``, ``d_<driver>_<k>``), built with numpy:
    the intensity path of each possible duration comes from
    :func:`stressmodel.inputs.scenarios.intensity`, then every path picks its row."""
    shock, duration = draw(spec)
    # an undated forward stress: the paths start the quarter after the as-of whatever the
    # base scenario's own (dated) start
    base = replace(spec.base, path="parametric", kind="montecarlo", start="next")
    start = base.start_index(as_of)
    quarters = range(as_of + 1, as_of + horizon + 1)
    durations = np.arange(spec.duration_min, spec.duration_max + 1)
    table = np.array(
        [
            [
                intensity(q, start, int(dur), base.recovery_quarters, base.permanent_share)
                for q in quarters
            ]
            for dur in durations
        ],
        dtype=np.float64,
    ).reshape(len(durations), horizon)
    inten = table[duration - spec.duration_min]  # paths x horizon
    _inten, raw = scenario_paths(base, as_of, horizon)
    width = len(str(spec.paths))
    cols: dict[str, object] = {
        "scenario": pl.Series(
            [f"mc{i:0{width}d}" for i in range(1, spec.paths + 1)], dtype=pl.String
        )
    }
    for p in SCENARIO_PARAMS:
        if p in ("opening_intensity", "opening_backlog"):  # undated: nothing in the actuals
            cols[f"s_{p}"] = np.zeros(spec.paths)
            continue
        cols[f"s_{p}"] = (
            shock if p == "export_shock" else np.full(spec.paths, float(getattr(base, p)))
        )
    for k in range(1, horizon + 1):
        cols[f"d_intensity_{k}"] = np.ascontiguousarray(inten[:, k - 1])
        cols[f"d_raw_material_change_{k}"] = np.full(spec.paths, float(raw[k - 1]))
    return pl.DataFrame(cols)


def simulate(
    firms: pl.DataFrame, spec: MonteCarloSpec, as_of: int, windows: Sequence[int] = WINDOWS
) -> pl.DataFrame:
    """Probabilities per firm (``firms``: ``ticker`` and ``f_<param>`` columns, one row per
    firm). Columns: :data:`COLUMNS`, one row per ticker, sorted by ticker.

    The paths are drawn once; when firms x paths exceeds :data:`MAX_CASES` they are
    projected in blocks of paths (every firm in each block) to bound memory, which does
    not change the result."""
    horizon = max(windows)
    labels = [f"q{k}" for k in range(1, horizon + 1)]
    paths = path_frame(spec, as_of, horizon)
    per_block = max(1, MAX_CASES // max(firms.height, 1))
    counts = []
    for lo in range(0, paths.height, per_block):  # blocks of paths, not firms: memory only
        cases = case_frame(firms, paths.slice(lo, per_block))
        proj = project(cases, horizon, labels, as_of + 1, outputs=OUTPUTS)
        first = proj.group_by(KEYS).agg(
            pl.col("step").filter(pl.col("revolver_draw") > DRAW_EPS).min().alias("first_draw"),
            pl.col("step")
            .filter((pl.col("cash") - pl.col("revolver")) < 0)
            .min()
            .alias("first_out_of_cash"),
        )
        counts.append(
            first.group_by("ticker").agg(
                pl.len().cast(pl.Int64).alias("paths"),
                *[
                    (pl.col("first_draw") <= w)
                    .fill_null(False)
                    .sum()
                    .alias(f"n_revolver_draw_{w}q")
                    for w in windows
                ],
                *[
                    (pl.col("first_out_of_cash") <= w)
                    .fill_null(False)
                    .sum()
                    .alias(f"n_out_of_cash_{w}q")
                    for w in windows
                ],
            )
        )
    total = pl.concat(counts).group_by("ticker").agg(pl.all().sum())
    probabilities = [
        (pl.col(f"n_{event}_{w}q") / pl.col("paths")).alias(f"p_{event}_{w}q")
        for event in ("revolver_draw", "out_of_cash")
        for w in windows
    ]
    return total.select(
        "ticker",
        "paths",
        *probabilities,
        pl.lit(spec.export_shock_low).alias("export_shock_low"),
        pl.lit(spec.export_shock_high).alias("export_shock_high"),
        pl.lit(spec.duration_min, dtype=pl.Int64).alias("duration_min"),
        pl.lit(spec.duration_max, dtype=pl.Int64).alias("duration_max"),
        pl.lit(spec.seed, dtype=pl.Int64).alias("seed"),
        pl.lit(spec.base.name).alias("base_scenario"),
    ).sort("ticker")


def run_paths(
    firms: pl.DataFrame, scenarios: ScenarioSet, sector: Sector, as_of: int, paths: int
) -> pl.DataFrame:
    """``stressmodel run --paths P``: the distributions of sector.toml, the ``seed`` scenario."""
    return simulate(firms, MonteCarloSpec.from_sector(sector, scenarios, paths), as_of)
