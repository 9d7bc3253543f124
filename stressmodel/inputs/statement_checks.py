"""The rules of a statements file, checked over many files at once with polars.

:func:`check_statement_tables` applies to every row of every file the rules that
:func:`stressmodel.inputs.validation.check_statements` documents -- a row that breaks one
takes no part in the later ones, the first of two figures for a period and item (or for
an item and period end) is kept -- then the balance-sheet identity and year-to-date
additivity on the rows kept. A rule is one expression over whole columns; the failing rows
become the same problems, with the same words, that a row-by-row check gives.
"""

from __future__ import annotations

from collections.abc import Sequence

import polars as pl

from stressmodel.errors import Problem
from stressmodel.inputs.frames import split_rows, table_frame, text_problems_frame, with_numbers
from stressmodel.inputs.periods import Period, parse_period
from stressmodel.inputs.readers import RawTable
from stressmodel.inputs.vocabulary import FRACTION, ITEMS, STATEMENT_COLUMNS

VOCABULARY = "an item from the vocabulary (inputs/README.md)"
PERIOD_FORMS = "FY2024, 2025Q1, 2025H1, 2025-9M or 2025Q1-TTM"
#: an integer code per vocabulary item (for grouping keys)
ITEM_CODE = {name: k for k, name in enumerate(ITEMS)}
#: quarter indices (year x 4 + quarter) are below this (year 16383)
END_RANGE = 1 << 16
#: the keys of a parsed statements row, in order
PARSED_KEYS = ("period", "end", "span", "kind", "item", "value", "unit", "source", "note", "line")


def _period(text: str) -> Period | None:
    try:
        return parse_period(text) if text.isascii() else None
    except ValueError:
        return None


def check_statement_tables(
    tables: Sequence[RawTable],
) -> tuple[list[Problem], list[list[dict[str, object]]]]:
    """Problems of the statements files ``tables`` and, per file, the parsed rows (as
    :func:`stressmodel.inputs.validation.check_statements` returns them)."""
    problems, kept = check_statement_frame(tables)
    return problems, split_rows(kept, len(tables), PARSED_KEYS)


