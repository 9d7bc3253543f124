"""Rendering a polars frame as a block of typed cells (used for optional frames whose
columns the report does not know in advance: Monte Carlo, tracking, changes)."""

from __future__ import annotations

import datetime as dt
import math
from typing import Any

import polars as pl

from stressmodel.report.spec import SheetSpec

_PCT_HINTS = ("share", "probability", "upside", "shock", "cut", "return", "pct", "rate", "prob")


def column_kind(name: str, dtype: pl.DataType) -> str:
    """Number-format kind of a frame column from its name and type."""
    if dtype.is_integer():
        return "count"
    low = name.lower()
    if low.startswith("p_") or any(h in low for h in _PCT_HINTS):
        return "pct"
    if "per_share" in low or low in ("share_price", "price"):
        return "per_share"
    if "cover" in low or "to_ebitda" in low:
        return "multiple"
    return "number"


def write_frame(
    sheet: SheetSpec, frame: pl.DataFrame, top: int, left: int = 0, role: str = "engine"
) -> int:
    """Header row plus one row per frame row from ``(top, left)``; returns the next free row.

    Strings (whatever they start with) are text cells; numbers typed numbers; None and
    NaN the text ``n/a``; dates ISO text; anything else its ``str``.
    """
    kinds = {c: column_kind(c, dt_) for c, dt_ in frame.schema.items()}
    for j, c in enumerate(frame.columns):
        sheet.text(top, left + j, c, "header")
        sheet.widths.setdefault(left + j, max(12.0, min(40.0, len(c) + 2.0)))
    # column by column: a float or integer column's values are numbers or None (n/a)
    for j, (c, dtype) in enumerate(frame.schema.items(), start=left):
        style = f"{kinds[c]}/{role}"
        values = frame.get_column(c).to_list()
        if dtype.is_float() or dtype.is_integer():
            sheet.numbers(top + 1, j, values, style)
            continue
        number, text = sheet.number, sheet.text
        for i, v in enumerate(values, start=top + 1):
            cls = v.__class__
            if cls is float or cls is int:  # what _cell does with them, without its tests
                number(i, j, v, style)
            elif cls is str:
                text(i, j, v, "text")
            else:
                _cell(sheet, i, j, v, style)
    return top + frame.height + 2


def _cell(sheet: SheetSpec, r: int, c: int, v: Any, style: str) -> None:
    if isinstance(v, str):
        sheet.text(r, c, v, "text")
    elif isinstance(v, bool):
        sheet.text(r, c, "yes" if v else "no", "text")
    elif isinstance(v, int | float):
        if isinstance(v, float) and not math.isfinite(v):
            sheet.text(r, c, "n/a", "status")
        else:
            sheet.number(r, c, v, style)
    elif v is None:
        sheet.text(r, c, "n/a", "status")
    elif isinstance(v, dt.date | dt.datetime):
        sheet.text(r, c, v.isoformat(), "text")
    else:
        sheet.text(r, c, str(v), "text")
