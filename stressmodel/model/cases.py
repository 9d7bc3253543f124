"""Cases: firms x scenarios with their per-quarter drivers, as one polars frame.

Scenario paths do not depend on the firm, so the case frame is a cross join of the firm
parameter frame (one row per firm) with the scenario frame (one row per scenario).
"""

from __future__ import annotations

from collections.abc import Sequence

import polars as pl

from stressmodel.inputs.scenarios import Scenario, opening_values, scenario_paths
from stressmodel.model.quarter import SCENARIO_PARAMS


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
        inten, rm = scenario_paths(sc, as_of, horizon, trade_loss, price_change)
        row: dict[str, object] = {"scenario": sc.name}
        opening = dict(
            zip(("opening_intensity", "opening_backlog"), opening_values(sc, as_of), strict=True)
        )
        for p in SCENARIO_PARAMS:
            row[f"s_{p}"] = float(opening[p] if p in opening else getattr(sc, p))
        for k in range(1, horizon + 1):
            row[f"d_intensity_{k}"] = float(inten[k - 1])
            row[f"d_raw_material_change_{k}"] = float(rm[k - 1])
        rows.append(row)
    schema = {"scenario": pl.String, **{f"s_{p}": pl.Float64 for p in SCENARIO_PARAMS}}
    for k in range(1, horizon + 1):
        schema[f"d_intensity_{k}"] = pl.Float64
        schema[f"d_raw_material_change_{k}"] = pl.Float64
    return pl.DataFrame(rows, schema=schema)


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
