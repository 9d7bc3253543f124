"""Reading input files: bytes on disk -> raw tables of text cells.

This is the I/O edge. Readers check the *form* of a file (encoding, delimiter, zip
structure, XML safety, TOML syntax) and hand back text cells with their line numbers;
what the cells mean is checked by :mod:`stressmodel.inputs.validation`.

Every failure is an :class:`~stressmodel.errors.InputError` naming the file.
"""

from __future__ import annotations

import csv
import io
import os
import re
import stat
import tomllib
import zipfile
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from stressmodel.errors import InputError, Problem

#: the largest input file read, bytes (a statements file is a few kB)
MAX_FILE_BYTES = 20 * 1024 * 1024
#: the largest register or price file read, bytes: these grow with the universe (10,000
#: synthetic firms: firms.csv 7 MB, prices.csv 41 MB)
MAX_UNIVERSE_FILE_BYTES = 256 * 1024 * 1024
#: xlsx guards: total uncompressed size, per-part size and compression ratio
MAX_XLSX_UNCOMPRESSED = 50 * 1024 * 1024
MAX_XLSX_PART = 20 * 1024 * 1024
MAX_XLSX_RATIO = 200
#: the ratio limit applies to parts larger than this (small parts cannot be bombs)
MAX_XLSX_RATIO_FLOOR = 1024 * 1024
MAX_XLSX_PARTS = 500
#: the first sheet of a statements workbook: at most this many rows and columns are read
MAX_XLSX_ROWS = 20_000
MAX_XLSX_COLUMNS = 50
#: relationship types that make a workbook depend on other files or data connections
_EXTERNAL_RELATIONSHIPS = (
    b"/externallink",
    b"/externallinkpath",
    b"/connections",
    b"/querytable",
    b"/oleobject",
)
#: errors the zip and deflate layers raise for a corrupt archive
_ZIP_ERRORS = (
    zipfile.BadZipFile,
    zipfile.LargeZipFile,
    zlib.error,
    EOFError,
    OSError,
    RuntimeError,
    NotImplementedError,
    ValueError,
    KeyError,
)


@dataclass(frozen=True)
class RawTable:
    """A table of text cells. ``lines[i]`` is the file line number of ``rows[i]`` (the
    header is line 1 in a CSV, row 1 in a sheet)."""

    file: str
    header: tuple[str, ...]
    rows: tuple[tuple[str, ...], ...]
    lines: tuple[int, ...]
    #: rows that could not be read (a stray comma, an unclosed quote): one problem each;
    #: the other rows are in ``rows``. ``unread`` names the lines the checks never saw.
    problems: tuple[Problem, ...] = ()
    unread: tuple[int, ...] = ()

    @property
    def incomplete(self) -> str | None:
        """Why some rows are missing (``"firms.csv row 5 unreadable"``), or None."""
        if not self.unread:
            return None
        short = self.file.rsplit("/", 1)[-1]
        rows = ", ".join(str(n) for n in self.unread[:3]) + (" ..." if len(self.unread) > 3 else "")
        return f"{short} row{'s' if len(self.unread) > 1 else ''} {rows} unreadable"

    def records(self) -> list[tuple[int, dict[str, str]]]:
        out = []
        for line, row in zip(self.lines, self.rows, strict=True):
            out.append((line, dict(zip(self.header, row, strict=False))))
        return out


def printable(text: str) -> str:
    """Text safe for a one-line message: every non-printable character escaped (``\\x0c``,
    ``\\u202e``); letters of any script are kept."""
    if text.isprintable():  # the common case: nothing to escape (10,000 file names a load)
        return text
    return "".join(c if c.isprintable() else repr(c)[1:-1] for c in text)


def shown(value: object, limit: int = 80) -> str:
    """A value as a message shows it: its repr (escaped), cut short when long."""
    r = repr(value)
    return r if len(r) <= limit else f"{r[:limit]}... ({len(r)} characters)"


