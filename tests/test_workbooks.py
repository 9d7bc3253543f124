"""The Excel workbooks of a run: live formulas that LibreOffice recalculates to the
engine's numbers, structure and formats, safety of text from inputs, determinism.

One LibreOffice batch conversion serves the whole module (``recalculated``): the run's
workbooks, a copy with corrupted cached values (the check must fail on it), a copy with
one input edited (the sheet must move as the engine moves) and the workbook of a run
whose company name looks like a formula.

Tolerance: formula cells are compared with a relative tolerance of 1e-9. An absolute
tolerance (``NEAR_ZERO`` = 1e-7, in the cell's unit, i.e. CNY mn for money) is used only
where the engine's value is itself zero up to rounding (``|value| <= NEAR_ZERO``):
LibreOffice snaps a subtraction whose result is tiny relative to its operands to exactly 0
(the balance check, and the excess stock and working capital released at the horizon in
the baseline, are about 1e-12 in the engine and 0 in LibreOffice).
"""

from __future__ import annotations

import csv
import dataclasses
import datetime as dt
import hashlib
import itertools
import math
import re
import shutil
import time
import zipfile
from pathlib import Path
from typing import Any

import openpyxl
import polars as pl
import pytest
from support.libreoffice import (
    cell_values,
    corrupt_cached_values,
    formula_cells,
    is_error_value,
    recalculate_many,
    soffice_path,
)

from stressmodel.errors import ReportError
from stressmodel.inputs.load import Inputs, load_inputs
from stressmodel.model.quarter import ALL_FIRM_PARAMS, SCENARIO_PARAMS
from stressmodel.model.quarter import CONSTANTS as MODEL_CONSTANTS
from stressmodel.pipeline.stages import RunOptions, RunResult, run_model
from stressmodel.report import workbook_specs, write_workbooks
from stressmodel.report.formulas import Formula, formula_text, number_text
from stressmodel.report.spec import SheetSpec, WorkbookSpec, check_name
from stressmodel.report.writer import write_workbook

ROOT = Path(__file__).resolve().parents[1]
FIRMS = ("603072.SH", "300224.SZ")
EDIT_FIRM = "300224.SZ"
EDITED_SHOCK = 0.7  # the seed scenario's export shock in the edited copy (0.5 in the inputs)
CASH_CORRUPTION = 500.0  # added to f_cash0 in the copy whose master check must fail
NEAR_ZERO = 1e-7
HOSTILE = {"300224.SZ": '=HYPERLINK("http://example.com","x")', "603072.SH": "@SUM(1,2)"}
REQUIRED_LABELS = (
    "Revenue",
    "Export revenue",
    "Domestic revenue",
    "COGS",
    "Gross profit",
    "Storage cost",
    "Unabsorbed overhead",
    "EBITDA",
    "EBIT",
    "Interest expense",
    "Net income",
    "Inventory",
    "Receivables",
    "Cash",
    "Total debt",
    "Total assets",
    "Total liabilities",
    "Equity",
    "CFO",
    "CFI",
    "CFF",
)
FIRM_SHEETS_AFTER = (
    "Sensitivity",
    "Risk",
    "Consolidation",
    "Charts",
    "Checks",
    "Dictionary",
    "Provenance",
)


def close(cached: Any, fresh: Any) -> bool:
    """Relative 1e-9; absolute NEAR_ZERO only where the engine's value is zero up to rounding."""
    if isinstance(cached, bool) or isinstance(fresh, bool):
        return cached == fresh
    if isinstance(cached, int | float) and isinstance(fresh, int | float):
        if abs(cached) <= NEAR_ZERO:
            return abs(fresh - cached) <= NEAR_ZERO
        return math.isclose(cached, fresh, rel_tol=1e-9, abs_tol=0.0)
    return cached == fresh


def mismatches(original: Path, recalculated: Path) -> list[str]:
    """Formula cells whose recalculated value differs from the cached (engine) value, and
    every error value in the recalculated workbook."""
    formulas = formula_cells(original)
    cached, fresh = cell_values(original), cell_values(recalculated)
    out = [
        f"{s}!{c} {f}: cached {cached.get((s, c))!r}, recalculated {fresh.get((s, c))!r}"
        for (s, c), f in formulas.items()
        if not close(cached.get((s, c)), fresh.get((s, c)))
    ]
    out += [f"{s}!{c}: error value {v}" for (s, c), v in fresh.items() if is_error_value(v)]
    return out


# --- fixtures (one run, one LibreOffice batch per module) ----------------------------------


@pytest.fixture(scope="module")
def lo() -> str:
    path = soffice_path()
    if path is None:
        pytest.fail(
            "LibreOffice (soffice) not found: install libreoffice-calc; these tests never skip"
        )
    return path


@pytest.fixture(scope="module")
def inputs() -> Inputs:
    return load_inputs(ROOT / "inputs")


@pytest.fixture(scope="module")
def result(inputs: Inputs) -> RunResult:
    return run_model(inputs, RunOptions(firms=FIRMS))


@pytest.fixture(scope="module")
def written(
    result: RunResult, inputs: Inputs, tmp_path_factory: pytest.TempPathFactory
) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("workbooks")
    names = write_workbooks(result, inputs, folder)
    return {n: folder / n for n in names}


@pytest.fixture(scope="module")
def hostile(tmp_path_factory: pytest.TempPathFactory) -> tuple[RunResult, dict[str, Path]]:
    """A run on a copy of the inputs whose company names start with = and @."""
    root = tmp_path_factory.mktemp("hostile")
    shutil.copytree(ROOT / "inputs", root / "inputs")
    path = root / "inputs" / "firms.csv"
    with path.open(newline="", encoding="utf-8") as fh:
        rows = list(csv.DictReader(fh))
        fields = list(rows[0])
    for r in rows:
        r["company_name"] = HOSTILE.get(r["ticker"], r["company_name"])
    with path.open("w", newline="", encoding="utf-8") as fh:
        w = csv.DictWriter(fh, fields)
        w.writeheader()
        w.writerows(rows)
    inp = load_inputs(root / "inputs")
    res = run_model(inp, RunOptions(firms=FIRMS))
    out = root / "out"
    out.mkdir()
    return res, {n: out / n for n in write_workbooks(res, inp, out)}


