"""Quarterly batch reruns: one as-of run per quarter from ``--from`` to ``--to``, in order.

Inputs are read and validated once. Each quarter is an ordinary as-of run
(:func:`stressmodel.run.app.run_and_write`): it sees only data dated on or before its quarter,
it is written atomically to ``outputs/<as_of>/``, and it compares itself with the as-of
folders already in the outputs folder -- so from the second quarter on, each run has a
change report against the quarter before and tracks the actual quarters that arrived
since every earlier quarter.

Before anything is computed the whole batch is checked: the quarters, the firms that can
be run in each quarter, and the folders that exist (refused without ``--force`` unless
``--skip-existing`` keeps them). If a quarter then fails, the quarters before it are
complete and stay; the failing quarter leaves no folder.
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Callable
from concurrent.futures import Executor
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import polars as pl

from stressmodel.errors import OutputExistsError, UsageError
from stressmodel.inputs.load import load_inputs
from stressmodel.inputs.periods import quarter_label
from stressmodel.model.base import compute_bases
from stressmodel.pipeline.stages import RunOptions, default_as_of, select_firms, unrunnable_message
from stressmodel.run.app import (
    RunReport,
    actuals_status,
    parse_as_of,
    run_and_write,
    workbook_writer,
)
from stressmodel.run.asof import actuals_line, check_as_of, labels, latest_by_firm
from stressmodel.run.history import tracking_summary
from stressmodel.run.outputs import as_of_folder, check_outputs_root, cleanup_stale

Progress = Callable[[str], None]
log = logging.getLogger(__name__)

#: the most quarters one batch may run (ten years)
MAX_QUARTERS = 40
#: progress messages of one as-of run (for sizing a progress bar)
STAGES_PER_RUN = 7


@dataclass(frozen=True)
class BatchReport:
    """The runs of a batch in quarter order, and the quarters kept as they were."""

    first: str
    last: str
    firms: tuple[str, ...]
    runs: tuple[RunReport, ...]
    skipped: tuple[str, ...]
    later_data: dict[str, str]
    seconds: float
    #: each selected firm's latest quarter with actuals ("none" when it has none)
    latest_actuals: dict[str, str] = field(default_factory=dict)


def parse_range(first: str, last: str | None) -> tuple[int, int | None]:
    return parse_as_of(first, "--from"), parse_as_of(last, "--to")  # type: ignore[return-value]


def run_batch(
    inputs_dir: Path,
    outputs_dir: Path,
    first: int,
    last: int | None,
    options: RunOptions,
    *,
    force: bool = False,
    skip_existing: bool = False,
    workbooks: bool = True,
    progress: Progress | None = None,
    allow_projection_only: bool = False,
    workers: int | None = None,
    executor: Executor | None = None,
) -> BatchReport:
    """Run every quarter from ``first`` to ``last`` (default: the latest quarter for which
    every selected firm has actuals) and write each to ``outputs/<as_of>/``."""
    t0 = time.perf_counter()
    say = progress or (lambda _m: None)
    if force and skip_existing:
        raise UsageError("--force and --skip-existing exclude each other")
    say("reading inputs")
    inputs = load_inputs(inputs_dir)
    firms = select_firms(inputs, options.firms)
    if last is None:
        last = default_as_of(inputs, firms)[0]
        if first > last:
            raise UsageError(
                f"--from {quarter_label(first)} is after {quarter_label(last)}, the latest quarter for "
                "which every selected firm has actuals; give --to"
            )
    if first > last:
        raise UsageError(f"--from {quarter_label(first)} is after --to {quarter_label(last)}")
    latest = latest_by_firm(inputs, firms)
    check_as_of(latest, last, allow_projection_only=allow_projection_only, option="--to")
    quarters = list(range(first, last + 1))
    if len(quarters) > MAX_QUARTERS:
        raise UsageError(
            f"--from {quarter_label(first)} --to {quarter_label(last)} spans {len(quarters)} quarters; "
            f"at most {MAX_QUARTERS} in one batch"
        )
    for q in quarters:  # every quarter must have a runnable firm: fail before writing anything
        bases = compute_bases(inputs, q)
        if not any(t in bases.firms for t in firms):
            raise UsageError(unrunnable_message(q, firms, bases.not_runnable))
    outputs_dir = Path(outputs_dir)
    check_outputs_root(outputs_dir)
    cleanup_stale(outputs_dir)
    existing = [q for q in quarters if as_of_folder(outputs_dir, quarter_label(q)).exists()]
    if existing and not force and not skip_existing:
        folders = ", ".join(str(as_of_folder(outputs_dir, quarter_label(q))) for q in existing)
        if len(existing) == 1:
            raise OutputExistsError(
                f"{folders} already exists; it was left untouched. "
                "Use --force to replace it or --skip-existing to keep it."
            )
        raise OutputExistsError(
            f"{folders} already exist; they were left untouched. "
            "Use --force to replace them or --skip-existing to keep them."
        )
    if workbooks:
        workbook_writer()
    runs: list[RunReport] = []
    skipped: list[str] = []
    for q in quarters:
        label = quarter_label(q)
        if skip_existing and q in existing:
            say(f"{label}: kept the existing folder")
            skipped.append(label)
            continue
        try:
            report = run_and_write(
                inputs_dir,
                outputs_dir,
                replace(options, as_of=q),
                force=force,
                workbooks=workbooks,
                progress=lambda m, label=label: say(f"{label}: {m}"),
                inputs=inputs,
                allow_projection_only=allow_projection_only,
                workers=workers,
                executor=executor,
            )
        except BaseException:
            done = ", ".join(r.result.as_of_label for r in runs) or "none"
            log.error(
                "batch stopped as of %s (nothing written for it); quarters written: %s", label, done
            )
            raise
        runs.append(report)
    later_data = actuals_status(inputs, firms, last)[0]
    return BatchReport(
        quarter_label(first),
        quarter_label(last),
        tuple(firms),
        tuple(runs),
        tuple(skipped),
        later_data,
        time.perf_counter() - t0,
        labels(latest),
    )


# --- presenting a batch --------------------------------------------------------------------


def _clean(value: Any) -> Any:
    """JSON-safe: non-finite floats become null."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: _clean(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_clean(v) for v in value]
    return value


