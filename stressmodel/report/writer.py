"""Writing a :class:`~stressmodel.report.spec.WorkbookSpec` to an ``.xlsx`` file (the only
module of the report that does I/O).

XlsxWriter with ``strings_to_formulas``, ``strings_to_urls`` and ``strings_to_numbers``
off, and only typed writes (``write_string``, ``write_number``, ``write_formula``,
``write_boolean``): text is never interpreted. The file is built in memory with fixed zip
timestamps and fixed document properties, so the same spec gives the same bytes.

Cells go through :class:`FastWorksheet`, XlsxWriter's worksheet writing the ``<c>``
elements of a sheet's cells straight from the spec's cells when they are stored (formula
text prepared once per process — the scenario sheets of every firm share it —, format
indices assigned in the stock order), with shorter writers of the copies of the
interest-cover rule, of number-bounded data validations and of internal hyperlinks;
shared strings and chart data points are written in one string each where XlsxWriter
would not escape them. What is the same in every firm's workbook is worked out once per
process and reused: the Format of each style, what XlsxWriter stores for a validation's
options and a defined name, each chart series, each plain shared string's XML, and each
chart's XML around its data caches and title (:data:`_CHART_XML`). The XML is the stock
writer's, byte for byte (tests/test_writer.py compares the two on the shipped workbooks,
later firms written from the memos of the first, and on sheets of edge cases); anything
else (a long string, a formula XlsxWriter must rewrite, an external hyperlink) goes
through XlsxWriter's own methods. :data:`FAST_CELLS` off uses the stock classes and their
per-cell calls. The parts are deflated at :data:`ZIP_LEVEL` (1) with ISA-L when installed
(:data:`_DEFLATE`), so the ``.xlsx`` bytes differ from XlsxWriter's default while every
unzipped part is the same; the zip is built in memory and written in one go.
"""

from __future__ import annotations

import bisect
import copy
import io
import re
import zipfile
from collections.abc import Callable, Sequence
from dataclasses import replace
from operator import itemgetter
from pathlib import Path
from typing import Any

