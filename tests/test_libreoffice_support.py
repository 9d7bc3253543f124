"""Tests for tests/support/libreoffice.py: recalculation with a real LibreOffice."""

from __future__ import annotations

import math
import shutil
import zipfile
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import openpyxl
import pytest
import xlsxwriter
from support.libreoffice import (
    RecalculationError,
    cell_values,
    compare_recalculated,
    corrupt_cached_values,
    formula_cells,
    is_error_value,
    recalculate,
    recalculate_many,
    soffice_path,
)

pytestmark = pytest.mark.libreoffice

Value = float | str | bool

ASSUMPTIONS: dict[str, float] = {
    "OpeningCash": 250.0,
    "Revenue0": 1000.0,
    "Growth": 0.05,
    "CostRatio": 0.8,
    "FixedCost": 220.0,
    "MinCash": 240.0,
    "CreditLimit": 7.55,
    "InterestRate": 0.01,
    "DiscountRate": 0.03,
}
COLS = "BCDEFGHI"  # quarters 1..8 on the CashFlow sheet
# row -> (label, formula of Q1, formula of later quarters); {c} column, {p} previous column
ROWS: dict[int, tuple[str, str, str]] = {
    3: ("Revenue", "=Revenue0", "={p}3*(1+Growth)"),
    4: ("Costs", "={c}3*CostRatio+FixedCost", "={c}3*CostRatio+FixedCost"),
    5: ("Opening cash", "=OpeningCash", "={p}10"),
    6: ("Net flow", "={c}3-{c}4", "={c}3-{c}4"),
    7: ("Interest", "=IF({c}5>0,{c}5*InterestRate,0)", "=IF({c}5>0,{c}5*InterestRate,0)"),
    8: ("Draw", "=MIN(CreditLimit,MAX(0,MinCash-({c}5+{c}6+{c}7)))", ""),
    9: ("Status", '=IF({c}8>0,"draw","ok")', ""),
    10: ("Closing cash", "={c}5+{c}6+{c}7+{c}8", ""),
    11: ("Healthy", "=AND({c}10>=MinCash,{c}6>0)", ""),
    12: ("Swing", "=ABS({c}10-{c}5)", ""),
    13: ("Discount factor", "=1/(1+DiscountRate)^{c}2", ""),
}
SUMMARY: dict[int, tuple[str, str]] = {
    15: ("NPV of net flows", "=SUMPRODUCT(B6:I6,B13:I13)"),
    16: ("Min closing", "=MIN(B10:I10)"),
    17: ("Max closing", "=MAX(B10:I10)"),
    18: ("Opening + draws", "=Assumptions!$B$2+SUM(B8:I8)"),
    19: ("Verdict", '=IF(AND(B16>=MinCash,B17>0),"pass","breach")'),
}


def model(a: dict[str, float]) -> dict[str, Value]:
    """The CashFlow sheet computed in Python, cell by cell, as the formulas do."""
    v: dict[str, Value] = {}
    closing = a["OpeningCash"]
    revenue = a["Revenue0"]
    for q, c in enumerate(COLS, start=1):
        if q > 1:
            revenue = revenue * (1 + a["Growth"])
        opening = a["OpeningCash"] if q == 1 else closing
        costs = revenue * a["CostRatio"] + a["FixedCost"]
        net = revenue - costs
        interest = opening * a["InterestRate"] if opening > 0 else 0.0
        draw = min(a["CreditLimit"], max(0.0, a["MinCash"] - (opening + net + interest)))
        closing = opening + net + interest + draw
        v.update({f"{c}2": q, f"{c}3": revenue, f"{c}4": costs, f"{c}5": opening})
        v.update({f"{c}6": net, f"{c}7": interest, f"{c}8": draw, f"{c}10": closing})
        v[f"{c}9"] = "draw" if draw > 0 else "ok"
        v[f"{c}11"] = closing >= a["MinCash"] and net > 0
        v[f"{c}12"] = abs(closing - opening)
        v[f"{c}13"] = 1 / (1 + a["DiscountRate"]) ** q
    rows = [[float(v[f"{c}{r}"]) for c in COLS] for r in (6, 8, 10, 13)]
    nets, draws, closings, factors = rows
    v["B15"] = sum(n * f for n, f in zip(nets, factors, strict=True))
    v["B16"], v["B17"] = min(closings), max(closings)
    v["B18"] = a["OpeningCash"] + sum(draws)
    v["B19"] = "pass" if v["B16"] >= a["MinCash"] and v["B17"] > 0 else "breach"
    return v


