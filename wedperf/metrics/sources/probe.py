"""HTTP probe source: times configured endpoints, per-wedding ones once per live wedding."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime

import httpx

from wedperf.calendar.model import Wedding
from wedperf.config import ProbeSettings, ProbeTarget
from wedperf.metrics.clients import UNKNOWN, client_kind
from wedperf.metrics.model import LATENCY, CollectWindow, Sample, SourceError
from wedperf.mobile.settings import DEFAULT_USER_AGENTS

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class _Probe:
    target: ProbeTarget
    url: str
    wedding_id: str | None
    client: str = UNKNOWN


def probed_weddings(window: CollectWindow, max_weddings: int) -> list[Wedding]:
    """The live weddings of `window` that per-wedding targets probe: at most `max_weddings`,
    nearest ceremonies first (when there are more, probe the ones about to matter most)."""
    weddings = sorted(
        window.live_weddings, key=lambda w: (abs(w.starts_at - window.end), w.wedding_id)
    )
    return weddings[:max_weddings]


class ProbeSource:
    """Times each target; a target with a client profile (`clients[target.name]`, or a
    `client` field on the target itself) sends that client's User-Agent and
    `x-wedperf-client` header and its samples carry the client kind."""

    name = "probe"

    def __init__(
        self,
        settings: ProbeSettings,
        *,
        transport: httpx.AsyncBaseTransport | None = None,
        clients: Mapping[str, str] | None = None,
        user_agents: Mapping[str, str] | None = None,
    ) -> None:
        self.settings = settings
        self.transport = transport
        self.clients = dict(clients or {})
        self.user_agents = dict(DEFAULT_USER_AGENTS if user_agents is None else user_agents)
        self.last_errors: list[str] = []

    def client_of(self, target: ProbeTarget) -> str:
        """The target's client profile: its own `client` field if set, else
        `clients[target.name]` (WEDPERF_RUM__PROBE_CLIENTS), else unknown."""
        declared = client_kind(target.client)
        return declared if declared != UNKNOWN else client_kind(self.clients.get(target.name))

    def plan(self, window: CollectWindow) -> list[_Probe]:
        """The requests of one round: platform targets once, per-wedding targets per wedding."""
        weddings = probed_weddings(window, self.settings.max_weddings)
        probes = []
        for target in self.settings.targets:
            client = self.client_of(target)
            if target.per_wedding:
                probes.extend(
                    _Probe(target, self._url(target, w.wedding_id), w.wedding_id, client)
                    for w in weddings
                )
            else:
                probes.append(_Probe(target, self._url(target, None), None, client))
        return probes

    def headers(self, client: str) -> dict[str, str]:
        """Request headers of a probe with this client profile."""
        if client == UNKNOWN:
            return {"user-agent": "wedperf-probe", "x-wedperf-client": "probe"}
        agent = self.user_agents.get(client, f"wedperf-probe ({client})")
        return {"user-agent": agent, "x-wedperf-client": client}

    def _url(self, target: ProbeTarget, wedding_id: str | None) -> str:
        return target.url.format(base_url=self.settings.base_url.rstrip("/"), wedding_id=wedding_id)

    def collect(self, window: CollectWindow) -> list[Sample]:
        probes = self.plan(window)
        if not probes:
            return []
        outcomes = asyncio.run(self._run(probes))
        samples = [o for o in outcomes if isinstance(o, Sample)]
        self.last_errors = [o for o in outcomes if isinstance(o, str)]
        for error in self.last_errors[:5]:
            log.warning("probe failed: %s", error)
        if not samples:
            raise SourceError(f"all {len(probes)} probes failed; first: {self.last_errors[0]}")
        return samples

    async def _run(self, probes: list[_Probe]) -> list[Sample | str]:
        limit = asyncio.Semaphore(self.settings.concurrency)
        async with httpx.AsyncClient(
            timeout=self.settings.timeout_seconds, transport=self.transport
        ) as client:
            return await asyncio.gather(*(self._one(client, limit, p) for p in probes))

    async def _one(
        self, client: httpx.AsyncClient, limit: asyncio.Semaphore, probe: _Probe
    ) -> Sample | str:
        async with limit:
            started_at = datetime.now(UTC)
            began = time.perf_counter()
            try:
                response = await client.request(
                    probe.target.method,
                    probe.url,
                    headers=self.headers(probe.client),
                )
            except httpx.TimeoutException:
                return f"{probe.url}: timed out after {self.settings.timeout_seconds}s"
            except httpx.HTTPError as exc:
                return f"{probe.url}: {type(exc).__name__}: {exc}"
            elapsed = time.perf_counter() - began
        if response.status_code >= 400:
            return f"{probe.url}: HTTP {response.status_code}"
        series = (
            probe.target.name
            if probe.wedding_id is None
            else (f"{probe.target.name}:{probe.wedding_id}")
        )
        return Sample(
            ts=started_at,
            source=self.name,
            metric=LATENCY,
            operation=probe.target.operation,
            series=series,
            wedding_id=probe.wedding_id,
            attributed_by="url" if probe.wedding_id else "window",
            value=elapsed,
            client=probe.client,
        )
