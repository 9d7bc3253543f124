"""The Provenance sheet: run facts, input hashes, base figures and their sources."""

from __future__ import annotations

from typing import Any

from stressmodel import __version__
from stressmodel.inputs.periods import quarter_end_date
from stressmodel.report import catalog
from stressmodel.report.sheets.common import (
    FirmContext,
    _is_num,
    input_hashes,
)
from stressmodel.report.spec import SheetSpec

# --- Provenance -----------------------------------------------------------------------------


def provenance_sheet(ctx: FirmContext) -> SheetSpec:
    r = ctx.result
    inputs = ctx.inputs
    sh = SheetSpec("Provenance")
    sh.text(0, 0, f"{ctx.ticker} - provenance", "title")
    row = 2
    sh.text(row, 0, "Run", "section")
    sh.text(row, 1, "", "section")
    row += 1
    run_facts: list[tuple[str, Any]] = [
        ("As-of quarter", r.as_of_label),
        ("As-of date (quarter end)", quarter_end_date(r.as_of).isoformat()),
        ("Projected quarters", ", ".join(r.quarters)),
        ("Horizon (quarters)", r.horizon),
        ("Firms in the run", ", ".join(r.tickers)),
        ("Peer universe (runnable firms)", ", ".join(r.extras.get("universe", []))),
        ("Package version", f"stressmodel {__version__}"),
        ("Discount rate", inputs.sector.float("discount_rate")),
        ("Terminal growth", inputs.sector.float("terminal_growth")),
        ("Named scenarios", ", ".join(ctx.scenarios)),
        ("Sensitivity grid", f"{len(r.grid)} scenarios"),
        ("Trade-implied path", r.trade.status),
        ("FX and deflator", r.extras.get("fx_note", "")),
        (
            "Firms with data later than the as-of quarter",
            ", ".join(f"{t} ({q})" for t, q in sorted(r.later_data.items())) or "none",
        ),
    ]
    for label, value in run_facts:
        sh.text(row, 0, label)
        if isinstance(value, str):
            sh.text(row, 1, value)
        else:
            sh.number(row, 1, value, "pct2" if isinstance(value, float) else "count")
        row += 1
    row += 1
    sh.text(row, 0, "Input files", "section")
    sh.text(row, 1, "", "section")
    row += 1
    row = input_hashes(sh, row, inputs)
    sh.text(
        row,
        0,
        "Base figures used: value, basis (reported / derived / estimated), how, sources",
        "section",
    )
    for j in range(1, 5):
        sh.text(row, j, "", "section")
    row += 1
    for j, h in enumerate(("Figure", "Value", "Basis", "How obtained", "Sources")):
        sh.text(row, j, h, "header")
    row += 1
    for fig_name, fig in ctx.fb.figures.items():
        kind = catalog.FIGURE_UNITS.get(fig_name, ("", "number"))[1]
        sh.text(row, 0, fig_name)
        if fig_name == "share_price_date":
            sh.text(row, 1, fig.how)
        else:
            sh.number(row, 1, fig.value, f"{kind}/engine")
        sh.text(row, 2, fig.basis)
        sh.text(row, 3, fig.how, "text")
        if fig.sources:
            sh.link(row, 4, fig.sources[0], fig.sources[0])
            if len(fig.sources) > 1:
                sh.text(row, 5, "also: " + "; ".join(fig.sources[1:]), "text")
        else:
            sh.text(row, 4, "-", "text")
        row += 1
    row += 1
    est = sorted(n for n, f in ctx.fb.figures.items() if f.basis == "estimated")
    der = sorted(n for n, f in ctx.fb.figures.items() if f.basis == "derived")
    sh.text(row, 0, "Estimated figures (peer medians or assumptions)")
    sh.text(row, 1, ", ".join(est) or "none")
    row += 1
    sh.text(row, 0, "Derived figures (computed from reported figures)")
    sh.text(row, 1, ", ".join(der) or "none")
    row += 1
    for note in ctx.fb.notes:
        sh.text(row, 0, "Note")
        sh.text(row, 1, note)
        row += 1
    reg = inputs.firm(ctx.ticker)
    for key in ("ownership", "ownership_source", "upstream_tie_source", "note"):
        sh.text(row, 0, f"firms.csv {key}")
        sh.text(row, 1, "" if reg.get(key) is None else str(reg.get(key)))
        row += 1
    stmt = inputs.statement_files.get(ctx.ticker)
    sh.text(row, 0, "Statements file")
    sh.text(row, 1, stmt or "n/a")
    row += 2
    sh.text(row, 0, "Sector assumptions (sector.toml)", "section")
    for j in range(1, 4):
        sh.text(row, j, "", "section")
    row += 1
    for j, h in enumerate(("Parameter", "Value", "Unit", "Source or assumption")):
        sh.text(row, j, h, "header")
    row += 1
    for pname, p in inputs.sector.params.items():
        sh.text(row, 0, pname)
        if _is_num(p.value):
            sh.number(row, 1, p.value, "number")
        elif p.points:
            sh.text(row, 1, f"{len(p.points)} dated points")
        else:
            sh.text(row, 1, str(p.value))
        sh.text(row, 2, p.unit)
        sh.text(row, 3, p.provenance)
        row += 1
    row += 1
    sh.text(row, 0, "Scenario descriptions (scenarios.toml)", "section")
    sh.text(row, 1, "", "section")
    row += 1
    for s in r.scenarios:
        sh.text(row, 0, s.name)
        sh.text(row, 1, s.description)
        row += 1
    sh.freeze = (1, 0)
    sh.widths = {0: 48, 1: 70, 2: 16, 3: 60, 4: 60}
    return sh
