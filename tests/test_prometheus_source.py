"""Prometheus source against payloads in the HTTP API's documented format.

Prometheus itself is not run here; its `query_range` responses are reproduced exactly as the
documentation shows them (prometheus.io/docs/prometheus/latest/querying/api/).
"""

from __future__ import annotations

import json
import math
from datetime import UTC, datetime

import httpx
import pytest

from wedperf.config import PrometheusSettings
from wedperf.metrics.model import LATENCY_BUCKET, CollectWindow, SourceError
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
        histograms={"guest_list": 'wedapp_request_duration_seconds_bucket{operation="guest_list"}'},
        **overrides,
    )
    return PrometheusSource(settings, transport=httpx.MockTransport(handler))


def test_bucket_increases_become_samples_attributed_by_label_with_gaps_skipped() -> None:
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        # Wedding 42: two steps with requests (one step is a gap, NaN); a platform-wide
        # series whose only step saw no request (its +Inf increase is 0).
        return httpx.Response(
            200,
            json=matrix(
                [
                    {
                        "metric": {"wedding_id": "42", "job": "wedapp", "le": "0.5"},
                        "values": [[T + 60, "7"], [T + 120, "NaN"], [T + 180, "2.5"]],
                    },
                    {
                        "metric": {"wedding_id": "42", "job": "wedapp", "le": "+Inf"},
                        "values": [[T + 60, "9"], [T + 120, "NaN"], [T + 180, "3"]],
                    },
                    {"metric": {"job": "wedapp", "le": "+Inf"}, "values": [[T + 60, "0"]]},
                ]
            ),
        )

    samples = source(handler, bearer_token="s3cret").collect(WINDOW)

    request = seen[0]
    assert request.url.path == "/api/v1/query_range"
    assert request.url.params["query"] == (
        "sum by (le, wedding_id, client) (increase("
        'wedapp_request_duration_seconds_bucket{operation="guest_list"}[60s]))'
    )
    assert request.url.params["step"] == "60s"
    # A point holds the increase over the step before it: [start, end) is start+step .. end.
    assert float(request.url.params["start"]) == T + 60
    assert float(request.url.params["end"]) == T + 180
    assert request.headers["authorization"] == "Bearer s3cret"
    by_step = {(s.ts.timestamp(), s.le): s.value for s in samples}
    # Stamped at the start of the step each counts, so a minute's requests land in it.
    assert by_step == {(T, 0.5): 7, (T, math.inf): 9, (T + 120, 0.5): 2.5, (T + 120, math.inf): 3}
    assert {s.wedding_id for s in samples} == {"42"}  # the idle platform step stores nothing
    assert {s.attributed_by for s in samples} == {"label"}
    assert {s.metric for s in samples} == {LATENCY_BUCKET}
    assert {s.series for s in samples} == {
        "job=wedapp,wedding_id=42|le=0.5",
        "job=wedapp,wedding_id=42|le=+Inf",
    }
    assert all(s.operation == "guest_list" and s.source == "prometheus" for s in samples)


def test_a_quantile_query_is_refused_not_stored() -> None:
    # What an older configuration asked for: one p95 per step. It is not a count of requests.
    with pytest.raises(ValueError, match="prometheus.queries .* no longer read"):
        PrometheusSettings(
            url="http://prometheus.test:9090",
            queries={"guest_list": "histogram_quantile(0.95, sum by (le) (rate(x[1m])))"},
        )
    with pytest.raises(ValueError, match="must be a series selector"):
        PrometheusSettings(histograms={"guest_list": "histogram_quantile(0.95, x)"})

    def handler(request: httpx.Request) -> httpx.Response:  # a series without `le`
        return httpx.Response(200, json=matrix([{"metric": {"wedding_id": "1"}, "values": []}]))

    with pytest.raises(SourceError, match="without an `le` label"):
        source(handler).collect(WINDOW)


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
            httpx.Response(200, json=matrix([{"metric": {"le": "+Inf"}, "values": [["x", "1"]]}])),
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
