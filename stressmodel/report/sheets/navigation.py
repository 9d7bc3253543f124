"""Navigation of the firm workbook: a Contents sheet with hyperlinks to every sheet, and a
variables Dictionary (every named input and every live output metric: meaning, unit,
basis, source)."""

from __future__ import annotations

from stressmodel.report import catalog
from stressmodel.report.sheets.common import FirmContext
from stressmodel.report.sheets.scenario import METRIC_ROWS
from stressmodel.report.spec import SheetSpec, WorkbookSpec

#: what each fixed sheet holds
SHEET_NOTES = {
    "Summary": "one page: verdict, scenarios, valuation, data quality, small charts",
    "Contents": "this sheet",
    "Dictionary": "every named input and output metric: meaning, unit, basis, source",
    "Assumptions": "every input (blue on yellow, named, validated); base figures as information",
    "Sensitivity": "grid of export shock x output cut (engine values)",
    "Risk": "distress metrics by scenario and quarter; reverse stress test; Monte Carlo",
    "Consolidation": "consolidation index by scenario (uncalibrated)",
    "Charts": "cash, revolving draws, interest cover by scenario; value per share vs price",
    "Checks": "balance sheet, cash reconciliation and input-range checks; the master count",
    "Provenance": "run facts, input file hashes, base figures with their sources (links)",
    "Tracking": "realised against projected quarters",
}

#: live outputs of the scenario sheets' metric blocks: (key, meaning, unit)
OUTPUT_METRICS = (
    ("min_cash", "minimum over the projected quarters of cash less revolving draws", "CNY mn"),
    (
        "min_interest_cover",
        "minimum over the quarters with interest of EBIT / interest expense",
        "times",
    ),
    (
        "first_draw",
        "first projected quarter with a revolving draw (none: no draw in the horizon)",
        "quarter",
    ),
    ("balance_failures", "quarters whose balance check exceeds k_check_tol", "count"),
    ("cash_failures", "quarters whose cash reconciliation exceeds k_check_tol", "count"),
    ("value_per_share", "max(0, equity value) / shares (DCF of the scenario)", "CNY/share"),
)


def contents_sheet(ctx: FirmContext, sheet_names: list[str]) -> SheetSpec:
    sh = SheetSpec("Contents")
    sh.text(0, 0, f"{ctx.ticker} {ctx.company} - contents", "title")
    sh.text(1, 0, "Click a sheet name to go there.", "note")
    sh.text(3, 0, "Sheet", "header")
    sh.text(3, 1, "What it holds", "header")
    row = 4
    for name in sheet_names:
        sh.link(row, 0, f"internal:'{name}'!A1", name)
        if name in SHEET_NOTES:
            sh.text(row, 1, SHEET_NOTES[name])
        else:
            sh.text(
                row,
                1,
                f"scenario {name} ({catalog.scenario_name(name)}): live quarterly projection",
            )
        row += 1
    sh.widths = {0: 24, 1: 90}
    return sh


def dictionary_sheet(ctx: FirmContext, wb: WorkbookSpec) -> SheetSpec:
    """Every defined name with the label, unit, basis and source written beside it on
    Assumptions, then the live output metrics of the scenario sheets."""
    sh = SheetSpec("Dictionary")
    sh.text(0, 0, f"{ctx.ticker} - variables dictionary", "title")
    heads = ("Name", "Meaning", "Unit", "Basis", "Source / derivation", "Where")
    for j, h in enumerate(heads):
        sh.text(2, j, h, "header")
    row = 3
    sheets = {s.name: s for s in wb.sheets}

    def text_at(sheet: str, r: int, c: int) -> str:
        cell = sheets[sheet].cells.get((r, c)) if sheet in sheets else None
        return str(cell.value) if cell is not None and cell.kind == "string" else ""

    for n, (sheet, r, _c) in sorted(wb.names.items()):
        sh.text(row, 0, n, "key")
        sh.text(row, 1, text_at(sheet, r, 0))
        sh.text(row, 2, text_at(sheet, r, 2))
        sh.text(row, 3, text_at(sheet, r, 3))
        sh.text(row, 4, text_at(sheet, r, 5))
        sh.link(row, 5, f"internal:'{sheet}'!A{r + 1}", f"{sheet} row {r + 1}")
        row += 1
    row += 1
    sh.text(row, 0, "Output metrics (live, on every scenario sheet, Value column)", "section")
    for j in range(1, len(heads)):
        sh.text(row, j, "", "section")
    row += 1
    for key, meaning, unit in OUTPUT_METRICS:
        sh.text(row, 0, key, "key")
        sh.text(row, 1, meaning)
        sh.text(row, 2, unit)
        sh.text(row, 3, "live formula")
        sh.text(
            row,
            4,
            "stressmodel.analysis.risk.case_metrics / analysis.valuation.dcf (same definitions)",
        )
        row += 1
    for key, label, unit, _style in METRIC_ROWS:
        sh.text(row, 0, key, "key")
        sh.text(row, 1, f"per quarter: {label}")
        sh.text(row, 2, unit)
        sh.text(row, 3, "live formula")
        row += 1
    sh.freeze = (3, 1)
    sh.widths = {0: 34, 1: 60, 2: 18, 3: 22, 4: 70, 5: 22}
    return sh
