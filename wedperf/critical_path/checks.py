"""The critical-path checks: pure functions over data frames.

Every check takes the weddings being evaluated (`wedding_id, starts_at, ends_at, guest_count`),
the rows it needs, and the evaluation instant `at`, and returns one row per wedding:
`wedding_id, check_name, value, detail`. A value of NaN means "nothing to measure yet" (no
incident today, too early for arrivals) and classifies as ok. Rows stamped after `at` are
treated as not yet happened, so evaluating the past (`wedperf watch --at`) sees the day as it
was then.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta

import numpy as np
import pandas as pd

from wedperf.metrics.clients import MOBILE_CLIENTS, RUM_SOURCE
from wedperf.metrics.histogram import Histogram, quantile_of_events

COLUMNS = ["wedding_id", "check_name", "value", "detail"]
# Client groups of the latency view, in display order: web beside the mobile apps (ios +
# android, then each), then `all`: every server-side sample whatever its client (RUM beacons
# left out, as in perf.rollups_minute's `all` and the latency_* checks).
CLIENT_GROUPS = ("web", "mobile", "ios", "android", "all")


def _result(weddings: pd.DataFrame, check: str, values, details) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "wedding_id": weddings["wedding_id"].to_numpy(),
            "check_name": check,
            "value": np.asarray(values, dtype=float),
            "detail": list(details),
        },
        columns=COLUMNS,
    )


def _known_by(series: pd.Series, at: datetime) -> pd.Series:
    """Timestamps after `at` have not happened yet at `at`."""
    return series.where(series <= at)


def triangular_cdf(x: np.ndarray, low: float, mode: float, high: float) -> np.ndarray:
    """Share of guests expected to have arrived `x` minutes from the ceremony."""
    x = np.asarray(x, dtype=float)
    rising = (x - low) ** 2 / ((high - low) * (mode - low))
    falling = 1 - (high - x) ** 2 / ((high - low) * (high - mode))
    return np.where(x <= low, 0.0, np.where(x <= mode, rising, np.where(x < high, falling, 1.0)))


def guest_arrival(
    weddings: pd.DataFrame,
    checkins: pd.DataFrame,
    at: datetime,
    *,
    expected_share: float,
    arrival_minutes: tuple[float, float, float],
) -> pd.DataFrame:
    """Check-ins so far against the arrival curve for the guest count and ceremony time.

    Value: arrived / expected-by-now. Not measured (NaN) while fewer than max(5, 10% of the
    expected guests) are expected: a few early arrivals say nothing.
    """
    arrived = (
        checkins[_known_by(checkins["checked_in_at"], at).notna()]
        .groupby("wedding_id")
        .size()
        .reindex(weddings["wedding_id"], fill_value=0)
        .to_numpy()
    )
    minutes = (at - weddings["starts_at"]).dt.total_seconds().to_numpy() / 60
    final = expected_share * weddings["guest_count"].to_numpy()
    expected = final * triangular_cdf(minutes, *arrival_minutes)
    measurable = expected >= np.maximum(5, 0.1 * final)
    ratio = np.where(measurable, arrived / np.where(expected > 0, expected, 1), np.nan)
    details = [
        f"{a} checked in, {e:.0f} expected by now" if m else f"{a} checked in; too early to judge"
        for a, e, m in zip(arrived, expected, measurable, strict=True)
    ]
    return _result(weddings, "guest_arrival", ratio, details)


def guests_missing_at_ceremony(
    weddings: pd.DataFrame, checkins: pd.DataFrame, at: datetime, *, grace: timedelta
) -> pd.DataFrame:
    """Share of invited guests not checked in by the ceremony plus `grace`; measured from then
    on (NaN before)."""
    cutoff = weddings.set_index("wedding_id")["starts_at"] + grace
    joined = checkins.join(cutoff.rename("cutoff"), on="wedding_id")
    by_cutoff = joined[
        (joined["checked_in_at"] <= joined["cutoff"]) & (joined["checked_in_at"] <= at)
    ]
    arrived = by_cutoff.groupby("wedding_id").size().reindex(weddings["wedding_id"], fill_value=0)
    guests = weddings["guest_count"].to_numpy()
    due = (cutoff <= at).to_numpy() & (guests > 0)
    missing = np.where(due, 1 - arrived.to_numpy() / np.maximum(guests, 1), np.nan)
    details = [
        f"{g - a} of {g} guests not checked in at ceremony" if d else "measured after the ceremony"
        for g, a, d in zip(guests, arrived.to_numpy(), due, strict=True)
    ]
    return _result(weddings, "guests_missing_at_ceremony", missing, details)


def timeline_drift(weddings: pd.DataFrame, items: pd.DataFrame, at: datetime) -> pd.DataFrame:
    """How far behind schedule the day is, in minutes.

    Value: the larger of the start delay of the latest item that has started and the wait of
    any due item that has not started yet. An item on time after a late one brings the value
    back (the day caught up). Items with no scheduled time are skipped and counted.
    """
    frame = items.assign(started=_known_by(items["started_at"], at))
    unscheduled = frame[frame["scheduled_at"].isna()].groupby("wedding_id").size()
    due = frame[frame["scheduled_at"].notna() & (frame["scheduled_at"] <= at)]
    started = due[due["started"].notna()].sort_values("scheduled_at")
    latest = started.groupby("wedding_id").tail(1).set_index("wedding_id")
    latest_delay = (latest["started"] - latest["scheduled_at"]).dt.total_seconds() / 60
    waiting = due[due["started"].isna()]
    wait = (at - waiting["scheduled_at"]).dt.total_seconds() / 60
    worst_wait = wait.groupby(waiting["wedding_id"]).max()

    values, details = [], []
    for wedding_id in weddings["wedding_id"]:
        parts, candidates = [], []
        if wedding_id in latest_delay.index:
            delay = float(latest_delay[wedding_id])
            candidates.append(delay)
            parts.append(f"{latest.at[wedding_id, 'item']} started {delay:+.0f} min")
        if wedding_id in worst_wait.index:
            candidates.append(float(worst_wait[wedding_id]))
            count = int((waiting["wedding_id"] == wedding_id).sum())
            parts.append(
                f"{count} due item(s) not started, oldest {worst_wait[wedding_id]:.0f} min"
            )
        if wedding_id in unscheduled.index:
            parts.append(f"{int(unscheduled[wedding_id])} item(s) without a scheduled time")
        values.append(max(candidates) if candidates else np.nan)
        details.append("; ".join(parts) or "nothing due yet")
    return _result(weddings, "timeline_drift", values, details)


def vendor_delivery_p95(
    weddings: pd.DataFrame, notifications: pd.DataFrame, at: datetime
) -> pd.DataFrame:
    """p95 of delivery latency (s) of notifications sent so far; undelivered ones count with
    how long they have been waiting."""
    sent = notifications[notifications["sent_at"] <= at]
    delivered = _known_by(sent["delivered_at"], at)
    latency = (delivered.fillna(pd.Timestamp(at)) - sent["sent_at"]).dt.total_seconds()
    p95 = latency.groupby(sent["wedding_id"]).quantile(0.95)
    undelivered = delivered.isna().groupby(sent["wedding_id"]).sum()
    count = sent.groupby("wedding_id").size()
    values = p95.reindex(weddings["wedding_id"]).to_numpy()
    details = [
        f"{int(count.get(w, 0))} sent, {int(undelivered.get(w, 0))} undelivered"
        if w in count.index
        else "no notifications yet"
        for w in weddings["wedding_id"]
    ]
    return _result(weddings, "vendor_delivery_p95", values, details)


def vendor_unresponsive(
    weddings: pd.DataFrame, notifications: pd.DataFrame, at: datetime, *, deadline: timedelta
) -> pd.DataFrame:
    """The most overdue unacknowledged notifications held by a single vendor.

    A notification is overdue once `deadline` has passed since it was sent without an
    acknowledgement. One missed message is a slip; several from the same vendor is a vendor
    who is not answering.
    """
    sent = notifications[notifications["sent_at"] <= at]
    acknowledged = _known_by(sent["acknowledged_at"], at)
    overdue = sent[acknowledged.isna() & (sent["sent_at"] <= at - deadline)]
    per_vendor = overdue.groupby(["wedding_id", "vendor_id"]).size()
    worst = per_vendor.groupby(level="wedding_id").max()
    worst_vendor = per_vendor.groupby(level="wedding_id").idxmax()
    has_any = set(sent["wedding_id"])
    values, details = [], []
    for wedding_id in weddings["wedding_id"]:
        if wedding_id in worst.index:
            values.append(float(worst[wedding_id]))
            vendor = worst_vendor[wedding_id][1]
            vendors = int((per_vendor.loc[wedding_id] > 0).sum())
            details.append(
                f"vendor {vendor}: {int(worst[wedding_id])} overdue; "
                f"{vendors} vendor(s) with overdue messages"
            )
        elif wedding_id in has_any:
            values.append(0.0)
            details.append("all acknowledged in time")
        else:
            values.append(np.nan)
            details.append("no notifications yet")
    return _result(weddings, "vendor_unresponsive", values, details)


def incident_response(
    weddings: pd.DataFrame, incidents: pd.DataFrame, at: datetime, *, severity: str
) -> pd.DataFrame:
    """Worst minutes from opening to first response among today's incidents of `severity`;
    an incident with no response yet counts with the time it has waited so far."""
    opened = incidents[(incidents["opened_at"] <= at) & (incidents["severity"] == severity)]
    responded = _known_by(opened["first_response_at"], at)
    minutes = (responded.fillna(pd.Timestamp(at)) - opened["opened_at"]).dt.total_seconds() / 60
    worst = minutes.groupby(opened["wedding_id"]).max()
    waiting = responded.isna().groupby(opened["wedding_id"]).sum()
    count = opened.groupby("wedding_id").size()
    details = [
        f"{int(count[w])} {severity} incident(s), {int(waiting[w])} awaiting first response"
        if w in count.index
        else f"no {severity} incidents"
        for w in weddings["wedding_id"]
    ]
    return _result(
        weddings, f"incident_response_{severity}", worst.reindex(weddings["wedding_id"]), details
    )


def server_side(latency: pd.DataFrame) -> pd.DataFrame:
    """The rows measured by server-side collectors: every source but RUM, whose values are
    what a device saw, network included (a guest on venue 3G is not a slow server)."""
    return latency[latency["source"] != RUM_SOURCE]


def _histograms(buckets: pd.DataFrame) -> list[Histogram]:
    """One merged histogram per series of `buckets` (BUCKET_COLUMNS rows of one group)."""
    return [
        Histogram(tuple(rows["le"]), tuple(rows["events"]))
        for _, rows in buckets.sort_values("le").groupby(["source", "histogram"], sort=False)
    ]


def latency_p95(raw: pd.DataFrame, buckets: pd.DataFrame, keys: list[str]) -> pd.DataFrame:
    """p95 (s) and event count per `keys` group, from the group's raw latency events and the
    merged histogram of its bucket rows (wedperf.metrics.histogram.quantile_of_events: exact
    over raw events alone, within one bucket with histograms). Indexed by `keys`."""
    raw_groups = dict(tuple(raw.groupby(keys))) if len(raw) else {}
    bucket_groups = dict(tuple(buckets.groupby(keys))) if len(buckets) else {}
    rows = []
    for key in sorted(set(raw_groups) | set(bucket_groups), key=str):
        values = raw_groups[key]["value"].to_numpy() if key in raw_groups else ()
        histograms = _histograms(bucket_groups[key]) if key in bucket_groups else []
        events = len(values) + sum(h.events for h in histograms)
        if events <= 0:
            continue
        p95 = quantile_of_events(0.95, values, histograms)
        rows.append((*(key if isinstance(key, tuple) else (key,)), p95, events))
    frame = pd.DataFrame(rows, columns=[*keys, "p95", "samples"])
    return frame.set_index(keys)


def _samples_text(count: float) -> str:
    return f"{round(count)} samples"


def operation_latency(
    weddings: pd.DataFrame,
    latency: pd.DataFrame,
    *,
    operation: str,
    buckets: pd.DataFrame | None = None,
) -> pd.DataFrame:
    """p95 latency (s) of one operation from the wedding's server-side events and histogram
    buckets (already limited to the lookback window); RUM beacons do not count against
    server thresholds."""
    rows = server_side(latency)
    rows = rows[rows["operation"] == operation]
    hist = _empty_buckets() if buckets is None else server_side(buckets)
    hist = hist[hist["operation"] == operation]
    found = latency_p95(rows, hist, ["wedding_id"])
    details = [
        _samples_text(found.at[w, "samples"]) if w in found.index else "no samples"
        for w in weddings["wedding_id"]
    ]
    return _result(
        weddings,
        f"latency_{operation}",
        found["p95"].reindex(weddings["wedding_id"]),
        details,
    )


def _empty_buckets() -> pd.DataFrame:
    return pd.DataFrame(
        columns=["wedding_id", "operation", "client", "source", "histogram", "le", "events"]
    )


def _client_rows(latency: pd.DataFrame, group: str) -> pd.DataFrame:
    """The latency rows of one client group: all (server-side, RUM left out), mobile (ios +
    android) or one kind; the client groups include RUM beacons."""
    if group == "all":
        return server_side(latency)
    if group == "mobile":
        return latency[latency["client"].isin(MOBILE_CLIENTS)]
    return latency[latency["client"] == group]


def mobile_operation_latency(
    weddings: pd.DataFrame,
    latency: pd.DataFrame,
    *,
    operation: str,
    buckets: pd.DataFrame | None = None,
) -> pd.DataFrame:
    """p95 latency (s) of one operation on the mobile apps (ios + android: RUM beacons,
    mobile-profile probes, client-labelled histograms), as the device saw it, with the web
    p95 beside it in the detail."""
    rows = latency[latency["operation"] == operation]
    hist = _empty_buckets() if buckets is None else buckets
    hist = hist[hist["operation"] == operation]
    mobile = latency_p95(_client_rows(rows, "mobile"), _client_rows(hist, "mobile"), ["wedding_id"])
    kinds = latency_p95(
        _client_rows(rows, "mobile"), _client_rows(hist, "mobile"), ["wedding_id", "client"]
    )
    web = latency_p95(_client_rows(rows, "web"), _client_rows(hist, "web"), ["wedding_id"])
    details = []
    for w in weddings["wedding_id"]:
        if w in mobile.index:
            split = ", ".join(
                f"{kind} {round(kinds['samples'].get((w, kind), 0))}" for kind in MOBILE_CLIENTS
            )
            detail = f"{round(mobile.at[w, 'samples'])} mobile samples ({split})"
        else:
            detail = "no mobile samples"
        if w in web.index:
            web_p95, web_count = web.at[w, "p95"], web.at[w, "samples"]
            detail += f"; web p95 {web_p95 * 1000:.0f} ms ({_samples_text(web_count)})"
        details.append(detail)
    return _result(
        weddings,
        f"mobile_p95_{operation}",
        mobile["p95"].reindex(weddings["wedding_id"]),
        details,
    )


def client_latency(
    latency: pd.DataFrame, operations: Sequence[str], buckets: pd.DataFrame | None = None
) -> pd.DataFrame:
    """p95 (s) and event count per wedding x operation x client group (CLIENT_GROUPS), for
    the latency view that shows mobile beside web. Groups without events are left out."""
    hist = _empty_buckets() if buckets is None else buckets
    frames = []
    for group in CLIENT_GROUPS:
        rows = _client_rows(latency, group)
        rows = rows[rows["operation"].isin(operations)]
        these = _client_rows(hist, group)
        these = these[these["operation"].isin(operations)]
        found = latency_p95(rows, these, ["wedding_id", "operation"])
        frames.append(found.reset_index().assign(client=group))
    columns = ["wedding_id", "operation", "client", "p95", "samples"]
    return pd.concat(frames, ignore_index=True)[columns]
