"""Every firm's validated statement rows in one polars frame, with per-firm rows on demand.

:class:`StatementStore` is what :attr:`stressmodel.inputs.load.Inputs.statements` holds after
:func:`~stressmodel.inputs.load.load_inputs`: a read-only mapping ticker -> tuple of row
dicts (period, end, span, kind, item, value, unit, source, note, line), as before, but the
dicts of a firm are made only when that firm is looked up (10,000 firms hold 725,000 rows;
``validate`` needs none of them as dicts). Column-wise code reads :attr:`frame` directly.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import datetime as dt

    import polars as pl

#: the keys of a row dict, in order (:data:`stressmodel.inputs.statement_checks.PARSED_KEYS`)
ROW_KEYS = ("period", "end", "span", "kind", "item", "value", "unit", "source", "note", "line")

Rows = tuple[dict[str, Any], ...]


class StatementStore(Mapping[str, Rows]):
    """Statement rows of many firms: ``frame`` holds ``t`` (the firm's position in
    ``tickers``) and :data:`ROW_KEYS`, firm by firm in file row order."""

    def __init__(self, frame: pl.DataFrame, tickers: Sequence[str]):
        import numpy as np

        self.frame = frame
        self.tickers = tuple(tickers)
        self._index = {t: i for i, t in enumerate(self.tickers)}
        counts = (
            np.bincount(frame["t"].to_numpy(), minlength=len(self.tickers))
            if frame.height
            else np.zeros(len(self.tickers), dtype=np.int64)
        )
        self.counts: list[int] = counts.tolist()
        self.starts: list[int] = (np.cumsum(counts) - counts).tolist()
        self._rows: dict[str, Rows] = {}

    # --- the mapping ------------------------------------------------------------------------

    def __getitem__(self, ticker: str) -> Rows:
        rows = self._rows.get(ticker)
        if rows is None:
            i = self._index[ticker]  # KeyError for a firm without a statements file
            n = self.counts[i]
            part = self.frame.slice(self.starts[i], n).select(ROW_KEYS) if n else None
            rows = self._rows[ticker] = tuple(part.to_dicts()) if part is not None else ()
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

    def _all_rows(self) -> None:
        """Every firm's row dicts made in one pass (iterating over all firms)."""
        if len(self._rows) == len(self.tickers):
            return
        values = self.frame.select(ROW_KEYS).to_dicts()
        for t, start, n in zip(self.tickers, self.starts, self.counts, strict=True):
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

    def with_ticker(self) -> pl.DataFrame:
        """:attr:`frame` with ``ticker`` for ``t``."""
        import numpy as np
        import polars as pl

        names = np.repeat(np.array(self.tickers, dtype=object), self.counts)
        return self.frame.with_columns(pl.Series("ticker", names, dtype=pl.String))

    def as_of(self, quarter: int, published_by: dt.date | None = None) -> StatementStore:
        """The rows of periods ending by ``quarter`` (and, with ``published_by``, known on that
        day: :meth:`stressmodel.inputs.load.Inputs.as_of`)."""
        import polars as pl

        keep = pl.col("end") <= quarter
        if published_by is not None:
            from stressmodel.inputs.load import published_on

            # only a note that says "published ..." can carry a publication date
            notes = self.frame.filter(
                keep & pl.col("note").str.contains("published ", literal=True)
            )
            late = [
                note
                for note in notes["note"].unique().to_list()
                if (day := published_on(str(note))) is not None and day > published_by
            ]
            if late:
                keep = keep & ~pl.col("note").is_in(late)
        return StatementStore(self.frame.filter(keep), self.tickers)


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
