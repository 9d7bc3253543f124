"""The rules of prices.csv, checked over whole columns with polars.

:func:`check_price_table` applies the rules :func:`stressmodel.inputs.validation.check_prices`
documents to every row at once; tickers, dates and items are looked up once per distinct
text, and the failing rows become the same problems, word for word, that a row-by-row check
gives.
"""

from __future__ import annotations

from collections.abc import Iterable

import polars as pl

from stressmodel.errors import Problem
from stressmodel.inputs.frames import table_frame, text_problems_frame, with_numbers
from stressmodel.inputs.readers import RawTable

#: items whose value must be > 0 (an enterprise value may be negative)
POSITIVE_ITEMS = (
    "close",
    "market_cap",
    "shares_outstanding",
    "week52_high",
    "week52_low",
    "volatility",
)


def check_price_table(
    table: RawTable, tickers: Iterable[str]
) -> tuple[list[Problem], list[dict[str, object]]]:
    """Problems of prices.csv and its parsed rows (ticker, date, item, value, source, note,
    line), in file order."""
    from stressmodel.inputs.validation import (
        PRICE_COLUMNS,
        PRICE_ITEMS,
        TICKER_RE,
        _number,
        _show,
        parse_date,
        parse_number,
    )

    f = table.file
    columns = tuple(PRICE_COLUMNS)
    df = table_frame([table], columns)
    problems = text_problems_frame(df, [f], columns, [getattr(table, "clean", False)])
    known = set(tickers)
    shaped = [t for t in df["ticker"].unique().to_list() if TICKER_RE.match(t)]
    dates = {d: parse_date(d) for d in df["date"].unique().to_list()}
    ok_dates = {k: v for k, v in dates.items() if v is not None}
    c = pl.col
    df = with_numbers(df, "value", "v", parse_number)
    df = df.with_columns(
        c("ticker").is_in(shaped).alias("_shaped"),
        c("ticker").is_in(list(known & set(shaped))).alias("_known"),
        c("date").replace_strict(ok_dates, default=None, return_dtype=pl.Date).alias("d"),
        c("item").replace_strict(PRICE_ITEMS, default=None, return_dtype=pl.String).alias("i_unit"),
    )
    row = c("_shaped")
    has = row & c("v").is_not_null() & c("i_unit").is_not_null()
    df = df.with_columns(
        (~row).alias("_bad_ticker"),
        (row & ~c("_known")).alias("_unknown"),
        (row & c("d").is_null()).alias("_date"),
        (row & c("i_unit").is_null()).alias("_item"),
        (row & c("i_unit").is_not_null() & (c("unit") != c("i_unit"))).alias("_unit"),
        (row & c("v").is_null()).alias("_value"),
        (has & c("item").is_in(POSITIVE_ITEMS) & (c("v") <= 0)).alias("_pos"),
        (has & (c("item") == "avg_weekly_movement") & (c("v") < 0)).alias("_nonneg"),
        (has & (c("v").abs() > pl.when(c("i_unit") == "CNY").then(1e5).otherwise(1e7))).alias(
            "_plausible"
        ),
        (row & (c("source") == "")).alias("_source"),
        (has & c("d").is_not_null()).alias("_ok"),
    )
    df = df.with_columns(
        pl.when(c("_ok")).then(c("line")).min().over("ticker", "date", "item").alias("_first")
    )
    df = df.with_columns(
        (c("_ok") & (c("line") != c("_first"))).alias("_dup"),
        (c("_ok") & (c("line") == c("_first"))).alias("_keep"),
    )
    flags = [
        "_bad_ticker",
        "_unknown",
        "_date",
        "_item",
        "_unit",
        "_value",
        "_pos",
        "_nonneg",
        "_plausible",
        "_source",
        "_dup",
    ]
    for r in df.filter(pl.any_horizontal(*flags)).iter_rows(named=True):
        line, item, value = r["line"], r["item"], r["value"]
        if r["_bad_ticker"]:
            problems.append(
                Problem(f, line, "ticker", "a ticker like 603072.SH", _show(r["ticker"]))
            )
            continue
        if r["_unknown"]:
            problems.append(Problem(f, line, "ticker", "a ticker in firms.csv", _show(r["ticker"])))
        if r["_date"]:
            problems.append(Problem(f, line, "date", "a date YYYY-MM-DD", _show(r["date"])))
        if r["_item"]:
            problems.append(
                Problem(f, line, "item", "one of " + ", ".join(PRICE_ITEMS), _show(item))
            )
        if r["_unit"]:
            problems.append(
                Problem(f, line, "unit", f"{r['i_unit']!r} for {item}", _show(r["unit"]))
            )
        if r["_value"]:
            _number(problems, f, line, "value", value)
        if r["_pos"]:
            problems.append(Problem(f, line, "value", f"{item} > 0", value))
        if r["_nonneg"]:
            problems.append(Problem(f, line, "value", f"{item} >= 0", value))
        if r["_plausible"]:
            problems.append(Problem(f, line, "value", f"a plausible {item}", value))
        if r["_source"]:
            problems.append(Problem(f, line, "source", "a source", "an empty cell"))
        if r["_dup"]:
            problems.append(
                Problem(
                    f,
                    line,
                    "item",
                    "one observation per ticker, date and item",
                    f"{item} on {r['date']} again (first on row {r['_first']})",
                )
            )
    parsed = (
        df.filter(c("_keep"))
        .select(
            "ticker", c("d").alias("date"), "item", c("v").alias("value"), "source", "note", "line"
        )
        .to_dicts()
    )
    return problems, parsed
