"""The demo moves the live weddings' run-of-show on before each watch round it triggers,
and drops their cached timelines so the next read shows it."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from types import SimpleNamespace

import psycopg
import redis

from cli.demo.run import _run_of_show
from wedperf.sandbox.cache import guests_key, timeline_key
from wedperf.sandbox.live import bring_weddings_live
from wedperf.sandbox.seed import seed_sandbox


def test_the_run_of_show_moves_on_and_the_cached_timelines_are_dropped(
    migrated_database_url: str, redis_url: str
) -> None:
    earlier = datetime.now(UTC) - timedelta(hours=3)  # brought live then: items came due since
    with psycopg.connect(migrated_database_url) as conn:
        seed_sandbox(conn, weddings=20, days=4, seed=5, start=date.today(), now=earlier)
        live = bring_weddings_live(conn, count=2, now=earlier, seed=5)
    cache = redis.Redis.from_url(redis_url)
    for wedding_id in live:
        cache.set(timeline_key(wedding_id), b"old timeline")
        cache.set(guests_key(wedding_id), b"guests")
    lines: list[str] = []
    services = SimpleNamespace(app_database_url=migrated_database_url, redis_url=redis_url)

    changed = _run_of_show(services, live, seed=5, progress=lines.append)

    assert changed > 0
    assert all(cache.get(timeline_key(i)) is None for i in live)
    assert all(cache.get(guests_key(i)) == b"guests" for i in live)  # only the timelines
    assert lines == [
        f"  run-of-show: {changed} timeline items of the live weddings started or completed"
    ]
    assert _run_of_show(services, live, seed=5, progress=lines.append) == 0  # nothing new since
