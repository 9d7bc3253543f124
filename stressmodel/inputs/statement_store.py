"""Every firm's validated statement rows in one polars frame, with per-firm rows on demand.

:class:`StatementStore` is what :attr:`stressmodel.inputs.load.Inputs.statements` holds after
:func:`~stressmodel.inputs.load.load_inputs`: a read-only mapping ticker -> tuple of row
dicts (period, end, span, kind, item, value, unit, source, note, line), as before, but the
dicts of a firm are made only when that firm is looked up (10,000 firms hold 725,000 rows;
``validate`` needs none of them as dicts). Column-wise code reads :attr:`frame` directly.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping, Sequence
from functools import cached_property
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import datetime as dt

    import polars as pl

#: the keys of a row dict, in order (:data:`stressmodel.inputs.statement_checks.PARSED_KEYS`)
ROW_KEYS = ("period", "end", "span", "kind", "item", "value", "unit", "source", "note", "line")

Rows = tuple[dict[str, Any], ...]


class StatementStore(Mapping[str, Rows]):
    """Statement rows of many firms: :attr:`frame` holds ``t`` (the firm's position in
    ``tickers``) and :data:`ROW_KEYS`, firm by firm in file row order.

    A store made by :meth:`as_of` keeps its parent: a firm's rows are the parent's row dicts
    that pass the filter (the same dict objects, as filtering the rows of a plain mapping
    gives), and its frame is the parent's frame filtered, made only when column-wise code
    asks for it."""

    def __init__(
        self,
        frame: pl.DataFrame | None,
        tickers: Sequence[str],
        parent: StatementStore | None = None,
        keep: Callable[[dict[str, Any]], bool] | None = None,
        keep_frame: Callable[[pl.DataFrame], pl.DataFrame] | None = None,
    ):
        self.tickers = tuple(tickers)
        self._index = {t: i for i, t in enumerate(self.tickers)}
        self._rows: dict[str, Rows] = {}
        self._frame = frame
        self._parent, self._keep, self._keep_frame = parent, keep, keep_frame
        if frame is None and (parent is None or keep is None or keep_frame is None):
            raise ValueError("a store needs its frame, or a parent and its filters")

    @property
    def frame(self) -> pl.DataFrame:
        if self._frame is None:
            assert self._parent is not None and self._keep_frame is not None
            self._frame = self._keep_frame(self._parent.frame)
        return self._frame

    @cached_property
    def _offsets(self) -> tuple[list[int], list[int]]:
        """Per firm: its first row in :attr:`frame` and how many rows it has."""
        import numpy as np

        frame = self.frame
        counts = (
            np.bincount(frame["t"].to_numpy(), minlength=len(self.tickers))
            if frame.height
            else np.zeros(len(self.tickers), dtype=np.int64)
        )
        return (np.cumsum(counts) - counts).tolist(), counts.tolist()

    @property
    def counts(self) -> list[int]:
        return self._offsets[1]

    # --- the mapping ------------------------------------------------------------------------

    def __getitem__(self, ticker: str) -> Rows:
        rows = self._rows.get(ticker)
        if rows is None:
            i = self._index[ticker]  # KeyError for a firm without a statements file
            if self._parent is not None and self._keep is not None:
                keep = self._keep
                rows = tuple(r for r in self._parent[ticker] if keep(r))
            else:
                starts, counts = self._offsets
                n = counts[i]
                part = self.frame.slice(starts[i], n).select(ROW_KEYS) if n else None
                rows = tuple(part.to_dicts()) if part is not None else ()
            self._rows[ticker] = rows
        return rows

    def __iter__(self) -> Iterator[str]:
        return iter(self.tickers)

    def __len__(self) -> int:
        return len(self.tickers)

    def position(self, ticker: str) -> int:
        """The firm's ``t`` in :attr:`frame`."""
        return self._index[ticker]

    def __contains__(self, ticker: object) -> bool:
        return ticker in self._index

    def items(self):  # type: ignore[override]
        self._all_rows()
        return super().items()

    def values(self):  # type: ignore[override]
        self._all_rows()
        return super().values()

    def __eq__(self, other: object) -> bool:
        if isinstance(other, StatementStore):
            if self.tickers != other.tickers or self.counts != other.counts:
                if set(self.tickers) != set(other.tickers):
                    return False
                return dict(self.items()) == dict(other.items())
            return self.frame.select(ROW_KEYS).equals(other.frame.select(ROW_KEYS))
        return super().__eq__(other)

    __hash__ = None  # type: ignore[assignment]  # a mapping, as the dict it replaces

    def __getstate__(self) -> dict[str, Any]:
        # a pickled store carries its own frame, not its parent and filters
        state = dict(self.__dict__)
        state.update(_frame=self.frame, _parent=None, _keep=None, _keep_frame=None)
        state.pop("_offsets", None)
        return state

    def _all_rows(self) -> None:
        """Every firm's row dicts made in one pass (iterating over all firms)."""
        if len(self._rows) == len(self.tickers):
            return
        if self._parent is not None and self._keep is not None:
            self._parent._all_rows()
            for t in self.tickers:
                self[t]
            return
        values = self.frame.select(ROW_KEYS).to_dicts()
        starts, counts = self._offsets
        for t, start, n in zip(self.tickers, starts, counts, strict=True):
            if t not in self._rows:
                self._rows[t] = tuple(values[start : start + n])

    # --- whole columns ----------------------------------------------------------------------

    @classmethod
    def empty(cls) -> StatementStore:
        return statement_store({})

    def tickers_with(self, item: str) -> set[str]:
        """The firms with at least one row of ``item``."""
        import polars as pl

        ts = self.frame.filter(pl.col("item") == item)["t"].unique().to_list()
        return {self.tickers[i] for i in ts}

    def rows_of_item(self, item: str) -> dict[str, list[dict[str, Any]]]:
        """Per firm, its rows of ``item`` (as row dicts, in file order)."""
        import polars as pl

        out: dict[str, list[dict[str, Any]]] = {}
        part = self.frame.filter(pl.col("item") == item)
        for t, row in zip(part["t"].to_list(), part.select(ROW_KEYS).to_dicts(), strict=True):
            out.setdefault(self.tickers[t], []).append(row)
        return out

    @property
    def figures(self) -> int:
        """The number of statement rows of all firms."""
        return self.frame.height

    def as_of(self, quarter: int, published_by: dt.date | None = None) -> StatementStore:
        """The rows of periods ending by ``quarter`` (and, with ``published_by``, known on that
        day: :meth:`stressmodel.inputs.load.Inputs.as_of`)."""
        from stressmodel.inputs.load import published_on

        def known(r: dict[str, Any]) -> bool:
            if published_by is None:
                return True
            day = published_on(str(r.get("note", "")))
            return day is None or day <= published_by

        def keep(r: dict[str, Any]) -> bool:
            return r["end"] <= quarter and known(r)

        def keep_frame(frame: pl.DataFrame) -> pl.DataFrame:
            import polars as pl

            cond = pl.col("end") <= quarter
            if published_by is not None:
                # only a note that says "published ..." can carry a publication date
                notes = frame.filter(cond & pl.col("note").str.contains("published ", literal=True))
                late = [
                    note
                    for note in notes["note"].unique().to_list()
                    if (day := published_on(str(note))) is not None and day > published_by
                ]
                if late:
                    cond = cond & ~pl.col("note").is_in(late)
            return frame.filter(cond)

        return StatementStore(None, self.tickers, parent=self, keep=keep, keep_frame=keep_frame)


def statement_store(statements: Mapping[str, Sequence[Mapping[str, Any]]]) -> StatementStore:
    """``statements`` as a store (itself when it is one; rows of a plain mapping, as tests
    and :func:`dataclasses.replace` give them, put into a frame)."""
    import polars as pl

    if isinstance(statements, StatementStore):
        return statements
    tickers = list(statements)
    rows = [
        {"t": i, **{k: r[k] for k in ROW_KEYS}}
        for i, t in enumerate(tickers)
        for r in statements[t]
    ]
    schema = {
        "t": pl.Int32,
        "period": pl.String,
        "end": pl.Int64,
        "span": pl.Int64,
        "kind": pl.String,
        "item": pl.String,
        "value": pl.Float64,
        "unit": pl.String,
        "source": pl.String,
        "note": pl.String,
        "line": pl.Int64,
    }
    return StatementStore(pl.DataFrame(rows, schema=schema, orient="row"), tickers)


def statement_figures(statements: Mapping[str, Sequence[Any]]) -> int:
    """How many statement rows ``statements`` holds (without making row dicts of a store)."""
    if isinstance(statements, StatementStore):
        return statements.figures
    return sum(len(v) for v in statements.values())
