"""Tables of a run: the frames written to ``outputs/<as_of>/`` (parquet and CSV), and the
end-of-run summary text. Pure frame building plus thin writers."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import replace
from pathlib import Path

import polars as pl

from stressmodel.inputs.load import Inputs
from stressmodel.inputs.periods import month_label, quarter_label
from stressmodel.inputs.scenarios import calendar_path, scenario_paths
from stressmodel.pipeline.result import RunResult
from stressmodel.run.outputs import write_csv

#: columns of projections.parquet promised by the issue (more follow)
PROJECTION_CONTRACT = (
    "ticker",
    "scenario",
    "quarter",
    "quarter_index",
    "revenue",
    "export_revenue",
    "domestic_revenue",
    "cogs",
    "gross_profit",
    "storage_cost",
    "unabsorbed_overhead",
    "ebitda",
    "ebit",
    "interest_expense",
    "net_income",
    "production_volume",
    "sales_volume",
    "inventory",
    "receivables",
    "cash",
    "total_debt",
    "total_assets",
    "total_liabilities",
    "equity",
    "cfo",
    "cfi",
    "cff",
)
DROP_FROM_PROJECTION = ("market_cap", "shares", "equity_volatility", "past_year_return")


def projection_kinds(result: RunResult) -> dict[str, str]:
    """Scenario name -> its ``scenario_kind`` (named, or the grid's kind)."""
    return {sc.name: sc.kind for sc in (*result.scenarios, *result.grid)}


def projection_rows(frame: pl.DataFrame, kinds: dict[str, str]) -> pl.DataFrame:
    """Quarter rows in the layout of projections.parquet: ``scenario_kind`` added, the base
    and market columns dropped, the promised columns first."""
    df = frame.with_columns(
        pl.col("scenario")
        .replace_strict(kinds, default="named", return_dtype=pl.String)
        .alias("scenario_kind")
    )
    drop = [c for c in df.columns if c.startswith("base_") or c in DROP_FROM_PROJECTION]
    df = df.drop(drop)
    rest = [c for c in df.columns if c not in (*PROJECTION_CONTRACT, "scenario_kind")]
    return df.select(*PROJECTION_CONTRACT, "scenario_kind", *rest)


def projection_table(result: RunResult) -> pl.DataFrame | pl.LazyFrame:
    """One row per firm x scenario x projected quarter: the named scenarios (firm by firm,
    as ``result.projection``), then the grid scenarios; ``scenario_kind`` tells them apart
    (readers of named scenarios filter on it: earlier parquets have no grid rows and no
    such column). A lazy frame when the grid's quarters are a chunked run's parts on disk,
    already in this layout (:func:`projection_rows`, applied as each part is written): a
    plain concatenation of scans, which :func:`write_projections` streams into the file."""
    kinds = projection_kinds(result)
    grid = result.grid_projection
    if isinstance(grid, pl.LazyFrame):
        return pl.concat([projection_rows(result.projection, kinds).lazy(), grid], how="vertical")
    frames = [result.projection]
    if grid is not None and not grid.is_empty():
        frames.append(grid)
    return projection_rows(pl.concat(frames, how="vertical"), kinds)


#: parts a chunked run's sink reads at once. polars' default (8 on this machine) held some
#: 425 MB of decoded parts at 1,000 firms (32 parts of 32 firms) on top of the run; one at
#: a time 164 MB, in the same time (the sink's time is the writing)
SINK_SCANS = 1
#: polars reads this environment variable when it plans each multi-file scan
_SCANS_ENV = "POLARS_MAX_CONCURRENT_SCANS"


@contextmanager
def _scans_at_a_time(n: int) -> Iterator[None]:
    """polars' concurrent file scans limited to ``n`` for the block (a value the user
    exported is kept)."""
    if _SCANS_ENV in os.environ:
        yield
        return
    os.environ[_SCANS_ENV] = str(n)
    try:
        yield
    finally:
        os.environ.pop(_SCANS_ENV, None)


def write_projections(result: RunResult, path: Path) -> None:
    """``projections.parquet``: written at once, or, for a chunked run, streamed from its
    parts (the same rows and columns; the file's row groups differ)."""
    table = projection_table(result)
    if isinstance(table, pl.LazyFrame):
        with _scans_at_a_time(SINK_SCANS):
            table.sink_parquet(path)
    else:
        table.write_parquet(path)


def scenarios_table(result: RunResult) -> pl.DataFrame:
    rows = []
    for sc in (*result.scenarios, *result.grid):
        pp = result.extras.get("price_path")
        inten, rm = scenario_paths(
            sc,
            result.as_of,
            result.horizon,
            result.trade.loss,
            pp.change if pp is not None else None,
        )
        rows.append(
            {
                "scenario": sc.name,
                "kind": sc.kind,
                "export_shock": sc.export_shock,
                "output_cut": sc.output_cut,
                "domestic_shock": sc.domestic_shock,
                "storage_cost_rate": sc.storage_cost_rate,
                "licence_delay_days": sc.licence_delay_days,
                "raw_material_price_change": sc.raw_material_price_change,
                "price_pass_through": sc.price_pass_through,
                "st_debt_not_rolled": sc.st_debt_not_rolled,
                "start": sc.start,
                "start_quarter": quarter_label(sc.start_index(result.as_of)),
                "duration_quarters": sc.duration_quarters,
                "recovery_quarters": sc.recovery_quarters,
                "permanent_share": sc.permanent_share,
                "path": sc.path,
                "intensity_path": ";".join(f"{v:.6g}" for v in inten),
                "description": sc.description,
                "deferred_share": sc.deferred_share,
                "output_cut_forced": sc.output_cut_forced,
                "price_path": sc.price_path,
                "raw_material_path": ";".join(f"{v:.6g}" for v in rm),
                "events": " ".join(sc.events),
                "calendar_path": calendar_path(sc, result.as_of, result.horizon, result.trade.loss),
            }
        )
    return pl.DataFrame(rows)


def estimated_inputs(result: RunResult) -> dict[str, str]:
    return {
        t: ", ".join(
            sorted(n for n, f in result.bases.firms[t].figures.items() if f.basis == "estimated")
        )
        for t in result.tickers
    }


def summary_table(result: RunResult) -> pl.DataFrame:
    """One row per firm and scenario; a selected firm that could not be run gets one row
    with ``scenario_kind = "not_run"`` and the reason in ``value_status`` (never dropped)."""
    est = estimated_inputs(result)
    table = result.summary.with_columns(
        pl.col("ticker")
        .replace_strict(est, default="", return_dtype=pl.String)
        .alias("estimated_inputs")
    )
    not_run = result.extras.get("not_run", {})
    if not_run:
        rows = pl.DataFrame(
            {
                "ticker": list(not_run),
                "scenario": [""] * len(not_run),
                "scenario_kind": ["not_run"] * len(not_run),
                "value_status": [f"not run: {reason}" for reason in not_run.values()],
            }
        )
        table = pl.concat([table, rows], how="diagonal_relaxed").sort("ticker", maintain_order=True)
    return table


def base_figures_table(result: RunResult) -> pl.DataFrame:
    # the reported firms' figures only (in the bases' firm order), not every peer's and
    # then filtered: 10,000 peers' figures as row dicts were 1.5 GB
    reported = set(result.tickers)
    bases = replace(
        result.bases, firms={t: f for t, f in result.bases.firms.items() if t in reported}
    )
    prov = bases.provenance().filter(
        pl.col("ticker").is_in(list(result.tickers)) & (pl.col("figure") != "share_price_date")
    )
    return prov.with_columns(pl.lit(result.as_of_label).alias("as_of")).select(
        "ticker", "as_of", pl.exclude("ticker", "as_of")
    )


def trade_table(result: RunResult) -> pl.DataFrame:
    tp = result.trade
    rows = [
        {
            "kind": "actual",
            "period": month_label(m),
            "index": v,
            "lower": None,
            "upper": None,
            "basis": b,
        }
        for m, v, b in tp.history
    ]
    rows += [
        {
            "kind": "forecast",
            "period": month_label(m),
            "index": v,
            "lower": lo,
            "upper": hi,
            "basis": "forecast",
        }
        for m, v, lo, hi in tp.forecast
    ]
    rows += [
        {
            "kind": "quarterly_loss",
            "period": quarter_label(q),
            "index": v,
            "lower": None,
            "upper": None,
            "basis": tp.status,
        }
        for q, v in sorted(tp.loss.items())
    ]
    return pl.DataFrame(
        rows,
        schema={
            "kind": pl.String,
            "period": pl.String,
            "index": pl.Float64,
            "lower": pl.Float64,
            "upper": pl.Float64,
            "basis": pl.String,
        },
    ).with_columns(pl.lit(tp.reference_monthly).alias("reference_tonnes_per_month"))


def write_result_files(result: RunResult, inputs: Inputs, folder: Path) -> list[str]:
    """Write the tables of a run into ``folder``; returns the file names. The tables are
    made and written one at a time, after projections.parquet, so that no two of them
    (the summary is some 120 MB at 1,000 firms) are held with the parquet writer's buffers."""
    files: dict[str, Callable[[], pl.DataFrame]] = {
        "summary.csv": lambda: summary_table(result),
        "scenarios.csv": lambda: scenarios_table(result),
        "reverse_stress.csv": lambda: result.extras["reverse_stress"],
        "debt_at_risk.csv": lambda: result.extras["debt_at_risk"],
        "base_figures.csv": lambda: base_figures_table(result),
        "actual_metrics.csv": lambda: result.extras["actual_metrics"],
        "peer_stats.csv": lambda: result.extras["peer_stats"],
        "trade_path.csv": lambda: trade_table(result),
        "multiples.csv": lambda: result.extras["multiples"].with_columns(
            pl.lit(result.extras["multiples_note"]).alias("regression")
        ),
    }
    if "montecarlo" in result.extras:
        files["montecarlo.csv"] = lambda: result.extras["montecarlo"]
    names = []
    write_projections(result, folder / "projections.parquet")
    names.append("projections.parquet")
    for name, table in files.items():
        write_csv(table(), folder / name)
        names.append(name)
    return names


def _fmt(v: float | None, spec: str = ".2f") -> str:
    return "n/a" if v is None else format(v, spec)


def data_currency_lines(summary: pl.DataFrame) -> list[str]:
    """Per firm: its latest income-statement actuals (stale when behind the as-of) and the
    date and age of the price it is valued at (flagged when stale)."""
    cols = {"latest_actuals", "stale_quarters", "price_date", "price_age_days", "price_stale"}
    if summary.is_empty() or not cols <= set(summary.columns):
        return []
    out = ["", "data per firm (latest income-statement actuals; price used):"]
    for r in summary.unique("ticker", keep="first", maintain_order=True).iter_rows(named=True):
        n = r["stale_quarters"]
        if n is None:
            act = "no actuals"
        elif n == 0:
            act = f"actuals {r['latest_actuals']} (current)"
        else:
            act = f"actuals {r['latest_actuals']} (STALE: {n} quarter{'s' if n != 1 else ''} behind the as-of)"
        if r["price_date"] is None:
            price = "no price"
        else:
            flag = " (STALE price)" if r["price_stale"] else ""
            price = f"price {_fmt(r['share_price'])} on {r['price_date']}, {r['price_age_days']} days old{flag}"
        out.append(f"  {r['ticker']:10} {act}; {price}")
    return out


def _axis(value: float | None, status: str | None) -> str:
    if value is not None:
        return f"{value:.1%}"
    if status and "above the value" in status:
        return "above range"
    if status and "below the value" in status:
        return "below range"
    return "n/a"


def price_implied_lines(result: RunResult) -> list[str]:
    """What today's price implies, per firm: on the mid-cycle DCF without an export shock,
    the through-the-cycle EBIT margin, revenue growth over the explicit years and perpetual
    growth at which value equals the price, and the implied export shock (trailing DCF)."""
    rev = result.extras["reverse_stress"]
    if "implied_midcycle_margin" not in rev.columns:
        return []
    first = rev.row(0, named=True) if rev.height else {}
    years = first.get("midcycle_growth_years", 5)
    lines = [
        "what today's price implies (mid-cycle DCF, no export shock; each axis solved alone, the others at their "
        f"sector.toml values; discount rate {_fmt(first.get('discount_rate'), '.1%')} = risk-free "
        f"{_fmt(first.get('risk_free_rate'), '.1%')} + equity premium {_fmt(first.get('equity_risk_premium'), '.1%')} "
        f"+ size/cycle {_fmt(first.get('size_and_cycle_premium'), '.1%')}):",
        f"  {'ticker':10} {'price':>8} {'trailing':>9} {'mid-cycle':>9} {'m* used':>8} {'implied m*':>11} "
        f"{'growth ' + str(years) + 'y':>10} {'perpetual g':>12} {'export shock':>13}",
    ]
    for r in rev.iter_rows(named=True):
        shock = (
            _fmt(r["implied_export_shock"], ".1%")
            if r["implied_export_shock"] is not None
            else ("none in [0, 1]" if str(r.get("status", "")).startswith("no shock") else "n/a")
        )
        lines.append(
            f"  {r['ticker']:10} {_fmt(r['share_price']):>8} {_fmt(r['value_no_shock']):>9} "
            f"{_fmt(r.get('value_no_shock_midcycle')):>9} {_fmt(r.get('midcycle_margin'), '.1%'):>8} "
            f"{_axis(r['implied_midcycle_margin'], r['implied_midcycle_margin_status']):>11} "
            f"{_axis(r['implied_revenue_growth_5y'], r['implied_revenue_growth_5y_status']):>10} "
            f"{_axis(r['implied_perpetual_growth'], r['implied_perpetual_growth_status']):>12} {shock:>13}"
        )
    lines.append(
        "  (m* used: the firm's average FY operating margin in the window of sector.toml, or the labelled sector "
        "figure; 'above range' = the price is above the value even at the top of the search range; ranges and "
        "statuses in reverse_stress.csv)"
    )
    return lines


def backtest_table(tracking: pl.DataFrame) -> pl.DataFrame:
    """One row per firm x forecast as-of x scenario of the back-test: mean absolute
    percentage error per item and overall, the compared item-quarters and the rank."""
    if tracking.is_empty() or "forecast_source" not in tracking.columns:
        return pl.DataFrame()
    t = tracking.filter(pl.col("forecast_source") == "back-test")
    keys = ["ticker", "forecast_as_of", "scenario"]
    base = t.select(
        *keys, "scenario_mape", "scenario_n", "scenario_rank", "closest_scenario"
    ).unique(keys, maintain_order=True)
    items = t.select(*keys, "item", "item_mape").unique([*keys, "item"], maintain_order=True)
    wide = items.pivot(on="item", index=keys, values="item_mape")
    wide = wide.rename({c: f"mape_{c}" for c in wide.columns if c not in keys})
    return base.join(wide, on=keys, how="left", maintain_order="left")


def backtest_lines(result: RunResult) -> list[str]:
    tracking = result.extras.get("tracking")
    if not isinstance(tracking, pl.DataFrame):
        return []
    table = backtest_table(tracking)
    if table.is_empty():
        return []
    lines = [
        f"back-test (named scenarios re-run as of each earlier quarter on data dated by then; mean absolute "
        f"% error against actuals up to {result.as_of_label}; n = item-quarters compared):",
        f"  {'ticker':10} {'as of':7} {'scenario':16} {'revenue':>8} {'net inc.':>8} {'invent.':>8} {'cash':>8} "
        f"{'all':>8} {'n':>3}",
    ]
    compared = table.group_by(["ticker", "forecast_as_of"]).agg(
        pl.col("scenario_n").max().alias("_n")
    )
    empty = compared.filter(pl.col("_n") == 0).sort(["ticker", "forecast_as_of"])
    table = table.join(compared, on=["ticker", "forecast_as_of"], how="left").filter(
        pl.col("_n") > 0
    )
    for r in table.iter_rows(named=True):
        best = " <- tracked best" if r["scenario_rank"] == 1 else ""
        lines.append(
            f"  {r['ticker']:10} {r['forecast_as_of']:7} {r['scenario']:16} "
            + " ".join(
                f"{_fmt(r.get('mape_' + c), '.0%'):>8}"
                for c in ("revenue", "net_income", "inventory", "cash")
            )
            + f" {_fmt(r['scenario_mape'], '.0%'):>8} {r['scenario_n']:>3}{best}"
        )
    if empty.height:
        lines.append(
            "  no actual single quarter or quarter-end balance to compare (reasons in tracking.csv): "
            + ", ".join(
                f"{r['ticker']} as of {r['forecast_as_of']}" for r in empty.iter_rows(named=True)
            )
        )
    return lines


def summary_text(result: RunResult) -> str:
    """The end-of-run summary printed by ``stressmodel run``."""
    lines = [
        f"stressmodel run as of {result.as_of_label} ({result.horizon} quarters; firms: {', '.join(result.tickers)})"
    ]
    if result.later_data:
        lines.append(
            "firms with later data than the as-of quarter: "
            + ", ".join(f"{t} ({q})" for t, q in sorted(result.later_data.items()))
        )
    lines.append(f"trade-implied path: {result.trade.status}")
    lines.append("")
    lines.extend(price_implied_lines(result))
    s = result.summary.filter(pl.col("scenario_kind") == "named")
    lines.extend(data_currency_lines(s))
    lines.append("")
    lines.append(
        f"{'ticker':10} {'scenario':16} {'value/sh':>9} {'mid-cycle':>9} {'peers':>13} {'price':>8} {'upside':>8} "
        f"{'runway':>7} {'min ICR':>8} {'Zpp':>6} {'consol.':>8} {'band':>13}"
    )
    for r in s.iter_rows(named=True):
        band = f"{_fmt(r['consolidation_low'])}-{_fmt(r['consolidation_high'])}"
        runway = "none" if r["cash_runway_quarters"] is None else f"q{r['cash_runway_quarters']}"
        peers = f"{_fmt(r.get('peer_vps_low'))}-{_fmt(r.get('peer_vps_high'))}"
        lines.append(
            f"{r['ticker']:10} {r['scenario']:16} {_fmt(r['value_per_share']):>9} "
            f"{_fmt(r.get('value_per_share_midcycle')):>9} {peers:>13} {_fmt(r['share_price']):>8} "
            f"{_fmt(r['upside'], '.0%'):>8} {runway:>7} {_fmt(r['min_interest_cover'], '.1f'):>8} "
            f"{_fmt(r['altman_z'], '.2f'):>6} {_fmt(r['consolidation_score']):>8} {band:>13}"
        )
    lines.append("")
    lines.append(
        "seed scenario, quarter by quarter (CNY mn); first quarter cash would fall below the minimum without a revolving draw:"
    )
    p = result.projection.filter(pl.col("scenario") == "seed")
    for t in result.tickers:
        rows = p.filter(pl.col("ticker") == t).sort("quarter_index")
        first = rows.filter(pl.col("revolver_draw") > 1e-9).select("quarter").to_series().to_list()
        lines.append(
            f"  {t}: first quarter below minimum cash: {first[0] if first else 'none within the horizon'}"
        )
        lines.append("    " + " ".join(f"{q:>9}" for q in rows["quarter"].to_list()) + "  quarter")
        for col, label in (
            ("revenue", "revenue"),
            ("inventory", "inventory"),
            ("storage_cost", "storage cost"),
            ("cash", "cash"),
        ):
            lines.append("    " + " ".join(f"{v:9.1f}" for v in rows[col].to_list()) + f"  {label}")
    bt = backtest_lines(result)
    if bt:
        lines.append("")
        lines.extend(bt)
    lines.append("")
    lines.append("reverse stress (permanent export shock from the next quarter):")
    for r in result.extras["reverse_stress"].iter_rows(named=True):
        implied = (
            _fmt(r["implied_export_shock"], ".4f")
            if r["implied_export_shock"] is not None
            else r["status"]
        )
        if r["implied_export_shock"] is None and r.get("implied_growth") is not None:
            implied += f" (the price implies perpetual growth of {r['implied_growth']:.1%} a year)"
        lines.append(
            f"  {r['ticker']}: price {_fmt(r['share_price'])} ({r['price_date'] or 'no date'}), value without a shock "
            f"{_fmt(r['value_no_shock'])}; implied export shock: {implied}; "
            f"first revolving draw at s = {_fmt(r['shock_cash_breaks'], '.3f')}; "
            f"ICR < 1 at s = {_fmt(r['shock_icr_below_1'], '.3f')}"
        )
    return "\n".join(lines)
