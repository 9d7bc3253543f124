"""The Changes sheet of the sector summary: what changed since the previous as-of run,
the largest drivers of each change with their share, and the metrics undefined in both
runs (each reason said once), above the full change report.

The frames come from ``result.extras``: ``changes`` (:func:`stressmodel.run.history.change_report`)
and ``change_drivers`` (:mod:`stressmodel.run.drivers`); any frame the run lacks is left out.
Every text cell is a string cell (a note can never become a formula).
"""

from __future__ import annotations

import polars as pl

from stressmodel.pipeline.result import RunResult
from stressmodel.report.frames import write_frame
from stressmodel.report.spec import SheetSpec

#: drivers per compared metric change shown in the sheet (all are in change_drivers.csv)
TOP_DRIVERS = 2

#: a contribution below this fraction of the change (or of 1 for small changes) is float noise
NEGLIGIBLE = 1e-9

UNDEFINED_SCHEMA = {
    "ticker": pl.String,
    "metric": pl.String,
    "status": pl.String,
    "why": pl.String,
    "scenarios": pl.String,
}


def top_drivers(drivers: pl.DataFrame, n: int = TOP_DRIVERS) -> pl.DataFrame:
    """The ``n`` largest drivers (by |contribution|, the ``rank`` column) of each metric
    change that is not zero; drivers whose contribution is float noise (below
    ``NEGLIGIBLE`` of the change) are left out."""
    if drivers.is_empty():
        return drivers
    material = pl.col("contribution").abs() > NEGLIGIBLE * pl.max_horizontal(
        pl.col("change").abs(), 1.0
    )
    return drivers.filter(
        pl.col("rank").is_not_null() & (pl.col("rank") <= n) & (pl.col("change") != 0) & material
    ).select(
        "ticker",
        "scenario",
        "metric",
        "metric_previous",
        "metric_current",
        "change",
        "rank",
        "driver",
        "contribution",
        "share",
        "changed",
    )


def undefined_metrics(drivers: pl.DataFrame) -> pl.DataFrame:
    """Metrics without a change to explain (undefined in one or both runs): once per firm x
    metric x reason, with the scenarios concerned."""
    if drivers.is_empty() or "driver" not in drivers.columns:
        return pl.DataFrame(schema=UNDEFINED_SCHEMA)
    undefined = drivers.filter(pl.col("driver").is_null())
    if undefined.is_empty():
        return pl.DataFrame(schema=UNDEFINED_SCHEMA)
    return (
        undefined.group_by("ticker", "metric", "status", "note", maintain_order=True)
        .agg(pl.col("scenario").str.join(", ").alias("scenarios"))
        .rename({"note": "why"})
        .select(list(UNDEFINED_SCHEMA))
    )


def changes_sheet(result: RunResult) -> SheetSpec | None:
    """The Changes sheet, or None when the run has no change report."""
    changes = result.extras.get("changes")
    if not isinstance(changes, pl.DataFrame):
        return None
    ch = SheetSpec("Changes")
    ch.text(0, 0, "Changes since the previous run", "title")
    row = 2
    drivers = result.extras.get("change_drivers")
    if isinstance(drivers, pl.DataFrame):
        top = top_drivers(drivers)
        ch.text(
            row,
            0,
            f"Top drivers of each change (largest {TOP_DRIVERS}; every driver in change_drivers.csv)",
            "header",
        )
        ch.text(
            row + 1,
            0,
            "share = the driver's contribution / the change: the model rerun with one group of inputs "
            "reverted to the earlier as-of quarter; as_of_shift and interaction complete the change",
            "text",
        )
        row += 2
        if top.height:
            row = write_frame(ch, top, row)
        else:
            ch.text(row, 0, "no metric changed", "status")
            row += 2
        undefined = undefined_metrics(drivers)
        if undefined.height:
            ch.text(row, 0, "Metrics without a change to explain (each reason once)", "header")
            row = write_frame(ch, undefined, row + 1)
    ch.text(row, 0, "Change report (changes.csv)", "header")
    if changes.height:
        write_frame(ch, changes, row + 1)
    else:
        ch.text(row + 1, 0, "no changes", "status")
    ch.freeze = (1, 0)
    return ch