def type_name(value: object) -> str:
    """What a TOML value is, in words: text, true/false, a whole number, a decimal number,
    an array, a table, a date."""
    if isinstance(value, bool):
        return "true/false"
    if isinstance(value, str):
        return "text"
    if isinstance(value, int):
        return "a whole number"
    if isinstance(value, float):
        return "a decimal number"
    if isinstance(value, list):
        return "an array"
    if isinstance(value, dict):
        return "a table"
    if hasattr(value, "isoformat"):
        return "a date or time"
    return type(value).__name__


def shown_typed(value: object) -> str:
    """A value of the wrong type as a message shows it: ``'0.15' (text)``."""
    return f"{shown(value)} ({type_name(value)})"


class TomlDoc(dict[str, Any]):
    """A parsed TOML document that also knows the line of each key (``"a.b"`` -> 12), so
    that messages can name the line; found by :func:`toml_key_lines`."""

    lines: dict[str, int]


_TOML_HEADER_RE = re.compile(r"^\s*\[(?!\[)\s*([^\]]+?)\s*\]\s*(?:#.*)?$")
_TOML_KEY_RE = re.compile(r"""^\s*([A-Za-z0-9_."' -]+?)\s*=""")


def toml_key_lines(text: str) -> dict[str, int]:
    """The line (1-based) of every ``key = value`` and ``[table]`` in a TOML text, by
    dotted path; best effort (keys inside multi-line strings or arrays of tables are not
    followed), for messages only."""
    lines: dict[str, int] = {}
    table = ""
    in_multiline = False
    for n, line in enumerate(text.splitlines(), start=1):
        if line.count('"""') % 2 == 1 or line.count("'''") % 2 == 1:
            in_multiline = not in_multiline
            if not in_multiline:
                continue
        if in_multiline and not _TOML_KEY_RE.match(line):
            continue
        m = _TOML_HEADER_RE.match(line)
        if m:
            table = ".".join(part.strip().strip('"').strip("'") for part in m.group(1).split("."))
            lines.setdefault(table, n)
            continue
        m = _TOML_KEY_RE.match(line)
        if m:
            key = ".".join(part.strip().strip('"').strip("'") for part in m.group(1).split("."))
            lines.setdefault(f"{table}.{key}" if table else key, n)
    return lines


def _column(name: str) -> str:
    return name if name and name.isprintable() and name.strip() == name else repr(name)


def display_name(path: Path, root: Path | None = None) -> str:
    """Path shown in messages: relative to the inputs folder when possible."""
    if root is not None:
        try:
            return str(path.relative_to(root.parent))
        except ValueError:
            pass
    return str(path)


def _read_bytes(path: Path, name: str, limit: int = MAX_FILE_BYTES) -> bytes:
    """The bytes of a regular file of at most ``limit`` bytes. A folder, device, pipe or
    socket is refused before it is opened (reading /dev/zero or a FIFO would never end)."""
    try:
        st = os.stat(path)
    except (OSError, ValueError) as exc:
        raise InputError(Problem(name, None, None, "a readable file", _os_reason(exc))) from None
    if not stat.S_ISREG(st.st_mode):
        found = "a folder" if stat.S_ISDIR(st.st_mode) else "a device, pipe or socket"
        raise InputError(Problem(name, None, None, "a regular file", found))
    if st.st_size > limit:
        raise InputError(
            Problem(name, None, None, f"a file of at most {limit} bytes", f"{st.st_size} bytes")
        )
    try:
        with open(path, "rb") as fh:
            data = fh.read(st.st_size + 1)
    except OSError as exc:
        raise InputError(Problem(name, None, None, "a readable file", _os_reason(exc))) from None
    if len(data) > st.st_size:
        raise InputError(
            Problem(
                name, None, None, "a file that does not change while it is read", "a file that grew"
            )
        )
    return data


def _os_reason(exc: BaseException) -> str:
    return getattr(exc, "strerror", None) or str(exc)


