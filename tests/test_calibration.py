"""Tests of stressmodel.analysis.calibration (methods.md 13.3): synthetic samples generated here with a
fixed numpy seed from known coefficients."""

from __future__ import annotations

import itertools
import math
import subprocess
import sys
from pathlib import Path

import numpy as np
import polars as pl
import pytest

from stressmodel.analysis import calibration as cal
from stressmodel.analysis.consolidation import COMPONENTS, Priors, is_dummy
from stressmodel.errors import InputError, ModelError

TRUE_INTERCEPT = -2.0
TRUE_WEIGHTS = {
    "distress": 0.8,
    "size": -0.6,
    "roa_gap": -0.4,
    "export": 0.5,
    "private": 0.4,
    "upstream": -0.7,
    "runway": -0.5,
}


def synthetic_events(
    n_firms: int = 400,
    years: range = range(2010, 2020),
    seed: int = 20240601,
    intercept: float = TRUE_INTERCEPT,
    weights: dict[str, float] = TRUE_WEIGHTS,
) -> pl.DataFrame:
    rng = np.random.default_rng(seed)
    n = n_firms * len(years)
    cols: dict[str, np.ndarray] = {}
    eta = np.full(n, intercept)
    for c in COMPONENTS:
        v = rng.integers(0, 2, n).astype(float) if is_dummy(c) else rng.normal(size=n)
        cols[cal.feature_column(c)] = v
        eta += weights[c] * v
    event = (rng.uniform(size=n) < 1.0 / (1.0 + np.exp(-eta))).astype(np.int64)
    return pl.DataFrame(
        {
            "ticker": np.repeat([f"T{i:03d}" for i in range(n_firms)], len(years)),
            "year": np.tile(np.array(list(years)), n_firms),
            "event": event,
            **cols,
        }
    )


@pytest.fixture(scope="module")
def events() -> pl.DataFrame:
    return synthetic_events()


def test_king_zeng_vector() -> None:
    assert cal.king_zeng_intercept(-0.3, 0.5, 0.02) == pytest.approx(-4.191820, abs=5e-7)
    assert cal.king_zeng_intercept(-0.3, 0.02, 0.02) == pytest.approx(-0.3)
    with pytest.raises(ValueError):
        cal.king_zeng_intercept(0.0, 0.0, 0.02)


def test_fit_logit_recovers_coefficients(events: pl.DataFrame) -> None:
    res = cal.fit_logit(events)
    assert res.method == "logit"
    assert res.cov_type == "cluster"
    assert res.n == 4000
    assert 500 < res.events < 900
    assert res.std_errors is not None
    # tolerance: every coefficient within 3 cluster-robust standard errors of the truth
    truth = {"intercept": TRUE_INTERCEPT, **TRUE_WEIGHTS}
    fitted = {"intercept": math.log(res.base_rate / (1 - res.base_rate)), **res.weights}
    for k, b in truth.items():
        se = res.std_errors[k]
        assert 0.03 < se < 0.15, k
        assert abs(fitted[k] - b) < 3 * se, (k, fitted[k], b, se)
    assert res.log_likelihood is not None and res.log_likelihood < 0
    assert res.aic == pytest.approx(2 * 8 - 2 * res.log_likelihood)
    assert res.pseudo_r2 is not None and 0.05 < res.pseudo_r2 < 0.4
    assert set(res.weights) == set(COMPONENTS)
    assert isinstance(res.priors, Priors)


def test_fit_logit_single_ticker_is_not_clustered(events: pl.DataFrame) -> None:
    res = cal.fit_logit(events.with_columns(ticker=pl.lit("ONE")))
    assert res.cov_type == "nonrobust"
    res2 = cal.fit_logit(events, cluster_by_ticker=False)
    assert res2.cov_type == "nonrobust"
    assert res2.weights["distress"] == pytest.approx(res.weights["distress"])


