"""The Excel back end of :func:`stressmodel.model.quarter.step`: values are formula text.

:class:`Formula` overloads ``+ - * /`` and unary ``-``; every binary operation is
parenthesised, so the spreadsheet evaluates exactly the expression tree Python built (the
same tree the polars engine and the float reference evaluate). :class:`ExcelOps` is the
:class:`stressmodel.model.quarter.Ops` interface: ``max``/``min`` render ``MAX(...)``/``MIN(...)``
and ``let(name, expr)`` writes ``=expr`` into the row of line item ``name`` in the current
column, with the engine's value of that line item as the cached result, and returns a
reference to the cell.

Formula text is made only of cell references, defined names (checked by
:func:`stressmodel.report.spec.check_name`), numbers and operators: no text from inputs.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from stressmodel.errors import ReportError
from stressmodel.report.spec import SheetSpec, check_name


def col_letter(col: int) -> str:
    """0-based column index -> letters (0 -> A, 26 -> AA)."""
    out = ""
    col += 1
    while col:
        col, rem = divmod(col - 1, 26)
        out = chr(65 + rem) + out
    return out


def cell_ref(row: int, col: int, absolute: bool = False) -> str:
    """0-based (row, col) -> ``D5`` (or ``$D$5``)."""
    if absolute:
        return f"${col_letter(col)}${row + 1}"
    return f"{col_letter(col)}{row + 1}"


def sheet_ref(sheet: str, row: int, col: int) -> str:
    """An absolute reference to a cell on another sheet: ``'seed'!$D$5``."""
    if "'" in sheet:
        raise ReportError(f"workbook layout: sheet name {sheet!r} cannot be referenced")
    return f"'{sheet}'!{cell_ref(row, col, absolute=True)}"


def number_text(x: float | int) -> str:
    """A constant as formula text: shortest round-trip digits, ``E`` exponent, negative
    numbers in parentheses. At most 15 significant digits (what a spreadsheet keeps)."""
    x = float(x)
    if x == 0:
        return "0"
    if not math.isfinite(x):
        raise ReportError(f"workbook layout: non-finite constant {x!r} in a formula")
    text = repr(x)
    if text.endswith(".0"):
        text = text[:-2]
    text = text.upper().replace("E+", "E")
    digits = text.lstrip("-").split("E")[0].replace(".", "").strip("0")
    if len(digits) > 15:
        raise ReportError(
            f"workbook layout: constant {x!r} needs more than 15 digits; put it in a named cell"
        )
    return f"({text})" if x < 0 else text


class Formula:
    """Formula text with operator overloading (every binary operation parenthesised)."""

    __slots__ = ("text",)

    def __init__(self, text: str):
        self.text = text

    def __repr__(self) -> str:
        return f"Formula({self.text!r})"

    @staticmethod
    def of(value: Any) -> Formula:
        if isinstance(value, Formula):
            return value
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise ReportError(
                f"workbook layout: cannot put {type(value).__name__} {value!r} in a formula"
            )
        return Formula(number_text(value))

    def _bin(self, op: str, other: Any, reverse: bool = False) -> Formula:
        o = Formula.of(other)
        a, b = (o, self) if reverse else (self, o)
        return Formula(f"({a.text}{op}{b.text})")

    def __add__(self, other: Any) -> Formula:
        return self._bin("+", other)

    def __radd__(self, other: Any) -> Formula:
        return self._bin("+", other, True)

    def __sub__(self, other: Any) -> Formula:
        return self._bin("-", other)

    def __rsub__(self, other: Any) -> Formula:
        return self._bin("-", other, True)

    def __mul__(self, other: Any) -> Formula:
        return self._bin("*", other)

    def __rmul__(self, other: Any) -> Formula:
        return self._bin("*", other, True)

    def __truediv__(self, other: Any) -> Formula:
        return self._bin("/", other)

    def __rtruediv__(self, other: Any) -> Formula:
        return self._bin("/", other, True)

    def __pow__(self, other: Any) -> Formula:
        return self._bin("^", other)

    def __neg__(self) -> Formula:
        return Formula(f"(-{self.text})")

    def __pos__(self) -> Formula:
        return self

    def __bool__(self) -> bool:
        raise ReportError("workbook layout: a formula has no truth value (use ops.max/ops.min)")


def name(n: str) -> Formula:
    """A reference to a defined name."""
    return Formula(check_name(n))


def call(function: str, *args: Any) -> Formula:
    return Formula(f"{function}(" + ",".join(Formula.of(a).text for a in args) + ")")


def strip_outer(text: str) -> str:
    """Drop one pair of parentheses enclosing the whole text (for readability)."""
    if not (text.startswith("(") and text.endswith(")")):
        return text
    depth = 0
    for i, ch in enumerate(text):
        if ch == "(":
            depth += 1
        elif ch == ")":
            depth -= 1
            if depth == 0 and i != len(text) - 1:
                return text
    return text[1:-1]


def formula_text(value: Any) -> str:
    """``=...`` text of a formula or constant."""
    return "=" + strip_outer(Formula.of(value).text)


class TemplateOps:
    """The :class:`stressmodel.model.quarter.Ops` interface recording, for one column, the
    formula text of every line item in model order, without a sheet or values.

    The text depends only on the rows, the column and the names the parameters are given
    (defined names, cell references), never on a firm's values: it is built once and
    written for every firm with that firm's cached values (:func:`fill_column`).
    ``cells`` holds ``(line item, row, "=...")``.
    """

    def __init__(self, rows: Mapping[str, int], col: int, sheet_name: str = ""):
        self.rows, self.col, self.sheet_name = rows, col, sheet_name
        self.cells: list[tuple[str, int, str]] = []

    def let(self, name: str, value: Any) -> Formula:
        if name not in self.rows:
            raise ReportError(
                f"workbook layout: no row for line item {name!r} on sheet {self.sheet_name!r}"
            )
        row = self.rows[name]
        self.cells.append((name, row, formula_text(value)))
        return Formula(cell_ref(row, self.col))

    @staticmethod
    def max(*values: Any) -> Formula:
        return call("MAX", *values)

    @staticmethod
    def min(*values: Any) -> Formula:
        return call("MIN", *values)


def fill_column(
    sheet: SheetSpec,
    col: int,
    cells: Sequence[tuple[str, int, str]],
    cached: Mapping[str, float],
    style: Callable[[str], str],
) -> None:
    """Write recorded formulas (:attr:`TemplateOps.cells`) into column ``col`` of
    ``sheet``, each with the engine's value of its line item as the cached result (a
    missing value is an error, as in :class:`ExcelOps`)."""
    missing = [name for name, _row, _text in cells if name not in cached]
    if missing:
        raise ReportError(
            f"workbook layout: the engine gave no value of {missing[0]!r} for sheet {sheet.name!r}"
        )
    sheet.formula_column(col, cells, cached, style)


class ExcelOps(TemplateOps):
    """The :class:`stressmodel.model.quarter.Ops` interface writing formulas into one column.

    ``rows`` maps line-item names to sheet rows; ``cached`` gives the engine's value of
    each line item for this column (a missing value is an error: cached values come from
    the engine's results, never from evaluating the formulas here); ``style`` the cell
    style of a line item. The same text as :class:`TemplateOps` records.
    """

    def __init__(
        self,
        sheet: SheetSpec,
        rows: Mapping[str, int],
        col: int,
        cached: Mapping[str, float],
        style: Callable[[str], str],
    ):
        super().__init__(rows, col, sheet.name)
        self.sheet, self.cached, self.style = sheet, cached, style
        self.written: list[str] = []

    def let(self, name: str, value: Any) -> Formula:
        ref = super().let(name, value)
        fill_column(self.sheet, self.col, self.cells[-1:], self.cached, self.style)
        self.written.append(name)
        return ref


class RecordingOps:
    """An Ops that only records the names of the line items, in model order."""

    def __init__(self) -> None:
        self.names: list[str] = []

    def let(self, name: str, value: Any) -> Formula:
        self.names.append(name)
        return Formula("0")

    @staticmethod
    def max(*values: Any) -> Formula:
        return Formula("0")

    @staticmethod
    def min(*values: Any) -> Formula:
        return Formula("0")


# --- drivers: the intensity path and the raw-material level as formulas ---------------------


def intensity_formula(quarter: Formula, prefix: str) -> Formula:
    """:func:`stressmodel.inputs.scenarios.intensity` as a formula of the quarter number and the
    scenario's named inputs ``<prefix>_start`` (quarter number of the start, 0 = the as-of
    quarter), ``_duration_quarters``, ``_recovery_quarters`` and ``_permanent_share``:

    0 before the start; 1 for ``duration`` quarters; then ``1 - (1 - permanent) (j + 1) /
    recovery`` in recovery quarter j = 0, 1, ...; ``permanent`` thereafter (and at once
    when ``recovery`` is 0).
    """
    start = name(f"{prefix}_start")
    dur = name(f"{prefix}_duration_quarters")
    rec = name(f"{prefix}_recovery_quarters")
    perm = name(f"{prefix}_permanent_share")
    k = quarter - start
    j = k - dur
    ramp = 1 - (1 - perm) * (j + 1) / rec
    return Formula(
        f"IF({k.text}<0,0,IF({k.text}<{dur.text},1,IF({rec.text}<=0,{perm.text},"
        f"IF({j.text}<{rec.text},{ramp.text},{perm.text}))))"
    )


def raw_material_formula(quarter: Formula, prefix: str, path: Formula | None = None) -> Formula:
    """The raw-material level of :func:`stressmodel.inputs.scenarios.scenario_paths`: the
    price shock from the start quarter on, ``change x (n >= start)``, on top of the PrNd
    path when the scenario assumes it: ``(1 + uses x path) (1 + shock) - 1``."""
    change, start = name(prefix + "_raw_material_price_change"), name(prefix + "_start")
    shock = f"({change.text}*({quarter.text}>={start.text}))"
    if path is None:
        return Formula(shock)
    uses = name(prefix + "_uses_prnd_path")
    return Formula(f"((1+{uses.text}*{path.text})*(1+{shock})-1)")
