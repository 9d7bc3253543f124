"""The Checks sheet: identities and input ranges as live formulas, and one master count.

Rows: the opening balance sheet balances; every scenario's balance check and cash
reconciliation in every projected quarter (counts from the scenario sheets' metric
blocks); the absorption switches are exclusive 0/1 values; every bounded named input lies
in its range. The master check is the sum of the failure column; the Summary shows it
("OK" when zero).
"""

from __future__ import annotations

from stressmodel.report.formulas import number_text, sheet_ref
from stressmodel.report.sheets.assumptions import input_bounds
from stressmodel.report.sheets.common import FirmContext
from stressmodel.report.spec import SheetSpec, WorkbookSpec

OPENING_ASSETS = (
    "cash0",
    "receivables0",
    "inventory0",
    "other_current_assets",
    "other_noncurrent_assets0",
)
OPENING_LIABILITIES = (
    "st_debt0",
    "lt_debt0",
    "payables0",
    "tax_payable0",
    "other_current_liabilities",
    "other_noncurrent_liabilities",
)
TOLERANCE = 1e-6  # k_check_tol on Assumptions


def _input_value(wb: WorkbookSpec, name: str) -> float:
    sheet, row, col = wb.names[name]
    return float(wb.sheet(sheet).cells[(row, col)].value)


def checks_sheet(
    ctx: FirmContext, wb: WorkbookSpec, scenario_sheets: dict[str, SheetSpec]
) -> tuple[SheetSpec, tuple[int, int]]:
    """The Checks sheet and the cell of its master count."""
    sh = SheetSpec("Checks")
    sh.text(0, 0, f"{ctx.ticker} - checks (live formulas; 0 failures = OK)", "title")
    sh.text(
        1,
        0,
        "Each row counts failures; tolerance k_check_tol (CNY mn) on Assumptions. Input ranges "
        "are also enforced by data validation on every input cell.",
        "note",
    )
    for j, h in enumerate(("Check", "Value", "Failures", "What is checked")):
        sh.text(3, j, h, "header")
    row = 4
    fail_rows: list[int] = []
    p = ctx.fb.params

    def put(
        label: str, value_f: str | None, value: float | None, fail_f: str, fail: float, how: str
    ) -> None:
        nonlocal row
        sh.text(row, 0, label)
        if value_f is not None and value is not None:
            sh.formula(row, 1, value_f, value, "money")
        sh.formula(row, 2, fail_f, fail, "check")
        sh.text(row, 3, how, "text")
        fail_rows.append(row)
        row += 1

    gap = sum(p[n] for n in OPENING_ASSETS) - sum(p[n] for n in OPENING_LIABILITIES) - p["equity0"]
    gap_f = (
        "=("
        + "+".join(f"f_{n}" for n in OPENING_ASSETS)
        + ")-("
        + "+".join(f"f_{n}" for n in OPENING_LIABILITIES)
        + ")-f_equity0"
    )
    put(
        "Opening balance sheet: assets - liabilities - equity (CNY mn)",
        gap_f,
        gap,
        f"=(ABS(B{row + 1})>k_check_tol)*1",
        float(abs(gap) > TOLERANCE),
        "as-of quarter, from the firm parameters f_* (opening cash is f_cash0, the only copy)",
    )
    for sc in ctx.scenarios:
        cells = ctx.metric_cells[sc]
        for key, what in (
            ("balance_failures", "balance check"),
            ("cash_failures", "cash reconciliation"),
        ):
            r_, c_ = cells[key]
            v = float(scenario_sheets[sc].cells[(r_, c_)].value)
            put(
                f"{sc}: quarters failing the {what}",
                None,
                None,
                "=" + sheet_ref(sc, r_, c_),
                v,
                f"every projected quarter of sheet {sc} (assets = liabilities + equity; "
                "cash = previous cash + CFO + CFI + CFF)"
                if key == "balance_failures"
                else f"every projected quarter of sheet {sc}",
            )
    ias2, full = p["absorb_ias2"], p["absorb_full"]
    put(
        "Absorption switches: each 0 or 1, not both 1",
        None,
        None,
        "=((f_absorb_ias2+f_absorb_full)>1)+((f_absorb_ias2<>0)*(f_absorb_ias2<>1))"
        "+((f_absorb_full<>0)*(f_absorb_full<>1))",
        float((ias2 + full > 1) + (ias2 not in (0, 1)) + (full not in (0, 1))),
        "f_absorb_ias2 = 1: IAS 2 normal capacity; f_absorb_full = 1: full absorption; both 0: variable costing",
    )
    bounded = [
        n
        for n, (sheet, _r, _c) in wb.names.items()
        if sheet == "Assumptions" and input_bounds(n)[1] < 1e15
    ]
    groups: dict[str, list[str]] = {}
    for n in bounded:
        groups.setdefault(
            next(
                (s for s in ctx.scenarios if n.startswith(f"{s}_")),
                "firm, valuation, trade and model constants",
            ),
            [],
        ).append(n)
    for group, names in groups.items():
        fails = 0
        for n in names:
            lo, hi, _ = input_bounds(n)
            v = _input_value(wb, n)
            fails += (v < lo) + (v > hi)
        put(
            f"Inputs in range: {group}",
            None,
            None,
            "=" + "+".join(_term(n) for n in names),
            float(fails),
            f"{len(names)} named inputs within their bounds (data validation on Assumptions): "
            + ", ".join(names[:3])
            + (", ..." if len(names) > 3 else ""),
        )
    row += 1
    sh.text(row, 0, "Master check: failures in all rows above", "label_bold")
    sh.formula(
        row,
        2,
        f"=SUM(C{fail_rows[0] + 1}:C{fail_rows[-1] + 1})",
        float(sum(_cached(sh, r) for r in fail_rows)),
        "check",
    )
    master = (row, 2)
    sh.freeze = (4, 1)
    sh.widths = {0: 60, 1: 14, 2: 12, 3: 90}
    return sh, master


def _term(n: str) -> str:
    lo, hi, _ = input_bounds(n)
    return f"({n}<{number_text(lo)})+({n}>{number_text(hi)})"


def _cached(sh: SheetSpec, r: int) -> float:
    return float(sh.cells[(r, 2)].value)