import xlsxwriter  # type: ignore[import-untyped]
import xlsxwriter.packager  # type: ignore[import-untyped]
import xlsxwriter.workbook  # type: ignore[import-untyped]
from xlsxwriter.exceptions import (  # type: ignore[import-untyped]
    FileCreateError,
    XlsxWriterException,
)
from xlsxwriter.format import Format  # type: ignore[import-untyped]
from xlsxwriter.sharedstrings import SharedStrings  # type: ignore[import-untyped]
from xlsxwriter.utility import (  # type: ignore[import-untyped]
    xl_col_to_name,
    xl_range,
    xl_rowcol_to_cell,
)
from xlsxwriter.worksheet import (  # type: ignore[import-untyped]
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
#: formula text -> the XML text of its ``<f>`` element (XlsxWriter's ``_prepare_formula``
#: then its ``_escape_data``), shared by every worksheet of the process: the scenario
#: sheets of all firms have the same formulas. None: the formula needs XlsxWriter's own
#: ``_write_formula`` (dynamic arrays, array formulas, future functions).
_FORMULA_XML: dict[str, str | None] = {}
_FORMULA_XML_MAX = 500_000

#: data validation options -> what XlsxWriter's data_validation stores for them (without
#: the cells), shared by every worksheet of the process (FastWorksheet.validate_cell)
_VALIDATIONS: dict[Any, dict[str, Any]] = {}
_VALIDATIONS_MAX = 10_000
#: key, in the options of a validation copied from the memo, of the slot its copies share
#: for their XML around the range (XlsxWriter reads only the options it knows)
_XML_SLOT = " stressmodel: xml"
#: defined names that XlsxWriter's define_name accepted as workbook-level names
_GLOBAL_NAMES: set[str] = set()
_GLOBAL_NAMES_MAX = 100_000

_POSITION = itemgetter(0)  # the (row, col) of a (position, cell) item
_COLUMN = itemgetter(1)  # the col of a (row, col) position
_STYLE = itemgetter(2)  # the style of a Cell
_N_COLUMNS = 256
_COLUMNS = [xl_col_to_name(c) for c in range(_N_COLUMNS)]


class FastWorksheet(Worksheet):  # type: ignore[misc]
    """XlsxWriter's worksheet with :meth:`store_cells`, which writes the ``<c>`` elements
    of a sheet's cells when they are stored, row by row, straight from the spec's cells
    (no per-cell XlsxWriter tuple, no cell table): formatted number, shared-string,
    formula (float result) and boolean cells. Anything else (a long string, a formula
    XlsxWriter must rewrite, and the hyperlinks ``write_url`` stores afterwards) goes into
    XlsxWriter's cell table and is written by its own ``_write_cell``, in column order
    among the others. Same XML as the stock worksheet, byte for byte:

    - shared strings are numbered as the cells are stored, in row-major order, as the
      stock ``write_string`` calls number them;
    - format indices are assigned in the order the stock writer assigns them (row-major,
      sheet after sheet, hyperlinks at their place among the cells): nothing else assigns
      them before the worksheets are assembled, so assigning them at store time gives the
      same indices.
    """

    def __init__(self) -> None:
        super().__init__()
        self._cells: list[tuple[tuple[int, int], Cell]] = []  # as stored (chart data)
        self._row_xml: dict[int, str] = {}  # row -> <c> elements of its stored cells
        self._mixed: dict[int, dict[int, str]] = {}  # rows shared with the table: col -> <c>
        self._bounds: dict[int, tuple[int, int]] = {}  # row -> first, last stored column
        self._lookup: dict[tuple[int, int], Cell] | None = None  # for chart data
        self._copies: dict[int, dict[str, Any]] = {}  # rules made by repeat_cell_rule, by id
        self._rule_xml: tuple[str, str] | None = None  # their <cfRule> around the priority
        self._link_text: dict[tuple[int, int], str] = {}  # internal hyperlinks' cells: text
        self._hyperlink_xml: list[str] = []  # their <hyperlink> elements, in row-major order

    def store_cells(
        self,
        cells: list[tuple[tuple[int, int], Cell]],
        fmt: Any,
        links: Sequence[tuple[int, int]] = (),
        link_style: str = "link",
        lookup: dict[tuple[int, int], Cell] | None = None,
        mark: Callable[[str], bool] | None = None,
    ) -> list[tuple[int, int]]:
        """Store ``cells`` ((row, col) -> Cell, in row-major order; once per sheet) and
        write their XML. ``fmt(style)`` gives the Format of a style; ``links``: the cells
        the sheet's hyperlinks (style ``link_style``) will take, stored afterwards;
        ``lookup``: the same cells by position, if the caller has them (chart data).
        Returns the positions of the number and formula cells whose style ``mark`` (a test
        of a style) accepts, in row-major order."""
        if not cells:
            return []
        if self._cells or self.constant_memory or self.table:
            raise ReportError("store_cells: once per sheet, before any other cell")
        self._cells = cells
        self._lookup = lookup
        sst = self.str_table
        string_index = sst.string_table.get
        new_string = sst._get_shared_string_index
        long_string = self.xls_strmax // 2
        formula_xml = _FORMULA_XML
        columns = _COLUMNS
        formats: dict[str, Any] = {}  # style -> Format
        # style -> '" s="<format index>' (the text between a cell's reference and its type)
        xfs: dict[str, str] = {}
        marked: set[str] = set()  # the styles seen so far that ``mark`` accepts
        capped: list[tuple[int, int]] = []  # number and formula cells of a ``mark`` style
        link_rows = {r for r, _c in links}
        # the index of the first cell after the first hyperlink: the hyperlinks' format
        # is first written there (len(cells): after every cell; -1: no hyperlink)
        link_at = bisect.bisect_right(cells, min(links), key=_POSITION) if links else -1
        seen = 0  # shared strings already in the table (counted as XlsxWriter counts them)
        current = -1
        start = 0
        parts: list[str | None] = []
        append = parts.append
        r = ""
        row_xml, bounds = self._row_xml, self._bounds
        first_col = last_col = 0
        in_table = False  # a cell of the current row went to XlsxWriter's table
        for i, ((row, col), (kind, value, style, formula)) in enumerate(cells):
            if row != current:
                if parts:
                    if in_table or current in link_rows:
                        self._end_row(current, cells, start, i, parts, True)
                    else:  # the common row: its cells' XML in one string
                        bounds[current] = (first_col, last_col)
                        row_xml[current] = "".join(parts)  # type: ignore[arg-type]
                    parts = []
                    append = parts.append
                current, start, r = row, i, str(row + 1)
                first_col, in_table = col, False
            last_col = col
            if i == link_at:
                fmt(link_style)._get_xf_index()
            try:
                xf = xfs[style]
            except KeyError:
                f = formats[style] = fmt(style)
                xf = xfs[style] = f'" s="{f._get_xf_index()}'
                if mark is not None and mark(style):
                    marked.add(style)
            ref = columns[col] if col < _N_COLUMNS else xl_col_to_name(col)
            if kind == "string":
                if len(value) <= long_string:
                    index = string_index(value)
                    if index is None:
                        index = new_string(value)
                    else:
                        seen += 1
                    append(f'<c r="{ref}{r}{xf}" t="s"><v>{index}</v></c>')
                    continue
                self._write_string(row, col, value, formats[style])
            elif kind == "formula":
                if marked and style in marked:
                    capped.append((row, col))
                try:
                    text = formula_xml[formula]
                except KeyError:
                    text = self._formula_xml(formula)
                if text is not None and value.__class__ is float:
                    append(f'<c r="{ref}{r}{xf}"><f>{text}</f><v>{value}</v></c>')
                    continue
                self._write_formula(row, col, formula, formats[style], value)
            elif kind == "number":
                if marked and style in marked:
                    capped.append((row, col))
                if value.__class__ is float and value - value == 0.0:  # finite float
                    append(f'<c r="{ref}{r}{xf}"><v>{value:.16G}</v></c>')
                    continue
                self._write_number(row, col, value, formats[style])
            elif kind == "bool":
                append(f'<c r="{ref}{r}{xf}" t="b"><v>{1 if value else 0}</v></c>')
                continue
            else:  # pragma: no cover - closed vocabulary
                raise ReportError(f"unknown cell kind {kind!r}")
            append(None)  # the cell went to XlsxWriter's table
            in_table = True
        self._end_row(current, cells, start, len(cells), parts, current in link_rows)
        if link_at == len(cells):
            fmt(link_style)._get_xf_index()
        sst.count += seen
        # the sheet's extent, as XlsxWriter records it per stored cell (its <dimension>)
        bounds = self._bounds.values()
        first_col, last_col = min(b[0] for b in bounds), max(b[1] for b in bounds)
        for row, col in ((cells[0][0][0], first_col), (cells[-1][0][0], last_col)):
            if self._check_dimensions(row, col):
                raise ReportError(f"cell ({row}, {col}) is outside the worksheet")
        return capped

    def store_links(self, links: Sequence[tuple[int, int, str, str]], cell_format: Any) -> bool:
        """``write_url(row, col, target, cell_format, text)`` for each of ``links`` (after
        :meth:`store_cells`, in row-major order), when every target is an internal link
        (``internal:'Sheet'!A1``) short enough for Excel: the cell's ``<c>`` element and
        its ``<hyperlink>`` element written here in one string each, the text numbered in
        the shared strings as ``write_url`` numbers it. Returns False, storing nothing,
        when any link is of another kind (the caller then uses ``write_url``)."""
        if not links:
            return True
        long_string = self.xls_strmax // 2
        if len(links) + self.hlink_count > 65530 or not all(
            target.startswith("internal:")
            and "#" not in target
            and len(target) <= 255
            and len(text) <= long_string
            for _row, _col, target, text in links
        ):
            return False
        xf = cell_format._get_xf_index()
        shared_string = self.str_table._get_shared_string_index
        escape = self._escape_attributes
        mixed, bounds = self._mixed, self._bounds
        for row, col, target, text in links:
            if self._check_dimensions(row, col):
                raise ReportError(f"hyperlink cell ({row}, {col}) is outside the worksheet")
            self.hlink_count += 1
            ref = xl_rowcol_to_cell(row, col)
            index = shared_string(text)
            mixed.setdefault(row, {})[col] = f'<c r="{ref}" s="{xf}" t="s"><v>{index}</v></c>'
            first, last = bounds.get(row, (col, col))
            bounds[row] = (min(first, col), max(last, col))
            self._link_text[(row, col)] = text
            self._hyperlink_xml.append(
                f'<hyperlink ref="{ref}" location="{escape(target[9:])}" display="{escape(text)}"/>'
            )
        return True

    def _write_hyperlinks(self) -> None:
        """The stock ``<hyperlinks>`` element; the links stored by :meth:`store_links`
        from their XML."""
        if not self._hyperlink_xml:
            super()._write_hyperlinks()
            return
        if self.hyperlinks:  # pragma: no cover - store_links stores all of a sheet's links or none
            raise ReportError("FastWorksheet: hyperlinks stored both ways")
        self.fh.write(f"<hyperlinks>{''.join(self._hyperlink_xml)}</hyperlinks>")

    def _end_row(
        self,
        row: int,
        cells: list[tuple[tuple[int, int], Cell]],
        start: int,
        end: int,
        parts: list[str | None],
        shared: bool,
    ) -> None:
        # the stored cells cells[start:end] of ``row``, their XML in ``parts`` (None: in
        # the table): one string, or one per column when the row has table cells too
        self._bounds[row] = (cells[start][0][1], cells[end - 1][0][1])
        if shared or None in parts:
            self._mixed[row] = {
                cells[j][0][1]: p
                for j, p in zip(range(start, end), parts, strict=True)
                if p is not None
            }
        else:
            self._row_xml[row] = "".join(parts)  # type: ignore[arg-type]

    def _formula_xml(self, formula: str) -> str | None:
        """The ``<f>`` text XlsxWriter's ``_write_formula`` stores and writes for
        ``formula``, memoised; None when it needs the dynamic-array or array-formula path
        of ``_write_formula`` itself."""
        text: str | None = None
        array = formula.startswith("{") and formula.endswith("}")
        if formula and not array and not re_dynamic_function.search(formula):
            text = self._prepare_formula(formula)
            if xml_escapes.search(text):
                text = text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
        if len(_FORMULA_XML) >= _FORMULA_XML_MAX:
            _FORMULA_XML.clear()
        _FORMULA_XML[formula] = text
        return text

    def _write_rows(self) -> None:
        """The stock method's ``<row>`` elements: each row's stored cells in one string,
        cells of XlsxWriter's table (and rows with a height only) through the stock code."""
        if not self._cells:
            super()._write_rows()
            return
        if self.comments:
            raise ReportError("FastWorksheet: cell comments are not supported")
        table, row_info = self.table, self.row_info
        row_xml, mixed, bounds = self._row_xml, self._mixed, self._bounds
        table_rows = [r for r, t in table.items() if t]
        rows = sorted({*bounds, *table_rows, *row_info} if table_rows or row_info else bounds)
        # spans of each block of 16 rows: first and last column holding a cell
        blocks: dict[int, list[int]] = {}
        for row, (lo, hi) in bounds.items():
            b = blocks.get(row >> 4)
            if b is None:
                blocks[row >> 4] = [lo, hi]
            else:
                if lo < b[0]:
                    b[0] = lo
                if hi > b[1]:
                    b[1] = hi
        for row in table_rows:
            cols = table[row]
            lo, hi = min(cols), max(cols)
            b = blocks.get(row >> 4)
            if b is None:
                blocks[row >> 4] = [lo, hi]
            else:
                b[0], b[1] = min(b[0], lo), max(b[1], hi)
        spans = {block: f"{lo + 1}:{hi + 1}" for block, (lo, hi) in blocks.items()}
        self.row_spans = spans
        write = self.fh.write
        # a <row> without row_info has only r and spans (no height, format or outline)
        plain_rows = (
            self.default_row_height == self.original_row_height and self.excel_version != 2010
        )
        out: list[str] = []  # the XML of the rows written since the last stock call
        for row in rows:
            stock = table.get(row)
            info = row_info.get(row)
            span = spans.get(row >> 4)
            if info is None and plain_rows and row in row_xml and not stock:
                # the common row: stored cells only, one string
                out.append(f'<row r="{row + 1}" spans="{span}">{row_xml[row]}</row>')
                continue
            write("".join(out))
            out.clear()
            if row not in bounds and not stock:
                self._write_empty_row(row, span, info)
                continue
            if info is None and plain_rows:
                write(f'<row r="{row + 1}" spans="{span}">' if span else f'<row r="{row + 1}">')
            else:
                self._write_row(row, span, info)
            if row in row_xml:
                write(row_xml[row])
            else:  # stored cells and the table's, in column order
                mine = mixed.get(row, {})
                for col in sorted({*mine, *(stock or ())}):
                    if col in mine:
                        write(mine[col])
                    else:
                        super()._write_cell(row, col, stock[col])  # type: ignore[index]
            write("</row>")
        write("".join(out))

    def _get_range_data(self, row_start: int, col_start: int, row_end: int, col_end: int) -> Any:
        """Chart data of a range, as the stock method reads it from its table: a number
        as 16 significant digits, a string as its text, a formula as its cached value,
        nothing for a boolean; one None for a row without cells, None for a missing cell."""
        if not self._cells:
            return super()._get_range_data(row_start, col_start, row_end, col_end)
        if self._lookup is None:
            self._lookup = dict(self._cells)
        # a row holds stored cells exactly when store_cells recorded its bounds
        lookup, table, spec_rows = self._lookup, self.table, self._bounds
        data: list[Any] = []
        for row in range(row_start, row_end + 1):
            stock = table.get(row)
            if not stock and row not in spec_rows:
                data.append(None)
                continue
            for col in range(col_start, col_end + 1):
                if stock and col in stock:
                    data.extend(super()._get_range_data(row, col, row, col))
                    continue
                cell = lookup.get((row, col))
                if cell is None:
                    data.append(self._link_text.get((row, col)))
                elif cell.kind == "number":
                    data.append(f"{cell.value:.16g}")
                elif cell.kind in ("string", "formula"):
                    data.append(cell.value)
        return data

    def repeat_cell_rule(self, cells: Sequence[tuple[int, int]], options: dict[str, Any]) -> None:
        """``conditional_format(row, col, row, col, options)`` on each of ``cells`` (a
        ``cell`` rule, whose stored options do not depend on the range): the first through
        XlsxWriter, the others as copies of what it stored, each with the next priority."""
        if not cells:
            return
        if options.get("type") != "cell" or "multi_range" in options:
            raise ReportError("repeat_cell_rule: a 'cell' rule on single cells only")
        (row, col), *rest = cells
        if self.conditional_format(row, col, row, col, options) != 0:
            raise ReportError(f"conditional format rejected at ({row}, {col}): {options!r}")
        stored = self.cond_formats[xl_rowcol_to_cell(row, col)][-1]
        cond_formats = self.cond_formats
        for row, col in rest:
            if self._check_dimensions(row, col, True, True):
                raise ReportError(f"cell ({row}, {col}) is outside the worksheet")
            rule = dict(stored)
            rule["priority"] = self.dxf_priority
            self.dxf_priority += 1
            ref = xl_rowcol_to_cell(row, col)
            if ref in cond_formats:
                cond_formats[ref].append(rule)
            else:
                cond_formats[ref] = [rule]
            self._copies[id(rule)] = rule

    def _write_conditional_formatting(self, cond_range: str, params: list[dict[str, Any]]) -> None:
        """The stock ``<conditionalFormatting>`` element; a range holding one copy made by
        :meth:`repeat_cell_rule` from the XML of the first copy's ``<cfRule>`` (the copies
        differ only in their priority)."""
        rule = params[0] if len(params) == 1 else None
        if rule is None or self._copies.get(id(rule)) is not rule:
            super()._write_conditional_formatting(cond_range, params)
            return
        if self._rule_xml is None:
            fh, self.fh = self.fh, io.StringIO()
            try:
                super()._write_cf_rule(rule)
                text = self.fh.getvalue()
            finally:
                self.fh = fh
            before, found, after = text.partition(f' priority="{rule["priority"]}"')
            if not found or ' priority="' in after:  # pragma: no cover - XlsxWriter changed
                raise ReportError("conditional format: unexpected <cfRule> XML")
            self._rule_xml = (before, after)
        before, after = self._rule_xml
        self.fh.write(
            f'<conditionalFormatting sqref="{cond_range}">{before} priority="{rule["priority"]}"'
            f"{after}</conditionalFormatting>"
        )

    def _write_data_validation(self, options: dict[str, Any]) -> None:
        """The stock ``<dataValidation>`` element, written in one string for a validation
        of one range with number bounds and no input message or error style (each input
        cell of Assumptions); any other through the stock method."""
        cells, value, maximum = options["cells"], options.get("value"), options.get("maximum")
        numbers = (float, int)
        if (
            len(cells) != 1
            or options.get("multi_range")
            or options["validate"] == "none"
            or options.get("error_type", 0) not in (0, None)
            or "input_title" in options
            or "input_message" in options
            or value.__class__ not in numbers
            or (maximum is not None and maximum.__class__ not in numbers)
        ):
            super()._write_data_validation(options)
            return
        row_first, col_first, row_last, col_last = cells[0]
        row_first, row_last = min(row_first, row_last), max(row_first, row_last)
        col_first, col_last = min(col_first, col_last), max(col_first, col_last)
        sqref = xl_range(row_first, col_first, row_last, col_last)
        # the XML around the range, shared by the validations copied from one memo entry
        slot = options.get(_XML_SLOT)
        if slot is not None and slot[0] is not None:
            head, tail = slot[0]
            self.fh.write(f"{head}{sqref}{tail}")
            return
        escape = self._escape_attributes
        attrs = [f' type="{escape(options["validate"])}"']
        if options["criteria"] != "between":
            attrs.append(f' operator="{escape(options["criteria"])}"')
        if options["ignore_blank"]:
            attrs.append(' allowBlank="1"')
        if not options["dropdown"]:
            attrs.append(' showDropDown="1"')
        if options["show_input"]:
            attrs.append(' showInputMessage="1"')
        if options["show_error"]:
            attrs.append(' showErrorMessage="1"')
        if "error_title" in options:
            attrs.append(f' errorTitle="{escape(options["error_title"])}"')
        if "error_message" in options:
            attrs.append(f' error="{escape(options["error_message"])}"')
        second = "" if maximum is None else f"<formula2>{maximum}</formula2>"
        head = f'<dataValidation{"".join(attrs)} sqref="'
        tail = f'"><formula1>{value}</formula1>{second}</dataValidation>'
        if slot is not None:
            slot[0] = (head, tail)
        self.fh.write(f"{head}{sqref}{tail}")

    def validate_cell(self, row: int, col: int, options: dict[str, Any]) -> None:
        """``data_validation(row, col, row, col, options)``. What XlsxWriter stores for a
        validation is a function of its options (the range aside): the first cell with
        given options goes through ``data_validation``, later ones (in any workbook of
        the process) get a copy of what it stored, for their own cell."""
        key: Any = None
        if "other_cells" not in options and "multi_range" not in options:
            # the value's class too: 1, 1.0 and True are equal keys but written differently
            key = tuple((k, v.__class__, v) for k, v in sorted(options.items()))
            try:
                stored = _VALIDATIONS.get(key)
            except TypeError:  # a list of values (validate="list")
                key = stored = None
            if stored is not None:
                if self._check_dimensions(row, col, True, True):
                    return  # as data_validation: out of the sheet, nothing stored
                self.validations.append({**stored, "cells": [[row, col, row, col]]})
                return
        count = len(self.validations)
        self.data_validation(row, col, row, col, options)
        if key is not None and len(self.validations) == count + 1:
            if len(_VALIDATIONS) >= _VALIDATIONS_MAX:
                _VALIDATIONS.clear()
            stored = {k: v for k, v in self.validations[-1].items() if k != "cells"}
            _VALIDATIONS[key] = {**stored, _XML_SLOT: [None]}

    def release(self) -> None:
        """Drop the cells (XlsxWriter's objects refer to each other, so only the cyclic
        collector frees the sheet; emptying what it holds leaves it little to trace)."""
        self.table.clear()
        self._cells, self._lookup = [], None
        self._row_xml, self._mixed, self._bounds = {}, {}, {}
        self._copies, self._rule_xml = {}, None
        self._link_text, self._hyperlink_xml = {}, []


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


#: deflate level of the parts in the .xlsx zip. zlib's default (6) spent some 15 ms a
#: firm workbook compressing about 1.4 MB of sheet XML; level 1 takes about a third of
#: that for files about 18% larger (1.48 -> 1.75 MB for the shipped run's eight). The
#: unzipped parts are the same bytes at any level.
ZIP_LEVEL = 1

#: the deflate implementation of the parts: ISA-L's (``isal``) when installed — at level 1
#: it deflates a firm workbook's 1.4 MB of XML in about 2 ms where zlib takes about 7, to
#: a slightly smaller file —, else zlib. Either is a standard deflate stream that every
#: zip reader inflates to the same parts; the zip bytes differ between the two.
_DEFLATE: Any
try:
    from isal import isal_zlib as _DEFLATE  # type: ignore[import-untyped,no-redef]
except ImportError:  # pragma: no cover - isal is a dependency
    _DEFLATE = None


class _LeveledZipFile(zipfile.ZipFile):
    """The zip file XlsxWriter writes its parts into, deflating at :data:`ZIP_LEVEL` with
    :data:`_DEFLATE`."""

    def writestr(
        self, zinfo_or_arcname: Any, data: Any, compress_type: Any = None, compresslevel: Any = None
    ) -> None:
        level = ZIP_LEVEL if compresslevel is None else compresslevel
        if _DEFLATE is None or not isinstance(zinfo_or_arcname, zipfile.ZipInfo):
            super().writestr(zinfo_or_arcname, data, compress_type, level)
            return
        # ZipFile.writestr, with the entry's compressor swapped for ISA-L's
        zinfo = zinfo_or_arcname
        if isinstance(data, str):
            data = data.encode("utf-8")
        if compress_type is not None:
            zinfo.compress_type = compress_type
        zinfo._compresslevel = level
        zinfo.file_size = len(data)
        with self._lock, self.open(zinfo, mode="w") as dest:
            if zinfo.compress_type == zipfile.ZIP_DEFLATED and hasattr(dest, "_compressor"):
                dest._compressor = _DEFLATE.compressobj(level, _DEFLATE.DEFLATED, -15)
            dest.write(data)


#: characters of a shared string that XlsxWriter's ``_write_si`` writes escaped (control
#: characters, non-characters); ``_xHHHH_`` text is escaped too, and leading or trailing
#: whitespace marked (``\s`` of ``re`` is ``str.isspace``)
_SPECIAL_CHARACTER = re.compile(r"[\x00-\x08\x0b-\x1f\ufffe\uffff]")
_ESCAPE_TEXT = re.compile(r"_x[0-9a-fA-F]{4}_")


def _special_string(string: str) -> bool:
    """Whether XlsxWriter's ``_write_si`` writes ``string`` other than ``<si><t>text</t></si>``
    (XML escapes aside)."""
    return bool(
        string[:1].isspace()
        or string[-1:].isspace()
        or _SPECIAL_CHARACTER.search(string)
        or ("_x" in string and _ESCAPE_TEXT.search(string))
        or (string.startswith("<r>") and string.endswith("</r>"))
    )


#: a plain shared string -> its <si> element, shared by the workbooks of the process (most
#: strings, labels and headers, are in every firm's workbook); special strings are not kept
_SI_XML: dict[str, str] = {}
_SI_XML_MAX = 200_000
_SI_XML_LENGTH = 1_000  # longer strings are not kept


class _FastSharedStrings(SharedStrings):  # type: ignore[misc]
    """XlsxWriter's sharedStrings.xml writer, the ``<si>`` elements of plain strings
    written in one string (the stock ``_write_si`` for any other). Same bytes."""

    def _write_sst_strings(self) -> None:
        parts = []
        special = _special_string
        escapes = xml_escapes.search
        memo = _SI_XML
        for string in self.string_table.string_array:
            xml = memo.get(string)
            if xml is None:
                if special(string):
                    self.fh.write("".join(parts))
                    parts.clear()
                    self._write_si(string)
                    continue
                text = string
                if escapes(text):
                    text = text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
                xml = f"<si><t>{text}</t></si>"
                if len(string) <= _SI_XML_LENGTH:
                    if len(memo) >= _SI_XML_MAX:
                        memo.clear()
                    memo[string] = xml
            parts.append(xml)
        self.fh.write("".join(parts))


class _Workbook(xlsxwriter.Workbook):  # type: ignore[misc]
    """XlsxWriter's workbook packaging into a :class:`_LeveledZipFile` (and, with
    ``fast``, its shared strings written by :class:`_FastSharedStrings`)."""

    def __init__(self, filename: str, options: dict[str, Any], fast: bool) -> None:
        super().__init__(filename, options)
        self._fast = fast

    def define_global_name(self, name: str, formula: str) -> None:
        """``define_name(name, formula)``. XlsxWriter's checks of a name without a sheet
        part depend on the name alone, so one it has accepted (in any workbook of the
        process) is appended to the defined names directly, as it appends them."""
        if name in _GLOBAL_NAMES:
            self.defined_names.append([name, -1, formula.lstrip("="), False])
            return
        count = len(self.defined_names)
        self.define_name(name, formula)
        if "!" not in name and len(self.defined_names) == count + 1:
            if len(_GLOBAL_NAMES) >= _GLOBAL_NAMES_MAX:
                _GLOBAL_NAMES.clear()
            _GLOBAL_NAMES.add(name)

    def _write_defined_names(self) -> None:
        """The stock ``<definedNames>`` element, each workbook-level name whose name and
        range need no escaping in one string (any other through the stock writer)."""
        if not self._fast or not self.defined_names:
            super()._write_defined_names()
            return
        write = self.fh.write
        write("<definedNames>")
        parts: list[str] = []
        special = _SPECIAL_POINT.search
        for defined in self.defined_names:
            name, sheet_id, sheet_range, hidden = defined
            if sheet_id == -1 and not hidden and not special(name) and not special(sheet_range):
                parts.append(f'<definedName name="{name}">{sheet_range}</definedName>')
            else:
                write("".join(parts))
                parts.clear()
                self._write_defined_name(defined)
        write("".join(parts))
        write("</definedNames>")

    def _store_workbook(self) -> None:
        # XlsxWriter's _store_workbook makes its ZipFile and its packager its
        # SharedStrings from their modules' global names; they are swapped only for the
        # duration of this call (workbooks are written one at a time per process)
        zip_class, sst_class = xlsxwriter.workbook.ZipFile, xlsxwriter.packager.SharedStrings
        xlsxwriter.workbook.ZipFile = _LeveledZipFile
        if self._fast:
            xlsxwriter.packager.SharedStrings = _FastSharedStrings
        try:
            super()._store_workbook()
        finally:
            xlsxwriter.workbook.ZipFile = zip_class
            xlsxwriter.packager.SharedStrings = sst_class


def _write(spec: WorkbookSpec, path: Path) -> None:
    # the zip is built in memory and written in one go: zipfile seeks back over every
    # part's header, which on a file flushes a write per part (some 40 a workbook)
    buffer = io.BytesIO()
    wb = _Workbook(buffer, WORKBOOK_OPTIONS, FAST_CELLS)
    formats: dict[str, Any] = {}

    def fmt(style: str) -> Any:
        if style not in formats:
            formats[style] = (
                _add_format(wb, style) if FAST_CELLS else wb.add_format(style_properties(style))
            )
        return formats[style]

    wb.set_properties(spec.properties)
    worksheet_class = FastWorksheet if FAST_CELLS else None
    sheets = {s.name: wb.add_worksheet(s.name, worksheet_class) for s in spec.sheets}
    for ws in sheets.values():
        if callable(getattr(ws, "_prepare_formula", None)):
            ws._prepare_formula = _fast_prepare(ws._prepare_formula)
    define = wb.define_global_name if FAST_CELLS else wb.define_name
    for name, (sheet, row, col) in sorted(spec.names.items()):
        define(name, "=" + _abs_ref(sheet, row, col))
    try:
        for s in spec.sheets:
            _write_sheet(wb, sheets[s.name], s, fmt)
        wb.close()
        try:
            path.write_bytes(buffer.getbuffer())
        except OSError as exc:  # as XlsxWriter's close reports a file it cannot write
            raise FileCreateError(exc) from None
    finally:
        # XlsxWriter's objects refer to each other, so only the cyclic collector frees
        # them; emptying the cell tables (most of the objects) leaves it little to trace
        for ws in sheets.values():
            if isinstance(ws, FastWorksheet):
                ws.release()
            else:
                ws.table.clear()


#: (style, the workbook's default format properties) -> a Format made from them that no
#: workbook holds: what ``add_format`` makes for the style, before a workbook indexes it
_FORMATS: dict[tuple[str, Any], Any] = {}
_FORMATS_MAX = 10_000


def _add_format(wb: Any, style: str) -> Any:
    """``wb.add_format(style_properties(style))``: a copy of the Format of the style that
    XlsxWriter made once per process (a Format's construction parses each property; the
    workbook's indices are assigned to the copy later, as to a new Format)."""
    key = (style, tuple(wb.default_format_properties.items()))
    template = _FORMATS.get(key)
    if template is None:
        template = Format({**wb.default_format_properties, **style_properties(style)})
        if len(_FORMATS) >= _FORMATS_MAX:
            _FORMATS.clear()
        _FORMATS[key] = template
    f = copy.copy(template)
    f.xf_format_indices, f.dxf_format_indices = wb.xf_format_indices, wb.dxf_format_indices
    wb.formats.append(f)
    return f


def _abs_ref(sheet: str, row: int, col: int) -> str:
    from stressmodel.report.formulas import sheet_ref

    return sheet_ref(sheet, row, col)


def _column_runs(widths: dict[int, float]) -> list[tuple[int, int, float]]:
    """``widths`` as (first, last, width) runs of adjacent columns of the same width:
    ``set_column`` over a run stores what it stores column by column."""
    runs: list[tuple[int, int, float]] = []
    for col, width in sorted(widths.items()):
        if runs and runs[-1][1] == col - 1 and runs[-1][2] == width and col < EXCEL_MAX_COLUMNS:
            runs[-1] = (runs[-1][0], col, width)
        else:
            runs.append((col, col, width))
    return runs


def _write_sheet(wb: Any, ws: Any, s: SheetSpec, fmt: Any) -> None:
    if FAST_CELLS:
        for first, last, width in _column_runs(s.widths):
            ws.set_column(first, last, width)
    else:
        for col, width in sorted(s.widths.items()):
            ws.set_column(col, col, width)
    for row, height in sorted(s.heights.items()):
        ws.set_row(row, height)
    # row-major; keys are unique, so sorting on them alone gives the same order (and does
    # not compare the cells, three times faster)
    cells = sorted(s.cells.items(), key=_POSITION)
    if cells:
        rows = cells[-1][0][0] + 1
        cols = max(map(_COLUMN, s.cells)) + 1
        if rows > EXCEL_MAX_ROWS or cols > EXCEL_MAX_COLUMNS:
            raise ExcelLimitError(
                f"sheet {s.name!r} would need {rows:,} rows and {cols:,} columns; Excel holds "
                f"{EXCEL_MAX_ROWS:,} x {EXCEL_MAX_COLUMNS:,}. Run fewer firms (--firms), fewer grid "
                f"points, or --no-workbooks (the CSV and parquet tables have no such limit)"
            )
    # interest cover capped in display: a conditional number format on every cover cell
    # (number or formula), first, so it wins in LibreOffice (which applies the first true
    # rule only)
    if isinstance(ws, FastWorksheet):
        capped = ws.store_cells(cells, fmt, sorted(s.links), lookup=s.cells, mark=_cover_style)
        cells_left: list[tuple[tuple[int, int], Cell]] = []
    else:
        cells_left = cells
        cover = _cover_styles(s)
        capped = [
            pos for pos, cell in cells if cell.style in cover and cell.kind in ("number", "formula")
        ]
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
    cap_rule = (
        {"type": "cell", "criteria": ">", "value": COVER_CAP, "format": fmt("cf_cap")}
        if capped
        else {}
    )
    if isinstance(ws, FastWorksheet):
        ws.repeat_cell_rule(capped, cap_rule)
    else:
        for row, col in capped:
            ws.conditional_format(row, col, row, col, cap_rule)
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
    links = sorted(s.links.items())
    if not (
        isinstance(ws, FastWorksheet)
        and ws.store_links(
            [(row, col, link.target, link.text) for (row, col), link in links], fmt("link")
        )
    ):
        for (row, col), link in links:
            ws.write_url(row, col, link.target, fmt("link"), link.text)
    for v in s.validations:
        if isinstance(ws, FastWorksheet):
            ws.validate_cell(v.row, v.col, dict(v.options))
        else:
            ws.data_validation(v.row, v.col, v.row, v.col, dict(v.options))
    if s.tab_color:
        ws.set_tab_color(s.tab_color)


def _cover_style(style: str) -> bool:
    """An interest-cover style (``cover``, ``cover/<role>``)."""
    return style.partition("/")[0] == "cover"


def _cover_styles(s: SheetSpec) -> set[str]:
    """The interest-cover styles the cells of ``s`` use."""
    return {st for st in set(map(_STYLE, s.cells.values())) if _cover_style(st)}


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


#: a chart data point XlsxWriter's ``_xml_data_element`` writes escaped
_SPECIAL_POINT = re.compile(r'["&<>\n]|_x[0-9a-fA-F]{4}_|[\x00-\x08\x0b-\x1f\ufffe\uffff]')


def _fast_points(chart: Any) -> Any:
    """``chart`` writing the ``<c:pt>`` elements of its cached data in one call each (a
    number, or text that needs no escaping; anything else through XlsxWriter's own
    ``_write_pt``). Same bytes."""
    stock = chart._write_pt

    def write_pt(idx: int, value: Any) -> None:
        if value is None:
            return
        cls = value.__class__
        if cls is float or cls is int or (cls is str and not _SPECIAL_POINT.search(value)):
            chart.fh.write(f'<c:pt idx="{idx}"><c:v>{value}</c:v></c:pt>')
        else:
            stock(idx, value)

    chart._write_pt = write_pt  # on this instance only
    return chart


#: chart XML by (chart spec without its title, chart number, type of each data range of
#: the chart and of a chart combined with it): the text around the chart's data caches
#: and its title (the same for every firm: only the cached points and the ticker in the
#: title differ), with where each cache's data comes from
_CHART_XML: dict[Any, tuple[list[str], list[tuple[int, str, int]]]] = {}
_CHART_XML_MAX = 2_000
_CACHE_HOLE, _TITLE_HOLE = "\x00", "\x01"  # never in XlsxWriter's XML (it escapes them)
_HOLES = re.compile("([\x00\x01])")


def _templated_xml(chart: Any, spec: ChartSpec) -> Any:
    """``chart`` (made by :func:`_chart` from ``spec``) assembling its XML from a template
    of its key (:data:`_CHART_XML`), made by XlsxWriter's own writer the first time: the
    data caches are written by XlsxWriter's ``_write_num_cache``/``_write_str_cache`` from
    this chart's data, the title text escaped as XlsxWriter escapes it. Same bytes."""

    def assemble() -> None:
        parts = [chart] if chart.combined is None else [chart, chart.combined]
        key = (
            replace(spec, title=_TITLE_HOLE if spec.title else ""),
            chart.id,
            tuple(tuple(map(c._get_data_type, c.formula_data)) for c in parts),
        )
        title = f"<a:t>{chart._escape_control_characters(chart._escape_data(spec.title))}</a:t>"
        template = _CHART_XML.get(key)
        if template is None:
            template = _chart_template(chart, parts, title)
            if template is None:  # the title is not one <a:t> element: the stock writer
                type(chart)._assemble_xml_file(chart)
                return
            if len(_CHART_XML) >= _CHART_XML_MAX:
                _CHART_XML.clear()
            _CHART_XML[key] = template
        pieces, caches = template
        out = [pieces[0]]
        cache = iter(caches)
        for sep, piece in zip(pieces[1::2], pieces[2::2], strict=True):
            if sep == _TITLE_HOLE:
                out.append(title)
            else:
                i, kind, idx = next(cache)
                c = parts[i]
                fh, c.fh = c.fh, io.StringIO()
                try:
                    write = type(c)._write_num_cache if kind == "num" else type(c)._write_str_cache
                    write(c, c.formula_data[idx])
                    out.append(c.fh.getvalue())
                finally:
                    c.fh = fh
            out.append(piece)
        chart.fh.write("".join(out))

    chart._assemble_xml_file = assemble  # on this instance only
    return chart


def _chart_template(
    chart: Any, parts: list[Any], title: str
) -> tuple[list[str], list[tuple[int, str, int]]] | None:
    # the chart's XML from XlsxWriter's writer, a hole written in place of each data cache
    # (recording which chart and which of its data ranges) and of the title's <a:t>
    caches: list[tuple[int, str, int]] = []

    def hole(i: int, kind: str) -> Any:
        c = parts[i]

        def write(data: Any) -> None:
            idx = next(j for j, d in enumerate(c.formula_data) if d is data)
            caches.append((i, kind, idx))
            c.fh.write(_CACHE_HOLE)

        return write

    fh, chart.fh = chart.fh, io.StringIO()
    try:
        for i, c in enumerate(parts):
            c._write_num_cache, c._write_str_cache = hole(i, "num"), hole(i, "str")
        type(chart)._assemble_xml_file(chart)
        text = chart.fh.getvalue()
    finally:
        chart.fh = fh
        for c in parts:
            del c._write_num_cache, c._write_str_cache
    if (title != "<a:t></a:t>" and text.count(title) != 1) or _TITLE_HOLE in text:
        return None
    if title != "<a:t></a:t>":
        text = text.replace(title, _TITLE_HOLE)
    return _HOLES.split(text), caches


#: (chart class, series options) -> the series XlsxWriter's add_series made of them (data
#: ids aside), shared by the charts of the process: the same series (scenario, range,
#: colour) is in every firm's charts
_SERIES: dict[tuple[type, str], dict[str, Any]] = {}
_SERIES_MAX = 10_000
#: the options _series gives; add_series has no side effect on the chart for these
_SERIES_OPTIONS = frozenset({"name", "values", "categories", "line", "fill", "border", "marker"})


def _add_series(chart: Any, options: dict[str, Any]) -> None:
    """``chart.add_series(options)``; the series for options met before is a copy of the
    one XlsxWriter made then, with this chart's data ids (taken in add_series' order)."""
    key = (type(chart), repr(options))
    template = _SERIES.get(key)
    if template is None or len(chart.series) >= 255 or not options.keys() <= _SERIES_OPTIONS:
        count = len(chart.series)
        chart.add_series(options)
        if (
            template is None
            and len(chart.series) == count + 1
            and options.keys() <= _SERIES_OPTIONS
        ):
            if len(_SERIES) >= _SERIES_MAX:
                _SERIES.clear()
            _SERIES[key] = dict(chart.series[-1])
        return
    cat_id = chart._get_data_id(template["categories"], None)
    val_id = chart._get_data_id(template["values"], None)
    name_id = chart._get_data_id(template["name_formula"], None)
    chart.series.append(
        {**template, "name_id": name_id, "val_data_id": val_id, "cat_data_id": cat_id}
    )


def _chart(wb: Any, spec: ChartSpec) -> Any:
    if spec.title.startswith(("=", "+", "-", "@")):
        raise ReportError(f"chart title {spec.title!r} would be read as a formula")
    chart = wb.add_chart({"type": spec.kind})
    if FAST_CELLS:
        _templated_xml(_fast_points(chart), spec)
    add = _add_series if FAST_CELLS else type(chart).add_series
    for s in spec.series:
        add(chart, _series(s, spec.kind == "line"))
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
        if FAST_CELLS:
            _fast_points(line)
        for s in spec.overlay_line:
            add(line, _series(s, True))
        chart.combine(line)
    return chart
