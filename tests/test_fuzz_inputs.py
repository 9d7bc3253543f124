"""Property-based tests: every kind of input file, broken in many ways.

For each input kind (firm register, statements as CSV and as xlsx, sector and scenario
TOML, trade data, prices, consolidation priors) hypothesis draws a mutation of the shipped
file that makes it invalid: missing, extra, renamed or repeated columns; wrong types;
empty files; NaN and inf; negative values where not allowed; absurd magnitudes; duplicated
rows; blanked required cells; words outside the vocabulary; unparseable periods and
dates; control characters; a byte-order mark, UTF-16, Latin-1 or NUL bytes; the wrong
delimiter; stray fields; for xlsx: not a zip, truncated, a zip without a workbook, corrupt
parts, formulas, external links, DTDs; for TOML: syntax errors, truncation, duplicate keys,
unknown parameters, values of the wrong type or outside their range (shocks outside
[0, 1]).

Every example must give exit code 2 from ``stressmodel validate`` with a message naming
the file (and the row and field of the broken cell, where there is one) and no traceback;
and ``stressmodel run --no-workbooks`` on the same inputs must also exit 2 and leave the
outputs folder (which holds an earlier run) exactly as it was.

The examples are derandomized (the same ones on every run, in CI too). The table of kinds
and mutations is in tests/README.md.
"""

from __future__ import annotations

import csv
import hashlib
import io
import os
import re
import shutil
import tempfile
import tomllib
import zipfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import openpyxl
import pytest
from click.testing import CliRunner
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from stressmodel.cli import main
from stressmodel.inputs.load import PRIOR_PARAMETERS, PRIORS_COLUMNS
from stressmodel.inputs.periods import parse_month_span, parse_period
from stressmodel.inputs.scenarios import PARAM_RANGES, SECTOR_LINKS
from stressmodel.inputs.sector import SECTOR_SPECS
from stressmodel.inputs.validation import (
    PRICE_COLUMNS,
    PRICE_ITEMS,
    TRADE_COLUMNS,
    is_partial_date,
    parse_date,
    parse_number,
)
from stressmodel.inputs.vocabulary import ITEMS, REGISTER_COLUMNS, STATEMENT_COLUMNS

pytestmark = pytest.mark.slow

SHIPPED = Path(__file__).resolve().parents[1] / "inputs"
TICKER = "300224.SZ"

#: examples per test; 8 tests -> 8 x 70 = 560 examples in all
EXAMPLES = int(os.environ.get("STRESSMODEL_FUZZ_EXAMPLES", "70"))
FUZZ = settings(
    max_examples=EXAMPLES,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=[
        HealthCheck.too_slow,
        HealthCheck.filter_too_much,
        HealthCheck.data_too_large,
    ],
)

# --- the harness -------------------------------------------------------------------------------


@dataclass
class Expect:
    """Where the problem must be reported: the file's display name, and the row and field
    of the broken cell where there is one (a problem line must name them)."""

    file: str
    row: int | None = None
    field: str | None = None
    also: tuple[str, ...] = ()  # substrings of some problem line


Mutation = Callable[[Path], Expect]


def _snapshot(root: Path) -> dict[str, str]:
    return {
        p.relative_to(root).as_posix(): (
            "dir" if p.is_dir() else hashlib.sha256(p.read_bytes()).hexdigest()
        )
        for p in sorted(root.rglob("*"))
    }


@contextmanager
def _workspace() -> Iterator[tuple[Path, Path]]:
    with tempfile.TemporaryDirectory() as d:
        root = Path(d) / "inputs"
        shutil.copytree(SHIPPED, root)
        out = Path(d) / "outputs"
        (out / "2025Q2").mkdir(parents=True)
        (out / "2025Q2" / "summary.csv").write_text("ticker\nan earlier run\n", encoding="utf-8")
        yield root, out


def check(mutation: Mutation) -> None:
    """Apply the mutation to a fresh copy of the inputs; validate and run must both refuse
    it cleanly, naming the file (row, field), and leave the outputs untouched."""
    with _workspace() as (root, out):
        expect = mutation(root)
        runner = CliRunner()
        result = runner.invoke(main, ["validate", "--inputs", str(root)])
        assert "Traceback" not in result.output
        assert result.exit_code == 2, (
            expect,
            result.exit_code,
            result.output[-2000:],
            repr(result.exception),
        )
        lines = result.stderr.splitlines()
        assert re.fullmatch(r"error: \d+ input problems? found:", lines[0]), lines[:3]
        problems = [x[4:] for x in lines[1:]]
        assert problems and all(x.startswith("inputs/") for x in problems), problems[:5]
        mine = [
            x
            for x in problems
            if x.startswith(expect.file + ":") or x.startswith(expect.file + ",")
        ]
        assert mine, (expect, problems[:10])
        if expect.row is not None:
            mine = [
                x
                for x in mine
                if x.startswith(f"{expect.file}, row {expect.row}:")
                or x.startswith(f"{expect.file}, row {expect.row},")
            ]
            assert mine, (expect, problems[:10])
        if expect.field is not None:
            assert any(f"field '{expect.field}'" in x for x in mine), (expect, mine[:10])
        for needle in expect.also:
            assert any(needle in x for x in mine), (needle, mine[:10])
        assert all(": expected " in x and "; found " in x for x in problems), problems[:5]

        before = _snapshot(out)
        ran = runner.invoke(
            main, ["run", "--no-workbooks", "--quiet", "--inputs", str(root), "--outputs", str(out)]
        )
        assert ran.exit_code == 2, (ran.exit_code, ran.output[-2000:])
        assert "Traceback" not in ran.output and ran.stderr == result.stderr
        assert _snapshot(out) == before


