"""Reading input files: bytes on disk -> raw tables of text cells.

This is the I/O edge. Readers check the *form* of a file (encoding, delimiter, zip
structure, XML safety, TOML syntax) and hand back text cells with their line numbers;
what the cells mean is checked by :mod:`stressmodel.validation`.

Every failure is an :class:`~stressmodel.errors.InputError` naming the file.
"""

from __future__ import annotations

import csv
import io
import tomllib
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from stressmodel.errors import InputError, Problem

#: the largest input file read, bytes (a statements file is a few kB)
MAX_FILE_BYTES = 20 * 1024 * 1024
#: xlsx guards: total uncompressed size, per-part size and compression ratio
MAX_XLSX_UNCOMPRESSED = 50 * 1024 * 1024
MAX_XLSX_PART = 20 * 1024 * 1024
MAX_XLSX_RATIO = 200
MAX_XLSX_PARTS = 500


@dataclass(frozen=True)
class RawTable:
    """A table of text cells. ``lines[i]`` is the file line number of ``rows[i]`` (the
    header is line 1 in a CSV, row 1 in a sheet)."""

    file: str
    header: tuple[str, ...]
    rows: tuple[tuple[str, ...], ...]
    lines: tuple[int, ...]

    def records(self) -> list[tuple[int, dict[str, str]]]:
        out = []
        for line, row in zip(self.lines, self.rows, strict=True):
            out.append((line, dict(zip(self.header, row, strict=False))))
        return out


def display_name(path: Path, root: Path | None = None) -> str:
    """Path shown in messages: relative to the inputs folder when possible."""
    if root is not None:
        try:
            return str(path.relative_to(root.parent))
        except ValueError:
            pass
    return str(path)


def _read_bytes(path: Path, name: str) -> bytes:
    try:
        size = path.stat().st_size
    except OSError as exc:
        raise InputError(Problem(name, None, None, "a readable file", f"{exc.strerror}")) from None
    if size > MAX_FILE_BYTES:
        raise InputError(
            Problem(name, None, None, f"a file of at most {MAX_FILE_BYTES} bytes", f"{size} bytes")
        )
    try:
        return path.read_bytes()
    except OSError as exc:
        raise InputError(Problem(name, None, None, "a readable file", f"{exc.strerror}")) from None


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
            Problem(name, line, None, "UTF-8 text", f"a byte that is not UTF-8 at offset {exc.start}")
        ) from None


