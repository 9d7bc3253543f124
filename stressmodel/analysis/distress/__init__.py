"""Distress and solvency metrics as polars expressions (methods.md sections 1-5 and 7).

Every metric that can be undefined is returned as a :class:`Metric`, a named pair
``(value, status)`` of polars expressions. ``status`` is a Utf8 expression that reads
``"ok"`` or ``"n/a: <reason>"``; ``value`` is a Float64 expression that is null whenever the
status is not ``"ok"``. Neither ever holds ``inf`` or ``NaN``. Both carry a default output
name (``<metric>`` and ``<metric>_status``), so ``frame.with_columns(*altman_z(...))`` adds
two columns; re-alias them when a frame holds several copies.

Inputs are "expression-like" (:data:`ExprLike`): a ``pl.Expr``, a column name (``str``) or a
number (a literal). All inputs are cast to Float64. A null or NaN input gives the status
``"n/a: missing <input name>"``; the first failing check (in the order documented per
function) names the status.

Conventions (methods.md section 0): money in CNY millions; ratios as fractions; flows
(EBIT, sales, net income, funds from operations) are **annual** in the annual models
(Altman, Ohlson, Zmijewski, interest cover): the caller annualises (TTM or x4) and records
the choice. The CHS model takes its own, already-built inputs (quarterly NIMTA, monthly
excess returns). Only the Merton solve (:func:`merton_solve`) and the debt-at-risk helpers
work on scalars or frames rather than expressions.

The package is pure: it opens no files and imports no I/O or CLI libraries.

One module per family: :mod:`.altman`, :mod:`.ohlson`, :mod:`.zmijewski`, :mod:`.chs`,
:mod:`.merton`, :mod:`.coverage` (interest cover, debt at risk, leverage); :mod:`.common`
holds the :class:`Metric` pair and the expression helpers.
"""

from stressmodel.analysis.distress.altman import (
    EMS_CONSTANT,
    EMS_ZONES,
    Z_DOUBLE_PRIME_ZONES,
    Z_PRIME_ZONES,
    Z_ZONES,
    altman_ems,
    altman_z,
    altman_z_double_prime,
    altman_z_prime,
    altman_zone,
    altman_zone_double_prime,
    altman_zone_ems,
    altman_zone_prime,
)
from stressmodel.analysis.distress.chs import (
    CHS_PHI,
    chs_cumulative_12m,
    chs_exretavg,
    chs_exretavg_weights,
    chs_lpfd,
    chs_market_to_book,
    chs_nimtaavg,
    chs_nimtaavg_weights,
    chs_pfd,
    chs_price,
)
from stressmodel.analysis.distress.common import (
    STATUS_OK,
    ExprLike,
    Metric,
    _expr,
    _guarded,
    _is_missing,
    _logistic,
    _zone,
    norm_cdf,
)
from stressmodel.analysis.distress.coverage import (
    ICR_AT_RISK,
    ICR_WEAK,
    debt_at_risk,
    debt_at_risk_flag,
    debt_at_risk_share,
    icr_band,
    interest_cover,
    net_debt_to_ebitda,
)
from stressmodel.analysis.distress.merton import (
    MertonSolution,
    _bs_call,
    _bs_d1,
    kmv_default_point,
    merton_distance_to_default,
    merton_solve,
    naive_dd,
    naive_pd,
)
from stressmodel.analysis.distress.ohlson import (
    CNY_MN,
    ohlson_o_score,
    ohlson_probability,
    ohlson_size,
    ohlson_size_cny_mn,
)
from stressmodel.analysis.distress.zmijewski import (
    zmijewski_probability,
    zmijewski_x,
)

__all__ = [
    "CHS_PHI",
    "CNY_MN",
    "EMS_CONSTANT",
    "EMS_ZONES",
    "ICR_AT_RISK",
    "ICR_WEAK",
    "STATUS_OK",
    "Z_DOUBLE_PRIME_ZONES",
    "Z_PRIME_ZONES",
    "Z_ZONES",
    "ExprLike",
    "MertonSolution",
    "Metric",
    "_bs_call",
    "_bs_d1",
    "_expr",
    "_guarded",
    "_is_missing",
    "_logistic",
    "_zone",
    "altman_ems",
    "altman_z",
    "altman_z_double_prime",
    "altman_z_prime",
    "altman_zone",
    "altman_zone_double_prime",
    "altman_zone_ems",
    "altman_zone_prime",
    "chs_cumulative_12m",
    "chs_exretavg",
    "chs_exretavg_weights",
    "chs_lpfd",
    "chs_market_to_book",
    "chs_nimtaavg",
    "chs_nimtaavg_weights",
    "chs_pfd",
    "chs_price",
    "debt_at_risk",
    "debt_at_risk_flag",
    "debt_at_risk_share",
    "icr_band",
    "interest_cover",
    "kmv_default_point",
    "merton_distance_to_default",
    "merton_solve",
    "naive_dd",
    "naive_pd",
    "net_debt_to_ebitda",
    "norm_cdf",
    "ohlson_o_score",
    "ohlson_probability",
    "ohlson_size",
    "ohlson_size_cny_mn",
    "zmijewski_probability",
    "zmijewski_x",
]
