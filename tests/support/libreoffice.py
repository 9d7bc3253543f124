"""Recalculate xlsx workbooks with headless LibreOffice and check cached values.

XlsxWriter stores a cached result next to every formula. LibreOffice keeps
cached results on load unless told otherwise, so each conversion runs with a
throw-away user profile whose configuration forces recalculation on load
(``OOXMLRecalcMode`` / ``ODFRecalcMode`` = 0, "always recalculate").
"""

from __future__ import annotations

import datetime as dt
import math
import os
import re
import shutil
import signal
import subprocess
import tempfile
import zipfile
from pathlib import Path

import openpyxl
from openpyxl.utils.datetime import to_excel
from openpyxl.worksheet.formula import ArrayFormula

__all__ = [
    "ERROR_VALUES",
    "RecalculationError",
    "cell_values",
    "compare_recalculated",
    "corrupt_cached_values",
    "formula_cells",
    "is_error_value",
    "recalculate",
    "recalculate_many",
    "soffice_path",
]

CellKey = tuple[str, str]

ERROR_VALUES = frozenset(
    {"#NULL!", "#DIV/0!", "#VALUE!", "#REF!", "#NAME?", "#NUM!", "#N/A"}
    | {"#GETTING_DATA", "#SPILL!", "#CALC!"}
)
_LO_ERROR = re.compile(r"Err:\d+")

_XLSX_FILTER = "xlsx:Calc MS Excel 2007 XML"
_REGISTRY = """<?xml version="1.0" encoding="UTF-8"?>
<oor:items xmlns:oor="http://openoffice.org/2001/registry" \
xmlns:xs="http://www.w3.org/2001/XMLSchema" \
xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance">
<item oor:path="/org.openoffice.Office.Calc/Formula/Load">\
<prop oor:name="OOXMLRecalcMode" oor:op="fuse"><value>0</value></prop></item>
<item oor:path="/org.openoffice.Office.Calc/Formula/Load">\
<prop oor:name="ODFRecalcMode" oor:op="fuse"><value>0</value></prop></item>
</oor:items>
"""
_CANDIDATES = (
    "/usr/lib/libreoffice/program/soffice",
    "/opt/libreoffice/program/soffice",
    "/Applications/LibreOffice.app/Contents/MacOS/soffice",
)


class RecalculationError(RuntimeError):
    """LibreOffice failed, timed out or produced no output."""


def soffice_path() -> str | None:
    """Return the LibreOffice executable ($SOFFICE, PATH, usual places) or None."""
    env = os.environ.get("SOFFICE")
    if env and shutil.which(env):
        return shutil.which(env)
    for name in ("soffice", "libreoffice"):
        if found := shutil.which(name):
            return found
    return next((c for c in _CANDIDATES if os.access(c, os.X_OK)), None)


def recalculate(src: Path, out_dir: Path, timeout: float = 120) -> Path:
    """Recalculate one workbook; return the path of the recalculated copy."""
    return recalculate_many([src], out_dir, timeout)[0]


def recalculate_many(srcs: list[Path], out_dir: Path, timeout: float = 120) -> list[Path]:
    """Recalculate several workbooks with a single LibreOffice start.

    Each copy is written as ``out_dir / src.name``. Every call uses its own
    fresh profile (hence its own LibreOffice instance), so concurrent calls
    do not interfere.
    """
    srcs = [Path(s).resolve() for s in srcs]
    out_dir = Path(out_dir).resolve()
    if not srcs:
        return []
    names = [s.name for s in srcs]
    if len(set(names)) != len(names):
        raise ValueError(f"duplicate file names would collide in {out_dir}: {names}")
    for s in srcs:
        if not s.is_file():
            raise FileNotFoundError(s)
        if s.parent == out_dir:
            raise ValueError(f"out_dir must differ from the directory of {s}")
    exe = soffice_path()
    if exe is None:
        raise RecalculationError("LibreOffice (soffice) not found")
    out_dir.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="lo-recalc-") as tmp:
        profile, conv = Path(tmp, "profile"), Path(tmp, "out")
        (profile / "user").mkdir(parents=True)
        (profile / "user" / "registrymodifications.xcu").write_text(_REGISTRY)
        cmd = [
            exe,
            f"-env:UserInstallation={profile.as_uri()}",
            "--headless",
            "--norestore",
            "--nolockcheck",
            "--nodefault",
            "--convert-to",
            _XLSX_FILTER,
            "--outdir",
            str(conv),
            *map(str, srcs),
        ]
        rc, out, err = _run(cmd, timeout)
        missing = [n for n in names if not (conv / n).is_file()]
        if rc != 0 or missing:
            raise RecalculationError(
                f"LibreOffice conversion failed (exit code {rc}); missing outputs: "
                f"{missing}\ncommand: {cmd}\nstdout:\n{out}\nstderr:\n{err}"
            )
        results = [out_dir / n for n in names]
        for n, dst in zip(names, results, strict=True):
            shutil.move(conv / n, dst)
    return results


