"""The statements and price rules, checked over whole columns (inputs/statement_checks.py,
inputs/price_checks.py), give exactly what the row-by-row checks they replaced gave
(tests/support/row_checks.py): the same problems, word for word, and the same parsed rows
-- on the shipped files, and on seeded random corruptions of them (blanked, swapped,
duplicated and rewritten cells, values of every odd form, reordered columns)."""

from __future__ import annotations

import contextlib
import random
from pathlib import Path

import pytest
from support import row_checks

from stressmodel.inputs.readers import RawTable, read_csv
from stressmodel.inputs.validation import (
    PRICE_COLUMNS,
    check_prices,
    check_statements,
    check_statements_many,
)
from stressmodel.inputs.vocabulary import ITEMS, STATEMENT_COLUMNS

SHIPPED = Path(__file__).resolve().parents[1] / "inputs"
STATEMENTS = sorted((SHIPPED / "statements").glob("*.csv"))

#: odd cell texts: numbers in every form float() takes or refuses, periods, items, units
ODD_VALUES = [
    "",
    "0",
    "-0",
    "-1",
    "+2.5",
    ".5",
    "5.",
    "1e5",
    "1E+05",
    "1e400",
    "-1e400",
    "nan",
    "inf",
    "-Infinity",
    "1_000",
    "1,000",
    "١٢",
    "0x10",
    "abc",
    "2e7",
    "1.5",
    "0.3",
    "99999999999",
    "\x0c7",
]
ODD_PERIODS = [
    "",
    "FY2024",
    "2025Q1",
    "2025H1",
    "2025-9M",
    "2025Q1-TTM",
    "2024Q4",
    "FY1989",
    "fy2024",
    "2025Q5",
    "２０２５Q1",
]
ODD_UNITS = ["", "CNY mn", "fraction", "x", "days", "tonnes", "CNY"]


def _same(table: RawTable) -> None:
    want_p, want_rows = row_checks.check_statements(table)
    got_p, got_rows = check_statements(table)
    assert sorted(set(got_p)) == sorted(set(want_p))
    assert got_rows == want_rows


def _mutated(table: RawTable, rng: random.Random, n: int) -> RawTable:
    rows = [list(r) for r in table.rows]
    lines = list(table.lines)
    h = {c: i for i, c in enumerate(table.header)}
    items = list(ITEMS)
    for _ in range(n):
        k = rng.randrange(len(rows))
        what = rng.randrange(7)
        if what == 0:
            rows[k][h["value"]] = rng.choice(ODD_VALUES)
        elif what == 1:
            rows[k][h["period"]] = rng.choice(ODD_PERIODS)
        elif what == 2:
            rows[k][h["item"]] = rng.choice([*items, "no_such_item", ""])
        elif what == 3:
            rows[k][h["unit"]] = rng.choice(ODD_UNITS)
        elif what == 4:
            rows[k][h["source"]] = ""
        elif what == 5:  # a duplicate of another row, later in the file
            rows.append(list(rows[rng.randrange(len(rows))]))
            lines.append(lines[-1] + 1)
        else:  # a figure scaled: identities and YTD sums break
            with contextlib.suppress(ValueError):
                rows[k][h["value"]] = repr(
                    float(rows[k][h["value"]]) * rng.choice([0.5, 1.001, 3.0, -1.0])
                )
    return RawTable(table.file, table.header, tuple(tuple(r) for r in rows), tuple(lines))


@pytest.mark.parametrize("path", STATEMENTS, ids=lambda p: p.name)
def test_shipped_statements_as_before(path: Path) -> None:
    _same(read_csv(path, path.name, STATEMENT_COLUMNS))


@pytest.mark.parametrize("seed", range(40))
def test_corrupted_statements_as_before(seed: int) -> None:
    rng = random.Random(seed)
    path = STATEMENTS[seed % len(STATEMENTS)]
    table = _mutated(read_csv(path, path.name, STATEMENT_COLUMNS), rng, rng.choice([1, 5, 40, 200]))
    _same(table)
    if seed % 4 == 3:  # 200 corruptions: surely some rule fires
        assert row_checks.check_statements(table)[0]