def batch_json(report: BatchReport) -> dict[str, Any]:
    """A machine-readable summary of a batch."""
    runs = []
    for r in report.runs:
        res = r.result
        named = res.summary.filter(pl.col("scenario_kind") == "named")
        entry: dict[str, Any] = {
            "as_of": res.as_of_label,
            "folder": str(r.folder),
            "files": list(r.files),
            "firms": list(res.tickers),
            "firms_with_later_data": res.later_data,
            "firms_without_actuals_for_as_of": r.stale_firms,
            "projection_only": r.projection_only,
            "seconds": round(r.seconds, 3),
            "summary": named.select(
                "ticker",
                "scenario",
                "value_per_share",
                "share_price",
                "upside",
                "cash_runway_quarters",
                "runway_status",
                "consolidation_score",
                "consolidation_low",
                "consolidation_high",
            ).to_dicts(),
            "reverse_stress": res.extras["reverse_stress"]
            .select("ticker", "implied_export_shock", "status")
            .to_dicts(),
            "previous_as_of": r.history.get("previous_as_of"),
            "changes": res.extras["changes"].to_dicts() if "changes" in res.extras else None,
            "tracking_against": r.history.get("tracking_against", []),
            "tracking": (
                tracking_summary(res.extras["tracking"]).to_dicts()
                if "tracking" in res.extras
                else None
            ),
            "actuals_unavailable": r.history.get("actuals_unavailable", []),
        }
        runs.append(entry)
    return _clean(
        {
            "from": report.first,
            "to": report.last,
            "firms": list(report.firms),
            "firms_with_later_data": report.later_data,
            "latest_actuals": report.latest_actuals,
            "skipped_existing": list(report.skipped),
            "seconds": round(report.seconds, 3),
            "runs": runs,
        }
    )


def _f(v: float | None, spec: str = ".2f") -> str:
    return (
        "n/a" if v is None or (isinstance(v, float) and not math.isfinite(v)) else format(v, spec)
    )


def batch_text(report: BatchReport) -> str:
    """The end-of-batch summary: one line per quarter, then the change report and the
    scenario tracking of the last quarter run."""
    lines = [
        f"stressmodel batch {report.first} to {report.last} (firms: {', '.join(report.firms)})"
    ]
    if report.latest_actuals:
        lines.append(actuals_line(report.latest_actuals, report.last))
    if report.later_data:
        lines.append(
            "firms with later data than the last quarter: "
            + ", ".join(f"{t} ({q})" for t, q in sorted(report.later_data.items()))
        )
    lines += ["", f"{'as of':7} {'files':>5} {'secs':>6} {'previous':>8} {'tracked vs':>12}  notes"]
    for label in report.skipped:
        lines.append(
            f"{label:7} {'':>5} {'':>6} {'':>8} {'':>12}  kept the existing folder (--skip-existing)"
        )
    for r in sorted(report.runs, key=lambda r: r.result.as_of):
        notes = []
        if r.projection_only:
            notes.append("projection only: no firm has actuals for this quarter")
        elif r.stale_firms:
            notes.append(
                "no actuals for this quarter: "
                + ", ".join(f"{t} (latest {q})" for t, q in sorted(r.stale_firms.items()))
            )
        tracked = ",".join(r.history.get("tracking_against", [])) or "-"
        lines.append(
            f"{r.result.as_of_label:7} {len(r.files):>5} {r.seconds:>6.1f} "
            f"{r.history.get('previous_as_of') or '-':>8} {tracked:>12}  {'; '.join(notes)}"
        )
    last = max(report.runs, key=lambda r: r.result.as_of, default=None)
    if last is not None:
        lines += history_lines(last, stale=False)
    return "\n".join(lines)


