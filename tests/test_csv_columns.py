"""Reading many CSV files into one frame (stressmodel.inputs.csv_columns) gives the cells,
line numbers and problems that :func:`read_csv` gives file by file -- for plain files split
in polars and for every file that is not plain (read by read_csv's own parser)."""

from __future__ import annotations

import random
from pathlib import Path

import pytest

from stressmodel.errors import InputError
from stressmodel.inputs.csv_columns import PY_WHITESPACE, FrameTable, read_csv_many
from stressmodel.inputs.frames import table_frame
from stressmodel.inputs.readers import read_csv

COLUMNS = ("period", "item", "value", "unit", "source", "note")
HEADER = ",".join(COLUMNS) + "\n"

BODIES = [
    "FY2024,revenue,100,CNY mn,https://x,\n",
    'FY2024,revenue,100,CNY mn,https://x,"a note, with a comma"\n',
    'FY2024,revenue,100,CNY mn,https://x,"said ""hi"" twice"\n',
    'FY2024,revenue,100,CNY mn,"",""\n',
    '"FY2024","revenue","100","CNY mn","https://x",""""\n',
    "  FY2024 , revenue ,\t100\t,CNY mn,https://x,  spaced  \n",
    'FY2024,revenue,100,CNY mn,https://x," quoted spaces "\n',
    "FY2024,revenue,100,CNY mn,https://x,\u3000ideographic\u3000\n",
    "FY2024,revenue,100,CNY mn,https://x,\x1cseparator\x1f\n",  # str.strip strips these
    "FY2024,revenue,100,CNY mn,https://x,\u00a0nbsp\u2028\n",
    "FY2024,revenue,100,CNY mn,https://x,营业收入 3,634\n",  # a stray comma: 7 fields
    ",,,,,\n",  # a row of empty cells is no row
    "FY2024,revenue,100,CNY mn,https://x,\n\nFY2023,revenue,90,CNY mn,https://x,\n",  # blank line
    "FY2024,revenue,100,CNY mn,https://x,\n\n\n",  # blank lines at the end
    "FY2024,revenue,100,CNY mn,https://x,no newline at the end",
    'FY2024,revenue,100,CNY mn,https://x,"over\ntwo lines"\n',
    'FY2024,revenue,100,CNY mn,https://x,"not closed\n',
    'FY2024,revenue,100,CNY mn,https://x,"closed" then text\n',
    'FY2024,revenue,100,CNY mn,https://x,a "quote" inside\n',
    "FY2024,revenue,100,CNY mn,https://x,crlf\r\nFY2023,revenue,90,CNY mn,https://x,\r\n",
    "FY2024,revenue,100,CNY mn,https://x,cr only\rFY2023,revenue,90,CNY mn,https://x,\r",
    "FY2024,revenue,100,CNY mn,https://x,\x01control\n",
    "FY2024,revenue,100,CNY mn,https://x,\ufeffbom inside\n",
    "FY2024,revenue,100,CNY mn,https://x," + "x" * 140_000 + "\n",  # over the csv field limit
    "FY2024,revenue,100\n",  # too few fields
    "",  # header only
]


def _write(tmp: Path, i: int, text: str) -> tuple[Path, str]:
    p = tmp / f"f{i}.csv"
    p.write_bytes(text.encode("utf-8"))
    return p, f"inputs/statements/f{i}.csv"


def _read_one(path: Path, name: str) -> tuple[object, ...]:
    try:
        t = read_csv(path, name, COLUMNS)
    except InputError as exc:
        return ("error", tuple(exc.problems))
    return (t.header, t.rows, t.lines, t.problems, t.unread, t.incomplete)


def _same(result: tuple, want: tuple[object, ...]) -> None:
    table, problems, _data = result
    if want[0] == "error":
        assert table is None and tuple(problems) == want[1]
        return
    assert not problems
    assert (
        tuple(table.header),
        table.rows,
        table.lines,
        table.problems,
        table.unread,
        table.incomplete,
    ) == want


def test_each_body_alone_and_all_together_read_as_read_csv_reads_them(tmp_path: Path) -> None:
    items = [_write(tmp_path, i, HEADER + b) for i, b in enumerate(BODIES)]
    items.append(_write(tmp_path, 900, "period;item\n"))  # another delimiter
    items.append(_write(tmp_path, 901, "\ufeff" + HEADER))  # a byte-order mark
    items.append(_write(tmp_path, 902, "period,item,value,unit,source\n"))  # a missing column
    wants = [_read_one(p, n) for p, n in items]
    for item, want in zip(items, wants, strict=True):
        _same(read_csv_many([item], COLUMNS)[0], want)
    together = read_csv_many(items, COLUMNS)
    for got, want in zip(together, wants, strict=True):
        _same(got, want)
    assert (
        sum(isinstance(r[0], FrameTable) for r in together) >= 8
    )  # the plain ones were split in polars


