"""A wedding-day load generator for the sandbox app (httpx.AsyncClient).

The mix follows the day (docs/sandbox.md, "What load looks like"): guests and staff refresh the
guest list and the timeline all the time, vendors get pinged around timeline items, and photo
uploads come in bursts (a table's worth of phones after the first dance). The request plan is
drawn from `seed`, so two runs send the same requests; their latencies are what they are.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Sequence
from dataclasses import dataclass, field

import httpx
import numpy as np

# Share of "decisions" per operation; a photo decision becomes a burst of uploads.
MIX = {"guest_list": 0.42, "timeline_sync": 0.33, "photo_upload": 0.10, "vendor_notify": 0.15}
PHOTO_BURST_MEAN = 4  # uploads per burst (geometric)
# Phone photos after upload-side compression: median ~1.5 MB, clipped to 50 KB .. 8 MB.
PHOTO_MEDIAN_BYTES, PHOTO_SIGMA, PHOTO_RANGE = 1_500_000, 0.6, (50_000, 8_000_000)
CLIENTS = ("ios", "android", "web")


@dataclass(frozen=True)
class OperationStats:
    """Latency of one operation as the client saw it, in milliseconds."""

    count: int
    errors: int
    p50_ms: float
    p95_ms: float
    p99_ms: float
    max_ms: float


@dataclass(frozen=True)
class LoadSummary:
    requests: int
    errors: int
    duration_seconds: float
    operations: dict[str, OperationStats]
    status_counts: dict[int, int] = field(default_factory=dict)

    def lines(self) -> list[str]:
        out = [
            f"{self.requests} requests, {self.errors} errors in {self.duration_seconds:.2f} s",
        ]
        for name, s in self.operations.items():
            out.append(
                f"  {name:14s} n={s.count:5d} err={s.errors:3d} p50={s.p50_ms:8.1f} ms "
                f"p95={s.p95_ms:8.1f} ms p99={s.p99_ms:8.1f} ms max={s.max_ms:8.1f} ms"
            )
        return out


@dataclass(frozen=True)
class _Request:
    operation: str
    wedding_id: int
    photo_bytes: int
    client: str


def plan_requests(wedding_ids: Sequence[int], requests: int, seed: int) -> list[_Request]:
    """The `requests` requests to send, in order; deterministic for a seed."""
    if not wedding_ids:
        raise ValueError("need at least one wedding id to drive load against")
    rng = np.random.default_rng(seed)
    names = list(MIX)
    shares = np.asarray([MIX[n] for n in names])
    plan: list[_Request] = []
    while len(plan) < requests:
        operation = names[int(rng.choice(len(names), p=shares / shares.sum()))]
        wedding_id = int(wedding_ids[int(rng.integers(len(wedding_ids)))])
        burst = int(rng.geometric(1 / PHOTO_BURST_MEAN)) if operation == "photo_upload" else 1
        for _ in range(burst):
            drawn = rng.lognormal(np.log(PHOTO_MEDIAN_BYTES), PHOTO_SIGMA)
            size = int(np.clip(drawn, *PHOTO_RANGE))
            client = CLIENTS[int(rng.integers(len(CLIENTS)))]
            plan.append(_Request(operation, wedding_id, size, client))
    return plan[:requests]


async def drive_load_async(
    base_url: str,
    wedding_ids: Sequence[int],
    *,
    requests: int,
    concurrency: int,
    seed: int,
    transport: httpx.AsyncBaseTransport | None = None,
    timeout: float = 30.0,
) -> LoadSummary:
    """Send the planned requests with `concurrency` in flight; summarise client-side latency.

    `transport` lets tests drive an in-process app (httpx.ASGITransport).
    Writes through the app: photo rows and vendor notification rows.
    """
    if concurrency < 1:
        raise ValueError(f"concurrency must be at least 1, got {concurrency}")
    plan = plan_requests(wedding_ids, requests, seed)
    vendors: dict[int, list[int]] = {}
    pick = np.random.default_rng(seed + 1)
    latencies: dict[str, list[float]] = {name: [] for name in MIX}
    errors: dict[str, int] = dict.fromkeys(MIX, 0)
    statuses: dict[int, int] = {}
    queue: asyncio.Queue[_Request] = asyncio.Queue()
    for item in plan:
        queue.put_nowait(item)
    payload = bytes(max(r.photo_bytes for r in plan)) if plan else b""

    async with httpx.AsyncClient(base_url=base_url, transport=transport, timeout=timeout) as http:

        async def timeline_vendors(wedding_id: int, headers: dict[str, str]) -> list[int]:
            if wedding_id not in vendors:
                response = await http.get(f"/weddings/{wedding_id}/timeline", headers=headers)
                found = response.json().get("vendors", []) if response.status_code == 200 else []
                vendors[wedding_id] = [v["vendor_id"] for v in found]
            return vendors[wedding_id]

        async def send(item: _Request) -> None:
            headers = {"x-wedperf-client": item.client}
            base = f"/weddings/{item.wedding_id}"
            began = time.perf_counter()
            try:
                if item.operation == "guest_list":
                    response = await http.get(f"{base}/guests", headers=headers)
                elif item.operation == "timeline_sync":
                    response = await http.get(f"{base}/timeline", headers=headers)
                elif item.operation == "photo_upload":
                    body = payload[: item.photo_bytes]
                    response = await http.post(f"{base}/photos", content=body, headers=headers)
                else:
                    # The notify target is a vendor of the wedding, learnt from its timeline
                    # (not timed: that fetch is the app's timeline_sync, not a notification).
                    known = await timeline_vendors(item.wedding_id, headers)
                    if not known:
                        errors[item.operation] += 1
                        return
                    vendor_id = known[int(pick.integers(len(known)))]
                    began = time.perf_counter()
                    response = await http.post(
                        f"{base}/vendors/{vendor_id}/notify",
                        json={"message": "Heads up: next timeline item soon"},
                        headers=headers,
                    )
            except httpx.HTTPError:
                errors[item.operation] += 1
                return
            latencies[item.operation].append((time.perf_counter() - began) * 1000)
            statuses[response.status_code] = statuses.get(response.status_code, 0) + 1
            if response.status_code >= 400:
                errors[item.operation] += 1

        async def worker() -> None:
            while not queue.empty():
                await send(queue.get_nowait())

        started = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(concurrency)))
        duration = time.perf_counter() - started

    operations = {
        name: _stats(latencies[name], errors[name])
        for name in MIX
        if latencies[name] or errors[name]
    }
    return LoadSummary(
        requests=len(plan),
        errors=sum(errors.values()),
        duration_seconds=duration,
        operations=operations,
        status_counts=dict(sorted(statuses.items())),
    )


def drive_load(
    base_url: str, wedding_ids: Sequence[int], *, requests: int, concurrency: int, seed: int
) -> LoadSummary:
    """Blocking wrapper of `drive_load_async` for a running sandbox at `base_url`."""
    return asyncio.run(
        drive_load_async(
            base_url, wedding_ids, requests=requests, concurrency=concurrency, seed=seed
        )
    )


def _stats(values: list[float], errors: int) -> OperationStats:
    if not values:
        return OperationStats(0, errors, 0.0, 0.0, 0.0, 0.0)
    array = np.asarray(values)
    p50, p95, p99 = np.percentile(array, [50, 95, 99]).tolist()
    return OperationStats(len(values), errors, p50, p95, p99, float(array.max()))
