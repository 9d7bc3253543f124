"""Hostile input files: path traversal, formula injection, XML attacks, zip bombs,
zero denominators.

Every hostile input must end in exit code 2 with a message naming the file (and row and
field where there is one), never a traceback, and must leave the outputs folder as it was;
nothing may be written outside the chosen outputs folder. Text from inputs must never
reach a CSV or workbook the tool writes as a formula. A zero or missing denominator gives
an explicit status in the outputs, never inf or NaN.

Full-pipeline tests are marked ``slow`` (they run in CI).
"""

from __future__ import annotations

import csv
import hashlib
import io
import os
import re
import shutil
import subprocess
import sys
import threading
import tracemalloc
import zipfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import openpyxl
import pytest
from click.testing import CliRunner, Result

from stressmodel.cli import main
from stressmodel.errors import InputError, UsageError
from stressmodel.inputs import readers
from stressmodel.inputs.readers import check_xlsx_container, read_xlsx
from stressmodel.inputs.vocabulary import STATEMENT_COLUMNS
from stressmodel.names import safe_component
from stressmodel.run.outputs import FORMULA_TRIGGERS, as_of_folder

SHIPPED = Path(__file__).resolve().parents[1] / "inputs"
TICKER = "300224.SZ"
NAN_INF = re.compile(r"^[+-]?(nan|inf|infinity)$", re.IGNORECASE)


# --- helpers -------------------------------------------------------------------------------


@pytest.fixture
def inputs(tmp_path: Path) -> Path:
    root = tmp_path / "inputs"
    shutil.copytree(SHIPPED, root)
    return root


@pytest.fixture
def outputs(tmp_path: Path) -> Path:
    """An outputs folder holding a previous run's folder, which must survive untouched."""
    out = tmp_path / "outputs"
    (out / "2025Q2").mkdir(parents=True)
    (out / "2025Q2" / "summary.csv").write_text("ticker\nprevious run\n", encoding="utf-8")
    (out / "keep.txt").write_text("not the tool's\n", encoding="utf-8")
    return out


def snapshot(root: Path) -> dict[str, str]:
    """Every file and folder under ``root`` with a digest of its content."""
    out = {}
    for p in sorted(root.rglob("*")):
        rel = p.relative_to(root).as_posix()
        if p.is_symlink():
            out[rel] = "link:" + os.readlink(p)
        elif p.is_dir():
            out[rel] = "dir"
        else:
            out[rel] = hashlib.sha256(p.read_bytes()).hexdigest()
    return out


def invoke(*args: str) -> Result:
    return CliRunner().invoke(main, list(args))


def validate(root: Path) -> Result:
    return invoke("validate", "--inputs", str(root))


def run(root: Path, out: Path, *extra: str) -> Result:
    return invoke(
        "run", "--no-workbooks", "--quiet", "--inputs", str(root), "--outputs", str(out), *extra
    )


#: a hang guard, not a speed limit: a check that does not return within this long is hung
#: (speed is measured in the benchmark, never asserted in a test)
HANG_SECONDS = 120


@dataclass(frozen=True)
class Finished:
    """What a ``stressmodel`` process gave: as much of click's Result as the checks read."""

    exit_code: int
    stdout: str
    stderr: str
    exception: None = None

    @property
    def output(self) -> str:
        return self.stdout + self.stderr


def validate_guarded(root: Path) -> Finished:
    """``stressmodel validate`` in its own process, killed (and the test failed) if it has
    not finished within HANG_SECONDS: a guard against a hang, whatever the machine's load."""
    try:
        done = subprocess.run(
            [sys.executable, "-m", "stressmodel", "validate", "--inputs", str(root)],
            capture_output=True,
            text=True,
            timeout=HANG_SECONDS,
            check=False,
        )
    except subprocess.TimeoutExpired:
        pytest.fail(f"validate did not finish within {HANG_SECONDS} s: hung")
    return Finished(done.returncode, done.stdout, done.stderr)


def finishes(fn: Callable[[], object]) -> None:
    """Run ``fn`` on a daemon thread; fail the test if it is still running after
    HANG_SECONDS (a hang guard for an in-process read). Exceptions are re-raised."""
    errors: list[BaseException] = []

    def target() -> None:
        try:
            fn()
        except BaseException as exc:
            errors.append(exc)

    worker = threading.Thread(target=target, daemon=True)
    worker.start()
    worker.join(HANG_SECONDS)
    if worker.is_alive():
        pytest.fail(f"did not finish within {HANG_SECONDS} s: hung")
    if errors:
        raise errors[0]


def assert_clean_failure(result: Result | Finished, *needles: str) -> None:
    """Exit code 2, an 'error:' message containing every needle, no traceback."""
    assert result.exit_code == 2, (result.exit_code, result.output, result.exception)
    assert "Traceback" not in result.output
    assert result.stderr.startswith("error: "), result.stderr
    for n in needles:
        assert n in result.stderr, (n, result.stderr)


def read_rows(path: Path) -> list[list[str]]:
    with path.open(encoding="utf-8", newline="") as fh:
        return list(csv.reader(fh))


def write_rows(path: Path, rows: list[list[str]]) -> None:
    with path.open("w", encoding="utf-8", newline="") as fh:
        csv.writer(fh, lineterminator="\n").writerows(rows)


def edit_rows(path: Path, fn: Callable[[dict[str, str]], dict[str, str] | None]) -> None:
    rows = read_rows(path)
    header = rows[0]
    out = [header]
    for r in rows[1:]:
        new = fn(dict(zip(header, r, strict=True)))
        if new is not None:
            out.append([new[c] for c in header])
    write_rows(path, out)


def statements_xlsx(rows: list[list[str]]) -> bytes:
    """A statements workbook from CSV rows (numbers in the value column as numbers)."""
    wb = openpyxl.Workbook()
    ws = wb.active
    for i, r in enumerate(rows):
        ws.append([float(c) if i and j == 2 and c else c for j, c in enumerate(r)])
    buf = io.BytesIO()
    wb.save(buf)
    return buf.getvalue()


def rezip(
    data: bytes, replace: dict[str, bytes] | None = None, add: dict[str, bytes] | None = None
) -> bytes:
    """A copy of a zip with some parts replaced or added (deflated)."""
    replace, add = replace or {}, add or {}
    src = zipfile.ZipFile(io.BytesIO(data))
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as dst:
        for info in src.infolist():
            dst.writestr(info.filename, replace.get(info.filename, src.read(info.filename)))
        for name, content in add.items():
            dst.writestr(name, content)
    return buf.getvalue()


