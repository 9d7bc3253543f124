"""Cases: firms x scenarios with their per-quarter drivers, as one polars frame.

Scenario paths do not depend on the firm, so the case frame is a cross join of the firm
parameter frame (one row per firm) with the scenario frame (one row per scenario).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import polars as pl

from stressmodel.inputs.scenarios import Scenario, opening_values, scenario_paths
from stressmodel.model.quarter import DRIVERS, SCENARIO_PARAMS


def scenario_frame(
    scenarios: Sequence[Scenario],
    as_of: int,
    horizon: int,
    trade_loss: dict[int, float] | None,
    price_change: dict[int, float] | None = None,
) -> pl.DataFrame:
    """One row per scenario: ``scenario``, ``s_<param>`` and ``d_<driver>_<k>`` columns."""
    rows = []
    for sc in scenarios:
        params, inten, rm = _scenario_values(sc, as_of, horizon, trade_loss, price_change)
        row: dict[str, object] = {"scenario": sc.name}
        for p, v in zip(SCENARIO_PARAMS, params, strict=True):
            row[f"s_{p}"] = v
        for k in range(1, horizon + 1):
            row[f"d_intensity_{k}"] = inten[k - 1]
            row[f"d_raw_material_change_{k}"] = rm[k - 1]
        rows.append(row)
    schema = {"scenario": pl.String, **{f"s_{p}": pl.Float64 for p in SCENARIO_PARAMS}}
    for k in range(1, horizon + 1):
        schema[f"d_intensity_{k}"] = pl.Float64
        schema[f"d_raw_material_change_{k}"] = pl.Float64
    return pl.DataFrame(rows, schema=schema)


def _scenario_values(
    sc: Scenario,
    as_of: int,
    horizon: int,
    trade_loss: dict[int, float] | None,
    price_change: dict[int, float] | None,
) -> tuple[list[float], list[float], list[float]]:
    """A scenario's parameters (in :data:`SCENARIO_PARAMS` order) and its intensity and
    raw-material paths over the projected quarters, as floats."""
    inten, rm = scenario_paths(sc, as_of, horizon, trade_loss, price_change)
    opening = dict(
        zip(("opening_intensity", "opening_backlog"), opening_values(sc, as_of), strict=True)
    )
    params = [float(opening[p] if p in opening else getattr(sc, p)) for p in SCENARIO_PARAMS]
    return params, [float(x) for x in inten[:horizon]], [float(x) for x in rm[:horizon]]


def scenario_arrays(
    scenarios: Sequence[Scenario],
    as_of: int,
    horizon: int,
    trade_loss: dict[int, float] | None,
    price_change: dict[int, float] | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """The numbers of :func:`scenario_frame` as the kernels' arrays, without a frame:
    ``S`` (scenario parameters x scenarios) and ``D`` (drivers x quarters x scenarios,
    drivers in :data:`~stressmodel.model.quarter.DRIVERS` order). For callers that build
    many small case sets (the reverse stress test's bisection)."""
    n = len(scenarios)
    S = np.empty((len(SCENARIO_PARAMS), n))
    D = np.empty((len(DRIVERS), horizon, n))
    paths = {"intensity": 1, "raw_material_change": 2}
    for i, sc in enumerate(scenarios):
        values = _scenario_values(sc, as_of, horizon, trade_loss, price_change)
        S[:, i] = values[0]
        for j, name in enumerate(DRIVERS):
            D[j, :, i] = values[paths[name]]
    return S, D


def case_frame(firms: pl.DataFrame, scenarios: pl.DataFrame) -> pl.DataFrame:
    """Every firm under every scenario (firm-major order)."""
    return firms.join(scenarios, how="cross").select(
        "ticker", "scenario", pl.exclude("ticker", "scenario")
    )


def per_firm_case_frame(firms: pl.DataFrame, scenarios: pl.DataFrame) -> pl.DataFrame:
    """Case i pairs firm row i with scenario row i (both frames the same height): used
    when each firm needs its own shock, e.g. in the reverse stress test."""
    if firms.height != scenarios.height:
        raise ValueError("firm and scenario frames must have the same height")
    return pl.concat([firms, scenarios], how="horizontal").select(
        "ticker", "scenario", pl.exclude("ticker", "scenario")
    )
