"""Shared pieces of the firm workbook sheets: the scenario-sheet grid, the run context
(:class:`FirmContext`), document properties, traffic-light rules and small helpers.
"""

from __future__ import annotations

import datetime as dt
import functools
import math
from dataclasses import dataclass, field
from typing import Any, TypeGuard

import polars as pl

from stressmodel import __version__
from stressmodel.errors import ReportError
from stressmodel.inputs.load import Inputs
from stressmodel.inputs.periods import quarter_end_date, quarter_label
from stressmodel.model.base import FirmBase
from stressmodel.model.quarter import (
    ALL_FIRM_PARAMS,
    SCENARIO_PARAMS,
    STATE,
    step,
    terminal,
)
from stressmodel.pipeline.result import RunResult
from stressmodel.report import catalog
from stressmodel.report.formulas import (
    Formula,
    RecordingOps,
)
from stressmodel.report.spec import CondFormat, SheetSpec, WorkbookSpec
from stressmodel.report.values import CaseValues

# scenario sheet columns
COL_LABEL, COL_UNIT, COL_KEY, COL_OPEN, COL_Q1 = 0, 1, 2, 3, 4
HEADER_ROW, QUARTER_ROW = 2, 3
RESERVED_SHEETS = (
    "Summary",
    "Contents",
    "Dictionary",
    "Assumptions",
    "Sensitivity",
    "Risk",
    "Consolidation",
    "Charts",
    "Checks",
    "Provenance",
    "Tracking",
)
SCENARIO_COLORS = ("#1F4E79", "#C55A11", "#548235", "#7030A0", "#BF9000", "#2E75B6", "#A5A5A5")

#: traffic-light thresholds on the Summary risk columns: (red if, amber if) as criteria
TRAFFIC_NOTE = (
    "Traffic lights: runway red <= 4 quarters, amber <= horizon; interest cover red < 1x, amber "
    "< 2x; "
    "Altman Z'' zone distress red, grey amber, safe green; Ohlson and default probability red "
    ">= 10%, "
    "amber >= 2%; net debt / EBITDA red > 4x, amber > 2.5x; consolidation score red >= 0.6, "
    "amber >= 0.3."
)


@dataclass
class FirmContext:
    result: RunResult
    inputs: Inputs
    ticker: str
    fb: FirmBase
    company: str
    values: dict[str, CaseValues]
    summary: dict[str, dict[str, Any]]
    discount_rate: float
    growth: float
    # positions filled while laying out
    vps_cells: dict[str, tuple[int, int] | None] = field(default_factory=dict)
    cash_rows: dict[str, int] = field(default_factory=dict)
    item_rows: dict[str, dict[str, int]] = field(default_factory=dict)  # scenario -> item -> row
    sheet_specs: dict[str, SheetSpec] = field(default_factory=dict)  # scenario sheets
    # scenario -> live metric (min_cash, min_interest_cover, first_draw, *_failures) -> cell
    metric_cells: dict[str, dict[str, tuple[int, int]]] = field(default_factory=dict)
    summary_rows: tuple[int, int, int] = (0, 0, 0)  # header row, first and last scenario row

    @property
    def scenarios(self) -> list[str]:
        return [s.name for s in self.result.scenarios]

    @property
    def quarters(self) -> list[str]:
        return list(self.result.quarters)

    def figure(self, name: str) -> float | None:
        return self.fb.get(name)


# --- helpers --------------------------------------------------------------------------------


def _is_num(v: Any) -> TypeGuard[float]:
    return isinstance(v, int | float) and not isinstance(v, bool) and math.isfinite(float(v))


def document_properties(as_of: int, title: str, subject: str) -> dict[str, Any]:
    """Fixed document properties: created/modified at the as-of quarter end (UTC midnight),
    so the same inputs give the same file whatever the clock says."""
    end = quarter_end_date(as_of)
    return {
        "title": title,
        "subject": subject,
        "author": f"stressmodel {__version__}",
        "company": "",
        "comments": f"stressmodel {__version__}; as of {quarter_label(as_of)}",
        "created": dt.datetime(end.year, end.month, end.day, tzinfo=dt.UTC),
    }


def scenario_inputs() -> list[str]:
    """Scenario parameters shown (and named) on Assumptions: every parameter the model reads
    (model.SCENARIO_PARAMS) and those of the intensity path."""
    path = (
        "start",
        "duration_quarters",
        "recovery_quarters",
        "permanent_share",
        "raw_material_price_change",
        "uses_prnd_path",
    )
    ordered = [p for p in catalog.SCENARIO_ROWS if p in SCENARIO_PARAMS or p in path]
    return ordered + [p for p in (*SCENARIO_PARAMS, *path) if p not in ordered]


def scenario_prefix(scenario: str) -> str:
    return scenario


