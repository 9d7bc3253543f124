"""Single quarters from year-to-date reports (stressmodel.inputs.statements), and the validation
rule that four reported quarters add up to the reported full year.

Reference figures: ../shared/reference/firm_financials.csv, Yantai Zhenghai Magnetic
Material (300224.SZ), 2025, CNY mn:

============  ==========  ==========
period        revenue     net income
============  ==========  ==========
Q1 (= YTD)    1458.8239   69.4868
H1 (YTD)      3057.4374   113.1026
9M (YTD)      4973.149    227.953
Q3 (single)   1915.712    114.851
============  ==========  ==========

Expected single quarters, worked out by hand from those figures:
Q2 = H1 - Q1 = 3057.4374 - 1458.8239 = 1598.6135 (net income 113.1026 - 69.4868 = 43.6158);
Q3 = 9M - H1 = 4973.149 - 3057.4374 = 1915.7116 (net income 227.953 - 113.1026 = 114.8504),
which agrees with the reported Q3 (1915.712 and 114.851) to the rounding of the source
(revenue 1,915,711,824.07 yuan; 9M and H1 are rounded to 1,000 and 10,000 yuan).
"""

from __future__ import annotations

import csv
import shutil
from pathlib import Path

import pytest
from click.testing import CliRunner

from stressmodel.cli import main
from stressmodel.inputs.load import load_inputs
from stressmodel.inputs.periods import parse_quarter
from stressmodel.inputs.statements import build

SHIPPED = Path(__file__).resolve().parents[1] / "inputs"
TICKER = "300224.SZ"

Q1, Q2, Q3 = (parse_quarter(q) for q in ("2025Q1", "2025Q2", "2025Q3"))

REPORTED = {  # (Q1 = YTD Q1, H1, 9M, single Q3)
    "revenue": (1458.8239, 3057.4374, 4973.149, 1915.712),
    "net_income": (69.4868, 113.1026, 227.953, 114.851),
}
EXPECTED_SINGLE = {  # (Q1, Q2, Q3) by hand, see the module docstring
    "revenue": (1458.8239, 1598.6135, 1915.7116),
    "net_income": (69.4868, 43.6158, 114.8504),
}


@pytest.fixture(scope="module")
def rows() -> tuple[dict[str, object], ...]:
    return load_inputs(SHIPPED).statements[TICKER]


def test_shipped_file_carries_the_reference_figures(rows: tuple[dict[str, object], ...]) -> None:
    by_key = {(r["period"], r["item"]): r["value"] for r in rows}
    for item, (q1, h1, m9, q3) in REPORTED.items():
        assert by_key[("2025Q1", item)] == q1
        assert by_key[("2025H1", item)] == h1
        assert by_key[("2025-9M", item)] == m9
        assert by_key[("2025Q3", item)] == q3


@pytest.mark.parametrize("item", sorted(EXPECTED_SINGLE))
def test_single_quarters_derived_from_year_to_date(
    rows: tuple[dict[str, object], ...], item: str
) -> None:
    """Only the year-to-date rows (Q1, H1, 9M) are given; Q2 and Q3 are derived."""
    ytd_only = [
        r for r in rows if r["item"] == item and r["period"] in ("2025Q1", "2025H1", "2025-9M")
    ]
    assert len(ytd_only) == 3
    fs = build(TICKER, ytd_only)
    q1, q2, q3 = EXPECTED_SINGLE[item]
    got = [fs.single_quarter(item, q) for q in (Q1, Q2, Q3)]
    assert all(g is not None for g in got)
    assert got[0].value == q1 and got[0].basis == "reported"  # type: ignore[union-attr]
    assert got[1].value == pytest.approx(q2, abs=1e-9)  # type: ignore[union-attr]
    assert got[2].value == pytest.approx(q3, abs=1e-9)  # type: ignore[union-attr]
    assert got[1].basis == got[2].basis == "derived"  # type: ignore[union-attr]
    assert got[1].how == f"2025Q2 {item} = 2025H1 - 2025Q1"  # type: ignore[union-attr]
    assert got[2].how == f"2025Q3 {item} = 2025-9M - 2025H1"  # type: ignore[union-attr]
    # the derived Q3 matches the reported single Q3 to the rounding of the sources
    assert got[2].value == pytest.approx(REPORTED[item][3], abs=1e-3)  # type: ignore[union-attr]
    # and the year-to-date figures are reproduced by the derived quarters
    assert fs.ytd(item, Q2).value == REPORTED[item][1]  # type: ignore[union-attr]
    assert fs.ytd(item, Q3).value == REPORTED[item][2]  # type: ignore[union-attr]


