"""Tests of stressmodel.analysis.consolidation against methods.md section 13 (worked example and the
section 12 test vector eta = 0.802775, p = 0.690568)."""

from __future__ import annotations

import math
import subprocess
import sys
from pathlib import Path

import numpy as np
import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from stressmodel.analysis import consolidation as c

# methods.md 13.2 worked example: z values of one firm
EXAMPLE_Z = {
    "distress": 1.0,
    "size": -1.0,
    "roa_gap": -0.5,
    "export": 1.5,
    "private": 1.0,
    "upstream": 0.0,
    "runway": -0.5,
}


def identity_stats() -> c.PeerStats:
    """Median 0 and scale 1 for every continuous component, so raw values are z values."""
    return c.PeerStats(
        tuple(c.ComponentStats(k, 9, 0.0, 1.0 / c.MAD_TO_SD, 1.0, "ok") for k in c.CONTINUOUS)
    )


def frame(rows: list[dict], scenario: str = "base") -> pl.DataFrame:
    return pl.DataFrame(
        [{"ticker": f"F{i}", "scenario": scenario, **r} for i, r in enumerate(rows)]
    )


# ----------------------------------------------------------------------- worked example


def test_worked_example_eta_and_p() -> None:
    out = c.score(frame([EXAMPLE_Z]), identity_stats(), c.Priors()).row(0, named=True)
    contribs = [out[f"contrib_{k}"] for k in c.COMPONENTS]
    assert contribs == pytest.approx([0.8, 0.6, 0.2, 0.75, 0.4, 0.0, 0.25], abs=1e-12)
    assert sum(contribs) == pytest.approx(3.0, abs=1e-12)
    assert c.Priors().intercept == pytest.approx(-2.197225, abs=5e-7)
    assert out["eta"] == pytest.approx(0.802775, abs=5e-7)
    assert out["consolidation_score"] == pytest.approx(0.690568, abs=5e-7)
    assert out["score_status"] == "ok"


@pytest.mark.parametrize(("pi0", "expected"), [(0.05, 0.5139), (0.10, 0.6906), (0.20, 0.8339)])
def test_base_rate_sensitivity(pi0: float, expected: float) -> None:
    out = c.score(frame([EXAMPLE_Z]), identity_stats(), c.Priors(base_rate=pi0))
    assert out["consolidation_score"][0] == pytest.approx(expected, abs=5e-5)


def test_worked_example_through_component_functions_and_peer_stats() -> None:
    # Build raw values whose z equal the worked example against real peer statistics:
    # peers' distress logits have median 0 and MAD 1/1.4826 -> scale 1, and so on.
    peers = {k: [-2.0, -1.0, -0.5, 0.0, 0.0, 0.0, 0.5, 1.0, 2.0] for k in c.CONTINUOUS}
    stats = c.peer_stats(peers)
    assert stats.median("size") == 0.0
    assert stats["size"].mad == 0.5
    assert stats.scale("size") == pytest.approx(0.7413)
    raw = {k: (v * 0.7413 if k in c.CONTINUOUS else v) for k, v in EXAMPLE_Z.items()}
    out = c.score(frame([raw]), stats, c.Priors()).row(0, named=True)
    assert out["z_export"] == pytest.approx(1.5)
    assert out["consolidation_score"] == pytest.approx(0.690568, abs=5e-7)


def test_score_columns_and_row_order() -> None:
    rows = [EXAMPLE_Z, {**EXAMPLE_Z, "distress": -1.0}]
    out = c.score(frame(rows), identity_stats(), c.Priors())
    expected = (
        ["ticker", "scenario", *c.COMPONENTS]
        + [f"z_{k}" for k in c.COMPONENTS]
        + [f"contrib_{k}" for k in c.COMPONENTS]
        + ["eta", "consolidation_score", "score_status"]
    )
    assert out.columns == expected
    assert out["ticker"].to_list() == ["F0", "F1"]
    assert out["eta"][0] - out["eta"][1] == pytest.approx(1.6)


