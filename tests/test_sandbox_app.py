"""The sandbox API in-process (httpx.ASGITransport) against real PostgreSQL and Redis."""

from __future__ import annotations

import asyncio
import statistics
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any, TypeVar

import httpx
import psycopg
import pytest
from prometheus_client.parser import text_string_to_metric_families
from starlette.applications import Starlette

from wedperf.sandbox import app as sandbox_app
from wedperf.sandbox.cache import clear_sandbox_cache, guests_key
from wedperf.sandbox.capacity import CapacityLimiter
from wedperf.sandbox.load import MIX, drive_load_async, plan_requests
from wedperf.sandbox.seed import seed_sandbox

T = TypeVar("T")
Scenario = Callable[[httpx.AsyncClient, Starlette], Awaitable[T]]


@dataclass(frozen=True)
class Sandbox:
    database_url: str
    redis_url: str
    biggest_wedding: int  # most guests: the widest gap between cold and warm reads
    vendor_of: dict[int, int]  # wedding id -> one of its vendors


@pytest.fixture
def sandbox(empty_database_url: str, redis_url: str) -> Iterator[Sandbox]:
    with psycopg.connect(empty_database_url) as conn:
        seed_sandbox(
            conn,
            weddings=12,
            days=30,
            seed=11,
            start=date(2026, 9, 1),
            now=datetime(2026, 9, 15, tzinfo=UTC),
        )
        biggest = conn.execute(
            "SELECT id FROM app.weddings ORDER BY guest_count DESC, id LIMIT 1"
        ).fetchone()[0]
        vendor_of = dict(
            conn.execute("SELECT wedding_id, min(id) FROM app.vendors GROUP BY wedding_id")
        )
    # Other tests seed other databases with the same wedding ids: start from a cold cache.
    clear_sandbox_cache(redis_url)
    yield Sandbox(empty_database_url, redis_url, biggest, vendor_of)
    clear_sandbox_cache(redis_url)


def run(sandbox: Sandbox, scenario: Scenario[T], *, capacity: int = 8) -> T:
    """Run `scenario` against a fresh app (lifespan included) in its own event loop."""

    async def main() -> T:
        api = sandbox_app.create_app(sandbox.database_url, sandbox.redis_url, capacity=capacity)
        async with api.router.lifespan_context(api):
            transport = httpx.ASGITransport(app=api)
            async with httpx.AsyncClient(transport=transport, base_url="http://sandbox") as client:
                return await scenario(client, api)

    return asyncio.run(main())


def sample(api: Starlette, name: str, **labels: str) -> float:
    value = api.state.sandbox.metrics.registry.get_sample_value(name, labels)
    return 0.0 if value is None else value


def total_ms(response: httpx.Response) -> float:
    """The app's own measurement (server-timing), queueing included."""
    parts = dict(p.strip().split(";dur=") for p in response.headers["server-timing"].split(","))
    return float(parts["total"])


def queue_ms(response: httpx.Response) -> float:
    parts = dict(p.strip().split(";dur=") for p in response.headers["server-timing"].split(","))
    return float(parts["queue"])


