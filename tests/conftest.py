"""Suite-wide settings."""

from __future__ import annotations

import os
import tempfile

# the trade-forecast cache (stressmodel.run.cache) of the runs the tests make goes to a
# folder of this test session, never to the user's ~/.cache
os.environ.setdefault("STRESSMODEL_CACHE", tempfile.mkdtemp(prefix="stressmodel-test-cache-"))
