"""Suite-wide settings."""

from __future__ import annotations

import os
import tempfile

# the trade-forecast cache (stressmodel.run.cache) of the runs the tests make goes to a
# folder of this test session, never to the user's ~/.cache
os.environ.setdefault("STRESSMODEL_CACHE", tempfile.mkdtemp(prefix="stressmodel-test-cache-"))

# the run date the workbooks print (stressmodel.run.app.run_date): fixed for the session, so
# runs made on either side of midnight UTC give the same bytes (2026-01-02 00:00:00 UTC)
os.environ.setdefault("SOURCE_DATE_EPOCH", "1767312000")