def test_score_clips_z_and_flags_missing_and_bad_dummies() -> None:
    rows = [
        {**EXAMPLE_Z, "distress": 50.0},
        {**EXAMPLE_Z, "size": None, "export": float("nan")},
        {**EXAMPLE_Z, "private": 2.0},
    ]
    out = c.score(frame(rows), identity_stats(), c.Priors())
    assert out["z_distress"][0] == 3.0
    assert out["eta"][0] == pytest.approx(0.802775 + 0.8 * 2.0, abs=5e-7)
    assert out["consolidation_score"].to_list()[1:] == [None, None]
    assert out["score_status"].to_list() == [
        "ok",
        "n/a: missing size, export",
        "n/a: missing private",
    ]


# ----------------------------------------------------------------------- components


def test_distress_component() -> None:
    assert c.distress_component(0.5) == (0.0, "ok")
    v, s = c.distress_component(0.1)
    assert v == pytest.approx(math.log(0.1 / 0.9)) and s == "ok"
    v0, s0 = c.distress_component(0.0)
    assert v0 == pytest.approx(math.log(1e-6 / (1 - 1e-6)))
    assert s0.startswith("clipped:")
    v1, _ = c.distress_component(1.0)
    assert v1 == pytest.approx(-v0)
    assert c.distress_component(None) == (None, "n/a: missing distress probability")
    assert c.distress_component(float("nan"))[0] is None
    assert c.distress_component(1.2) == (None, "n/a: probability outside [0, 1]")


def test_size_gap_export_components() -> None:
    assert c.size_component(1000.0) == (pytest.approx(math.log(1000.0)), "ok")
    assert c.size_component(0.0) == (None, "n/a: non-positive revenue")
    assert c.size_component(-5.0)[0] is None
    assert c.size_component(None) == (None, "n/a: missing revenue")
    assert c.profitability_gap(0.03, 0.05) == (pytest.approx(-0.02), "ok")
    assert c.profitability_gap(None, 0.05) == (None, "n/a: missing ROA")
    assert c.profitability_gap(0.03, None) == (None, "n/a: missing peer median ROA")
    assert c.export_dependence(0.4) == (0.4, "ok")
    assert c.export_dependence(1.4) == (None, "n/a: export share outside [0, 1]")


def test_dummy_components() -> None:
    assert c.private_dummy("private", 0.5) == (1.0, "ok")
    assert c.private_dummy("state", 0.5) == (0.0, "ok")
    assert c.private_dummy("unknown", 0.5) == (0.5, "assumed: ownership unknown, private = 0.5")
    assert c.private_dummy("mixed", 0.5)[0] is None
    assert c.upstream_dummy(1, 0.0) == (1.0, "ok")
    assert c.upstream_dummy(0, 0.0) == (0.0, "ok")
    assert c.upstream_dummy(None, 0.25) == (0.25, "assumed: upstream tie unknown, upstream = 0.25")
    assert c.upstream_dummy(2, 0.0) == (None, "n/a: upstream tie must be 0 or 1")
    with pytest.raises(ValueError):
        c.private_dummy("state", 1.5)


def test_runway_component() -> None:
    assert c.runway_component(5) == (5.0, "ok")
    assert c.runway_component(None) == (12.0, "capped: not breached")
    assert c.runway_component(40) == (12.0, "capped: runway above 12 quarters")
    assert c.runway_component(None, cap=8) == (8.0, "capped: not breached")
    assert c.runway_component(-1) == (None, "n/a: negative runway")
    assert c.runway_component(float("nan")) == (None, "n/a: missing runway")


# ----------------------------------------------------------------------- standardisation


