"""Prometheus source against payloads in the HTTP API's documented format.

Prometheus itself is not run here; its `query_range` responses are reproduced exactly as the
documentation shows them (prometheus.io/docs/prometheus/latest/querying/api/).
"""

from __future__ import annotations

import json
from datetime import UTC, datetime

import httpx
import pytest

from wedperf.config import PrometheusSettings
from wedperf.metrics.model import CollectWindow, SourceError
from wedperf.metrics.sources import PrometheusSource

WINDOW = CollectWindow(
    start=datetime(2026, 10, 17, 20, 0, tzinfo=UTC), end=datetime(2026, 10, 17, 20, 3, tzinfo=UTC)
)
T = WINDOW.start.timestamp()


def matrix(result: list[dict]) -> dict:
    return {"status": "success", "data": {"resultType": "matrix", "result": result}}


def source(handler, **overrides) -> PrometheusSource:
    settings = PrometheusSettings(
        url="http://prometheus.test:9090",
        queries={"guest_list": "histogram_quantile(0.95, sum by (le, wedding_id) (x))"},
        **overrides,
    )
    return PrometheusSource(settings, transport=httpx.MockTransport(handler))


def test_matrix_becomes_samples_attributed_by_label_with_gaps_skipped() -> None:
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(
            200,
            json=matrix(
                [
                    {
                        "metric": {"wedding_id": "42", "job": "wedapp"},
                        "values": [[T, "0.120"], [T + 60, "NaN"], [T + 120, "0.340"]],
                    },
                    {"metric": {"job": "wedapp"}, "values": [[T, "0.05"]]},
                ]
            ),
        )

    samples = source(handler, bearer_token="s3cret").collect(WINDOW)

    request = seen[0]
    assert request.url.path == "/api/v1/query_range"
    assert request.url.params["step"] == "60s"
    assert float(request.url.params["start"]) == T
    assert float(request.url.params["end"]) == T + 120  # [start, end): last step excluded
    assert request.headers["authorization"] == "Bearer s3cret"
    by_wedding = [s for s in samples if s.wedding_id == "42"]
    assert [(s.ts.timestamp(), s.value) for s in by_wedding] == [(T, 0.12), (T + 120, 0.34)]
    assert {s.attributed_by for s in by_wedding} == {"label"}
    assert by_wedding[0].series == "job=wedapp,wedding_id=42"
    platform = [s for s in samples if s.wedding_id is None]
    assert len(platform) == 1 and platform[0].attributed_by == "window"
    assert all(s.operation == "guest_list" and s.source == "prometheus" for s in samples)


@pytest.mark.parametrize(
    ("response", "message"),
    [
        (
            httpx.Response(
                400,
                json={"status": "error", "errorType": "bad_data", "error": "parse error at char 5"},
            ),
            "rejected the query.*parse error at char 5",
        ),
        (
            httpx.Response(200, text="<html>login</html>", headers={"content-type": "text/html"}),
            "non-JSON body.*text/html",
        ),
        (
            httpx.Response(
                200, json={"status": "success", "data": {"resultType": "vector", "result": []}}
            ),
            "resultType 'vector'",
        ),
        (
            httpx.Response(200, json=matrix([{"metric": {}, "values": [["x", "1"]]}])),
            "malformed point",
        ),
        (httpx.Response(200, content=json.dumps([1, 2]).encode()), "not a Prometheus API"),
    ],
)
def test_garbage_gives_a_clear_error(response: httpx.Response, message: str) -> None:
    with pytest.raises(SourceError, match=message):
        source(lambda request: response).collect(WINDOW)


def test_timeout_names_the_source_and_the_limit() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        raise httpx.ReadTimeout("timed out", request=request)

    with pytest.raises(SourceError, match=r"prometheus at http://prometheus.test:9090 timed out"):
        source(handler, timeout_seconds=2.5).collect(WINDOW)