@pytest.fixture(scope="module")
def good_xlsx() -> bytes:
    return statements_xlsx(read_rows(SHIPPED / "statements" / f"{TICKER}.csv"))


def use_xlsx(root: Path, data: bytes) -> str:
    """Replace the firm's statements CSV by an xlsx; returns its display name."""
    (root / "statements" / f"{TICKER}.csv").unlink()
    (root / "statements" / f"{TICKER}.xlsx").write_bytes(data)
    return f"inputs/statements/{TICKER}.xlsx"


def test_statements_xlsx_is_accepted(inputs: Path, good_xlsx: bytes) -> None:
    """The baseline of the xlsx attacks: a plain workbook validates."""
    use_xlsx(inputs, good_xlsx)
    assert validate(inputs).exit_code == 0


@pytest.mark.libreoffice
def test_statements_saved_by_libreoffice_are_accepted(
    inputs: Path, tmp_path: Path, good_xlsx: bytes
) -> None:
    """The container checks do not refuse a workbook as a spreadsheet program writes it."""
    from support.libreoffice import recalculate

    src = tmp_path / "src" / f"{TICKER}.xlsx"
    src.parent.mkdir()
    src.write_bytes(good_xlsx)
    saved = recalculate(src, tmp_path / "saved")
    assert saved.read_bytes() != good_xlsx
    use_xlsx(inputs, saved.read_bytes())
    result = validate(inputs)
    assert result.exit_code == 0, result.output


# --- 1. path traversal -------------------------------------------------------------------------

HOSTILE_NAMES = [
    "../300224.SZ",
    "../../../../tmp/evil",
    "/tmp/evil",
    "300224.SZ/../../x",
    "..",
    "300224.SZ\\..\\x",
    "C:\\evil",
    "300224.SZ " + "x" * 300,
    "3" * 5000,
    "300224.SZ;rm -rf",
    "\u0663\u0660\u0660\u0662\u0662\u0664.SZ",  # Arabic-Indic digits: not the ASCII pattern
]


@pytest.mark.parametrize("bad", HOSTILE_NAMES, ids=range(len(HOSTILE_NAMES)))
def test_hostile_ticker_in_register(inputs: Path, outputs: Path, tmp_path: Path, bad: str) -> None:
    edit_rows(inputs / "firms.csv", lambda r: {**r, "ticker": bad} if r["ticker"] == TICKER else r)
    before = snapshot(tmp_path)
    assert_clean_failure(
        validate(inputs),
        "inputs/firms.csv, row 5, field 'ticker': expected six digits, a dot and SH/SZ/BJ",
    )
    assert_clean_failure(run(inputs, outputs), "inputs/firms.csv, row 5, field 'ticker'")
    assert snapshot(tmp_path) == before  # nothing written anywhere


def test_nul_in_register(inputs: Path, outputs: Path, tmp_path: Path) -> None:
    path = inputs / "firms.csv"
    path.write_bytes(path.read_bytes().replace(TICKER.encode(), b"300224\x00/../x", 1))
    before = snapshot(tmp_path)
    assert_clean_failure(validate(inputs), "inputs/firms.csv: expected text; found NUL bytes")
    assert_clean_failure(run(inputs, outputs), "inputs/firms.csv")
    assert snapshot(tmp_path) == before


@pytest.mark.parametrize(
    ("name", "found"),
    [
        ("%2E%2E%2Fevil.csv", "'%2E%2E%2Fevil.csv'"),
        ("300224.SZ\n.csv", "'300224.SZ\\n.csv'"),
        ("300224.SZ .csv", "'300224.SZ .csv'"),
        (" 300224.SZ.csv", "' 300224.SZ.csv'"),
        ("300224.SZ.csv.csv", "'300224.SZ.csv.csv'"),
        ("x" * 250 + ".csv", repr("x" * 250 + ".csv")),
    ],
    ids=["urlencoded", "newline", "space", "leading-space", "double-ext", "long"],
)
def test_hostile_statements_file_name(inputs: Path, outputs: Path, name: str, found: str) -> None:
    shutil.copy(inputs / "statements" / f"{TICKER}.csv", inputs / "statements" / name)
    before = snapshot(outputs)
    assert_clean_failure(
        validate(inputs), f"expected a file named after a ticker, e.g. 603072.SH.csv; found {found}"
    )
    assert_clean_failure(run(inputs, outputs))
    assert snapshot(outputs) == before


def test_hidden_files_in_statements_are_ignored(inputs: Path) -> None:
    """Editors leave lock files (LibreOffice: .~lock.<name>#); hidden files are not inputs."""
    (inputs / "statements" / f".~lock.{TICKER}.csv#").write_text("x", encoding="utf-8")
    (inputs / "statements" / "..%2F..%2Fevil.csv").write_text("x", encoding="utf-8")
    assert validate(inputs).exit_code == 0


@pytest.mark.parametrize(
    ("target", "found"),
    [
        ("/dev/zero", "expected a regular file; found a device, pipe or socket"),
        ("/etc", "expected a regular file; found a folder"),
    ],
)
def test_statements_file_is_a_link_to_a_device_or_folder(
    inputs: Path, target: str, found: str
) -> None:
    link = inputs / "statements" / f"{TICKER}.csv"
    link.unlink()
    link.symlink_to(target)
    assert_clean_failure(validate_guarded(inputs), f"inputs/statements/{TICKER}.csv: {found}")


def test_statements_file_is_a_fifo(inputs: Path) -> None:
    fifo = inputs / "statements" / f"{TICKER}.csv"
    fifo.unlink()
    os.mkfifo(fifo)
    assert_clean_failure(
        validate(inputs),
        f"inputs/statements/{TICKER}.csv: expected a regular file; found a device, pipe or socket",
    )


def test_required_file_is_a_fifo(inputs: Path) -> None:
    (inputs / "trade.csv").unlink()
    os.mkfifo(inputs / "trade.csv")
    assert_clean_failure(
        validate(inputs), "inputs/trade.csv: expected the file to exist; found not a regular file"
    )


AS_OF_BAD = [
    "../2025Q2",
    "2025Q2/../../x",
    "/etc/passwd",
    "2025Q2\x00",
    "Q" * 5000,
    "2025Q2/",
    "2025q2",
    "..",
    "",
]