def test_shrinkage_limits(events: pl.DataFrame) -> None:
    priors = Priors(
        weights={
            "distress": 0.5,
            "size": -0.3,
            "roa_gap": -0.2,
            "export": 0.3,
            "private": 0.2,
            "upstream": -0.4,
            "runway": -0.3,
        },
        base_rate=0.2,
    )
    big = cal.fit_shrinkage(events, priors, alpha=1e4)
    assert big.method == "shrinkage"
    assert big.std_errors is None and big.aic is None
    assert big.base_rate == pytest.approx(0.2, abs=1e-3)
    for k, w in priors.weights.items():
        assert big.weights[k] == pytest.approx(w, abs=1e-3)
    logit = cal.fit_logit(events)
    tiny = cal.fit_shrinkage(events, priors, alpha=1e-8)
    for k in priors.weights:
        assert tiny.weights[k] == pytest.approx(logit.weights[k], abs=1e-3)
    assert tiny.base_rate == pytest.approx(logit.base_rate, abs=1e-4)
    assert tiny.log_likelihood == pytest.approx(logit.log_likelihood, abs=1e-3)
    assert tiny.pseudo_r2 == pytest.approx(logit.pseudo_r2, abs=1e-5)
    # in between, the distance from the prior shrinks as alpha grows (a ridge property)
    norms = []
    for a in (1e-3, 1e-2, 0.05, 0.3, 3.0):
        fit = cal.fit_shrinkage(events, priors, alpha=a)
        assert fit.deviations is not None
        norms.append(math.sqrt(sum(v * v for v in fit.deviations.values())))
    assert all(a >= b - 1e-9 for a, b in itertools.pairwise(norms))
    assert norms[0] > 0.3 and norms[-1] < 0.05
    mid = cal.fit_shrinkage(events, priors, alpha=0.05)
    assert mid.deviations is not None
    assert mid.deviations["distress"] == pytest.approx(mid.weights["distress"] - 0.5)
    # horizon and Monte Carlo ranges are carried over from the priors
    assert mid.priors.horizon_years == priors.horizon_years
    assert mid.priors.base_rate_low == priors.base_rate_low


def test_calibrate_uses_logit_with_enough_events(events: pl.DataFrame) -> None:
    res = cal.calibrate(events, Priors())
    assert res.method == "logit"
    assert res.status.startswith("logit")


def test_calibrate_shrinks_with_few_events() -> None:
    small = synthetic_events(n_firms=30, years=range(2012, 2022), seed=5)
    assert small["event"].sum() < 80  # fewer than 10 events per parameter
    res = cal.calibrate(small, Priors())
    assert res.method == "shrinkage"
    assert "events per parameter < 10" in res.status
    assert "time-blocked CV" in res.status
    assert res.alpha in cal.ALPHA_GRID
    assert res.cv_deviance is not None
    assert set(res.cv_deviance) == set(cal.ALPHA_GRID)
    assert res.cv_deviance[res.alpha] == min(res.cv_deviance.values())
    given = cal.calibrate(small, Priors(), alpha=0.5)
    assert given.alpha == 0.5 and "alpha 0.5 given" in given.status


def test_choose_alpha_without_usable_fold_uses_default() -> None:
    one_year = synthetic_events(n_firms=50, years=range(2015, 2016), seed=9)
    alpha, cv = cal.choose_alpha(one_year, Priors())
    assert alpha is None and dict(cv) == {}
    res = cal.calibrate(one_year, Priors(), min_events_per_parameter=10)
    assert res.alpha == cal.DEFAULT_ALPHA
    assert "default alpha" in res.status


def test_perfect_separation_falls_back_to_shrinkage() -> None:
    rng = np.random.default_rng(11)
    n = 240
    z = rng.normal(size=(n, len(COMPONENTS)))
    frame = pl.DataFrame(
        {
            "ticker": [f"T{i % 24}" for i in range(n)],
            "year": [2010 + i // 24 for i in range(n)],
            **{
                cal.feature_column(c): (np.round(np.abs(z[:, k])) % 2 if is_dummy(c) else z[:, k])
                for k, c in enumerate(COMPONENTS)
            },
        }
    ).with_columns(event=(pl.col("z_distress") > 0).cast(pl.Int64))
    with pytest.raises(ModelError, match="separation"):
        cal.fit_logit(frame)
    res = cal.calibrate(frame, Priors())
    assert res.method == "shrinkage"
    assert "fallback from logit" in res.status
    assert "separation" in res.status
    assert all(math.isfinite(w) for w in res.weights.values())
    assert res.weights["distress"] > 0.8  # the data push the distress weight up
    assert 0 < res.base_rate < 1


def test_events_frame_validation(events: pl.DataFrame) -> None:
    with pytest.raises(InputError, match="z_size"):
        cal.fit_logit(events.drop("z_size"))
    with pytest.raises(InputError, match="0 or 1"):
        cal.fit_logit(events.with_columns(event=pl.lit(2)))
    with pytest.raises(InputError, match="at least one event"):
        cal.fit_logit(events.with_columns(event=pl.lit(0)))
    with pytest.raises(InputError, match="empty"):
        cal.calibrate(events.with_columns(z_export=pl.lit(None, dtype=pl.Float64)), Priors())


def test_numeric_core_imports_no_io_libraries() -> None:
    code = (
        "import sys, stressmodel.analysis.calibration;"
        "bad = {'click', 'openpyxl', 'xlsxwriter'} & set(sys.modules);"
        "print(sorted(bad)); sys.exit(1 if bad else 0)"
    )
    root = Path(__file__).resolve().parents[1]
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=root)
    assert res.returncode == 0, res.stdout + res.stderr