def test_random_plain_and_broken_files_read_as_read_csv_reads_them(tmp_path: Path) -> None:
    rng = random.Random(7)
    pieces = ["a", "b c", " ", "\t", ",", '"', '""', "\u3000", "\x1d", "é", "营", "\n", "1.5", ""]

    def cell() -> str:
        text = "".join(rng.choice(pieces) for _ in range(rng.randint(0, 4)))
        if rng.random() < 0.5:
            return '"' + text.replace('"', '""') + '"'
        return (
            text.replace('"', "").replace(",", "").replace("\n", "") if rng.random() < 0.8 else text
        )

    items = []
    for i in range(300):
        lines = [
            ",".join(cell() for _ in range(rng.choice((6, 6, 6, 5))))
            for _ in range(rng.randint(0, 6))
        ]
        items.append(
            _write(tmp_path, i, HEADER + "\n".join(lines) + ("\n" if rng.random() < 0.8 else ""))
        )
    wants = [_read_one(p, n) for p, n in items]
    for got, want in zip(read_csv_many(items, COLUMNS), wants, strict=True):
        _same(got, want)


def test_table_frame_of_frame_tables_equals_that_of_raw_tables(tmp_path: Path) -> None:
    items = [_write(tmp_path, i, HEADER + b) for i, b in enumerate(BODIES[:12])]
    fast = [r[0] for r in read_csv_many(items, COLUMNS) if r[0] is not None]
    slow = [read_csv(p, n, COLUMNS) for p, n in items]
    mixed = [fast[0], slow[1], fast[2], fast[3], slow[4], *fast[5:]]
    want = table_frame(slow, COLUMNS)
    assert table_frame(fast, COLUMNS).equals(want)
    assert table_frame(mixed, COLUMNS).equals(want)


def test_the_whitespace_stripped_is_what_str_strip_strips() -> None:
    import sys

    assert set(PY_WHITESPACE) == {chr(i) for i in range(sys.maxunicode + 1) if chr(i).isspace()}


@pytest.mark.parametrize("size", [0, 1])
def test_no_plain_rows(tmp_path: Path, size: int) -> None:
    items = [_write(tmp_path, i, HEADER + ",,,,,\n" * size) for i in range(3)]
    for got, (p, n) in zip(read_csv_many(items, COLUMNS), items, strict=True):
        _same(got, _read_one(p, n))


def test_statement_checks_of_frame_tables_equal_those_of_raw_tables(tmp_path: Path) -> None:
    """Problems and parsed rows do not depend on how the files were read: control characters,
    over-long cells (whose files are searched) and clean files (whose are not)."""
    from stressmodel.inputs.statement_checks import check_statement_tables

    bodies = [
        "FY2024,revenue,100,CNY mn,https://x,fine\nFY2023,revenue,90,CNY mn,https://x,\n",
        "FY2024,revenue,100,CNY mn,https://x,bell\x07here\n",
        "FY2024,revenue,100,CNY mn,https://x,\u202eoverride\n",
        "FY2024,revenue,1e400,CNY mn,,\nFY2024,revenue,5,CNY mn,https://x,again\n",
        "FY2024,revenue,100,CNY mn,https://x," + "y" * 40_000 + "\n",
        "FY2024,revenue,100,CNY mn,https://x,\x0bvertical tab\n",
    ]
    items = [_write(tmp_path, i, HEADER + b) for i, b in enumerate(bodies)]
    fast = [r[0] for r in read_csv_many(items, COLUMNS)]
    slow = [read_csv(p, n, COLUMNS) for p, n in items]
    assert sum(isinstance(t, FrameTable) for t in fast) >= 5
    assert [getattr(t, "clean", False) for t in fast][:3] == [True, False, False]
    got, want = check_statement_tables(fast), check_statement_tables(slow)
    assert got == want
    assert (
        len(got[0]) >= 5
    )  # the corruptions were found (a leading \x0b is stripped, as str.strip does)


def test_control_characters_found_in_polars_as_the_text_rule_finds_them() -> None:
    import polars as pl

    from stressmodel.inputs.csv_columns import CONTROL_PATTERN
    from stressmodel.inputs.validation import CONTROL_RE

    cps = [cp for cp in [*range(0, 0x3000), 0xFEFF, 0x10FFFF] if not 0xD800 <= cp <= 0xDFFF]
    texts = [f"a{chr(cp)}b" for cp in cps]
    got = pl.Series(texts).str.contains(CONTROL_PATTERN).to_list()
    want = [bool(CONTROL_RE.search(t)) for t in texts]
    assert sum(want) == 39  # 0x00-0x08, 0x0B, 0x0C, 0x0E-0x1F, 0x7F, U+202A-E, U+2066-9
    assert [hex(cp) for cp, g, w in zip(cps, got, want, strict=True) if g != w] == []