def test_reported_single_quarter_wins_over_derivation(rows: tuple[dict[str, object], ...]) -> None:
    """With the whole file, Q3 is the reported single quarter, Q2 the file's DERIVED row."""
    fs = build(TICKER, rows)
    q3 = fs.single_quarter("revenue", Q3)
    assert q3 is not None and q3.value == 1915.712 and q3.basis == "reported"
    q2 = fs.single_quarter("revenue", Q2)
    assert q2 is not None and q2.value == 1598.61 and q2.basis == "derived"


def test_year_to_date_derived_from_single_quarters() -> None:
    """The other way round: H1 = Q1 + Q2 when single quarters are reported."""
    base = {"unit": "CNY mn", "source": "test", "note": ""}
    rows = [
        {
            **base,
            "period": "2025Q1",
            "item": "revenue",
            "value": 1458.8239,
            "end": Q1,
            "span": 1,
            "kind": "Q",
            "line": 2,
        },
        {
            **base,
            "period": "2025Q2",
            "item": "revenue",
            "value": 1598.6135,
            "end": Q2,
            "span": 1,
            "kind": "Q",
            "line": 3,
        },
    ]
    fs = build(TICKER, rows)
    h1 = fs.ytd("revenue", Q2)
    assert (
        h1 is not None and h1.value == pytest.approx(3057.4374, abs=1e-9) and h1.basis == "derived"
    )


def test_as_of_drops_later_periods(rows: tuple[dict[str, object], ...]) -> None:
    fs = build(TICKER, rows, as_of=Q2)
    assert fs.single_quarter("revenue", Q3) is None
    assert fs.single_quarter("revenue", Q2) is not None


# --- four quarters must add up to the full year ----------------------------------------------


def _with_quarters(tmp_path: Path, q4: str) -> tuple[Path, int]:
    """Zhenghai's 2023 revenue as four single quarters plus the reported FY (5874).

    Q1-Q3 2023 are invented for the test (the shipped file has no 2023 quarters; its 2024
    quarters are now partly reported) and Q4 is given by the caller. Returns the inputs
    folder and the FY row's line number.
    """
    root = tmp_path / "inputs"
    shutil.copytree(SHIPPED, root)
    path = root / "statements" / f"{TICKER}.csv"
    with path.open("a", encoding="utf-8", newline="") as fh:
        w = csv.writer(fh, lineterminator="\n")
        w.writerow(["2023Q1", "revenue", "1400", "CNY mn", "test", ""])
        w.writerow(["2023Q2", "revenue", "1500", "CNY mn", "test", ""])
        w.writerow(["2023Q3", "revenue", "1500", "CNY mn", "test", ""])
        w.writerow(["2023Q4", "revenue", q4, "CNY mn", "test", ""])
    with path.open(encoding="utf-8", newline="") as fh:
        fy_line = next(
            i for i, r in enumerate(csv.reader(fh), start=1) if r[:2] == ["FY2023", "revenue"]
        )
    return root, fy_line


def test_four_quarters_that_sum_to_the_year_pass(tmp_path: Path) -> None:
    q4 = 5874 - 1400 - 1500 - 1500  # 1474
    root, _ = _with_quarters(tmp_path, repr(q4))
    assert CliRunner().invoke(main, ["validate", "--inputs", str(root)]).exit_code == 0
    fs = build(TICKER, load_inputs(root).statements[TICKER])
    assert fs.single_quarter("revenue", parse_quarter("2023Q4")).value == q4  # type: ignore[union-attr]


def test_four_quarters_within_rounding_pass(tmp_path: Path) -> None:
    """The tolerance is max(1, 0.5% of FY) = 29.37: a gap of 20 passes."""
    root, _ = _with_quarters(tmp_path, repr(5874 - 1400 - 1500 - 1500 - 20))
    assert CliRunner().invoke(main, ["validate", "--inputs", str(root)]).exit_code == 0


def test_four_quarters_that_do_not_sum_to_the_year_fail(tmp_path: Path) -> None:
    root, fy_line = _with_quarters(tmp_path, "1600")  # sum 6000, FY 5874: off by 126
    result = CliRunner().invoke(main, ["validate", "--inputs", str(root)])
    assert result.exit_code == 2
    assert result.stderr == (
        "error: 1 input problem found:\n"
        f"  - inputs/statements/{TICKER}.csv, row {fy_line}, field 'revenue': expected the year-to-date figure to "
        "equal its reported parts within 29.37; found 5874 vs parts summing to 6000\n"
    )