def test_many_files_in_one_pass_as_one_by_one() -> None:
    """check_statements_many over every shipped file (one corrupted, one with its columns in
    another order) gives each file's own problems and rows."""
    rng = random.Random(7)
    tables = [read_csv(p, p.name, STATEMENT_COLUMNS) for p in STATEMENTS]
    tables[1] = _mutated(tables[1], rng, 60)
    t = tables[2]
    order = (5, 3, 1, 0, 2, 4)
    tables[2] = RawTable(
        t.file,
        tuple(t.header[i] for i in order),
        tuple(tuple(r[i] for i in order) for r in t.rows),
        t.lines,
    )
    got_p, got_rows = check_statements_many(tables)
    want = [row_checks.check_statements(tb) for tb in tables]
    assert sorted(set(got_p)) == sorted({p for w in want for p in w[0]})
    assert got_rows == [w[1] for w in want]
    assert any(w[0] for w in want)  # the corrupted file did give problems


def _price_table() -> RawTable:
    return read_csv(SHIPPED / "prices.csv", "inputs/prices.csv", PRICE_COLUMNS)


def test_shipped_prices_as_before() -> None:
    table = _price_table()
    tickers = [p.stem for p in STATEMENTS]
    assert check_prices(table, tickers) == row_checks.check_prices(table, tickers)
    assert check_prices(table, tickers[:3])[0] == row_checks.check_prices(table, tickers[:3])[0]


@pytest.mark.parametrize("seed", range(20))
def test_corrupted_prices_as_before(seed: int) -> None:
    rng = random.Random(seed)
    table = _price_table()
    rows = [list(r) for r in table.rows]
    lines = list(table.lines)
    h = {c: i for i, c in enumerate(table.header)}
    for _ in range(rng.choice([1, 10, 100])):
        k = rng.randrange(len(rows))
        col = rng.choice(["ticker", "date", "item", "value", "unit", "source", "dup"])
        if col == "dup":
            rows.append(list(rows[k]))
            lines.append(lines[-1] + 1)
        elif col == "ticker":
            rows[k][h[col]] = rng.choice(
                ["", "603072.SH", "999999.SZ", "60307.SH", "603072.sh", "603072.SH\n"]
            )
        elif col == "date":
            rows[k][h[col]] = rng.choice(
                ["", "2025-02-30", "2025-06-30", "1989-12-31", "2025-6-30", "x"]
            )
        elif col == "item":
            rows[k][h[col]] = rng.choice(
                ["", "close", "beta", "avg_weekly_movement", "enterprise_value", "nope"]
            )
        elif col == "unit":
            rows[k][h[col]] = rng.choice(["", "CNY", "CNY mn", "x", "fraction", "million shares"])
        elif col == "value":
            rows[k][h[col]] = rng.choice(ODD_VALUES)
        else:
            rows[k][h[col]] = ""
    corrupted = RawTable(table.file, table.header, tuple(tuple(r) for r in rows), tuple(lines))
    tickers = [p.stem for p in STATEMENTS]
    got, want = check_prices(corrupted, tickers), row_checks.check_prices(corrupted, tickers)
    assert sorted(set(got[0])) == sorted(set(want[0]))
    assert got[1] == want[1]


CSV_BODIES = [
    "a,b,c\n1,2,3\n4,5,6\n",
    "a,b,c\r\n1,2,3\r\n\r\n4, 5 ,6\r\n",
    "a,b,c\n1,2,3\n\n   \n,,\n 7 ,8,9",
    'a,b,c\n1,"two, with a comma",3\n4,"multi\nline",6\n7,8,9\n',
    "a,b,c\n1,2\n3,4,5\n6,7,8,9\n",
    'a,b,c\n1,"unclosed,3\n4,5,6\n',
    'a,b,c\n1,"x"y,3\n4,5,6\n',
    "a,b,c\n1,2,3\r4,5,6\n",
    "a,b,c\n\u00a01\u2003,2,3\x0c\n",
    "a,b,c\n",
]


@pytest.mark.parametrize("body", CSV_BODIES, ids=range(len(CSV_BODIES)))
def test_csv_read_in_one_pass_as_row_by_row(tmp_path: Path, body: str, monkeypatch) -> None:
    """read_csv's one-pass path (every record on one line) gives the table the row-by-row
    reader gives: rows, stripped cells, line numbers, unreadable rows and their problems."""
    from stressmodel.inputs import readers

    path = tmp_path / "t.csv"
    path.write_bytes(body.encode("utf-8"))
    fast = readers.read_csv(path, "t.csv", ("a", "b", "c"))
    monkeypatch.setattr(readers, "_simple_rows", lambda _reader, _n: None)
    slow = readers.read_csv(path, "t.csv", ("a", "b", "c"))
    assert fast == slow
