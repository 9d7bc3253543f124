"""As-of limits that explain themselves (issue 19): an as-of quarter after every selected
firm's latest actuals is refused with exit 2 naming the latest usable quarter, or runs
with --allow-projection-only and marks every firm stale; run and batch state each firm's
latest quarter with actuals; a firm that cannot be run is named once, in plain words."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from click.testing import CliRunner

from stressmodel.cli import main
from stressmodel.errors import UsageError
from stressmodel.inputs.load import load_inputs
from stressmodel.inputs.periods import parse_quarter
from stressmodel.run.asof import check_as_of, latest_by_firm, latest_usable

REPO = Path(__file__).resolve().parents[1]
INPUTS = REPO / "inputs"
TIANHE = "603072.SH"  # latest actuals 2025Q2 in the shipped inputs
DEFAULT_FIRMS = (
    "000795.SZ",
    "000970.SZ",
    "300127.SZ",
    "300224.SZ",
    "600366.SH",
    "603072.SH",
    "688077.SH",
)


def invoke(*args: str):
    return CliRunner().invoke(main, list(args))


def test_latest_actuals_of_the_shipped_inputs() -> None:
    latest = latest_by_firm(load_inputs(INPUTS), DEFAULT_FIRMS)
    assert latest[TIANHE] == parse_quarter("2025Q2")
    assert latest["300224.SZ"] == parse_quarter("2025Q3")
    assert latest_usable(latest) == parse_quarter("2025Q4")


def test_check_as_of_rules() -> None:
    latest = {"A.SH": parse_quarter("2025Q2"), "B.SZ": parse_quarter("2025Q4"), "C.SZ": None}
    assert (
        check_as_of(latest, parse_quarter("2025Q4")) is False
    )  # B has actuals: not projection only
    assert check_as_of(latest, parse_quarter("2026Q1"), allow_projection_only=True) is True
    with pytest.raises(UsageError, match=r"the latest usable quarter is 2025Q4") as e:
        check_as_of(latest, parse_quarter("2026Q1"))
    assert "A.SH 2025Q2, B.SZ 2025Q4, C.SZ none" in str(e.value)
    with pytest.raises(UsageError, match="no selected firm has any quarter with actual revenue"):
        check_as_of({"C.SZ": None}, parse_quarter("2025Q1"))


def test_run_after_every_firms_actuals_is_refused(tmp_path: Path) -> None:
    out = tmp_path / "out"
    res = invoke(
        "run", "--inputs", str(INPUTS), "--outputs", str(out), "--as-of", "2026Q4", "--no-workbooks"
    )
    assert res.exit_code == 2
    assert res.stderr.startswith(
        "error: --as-of 2026Q4 is after the latest actuals of every selected firm"
    )
    assert (
        "the latest usable quarter is 2025Q4. Give --as-of 2025Q4 or earlier, or --allow-projection-only"
        in res.stderr
    )
    assert "Traceback" not in res.output
    assert not (out / "2026Q4").exists()


def test_run_for_one_firm_names_its_latest_quarter(tmp_path: Path) -> None:
    res = invoke(
        "run",
        "--inputs",
        str(INPUTS),
        "--outputs",
        str(tmp_path),
        "--firms",
        TIANHE,
        "--as-of",
        "2025Q3",
    )
    assert res.exit_code == 2
    assert res.stderr.strip() == (
        f"error: --as-of 2025Q3 is after the latest actuals of every selected firm ({TIANHE} 2025Q2); "
        "the latest usable quarter is 2025Q2. Give --as-of 2025Q2 or earlier, or --allow-projection-only "
        "to project from figures carried forward with every firm marked stale."
    )


def test_batch_to_after_every_firms_actuals_is_refused(tmp_path: Path) -> None:
    out = tmp_path / "out"
    res = invoke(
        "batch",
        "--inputs",
        str(INPUTS),
        "--outputs",
        str(out),
        "--from",
        "2025Q4",
        "--to",
        "2027Q1",
        "--no-workbooks",
    )
    assert res.exit_code == 2
    assert res.stderr.startswith(
        "error: --to 2027Q1 is after the latest actuals of every selected firm"
    )
    assert "the latest usable quarter is 2025Q4" in res.stderr
    assert not out.exists() or not any(out.iterdir())


def test_allow_projection_only_runs_and_marks_every_firm_stale(tmp_path: Path) -> None:
    res = invoke(
        "run", "--inputs", str(INPUTS), "--outputs", str(tmp_path), "--firms", TIANHE,
        "--as-of", "2025Q3", "--no-workbooks", "--allow-projection-only",
    )  # fmt: skip
    assert res.exit_code == 0, res.output
    assert (
        f"latest quarter with actuals: {TIANHE} 2025Q2 (latest usable as-of quarter: 2025Q2); as of 2025Q3 "
        "the run is projection only (--allow-projection-only): no firm has actuals for it, every firm is stale"
    ) in res.stdout
    manifest = json.loads((tmp_path / "2025Q3" / "manifest.json").read_text(encoding="utf-8"))
    assert manifest["projection_only"] is True
    assert manifest["firms_without_actuals_for_as_of"] == {TIANHE: "2025Q2"}
    assert manifest["latest_actuals"] == {TIANHE: "2025Q2"}
    assert manifest["options"]["allow_projection_only"] is True


def test_run_states_latest_actuals_per_firm(tmp_path: Path) -> None:
    res = invoke(
        "run", "--inputs", str(INPUTS), "--outputs", str(tmp_path), "--firms", f"{TIANHE},300224.SZ",
        "--as-of", "2025Q3", "--no-workbooks", "--json",
    )  # fmt: skip
    assert res.exit_code == 0, res.output
    data = json.loads(res.stdout)
    assert data["latest_actuals"] == {TIANHE: "2025Q2", "300224.SZ": "2025Q3"}
    assert data["projection_only"] is False
    assert data["firms_without_actuals_for_as_of"] == {TIANHE: "2025Q2"}


def test_unrunnable_firms_are_named_once_in_plain_words(tmp_path: Path) -> None:
    """As of 2027Q1 every balance is older than the look-back: no firm (and no peer) has a
    cash figure. The message names each firm once and says what is missing in words."""
    res = invoke(
        "run", "--inputs", str(INPUTS), "--outputs", str(tmp_path), "--as-of", "2027Q1",
        "--no-workbooks", "--allow-projection-only",
    )  # fmt: skip
    assert res.exit_code == 2
    msg = res.stderr.strip()
    assert msg.startswith("error: no selected firm can be run as of 2027Q1 (")
    for t in DEFAULT_FIRMS:
        assert len(re.findall(re.escape(t), msg)) == 1, msg
    assert "no cash figure recent enough for 2027Q1 and too few peers reporting one" in msg
    assert "cash_to_revenue" not in msg and "any peer" not in msg
    assert not (tmp_path / "2027Q1").exists()
