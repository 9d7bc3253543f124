"""`stressmodel validate`: one test per validation rule.

Each test copies the shipped ``inputs/`` folder to a temporary folder named ``inputs``,
breaks one thing, runs ``stressmodel validate --inputs <copy>`` with click's CliRunner and
asserts the exit code (2) and the exact problem line(s): file, row, field, what was
expected and what was found. Where one break necessarily causes a second problem (a
share price of 0 no longer matches prices.csv), both lines are asserted.
"""

from __future__ import annotations

import csv
import re
import shutil
from collections.abc import Callable
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from stressmodel.cli import main
from stressmodel.inputs.vocabulary import REGISTER_COLUMNS

SHIPPED = Path(__file__).resolve().parents[1] / "inputs"
REGISTER_HEADER = ",".join(REGISTER_COLUMNS)


# --- helpers -------------------------------------------------------------------------------


@pytest.fixture
def inputs(tmp_path: Path) -> Path:
    root = tmp_path / "inputs"
    shutil.copytree(SHIPPED, root)
    return root


def validate(root: Path) -> Result:
    return CliRunner().invoke(main, ["validate", "--inputs", str(root)])


#: a TOML problem's line, as ``load_inputs`` adds it to a problem about a key
_TOML_ROW = re.compile(r"^(inputs/(?:sector|scenarios)\.toml), row \d+(, field )")


def problems(result: Result, toml_rows: bool = False) -> list[str]:
    """The problem lines of a failed validate, without the leading '  - '. The line number
    of a TOML key is dropped unless ``toml_rows`` (the rule tests below state the rule, not
    the line; ``test_toml_problems_name_the_line`` checks the lines)."""
    lines = result.stderr.splitlines()
    assert lines and lines[0].startswith("error: "), result.stderr
    found = [line[4:] for line in lines[1:] if line.startswith("  - ")]
    return found if toml_rows else [_TOML_ROW.sub(r"\1\2", line) for line in found]


def assert_problems(result: Result, *expected: str) -> None:
    """Exit code 2, no traceback, and exactly these problems (in the reported order)."""
    assert "Traceback" not in result.output
    assert result.exit_code == 2, result.output
    n = len(expected)
    head = f"error: {n} input problem{'s' if n != 1 else ''} found:"
    assert result.stderr.splitlines()[0] == head, result.stderr
    assert problems(result) == list(expected)


def read_rows(path: Path) -> list[list[str]]:
    with path.open(encoding="utf-8", newline="") as fh:
        return list(csv.reader(fh))


def write_rows(path: Path, rows: list[list[str]]) -> None:
    with path.open("w", encoding="utf-8", newline="") as fh:
        csv.writer(fh, lineterminator="\n").writerows(rows)


def set_cell(path: Path, column: str, value: str, **match: str) -> int:
    """Set ``column`` in the first row whose cells equal ``match``; return its line number."""
    rows = read_rows(path)
    header = rows[0]
    for i, row in enumerate(rows[1:], start=2):
        rec = dict(zip(header, row, strict=True))
        if all(rec[k] == v for k, v in match.items()):
            row[header.index(column)] = value
            write_rows(path, rows)
            return i
    raise AssertionError(f"no row matching {match} in {path}")


def cell(path: Path, column: str, **match: str) -> str:
    rows = read_rows(path)
    for row in rows[1:]:
        rec = dict(zip(rows[0], row, strict=True))
        if all(rec[k] == v for k, v in match.items()):
            return rec[column]
    raise AssertionError(f"no row matching {match} in {path}")


def line_of(path: Path, **match: str) -> int:
    rows = read_rows(path)
    for i, row in enumerate(rows[1:], start=2):
        rec = dict(zip(rows[0], row, strict=True))
        if all(rec[k] == v for k, v in match.items()):
            return i
    raise AssertionError(f"no row matching {match} in {path}")


def add_row(path: Path, **values: str) -> int:
    rows = read_rows(path)
    rows.append([values.get(c, "") for c in rows[0]])
    write_rows(path, rows)
    return len(rows)


def delete_rows(path: Path, keep: Callable[[dict[str, str]], bool]) -> None:
    rows = read_rows(path)
    write_rows(path, [rows[0], *[r for r in rows[1:] if keep(dict(zip(rows[0], r, strict=True)))]])


def replace_text(path: Path, old: str, new: str, count: int = 1) -> None:
    text = path.read_text(encoding="utf-8")
    assert text.count(old) >= 1, f"{old!r} not in {path}"
    path.write_text(text.replace(old, new, count), encoding="utf-8")


def toml_table(path: Path, name: str) -> str:
    """The text of table ``[name]`` up to the next table header."""
    text = path.read_text(encoding="utf-8")
    m = re.search(rf"^\[{re.escape(name)}\]\n(?:(?!^\[).*\n)*", text, flags=re.M)
    assert m, name
    return m.group(0)


# --- the shipped inputs ----------------------------------------------------------------------


def test_shipped_inputs_are_valid_and_coverage_is_printed() -> None:
    result = validate(SHIPPED)
    assert result.exit_code == 0, result.output
    out = result.stdout.splitlines()
    assert re.fullmatch(
        r"inputs valid: 8 firms, \d+ statement figures, \d+ price observations, \d+ trade rows, 7 scenarios",
        out[0],
    ), out[0]
    assert re.fullmatch(
        r"coverage of the figures the model needs at the default as-of quarter \d{4}Q[1-4]:", out[1]
    ), out[1]
    assert out[2].split() == [
        "ticker",
        "reported",
        "derived",
        "estimated",
        "missing",
        "missing",
        "figures",
    ]
    tickers = [r[0] for r in read_rows(SHIPPED / "firms.csv")[1:]]
    rows = out[3 : 3 + len(tickers)]
    assert [r.split()[0] for r in rows] == tickers
    for r in rows:
        counts = [int(x) for x in r.split()[1:5]]
        assert sum(counts) == 24  # every figure the model needs is classified once
    # then the estimated figures by name, one line per firm
    assert out[3 + len(tickers)].startswith("estimated figures per firm")
    named = out[4 + len(tickers) :]
    assert [r.split()[0] for r in named] == tickers
    for r, n in zip(rows, named, strict=True):
        est = int(r.split()[3])
        assert (
            (n.split(None, 1)[1] == "none")
            if est == 0
            else len(n.split(None, 1)[1].split(", ")) == est
        )
    assert result.stderr == ""


@pytest.mark.parametrize("args", [[], *[[name] for name in sorted(main.commands)]])
def test_help_of_every_command(args: list[str]) -> None:
    result = CliRunner().invoke(main, [*args, "--help"])
    assert result.exit_code == 0, result.output
    assert result.stdout.startswith("Usage: ")
    if args == ["validate"]:
        assert "report ALL problems" in result.stdout


# --- files and their form --------------------------------------------------------------------


def test_required_file_missing(inputs: Path) -> None:
    (inputs / "trade.csv").unlink()
    assert_problems(
        validate(inputs), "inputs/trade.csv: expected the file to exist; found no such file"
    )


def test_required_file_is_a_folder(inputs: Path) -> None:
    (inputs / "sector.toml").unlink()
    (inputs / "sector.toml").mkdir()
    assert_problems(
        validate(inputs), "inputs/sector.toml: expected the file to exist; found a folder"
    )


def test_statements_folder_missing(inputs: Path) -> None:
    shutil.rmtree(inputs / "statements")
    assert_problems(
        validate(inputs), "inputs/statements: expected a statements folder; found no such folder"
    )


def test_statements_file_missing(inputs: Path) -> None:
    (inputs / "statements" / "301622.SZ.csv").unlink()
    assert_problems(
        validate(inputs),
        "inputs/statements/301622.SZ.csv: expected a statements file for 301622.SZ (firms.csv); found no such file",
    )


