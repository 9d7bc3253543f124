"""Writing a :class:`~stressmodel.report.spec.WorkbookSpec` to an ``.xlsx`` file (the only
module of the report that does I/O).

XlsxWriter with ``strings_to_formulas``, ``strings_to_urls`` and ``strings_to_numbers``
off, and only typed writes (``write_string``, ``write_number``, ``write_formula``,
``write_boolean``): text is never interpreted. The file is built in memory with fixed zip
timestamps and fixed document properties, so the same spec gives the same bytes.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import xlsxwriter  # type: ignore[import-untyped]
from xlsxwriter.exceptions import XlsxWriterException  # type: ignore[import-untyped]

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
    sheets = {s.name: wb.add_worksheet(s.name) for s in spec.sheets}
    for ws in sheets.values():
        if callable(getattr(ws, "_prepare_formula", None)):
            ws._prepare_formula = _fast_prepare(ws._prepare_formula)
    for name, (sheet, row, col) in sorted(spec.names.items()):
        wb.define_name(name, "=" + _abs_ref(sheet, row, col))
    for s in spec.sheets:
        _write_sheet(wb, sheets[s.name], s, fmt)
    wb.close()


def _abs_ref(sheet: str, row: int, col: int) -> str:
    from stressmodel.report.formulas import sheet_ref

    return sheet_ref(sheet, row, col)


def _write_sheet(wb: Any, ws: Any, s: SheetSpec, fmt: Any) -> None:
    for col, width in sorted(s.widths.items()):
        ws.set_column(col, col, width)
    for row, height in sorted(s.heights.items()):
        ws.set_row(row, height)
    if s.cells:
        rows = max(r for r, _c in s.cells) + 1
        cols = max(c for _r, c in s.cells) + 1
        if rows > EXCEL_MAX_ROWS or cols > EXCEL_MAX_COLUMNS:
            raise ExcelLimitError(
                f"sheet {s.name!r} would need {rows:,} rows and {cols:,} columns; Excel holds "
                f"{EXCEL_MAX_ROWS:,} x {EXCEL_MAX_COLUMNS:,}. Run fewer firms (--firms), fewer grid "
                f"points, or --no-workbooks (the CSV and parquet tables have no such limit)"
            )
    for (row, col), cell in sorted(s.cells.items()):
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
    for (row, col), cell in sorted(s.cells.items()):
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