def decode_text(data: bytes, name: str) -> str:
    """Strict UTF-8 without a byte-order mark, no NUL bytes."""
    if data.startswith(b"\xef\xbb\xbf"):
        raise InputError(
            Problem(
                name,
                None,
                None,
                "plain UTF-8 text without a byte-order mark (save as 'CSV UTF-8' without BOM)",
                "a UTF-8 byte-order mark at the start of the file",
            )
        )
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):
        raise InputError(Problem(name, None, None, "UTF-8 text", "UTF-16 text (byte-order mark)"))
    if b"\x00" in data:
        raise InputError(Problem(name, None, None, "text", "NUL bytes (a binary file?)"))
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        raise InputError(
            Problem(
                name, line, None, "UTF-8 text", f"a byte that is not UTF-8 at offset {exc.start}"
            )
        ) from None


#: the first line of a text as ``str.splitlines`` ends it
_FIRST_LINE_RE = re.compile("[^\n\r\x0b\x0c\x1c\x1d\x1e\x85\u2028\u2029]*")


def read_csv(
    path: Path, name: str, expected: tuple[str, ...], max_bytes: int = MAX_FILE_BYTES
) -> RawTable:
    """Read a comma-separated file of at most ``max_bytes`` whose header must be exactly
    ``expected``."""
    text = decode_text(_read_bytes(path, name, max_bytes), name)
    return _parse_csv(text, name, expected)


def _csv_header(text: str, name: str, expected: tuple[str, ...]) -> tuple[list[str], Any]:
    """The stripped header of a CSV text and the reader positioned after it; raises the
    problems of an empty file, another delimiter, an unreadable or wrong header."""
    if not text.strip():
        raise InputError(
            Problem(name, None, None, "a header row " + ",".join(expected), "an empty file")
        )
    first = _FIRST_LINE_RE.match(text).group()  # type: ignore[union-attr]  # = text.splitlines()[0]
    if "," not in first:
        for delim, label in ((";", "semicolons"), ("\t", "tabs"), ("|", "pipes")):
            if delim in first:
                raise InputError(
                    Problem(
                        name, 1, None, "comma-separated columns", f"columns separated by {label}"
                    )
                )
    reader = csv.reader(io.StringIO(text, newline=""), strict=True)
    try:
        header = next(reader)
    except csv.Error as exc:
        raise InputError(Problem(name, 1, None, "a valid CSV header", str(exc))) from None
    header = [h.strip() for h in header]
    problems = header_problems(name, tuple(header), expected)
    if problems:
        raise InputError(problems)
    return header, reader


def _parse_csv(text: str, name: str, expected: tuple[str, ...]) -> RawTable:
    """The table of a decoded CSV text (see :func:`read_csv`)."""
    header, reader = _csv_header(text, name, expected)
    fast = _simple_rows(reader, len(header))
    if fast is not None:
        rows_fast, lines_fast = fast
        return RawTable(name, tuple(header), tuple(rows_fast), tuple(lines_fast))
    reader = csv.reader(io.StringIO(text, newline=""), strict=True)
    next(reader)
    rows: list[tuple[str, ...]] = []
    lines: list[int] = []
    bad: list[Problem] = []
    unread: list[int] = []
    start = reader.line_num + 1
    try:
        for row in reader:
            line = start
            start = reader.line_num + 1
            if not row or all(not c.strip() for c in row):
                continue
            if len(row) != len(header):
                # this row alone: the rows after it are still read and checked
                bad.append(
                    Problem(
                        name,
                        line,
                        None,
                        f"{len(header)} fields",
                        f"{len(row)} fields (a stray comma or missing quotes?)",
                    )
                )
                unread.append(line)
                continue
            rows.append(tuple(c.strip() for c in row))
            lines.append(line)
    except csv.Error as exc:
        # the CSV cannot be followed past this record: name the field where it broke
        lines_of_text = text.splitlines()
        index, spans = _broken_field("\n".join(lines_of_text[start - 1 :]))
        field = header[index] if index is not None and index < len(header) else None
        last = len(lines_of_text)
        rest = f"; rows {start}-{last} not read" if last > start else ""
        why = str(exc)
        if spans or "unexpected end of data" in why:
            why = "a quote that is not closed on its row"
        elif "expected after" in why:
            why = "text after a closing quote (an unbalanced quote?)"
        bad.append(
            Problem(
                name,
                start,
                field,
                "valid CSV (quotes closed, a comma after a closing quote)",
                why + rest,
            )
        )
        unread.append(start)
    return RawTable(name, tuple(header), tuple(rows), tuple(lines), tuple(bad), tuple(unread))