def test_peer_stats_mad_and_fallbacks() -> None:
    stats = c.peer_stats(
        {
            "size": [1.0, 2.0, 3.0, 4.0, 100.0],  # MAD = 1 -> scale 1.4826
            "export": [0.2, 0.2, 0.2, 0.2, 0.7],  # MAD = 0 -> SD fallback
            "runway": [12.0, 12.0, 12.0],  # no dispersion at all
            "distress": [None, float("nan")],  # no values
        }
    )
    assert (stats.median("size"), stats["size"].mad) == (3.0, 1.0)
    assert stats.scale("size") == pytest.approx(1.4826)
    assert stats["size"].status == "ok"
    assert stats.scale("export") == pytest.approx(float(np.std([0.2] * 4 + [0.7], ddof=1)))
    assert stats["export"].status == "fallback: MAD = 0, scale = SD"
    assert stats.scale("runway") is None
    assert stats["runway"].status == "n/a: no dispersion among peers (z = 0)"
    assert stats["distress"].n == 0
    assert stats["distress"].status == "n/a: no peer values (z = 0)"
    table = stats.to_frame()
    assert table["component"].to_list() == ["size", "export", "runway", "distress"]
    with pytest.raises(ValueError):
        c.peer_stats({"private": [0.0, 1.0]})


def test_standardise() -> None:
    assert c.standardise(5.0, 3.0, 1.0) == (2.0, "ok")
    assert c.standardise(10.0, 3.0, 1.0) == (3.0, "clipped: |z| > 3")
    assert c.standardise(-10.0, 3.0, 1.0, clip=2.0) == (-2.0, "clipped: |z| > 2")
    assert c.standardise(5.0, 3.0, None) == (0.0, "assumed: no peer dispersion (z = 0)")
    assert c.standardise(None, 3.0, 1.0) == (None, "n/a: missing value")


def test_zero_dispersion_component_contributes_zero() -> None:
    stats = c.peer_stats(
        {
            "distress": [-1.0, 0.0, 1.0],
            "size": [5.0, 5.0, 5.0],
            "roa_gap": [-1.0, 0.0, 1.0],
            "export": [-1.0, 0.0, 1.0],
            "runway": [12.0, 12.0, 12.0],
        }
    )
    out = c.score(frame([{**EXAMPLE_Z, "size": 7.0, "runway": 3.0}]), stats, c.Priors())
    assert out["z_size"][0] == 0.0
    assert out["z_runway"][0] == 0.0
    assert out["contrib_size"][0] == 0.0
    # the scalar and the frame standardisation agree
    assert out["z_export"][0] == pytest.approx(
        c.standardise(1.5, stats.median("export"), stats.scale("export"))[0]
    )


# ----------------------------------------------------------------------- priors / horizon


def test_priors_validation_and_parameters() -> None:
    p = c.Priors.from_parameters(
        {
            "base_rate": 0.1,
            "base_rate_low": 0.05,
            "base_rate_high": 0.2,
            "horizon_years": 3,
            "w_distress": 0.8,
            "w_size": -0.6,
            "w_roa_gap": -0.4,
            "w_export": 0.5,
            "w_private": 0.4,
            "w_upstream": -0.7,
            "w_runway": -0.5,
        }
    )
    assert p == c.Priors()
    assert list(p.weights) == list(c.COMPONENTS)
    with pytest.raises(TypeError):
        p.weights["size"] = 1.0  # type: ignore[index]
    with pytest.raises(ValueError):
        c.Priors(base_rate=0.0)
    with pytest.raises(ValueError):
        c.Priors(weights={"bogus": 1.0})
    with pytest.raises(ValueError):
        c.Priors.from_parameters({"beta": 1.0})


def test_horizon_conversion() -> None:
    assert c.horizon_probability(0.1, 3) == pytest.approx(1 - 0.9**3)
    assert c.horizon_probability(0.0, 3) == 0.0
    assert c.annual_probability(c.horizon_probability(0.07, 3), 3) == pytest.approx(0.07)
    with pytest.raises(ValueError):
        c.horizon_probability(1.5, 3)


# ----------------------------------------------------------------------- properties

z_value = st.floats(min_value=-1e9, max_value=1e9, allow_nan=False)