def read_csv(path: Path, name: str, expected: tuple[str, ...]) -> RawTable:
    """Read a comma-separated file whose header must be exactly ``expected``."""
    text = decode_text(_read_bytes(path, name), name)
    if not text.strip():
        raise InputError(Problem(name, None, None, "a header row " + ",".join(expected), "an empty file"))
    first = text.splitlines()[0]
    if "," not in first:
        for delim, label in ((";", "semicolons"), ("\t", "tabs"), ("|", "pipes")):
            if delim in first:
                raise InputError(
                    Problem(name, 1, None, "comma-separated columns", f"columns separated by {label}")
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
    rows: list[tuple[str, ...]] = []
    lines: list[int] = []
    start = reader.line_num + 1
    try:
        for row in reader:
            line = start
            start = reader.line_num + 1
            if not row or all(not c.strip() for c in row):
                continue
            if len(row) != len(header):
                raise InputError(
                    Problem(
                        name,
                        line,
                        None,
                        f"{len(header)} fields",
                        f"{len(row)} fields (a stray comma or missing quotes?)",
                    )
                )
            rows.append(tuple(c.strip() for c in row))
            lines.append(line)
    except csv.Error as exc:
        raise InputError(Problem(name, reader.line_num, None, "valid CSV", str(exc))) from None
    return RawTable(name, tuple(header), tuple(rows), tuple(lines))


def header_problems(name: str, header: tuple[str, ...], expected: tuple[str, ...]) -> list[Problem]:
    problems = []
    missing = [c for c in expected if c not in header]
    extra = [c for c in header if c not in expected]
    dups = sorted({c for c in header if header.count(c) > 1})
    if missing:
        problems.append(Problem(name, 1, None, "columns " + ", ".join(expected), "missing " + ", ".join(missing)))
    if extra:
        problems.append(
            Problem(name, 1, None, "only the columns " + ", ".join(expected), "unexpected " + ", ".join(extra))
        )
    if dups:
        problems.append(Problem(name, 1, None, "each column once", "repeated " + ", ".join(dups)))
    return problems


# --- xlsx ---------------------------------------------------------------------------------


def check_xlsx_container(data: bytes, name: str) -> None:
    """Reject files that are not a safe xlsx package before any XML is parsed.

    Checks: a zip archive; a workbook part; no more than MAX_XLSX_PARTS parts; uncompressed
    sizes and compression ratios under the zip-bomb limits; no external links; no DTD or
    entity declarations in any XML part (billion laughs, external entities).
    """
    try:
        zf = zipfile.ZipFile(io.BytesIO(data))
    except zipfile.BadZipFile:
        raise InputError(Problem(name, None, None, "an .xlsx workbook (a zip package)", "not a zip file")) from None
    with zf:
        infos = zf.infolist()
        names = {i.filename for i in infos}
        if len(infos) > MAX_XLSX_PARTS:
            raise InputError(Problem(name, None, None, f"at most {MAX_XLSX_PARTS} parts", f"{len(infos)} parts"))
        if "xl/workbook.xml" not in names or "[Content_Types].xml" not in names:
            raise InputError(
                Problem(name, None, None, "an .xlsx workbook", "a zip file without a workbook (xl/workbook.xml)")
            )
        total = 0
        for info in infos:
            total += info.file_size
            ratio = info.file_size / max(info.compress_size, 1)
            if info.file_size > MAX_XLSX_PART or ratio > MAX_XLSX_RATIO:
                raise InputError(
                    Problem(
                        name,
                        None,
                        None,
                        f"parts under {MAX_XLSX_PART} bytes and compression ratio {MAX_XLSX_RATIO}",
                        f"part {info.filename} of {info.file_size} bytes (ratio {ratio:.0f}): a zip bomb?",
                    )
                )
        if total > MAX_XLSX_UNCOMPRESSED:
            raise InputError(
                Problem(name, None, None, f"at most {MAX_XLSX_UNCOMPRESSED} bytes uncompressed", f"{total} bytes")
            )
        if any(n.startswith("xl/externalLinks/") for n in names):
            raise InputError(Problem(name, None, None, "a self-contained workbook", "external links"))
        for info in infos:
            if not info.filename.endswith((".xml", ".rels")):
                continue
            head = zf.read(info.filename)
            upper = head.upper()
            if b"<!DOCTYPE" in upper or b"<!ENTITY" in upper:
                raise InputError(
                    Problem(
                        name,
                        None,
                        None,
                        "XML without DTD or entity declarations",
                        f"a DTD/entity declaration in {info.filename} (an XML attack?)",
                    )
                )


def read_xlsx(path: Path, name: str, expected: tuple[str, ...]) -> RawTable:
    """Read the first sheet of an .xlsx file as a table of text cells.

    Cells must hold plain values: a formula in a cell is rejected (an input file should
    carry figures, not computations that could differ between spreadsheet programs).
    """
    import openpyxl  # I/O dependency, imported at the edge
    from openpyxl.xml import DEFUSEDXML

    if not DEFUSEDXML:  # pragma: no cover - defusedxml is a dependency
        raise InputError(Problem(name, None, None, "defusedxml installed", "openpyxl without defusedxml"))
    data = _read_bytes(path, name)
    check_xlsx_container(data, name)
    try:
        wb = openpyxl.load_workbook(io.BytesIO(data), read_only=True, data_only=False)
    except Exception as exc:  # openpyxl raises many types for corrupt packages
        raise InputError(Problem(name, None, None, "a readable .xlsx workbook", f"{type(exc).__name__}: {exc}")) from None
    try:
        ws = wb.worksheets[0]
        grid: list[tuple[int, list[Any]]] = []
        for r_idx, row in enumerate(ws.iter_rows(values_only=False), start=1):
            cells = []
            for cell in row:
                v = cell.value
                if getattr(cell, "data_type", None) == "f" or (isinstance(v, str) and v.startswith("=")):
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
            grid.append((r_idx, cells))
    finally:
        wb.close()
    grid = [(i, c) for i, c in grid if any(v not in (None, "") for v in c)]
    if not grid:
        raise InputError(Problem(name, None, None, "a header row " + ",".join(expected), "an empty sheet"))
    _, head_cells = grid[0]
    header = tuple(_cell_text(v) for v in head_cells)
    while header and header[-1] == "":
        header = header[:-1]
    problems = header_problems(name, header, expected)
    if problems:
        raise InputError(problems)
    rows = []
    lines = []
    for idx, cells in grid[1:]:
        texts = [_cell_text(v) for v in cells[: len(header)]]
        texts += [""] * (len(header) - len(texts))
        extra = [v for v in cells[len(header) :] if v not in (None, "")]
        if extra:
            raise InputError(Problem(name, idx, None, f"{len(header)} columns", "values beyond the last column"))
        rows.append(tuple(texts))
        lines.append(idx)
    return RawTable(name, header, tuple(rows), tuple(lines))


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


def read_toml(path: Path, name: str) -> dict[str, Any]:
    text = decode_text(_read_bytes(path, name), name)
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        line = getattr(exc, "lineno", None)
        msg = getattr(exc, "msg", str(exc))
        raise InputError(Problem(name, line, None, "valid TOML", msg)) from None
