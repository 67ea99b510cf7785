"""A synthetic mobile client for the sandbox: the wedding-day mix of `wedperf.sandbox.load`,
sent as the iOS and Android apps would, over the networks phones are on, reported as RUM
beacons to POST /rum.

Each request goes to the sandbox app with the app's User-Agent and `x-wedperf-client`. What
the device would see is the app's answer time plus the network's: one round trip, the request
body over the uplink and the response over the downlink, per the request's network profile
(`NETWORKS`). With `simulate_network` the client also waits that long, so a phone on 3G paces
its next request like a real one. Beacons are flushed to the RUM endpoint in batches; a batch
answered 503 or not at all is resent once (it is idempotent).
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import httpx
import numpy as np

from wedperf.mobile.settings import APP_SCREENS, DEFAULT_USER_AGENTS
from wedperf.sandbox.load import plan_requests


@dataclass(frozen=True)
class NetworkProfile:
    """A connection as a phone sees it: round-trip time and throughput each way."""

    rtt_s: float
    down_bits_per_s: float
    up_bits_per_s: float

    def added_seconds(self, sent_bytes: int, received_bytes: int) -> float:
        """Time the network adds to one request/response on a warm connection."""
        return (
            self.rtt_s
            + 8 * sent_bytes / self.up_bits_per_s
            + 8 * received_bytes / self.down_bits_per_s
        )


# Lighthouse's throttling presets: "Slow 4G" (150 ms, 1.6 Mbit/s down, 750 kbit/s up; about
# the bottom quarter of 4G connections), "regular 3G" (300 ms, 700 kbit/s) and its desktop
# preset (40 ms, 10 Mbit/s) for a phone on venue wifi.
NETWORKS: dict[str, NetworkProfile] = {
    "wifi": NetworkProfile(0.040, 10_000_000, 10_000_000),
    "4g": NetworkProfile(0.150, 1_600_000, 750_000),
    "3g": NetworkProfile(0.300, 700_000, 700_000),
}
# Guests at a venue: many on its wifi, most of the rest on 4G, some on 3G (an assumption).
NETWORK_MIX: dict[str, float] = {"wifi": 0.45, "4g": 0.40, "3g": 0.15}
MOBILE_MIX: dict[str, float] = {"ios": 0.55, "android": 0.45}
APP_VERSIONS = {"ios": "5.2.0", "android": "5.2.1"}


@dataclass(frozen=True)
class MobileLoadSummary:
    requests: int
    errors: int
    beacons_sent: int
    beacons_stored: int
    rum_errors: list[str]
    # p95 milliseconds per "client/operation" as the devices saw them (network included).
    p95_ms: dict[str, float] = field(default_factory=dict)
    # Beacons the endpoint dropped for naming a wedding perf.weddings does not know (the
    # calendar was not synced yet).
    beacons_unknown_wedding: int = 0

    def lines(self) -> list[str]:
        out = [
            f"{self.requests} mobile requests, {self.errors} errors; {self.beacons_sent} "
            f"beacons sent, {self.beacons_stored} stored"
            + (
                f", {self.beacons_unknown_wedding} dropped (unknown wedding)"
                if self.beacons_unknown_wedding
                else ""
            )
            + (f", {len(self.rum_errors)} batch errors" if self.rum_errors else "")
        ]
        out += [f"  {key:26s} p95={value:8.1f} ms" for key, value in self.p95_ms.items()]
        return out


async def drive_mobile_client_async(
    sandbox_base_url: str,
    rum_url: str,
    token: str | None,
    wedding_ids: Sequence[int],
    *,
    requests: int = 200,
    concurrency: int = 4,
    seed: int = 0,
    batch_size: int = 50,
    networks: Mapping[str, NetworkProfile] = NETWORKS,
    network_mix: Mapping[str, float] = NETWORK_MIX,
    simulate_network: bool = True,
    sandbox_transport: httpx.AsyncBaseTransport | None = None,
    rum_transport: httpx.AsyncBaseTransport | None = None,
    timeout: float = 30.0,
) -> MobileLoadSummary:
    """Send `requests` wedding-day requests as mobile clients and post their beacons to
    `rum_url` (with `token` as bearer token). Deterministic plan per `seed`.

    Writes through the sandbox app (photos, notifications) and into perf.samples through
    the RUM endpoint.
    """
    if concurrency < 1 or batch_size < 1:
        raise ValueError("concurrency and batch_size must be at least 1")
    unknown = set(network_mix) - set(networks)
    if unknown:
        raise ValueError(f"network mix names unknown profiles: {', '.join(sorted(unknown))}")
    plan = plan_requests(wedding_ids, requests, seed)
    rng = np.random.default_rng(seed + 7)
    kinds, kind_p = _choices(MOBILE_MIX)
    nets, net_p = _choices(network_mix)
    clients = [kinds[i] for i in rng.choice(len(kinds), size=len(plan), p=kind_p)]
    on_network = [nets[i] for i in rng.choice(len(nets), size=len(plan), p=net_p)]
    payload = bytes(max((r.photo_bytes for r in plan), default=0))
    vendors: dict[int, list[int]] = {}
    beacons: list[dict[str, Any]] = []
    durations: dict[str, list[float]] = {}
    errors = 0
    queue: asyncio.Queue[int] = asyncio.Queue()
    for index in range(len(plan)):
        queue.put_nowait(index)

    async with httpx.AsyncClient(
        base_url=sandbox_base_url, transport=sandbox_transport, timeout=timeout
    ) as http:

        async def one(index: int) -> None:
            nonlocal errors
            item, client, network = plan[index], clients[index], on_network[index]
            headers = {"user-agent": DEFAULT_USER_AGENTS[client], "x-wedperf-client": client}
            base = f"/weddings/{item.wedding_id}"
            started_at = datetime.now(UTC)
            began = time.perf_counter()
            sent = 0
            try:
                if item.operation == "guest_list":
                    response = await http.get(f"{base}/guests", headers=headers)
                elif item.operation == "timeline_sync":
                    response = await http.get(f"{base}/timeline", headers=headers)
                elif item.operation == "photo_upload":
                    body = payload[: item.photo_bytes]
                    sent = len(body)
                    response = await http.post(f"{base}/photos", content=body, headers=headers)
                else:
                    if item.wedding_id not in vendors:  # learnt once, not timed
                        timeline = await http.get(f"{base}/timeline", headers=headers)
                        found = timeline.json().get("vendors", []) if timeline.is_success else []
                        vendors[item.wedding_id] = [v["vendor_id"] for v in found]
                    if not vendors[item.wedding_id]:
                        errors += 1
                        return
                    vendor_id = vendors[item.wedding_id][index % len(vendors[item.wedding_id])]
                    started_at, began = datetime.now(UTC), time.perf_counter()
                    response = await http.post(
                        f"{base}/vendors/{vendor_id}/notify",
                        json={"message": "On our way to the venue"},
                        headers=headers,
                    )
                    sent = 40
            except httpx.HTTPError:
                errors += 1
                return
            served = time.perf_counter() - began
            if response.status_code >= 400:
                errors += 1
                return
            network_s = networks[network].added_seconds(sent, len(response.content))
            if simulate_network:
                await asyncio.sleep(network_s)
            duration_ms = (served + network_s) * 1000
            durations.setdefault(f"{client}/{item.operation}", []).append(duration_ms)
            beacons.append(
                {
                    "beacon_id": uuid.uuid4().hex,
                    "screen": APP_SCREENS[item.operation],
                    "operation": item.operation,
                    "duration_ms": round(duration_ms, 3),
                    "network": network,
                    "app_version": APP_VERSIONS[client],
                    "client": client,
                    "wedding_id": str(item.wedding_id),
                    "ts": started_at.isoformat(),
                }
            )

        async def worker() -> None:
            while not queue.empty():
                await one(queue.get_nowait())

        await asyncio.gather(*(worker() for _ in range(concurrency)))

    stored, unknown, rum_errors = await _post_beacons(
        rum_url, token, beacons, batch_size, rum_transport
    )
    return MobileLoadSummary(
        requests=len(plan),
        errors=errors,
        beacons_sent=len(beacons),
        beacons_stored=stored,
        rum_errors=rum_errors,
        p95_ms={key: float(np.percentile(values, 95)) for key, values in sorted(durations.items())},
        beacons_unknown_wedding=unknown,
    )


def drive_mobile_client(
    sandbox_base_url: str,
    rum_url: str,
    token: str | None,
    wedding_ids: Sequence[int],
    **options: Any,
) -> MobileLoadSummary:
    """Blocking wrapper of `drive_mobile_client_async` (same options)."""
    return asyncio.run(
        drive_mobile_client_async(sandbox_base_url, rum_url, token, wedding_ids, **options)
    )


async def _post_beacons(
    rum_url: str,
    token: str | None,
    beacons: list[dict[str, Any]],
    batch_size: int,
    transport: httpx.AsyncBaseTransport | None,
) -> tuple[int, int, list[str]]:
    """(stored, dropped for an unknown wedding, problems) over every batch."""
    headers = {"authorization": f"Bearer {token}"} if token else {}
    stored, unknown, problems = 0, 0, []
    async with httpx.AsyncClient(transport=transport, timeout=30.0, headers=headers) as rum:
        for start in range(0, len(beacons), batch_size):
            batch = {"beacons": beacons[start : start + batch_size]}
            for attempt in (1, 2):  # a batch is idempotent: resend once after a 503 or a drop
                try:
                    response = await rum.post(rum_url, json=batch)
                except httpx.HTTPError as exc:
                    outcome = f"batch {start // batch_size}: {type(exc).__name__}"
                else:
                    if response.status_code == 200:
                        answer = response.json()
                        stored += answer["stored"]
                        unknown += answer.get("unknown_wedding", 0)
                        break
                    outcome = f"batch {start // batch_size}: HTTP {response.status_code}"
                    if response.status_code != 503:
                        problems.append(f"{outcome} {response.text[:200]}")
                        break
                if attempt == 2:
                    problems.append(outcome)
    return stored, unknown, problems


def _choices(mix: Mapping[str, float]) -> tuple[list[str], np.ndarray]:
    names = list(mix)
    weights = np.asarray([mix[n] for n in names], dtype=float)
    return names, weights / weights.sum()