def build_workbook(path: Path, a: dict[str, float] = ASSUMPTIONS) -> Path:
    expected = model(a)
    wb = xlsxwriter.Workbook(str(path))
    inputs = wb.add_worksheet("Assumptions")
    inputs.write_row(0, 0, ["Input", "Value"])
    for i, (name, value) in enumerate(a.items(), start=1):
        inputs.write_string(i, 0, name)
        inputs.write_number(i, 1, value)
        wb.define_name(name, f"=Assumptions!$B${i + 1}")
    ws = wb.add_worksheet("CashFlow")
    ws.write_row(0, 1, [f"Q{q}" for q in range(1, 9)])
    ws.write_string("A2", "Quarter")
    for q, c in enumerate(COLS, start=1):
        ws.write_number(f"{c}2", q)
    for row, (label, first, rest) in ROWS.items():
        ws.write_string(f"A{row}", label)
        for i, c in enumerate(COLS):
            template = first if i == 0 or not rest else rest
            formula = template.format(c=c, p=COLS[i - 1] if i else "")
            ws.write_formula(f"{c}{row}", formula, None, expected[f"{c}{row}"])
    for row, (label, formula) in SUMMARY.items():
        ws.write_string(f"A{row}", label)
        ws.write_formula(f"B{row}", formula, None, expected[f"B{row}"])
    wb.close()
    return path


def assert_matches_model(values: dict[tuple[str, str], object], a: dict[str, float]) -> None:
    for coord, want in model(a).items():
        got = values.get(("CashFlow", coord))
        if isinstance(want, float):
            assert isinstance(got, int | float), (coord, got)
            assert math.isclose(got, want, rel_tol=1e-9, abs_tol=1e-9), (coord, got, want)
        else:
            assert got == want and type(got) is type(want), (coord, got, want)


@pytest.fixture(scope="session")
def lo() -> str:
    path = soffice_path()
    if path is None:
        pytest.fail(
            "LibreOffice not found (soffice/libreoffice not on PATH, $SOFFICE unset). "
            "Install it: apt-get install -y libreoffice-calc-nogui. "
            "These tests are never skipped."
        )
    return path


@pytest.fixture(scope="session")
def base(tmp_path_factory: pytest.TempPathFactory, lo: str) -> tuple[Path, Path]:
    """The model workbook and its LibreOffice-recalculated copy."""
    src = build_workbook(tmp_path_factory.mktemp("src") / "model.xlsx")
    return src, recalculate(src, tmp_path_factory.mktemp("recalc"))


def test_cached_values_are_the_python_model(base: tuple[Path, Path]) -> None:
    src, _ = base
    assert_matches_model(cell_values(src), ASSUMPTIONS)
    formulas = formula_cells(src)
    assert len(formulas) == len(ROWS) * len(COLS) + len(SUMMARY)
    assert formulas[("CashFlow", "C5")] == "=B10"
    assert compare_recalculated(src, src) == []


def test_recalculated_values_match_cached_values(base: tuple[Path, Path]) -> None:
    src, recalculated = base
    assert recalculated != src and recalculated.name == src.name
    assert compare_recalculated(src, recalculated) == []
    assert_matches_model(cell_values(recalculated), ASSUMPTIONS)
    model_values = model(ASSUMPTIONS)  # the model exercises both IF branches
    assert {model_values[f"{c}9"] for c in COLS} == {"draw", "ok"}
    assert {model_values[f"{c}11"] for c in COLS} == {True, False}
    assert model_values["B8"] < ASSUMPTIONS["CreditLimit"] == model_values["C8"]


def test_corrupted_cached_values_are_recalculated(base: tuple[Path, Path], tmp_path: Path) -> None:
    src, _ = base
    corrupted = tmp_path / "corrupted.xlsx"
    changed = corrupt_cached_values(src, corrupted)
    numeric = [v for v in model(ASSUMPTIONS).values() if type(v) is float]
    assert changed == len(numeric)
    assert formula_cells(corrupted) == formula_cells(src)
    recalculated = recalculate(corrupted, tmp_path / "out")
    mismatches = compare_recalculated(corrupted, recalculated)
    assert len(mismatches) == changed, mismatches
    assert compare_recalculated(src, recalculated) == []