@pytest.mark.parametrize("bad", AS_OF_BAD, ids=range(len(AS_OF_BAD)))
def test_hostile_as_of(outputs: Path, tmp_path: Path, bad: str) -> None:
    before = snapshot(tmp_path)
    assert_clean_failure(
        run(SHIPPED, outputs, "--as-of", bad), "--as-of must be a quarter like 2025Q3"
    )
    assert snapshot(tmp_path) == before


FIRMS_BAD = [
    "../../etc",
    "300224.SZ/../x",
    "/abs/300224.SZ",
    "300224.SZ\x00",
    "A" * 5000,
    "300224.SZ,..",
    "300224.SZ;x",
]


@pytest.mark.parametrize("bad", FIRMS_BAD, ids=range(len(FIRMS_BAD)))
def test_hostile_firms(outputs: Path, tmp_path: Path, bad: str) -> None:
    before = snapshot(tmp_path)
    assert_clean_failure(
        run(SHIPPED, outputs, "--firms", bad), "--firms takes tickers like 603072.SH,300224.SZ"
    )
    assert snapshot(tmp_path) == before


def test_unknown_firm(outputs: Path, tmp_path: Path) -> None:
    before = snapshot(tmp_path)
    assert_clean_failure(
        run(SHIPPED, outputs, "--firms", "600000.SH"), "not in firms.csv: 600000.SH"
    )
    assert snapshot(tmp_path) == before


@pytest.mark.slow
def test_outputs_with_dot_dot_writes_only_into_the_resolved_folder(tmp_path: Path) -> None:
    """``--outputs a/../b`` is the folder b: the run lands in b/<as_of>/ and nowhere else."""
    (tmp_path / "a").mkdir()
    before = snapshot(tmp_path)
    result = run(SHIPPED, tmp_path / "a" / ".." / "b", "--firms", TICKER, "--as-of", "2025Q2")
    assert result.exit_code == 0, result.output
    after = snapshot(tmp_path)
    new = sorted(set(after) - set(before))
    assert new[:2] == ["b", "b/2025Q2"]
    assert all(p.startswith("b/2025Q2/") for p in new[2:])
    assert {p for p in before if after.get(p) != before[p]} == set()


def test_as_of_label_and_components_are_checked_before_use(tmp_path: Path) -> None:
    assert as_of_folder(tmp_path, "2025Q2") == tmp_path / "2025Q2"
    for bad in ("../2025Q2", "2025Q2/..", "/2025Q2", "2025Q2\x00", "2025Q5", ""):
        with pytest.raises(UsageError):
            as_of_folder(tmp_path, bad)
    for bad in (
        "..",
        "../x",
        "a/b",
        "a\\b",
        "/abs",
        "x\x00",
        "",
        "x" * 65,
        ".hidden",
        "-rf",
        "a..b",
    ):
        with pytest.raises(UsageError):
            safe_component(bad, "ticker")
    assert safe_component("300224.SZ", "ticker") == "300224.SZ"


def test_outputs_with_nul_is_a_usage_error(tmp_path: Path) -> None:
    before = snapshot(tmp_path)
    result = run(SHIPPED, tmp_path / "out\x00put")
    assert result.exit_code == 2 and "--outputs" in result.stderr
    assert snapshot(tmp_path) == before


def test_inputs_with_nul_is_a_usage_error(tmp_path: Path) -> None:
    result = validate(tmp_path / "in\x00puts")
    assert result.exit_code == 2 and "--inputs" in result.stderr


def test_outputs_with_an_overlong_name_is_a_usage_error(tmp_path: Path) -> None:
    before = snapshot(tmp_path)
    result = run(SHIPPED, tmp_path / ("x" * 300), "--firms", TICKER, "--as-of", "2025Q2")
    assert result.exit_code == 2 and "--outputs" in result.stderr, result.output
    assert snapshot(tmp_path) == before


def test_outputs_that_is_a_file_is_a_usage_error(tmp_path: Path) -> None:
    (tmp_path / "file").write_text("x", encoding="utf-8")
    before = snapshot(tmp_path)
    result = run(SHIPPED, tmp_path / "file", "--firms", TICKER, "--as-of", "2025Q2")
    assert result.exit_code == 2 and "--outputs" in result.stderr, result.output
    assert snapshot(tmp_path) == before


# --- 3. formula injection ---------------------------------------------------------------------

MARK = "XSSMARK"
TRIGGERS = ("=", "+", "-", "@", "\t", "\r")

#: every free-text field of every input, by file
CSV_TEXT_FIELDS = {
    "firms.csv": (
        "company_name",
        "ownership_source",
        "upstream_tie_source",
        "shares_source",
        "price_source",
        "export_share_source",
        "equity_volatility_source",
        "note",
    ),
    "prices.csv": ("source", "note"),
    "trade.csv": ("destination", "source", "note"),
    "consolidation_priors.csv": ("unit", "rationale", "source"),
}
STATEMENT_TEXT_FIELDS = ("source", "note")
TOML_TEXT_KEYS = {
    "sector.toml": ("unit", "source", "assumption"),
    "scenarios.toml": ("description",),
}


def _payload(trigger: str, code: str) -> str:
    return f"{trigger}cmd|' /C calc'!A0+HYPERLINK(\"http://x\") {MARK}{code}"