def _simple_rows(reader: Any, n: int) -> tuple[list[tuple[str, ...]], range | list[int]] | None:
    """The rows of a CSV body in one pass, when the body is simple: every record on one
    line and of ``n`` fields (blank lines are dropped). Cells are stripped. None when the
    body is not simple (a record over several lines, a row of the wrong length, a CSV
    error): the caller then reads it row by row, naming each problem."""
    first = reader.line_num + 1
    try:
        body = list(reader)
    except csv.Error:
        return None
    if reader.line_num != first - 1 + len(body):
        return None  # a quoted field spans lines: line numbers need the row-by-row reader
    if set(map(len, body)) - {n, 0}:
        return None
    rows = [tuple(map(str.strip, r)) for r in body]
    if all(map(any, rows)):
        return rows, range(first, first + len(rows))
    kept = [(line, r) for line, r in enumerate(rows, start=first) if r and any(r)]
    return [r for _, r in kept], [line for line, _ in kept]


def _broken_field(record: str) -> tuple[int | None, bool]:
    """The 0-based index of the field in which CSV parsing of ``record`` breaks -- the one
    whose quote never closes, or after whose closing quote something other than a comma
    follows -- and whether that quoted field ran past the end of its line."""
    index, i, n = 0, 0, len(record)
    at_start = True
    while i < n:
        c = record[i]
        if at_start and c == '"':
            j = i + 1
            while True:
                k = record.find('"', j)
                if k < 0:
                    return index, True  # never closed
                if k + 1 < n and record[k + 1] == '"':
                    j = k + 2
                    continue
                break
            spans = "\n" in record[i:k]
            i = k + 1
            if spans or (i < n and record[i] not in ",\r\n"):
                return index, spans
            at_start = False
            continue
        if c == ",":
            index += 1
            at_start = True
        elif c == "\n":
            return None, False
        else:
            at_start = False
        i += 1
    return None, False


def header_problems(name: str, header: tuple[str, ...], expected: tuple[str, ...]) -> list[Problem]:
    problems = []
    missing = [c for c in expected if c not in header]
    extra = [_column(c) for c in header if c not in expected]
    dups = sorted({_column(c) for c in header if header.count(c) > 1})
    if missing:
        problems.append(
            Problem(
                name, 1, None, "columns " + ", ".join(expected), "missing " + ", ".join(missing)
            )
        )
    if extra:
        problems.append(
            Problem(
                name,
                1,
                None,
                "only the columns " + ", ".join(expected),
                "unexpected " + ", ".join(extra),
            )
        )
    if dups:
        problems.append(Problem(name, 1, None, "each column once", "repeated " + ", ".join(dups)))
    return problems


# --- xlsx ---------------------------------------------------------------------------------


