"""Market figures on or before the as-of date: price, share count, market cap, volatility, return."""

from __future__ import annotations

import datetime as dt
import math

from stressmodel.inputs.load import Inputs
from stressmodel.inputs.periods import quarter_end_date
from stressmodel.inputs.statements import Figure
from stressmodel.model.base.figures import RETURN_WINDOW_DAYS, Builder, est


def market(
    inputs: Inputs,
    ticker: str,
    q: int,
    b: Builder,
    market_inputs: Inputs | None = None,
    price_date: dt.date | None = None,
) -> None:
    """Share price, share count, market cap, volatility and past-year return.

    The price is the latest close on or before the as-of quarter end, or on or before
    ``price_date`` when given (prices then come from ``market_inputs``, which may run past
    the as-of); its date and its age in days at the valuation date are figures too. The
    share count is the latest dated count on or before the as-of quarter end, taken from the
    same side of the firm's latest corporate event as the balance sheet (events.csv)."""
    end = quarter_end_date(q)
    value_date = price_date or end
    src = market_inputs if (market_inputs is not None and price_date is not None) else inputs
    priced = [p for p in src.prices_by_ticker.get(ticker, ()) if p["date"] <= value_date]
    own = [p for p in inputs.prices_by_ticker.get(ticker, ()) if p["date"] <= end]
    closes = sorted((p for p in priced if p["item"] == "close"), key=lambda p: p["date"])
    if closes:
        c = closes[-1]
        b.set(
            "share_price",
            Figure(
                c["value"],
                "derived" if str(c["note"]).upper().startswith("DERIVED") else "reported",
                f"close {c['date']} (latest on or before {value_date})",
                (c["source"],),
            ),
        )
        b.figures["share_price_date"] = Figure(
            float(c["date"].toordinal()), "reported", c["date"].isoformat(), ()
        )
        age = (value_date - c["date"]).days
        b.set(
            "price_age_days",
            Figure(
                float(age),
                "derived",
                f"days from the close {c['date']} to the valuation date {value_date}",
                (),
            ),
        )
    shares = sorted((p for p in own if p["item"] == "shares_outstanding"), key=lambda p: p["date"])
    reg = inputs.firm(ticker)
    count: tuple[Figure, dt.date] | None = None
    if shares:
        s = shares[-1]
        count = (
            Figure(s["value"], "reported", f"shares outstanding {s['date']}", (s["source"],)),
            s["date"],
        )
    elif reg["shares_date"] is not None and reg["shares_date"] <= end:
        count = (
            Figure(
                reg["shares_outstanding"],
                "reported",
                f"shares outstanding {reg['shares_date']} (firms.csv)",
                (reg["shares_source"],),
            ),
            reg["shares_date"],
        )
    else:
        caps = sorted((p for p in own if p["item"] == "market_cap"), key=lambda p: p["date"])
        for cap in reversed(caps):
            cl = [c for c in own if c["item"] == "close" and c["date"] == cap["date"]]
            if cl:
                count = (
                    Figure(
                        cap["value"] / cl[0]["value"],
                        "derived",
                        f"market cap / close on {cap['date']}",
                        (cap["source"],),
                    ),
                    cap["date"],
                )
                break
    events = (market_inputs or inputs).events_of(ticker, end)
    if events and (count is None or count[1] < events[-1]["date"]):
        ev = events[-1]
        if ev["shares_after"] is not None:
            before = (
                f"; the latest count on or before the as-of ({count[0].how}) predates it"
                if count
                else ""
            )
            count = (
                Figure(
                    ev["shares_after"],
                    "reported",
                    f"shares after the {ev['event'].replace('_', ' ')} of {ev['date']} (events.csv: {ev['note']}){before}",
                    (ev["source"],),
                ),
                ev["date"],
            )
            b.notes.append(
                f"share count from the post-event side of the {ev['event']} of {ev['date']}"
            )
    if count is not None:
        b.set("shares", count[0])
    if "shares" in b.figures and "share_price" in b.figures:
        b.set(
            "market_cap",
            est(
                b.figures["shares"].value * b.figures["share_price"].value,
                "shares x share price",
                b.figures["shares"],
                b.figures["share_price"],
            ),
        )
    vol = reg.get("equity_volatility")
    if vol:
        b.set(
            "equity_volatility",
            Figure(vol, "reported", "firms.csv", (reg["equity_volatility_source"],)),
        )
    else:
        vols = sorted((p for p in own if p["item"] == "volatility"), key=lambda p: p["date"])
        moves = sorted(
            (p for p in own if p["item"] == "avg_weekly_movement"), key=lambda p: p["date"]
        )
        if vols:
            b.set(
                "equity_volatility",
                Figure(
                    vols[-1]["value"],
                    "reported",
                    f"volatility {vols[-1]['date']}",
                    (vols[-1]["source"],),
                ),
            )
        elif moves:
            m = moves[-1]
            b.set(
                "equity_volatility",
                Figure(
                    m["value"] * math.sqrt(52),
                    "derived",
                    f"average weekly movement {m['value']} x sqrt(52) ({m['date']})",
                    (m["source"],),
                ),
            )
        else:
            p = inputs.sector.params["default_equity_volatility"]
            b.set(
                "equity_volatility",
                Figure(p.value, "estimated", "sector default (assumption)", (p.provenance,)),
            )
    if closes:
        last = closes[-1]
        lo, hi = RETURN_WINDOW_DAYS
        earlier = [c for c in closes if lo <= (last["date"] - c["date"]).days <= hi]
        if earlier:
            ref = min(earlier, key=lambda c: abs((last["date"] - c["date"]).days - 365))
            r = last["value"] / ref["value"] - 1
            b.set(
                "past_year_return",
                Figure(
                    r,
                    "derived",
                    f"close {last['date']} / close {ref['date']} - 1",
                    (last["source"], ref["source"]),
                ),
            )
        else:
            b.set(
                "past_year_return",
                Figure(0.0, "estimated", "no close 9-15 months earlier: 0 assumed", ()),
            )
