"""Tests of stressmodel.analysis.distress against the worked examples of methods.md (sections 1-5, 7
and the section 12 test-vector table)."""

from __future__ import annotations

import math
import subprocess
import sys
from pathlib import Path

import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from stressmodel.analysis import distress as d

# MagCo (methods.md 1.4), CNY mn, annual flows
MAGCO = {
    "wc": 2500.0,
    "re": 2000.0,
    "ebit": 600.0,
    "me": 12000.0,
    "be": 5000.0,
    "tl": 5000.0,
    "sales": 8000.0,
    "ta": 10000.0,
    "ca": 6000.0,
    "cl": 3500.0,
    "ni": 400.0,
    "ni0": 500.0,
    "cfo": 700.0,
    "cash": 1500.0,
    "std": 1500.0,
    "ltd": 1000.0,
    "interest": 100.0,
}


@pytest.fixture
def magco() -> pl.DataFrame:
    return pl.DataFrame({k: [v] for k, v in MAGCO.items()})


def one(frame: pl.DataFrame, *exprs: pl.Expr) -> dict:
    return frame.select(*exprs).row(0, named=True)


# ---------------------------------------------------------------------------- Altman


def test_altman_family_magco(magco: pl.DataFrame) -> None:
    z = d.altman_z("wc", "re", "ebit", "me", "tl", "sales", "ta")
    zp = d.altman_z_prime("wc", "re", "ebit", "be", "tl", "sales", "ta")
    zpp = d.altman_z_double_prime("wc", "re", "ebit", "be", "tl", "ta")
    r = one(
        magco,
        *z,
        d.altman_zone(z.value),
        *zp,
        d.altman_zone_prime(zp.value),
        *zpp,
        d.altman_zone_double_prime(zpp.value),
        d.altman_ems(zpp.value),
        d.altman_zone_ems(d.altman_ems(zpp.value)),
    )
    assert r["altman_z"] == pytest.approx(3.018, abs=5e-7)
    assert r["altman_z_status"] == "ok"
    assert r["altman_z_zone"] == "safe"
    assert r["altman_z_prime"] == pytest.approx(1.75347, abs=5e-7)
    assert r["altman_z_prime_zone"] == "grey"
    assert r["altman_z_double_prime"] == pytest.approx(3.7452, abs=5e-7)
    assert r["altman_z_double_prime_zone"] == "safe"
    assert r["altman_ems"] == pytest.approx(6.9952, abs=5e-7)
    assert r["altman_ems_zone"] == "safe"


def test_altman_double_prime_stress_hook(magco: pl.DataFrame) -> None:
    # section 1.4: annual EBIT falls to 91.5 -> Z'' = 3.7452 - 6.72*(0.06 - 0.00915)
    zpp = d.altman_z_double_prime("wc", "re", 91.5, "be", "tl", "ta")
    # printed to 5 dp (the exact value is 3.403488)
    assert one(magco, zpp.value)["altman_z_double_prime"] == pytest.approx(3.40349, abs=5e-6)


@pytest.mark.parametrize(
    ("fn", "values", "expected"),
    [
        (d.altman_zone, [1.80, 1.81, 2.99, 3.0], ["distress", "grey", "grey", "safe"]),
        (d.altman_zone_prime, [1.22, 1.23, 2.90, 2.91], ["distress", "grey", "grey", "safe"]),
        (
            d.altman_zone_double_prime,
            [1.09, 1.10, 2.60, 2.61],
            ["distress", "grey", "grey", "safe"],
        ),
        (d.altman_zone_ems, [4.34, 4.36, 5.84, 5.86], ["distress", "grey", "grey", "safe"]),
    ],
)
def test_altman_zone_boundaries(fn, values: list[float], expected: list[str]) -> None:
    frame = pl.DataFrame({"z": [*values, None]}, schema={"z": pl.Float64})
    assert frame.select(fn("z")).to_series().to_list() == [*expected, None]