@settings(max_examples=100, deadline=None)
@given(
    st.lists(z_value, min_size=5, max_size=5),
    st.floats(min_value=0.0, max_value=1.0),
    st.floats(min_value=0.0, max_value=1.0),
    st.floats(min_value=0.001, max_value=0.999),
    z_value,
)
def test_score_bounded_and_monotone_in_distress(
    cont: list[float], priv: float, up: float, pi0: float, bump: float
) -> None:
    row = dict(zip(c.CONTINUOUS, cont, strict=True)) | {"private": priv, "upstream": up}
    higher = {**row, "distress": row["distress"] + abs(bump)}
    out = c.score(frame([row, higher]), identity_stats(), c.Priors(base_rate=pi0))
    s0, s1 = out["consolidation_score"].to_list()
    assert 0.0 <= s0 <= 1.0 and 0.0 <= s1 <= 1.0
    assert s1 >= s0
    assert out["z_distress"][1] >= out["z_distress"][0]


# ----------------------------------------------------------------------- band


def band_frame() -> pl.DataFrame:
    rng = np.random.default_rng(3)
    rows = []
    for scen in ("base", "stress"):
        for i in range(8):
            z = {k: float(rng.normal()) for k in c.CONTINUOUS}
            z |= {"private": float(i % 2), "upstream": float(i % 3 == 0)}
            rows.append({"ticker": f"F{i}", "scenario": scen, **z})
    rows.append({"ticker": "EX", "scenario": "base", **EXAMPLE_Z})
    rows.append({"ticker": "NA", "scenario": "base", **{**EXAMPLE_Z, "size": None}})
    return pl.DataFrame(rows)


def test_uncertainty_band_properties() -> None:
    out = c.uncertainty_band(band_frame(), identity_stats(), c.Priors(), n_draws=1000, seed=0)
    ok = out.filter(pl.col("consolidation_score").is_not_null())
    assert (ok["consolidation_low"] <= ok["consolidation_median"]).all()
    assert (ok["consolidation_median"] <= ok["consolidation_high"]).all()
    assert ((ok["consolidation_low"] >= 0) & (ok["consolidation_high"] <= 1)).all()
    # the point (pi0 = 10%, prior weights) lies inside its own 10-90% band
    assert (ok["consolidation_low"] <= ok["consolidation_score"]).all()
    assert (ok["consolidation_score"] <= ok["consolidation_high"]).all()
    ex = out.filter(pl.col("ticker") == "EX").row(0, named=True)
    assert ex["consolidation_low"] < 0.690568 < ex["consolidation_high"]
    # pi0 alone spans 0.5139-0.8339 for this firm; weight draws widen it a little
    assert 0.40 < ex["consolidation_low"] < 0.60
    assert 0.80 < ex["consolidation_high"] < 0.92
    # the unscorable row stays null and is left out of the ranking
    na = out.filter(pl.col("ticker") == "NA").row(0, named=True)
    assert na["consolidation_low"] is None and na["rank_point"] is None
    for scen, n in (("base", 9), ("stress", 8)):
        g = out.filter((pl.col("scenario") == scen) & pl.col("rank_point").is_not_null())
        assert sorted(g["rank_point"].to_list()) == list(range(1, n + 1))
        assert g["kendall_tau_mean"].n_unique() == 1
        tau = g["kendall_tau_mean"][0]
        assert 0.5 < tau <= 1.0
        assert ((g["rank_stability"] >= 0) & (g["rank_stability"] <= 1)).all()


def test_rank_statistics_only_for_the_requested_scenarios() -> None:
    full = c.uncertainty_band(band_frame(), identity_stats(), c.Priors(), n_draws=200, seed=1)
    part = c.uncertainty_band(
        band_frame(), identity_stats(), c.Priors(), n_draws=200, seed=1, rank_groups=["base"]
    )
    # the band itself does not depend on which scenarios are ranked
    assert part["consolidation_low"].equals(full["consolidation_low"])
    assert part["consolidation_high"].equals(full["consolidation_high"])
    stress = part.filter(pl.col("scenario") == "stress")
    assert stress["rank_point"].is_null().all() and stress["kendall_tau_mean"].is_null().all()
    base_full = full.filter(pl.col("scenario") == "base")["rank_stability"]
    assert part.filter(pl.col("scenario") == "base")["rank_stability"].equals(base_full)