def check_xlsx_container(data: bytes, name: str) -> None:
    """Reject files that are not a safe xlsx package before any XML is parsed.

    Checks, in this order, reading no compressed data until the sizes are known to be safe:
    a zip archive (not a legacy .xls or an encrypted workbook); at most MAX_XLSX_PARTS
    parts; a workbook part; no encrypted parts and only stored or deflated parts; declared
    uncompressed sizes under MAX_XLSX_PART per part and MAX_XLSX_UNCOMPRESSED in total, and
    compression ratios under MAX_XLSX_RATIO for parts above MAX_XLSX_RATIO_FLOOR (zip
    bombs); then, decompressing with a hard cap: every part intact (CRC), no external links
    or data connections, XML parts in UTF-8, and no DTD or entity declarations in any part
    (billion laughs, external entities).
    """
    if data.startswith(b"\xd0\xcf\x11\xe0"):
        raise InputError(
            Problem(
                name,
                None,
                None,
                "an .xlsx workbook (a zip package)",
                "a legacy .xls or password-protected workbook; save it as a plain .xlsx",
            )
        )
    try:
        zf = zipfile.ZipFile(io.BytesIO(data))
    except _ZIP_ERRORS:
        raise InputError(
            Problem(name, None, None, "an .xlsx workbook (a zip package)", "not a zip file")
        ) from None
    with zf:
        infos = zf.infolist()
        names = {i.filename for i in infos}
        if len(infos) > MAX_XLSX_PARTS:
            raise InputError(
                Problem(name, None, None, f"at most {MAX_XLSX_PARTS} parts", f"{len(infos)} parts")
            )
        if "xl/workbook.xml" not in names or "[Content_Types].xml" not in names:
            raise InputError(
                Problem(
                    name,
                    None,
                    None,
                    "an .xlsx workbook",
                    "a zip file without a workbook (xl/workbook.xml)",
                )
            )
        total = 0
        for info in infos:
            if info.flag_bits & 0x1:
                raise InputError(
                    Problem(
                        name,
                        None,
                        None,
                        "an unencrypted workbook",
                        f"an encrypted part {info.filename}",
                    )
                )
            if info.compress_type not in (zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED):
                raise InputError(
                    Problem(
                        name,
                        None,
                        None,
                        "parts stored or deflated (as Excel writes them)",
                        f"part {info.filename} compressed with method {info.compress_type}",
                    )
                )
            total += info.file_size
            ratio = info.file_size / max(info.compress_size, 1)
            if info.file_size > MAX_XLSX_PART or (
                info.file_size > MAX_XLSX_RATIO_FLOOR and ratio > MAX_XLSX_RATIO
            ):
                raise InputError(
                    Problem(
                        name,
                        None,
                        None,
                        f"parts of at most {MAX_XLSX_PART} bytes uncompressed and compression ratio at most {MAX_XLSX_RATIO}",
                        f"part {info.filename} of {info.file_size} bytes (ratio {ratio:.0f}): a zip bomb?",
                    )
                )
        if total > MAX_XLSX_UNCOMPRESSED:
            raise InputError(
                Problem(
                    name,
                    None,
                    None,
                    f"at most {MAX_XLSX_UNCOMPRESSED} bytes uncompressed",
                    f"{total} bytes: a zip bomb?",
                )
            )
        if any("externallink" in n.lower() or n.lower().endswith("connections.xml") for n in names):
            raise InputError(
                Problem(
                    name,
                    None,
                    None,
                    "a self-contained workbook",
                    "external links or data connections",
                )
            )
        for info in infos:
            if info.is_dir():
                continue
            try:
                with zf.open(info) as fh:
                    part = fh.read(MAX_XLSX_PART + 1)
            except _ZIP_ERRORS as exc:
                raise InputError(
                    Problem(
                        name,
                        None,
                        None,
                        "an intact .xlsx workbook",
                        f"a corrupt part {info.filename} ({exc})",
                    )
                ) from None
            if len(part) > MAX_XLSX_PART:  # pragma: no cover - zipfile stops at the declared size
                raise InputError(
                    Problem(
                        name,
                        None,
                        None,
                        f"parts of at most {MAX_XLSX_PART} bytes",
                        f"a larger part {info.filename}",
                    )
                )
            _check_xml_part(part, info.filename, name)


def _check_xml_part(part: bytes, part_name: str, name: str) -> None:
    head = part[:256].lstrip()
    if head.startswith((b"\xff\xfe", b"\xfe\xff", b"\x00\x00\xfe\xff")) or (
        head.startswith(b"<") and b"\x00" in head
    ):
        raise InputError(
            Problem(name, None, None, "XML parts in UTF-8", f"UTF-16 or UTF-32 XML in {part_name}")
        )
    m = (
        re.search(rb"""encoding\s*=\s*["']([A-Za-z0-9._-]+)["']""", head[:200])
        if head.startswith(b"<?xml")
        else None
    )
    if m and m.group(1).lower() not in (b"utf-8", b"utf8"):
        raise InputError(
            Problem(
                name,
                None,
                None,
                "XML parts in UTF-8",
                f"{m.group(1).decode('ascii')} XML in {part_name}",
            )
        )
    upper = part.upper()
    if b"<!DOCTYPE" in upper or b"<!ENTITY" in upper:
        raise InputError(
            Problem(
                name,
                None,
                None,
                "XML without DTD or entity declarations",
                f"a DTD/entity declaration in {part_name} (an XML attack?)",
            )
        )
    if part_name.endswith(".rels"):
        lower = part.lower()
        if any(rel + b'"' in lower or rel + b"'" in lower for rel in _EXTERNAL_RELATIONSHIPS):
            raise InputError(
                Problem(
                    name,
                    None,
                    None,
                    "a self-contained workbook",
                    f"a relationship to external links, data connections or embedded objects in {part_name}",
                )
            )


