"""Column-oriented tables that the seed builds in memory before COPYing them into PostgreSQL.

Timestamps are int64 microseconds since the Unix epoch (UTC) so whole columns can be shifted and
masked with numpy; NULL_TS marks a NULL. Conversion to Python values happens once, at COPY time.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

import numpy as np

SECOND = 1_000_000
MINUTE = 60 * SECOND
HOUR = 60 * MINUTE
NULL_TS = np.iinfo(np.int64).min
NULL_INT = np.iinfo(np.int64).min
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def to_us(instant: datetime) -> int:
    """Microseconds since the epoch of an aware datetime."""
    return (instant - _EPOCH) // timedelta(microseconds=1)


def segment_rank(counts: np.ndarray) -> np.ndarray:
    """For rows repeated `counts[i]` times per group i, each row's 0-based rank in its group."""
    offsets = np.concatenate([[0], np.cumsum(counts)[:-1]])
    return np.arange(int(counts.sum())) - np.repeat(offsets, counts)


@dataclass
class Table:
    """One app table: column name -> numpy array or list, all of one length.

    `timestamps` and `nullable_ints` name the columns whose NULL_TS / NULL_INT become NULL.
    """

    name: str
    columns: dict[str, np.ndarray | list]
    timestamps: Sequence[str] = ()
    nullable_ints: Sequence[str] = ()
    _length: int = field(init=False, default=0)

    def __post_init__(self) -> None:
        lengths = {len(values) for values in self.columns.values()}
        if len(lengths) > 1:
            raise ValueError(f"table {self.name}: columns of different lengths {lengths}")
        self._length = lengths.pop() if lengths else 0

    def __len__(self) -> int:
        return self._length

    def copy_rows(self) -> Iterator[tuple]:
        """Rows as tuples of plain Python values (str timestamps with 'Z', None for NULL)."""
        converted = []
        for name, values in self.columns.items():
            if name in self.timestamps:
                converted.append(_timestamps_text(np.asarray(values)))
            elif name in self.nullable_ints:
                array = np.asarray(values)
                converted.append([None if v == NULL_INT else v for v in array.tolist()])
            elif isinstance(values, np.ndarray):
                converted.append(values.tolist())
            else:
                converted.append(values)
        return zip(*converted, strict=True)


def _timestamps_text(values: np.ndarray) -> list[str | None]:
    """ISO-8601 UTC text ('...Z'): unambiguous for timestamptz whatever the session TimeZone."""
    null = values == NULL_TS
    text = np.datetime_as_string(
        np.where(null, 0, values).astype("datetime64[us]"), unit="us", timezone="UTC"
    ).tolist()
    if not null.any():
        return text
    return [None if is_null else t for t, is_null in zip(text, null.tolist(), strict=True)]


def mask_future(values: np.ndarray, now_us: int) -> np.ndarray:
    """Timestamps after `now_us` become NULL: the seed is a snapshot of the world at `now`."""
    return np.where((values != NULL_TS) & (values > now_us), NULL_TS, values)
