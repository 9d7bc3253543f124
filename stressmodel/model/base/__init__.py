"""Base figures per firm at an as-of quarter (see :mod:`stressmodel.model.base.compute`)."""

from stressmodel.inputs.statements import Figure
from stressmodel.model.base.compute import BaseSet, compute_bases, firm_base, latest_actuals
from stressmodel.model.base.figures import FirmBase, FirmNotRunnable
from stressmodel.model.base.ratios import own_ratios, peer_medians

__all__ = [
    "BaseSet",
    "Figure",
    "FirmBase",
    "FirmNotRunnable",
    "compute_bases",
    "firm_base",
    "latest_actuals",
    "own_ratios",
    "peer_medians",
]