# --- file helpers ----------------------------------------------------------------------------


def read_rows(path: Path) -> list[list[str]]:
    with path.open(encoding="utf-8", newline="") as fh:
        return list(csv.reader(fh))


def to_csv(rows: list[list[str]], delimiter: str = ",") -> str:
    """CSV text with CRLF line ends, so that a cell holding a CR or LF is quoted (with LF
    line ends Python's writer leaves a bare CR unquoted, which any reader takes for a
    line break)."""
    buf = io.StringIO()
    csv.writer(buf, delimiter=delimiter, lineterminator="\r\n").writerows(rows)
    return buf.getvalue()


def write_rows(path: Path, rows: list[list[str]]) -> None:
    path.write_text(to_csv(rows), encoding="utf-8")


# --- value strategies ----------------------------------------------------------------------------

_CONTROL = [chr(c) for c in (*range(1, 9), 0x0B, 0x0C, *range(0x0E, 0x20), 0x7F, 0x202E, 0x2066)]
_TEXT = st.text(
    st.characters(blacklist_categories=("Cs",), blacklist_characters="\x00"),
    min_size=1,
    max_size=24,
)


def garbage(valid: Callable[[str], bool]) -> st.SearchStrategy[str]:
    """Non-empty text (after the reader's strip) that ``valid`` rejects."""
    return _TEXT.filter(lambda t: t.strip() != "" and not valid(t.strip()))


NOT_A_NUMBER = garbage(lambda t: parse_number(t) is not None)
NON_FINITE = st.sampled_from(
    ["nan", "NaN", "-nan", "inf", "-inf", "+inf", "Infinity", "-Infinity", "1e999", "-1e400"]
)
NEGATIVE = st.floats(min_value=-1e6, max_value=-1e-6).map(repr)
ABSURD = st.floats(min_value=1e12, max_value=1e300).map(repr)
_XML_ILLEGAL = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f]")
WITH_BIDI = st.tuples(
    st.text("abc ", max_size=8),
    st.sampled_from(["\u202a", "\u202e", "\u2066", "\u2069", "\x7f"]),
    st.text("abc", max_size=8),
).map(lambda a: "x" + a[0] + a[1] + a[2] + "x")
#: a control character inside text (the reader strips the ends of a cell, and str.strip()
#: counts some controls, such as \x0b and \x1c-\x1f, as white space)
WITH_CONTROL = st.tuples(
    st.text("abc xyz", min_size=1, max_size=8),
    st.sampled_from(_CONTROL),
    st.text("abc xyz", min_size=1, max_size=8),
).map(lambda a: a[0].strip() + "x" + a[1] + "x" + a[2].strip())


def _period_ok(t: str) -> bool:
    try:
        parse_period(t)
    except ValueError:
        return False
    return t.isascii()


def _month_ok(t: str) -> bool:
    try:
        parse_month_span(t)
    except ValueError:
        return False
    return t.isascii()


# --- CSV kinds -------------------------------------------------------------------------------


@dataclass(frozen=True)
class CsvKind:
    path: str  # inside inputs/
    columns: tuple[str, ...]
    numeric: tuple[str, ...] = ()
    nonneg: tuple[str, ...] = ()  # numeric columns where a negative value is refused
    required: tuple[str, ...] = ()
    vocab: dict[str, Callable[[str], bool]] = field(
        default_factory=dict
    )  # column -> is the text allowed?
    formats: dict[str, Callable[[str], bool]] = field(
        default_factory=dict
    )  # column -> is the text well-formed?
    text: tuple[str, ...] = ()
    eligible: Callable[[dict[str, str]], bool] = lambda r: (
        True
    )  # rows where a cell mutation must be refused
    negative_rows: Callable[[dict[str, str]], bool] = lambda r: True

    @property
    def display(self) -> str:
        return f"inputs/{self.path}"

    def rows(self) -> list[list[str]]:
        return read_rows(SHIPPED / self.path)


_NONNEG_PRICE_ITEMS = {
    "close",
    "market_cap",
    "shares_outstanding",
    "week52_high",
    "week52_low",
    "volatility",
    "avg_weekly_movement",
}
_STATEMENT_ROWS = read_rows(SHIPPED / "statements" / f"{TICKER}.csv")

