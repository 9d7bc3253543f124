"""Writing a :class:`~stressmodel.report.spec.WorkbookSpec` to an ``.xlsx`` file (the only
module of the report that does I/O).

XlsxWriter with ``strings_to_formulas``, ``strings_to_urls`` and ``strings_to_numbers``
off, and only typed writes (``write_string``, ``write_number``, ``write_formula``,
``write_boolean``): text is never interpreted. The file is built in memory with fixed zip
timestamps and fixed document properties, so the same spec gives the same bytes.

Cells go through :class:`FastWorksheet`, XlsxWriter's worksheet with a bulk store of a
sheet's cells (one dimension update, formula preparation memoised by formula text — the
scenario sheets of every firm share their formula text) and a shorter writer of the
``<c>`` elements of the four cell kinds a spec holds. It writes the same XML as the
stock worksheet, byte for byte (tests/test_writer.py compares the two on the shipped
workbooks); anything else (a long string, a formula XlsxWriter must rewrite) goes
through XlsxWriter's own methods. :data:`FAST_CELLS` off uses the stock class and its
per-cell ``write_*`` calls.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import xlsxwriter  # type: ignore[import-untyped]
from xlsxwriter.exceptions import XlsxWriterException  # type: ignore[import-untyped]
from xlsxwriter.utility import xl_col_to_name  # type: ignore[import-untyped]
from xlsxwriter.worksheet import (  # type: ignore[import-untyped]
    CellBooleanTuple,
    CellFormulaTuple,
    CellNumberTuple,
    CellStringTuple,
    Worksheet,
    re_dynamic_function,
)
from xlsxwriter.xmlwriter import xml_escapes  # type: ignore[import-untyped]

from stressmodel.errors import (
    ENVIRONMENT_ERRNOS,
    ExcelLimitError,
    OutputEnvironmentError,
    ReportError,
)
from stressmodel.report.spec import (
    COVER_CAP,
    EXCEL_MAX_COLUMNS,
    EXCEL_MAX_ROWS,
    Cell,
    ChartSpec,
    Series,
    SheetSpec,
    WorkbookSpec,
    cap_series,
    style_properties,
)

WORKBOOK_OPTIONS: dict[str, Any] = {
    "strings_to_formulas": False,
    "strings_to_urls": False,
    "strings_to_numbers": False,
    "in_memory": True,
}
A4 = 9
#: functions the layout uses; none needs XlsxWriter's "_xlfn." prefix expansion
PLAIN_FUNCTIONS = frozenset({"MAX", "MIN", "IF", "SUM", "LN", "EXP", "ABS", "SUMPRODUCT"})
_FUNCTION_CALL = re.compile(r"([A-Za-z_][A-Za-z0-9_.]*)\(")


def _fast_prepare(original: Any) -> Any:
    """XlsxWriter runs some 30 regular-expression substitutions on every formula to add
    the ``_xlfn.`` prefix of newer Excel functions; our formulas call only
    :data:`PLAIN_FUNCTIONS`, for which that expansion is the identity. Formulas calling
    anything else go through XlsxWriter's own code."""

    def prepare(formula: str, expand_future_functions: bool = False) -> str:
        if all(f in PLAIN_FUNCTIONS for f in _FUNCTION_CALL.findall(formula)):
            return formula[1:] if formula.startswith("=") else formula
        return original(formula, expand_future_functions)

    return prepare


#: write cells through FastWorksheet (False: XlsxWriter's stock worksheet, one call per cell)
FAST_CELLS = True
#: formula text -> the text XlsxWriter stores for it (its ``_prepare_formula``), shared by
#: every worksheet of the process: the scenario sheets of all firms have the same formulas
_PREPARED: dict[str, str] = {}
_PREPARED_MAX = 500_000


#: formula text -> its XML text (XlsxWriter's ``_escape_data``), shared like _PREPARED
_ESCAPED: dict[str, str] = {}


def _escape_formula(formula: str) -> str:
    text = formula
    if xml_escapes.search(text):
        text = text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    if len(_ESCAPED) >= _PREPARED_MAX:
        _ESCAPED.clear()
    _ESCAPED[formula] = text
    return text


