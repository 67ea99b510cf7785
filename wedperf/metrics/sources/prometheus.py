"""Prometheus HTTP API source: one `query_range` per operation.

Response format (documented at prometheus.io, "HTTP API", range queries):
``{"status": "success", "data": {"resultType": "matrix", "result": [{"metric": {...},
"values": [[<unix seconds>, "<value>"], ...]}]}}``; errors carry ``errorType`` and ``error``.
"""

from __future__ import annotations

import math
from datetime import UTC, datetime
from typing import Any

import httpx

from wedperf.config import PrometheusSettings
from wedperf.metrics.clients import client_kind
from wedperf.metrics.model import LATENCY, CollectWindow, Sample, SourceError


class PrometheusSource:
    """`client_label` names the series label that carries the client kind (ios, android,
    web; wedperf.metrics.clients.client_kind reads it); series without it are 'unknown'.
    Keep the label in the PromQL's `by (...)` clause, or aggregation drops it."""

    name = "prometheus"

    def __init__(
        self,
        settings: PrometheusSettings,
        *,
        transport: httpx.BaseTransport | None = None,
        client_label: str | None = "client",
    ) -> None:
        if not settings.url:
            raise ValueError("PrometheusSource needs settings.url")
        self.settings = settings
        self.client_label = client_label
        headers = {}
        if settings.bearer_token is not None:
            headers["Authorization"] = f"Bearer {settings.bearer_token.get_secret_value()}"
        self._client_args: dict[str, Any] = {
            "base_url": settings.url.rstrip("/"),
            "timeout": settings.timeout_seconds,
            "headers": headers,
            "transport": transport,
        }

    def collect(self, window: CollectWindow) -> list[Sample]:
        samples: list[Sample] = []
        with httpx.Client(**self._client_args) as client:
            for operation, promql in self.settings.queries.items():
                result = self._query_range(client, promql, window)
                samples.extend(self._samples(operation, result))
        return samples

    def _query_range(
        self, client: httpx.Client, promql: str, window: CollectWindow
    ) -> list[dict[str, Any]]:
        params = {
            "query": promql,
            "start": f"{window.start.timestamp():.3f}",
            # query_range includes its end; stop one step short to keep [start, end).
            "end": f"{window.end.timestamp() - self.settings.step_seconds:.3f}",
            "step": f"{self.settings.step_seconds}s",
        }
        where = f"prometheus at {self._client_args['base_url']}"
        try:
            response = client.get("/api/v1/query_range", params=params)
        except httpx.TimeoutException as exc:
            raise SourceError(
                f"{where} timed out after {self.settings.timeout_seconds}s ({type(exc).__name__})"
            ) from exc
        except httpx.HTTPError as exc:
            raise SourceError(f"{where} is unreachable: {exc}") from exc
        try:
            body = response.json()
        except ValueError:
            raise SourceError(
                f"{where} returned HTTP {response.status_code} with a non-JSON body "
                f"({response.headers.get('content-type', 'no content-type')})"
            ) from None
        if not isinstance(body, dict) or body.get("status") != "success":
            error = body.get("error") if isinstance(body, dict) else None
            raise SourceError(
                f"{where} rejected the query (HTTP {response.status_code}): "
                f"{error or 'response is not a Prometheus API envelope'}"
            )
        data = body.get("data")
        if not isinstance(data, dict) or data.get("resultType") != "matrix":
            got = data.get("resultType") if isinstance(data, dict) else type(data).__name__
            raise SourceError(f"{where} returned resultType {got!r}, expected 'matrix'")
        result = data.get("result")
        if not isinstance(result, list):
            raise SourceError(f"{where} returned a matrix without a result list")
        return result

    def _samples(self, operation: str, result: list[dict[str, Any]]) -> list[Sample]:
        label = self.settings.wedding_label
        samples = []
        for series in result:
            try:
                labels: dict[str, str] = series["metric"]
                values = series["values"]
            except (KeyError, TypeError):
                raise SourceError("prometheus returned a series without metric/values") from None
            wedding_id = labels.get(label) or None
            client = client_kind(labels.get(self.client_label)) if self.client_label else "unknown"
            series_key = ",".join(f"{k}={labels[k]}" for k in sorted(labels)) or "{}"
            for point in values:
                try:
                    ts, raw = float(point[0]), float(point[1])
                except (TypeError, ValueError, IndexError):
                    raise SourceError(f"prometheus returned a malformed point {point!r}") from None
                if not math.isfinite(raw):
                    # NaN: no requests in that step (a gap, not a zero latency).
                    continue
                samples.append(
                    Sample(
                        ts=datetime.fromtimestamp(ts, UTC),
                        source=self.name,
                        metric=LATENCY,
                        operation=operation,
                        series=series_key,
                        wedding_id=wedding_id,
                        attributed_by="label" if wedding_id else "window",
                        value=raw,
                        client=client,
                    )
                )
        return samples