def test_messages_name_the_folder_also_when_given_as_dot(
    inputs: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (inputs / "trade.csv").unlink()
    monkeypatch.chdir(inputs)
    assert_problems(
        validate(Path(".")), "inputs/trade.csv: expected the file to exist; found no such file"
    )


def test_inputs_folder_missing(tmp_path: Path) -> None:
    assert_problems(
        validate(tmp_path / "nothing"),
        f"{tmp_path / 'nothing'}: expected an inputs folder; found no such folder",
    )


def test_required_column_missing(inputs: Path) -> None:
    rows = read_rows(inputs / "prices.csv")
    write_rows(inputs / "prices.csv", [r[:-1] for r in rows])
    assert_problems(
        validate(inputs),
        "inputs/prices.csv, row 1: expected columns ticker, date, item, value, unit, source, note; found missing note",
    )


def test_unexpected_column(inputs: Path) -> None:
    rows = read_rows(inputs / "trade.csv")
    write_rows(
        inputs / "trade.csv", [[*r, "comment" if i == 0 else ""] for i, r in enumerate(rows)]
    )
    assert_problems(
        validate(inputs),
        "inputs/trade.csv, row 1: expected only the columns period, destination, tonnes, source, note; "
        "found unexpected comment",
    )


def test_repeated_column(inputs: Path) -> None:
    replace_text(
        inputs / "consolidation_priors.csv",
        "parameter,value,unit,rationale,source",
        "parameter,value,unit,rationale,rationale",
    )
    assert_problems(
        validate(inputs),
        "inputs/consolidation_priors.csv, row 1: expected columns parameter, value, unit, rationale, source; "
        "found missing source",
        "inputs/consolidation_priors.csv, row 1: expected each column once; found repeated rationale",
    )


def test_empty_file(inputs: Path) -> None:
    (inputs / "trade.csv").write_text("", encoding="utf-8")
    assert_problems(
        validate(inputs),
        "inputs/trade.csv: expected a header row period,destination,tonnes,source,note; found an empty file",
    )


def test_empty_register_is_the_one_root_cause(inputs: Path) -> None:
    """An unreadable firms.csv: its own error first, then one line per dependent file
    instead of one per statements file and price row."""
    (inputs / "firms.csv").write_text("\n\n", encoding="utf-8")
    found = problems(validate(inputs))
    assert (
        found[0]
        == f"inputs/firms.csv: expected a header row {REGISTER_HEADER}; found an empty file"
    )
    n_prices = len(read_rows(inputs / "prices.csv")) - 1
    assert found[1:] == [
        f"inputs/prices.csv, field 'ticker': expected tickers listed in firms.csv; found {n_prices} price rows "
        "not checked: firms.csv unreadable",
        "inputs/statements: expected statements files matched to firms in firms.csv; found 8 files not matched "
        "(000795.SZ.csv, 000970.SZ.csv, 300127.SZ.csv ...): firms.csv unreadable",
    ]


@pytest.mark.parametrize("how", ["stray-comma", "unclosed-quote", "overlong-field"])
def test_malformed_register_row_gives_its_own_error_first(inputs: Path, how: str) -> None:
    """One broken firms.csv row: its error comes first, and the price rows and the
    statements file of that firm are summarised in at most one line each."""
    path = inputs / "firms.csv"
    text = path.read_text(encoding="utf-8").splitlines(keepends=True)
    line = line_of(path, ticker="300224.SZ")
    n_fields = len(REGISTER_COLUMNS)
    if how == "stray-comma":
        text[line - 1] = text[line - 1].replace(",SZSE,", ",SZSE,,", 1)
        first = (
            f"inputs/firms.csv, row {line}: expected {n_fields} fields; "
            f"found {n_fields + 1} fields (a stray comma or missing quotes?)"
        )
    elif how == "unclosed-quote":
        text[line - 1] = text[line - 1].replace(",Yantai", ',"Yantai', 1)
        first = (
            f"inputs/firms.csv, row {line}, field 'company_name': expected valid CSV (quotes closed, a comma after "
            f"a closing quote); found text after a closing quote (an unbalanced quote?); rows {line}-{len(text)} not read"
        )
    else:
        path.write_text("".join(text), encoding="utf-8")
        set_cell(path, "company_name", "x" * 40_000, ticker="300224.SZ")
        text = path.read_text(encoding="utf-8").splitlines(keepends=True)
        first = f"inputs/firms.csv, row {line}, field 'company_name': expected at most 32767 characters; found 40000 characters"
    path.write_text("".join(text), encoding="utf-8")
    found = problems(validate(inputs))
    assert found[0] == first
    rest = found[1:]
    if how == "overlong-field":  # the row was read: nothing depends on a missing row
        assert rest == []
        return
    price_lines = [r for r in rest if r.startswith("inputs/prices.csv")]
    statement_lines = [r for r in rest if r.startswith("inputs/statements")]
    assert len(price_lines) == 1 and "price rows not checked: firms.csv row" in price_lines[0]
    assert len(statement_lines) == 1 and "300224.SZ.csv" in statement_lines[0]
    assert len(rest) <= 3, rest  # at most one summary per dependent file


def test_register_without_rows(inputs: Path) -> None:
    (inputs / "firms.csv").write_text(REGISTER_HEADER + "\n", encoding="utf-8")
    found = problems(validate(inputs))
    assert found[0] == "inputs/firms.csv: expected at least one firm; found no rows"


def test_byte_order_mark(inputs: Path) -> None:
    path = inputs / "prices.csv"
    path.write_bytes(b"\xef\xbb\xbf" + path.read_bytes())
    assert_problems(
        validate(inputs),
        "inputs/prices.csv: expected plain UTF-8 text without a byte-order mark (save as 'CSV UTF-8' without BOM); "
        "found a UTF-8 byte-order mark at the start of the file",
    )


def test_utf16(inputs: Path) -> None:
    path = inputs / "consolidation_priors.csv"
    path.write_bytes(path.read_text(encoding="utf-8").encode("utf-16"))
    assert_problems(
        validate(inputs),
        "inputs/consolidation_priors.csv: expected UTF-8 text; found UTF-16 text (byte-order mark)",
    )


def test_not_utf8(inputs: Path) -> None:
    path = inputs / "trade.csv"
    line = set_cell(path, "note", "caf\u00e9", period="2025-03", destination="world")
    data = path.read_bytes().replace("caf\u00e9".encode(), "caf\u00e9".encode("latin-1"))
    path.write_bytes(data)
    offset = data.index(b"caf\xe9") + 3
    assert_problems(
        validate(inputs),
        f"inputs/trade.csv, row {line}: expected UTF-8 text; found a byte that is not UTF-8 at offset {offset}",
    )


def test_nul_bytes(inputs: Path) -> None:
    path = inputs / "trade.csv"
    path.write_bytes(path.read_bytes() + b"\x00")
    assert_problems(
        validate(inputs), "inputs/trade.csv: expected text; found NUL bytes (a binary file?)"
    )


@pytest.mark.parametrize(
    ("delimiter", "label"), [(";", "semicolons"), ("\t", "tabs"), ("|", "pipes")]
)
def test_wrong_delimiter(inputs: Path, delimiter: str, label: str) -> None:
    path = inputs / "trade.csv"
    rows = read_rows(path)
    with path.open("w", encoding="utf-8", newline="") as fh:
        csv.writer(fh, delimiter=delimiter, lineterminator="\n").writerows(rows)
    assert_problems(
        validate(inputs),
        f"inputs/trade.csv, row 1: expected comma-separated columns; found columns separated by {label}",
    )


def test_wrong_number_of_fields(inputs: Path) -> None:
    path = inputs / "trade.csv"
    lines = path.read_text(encoding="utf-8").splitlines(keepends=True)
    lines[4] = "2024-07,world,5,278," + lines[4].split(",", 3)[3]  # an unquoted thousands separator
    path.write_text("".join(lines), encoding="utf-8")
    assert_problems(
        validate(inputs),
        "inputs/trade.csv, row 5: expected 5 fields; found 6 fields (a stray comma or missing quotes?)",
    )


def test_unterminated_quote(inputs: Path) -> None:
    path = inputs / "trade.csv"
    path.write_text(path.read_text(encoding="utf-8") + '2026-04,world,1,"src\n', encoding="utf-8")
    line = path.read_text(encoding="utf-8").count("\n")
    assert_problems(
        validate(inputs),
        f"inputs/trade.csv, row {line}, field 'source': expected valid CSV (quotes closed, a comma after a closing "
        "quote); found a quote that is not closed on its row",
    )


def test_toml_syntax_error(inputs: Path) -> None:
    path = inputs / "sector.toml"
    n = path.read_text(encoding="utf-8").count("\n")
    path.write_text(path.read_text(encoding="utf-8") + "[broken\n", encoding="utf-8")
    assert_problems(
        validate(inputs),
        f"inputs/sector.toml, row {n + 1}: expected valid TOML; found Expected ']' at the end of a table declaration",
    )


def test_toml_duplicate_key(inputs: Path) -> None:
    replace_text(
        inputs / "scenarios.toml",
        "[scenarios.seed]\n",
        '[scenarios.seed]\npath = "parametric"\npath = "trade"\n',
    )
    found = problems(validate(inputs))
    assert len(found) == 1 and re.fullmatch(
        r"inputs/scenarios\.toml, row \d+: expected valid TOML; found Cannot overwrite a value",
        found[0],
    ), found


@pytest.mark.parametrize(
    ("name", "expected", "found"),
    [
        ("notes.txt", "a .csv or .xlsx statements file", "a .txt"),
        ("README", "a .csv or .xlsx statements file", "a file without extension"),
        ("600000.csv", "a file named after a ticker, e.g. 603072.SH.csv", "'600000.csv'"),
        (
            "300224.SZ (copy).csv",
            "a file named after a ticker, e.g. 603072.SH.csv",
            "'300224.SZ (copy).csv'",
        ),
        ("600000.SH.csv", "a ticker listed in firms.csv", "600000.SH is not in firms.csv"),
        ("300224.SZ.xlsx", "one statements file per firm", "also 300224.SZ.csv"),
    ],
)
def test_statements_file_names(inputs: Path, name: str, expected: str, found: str) -> None:
    shutil.copy(inputs / "statements" / "301622.SZ.csv", inputs / "statements" / name)
    assert_problems(
        validate(inputs), f"inputs/statements/{name}: expected {expected}; found {found}"
    )


# --- firms.csv -------------------------------------------------------------------------------

REG = "inputs/firms.csv"


def _isolate(root: Path, ticker: str) -> None:
    """Remove a firm's statements and prices so that a change to its ticker has no knock-on."""
    (root / "statements" / f"{ticker}.csv").unlink()
    delete_rows(root / "prices.csv", lambda r: r["ticker"] != ticker)
    for column in ("share_price", "price_date", "price_source"):
        set_cell(root / "firms.csv", column, "", ticker=ticker)


@pytest.mark.parametrize(
    "bad",
    [
        "../301622.SZ",
        "/tmp/301622.SZ",
        "301622.sz",
        "301622.SZ.csv",
        "3016222.SZ",
        "301622.HK",
        "x" * 300,
    ],
)
def test_register_ticker_pattern(inputs: Path, bad: str) -> None:
    _isolate(inputs, "301622.SZ")
    line = set_cell(inputs / "firms.csv", "ticker", bad, ticker="301622.SZ")
    shown = repr(bad) if len(bad) <= 60 else f"{bad[:60]!r}... ({len(bad)} characters)"
    assert_problems(
        validate(inputs),
        f"{REG}, row {line}, field 'ticker': expected six digits, a dot and SH/SZ/BJ (e.g. 603072.SH); found {shown}",
    )


def test_register_duplicate_ticker(inputs: Path) -> None:
    path = inputs / "firms.csv"
    rows = read_rows(path)
    first = next(i for i, r in enumerate(rows) if r[0] == "301622.SZ") + 1
    rows.append(list(rows[first - 1]))
    write_rows(path, rows)
    assert_problems(
        validate(inputs),
        f"{REG}, row {len(rows)}, field 'ticker': expected each ticker once; found 301622.SZ again (first on row {first})",
    )


REGISTER_CASES = [
    # (column, bad value, expected, found); the row is 300127.SZ's (private, has a price)
    ("company_name", "", "a company name", "an empty cell"),
    ("exchange", "NYSE", "one of SSE, SZSE, BSE", "'NYSE'"),
    ("board", "GEM", "one of main, ChiNext, STAR", "'GEM'"),
    ("currency", "USD", "CNY", "'USD'"),
    ("ownership", "public", "one of state, private, unknown", "'public'"),
    ("ownership_source", "", "a source for the ownership", "an empty cell"),
    ("upstream_tie", "yes", "0, 1 or empty (unknown)", "'yes'"),
    (
        "listing_date",
        "2010-13",
        "YYYY-MM-DD (or YYYY-MM, YYYY when the day is not known)",
        "'2010-13'",
    ),
    (
        "listing_date",
        "2010-02-30",
        "YYYY-MM-DD (or YYYY-MM, YYYY when the day is not known)",
        "'2010-02-30'",
    ),
    (
        "listing_date",
        "20100920",
        "YYYY-MM-DD (or YYYY-MM, YYYY when the day is not known)",
        "'20100920'",
    ),
    ("shares_outstanding", "323,15", "a number of million shares", "'323,15'"),
    ("shares_outstanding", "", "a number of million shares", "an empty cell"),
    ("shares_outstanding", "nan", "a number of million shares", "'nan' (not a finite number)"),
    ("shares_outstanding", "inf", "a number of million shares", "'inf' (not a finite number)"),
    ("shares_outstanding", "0", "a number > 0", "0"),
    ("shares_outstanding", "-323.15", "a number > 0", "-323.15"),
    ("shares_outstanding", "2e6", "million shares (at most 1,000,000)", "2e6"),
    ("shares_date", "2026-02-30", "a date YYYY-MM-DD", "'2026-02-30'"),
    ("shares_date", "13/02/2026", "a date YYYY-MM-DD", "'13/02/2026'"),
    ("shares_date", "1900-01-01", "a date YYYY-MM-DD", "'1900-01-01'"),
    ("shares_source", "", "a source for the share count", "an empty cell"),
    ("price_date", "", "a date YYYY-MM-DD", "an empty cell"),
    ("price_source", "", "a source for the price", "an empty cell"),
    ("equity_volatility", "0", "a volatility in (0, 3]", "0"),
    ("equity_volatility", "35", "a volatility in (0, 3]", "35"),
    ("default_run", "y", "yes or no", "'y'"),
    ("note", "line\x0bbreak", "text without control characters", "character U+000B at position 5"),
    (
        "company_name",
        "Chengdu \u202eGalaxy",
        "text without control characters",
        "character U+202E at position 9",
    ),
]


@pytest.mark.parametrize(
    ("column", "bad", "expected", "found"),
    REGISTER_CASES,
    ids=[f"{c[0]}={c[1]!r}" for c in REGISTER_CASES],
)
def test_register_fields(inputs: Path, column: str, bad: str, expected: str, found: str) -> None:
    line = set_cell(inputs / "firms.csv", column, bad, ticker="300127.SZ")
    if column == "equity_volatility":
        set_cell(
            inputs / "firms.csv", "equity_volatility_source", "assumption: test", ticker="300127.SZ"
        )
    assert_problems(
        validate(inputs), f"{REG}, row {line}, field '{column}': expected {expected}; found {found}"
    )


def test_register_upstream_tie_needs_source(inputs: Path) -> None:
    line = set_cell(inputs / "firms.csv", "upstream_tie", "1", ticker="000970.SZ")
    set_cell(inputs / "firms.csv", "upstream_tie_source", "", ticker="000970.SZ")
    assert_problems(
        validate(inputs),
        f"{REG}, row {line}, field 'upstream_tie_source': expected a source for the upstream tie; found an empty cell",
    )


def test_register_volatility_needs_source(inputs: Path) -> None:
    line = set_cell(inputs / "firms.csv", "equity_volatility", "0.4", ticker="000970.SZ")
    assert_problems(
        validate(inputs),
        f"{REG}, row {line}, field 'equity_volatility_source': expected a source for the volatility; found an empty cell",
    )


def test_register_share_price_zero(inputs: Path) -> None:
    """A price must be > 0; the register's price must also be the close in prices.csv."""
    line = set_cell(inputs / "firms.csv", "share_price", "0", ticker="300127.SZ")
    assert_problems(
        validate(inputs),
        f"{REG}, row {line}, field 'share_price': expected a price > 0 and < 100,000 CNY; found 0",
        f"{REG}, row {line}, field 'share_price': expected the close of 2026-03-27 in prices.csv; found 0.0 (prices.csv: 30.18)",
    )


def test_register_price_not_in_prices(inputs: Path) -> None:
    line = set_cell(inputs / "firms.csv", "price_date", "2026-03-26", ticker="300127.SZ")
    assert_problems(
        validate(inputs),
        f"{REG}, row {line}, field 'share_price': expected the close of 2026-03-26 in prices.csv; found 30.18 (prices.csv: None)",
    )


def test_register_export_share(inputs: Path) -> None:
    path = inputs / "firms.csv"
    line = set_cell(path, "export_share", "1.2", ticker="603072.SH")
    assert_problems(
        validate(inputs),
        f"{REG}, row {line}, field 'export_share': expected 0.35 as in inputs/statements/603072.SH.csv row "
        f"{line_of(inputs / 'statements' / '603072.SH.csv', period='FY2022', item='overseas_revenue_share')}; found 1.2",
        f"{REG}, row {line}, field 'export_share': expected a fraction in [0, 1]; found 1.2",
    )


def test_register_export_share_period_and_source(inputs: Path) -> None:
    path = inputs / "firms.csv"
    line = set_cell(path, "export_share_period", "2022", ticker="603072.SH")
    set_cell(path, "export_share_source", "", ticker="603072.SH")
    assert_problems(
        validate(inputs),
        f"{REG}, row {line}, field 'export_share_period': expected a period like FY2024; found '2022'",
        f"{REG}, row {line}, field 'export_share_source': expected a source for the export share; found an empty cell",
    )


def test_register_no_firm_in_default_run(inputs: Path) -> None:
    path = inputs / "firms.csv"
    rows = read_rows(path)
    col = rows[0].index("default_run")
    for r in rows[1:]:
        r[col] = "no"
    write_rows(path, rows)
    assert_problems(
        validate(inputs),
        f"{REG}, field 'default_run': expected at least one firm with default_run = yes; found none",
    )


# --- statements --------------------------------------------------------------------------------

ZH = "inputs/statements/300224.SZ.csv"


def _zh(root: Path) -> Path:
    return root / "statements" / "300224.SZ.csv"


STATEMENT_CASES = [
    # (row match, column, bad value, expected, found)
    (
        {"period": "FY2024", "item": "revenue"},
        "item",
        "revenues",
        "an item from the vocabulary (inputs/README.md)",
        "'revenues'",
    ),
    ({"period": "FY2024", "item": "revenue"}, "unit", "CNY", "'CNY mn' for revenue", "'CNY'"),
    (
        {"period": "2025H1", "item": "capacity"},
        "unit",
        "tonnes",
        "'tonnes/year' for capacity",
        "'tonnes'",
    ),
    (
        {"period": "FY2024", "item": "revenue"},
        "period",
        "2024Q5",
        "FY2024, 2025Q1, 2025H1, 2025-9M or 2025Q1-TTM",
        "'2024Q5'",
    ),
    (
        {"period": "FY2024", "item": "revenue"},
        "period",
        "FY24",
        "FY2024, 2025Q1, 2025H1, 2025-9M or 2025Q1-TTM",
        "'FY24'",
    ),
    (
        {"period": "FY2024", "item": "revenue"},
        "period",
        "2024H2",
        "FY2024, 2025Q1, 2025H1, 2025-9M or 2025Q1-TTM",
        "'2024H2'",
    ),
    (
        {"period": "FY2024", "item": "revenue"},
        "period",
        "FY１９９９",
        "FY2024, 2025Q1, 2025H1, 2025-9M or 2025Q1-TTM",
        "'FY１９９９'",
    ),
    (
        {"period": "FY2024", "item": "revenue"},
        "period",
        "FY1850",
        "FY2024, 2025Q1, 2025H1, 2025-9M or 2025Q1-TTM",
        "'FY1850'",
    ),
    ({"period": "FY2024", "item": "revenue"}, "value", "5,539", "a number", "'5,539'"),
    ({"period": "FY2024", "item": "revenue"}, "value", "5_539", "a number", "'5_539'"),
    ({"period": "FY2024", "item": "revenue"}, "value", "55.39亿", "a number", "'55.39亿'"),
    (
        {"period": "FY2024", "item": "revenue"},
        "value",
        "NaN",
        "a number",
        "'NaN' (not a finite number)",
    ),
    (
        {"period": "FY2024", "item": "revenue"},
        "value",
        "-inf",
        "a number",
        "'-inf' (not a finite number)",
    ),
    ({"period": "FY2024", "item": "revenue"}, "value", "1e400", "a number", "'1e400'"),
    (
        {"period": "FY2024", "item": "revenue"},
        "source",
        "",
        "a source (URL or citation) for the figure",
        "an empty cell",
    ),
    (
        {"period": "FY2024", "item": "revenue"},
        "value",
        "5.539e9",
        "a magnitude at most 1e+07 CNY mn",
        "5.539e9",
    ),
    (
        {"period": "FY2024", "item": "inventory_days"},
        "value",
        "36500",
        "a magnitude at most 3650 days",
        "36500",
    ),
    ({"period": "FY2024", "item": "revenue"}, "value", "-5539", "revenue >= 0", "-5539"),
    (
        {"period": "FY2024", "item": "interest_expense"},
        "value",
        "-68.91",
        "interest_expense >= 0",
        "-68.91",
    ),
    ({"period": "FY2024", "item": "total_assets"}, "value", "0", "total_assets > 0", "0"),
    (
        {"period": "FY2019", "item": "overseas_revenue_share"},
        "value",
        "26.82",
        "overseas_revenue_share as a fraction in [0, 1]",
        "26.82",
    ),
    (
        {"period": "FY2019", "item": "overseas_revenue_share"},
        "value",
        "-0.1",
        "overseas_revenue_share >= 0",
        "-0.1",
    ),
    (
        {"period": "FY2024", "item": "revenue"},
        "note",
        "a\x1b[31mred",
        "text without control characters",
        "character U+001B at position 2",
    ),
]


@pytest.mark.parametrize(
    ("match", "column", "bad", "expected", "found"),
    STATEMENT_CASES,
    ids=[f"{c[0]['item']}.{c[1]}={c[2]!r}" for c in STATEMENT_CASES],
)
def test_statement_fields(
    inputs: Path, match: dict[str, str], column: str, bad: str, expected: str, found: str
) -> None:
    line = set_cell(_zh(inputs), column, bad, **match)
    assert_problems(
        validate(inputs), f"{ZH}, row {line}, field '{column}': expected {expected}; found {found}"
    )


def test_statement_gross_margin_above_one(inputs: Path) -> None:
    line = add_row(
        _zh(inputs),
        period="FY2023",
        item="gross_margin_overseas",
        value="1.5",
        unit="fraction",
        source="test",
    )
    assert_problems(
        validate(inputs),
        f"{ZH}, row {line}, field 'value': expected gross_margin_overseas as a fraction at most 1; found 1.5",
    )


def test_statement_ttm_of_a_balance(inputs: Path) -> None:
    line = add_row(
        _zh(inputs),
        period="2023Q2-TTM",
        item="inventory",
        value="100",
        unit="CNY mn",
        source="test",
    )
    assert_problems(
        validate(inputs),
        f"{ZH}, row {line}, field 'period': expected no TTM figures for inventory; found 2023Q2-TTM",
    )


def test_statement_ttm_in_tonnes(inputs: Path) -> None:
    line = add_row(
        _zh(inputs),
        period="2023Q2-TTM",
        item="sales_volume",
        value="100",
        unit="tonnes",
        source="test",
    )
    assert_problems(
        validate(inputs),
        f"{ZH}, row {line}, field 'period': expected no TTM figures for sales_volume; found 2023Q2-TTM",
    )


def test_statement_duplicate_period_and_item(inputs: Path) -> None:
    first = line_of(_zh(inputs), period="FY2024", item="revenue")
    line = add_row(
        _zh(inputs), period="FY2024", item="revenue", value="5539", unit="CNY mn", source="again"
    )
    assert_problems(
        validate(inputs),
        f"{ZH}, row {line}, field 'item': expected one figure per period and item; "
        f"found revenue for FY2024 again (first on row {first})",
    )


def test_statement_balance_on_the_same_day_twice(inputs: Path) -> None:
    first = line_of(_zh(inputs), period="FY2024", item="total_debt")
    line = add_row(
        _zh(inputs), period="2024Q4", item="total_debt", value="1", unit="CNY mn", source="test"
    )
    assert_problems(
        validate(inputs),
        f"{ZH}, row {line}, field 'item': expected one figure per item and period end; "
        f"found total_debt for 2024Q4, which ends on the same day as FY2024 (row {first})",
    )


def test_statement_template_row_with_unknown_item(inputs: Path) -> None:
    line = add_row(_zh(inputs), item="goodwill", unit="CNY mn")
    assert_problems(
        validate(inputs),
        f"{ZH}, row {line}, field 'item': expected an item from the vocabulary (inputs/README.md); found 'goodwill'",
    )


def test_statement_empty_value_is_ignored(inputs: Path) -> None:
    add_row(_zh(inputs), period="FY2021", item="revenue", value="", unit="CNY mn")
    assert validate(inputs).exit_code == 0


def test_balance_sheet_identity(inputs: Path) -> None:
    path = _zh(inputs)
    tl = float(cell(path, "value", period="FY2024", item="total_liabilities"))
    eq = float(cell(path, "value", period="FY2024", item="shareholders_equity"))
    ta = round(tl + eq + 1000, 2)
    line = set_cell(path, "value", repr(ta), period="FY2024", item="total_assets")
    gap = ta - tl - eq
    assert_problems(
        validate(inputs),
        f"{ZH}, row {line}, field 'total_assets': expected total assets = liabilities + equity within 2% of assets "
        f"(minority interests); found {ta:g} vs {tl:g} + {eq:g} (gap {gap:g})",
    )


def test_balance_sheet_identity_within_tolerance(inputs: Path) -> None:
    """A gap under 2% of assets is the minority interest, not an error."""
    path = _zh(inputs)
    tl = float(cell(path, "value", period="FY2024", item="total_liabilities"))
    eq = float(cell(path, "value", period="FY2024", item="shareholders_equity"))
    set_cell(path, "value", repr(round((tl + eq) / 0.985, 2)), period="FY2024", item="total_assets")
    assert validate(inputs).exit_code == 0


def test_year_to_date_equals_its_parts(inputs: Path) -> None:
    """H1 = Q1 + Q2 where all three are reported (Q2 is a DERIVED row of Zhenghai's file)."""
    line = set_cell(_zh(inputs), "value", "3100", period="2025H1", item="revenue")
    assert_problems(
        validate(inputs),
        f"{ZH}, row {line}, field 'revenue': expected the year-to-date figure to equal its reported parts within 15.5; "
        "found 3100 vs parts summing to 3057.43",
    )


def test_default_run_firm_needs_revenue(inputs: Path) -> None:
    delete_rows(_zh(inputs), lambda r: r["item"] != "revenue")
    assert_problems(
        validate(inputs),
        f"{ZH}, field 'revenue': expected at least one revenue figure (300224.SZ has default_run = yes in firms.csv); found none",
    )


# --- prices.csv ------------------------------------------------------------------------------

PR = "inputs/prices.csv"
PRICE_ROW = {"ticker": "000795.SZ", "date": "2023-12-31", "item": "close"}

PRICE_CASES = [
    ("ticker", "000795", "a ticker like 603072.SH", "'000795'"),
    ("ticker", "600000.SH", "a ticker in firms.csv", "'600000.SH'"),
    ("date", "2023-12-32", "a date YYYY-MM-DD", "'2023-12-32'"),
    ("date", "31.12.2023", "a date YYYY-MM-DD", "'31.12.2023'"),
    (
        "item",
        "open",
        "one of close, market_cap, enterprise_value, shares_outstanding, beta, volatility, "
        "avg_weekly_movement, week52_high, week52_low",
        "'open'",
    ),
    ("unit", "CNY mn", "'CNY' for close", "'CNY mn'"),
    ("value", "six", "a number", "'six'"),
    ("value", "inf", "a number", "'inf' (not a finite number)"),
    ("value", "0", "close > 0", "0"),
    ("value", "-6.05", "close > 0", "-6.05"),
    ("value", "6.05e5", "a plausible close", "6.05e5"),
    ("source", "", "a source", "an empty cell"),
]


@pytest.mark.parametrize(
    ("column", "bad", "expected", "found"),
    PRICE_CASES,
    ids=[f"{c[0]}={c[1]!r}" for c in PRICE_CASES],
)
def test_price_fields(inputs: Path, column: str, bad: str, expected: str, found: str) -> None:
    line = set_cell(inputs / "prices.csv", column, bad, **PRICE_ROW)
    assert_problems(
        validate(inputs), f"{PR}, row {line}, field '{column}': expected {expected}; found {found}"
    )


def test_price_weekly_movement_not_negative(inputs: Path) -> None:
    line = add_row(
        inputs / "prices.csv",
        ticker="300224.SZ",
        date="2025-01-02",
        item="avg_weekly_movement",
        value="-0.1",
        unit="fraction",
        source="test",
    )
    assert_problems(
        validate(inputs),
        f"{PR}, row {line}, field 'value': expected avg_weekly_movement >= 0; found -0.1",
    )


def test_price_duplicate_observation(inputs: Path) -> None:
    first = line_of(inputs / "prices.csv", **PRICE_ROW)
    line = add_row(inputs / "prices.csv", **PRICE_ROW, value="6.05", unit="CNY", source="again")
    assert_problems(
        validate(inputs),
        f"{PR}, row {line}, field 'item': expected one observation per ticker, date and item; "
        f"found close on 2023-12-31 again (first on row {first})",
    )


# --- trade.csv ---------------------------------------------------------------------------------

TR = "inputs/trade.csv"
TRADE_CASES = [
    (
        "period",
        "2025-13",
        "a month 2025-05, a range 2025-01/2025-05 or a year 2024-FY",
        "'2025-13'",
    ),
    (
        "period",
        "2025-05/2025-01",
        "a month 2025-05, a range 2025-01/2025-05 or a year 2024-FY",
        "'2025-05/2025-01'",
    ),
    ("destination", "", "world or a country/region", "an empty cell"),
    ("tonnes", "about 2600", "tonnes", "'about 2600'"),
    ("tonnes", "-2627", "tonnes >= 0", "-2627"),
    ("tonnes", "2.6e7", "a plausible tonnage (< 10,000,000)", "2.6e7"),
    ("source", "", "a source", "an empty cell"),
]


@pytest.mark.parametrize(
    ("column", "bad", "expected", "found"),
    TRADE_CASES,
    ids=[f"{c[0]}={c[1]!r}" for c in TRADE_CASES],
)
def test_trade_fields(inputs: Path, column: str, bad: str, expected: str, found: str) -> None:
    """The row is 2024-04 world, which no cumulative row covers (no knock-on)."""
    line = set_cell(inputs / "trade.csv", column, bad, period="2024-04", destination="world")
    assert_problems(
        validate(inputs), f"{TR}, row {line}, field '{column}': expected {expected}; found {found}"
    )


def test_trade_duplicate(inputs: Path) -> None:
    first = line_of(inputs / "trade.csv", period="2024-04", destination="world")
    line = add_row(
        inputs / "trade.csv", period="2024-04", destination="world", tonnes="4776", source="again"
    )
    assert_problems(
        validate(inputs),
        f"{TR}, row {line}, field 'period': expected one figure per period and destination; "
        f"found 2024-04 world again (first on row {first})",
    )


def test_trade_months_add_up_to_the_year(inputs: Path) -> None:
    path = inputs / "trade.csv"
    months = [
        float(cell(path, "tonnes", period=f"2025-{m:02d}", destination="world"))
        for m in range(1, 13)
    ]
    set_cell(path, "tonnes", "6952", period="2025-12", destination="world")
    total = sum(months) - months[11] + 6952
    year = float(cell(path, "tonnes", period="2025-FY", destination="world"))
    tol = max(2.0, 0.005 * year)
    assert_problems(
        validate(inputs),
        f"{TR}, row {line_of(path, period='2025-FY', destination='world')}, field 'tonnes': "
        f"expected the sum of the months ({total:g}) within {tol:g}; found {year:g}",
    )


# --- sector.toml -------------------------------------------------------------------------------

SE = "inputs/sector.toml"


def _set_sector(root: Path, name: str, old: str, new: str) -> None:
    path = root / "sector.toml"
    table = toml_table(path, name)
    assert old in table, (name, old, table)
    replace_text(path, table, table.replace(old, new, 1))


SECTOR_CASES = [
    ("tax_rate", "value = 0.15", "value = 0.9", "tax_rate.value", "a number in [0, 0.6]", "0.9"),
    (
        "tax_rate",
        "value = 0.15",
        "value = -0.15",
        "tax_rate.value",
        "a number in [0, 0.6]",
        "-0.15",
    ),
    (
        "tax_rate",
        "value = 0.15",
        'value = "15%"',
        "tax_rate.value",
        "a number in [0, 0.6]",
        "'15%' (text)",
    ),
    ("tax_rate", "value = 0.15", "value = nan", "tax_rate.value", "a number in [0, 0.6]", "nan"),
    ("tax_rate", "value = 0.15", "value = inf", "tax_rate.value", "a number in [0, 0.6]", "inf"),
    (
        "tax_rate",
        "value = 0.15",
        "value = true",
        "tax_rate.value",
        "a number in [0, 0.6]",
        "True (true/false)",
    ),
    (
        "tax_rate",
        "value = 0.15",
        "value = [0.15]",
        "tax_rate.value",
        "a number in [0, 0.6]",
        "[0.15] (an array)",
    ),
    ("tax_rate", "value = 0.15\n", "", "tax_rate.value", "a value", "nothing"),
    (
        "tax_rate",
        "value = 0.15",
        "value = 0.15\nfoo = 1",
        "tax_rate.foo",
        "only assumption, source, unit, value",
        "unexpected key 'foo'",
    ),
    (
        "tax_rate",
        'unit = "fraction of pre-tax profit"',
        'unit = ""',
        "tax_rate.unit",
        "non-empty text",
        "''",
    ),
    ("tax_rate", 'unit = "fraction of pre-tax profit"\n', "", "tax_rate.unit", "a unit", "nothing"),
    (
        "tax_rate",
        "value = 0.15",
        'value = 0.15\nsource = "a filing"',
        "tax_rate",
        "exactly one of source or assumption",
        "both",
    ),
    (
        "horizon_quarters",
        "value = 8",
        "value = 8.5",
        "horizon_quarters.value",
        "a whole number in [1, 40]",
        "8.5 (a decimal number)",
    ),
    (
        "horizon_quarters",
        "value = 8",
        "value = 400",
        "horizon_quarters.value",
        "a whole number in [1, 40]",
        "400",
    ),
    (
        "absorption_convention",
        'value = "ias2"',
        'value = "half"',
        "absorption_convention.value",
        "one of ias2, full",
        "'half'",
    ),
    (
        "export_controls_start",
        "value = ",
        'value = "2025/04" #',
        "export_controls_start.value",
        "a month YYYY-MM",
        "'2025/04'",
    ),
    (
        "cny_per_usd",
        "value = 7.2993",
        "value = 72.993",
        "cny_per_usd.points[0].value",
        "a number in [1, 20]",
        "72.993",
    ),
    (
        "cny_per_usd",
        'period = "2024-12-31"',
        'period = "2024/12/31"',
        "cny_per_usd.points",
        "dates YYYY-MM-DD",
        "'2024/12/31'",
    ),
    (
        "us_gdp_deflator",
        "base_1968 = 18.280",
        "base_1968 = -1",
        "us_gdp_deflator.base_1968",
        "a positive number",
        "-1",
    ),
    (
        "us_gdp_deflator",
        'period = "2023"',
        'period = "FY2023"',
        "us_gdp_deflator.points",
        "years like 2024",
        "'FY2023'",
    ),
]


@pytest.mark.parametrize(
    ("table", "old", "new", "field", "expected", "found"),
    SECTOR_CASES,
    ids=[f"{c[3]}:{c[2]!r}" for c in SECTOR_CASES],
)
def test_sector_parameters(
    inputs: Path, table: str, old: str, new: str, field: str, expected: str, found: str
) -> None:
    _set_sector(inputs, table, old, new)
    assert_problems(validate(inputs), f"{SE}, field '{field}': expected {expected}; found {found}")


def test_sector_neither_source_nor_assumption(inputs: Path) -> None:
    table = toml_table(inputs / "sector.toml", "tax_rate")
    replace_text(
        inputs / "sector.toml",
        table,
        "\n".join(x for x in table.split("\n") if not x.startswith("assumption")),
    )
    assert_problems(
        validate(inputs),
        f"{SE}, field 'tax_rate': expected exactly one of source or assumption; found neither",
    )


def test_sector_missing_parameter(inputs: Path) -> None:
    replace_text(inputs / "sector.toml", toml_table(inputs / "sector.toml", "tax_rate"), "")
    assert_problems(
        validate(inputs), f"{SE}, field 'tax_rate': expected a parameter [tax_rate]; found nothing"
    )


def test_sector_unknown_parameter(inputs: Path) -> None:
    path = inputs / "sector.toml"
    path.write_text(
        path.read_text(encoding="utf-8")
        + '\n[tax_rates]\nvalue = 0.15\nunit = "x"\nassumption = "typo"\n',
        encoding="utf-8",
    )
    assert_problems(
        validate(inputs),
        f"{SE}, field 'tax_rates': expected a known parameter (see inputs/README.md); found unknown parameter 'tax_rates'",
    )


def test_sector_parameter_not_a_table(inputs: Path) -> None:
    replace_text(inputs / "sector.toml", toml_table(inputs / "sector.toml", "tax_rate"), "")
    path = inputs / "sector.toml"
    path.write_text("tax_rate = 0.15\n" + path.read_text(encoding="utf-8"), encoding="utf-8")
    assert_problems(
        validate(inputs),
        f"{SE}, field 'tax_rate': expected a table with value, unit and source or assumption; found 0.15",
    )


def test_sector_text_with_control_character(inputs: Path) -> None:
    _set_sector(inputs, "tax_rate", 'unit = "fraction', 'unit = "\\u0000fraction')
    assert_problems(
        validate(inputs),
        f"{SE}, field 'tax_rate.unit': expected text without control characters; found character U+0000 at position 1",
    )


def test_sector_cross_checks(inputs: Path) -> None:
    _set_sector(inputs, "mc_export_shock_low", "value = 0.0", "value = 0.6")
    _set_sector(inputs, "mc_duration_min", "value = 1", "value = 7")
    _set_sector(inputs, "terminal_growth", "value = 0.02", "value = 0.09")
    found = problems(validate(inputs))
    assert sorted(found) == [  # listed in the order of their tables' lines in sector.toml
        f"{SE}, field 'mc_duration_min': expected at most mc_duration_max; found 7",
        f"{SE}, field 'mc_export_shock_low': expected at most mc_export_shock_high (0.5); found 0.6",
        f"{SE}, field 'terminal_growth': expected below discount_rate; found 0.09",
    ]


def test_sector_discount_rate_must_be_the_sum_of_its_parts(inputs: Path) -> None:
    _set_sector(inputs, "equity_risk_premium", "value = 0.059", "value = 0.069")
    _set_sector(inputs, "midcycle_margin_first_year", "value = 2019", "value = 2025")
    assert_problems(
        validate(inputs),
        f"{SE}, field 'discount_rate': expected risk_free_rate + equity_risk_premium + size_and_cycle_premium (0.1); found 0.09",
        f"{SE}, field 'midcycle_margin_first_year': expected at most midcycle_margin_last_year (2024); found 2025",
    )


# --- scenarios.toml ----------------------------------------------------------------------------

SC = "inputs/scenarios.toml"
BASELINE_DESCRIPTION = (
    'description = "No shock: exports at the reference level (pre-controls export revenue, or the run-rate if higher), '
    'domestic sales and costs at the trailing-twelve-month run-rate of the as-of quarter."'
)


def _add_to_scenario(root: Path, name: str, line: str) -> None:
    replace_text(root / "scenarios.toml", f"[scenarios.{name}]\n", f"[scenarios.{name}]\n{line}\n")


SCENARIO_CASES = [
    ("export_shock = 1.5", "scenarios.baseline.export_shock", "a value in [0, 1]", "1.5"),
    ("export_shock = -0.1", "scenarios.baseline.export_shock", "a value in [0, 1]", "-0.1"),
    ("export_shock = nan", "scenarios.baseline.export_shock", 'a number or "sector"', "nan"),
    (
        'export_shock = "half"',
        "scenarios.baseline.export_shock",
        'a number or "sector"',
        "'half' (text)",
    ),
    ("domestic_shock = 2", "scenarios.baseline.domestic_shock", "a value in [0, 1]", "2"),
    ("permanent_share = 1.01", "scenarios.baseline.permanent_share", "a value in [0, 1]", "1.01"),
    ("output_cut = 0.99", "scenarios.baseline.output_cut", "a value in [0, 0.95]", "0.99"),
    ("st_debt_not_rolled = -1", "scenarios.baseline.st_debt_not_rolled", "a value in [0, 1]", "-1"),
    (
        "raw_material_price_change = -1",
        "scenarios.baseline.raw_material_price_change",
        "a value in [-0.9, 5]",
        "-1",
    ),
    (
        'domestic_shock = "sector"',
        "scenarios.baseline.domestic_shock",
        "a number",
        "'sector' (text)",
    ),
    (
        "duration_quarters = 2.5",
        "scenarios.baseline.duration_quarters",
        "a whole number",
        "2.5 (a decimal number)",
    ),
    ("duration_quarters = 41", "scenarios.baseline.duration_quarters", "a value in [0, 40]", "41"),
    (
        'start = "tomorrow"',
        "scenarios.baseline.start",
        '"next", "+N", a quarter like "2025Q2" or "event:<key of policy_events.csv>"',
        "'tomorrow'",
    ),
    (
        'start = "2025Q5"',
        "scenarios.baseline.start",
        '"next", "+N", a quarter like "2025Q2" or "event:<key of policy_events.csv>"',
        "'2025Q5'",
    ),
    ('path = "random"', "scenarios.baseline.path", '"parametric" or "trade"', "'random'"),
    ("description = 5", "scenarios.baseline.description", "text", "5"),
    (
        'description = "\\u0007bell"',
        "scenarios.baseline.description",
        "text without control characters",
        "character U+0007 at position 1",
    ),
    (
        "export_shok = 0.5",
        "scenarios.baseline.export_shok",
        "a known scenario parameter (see scenarios.toml)",
        "unknown parameter 'export_shok'",
    ),
]


@pytest.mark.parametrize(
    ("line", "field", "expected", "found"), SCENARIO_CASES, ids=[c[0] for c in SCENARIO_CASES]
)
def test_scenario_parameters(
    inputs: Path, line: str, field: str, expected: str, found: str
) -> None:
    if line.startswith("description"):  # baseline has one already: replace it
        replace_text(inputs / "scenarios.toml", BASELINE_DESCRIPTION, line)
    else:
        _add_to_scenario(inputs, "baseline", line)
    assert_problems(validate(inputs), f"{SC}, field '{field}': expected {expected}; found {found}")


def test_scenario_default_out_of_range_is_reported_once(inputs: Path) -> None:
    replace_text(
        inputs / "scenarios.toml", "price_pass_through = 1.0 ", "price_pass_through = 1.5 "
    )
    assert_problems(
        validate(inputs),
        f"{SC}, field 'defaults.price_pass_through': expected a value in [0, 1]; found 1.5",
    )


def test_scenario_default_missing(inputs: Path) -> None:
    replace_text(
        inputs / "scenarios.toml",
        "\nrecovery_quarters = 4              # quarters to normalise, linearly",
        "",
    )
    assert_problems(
        validate(inputs),
        f"{SC}, field 'defaults.recovery_quarters': expected a default value; found nothing",
    )


def test_named_scenario_missing(inputs: Path) -> None:
    replace_text(
        inputs / "scenarios.toml", toml_table(inputs / "scenarios.toml", "scenarios.structural"), ""
    )
    assert_problems(
        validate(inputs),
        f"{SC}, field 'scenarios.structural': expected the named scenario structural; found nothing",
    )


def test_scenario_name(inputs: Path) -> None:
    path = inputs / "scenarios.toml"
    path.write_text(
        path.read_text(encoding="utf-8") + '\n[scenarios."Bad-Name"]\nexport_shock = 0.1\n',
        encoding="utf-8",
    )
    assert_problems(
        validate(inputs),
        f"{SC}, field 'scenarios.Bad-Name': expected a name of lower-case letters, digits and _ (max 31); found 'Bad-Name'",
    )


def test_scenarios_unknown_table(inputs: Path) -> None:
    path = inputs / "scenarios.toml"
    path.write_text(
        path.read_text(encoding="utf-8") + "\n[montecarlo]\npaths = 10\n", encoding="utf-8"
    )
    assert_problems(
        validate(inputs),
        f"{SC}, field 'montecarlo': expected only [defaults], [scenarios.*], [grid], [reverse_stress]; "
        "found unknown table 'montecarlo'",
    )


@pytest.mark.parametrize(
    ("old", "new", "field", "expected", "found"),
    [
        ('base = "seed"', 'base = "seeds"', "grid.base", "the name of a scenario", "'seeds'"),
        (
            "{ from = 0.0, to = 1.0, step = 0.05 }",
            "{ from = 0.0, to = 1.5, step = 0.05 }",
            "grid.export_shock",
            "from <= to within [0, 1], step > 0",
            "{'from': 0.0, 'to': 1.5, 'step': 0.05}",
        ),
        (
            "{ from = 0.0, to = 1.0, step = 0.05 }",
            "{ from = 0.0, to = 0.5, step = 0 }",
            "grid.export_shock",
            "from <= to within [0, 1], step > 0",
            "{'from': 0.0, 'to': 0.5, 'step': 0}",
        ),
        (
            "{ from = 0.0, to = 1.0, step = 0.05 }",
            "{ from = 0.0, to = 0.5, step = 0.0001 }",
            "grid.export_shock",
            "at most 101 values (a larger step)",
            "5001 values from {'from': 0.0, 'to': 0.5, 'step': 0.0001}",
        ),
        (
            "{ from = 0.0, to = 0.30, step = 0.05 }",
            "[0.0, 0.3]",
            "grid.output_cut",
            "{ from = number, to = number, step = number }",
            "[0.0, 0.3]",
        ),
        (
            'base = "seed"',
            'base = "seed"\nsize = 3',
            "grid.size",
            "only base, export_shock, output_cut, permanent_share",
            "unknown key 'size'",
        ),
        (
            "{ from = 0.0, to = 1.0, step = 0.25 }",
            "{ from = 0.0, to = 1.25, step = 0.25 }",
            "grid.permanent_share",
            "from <= to within [0, 1], step > 0",
            "{'from': 0.0, 'to': 1.25, 'step': 0.25}",
        ),
    ],
)
def test_grid(inputs: Path, old: str, new: str, field: str, expected: str, found: str) -> None:
    table = toml_table(inputs / "scenarios.toml", "grid")
    replace_text(inputs / "scenarios.toml", table, table.replace(old, new))
    assert_problems(validate(inputs), f"{SC}, field '{field}': expected {expected}; found {found}")


def test_reverse_stress_base(inputs: Path) -> None:
    replace_text(
        inputs / "scenarios.toml",
        '[reverse_stress]\nbase = "baseline"',
        '[reverse_stress]\nbase = "nothing"',
    )
    assert_problems(
        validate(inputs),
        f"{SC}, field 'reverse_stress': expected [reverse_stress] with base = \"<scenario>\"; found {{'base': 'nothing'}}",
    )


# --- consolidation_priors.csv ------------------------------------------------------------------

PRI = "inputs/consolidation_priors.csv"
PRIOR_CASES = [
    ("base_rate", "value", "ten percent", "value", "a number", "'ten percent'"),
    ("base_rate", "value", "1.5", "value", "a probability in (0, 1)", "1.5"),
    ("base_rate_low", "value", "0", "value", "a probability in (0, 1)", "0"),
    ("horizon_years", "value", "0", "value", "a horizon in (0, 30] years", "0"),
    ("horizon_years", "value", "-3", "value", "a horizon in (0, 30] years", "-3"),
    ("w_size", "value", "-60", "value", "a weight within [-10, 10] log-odds", "-60"),
    ("w_size", "value", "inf", "value", "a number", "'inf'"),
    ("w_size", "rationale", "", "rationale", "the reasoning behind the value", "an empty cell"),
    (
        "w_size",
        "parameter",
        "w_scale",
        "parameter",
        "one of base_rate, base_rate_low, base_rate_high, horizon_years, w_distress, "
        "w_size, w_roa_gap, w_export, w_private, w_upstream, w_runway",
        "'w_scale'",
    ),
]


@pytest.mark.parametrize(
    ("param", "column", "bad", "field", "expected", "found"),
    PRIOR_CASES,
    ids=[f"{c[0]}.{c[1]}={c[2]!r}" for c in PRIOR_CASES],
)
def test_priors(
    inputs: Path, param: str, column: str, bad: str, field: str, expected: str, found: str
) -> None:
    line = set_cell(inputs / "consolidation_priors.csv", column, bad, parameter=param)
    missing = (
        [f"{PRI}, field 'parameter': expected a row for w_size; found nothing"]
        if column == "parameter"
        else []
    )
    assert_problems(
        validate(inputs),
        *missing,
        f"{PRI}, row {line}, field '{field}': expected {expected}; found {found}",
    )


def test_priors_duplicate_and_missing(inputs: Path) -> None:
    path = inputs / "consolidation_priors.csv"
    first = line_of(path, parameter="w_export")
    delete_rows(path, lambda r: r["parameter"] != "w_runway")
    line = add_row(path, parameter="w_export", value="0.5", unit="x", rationale="again")
    assert_problems(
        validate(inputs),
        f"{PRI}, field 'parameter': expected a row for w_runway; found nothing",
        f"{PRI}, row {line}, field 'parameter': expected each parameter once; found w_export again (first on row {first})",
    )


def test_priors_base_rate_range(inputs: Path) -> None:
    set_cell(inputs / "consolidation_priors.csv", "value", "0.3", parameter="base_rate")
    assert_problems(
        validate(inputs),
        f"{PRI}, field 'base_rate': expected base_rate_low <= base_rate <= base_rate_high; found 0.3",
    )


# --- all problems in one pass ------------------------------------------------------------------


def test_every_problem_of_every_file_in_one_pass(inputs: Path) -> None:
    """Eight problems in six files: all reported, sorted by file and row, each naming file,
    row (where there is one), field, what was expected and what was found."""
    reg = set_cell(inputs / "firms.csv", "board", "GEM", ticker="300127.SZ")
    set_cell(inputs / "firms.csv", "shares_outstanding", "-1", ticker="300127.SZ")
    zh1 = set_cell(_zh(inputs), "unit", "CNY", period="FY2024", item="revenue")
    zh2 = set_cell(_zh(inputs), "value", "abc", period="FY2023", item="revenue")
    pr = set_cell(inputs / "prices.csv", "date", "2023-02-30", **PRICE_ROW)
    tr = set_cell(inputs / "trade.csv", "tonnes", "-1", period="2024-04", destination="world")
    _add_to_scenario(inputs, "seed", "permanent_share = 2")
    _set_sector(inputs, "tax_rate", "value = 0.15", "value = 0.7")
    result = validate(inputs)
    assert_problems(
        result,
        f"{REG}, row {reg}, field 'board': expected one of main, ChiNext, STAR; found 'GEM'",
        f"{REG}, row {reg}, field 'shares_outstanding': expected a number > 0; found -1",
        f"{PR}, row {pr}, field 'date': expected a date YYYY-MM-DD; found '2023-02-30'",
        f"{SC}, field 'scenarios.seed.permanent_share': expected a value in [0, 1]; found 2",
        f"{SE}, field 'tax_rate.value': expected a number in [0, 0.6]; found 0.7",
        f"{ZH}, row {zh2}, field 'value': expected a number; found 'abc'",
        f"{ZH}, row {zh1}, field 'unit': expected 'CNY mn' for revenue; found 'CNY'",
        f"{TR}, row {tr}, field 'tonnes': expected tonnes >= 0; found -1",
    )
    assert result.stdout == ""


def test_toml_problems_name_the_line_and_the_wrong_type(inputs: Path) -> None:
    """``horizon_quarters = 0`` names the file's line; a number written as text says so."""
    path = inputs / "sector.toml"
    text = path.read_text(encoding="utf-8")
    head = text.index("[horizon_quarters]")
    value = text.index("value = ", head)
    end = text.index("\n", value)
    text = text[:value] + "value = 0" + text[end:]
    head = text.index("[discount_rate]")
    value = text.index("value = ", head)
    end = text.index("\n", value)
    text = text[:value] + 'value = "0.15"' + text[end:]
    path.write_text(text, encoding="utf-8")
    lines = text.splitlines()
    h_line = lines.index("value = 0", lines.index("[horizon_quarters]")) + 1
    d_line = lines.index('value = "0.15"', lines.index("[discount_rate]")) + 1
    found = problems(validate(inputs), toml_rows=True)
    assert found == sorted(
        [
            f"inputs/sector.toml, row {h_line}, field 'horizon_quarters.value': expected a whole number in [1, 40]; found 0",
            f"inputs/sector.toml, row {d_line}, field 'discount_rate.value': expected a number in [0.01, 0.5]; "
            "found '0.15' (text)",
        ],
        key=lambda s: int(s.split("row ")[1].split(",")[0]),
    )


def test_a_scenario_parameter_of_the_wrong_type_names_line_and_type(inputs: Path) -> None:
    path = inputs / "scenarios.toml"
    text = path.read_text(encoding="utf-8")
    text = text.replace("[scenarios.baseline]\n", '[scenarios.baseline]\nexport_shock = "0.2"\n', 1)
    path.write_text(text, encoding="utf-8")
    line = text.splitlines().index('export_shock = "0.2"') + 1
    found = problems(validate(inputs), toml_rows=True)
    assert any(
        p.startswith(
            f"inputs/scenarios.toml, row {line}, field 'scenarios.baseline.export_shock': expected a number"
        )
        and p.endswith("found '0.2' (text)")
        for p in found
    ), found