REGISTER = CsvKind(
    "firms.csv",
    tuple(REGISTER_COLUMNS),
    numeric=("shares_outstanding",),
    nonneg=("shares_outstanding",),
    required=(
        "ticker",
        "company_name",
        "exchange",
        "board",
        "currency",
        "ownership",
        "shares_outstanding",
        "shares_date",
        "shares_source",
        "default_run",
    ),
    vocab={
        "exchange": lambda t: t in ("SSE", "SZSE", "BSE"),
        "board": lambda t: t in ("main", "ChiNext", "STAR"),
        "currency": lambda t: t == "CNY",
        "ownership": lambda t: t in ("state", "private", "unknown"),
        "default_run": lambda t: t in ("yes", "no"),
        "upstream_tie": lambda t: t in ("0", "1"),
    },
    formats={
        "ticker": lambda t: bool(re.fullmatch(r"[0-9]{6}\.(SH|SZ|BJ)", t)),
        "shares_date": lambda t: parse_date(t) is not None,
        "listing_date": is_partial_date,
    },
    text=(
        "company_name",
        "ownership_source",
        "upstream_tie_source",
        "shares_source",
        "price_source",
        "note",
    ),
)
STATEMENTS = CsvKind(
    f"statements/{TICKER}.csv",
    STATEMENT_COLUMNS,
    numeric=("value",),
    nonneg=("value",),
    required=("period", "item", "unit", "source"),
    vocab={"item": lambda t: t in ITEMS},
    formats={"period": _period_ok},
    text=("source", "note"),
    eligible=lambda r: bool(r["value"]),
    negative_rows=lambda r: bool(r["value"]) and ITEMS[r["item"]].sign != "any",
)
PRICES = CsvKind(
    "prices.csv",
    PRICE_COLUMNS,
    numeric=("value",),
    nonneg=("value",),
    required=("ticker", "date", "item", "value", "unit", "source"),
    vocab={"item": lambda t: t in PRICE_ITEMS},
    formats={
        "date": lambda t: parse_date(t) is not None,
        "ticker": lambda t: bool(re.fullmatch(r"[0-9]{6}\.(SH|SZ|BJ)", t)),
    },
    text=("source", "note"),
    negative_rows=lambda r: r["item"] in _NONNEG_PRICE_ITEMS,
)
TRADE = CsvKind(
    "trade.csv",
    TRADE_COLUMNS,
    numeric=("tonnes",),
    nonneg=("tonnes",),
    required=("period", "destination", "tonnes", "source"),
    formats={"period": _month_ok},
    text=("destination", "source", "note"),
)
PRIORS = CsvKind(
    "consolidation_priors.csv",
    PRIORS_COLUMNS,
    numeric=("value",),
    nonneg=("value",),
    required=("parameter", "value", "rationale"),
    vocab={"parameter": lambda t: t in PRIOR_PARAMETERS},
    text=("unit", "rationale", "source"),
    negative_rows=lambda r: r["parameter"].startswith(("base_rate", "horizon")),
)


def _table_mutations(kind: CsvKind) -> st.SearchStrategy[Mutation]:
    """Whole-file mutations: header, encoding, delimiter, emptiness."""
    rows = kind.rows()
    header = rows[0]

    def put(root: Path, data: bytes) -> None:
        (root / kind.path).write_bytes(data)

    def with_header(new: list[str]) -> Mutation:
        def m(root: Path) -> Expect:
            put(
                root,
                to_csv(
                    [new, *[r[: len(new)] + [""] * (len(new) - len(r)) for r in rows[1:]]]
                ).encode(),
            )
            return Expect(kind.display, 1)

        return m

    new_name = _TEXT.filter(
        lambda t: (
            t.strip() not in kind.columns and t.strip() != "" and not any(c in t for c in "\r\n")
        )
    )
    drop = st.sampled_from(range(len(header))).map(
        lambda i: with_header(header[:i] + header[i + 1 :])
    )
    add = new_name.map(lambda n: with_header([*header, n]))
    rename = st.tuples(st.sampled_from(range(len(header))), new_name).map(
        lambda a: with_header([*header[: a[0]], a[1], *header[a[0] + 1 :]])
    )
    repeat = (
        st.tuples(st.sampled_from(range(len(header))), st.sampled_from(range(len(header))))
        .filter(lambda a: a[0] != a[1])
        .map(lambda a: with_header([*header[: a[0]], header[a[1]], *header[a[0] + 1 :]]))
    )

    def raw(make: Callable[[bytes], bytes], row: int | None = None) -> Mutation:
        def m(root: Path) -> Expect:
            put(root, make(to_csv(rows).encode()))
            return Expect(kind.display, row)

        return m

    empty = st.sampled_from(["", "\n", "  \n\n", "\r\n\r\n", "   "]).map(
        lambda e: raw(lambda _d: e.encode())
    )
    bom = st.just(raw(lambda d: b"\xef\xbb\xbf" + d))
    utf16 = st.sampled_from(["utf-16", "utf-16-le", "utf-32"]).map(
        lambda enc: raw(
            lambda d: (("\ufeff" if enc.endswith("le") else "") + d.decode()).encode(enc)
        )
    )
    nul = st.integers(min_value=0, max_value=10**6).map(
        lambda i: raw(lambda d: d[: i % len(d)] + b"\x00" + d[i % len(d) :])
    )
    delim = st.sampled_from([";", "\t", "|"]).map(
        lambda c: raw(lambda _d: to_csv(rows, c).encode(), 1)
    )

    def latin1(i: int) -> Mutation:
        line = 2 + i % (len(rows) - 1)

        def m(root: Path) -> Expect:
            new = [list(r) for r in rows]
            col = header.index(kind.text[0])
            new[line - 1][col] = "caf\u00e9 " + new[line - 1][col]
            data = to_csv(new).encode("latin-1", errors="replace")
            put(root, data)
            # the first byte that is not UTF-8 may be on an earlier row (another Latin-1 letter)
            first = next(i for i, b in enumerate(data) if b >= 0x80)
            return Expect(kind.display, data[:first].count(b"\n") + 1)

        return m

    def stray(i: int) -> Mutation:
        line = 2 + i % (len(rows) - 1)

        def m(root: Path) -> Expect:
            new = [list(r) for r in rows]
            new[line - 1] = [*new[line - 1], "stray"]
            put(root, to_csv(new).encode())
            return Expect(kind.display, line, also=(f"expected {len(header)} fields",))

        return m

    idx = st.integers(min_value=0, max_value=10**6)
    return st.one_of(
        drop, add, rename, repeat, empty, bom, utf16, nul, delim, idx.map(latin1), idx.map(stray)
    )


