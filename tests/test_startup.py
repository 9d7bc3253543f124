"""Start-up: heavy libraries are imported by the stages that use them, the trade forecast
is cached on disk by what it is fitted on, and the numpy rank that replaced scipy's."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays
from scipy.stats import rankdata

from stressmodel.analysis.consolidation import rank_min
from stressmodel.model.forecast import forecast_export_index
from stressmodel.run import cache

SERIES = ([300 + k for k in range(9)], [0.4, 0.35, 0.5, 0.55, 0.6, 0.62, 0.7, 0.69, 0.74])


def test_importing_the_cli_and_the_run_loads_no_scipy_statsmodels_or_pandas() -> None:
    code = (
        "import sys, stressmodel.cli, stressmodel.run.app, stressmodel.pipeline.stages;"
        "print(sorted({m.split('.')[0] for m in sys.modules} & {'scipy', 'statsmodels', 'pandas'}))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


@settings(max_examples=200, deadline=None)
@given(
    arrays(
        np.float64,
        st.tuples(st.integers(1, 12), st.integers(1, 4)),
        elements=st.sampled_from([-1.5, 0.0, 0.25, 0.25, 3.0, 7.0]),
    )
)
def test_rank_min_equals_scipy_rankdata_min(a: np.ndarray) -> None:
    np.testing.assert_array_equal(rank_min(a), rankdata(a, method="min", axis=0))
    np.testing.assert_array_equal(rank_min(a[:, 0]), rankdata(a[:, 0], method="min"))


def test_cached_forecast_equals_the_fit_and_skips_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    fit = forecast_export_index(*SERIES, horizon=7, alpha=0.05)
    cached = cache.cached_forecaster(tmp_path)
    first = cached(*SERIES, horizon=7, alpha=0.05)
    assert first == fit
    assert len(list(tmp_path.glob("trade_forecast-*.json"))) == 1

    def no_fit(*_a: object, **_k: object) -> None:
        raise AssertionError("fitted again despite a cache entry")

    monkeypatch.setattr(cache, "forecast_export_index", no_fit)
    second = cache.cached_forecaster(tmp_path)(*SERIES, horizon=7, alpha=0.05)
    assert second == fit  # every float equal: JSON keeps the shortest repr
    assert dict(second.params or {}) == dict(fit.params or {})


def test_cache_key_follows_the_series_horizon_and_interval(tmp_path: Path) -> None:
    months, index = SERIES
    name = "forecast_export_index"
    keys = {
        cache.forecast_key(name, (months, index, 7, 0.05, 6), {}),
        cache.forecast_key(name, (months, [*index[:-1], 0.75], 7, 0.05, 6), {}),
        cache.forecast_key(name, (months, index, 8, 0.05, 6), {}),
        cache.forecast_key(name, (months, index, 7, 0.10, 6), {}),
        cache.forecast_key(name, ([m + 1 for m in months], index, 7, 0.05, 6), {}),
        cache.forecast_key("forecast_bounded_index", (months, index, 7, 0.05, 6), {}),
    }
    assert len(keys) == 6


def test_damaged_entry_is_refitted_and_unwritable_cache_ignored(tmp_path: Path) -> None:
    fit = forecast_export_index(*SERIES, horizon=4)
    key = cache.forecast_key("forecast_export_index", (*SERIES,), {"horizon": 4})
    (tmp_path / f"trade_forecast-{key}.json").write_text("{not json", encoding="utf-8")
    assert cache.cached_forecaster(tmp_path)(*SERIES, horizon=4) == fit
    blocked = tmp_path / "file"
    blocked.write_text("x", encoding="utf-8")  # a file where the cache folder should be
    assert cache.cached_forecaster(blocked / "sub")(*SERIES, horizon=4) == fit


def test_cache_location_and_switch(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv(cache.ENV, "off")
    assert cache.default_cache_dir() is None
    assert cache.cached_forecaster(None) is forecast_export_index
    monkeypatch.setenv(cache.ENV, str(tmp_path))
    assert cache.default_cache_dir() == tmp_path
    monkeypatch.delenv(cache.ENV)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert cache.default_cache_dir() == tmp_path / "xdg" / "stressmodel"


def test_a_run_with_a_warm_cache_imports_neither_statsmodels_nor_pandas(tmp_path: Path) -> None:
    """As of 2025Q3 the trade forecast is fitted (6 months since the controls; as of the
    shipped default 2025Q2 there are too few months and nothing is fitted)."""
    root = Path(__file__).resolve().parents[1]
    code = (
        "import sys; from pathlib import Path; from stressmodel.run.app import run_and_write;"
        "from stressmodel.pipeline.result import RunOptions; from stressmodel.inputs.periods import parse_quarter;"
        f"run_and_write(Path({str(root / 'inputs')!r}), Path({str(tmp_path / 'out')!r}),"
        " RunOptions(as_of=parse_quarter('2025Q3'), firms=('000795.SZ',)), workbooks=False, force=True);"
        "print(sorted({m.split('.')[0] for m in sys.modules} & {'statsmodels', 'pandas'}))"
    )
    env = {**__import__("os").environ, "STRESSMODEL_CACHE": str(tmp_path / "cache")}
    first = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, env=env
    )
    assert first.stdout.strip().splitlines()[-1] == "['pandas', 'statsmodels']"  # the fit, once
    second = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, env=env
    )
    assert second.stdout.strip().splitlines()[-1] == "[]"


def test_the_back_test_uses_the_cached_forecast_for_every_as_of(tmp_path: Path) -> None:
    """As of the shipped default 2025Q4 the back-test reruns the scenarios as of 2025Q1..Q3;
    the 2025Q3 one fits the trade forecast on its own series. The first run fits (the
    run's as-of and the back-test's), the second reads both from the cache: neither
    statsmodels, pandas nor scipy is imported, and the cache holds one entry per distinct
    series."""
    root = Path(__file__).resolve().parents[1]
    code = (
        "import sys, json; from pathlib import Path; from stressmodel.run.app import run_and_write;"
        "from stressmodel.pipeline.result import RunOptions;"
        f"out = Path({str(tmp_path / 'out')!r});"
        f"run_and_write(Path({str(root / 'inputs')!r}), out,"
        " RunOptions(firms=('000795.SZ',)), workbooks=False, force=True);"
        "m = json.loads((out / '2025Q4' / 'manifest.json').read_text());"
        "print(m['history']['backtest_as_of']);"
        "print(sorted({m.split('.')[0] for m in sys.modules} & {'statsmodels', 'pandas', 'scipy'}))"
    )
    env = {**__import__("os").environ, "STRESSMODEL_CACHE": str(tmp_path / "cache")}
    runs = [
        subprocess.run(
            [sys.executable, "-c", code], capture_output=True, text=True, check=True, env=env
        )
        for _ in range(2)
    ]
    first, second = (r.stdout.strip().splitlines() for r in runs)
    assert first[-2] == second[-2] == "['2025Q1', '2025Q2', '2025Q3']"
    assert first[-1] == "['pandas', 'scipy', 'statsmodels']"  # the fits
    assert second[-1] == "[]"  # nor scipy: rank, expit and brentq are numpy / pure Python
    entries = list((tmp_path / "cache").glob("trade_forecast-*.json"))
    assert len(entries) == 3  # the run's series (as of 2025Q4) and the back-test's 2025Q2, 2025Q3


def test_run_backtests_passes_the_forecaster_for_every_as_of() -> None:
    from stressmodel.inputs.load import load_inputs
    from stressmodel.inputs.periods import parse_quarter
    from stressmodel.model.forecast import forecast_bounded_index
    from stressmodel.pipeline.backtest import run_backtests

    seen: list[int] = []

    def counting(*args: object, **kwargs: object) -> object:
        seen.append(len(args[0]))  # the months fitted: one distinct series per as-of
        return forecast_bounded_index(*args, **kwargs)

    inputs = load_inputs(Path(__file__).resolve().parents[1] / "inputs")
    bt = run_backtests(inputs, ("000795.SZ",), parse_quarter("2025Q4"), 8, counting)
    assert sorted(bt.projections) == [parse_quarter(f"2025Q{k}") for k in (1, 2, 3)]
    # as of 2025Q1 no month since the controls is observed (nothing to fit); 2025Q2 and
    # 2025Q3 each ask for their own series
    assert seen == [3, 6]
    plain = run_backtests(inputs, ("000795.SZ",), parse_quarter("2025Q4"), 8)
    for q, frame in plain.projections.items():
        assert frame.equals(bt.projections[q])


@settings(max_examples=200, deadline=None)
@given(
    arrays(
        np.float64,
        st.tuples(st.integers(1, 40), st.integers(1, 30)),
        elements=st.one_of(
            st.floats(-40, 40),
            st.floats(-1e4, 1e4),
            st.sampled_from(
                [0.0, -0.0, 709.0, -709.0, 709.79, -709.79, 745.2, -745.2, 1e308, -1e308]
            ),
            st.sampled_from([np.inf, -np.inf, np.nan]),
        ),
    )
)
def test_expit_equals_scipy_to_the_bit(a: np.ndarray) -> None:
    from scipy.special import expit as scipy_expit

    from stressmodel.analysis.consolidation import expit

    np.testing.assert_array_equal(expit(a), scipy_expit(a))
    assert expit(a).shape == a.shape


def test_expit_on_a_million_normal_arguments_equals_scipy() -> None:
    from scipy.special import expit as scipy_expit

    from stressmodel.analysis.consolidation import expit

    x = np.random.default_rng(3).normal(0.0, 6.0, (1000, 1000))
    assert np.array_equal(expit(x), scipy_expit(x))


def test_rank_min_equals_scipy_rankdata_min_on_large_tied_draws() -> None:
    # the band ranks ~1,000 firms x 1,000 draws; numpy's unstable sort on larger arrays
    # takes other code paths than on the small arrays above
    rng = np.random.default_rng(4)
    a = rng.uniform(size=(700, 60))
    a[::3] = np.round(a[::3], 2)  # many ties
    a[:, 5] = 0.5  # a column all tied
    np.testing.assert_array_equal(rank_min(-a), rankdata(-a, method="min", axis=0))
    np.testing.assert_array_equal(rank_min(a[:, 7]), rankdata(a[:, 7], method="min"))
