"""Safe file-name components built from data (tickers, as-of labels).

Shared by the report (one workbook per ticker) and the run's outputs folder, so that no
name taken from an input can escape the folder it is written into.
"""

from __future__ import annotations

import re

from stressmodel.errors import UsageError

MAX_NAME = 64


def safe_component(name: str, what: str) -> str:
    """A path component built from data (a ticker, an as-of label), checked against a
    strict pattern so that it cannot escape the outputs folder."""
    if (
        not isinstance(name, str)
        or not name
        or len(name) > MAX_NAME
        or "\x00" in name
        or not re.fullmatch(r"[0-9A-Za-z][0-9A-Za-z._-]*", name)
        or ".." in name
    ):
        raise UsageError(f"unsafe {what} for a file name: {name!r}")
    return name