def _cell_mutations(kind: CsvKind, xlsx: bool = False) -> st.SearchStrategy[Mutation]:
    """One cell (or row) of an eligible row broken; the problem must name row and field.

    With ``xlsx`` the generated text avoids the C0 control characters that XML (and so an
    xlsx file) cannot hold at all; bidirectional controls are still tried."""
    rows = kind.rows()
    header = rows[0]
    recs = [dict(zip(header, r, strict=True)) for r in rows[1:]]
    eligible = [i for i, r in enumerate(recs) if kind.eligible(r)]

    def put(root: Path, new: list[list[str]]) -> None:
        write_rows(root / kind.path, new)

    def text(s: st.SearchStrategy[str]) -> st.SearchStrategy[str]:
        return (
            s.map(lambda t: _XML_ILLEGAL.sub("?", t)).filter(lambda t: t.strip() != "")
            if xlsx
            else s
        )

    def set_cell(
        column: str, rows_ok: list[int], values: st.SearchStrategy[str]
    ) -> st.SearchStrategy[Mutation]:
        def make(args: tuple[int, str]) -> Mutation:
            i, value = args
            line = rows_ok[i % len(rows_ok)] + 2

            def m(root: Path) -> Expect:
                new = [list(r) for r in rows]
                new[line - 1][header.index(column)] = value
                put(root, new)
                return Expect(kind.display, line, column)

            return m

        return st.tuples(st.integers(min_value=0, max_value=10**6), values).map(make)

    options: list[st.SearchStrategy[Mutation]] = []
    for c in kind.numeric:
        options += [
            set_cell(c, eligible, text(NOT_A_NUMBER)),
            set_cell(c, eligible, NON_FINITE),
            set_cell(c, eligible, ABSURD),
        ]
    for c in kind.nonneg:
        neg_rows = [i for i in eligible if kind.negative_rows(recs[i])]
        options.append(set_cell(c, neg_rows, NEGATIVE))
    for c in kind.required:
        options.append(set_cell(c, eligible, st.sampled_from(["", "  "])))
    for c, ok in kind.vocab.items():
        options.append(
            set_cell(c, eligible, text(garbage(ok)).filter(lambda t, ok=ok: not ok(t.strip())))
        )
    for c, ok in kind.formats.items():
        options.append(
            set_cell(c, eligible, text(garbage(ok)).filter(lambda t, ok=ok: not ok(t.strip())))
        )
    controls = WITH_BIDI if xlsx else WITH_CONTROL
    for c in kind.text:
        options.append(set_cell(c, eligible, controls))
    if kind is STATEMENTS:
        units = {r["item"]: r["unit"] for r in recs if r["item"] in ITEMS}
        unit_rows = [i for i in eligible if recs[i]["item"] in units]
        options.append(
            st.tuples(st.integers(min_value=0, max_value=10**6), text(_TEXT))
            .filter(
                lambda a: (
                    a[1].strip()
                    not in ("", ITEMS[recs[unit_rows[a[0] % len(unit_rows)]]["item"]].unit)
                )
            )
            .map(lambda a: _set_unit(kind, rows, unit_rows[a[0] % len(unit_rows)] + 2, a[1], put))
        )

    def duplicate(i: int) -> Mutation:
        src = eligible[i % len(eligible)] + 1

        def m(root: Path) -> Expect:
            new = [list(r) for r in rows]
            new.append(list(rows[src]))
            put(root, new)
            return Expect(kind.display, len(new))

        return m

    options.append(st.integers(min_value=0, max_value=10**6).map(duplicate))
    return st.one_of(options)


def _set_unit(
    kind: CsvKind,
    rows: list[list[str]],
    line: int,
    unit: str,
    put: Callable[[Path, list[list[str]]], None],
) -> Mutation:
    def m(root: Path) -> Expect:
        new = [list(r) for r in rows]
        new[line - 1][kind.columns.index("unit")] = unit
        put(root, new)
        return Expect(kind.display, line, "unit")

    return m


def _csv_kind(kind: CsvKind) -> st.SearchStrategy[Mutation]:
    """Whole-file and single-cell mutations of a CSV input."""
    return st.one_of(_table_mutations(kind), _cell_mutations(kind))


# --- cross-file rules ----------------------------------------------------------------------------