def test_altman_undefined_inputs() -> None:
    frame = pl.DataFrame(
        {"ta": [0.0, 10.0, 10.0, None], "tl": [5.0, 0.0, 5.0, 5.0], "wc": [1.0, 1.0, None, 1.0]}
    )
    m = d.altman_z_double_prime("wc", 1.0, 1.0, 1.0, "tl", "ta")
    out = frame.select(*m)
    assert out["altman_z_double_prime"].to_list() == [None, None, None, None]
    assert out["altman_z_double_prime_status"].to_list() == [
        "n/a: non-positive total assets",
        "n/a: non-positive total liabilities",
        "n/a: missing working capital",
        "n/a: missing total assets",
    ]


# ---------------------------------------------------------------------------- Ohlson


def test_ohlson_magco(magco: pl.DataFrame) -> None:
    size = d.ohlson_size("ta", 7.2, 650.0)  # deflator index level 650 (1968 = 100)
    o = d.ohlson_o_score(size.value, "tl", "ta", "wc", "cl", "ca", "ni", "ni0", "cfo")
    r = one(magco, *size, *o, d.ohlson_probability(o.value))
    assert r["ohlson_size"] == pytest.approx(math.log(1.388889e9 / 650), abs=1e-6)
    assert r["ohlson_size"] == pytest.approx(14.574798, abs=5e-7)
    assert r["ohlson_o"] == pytest.approx(-4.843395, abs=5e-7)
    assert r["ohlson_o_status"] == "ok"
    assert r["ohlson_p"] == pytest.approx(0.0078186, abs=5e-8)


def test_ohlson_pitfall_demo_ln_ta_cny_mn(magco: pl.DataFrame) -> None:
    size = d.ohlson_size_cny_mn("ta")
    o = d.ohlson_o_score(size.value, "tl", "ta", "wc", "cl", "ca", "ni", "ni0", "cfo")
    r = one(magco, *o, d.ohlson_probability(o.value))
    assert r["ohlson_o"] == pytest.approx(-2.660061, abs=5e-7)
    assert r["ohlson_p"] == pytest.approx(0.065372, abs=5e-7)


def test_ohlson_dummies_and_chin() -> None:
    # TL > TA (OENEG = 1), two losses (INTWO = 1), NI = NI_prev = 0 would make CHIN = 0
    frame = pl.DataFrame({"ni": [-10.0, 0.0], "ni0": [-20.0, 0.0]})
    base = dict(size=10.0, tl=120.0, ta=100.0, wc=0.0, cl=50.0, ca=50.0, ffo=0.0)
    o = d.ohlson_o_score(
        base["size"],
        base["tl"],
        base["ta"],
        base["wc"],
        base["cl"],
        base["ca"],
        "ni",
        "ni0",
        base["ffo"],
    )
    got = frame.select(o.value).to_series().to_list()
    common = -1.32 - 0.407 * 10 + 6.03 * 1.2 + 0.0757 * 1.0 - 1.72 - 1.83 * 0.0
    exp0 = common - 2.37 * (-0.1) + 0.285 - 0.521 * (10.0 / 30.0)
    exp1 = common  # no losses, CHIN = 0 by definition
    assert got == pytest.approx([exp0, exp1], abs=1e-12)


def test_ohlson_size_guards() -> None:
    frame = pl.DataFrame({"ta": [0.0, 1.0, 1.0], "fx": [7.2, 0.0, 7.2], "p": [650.0, 650.0, 0.0]})
    out = frame.select(*d.ohlson_size("ta", "fx", "p"))
    assert out["ohlson_size"].to_list() == [None, None, None]
    assert out["ohlson_size_status"].to_list() == [
        "n/a: non-positive total assets",
        "n/a: non-positive FX rate",
        "n/a: non-positive deflator index",
    ]


# ---------------------------------------------------------------------------- Zmijewski


def test_zmijewski_magco(magco: pl.DataFrame) -> None:
    x = d.zmijewski_x("ni", "tl", "ta", "ca", "cl")
    r = one(magco, *x, d.zmijewski_probability(x.value))
    assert r["zmijewski_x"] == pytest.approx(-1.670163, abs=5e-7)
    assert r["zmijewski_p"] == pytest.approx(0.047444, abs=5e-7)
    zero_cl = pl.DataFrame({"cl": [0.0]}).select(*d.zmijewski_x(1.0, 1.0, 10.0, 1.0, "cl"))
    assert zero_cl.row(0) == (None, "n/a: non-positive current liabilities")


# ---------------------------------------------------------------------------- CHS