def test_guest_list_cold_reads_postgres_then_warm_reads_redis(sandbox: Sandbox) -> None:
    wedding = sandbox.biggest_wedding
    path = f"/weddings/{wedding}/guests"

    async def scenario(client: httpx.AsyncClient, api: Starlette) -> dict[str, Any]:
        queries = lambda: sample(api, "wedapp_db_queries_total", operation="guest_list")  # noqa: E731
        cold = await client.get(path, headers={"x-wedperf-client": "ios"})
        after_cold = queries()
        ttl = await api.state.sandbox.redis.ttl(guests_key(wedding))
        warm = [await client.get(path) for _ in range(5)]
        after_warm = queries()
        # More cold reads for a fair median: drop the key before each.
        colds = [cold]
        for _ in range(4):
            await api.state.sandbox.redis.delete(guests_key(wedding))
            colds.append(await client.get(path))
        hits = sample(api, "wedapp_cache_lookups_total", operation="guest_list", result="hit")
        misses = sample(api, "wedapp_cache_lookups_total", operation="guest_list", result="miss")
        return {
            "cold": colds,
            "warm": warm,
            "after_cold": after_cold,
            "after_warm": after_warm,
            "ttl": ttl,
            "hits": hits,
            "misses": misses,
        }

    result = run(sandbox, scenario)
    cold, warm = result["cold"], result["warm"]
    assert all(r.status_code == 200 for r in cold + warm)
    assert [r.headers["x-wedperf-cache"] for r in cold] == ["miss"] * 5
    assert [r.headers["x-wedperf-cache"] for r in warm] == ["hit"] * 5
    assert (result["hits"], result["misses"]) == (5, 5)
    # The cold path queried PostgreSQL (wedding lookup + guest list), the warm path did not.
    assert result["after_cold"] == 2
    assert result["after_warm"] == 2
    assert result["ttl"] > 0
    # Same answer either way, straight from the database.
    assert all(r.content == cold[0].content for r in warm)
    with psycopg.connect(sandbox.database_url) as conn:
        guests = conn.execute(
            "SELECT count(*) FROM app.guests WHERE wedding_id = %s", (wedding,)
        ).fetchone()[0]
    assert len(cold[0].json()["guests"]) == guests
    # Cold reads include the modelled ORM cost (>= 2 ms + 0.1 ms/guest, a lower bound that
    # sleeping guarantees); warm reads are one Redis GET.
    assert statistics.median(map(total_ms, cold)) > statistics.median(map(total_ms, warm))


def test_timeline_sync_is_cached_and_lists_items_and_vendors(sandbox: Sandbox) -> None:
    path = f"/weddings/{sandbox.biggest_wedding}/timeline"

    async def scenario(client: httpx.AsyncClient, api: Starlette) -> tuple:
        first = await client.get(path)
        queries = sample(api, "wedapp_db_queries_total", operation="timeline_sync")
        second = await client.get(path)
        again = sample(api, "wedapp_db_queries_total", operation="timeline_sync")
        return first, second, queries, again

    first, second, queries, again = run(sandbox, scenario)
    assert (first.headers["x-wedperf-cache"], second.headers["x-wedperf-cache"]) == ("miss", "hit")
    assert queries == again == 3  # wedding lookup, items, vendors; none for the warm read
    body = first.json()
    assert [i["item"] for i in body["items"]][:3] == ["getting ready", "first look", "ceremony"]
    assert len(body["items"]) == 9
    assert sandbox.vendor_of[sandbox.biggest_wedding] in {v["vendor_id"] for v in body["vendors"]}
    assert second.content == first.content


def test_requests_beyond_capacity_queue_and_their_latency_grows(sandbox: Sandbox) -> None:
    photo = b"\xff" * 500_000
    # Each upload holds the only slot at least this long (modelled processing, by sleeping).
    service_ms = (
        sandbox_app.PHOTO_FIXED_SECONDS + sandbox_app.PHOTO_SECONDS_PER_MB * len(photo) / 1e6
    ) * 1000
    wedding = sandbox.biggest_wedding

    async def scenario(client: httpx.AsyncClient, api: Starlette) -> tuple:
        responses = await asyncio.gather(
            *(client.post(f"/weddings/{wedding}/photos", content=photo) for _ in range(4))
        )
        observed = sample(
            api,
            "wedapp_request_duration_seconds_count",
            operation="photo_upload",
            wedding_id=str(wedding),
        )
        return responses, observed

    responses, observed = run(sandbox, scenario, capacity=1)
    assert [r.status_code for r in responses] == [201] * 4
    assert observed == 4
    by_wait = sorted(responses, key=queue_ms)
    first, last = by_wait[0], by_wait[-1]
    # FIFO with one slot: the last waited for the three ahead of it, each of which held the slot
    # for at least service_ms. Lower bounds only, so no timing flakiness.
    assert queue_ms(last) >= 3 * service_ms
    assert total_ms(last) > total_ms(first)
    assert total_ms(last) >= 4 * service_ms


