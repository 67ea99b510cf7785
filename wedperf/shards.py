"""Shards of a round: how the watch round, collection and pre-warm split their weddings.

One partition rule for the three, so that each wedding lands in exactly one shard and the
same weddings give the same shards (a re-run of the round, or its retry, asks for the same
shard runs under the same idempotency keys). Running the shards (on the work pool, or in
the round's process) is `tasks.shards.run_shards`; adding up what they returned is
`ShardedRound`.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any


@dataclass(frozen=True)
class Shard:
    """One shard of a round: its position among `count` shards and its weddings."""

    index: int
    count: int
    wedding_ids: list[str]

    @property
    def label(self) -> str:
        return f"{self.index + 1}-of-{self.count}"


def partition(wedding_ids: Iterable[str], shard_size: int) -> list[list[str]]:
    """The distinct `wedding_ids`, sorted, in chunks of at most `shard_size`."""
    if shard_size < 1:
        raise ValueError(f"shard_size must be at least 1, got {shard_size}")
    ids = sorted(set(wedding_ids))
    return [ids[i : i + shard_size] for i in range(0, len(ids), shard_size)]


def split(wedding_ids: Iterable[str], shard_size: int) -> list[Shard]:
    """Shards of at most `shard_size` weddings (a partition of the distinct ids)."""
    chunks = partition(wedding_ids, shard_size)
    return [Shard(n, len(chunks), chunk) for n, chunk in enumerate(chunks)]


def shard_key(deployment: str, round_of: datetime | str, shard: Shard) -> str:
    """Idempotency key of a shard's flow run: deployment, the round (its instant, or another
    name of it), the shard's position and count, and a digest of its weddings. The digest
    matters: two rounds at one instant over other weddings (the sparse and the live
    collection at the same minute, a round re-run after the calendar changed) must not be
    handed each other's shard runs, while a retry over the same weddings gets the same run."""
    if isinstance(round_of, datetime):
        round_of = round_of.astimezone(UTC).isoformat()
    weddings = hashlib.sha256("\n".join(shard.wedding_ids).encode()).hexdigest()[:16]
    return f"{deployment}|{round_of}|{shard.label}|{weddings}"


@dataclass(frozen=True)
class ShardRequest:
    """One shard run to make: its label, idempotency key and flow parameters."""

    label: str
    key: str
    parameters: dict[str, Any]


def shard_requests(
    deployment: str,
    round_of: datetime | str,
    shards: Sequence[Shard],
    parameters: Callable[[Shard], dict[str, Any]],
) -> list[ShardRequest]:
    """The shard runs of a round: `parameters(shard)` for each shard, keyed by `shard_key`."""
    return [
        ShardRequest(s.label, shard_key(deployment, round_of, s), parameters(s)) for s in shards
    ]


@dataclass(frozen=True)
class ShardedRound:
    """What a round's shards came back with (`tasks.shards.ShardOutcome`s), added up.

    `results` are the completed shards' return values (a dict each); a shard whose result
    could not be read (see docs/production.md on result storage) counts as completed but
    contributes nothing. `touched` names the result key that lists the weddings a shard
    did its work for (evaluated, probed, warmed), not the weddings it was given: those are a
    partition by construction, so counting them could never show a wedding skipped or done
    twice.
    """

    where: str
    outcomes: Sequence[Any]
    touched: str

    @property
    def results(self) -> list[dict[str, Any]]:
        return [o.result for o in self.outcomes if o.status == "completed" and o.result]

    @property
    def failed(self) -> list[str]:
        return [o.label for o in self.outcomes if o.status == "failed"]

    @property
    def late(self) -> list[str]:
        return [o.label for o in self.outcomes if o.status == "late"]

    @property
    def unread(self) -> list[str]:
        """Completed shards whose result this process could not read (no shared result
        storage): their writes are in PostgreSQL, but the round's summary misses them."""
        return [o.label for o in self.outcomes if o.status == "completed" and not o.result]

    def total(self, key: str) -> int:
        """The sum of an integer field of the completed shards' results."""
        return sum(int(r.get(key) or 0) for r in self.results)

    def summary(self, counted: str = "evaluated") -> dict[str, Any]:
        """Shards, failed, late and unread shards, weddings touched (distinct, under the name
        `counted`) and duplicates (a wedding two shards both reported: 0 unless the partition
        is broken)."""
        touched = [w for r in self.results for w in r.get(self.touched, [])]
        return {
            "shards": len(self.outcomes),
            "shards_failed": self.failed,
            "shards_late": self.late,
            "shards_unread": self.unread,
            counted: len(set(touched)),
            "duplicates": len(touched) - len(set(touched)),
        }

    def markdown(self) -> str:
        """A few lines for a round's artifact: shard count, and the shards not completed or
        whose result could not be read."""
        trouble = [o for o in self.outcomes if o.status != "completed" or not o.result]
        lines = [
            f"Shards: {len(self.outcomes)} ({self.where}); not completed or unread: {len(trouble)}."
        ]
        lines += [f"- shard {o.label} {o.status}: {o.message or 'no result'}" for o in trouble]
        return "\n".join(lines)