def read_xlsx(path: Path, name: str, expected: tuple[str, ...]) -> RawTable:
    """Read the first sheet of an .xlsx file as a table of text cells.

    Cells must hold plain values: a formula in a cell is rejected (an input file should
    carry figures, not computations that could differ between spreadsheet programs), and
    so is a text cell that starts with ``=``. At most MAX_XLSX_ROWS rows and
    MAX_XLSX_COLUMNS columns are read, whatever dimension the sheet declares.
    """
    import openpyxl  # I/O dependency, imported at the edge
    from openpyxl.xml import DEFUSEDXML

    if not DEFUSEDXML:  # pragma: no cover - defusedxml is a dependency
        raise InputError(
            Problem(name, None, None, "defusedxml installed", "openpyxl without defusedxml")
        )
    data = _read_bytes(path, name)
    check_xlsx_container(data, name)
    long_texts = _long_texts(data)
    grid: list[tuple[int, list[Any]]] = []
    try:
        wb = openpyxl.load_workbook(
            io.BytesIO(data), read_only=True, data_only=False, keep_links=False
        )
    except Exception as exc:  # openpyxl raises many types for corrupt packages
        raise InputError(
            Problem(name, None, None, "a readable .xlsx workbook", _exc_text(exc))
        ) from None
    try:
        sheets = wb.worksheets
        if not sheets or not hasattr(sheets[0], "iter_rows"):
            raise InputError(
                Problem(name, None, None, "a worksheet as the first sheet", "no worksheet")
            )
        ws = sheets[0]
        for declared, limit, what in (
            (ws.max_column, MAX_XLSX_COLUMNS, "columns wide"),
            (ws.max_row, MAX_XLSX_ROWS, "rows long"),
        ):
            if isinstance(declared, int) and declared > limit:
                raise InputError(
                    Problem(
                        name,
                        None,
                        None,
                        f"a sheet at most {limit} {what}",
                        f"{declared} {what.split()[0]}",
                    )
                )
        # read what is there, not what the sheet declares (a declared range may lie): every
        # row element is visited, at most MAX_XLSX_COLUMNS + 1 cells of it
        if hasattr(ws, "reset_dimensions"):
            ws.reset_dimensions()
        rows = ws.iter_rows(min_row=1, max_col=MAX_XLSX_COLUMNS + 1, values_only=False)
        for r_idx, row in enumerate(rows, start=1):
            if r_idx > MAX_XLSX_ROWS:
                raise InputError(
                    Problem(
                        name, None, None, f"a sheet at most {MAX_XLSX_ROWS} rows long", "more rows"
                    )
                )
            cells = []
            for cell in row:
                v = getattr(cell, "value", None)
                if isinstance(v, str) and len(v) == EXCEL_MAX_TEXT and v in long_texts:
                    v = long_texts[v]  # openpyxl cut it: the checks see the whole text, as in a CSV
                if getattr(cell, "data_type", None) == "f" or (
                    isinstance(v, str) and v.strip().startswith("=")
                ):
                    raise InputError(
                        Problem(
                            name,
                            r_idx,
                            getattr(cell, "coordinate", None),
                            "a plain value",
                            f"a formula {str(v)[:40]!r}",
                        )
                    )
                cells.append(v)
            if any(v not in (None, "") for v in cells):
                if len(cells) > MAX_XLSX_COLUMNS and cells[MAX_XLSX_COLUMNS] not in (None, ""):
                    raise InputError(
                        Problem(
                            name,
                            r_idx,
                            None,
                            f"a sheet at most {MAX_XLSX_COLUMNS} columns wide",
                            "more columns",
                        )
                    )
                grid.append((r_idx, cells))
    except InputError:
        raise
    except Exception as exc:  # a corrupt sheet surfaces while it is read
        raise InputError(
            Problem(name, None, None, "a readable .xlsx workbook", _exc_text(exc))
        ) from None
    finally:
        wb.close()
    if not grid:
        raise InputError(
            Problem(name, None, None, "a header row " + ",".join(expected), "an empty sheet")
        )
    _, head_cells = grid[0]
    header = tuple(_cell_text(v) for v in head_cells)
    while header and header[-1] == "":
        header = header[:-1]
    problems = header_problems(name, header, expected)
    if problems:
        raise InputError(problems)
    rows_out = []
    lines = []
    for idx, cells in grid[1:]:
        texts = [_cell_text(v) for v in cells[: len(header)]]
        texts += [""] * (len(header) - len(texts))
        extra = [v for v in cells[len(header) :] if v not in (None, "")]
        if extra:
            raise InputError(
                Problem(name, idx, None, f"{len(header)} columns", "values beyond the last column")
            )
        rows_out.append(tuple(texts))
        lines.append(idx)
    return RawTable(name, header, tuple(rows_out), tuple(lines))