def test_chs_weights() -> None:
    w = d.chs_nimtaavg_weights()
    assert w == pytest.approx((8 / 15, 4 / 15, 2 / 15, 1 / 15), abs=1e-15)
    assert d.chs_nimtaavg([0.004, 0.006, 0.008, 0.010]) == pytest.approx(0.0054667, abs=5e-8)
    ew = d.chs_exretavg_weights()
    assert len(ew) == 12
    assert ew[0] == pytest.approx(0.220053, abs=5e-7)
    assert sum(ew) == pytest.approx(1.0, abs=1e-12)
    assert ew[1] / ew[0] == pytest.approx(2 ** (-1 / 3), rel=1e-12)
    assert d.chs_exretavg([-0.02] * 12) == pytest.approx(-0.02, abs=1e-15)
    with pytest.raises(ValueError, match="exactly 4"):
        d.chs_nimtaavg([0.1, 0.2])


def test_chs_magco() -> None:
    mta = 12000.0 + 5000.0
    mb = d.chs_market_to_book(12000.0, 5000.0)
    price = d.chs_price(30.0, 7.2)
    lpfd = d.chs_lpfd(
        d.chs_nimtaavg([100 / mta] * 4),
        5000 / mta,
        -0.02,
        0.55,
        math.log(12000 / 5e7),
        1500 / mta,
        mb.value,
        price.value,
    )
    pfd = d.chs_pfd(lpfd.value)
    r = pl.select(mb.value, price.value, *lpfd, pfd, d.chs_cumulative_12m(pfd)).row(0, named=True)
    assert r["chs_mb"] == pytest.approx(2.105263, abs=5e-7)
    assert r["chs_price"] == pytest.approx(1.427116, abs=5e-7)
    assert r["chs_lpfd"] == pytest.approx(-7.686026, abs=5e-7)
    assert r["chs_pfd"] == pytest.approx(0.00045899, abs=5e-9)
    assert r["chs_pfd_12m_approx"] == pytest.approx(0.0054940, abs=5e-8)


def test_chs_price_cap_and_be_floor() -> None:
    r = pl.select(d.chs_price(200.0, 7.2).value, d.chs_market_to_book(10.0, -100.0).value)
    assert r.row(0) == pytest.approx((math.log(15.0), 10.0 / 1.0))


# ---------------------------------------------------------------------------- DD


def test_naive_dd_magco_and_stressed() -> None:
    base = d.naive_dd(12000.0, d.kmv_default_point(1500.0, 1000.0), 0.55, -0.15)
    stressed = d.naive_dd(7200.0, 2000.0, 0.80, -0.50)
    r = pl.select(
        *base,
        d.naive_pd(base.value),
        stressed.value.alias("dd_s"),
        d.naive_pd(stressed.value).alias("pd_s"),
    ).row(0, named=True)
    assert r["naive_dd"] == pytest.approx(3.355587, abs=5e-7)
    assert r["naive_dd_status"] == "ok"
    assert r["naive_pd"] == pytest.approx(0.00039598, abs=5e-9)
    assert r["dd_s"] == pytest.approx(1.167725, abs=5e-7)
    assert r["pd_s"] == pytest.approx(0.121459, abs=5e-7)


def test_naive_dd_no_debt() -> None:
    frame = pl.DataFrame({"f": [0.0, -1.0, 2000.0], "e": [100.0, 100.0, 0.0]})
    out = frame.select(*d.naive_dd("e", "f", 0.5, 0.0))
    assert out["naive_dd"].to_list() == [None, None, None]
    assert out["naive_dd_status"].to_list() == [
        "n/a: no debt (default point is zero)",
        "n/a: no debt (default point is zero)",
        "n/a: non-positive equity",
    ]