def defined_cell(wb: openpyxl.Workbook, name: str) -> tuple[str, str]:
    ((sheet, coord),) = list(wb.defined_names[name].destinations)
    return sheet, coord.replace("$", "")


@pytest.fixture(scope="module")
def copies(
    written: dict[str, Path],
    hostile: tuple[RunResult, dict[str, Path]],
    tmp_path_factory: pytest.TempPathFactory,
) -> dict[str, Path]:
    """The copies recalculated with the originals: corrupted cache, edited input, hostile run."""
    folder = tmp_path_factory.mktemp("copies")
    src = written[f"{EDIT_FIRM}.xlsx"]
    corrupted = folder / f"corrupted-{src.name}"
    corrupt_cached_values(src, corrupted)
    wb = openpyxl.load_workbook(src)  # keeps formulas and defined names
    sheet, coord = defined_cell(wb, "seed_export_shock")
    assert wb[sheet][coord].value == 0.5
    wb[sheet][coord] = EDITED_SHOCK
    edited = folder / f"edited-{src.name}"
    wb.save(edited)
    wb.close()
    hostile_copy = folder / f"hostile-{src.name}"
    shutil.copy(hostile[1][src.name], hostile_copy)
    wb = openpyxl.load_workbook(src)
    sheet, coord = defined_cell(wb, "f_cash0")
    wb[sheet][coord] = wb[sheet][coord].value + CASH_CORRUPTION
    cash = folder / f"cash0-{src.name}"
    wb.save(cash)
    wb.close()
    return {"corrupted": corrupted, "edited": edited, "hostile": hostile_copy, "cash0": cash}


