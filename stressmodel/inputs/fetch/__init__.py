"""Quarterly refresh of inputs from public A-share sources through AkShare.

Two steps, kept apart:

- :mod:`.sources` (network): one function per AkShare endpoint, one request at a time,
  a delay between requests, retries with backoff; every raw response is kept as a
  snapshot (:mod:`.snapshot`) with its metadata. AkShare is imported lazily there and
  nowhere else, so the core install and the tests never need it.
- :mod:`.importer` (pure): raw frames -> rows of the statements and prices input formats,
  driven by the data tables in :mod:`.mapping`; :mod:`.merge` compares them with the
  hand-curated files and writes atomically.
"""