def test_changed_input_moves_dependent_cells(base: tuple[Path, Path], tmp_path: Path) -> None:
    src, _ = base
    changed = {**ASSUMPTIONS, "OpeningCash": 1000.0, "Growth": 0.08}
    assert (model(ASSUMPTIONS)["B19"], model(changed)["B19"]) == ("breach", "pass")
    wb = openpyxl.load_workbook(src)  # keeps formulas and defined names
    wb["Assumptions"]["B2"] = changed["OpeningCash"]
    wb["Assumptions"]["B4"] = changed["Growth"]
    edited = tmp_path / "edited.xlsx"
    wb.save(edited)
    wb.close()
    assert formula_cells(edited) == formula_cells(src)
    recalculated = recalculate(edited, tmp_path / "out")
    assert_matches_model(cell_values(recalculated), changed)


def test_error_values_are_reported(lo: str, tmp_path: Path) -> None:
    path = tmp_path / "errors.xlsx"
    wb = xlsxwriter.Workbook(str(path))
    ws = wb.add_worksheet("S")
    ws.write_number("A1", 0)
    ws.write_formula("A2", "=1/A1", None, 0)
    ws.write_formula("A3", "=A1+1", None, 1)
    wb.close()
    problems = compare_recalculated(path, recalculate(path, tmp_path / "out"))
    assert problems == [
        "S!A2 =1/A1: cached 0, recalculated '#DIV/0!'",
        "S!A2 =1/A1: error value #DIV/0! in recalculated workbook",
    ]


def test_batch_and_concurrent_recalculation(lo: str, tmp_path: Path) -> None:
    inputs = [
        build_workbook(tmp_path / f"m{i}.xlsx", {**ASSUMPTIONS, "OpeningCash": 100.0 * i})
        for i in range(4)
    ]
    outputs = recalculate_many(inputs, tmp_path / "batch")
    assert [p.name for p in outputs] == [p.name for p in inputs]
    assert all(compare_recalculated(s, r) == [] for s, r in zip(inputs, outputs, strict=True))
    with ThreadPoolExecutor(max_workers=3) as pool:
        done = list(pool.map(lambda s: recalculate(s, tmp_path / f"c-{s.stem}"), inputs[:3]))
    assert all(compare_recalculated(s, r) == [] for s, r in zip(inputs[:3], done, strict=True))


def test_failures_raise_clear_errors(lo: str, tmp_path: Path) -> None:
    bad = tmp_path / "bad.xlsx"
    bad.write_bytes(b"PK\x03\x04 definitely not a workbook" * 100)
    with pytest.raises(RecalculationError, match=r"(?s)missing outputs.*could not be loaded"):
        recalculate(bad, tmp_path / "out")
    good = build_workbook(tmp_path / "good.xlsx")
    with pytest.raises(RecalculationError, match="timed out"):
        recalculate(good, tmp_path / "out", timeout=0.05)
    with pytest.raises(FileNotFoundError):
        recalculate(tmp_path / "missing.xlsx", tmp_path / "out")
    with pytest.raises(ValueError, match="out_dir"):
        recalculate(good, tmp_path)
    (tmp_path / "sub").mkdir()
    shutil.copy(good, tmp_path / "sub" / "good.xlsx")
    with pytest.raises(ValueError, match="duplicate"):
        recalculate_many([good, tmp_path / "sub" / "good.xlsx"], tmp_path / "out")


def test_corrupt_cached_values_edits_only_numeric_results(tmp_path: Path) -> None:
    src = tmp_path / "s.xlsx"
    wb = xlsxwriter.Workbook(str(src))
    ws = wb.add_worksheet("S")
    ws.write_number("A1", 2)
    ws.write_formula("A2", "=A1*2", None, 4)
    ws.write_formula("A3", "=A1-2", None, 0)
    ws.write_formula("A4", '=IF(A1>1,"x","y")', None, "x")
    ws.write_formula("A5", "=A1>1", None, True)
    wb.close()
    dst = tmp_path / "d.xlsx"
    assert corrupt_cached_values(src, dst, factor=3) == 2
    values = cell_values(dst)
    assert [values.get(("S", f"A{r}")) for r in range(1, 6)] == [2, 12, 1, "x", True]
    assert formula_cells(dst) == formula_cells(src)
    with zipfile.ZipFile(src) as a, zipfile.ZipFile(dst) as b:
        assert a.namelist() == b.namelist()


def test_is_error_value() -> None:
    assert all(map(is_error_value, ["#DIV/0!", "#N/A", "#NAME?", "#REF!", "Err:502"]))
    assert not any(map(is_error_value, ["DIV/0", "Err:", 0, None, "ok"]))
