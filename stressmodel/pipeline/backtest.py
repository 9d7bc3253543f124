"""Back-test in every run (issue 14, item 9): the named scenarios projected as of each
earlier quarter, with inputs restricted to data dated on or before that quarter.

For a run as of quarter A, the earlier as-of quarters are every quarter from the last one
before the export controls began (sector.toml ``export_controls_start``) up to A - 1; a
quarter is skipped, with the reason, when no selected firm can be run as of it. Each
back-test run sees only ``inputs.as_of(q)``: statements, prices and trade months dated by
the end of q (nothing later can enter). The projection of quarters q+1..A is then set
beside the actuals by :func:`stressmodel.run.history.tracking_table`.

Pure: reads nothing from disk.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import polars as pl

from stressmodel.errors import UsageError
from stressmodel.inputs.load import Inputs
from stressmodel.inputs.periods import quarter_label
from stressmodel.model.engine import project
from stressmodel.pipeline.stages import Selection, stage_bases, stage_scenarios

TRACKED_COLUMNS = (
    "ticker",
    "scenario",
    "quarter",
    "quarter_index",
    "revenue",
    "net_income",
    "inventory",
    "cash",
)


@dataclass(frozen=True)
class Backtest:
    """Projections per earlier as-of quarter, and the quarters skipped with reasons."""

    projections: dict[int, pl.DataFrame]
    skipped: dict[str, str]


def first_backtest_as_of(inputs: Inputs) -> int:
    """The last quarter that ended before the export controls began."""
    year, month = (int(x) for x in str(inputs.sector["export_controls_start"]).split("-")[:2])
    q = year * 4 + (month - 1) // 3  # the quarter containing the start (YYYY-MM)
    return q - 1


def backtest_as_ofs(inputs: Inputs, as_of: int) -> list[int]:
    return list(range(first_backtest_as_of(inputs), as_of))


def backtest_projection(
    inputs: Inputs,
    firms: Sequence[str],
    as_of: int,
    horizon: int,
    forecaster: Callable[..., Any] | None = None,
) -> pl.DataFrame:
    """The named scenarios of ``firms`` projected as of ``as_of`` on data dated by then.

    ``forecaster``: the trade forecast's stand-in (the run's on-disk cache, keyed by the
    exact series fitted, so each as-of quarter has its own entry); None fits it.
    Only the stages the tracking table reads run: bases, scenarios, projection.
    Raises UsageError when no firm can be run as of that quarter."""
    dated = inputs.as_of(as_of)
    sel = Selection(tuple(firms), as_of, {}, horizon)
    # only the firms' own bases (their peer medians still from every firm): at 10,000
    # peers the other firms' bases were 40% of each back-test quarter
    b = stage_bases(dated, sel, selected_only=True)
    # named scenarios only: at 1,000 firms the grid's ~250 cases per firm were built and
    # filtered away again for every back-test quarter
    scen = stage_scenarios(dated, sel, b, forecaster, with_grid=False)
    names = [s.name for s in scen.named]
    cases = scen.cases.filter(
        pl.col("scenario").is_in(names) & pl.col("ticker").is_in(list(b.runnable))
    )
    proj = project(cases, horizon, list(sel.quarters), as_of + 1)
    return proj.select(*TRACKED_COLUMNS)


def run_backtests(
    inputs: Inputs,
    firms: Sequence[str],
    as_of: int,
    horizon: int,
    forecaster: Callable[..., Any] | None = None,
) -> Backtest:
    """:func:`backtest_projection` for every earlier as-of quarter of :func:`backtest_as_ofs`
    (``forecaster`` as there)."""
    out: dict[int, pl.DataFrame] = {}
    skipped: dict[str, str] = {}
    for q in backtest_as_ofs(inputs, as_of):
        try:
            out[q] = backtest_projection(inputs, firms, q, horizon, forecaster)
        except UsageError as exc:
            skipped[quarter_label(q)] = str(exc)
    return Backtest(out, skipped)