def check_statement_frame(tables: Sequence[RawTable]) -> tuple[list[Problem], pl.DataFrame]:
    """Problems of the statements files ``tables`` and the rows kept, in one frame: ``t``
    (the index of the file in ``tables``) and :data:`PARSED_KEYS`, file by file in row
    order (what :func:`check_statement_tables` splits into rows per file)."""
    from stressmodel.inputs.validation import (
        MAGNITUDE_LIMITS,
        SUM_TOLERANCE_ABS,
        SUM_TOLERANCE_REL,
        _number,
        _show,
    )

    files = [t.file for t in tables]
    df = table_frame(tables, STATEMENT_COLUMNS)
    clean = [getattr(t, "clean", False) for t in tables]
    problems = text_problems_frame(df, files, STATEMENT_COLUMNS, clean)
    periods = {p: _period(p) for p in df["period"].unique().to_list()}
    ok_periods = {k: v for k, v in periods.items() if v is not None}
    known = [name for name in df["item"].unique().to_list() if name in ITEMS]

    def by_period(attr: str, dtype: pl.DataType) -> pl.Expr:
        mapping = {
            k: (getattr(v, attr).value if attr == "kind" else getattr(v, attr))
            for k, v in ok_periods.items()
        }
        return pl.col("period").replace_strict(mapping, default=None, return_dtype=dtype)

    def by_item(value: object, dtype: pl.DataType) -> pl.Expr:
        mapping = {name: value(ITEMS[name]) for name in known}  # type: ignore[operator]
        return pl.col("item").replace_strict(mapping, default=None, return_dtype=dtype)

    # integer codes of the canonical period label and of the item: the windows and joins
    # below group by one integer key instead of strings (same groups)
    labels = {lab: k for k, lab in enumerate(sorted({v.label for v in ok_periods.values()}))}
    label_code = {k: labels[v.label] for k, v in ok_periods.items()}
    df = with_numbers(df, "value", "num", _parse)
    df = df.with_columns(
        pl.col("period")
        .replace_strict(label_code, default=None, return_dtype=pl.Int64)
        .alias("p_code"),
        by_item(lambda i: ITEM_CODE[i.name], pl.Int64).alias("i_code"),
        by_period("label", pl.String).alias("p_label"),
        by_period("end", pl.Int64).alias("p_end"),
        by_period("span", pl.Int64).alias("p_span"),
        by_period("kind", pl.String).alias("p_kind"),
        by_item(lambda i: i.unit, pl.String).alias("i_unit"),
        by_item(lambda i: i.kind, pl.String).alias("i_kind"),
        by_item(lambda i: i.sign, pl.String).alias("i_sign"),
        by_item(lambda i: float(MAGNITUDE_LIMITS.get(i.unit, 1e9)), pl.Float64).alias("i_limit"),
    )
    c = pl.col
    # each stage a column, so that later rules refer to it rather than repeat it
    df = df.with_columns(
        ((c("value") == "") & (c("period") == "")).alias("_template"),
        c("i_unit").is_not_null().alias("_known"),
        c("p_label").is_not_null().alias("_period_ok"),
    )
    row = ~c("_template")
    df = df.with_columns(
        (c("_template") & (c("item") != "") & ~c("_known")).alias("_tmpl_item"),
        (row & ~c("_period_ok")).alias("_period"),
        (row & ~c("_known")).alias("_item"),
        (row & c("_known") & (c("unit") != c("i_unit"))).alias("_unit"),
        (row & (c("value") != "")).alias("_has_value"),
    )
    df = df.with_columns(
        (c("_has_value") & c("num").is_null()).alias("_value"),
        (c("_has_value") & (c("source") == "")).alias("_source"),
        (c("_has_value") & c("num").is_not_null() & c("_known") & c("_period_ok")).alias("_ok1"),
    )
    df = df.with_columns((c("_ok1") & (c("num").abs() > c("i_limit"))).alias("_over"))
    df = df.with_columns((c("_ok1") & ~c("_over")).alias("_ok2"))
    ok2 = c("_ok2")
    nonneg = c("i_sign") == "nonneg"
    fraction = c("i_unit") == FRACTION
    rules = {
        "neg": ok2 & nonneg & (c("num") < 0),
        "nonpos": ok2 & (c("i_sign") == "pos") & (c("num") <= 0),
        "frac01": ok2 & fraction & nonneg & (c("num") > 1),
        "frac1": ok2 & fraction & ~nonneg & (c("num") > 1),
        "ttm": ok2
        & (c("p_kind") == "TTM")
        & ((c("i_kind") == "stock") | ((c("i_kind") == "flow") & (c("i_unit") != "CNY mn"))),
    }
    df = df.with_columns(*[e.alias(f"_{k}") for k, e in rules.items()])
    df = df.with_columns((ok2 & ~pl.any_horizontal(*[f"_{k}" for k in rules])).alias("_ok3"))
    firm_item = c("t").cast(pl.Int64) * len(ITEM_CODE) + c("i_code")  # null for an unknown item
    df = df.with_columns(
        (firm_item * (len(labels) + 1) + c("p_code")).alias("_k_label"),  # (t, p_label, item)
        (firm_item * END_RANGE + c("p_end")).alias("_k_end"),  # (t, p_end, item)
    )
    # a null key (unknown item or period) groups rows that take no part in these rules
    df = df.with_columns(
        pl.when(c("_ok3")).then(c("line")).min().over("_k_label").alias("_first_line")
    )
    df = df.with_columns(
        (c("_ok3") & (c("line") != c("_first_line"))).alias("_dup"),
        (c("_ok3") & (c("line") == c("_first_line"))).alias("_ok4"),
    )
    df = df.with_columns((c("_ok4") & (c("i_kind") != "flow")).alias("_point"))
    df = df.with_columns(
        pl.when(c("_point")).then(c("line")).min().over("_k_end").alias("_first_end_line")
    )
    df = df.with_columns((c("_point") & (c("line") != c("_first_end_line"))).alias("_dup_end"))
    # the label of the first figure of an item and period end: only a message about a
    # second one names it, so it is looked up only when there is one
    first_label = (
        pl.when(c("_point") & (c("line") == c("_first_end_line")))
        .then(c("p_label"))
        .max()
        .over("_k_end")
        if df["_dup_end"].any()
        else pl.lit(None, dtype=pl.String)
    )
    df = df.with_columns(first_label.alias("_first_end_label"))
    df = df.with_columns((c("_ok4") & ~c("_dup_end")).alias("_keep"))
    flags = [
        "_tmpl_item",
        "_period",
        "_item",
        "_unit",
        "_value",
        "_source",
        "_over",
        *[f"_{k}" for k in rules],
        "_dup",
        "_dup_end",
    ]
    any_flag = pl.any_horizontal(*flags)
    for r in df.filter(any_flag).iter_rows(named=True):
        f, line, name = files[r["t"]], r["line"], r["item"]
        if r["_tmpl_item"]:
            problems.append(Problem(f, line, "item", VOCABULARY, _show(name)))
        if r["_period"]:
            problems.append(Problem(f, line, "period", PERIOD_FORMS, _show(r["period"])))
        if r["_item"]:
            problems.append(Problem(f, line, "item", VOCABULARY, _show(name)))
        if r["_unit"]:
            problems.append(
                Problem(f, line, "unit", f"{r['i_unit']!r} for {name}", _show(r["unit"]))
            )
        if r["_value"]:
            _number(problems, f, line, "value", r["value"])
        if r["_source"]:
            problems.append(
                Problem(
                    f, line, "source", "a source (URL or citation) for the figure", "an empty cell"
                )
            )
        if r["_over"]:
            problems.append(
                Problem(
                    f,
                    line,
                    "value",
                    f"a magnitude at most {r['i_limit']:g} {r['i_unit']}",
                    r["value"],
                )
            )
        if r["_neg"]:
            problems.append(Problem(f, line, "value", f"{name} >= 0", r["value"]))
        if r["_nonpos"]:
            problems.append(Problem(f, line, "value", f"{name} > 0", r["value"]))
        if r["_frac01"]:
            problems.append(
                Problem(f, line, "value", f"{name} as a fraction in [0, 1]", r["value"])
            )
        if r["_frac1"]:
            problems.append(
                Problem(f, line, "value", f"{name} as a fraction at most 1", r["value"])
            )
        if r["_ttm"]:
            problems.append(Problem(f, line, "period", f"no TTM figures for {name}", r["period"]))
        if r["_dup"]:
            problems.append(
                Problem(
                    f,
                    line,
                    "item",
                    "one figure per period and item",
                    f"{name} for {r['p_label']} again (first on row {r['_first_line']})",
                )
            )
        if r["_dup_end"]:
            problems.append(
                Problem(
                    f,
                    line,
                    "item",
                    "one figure per item and period end",
                    f"{name} for {r['p_label']}, which ends on the same day as {r['_first_end_label']} "
                    f"(row {r['_first_end_line']})",
                )
            )
    kept = df.filter(c("_keep")).select(
        "t",
        c("p_label").alias("period"),
        c("p_end").alias("end"),
        c("p_span").alias("span"),
        c("p_kind").alias("kind"),
        "item",
        c("num").alias("value"),
        c("i_unit").alias("unit"),
        "source",
        "note",
        "line",
        "i_kind",
        "i_code",
    )
    problems.extend(_identities(kept, files, SUM_TOLERANCE_ABS, SUM_TOLERANCE_REL))
    return problems, kept.select("t", *PARSED_KEYS)


