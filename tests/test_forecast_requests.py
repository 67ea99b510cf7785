"""Request-rate series from Prometheus (payloads in the HTTP API's documented format), the
within-hour peak ratio learned from them, and the floor sized on it."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import httpx
import pandas as pd
import psycopg
import pytest

from wedperf.capacity.floor import forecast_peak_rps
from wedperf.config import PrometheusSettings
from wedperf.forecast.pipeline import SeriesForecast
from wedperf.forecast.requests import load_request_series, peak_to_mean
from wedperf.forecast.store import latest_forecast, write_forecast
from wedperf.metrics.model import SourceError
from wedperf.metrics.sources import PrometheusSource

START = datetime(2026, 10, 17, 12, 0, tzinfo=UTC)
END = START + timedelta(hours=3)
QUERY = "sum(rate(wedapp_requests_total[5m]))"


def matrix(result: list[dict]) -> dict:
    return {"status": "success", "data": {"resultType": "matrix", "result": result}}


def prometheus(handler) -> PrometheusSource:
    settings = PrometheusSettings(url="http://prometheus.test:9090")
    return PrometheusSource(settings, transport=httpx.MockTransport(handler))


def hourly_points(values: list[str]) -> list[list]:
    """Points stamped at each hour's end, as the subquery evaluated there describes it."""
    return [[START.timestamp() + 3600 * (k + 1), v] for k, v in enumerate(values)]


def test_hourly_counts_and_peaks_are_read_as_the_hour_before_each_point() -> None:
    seen: list[dict] = []

    def handler(request: httpx.Request) -> httpx.Response:
        params = dict(request.url.params)
        seen.append(params)
        if params["query"].startswith("avg_over_time"):
            return httpx.Response(200, json=matrix([{"metric": {}, "values": hourly_points(
                ["36000", "72000", "NaN"])}]))  # fmt: skip
        return httpx.Response(200, json=matrix([{"metric": {}, "values": hourly_points(
            ["25", "40", "NaN"])}]))  # fmt: skip

    counts, peaks = load_request_series(prometheus(handler), QUERY, start=START, end=END, name="r")
    assert [p["query"] for p in seen] == [
        f"avg_over_time(({QUERY})[1h:1m]) * 3600",
        f"max_over_time(({QUERY})[1h:1m])",
    ]
    assert all(p["step"] == "3600s" for p in seen)
    assert float(seen[0]["start"]) == START.timestamp() + 3600
    assert float(seen[0]["end"]) == END.timestamp()
    hours = pd.DatetimeIndex([START, START + timedelta(hours=1)])
    assert list(counts.index) == list(hours) and list(counts) == [36000.0, 72000.0]
    assert list(peaks) == [25.0, 40.0]  # the hour without data is a gap, not zero
    # 36,000 requests in an hour is 10/s on average; its busiest minute ran at 25/s.
    assert peak_to_mean(peaks, counts, quantile=1.0) == pytest.approx(2.5)
    assert peak_to_mean(peaks, counts, quantile=0.0) == pytest.approx(2.0)


def test_a_query_that_is_not_one_series_is_refused_with_the_fix() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, json=matrix([
            {"metric": {"operation": "a"}, "values": hourly_points(["1"])},
            {"metric": {"operation": "b"}, "values": hourly_points(["1"])},
        ]))  # fmt: skip

    with pytest.raises(SourceError, match=r"returned 2 series; aggregate it to one"):
        load_request_series(prometheus(handler), "rate(x[5m])", start=START, end=END, name="r")


def test_peak_to_mean_needs_traffic_and_never_goes_below_one() -> None:
    index = pd.date_range(START, periods=3, freq="h")
    idle = pd.Series([0.0] * 3, index=index)
    assert peak_to_mean(pd.Series([1.0] * 3, index=index), idle) is None
    calm = pd.Series([3600.0] * 3, index=index)  # 1/s on average, peaks "below" it
    assert peak_to_mean(pd.Series([0.5] * 3, index=index), calm) == 1.0


def forecast_frame(ratio: float | None) -> pd.DataFrame:
    hours = pd.date_range(START, periods=4, freq="h")
    mean = pd.Series([18_000.0, 36_000.0, 27_000.0, 9_000.0], index=hours)
    bounds = {"lo-80": 0.8, "hi-80": 1.1, "lo-95": 0.7, "hi-95": 1.2}
    frame = pd.DataFrame({"mean": mean} | {k: mean * f for k, f in bounds.items()})
    return frame.assign(peak_to_mean=ratio)


def test_the_floor_is_sized_on_the_busiest_minute_when_the_fit_knows_it() -> None:
    # hi-95 peaks at 36,000 x 1.2 = 43,200 requests in the hour: 12/s on average.
    assert forecast_peak_rps(forecast_frame(None), START, END, 95) == pytest.approx(12.0)
    assert forecast_peak_rps(forecast_frame(1.75), START, END, 95) == pytest.approx(21.0)


def test_the_ratio_is_stored_with_the_fit_and_read_back(migrated_database_url: str) -> None:
    frame = forecast_frame(None).drop(columns="peak_to_mean")
    fit = SeriesForecast(
        series="requests.web", model="profile", model_version="test", forecast=frame,
        train_start=pd.Timestamp(START) - pd.Timedelta(weeks=12),
        train_end=pd.Timestamp(START) - pd.Timedelta(hours=1), peak_to_mean=1.75,
    )  # fmt: skip
    with psycopg.connect(migrated_database_url) as conn:
        write_forecast(conn, fit)
        stored = latest_forecast(conn, "requests.web", START, END)
    assert (stored["peak_to_mean"] == 1.75).all()
    assert forecast_peak_rps(stored, START, END, 95) == pytest.approx(21.0)
