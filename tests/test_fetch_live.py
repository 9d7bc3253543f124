"""Live check of the AkShare schemas (``pytest -m live``; needs ``stressmodel[live]`` and
the network; deselected by default and never run in CI).

Fetches one ticker through the real adapter and checks that every column the mapping
table requires is still there, and that the import step still produces the core items.
A failure names the endpoint and the missing column: update mapping.py and the
recordings in tests/data/akshare (build_recordings.py) together.
"""

from __future__ import annotations

import datetime as dt

import pytest

from stressmodel.inputs.fetch import importer, sources
from stressmodel.inputs.fetch import mapping as m
from stressmodel.inputs.fetch.snapshot import Cache
from stressmodel.inputs.fetch.sources import Fetcher

pytestmark = pytest.mark.live

TICKER = "300224.SZ"


def test_live_columns_still_match_the_mapping_table(tmp_path):
    import akshare  # a plain import: without the extra this test fails, it is not skipped

    assert akshare.__version__.startswith("1.19."), akshare.__version__
    fetcher = Fetcher(Cache(tmp_path), delay=3.0)
    snaps = {k: fetcher.get(*sources.statement_call(TICKER, k)) for k in m.STATEMENTS}
    for key, snap in snaps.items():
        missing = [c for c in m.sina_required(key) if c not in snap.frame.columns]
        assert not missing, f"{snap.call}: missing {missing}"
    got = importer.import_statements(TICKER, snaps, since=dt.date.today().year - 2)
    assert {"revenue", "net_income", "total_assets", "cash_and_equivalents"} <= {
        r.item for r in got.statements
    }
    hist = fetcher.get(*sources.hist_call(TICKER, dt.date.today().year - 1, dt.date.today()))
    assert tuple(hist.frame.columns) == m.HIST_COLUMNS
    assert importer.import_prices(TICKER, hist).prices
    zygc = fetcher.get(*sources.zygc_call(TICKER))
    assert tuple(zygc.frame.columns) == m.ZYGC_COLUMNS
    assert m.ZYGC_REGION_TYPE in set(zygc.frame["分类类型"])
    regions = importer.import_regions(TICKER, zygc)  # raises if 毛利率/收入比例 are not fractions
    assert {"revenue_overseas", "revenue_domestic"} <= {r.item for r in regions.statements}
