"""The options and the typed result of one as-of run (what the report and the run's
writers read)."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field, replace
from typing import Any

import polars as pl

from stressmodel.inputs.periods import quarter_label
from stressmodel.inputs.scenarios import GRID_KINDS, Scenario
from stressmodel.model.base import BaseSet
from stressmodel.model.trade import TradePath


@dataclass(frozen=True)
class RunOptions:
    as_of: int | None = None
    firms: tuple[str, ...] | None = None
    horizon: int | None = None
    paths: int = 0
    price_date: dt.date | None = None  # value at the latest close on or before this date
    published_by: dt.date | None = None  # only figures published on or before this date
    #: project, value and reduce the reported firms this many at a time (None: all at once);
    #: the results are the same (see stressmodel.pipeline.stages.run_model)
    chunk_firms: int | None = None


@dataclass(frozen=True)
class RunResult:
    """Everything one as-of run produced. Frames are sorted deterministically."""

    as_of: int
    horizon: int
    quarters: tuple[str, ...]
    tickers: tuple[str, ...]
    later_data: dict[str, str]
    bases: BaseSet
    scenarios: tuple[Scenario, ...]
    grid: tuple[Scenario, ...]
    trade: TradePath
    cases: pl.DataFrame
    projection: pl.DataFrame  # named scenarios, every quarter
    valuation: pl.DataFrame  # every case
    summary: pl.DataFrame  # one row per ticker x scenario (named and grid)
    extras: dict[str, Any] = field(default_factory=dict)
    timings: dict[str, float] = field(default_factory=dict)
    #: grid scenarios, every quarter (the columns of ``projection``); None: not kept; a lazy
    #: frame: a chunked run's quarters spilled to parquet parts (read when written out)
    grid_projection: pl.DataFrame | pl.LazyFrame | None = None
    #: the run date printed in the workbooks' headers (UTC; SOURCE_DATE_EPOCH when set, see
    #: stressmodel.run.app.run_date); None outside a run (the header then prints &D)
    run_date: dt.date | None = None

    @property
    def as_of_label(self) -> str:
        return quarter_label(self.as_of)

    @property
    def grid_summary(self) -> pl.DataFrame:
        """The grid cases' rows of ``summary`` (filtered when read: held as a frame of its
        own it doubled the summary, about 110 MB at 1,000 firms)."""
        return self.summary.filter(pl.col("scenario_kind").is_in(GRID_KINDS))


def for_workbooks(result: RunResult) -> RunResult:
    """The run without what no workbook reads, to release before the workbook phase:
    ``cases``, ``valuation`` and the ``consolidation`` extra keep the named scenarios' rows
    (the workbooks' engine values, scenario sheets and summaries read those only; the grid
    cases are some 97% of their rows), ``summary`` keeps every case (the Sensitivity sheets
    read the grid's) and ``grid_projection`` is dropped (the grid quarters go to
    projections.parquet only). Everything else is the run's, unchanged."""
    names = [s.name for s in result.scenarios]
    named = pl.col("scenario").is_in(names)
    extras = dict(result.extras)
    scored = extras.get("consolidation")
    if isinstance(scored, pl.DataFrame) and "scenario" in scored.columns:
        extras["consolidation"] = scored.filter(named)
    return replace(
        result,
        cases=result.cases.filter(named),
        valuation=result.valuation.filter(named),
        extras=extras,
        grid_projection=None,
    )
