"""How much memory a run needs, estimated before anything is allocated.

The projection, risk, valuation and reverse-stress stages hold frames of one row per
firm x case x quarter, where the firms are the whole peer universe (every firm of
firms.csv with data, whatever ``--firms`` selects) and the cases are the named scenarios
plus the sensitivity grid. Measured on this machine (``/usr/bin/time -v stressmodel run
--no-workbooks`` on synthetic universes from :func:`stressmodel.bench.write_synthetic_inputs`,
82 cases, 8 quarters): peak RSS 468 MB with 100 firms and 1,129 MB with 400 firms, i.e.
about 3.4 kB per firm-case-quarter above a fixed part of about 250 MB. The estimate rounds
both up (4 kB, 300 MB) so that it errs on the side of refusing. A Monte Carlo run adds its
block of at most ``montecarlo.MAX_CASES`` cases (about 0.5 GB).

Pure: no I/O. What is *available* is read by :func:`stressmodel.run.app.memory_limit`.
"""

from __future__ import annotations

from dataclasses import dataclass

#: bytes per firm x case x quarter over all stages at their peak (measured 3.4 kB)
BYTES_PER_CASE_QUARTER = 4096
#: the interpreter, polars and the inputs (measured about 250 MB)
FIXED_BYTES = 300 * 1024**2
#: the Monte Carlo block (``montecarlo.MAX_CASES`` cases, about 0.5 GB)
MONTE_CARLO_BYTES = 512 * 1024**2


@dataclass(frozen=True)
class MemoryEstimate:
    firms: int
    cases_per_firm: int
    quarters: int
    monte_carlo: bool

    @property
    def bytes(self) -> int:
        rows = self.firms * self.cases_per_firm * self.quarters
        return (
            FIXED_BYTES
            + rows * BYTES_PER_CASE_QUARTER
            + (MONTE_CARLO_BYTES if self.monte_carlo else 0)
        )

    def describe(self) -> str:
        return (
            f"{self.firms:,} firms x {self.cases_per_firm:,} cases x {self.quarters} quarters"
            + (" plus the Monte Carlo block" if self.monte_carlo else "")
        )


def estimate(
    firms: int, cases_per_firm: int, quarters: int, monte_carlo: bool = False
) -> MemoryEstimate:
    return MemoryEstimate(firms, cases_per_firm, quarters, monte_carlo)


def human(n: float) -> str:
    """Bytes as a short figure: 1.2 GB, 350 MB."""
    if n >= 1024**3:
        return f"{n / 1024**3:.1f} GB"
    return f"{n / 1024**2:.0f} MB"