def test_uncertainty_band_is_deterministic() -> None:
    f = band_frame()
    a = c.uncertainty_band(f, identity_stats(), c.Priors(), n_draws=300, seed=42)
    b = c.uncertainty_band(f, identity_stats(), c.Priors(), n_draws=300, seed=42)
    other = c.uncertainty_band(f, identity_stats(), c.Priors(), n_draws=300, seed=43)
    assert a.equals(b)
    assert not a["consolidation_low"].equals(other["consolidation_low"])


def test_uncertainty_band_rank_stability_and_tau_by_hand() -> None:
    # two firms far apart keep their ranks in every draw: stability 1, tau 1
    rows = [{**EXAMPLE_Z}, {**EXAMPLE_Z, "distress": -3.0, "export": -3.0}]
    out = c.uncertainty_band(frame(rows), identity_stats(), c.Priors(), n_draws=200)
    assert out["rank_point"].to_list() == [1, 2]
    assert out["rank_stability"].to_list() == [1.0, 1.0]
    assert out["kendall_tau_mean"].to_list() == [1.0, 1.0]
    # a degenerate weight range reproduces the point score, up to the base-rate draw
    fixed = c.Priors(
        weight_low_factor=1.0, weight_high_factor=1.0, base_rate_low=0.1, base_rate_high=0.1
    )
    out2 = c.uncertainty_band(frame([EXAMPLE_Z]), identity_stats(), fixed, n_draws=50)
    row = out2.row(0, named=True)
    for k in ("consolidation_low", "consolidation_median", "consolidation_high"):
        assert row[k] == pytest.approx(0.690568, abs=5e-7)
    assert row["kendall_tau_mean"] is None  # one firm: no pairs


def test_kendall_tau_b_large_universe_path_matches_the_pairwise_one(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    rng = np.random.default_rng(3)
    point = np.round(rng.normal(size=60), 1)  # ties on purpose
    draws = np.round(point[:, None] + rng.normal(scale=0.5, size=(60, 25)), 1)
    pairwise = c._kendall_tau_b(point, draws)
    monkeypatch.setattr(c, "PAIRWISE_MAX_FIRMS", 10)
    per_draw = c._kendall_tau_b(point, draws)
    np.testing.assert_allclose(per_draw, pairwise, rtol=1e-12, atol=1e-12)


def test_kendall_tau_b_matches_scipy() -> None:
    from scipy.stats import kendalltau

    rng = np.random.default_rng(1)
    point = rng.normal(size=9)
    draws = point[:, None] + rng.normal(scale=0.8, size=(9, 25))
    draws[:, 0] = np.round(draws[:, 0])  # include ties
    got = c._kendall_tau_b(point, draws)
    want = [kendalltau(point, draws[:, d]).statistic for d in range(25)]
    np.testing.assert_allclose(got, want, atol=1e-12)


def test_numeric_core_imports_no_io_libraries() -> None:
    code = (
        "import sys, stressmodel.analysis.consolidation;"
        "bad = {'click', 'openpyxl', 'xlsxwriter'} & set(sys.modules);"
        "print(sorted(bad)); sys.exit(1 if bad else 0)"
    )
    root = Path(__file__).resolve().parents[1]
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=root)
    assert res.returncode == 0, res.stdout + res.stderr