def inject_formulas(root: Path, offset: int) -> set[str]:
    """Put a formula-like payload into every free-text field of every input file.

    Payload k of a field starts with TRIGGERS[(k + offset) % 6], so that over its rows each
    field gets every trigger. Returns the codes of every injected payload. (CSV cells are
    stripped by the reader, so a leading tab or CR in a CSV cell is removed anyway; TOML
    strings keep them.)
    """
    codes: set[str] = set()
    counter = iter(range(10**9))

    def payload(field: str, k: int) -> str:
        code = f"{field[:3]}{next(counter)}"
        codes.add(code)
        return _payload(TRIGGERS[(k + offset) % len(TRIGGERS)], code)

    for name, fields in CSV_TEXT_FIELDS.items():
        rows = read_rows(root / name)
        header = rows[0]
        for k, r in enumerate(rows[1:]):
            for f in fields:
                if name == "trade.csv" and f == "destination" and r[header.index(f)] == "world":
                    continue  # "world" is the series the model reads
                r[header.index(f)] = payload(f, k)
        write_rows(root / name, rows)
    for path in sorted((root / "statements").glob("*.csv")):
        rows = read_rows(path)
        for k, r in enumerate(rows[1:]):
            for f in STATEMENT_TEXT_FIELDS:
                if f == "source" and not r[2]:
                    continue  # template rows without a value have no source
                r[STATEMENT_COLUMNS.index(f)] = payload(f, k)
        write_rows(path, rows)
    for name, keys in TOML_TEXT_KEYS.items():
        path = root / name
        k = 0
        out = []
        for line in path.read_text(encoding="utf-8").splitlines(keepends=True):
            for key in keys:
                m = re.match(rf'^(\s*(?:{{ .*)?{key} = ")', line) or re.search(
                    rf'(\b{key} = ")', line
                )
                if m and not line.lstrip().startswith("#"):
                    esc = (
                        payload(key, k)
                        .replace("\\", "\\\\")
                        .replace('"', '\\"')
                        .replace("\t", "\\t")
                        .replace("\r", "\\r")
                    )
                    line = line.replace(m.group(1), m.group(1) + esc + " ", 1)
                    k += 1
            out.append(line)
        path.write_text("".join(out), encoding="utf-8")
    return codes


def csv_cells(folder: Path) -> list[tuple[str, str]]:
    cells = []
    for path in sorted(folder.glob("*.csv")):
        with path.open(encoding="utf-8", newline="") as fh:
            for row in csv.reader(fh):
                cells.extend((path.name, c) for c in row)
    return cells


def test_injected_inputs_are_valid(inputs: Path) -> None:
    """The payloads are legitimate text: validation accepts them (the defence is on output)."""
    codes = inject_formulas(inputs, 0)
    assert len(codes) > 1000
    result = validate(inputs)
    assert result.exit_code == 0, result.output


@pytest.mark.slow
@pytest.mark.parametrize("offset", [0, 3])
def test_no_formula_in_csv_outputs(inputs: Path, tmp_path: Path, offset: int) -> None:
    inject_formulas(inputs, offset)
    out = tmp_path / "out"
    result = run(inputs, out)
    assert result.exit_code == 0, result.output
    (folder,) = out.iterdir()
    marked = [(f, c) for f, c in csv_cells(folder) if MARK in c]
    bad = [(f, c) for f, c in marked if c.startswith(FORMULA_TRIGGERS)]
    assert bad == []
    # the test means something: input text reaches these outputs
    reached = {f for f, _ in marked}
    assert {"scenarios.csv", "base_figures.csv"} <= reached, reached
    assert any(c.startswith("'" + t) for _, c in marked for t in ("=", "+", "-", "@")), (
        "no payload was defused"
    )


WORKBOOK_TEST = "test_no_formula_in_workbooks"


@pytest.mark.slow
def test_no_formula_in_workbooks(inputs: Path, tmp_path: Path) -> None:
    """Depends on stressmodel.report.write_workbooks (another engineer): fails until it exists."""
    inject_formulas(inputs, 0)
    out = tmp_path / "out"
    result = invoke("run", "--quiet", "--inputs", str(inputs), "--outputs", str(out))
    assert result.exit_code == 0, result.output
    (folder,) = out.iterdir()
    books = sorted(folder.glob("*.xlsx"))
    assert books, "the run wrote no workbook"
    seen = 0
    for book in books:
        wb = openpyxl.load_workbook(book, data_only=False)
        for ws in wb.worksheets:
            for row in ws.iter_rows():
                for c in row:
                    if isinstance(c.value, str) and MARK in c.value:
                        seen += 1
                        assert c.data_type == "s", (book.name, ws.title, c.coordinate, c.value)
                    elif c.data_type == "f" and MARK in str(c.value):
                        pytest.fail(
                            f"{book.name}!{ws.title}!{c.coordinate}: input text inside a formula: {c.value!r}"
                        )
    assert seen > 0, "no input text reached the workbooks"


# --- 4. XML attacks and zip bombs -------------------------------------------------------------

BILLION_LAUGHS = (
    b'<?xml version="1.0"?>\n<!DOCTYPE lolz [\n <!ENTITY lol "lol">\n'
    + b"".join(
        f' <!ENTITY lol{i} "{("&lol" + (str(i - 1) if i > 1 else "") + ";") * 10}">\n'.encode()
        for i in range(1, 10)
    )
    + b']>\n<worksheet xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main"><sheetData>'
    b'<row r="1"><c r="A1" t="inlineStr"><is><t>&lol9;</t></is></c></row></sheetData></worksheet>'
)
XXE = (
    b'<?xml version="1.0"?>\n<!DOCTYPE x [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>\n'
    b'<worksheet xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main"><sheetData>'
    b'<row r="1"><c r="A1" t="inlineStr"><is><t>&xxe;</t></is></c></row></sheetData></worksheet>'
)
PARAMETER_ENTITY = (
    b'<?xml version="1.0"?>\n<!DOCTYPE x [<!ENTITY % remote SYSTEM "http://127.0.0.1:9/evil.dtd"> %remote;]>\n'
    b'<worksheet xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main"/>'
)


def test_openpyxl_uses_defusedxml() -> None:
    import defusedxml.ElementTree
    import openpyxl.reader.excel
    import openpyxl.worksheet._reader
    from openpyxl.xml import DEFUSEDXML

    assert DEFUSEDXML is True
    assert openpyxl.reader.excel.fromstring is defusedxml.ElementTree.fromstring
    assert openpyxl.worksheet._reader.iterparse is defusedxml.ElementTree.iterparse


@pytest.mark.parametrize(
    ("part", "xml"),
    [
        ("xl/worksheets/sheet1.xml", BILLION_LAUGHS),
        ("xl/workbook.xml", BILLION_LAUGHS),
        ("[Content_Types].xml", BILLION_LAUGHS),
        ("xl/worksheets/sheet1.xml", XXE),
        ("xl/sharedStrings.xml", XXE),
        ("xl/_rels/workbook.xml.rels", XXE),
        ("xl/worksheets/sheet1.xml", PARAMETER_ENTITY),
        ("xl/worksheets/sheet1.xml", BILLION_LAUGHS.replace(b"<!DOCTYPE", b"<!doctype")),
    ],
    ids=[
        "laughs-sheet",
        "laughs-workbook",
        "laughs-types",
        "xxe-sheet",
        "xxe-strings",
        "xxe-rels",
        "param-entity",
        "lower-case",
    ],
)
def test_xml_attack_is_rejected_without_hanging(
    inputs: Path, good_xlsx: bytes, part: str, xml: bytes
) -> None:
    data = (
        rezip(good_xlsx, replace={part: xml})
        if part in zipfile.ZipFile(io.BytesIO(good_xlsx)).namelist()
        else rezip(good_xlsx, add={part: xml})
    )
    name = use_xlsx(inputs, data)
    result = validate_guarded(inputs)
    assert_clean_failure(
        result,
        f"{name}: expected XML without DTD or entity declarations; found a DTD/entity declaration in {part} (an XML attack?)",
    )


