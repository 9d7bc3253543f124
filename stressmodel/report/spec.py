"""The workbook spec: sheets, typed cells, styles, names, charts — plain data, no I/O.

:mod:`stressmodel.report.sheets` and :mod:`stressmodel.report.sector` build a
:class:`WorkbookSpec` from a run (pure); :mod:`stressmodel.report.writer` turns it into an
``.xlsx`` file with XlsxWriter. Every cell is typed: text from inputs is a ``string`` cell
and is written with ``write_string``, so it can never become a formula; formula text is
built only by :mod:`stressmodel.report.formulas` from cell references, defined names and
numbers (never from input text).

Styles are keys ``"<kind>"`` or ``"<kind>/<role>"``: the kind gives the number format
(:data:`NUMBER_FORMATS`), the role the look (``calc`` live formula, ``input`` an input
cell — blue font on a light fill —, ``engine`` a value computed by the engine, not live).
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field, replace
from typing import Any, Literal, NamedTuple

from stressmodel.errors import ReportError

CellKind = Literal["string", "number", "formula", "bool"]

#: interest cover above this reads "> 50x" (display only)
COVER_CAP = 50.0

#: number formats by kind (CNY mn with thousands separator, % for fractions, 0.0x multiples)
NUMBER_FORMATS: dict[str, str] = {
    "money": "#,##0.0;[Red]-#,##0.0",
    "tonnes": "#,##0.0;[Red]-#,##0.0",
    "unit_price": "#,##0.0000",
    "pct": "0.0%",
    "pct2": "0.00%",
    "days": "#,##0.0",
    "multiple": '0.0"x"',
    "multiple2": '0.00"x"',
    "ratio2": "0.00",
    "per_share": "#,##0.00",
    "count": "0",
    "score": "0.000",
    "ratio": "0.0000",
    "factor": "0.000000",
    "number": "#,##0.00##",
    "sci": "0.0E+00",
    "shares": "#,##0.0",
    "date": "yyyy-mm-dd",
    # interest cover; above COVER_CAP the writer's conditional format shows "> 50x" (the cell
    # keeps the exact value). Not a [>50] section: LibreOffice drops the minus sign of the
    # other section, so -5.0 would read 5.0x
    "cover": '0.0"x";-0.0"x"',
    # quarter of the first revolving draw; the sentinel k_none (1E+9) reads "none"
    "quarter": '[>=1000000]"none";0',
    # a count of failed checks: 0 reads OK
    "check": '"FAIL: "0;"FAIL: "0;"OK"',
}
ROLES: dict[str, dict[str, Any]] = {
    "calc": {},
    "input": {
        "font_color": "#0000FF",
        "bg_color": "#FFF2CC",
        "border": 1,
        "border_color": "#BFBFBF",
    },
    "engine": {"font_color": "#404040", "bg_color": "#F2F2F2"},
    # an engine value on a sheet of live formulas: it does not move when inputs change
    "frozen": {"font_color": "#404040", "bg_color": "#E4DFEC", "italic": True},
    "head": {"bold": True, "bg_color": "#DDEBF7", "bottom": 1},
}
TEXT_STYLES: dict[str, dict[str, Any]] = {
    "text": {},
    "wrap": {"text_wrap": True, "valign": "top"},
    # wrapped text in a table row of numbers: on the numbers' baseline (bottom)
    "wrap_row": {"text_wrap": True, "valign": "bottom"},
    "title": {"bold": True, "font_size": 14},
    "subtitle": {"italic": True, "font_color": "#595959"},
    "header": {
        "bold": True,
        "bg_color": "#DDEBF7",
        "bottom": 1,
        "text_wrap": True,
        "valign": "top",
    },
    "header_num": {
        "bold": True,
        "bg_color": "#DDEBF7",
        "bottom": 1,
        "align": "right",
        "valign": "top",
    },
    "section": {"bold": True, "bg_color": "#F2F2F2", "top": 1},
    "label": {},
    "label_bold": {"bold": True},
    "key": {"font_color": "#808080", "font_size": 9},
    "note": {"italic": True, "font_color": "#595959"},
    "status": {"font_color": "#595959"},
    "status_right": {"font_color": "#595959", "align": "right"},
    "input_text": {"font_color": "#0000FF", "bg_color": "#FFF2CC"},
    "cf_green": {"bg_color": "#C6EFCE", "font_color": "#006100"},
    "cf_amber": {"bg_color": "#FFEB9C", "font_color": "#9C5700"},
    "cf_red": {"bg_color": "#FFC7CE", "font_color": "#9C0006"},
    "cf_cap": {"num_format": '"> 50x"'},
    "big": {"bold": True, "font_size": 12},
    "link": {"font_color": "#0563C1", "underline": 1},
    "verdict": {"bold": True, "font_size": 12, "text_wrap": True, "valign": "top"},
    "frozen_text": {"font_color": "#404040", "bg_color": "#E4DFEC", "italic": True},
}

_FORMULA_SAFE = re.compile(r"^=[A-Za-z0-9_.$!'(),:+\-*/^<>=\s]*$")
#: formula texts that passed _FORMULA_SAFE (the scenario sheets of every firm share theirs)
_SAFE_FORMULAS: set[str] = set()
_SAFE_FORMULAS_MAX = 500_000
_NAME_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_.]{0,254}$")
_A1_LIKE = re.compile(r"^[A-Za-z]{1,3}[0-9]+$")
_R1C1_LIKE = re.compile(r"^([Rr][0-9]*)?([Cc][0-9]*)?$")


def style_properties(style: str) -> dict[str, Any]:
    """XlsxWriter format properties of a style key (raises ReportError if unknown)."""
    if style in TEXT_STYLES:
        return dict(TEXT_STYLES[style])
    kind, _, role = style.partition("/")
    role = role or "calc"
    if kind not in NUMBER_FORMATS or role not in ROLES:
        raise ReportError(f"workbook layout: unknown cell style {style!r}")
    return {"num_format": NUMBER_FORMATS[kind], **ROLES[role]}


def check_name(name: str) -> str:
    """A defined name that Excel and LibreOffice accept and that cannot be read as a cell
    reference (``A1``, ``TAX2024``) or an R1C1 reference (``R``, ``C``, ``R1C1``)."""
    if (
        not _NAME_RE.match(name)
        or _A1_LIKE.match(name)
        or _R1C1_LIKE.match(name)
        or name.upper() in ("TRUE", "FALSE")
    ):
        raise ReportError(f"workbook layout: {name!r} cannot be used as a defined name")
    return name


class Cell(NamedTuple):
    """A typed cell (immutable). A named tuple rather than a frozen dataclass: a
    workbook holds some 14,000 of them per firm, and a tuple is made and read in a
    fraction of the time."""

    kind: CellKind
    value: Any  # number, text or bool; for a formula the engine's cached value
    style: str = "text"
    formula: str | None = None


#: what a Cell's generated __new__ calls, without its Python frame (for the cell builders)
_new = tuple.__new__


def _as_float(value: Any) -> float:
    return math.nan if value is None or value.__class__ is bool else float(value)


def _check_formula(formula: str, sheet: str) -> None:
    """Formula text of cell references, names, numbers and operators only (remembered
    in _SAFE_FORMULAS once checked)."""
    if not isinstance(formula, str) or not _FORMULA_SAFE.match(formula) or '"' in formula:
        raise ReportError(f"workbook layout: unsafe formula text on {sheet!r}: {formula!r}")
    if len(_SAFE_FORMULAS) >= _SAFE_FORMULAS_MAX:
        _SAFE_FORMULAS.clear()
    _SAFE_FORMULAS.add(formula)


@dataclass(frozen=True)
class Range:
    """A rectangle on a sheet, 0-based inclusive."""

    sheet: str
    first_row: int
    first_col: int
    last_row: int
    last_col: int

    def as_list(self) -> list[Any]:
        return [self.sheet, self.first_row, self.first_col, self.last_row, self.last_col]


@dataclass(frozen=True)
class Series:
    name: str
    values: Range
    categories: Range | None = None
    color: str | None = None
    marker: bool = False


@dataclass(frozen=True)
class ChartSpec:
    kind: Literal["line", "column", "bar"]
    title: str
    series: tuple[Series, ...]
    anchor: tuple[int, int]
    x_title: str = ""
    y_title: str = ""
    y_format: str | None = None
    size: tuple[int, int] = (900, 400)
    overlay_line: tuple[Series, ...] = ()  # extra series drawn as a line on the same axes


#: Excel's limits that counts from the inputs can reach (scenario names, firms, grid points)
EXCEL_MAX_SERIES = 255
EXCEL_MAX_ROWS = 1_048_576
EXCEL_MAX_COLUMNS = 16_384


def cap_series(chart: ChartSpec) -> ChartSpec:
    """A chart with at most EXCEL_MAX_SERIES series (overlay included); when some had to
    be left out, the title says how many are drawn, so the sheet states the cap. Applied
    by the writer to every chart."""
    total = len(chart.series) + len(chart.overlay_line)
    if total <= EXCEL_MAX_SERIES:
        return chart
    keep_overlay = chart.overlay_line[:EXCEL_MAX_SERIES]
    keep = chart.series[: EXCEL_MAX_SERIES - len(keep_overlay)]
    drawn = len(keep) + len(keep_overlay)
    title = f"{chart.title} - first {drawn} of {total} series (Excel charts hold at most {EXCEL_MAX_SERIES})"
    return replace(chart, series=keep, overlay_line=keep_overlay, title=title)


@dataclass(frozen=True)
class CondFormat:
    """A conditional format on a range; ``options`` as XlsxWriter's ``conditional_format``
    takes them, with ``"format"`` given as a style key."""

    first_row: int
    first_col: int
    last_row: int
    last_col: int
    options: dict[str, Any]


_URL_SAFE = re.compile(r"^https?://[A-Za-z0-9._~:/?#\[\]@!$&()*+,;=%-]{1,240}$")


@dataclass(frozen=True)
class Link:
    """A hyperlink cell: ``target`` is ``internal:'Sheet'!A1`` (built by the layout) or an
    http(s) URL from inputs that passed :func:`safe_url`; ``text`` is shown as text."""

    target: str
    text: str


def safe_url(url: str) -> bool:
    """An http(s) URL of plain URL characters (no quotes, spaces or control characters),
    short enough for every spreadsheet."""
    return bool(_URL_SAFE.match(url)) and "'" not in url and '"' not in url


@dataclass(frozen=True)
class Validation:
    """Data validation of one cell; ``options`` as XlsxWriter's ``data_validation`` takes
    them (numbers only, no text from inputs)."""

    row: int
    col: int
    options: dict[str, Any]


@dataclass
class SheetSpec:
    name: str
    cells: dict[tuple[int, int], Cell] = field(default_factory=dict)
    widths: dict[int, float] = field(default_factory=dict)
    freeze: tuple[int, int] | None = None
    cond_formats: list[CondFormat] = field(default_factory=list)
    charts: list[ChartSpec] = field(default_factory=list)
    repeat_rows: tuple[int, int] | None = None
    heights: dict[int, float] = field(default_factory=dict)  # row -> height in points
    page_breaks: list[int] = field(default_factory=list)  # rows starting a new printed page
    landscape: bool = True
    tab_color: str | None = None
    fit_one_page: bool = False  # print on one page (else one page wide)
    header: str = ""  # print header/footer, XlsxWriter codes (&L &C &R &D); & in text as &&
    footer: str = ""
    validations: list[Validation] = field(default_factory=list)
    links: dict[tuple[int, int], Link] = field(default_factory=dict)

    # --- building helpers (pure) -------------------------------------------------------

    def _put(self, row: int, col: int, cell: Cell) -> None:
        if self.cells.setdefault((row, col), cell) is not cell:
            raise ReportError(
                f"workbook layout: cell ({row}, {col}) of sheet {self.name!r} written twice"
            )

    def text(self, row: int, col: int, value: str, style: str = "text") -> None:
        cell = _new(Cell, ("string", value if value.__class__ is str else str(value), style, None))
        if self.cells.setdefault((row, col), cell) is not cell:
            raise ReportError(
                f"workbook layout: cell ({row}, {col}) of sheet {self.name!r} written twice"
            )

    def number(
        self, row: int, col: int, value: float | int | None, style: str, missing: str = "n/a"
    ) -> None:
        """A number; ``None``/NaN/inf become the text ``missing`` (never an error value)."""
        v = math.nan if value is None or value.__class__ is bool else float(value)
        finite = v - v == 0.0  # not NaN, not infinite
        cell = _new(
            Cell, ("number", v, style, None) if finite else ("string", missing, "status", None)
        )
        if self.cells.setdefault((row, col), cell) is not cell:
            raise ReportError(
                f"workbook layout: cell ({row}, {col}) of sheet {self.name!r} written twice"
            )

    def numbers(
        self,
        row: int,
        col: int,
        values: Iterable[float | int | None],
        style: str,
        missing: str = "n/a",
    ) -> None:
        """:meth:`number` of each of ``values`` down column ``col`` from ``row`` (same
        cells, same checks), in one loop."""
        put = self.cells.setdefault
        new = _new
        absent = new(Cell, ("string", missing, "status", None))
        for r, value in enumerate(values, start=row):
            v = math.nan if value is None or value.__class__ is bool else float(value)
            cell = new(Cell, ("number", v, style, None)) if v - v == 0.0 else absent
            if put((r, col), cell) is not cell:
                raise ReportError(
                    f"workbook layout: cell ({r}, {col}) of sheet {self.name!r} written twice"
                )

    def value(self, row: int, col: int, value: Any, style: str, missing: str = "n/a") -> None:
        """Any engine value: text as text, numbers as numbers, None as ``missing``."""
        if isinstance(value, str):
            self.text(row, col, value, "status" if style not in TEXT_STYLES else style)
        elif isinstance(value, bool):
            self._put(row, col, Cell("bool", value, "text"))
        elif value is None or isinstance(value, int | float):
            self.number(row, col, value, style, missing)
        else:
            self.text(row, col, str(value), "status")

    def formula(self, row: int, col: int, formula: str, value: float, style: str) -> None:
        """A live formula with the engine's value as its cached result."""
        self.formulas(((row, col, formula, value, style),))

    def formulas(self, entries: Iterable[tuple[int, int, str, Any, str]]) -> None:
        """Live formulas ``(row, col, formula, engine value, style)``, each as
        :meth:`formula` writes one (same checks, same cells), in one loop."""
        put = self.cells.setdefault
        safe = _SAFE_FORMULAS
        new = _new
        for row, col, formula, value, style in entries:
            if formula not in safe:
                _check_formula(formula, self.name)
            v = math.nan if value is None or value.__class__ is bool else float(value)
            if v - v != 0.0:  # NaN or infinite
                raise ReportError(
                    f"workbook layout: no finite engine value for the formula {formula!r} on "
                    f"{self.name!r}"
                )
            cell = new(Cell, ("formula", v, style, formula))
            if put((row, col), cell) is not cell:
                raise ReportError(
                    f"workbook layout: cell ({row}, {col}) of sheet {self.name!r} written twice"
                )

    def formula_column(
        self,
        col: int,
        cells: Iterable[tuple[str, int, str]],
        cached: Mapping[str, Any],
        style: Callable[[str], str],
    ) -> None:
        """:meth:`formulas` of ``(row, col, formula, cached[item], style(item))`` for each
        ``(item, row, formula)`` of ``cells`` (same checks, same cells), without an entry
        tuple per cell (``cached[item]`` must exist)."""
        put = self.cells.setdefault
        safe = _SAFE_FORMULAS
        new = _new
        for item, row, formula in cells:
            if formula not in safe:
                _check_formula(formula, self.name)
            value = cached[item]
            # a float as it is; None and bool as NaN (refused below), anything else float()
            v = value if value.__class__ is float else _as_float(value)
            if v - v != 0.0:  # NaN or infinite
                raise ReportError(
                    f"workbook layout: no finite engine value for the formula {formula!r} on "
                    f"{self.name!r}"
                )
            cell = new(Cell, ("formula", v, style(item), formula))
            if put((row, col), cell) is not cell:
                raise ReportError(
                    f"workbook layout: cell ({row}, {col}) of sheet {self.name!r} written twice"
                )

    def link(self, row: int, col: int, target: str, text: str) -> None:
        """A hyperlink; an external target that is not a safe URL is written as plain text."""
        if (row, col) in self.cells or (row, col) in self.links:
            raise ReportError(
                f"workbook layout: cell ({row}, {col}) of sheet {self.name!r} written twice"
            )
        internal = target.startswith("internal:'") and "!" in target
        if internal or safe_url(target):
            self.links[(row, col)] = Link(target, str(text))
        else:
            self.text(row, col, text)

    def width(self, first: int, last: int, width: float) -> None:
        for c in range(first, last + 1):
            self.widths[c] = width

    @property
    def max_row(self) -> int:
        return max((r for r, _ in self.cells), default=0)


@dataclass
class WorkbookSpec:
    filename: str
    sheets: list[SheetSpec]
    names: dict[str, tuple[str, int, int]] = field(
        default_factory=dict
    )  # name -> (sheet, row, col)
    properties: dict[str, Any] = field(default_factory=dict)
    # lower-case names defined so far (Excel's names are case-insensitive); a set rather
    # than a scan of every name per definition, which was quadratic in the names
    _defined: set[str] = field(default_factory=set, repr=False, compare=False)

    def define(self, name: str, sheet: str, row: int, col: int) -> str:
        check_name(name)
        if len(self._defined) != len(self.names):  # names given another way than define
            self._defined = {n.lower() for n in self.names}
        if name.lower() in self._defined:
            raise ReportError(
                f"workbook layout: defined name {name!r} used twice in {self.filename}"
            )
        self.names[name] = (sheet, row, col)
        self._defined.add(name.lower())
        return name

    def sheet(self, name: str) -> SheetSpec:
        for s in self.sheets:
            if s.name == name:
                return s
        raise KeyError(name)

    def cell_count(self) -> int:
        return sum(len(s.cells) for s in self.sheets)

    def formula_count(self) -> int:
        return sum(1 for s in self.sheets for c in s.cells.values() if c.kind == "formula")
