"""The export split: export share, export/domestic price ratio and average selling price."""

from __future__ import annotations

from dataclasses import dataclass

from stressmodel.inputs.load import Inputs
from stressmodel.inputs.statements import Figure
from stressmodel.model.base.figures import Builder, period_end


@dataclass(frozen=True)
class ExportSplit:
    x: float  # export share of revenue, fraction
    k: float  # export / domestic price
    asp: float  # average selling price, CNY mn per tonne


def build_export_split(inputs: Inputs, b: Builder) -> ExportSplit:
    """Set the export-split figures on ``b`` and return them."""
    ticker, q, fs = b.t, b.q, b.fs
    # export share, regional prices and volumes
    reg = inputs.firm(ticker)
    if reg["export_share"] is not None and period_end(reg["export_share_period"]) <= q:
        row = fs.point("overseas_revenue_share", period_end(reg["export_share_period"]))
        basis = row.basis if row is not None else "reported"
        x_fig = Figure(
            reg["export_share"],
            basis,
            f"export share {reg['export_share_period']} (firms.csv)",
            (reg["export_share_source"],),
        )
    else:
        x_fig = b.ratio("export_share")
    x = b.set("export_share", x_fig)
    k = b.set(
        "price_ratio",
        b.ratio("price_ratio")
        if b.has_estimate("price_ratio")
        else Figure(1.0, "estimated", "no firm reports regional margins: one price", ()),
    )
    asp = b.set("asp", b.ratio("asp"))
    return ExportSplit(x, k, asp)
