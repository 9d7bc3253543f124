"""Comparing an as-of run with earlier runs: the change report and scenario tracking.

Pure functions on frames. The caller reads the earlier runs
(:func:`stressmodel.run.outputs.earlier_runs`) and passes their tables in; nothing here opens
a file.

Change report
    Per firm x named scenario, the value per share, consolidation score, cash runway and
    implied export shock of the current run beside those of the previous as-of run (the
    latest earlier as-of folder in the outputs folder), with the change (current minus
    previous, in the metric's own unit) and a status per metric: ``compared`` (both sides
    have a value), ``missing_previous``, ``missing_current`` or ``missing_both``; the
    ``notes`` column gives each run's reason for a missing value (for the cash runway a
    missing value means no revolving draw within the horizon) -- once, as "undefined in
    both runs", when the metric is missing in both runs for the same reason. Why the
    compared metrics moved is in :mod:`stressmodel.run.drivers`. ``row_status`` is
    ``both``, ``new`` (firm or scenario not in the previous run) or ``dropped`` (not in the
    current run).

Scenario tracking
    For each firm and each earlier as-of run P, the actual quarters Q with
    P < Q <= the current as-of quarter (the quarters that have arrived since P) are put
    beside each named scenario's projection for Q made by P:

    - items: revenue and net income for the single quarter (reported, or derived from
      consecutive year-to-date reports, e.g. Q2 = H1 - Q1), inventory and cash balances at
      the quarter end -- only where the current inputs give them, using data dated on or
      before the current as-of quarter;
    - ``error`` = projected - actual (CNY mn);
    - ``abs_pct_error`` = |projected - actual| / |actual| (a fraction; undefined, and the
      item-quarter left out of the averages, when the actual is 0);
    - ``item_mape`` = the mean of ``abs_pct_error`` over the compared quarters of one item,
      per firm x earlier run x scenario (``item_n`` quarters);
    - ``scenario_mape`` = the mean of ``abs_pct_error`` over every compared item-quarter of
      the firm x earlier run x scenario, each item-quarter weighted equally
      (``scenario_n`` item-quarters);
    - ``scenario_rank`` = 1 for the lowest ``scenario_mape`` (ties broken by the named
      scenario order), and ``closest_scenario`` names it: the scenario reality followed
      most closely; ``item_closest_scenario`` does the same per item.

    The model's net income (EBIT - interest - tax) excludes non-operating items
    (investment income, fair-value changes, impairments, government grants) and minority
    interests, whereas the reported figure is net income attributable to the parent; the
    ``note`` column of every net-income row says so.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

import polars as pl

from stressmodel.inputs.periods import quarter_label, ytd_label
from stressmodel.inputs.statements import Figure, FirmStatements, build
from stressmodel.model.collector import collector_paused

KEYS = ["ticker", "scenario"]


# --- change report -----------------------------------------------------------------------


class RowStatus(StrEnum):
    BOTH = "both"
    NEW = "new"
    DROPPED = "dropped"


class ValueStatus(StrEnum):
    COMPARED = "compared"
    MISSING_PREVIOUS = "missing_previous"
    MISSING_CURRENT = "missing_current"
    MISSING_BOTH = "missing_both"


@dataclass(frozen=True)
class ChangeMetric:
    """A figure of the change report: its column, the column of the same table that
    explains a missing value, the table it comes from and its type."""

    name: str
    why_column: str
    table: str  # "summary" (per firm x scenario) or "reverse_stress" (per firm)
    dtype: type[pl.DataType]


CHANGE_METRICS: tuple[ChangeMetric, ...] = (
    ChangeMetric("value_per_share", "value_status", "summary", pl.Float64),
    ChangeMetric("consolidation_score", "score_status", "summary", pl.Float64),
    ChangeMetric("cash_runway_quarters", "runway_status", "summary", pl.Int64),
    ChangeMetric("implied_export_shock", "status", "reverse_stress", pl.Float64),
)


def _why(metric: ChangeMetric) -> str:
    return f"{metric.name}__why"


def _column(frame: pl.DataFrame, name: str, dtype: Any) -> pl.Expr:
    """``name`` cast to ``dtype`` (text such as "3.0" or "" read back from a CSV included),
    or a null column when the table lacks it (an older run)."""
    if name not in frame.columns:
        return pl.lit(None, dtype=dtype).alias(name)
    col = pl.col(name)
    if frame.schema[name] == pl.String:
        col = pl.when(col.str.strip_chars() == "").then(None).otherwise(col.str.strip_chars())
        if dtype == pl.Int64:
            return col.cast(pl.Float64, strict=False).round(0).cast(pl.Int64).alias(name)
    return col.cast(dtype, strict=False).alias(name)


def run_metrics(summary: pl.DataFrame, reverse_stress: pl.DataFrame | None) -> pl.DataFrame:
    """One row per firm x named scenario of a run: the change-report metrics and the
    run's explanation of each missing value. Works on the frames of a run in memory and
    on its CSV files read back as text."""
    s = summary
    if "scenario_kind" in s.columns:
        s = s.filter(pl.col("scenario_kind") == "named")
    out = s.select(
        pl.col("ticker").cast(pl.String),
        pl.col("scenario").cast(pl.String),
        *(
            e
            for m in CHANGE_METRICS
            if m.table == "summary"
            for e in (
                _column(s, m.name, m.dtype),
                _column(s, m.why_column, pl.String).alias(_why(m)),
            )
        ),
    )
    per_firm = [m for m in CHANGE_METRICS if m.table == "reverse_stress"]
    if reverse_stress is not None and "ticker" in reverse_stress.columns:
        r = reverse_stress.select(
            pl.col("ticker").cast(pl.String),
            *(
                e
                for m in per_firm
                for e in (
                    _column(reverse_stress, m.name, m.dtype),
                    _column(reverse_stress, m.why_column, pl.String).alias(_why(m)),
                )
            ),
        ).unique("ticker", keep="first", maintain_order=True)
        out = out.join(r, on="ticker", how="left")
    else:
        out = out.with_columns(
            e
            for m in per_firm
            for e in (
                pl.lit(None, dtype=m.dtype).alias(m.name),
                pl.lit("no reverse_stress table", dtype=pl.String).alias(_why(m)),
            )
        )
    return out


def change_report(
    previous: pl.DataFrame,
    current: pl.DataFrame,
    *,
    previous_as_of: str,
    as_of: str,
    scenario_order: Sequence[str] = (),
) -> pl.DataFrame:
    """The change report between two runs' :func:`run_metrics` frames (see the module
    docstring for the columns and statuses)."""
    prev = previous.with_columns(pl.lit(True).alias("_in"))
    cur = current.with_columns(pl.lit(True).alias("_in"))
    j = cur.join(prev, on=KEYS, how="full", coalesce=True, suffix="_prev")
    in_cur, in_prev = pl.col("_in").fill_null(False), pl.col("_in_prev").fill_null(False)
    row_status = (
        pl.when(in_cur & in_prev)
        .then(pl.lit(RowStatus.BOTH.value))
        .when(in_cur)
        .then(pl.lit(RowStatus.NEW.value))
        .otherwise(pl.lit(RowStatus.DROPPED.value))
    )
    cols: list[pl.Expr] = [
        pl.col("ticker"),
        pl.col("scenario"),
        pl.lit(previous_as_of).alias("previous_as_of"),
        pl.lit(as_of).alias("as_of"),
        row_status.alias("row_status"),
    ]
    notes: list[pl.Expr] = [
        pl.when(~in_prev).then(pl.lit(f"not in the {previous_as_of} run")),
        pl.when(~in_cur).then(pl.lit(f"not in the {as_of} run")),
    ]
    for m in CHANGE_METRICS:
        a, b = pl.col(f"{m.name}_prev"), pl.col(m.name)
        status = (
            pl.when(a.is_not_null() & b.is_not_null())
            .then(pl.lit(ValueStatus.COMPARED.value))
            .when(b.is_not_null())
            .then(pl.lit(ValueStatus.MISSING_PREVIOUS.value))
            .when(a.is_not_null())
            .then(pl.lit(ValueStatus.MISSING_CURRENT.value))
            .otherwise(pl.lit(ValueStatus.MISSING_BOTH.value))
        )
        cols += [
            a.alias(f"{m.name}_prev"),
            b.alias(m.name),
            (b - a).alias(f"{m.name}_change"),
            status.alias(f"{m.name}_status"),
        ]
        why_prev = pl.col(f"{_why(m)}_prev").fill_null("no value")
        why_cur = pl.col(_why(m)).fill_null("no value")
        # undefined in both runs: said once (with each run's reason only when they differ)
        both = in_prev & in_cur & a.is_null() & b.is_null()
        notes += [
            pl.when(both & (why_prev == why_cur)).then(
                pl.concat_str(pl.lit(f"{m.name} undefined in both runs: "), why_cur)
            ),
            pl.when(both & (why_prev != why_cur)).then(
                pl.concat_str(
                    pl.lit(f"{m.name} undefined in both runs ({previous_as_of}: "),
                    why_prev,
                    pl.lit(f"; {as_of}: "),
                    why_cur,
                    pl.lit(")"),
                )
            ),
            pl.when(in_prev & a.is_null() & ~both).then(
                pl.concat_str(pl.lit(f"{m.name} {previous_as_of}: "), why_prev)
            ),
            pl.when(in_cur & b.is_null() & ~both).then(
                pl.concat_str(pl.lit(f"{m.name} {as_of}: "), why_cur)
            ),
        ]
    cols.append(
        pl.concat_str(notes, separator="; ", ignore_nulls=True).fill_null("").alias("notes")
    )
    rank = {name: i for i, name in enumerate(scenario_order)}
    return (
        j.select(cols)
        .with_columns(
            pl.col("scenario")
            .replace_strict(rank, default=len(rank), return_dtype=pl.Int64)
            .alias("_r")
        )
        .sort(["ticker", "_r", "scenario"])
        .drop("_r")
    )


def undefined_reason(
    metric: str,
    previous_as_of: str,
    as_of: str,
    why_previous: str | None,
    why_current: str | None,
    status: str,
) -> str:
    """Why a metric of the change report has no change, in the words of its ``notes``: said
    once when it is undefined in both runs for the same reason."""
    wp, wc = why_previous or "no value", why_current or "no value"
    if status == ValueStatus.MISSING_BOTH.value:
        if wp == wc:
            return f"{metric} undefined in both runs: {wc}"
        return f"{metric} undefined in both runs ({previous_as_of}: {wp}; {as_of}: {wc})"
    if status == ValueStatus.MISSING_PREVIOUS.value:
        return f"{metric} {previous_as_of}: {wp}"
    return f"{metric} {as_of}: {wc}"


# --- scenario tracking -------------------------------------------------------------------


class TrackingStatus(StrEnum):
    COMPARED = "compared"
    ACTUAL_UNAVAILABLE = "actual_unavailable"
    ACTUAL_ZERO = "actual_zero"
    NOT_PROJECTED = "not_projected"


NET_INCOME_NOTE = (
    "model net income = EBIT - interest - tax; it excludes non-operating items (investment "
    "income, fair-value changes, impairments, government grants) and minority interests, "
    "whereas the reported figure is net income attributable to the parent"
)


@dataclass(frozen=True)
class TrackedItem:
    """A projected line item compared with the statements: the projection column, the
    statements item and its kind (``flow``: the single quarter; ``stock``: the balance at
    the quarter end)."""

    name: str
    statement_item: str
    kind: str
    note: str = ""


TRACKED_ITEMS: tuple[TrackedItem, ...] = (
    TrackedItem("revenue", "revenue", "flow", "total operating revenue, single quarter"),
    TrackedItem("net_income", "net_income", "flow", NET_INCOME_NOTE),
    TrackedItem("inventory", "inventory", "stock", "inventory balance at the quarter end"),
    TrackedItem(
        "cash",
        "cash_and_equivalents",
        "stock",
        "cash plus short-term investments at the quarter end (the model's liquidity); the "
        "projected balance includes revolving draws that keep it at the minimum cash",
    ),
)

ACTUAL_SCHEMA = {
    "ticker": pl.String,
    "item": pl.String,
    "quarter_index": pl.Int64,
    "quarter": pl.String,
    "actual": pl.Float64,
    "actual_basis": pl.String,
    "actual_how": pl.String,
    "unavailable_reason": pl.String,
}


def _unavailable_flow(fs: FirmStatements, item: str, q: int) -> str:
    label, n = quarter_label(q), q % 4 + 1
    year = q // 4
    if fs.ytd(item, q) is not None and n > 1:
        return (
            f"{ytd_label(year, n)} {item} is reported but not {ytd_label(year, n - 1)}, "
            f"so the {label} quarter cannot be derived"
        )
    if fs.ttm(item, q) is not None:
        return (
            f"only a trailing-twelve-month {item} to {label}; the single quarter is not derivable"
        )
    return f"no {item} for {label} (neither the quarter nor consecutive year-to-date reports)"


def _liquidity(fs: FirmStatements, cash: Figure, q: int) -> Figure:
    """The actual to compare with the model's cash, which is liquidity (cash plus
    short-term investments, issue 13): the reported cash plus the short-term investments
    reported at the same quarter end, or the cash alone (said so) where none is reported."""
    sti = fs.point("short_term_investments", q)
    if sti is None:
        return Figure(
            cash.value,
            cash.basis,
            f"{cash.how}; no short-term investments reported at {quarter_label(q)}: cash only",
            cash.sources,
        )
    return Figure(
        cash.value + sti.value,
        "derived",
        f"liquidity as the model counts it: cash {cash.value:.1f} + short-term investments "
        f"{sti.value:.1f} at {quarter_label(q)}",
        tuple(dict.fromkeys((*cash.sources, *sti.sources))),
    )


def firm_actuals(fs: FirmStatements, quarters: Iterable[int]) -> list[dict[str, Any]]:
    """The tracked items of one firm for ``quarters``: value and provenance, or the reason
    the statements do not give it."""
    rows = []
    for q in sorted(set(quarters)):
        for it in TRACKED_ITEMS:
            if it.kind == "flow":
                fig = fs.single_quarter(it.statement_item, q)
                reason = None if fig is not None else _unavailable_flow(fs, it.statement_item, q)
            else:
                fig = fs.point(it.statement_item, q)
                if it.name == "cash" and fig is not None:
                    fig = _liquidity(fs, fig, q)
                reason = (
                    None
                    if fig is not None
                    else (
                        f"no {it.statement_item} balance reported at the end of {quarter_label(q)}"
                    )
                )
            rows.append(
                {
                    "ticker": fs.ticker,
                    "item": it.name,
                    "quarter_index": q,
                    "quarter": quarter_label(q),
                    "actual": None if fig is None else fig.value,
                    "actual_basis": None if fig is None else fig.basis,
                    "actual_how": None if fig is None else fig.how,
                    "unavailable_reason": reason,
                }
            )
    return rows


def actuals_frame(
    statements: Mapping[str, Iterable[Mapping[str, object]]],
    tickers: Iterable[str],
    quarters: Iterable[int],
    as_of: int,
) -> pl.DataFrame:
    """Actual single quarters and quarter-end balances of the tracked items for
    ``quarters``, built from validated statement rows dated on or before ``as_of``."""
    qs = [q for q in quarters if q <= as_of]
    rows: list[dict[str, Any]] = []
    with collector_paused():  # object-heavy and acyclic (stressmodel.model.collector)
        for t in tickers:
            if t in statements:
                rows += firm_actuals(build(t, statements[t], as_of), qs)
    return pl.DataFrame(rows, schema=ACTUAL_SCHEMA)


TRACKING_COLUMNS = (
    "ticker",
    "forecast_as_of",
    "as_of",
    "scenario",
    "item",
    "quarter",
    "actual",
    "projected",
    "error",
    "abs_pct_error",
    "status",
    "status_detail",
    "actual_basis",
    "actual_how",
    "item_mape",
    "item_n",
    "item_closest_scenario",
    "scenario_mape",
    "scenario_n",
    "scenario_rank",
    "closest_scenario",
    "note",
)


_TRACKING_DTYPES: dict[str, Any] = {
    "actual": pl.Float64,
    "projected": pl.Float64,
    "error": pl.Float64,
    "abs_pct_error": pl.Float64,
    "item_mape": pl.Float64,
    "item_n": pl.Int64,
    "scenario_mape": pl.Float64,
    "scenario_n": pl.Int64,
    "scenario_rank": pl.Int64,
}


def _long_projection(
    projection: pl.DataFrame, forecast_as_of: int, as_of: int, tickers: Sequence[str]
) -> pl.DataFrame:
    items = [it.name for it in TRACKED_ITEMS]
    missing = [
        c for c in ("ticker", "scenario", "quarter_index", *items) if c not in projection.columns
    ]
    if missing:
        return pl.DataFrame(
            schema={
                "ticker": pl.String,
                "scenario": pl.String,
                "quarter_index": pl.Int64,
                "item": pl.String,
                "projected": pl.Float64,
            }
        )
    p = projection.select(
        pl.col("ticker").cast(pl.String),
        pl.col("scenario").cast(pl.String),
        pl.col("quarter_index").cast(pl.Int64),
        *(pl.col(c).cast(pl.Float64) for c in items),
    ).filter(
        pl.col("ticker").is_in(list(tickers))
        & (pl.col("quarter_index") > forecast_as_of)
        & (pl.col("quarter_index") <= as_of)
    )
    return p.unpivot(
        index=["ticker", "scenario", "quarter_index"],
        on=items,
        variable_name="item",
        value_name="projected",
    )


def _ranked(frame: pl.DataFrame, group: list[str], value: str, order: pl.Expr) -> pl.DataFrame:
    """``frame`` with ``rank`` (1 = lowest ``value`` in its group, ties by ``order``; null
    where ``value`` is null) and ``closest`` (the scenario ranked 1 in the group)."""
    f = frame.with_columns(order.alias("_o")).sort([*group, value, "_o"], nulls_last=True)
    f = f.with_columns(
        pl.when(pl.col(value).is_not_null())
        .then(pl.int_range(1, pl.len() + 1).over(group))
        .alias("rank")
    )
    best = f.filter(pl.col("rank") == 1).select(*group, pl.col("scenario").alias("closest"))
    return f.join(best, on=group, how="left").drop("_o")


def tracking_table(
    actuals: pl.DataFrame,
    projections: Mapping[int, pl.DataFrame],
    *,
    as_of: int,
    tickers: Sequence[str],
    scenario_order: Sequence[str] = (),
) -> pl.DataFrame:
    """Actual quarters against each earlier run's scenario projections (see the module
    docstring). ``projections`` maps an earlier as-of quarter to that run's projection
    frame (``projections.parquet``)."""
    rank = {name: i for i, name in enumerate(scenario_order)}
    order = pl.col("scenario").replace_strict(rank, default=len(rank), return_dtype=pl.Int64)
    item_rank = {it.name: i for i, it in enumerate(TRACKED_ITEMS)}
    notes = {it.name: it.note for it in TRACKED_ITEMS}
    blocks = []
    for p_as_of, projection in sorted(projections.items()):
        if p_as_of >= as_of:
            continue
        long = _long_projection(projection, p_as_of, as_of, tickers)
        if long.is_empty():
            continue
        act = actuals.select(pl.exclude("quarter"))
        b = long.join(act, on=["ticker", "item", "quarter_index"], how="left").with_columns(
            pl.lit(quarter_label(p_as_of)).alias("forecast_as_of"),
        )
        blocks.append(b)
    if not blocks:
        return pl.DataFrame(
            schema={c: _TRACKING_DTYPES.get(c, pl.String) for c in TRACKING_COLUMNS}
        )
    t = pl.concat(blocks, how="vertical")
    a, p = pl.col("actual"), pl.col("projected")
    status = (
        pl.when(p.is_null())
        .then(pl.lit(TrackingStatus.NOT_PROJECTED.value))
        .when(a.is_null())
        .then(pl.lit(TrackingStatus.ACTUAL_UNAVAILABLE.value))
        .when(a == 0)
        .then(pl.lit(TrackingStatus.ACTUAL_ZERO.value))
        .otherwise(pl.lit(TrackingStatus.COMPARED.value))
    )
    t = t.with_columns(
        pl.concat_str(
            (pl.col("quarter_index") // 4).cast(pl.String),
            pl.lit("Q"),
            (pl.col("quarter_index") % 4 + 1).cast(pl.String),
        ).alias("quarter"),
        pl.lit(quarter_label(as_of)).alias("as_of"),
        (p - a).alias("error"),
        pl.when(a.is_not_null() & (a != 0)).then((p - a).abs() / a.abs()).alias("abs_pct_error"),
        status.alias("status"),
    ).with_columns(
        pl.when(pl.col("status") == TrackingStatus.ACTUAL_UNAVAILABLE.value)
        .then(pl.col("unavailable_reason"))
        .when(pl.col("status") == TrackingStatus.ACTUAL_ZERO.value)
        .then(pl.lit("actual is 0: the percentage error is undefined"))
        .otherwise(None)
        .alias("status_detail"),
    )
    firm_run = ["ticker", "forecast_as_of"]
    compared = pl.col("abs_pct_error").filter(pl.col("status") == TrackingStatus.COMPARED.value)
    per_item = t.group_by([*firm_run, "scenario", "item"]).agg(
        compared.mean().alias("item_mape"), compared.count().cast(pl.Int64).alias("item_n")
    )
    per_item = (
        _ranked(per_item, [*firm_run, "item"], "item_mape", order)
        .rename({"closest": "item_closest_scenario"})
        .drop("rank")
    )
    per_scen = t.group_by([*firm_run, "scenario"]).agg(
        compared.mean().alias("scenario_mape"), compared.count().cast(pl.Int64).alias("scenario_n")
    )
    per_scen = (
        _ranked(per_scen, firm_run, "scenario_mape", order)
        .rename({"rank": "scenario_rank", "closest": "closest_scenario"})
        .with_columns(pl.col("scenario_rank").cast(pl.Int64))
    )
    t = t.join(per_item, on=[*firm_run, "scenario", "item"], how="left").join(
        per_scen, on=[*firm_run, "scenario"], how="left"
    )
    t = t.with_columns(
        pl.col("item").replace_strict(notes, default="", return_dtype=pl.String).alias("note"),
        order.alias("_o"),
        pl.col("item")
        .replace_strict(item_rank, default=len(item_rank), return_dtype=pl.Int64)
        .alias("_i"),
    )
    return t.sort(["ticker", "forecast_as_of", "_o", "scenario", "_i", "quarter_index"]).select(
        *(pl.col(c).cast(_TRACKING_DTYPES.get(c, pl.String)) for c in TRACKING_COLUMNS)
    )


def tracking_summary(tracking: pl.DataFrame) -> pl.DataFrame:
    """One row per firm x earlier run x scenario: the error measures, the rank and the
    closest scenario, with each item's MAPE beside them."""
    keys = ["ticker", "forecast_as_of", "as_of", "scenario"]
    if tracking.is_empty():
        return pl.DataFrame(
            schema={
                **{k: pl.String for k in keys},
                "scenario_n": pl.Int64,
                "scenario_mape": pl.Float64,
                "scenario_rank": pl.Int64,
                "closest_scenario": pl.String,
            }
        )
    base = tracking.select(
        *keys, "scenario_n", "scenario_mape", "scenario_rank", "closest_scenario"
    ).unique(keys, keep="first", maintain_order=True)
    items = tracking.select(*keys, "item", "item_mape").unique(
        [*keys, "item"], keep="first", maintain_order=True
    )
    wide = items.pivot(on="item", index=keys, values="item_mape")
    wide = wide.rename({c: f"mape_{c}" for c in wide.columns if c not in keys})
    return base.join(wide, on=keys, how="left", maintain_order="left")


def unavailable_actuals(tracking: pl.DataFrame) -> list[dict[str, str]]:
    """Firm x item x quarter whose actual the inputs do not give, with the reason."""
    if tracking.is_empty():
        return []
    u = tracking.filter(pl.col("status") == TrackingStatus.ACTUAL_UNAVAILABLE.value)
    u = u.select("ticker", "item", "quarter", pl.col("status_detail").alias("reason"))
    return u.unique(["ticker", "item", "quarter"], maintain_order=True).to_dicts()
