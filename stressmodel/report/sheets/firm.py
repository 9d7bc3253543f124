"""Firm workbook: a pure function from a run to a :class:`WorkbookSpec`.

Sheets, in order: Summary, Assumptions, one sheet per named scenario, Sensitivity, Risk,
Consolidation, Charts, Checks, Dictionary, Provenance (and Tracking when the run has a
tracking frame); Contents (hyperlinks to every sheet) second.
"""

from __future__ import annotations

from collections.abc import Mapping

import polars as pl

from stressmodel.errors import ReportError
from stressmodel.inputs.load import Inputs
from stressmodel.pipeline.result import RunResult
from stressmodel.report.frames import write_frame
from stressmodel.report.sheets.assumptions import assumptions_sheet
from stressmodel.report.sheets.charts import charts_sheet
from stressmodel.report.sheets.checks import checks_sheet
from stressmodel.report.sheets.common import (
    RESERVED_SHEETS,
    FirmContext,
    document_properties,
    rows_where,
)
from stressmodel.report.sheets.consolidation import consolidation_sheet
from stressmodel.report.sheets.navigation import contents_sheet, dictionary_sheet
from stressmodel.report.sheets.provenance import provenance_sheet
from stressmodel.report.sheets.risk import risk_sheet
from stressmodel.report.sheets.scenario import scenario_sheet
from stressmodel.report.sheets.sensitivity import sensitivity_sheet
from stressmodel.report.sheets.summary import summary_sheet
from stressmodel.report.spec import SheetSpec, WorkbookSpec
from stressmodel.report.values import CaseValues

# --- the firm workbook ----------------------------------------------------------------------


def firm_workbook(ctx: FirmContext) -> WorkbookSpec:
    """The workbook spec of one firm (pure)."""
    r = ctx.result
    clash = [s for s in ctx.scenarios if s.lower() in {x.lower() for x in RESERVED_SHEETS}]
    if clash:
        raise ReportError(
            f"workbook layout: scenario names {clash} collide with sheet names {RESERVED_SHEETS}"
        )
    wb = WorkbookSpec(
        f"{ctx.ticker}.xlsx",
        [],
        properties=document_properties(
            r.as_of, f"{ctx.ticker} stress test as of {r.as_of_label}", "stressmodel firm workbook"
        ),
    )
    assumptions = assumptions_sheet(ctx, wb)
    wb.sheets.append(assumptions)
    scen_sheets = [scenario_sheet(ctx, s) for s in ctx.scenarios]
    checks, master = checks_sheet(ctx, wb, {s.name: s for s in scen_sheets})
    summary = summary_sheet(ctx, master, float(checks.cells[master].value))
    sensitivity = sensitivity_sheet(ctx)
    risk = risk_sheet(ctx)
    consolidation = consolidation_sheet(ctx, wb)
    charts = charts_sheet(ctx, ctx.summary_rows)
    provenance = provenance_sheet(ctx)
    sheets = [
        summary,
        assumptions,
        *scen_sheets,
        sensitivity,
        risk,
        consolidation,
        charts,
        checks,
        provenance,
    ]
    dictionary = dictionary_sheet(ctx, wb)
    sheets.insert(len(sheets) - 1, dictionary)
    tracking = r.extras.get("tracking")
    if isinstance(tracking, pl.DataFrame):
        tr = SheetSpec("Tracking")
        tr.text(0, 0, f"{ctx.ticker} - tracking", "title")
        frame = (
            rows_where(tracking, "ticker", ctx.ticker) if "ticker" in tracking.columns else tracking
        )
        if frame.height:
            write_frame(tr, frame, 2)
        else:
            tr.text(2, 0, "n/a: no tracking rows for this firm", "status")
        tr.freeze = (3, 0)
        sheets.append(tr)
    names = [x.name for x in sheets]
    sheets.insert(1, contents_sheet(ctx, [names[0], "Contents", *names[1:]]))
    summary.tab_color = "#1F4E79"
    assumptions.tab_color = "#FFC000"
    wb.sheets = sheets
    return wb


def firm_context(
    result: RunResult, inputs: Inputs, ticker: str, values: Mapping[tuple[str, str], CaseValues]
) -> FirmContext:
    fb = result.bases.firms[ticker]
    summary = {
        x["scenario"]: x
        for x in rows_where(
            rows_where(result.summary, "ticker", ticker), "scenario_kind", "named"
        ).iter_rows(named=True)
    }
    names = [s.name for s in result.scenarios]
    missing = [s for s in names if s not in summary]
    if missing:
        raise ReportError(f"workbook layout: no summary row for {ticker} under {missing}")
    return FirmContext(
        result=result,
        inputs=inputs,
        ticker=ticker,
        fb=fb,
        company=str(inputs.firm(ticker).get("company_name") or ""),
        values={s: values[(ticker, s)] for s in names},
        summary=summary,
        discount_rate=inputs.sector.float("discount_rate"),
        growth=inputs.sector.float("terminal_growth"),
    )
