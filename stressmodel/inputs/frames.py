"""Raw tables as polars frames, and the checks every text column gets, over whole columns.

The row checks of :mod:`stressmodel.inputs.validation` run as polars expressions on one
frame per kind of file (all statements files at once: a 10,000-firm register has 10,000
of them). Only the rows a check fails are turned back into Python, to build the same
:class:`~stressmodel.errors.Problem` a row-by-row check would: the messages do not depend
on how the rows were checked.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from itertools import chain

import numpy as np
import polars as pl

from stressmodel.errors import Problem
from stressmodel.inputs.readers import RawTable

#: the characters :data:`stressmodel.inputs.validation.CONTROL_RE` refuses, as a Rust regex
CONTROL_PATTERN = r"[\x00-\x08\x0B\x0C\x0E-\x1F\x7F\x{202A}-\x{202E}\x{2066}-\x{2069}]"
#: the finite decimal numbers ``float()`` reads from ASCII text (no ``_``, no ``nan``/``inf``):
#: text of this form is converted by polars; anything else goes through
#: :func:`stressmodel.inputs.validation.parse_number` one distinct value at a time
DECIMAL_PATTERN = r"^[+-]?(?:[0-9]+\.?[0-9]*|\.[0-9]+)(?:[eE][+-]?[0-9]+)?$"


def table_frame(tables: Sequence[RawTable], columns: Sequence[str]) -> pl.DataFrame:
    """The rows of ``tables`` (each with the columns ``columns``, in any order) in one frame:
    ``t`` (the index of the table in ``tables``), ``line`` (its line number), then each
    column as text. Rows keep their order (table by table, line by line). Tables read by
    :func:`stressmodel.inputs.csv_columns.read_csv_many` are taken from its frame as they
    are, consecutive ones in one slice."""
    from stressmodel.inputs.csv_columns import FrameTable

    parts: list[pl.DataFrame] = []
    i, n = 0, len(tables)
    while i < n:
        j = i + 1
        first = tables[i]
        if isinstance(first, FrameTable):
            while j < n:
                nxt, prev = tables[j], tables[j - 1]
                if not (
                    isinstance(nxt, FrameTable)
                    and isinstance(prev, FrameTable)
                    and nxt.source is first.source
                    and nxt.start == prev.start + prev.count
                ):
                    break
                j += 1
            run = [t for t in tables[i:j] if isinstance(t, FrameTable)]
            counts = [t.count for t in run]
            part = first.source.slice(first.start, sum(counts)).select(
                pl.Series("t", np.repeat(np.arange(i, j, dtype=np.int32), counts)),
                pl.col("line").cast(pl.Int64),
                *[pl.col(c) for c in columns],
            )
        else:
            while j < n and not isinstance(tables[j], FrameTable):
                j += 1
            part = _rows_frame(tables[i:j], columns, i)
        parts.append(part)
        i = j
    if not parts:
        return _rows_frame([], columns, 0)
    return parts[0] if len(parts) == 1 else pl.concat(parts, how="vertical")


def _rows_frame(tables: Sequence[RawTable], columns: Sequence[str], first: int) -> pl.DataFrame:
    """:func:`table_frame` of tables holding their rows as tuples (``t`` from ``first``)."""
    rows: list[tuple[str, ...]] = []
    for table in tables:
        if tuple(table.header) == tuple(columns):
            rows.extend(table.rows)
        else:
            pos = [table.header.index(c) for c in columns]
            rows.extend(tuple(r[i] if i < len(r) else "" for i in pos) for r in table.rows)
    counts = [len(t.rows) for t in tables]
    df = pl.DataFrame(rows, schema={c: pl.String for c in columns}, orient="row")
    return df.select(
        pl.Series("t", np.repeat(np.arange(first, first + len(tables), dtype=np.int32), counts)),
        pl.Series(
            "line",
            np.fromiter(
                chain.from_iterable(t.lines for t in tables), dtype=np.int64, count=sum(counts)
            ),
        ),
        pl.all(),
    )


def text_problems_frame(
    df: pl.DataFrame,
    files: Sequence[str],
    columns: Sequence[str],
    clean: Sequence[bool] | None = None,
) -> list[Problem]:
    """:func:`stressmodel.inputs.validation.check_text` over a :func:`table_frame`: control
    characters and over-long cells found by column, the messages built for the hits.
    ``clean[t]``: table ``t`` is known to hold neither (its whole text was searched when it
    was read), so its rows are not searched again."""
    from stressmodel.inputs.validation import MAX_TEXT, text_problems

    if clean is not None and any(clean):
        if all(clean):
            return []
        df = df.filter(pl.col("t").is_in([t for t, ok in enumerate(clean) if not ok]))
    hit = pl.lit(False)
    for c in columns:
        hit = hit | pl.col(c).str.contains(CONTROL_PATTERN) | (pl.col(c).str.len_chars() > MAX_TEXT)
    out: list[Problem] = []
    for row in df.filter(hit).select("t", "line", *columns).iter_rows():
        t, line, cells = row[0], row[1], row[2:]
        for field, cell in zip(columns, cells, strict=True):
            out.extend(text_problems(files[t], line, field, cell))
    return out


def numbers(col: str) -> pl.Expr:
    """The finite number each cell of ``col`` holds, else null -- as
    :func:`stressmodel.inputs.validation.parse_number` reads it."""
    c = pl.col(col)
    v = pl.when(c.str.contains(DECIMAL_PATTERN)).then(c.cast(pl.Float64, strict=False))
    return pl.when(v.is_finite()).then(v)


def with_numbers(
    df: pl.DataFrame, col: str, out: str, parse: Callable[[str], float | None]
) -> pl.DataFrame:
    """``df`` with ``out``: the number in ``col`` (:func:`numbers`), and for the cells that
    gave none, ``parse`` applied to each distinct text (``1_000``, ``nan``, non-ASCII digits,
    ``1e400``: what it says of them is what a row-by-row check said)."""
    df = df.with_columns(numbers(col).alias(out))
    odd = df.filter(pl.col(out).is_null())[col].unique().to_list()
    if not odd:
        return df
    parsed = {text: parse(text) for text in odd}
    known = {k: v for k, v in parsed.items() if v is not None}
    if not known:
        return df
    return df.with_columns(
        pl.when(pl.col(col).is_in(list(known)))
        .then(pl.col(col).replace_strict(known, default=None, return_dtype=pl.Float64))
        .otherwise(pl.col(out))
        .alias(out)
    )


def split_rows(
    df: pl.DataFrame, n_tables: int, keys: Sequence[str]
) -> list[list[dict[str, object]]]:
    """The rows of ``df`` (sorted by ``t``) as dicts of ``keys``, one list per table."""
    counts = (
        np.bincount(df["t"].to_numpy(), minlength=n_tables)
        if df.height
        else np.zeros(n_tables, int)
    )
    values = df.select(keys).to_dicts()
    out: list[list[dict[str, object]]] = []
    start = 0
    for n in counts.tolist():
        out.append(values[start : start + n])
        start += n
    return out