def test_merton_solve_magco() -> None:
    sol = d.merton_solve(12000.0, 2000.0, 0.55, 0.02)
    assert sol.status == "ok"
    assert sol.asset_value == pytest.approx(13960.39, abs=5e-3)
    assert sol.asset_volatility == pytest.approx(0.472769, abs=5e-7)
    assert sol.d2 == pytest.approx(3.915912, abs=5e-7)
    assert sol.pd_risk_neutral == pytest.approx(4.50e-5, abs=5e-8)
    # both equations hold at the solution
    v, s = sol.asset_value, sol.asset_volatility
    assert d._bs_call(v, 2000.0, s, 0.02, 1.0) == pytest.approx(12000.0, abs=1e-6)
    assert sol.d1 is not None
    n_d1 = 0.5 * math.erfc(-sol.d1 / math.sqrt(2))
    assert n_d1 * s * v == pytest.approx(0.55 * 12000.0, abs=1e-6)
    dd, status = d.merton_distance_to_default(v, s, 2000.0, -0.15)
    assert status == "ok"
    assert dd == pytest.approx(3.556329, abs=5e-7)
    assert d.merton_distance_to_default(v, s, 2000.0, 0.02)[0] == pytest.approx(sol.d2)


def test_merton_guards() -> None:
    assert d.merton_solve(12000.0, 0.0, 0.55, 0.02).status == (
        "n/a: no debt (default point is zero)"
    )
    assert d.merton_solve(12000.0, 2000.0, 0.0, 0.02).asset_value is None
    assert d.merton_solve(float("nan"), 2000.0, 0.5, 0.02).status == "n/a: missing input"
    assert d.merton_distance_to_default(1.0, 0.2, 0.0, 0.0) == (
        None,
        "n/a: no debt (default point is zero)",
    )


# ---------------------------------------------------------------------------- ICR / DaR


def test_icr_reverse_stress_table() -> None:
    # methods.md 7: EBIT(s) = 600 - 1000 s; interest 100, or 150 after +200 bp
    frame = pl.DataFrame({"s": [0.0, 0.25, 0.50]}).with_columns(ebit=600.0 - 1000.0 * pl.col("s"))
    out = frame.select(
        d.interest_cover("ebit", 100.0).value.alias("icr"),
        d.interest_cover("ebit", 150.0).value.alias("icr_rate"),
    )
    assert out["icr"].to_list() == pytest.approx([6.0, 3.5, 1.0])
    assert out["icr_rate"].to_list() == pytest.approx([4.0, 2.333333, 0.666667], abs=5e-7)


def test_interest_cover_zero_interest_and_bands() -> None:
    frame = pl.DataFrame(
        {
            "ebit": [100.0, 100.0, -50.0, 150.0, 200.0, None],
            "i": [0.0, 100.0, 40.0, 100.0, 100.0, 1.0],
        }
    )
    icr = d.interest_cover("ebit", "i")
    out = frame.select(*icr, d.icr_band(icr.value))
    assert out["icr"].to_list() == [None, 1.0, -1.25, 1.5, 2.0, None]
    assert out["icr_status"].to_list() == [
        "n/a: zero interest expense",
        "ok",
        "ok",
        "ok",
        "ok",
        "n/a: missing EBIT",
    ]
    assert out["icr_band"].to_list() == [None, "weak", "at risk", "weak", "adequate", None]


def test_debt_at_risk_scalar_vector() -> None:
    ebit = [600.0, 90.0, 300.0, -50.0]
    interest = [100.0, 120.0, 200.0, 40.0]
    debt = [2500.0, 1800.0, 3000.0, 700.0]
    assert d.debt_at_risk_share(ebit, interest, debt) == (pytest.approx(0.3125), "ok")
    stressed_ebit = [e - 0.3 * abs(e) for e in ebit]
    stressed_int = [i * 1.25 for i in interest]
    assert d.debt_at_risk_share(stressed_ebit, stressed_int, debt) == (pytest.approx(0.6875), "ok")


