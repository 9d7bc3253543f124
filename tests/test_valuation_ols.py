"""The numpy OLS with HC3 errors of the P/B-on-ROE cross-check against statsmodels."""

from __future__ import annotations

import numpy as np
import statsmodels.api as sm
from hypothesis import given, settings
from hypothesis import strategies as st

from stressmodel.analysis.ols import ols_hc3


@settings(max_examples=300, deadline=None)
@given(
    n=st.integers(4, 15),
    seed=st.integers(0, 2**32 - 1),
    slope=st.floats(-20, 20),
    noise=st.floats(0.01, 3),
)
def test_ols_hc3_equals_statsmodels(n: int, seed: int, slope: float, noise: float) -> None:
    rng = np.random.default_rng(seed)
    roe = rng.normal(0.05, 0.1, n)
    pb = 1.0 + slope * roe + rng.normal(0.0, noise, n)
    res = sm.OLS(pb, sm.add_constant(roe)).fit(cov_type="HC3")
    fit = ols_hc3(roe, pb)
    assert (fit.intercept, fit.slope) == (float(res.params[0]), float(res.params[1]))  # bit for bit
    assert abs(fit.slope_se - res.bse[1]) <= 1e-14 * res.bse[1]
    assert abs(fit.rsquared - res.rsquared) <= 1e-14
    assert fit.rank == 2


def test_constant_regressor_is_rank_deficient() -> None:
    assert ols_hc3(np.full(5, 0.1), np.arange(5.0)).rank == 1
