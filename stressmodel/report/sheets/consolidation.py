"""The Consolidation sheet: the consolidation index by scenario."""

from __future__ import annotations

import functools

from stressmodel.analysis.consolidation import COMPONENTS, DUMMIES, Z_CLIP
from stressmodel.report import catalog
from stressmodel.report.formulas import (
    Formula,
    call,
    cell_ref,
    formula_text,
    name,
)
from stressmodel.report.sheets.common import (
    FirmContext,
    _is_num,
    _name_value,
    rows_where,
)
from stressmodel.report.spec import SheetSpec, WorkbookSpec

# --- Consolidation --------------------------------------------------------------------------


@functools.lru_cache(maxsize=1024)
def _component_formulas(row: int, c: str, stats_ok: bool | None) -> tuple[str, str]:
    """The z and contribution formulas of component ``c`` on ``row`` (the raw value in
    column 1, z in column 4): the same for every firm, so memoised. ``stats_ok``: None
    for a dummy (z is the value itself); False without peer dispersion (z = 0, as
    stressmodel.analysis.consolidation does)."""
    raw = Formula(cell_ref(row, 1))
    if stats_ok is None:
        z: Formula = raw
    elif stats_ok:
        z = call(
            "MAX",
            -Z_CLIP,
            call("MIN", Z_CLIP, (raw - name(f"c_median_{c}")) / name(f"c_scale_{c}")),
        )
    else:
        z = Formula("0")
    return formula_text(z), formula_text(name(f"c_w_{c}") * Formula(cell_ref(row, 4)))


def consolidation_sheet(ctx: FirmContext, wb: WorkbookSpec) -> SheetSpec:
    r = ctx.result
    sh = SheetSpec("Consolidation")
    priors = r.extras["priors"]
    scored = {
        x["scenario"]: x
        for x in rows_where(r.extras["consolidation"], "ticker", ctx.ticker).iter_rows(named=True)
    }
    sh.text(0, 0, f"{ctx.ticker} - consolidation likelihood: uncalibrated index", "title")
    sh.text(1, 0, "uncalibrated index", "label_bold")
    sh.text(
        2,
        0,
        "eta = logit(base rate) + sum of weight x z; score = 1 / (1 + exp(-eta)); z = clip((x - "
        "peer median) "
        "/ peer scale, -3, 3) for continuous components, the value itself for dummies. Weights, "
        "base rate and "
        "peer statistics are inputs on Assumptions; raw component values, the band (Monte Carlo "
        "over weights and base rate) and the rank are purple: engine value: does not move when "
        "inputs change.",
        "note",
    )
    row = 4
    comps = [c for c in COMPONENTS if c in priors.weights]
    for scen in ctx.scenarios:
        x = scored.get(scen)
        sh.text(row, 0, f"Scenario {scen}", "section")
        for j in range(1, 7):
            sh.text(row, j, "", "section")
        row += 1
        for j, head in enumerate(
            ("Component", "Raw value", "Peer median", "Peer scale", "z", "Weight", "Contribution")
        ):
            sh.text(row, j, head, "header")
        row += 1
        if x is None:
            sh.text(row, 0, "n/a: not scored", "status")
            row += 2
            continue
        live = x.get("score_status") == "ok" and all(_is_num(x.get(f"z_{c}")) for c in comps)
        contrib_cells = []
        for c in comps:
            sh.text(row, 0, catalog.CONSOLIDATION_LABELS.get(c, c))
            sh.number(row, 1, x.get(c), "ratio/frozen")
            if c in DUMMIES:
                sh.text(row, 2, "dummy", "status")
                sh.text(row, 3, "dummy", "status")
                stats_ok = None
            else:
                for j, what in ((2, "median"), (3, "scale")):
                    n = f"c_{what}_{c}"
                    if n in wb.names:
                        sh.formula(row, j, f"={n}", _name_value(wb, n), "ratio")
                    else:
                        sh.text(row, j, "n/a", "status")
                stats_ok = (
                    f"c_median_{c}" in wb.names
                    and f"c_scale_{c}" in wb.names
                    and _name_value(wb, f"c_scale_{c}") > 0
                )
            if live:
                z_text, contrib_text = _component_formulas(row, c, stats_ok)
                sh.formula(row, 4, z_text, x[f"z_{c}"], "ratio")
                sh.formula(row, 5, f"=c_w_{c}", priors.weights[c], "ratio")
                sh.formula(row, 6, contrib_text, x[f"contrib_{c}"], "ratio")
            else:
                sh.number(row, 4, x.get(f"z_{c}"), "ratio/frozen")
                sh.number(row, 5, priors.weights[c], "ratio/frozen")
                sh.number(row, 6, x.get(f"contrib_{c}"), "ratio/frozen")
            contrib_cells.append(cell_ref(row, 6))
            row += 1
        first, lastc = contrib_cells[0], contrib_cells[-1]
        rows_out = (
            ("Base rate pi0 (reference firm)", "=c_base_rate", priors.base_rate, "pct"),
            ("Intercept logit(pi0)", "=LN(c_base_rate/(1-c_base_rate))", priors.intercept, "ratio"),
            (
                "eta = intercept + sum of contributions",
                f"={cell_ref(row + 1, 6)}+SUM({first}:{lastc})",
                x.get("eta"),
                "ratio",
            ),
            (
                "Consolidation score 1/(1+exp(-eta))",
                f"=1/(1+EXP(-{cell_ref(row + 2, 6)}))",
                x.get("consolidation_score"),
                "score",
            ),
        )
        for i, (label, formula, value, kind) in enumerate(rows_out):
            sh.text(row + i, 0, label, "label_bold" if i == 3 else "label")
            if live and _is_num(value):
                sh.formula(row + i, 6, formula, float(value), kind)
            else:
                sh.value(
                    row + i,
                    6,
                    value if value is not None else x.get("score_status"),
                    f"{kind}/frozen",
                )
        row += len(rows_out)
        for label, key in (
            ("Band low (Monte Carlo)", "consolidation_low"),
            ("Band median", "consolidation_median"),
            ("Band high", "consolidation_high"),
            ("Rank among the firms of the run (1 = most likely)", "rank_point"),
            ("Rank stability (share of draws)", "rank_stability"),
        ):
            sh.text(row, 0, label)
            sh.number(row, 6, x.get(key), ("count" if key == "rank_point" else "score") + "/frozen")
            row += 1
        sh.text(row, 0, "Status")
        sh.text(row, 6, str(x.get("score_status")), "status")
        row += 2
    sh.freeze = (4, 1)
    sh.widths = {0: 52, 1: 12, 2: 12, 3: 12, 4: 12, 5: 12, 6: 14}
    return sh