@pytest.mark.parametrize(
    ("n", "draws_n", "decimals"),
    [(201, 40, None), (257, 33, 1), (300, 70, 0), (640, 5, 2), (1000, 3, None)],
)
def test_kendall_tau_b_pair_counts_equal_scipy_to_the_bit(
    n: int, draws_n: int, decimals: int | None
) -> None:
    from scipy.stats import kendalltau

    rng = np.random.default_rng(n)
    point = rng.random(n)
    draws = point[:, None] + 0.05 * rng.random((n, draws_n))
    if decimals is not None:  # ties in both sides and joint ties
        point, draws = np.round(point, decimals), np.round(draws, decimals + 1)
    draws[:, 0] = draws[0, 0]  # one draw all tied: NaN, as scipy
    draws[:, 1] = -point  # perfectly discordant
    got = c._kendall_tau_b_counts(point, draws)
    want = np.array([kendalltau(point, draws[:, d], variant="b").statistic for d in range(draws_n)])
    assert np.isnan(got[0]) and np.isnan(want[0])
    assert np.array_equal(got, want, equal_nan=True)
    assert np.array_equal(c._kendall_tau_b(point, draws), got, equal_nan=True)


@pytest.mark.parametrize(
    ("n", "draws_n", "decimals"),
    [(2, 7, None), (3, 50, 0), (7, 300, None), (60, 257, 1), (100, 1000, None), (200, 129, 2)],
)
def test_kendall_tau_b_small_universe_equals_the_pairwise_formula_to_the_bit(
    n: int, draws_n: int, decimals: int | None
) -> None:
    # the pair counts replaced the O(n^2) pairwise path up to PAIRWISE_MAX_FIRMS firms; its
    # results (and so the index's kendall_tau_mean) must not move in the last bit
    rng = np.random.default_rng(1000 + n)
    point = rng.normal(size=n)
    draws = point[:, None] + rng.normal(scale=0.7, size=(n, draws_n))
    if decimals is not None:  # ties in both sides and joint ties
        point, draws = np.round(point, decimals), np.round(draws, decimals)
    draws[:, 0] = draws[0, 0]  # one draw all tied: NaN
    draws[:, 1] = -point  # perfectly discordant
    draws[:, 2] = point  # perfectly concordant
    got = c._kendall_tau_b(point, draws)
    want = c._kendall_tau_b_pairwise(point, draws)
    assert np.isnan(got[0]) and np.isnan(want[0])
    assert np.array_equal(got, want, equal_nan=True)
    flat = np.full(n, 0.5)  # the point side all tied: NaN throughout
    assert np.array_equal(
        c._kendall_tau_b(flat, draws), c._kendall_tau_b_pairwise(flat, draws), equal_nan=True
    )


def test_discordant_pairs_counts_every_strict_inversion() -> None:
    rng = np.random.default_rng(7)
    for n in (1, 2, 3, 5, 8, 13, 64, 100):
        ranks = rng.integers(0, max(1, n // 2), size=(6, n)).astype(np.int64)
        want = [sum(int(r[i] > r[j]) for i in range(n) for j in range(i + 1, n)) for r in ranks]
        assert c._discordant_pairs(ranks).tolist() == want


def test_row_quantiles_of_expit_equal_numpy_quantile_of_expit() -> None:
    rng = np.random.default_rng(11)
    eta = rng.normal(size=(37, 1000))
    eta[3] = 0.25  # a row of ties
    got = c.row_quantiles_of_expit(eta, (0.10, 0.50, 0.90))
    want = np.quantile(c.expit(eta), (0.10, 0.50, 0.90), axis=1)
    assert np.array_equal(got, want)


@pytest.mark.parametrize("stable_from", [0, c.MERGE_STABLE_FROM, 10**9])
def test_discordant_pairs_equal_brute_force_with_either_merge_sort(
    monkeypatch: pytest.MonkeyPatch, stable_from: int
) -> None:
    # long rows merge with numpy's stable sort, short ones with its default: the counts
    # must not depend on which (rows on both sides of the threshold, with ties)
    monkeypatch.setattr(c, "MERGE_STABLE_FROM", stable_from)
    rng = np.random.default_rng(13)
    for n in (2, 255, 257, 300):
        ranks = rng.integers(0, max(1, n // 3), size=(3, n)).astype(np.int64)
        want = []
        for r in ranks:
            greater = r[:, None] > r[None, :]
            want.append(int(np.triu(greater, k=1).sum()))
        assert c._discordant_pairs(ranks).tolist() == want
