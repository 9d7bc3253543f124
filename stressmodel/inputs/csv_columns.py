"""Many CSV files read into one polars frame of text columns, without Python work per cell.

A 10,000-firm register has 10,000 statements files. :func:`read_csv_many` reads each file
(size, encoding and header checks as :func:`stressmodel.inputs.readers.read_csv` makes them,
with the same messages), then takes the bodies of the files whose every line is *plain CSV*
-- exactly as many fields as the header, each either unquoted without any quote or fully
quoted with doubled inner quotes, nothing spanning a line, no carriage return, no field
longer than the csv module accepts -- and splits them into fields in polars, all files at
once. On such lines Python's csv reader and this split give the same cells: a quoted field
loses its outer quotes and has ``""`` turned into ``"``; every cell is then stripped of the
characters ``str.strip`` strips. Any other file (a blank line, a record over two lines, a
row of the wrong length, a stray quote) is read by :func:`read_csv`'s own parser, so its
problems are named as before.
"""

from __future__ import annotations

import csv
import hashlib
from collections.abc import Sequence
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Any

from stressmodel.errors import InputError, Problem
from stressmodel.inputs.readers import (
    MAX_FILE_BYTES,
    RawTable,
    _csv_header,
    _parse_csv,
    _read_bytes,
    decode_text,
)

if TYPE_CHECKING:
    import polars as pl

#: the characters ``str.strip()`` removes (``str.isspace``), as polars' strip_chars takes them;
#: polars' own default (Unicode White_Space) would keep the separators \x1c-\x1f
PY_WHITESPACE = (
    "\t\n\x0b\x0c\r\x1c\x1d\x1e\x1f \x85\xa0\u1680"
    "\u2000\u2001\u2002\u2003\u2004\u2005\u2006\u2007\u2008\u2009\u200a"
    "\u2028\u2029\u202f\u205f\u3000"
)
#: one field of a plain CSV line: fully quoted (inner quotes doubled) or without any quote
FIELD_PATTERN = r'("(?:[^"\n\r]|"")*"|[^",\n\r]*)'


def line_pattern(n: int) -> str:
    """A whole plain CSV line of ``n`` fields, each captured."""
    return "^" + ",".join([FIELD_PATTERN] * n) + "$"


#: :data:`stressmodel.inputs.validation.CONTROL_RE` for polars (the Rust regex syntax): the
#: control characters and the bidirectional overrides and isolates the text rule refuses
CONTROL_PATTERN = r"[\x00-\x08\x0B\x0C\x0E-\x1F\x7F\x{202A}-\x{202E}\x{2066}-\x{2069}]"


class FrameTable:
    """A :class:`~stressmodel.inputs.readers.RawTable` whose rows are a slice of a frame
    shared by many files: ``source`` holds ``line`` and the text columns (stripped), rows
    ``start`` to ``start + count`` are this file's. ``rows`` and ``lines`` are made from it
    when asked for (the statement checks read the frame directly)."""

    problems: tuple[Problem, ...] = ()
    unread: tuple[int, ...] = ()
    incomplete: str | None = None

    def __init__(
        self,
        file: str,
        header: tuple[str, ...],
        source: pl.DataFrame,
        start: int,
        count: int,
        clean: bool = False,
    ):
        self.file, self.header = file, header
        self.source, self.start, self.count = source, start, count
        #: no cell holds a control character or more than MAX_TEXT characters (the whole
        #: text was searched once when it was read)
        self.clean = clean

    @property
    def frame(self) -> pl.DataFrame:
        return self.source.slice(self.start, self.count)

    @cached_property
    def rows(self) -> tuple[tuple[str, ...], ...]:
        return tuple(self.frame.select(self.header).rows())

    @cached_property
    def lines(self) -> tuple[int, ...]:
        return tuple(self.frame["line"].to_list())

    def records(self) -> list[tuple[int, dict[str, str]]]:
        return RawTable(self.file, self.header, self.rows, self.lines).records()


#: what :func:`read_csv_many` gives per file: the table (None when the file cannot be read),
#: the problems that stopped it (else empty), and its bytes (to hash them without a second read)
ReadResult = tuple["RawTable | FrameTable | None", list[Problem], "bytes | None"]


