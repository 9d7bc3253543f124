"""Excel's limits that input counts can reach are stated, not leaked: a chart caps its
series at 255 and says so in its title; a sheet beyond Excel's rows is a clear exit-2
error; XlsxWriter's own warnings never reach the terminal."""

from __future__ import annotations

import warnings
import zipfile
from pathlib import Path

import pytest

from stressmodel.errors import ExcelLimitError
from stressmodel.report.spec import (
    EXCEL_MAX_ROWS,
    EXCEL_MAX_SERIES,
    ChartSpec,
    Range,
    Series,
    SheetSpec,
    WorkbookSpec,
    cap_series,
)
from stressmodel.report.writer import write_workbook


def _chart(n: int, overlay: int = 0) -> ChartSpec:
    series = tuple(
        Series(f"s{i}", Range("Data", i, 1, i, 4), Range("Data", 0, 1, 0, 4), None)
        for i in range(n)
    )
    extra = tuple(Series(f"o{i}", Range("Data", i, 1, i, 4), None, None) for i in range(overlay))
    return ChartSpec("line", "cash by scenario", series, (3, 0), overlay_line=extra)


def test_a_chart_within_the_limit_is_unchanged() -> None:
    chart = _chart(EXCEL_MAX_SERIES)
    assert cap_series(chart) is chart


@pytest.mark.parametrize(("n", "overlay"), [(300, 0), (255, 1), (400, 2)])
def test_a_chart_beyond_255_series_is_capped_and_says_so(n: int, overlay: int) -> None:
    capped = cap_series(_chart(n, overlay))
    assert len(capped.series) + len(capped.overlay_line) == EXCEL_MAX_SERIES
    assert len(capped.overlay_line) == overlay  # the overlay (e.g. the share price) is kept
    assert capped.title == (
        f"cash by scenario - first {EXCEL_MAX_SERIES} of {n + overlay} series (Excel charts hold at most 255)"
    )
    assert [s.name for s in capped.series] == [f"s{i}" for i in range(EXCEL_MAX_SERIES - overlay)]


def _data_sheet(rows: int) -> SheetSpec:
    sh = SheetSpec("Data")
    for r in range(rows):
        for c in range(5):
            sh.number(r, c, float(r + c), "number")
    return sh


def test_the_writer_caps_every_chart_without_a_library_warning(tmp_path: Path) -> None:
    data = _data_sheet(300)
    charts = SheetSpec("Charts")
    charts.charts.append(_chart(300))
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # any XlsxWriter warning fails the test
        path = write_workbook(WorkbookSpec("w.xlsx", [data, charts]), tmp_path)
    with zipfile.ZipFile(path) as zf:
        xml = zf.read("xl/charts/chart1.xml").decode()
    assert xml.count("<c:ser>") == EXCEL_MAX_SERIES
    assert "first 255 of 300 series" in xml


def test_a_sheet_beyond_excels_rows_is_a_clear_error(tmp_path: Path) -> None:
    sh = SheetSpec("Data")
    sh.text(0, 0, "header")
    sh.number(EXCEL_MAX_ROWS, 0, 1.0, "number")  # row 1,048,577
    with pytest.raises(ExcelLimitError, match=r"would need 1,048,577 rows .* --no-workbooks"):
        write_workbook(WorkbookSpec("w.xlsx", [sh]), tmp_path)
    assert list(tmp_path.iterdir()) == []
    assert ExcelLimitError.exit_code == 2


NOISY = """
import sys, warnings
import stressmodel.run.app as app
from stressmodel import cli

def noisy(ticker):
    warnings.warn("Maximum number of series allowed per chart is 255", UserWarning, stacklevel=1)
    return "header for " + ticker + "\\n"

app.template_csv = noisy
sys.argv = ["stressmodel", "template", "603072.SH", *sys.argv[1:]]
cli.main()
"""


def test_third_party_warnings_do_not_reach_the_terminal() -> None:
    """A library warning inside a command, in a real interpreter with the default warning
    filters (pytest would record it itself): nothing on stderr."""
    import subprocess
    import sys

    res = subprocess.run([sys.executable, "-c", NOISY], capture_output=True, text=True, timeout=120)
    assert res.returncode == 0, res.stderr
    assert res.stdout == "header for 603072.SH\n"
    assert res.stderr == ""
    # the same without the routing: the warning is printed (so the test can fail)
    bare = NOISY.replace("cli.main()", "cli._quiet_third_party_warnings = lambda: None\ncli.main()")
    res = subprocess.run([sys.executable, "-c", bare], capture_output=True, text=True, timeout=120)
    assert "Maximum number of series" in res.stderr