def _run(cmd: list[str], timeout: float) -> tuple[int, str, str]:
    # A new session lets a timeout kill oosplash *and* soffice.bin together.
    with subprocess.Popen(
        cmd,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        stdin=subprocess.DEVNULL,
        text=True,
        start_new_session=True,
    ) as proc:
        try:
            out, err = proc.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            out, err = proc.communicate()
            raise RecalculationError(
                f"LibreOffice timed out after {timeout} s\ncommand: {cmd}\n"
                f"stdout:\n{out}\nstderr:\n{err}"
            ) from None
        return proc.returncode, out, err


def formula_cells(path: Path) -> dict[CellKey, str]:
    """(sheet, coordinate) -> formula text for every formula cell."""
    wb = openpyxl.load_workbook(path, data_only=False)
    try:
        found: dict[CellKey, str] = {}
        for ws in wb.worksheets:
            for row in ws.iter_rows():
                for cell in row:
                    value = cell.value
                    if isinstance(value, ArrayFormula):
                        value = value.text
                    if isinstance(value, str) and value.startswith("="):
                        found[(ws.title, cell.coordinate)] = value
        return found
    finally:
        wb.close()


def cell_values(path: Path) -> dict[CellKey, object]:
    """(sheet, coordinate) -> cached value for every non-empty cell."""
    wb = openpyxl.load_workbook(path, data_only=True)
    try:
        return {
            (ws.title, cell.coordinate): cell.value
            for ws in wb.worksheets
            for row in ws.iter_rows()
            for cell in row
            if cell.value is not None
        }
    finally:
        wb.close()


def is_error_value(value: object) -> bool:
    """True for spreadsheet error values (#DIV/0!, #N/A, ..., Err:502)."""
    return isinstance(value, str) and (
        value in ERROR_VALUES or _LO_ERROR.fullmatch(value) is not None
    )


def _normalise(value: object) -> object:
    if isinstance(value, (dt.datetime, dt.date, dt.time, dt.timedelta)):
        return to_excel(value)  # LibreOffice may add a date format, e.g. DATE()
    return "" if value is None else value  # openpyxl reads "" results as None


def _same(a: object, b: object, rel_tol: float, abs_tol: float) -> bool:
    a, b = _normalise(a), _normalise(b)
    if isinstance(a, bool) or isinstance(b, bool):
        return type(a) is type(b) and a == b
    if isinstance(a, (int, float)) and isinstance(b, (int, float)):
        return math.isclose(a, b, rel_tol=rel_tol, abs_tol=abs_tol)
    return type(a) is type(b) and a == b


def compare_recalculated(
    original: Path, recalculated: Path, rel_tol: float = 1e-9, abs_tol: float = 1e-9
) -> list[str]:
    """Describe every formula cell whose cached value changed on recalculation,
    and every error value anywhere in the recalculated workbook."""
    formulas = formula_cells(original)
    cached, fresh = cell_values(original), cell_values(recalculated)
    problems = [
        f"{sheet}!{coord} {formula}: cached {cached.get((sheet, coord))!r}, "
        f"recalculated {fresh.get((sheet, coord))!r}"
        for (sheet, coord), formula in formulas.items()
        if not _same(cached.get((sheet, coord)), fresh.get((sheet, coord)), rel_tol, abs_tol)
    ]
    problems += [
        f"{sheet}!{coord} {formulas.get((sheet, coord), '(constant)')}: "
        f"error value {value} in recalculated workbook"
        for (sheet, coord), value in fresh.items()
        if is_error_value(value)
    ]
    return problems


_CELL = re.compile(rb"<c\b([^>]*?)(?<!/)>(.*?)</c>", re.S)
_TYPE = re.compile(rb'\bt="([^"]*)"')
_VALUE = re.compile(rb"<v>([^<]*)</v>")
_SHEET = re.compile(r"xl/worksheets/[^/]+\.xml")


def corrupt_cached_values(src: Path, dst: Path, factor: float = 1.5) -> int:
    """Copy ``src`` to ``dst`` with every cached numeric formula result changed
    (x -> x * factor, 0 -> 1); formulas stay intact. Return the cell count."""
    changed = 0

    def corrupt_cell(m: re.Match[bytes]) -> bytes:
        nonlocal changed
        attrs, body = m.group(1), m.group(2)
        kind = _TYPE.search(attrs)
        v = _VALUE.search(body)
        if b"<f" not in body or v is None or (kind and kind.group(1) != b"n"):
            return m.group(0)
        old = float(v.group(1))
        new = old * factor if old else 1.0
        if new == old:
            return m.group(0)
        changed += 1
        body = body[: v.start(1)] + f"{new:.17g}".encode() + body[v.end(1) :]
        return b"<c" + attrs + b">" + body + b"</c>"

    with zipfile.ZipFile(src) as zin, zipfile.ZipFile(dst, "w") as zout:
        for info in zin.infolist():
            data = zin.read(info)
            if _SHEET.fullmatch(info.filename):
                data = _CELL.sub(corrupt_cell, data)
            zout.writestr(info, data)
    return changed