def read_csv_many(
    items: Sequence[tuple[Path, str]], expected: tuple[str, ...], max_bytes: int = MAX_FILE_BYTES
) -> list[ReadResult]:
    """:func:`stressmodel.inputs.readers.read_csv` of every ``(path, name)``, in order; the
    plain ones (module docstring) split into fields in one pass over all of them."""
    import numpy as np
    import polars as pl

    from stressmodel.inputs.validation import MAX_TEXT

    out: list[ReadResult] = []
    plain: list[tuple[int, bytes, int]] = []  # (index in out, body, its lines)
    clean: list[bool] = []  # per plain file
    limit = csv.field_size_limit()
    head = ",".join(expected).encode() + b"\n"
    for path, name in items:
        try:
            data = _read_bytes(path, name, max_bytes)
            text = decode_text(data, name)
            if data.startswith(head):  # the header exactly as expected: nothing to check in it
                header, first_line = list(expected), True
            else:
                header, reader = _csv_header(text, name, expected)
                first_line = reader.line_num == 1
        except InputError as exc:
            out.append((None, list(exc.problems), None))
            continue
        cut = data.find(b"\n")
        body = data[cut + 1 :].rstrip(b"\n") if cut >= 0 else b""
        if (
            first_line  # the header is the first line, all of it
            and tuple(header) == tuple(expected)
            and b"\r" not in data
            and b"\x01" not in data  # the separator of the line split below
            and b"\n\n" not in body  # a blank line inside: read_csv's parser skips it
            and not body.startswith(b"\xef\xbb\xbf")
        ):  # (and no line longer than the csv module's field limit: checked below, in polars)
            out.append((None, [], data))
            plain.append(
                (len(out) - 1, body + b"\n" if body else b"", body.count(b"\n") + 1 if body else 0)
            )
            # clean if no control character and no line of more than MAX_TEXT bytes (below)
            clean.append(True)
        else:
            out.append((_parse_csv(text, name, expected), [], data))
    counts = [k for _i, _b, k in plain]
    total = sum(counts)
    if not total:
        for i, _b, _k in plain:
            out[i] = (RawTable(items[i][1], tuple(expected), (), ()), [], out[i][2])
        return out
    buf = b"".join(b for _i, b, _k in plain)
    lines = pl.read_csv(
        buf,
        has_header=False,
        separator="\x01",
        quote_char=None,
        schema={"l": pl.String},
        empty_string_is_null=False,
    )["l"]
    if lines.len() != total:  # pragma: no cover - every body line is one line (checked above)
        raise AssertionError(f"{lines.len()} lines split from {total}")
    file_of = pl.Series("f", np.repeat(np.arange(len(counts), dtype=np.int32), counts))
    n = len(expected)
    width = lines.str.len_bytes()  # a line's bytes are at least its characters
    ok = lines.str.contains(line_pattern(n)) & (width <= limit)
    # a cell may be longer than MAX_TEXT or hold a control character: searched cell by cell
    # (the header is the expected one and the lines are the whole body, so the lines hold
    # every character of the file but the line ends)
    for j in set(
        file_of.filter((width > MAX_TEXT) | lines.str.contains(CONTROL_PATTERN)).unique().to_list()
    ):
        clean[j] = False
    bad = set(file_of.filter(~ok).unique().to_list())
    good = [j for j in range(len(plain)) if j not in bad]
    for j in sorted(bad):  # not plain after all: read_csv's own parser names what is wrong
        i = plain[j][0]
        path, name = items[i]
        data = out[i][2]
        assert data is not None
        out[i] = (_parse_csv(decode_text(data, name), name, expected), [], data)
    if bad:
        buf = b"".join(plain[j][1] for j in good)
    kept = np.array([counts[j] for j in good], dtype=np.int64)
    rows = int(kept.sum())
    frame = pl.DataFrame(schema={c: pl.String for c in expected})
    if rows:
        frame = pl.read_csv(
            buf,
            has_header=False,
            new_columns=list(expected),
            schema={c: pl.String for c in expected},
            empty_string_is_null=False,
        )
    if frame.height != rows:  # pragma: no cover - the lines were checked to be plain CSV
        raise AssertionError(f"{frame.height} rows parsed from {rows} plain lines")
    starts = np.repeat(np.cumsum(kept) - kept, kept)
    frame = pl.DataFrame(
        {
            "f": np.repeat(np.arange(len(good), dtype=np.int32), kept),
            "line": np.arange(rows, dtype=np.int64) - starts + 2,  # the header is line 1
        }
    ).hstack(frame.select(pl.all().str.strip_chars(PY_WHITESPACE)))
    # a row of empty cells is no row (as read_csv drops it)
    frame = frame.filter(pl.any_horizontal(*[pl.col(c) != "" for c in expected]))
    have = np.bincount(frame["f"].to_numpy(), minlength=len(good)).tolist()
    source = frame.drop("f")
    start = 0
    for g, j in enumerate(good):
        i = plain[j][0]
        table = FrameTable(items[i][1], tuple(expected), source, start, have[g], clean[j])
        out[i] = (table, [], out[i][2])
        start += have[g]
    return out


def sha256_bytes(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def raise_or(result: ReadResult) -> Any:
    """The table of a result, or its problems raised."""
    table, problems, _data = result
    if problems:
        raise InputError(problems)
    return table
