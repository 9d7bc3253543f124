"""The fast paths of the workbook stage give what the plain paths give.

- :class:`stressmodel.report.writer.FastWorksheet` (bulk cell store, short ``<c>`` writer)
  writes the bytes XlsxWriter's stock worksheet writes, on every shipped workbook and on
  a sheet of edge cases (long strings, booleans, formulas with ``<``/``>``, columns past
  the precomputed letters, row heights without cells, a hyperlink inside a row of cells
  and one before every other cell of a sheet, shared strings XlsxWriter escapes or
  marks, the interest-cover rule, data validations, chart data read from the cells),
  including the per-process memos (validations, defined names, chart XML templates,
  internal hyperlinks) that later firms' workbooks are written from;
- the scenario sheets' formula text and layout cells, memoised per run, are the same for
  every firm, and a sheet built from the memos equals one built from empty memos (nothing
  of one firm leaks into another's);
- the parts deflated with ISA-L are those zlib gives; write_frame's column-wise cells are
  its value-by-value cells.
"""

from __future__ import annotations

import datetime
from functools import cache
from pathlib import Path

import pytest

import stressmodel.report as report
from stressmodel.errors import ReportError
from stressmodel.inputs.load import Inputs, load_inputs
from stressmodel.pipeline.result import RunResult
from stressmodel.pipeline.stages import RunOptions, run_model
from stressmodel.report import writer
from stressmodel.report.sheets import scenario as scenario_module
from stressmodel.report.sheets.common import COL_OPEN, COL_Q1
from stressmodel.report.sheets.firm import firm_context, firm_workbook
from stressmodel.report.sheets.scenario import scenario_formulas, scenario_sheet
from stressmodel.report.spec import ChartSpec, Range, Series, SheetSpec, Validation, WorkbookSpec

ROOT = Path(__file__).resolve().parents[1]
FIRMS = ("603072.SH", "300224.SZ", "000970.SZ")


@cache
def shipped_run() -> tuple[RunResult, Inputs]:
    inputs = load_inputs(ROOT / "inputs")
    return run_model(inputs, RunOptions(firms=FIRMS)), inputs


def _files(folder: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(folder.iterdir())}


#: sizes of the writer's memos after the last fast write of _write_both
FAST_MEMOS: dict[str, int] = {}


