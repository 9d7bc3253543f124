"""The row-by-row checks that :mod:`stressmodel.inputs.statement_checks` replaced, kept
as the reference the vectorised checks are compared with (tests/test_vectorised_checks.py):
the same problems, word for word, and the same parsed rows."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable

from stressmodel.errors import Problem
from stressmodel.inputs.periods import Period, PeriodKind, parse_period
from stressmodel.inputs.readers import RawTable
from stressmodel.inputs.validation import (
    BALANCE_TOLERANCE,
    MAGNITUDE_LIMITS,
    PRICE_ITEMS,
    SUM_TOLERANCE_ABS,
    SUM_TOLERANCE_REL,
    TICKER_RE,
    _number,
    _show,
    check_text,
    parse_date,
)
from stressmodel.inputs.vocabulary import FRACTION, ITEMS


def check_statements(table: RawTable) -> tuple[list[Problem], list[dict[str, object]]]:
    """Rules for one firm's statements file. Returns (problems, parsed rows).

    Parsed rows hold: period (label), end, span, kind, item, value, unit, source, note, line.
    Rows with an empty value are skipped (not reported).
    """
    p: list[Problem] = check_text(table)
    f = table.file
    parsed: list[dict[str, object]] = []
    seen: dict[tuple[str, str], int] = {}
    seen_end: dict[tuple[int, str], tuple[str, int]] = {}
    for line, r in table.records():
        item_name = r["item"]
        if not r["value"] and not r["period"]:
            if item_name and item_name not in ITEMS:
                p.append(
                    Problem(
                        f,
                        line,
                        "item",
                        "an item from the vocabulary (inputs/README.md)",
                        _show(item_name),
                    )
                )
            continue  # a template row
        try:
            if not r["period"].isascii():
                raise ValueError(r["period"])
            period: Period | None = parse_period(r["period"])
        except ValueError:
            p.append(
                Problem(
                    f,
                    line,
                    "period",
                    "FY2024, 2025Q1, 2025H1, 2025-9M or 2025Q1-TTM",
                    _show(r["period"]),
                )
            )
            period = None
        item = ITEMS.get(item_name)
        if item is None:
            p.append(
                Problem(
                    f,
                    line,
                    "item",
                    "an item from the vocabulary (inputs/README.md)",
                    _show(item_name),
                )
            )
        elif r["unit"] != item.unit:
            p.append(Problem(f, line, "unit", f"{item.unit!r} for {item_name}", _show(r["unit"])))
        if not r["value"]:
            continue
        value = _number(p, f, line, "value", r["value"])
        if not r["source"]:
            p.append(
                Problem(
                    f, line, "source", "a source (URL or citation) for the figure", "an empty cell"
                )
            )
        if value is None or item is None or period is None:
            continue
        limit = MAGNITUDE_LIMITS.get(item.unit, 1e9)
        if abs(value) > limit:
            p.append(
                Problem(f, line, "value", f"a magnitude at most {limit:g} {item.unit}", r["value"])
            )
            continue
        n_before = len(p)
        if item.sign == "nonneg" and value < 0:
            p.append(Problem(f, line, "value", f"{item_name} >= 0", r["value"]))
        elif item.sign == "pos" and value <= 0:
            p.append(Problem(f, line, "value", f"{item_name} > 0", r["value"]))
        if item.unit == FRACTION and item.sign == "nonneg" and value > 1:
            p.append(Problem(f, line, "value", f"{item_name} as a fraction in [0, 1]", r["value"]))
        elif item.unit == FRACTION and value > 1:
            p.append(Problem(f, line, "value", f"{item_name} as a fraction at most 1", r["value"]))
        if period.kind == PeriodKind.TTM and (
            item.kind == "stock" or (item.kind == "flow" and item.unit != "CNY mn")
        ):
            p.append(Problem(f, line, "period", f"no TTM figures for {item_name}", r["period"]))
        if len(p) > n_before:
            continue  # a figure that breaks a rule takes no part in the cross-checks below
        key = (period.label, item_name)
        if key in seen:
            p.append(
                Problem(
                    f,
                    line,
                    "item",
                    "one figure per period and item",
                    f"{item_name} for {period.label} again (first on row {seen[key]})",
                )
            )
            continue
        seen[key] = line
        if item.kind != "flow":
            # a balance or ratio is a point in time: FY2024 and 2024Q4 (or 2025H1 and 2025Q2)
            # name the same day, and the model cannot tell two figures for it apart
            end_key = (period.end, item_name)
            if end_key in seen_end:
                first_label, first_line = seen_end[end_key]
                p.append(
                    Problem(
                        f,
                        line,
                        "item",
                        "one figure per item and period end",
                        f"{item_name} for {period.label}, which ends on the same day as {first_label} "
                        f"(row {first_line})",
                    )
                )
                continue
            seen_end[end_key] = (period.label, line)
        parsed.append(
            {
                "period": period.label,
                "end": period.end,
                "span": period.span,
                "kind": period.kind.value,
                "item": item_name,
                "value": value,
                "unit": item.unit,
                "source": r["source"],
                "note": r["note"],
                "line": line,
            }
        )
    p.extend(_check_identities(f, parsed))
    return p, parsed


def _check_identities(file: str, rows: list[dict[str, object]]) -> list[Problem]:
    """Balance-sheet identity and year-to-date additivity."""
    p: list[Problem] = []
    stock: dict[tuple[int, str], tuple[float, int]] = {}
    flows: dict[tuple[str, int, int, str], tuple[float, int]] = {}
    for r in rows:
        item = ITEMS[str(r["item"])]
        if item.kind == "stock":
            stock[(int(r["end"]), item.name)] = (float(r["value"]), int(r["line"]))  # type: ignore[arg-type]
        elif item.kind == "flow" and r["kind"] != "TTM":
            flows[(item.name, int(r["end"]), int(r["span"]), str(r["kind"]))] = (
                float(r["value"]),
                int(r["line"]),
            )  # type: ignore[arg-type]
    for (end, name), (ta, line) in stock.items():
        if name != "total_assets":
            continue
        tl = stock.get((end, "total_liabilities"))
        eq = stock.get((end, "shareholders_equity"))
        if tl is None or eq is None:
            continue
        gap = ta - tl[0] - eq[0]
        if abs(gap) > BALANCE_TOLERANCE * abs(ta):
            p.append(
                Problem(
                    file,
                    line,
                    "total_assets",
                    f"total assets = liabilities + equity within {BALANCE_TOLERANCE:.0%} of assets (minority interests)",
                    f"{ta:g} vs {tl[0]:g} + {eq[0]:g} (gap {gap:g})",
                )
            )
    # year-to-date additivity where every part is reported independently
    by_item: dict[str, dict[tuple[int, int], tuple[float, int]]] = defaultdict(dict)
    for (name, end, span, _kind), v in flows.items():
        by_item[name][(end, span)] = v
    for name, vals in by_item.items():
        for (end, span), (total, line) in vals.items():
            if span < 2:
                continue
            # the parts: the YTD of span-1 (or span-2) plus single quarters, all reported
            for split in range(1, span):
                head = vals.get((end - span + split, split))
                tail_parts = [vals.get((end - k, 1)) for k in range(span - split)]
                if head is None or any(t is None for t in tail_parts):
                    continue
                parts_sum = head[0] + sum(t[0] for t in tail_parts if t is not None)
                tol = max(SUM_TOLERANCE_ABS, SUM_TOLERANCE_REL * abs(total))
                if abs(parts_sum - total) > tol:
                    p.append(
                        Problem(
                            file,
                            line,
                            name,
                            f"the year-to-date figure to equal its reported parts within {tol:g}",
                            f"{total:g} vs parts summing to {parts_sum:g}",
                        )
                    )
                break
    return p


def check_prices(
    table: RawTable, tickers: Iterable[str]
) -> tuple[list[Problem], list[dict[str, object]]]:
    p: list[Problem] = check_text(table)
    f = table.file
    known = set(tickers)
    parsed: list[dict[str, object]] = []
    seen: dict[tuple[str, str, str], int] = {}
    for line, r in table.records():
        t = r["ticker"]
        if not TICKER_RE.match(t):
            p.append(Problem(f, line, "ticker", "a ticker like 603072.SH", _show(t)))
            continue
        if t not in known:
            p.append(Problem(f, line, "ticker", "a ticker in firms.csv", _show(t)))
        d = parse_date(r["date"])
        if d is None:
            p.append(Problem(f, line, "date", "a date YYYY-MM-DD", _show(r["date"])))
        unit = PRICE_ITEMS.get(r["item"])
        if unit is None:
            p.append(Problem(f, line, "item", "one of " + ", ".join(PRICE_ITEMS), _show(r["item"])))
        elif r["unit"] != unit:
            p.append(Problem(f, line, "unit", f"{unit!r} for {r['item']}", _show(r["unit"])))
        v = _number(p, f, line, "value", r["value"])
        if v is not None and unit is not None:
            if (
                r["item"]
                in (
                    "close",
                    "market_cap",
                    "enterprise_value",
                    "shares_outstanding",
                    "week52_high",
                    "week52_low",
                    "volatility",
                )
                and v <= 0
                and r["item"] != "enterprise_value"
            ):
                p.append(Problem(f, line, "value", f"{r['item']} > 0", r["value"]))
            if r["item"] == "avg_weekly_movement" and v < 0:
                p.append(Problem(f, line, "value", f"{r['item']} >= 0", r["value"]))
            if abs(v) > (1e5 if unit == "CNY" else 1e7):
                p.append(Problem(f, line, "value", f"a plausible {r['item']}", r["value"]))
        if not r["source"]:
            p.append(Problem(f, line, "source", "a source", "an empty cell"))
        if d is None or v is None or unit is None:
            continue
        key = (t, r["date"], r["item"])
        if key in seen:
            p.append(
                Problem(
                    f,
                    line,
                    "item",
                    "one observation per ticker, date and item",
                    f"{r['item']} on {r['date']} again (first on row {seen[key]})",
                )
            )
            continue
        seen[key] = line
        parsed.append(
            {
                "ticker": t,
                "date": d,
                "item": r["item"],
                "value": v,
                "source": r["source"],
                "note": r["note"],
                "line": line,
            }
        )
    return p, parsed
