"""HTTP probe source: times configured endpoints, per-wedding ones once per live wedding."""

from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import dataclass
from datetime import UTC, datetime

import httpx

from wedperf.config import ProbeSettings, ProbeTarget
from wedperf.metrics.model import LATENCY, CollectWindow, Sample, SourceError

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class _Probe:
    target: ProbeTarget
    url: str
    wedding_id: str | None


class ProbeSource:
    name = "probe"

    def __init__(
        self, settings: ProbeSettings, *, transport: httpx.AsyncBaseTransport | None = None
    ) -> None:
        self.settings = settings
        self.transport = transport
        self.last_errors: list[str] = []

    def plan(self, window: CollectWindow) -> list[_Probe]:
        """The requests of one round: platform targets once, per-wedding targets per wedding."""
        # Nearest ceremonies first: when there are more live weddings than the cap, probe the
        # ones about to matter most.
        weddings = sorted(window.live_weddings, key=lambda w: abs(w.starts_at - window.end))
        weddings = weddings[: self.settings.max_weddings]
        probes = []
        for target in self.settings.targets:
            if target.per_wedding:
                probes.extend(
                    _Probe(target, self._url(target, w.wedding_id), w.wedding_id) for w in weddings
                )
            else:
                probes.append(_Probe(target, self._url(target, None), None))
        return probes

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
                    headers={"user-agent": "wedperf-probe", "x-wedperf-client": "probe"},
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
        )