def _write_both(
    write: object, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> tuple[dict[str, bytes], dict[str, bytes]]:
    """Files written with the fast worksheet and with XlsxWriter's stock one."""
    out = []
    for fast in (True, False):
        monkeypatch.setattr(writer, "FAST_CELLS", fast)
        monkeypatch.setattr(writer, "_FORMULA_XML", {})
        monkeypatch.setattr(writer, "_VALIDATIONS", {})
        monkeypatch.setattr(writer, "_GLOBAL_NAMES", set())
        monkeypatch.setattr(writer, "_CHART_XML", {})
        monkeypatch.setattr(writer, "_SI_XML", {})
        monkeypatch.setattr(writer, "_SERIES", {})
        folder = tmp_path / ("fast" if fast else "stock")
        folder.mkdir()
        write(folder)  # type: ignore[operator]
        out.append(_files(folder))
        if fast:
            FAST_MEMOS.update(charts=len(writer._CHART_XML), series=len(writer._SERIES))
    return out[0], out[1]


def test_fast_worksheet_writes_the_stock_bytes_on_the_shipped_workbooks(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    result, inputs = shipped_run()
    fast, stock = _write_both(
        lambda folder: report.write_workbooks(result, inputs, folder), tmp_path, monkeypatch
    )
    assert fast.keys() == stock.keys() == {f"{t}.xlsx" for t in FIRMS} | {"sector_summary.xlsx"}
    assert [n for n in fast if fast[n] != stock[n]] == []
    # the later firms' charts were written from the first firm's chart templates
    assert 0 < FAST_MEMOS["charts"] < 8 * len(FIRMS)


def test_chart_series_from_the_memo_give_the_stock_charts(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """With the chart XML templates off, the later firms' charts are written by XlsxWriter's
    own chart writer from series copied out of the series memo: the stock bytes."""
    result, inputs = shipped_run()
    monkeypatch.setattr(writer, "_templated_xml", lambda chart, spec: chart)
    fast, stock = _write_both(
        lambda folder: report.write_workbooks(result, inputs, folder), tmp_path, monkeypatch
    )
    assert [n for n in fast if fast[n] != stock[n]] == []
    assert FAST_MEMOS["series"] < 8 * 10 * len(FIRMS)  # series were copied from the memo


def test_fast_worksheet_writes_the_stock_bytes_on_edge_cases(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    sheet = SheetSpec("Edge")
    sheet.text(0, 0, "plain")
    sheet.text(0, 1, "x" * 20_000, "wrap")  # past XlsxWriter's quick length check
    sheet.text(0, 2, "ctrl \x07 and _x0041_ & <tag>")
    sheet.number(1, 0, 1.5, "money")
    sheet.number(1, 1, -1e-300, "ratio")
    sheet.number(1, 2, 123456789.123456789, "number")
    sheet.value(2, 0, True, "text")
    sheet.value(2, 1, False, "text")
    sheet.formula(3, 0, "=IF(A2<0,MAX(A2,B2),MIN(A2,-B2))", 1.5, "money")
    sheet.formula(3, 1, "=(A2>=B2)*1", 1.0, "count")
    sheet.formula(3, 2, "=SUMPRODUCT((ABS(A2:C2)>1)*1)", 1.0, "count")
    sheet.formula(3, 3, "=TEXTJOIN(A1)", 0.0, "money")  # not a plain function: stock path
    sheet.number(4, 300, 7.0, "count")  # column KO, past the precomputed letters
    sheet.text(5, 20, "far right")
    sheet.link(5, 3, "internal:'Edge'!A1", "back to the top")  # a link inside a row of cells
    sheet.link(6, 1, "internal:'Other'!B2", 'a row of links & "quotes" <only>')  # no other cell
    sheet.link(6, 2, "internal:'Edge'!A1", "plain")  # text already a shared string
    sheet.text(5, 4, "after the link")
    sheet.heights = {7: 30.0, 5: 18.0}  # a row with a height only, and one with cells
    # column widths: runs of equal widths, a gap, a change of width, one far right
    sheet.widths = {0: 10.0, 1: 10.0, 2: 12.0, 4: 12.0, 5: 12.0, 6: 9.5, 300: 8.0, 301: 8.0}
    for r in range(8, 60):  # several blocks of 16 rows for the spans
        sheet.number(r, r % 7, float(r), "money")
    # shared strings that XlsxWriter writes other than <si><t>text</t></si>
    for c, text in enumerate(
        (
            " lead",
            "\u00a0non-breaking",
            "tab\t",
            "trail ",
            "<r>rich-looking</r>",
            "non-char \ufffe",
            'q"uote\nline',
            "",
        )
    ):
        sheet.text(60, c, text)
    # interest cover: the capped-display rule on number and formula cells, not on text
    sheet.number(61, 0, 75.0, "cover")
    sheet.formula(61, 1, "=A62*2", 150.0, "cover/frozen")
    sheet.text(61, 2, "n/a", "cover")
    sheet.number(62, 5, 3.0, "cover")
    # data validations: number bounds (the fast path) and others (XlsxWriter's own)
    sheet.validations += [
        Validation(
            1,
            0,
            {
                "validate": "decimal",
                "criteria": "between",
                "minimum": 0.0,
                "maximum": 1.0,
                "error_title": "Bounds",
                "error_message": 'between 0 & 1, "a share" <x>',
            },
        ),
        Validation(1, 1, {"validate": "integer", "criteria": ">=", "value": 3}),
        Validation(
            1, 2, {"validate": "decimal", "criteria": "<", "value": -1e-300, "ignore_blank": False}
        ),
        Validation(2, 0, {"validate": "list", "source": ["a", "b"]}),
        Validation(
            2,
            1,
            {
                "validate": "decimal",
                "criteria": "between",
                "minimum": 0,
                "maximum": 9,
                "input_title": "In",
                "input_message": "a number",
            },
        ),
        Validation(2, 2, {"validate": "any"}),
        Validation(
            3,
            0,
            {
                "validate": "decimal",
                "criteria": "between",
                "minimum": 1,
                "maximum": 2,
                "error_type": "warning",
            },
        ),
    ]
    # the same options again (from the validations memo), and options that differ only in
    # the class of an equal value (1, 1.0, True: equal as keys, written differently)
    for c, value in enumerate((3, 3, 1, 1.0, True)):
        sheet.validations.append(
            Validation(4, c, {"validate": "integer", "criteria": ">=", "value": value})
        )
    sheet.validations.append(
        Validation(4, 20_000, {"validate": "integer", "criteria": ">=", "value": 3})
    )
    for c in (5, 6):  # options XlsxWriter's own writer writes, from the memo the second time
        warn = {
            "validate": "decimal",
            "criteria": "between",
            "minimum": 1,
            "maximum": 2,
            "error_type": "warning",
        }
        sheet.validations.append(Validation(5, c, warn))
    for c in (7, 8):  # escaped messages, the second from the shared XML
        message = {
            "validate": "decimal",
            "criteria": "<=",
            "value": 2.5,
            "error_message": 'a & "b" <c>',
        }
        sheet.validations.append(Validation(5, c, message))
    other = SheetSpec("Other")
    other.link(0, 0, "internal:'Edge'!A1", "a link before any other cell of the sheet")
    other.text(0, 1, "plain")  # a shared string already in the table
    other.formula(1, 0, "='Edge'!A2*2", 3.0, "money")
    other.number(2, 3, 1.0, "pct2")  # a style first used after the link
    # chart data read from the stored cells: numbers, a formula, text, booleans, a missing
    # cell and rows without cells
    values = Range("Edge", 0, 0, 12, 2)
    other.charts.append(
        ChartSpec("line", "Edge data", (Series("edge", values, Range("Edge", 0, 0, 0, 2)),), (4, 4))
    )
    # chart data read from hyperlink cells (their text), a row of links only included
    other.charts.append(
        ChartSpec(
            "column",
            "Link data",
            (Series("links", Range("Edge", 5, 2, 5, 4), Range("Edge", 6, 0, 6, 3)),),
            (20, 4),
        )
    )
    # a sheet with an external link: every link of the sheet through XlsxWriter's write_url
    external = SheetSpec("External")
    external.link(0, 0, "https://example.com/a?b=1&c=2", "external")
    external.link(1, 0, "internal:'Edge'!A1", "internal beside an external one")
    external.text(1, 1, "a cell")
    # a fixed creation time, as every workbook of a run has (XlsxWriter's default is the
    # clock, which made the two files differ when their writes straddled a second)
    spec = WorkbookSpec(
        "edge.xlsx",
        [sheet, other, external, SheetSpec("Empty"), SheetSpec("R&D <x>")],
        properties={"created": datetime.datetime(2025, 12, 31, tzinfo=datetime.UTC)},
    )
    spec.define("edge_value", "Edge", 1, 0)
    spec.define("rd_value", "R&D <x>", 0, 0)  # a range XlsxWriter writes escaped
    spec.define("edge_too", "Edge", 0, 1)
    fast, stock = _write_both(
        lambda folder: writer.write_workbook(spec, folder), tmp_path, monkeypatch
    )
    assert fast["edge.xlsx"] == stock["edge.xlsx"]


def test_scenario_formulas_are_the_same_for_every_firm_and_the_memo_leaks_nothing() -> None:
    result, inputs = shipped_run()
    values = report._values(result, inputs)
    scenario = result.scenarios[0].name

    def cells(ticker: str) -> dict[tuple[int, int], object]:
        ctx = firm_context(result, inputs, ticker, values)
        return dict(scenario_sheet(ctx, scenario).cells)

    memos = (scenario_formulas, scenario_module._layout_cells, scenario_module._metric_formulas)
    for memo in memos:
        memo.cache_clear()
    first = cells(FIRMS[0])
    second = cells(FIRMS[1])  # from the memos filled by the first firm
    assert all(memo.cache_info().hits >= 1 for memo in memos)
    for memo in memos:
        memo.cache_clear()
    assert cells(FIRMS[1]) == second  # from empty memos: the same sheet
    # the layout's cells (labels, headers, sections) are on the sheet as the memo holds them
    layout = scenario_module._layout_cells(
        result.as_of_label, tuple(result.quarters), result.horizon
    )
    assert len(layout) > 300 and all(second[k] == c for k, c in layout.items())
    # the memoised block (opening, projected quarters, terminal) has the same text for
    # both firms; the cached results are each firm's own engine values
    assert scenario_formulas.cache_info().currsize == 1
    sc = result.scenarios[0]
    memoised = scenario_formulas(
        scenario, sc.path == "trade", result.horizon, tuple(result.quarters)
    )
    block = [(row, COL_OPEN) for _item, row, _text in memoised.opening] + [
        (row, COL_Q1 + k)
        for k, column in enumerate(memoised.quarters)
        for _item, row, _text in column
    ]
    assert block
    fa = {k: c.formula for k, c in first.items() if c.kind == "formula"}  # type: ignore[attr-defined]
    fb = {k: c.formula for k, c in second.items() if c.kind == "formula"}  # type: ignore[attr-defined]
    common = fa.keys() & fb.keys()
    assert len(common) > 500 and all(fa[k] == fb[k] for k in common)
    assert all(k in common for k in block)
    differ = [k for k in common if first[k].value != second[k].value]  # type: ignore[attr-defined]
    assert len(differ) > len(common) // 2


def test_a_firm_workbook_from_the_run_cut_to_its_firm_equals_one_from_the_whole_run() -> None:
    """The firm sheets read the per-firm frames only for their own ticker, so the run cut
    to one firm (report.firm_views) gives the same workbook spec as the whole run, with
    the optional per-firm extras (Monte Carlo, tracking) present."""
    import dataclasses

    import polars as pl

    result, inputs = shipped_run()
    mc = pl.DataFrame(
        {"ticker": list(FIRMS), "statistic": ["p5"] * 3, "value_per_share": [1.5, 2.0, None]}
    )
    tracking = pl.DataFrame(
        {"ticker": list(FIRMS), "quarter": ["2025Q3"] * 3, "revenue_error": [0.1, -0.2, 0.0]}
    )
    result = dataclasses.replace(
        result, extras={**result.extras, "montecarlo": mc, "tracking": tracking}
    )
    values = report._values(result, inputs)
    views = dict(report.firm_views(result, list(FIRMS)))
    assert list(views) == list(FIRMS)
    for ticker in FIRMS:
        view = views[ticker]
        assert set(view.summary["ticker"]) == {ticker}
        assert set(view.extras["montecarlo"]["ticker"]) == {ticker}
        whole = firm_workbook(firm_context(result, inputs, ticker, values))
        cut = firm_workbook(firm_context(view, inputs, ticker, values))
        assert cut == whole, ticker
    chunk = report.firms_run(result, FIRMS[1:])
    assert set(chunk.projection["ticker"]) == set(FIRMS[1:]) and chunk.tickers == result.tickers


def _parts(path: Path) -> dict[str, bytes]:
    import zipfile

    with zipfile.ZipFile(path) as z:
        assert z.testzip() is None  # every part inflates and matches its CRC
        return {n: z.read(n) for n in z.namelist()}


def test_isal_deflate_gives_the_parts_zlib_gives(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The parts are deflated with ISA-L (writer._DEFLATE); a workbook written so has
    the unzipped parts of one deflated by zlib, part for part, in the same order."""
    assert writer._DEFLATE is not None
    result, inputs = shipped_run()
    spec = firm_workbook(firm_context(result, inputs, FIRMS[0], report._values(result, inputs)))
    paths = []
    for deflate in (writer._DEFLATE, None):
        monkeypatch.setattr(writer, "_DEFLATE", deflate)
        folder = tmp_path / ("isal" if deflate else "zlib")
        folder.mkdir()
        paths.append(writer.write_workbook(spec, folder))
    isal, zlib = paths
    assert isal.read_bytes() != zlib.read_bytes()  # the ISA-L path was taken
    a, b = _parts(isal), _parts(zlib)
    assert list(a) == list(b) and all(a[n] == b[n] for n in a)


def test_write_frame_column_by_column_gives_the_cells_of_the_value_by_value_rules() -> None:
    """report.frames.write_frame writes a float or integer column in one loop
    (SheetSpec.numbers); the cells are those of frames._cell applied to every value."""
    import math

    import polars as pl

    from stressmodel.report import frames

    frame = pl.DataFrame(
        {
            "revenue_error": [0.1, None, math.nan, math.inf, -2.5],
            "quarters": [1, 2, None, 4, 5],
            "note": ["a", None, "=1+1", "", "x"],
            "flag": [True, False, None, True, False],
            "date": [datetime.date(2025, 3, 31), None, datetime.date(2025, 6, 30), None, None],
            "items": [[1], [], None, [2, 3], [4]],
        }
    )
    fast = SheetSpec("Fast")
    end = frames.write_frame(fast, frame, 2, 1)
    reference = SheetSpec("Reference")
    kinds = {c: frames.column_kind(c, t) for c, t in frame.schema.items()}
    for j, c in enumerate(frame.columns, start=1):
        reference.text(2, j, c, "header")
    for i, row in enumerate(frame.iter_rows(), start=3):
        for j, (c, v) in enumerate(zip(frame.columns, row, strict=True), start=1):
            frames._cell(reference, i, j, v, f"{kinds[c]}/engine")
    assert end == 2 + frame.height + 2
    assert fast.cells == reference.cells
    assert fast.cells[(4, 1)] == fast.cells[(5, 1)] == ("string", "n/a", "status", None)
    with pytest.raises(ReportError, match="written twice"):
        fast.numbers(3, 2, [1.0], "count")


def test_rows_where_is_the_filter_it_replaces() -> None:
    """sheets.common.rows_where gives frame.filter(pl.col(c) == v): the rows in order,
    nulls never matching, the frame itself when every row matches."""
    import polars as pl

    from stressmodel.report.sheets.common import rows_where

    frame = pl.DataFrame({"ticker": ["A", None, "B", "A", "A"], "x": [1.0, 2.0, 3.0, None, 5.0]})
    for value in ("A", "B", "C"):
        assert rows_where(frame, "ticker", value).equals(frame.filter(pl.col("ticker") == value))
    only = frame.filter(pl.col("ticker") == "A")
    assert rows_where(only, "ticker", "A") is only
    nulls = frame.filter(pl.col("ticker").is_null() | (pl.col("ticker") == "A"))
    assert rows_where(nulls, "ticker", "A").equals(only)  # a null row is not a match
    empty = frame.clear()
    assert rows_where(empty, "ticker", "A").equals(empty.filter(pl.col("ticker") == "A"))


def test_case_values_steps_are_each_cases_projected_quarters_and_gaps_are_refused() -> None:
    """report.values.case_values slices each case's quarters out of whole columns; the
    steps equal the case's rows of the projection, in quarter order, cases in run order,
    and a case missing a quarter is refused."""
    import dataclasses

    import polars as pl

    from stressmodel.report.values import case_values

    result, inputs = shipped_run()
    rate = inputs.sector.float("discount_rate")
    values = case_values(result, rate)
    names = [s.name for s in result.scenarios]
    proj = result.projection.filter(pl.col("scenario").is_in(names))
    expected_keys = []
    for (t, s), group in proj.sort(["ticker", "scenario", "quarter_index"]).group_by(
        ["ticker", "scenario"], maintain_order=True
    ):
        expected_keys.append((t, s))
        steps = values[(t, s)].steps
        assert set(steps) == set(group.columns) - {
            "ticker",
            "scenario",
            "quarter",
            "quarter_index",
            "step",
        }
        assert all(steps[c] == group[c].to_list() for c in steps), (t, s)
    assert list(values) == expected_keys and len(expected_keys) == len(FIRMS) * len(names)
    gap = result.projection.filter(~((pl.col("ticker") == FIRMS[1]) & (pl.col("step") == 3)))
    with pytest.raises(ReportError, match="does not have"):
        case_values(dataclasses.replace(result, projection=gap), rate)


def test_formula_column_gives_the_cells_and_refusals_of_formulas() -> None:
    """SheetSpec.formula_column (fill_column's loop) writes what formulas() writes for the
    same entries, and refuses what it refuses."""
    import math

    cells = [("a", 1, "=B1*2"), ("b", 2, "=B2+k_x"), ("c", 3, "=MAX(B3,0)")]
    cached = {"a": 1.5, "b": 2, "c": -0.0}
    style = {"a": "money", "b": "count", "c": "pct"}.__getitem__
    fast, slow = SheetSpec("S"), SheetSpec("S")
    fast.formula_column(4, cells, cached, style)
    slow.formulas((row, 4, text, cached[item], style(item)) for item, row, text in cells)
    assert fast.cells == slow.cells and fast.cells[(2, 4)] == ("formula", 2.0, "count", "=B2+k_x")
    for bad, match in (
        ({"a": math.nan}, "no finite engine value"),
        ({"a": math.inf}, "no finite engine value"),
        ({"a": True}, "no finite engine value"),
        ({"a": None}, "no finite engine value"),
    ):
        for sheet in (SheetSpec("S"),):
            with pytest.raises(ReportError, match=match):
                sheet.formula_column(4, cells[:1], bad, style)
            with pytest.raises(ReportError, match=match):
                sheet.formulas([(1, 4, "=B1*2", bad["a"], "money")])
    with pytest.raises(ReportError, match="unsafe formula"):
        SheetSpec("S").formula_column(4, [("a", 1, '=A1&"x"')], cached, style)
    with pytest.raises(ReportError, match="written twice"):
        fast.formula_column(4, cells[:1], cached, style)