def test_xml_attack_in_utf16_is_rejected(inputs: Path, good_xlsx: bytes) -> None:
    xml = (
        BILLION_LAUGHS.decode()
        .replace('version="1.0"', 'version="1.0" encoding="UTF-16"')
        .encode("utf-16")
    )
    name = use_xlsx(inputs, rezip(good_xlsx, replace={"xl/worksheets/sheet1.xml": xml}))
    assert_clean_failure(
        validate(inputs),
        f"{name}: expected XML parts in UTF-8; found UTF-16 or UTF-32 XML in xl/worksheets/sheet1.xml",
    )


def test_xml_in_another_encoding_is_rejected(inputs: Path, good_xlsx: bytes) -> None:
    xml = XXE.replace(b'version="1.0"', b'version="1.0" encoding="UTF-7"')
    name = use_xlsx(inputs, rezip(good_xlsx, replace={"xl/worksheets/sheet1.xml": xml}))
    assert_clean_failure(
        validate(inputs),
        f"{name}: expected XML parts in UTF-8; found UTF-7 XML in xl/worksheets/sheet1.xml",
    )


def test_defusedxml_stops_an_attack_that_gets_past_the_container_check(good_xlsx: bytes) -> None:
    """Second line of defence: openpyxl itself refuses entities (defusedxml), fast."""
    import defusedxml

    data = rezip(good_xlsx, replace={"xl/workbook.xml": BILLION_LAUGHS})
    with pytest.raises(Exception) as exc:
        finishes(lambda: openpyxl.load_workbook(io.BytesIO(data), read_only=True))
    chain = [exc.value, exc.value.__cause__, exc.value.__context__]
    assert any(isinstance(e, defusedxml.DefusedXmlException) for e in chain), chain


def test_xlsx_with_external_link_is_rejected(inputs: Path, good_xlsx: bytes) -> None:
    link = (
        b'<?xml version="1.0" encoding="UTF-8"?><externalLink xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main">'
        b'<externalBook r:id="rId1" xmlns:r="http://schemas.openxmlformats.org/officeDocument/2006/relationships"/></externalLink>'
    )
    name = use_xlsx(inputs, rezip(good_xlsx, add={"xl/externalLinks/externalLink1.xml": link}))
    assert_clean_failure(
        validate(inputs),
        f"{name}: expected a self-contained workbook; found external links or data connections",
    )


def test_xlsx_with_external_link_relationship_is_rejected(inputs: Path, good_xlsx: bytes) -> None:
    """An external link stored under another part name is found by its relationship type."""
    zf = zipfile.ZipFile(io.BytesIO(good_xlsx))
    rels = zf.read("xl/_rels/workbook.xml.rels").replace(
        b"</Relationships>",
        b'<Relationship Id="rId99" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/externalLink" '
        b'Target="other/link1.xml"/></Relationships>',
    )
    name = use_xlsx(
        inputs,
        rezip(
            good_xlsx,
            replace={"xl/_rels/workbook.xml.rels": rels},
            add={"xl/other/link1.xml": b"<x/>"},
        ),
    )
    assert_clean_failure(
        validate(inputs),
        f"{name}: expected a self-contained workbook; found a relationship to external links, data connections or "
        "embedded objects in xl/_rels/workbook.xml.rels",
    )


def test_xlsx_formula_cell_is_rejected(inputs: Path) -> None:
    rows = read_rows(inputs / "statements" / f"{TICKER}.csv")
    data = statements_xlsx(rows)
    wb = openpyxl.load_workbook(io.BytesIO(data))
    wb.active["C5"] = "=1+1"
    buf = io.BytesIO()
    wb.save(buf)
    name = use_xlsx(inputs, buf.getvalue())
    assert_clean_failure(
        validate(inputs),
        f"{name}, row 5, field 'C5': expected a plain value; found a formula '=1+1'",
    )


@pytest.mark.parametrize("text", [" =1+1", "\t=cmd|' /C calc'!A0", "   =HYPERLINK(1)"])
def test_xlsx_text_with_a_leading_space_before_a_formula_is_rejected(
    inputs: Path, text: str
) -> None:
    """The formula rule sees the stripped text, as every other check does."""
    data = statements_xlsx(read_rows(inputs / "statements" / f"{TICKER}.csv"))
    wb = openpyxl.load_workbook(io.BytesIO(data))
    wb.active["F5"] = text
    buf = io.BytesIO()
    wb.save(buf)
    name = use_xlsx(inputs, buf.getvalue())
    assert_clean_failure(
        validate(inputs), f"{name}, row 5, field 'F5': expected a plain value; found a formula"
    )


@pytest.mark.parametrize("kind", ["csv", "xlsx"])
def test_a_40000_character_note_is_rejected_the_same_way_in_csv_and_xlsx(
    inputs: Path, kind: str
) -> None:
    """openpyxl cuts a longer text to Excel's 32,767 characters without a word; the reader
    hands the whole text to the checks, so both formats give the same problem."""
    path = inputs / "statements" / f"{TICKER}.csv"
    rows = read_rows(path)
    if kind == "csv":
        rows[4][rows[0].index("note")] = "n" * 40_000
        write_rows(path, rows)
        name = f"inputs/statements/{TICKER}.csv"
    else:  # openpyxl itself would cut the text on writing: put it into the XML directly
        rows[4][rows[0].index("note")] = "LONGNOTE"
        data = statements_xlsx(rows)
        src = zipfile.ZipFile(io.BytesIO(data))
        parts = {n: src.read(n) for n in src.namelist()}
        hit = {
            n: b.replace(b"LONGNOTE", b"n" * 40_000) for n, b in parts.items() if b"LONGNOTE" in b
        }
        assert len(hit) == 1
        name = use_xlsx(inputs, rezip(data, replace=hit))
    assert_clean_failure(
        validate(inputs),
        f"{name}, row 5, field 'note': expected at most 32767 characters; found 40000 characters",
    )


