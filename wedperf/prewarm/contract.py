"""The app cache contract: the Redis keys pre-warm writes and the app reads, in one place.

- Key: ``KEY_TEMPLATE`` = ``wedperf:wedding:{wedding_id}:{dataset}``, one key per wedding and
  dataset (``DATASETS``: guest_list, timeline, vendors, seating).
- Payload: a JSON array (UTF-8, compact separators) of the dataset's rows, each an object with
  exactly the dataset's columns, in the dataset's order (``encode_rows``); timestamps ISO 8601.
  Ids, RSVP, seats and times only: never guest names or contact details.
- TTL: pre-warm sets it to an hour after the wedding's day window closes
  (``TTL_AFTER_WINDOW``); an app that fills a key itself on a cold read uses its own shorter
  TTL. A missing key is a cold read: the app answers from PostgreSQL and fills the key.

wedperf's pre-warm (wedperf.prewarm.steps) reads the rows through the app-DB contract views;
the sandbox app (wedperf.sandbox.app) serves GET /weddings/{id}/guests from ``guest_list`` and
GET /weddings/{id}/timeline from ``timeline`` + ``vendors``. docs/sandbox.md, "Cache contract".
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from datetime import date, datetime, timedelta
from typing import Any

KEY_TEMPLATE = "wedperf:wedding:{wedding_id}:{dataset}"
KEY_PATTERN = "wedperf:wedding:*"  # every key of the contract (a reseed clears them)
TTL_AFTER_WINDOW = timedelta(hours=1)

# dataset -> (contract view, columns after wedding_id, sort columns of the payload)
DATASETS: dict[str, tuple[str, tuple[str, ...], tuple[str, ...]]] = {
    "guest_list": ("guest_list", ("guest_id", "rsvp", "table_no"), ("table_no", "guest_id")),
    "timeline": (
        "timeline_items",
        ("item", "scheduled_at", "started_at", "completed_at"),
        ("scheduled_at", "item"),
    ),
    "vendors": ("vendors", ("vendor_id", "kind"), ("vendor_id",)),
    "seating": ("seating", ("table_no", "seats"), ("table_no",)),
}


def dataset_key(wedding_id: int | str, dataset: str, template: str = KEY_TEMPLATE) -> str:
    """The Redis key of one wedding's dataset."""
    if dataset not in DATASETS:
        raise ValueError(f"unknown dataset {dataset!r}; the contract has {sorted(DATASETS)}")
    return template.format(wedding_id=wedding_id, dataset=dataset)


def encode_rows(dataset: str, rows: Iterable[Mapping[str, Any]]) -> bytes:
    """The payload of `dataset`: its rows sorted as the contract says (NULLs last), only its
    columns, as compact JSON."""
    _, columns, order = DATASETS[dataset]
    kept = [{c: row[c] for c in columns} for row in rows]
    kept.sort(key=lambda row: tuple(_sort_key(row[c]) for c in order))
    return json.dumps(kept, default=_iso, separators=(",", ":")).encode()


def _sort_key(value: Any) -> tuple[bool, Any]:
    return (value is None, "" if value is None else value)


def _iso(value: object) -> str:
    if isinstance(value, datetime | date):
        return value.isoformat()
    raise TypeError(f"cannot serialise {type(value).__name__}")


def columns_of(dataset: str) -> Sequence[str]:
    return DATASETS[dataset][1]
