"""How much memory a run needs, estimated before anything is allocated.

The projection, risk, valuation and reverse-stress stages hold frames of one row per
firm x case x quarter, where the firms are the reported firms (``--firms`` or the
register's default run) under every case (the named scenarios plus the sensitivity grid)
and the other firms of firms.csv, projected as peers under the baseline case only.
Measured on this machine (``/usr/bin/time -v stressmodel run --no-workbooks`` on
synthetic universes from :func:`stressmodel.bench.write_synthetic_inputs`,
82 cases, 8 quarters): peak RSS 468 MB with 100 firms and 1,129 MB with 400 firms, i.e.
about 3.4 kB per firm-case-quarter above a fixed part of about 250 MB. The estimate rounds
both up (4 kB, 300 MB) so that it errs on the side of refusing. A Monte Carlo run adds its
block of at most ``montecarlo.MAX_CASES`` cases (about 0.5 GB). Every firm of the register
adds its inputs and base (:data:`INPUT_BYTES_PER_FIRM`, 10,000 firms: about 1.9 GB), which
chunking does not reduce.

A run above its limit (or above :data:`CHUNK_ABOVE_BYTES`) is processed in chunks of
reported firms (:func:`plan`): the quarters then held are one chunk's, plus the per-case
tables of every firm (:data:`HELD_BYTES_PER_CASE`). A chunk asked for by
:data:`CHUNK_ABOVE_BYTES` alone holds at least :data:`MIN_CHUNK_FIRMS` firms.

Pure: no I/O. What is *available* is read by :func:`stressmodel.run.app.memory_limit`.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

#: bytes per firm x case x quarter over all stages at their peak (measured 3.4 kB)
BYTES_PER_CASE_QUARTER = 4096
#: the interpreter, polars and the inputs (measured about 250 MB)
FIXED_BYTES = 300 * 1024**2
#: the Monte Carlo block (``montecarlo.MAX_CASES`` cases, about 0.5 GB)
MONTE_CARLO_BYTES = 512 * 1024**2
#: per firm of the register (reported firms and peers): its inputs and base, held for the
#: whole run. Measured peak RSS after ``load_inputs`` and ``compute_bases`` of every firm on
#: synthetic universes: 296 MB at 1,000 firms, 1,898 MB at 10,000, i.e. 178 kB per firm
#: (rounded up); the fixed part above holds the first few hundred firms' share
INPUT_BYTES_PER_FIRM = 192 * 1024


#: bytes held per reported firm x case once its chunk is reduced (its rows of the case
#: frame, summary, grid summary, index, valuation and the named quarters): measured 2.0 kB
#: (polars estimated_size at 1,000 firms x 259 cases: 142 + 116 + 113 + 60 + 44 + 33 MB)
HELD_BYTES_PER_CASE = 2048
#: a run whose estimate is above this is chunked even when the limit would allow it at
#: once: a chunk's frames stay cache- and memory-friendly and the peak stays near this
CHUNK_ABOVE_BYTES = 1024**3
#: the fewest reported firms a chunk holds when only :data:`CHUNK_ABOVE_BYTES` (not the
#: limit) asks for chunks. Each chunk pays the stages' fixed costs once: about 80 ms at
#: 1,000 firms (risk 37.0 s and valuation 11.7 s in 334 chunks of 3 firms, against 18.7 s
#: and 2.4 s at once), while 32 firms' quarters are about 0.2 GB (259 cases, 8 quarters,
#: 3.4 kB measured per case-quarter), below the run's own later peak (reverse stress and
#: tables: 1.3-1.4 GB at 1,000 firms)
MIN_CHUNK_FIRMS = 32


@dataclass(frozen=True)
class MemoryEstimate:
    """``firms`` reported firms under ``cases_per_firm`` cases each, ``peers`` universe
    firms projected under the baseline case only, ``quarters`` projected quarters;
    ``chunk_firms``: the reported firms projected at a time (None: all at once)."""

    firms: int
    cases_per_firm: int
    quarters: int
    monte_carlo: bool
    peers: int = 0
    chunk_firms: int | None = None

    @property
    def bytes(self) -> int:
        at_once = self.firms if self.chunk_firms is None else min(self.firms, self.chunk_firms)
        rows = max(at_once * self.cases_per_firm, self.peers if self.chunk_firms else 0)
        if self.chunk_firms is None:
            rows += self.peers
        held = 0
        if self.chunk_firms is not None:
            held = self.firms * self.cases_per_firm * HELD_BYTES_PER_CASE
        return (
            FIXED_BYTES
            + (self.firms + self.peers) * INPUT_BYTES_PER_FIRM
            + rows * self.quarters * BYTES_PER_CASE_QUARTER
            + held
            + (MONTE_CARLO_BYTES if self.monte_carlo else 0)
        )

    def describe(self) -> str:
        return (
            f"{self.firms:,} firms x {self.cases_per_firm:,} cases x {self.quarters} quarters"
            + (f" and {self.peers:,} peers x 1 case" if self.peers else "")
            + (f", {self.chunk_firms:,} firms at a time" if self.chunk_firms is not None else "")
            + (" plus the Monte Carlo block" if self.monte_carlo else "")
        )


def estimate(
    firms: int,
    cases_per_firm: int,
    quarters: int,
    monte_carlo: bool = False,
    peers: int = 0,
    chunk_firms: int | None = None,
) -> MemoryEstimate:
    return MemoryEstimate(firms, cases_per_firm, quarters, monte_carlo, peers, chunk_firms)


def chunk_firms(whole: MemoryEstimate, limit: int) -> int | None:
    """The most reported firms a chunk may hold for the run of ``whole`` (an estimate at
    once) to stay within ``limit`` bytes: None when it fits at once, 0 when not even one
    firm at a time fits."""
    if whole.bytes <= limit:
        return None
    one = replace(whole, chunk_firms=1)
    if one.bytes > limit:
        return 0
    per_firm = whole.cases_per_firm * whole.quarters * BYTES_PER_CASE_QUARTER
    room = limit - replace(whole, chunk_firms=0).bytes  # what the chunk's quarters may take
    k = max(1, min(whole.firms, room // per_firm)) if per_firm else whole.firms
    while k > 1 and replace(whole, chunk_firms=k).bytes > limit:
        k -= 1
    return k


def plan(
    whole: MemoryEstimate,
    limit: int,
    chunk_above: int = CHUNK_ABOVE_BYTES,
    min_chunk: int = MIN_CHUNK_FIRMS,
) -> int | None:
    """The chunk size a run uses: None (at once) when its estimate is within both ``limit``
    and ``chunk_above``; 0 when not even one firm at a time fits ``limit``; else the
    largest chunk within ``chunk_above``, but at least ``min_chunk`` firms, and never more
    than the largest chunk within ``limit`` (None when that is every firm)."""
    hard = chunk_firms(whole, limit)
    if hard == 0:
        return 0
    if hard is None and whole.bytes <= chunk_above:
        return None
    soft = chunk_firms(whole, chunk_above) or 1  # 0: not one firm within chunk_above
    k = max(soft, min(min_chunk, whole.firms))
    if hard is not None:
        k = min(k, hard)
    return None if hard is None and k >= whole.firms else k


def human(n: float) -> str:
    """Bytes as a short figure: 1.2 GB, 350 MB."""
    if n >= 1024**3:
        return f"{n / 1024**3:.1f} GB"
    return f"{n / 1024**2:.0f} MB"
