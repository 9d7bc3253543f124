"""Ordinary least squares of y on a constant and one regressor, with HC3 standard errors,
in numpy — the arithmetic of statsmodels' ``OLS(y, add_constant(x)).fit(cov_type="HC3")``
without importing statsmodels (about a second, the run's largest import).

Step for step as statsmodels (0.15) computes it: the Moore-Penrose inverse from the SVD
(singular values below 1e-15 of the largest dropped), beta = pinv(X) y, leverage
h_i = diag(X (pinv pinv') X'), the sandwich pinv diag((e_i / (1 - h_i))^2) pinv', and
R^2 = 1 - e'e / (y - mean y)'(y - mean y). Tested against statsmodels on drawn data:
coefficients equal to the last bit, standard error and R^2 within 1e-15 relative
(tests/test_valuation_ols.py).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class OlsFit:
    intercept: float
    slope: float
    slope_se: float  # HC3
    rsquared: float
    rank: int


def ols_hc3(x: np.ndarray, y: np.ndarray) -> OlsFit:
    """y = a + b x + e by OLS; ``x`` and ``y`` finite, the same length (>= 2)."""
    x = np.asarray(x, dtype=float)
    y = np.asarray(y, dtype=float)
    exog = np.column_stack([np.ones(x.shape[0]), x])
    u, s, vt = np.linalg.svd(exog, False)
    cutoff = 1e-15 * np.maximum.reduce(s)
    s_inv = np.where(s > cutoff, 1.0 / np.where(s > cutoff, s, 1.0), 0.0)
    pinv = np.dot(np.transpose(vt), np.multiply(s_inv[:, np.newaxis], np.transpose(u)))
    beta = np.dot(pinv, y)
    normalized_cov = np.dot(pinv, np.transpose(pinv))
    resid = y - np.dot(exog, beta)
    with np.errstate(divide="ignore", invalid="ignore"):
        h = np.einsum("ij,ik,kj->i", exog, exog, normalized_cov)
        scale = (resid / (1 - h)) ** 2
        cov = np.dot(pinv, scale[:, None] * pinv.T)
        centered = y - y.mean()
        r2 = 1 - np.dot(resid, resid) / np.dot(centered, centered)
    return OlsFit(
        float(beta[0]),
        float(beta[1]),
        float(np.sqrt(cov[1, 1])),
        float(r2),
        int(np.count_nonzero(s > cutoff)),
    )