def history_lines(run: RunReport, *, stale: bool = True) -> list[str]:
    """The change report and the scenario tracking of one as-of run, as text lines (none
    when the outputs folder held no earlier run); with ``stale`` also the firms without
    actuals for the as-of quarter."""
    lines: list[str] = []
    res = run.result
    if stale and run.stale_firms:
        lines += [
            "",
            "no actuals for the as-of quarter (figures carried forward from the latest quarter): "
            + ", ".join(f"{t} ({q})" for t, q in sorted(run.stale_firms.items())),
        ]
    if "changes" in res.extras:
        ch = res.extras["changes"]
        prev = run.history.get("previous_as_of")
        lines += [
            "",
            f"changes {prev} -> {res.as_of_label} (value per share, consolidation score, "
            "runway in quarters, implied export shock; changes.csv):",
        ]
        lines.append(
            f"  {'ticker':10} {'scenario':16} {'value/sh':>13} {'consol.':>11} {'runway':>9} {'implied':>13}"
        )
        for row in ch.iter_rows(named=True):

            def pair(m: str, spec: str = ".2f", row: dict[str, Any] = row) -> str:
                return f"{_f(row[f'{m}_prev'], spec)}>{_f(row[m], spec)}"

            runway = ">".join(
                "-" if v is None else str(v)
                for v in (row["cash_runway_quarters_prev"], row["cash_runway_quarters"])
            )
            lines.append(
                f"  {row['ticker']:10} {row['scenario']:16} {pair('value_per_share'):>13} "
                f"{pair('consolidation_score'):>11} {runway:>9} {pair('implied_export_shock', '.3f'):>13}"
                + ("" if row["row_status"] == "both" else f"  ({row['row_status']})")
            )
        lines.append(
            "  (runway '-': no revolving draw within the horizon; n/a: see the notes column)"
        )
    if "change_drivers" in res.extras:
        lines += driver_lines(res.extras["change_drivers"])
    if "tracking" in res.extras:
        ts = tracking_summary(res.extras["tracking"])
        lines += [
            "",
            f"scenario tracking to {res.as_of_label}: mean absolute percentage error of each "
            "scenario's projection over the actual quarters since the earlier run (tracking.csv):",
        ]
        for (ticker, fc), g in ts.group_by(["ticker", "forecast_as_of"], maintain_order=True):
            if not g["scenario_n"].max():
                lines.append(f"  {ticker} vs {fc}: no actual quarter in the inputs to compare")
                continue
            ranked = g.filter(pl.col("scenario_rank").is_not_null()).sort("scenario_rank")
            best = ranked.row(0, named=True)
            others = ", ".join(
                f"{r['scenario']} {_f(r['scenario_mape'], '.0%')}"
                for r in ranked.iter_rows(named=True)
                if r["scenario_rank"] != 1
            )
            lines.append(
                f"  {ticker} vs {fc}: closest {best['scenario']} "
                f"(MAPE {_f(best['scenario_mape'], '.0%')} over {best['scenario_n']} item-quarter"
                f"{'' if best['scenario_n'] == 1 else 's'}); {others}"
            )
        unavailable = run.history.get("actuals_unavailable", [])
        if unavailable:
            lines.append(
                "  actuals the inputs do not give (reasons in tracking.csv, column status_detail):"
            )
            by_firm: dict[str, dict[str, list[str]]] = {}
            for u in unavailable:
                by_firm.setdefault(u["ticker"], {}).setdefault(u["item"], []).append(u["quarter"])
            for ticker, items in sorted(by_firm.items()):
                lines.append(
                    f"    {ticker}: "
                    + "; ".join(f"{item} {', '.join(qs)}" for item, qs in items.items())
                )
        lines.append("  the model's net income excludes non-operating items and minority interests")
    return lines


def driver_lines(drivers: pl.DataFrame, scenario: str = "baseline") -> list[str]:
    """Why the metrics of one scenario moved: the drivers of each compared change, largest
    first, with their share of the change (every scenario in change_drivers.csv), and the
    metrics undefined in both runs, each reason once."""
    from stressmodel.report.changes import NEGLIGIBLE, undefined_metrics

    lines = ["", f"why they changed ({scenario}; shares of each change, change_drivers.csv):"]
    d = drivers.filter(pl.col("scenario") == scenario)
    for (ticker, metric), g in d.filter(pl.col("driver").is_not_null()).group_by(
        ["ticker", "metric"], maintain_order=True
    ):
        g = g.sort("rank")
        first = g.row(0, named=True)
        if not first["change"]:
            continue
        parts = [
            f"{r['driver']} {_f(r['share'], '.0%')}"
            for r in g.iter_rows(named=True)
            if r["contribution"] is None
            or abs(r["contribution"]) > NEGLIGIBLE * max(abs(first["change"]), 1.0)
        ]
        lines.append(f"  {ticker} {metric} {_f(first['change'], '+.4g')}: {', '.join(parts)}")
    for r in undefined_metrics(drivers).iter_rows(named=True):
        lines.append(f"  {r['ticker']}: {r['why']} ({r['scenarios']})")
    return lines
