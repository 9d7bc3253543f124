"""Pausing Python's cyclic garbage collector around object-heavy pure code.

The base figures build many small objects (a :class:`~stressmodel.inputs.statements.Figure`
per statement row and per derived figure, dicts of them per firm: ~10,000 firm builds in a
1,000-firm run with its back-tests). Each allocation burst triggers generation-0
collections, and the older generations' collections then walk every tracked object of
the run (the inputs' row dicts, the earlier bases): measured 25-35% of
``compute_bases`` at 1,000 firms. That code creates no reference cycles (figures, dicts and
tuples that point one way), so reference counting frees its garbage either way; pausing
the collector changes no result, only when cycles made elsewhere are collected (at the
next collection after the pause).
"""

from __future__ import annotations

import gc
from collections.abc import Iterator
from contextlib import contextmanager


@contextmanager
def collector_paused() -> Iterator[None]:
    """Disable the cyclic collector for the ``with`` block, then restore its state (it
    stays disabled when it was disabled before; nesting is safe)."""
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()