@pytest.fixture(scope="module")
def shipped(inputs: Inputs, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """The workbooks of a run over every shipped firm (file names prefixed ``all-`` so that
    they share the module's LibreOffice batch)."""
    res = run_model(inputs, RunOptions())
    folder = tmp_path_factory.mktemp("shipped")
    out = {}
    for n in write_workbooks(res, inputs, folder):
        if n.endswith(".xlsx") and n != "sector_summary.xlsx":
            dst = folder / f"all-{n}"
            (folder / n).rename(dst)
            out[n] = dst
    return out


@pytest.fixture(scope="module")
def edited_engine(inputs: Inputs) -> RunResult:
    """The engine run with the seed export shock of the edited copy."""
    named = dict(inputs.scenarios.named)
    named["seed"] = dataclasses.replace(named["seed"], export_shock=EDITED_SHOCK)
    changed = dataclasses.replace(
        inputs, scenarios=dataclasses.replace(inputs.scenarios, named=named)
    )
    return run_model(changed, RunOptions(firms=FIRMS))


@pytest.fixture(scope="module")
def recalculated(
    lo: str,
    written: dict[str, Path],
    copies: dict[str, Path],
    shipped: dict[str, Path],
    tmp_path_factory: pytest.TempPathFactory,
) -> dict[str, Path]:
    """Every workbook of the module recalculated by one LibreOffice batch conversion."""
    srcs = [*written.values(), *copies.values(), *shipped.values()]
    outs = recalculate_many(srcs, tmp_path_factory.mktemp("recalculated"), timeout=300)
    return {s.name: o for s, o in zip(srcs, outs, strict=True)}


# --- LibreOffice: formulas reproduce the engine ---------------------------------------------


@pytest.mark.libreoffice
@pytest.mark.slow
def test_recalculated_formulas_equal_the_engine(
    written: dict[str, Path], recalculated: dict[str, Path]
) -> None:
    for name, path in written.items():
        assert mismatches(path, recalculated[name]) == [], name
    for t in FIRMS:
        assert len(formula_cells(written[f"{t}.xlsx"])) > 2500


@pytest.mark.libreoffice
@pytest.mark.slow
def test_the_check_fails_on_corrupted_cached_values(
    written: dict[str, Path], copies: dict[str, Path], recalculated: dict[str, Path]
) -> None:
    original = written[f"{EDIT_FIRM}.xlsx"]
    corrupted = copies["corrupted"]
    found = mismatches(corrupted, recalculated[corrupted.name])
    cached = cell_values(original)
    formulas = formula_cells(original)
    # corrupt_cached_values maps x -> 1.5 x (0 -> 1): every changed cell is caught, except a
    # value zero up to rounding that stays within NEAR_ZERO
    expected = [k for k in formulas if cached[k] == 0 or abs(1.5 * cached[k]) > NEAR_ZERO]
    assert len(expected) > 2500
    assert len(found) == len(expected)
    assert mismatches(original, recalculated[corrupted.name]) == []


def test_cached_values_are_the_engine_values(result: RunResult, written: dict[str, Path]) -> None:
    """Every projected cell of every scenario sheet caches exactly result.projection's value,
    and the valuation block caches result.valuation's."""
    for t in FIRMS:
        wb = openpyxl.load_workbook(written[f"{t}.xlsx"], data_only=True)
        for sc in result.scenarios:
            ws = wb[sc.name]
            proj = result.projection.filter(
                (pl.col("ticker") == t) & (pl.col("scenario") == sc.name)
            ).sort("quarter_index")
            header = [c.value for c in ws[3]]
            rows = {ws.cell(r, 3).value: r for r in range(5, ws.max_row + 1) if ws.cell(r, 3).value}
            checked = 0
            for item, r in rows.items():
                if item not in proj.columns or ws.cell(r, 5).value is None:
                    continue
                for k, q in enumerate(result.quarters):
                    col = header.index(q) + 1
                    assert ws.cell(r, col).value == proj[item][k], (t, sc.name, item, q)
                    checked += 1
            assert checked > 60 * result.horizon
            val = result.valuation.filter(
                (pl.col("ticker") == t) & (pl.col("scenario") == sc.name)
            ).row(0, named=True)
            for item in (
                "pv_fcf",
                "terminal_value",
                "enterprise_value",
                "equity_value",
                "value_per_share",
            ):
                rr = max(r for r in range(5, ws.max_row + 1) if ws.cell(r, 3).value == item)
                assert ws.cell(rr, 4).value == val[item], (t, sc.name, item)
        wb.close()


@pytest.mark.libreoffice
@pytest.mark.slow
def test_editing_an_input_moves_the_sheet_as_the_engine_moves(
    result: RunResult,
    edited_engine: RunResult,
    copies: dict[str, Path],
    recalculated: dict[str, Path],
) -> None:
    engine = edited_engine
    path = recalculated[copies["edited"].name]
    wb = openpyxl.load_workbook(path, data_only=True)
    moved = 0
    for sc in result.scenarios:
        ws = wb[sc.name]
        header = [c.value for c in ws[3]]
        rows = {ws.cell(r, 3).value: r for r in range(5, ws.max_row + 1) if ws.cell(r, 3).value}
        new = engine.projection.filter(
            (pl.col("ticker") == EDIT_FIRM) & (pl.col("scenario") == sc.name)
        ).sort("quarter_index")
        old = result.projection.filter(
            (pl.col("ticker") == EDIT_FIRM) & (pl.col("scenario") == sc.name)
        ).sort("quarter_index")
        items = [
            item
            for item, r in rows.items()
            if item in new.columns and isinstance(ws.cell(r, 5).value, int | float)
        ]
        assert {"revenue", "cash", "inventory", "net_income", "total_debt", "fcf"} <= set(items)
        for item in items:  # every line item of the sheet, quarter by quarter
            for k, q in enumerate(result.quarters):
                got = ws.cell(rows[item], header.index(q) + 1).value
                assert close(new[item][k], got), (sc.name, item, q, got, new[item][k])
                moved += not close(old[item][k], got)
        vps = engine.valuation.filter(
            (pl.col("ticker") == EDIT_FIRM) & (pl.col("scenario") == sc.name)
        )
        vps_row = max(
            r for r in range(5, ws.max_row + 1) if ws.cell(r, 3).value == "value_per_share"
        )
        assert close(vps["value_per_share"][0], ws.cell(vps_row, 4).value), sc.name
        if sc.name != "seed":
            assert all(close(a, b) for a, b in zip(new["cash"], old["cash"], strict=True))
    assert moved > 50  # the seed sheet did move
    wb.close()


def summary_table(ws: Any) -> tuple[int, dict[str, int], dict[str, int]]:
    """Header row of the Summary's scenario table, column by header, row by sheet code."""
    head = next(r for r in range(1, 60) if ws.cell(r, 1).value == "Scenario")
    cols = {ws.cell(head, c).value: c for c in range(1, 20) if ws.cell(head, c).value}
    rows = {}
    for r in range(head + 1, head + 30):
        code = ws.cell(r, cols["Sheet"]).value
        if not code:
            break
        rows[code] = r
    return head, cols, rows


def master_cell(ws: Any) -> Any:
    """The master check on the Summary (the cell right of its label)."""
    for row in ws.iter_rows():
        for c in row:
            if c.value == "Checks (all identities and input ranges)":
                return ws.cell(c.row, c.column + 3)
    raise AssertionError("no master check on the Summary")


@pytest.mark.libreoffice
@pytest.mark.slow
def test_master_check_reads_ok_on_every_shipped_workbook(
    shipped: dict[str, Path], written: dict[str, Path], recalculated: dict[str, Path]
) -> None:
    assert len(shipped) == 7
    for path in (*shipped.values(), *written.values()):
        if path.name.endswith("sector_summary.xlsx"):
            continue
        assert mismatches(path, recalculated[path.name]) == [], path.name
        wb = openpyxl.load_workbook(recalculated[path.name], data_only=True)
        cell = master_cell(wb["Summary"])
        assert cell.value == 0, (path.name, cell.value)
        assert cell.number_format == '"FAIL: "0;"FAIL: "0;"OK"'
        checks = wb["Checks"]
        fails = [
            checks.cell(r, 3).value for r in range(5, checks.max_row + 1) if checks.cell(r, 1).value
        ]
        assert len(fails) > 10 and all(v == 0 for v in fails), (path.name, fails)
        wb.close()


@pytest.mark.libreoffice
@pytest.mark.slow
def test_master_check_fails_when_opening_cash_is_corrupted(
    result: RunResult, copies: dict[str, Path], recalculated: dict[str, Path]
) -> None:
    wb = openpyxl.load_workbook(recalculated[copies["cash0"].name], data_only=True)
    master = master_cell(wb["Summary"]).value
    checks = wb["Checks"]
    rows = {checks.cell(r, 1).value: r for r in range(5, checks.max_row + 1)}
    opening = rows["Opening balance sheet: assets - liabilities - equity (CNY mn)"]
    assert checks.cell(opening, 2).value == pytest.approx(CASH_CORRUPTION)
    assert checks.cell(opening, 3).value == 1
    for sc in result.scenarios:  # every projected quarter's balance check is off by 500
        assert (
            checks.cell(rows[f"{sc.name}: quarters failing the balance check"], 3).value
            == result.horizon
        )
        ws = wb[sc.name]
        bc = next(r for r in range(5, ws.max_row + 1) if ws.cell(r, 3).value == "balance_check")
        assert ws.cell(bc, 5).value == pytest.approx(CASH_CORRUPTION)
    assert master == 1 + len(result.scenarios) * result.horizon
    wb.close()


@pytest.mark.libreoffice
@pytest.mark.slow
def test_summary_follows_an_edited_seed_shock_as_the_engine(
    edited_engine: RunResult, copies: dict[str, Path], recalculated: dict[str, Path]
) -> None:
    """Seed export shock 0.7 in a copy, recalculated: the Summary's seed value per share,
    minimum cash and minimum interest cover equal an engine run with that shock."""
    wb = openpyxl.load_workbook(recalculated[copies["edited"].name], data_only=True)
    ws = wb["Summary"]
    _head, cols, rows = summary_table(ws)
    engine = edited_engine.summary.filter(
        (pl.col("ticker") == EDIT_FIRM) & (pl.col("scenario") == "seed")
    ).row(0, named=True)
    got = {
        "value_per_share": ws.cell(rows["seed"], cols["Value per share (CNY/share)"]).value,
        "min_cash": ws.cell(rows["seed"], cols["Minimum cash less revolver (CNY mn)"]).value,
        "min_interest_cover": ws.cell(rows["seed"], cols["Minimum interest cover (times)"]).value,
    }
    for key, value in got.items():
        assert isinstance(value, float), (key, value)
        assert math.isclose(value, engine[key], rel_tol=1e-9), (key, value, engine[key])
    original = openpyxl.load_workbook(recalculated[f"{EDIT_FIRM}.xlsx"], data_only=True)
    before = (
        original["Summary"].cell(rows["seed"], cols["Minimum cash less revolver (CNY mn)"]).value
    )
    assert not math.isclose(before, got["min_cash"], rel_tol=1e-6)  # it did move
    assert master_cell(ws).value == 0
    original.close()
    wb.close()


def test_summary_prints_on_one_page_and_prices_are_not_percentages(
    written: dict[str, Path],
) -> None:
    for t in FIRMS:
        wb = openpyxl.load_workbook(written[f"{t}.xlsx"])
        ws = wb["Summary"]
        ps = ws.page_setup
        assert ws.sheet_properties.pageSetUpPr.fitToPage
        # fitToWidth/fitToHeight absent = 1 (the OOXML default); the scenario sheets print
        # one page wide and as many pages tall as needed (fitToHeight 0)
        assert (
            ps.fitToWidth in (None, 1)
            and ps.fitToHeight in (None, 1)
            and ps.orientation == "landscape"
        )
        assert wb["seed"].page_setup.fitToHeight == 0
        assert t in ws.oddHeader.left.text
        assert "not investment advice" in ws.oddFooter.left.text.lower()
        _head, cols, rows = summary_table(ws)
        price_cells = [ws.cell(r, cols["Value per share (CNY/share)"]) for r in rows.values()]
        for r in range(1, ws.max_row + 1):
            label = str(ws.cell(r, 1).value or "")
            if label.startswith(("Share price", "Trailing DCF", "Mid-cycle DCF")):
                price_cells += [
                    ws.cell(r, c) for c in range(2, 6) if ws.cell(r, c).value is not None
                ]
        risk = wb["Risk"]
        for r in range(1, risk.max_row + 1):
            key = risk.cell(r, 8).value  # the reverse-stress block's engine column names
            if key in ("share_price", "value_no_shock", "value_no_shock_midcycle"):
                price_cells.append(risk.cell(r, 2))
            if isinstance(key, str) and key.endswith("_years"):  # years, not a percentage
                assert "%" not in risk.cell(r, 2).number_format, (t, key)
            if isinstance(key, str):  # every reverse-stress figure under a readable label
                assert risk.cell(r, 1).value != key.replace("_", " "), (t, key)
        assert len(price_cells) >= len(rows) + 4
        bad = [(c.coordinate, c.number_format) for c in price_cells if "%" in c.number_format]
        assert bad == [], (t, bad)
        assert all(isinstance(c.value, int | float | str) for c in price_cells)
        # every input cell carries a data validation
        validated = {
            str(cell)
            for dv in wb["Assumptions"].data_validations.dataValidation
            for cell in dv.sqref
        }
        for n in wb.defined_names:
            sheet, coord = defined_cell(wb, n)
            cell = wb[sheet][coord]
            if cell.fill.fgColor.rgb == "FFFFF2CC":
                assert coord in validated or any(coord in rng for rng in validated), n
        wb.close()


@pytest.mark.libreoffice
@pytest.mark.slow
def test_formula_looking_company_name_stays_text(
    hostile: tuple[RunResult, dict[str, Path]],
    copies: dict[str, Path],
    recalculated: dict[str, Path],
) -> None:
    _res, files = hostile
    for t, name in HOSTILE.items():
        wb = openpyxl.load_workbook(files[f"{t}.xlsx"])
        cell = wb["Summary"]["B2"]
        assert cell.value == name and cell.data_type == "s", (t, cell.value, cell.data_type)
        wb.close()
    wb = openpyxl.load_workbook(files["sector_summary.xlsx"])
    names = {c.value for c in wb["Summary"]["C"] if c.value}
    assert set(HOSTILE.values()) <= names
    assert all(c.data_type == "s" for c in wb["Summary"]["C"] if c.value in HOSTILE.values())
    wb.close()
    for path in (files[f"{EDIT_FIRM}.xlsx"], recalculated[copies["hostile"].name]):
        xml = cell_xml(path, "xl/worksheets/sheet1.xml", "B2")  # Summary is the first sheet
        assert b"<f" not in xml and b't="' in xml, xml  # a text cell, no formula
        wb = openpyxl.load_workbook(path)
        assert (
            wb["Summary"]["B2"].value == HOSTILE[EDIT_FIRM] and wb["Summary"]["B2"].data_type == "s"
        )
        wb.close()


def cell_xml(path: Path, part: str, ref: str) -> bytes:
    """The raw XML of one cell of a worksheet part."""
    with zipfile.ZipFile(path) as z:
        data = z.read(part)
    m = re.search(rb'<c r="' + ref.encode() + rb'"[^>]*?(/>|>.*?</c>)', data, re.S)
    assert m is not None, (path, ref)
    return m.group(0)


# --- structure, formats, charts -------------------------------------------------------------


def test_sheets_names_formats_and_charts(result: RunResult, written: dict[str, Path]) -> None:
    scen = [s.name for s in result.scenarios]
    assert scen == [
        "baseline",
        "seed",
        "deal_normalises",
        "structural",
        "trade_implied",
        "retightening",
        "general_licences",
    ]
    as_of_end = dt.datetime(2025, 6, 30)
    for t in FIRMS:
        wb = openpyxl.load_workbook(written[f"{t}.xlsx"])
        assert wb.sheetnames == ["Summary", "Contents", "Assumptions", *scen, *FIRM_SHEETS_AFTER]
        # navigation: a hyperlink to every sheet; the dictionary lists every defined name
        links = {h.location for h in wb["Contents"]._hyperlinks} | {
            c.hyperlink.location for row in wb["Contents"].iter_rows() for c in row if c.hyperlink
        }
        assert {f"'{n}'!A1" for n in wb.sheetnames} <= links, links
        listed = {c.value for c in wb["Dictionary"]["A"]}
        assert set(wb.defined_names) <= listed
        sources = [
            c.hyperlink.target for row in wb["Provenance"].iter_rows() for c in row if c.hyperlink
        ]
        assert sources and all(u.startswith(("http://", "https://")) for u in sources)
        names = set(wb.defined_names)
        expected = {f"f_{p}" for p in ALL_FIRM_PARAMS}
        expected |= {
            f"{s}_{p}"
            for s in scen
            for p in (
                *SCENARIO_PARAMS,
                "start",
                "duration_quarters",
                "recovery_quarters",
                "permanent_share",
                "raw_material_price_change",
            )
        }
        expected |= {f"trade_loss_{q}" for q in result.quarters}
        expected |= {
            "v_discount_rate",
            "v_terminal_growth",
            "v_net_debt0",
            "b_shares",
            "b_share_price",
            "c_base_rate",
        }
        assert expected <= names, expected - names
        for n in names:
            sheet, coord = defined_cell(wb, n)
            assert sheet == "Assumptions"
            cell = wb[sheet][coord]
            if n != "v_net_debt0":  # a formula of two base figures, not an input
                assert isinstance(cell.value, int | float), n
                assert cell.font.color.rgb == "FF0000FF" and cell.fill.fgColor.rgb == "FFFFF2CC", n
        for s in scen:
            ws = wb[s]
            labels = [ws.cell(r, 1).value for r in range(1, ws.max_row + 1)]
            assert all(label in labels for label in REQUIRED_LABELS), s
            header = [c.value for c in ws[3]]
            assert header[3 : 4 + result.horizon] == [result.as_of_label, *result.quarters]
            rev = labels.index("Revenue") + 1
            cells = [ws.cell(rev, 5 + k) for k in range(result.horizon)]
            assert all(isinstance(c.value, str) and c.value.startswith("=") for c in cells)
            assert all(c.number_format == "#,##0.0;[Red]-#,##0.0" for c in cells)
            assert ws.cell(labels.index("Shock intensity") + 1, 5).number_format == "0.0%"
            assert ws.freeze_panes == "D5"
            assert (
                ws.page_setup.orientation == "landscape"
                and ws.sheet_properties.pageSetUpPr.fitToPage
            )
        summary = wb["Summary"]
        head = next(r for r in range(1, 40) if summary.cell(r, 1).value == "Scenario")
        cols = {summary.cell(head, c).value: c for c in range(1, 30)}
        cover = summary.cell(head + 1, cols["Minimum interest cover (times)"])
        assert cover.number_format == '0.0"x";-0.0"x"'
        assert summary.cell(head + 1, cols["Value / price (times)"]).number_format == '0.00"x"'
        assert summary.conditional_formatting
        charts = wb["Charts"]._charts
        assert sorted(c.tagname for c in charts) == [
            "barChart",
            "lineChart",
            "lineChart",
            "lineChart",
        ]
        assert len(charts[0].series) == len(scen)
        assert len(summary._charts) == 4
        assert wb["Sensitivity"].conditional_formatting
        grid = wb["Sensitivity"]
        assert (
            grid["A8"].value == 0
            and grid["B7"].value == 0
            and grid["H7"].value == pytest.approx(0.3)
        )
        assert grid["A28"].value == pytest.approx(1.0)  # the export shock runs to 100%
        assert "observed trough" in str(grid["I23"].value)  # the 75% row, next to the -77% trough
        # the trade-implied level is marked, on the grid or beside its first row when below it
        assert "trade-implied" in str(grid["I8"].value) or any(
            "trade-implied peak" in str(grid[f"I{r}"].value) for r in range(8, 29)
        )
        assert "uncalibrated index" in [c.value for c in wb["Consolidation"]["A"]]
        prov = [c.value for c in wb["Provenance"]["A"]]
        assert "inputs/firms.csv" in prov and "Package version" in prov
        assert wb.properties.created == as_of_end and wb.properties.modified == as_of_end
        wb.close()
    wb = openpyxl.load_workbook(written["sector_summary.xlsx"])
    assert wb.sheetnames == [
        "Summary",
        "Scenarios",
        "Ranking",
        "Debt at risk",
        "Charts",
        "Chart data",
        "Provenance",
    ]
    kinds = sorted(c.tagname for c in wb["Charts"]._charts)
    assert kinds == ["barChart", "barChart"] + ["lineChart"] * len(scen)
    ranks = [c.value for c in wb["Scenarios"]["A"][4:]]
    assert ranks == sorted(ranks) and len(ranks) == len(FIRMS) * len(scen)
    # the first sheet: one row per firm, sorted by who breaks first (interest cover < 1)
    first = wb["Summary"]
    head = next(r for r in range(1, 12) if first.cell(r, 1).value == "#")
    tickers = [first.cell(r, 2).value for r in range(head + 1, head + 1 + len(FIRMS))]
    rev = {x["ticker"]: x for x in result.extras["reverse_stress"].iter_rows(named=True)}
    icr = [rev[t]["shock_icr_below_1"] for t in tickers]
    assert sorted(tickers) == sorted(FIRMS) and icr == sorted(icr)
    assert [first.cell(r, 1).value for r in range(head + 1, head + 1 + len(FIRMS))] == list(
        range(1, len(FIRMS) + 1)
    )
    # one landscape page, one row per firm, readable: abbreviated headers with units, no
    # long text in the table (the notes above it hold the sentences, once)
    assert (
        first.page_setup.orientation == "landscape" and first.sheet_properties.pageSetUpPr.fitToPage
    )
    assert first.page_setup.fitToWidth in (None, 1) and first.page_setup.fitToHeight in (
        None,
        1,
    )  # absent = 1
    heads = [first.cell(head, c).value for c in range(1, first.max_column + 1)]
    n_cols = len([h for h in heads if h])
    width_of = {
        c: d.width for d in first.column_dimensions.values() for c in range(d.min, d.max + 1)
    }
    widths = [width_of[c] for c in range(1, n_cols + 1)]  # every column's width is set
    assert sum(widths) <= 200, sum(widths)  # about 75% scale on landscape A4 (was 292: about 48%)
    assert all(len(h) <= 40 for h in heads if h)
    assert all(h.endswith("(x)") for h in heads if h and h.startswith("V/P "))
    assert len([h for h in heads if h and h.startswith("V/P ")]) == len(scen)
    table = [
        first.cell(r, c).value
        for r in range(head + 1, head + 1 + len(FIRMS))
        for c in range(1, n_cols + 1)
    ]
    assert all(len(v) <= 45 for v in table if isinstance(v, str))
    # no repeated notes: every sentence-length text appears once
    long = [
        c.value
        for row in first.iter_rows()
        for c in row
        if isinstance(c.value, str) and len(c.value) > 45
    ]
    assert long and len(long) == len(set(long))
    assert wb.properties.created == as_of_end
    wb.close()


# --- determinism, optional frames, pure pieces ----------------------------------------------


def test_same_inputs_give_the_same_files(
    result: RunResult, inputs: Inputs, written: dict[str, Path], tmp_path: Path
) -> None:
    again = write_workbooks(result, inputs, tmp_path)
    assert sorted(again) == sorted(written)
    for n in again:
        assert (
            hashlib.sha256((tmp_path / n).read_bytes()).digest()
            == hashlib.sha256(written[n].read_bytes()).digest()
        ), n


def test_optional_frames_are_rendered(result: RunResult, inputs: Inputs) -> None:
    mc = pl.DataFrame(
        {"ticker": list(FIRMS), "statistic": ["=1+1", "p5"], "value_per_share": [1.5, None]}
    )
    tracking = pl.DataFrame(
        {"ticker": list(FIRMS), "quarter": ["2025Q3", "2025Q3"], "revenue_error": [0.1, -0.2]}
    )
    changes = pl.DataFrame({"item": ["+cmd"], "before": [1.0], "after": [2.0]})
    res = dataclasses.replace(
        result, extras={**result.extras, "montecarlo": mc, "tracking": tracking, "changes": changes}
    )
    specs = {s.filename: s for s in workbook_specs(res, inputs)}
    firm = specs[f"{FIRMS[0]}.xlsx"]
    assert [s.name for s in firm.sheets][-2:] == ["Provenance", "Tracking"]
    risk = firm.sheet("Risk")
    assert "Monte Carlo" in [c.value for c in risk.cells.values()]
    texts = [c for c in risk.cells.values() if c.value == "=1+1"]
    assert texts and all(c.kind == "string" for c in texts)
    sector = specs["sector_summary.xlsx"]
    assert sector.sheets[-1].name == "Changes"
    assert [c.kind for c in sector.sheets[-1].cells.values() if c.value == "+cmd"] == ["string"]


def test_formula_text_keeps_precedence() -> None:
    a, b, c = Formula("A1"), Formula("B1"), Formula("C1")
    assert formula_text((a - b) - c) == "=(A1-B1)-C1"
    assert formula_text(a - (b - c)) == "=A1-(B1-C1)"
    assert formula_text(a / (b * c)) == "=A1/(B1*C1)"
    assert formula_text(-a * b) == "=(-A1)*B1"
    assert formula_text(1 - a) == "=1-A1"
    assert formula_text(2.5 / a) == "=2.5/A1"
    assert (
        number_text(-0.5) == "(-0.5)" and number_text(1e-9) == "1E-09" and number_text(91.0) == "91"
    )
    for bad in ("A1", "TAX2024", "R", "C", "r1c1", "RC", "1x", "TRUE"):
        with pytest.raises(ReportError):
            check_name(bad)
    assert check_name("seed_export_shock") == "seed_export_shock"


@pytest.mark.slow
def test_run_writes_the_workbooks(tmp_path: Path) -> None:
    from stressmodel.run.app import run_and_write

    t = time.perf_counter()
    report = run_and_write(ROOT / "inputs", tmp_path, RunOptions(firms=FIRMS))
    assert time.perf_counter() - t < 60
    names = set(report.files)
    assert {f"{t}.xlsx" for t in FIRMS} | {"sector_summary.xlsx"} <= names
    assert (report.folder / "300224.SZ.xlsx").is_file()


def test_text_that_looks_like_a_formula_is_written_as_text(tmp_path: Path) -> None:
    triggers = [
        "=1+1",
        "+1",
        "-1",
        "@SUM(A1)",
        "\t=1",
        "\r=1",
        '=HYPERLINK("http://x")',
        "http://x",
    ]
    sheet = SheetSpec("S")
    for i, t in enumerate(triggers):
        sheet.text(i, 0, t)
    path = write_workbook(WorkbookSpec("t.xlsx", [sheet]), tmp_path)
    with zipfile.ZipFile(path) as z:
        xml = z.read("xl/worksheets/sheet1.xml")
        assert b"<f>" not in xml and b"<hyperlink" not in xml
    wb = openpyxl.load_workbook(path)
    # XlsxWriter escapes a carriage return as _x000D_ (Excel reads it back as \r; openpyxl does not)
    got = [wb["S"].cell(i + 1, 1).value.replace("_x000D_", "\r") for i in range(len(triggers))]
    assert got == triggers
    assert all(wb["S"].cell(i + 1, 1).data_type == "s" for i in range(len(triggers)))
    wb.close()
    with pytest.raises(ReportError):
        sheet.formula(20, 0, '="a"&B1', 1.0, "money")  # no string literals in formulas


def test_fast_formula_path_writes_the_same_bytes(
    result: RunResult,
    inputs: Inputs,
    written: dict[str, Path],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from stressmodel.report import writer

    monkeypatch.setattr(writer, "_fast_prepare", lambda original: original)
    for n in write_workbooks(result, inputs, tmp_path):
        assert (tmp_path / n).read_bytes() == written[n].read_bytes(), n


def test_cross_firm_charts_hold_at_most_the_top_firms(
    result: RunResult, inputs: Inputs, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A large universe would exceed Excel's 255 series per chart (and be unreadable):
    the cross-firm line charts keep the firms with the highest baseline consolidation
    score and say so in the title; the data sheet still lists every firm."""
    from stressmodel.report import sector, workbook_specs

    monkeypatch.setattr(sector, "MAX_CHART_FIRMS", 1)
    spec = next(w for w in workbook_specs(result, inputs) if w.filename == "sector_summary.xlsx")
    cash = [c for sh in spec.sheets for c in sh.charts if c.title.startswith("Cash by firm")]
    assert cash and all(len(c.series) == 1 for c in cash)
    assert all(f"1 of {len(result.tickers)} firms" in c.title for c in cash)
    top = sector._ranked_firms(result, "baseline")[0][0]
    assert cash[0].series[0].name == top


def test_scenario_formulas_read_the_model_constants_by_name(written: dict[str, Path]) -> None:
    """91 days, 1.4 calendar days per business day and the 1E-09 tonne floor are named
    inputs on Assumptions (with data validation), not numbers typed into the formulas."""
    literal = re.compile(r"(?<![A-Za-z_0-9$.])(91|1\.4|1E-09)(?![0-9A-Za-z_.(])")
    for t in FIRMS:
        path = written[f"{t}.xlsx"]
        wb = openpyxl.load_workbook(path)
        for n, value in MODEL_CONSTANTS.items():
            sheet, coord = defined_cell(wb, f"m_{n}")
            assert sheet == "Assumptions" and wb[sheet][coord].value == value
            assert any(coord in str(v.sqref) for v in wb[sheet].data_validations.dataValidation), n
        used = {n: 0 for n in MODEL_CONSTANTS}
        for ws in wb.worksheets:
            for row in ws.iter_rows():
                for c in row:
                    if isinstance(c.value, str) and c.value.startswith("="):
                        assert not literal.search(c.value), (t, ws.title, c.coordinate, c.value)
                        for n in used:
                            used[n] += f"m_{n}" in c.value
        wb.close()
        assert all(v > 0 for v in used.values()), used


def test_the_constants_reach_every_back_end() -> None:
    """step reads its constants from ``c``: the float reference moves when they move (so no
    back end keeps a literal of its own), and by default they are the shipped values."""
    from stressmodel.model import quarter
    from stressmodel.model.reference import FloatOps

    f = {n: 1.0 for n in quarter.ALL_FIRM_PARAMS} | {
        "dso_days": 60.0,
        "dpo_days": 30.0,
        "min_inventory_days": 10.0,
        "max_dso_days": 200.0,
        "business_days_per_quarter": 62.0,
    }
    s = {n: 0.0 for n in SCENARIO_PARAMS} | {"licence_delay_days": 20.0, "export_shock": 0.5}
    d = {"intensity": 1.0, "raw_material_change": 0.0}
    prev = quarter.opening_state(f, s, FloatOps)

    def run(c: dict[str, float] | None) -> dict[str, float]:
        ops = FloatOps()
        quarter.step(ops, f, s, prev, d, *(() if c is None else (c,)))
        return ops.values

    base = run(None)
    assert base == run(dict(MODEL_CONSTANTS))
    # receivable days of exports: 60 + 1 x 20 business days x 1.4 = 88 calendar days
    assert base["dso_export"] == pytest.approx(88.0, rel=1e-15)
    for n, v in (("calendar_days_per_business_day", 1.5), ("days_per_quarter", 90.0)):
        moved = run(dict(MODEL_CONSTANTS) | {n: v})
        assert moved["receivables"] != base["receivables"], n
    assert run(dict(MODEL_CONSTANTS) | {"calendar_days_per_business_day": 1.5})[
        "dso_export"
    ] == pytest.approx(90.0)


def test_sensitivity_has_the_permanent_share_grid(
    result: RunResult, written: dict[str, Path]
) -> None:
    """A second grid: export shock rows x share never recovered columns, value / price,
    cash headroom and interest cover of each grid case, with the marks and fixed colours."""
    t = EDIT_FIRM
    price = result.summary.filter(pl.col("ticker") == t)["share_price"][0]
    wb = openpyxl.load_workbook(written[f"{t}.xlsx"])
    ws = wb["Sensitivity"]
    titles = {c.value: c.row for c in ws["A"] if isinstance(c.value, str)}
    vp = next(
        r for v, r in titles.items() if v.startswith("Value per share") and "permanent share" in v
    )
    head = vp + 1
    assert ws.cell(head, 1).value == "Export shock \\ share never recovered"
    shares = [ws.cell(head, j).value for j in range(2, 7)]
    assert shares == pytest.approx([0.0, 0.25, 0.5, 0.75, 1.0])
    shocks = [ws.cell(head + i, 1).value for i in range(1, 22)]
    assert shocks == pytest.approx([i / 20 for i in range(21)])
    s = result.summary.filter(pl.col("ticker") == t).filter(
        pl.col("scenario") == "grid_e0.80_p0.75"
    )
    assert s["scenario_kind"][0] == "grid_permanent"
    cell = ws.cell(head + 17, 5)  # 80% row, 75% column
    assert cell.value == pytest.approx(s["value_per_share"][0] / price, rel=1e-12)
    assert cell.number_format == '0.00"x"'
    # a share never recovered lowers value at a given shock (a permanent loss of exports)
    row = [ws.cell(head + 17, j).value for j in range(2, 7)]
    assert all(a >= b for a, b in itertools.pairwise(row)) and row[0] > row[-1]
    assert "observed trough" in str(ws.cell(head + 16, 9).value)  # 75% row, the Marks column
    hr = next(
        r for v, r in titles.items() if v.startswith("Cash headroom") and "permanent share" in v
    )
    min_cash = result.bases.firms[t].params["min_cash"]
    assert ws.cell(hr + 1 + 17, 5).value == pytest.approx(s["min_cash"][0] - min_cash, rel=1e-12)
    ranges = {str(cf.sqref) for cf in ws.conditional_formatting}
    assert f"B{head + 1}:F{head + 21}" in ranges
    wb.close()


def test_sensitivity_of_a_firm_without_debt_says_so_once(shipped: dict[str, Path]) -> None:
    """The shipped run (2025Q4): Zhenghai has no material debt, so each grid's interest-cover
    block is one line, not a grid of "n/a"; Tianhe's are grids in the cover format."""
    line = "n/a in every cell: no material debt (no interest expense in any case of the grid)"
    wb = openpyxl.load_workbook(shipped["300224.SZ.xlsx"])
    ws = wb["Sensitivity"]
    assert [c.value for c in ws["A"]].count(line) == 2
    assert not any(
        str(c.value).startswith("n/a: no interest") for row in ws.iter_rows() for c in row
    )
    wb.close()
    wb = openpyxl.load_workbook(shipped["603072.SH.xlsx"])
    other = wb["Sensitivity"]
    cover = [c.row for c in other["A"] if str(c.value).startswith("Minimum interest cover")]
    assert len(cover) == 2 and line not in [c.value for c in other["A"]]
    assert all(other.cell(r + 2, 2).number_format == '0.0"x";-0.0"x"' for r in cover)
    wb.close()


def test_run_date_is_reproducible_and_in_the_headers(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The header prints the run's date: SOURCE_DATE_EPOCH when set (two runs with the same
    value give the same bytes), else the UTC date the run started; a bad value exits 2."""
    from stressmodel.errors import UsageError
    from stressmodel.run.app import run_and_write, run_date

    started = dt.datetime(2026, 3, 31, 23, 30, tzinfo=dt.UTC)
    assert run_date(started, {}) == dt.date(2026, 3, 31)
    assert run_date(started.astimezone(dt.timezone(dt.timedelta(hours=8))), {}) == dt.date(
        2026, 3, 31
    )
    assert run_date(started, {"SOURCE_DATE_EPOCH": "1767312000"}) == dt.date(2026, 1, 2)
    for bad in ("yesterday", "-5", "1.5e9", "1" * 13):
        with pytest.raises(UsageError, match="SOURCE_DATE_EPOCH"):
            run_date(started, {"SOURCE_DATE_EPOCH": bad})
    from click.testing import CliRunner

    from stressmodel.cli import main

    args = ["run", "--inputs", str(ROOT / "inputs"), "--outputs", str(tmp_path / "bad"), "--quiet"]
    res = CliRunner().invoke(main, args, env={"SOURCE_DATE_EPOCH": "yesterday"})
    assert (
        res.exit_code == 2 and "SOURCE_DATE_EPOCH" in res.output and "Traceback" not in res.output
    )
    assert not (tmp_path / "bad").exists()
    monkeypatch.setenv("SOURCE_DATE_EPOCH", "1767312000")
    files = {}
    for k in ("a", "b"):
        report = run_and_write(ROOT / "inputs", tmp_path / k, RunOptions(firms=(EDIT_FIRM,)))
        files[k] = report.folder
    for n in (f"{EDIT_FIRM}.xlsx", "sector_summary.xlsx"):
        assert (files["a"] / n).read_bytes() == (files["b"] / n).read_bytes(), n
        wb = openpyxl.load_workbook(files["a"] / n)
        head, foot = wb["Summary"].oddHeader, wb["Summary"].oddFooter
        assert head.right.text == "Run date 2026-01-02 (UTC)"
        assert "as of" in head.center.text and "not investment advice" in foot.left.text
        wb.close()
    monkeypatch.setenv("SOURCE_DATE_EPOCH", "1767398400")  # a day later
    later = run_and_write(ROOT / "inputs", tmp_path / "c", RunOptions(firms=(EDIT_FIRM,)))
    wb = openpyxl.load_workbook(later.folder / f"{EDIT_FIRM}.xlsx")
    assert wb["Summary"].oddHeader.right.text == "Run date 2026-01-03 (UTC)"
    wb.close()


def test_long_lists_on_the_summary_are_shortened() -> None:
    from stressmodel.report.sheets.summary import _short_list

    names = ["asp", "equity total", "equity volatility", "interest rate", "past year return"]
    assert _short_list([]) == "none" and _short_list(names[:2]) == "asp, equity total"
    text = _short_list(names)
    assert text == "asp, equity total + 3 more (Provenance)" and len(text) <= 44


def test_revolver_chart_says_when_nothing_is_drawn(result: RunResult, inputs: Inputs) -> None:
    specs = {s.filename: s for s in workbook_specs(result, inputs)}
    for t in FIRMS:
        drawn = bool((result.projection.filter(pl.col("ticker") == t)["revolver"] > 0).any())
        title = specs[f"{t}.xlsx"].sheet("Charts").charts[1].title
        assert title.startswith(f"{t}: revolving draws outstanding")
        assert title.endswith("none in any scenario of the engine run") == (not drawn), (t, title)
