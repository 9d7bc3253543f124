"""The package's error classes, grouped by cause.

Every error the tool raises on purpose is a :class:`StressModelError`. The CLI maps
these to a clean message and an exit code (2 for bad input or usage, 1 for anything
unexpected); library code never calls ``sys.exit``.

Input problems are collected, not raised one at a time: validation gathers every
:class:`Problem` it finds and raises one :class:`InputError` listing them all.
"""

from __future__ import annotations

import errno
from dataclasses import dataclass


@dataclass(frozen=True, order=True)
class Problem:
    """One thing wrong with an input file.

    ``row`` is the 1-based line number in the file as a spreadsheet or editor shows it
    (the header is row 1), or ``None`` when the problem concerns the whole file.
    """

    file: str
    row: int | None
    field: str | None
    expected: str
    found: str

    def __str__(self) -> str:
        where = self.file
        if self.row is not None:
            where += f", row {self.row}"
        if self.field:
            where += f", field '{self.field}'"
        return f"{where}: expected {self.expected}; found {self.found}"


class StressModelError(Exception):
    """Base class of every error the package raises deliberately."""

    exit_code = 1


class InputError(StressModelError):
    """Invalid input files. Carries every problem found in one pass."""

    exit_code = 2

    def __init__(self, problems: list[Problem] | Problem, first: list[Problem] | None = None):
        """``first``: root causes (an unreadable row others depend on), listed before the
        rest whatever their file name."""
        if isinstance(problems, Problem):
            problems = [problems]
        roots = sorted(set(first or ()), key=_problem_key)
        rest = sorted(set(problems) - set(roots), key=_problem_key)
        self.problems: list[Problem] = roots + rest
        n = len(self.problems)
        head = f"{n} input problem{'s' if n != 1 else ''} found"
        super().__init__(head + ":\n" + "\n".join(f"  - {p}" for p in self.problems))


def _problem_key(p: Problem) -> tuple[str, int, str, str]:
    return (p.file, p.row if p.row is not None else -1, p.field or "", p.expected)


class UsageError(StressModelError):
    """A command-line option or argument that cannot be honoured (bad as-of, unknown firm)."""

    exit_code = 2


class ScenarioError(StressModelError):
    """A scenario definition that cannot be built into a projection."""

    exit_code = 2


class ModelError(StressModelError):
    """The model could not be computed for a reason other than bad input (a bug or a
    numerical failure); exit code 1."""

    exit_code = 1


class ReportError(StressModelError):
    """A workbook or output file could not be written."""

    exit_code = 1


class OutputExistsError(StressModelError):
    """The as-of output folder exists and ``--force`` was not given."""

    exit_code = 2


#: ``errno`` values of an ``OSError`` that come from the machine, not from a bug: a
#: read-only or full file system, a missing permission, a file where a folder is needed
ENVIRONMENT_ERRNOS = frozenset(
    {
        errno.EROFS,
        errno.ENOSPC,
        errno.EDQUOT,
        errno.EACCES,
        errno.EPERM,
        errno.EISDIR,
        errno.ENOTDIR,
        errno.ENAMETOOLONG,
        errno.EEXIST,
        errno.EBUSY,
        errno.ETXTBSY,
        errno.EMLINK,
        errno.EFBIG,
    }
)


class OutputEnvironmentError(StressModelError):
    """An output cannot be written for a reason of the machine: a read-only or full file
    system, a missing permission, a folder where a file is named. Exit code 2."""

    exit_code = 2


class CleanupError(StressModelError):
    """An entry the tool made (a replaced folder) could not be removed; the message says
    where it was left. Exit code 2: the outputs are written, but not as asked."""

    exit_code = 2


class MemoryLimitError(StressModelError):
    """A run would need more memory than is available (estimate before allocating)."""

    exit_code = 2


class ExcelLimitError(StressModelError):
    """A workbook would exceed one of Excel's limits (rows, columns) because of the size of
    the inputs; the message says what to change. Exit code 2."""

    exit_code = 2