#: the most characters an Excel cell holds; openpyxl cuts longer texts to this silently
EXCEL_MAX_TEXT = 32767
_TEXT_BLOCK_RE = re.compile(rb"<(si|is)>(.*?)</\1>", re.S)
_T_RE = re.compile(rb"<t(?:\s[^>]*)?>(.*?)</t>", re.S)


def _long_texts(data: bytes) -> dict[str, str]:
    """Texts of the workbook longer than Excel's cell limit, keyed by the first
    EXCEL_MAX_TEXT characters (what openpyxl hands back): shared strings and inline
    strings of the sheets, rich-text runs joined. The container was checked before."""
    from xml.sax.saxutils import unescape

    found: dict[str, str] = {}
    with zipfile.ZipFile(io.BytesIO(data)) as zf:
        for info in zf.infolist():
            n = info.filename
            if info.file_size <= EXCEL_MAX_TEXT or not (
                n == "xl/sharedStrings.xml"
                or (n.startswith("xl/worksheets/") and n.endswith(".xml"))
            ):
                continue
            part = zf.read(info)
            for m in _TEXT_BLOCK_RE.finditer(part):
                if len(m.group(2)) <= EXCEL_MAX_TEXT:
                    continue
                text = "".join(
                    unescape(t.decode("utf-8", "replace"), {"&quot;": '"', "&apos;": "'"})
                    for t in _T_RE.findall(m.group(2))
                )
                if len(text) > EXCEL_MAX_TEXT:
                    found[text[:EXCEL_MAX_TEXT]] = text
    return found


def _exc_text(exc: BaseException) -> str:
    text = printable(f"{type(exc).__name__}: {exc}")
    return text if len(text) <= 200 else text[:197] + "..."


def _cell_text(v: object) -> str:
    if v is None:
        return ""
    if isinstance(v, bool):
        return str(v)
    if isinstance(v, float):
        return repr(v)
    if hasattr(v, "isoformat"):
        return v.isoformat()[:10]  # type: ignore[union-attr]
    return str(v).strip()


# --- TOML ----------------------------------------------------------------------------------

_TOML_LINE_RE = re.compile(r"\(at line (\d+), column \d+\)")


def read_toml(path: Path, name: str) -> TomlDoc:
    text = decode_text(_read_bytes(path, name), name)
    try:
        doc = TomlDoc(tomllib.loads(text))
        doc.lines = toml_key_lines(text)
        return doc
    except tomllib.TOMLDecodeError as exc:
        line = getattr(exc, "lineno", None)
        msg = getattr(exc, "msg", None) or str(exc)
        if line is None:
            m = _TOML_LINE_RE.search(str(exc))
            line = int(m.group(1)) if m else None
            msg = _TOML_LINE_RE.sub("", msg).strip()
        raise InputError(Problem(name, line, None, "valid TOML", printable(msg))) from None
    except RecursionError:
        raise InputError(
            Problem(name, None, None, "valid TOML", "arrays or tables nested too deeply")
        ) from None