def _parse(text: str) -> float | None:
    from stressmodel.inputs.validation import parse_number

    return parse_number(text)


def _identities(
    kept: pl.DataFrame, files: Sequence[str], tol_abs: float, tol_rel: float
) -> list[Problem]:
    """Balance-sheet identity and year-to-date additivity on the rows kept (the rules of
    :func:`stressmodel.inputs.validation._check_identities`, per file)."""
    from stressmodel.inputs.validation import BALANCE_TOLERANCE

    c = pl.col
    p: list[Problem] = []
    stock = kept.filter(c("i_kind") == "stock")

    def stocks(name: str, alias: str) -> pl.DataFrame:
        return stock.filter(c("item") == name).select(
            "t", "end", c("value").alias(alias), c("line").alias(f"{alias}_line")
        )

    bal = (
        stocks("total_assets", "ta")
        .join(stocks("total_liabilities", "tl"), on=["t", "end"])
        .join(stocks("shareholders_equity", "eq"), on=["t", "end"])
        .with_columns((c("ta") - c("tl") - c("eq")).alias("gap"))
        .filter(c("gap").abs() > BALANCE_TOLERANCE * c("ta").abs())
    )
    for r in bal.iter_rows(named=True):
        p.append(
            Problem(
                files[r["t"]],
                r["ta_line"],
                "total_assets",
                f"total assets = liabilities + equity within {BALANCE_TOLERANCE:.0%} of assets (minority interests)",
                f"{r['ta']:g} vs {r['tl']:g} + {r['eq']:g} (gap {r['gap']:g})",
            )
        )
    # year-to-date additivity: a figure of span S >= 2 against the first split s in 1..S-1
    # for which the YTD figure of span s ending S-s quarters earlier and the S-s single
    # quarters after it are all reported; the last figure of an (item, end, span) counts
    firm_item = c("t").cast(pl.Int64) * len(ITEM_CODE) + c("i_code")

    def key(end: pl.Expr, span: pl.Expr) -> pl.Expr:
        """(t, item, end, span) as one integer (spans are 1-4, ends below END_RANGE)."""
        return (firm_item * END_RANGE + end) * 8 + span

    flows = (
        kept.filter((c("i_kind") == "flow") & (c("kind") != "TTM"))
        .with_columns(key(c("end"), c("span")).alias("_k"))
        .unique(subset=["_k"], keep="last", maintain_order=True)
        .select("t", "item", "i_code", "end", "span", "value", "line", "_k")
    )
    look = flows.select("_k", "value")
    totals = flows.filter(c("span") >= 2)
    for name, end, span in (
        ("h1", c("end") - c("span") + 1, 1),
        ("h2", c("end") - c("span") + 2, 2),
        ("h3", c("end") - c("span") + 3, 3),
        ("q0", c("end"), 1),
        ("q1", c("end") - 1, 1),
        ("q2", c("end") - 2, 1),
    ):
        totals = totals.with_columns(key(end, pl.lit(span, dtype=pl.Int64)).alias("_kq")).join(
            look.rename({"_k": "_kq", "value": name}),
            on="_kq",
            how="left",
            maintain_order="left",
        )
    s = c("span")
    have = {k: c(k).is_not_null() for k in ("h1", "h2", "h3", "q0", "q1", "q2")}
    tails = {1: c("q0"), 2: c("q0") + c("q1"), 3: c("q0") + c("q1") + c("q2")}
    tails_have = {
        1: have["q0"],
        2: have["q0"] & have["q1"],
        3: have["q0"] & have["q1"] & have["q2"],
    }
    parts = pl.lit(None, dtype=pl.Float64)
    # the first split that is available wins: build the chain from the last split back
    for split in (3, 2, 1):
        for n_tail in (1, 2, 3):  # span = split + n_tail
            cond = (s == split + n_tail) & have[f"h{split}"] & tails_have[n_tail]
            parts = pl.when(cond).then(c(f"h{split}") + tails[n_tail]).otherwise(parts)
    checked = (
        totals.with_columns(parts.alias("parts"))
        .filter(c("parts").is_not_null())
        .with_columns(pl.max_horizontal(pl.lit(tol_abs), tol_rel * c("value").abs()).alias("tol"))
        .filter((c("parts") - c("value")).abs() > c("tol"))
    )
    for r in checked.iter_rows(named=True):
        p.append(
            Problem(
                files[r["t"]],
                r["line"],
                r["item"],
                f"the year-to-date figure to equal its reported parts within {r['tol']:g}",
                f"{r['value']:g} vs parts summing to {r['parts']:g}",
            )
        )
    return p
