"""Excel's limits that input counts can reach are stated, not leaked: a chart caps its
series at 255 and says so in its title; a sheet beyond Excel's rows is a clear exit-2
error; XlsxWriter's own warnings never reach the terminal."""

from __future__ import annotations

import logging
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


def test_third_party_warnings_do_not_reach_the_terminal(monkeypatch) -> None:
    from click.testing import CliRunner

    from stressmodel.cli import main

    def noisy(ticker: str) -> str:
        warnings.warn("Maximum number of series allowed per chart is 255", stacklevel=1)
        return f"header for {ticker}\n"

    monkeypatch.setattr("stressmodel.run.app.template_csv", noisy)
    with warnings.catch_warnings():
        warnings.simplefilter("default")  # as outside pytest, which turns warnings into errors
        res = CliRunner().invoke(main, ["template", "603072.SH"])
    logging.captureWarnings(False)
    assert res.exit_code == 0, res.output
    assert res.stdout == "header for 603072.SH\n"
    assert "series" not in res.stderr