def _trade_months_disagree(delta: float) -> Mutation:
    def m(root: Path) -> Expect:
        rows = read_rows(root / "trade.csv")
        for r in rows:
            if r[0] == "2025-12" and r[1] == "world":
                r[2] = repr(round(float(r[2]) + delta, 3))
        write_rows(root / "trade.csv", rows)
        fy = next(i for i, r in enumerate(rows, start=1) if r[0] == "2025-FY" and r[1] == "world")
        return Expect("inputs/trade.csv", fy, "tonnes")

    return m


def _priors_out_of_order(v: float) -> Mutation:
    def m(root: Path) -> Expect:
        rows = read_rows(root / "consolidation_priors.csv")
        for r in rows:
            if r[0] == "base_rate":
                r[1] = repr(v)
        write_rows(root / "consolidation_priors.csv", rows)
        return Expect("inputs/consolidation_priors.csv", None, "base_rate")

    return m


def _balance_broken(args: tuple[int, float]) -> Mutation:
    i, factor = args
    rows = _STATEMENT_ROWS
    recs = [dict(zip(rows[0], r, strict=True)) for r in rows[1:]]
    have = {(r["period"], r["item"]) for r in recs if r["value"]}
    periods = sorted(
        {
            p
            for p, it in have
            if it == "total_assets"
            and (p, "total_liabilities") in have
            and (p, "shareholders_equity") in have
        }
    )
    period = periods[i % len(periods)]
    line = next(
        k
        for k, r in enumerate(recs, start=2)
        if r["period"] == period and r["item"] == "total_assets"
    )

    def m(root: Path) -> Expect:
        new = [list(r) for r in rows]
        new[line - 1][2] = repr(round(float(new[line - 1][2]) * factor, 2))
        write_rows(root / STATEMENTS.path, new)
        return Expect(STATEMENTS.display, line, "total_assets")

    return m


# --- xlsx statements -------------------------------------------------------------------------------


def _xlsx_bytes(rows: list[list[str]], cells: dict[tuple[int, int], object] | None = None) -> bytes:
    wb = openpyxl.Workbook()
    ws = wb.active
    for i, r in enumerate(rows):
        vals: list[object] = []
        for j, c in enumerate(r):
            v: object = c
            if i and j == 2 and c:
                n = parse_number(c)
                v = n if n is not None else c
            vals.append(v)
        ws.append(vals)
    for (row, col), v in (cells or {}).items():
        ws.cell(row=row, column=col, value=v)
    buf = io.BytesIO()
    wb.save(buf)
    return buf.getvalue()


def _put_xlsx(root: Path, data: bytes) -> None:
    (root / STATEMENTS.path).unlink(missing_ok=True)
    (root / "statements" / f"{TICKER}.xlsx").write_bytes(data)


XLSX = f"inputs/statements/{TICKER}.xlsx"
_GOOD_XLSX = _xlsx_bytes(_STATEMENT_ROWS)


def _xlsx_cells(m: Mutation) -> Mutation:
    """A CSV-level statements mutation, written as an xlsx instead."""

    def wrapped(root: Path) -> Expect:
        expect = m(root)
        rows = read_rows(root / STATEMENTS.path)
        _put_xlsx(root, _xlsx_bytes(rows))
        return Expect(XLSX, expect.row, expect.field, expect.also)

    return wrapped


def _xlsx_container(make: Callable[[bytes], bytes]) -> Mutation:
    def m(root: Path) -> Expect:
        _put_xlsx(root, make(_GOOD_XLSX))
        return Expect(XLSX)

    return m


def _rezip(
    data: bytes,
    replace: dict[str, bytes] | None = None,
    add: dict[str, bytes] | None = None,
    drop: tuple[str, ...] = (),
) -> bytes:
    src = zipfile.ZipFile(io.BytesIO(data))
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as dst:
        for info in src.infolist():
            if info.filename not in drop:
                dst.writestr(
                    info.filename, (replace or {}).get(info.filename, src.read(info.filename))
                )
        for n, c in (add or {}).items():
            dst.writestr(n, c)
    return buf.getvalue()