def test_capacity_limiter_is_fifo_and_resizable() -> None:
    async def scenario() -> tuple[list[int], list[int], int]:
        limiter = CapacityLimiter(1)
        order: list[int] = []
        gate = asyncio.Event()

        async def holder() -> None:
            async with limiter.slot():
                await gate.wait()

        async def waiter(n: int) -> None:
            async with limiter.slot():
                order.append(n)
                await gate.wait()

        tasks = [asyncio.create_task(holder())]
        await asyncio.sleep(0)
        tasks += [asyncio.create_task(waiter(n)) for n in range(4)]
        await asyncio.sleep(0)
        queued = [limiter.busy, limiter.waiting]
        limiter.set_capacity(3)  # scaling up admits the first two waiters at once
        await asyncio.sleep(0)
        admitted = list(order)
        gate.set()
        await asyncio.gather(*tasks)
        return queued, admitted, limiter.busy

    queued, admitted, busy_after = asyncio.run(scenario())
    assert queued == [1, 4]
    assert admitted == [0, 1]
    assert busy_after == 0


def test_metrics_expose_latency_by_operation_and_wedding(sandbox: Sandbox) -> None:
    wedding = sandbox.biggest_wedding
    vendor = sandbox.vendor_of[wedding]

    async def scenario(client: httpx.AsyncClient, api: Starlette) -> httpx.Response:
        await client.get(f"/weddings/{wedding}/guests")
        await client.get(f"/weddings/{wedding}/guests")
        await client.get(f"/weddings/{wedding}/timeline")
        await client.post(f"/weddings/{wedding}/photos", content=b"jpeg" * 1000)
        await client.post(f"/weddings/{wedding}/vendors/{vendor}/notify", json={"message": "Go"})
        return await client.get("/metrics")

    response = run(sandbox, scenario)
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain")
    families = {f.name: f for f in text_string_to_metric_families(response.text)}
    histogram = families["wedapp_request_duration_seconds"]
    counted = {
        (s.labels["operation"], s.labels["wedding_id"]): s.value
        for s in histogram.samples
        if s.name.endswith("_count")
    }
    w = str(wedding)
    assert counted == {
        ("guest_list", w): 2,
        ("timeline_sync", w): 1,
        ("photo_upload", w): 1,
        ("vendor_notify", w): 1,
    }
    assert any(s.name.endswith("_bucket") and "le" in s.labels for s in histogram.samples)
    lookups = {
        (s.labels["operation"], s.labels["result"]): s.value
        for s in families["wedapp_cache_lookups"].samples
        if s.name.endswith("_total")
    }
    assert lookups == {
        ("guest_list", "miss"): 1,
        ("guest_list", "hit"): 1,
        ("timeline_sync", "miss"): 1,
    }


def test_bad_ids_are_400_and_unknown_ones_404(sandbox: Sandbox) -> None:
    wedding = sandbox.biggest_wedding
    other_wedding = next(w for w in sandbox.vendor_of if w != wedding)
    foreign_vendor = sandbox.vendor_of[other_wedding]

    async def scenario(client: httpx.AsyncClient, api: Starlette) -> dict[str, httpx.Response]:
        calls = {
            "letters": client.get("/weddings/abc/guests"),
            "zero": client.get("/weddings/0/timeline"),
            "negative": client.get("/weddings/-3/guests"),
            "huge": client.get("/weddings/12345678901234567890/guests"),
            "bad vendor id": client.post(f"/weddings/{wedding}/vendors/x/notify"),
            "unknown guests": client.get("/weddings/999999/guests"),
            "unknown timeline": client.get("/weddings/999999/timeline"),
            "unknown photos": client.post("/weddings/999999/photos", content=b"x"),
            "foreign vendor": client.post(f"/weddings/{wedding}/vendors/{foreign_vendor}/notify"),
            "empty photo": client.post(f"/weddings/{wedding}/photos", content=b""),
            "bad message": client.post(
                f"/weddings/{wedding}/vendors/{sandbox.vendor_of[wedding]}/notify", content=b"{"
            ),
            "no route": client.get("/nowhere"),
        }
        return {name: await call for name, call in calls.items()}

    responses = run(sandbox, scenario)
    expected = {
        "letters": 400,
        "zero": 400,
        "negative": 400,
        "huge": 400,
        "bad vendor id": 400,
        "unknown guests": 404,
        "unknown timeline": 404,
        "unknown photos": 404,
        "foreign vendor": 404,
        "empty photo": 400,
        "bad message": 400,
        "no route": 404,
    }
    assert {name: r.status_code for name, r in responses.items()} == expected
    assert all("error" in r.json() for r in responses.values())


