"""Market figures on or before the as-of date: price, share count, market cap, volatility, return."""

from __future__ import annotations

import math

from stressmodel.inputs.load import Inputs
from stressmodel.inputs.periods import quarter_end_date
from stressmodel.inputs.statements import Figure
from stressmodel.model.base.figures import RETURN_WINDOW_DAYS, Builder, est


def market(inputs: Inputs, ticker: str, q: int, b: Builder) -> None:
    """Share price, share count, market cap, volatility and past-year return (<= as-of)."""
    end = quarter_end_date(q)
    own = [p for p in inputs.prices_by_ticker.get(ticker, ()) if p["date"] <= end]
    closes = sorted((p for p in own if p["item"] == "close"), key=lambda p: p["date"])
    if closes:
        c = closes[-1]
        b.set(
            "share_price",
            Figure(
                c["value"],
                "derived" if str(c["note"]).upper().startswith("DERIVED") else "reported",
                f"close {c['date']} (latest on or before {end})",
                (c["source"],),
            ),
        )
        b.figures["share_price_date"] = Figure(
            float(c["date"].toordinal()), "reported", c["date"].isoformat(), ()
        )
    shares = sorted((p for p in own if p["item"] == "shares_outstanding"), key=lambda p: p["date"])
    reg = inputs.firm(ticker)
    if shares:
        s = shares[-1]
        b.set(
            "shares",
            Figure(s["value"], "reported", f"shares outstanding {s['date']}", (s["source"],)),
        )
    elif reg["shares_date"] is not None and reg["shares_date"] <= end:
        b.set(
            "shares",
            Figure(
                reg["shares_outstanding"],
                "reported",
                f"shares outstanding {reg['shares_date']} (firms.csv)",
                (reg["shares_source"],),
            ),
        )
    else:
        caps = sorted((p for p in own if p["item"] == "market_cap"), key=lambda p: p["date"])
        for cap in reversed(caps):
            cl = [c for c in closes if c["date"] == cap["date"]]
            if cl:
                b.set(
                    "shares",
                    Figure(
                        cap["value"] / cl[0]["value"],
                        "derived",
                        f"market cap / close on {cap['date']}",
                        (cap["source"],),
                    ),
                )
                break
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