def test_debt_at_risk_grouped_frame() -> None:
    ebit = [600.0, 90.0, 300.0, -50.0]
    interest = [100.0, 120.0, 200.0, 40.0]
    debt = [2500.0, 1800.0, 3000.0, 700.0]
    rows = []
    for scen, f_e, f_i in (("base", 0.0, 1.0), ("stress", 0.3, 1.25)):
        for e, i, dbt in zip(ebit, interest, debt, strict=True):
            rows.append(
                {
                    "scenario": scen,
                    "ebit": e - f_e * abs(e),
                    "interest_expense": i * f_i,
                    "debt": dbt,
                }
            )
        # a debt-free, interest-free firm with losses is excluded, not at risk
        rows.append({"scenario": scen, "ebit": -10.0, "interest_expense": 0.0, "debt": 0.0})
    rows.append({"scenario": "empty", "ebit": 5.0, "interest_expense": 0.0, "debt": 0.0})
    out = d.debt_at_risk(pl.DataFrame(rows), by="scenario")
    assert out["scenario"].to_list() == ["base", "empty", "stress"]
    assert out["dar_share"].to_list() == [pytest.approx(0.3125), None, pytest.approx(0.6875)]
    assert out["dar_status"].to_list() == ["ok", "n/a: zero total debt", "ok"]
    assert out["n_excluded"].to_list() == [1, 1, 1]
    assert out["n_at_risk"].to_list() == [2, 0, 3]
    assert out["debt_total"].to_list() == [8000.0, 0.0, 8000.0]


def test_debt_at_risk_flag_zero_interest_with_debt() -> None:
    frame = pl.DataFrame({"e": [-1.0, 1.0, 1.0], "i": [0.0, 0.0, 1.0], "d": [10.0, 10.0, -1.0]})
    assert frame.select(d.debt_at_risk_flag("e", "i", "d")).to_series().to_list() == [
        True,
        False,
        None,
    ]


def test_net_debt_to_ebitda() -> None:
    frame = pl.DataFrame({"nd": [1000.0, -500.0, 1000.0, 1000.0], "eb": [400.0, 250.0, 0.0, -5.0]})
    out = frame.select(*d.net_debt_to_ebitda("nd", "eb"))
    assert out["net_debt_to_ebitda"].to_list() == [2.5, -2.0, None, None]
    assert out["net_debt_to_ebitda_status"].to_list() == [
        "ok",
        "ok",
        "n/a: non-positive EBITDA",
        "n/a: non-positive EBITDA",
    ]


# ---------------------------------------------------------------------------- properties

finite_or_edge = st.one_of(
    st.floats(min_value=-1e6, max_value=1e6, allow_nan=False),
    st.sampled_from([0.0, -0.0, 1e-300, float("nan")]),
    st.none(),
)


@settings(max_examples=60, deadline=None)
@given(st.lists(st.tuples(*[finite_or_edge] * 6), min_size=1, max_size=8))
def test_no_inf_or_nan_ever(rows: list[tuple]) -> None:
    cols = ["a", "b", "c", "e", "f", "g"]
    frame = pl.DataFrame(rows, schema={c: pl.Float64 for c in cols}, orient="row")
    metrics = [
        d.altman_z_double_prime("a", "b", "c", "e", "f", "g"),
        d.altman_z("a", "b", "c", "e", "f", "g", "g"),
        d.ohlson_o_score("a", "b", "c", "e", "f", "g", "a", "b", "c"),
        d.zmijewski_x("a", "b", "c", "e", "f"),
        d.naive_dd("a", "b", "c", "e"),
        d.interest_cover("a", "b"),
        d.net_debt_to_ebitda("a", "b"),
        d.ohlson_size("a", "b", "c"),
    ]
    for m in metrics:
        out = frame.select(m.value.alias("v"), m.status.alias("s"))
        for v, s in out.iter_rows():
            assert (v is None) == (s != "ok")
            assert s == "ok" or s.startswith("n/a: ")
            if v is not None:
                assert math.isfinite(v)


def test_vectorised_over_large_frame() -> None:
    n = 200_000
    frame = pl.DataFrame(
        {
            "ebit": pl.int_range(0, n, eager=True).cast(pl.Float64) - 1000.0,
            "i": pl.repeat(100.0, n, eager=True),
        }
    )
    out = frame.select(*d.interest_cover("ebit", "i"))
    assert out.height == n
    assert out["icr"][0] == -10.0
    assert out["icr_status"].n_unique() == 1


def test_numeric_core_imports_no_io_libraries() -> None:
    code = (
        "import sys, stressmodel.analysis.distress, stressmodel.analysis.rootfind;"
        "bad = {'click', 'openpyxl', 'xlsxwriter'} & set(sys.modules);"
        "print(sorted(bad)); sys.exit(1 if bad else 0)"
    )
    root = Path(__file__).resolve().parents[1]
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=root)
    assert res.returncode == 0, res.stdout + res.stderr