def line_item_names() -> tuple[list[str], list[str]]:
    """Names of the line items of model.step and of model.terminal, in model order."""
    steps, terminal_names = _line_item_names()
    return list(steps), list(terminal_names)


@functools.cache
def _line_item_names() -> tuple[tuple[str, ...], tuple[str, ...]]:
    # model.step run once with a recording back end (the same for every sheet of a run)
    rec = RecordingOps()
    z = Formula("0")
    f = dict.fromkeys(ALL_FIRM_PARAMS, z)
    s = dict.fromkeys(SCENARIO_PARAMS, z)
    prev = dict.fromkeys(STATE, z)
    step(rec, f, s, prev, {"intensity": z, "raw_material_change": z})
    steps = list(rec.names)
    rec2 = RecordingOps()
    terminal(rec2, f, s, {n: z for n in steps})
    return tuple(steps), tuple(rec2.names)


# --- traffic lights and shared tables -------------------------------------------------------


def _traffic(
    sh: SheetSpec, r0: int, r1: int, c: int, rules: list[tuple[str, dict[str, Any]]]
) -> None:
    for style, crit in rules:
        sh.cond_formats.append(CondFormat(r0, c, r1, c, {**crit, "format": style}))


def traffic_rules(horizon: int) -> dict[str, list[tuple[str, dict[str, Any]]]]:
    """Traffic lights of the risk columns (red, amber, green), one rule set per column."""

    def cell(criteria: str, value: float) -> dict[str, Any]:
        return {"type": "cell", "criteria": criteria, "value": value}

    def text(value: str) -> dict[str, Any]:
        return {"type": "text", "criteria": "containing", "value": value}

    probability = [
        ("cf_red", cell(">=", 0.1)),
        ("cf_amber", cell(">=", 0.02)),
        ("cf_green", cell("<", 0.02)),
    ]
    score = [
        ("cf_red", cell(">=", 0.6)),
        ("cf_amber", cell(">=", 0.3)),
        ("cf_green", cell("<", 0.3)),
    ]
    return {
        "cash_runway_quarters": [
            ("cf_green", text("none")),
            ("cf_red", cell("<=", 4)),
            ("cf_amber", cell("<=", horizon)),
        ],
        "min_interest_cover": [
            ("cf_red", cell("<", 1)),
            ("cf_amber", cell("<", 2)),
            ("cf_green", cell(">=", 2)),
        ],
        "altman_zone": [
            ("cf_red", text("distress")),
            ("cf_amber", text("grey")),
            ("cf_green", text("safe")),
        ],
        "ohlson_probability": probability,
        "default_probability": probability,
        "net_debt_to_ebitda": [
            ("cf_red", cell(">", 4)),
            ("cf_amber", cell(">", 2.5)),
            ("cf_green", cell("<=", 2.5)),
        ],
        "consolidation_score": score,
        "consolidation_low": score,
        "consolidation_high": score,
    }


def risk_traffic_lights(
    sh: SheetSpec, r0: int, r1: int, col_of: dict[str, int], horizon: int
) -> None:
    """Apply :func:`traffic_rules` to every risk column the sheet has (rows r0..r1)."""
    for column, rules in traffic_rules(horizon).items():
        if column in col_of:
            _traffic(sh, r0, r1, col_of[column], rules)


def input_hashes(sh: SheetSpec, row: int, inputs: Inputs) -> int:
    """A File / SHA-256 table of every input file from ``row``; returns the row after it
    (one blank row left)."""
    sh.text(row, 0, "File", "header")
    sh.text(row, 1, "SHA-256", "header")
    row += 1
    for path, digest in sorted(inputs.file_hashes.items()):
        sh.text(row, 0, path)
        sh.text(row, 1, digest, "key")
        row += 1
    return row + 1


def _fmt(v: Any) -> str:
    return f"{v:.3f}" if _is_num(v) else "n/a"


def _name_value(wb: WorkbookSpec, n: str) -> float:
    sheet, row, col = wb.names[n]
    for s in wb.sheets:
        if s.name == sheet:
            return float(s.cells[(row, col)].value)
    raise ReportError(f"workbook layout: defined name {n} points to a missing sheet")


def rows_where(frame: pl.DataFrame, column: str, value: Any) -> pl.DataFrame:
    """``frame.filter(pl.col(column) == value)``, eagerly: the frame itself when every
    row matches (a firm's view of the run holds that firm's rows only,
    :func:`stressmodel.report.firm_views`), else the matching rows in order. A filter goes
    through polars' query engine, some 0.2-1 ms on a frame of a few rows; the sheets make
    a dozen of them per firm."""
    mask = frame.get_column(column) == value
    if mask.sum() == frame.height:  # nulls count as no match, as in the filter
        return frame
    return frame[mask.arg_true()]
