"""Why the change report's metrics moved: drivers and their shares of each change.

Between an earlier as-of run P and the current run C, four groups of inputs can differ:

``statements``
    statement figures dated after P and on or before C (every firm's: peer medians fill
    gaps, so another firm's new report can move a firm's estimated figures);
``prices``
    share-price observations dated after the end of P (closes, market caps, volatility);
``trade``
    monthly export figures of the months after P;
``assumptions``
    sector.toml, scenarios.toml, consolidation_priors.csv and firms.csv. They are not
    dated, so the only way they differ is an edited file: the SHA-256 in the earlier run's
    manifest differs from the current file. The earlier files are not kept, so such a change
    cannot be reverted; it is reported, and its effect lands in ``interaction``.

Attribution (one group reverted at a time)
    The current model is rerun as of C with one group of inputs reverted to what was known
    at P (the same inputs, with that group filtered to data dated on or before P), the
    other groups as they are at C. For a metric M the group's contribution is

        contribution(g) = M(C) - M(C with g reverted)

    -- how much of the metric would be lost if that group had not been updated (0 without
    a rerun when the group's data is the same at P and C). Two more drivers complete the
    change:

        as_of_shift = M(model as of C on every dated group as known at P) - M(P)
        interaction = (M(C) - M(P)) - sum of the groups' contributions - as_of_shift

    ``as_of_shift`` is the effect of the as-of quarter itself moving with the inputs held
    at P (the projection starts later, so scenario shock paths are at another point and
    discounting starts later). ``interaction`` is what is left: interactions between groups
    (reverting one at a time is exact only when effects add up), effects that could not be
    reverted (edited undated files; a rerun that leaves the metric undefined) and any
    difference between the files the earlier run read and the current inputs.
    ``share`` = contribution / change, so the shares of the drivers of one metric add up to
    1 and the contributions to the change (up to float rounding). M(P) is the earlier run's
    own figure as written in its summary.csv / reverse_stress.csv, so the change is the one
    in changes.csv.

Base figures
    ``change_inputs.csv`` lists, per firm, each base figure whose value or basis differs
    between P and C (old -> new, with basis: reported, derived, estimated), with the group
    it belongs to, and the inputs that arrived (new statement periods, new price
    observations, new trade months, edited assumption files). The base figures of P are
    recomputed from the current inputs as of P.

Pure apart from running the model: nothing here reads or writes a file.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any

import polars as pl

from stressmodel.errors import StressModelError
from stressmodel.inputs.load import Inputs
from stressmodel.inputs.periods import quarter_end_date, quarter_label
from stressmodel.model.base import BaseSet, compute_bases
from stressmodel.pipeline.result import RunOptions, RunResult
from stressmodel.pipeline.stages import run_model
from stressmodel.run import history

STATEMENTS, PRICES, TRADE, ASSUMPTIONS = "statements", "prices", "trade", "assumptions"
GROUPS = (STATEMENTS, PRICES, TRADE, ASSUMPTIONS)
AS_OF_SHIFT = "as_of_shift"
RESIDUAL = "interaction"
#: the undated input files of the assumptions group (names as in the manifest)
ASSUMPTION_FILES = ("sector.toml", "scenarios.toml", "consolidation_priors.csv", "firms.csv")
#: base figures that come from the price file; every other base figure from the statements
PRICE_FIGURES = frozenset(
    {"share_price", "shares", "market_cap", "equity_volatility", "past_year_return"}
)
#: how many changed base figures the ``changed`` column of a driver row names
TOP_FIGURES = 4

DRIVER_SCHEMA: dict[str, Any] = {
    "ticker": pl.String,
    "scenario": pl.String,
    "metric": pl.String,
    "previous_as_of": pl.String,
    "as_of": pl.String,
    "metric_previous": pl.Float64,
    "metric_current": pl.Float64,
    "change": pl.Float64,
    "driver": pl.String,
    "metric_with_driver_reverted": pl.Float64,
    "contribution": pl.Float64,
    "share": pl.Float64,
    "rank": pl.Int64,
    "status": pl.String,
    "changed": pl.String,
    "note": pl.String,
}

INPUT_SCHEMA: dict[str, Any] = {
    "ticker": pl.String,
    "group": pl.String,
    "kind": pl.String,
    "name": pl.String,
    "previous": pl.Float64,
    "current": pl.Float64,
    "change": pl.Float64,
    "previous_basis": pl.String,
    "current_basis": pl.String,
    "detail": pl.String,
}


@dataclass(frozen=True)
class Reverted:
    """The current model rerun with one group reverted: its metrics, or why none."""

    group: str
    metrics: pl.DataFrame | None  # history.run_metrics of the rerun
    note: str  # "" when rerun; else why there is no rerun


def _drop(frame: pl.DataFrame) -> pl.LazyFrame:
    """A chunked rerun's grid quarters are not kept: the drivers read its summary and
    reverse-stress table only (``options.chunk_firms`` is the run's, so a rerun stays in
    the run's memory)."""
    return frame.clear().lazy()


def reverted_inputs(inputs: Inputs, previous: int, current: int, group: str) -> Inputs | None:
    """The inputs known at ``current`` with ``group`` as known at ``previous`` (None for
    the undated assumptions, which cannot be reverted)."""
    now, then = inputs.as_of(current), inputs.as_of(previous)
    if group == STATEMENTS:
        return replace(now, statements=then.statements)
    if group == PRICES:
        return replace(now, prices=then.prices)
    if group == TRADE:
        return replace(now, trade=then.trade)
    return None


def group_changed(inputs: Inputs, previous: int, current: int, group: str) -> bool:
    now, then = inputs.as_of(current), inputs.as_of(previous)
    if group == STATEMENTS:
        return now.statements != then.statements
    if group == PRICES:
        return now.prices != then.prices
    if group == TRADE:
        return now.trade != then.trade
    return False


def edited_assumption_files(
    current_hashes: Mapping[str, str], previous_hashes: Mapping[str, str]
) -> list[str]:
    """Assumption files whose SHA-256 differs from the earlier run's manifest (a manifest
    without a readable ``inputs`` table gives none: nothing to compare)."""
    if not isinstance(previous_hashes, Mapping):
        return []
    out = []
    for key, h in current_hashes.items():
        name = key.rsplit("/", 1)[-1]
        if name in ASSUMPTION_FILES and key in previous_hashes and str(previous_hashes[key]) != h:
            out.append(name)
    return out


def rerun(
    inputs: Inputs,
    previous: int,
    current: int,
    options: RunOptions,
    forecaster: Callable[..., Any] | None = None,
) -> dict[str, Reverted]:
    """The current model rerun as of ``current`` with each dated group reverted in turn;
    groups whose data did not change between the two as-of quarters are not rerun (their
    contribution is 0). ``forecaster``: the run's cached trade forecast (None: fitted)."""
    out: dict[str, Reverted] = {}
    for g in GROUPS:
        if g == ASSUMPTIONS:
            out[g] = Reverted(g, None, "not dated: cannot be reverted")
            continue
        if not group_changed(inputs, previous, current, g):
            out[g] = Reverted(g, None, UNCHANGED)
            continue
        rev = reverted_inputs(inputs, previous, current, g)
        assert rev is not None
        try:
            res = run_model(
                rev, replace(options, as_of=current, paths=0), forecaster=forecaster, spill=_drop
            )
        except StressModelError as exc:
            out[g] = Reverted(
                g, None, f"the model cannot run with the {quarter_label(previous)} {g}: {exc}"
            )
            continue
        out[g] = Reverted(g, history.run_metrics(res.summary, res.extras["reverse_stress"]), "")
    # every dated group as known at ``previous``, the quarter at ``current``: the as-of shift
    try:
        res = run_model(
            inputs.as_of(previous),
            replace(options, as_of=current, paths=0),
            forecaster=forecaster,
            spill=_drop,
        )
        out[AS_OF_SHIFT] = Reverted(
            AS_OF_SHIFT, history.run_metrics(res.summary, res.extras["reverse_stress"]), ""
        )
    except StressModelError as exc:
        out[AS_OF_SHIFT] = Reverted(
            AS_OF_SHIFT,
            None,
            f"the model cannot run as of {quarter_label(current)} on the {quarter_label(previous)} inputs: {exc}",
        )
    return out


def _value(
    frame: pl.DataFrame | None, ticker: str, scenario: str, metric: str
) -> tuple[float | None, str]:
    """A metric of one firm x scenario in a run_metrics frame, and why it is missing."""
    if frame is None:
        return None, "no run"
    row = frame.filter((pl.col("ticker") == ticker) & (pl.col("scenario") == scenario))
    if row.is_empty():
        return None, "firm not run"
    v = row[metric][0]
    why = row[f"{metric}__why"][0] if f"{metric}__why" in row.columns else None
    return (None if v is None else float(v)), (why or "no value")


#: driver statuses
EXPLAINED = "explained"  # rerun with the group reverted; contribution = M(C) - M(C reverted)
UNCHANGED = "unchanged"  # the group's data is the same at both as-of quarters: contribution 0
NOT_REVERTIBLE = "not_revertible"  # edited undated files: effect in the interaction
UNDEFINED_REVERTED = "undefined_when_reverted"  # the rerun leaves the metric undefined


def _contribution(
    rv: Reverted,
    ticker: str,
    scenario: str,
    metric: str,
    current: float,
    previous_as_of: str,
    edited: Sequence[str],
) -> tuple[float | None, float | None, str, str]:
    """(metric with the group reverted, contribution, status, note) of one group."""
    if rv.group == ASSUMPTIONS:
        if edited:
            return (
                None,
                None,
                NOT_REVERTIBLE,
                (
                    f"{', '.join(edited)} edited since the {previous_as_of} run; the earlier files are not kept, "
                    "so the effect is in the interaction"
                ),
            )
        return None, 0.0, UNCHANGED, f"same files as the {previous_as_of} run"
    if rv.metrics is None:
        if rv.note == UNCHANGED:
            return None, 0.0, UNCHANGED, f"no {rv.group} dated between the two as-of quarters"
        return None, None, UNDEFINED_REVERTED, f"{rv.note}; the effect is in the interaction"
    value, why = _value(rv.metrics, ticker, scenario, metric)
    if value is None:
        return (
            None,
            None,
            UNDEFINED_REVERTED,
            f"undefined with the {previous_as_of} {rv.group} ({why}); the effect is in the interaction",
        )
    return value, current - value, EXPLAINED, ""


def _fmt(v: float | None) -> str:
    if v is None or not math.isfinite(v):
        return "n/a"
    return f"{v:,.4g}" if abs(v) < 1 else f"{v:,.2f}"


# --- base figures and inputs that changed -----------------------------------------------------


def changed_inputs(
    inputs: Inputs,
    previous: int,
    current: int,
    tickers: Sequence[str],
    current_bases: BaseSet,
    edited: Sequence[str] = (),
) -> pl.DataFrame:
    """Per firm: each base figure that changed (old -> new, with basis) and the inputs
    that arrived between the two as-of quarters (see the module docstring)."""
    prev_bases = compute_bases(inputs, previous)
    now, then = inputs.as_of(current), inputs.as_of(previous)
    prev_end = quarter_end_date(previous)
    rows: list[dict[str, Any]] = []
    for t in tickers:
        new_periods = sorted(
            {r["period"] for r in now.statements.get(t, ()) if r["end"] > previous},
            key=lambda p: next(r["end"] for r in now.statements[t] if r["period"] == p),
        )
        if new_periods:
            n = sum(1 for r in now.statements.get(t, ()) if r["end"] > previous)
            rows.append(
                _input_row(
                    t,
                    STATEMENTS,
                    "new statement periods",
                    f"{', '.join(new_periods)} ({n} figures)",
                )
            )
        new_prices = [r for r in now.prices if r["ticker"] == t and r["date"] > prev_end]
        if new_prices:
            dates = sorted({r["date"] for r in new_prices})
            rows.append(
                _input_row(
                    t,
                    PRICES,
                    "new price observations",
                    f"{len(new_prices)} observations dated {dates[0].isoformat()} to {dates[-1].isoformat()}",
                )
            )
        pf = prev_bases.firms.get(t)
        cf = current_bases.firms.get(t)
        if pf is None or cf is None:
            why = (
                prev_bases.not_runnable.get(t) if pf is None else current_bases.not_runnable.get(t)
            )
            side = quarter_label(previous) if pf is None else quarter_label(current)
            rows.append(
                _input_row(t, STATEMENTS, "base figures", f"no base figures as of {side}: {why}")
            )
            continue
        for name in dict.fromkeys([*pf.figures, *cf.figures]):
            a, b = pf.figures.get(name), cf.figures.get(name)
            if a is not None and b is not None and a.value == b.value and a.basis == b.basis:
                continue
            rows.append(
                {
                    "ticker": t,
                    "group": PRICES if name in PRICE_FIGURES else STATEMENTS,
                    "kind": "base_figure",
                    "name": name,
                    "previous": None if a is None else a.value,
                    "current": None if b is None else b.value,
                    "change": None if a is None or b is None else b.value - a.value,
                    "previous_basis": None if a is None else a.basis,
                    "current_basis": None if b is None else b.basis,
                    "detail": f"{quarter_label(previous)}: {a.how if a else 'absent'} -> "
                    f"{quarter_label(current)}: {b.how if b else 'absent'}",
                }
            )
    new_months = sorted(
        (r for r in now.trade if r not in then.trade), key=lambda r: (r["first"], r["last"])
    )
    if new_months:
        latest = max(new_months, key=lambda r: r["last"])
        for t in tickers:
            rows.append(
                _input_row(
                    t,
                    TRADE,
                    "new trade months",
                    f"{len(new_months)} rows, periods {new_months[0]['period']} to {latest['period']}",
                )
            )
    for t in tickers:
        if edited:
            rows.append(
                _input_row(
                    t,
                    ASSUMPTIONS,
                    "edited files",
                    f"{', '.join(edited)} changed since the {quarter_label(previous)} run (SHA-256 differs); "
                    "the earlier files are not kept, so the effect is in the interaction",
                )
            )
    return pl.DataFrame(rows, schema=INPUT_SCHEMA)


def _input_row(ticker: str, group: str, name: str, detail: str) -> dict[str, Any]:
    return {
        "ticker": ticker,
        "group": group,
        "kind": "input",
        "name": name,
        "previous": None,
        "current": None,
        "change": None,
        "previous_basis": None,
        "current_basis": None,
        "detail": detail,
    }


def _group_text(inputs_table: pl.DataFrame, ticker: str, group: str) -> str:
    """What changed in one group for one firm: the inputs that arrived and the base
    figures that moved most (relative change), old -> new with basis."""
    rows = inputs_table.filter((pl.col("ticker") == ticker) & (pl.col("group") == group))
    parts = [
        f"{r['name']}: {r['detail']}"
        for r in rows.filter(pl.col("kind") == "input").iter_rows(named=True)
    ]
    figs = rows.filter(pl.col("kind") == "base_figure").to_dicts()

    def size(r: dict[str, Any]) -> float:
        a, b = r["previous"], r["current"]
        if a is None or b is None:
            return math.inf
        return abs(b - a) / max(abs(a), 1e-9)

    figs.sort(key=size, reverse=True)
    for r in figs[:TOP_FIGURES]:
        basis = f"{r['previous_basis'] or 'absent'} -> {r['current_basis'] or 'absent'}"
        parts.append(f"{r['name']} {_fmt(r['previous'])} -> {_fmt(r['current'])} ({basis})")
    if len(figs) > TOP_FIGURES:
        parts.append(f"{len(figs) - TOP_FIGURES} more base figures in change_inputs.csv")
    return "; ".join(parts)


# --- attribution ------------------------------------------------------------------------------


def driver_table(
    changes: pl.DataFrame,
    previous: pl.DataFrame,
    current: pl.DataFrame,
    reverted: Mapping[str, Reverted],
    inputs_table: pl.DataFrame,
    *,
    edited: Sequence[str] = (),
) -> pl.DataFrame:
    """One row per firm x named scenario x metric x driver (the four groups, the as-of
    shift and the interaction) for every metric compared in ``changes`` (a :func:`history.change_report`),
    and one row per metric that is undefined in one or both runs saying why."""
    rows: list[dict[str, Any]] = []
    for ch in changes.filter(pl.col("row_status") == history.RowStatus.BOTH.value).iter_rows(
        named=True
    ):
        t, s = ch["ticker"], ch["scenario"]
        base = {
            "ticker": t,
            "scenario": s,
            "previous_as_of": ch["previous_as_of"],
            "as_of": ch["as_of"],
        }
        for m in history.CHANGE_METRICS:
            a, b, status = ch[f"{m.name}_prev"], ch[m.name], ch[f"{m.name}_status"]
            if status != history.ValueStatus.COMPARED.value:
                rows.append(
                    {
                        **base,
                        "metric": m.name,
                        "metric_previous": None if a is None else float(a),
                        "metric_current": None if b is None else float(b),
                        "change": None,
                        "driver": None,
                        "metric_with_driver_reverted": None,
                        "contribution": None,
                        "share": None,
                        "rank": None,
                        "status": status,
                        "changed": "",
                        "note": history.undefined_reason(
                            m.name,
                            ch["previous_as_of"],
                            ch["as_of"],
                            _value(previous, t, s, m.name)[1],
                            _value(current, t, s, m.name)[1],
                            status,
                        ),
                    }
                )
                continue
            a, b = float(a), float(b)
            change = b - a
            explained: list[dict[str, Any]] = []
            for g in GROUPS:
                value, contribution, status, note = _contribution(
                    reverted[g], t, s, m.name, b, ch["previous_as_of"], edited
                )
                explained.append(
                    {
                        "driver": g,
                        "metric_with_driver_reverted": value,
                        "contribution": contribution,
                        "status": status,
                        "changed": _group_text(inputs_table, t, g) or "nothing",
                        "note": note,
                    }
                )
            shift = reverted[AS_OF_SHIFT]
            shift_value = None if shift.metrics is None else _value(shift.metrics, t, s, m.name)[0]
            explained.append(
                {
                    "driver": AS_OF_SHIFT,
                    "metric_with_driver_reverted": shift_value,
                    "contribution": None if shift_value is None else shift_value - a,
                    "status": EXPLAINED if shift_value is not None else UNDEFINED_REVERTED,
                    "changed": f"the as-of quarter moved {ch['previous_as_of']} -> {ch['as_of']}",
                    "note": (
                        f"the model as of {ch['as_of']} on the inputs known at {ch['previous_as_of']} "
                        f"(metric_with_driver_reverted) minus the {ch['previous_as_of']} run's figure"
                        if shift_value is not None
                        else f"{shift.note or 'undefined on the earlier inputs'}; the effect is in the interaction"
                    ),
                }
            )
            residual = change - sum(
                e["contribution"] for e in explained if e["contribution"] is not None
            )
            explained.append(
                {
                    "driver": RESIDUAL,
                    "metric_with_driver_reverted": None,
                    "contribution": residual,
                    "status": "residual",
                    "changed": "",
                    "note": "the change minus the other drivers: interactions between groups (reverting one "
                    "at a time is exact only when effects add up), effects that could not be reverted "
                    "(edited files, undefined reruns) and any difference between the earlier run's files "
                    "and the current inputs",
                }
            )
            order = sorted(
                range(len(explained)),
                key=lambda i: -abs(explained[i]["contribution"] or 0.0),
            )
            ranks = {i: r + 1 for r, i in enumerate(order)}
            for i, e in enumerate(explained):
                c = e["contribution"]
                rows.append(
                    {
                        **base,
                        "metric": m.name,
                        "metric_previous": a,
                        "metric_current": b,
                        "change": change,
                        **e,
                        "share": None if c is None or change == 0 else c / change,
                        "rank": ranks[i],
                    }
                )
    return pl.DataFrame(rows, schema=DRIVER_SCHEMA).select(list(DRIVER_SCHEMA))


def change_drivers(
    inputs: Inputs,
    result: RunResult,
    changes: pl.DataFrame,
    previous_metrics: pl.DataFrame,
    previous: int,
    options: RunOptions,
    previous_hashes: Mapping[str, str] | None = None,
    forecaster: Callable[..., Any] | None = None,
) -> tuple[pl.DataFrame, pl.DataFrame]:
    """The driver table and the changed-inputs table of the current run against the
    earlier as-of quarter ``previous`` (``inputs`` unfiltered; ``changes`` the change
    report of the two runs)."""
    edited = edited_assumption_files(inputs.file_hashes, previous_hashes or {})
    current = history.run_metrics(result.summary, result.extras["reverse_stress"])
    inputs_table = changed_inputs(
        inputs, previous, result.as_of, result.tickers, result.bases, edited
    )
    reverted = rerun(inputs, previous, result.as_of, options, forecaster)
    table = driver_table(changes, previous_metrics, current, reverted, inputs_table, edited=edited)
    return table, inputs_table
