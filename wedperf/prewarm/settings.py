"""Pre-warm settings (WEDPERF_PREWARM__*): how a slot's pre-warm splits into shards.

What is warmed (URLs, key template, relations) and when (the lead) are the planner's
`ops` settings (wedperf.capacity.settings).
"""

from __future__ import annotations

from datetime import timedelta

from pydantic import BaseModel, Field


class PrewarmSettings(BaseModel):
    shard_size: int = Field(
        default=1000,
        ge=1,
        description="weddings per pre-warm shard: a slot's run warms Redis and GETs the warm-up "
        "URLs of its weddings in flow runs of shard_deployment, one per this many weddings "
        "(its PostgreSQL steps and the advisor run once, in the slot's run). 1,000 weddings "
        "are about 4,000 Redis keys and 1,000 warm-up requests per URL: well inside the "
        "pre-warm lead on one worker",
    )
    shard_deployment: str = Field(
        default="prewarm-weddings-shard/prewarm-weddings-shard",
        description="deployment a slot's pre-warm shards run on; unregistered, or no worker "
        "polling its work queue, the shards run in the slot's own process",
    )
    shard_timeout: timedelta = Field(
        default=timedelta(minutes=15),
        description="how long a slot's run waits for its shards before reporting the "
        "unfinished ones late (half the default 30-minute pre-warm lead)",
    )