def test_xlsx_external_reference_formula_is_rejected(inputs: Path) -> None:
    data = statements_xlsx(read_rows(inputs / "statements" / f"{TICKER}.csv"))
    wb = openpyxl.load_workbook(io.BytesIO(data))
    wb.active["C7"] = "='[other.xlsx]Sheet1'!A1"
    buf = io.BytesIO()
    wb.save(buf)
    name = use_xlsx(inputs, buf.getvalue())
    assert_clean_failure(
        validate(inputs), f"{name}, row 7, field 'C7': expected a plain value; found a formula"
    )


@pytest.mark.parametrize(
    ("make", "found"),
    [
        (
            lambda g: b"period,item,value\n",
            "expected an .xlsx workbook (a zip package); found not a zip file",
        ),
        (
            lambda g: g[: len(g) // 2],
            "expected an .xlsx workbook (a zip package); found not a zip file",
        ),
        (
            lambda g: b"\xd0\xcf\x11\xe0" + b"\x00" * 600,
            "found a legacy .xls or password-protected workbook; save it as a plain .xlsx",
        ),
        (
            lambda g: _zip({"hello.txt": b"hi"}),
            "expected an .xlsx workbook; found a zip file without a workbook (xl/workbook.xml)",
        ),
        (
            lambda g: _flip_in_part(g, "xl/worksheets/sheet1.xml"),
            "expected an intact .xlsx workbook; found a corrupt part xl/worksheets/sheet1.xml",
        ),
        (
            lambda g: _flip_in_part(g, "xl/workbook.xml"),
            "expected an intact .xlsx workbook; found a corrupt part xl/workbook.xml",
        ),
        (
            lambda g: rezip(
                g, replace={"xl/worksheets/sheet1.xml": b"<worksheet><sheetData><row>"}
            ),
            "expected a readable .xlsx workbook",
        ),
        (
            lambda g: rezip(g, replace={"xl/workbook.xml": b"not xml"}),
            "expected a readable .xlsx workbook",
        ),
        (
            lambda g: _zip({"[Content_Types].xml": b"<Types/>", "xl/workbook.xml": b"<workbook/>"}),
            "expected a readable .xlsx workbook",
        ),
    ],
    ids=[
        "csv-text",
        "truncated",
        "ole",
        "no-workbook",
        "crc-sheet",
        "crc-workbook",
        "bad-sheet-xml",
        "bad-workbook-xml",
        "minimal",
    ],
)
def test_corrupt_xlsx(
    inputs: Path, good_xlsx: bytes, make: Callable[[bytes], bytes], found: str
) -> None:
    name = use_xlsx(inputs, make(good_xlsx))
    assert_clean_failure(
        validate(inputs), f"{name}: {found}" if found.startswith("expected") else found, name
    )


def _zip(parts: dict[str, bytes]) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
        for n, c in parts.items():
            zf.writestr(n, c)
    return buf.getvalue()


def _flip_in_part(data: bytes, part: str) -> bytes:
    """Flip a byte inside the compressed data of ``part`` (its CRC no longer matches)."""
    info = zipfile.ZipFile(io.BytesIO(data)).getinfo(part)
    header = data[info.header_offset : info.header_offset + 30]
    start = (
        info.header_offset
        + 30
        + int.from_bytes(header[26:28], "little")
        + int.from_bytes(header[28:30], "little")
    )
    pos = start + info.compress_size // 2
    return data[:pos] + bytes([data[pos] ^ 0x55]) + data[pos + 1 :]


def _bomb(parts: dict[str, tuple[bytes, int]], base: bytes) -> bytes:
    """A workbook plus parts of ``chunk * repeat`` bytes, written streaming (little memory)."""
    src = zipfile.ZipFile(io.BytesIO(base))
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as dst:
        for info in src.infolist():
            if info.filename not in parts:
                dst.writestr(info.filename, src.read(info.filename))
        for name, (chunk, repeat) in parts.items():
            info = zipfile.ZipInfo(name)
            info.compress_type = zipfile.ZIP_DEFLATED
            with dst.open(info, "w", force_zip64=True) as fh:
                for _ in range(repeat):
                    fh.write(chunk)
    return buf.getvalue()


def _peak_memory(fn: Callable[[], object]) -> int:
    """The peak of memory Python allocated while ``fn`` ran (bytes); a hang fails the test."""
    tracemalloc.start()
    try:
        finishes(fn)
    finally:
        peak = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
    return peak


@pytest.mark.slow
def test_zip_bomb_one_huge_part(inputs: Path, good_xlsx: bytes) -> None:
    """A sheet of 200 MB of spaces (about 200 kB compressed): rejected from the declared
    sizes, without decompressing it (a memory peak under 20 MB)."""
    data = _bomb({"xl/worksheets/sheet1.xml": (b" " * (1 << 20), 200)}, good_xlsx)
    assert len(data) < 1_000_000
    name = use_xlsx(inputs, data)
    path = inputs / "statements" / f"{TICKER}.xlsx"
    caught: list[InputError] = []

    def attempt() -> None:
        try:
            read_xlsx(path, name, STATEMENT_COLUMNS)
        except InputError as exc:
            caught.append(exc)

    peak = _peak_memory(attempt)
    assert peak < 20 * 1024 * 1024, peak
    (problem,) = caught[0].problems
    ratio = (200 << 20) / _compressed(data, "xl/worksheets/sheet1.xml")
    assert (
        problem.found
        == f"part xl/worksheets/sheet1.xml of {200 << 20} bytes (ratio {ratio:.0f}): a zip bomb?"
    )
    assert_clean_failure(
        validate(inputs),
        f"{name}: expected parts of at most 20971520 bytes uncompressed and compression ratio at most 200",
    )


def _compressed(data: bytes, part: str) -> int:
    return zipfile.ZipFile(io.BytesIO(data)).getinfo(part).compress_size


def test_zip_bomb_high_ratio(inputs: Path, good_xlsx: bytes) -> None:
    """A 5 MB part (under the per-part limit) compressed more than 200 times."""
    data = _bomb({"xl/media/blank.xml": (b"\x00" * (1 << 20), 5)}, good_xlsx)
    name = use_xlsx(inputs, data)
    result = validate_guarded(inputs)
    assert_clean_failure(
        result,
        f"{name}: expected parts of at most",
        "part xl/media/blank.xml of 5242880 bytes",
        "a zip bomb?",
    )


def test_zip_bomb_total_size(
    inputs: Path, good_xlsx: bytes, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Many parts, each within the limits, too large together (limits scaled down 100x)."""
    monkeypatch.setattr(readers, "MAX_XLSX_UNCOMPRESSED", 512 * 1024)
    chunk = bytes(range(256)) * 256  # 64 kB, barely compressible
    data = _bomb({f"xl/media/part{i}.bin": (chunk, 2) for i in range(5)}, good_xlsx)
    name = use_xlsx(inputs, data)
    assert_clean_failure(
        validate(inputs),
        f"{name}: expected at most 524288 bytes uncompressed; found",
        "a zip bomb?",
    )


def test_zip_with_too_many_parts(inputs: Path, good_xlsx: bytes) -> None:
    data = rezip(good_xlsx, add={f"xl/media/p{i}.bin": b"x" for i in range(600)})
    name = use_xlsx(inputs, data)
    total = len(zipfile.ZipFile(io.BytesIO(data)).infolist())
    assert_clean_failure(
        validate(inputs), f"{name}: expected at most 500 parts; found {total} parts"
    )


def test_zip_part_that_lies_about_its_size(inputs: Path, good_xlsx: bytes) -> None:
    """The central directory says 1,000 bytes, the data inflates to 5 MB: zipfile stops at
    the declared size and the CRC check fails (a clean error, not a bomb)."""
    part = b"xl/media/liar.bin"
    src = zipfile.ZipFile(io.BytesIO(good_xlsx))
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as dst:
        for info in src.infolist():
            dst.writestr(info.filename, src.read(info.filename))
        dst.writestr(part.decode(), b"\x00" * (5 << 20))
    data = bytearray(buf.getvalue())
    entry = next(
        m.start()
        for m in re.finditer(b"PK\x01\x02", data)
        if data[m.start() + 46 : m.start() + 46 + len(part)] == part
    )
    data[entry + 24 : entry + 28] = (1000).to_bytes(
        4, "little"
    )  # uncompressed size in the central directory
    assert zipfile.ZipFile(io.BytesIO(bytes(data))).getinfo(part.decode()).file_size == 1000
    name = use_xlsx(inputs, bytes(data))
    assert_clean_failure(
        validate(inputs),
        f"{name}: expected an intact .xlsx workbook; found a corrupt part xl/media/liar.bin",
    )


def test_file_too_large(inputs: Path) -> None:
    path = inputs / "statements" / f"{TICKER}.csv"
    with path.open("r+b") as fh:
        fh.truncate(25 * 1024 * 1024)  # sparse: no 25 MB write
    assert_clean_failure(
        validate_guarded(inputs),
        f"inputs/statements/{TICKER}.csv: expected a file of at most 20971520 bytes; found 26214400 bytes",
    )


def test_sheet_declaring_a_huge_range(inputs: Path) -> None:
    """A cell far to the right makes the sheet 16,384 columns wide: refused before reading."""
    data = statements_xlsx(read_rows(inputs / "statements" / f"{TICKER}.csv"))
    wb = openpyxl.load_workbook(io.BytesIO(data))
    wb.active["XFD2"] = "x"
    buf = io.BytesIO()
    wb.save(buf)
    name = use_xlsx(inputs, buf.getvalue())
    assert_clean_failure(
        validate_guarded(inputs),
        f"{name}: expected a sheet at most 50 columns wide; found 16384 columns",
    )


def test_sheet_hiding_rows_behind_a_false_dimension(inputs: Path) -> None:
    """The sheet declares A1:F2 but has a row far down: what is there counts."""
    data = statements_xlsx(read_rows(inputs / "statements" / f"{TICKER}.csv"))
    wb = openpyxl.load_workbook(io.BytesIO(data))
    wb.active["A30000"] = "x"
    buf = io.BytesIO()
    wb.save(buf)
    zf = zipfile.ZipFile(io.BytesIO(buf.getvalue()))
    sheet, n = re.subn(
        rb'<dimension ref="[^"]*"\s*/>',
        b'<dimension ref="A1:F2"/>',
        zf.read("xl/worksheets/sheet1.xml"),
    )
    assert n == 1
    name = use_xlsx(inputs, rezip(buf.getvalue(), replace={"xl/worksheets/sheet1.xml": sheet}))
    assert_clean_failure(
        validate_guarded(inputs),
        f"{name}: expected a sheet at most 20000 rows long; found more rows",
    )


def test_sheet_with_a_row_far_down(inputs: Path) -> None:
    data = statements_xlsx(read_rows(inputs / "statements" / f"{TICKER}.csv"))
    wb = openpyxl.load_workbook(io.BytesIO(data))
    wb.active["A1048576"] = "x"
    buf = io.BytesIO()
    wb.save(buf)
    name = use_xlsx(inputs, buf.getvalue())
    assert_clean_failure(
        validate_guarded(inputs),
        f"{name}: expected a sheet at most 20000 rows long; found 1048576 rows",
    )


def test_check_xlsx_container_accepts_the_template(tmp_path: Path) -> None:
    """`stressmodel template --xlsx` output passes the container checks."""
    path = tmp_path / "t.xlsx"
    assert invoke("template", TICKER, "--xlsx", str(path)).exit_code == 0
    check_xlsx_container(path.read_bytes(), "t.xlsx")


# --- 5. zero denominators ---------------------------------------------------------------------


def zero(items: set[str]) -> Callable[[dict[str, str]], dict[str, str]]:
    return lambda r: {**r, "value": "0"} if r["item"] in items and r["value"] else r


def output_frames(out: Path) -> dict[str, list[dict[str, str]]]:
    (folder,) = out.iterdir()
    frames = {}
    for path in sorted(folder.glob("*.csv")):
        with path.open(encoding="utf-8", newline="") as fh:
            frames[path.name] = list(csv.DictReader(fh))
    return frames


def assert_no_nan_or_inf(frames: dict[str, list[dict[str, str]]]) -> None:
    for name, rows in frames.items():
        for i, r in enumerate(rows):
            for k, v in r.items():
                assert not NAN_INF.match(v.strip()), f"{name} row {i + 2} {k} = {v!r}"


def firm_rows(frames: dict[str, list[dict[str, str]]], name: str) -> list[dict[str, str]]:
    return [r for r in frames[name] if r["ticker"] == TICKER]


ZERO_CASES: dict[str, tuple[set[str], dict[tuple[str, str], str]]] = {
    # case: (items set to zero, {(file, column): expected status prefix for the firm})
    # zero interest (or zero debt) is below the material-debt floor of sector.toml: interest
    # cover is "n/a: no material debt" (issue 13), never a huge or a division-by-zero multiple
    "interest_expense": (
        {"interest_expense"},
        {("actual_metrics.csv", "interest_cover_status"): "n/a: no material debt"},
    ),
    "debt": (
        {"total_debt", "short_term_debt"},
        {
            ("summary.csv", "interest_cover_status"): "n/a: no material debt",
            ("summary.csv", "dd_status"): "n/a: no debt",
            # the same status as the summary's interest cover: no threshold without debt
            ("reverse_stress.csv", "shock_icr_below_1_status"): "n/a: no material debt",
        },
    ),
    "earnings": (
        {
            "operating_income",
            "ebitda",
            "depreciation_amortization",
            "net_income",
            "operating_cash_flow",
        },
        {
            ("actual_metrics.csv", "net_debt_to_ebitda_status"): "n/a: non-positive EBITDA",
            ("summary.csv", "net_debt_to_ebitda_status"): "n/a: non-positive EBITDA",
        },
    ),
    "working_capital": ({"cash_and_equivalents", "inventory", "receivables", "payables"}, {}),
}


@pytest.mark.slow
@pytest.mark.parametrize("case", sorted(ZERO_CASES))
def test_zero_denominators_give_statuses(inputs: Path, tmp_path: Path, case: str) -> None:
    items, statuses = ZERO_CASES[case]
    edit_rows(inputs / "statements" / f"{TICKER}.csv", zero(items))
    out = tmp_path / "out"
    result = run(inputs, out, "--firms", TICKER)
    assert result.exit_code == 0, result.output
    frames = output_frames(out)
    assert_no_nan_or_inf(frames)
    for (name, column), status in statuses.items():
        rows = firm_rows(frames, name)
        if (
            name == "summary.csv"
        ):  # stressed scenarios may draw on the revolver: baseline is the clean case
            rows = [r for r in rows if r["scenario"] == "baseline"]
        assert rows and all(r[column].startswith(status) for r in rows), (
            name,
            column,
            {r[column] for r in rows},
        )
        value_column = {
            "interest_cover_status": ("interest_cover", "min_interest_cover"),
            "net_debt_to_ebitda_status": ("net_debt_to_ebitda",),
            "dd_status": ("distance_to_default",),
        }.get(column, ())
        for r in rows:
            for v in value_column:
                if v in r:
                    assert r[v] == "", (name, v, r[v])  # no number where there is no ratio


@pytest.mark.slow
def test_zero_revenue_in_one_quarter(inputs: Path, tmp_path: Path) -> None:
    """Q3 2025 revenue 0 (9M = H1): the run completes, no inf or NaN anywhere."""

    def fn(r: dict[str, str]) -> dict[str, str] | None:
        if r["item"] == "revenue" and r["period"] == "2025Q3":
            return {**r, "value": "0"}
        if r["item"] == "revenue" and r["period"] == "2025-9M":
            return {**r, "value": "3057.4374"}
        if r["item"] == "revenue" and r["period"] == "2025Q3-TTM":
            return None
        return r

    edit_rows(inputs / "statements" / f"{TICKER}.csv", fn)
    out = tmp_path / "out"
    result = run(inputs, out, "--firms", TICKER, "--as-of", "2025Q3")
    assert result.exit_code == 0, result.output
    assert_no_nan_or_inf(output_frames(out))


@pytest.mark.slow
def test_zero_equity(inputs: Path, tmp_path: Path) -> None:
    path = inputs / "statements" / f"{TICKER}.csv"
    assets = {r[0]: r[2] for r in read_rows(path) if r[1] == "total_assets"}

    def fn(r: dict[str, str]) -> dict[str, str]:
        if r["item"] == "shareholders_equity" and r["value"]:
            return {**r, "value": "0"}
        if r["item"] == "total_liabilities" and r["period"] in assets:
            return {**r, "value": assets[r["period"]]}
        return r

    edit_rows(path, fn)
    out = tmp_path / "out"
    result = run(inputs, out, "--firms", TICKER)
    assert result.exit_code == 0, result.output
    assert_no_nan_or_inf(output_frames(out))


def test_zero_revenue_for_the_only_firm_is_explicit(inputs: Path, tmp_path: Path) -> None:
    edit_rows(inputs / "statements" / f"{TICKER}.csv", zero({"revenue"}))
    assert_clean_failure(
        run(inputs, tmp_path / "out", "--firms", TICKER),
        f"no selected firm can be run as of 2025Q3 ({TICKER}: no positive revenue on or before 2025Q3)",
    )


@pytest.mark.slow
def test_zero_revenue_firm_gets_a_status_row(inputs: Path, tmp_path: Path) -> None:
    edit_rows(inputs / "statements" / f"{TICKER}.csv", zero({"revenue"}))
    out = tmp_path / "out"
    result = run(inputs, out)
    assert result.exit_code == 0, result.output
    frames = output_frames(out)
    rows = firm_rows(frames, "summary.csv")
    assert rows and all("no positive revenue" in " ".join(r.values()) for r in rows)


def test_zero_shares_are_refused(inputs: Path) -> None:
    edit_rows(
        inputs / "firms.csv",
        lambda r: {**r, "shares_outstanding": "0"} if r["ticker"] == TICKER else r,
    )
    assert_clean_failure(
        validate(inputs),
        "inputs/firms.csv, row 5, field 'shares_outstanding': expected a number > 0; found 0",
    )


def test_zero_price_and_market_cap_are_refused(inputs: Path) -> None:
    def fn(r: dict[str, str]) -> dict[str, str]:
        return (
            {**r, "value": "0"} if r["ticker"] == "000795.SZ" and r["date"] == "2023-12-31" else r
        )

    edit_rows(inputs / "prices.csv", fn)
    result = validate(inputs)
    assert_clean_failure(
        result,
        "field 'value': expected close > 0; found 0",
        "field 'value': expected market_cap > 0; found 0",
    )