def _flip(data: bytes, k: int) -> bytes:
    zf = zipfile.ZipFile(io.BytesIO(data))
    infos = [i for i in zf.infolist() if i.compress_size > 8]
    info = infos[k % len(infos)]
    head = data[info.header_offset : info.header_offset + 30]
    start = (
        info.header_offset
        + 30
        + int.from_bytes(head[26:28], "little")
        + int.from_bytes(head[28:30], "little")
    )
    pos = start + 2 + (k // len(infos)) % (info.compress_size - 4)
    return data[:pos] + bytes([data[pos] ^ (1 + k % 255)]) + data[pos + 1 :]


_PARTS = zipfile.ZipFile(io.BytesIO(_GOOD_XLSX)).namelist()
_DTD = b'<?xml version="1.0"?><!DOCTYPE a [<!ENTITY b "c">]><a>&b;</a>'


def _formula_at(args: tuple[int, int, str]) -> Mutation:
    r, c, formula = args
    row = 2 + r % (len(_STATEMENT_ROWS) - 1)
    col = 1 + c % 6

    def m(root: Path) -> Expect:
        _put_xlsx(root, _xlsx_bytes(_STATEMENT_ROWS, {(row, col): formula}))
        return Expect(XLSX, row, f"{'ABCDEF'[col - 1]}{row}")

    return m


def _xlsx_value_cell(args: tuple[int, object]) -> Mutation:
    i, value = args
    lines = [k + 2 for k, r in enumerate(_STATEMENT_ROWS[1:]) if r[2]]
    row = lines[i % len(lines)]

    def m(root: Path) -> Expect:
        _put_xlsx(root, _xlsx_bytes(_STATEMENT_ROWS, {(row, 3): value}))
        return Expect(XLSX, row, "value")

    return m


def _xlsx_beyond(args: tuple[int, int]) -> Mutation:
    r, c = args
    row = 2 + r % (len(_STATEMENT_ROWS) - 1)

    def m(root: Path) -> Expect:
        _put_xlsx(root, _xlsx_bytes(_STATEMENT_ROWS, {(row, 7 + c % 40): "extra"}))
        return Expect(XLSX, row)

    return m


XLSX_MUTATIONS = st.one_of(
    _cell_mutations(STATEMENTS, xlsx=True).map(_xlsx_cells),
    st.binary(min_size=0, max_size=200)
    .filter(lambda b: not b.startswith(b"PK"))
    .map(lambda b: _xlsx_container(lambda _g: b)),
    st.integers(min_value=0, max_value=len(_GOOD_XLSX) - 1).map(
        lambda n: _xlsx_container(lambda g: g[:n])
    ),
    st.integers(min_value=0, max_value=10**6).map(lambda k: _xlsx_container(lambda g: _flip(g, k))),
    st.sampled_from(_PARTS)
    .filter(lambda p: p in ("xl/workbook.xml", "[Content_Types].xml"))
    .map(lambda p: _xlsx_container(lambda g: _rezip(g, drop=(p,)))),
    st.sampled_from(_PARTS).map(lambda p: _xlsx_container(lambda g: _rezip(g, replace={p: _DTD}))),
    st.sampled_from(
        [
            "xl/externalLinks/externalLink1.xml",
            "xl/connections.xml",
            "xl/externalLinks/_rels/x.rels",
        ]
    ).map(lambda p: _xlsx_container(lambda g: _rezip(g, add={p: b"<x/>"}))),
    st.tuples(
        st.integers(0, 10**6),
        st.integers(0, 10**6),
        st.sampled_from(
            ["=1+1", "=SUM(C2:C9)", "='[book.xlsx]s'!A1", '=HYPERLINK("http://x")', "=NOW()"]
        ),
    ).map(_formula_at),
    st.tuples(
        st.integers(0, 10**6),
        st.sampled_from(["#DIV/0!", "#NUM!", "#VALUE!", "#N/A", True, "1,234"]),
    ).map(_xlsx_value_cell),
    st.tuples(st.integers(0, 10**6), st.integers(0, 10**6)).map(_xlsx_beyond),
)


# --- TOML kinds ----------------------------------------------------------------------------------


def _toml_text(name: str) -> str:
    return (SHIPPED / name).read_text(encoding="utf-8")


def _table_span(text: str, table: str) -> tuple[int, int]:
    m = re.search(rf"^\[{re.escape(table)}\]\n(?:(?!^\[).*\n?)*", text, flags=re.M)
    assert m, table
    return m.start(), m.end()


def _set_key(text: str, table: str, key: str, value: str) -> str:
    """Set ``key = value`` in ``[table]`` (replacing an existing line)."""
    a, b = _table_span(text, table)
    body = text[a:b]
    new, n = re.subn(
        rf"^{re.escape(key)} = .*$", lambda _m: f"{key} = {value}", body, count=1, flags=re.M
    )
    if n == 0:
        head, rest = body.split("\n", 1)
        new = f"{head}\n{key} = {value}\n{rest}"
    return text[:a] + new + text[b:]


def _toml_edit(
    name: str, edit: Callable[[str], str], field_name: str | None = None, encoding: str = "utf-8"
) -> Mutation:
    def m(root: Path) -> Expect:
        (root / name).write_bytes(edit(_toml_text(name)).encode(encoding, errors="replace"))
        return Expect(f"inputs/{name}", None, field_name)

    return m


def _meaningful_end(text: str) -> int:
    """The largest cut ``text[:n]`` that still loses a character of the last statement
    (trailing comments and white space do not count)."""
    lines = text.splitlines(keepends=True)
    while lines and (lines[-1].strip() == "" or lines[-1].lstrip().startswith("#")):
        lines.pop()
    return len("".join(lines).rstrip()) - 1


def _toml_generic(name: str) -> st.SearchStrategy[Mutation]:
    text = _toml_text(name)
    starts = [0] + [m.end() for m in re.finditer(r"\n", text)]
    bad_lines = st.sampled_from(
        [
            "= 1",
            "[unclosed",
            'k = "unterminated',
            "k = 1 2",
            "k = tru",
            "k = [1,,2]",
            "k = {a = 1",
            "[[]]",
            "k = 0x",
            "k = 1979-13-40",
        ]
    )
    insert = st.tuples(st.sampled_from(starts), bad_lines).map(
        lambda a: _toml_edit(name, lambda t: t[: a[0]] + a[1] + "\n" + t[a[0] :])
    )
    end = _meaningful_end(text)
    truncate = st.integers(min_value=0, max_value=end).map(
        lambda n: _toml_edit(name, lambda t: t[:n])
    )
    encodings = st.sampled_from(["utf-16", "utf-32"]).map(
        lambda enc: _toml_edit(name, lambda t: t, encoding=enc)
    )
    bom = st.just(_toml_edit(name, lambda t: "\ufeff" + t))
    nul = st.integers(0, 10**6).map(
        lambda i: _toml_edit(name, lambda t: t[: i % len(t)] + "\x00" + t[i % len(t) :])
    )
    latin1 = st.just(
        _toml_edit(
            name,
            lambda t: (
                t.replace('unit = "', 'unit = "\u00e9', 1)
                if 'unit = "' in t
                else t.replace('description = "', 'description = "\u00e9', 1)
            ),
            encoding="latin-1",
        )
    )
    return st.one_of(insert, truncate, encodings, bom, nul, latin1)


_SECTOR_DOC = tomllib.loads(_toml_text("sector.toml"))
_NUMERIC_PARAMS = sorted(n for n, s in SECTOR_SPECS.items() if s.kind in ("float", "int"))
_IDENT = st.from_regex(r"[a-z][a-z0-9_]{0,20}", fullmatch=True)
_WRONG_TYPE = st.sampled_from(
    ['"0.1"', "true", "[0.1]", "{ v = 0.1 }", "1979-05-27", "nan", '"sector"', "''"]
)


def _outside(low: float, high: float, integer: bool) -> st.SearchStrategy[str]:
    below = st.floats(max_value=low, exclude_max=True, allow_nan=False, min_value=-1e300)
    above = st.floats(min_value=high, exclude_min=True, allow_nan=False, max_value=1e300)
    out = st.one_of(below, above).map(repr)
    if integer:
        out = st.one_of(
            out, st.floats(min_value=low, max_value=high).filter(lambda v: v != int(v)).map(repr)
        )
    return out


def _sector_out_of_range(args: tuple[str, str]) -> Mutation:
    param, value = args
    return _toml_edit("sector.toml", lambda t: _set_key(t, param, "value", value), f"{param}.value")


SECTOR_MUTATIONS = st.one_of(
    _toml_generic("sector.toml"),
    st.sampled_from(_NUMERIC_PARAMS)
    .flatmap(
        lambda p: st.tuples(
            st.just(p),
            st.one_of(
                _outside(SECTOR_SPECS[p].low, SECTOR_SPECS[p].high, SECTOR_SPECS[p].kind == "int"),
                _WRONG_TYPE,
            ),
        )  # type: ignore[arg-type]
    )
    .map(_sector_out_of_range),
    _IDENT.filter(lambda n: n not in SECTOR_SPECS).map(
        lambda n: _toml_edit(
            "sector.toml", lambda t: t + f'\n[{n}]\nvalue = 1\nunit = "x"\nassumption = "typo"\n', n
        )
    ),
    st.sampled_from(sorted(SECTOR_SPECS)).map(
        lambda p: _toml_edit(
            "sector.toml", lambda t: t[: _table_span(t, p)[0]] + t[_table_span(t, p)[1] :], p
        )
    ),
    st.tuples(
        st.sampled_from(sorted(SECTOR_SPECS)),
        _IDENT.filter(
            lambda k: k not in ("value", "unit", "source", "assumption", "points", "base_1968")
        ),
    ).map(
        lambda a: _toml_edit(
            "sector.toml", lambda t: _set_key(t, a[0], a[1], "1"), f"{a[0]}.{a[1]}"
        )
    ),
    st.sampled_from(sorted(SECTOR_SPECS)).map(
        lambda p: _toml_edit(
            "sector.toml",
            lambda t: _set_key(
                t, p, "source" if "assumption" in _SECTOR_DOC[p] else "assumption", '"both"'
            ),
            p,
        )
    ),
    st.tuples(st.sampled_from(sorted(SECTOR_SPECS)), st.sampled_from(_CONTROL)).map(
        lambda a: _toml_edit(
            "sector.toml",
            lambda t: _set_key(t, a[0], "unit", f'"a\\u{ord(a[1]):04x}b"'),
            f"{a[0]}.unit",
        )
    ),
)

_SCENARIOS = ("baseline", "seed", "deal_normalises", "structural", "trade_implied")
_SCENARIO_KEYS = (*PARAM_RANGES, "start", "path", "description")


def _scenario_value(args: tuple[str, str, str]) -> Mutation:
    scenario, key, value = args
    table = "defaults" if scenario == "defaults" else f"scenarios.{scenario}"
    return _toml_edit("scenarios.toml", lambda t: _set_key(t, table, key, value), f"{table}.{key}")


def _range_mutation(scenario: str) -> st.SearchStrategy[Mutation]:
    key = st.sampled_from(sorted(PARAM_RANGES))
    return key.flatmap(
        lambda k: st.one_of(
            _outside(PARAM_RANGES[k][0], PARAM_RANGES[k][1], PARAM_RANGES[k][2]),
            _WRONG_TYPE.filter(lambda v: v != '"sector"' or k not in SECTOR_LINKS),
        ).map(lambda v: (scenario, k, v))
    ).map(_scenario_value)


SCENARIO_MUTATIONS = st.one_of(
    _toml_generic("scenarios.toml"),
    st.sampled_from((*_SCENARIOS, "defaults")).flatmap(_range_mutation),
    st.sampled_from((*_SCENARIOS, "defaults"))
    .flatmap(
        lambda s: st.tuples(
            st.just(s),
            st.sampled_from(["start", "path"]),
            st.one_of(_TEXT, _WRONG_TYPE).map(_toml_string),
        )
    )
    .filter(lambda a: not _start_or_path_ok(a[1], a[2]))
    .map(_scenario_value),
    st.tuples(
        st.sampled_from(_SCENARIOS),
        _IDENT.filter(lambda k: k not in _SCENARIO_KEYS),
        st.sampled_from(["0.5", '"x"', "1"]),
    ).map(_scenario_value),
    st.tuples(
        st.sampled_from(_SCENARIOS), st.sampled_from(["5", "true", '["a"]', '"\\u0001"'])
    ).map(lambda a: _scenario_value((a[0], "description", a[1]))),
    st.sampled_from(_SCENARIOS).map(
        lambda s: _toml_edit(
            "scenarios.toml",
            lambda t: (
                t[: _table_span(t, f"scenarios.{s}")[0]] + t[_table_span(t, f"scenarios.{s}")[1] :]
            ),
            f"scenarios.{s}",
        )
    ),
    st.tuples(
        st.sampled_from(["export_shock", "output_cut"]),
        st.sampled_from(
            [
                "{ from = 0.5, to = 0.1, step = 0.05 }",
                "{ from = 0.0, to = 1.5, step = 0.05 }",
                "{ from = -0.1, to = 0.5, step = 0.05 }",
                "{ from = 0.0, to = 0.5, step = 0 }",
                "{ from = 0.0, to = 0.5, step = -0.1 }",
                "{ from = 0.0, to = 0.5, step = 1e-9 }",
                "{ from = 0.0, to = 0.5 }",
                "[0.1, 0.2]",
                '"all"',
                "{ from = nan, to = 0.5, step = 0.1 }",
            ]
        ),
    ).map(
        lambda a: _toml_edit(
            "scenarios.toml", lambda t: _set_key(t, "grid", a[0], a[1]), f"grid.{a[0]}"
        )
    ),
    _IDENT.filter(lambda n: n not in ("defaults", "scenarios", "grid", "reverse_stress")).map(
        lambda n: _toml_edit("scenarios.toml", lambda t: t + f"\n[{n}]\nx = 1\n", n)
    ),
    st.sampled_from(['"nothing"', "1", '"Baseline"']).map(
        lambda v: _toml_edit(
            "scenarios.toml", lambda t: _set_key(t, "reverse_stress", "base", v), "reverse_stress"
        )
    ),
)


def _toml_string(v: str) -> str:
    if v in ('"0.1"', "true", "[0.1]", "{ v = 0.1 }", "1979-05-27", "nan", '"sector"', "''"):
        return v
    return (
        '"'
        + "".join(c if c.isprintable() and c not in '"\\' else f"\\U{ord(c):08x}" for c in v)
        + '"'
    )


def _start_or_path_ok(key: str, value: str) -> bool:
    try:
        v = tomllib.loads(f"v = {value}")["v"]
    except tomllib.TOMLDecodeError:
        return False
    if key == "path":
        return v in ("parametric", "trade")
    return (
        isinstance(v, str)
        and bool(re.fullmatch(r"next|\+[0-9]{1,2}|[0-9]{4}Q[1-4]", v))
        and (not v[0].isdigit() or 1990 <= int(v[:4]) <= 2100)
    )


# --- the tests ---------------------------------------------------------------------------------


@FUZZ
@given(_csv_kind(REGISTER))
def test_fuzz_register(mutation: Mutation) -> None:
    check(mutation)


@FUZZ
@given(
    st.one_of(
        _csv_kind(STATEMENTS),
        st.tuples(st.integers(0, 10**6), st.one_of(st.floats(1.1, 10), st.floats(0.01, 0.9))).map(
            _balance_broken
        ),
    )
)
def test_fuzz_statements_csv(mutation: Mutation) -> None:
    check(mutation)


@FUZZ
@given(XLSX_MUTATIONS)
def test_fuzz_statements_xlsx(mutation: Mutation) -> None:
    check(mutation)


@FUZZ
@given(_csv_kind(PRICES))
def test_fuzz_prices(mutation: Mutation) -> None:
    check(mutation)


@FUZZ
@given(
    st.one_of(
        _csv_kind(TRADE),
        st.one_of(st.floats(300, 1e5), st.floats(-5952, -300)).map(_trade_months_disagree),
    )
)
def test_fuzz_trade(mutation: Mutation) -> None:
    check(mutation)


@FUZZ
@given(
    st.one_of(
        _csv_kind(PRIORS),
        st.one_of(st.floats(0.201, 0.99), st.floats(0.001, 0.0499)).map(_priors_out_of_order),
    )
)
def test_fuzz_priors(mutation: Mutation) -> None:
    check(mutation)


@FUZZ
@given(SECTOR_MUTATIONS)
def test_fuzz_sector_toml(mutation: Mutation) -> None:
    check(mutation)


@FUZZ
@given(SCENARIO_MUTATIONS)
def test_fuzz_scenarios_toml(mutation: Mutation) -> None:
    check(mutation)