def test_uploads_and_notifications_write_rows(sandbox: Sandbox) -> None:
    wedding = sandbox.biggest_wedding
    vendor = sandbox.vendor_of[wedding]

    async def scenario(client: httpx.AsyncClient, api: Starlette) -> tuple:
        photo = await client.post(
            f"/weddings/{wedding}/photos",
            content=b"p" * 123_456,
            headers={"x-wedperf-client": "android"},
        )
        note = await client.post(
            f"/weddings/{wedding}/vendors/{vendor}/notify", json={"message": "First dance in 10"}
        )
        return photo, note

    photo, note = run(sandbox, scenario)
    assert photo.status_code == 201 and note.status_code == 201
    with psycopg.connect(sandbox.database_url) as conn:
        stored = conn.execute(
            "SELECT wedding_id, bytes FROM app.photos WHERE id = %s", (photo.json()["photo_id"],)
        ).fetchone()
        notification = conn.execute(
            "SELECT wedding_id, vendor_id, message, sent_at <= delivered_at, acknowledged_at "
            "FROM app.vendor_notifications WHERE id = %s",
            (note.json()["notification_id"],),
        ).fetchone()
    assert stored == (wedding, 123_456)
    assert notification == (wedding, vendor, "First dance in 10", True, None)


def test_capacity_admin_and_health(sandbox: Sandbox) -> None:
    async def scenario(client: httpx.AsyncClient, api: Starlette) -> dict[str, Any]:
        return {
            "health": await client.get("/healthz"),
            "initial": await client.get("/admin/capacity"),
            "scaled": await client.put("/admin/capacity", json={"replicas": 5}),
            "zero": await client.put("/admin/capacity", json={"replicas": 0}),
            "text": await client.put("/admin/capacity", json={"replicas": "5"}),
            "bool": await client.put("/admin/capacity", json={"replicas": True}),
            "not json": await client.put("/admin/capacity", content=b"five"),
            "after": await client.get("/admin/capacity"),
            "gauge": sample(api, "wedapp_capacity_replicas"),
        }

    r = run(sandbox, scenario, capacity=2)
    assert r["health"].json()["status"] == "ok"
    assert r["initial"].json()["replicas"] == 2
    assert r["scaled"].json()["replicas"] == 5
    assert [r[k].status_code for k in ("zero", "text", "bool", "not json")] == [400] * 4
    assert r["after"].json() == {"replicas": 5, "busy": 0, "queued": 0}
    assert r["gauge"] == 5


def test_load_generator_mixes_operations_like_a_wedding_day(sandbox: Sandbox) -> None:
    plan = plan_requests([1, 2, 3], 2000, seed=4)
    assert plan == plan_requests([1, 2, 3], 2000, seed=4)
    share = {op: sum(r.operation == op for r in plan) / len(plan) for op in MIX}
    assert share["guest_list"] + share["timeline_sync"] > 0.5  # reads dominate
    assert share["photo_upload"] > MIX["photo_upload"]  # a photo decision is a burst

    weddings = sorted(sandbox.vendor_of)[:4]

    async def scenario(client: httpx.AsyncClient, api: Starlette) -> Any:
        return await drive_load_async(
            "http://sandbox",
            weddings,
            requests=60,
            concurrency=6,
            seed=2,
            transport=httpx.ASGITransport(app=api),
        )

    summary = run(sandbox, scenario)
    assert summary.requests == 60
    assert summary.errors == 0
    assert sum(s.count for s in summary.operations.values()) == 60
    assert set(summary.operations) == set(MIX)
    for stats in summary.operations.values():
        assert 0 < stats.p50_ms <= stats.p95_ms <= stats.p99_ms <= stats.max_ms