class FastWorksheet(Worksheet):  # type: ignore[misc]
    """XlsxWriter's worksheet with :meth:`store_cells` (a sheet's cells in one call) and a
    shorter ``_write_cell`` for formatted number, shared-string, formula (float result)
    and boolean cells; other cells go to the stock method. Same XML, byte for byte."""

    def store_cells(self, cells: list[tuple[tuple[int, int], Cell]], fmt: Any) -> None:
        """Store ``cells`` ((row, col) -> Cell, in row-major order: shared strings are
        numbered in the order they are stored, as ``write_string`` numbers them).
        ``fmt(style)`` gives the Format of a style."""
        if not cells:
            return
        first_row, last_row = cells[0][0][0], cells[-1][0][0]
        cols = [c for (_r, c), _cell in cells]
        for row, col in ((first_row, min(cols)), (last_row, max(cols))):
            if self._check_dimensions(row, col):
                raise ReportError(f"cell ({row}, {col}) is outside the worksheet")
        table = self.table
        index = self.str_table._get_shared_string_index
        long_string = self.xls_strmax // 2
        prepared = _PREPARED
        formats: dict[str, Any] = {}
        new = tuple.__new__  # what the cell namedtuples' __new__ calls, without its frame
        for (row, col), cell in cells:
            style = cell.style
            f = formats.get(style)
            if f is None:
                f = formats[style] = fmt(style)
            kind = cell.kind
            value = cell.value
            if kind == "string":
                if len(value) > long_string:
                    self._write_string(row, col, value, f)
                else:
                    table[row][col] = new(CellStringTuple, (index(value), f))
            elif kind == "formula":
                text = prepared.get(cell.formula)
                if text is None:
                    text = self._prepared(cell.formula)
                if text is None:
                    self._write_formula(row, col, cell.formula, f, value)
                else:
                    table[row][col] = new(CellFormulaTuple, (text, f, value))
            elif kind == "number":
                if value.__class__ is float and value - value == 0.0:  # finite float
                    table[row][col] = new(CellNumberTuple, (value, f))
                else:
                    self._write_number(row, col, value, f)
            elif kind == "bool":
                table[row][col] = new(CellBooleanTuple, (1 if value else 0, f))
            else:  # pragma: no cover - closed vocabulary
                raise ReportError(f"unknown cell kind {cell.kind!r}")

    def _prepared(self, formula: str) -> str | None:
        """What ``_write_formula`` stores for ``formula``, memoised; None when it needs
        the dynamic-array or array-formula path of ``_write_formula`` itself."""
        if not formula or re_dynamic_function.search(formula):
            return None
        if formula.startswith("{") and formula.endswith("}"):
            return None
        text: str = self._prepare_formula(formula)
        if len(_PREPARED) >= _PREPARED_MAX:
            _PREPARED.clear()
        _PREPARED[formula] = text
        return text

    def _calculate_spans(self) -> None:
        """The stock method's ``spans`` of each block of 16 rows, from the columns a row
        holds rather than by probing every column of the sheet's width."""
        if self.comments:
            super()._calculate_spans()
            return
        spans: dict[int, str] = {}
        table = self.table
        lo: int | None = None
        hi = 0
        last = self.dim_rowmax
        for row_num in range(self.dim_rowmin, last + 1):
            cells = table.get(row_num)
            if cells:
                a, b = min(cells), max(cells)
                if lo is None:
                    lo, hi = a, b
                else:
                    lo, hi = min(lo, a), max(hi, b)
            if lo is not None and ((row_num + 1) % 16 == 0 or row_num == last):
                spans[row_num // 16] = f"{lo + 1}:{hi + 1}"
                lo = None
        self.row_spans = spans

    def _write_rows(self) -> None:
        """The stock method's ``<row>`` elements, each row's cells written in one string:
        formatted number, shared-string, formula (float result) and boolean cells as the
        stock ``_write_cell`` writes them; any other cell, and sheets with comments, go
        through the stock code."""
        if self.comments or self.constant_memory:
            super()._write_rows()
            return
        self._calculate_spans()
        table, row_info, spans = self.table, self.row_info, self.row_spans
        write = self.fh.write
        columns = _COLUMNS
        escaped = _ESCAPED
        # a <row> without row_info has only r and spans (no height, format or outline)
        plain_rows = (
            self.default_row_height == self.original_row_height and self.excel_version != 2010
        )
        for row_num in range(self.dim_rowmin, self.dim_rowmax + 1):
            cells = table.get(row_num)
            info = row_info.get(row_num)
            if not cells:
                if info is not None:
                    self._write_empty_row(row_num, spans.get(row_num // 16), info)
                continue
            r = str(row_num + 1)
            span = spans.get(row_num // 16)
            if info is None and plain_rows:
                write(f'<row r="{r}" spans="{span}">' if span else f'<row r="{r}">')
            else:
                self._write_row(row_num, span, info)
            parts = []
            for col_num in sorted(cells):
                cell = cells[col_num]
                f = cell.format
                if f is not None:
                    xf = f.xf_index
                    if xf is None:
                        xf = f._get_xf_index()
                    cls = cell.__class__
                    ref = columns[col_num] if col_num < _N_COLUMNS else xl_col_to_name(col_num)
                    if cls is CellStringTuple:
                        parts.append(f'<c r="{ref}{r}" s="{xf}" t="s"><v>{cell.string}</v></c>')
                        continue
                    if cls is CellFormulaTuple and cell.value.__class__ is float:
                        formula = escaped.get(cell.formula)
                        if formula is None:
                            formula = _escape_formula(cell.formula)
                        parts.append(
                            f'<c r="{ref}{r}" s="{xf}"><f>{formula}</f><v>{cell.value}</v></c>'
                        )
                        continue
                    if cls is CellNumberTuple:
                        parts.append(f'<c r="{ref}{r}" s="{xf}"><v>{cell.number:.16G}</v></c>')
                        continue
                    if cls is CellBooleanTuple:
                        parts.append(f'<c r="{ref}{r}" s="{xf}" t="b"><v>{cell.boolean}</v></c>')
                        continue
                write("".join(parts))
                parts.clear()
                super()._write_cell(row_num, col_num, cell)
            write("".join(parts))
            write("</row>")


_N_COLUMNS = 256
_COLUMNS = [xl_col_to_name(c) for c in range(_N_COLUMNS)]


def write_workbook(spec: WorkbookSpec, folder: Path) -> Path:
    """Write ``spec`` into ``folder``; returns the path. Raises ReportError on failure."""
    path = Path(folder) / spec.filename
    try:
        _write(spec, path)
    except (XlsxWriterException, OSError, ValueError, TypeError) as exc:
        path.unlink(missing_ok=True)
        if isinstance(exc, OSError) and exc.errno in ENVIRONMENT_ERRNOS:
            raise OutputEnvironmentError(f"could not write {path}: {exc.strerror or exc}") from None
        raise ReportError(f"could not write {path}: {type(exc).__name__}: {exc}") from None
    return path


def _write(spec: WorkbookSpec, path: Path) -> None:
    wb = xlsxwriter.Workbook(str(path), WORKBOOK_OPTIONS)
    formats: dict[str, Any] = {}

    def fmt(style: str) -> Any:
        if style not in formats:
            formats[style] = wb.add_format(style_properties(style))
        return formats[style]

    wb.set_properties(spec.properties)
    worksheet_class = FastWorksheet if FAST_CELLS else None
    sheets = {s.name: wb.add_worksheet(s.name, worksheet_class) for s in spec.sheets}
    for ws in sheets.values():
        if callable(getattr(ws, "_prepare_formula", None)):
            ws._prepare_formula = _fast_prepare(ws._prepare_formula)
    for name, (sheet, row, col) in sorted(spec.names.items()):
        wb.define_name(name, "=" + _abs_ref(sheet, row, col))
    try:
        for s in spec.sheets:
            _write_sheet(wb, sheets[s.name], s, fmt)
        wb.close()
    finally:
        # XlsxWriter's objects refer to each other, so only the cyclic collector frees
        # them; emptying the cell tables (most of the objects) leaves it little to trace
        for ws in sheets.values():
            ws.table.clear()


def _abs_ref(sheet: str, row: int, col: int) -> str:
    from stressmodel.report.formulas import sheet_ref

    return sheet_ref(sheet, row, col)


def _write_sheet(wb: Any, ws: Any, s: SheetSpec, fmt: Any) -> None:
    for col, width in sorted(s.widths.items()):
        ws.set_column(col, col, width)
    for row, height in sorted(s.heights.items()):
        ws.set_row(row, height)
    cells = sorted(s.cells.items())
    if cells:
        rows = cells[-1][0][0] + 1
        cols = max(c for (_r, c), _cell in cells) + 1
        if rows > EXCEL_MAX_ROWS or cols > EXCEL_MAX_COLUMNS:
            raise ExcelLimitError(
                f"sheet {s.name!r} would need {rows:,} rows and {cols:,} columns; Excel holds "
                f"{EXCEL_MAX_ROWS:,} x {EXCEL_MAX_COLUMNS:,}. Run fewer firms (--firms), fewer grid "
                f"points, or --no-workbooks (the CSV and parquet tables have no such limit)"
            )
    if isinstance(ws, FastWorksheet):
        ws.store_cells(cells, fmt)
        cells_left: list[tuple[tuple[int, int], Cell]] = []
    else:
        cells_left = cells
    for (row, col), cell in cells_left:
        f = fmt(cell.style)
        if cell.kind == "string":
            ws.write_string(row, col, cell.value, f)
        elif cell.kind == "number":
            ws.write_number(row, col, cell.value, f)
        elif cell.kind == "formula":
            ws.write_formula(row, col, cell.formula, f, cell.value)
        elif cell.kind == "bool":
            ws.write_boolean(row, col, cell.value, f)
        else:  # pragma: no cover - closed vocabulary
            raise ReportError(f"unknown cell kind {cell.kind!r}")
    # interest cover capped in display: a conditional number format on every cover cell,
    # first, so it wins in LibreOffice (which applies the first true rule only)
    for (row, col), cell in cells:
        if cell.style.partition("/")[0] == "cover" and cell.kind in ("number", "formula"):
            ws.conditional_format(
                row,
                col,
                row,
                col,
                {"type": "cell", "criteria": ">", "value": COVER_CAP, "format": fmt("cf_cap")},
            )
    for cf in s.cond_formats:
        options = dict(cf.options)
        if "format" in options:
            options["format"] = fmt(options["format"])
        ws.conditional_format(cf.first_row, cf.first_col, cf.last_row, cf.last_col, options)
    for chart in map(cap_series, s.charts):
        ws.insert_chart(
            chart.anchor[0],
            chart.anchor[1],
            _chart(wb, chart),
            {"x_scale": chart.size[0] / 480, "y_scale": chart.size[1] / 288},
        )
    if s.freeze is not None:
        ws.freeze_panes(*s.freeze)
    if s.repeat_rows is not None:
        ws.repeat_rows(*s.repeat_rows)
    if s.page_breaks:
        ws.set_h_pagebreaks(sorted(s.page_breaks))
    if s.landscape:
        ws.set_landscape()
    ws.set_paper(A4)
    ws.fit_to_pages(1, 1 if s.fit_one_page else 0)
    if s.header:
        ws.set_header(s.header)
    if s.footer:
        ws.set_footer(s.footer)
    for (row, col), link in sorted(s.links.items()):
        ws.write_url(row, col, link.target, fmt("link"), link.text)
    for v in s.validations:
        ws.data_validation(v.row, v.col, v.row, v.col, dict(v.options))
    if s.tab_color:
        ws.set_tab_color(s.tab_color)


def _series(series: Series, line: bool) -> dict[str, Any]:
    if series.name.startswith(("=", "+", "-", "@")):
        raise ReportError(f"chart series name {series.name!r} would be read as a formula")
    out: dict[str, Any] = {"name": series.name, "values": series.values.as_list()}
    if series.categories is not None:
        out["categories"] = series.categories.as_list()
    if series.color:
        if line:
            out["line"] = {"color": series.color, "width": 2.0}
        else:
            out["fill"] = {"color": series.color}
            out["border"] = {"none": True}
    if series.marker:
        out["marker"] = {
            "type": "circle",
            "size": 5,
            **(
                {"fill": {"color": series.color}, "border": {"color": series.color}}
                if series.color
                else {}
            ),
        }
    return out


def _chart(wb: Any, spec: ChartSpec) -> Any:
    if spec.title.startswith(("=", "+", "-", "@")):
        raise ReportError(f"chart title {spec.title!r} would be read as a formula")
    chart = wb.add_chart({"type": spec.kind})
    for s in spec.series:
        chart.add_series(_series(s, spec.kind == "line"))
    chart.set_title({"name": spec.title, "name_font": {"size": 12}})
    chart.set_x_axis({"name": spec.x_title, "label_position": "low"})
    y: dict[str, Any] = {
        "name": spec.y_title,
        "major_gridlines": {"visible": True, "line": {"color": "#D9D9D9"}},
    }
    if spec.y_format:
        y["num_format"] = spec.y_format
    chart.set_y_axis(y)
    chart.set_legend({"position": "bottom"})
    if spec.overlay_line:
        line = wb.add_chart({"type": "line"})
        for s in spec.overlay_line:
            opts = _series(s, True)
            line.add_series(opts)
        chart.combine(line)
    return chart
