"""Excel workbooks of a run: one live workbook per firm and a sector summary.

:func:`workbook_specs` is the pure layout step (run -> workbook specs: sheets, typed
cells, styles, names, charts); :func:`write_workbooks` writes them with XlsxWriter.
See :mod:`stressmodel.report.sheets` for the firm workbook and
:mod:`stressmodel.report.sector` for the sector summary.
"""

from __future__ import annotations

from pathlib import Path

from stressmodel.inputs.load import Inputs
from stressmodel.names import safe_component
from stressmodel.pipeline.result import RunResult
from stressmodel.report.sector import SECTOR_FILE, sector_workbook
from stressmodel.report.sheets.firm import firm_context, firm_workbook
from stressmodel.report.spec import WorkbookSpec
from stressmodel.report.values import case_values
from stressmodel.report.writer import write_workbook

__all__ = ["SECTOR_FILE", "workbook_specs", "write_workbooks"]


def workbook_specs(result: RunResult, inputs: Inputs) -> list[WorkbookSpec]:
    """Every workbook of a run as a spec (pure): firms in run order, then the sector summary."""
    values = case_values(result, inputs.sector.float("discount_rate"))
    specs = []
    for ticker in result.tickers:
        safe_component(ticker, "ticker")
        specs.append(firm_workbook(firm_context(result, inputs, ticker, values)))
    specs.append(sector_workbook(result, inputs, values))
    return specs


def write_workbooks(result: RunResult, inputs: Inputs, folder: Path) -> list[str]:
    """Write ``<TICKER>.xlsx`` for every firm of the run and ``sector_summary.xlsx`` into
    ``folder``; returns the file names written."""
    names = []
    for spec in workbook_specs(result, inputs):
        write_workbook(spec, Path(folder))
        names.append(spec.filename)
    return names
