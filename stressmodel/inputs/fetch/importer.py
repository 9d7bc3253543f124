"""The import step (pure): raw AkShare frames -> rows of the input formats.

Statements (Sina): report date ``YYYY0331/0630/0930/1231`` -> the period grammar (flows:
``2025Q1``, ``2025H1``, ``2025-9M``, ``FY2025``, year to date as reported; balances:
``2025Q1``, ``2025Q2``, ``2025Q3``, ``FY2025``, the balance on that day); yuan -> CNY mn;
the publication date (公告日期) goes into the row's note as ``published YYYY-MM-DD``; the
share count (实收资本(或股本), CNY 1 par) becomes a ``shares_outstanding`` row of
prices.csv dated at the report date. Prices: the close of the last trading day of every
quarter and the latest close. Regions (Eastmoney 主营构成): overseas/domestic revenue, gross
margins and the overseas share for half-year and annual reports.
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

import pandas as pd

from stressmodel.inputs.fetch import mapping as m
from stressmodel.inputs.fetch.snapshot import Snapshot
from stressmodel.inputs.fetch.sources import FetchError
from stressmodel.inputs.periods import quarter_end_date, quarter_index, quarter_label, ytd_label
from stressmodel.inputs.vocabulary import ITEMS

#: the last bar of a quarter must be this close to its end (holidays, suspensions)
QUARTER_END_GAP_DAYS = 7
ROUND = 6  # decimals of CNY mn kept (a yuan is 1e-6 CNY mn)


@dataclass(frozen=True)
class Row:
    """One imported figure. ``end``/``span`` place it (quarter index, quarters covered)."""

    period: str
    item: str
    value: float
    unit: str
    source: str
    note: str
    end: int
    span: int
    published: dt.date | None = None

    def cells(self) -> dict[str, str]:
        return {
            "period": self.period,
            "item": self.item,
            "value": fmt(self.value),
            "unit": self.unit,
            "source": self.source,
            "note": self.note,
        }


@dataclass(frozen=True)
class PriceRow:
    ticker: str
    date: dt.date
    item: str
    value: float
    unit: str
    source: str
    note: str

    def cells(self) -> dict[str, str]:
        return {
            "ticker": self.ticker,
            "date": self.date.isoformat(),
            "item": self.item,
            "value": fmt(self.value),
            "unit": self.unit,
            "source": self.source,
            "note": self.note,
        }


@dataclass
class Imported:
    statements: list[Row] = field(default_factory=list)
    prices: list[PriceRow] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)  # what was left out, and why


def fmt(v: float) -> str:
    text = f"{round(v, ROUND):.{ROUND}f}".rstrip("0").rstrip(".")
    return "0" if text in ("-0", "") else text


def _number(v: Any) -> float | None:
    if v is None:
        return None
    if isinstance(v, str):
        v = v.replace(",", "").strip()
        if v in ("", "--", "-", "nan", "None"):
            return None
    try:
        x = float(v)
    except (TypeError, ValueError):
        return None
    return None if math.isnan(x) else x


def _date(v: Any) -> dt.date | None:
    if isinstance(v, dt.datetime):
        return v.date()
    if isinstance(v, dt.date):
        return v
    if isinstance(v, pd.Timestamp):
        return v.date()
    text = str(v).strip()[:10]
    for f in ("%Y%m%d", "%Y-%m-%d"):
        try:
            return dt.datetime.strptime(text[: 8 if f == "%Y%m%d" else 10], f).date()
        except ValueError:
            continue
    return None


def require_columns(snap: Snapshot, frame: pd.DataFrame, columns: Iterable[str]) -> None:
    missing = [c for c in columns if c not in frame.columns]
    if missing:
        raise FetchError(
            snap.call,
            "the columns of the mapping table (stressmodel/inputs/fetch/mapping.py): "
            + ", ".join(missing),
            "no column " + ", ".join(missing) + " (the source changed its schema)",
        )


def report_period(d: dt.date) -> tuple[int, int] | None:
    """Report date -> (year, quarters year to date), or None if not a quarter end."""
    q = m.REPORT_QUARTERS.get(d.strftime("%m%d"))
    return None if q is None else (d.year, q)


def labels(year: int, quarters: int, kind: str) -> str:
    if kind == "flow" or quarters == 4:
        return ytd_label(year, quarters)
    return quarter_label(quarter_index(year, quarters))


def import_statements(
    ticker: str, snaps: dict[str, Snapshot], since: int | None = None
) -> Imported:
    """Sina statement frames (keys of :data:`mapping.STATEMENTS`) -> statement rows and
    share-count rows."""
    out = Imported()
    for statement, snap in snaps.items():
        frame = snap.frame
        require_columns(snap, frame, m.sina_required(statement))
        for label in m.sina_optional(statement):
            if label not in frame.columns:
                out.skipped.append(f"{snap.call}: optional column {label} not offered")
        lines = [
            ln for ln in m.SINA_LINES if ln.statement == statement and ln.label in frame.columns
        ]
        by_item: dict[str, list[m.Line]] = {}
        for ln in lines:
            by_item.setdefault(ln.item, []).append(ln)
        for rec in frame.to_dict("records"):
            rdate = _date(rec["报告日"])
            where = f"{snap.call} 报告日 {rec['报告日']}"
            if rdate is None or report_period(rdate) is None:
                out.skipped.append(f"{where}: not a quarter-end report date")
                continue
            year, quarters = report_period(rdate)  # type: ignore[misc]
            if since is not None and year < since:
                continue
            kind_text = str(rec["类型"])
            if not kind_text.startswith(m.SINA_CONSOLIDATED_PREFIX):
                out.skipped.append(f"{where}: 类型 {kind_text} (not consolidated)")
                continue
            if str(rec["币种"]).strip() not in ("CNY", "nan"):
                out.skipped.append(f"{where}: 币种 {rec['币种']} (the model supports CNY)")
                continue
            published = _date(rec["公告日期"])
            pub_note = (
                f"published {published.isoformat()} (公告日期)"
                if published
                else "公告日期 not given"
            )
            end = quarter_index(year, quarters)
            for item, parts in by_item.items():
                values = [_number(rec[p.label]) for p in parts]
                if any(v is None for v in values):
                    continue  # not reported (NaN): no row, never a zero
                value = sum(v * p.scale for v, p in zip(values, parts, strict=True))  # type: ignore[operator]
                raw = "; ".join(
                    f"{p.label} {fmt(v)} 元" for v, p in zip(values, parts, strict=True)
                )  # type: ignore[arg-type]
                derived = (
                    "DERIVED: " + " + ".join(p.label for p in parts) + "; "
                    if len(parts) > 1
                    else ""
                )
                note = f"{derived}{raw}; 报告日 {rdate:%Y%m%d}; {pub_note}; 类型 {kind_text}"
                if item == "shares":
                    out.prices.append(
                        PriceRow(
                            ticker,
                            rdate,
                            "shares_outstanding",
                            round(value, ROUND),
                            "million shares",
                            snap.source(),
                            f"股本 at CNY 1 par = shares; {note}",
                        )
                    )
                    continue
                spec = ITEMS[item]
                span = quarters if spec.kind == "flow" else 1
                out.statements.append(
                    Row(
                        labels(year, quarters, spec.kind),
                        item,
                        round(value, ROUND),
                        spec.unit,
                        snap.source(),
                        note,
                        end,
                        span,
                        published,
                    )
                )
    return out


def import_prices(ticker: str, snap: Snapshot, since: int | None = None) -> Imported:
    """Daily bars -> the close on the last trading day of each quarter, and the latest."""
    out = Imported()
    date_col, close_col = m.PRICE_COLUMNS[snap.function]
    require_columns(snap, snap.frame, (date_col, close_col))
    bars: list[tuple[dt.date, float]] = []
    for d, c in zip(snap.frame[date_col], snap.frame[close_col], strict=True):
        day, close = _date(d), _number(c)
        if day is not None and close is not None and close > 0:
            bars.append((day, close))
    bars.sort()
    if not bars:
        out.skipped.append(f"{snap.call}: no dated closes")
        return out
    chosen: dict[dt.date, str] = {}
    last_in_quarter: dict[int, tuple[dt.date, float]] = {}
    for day, close in bars:
        last_in_quarter[quarter_index(day.year, (day.month - 1) // 3 + 1)] = (day, close)
    closes = dict(bars)
    latest_day = bars[-1][0]
    for q, (day, _close) in sorted(last_in_quarter.items()):
        if since is not None and q // 4 < since:
            continue
        end = quarter_end_date(q)
        if end > latest_day:
            continue  # the quarter is not over in the response
        if (end - day).days > QUARTER_END_GAP_DAYS:
            out.skipped.append(
                f"{snap.call}: no bar within {QUARTER_END_GAP_DAYS} days of {end} (last {day}); no {quarter_label(q)} close"
            )
            continue
        chosen[day] = f"close of the last trading day of {quarter_label(q)}"
    chosen.setdefault(latest_day, f"latest close in the response ({latest_day.isoformat()})")
    for day in sorted(chosen):
        out.prices.append(
            PriceRow(
                ticker,
                day,
                "close",
                closes[day],
                "CNY",
                snap.source(),
                f"{close_col}, unadjusted (adjust=''); {chosen[day]}",
            )
        )
    return out


def import_regions(ticker: str, snap: Snapshot, since: int | None = None) -> Imported:
    """主营构成 by region -> overseas/domestic revenue, gross margins, overseas share."""
    out = Imported()
    require_columns(snap, snap.frame, m.ZYGC_COLUMNS)
    groups: dict[dt.date, dict[str, list[dict[str, Any]]]] = {}
    for rec in snap.frame.to_dict("records"):
        if rec["分类类型"] != m.ZYGC_REGION_TYPE:
            continue
        d = _date(rec["报告日期"])
        if d is None or report_period(d) is None:
            continue
        side = m.REGION_SIDES.get(str(rec["主营构成"]).strip())
        if side is None:
            out.skipped.append(
                f"{snap.call} {d}: region {rec['主营构成']!r} is neither overseas nor domestic"
            )
            continue
        groups.setdefault(d, {}).setdefault(side, []).append(rec)
    for d, sides in sorted(groups.items()):
        year, quarters = report_period(d)  # type: ignore[misc]
        if since is not None and year < since:
            continue
        if quarters not in (2, 4):
            continue  # the split is reported in half-year and annual reports only
        end = quarter_index(year, quarters)
        for f in m.REGION_FIELDS:
            recs = sides.get(f.side, [])
            if len(recs) != 1:
                if len(recs) > 1:
                    out.skipped.append(
                        f"{snap.call} {d}: {len(recs)} {f.side} rows; {f.item} left to hand"
                    )
                continue
            v = _number(recs[0][f.column])
            if v is None:
                continue
            if f.scale == 1.0 and abs(v) > 1:
                raise FetchError(
                    snap.call,
                    f"{f.column} as a fraction (0.2371 for 23.71%)",
                    f"{v:g} for {recs[0]['主营构成']} on {d} (a percentage? the source changed its units)",
                )
            spec = ITEMS[f.item]
            out.statements.append(
                Row(
                    ytd_label(year, quarters),
                    f.item,
                    round(v * f.scale, ROUND),
                    spec.unit,
                    snap.source(),
                    f"主营构成 按地区分类 {recs[0]['主营构成']}: {f.column} {fmt(v)}; 报告日期 {d.isoformat()}",
                    end,
                    quarters if spec.kind == "flow" else 1,
                )
            )
    return out
