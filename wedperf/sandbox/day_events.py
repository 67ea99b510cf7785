"""What happens on each wedding day: timeline items, vendor notifications, incidents, photos.

Events are generated for every wedding and then cut at `now` (a timestamp after `now` is NULL,
a row whose first timestamp is after `now` does not exist yet), so completed weddings have
complete data, a wedding under way has partial data and upcoming ones only their plan.
Load shapes follow docs/sandbox.md ("The day itself", "What load looks like").
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from wedperf.sandbox.tables import MINUTE, NULL_TS, SECOND, Table, mask_future

if TYPE_CHECKING:
    from wedperf.sandbox.generate import Weddings

# (item, minutes after ceremony start, planned duration in minutes). docs/sandbox.md: ceremony
# 30-60 min, cocktails ~1 h (16:45-17:45 for a 16:00 ceremony), reception 18:00-22:00.
# Send-off is placed relative to the end of the reception instead (see SEND_OFF_BEFORE_END).
TIMELINE = (
    ("getting ready", -240, 180),
    ("first look", -90, 20),
    ("ceremony", 0, 35),
    ("cocktail hour", 45, 60),
    ("reception entrance", 110, 10),
    ("dinner", 125, 60),
    ("first dance", 190, 6),
    ("cake cutting", 215, 10),
    ("send-off", None, 10),
)
SEND_OFF_BEFORE_END = 15  # minutes
# Items start a little late more often than early: gamma(2, 2) minutes minus 1 (mean +3 min).
START_DELAY_SHAPE, START_DELAY_SCALE_MIN, START_DELAY_SHIFT_MIN = 2.0, 2.0, -1.0
# Vendor notifications (docs/sandbox.md: "peak the morning of the day and around each
# timeline item"): one morning brief per vendor between 08:00 and 10:30 local, and two vendors
# pinged 5-20 minutes before each item. Push delivery takes ~1 s; vendors acknowledge after a
# few minutes, and some never do.
MORNING_SPREAD_MIN = 150
PINGS_PER_ITEM = 2
DELIVERY_MEDIAN_S, DELIVERY_SIGMA = 1.2, 0.6
ACK_MEAN_MIN = 3.0
NEVER_ACKNOWLEDGED = 0.04
# Incidents: a few % of weddings have 1+; faster response for worse severity.
INCIDENT_SHARE = 0.04
SEVERITIES = ("low", "high", "critical")
SEVERITY_SHARES = (0.6, 0.3, 0.1)
RESPONSE_MEAN_MIN = (20.0, 6.0, 2.0)
RESOLVE_MEAN_MIN = (60.0, 40.0, 25.0)
# Photos: guests and photographers upload ~0.4 photos per guest, bursting during the reception
# and heaviest after dinner (docs/sandbox.md, load modelling assumptions); ~2 MB each.
PHOTOS_PER_GUEST = 0.4
PHOTO_MEDIAN_BYTES, PHOTO_SIGMA = 2_200_000, 0.5
PHOTO_BYTES_RANGE = (100_000, 20_000_000)
AFTER_DINNER_SHARE = 0.75


def timeline_items(rng: np.random.Generator, frame: Weddings, now_us: int) -> Table:
    """Nine run-of-show items per wedding; started/completed only where the time has come."""
    n, k = len(frame.ceremony), len(TIMELINE)
    wedding_of = np.repeat(np.arange(n), k)
    offsets = np.array([o if o is not None else 0 for _, o, _ in TIMELINE], dtype=np.int64)
    scheduled = frame.ceremony[wedding_of] + np.tile(offsets, n) * MINUTE
    send_off = np.tile([o is None for _, o, _ in TIMELINE], n)
    scheduled = np.where(send_off, frame.ends[wedding_of] - SEND_OFF_BEFORE_END * MINUTE, scheduled)
    delay_min = (
        rng.gamma(START_DELAY_SHAPE, START_DELAY_SCALE_MIN, size=n * k) + START_DELAY_SHIFT_MIN
    )
    started = scheduled + (delay_min * MINUTE).astype(np.int64)
    durations = np.tile([d for _, _, d in TIMELINE], n) * rng.uniform(0.85, 1.25, size=n * k)
    completed = started + (durations * MINUTE).astype(np.int64)
    cancelled = frame.cancelled[wedding_of]
    started = mask_future(np.where(cancelled, NULL_TS, started), now_us)
    completed = mask_future(np.where(started == NULL_TS, NULL_TS, completed), now_us)
    return Table(
        "timeline_items",
        {
            "id": np.arange(1, n * k + 1, dtype=np.int64),
            "wedding_id": frame.ids[wedding_of],
            "item": [item for _ in range(n) for item, _, _ in TIMELINE],
            "scheduled_at": scheduled,
            "started_at": started,
            "completed_at": completed,
        },
        timestamps=("scheduled_at", "started_at", "completed_at"),
    )


def vendor_notifications(
    rng: np.random.Generator, frame: Weddings, vendors: Table, timeline: Table, now_us: int
) -> Table:
    """Morning briefs to every vendor and pings before each item, for weddings not cancelled."""
    n = len(frame.ceremony)
    vendor_wedding = vendors.columns["wedding_id"] - 1
    morning_sent = frame.morning[vendor_wedding] + (
        rng.uniform(0, MORNING_SPREAD_MIN, size=len(vendor_wedding)) * MINUTE
    ).astype(np.int64)

    vendor_counts = np.bincount(vendor_wedding, minlength=n)
    first_vendor = np.concatenate([[0], np.cumsum(vendor_counts)[:-1]])
    item_wedding = np.repeat(timeline.columns["wedding_id"] - 1, PINGS_PER_ITEM)
    item_index = np.repeat(np.arange(len(timeline)), PINGS_PER_ITEM)
    lead_min = rng.uniform(5, 20, size=len(item_wedding))
    ping_sent = timeline.columns["scheduled_at"][item_index] - (lead_min * MINUTE).astype(np.int64)
    ping_vendor = first_vendor[item_wedding] + np.floor(
        rng.random(len(item_wedding)) * vendor_counts[item_wedding]
    ).astype(np.int64)
    item_names = timeline.columns["item"]
    ping_messages = [
        f"Heads up: {item_names[i]} starts in {round(m)} min"
        for i, m in zip(item_index.tolist(), lead_min.tolist(), strict=True)
    ]

    wedding_of = np.concatenate([vendor_wedding, item_wedding])
    vendor_pos = np.concatenate([np.arange(len(vendor_wedding)), ping_vendor])
    sent = np.concatenate([morning_sent, ping_sent])
    messages = ["Good morning! Today's run-of-show is final in the app."] * len(morning_sent)
    messages += ping_messages
    delivery_s = rng.lognormal(np.log(DELIVERY_MEDIAN_S), DELIVERY_SIGMA, size=len(sent))
    delivered = sent + (delivery_s * SECOND).astype(np.int64)
    ack_min = rng.exponential(ACK_MEAN_MIN, size=len(sent))
    acknowledged = delivered + (ack_min * MINUTE).astype(np.int64)
    acknowledged = np.where(rng.random(len(sent)) < NEVER_ACKNOWLEDGED, NULL_TS, acknowledged)

    keep = ~frame.cancelled[wedding_of] & (sent <= now_us)
    order = np.flatnonzero(keep)
    order = order[np.lexsort((sent[order], wedding_of[order]))]
    return Table(
        "vendor_notifications",
        {
            "id": np.arange(1, len(order) + 1, dtype=np.int64),
            "wedding_id": frame.ids[wedding_of[order]],
            "vendor_id": vendors.columns["id"][vendor_pos[order]],
            "message": [messages[i] for i in order.tolist()],
            "sent_at": sent[order],
            "delivered_at": mask_future(delivered[order], now_us),
            "acknowledged_at": mask_future(acknowledged[order], now_us),
        },
        timestamps=("sent_at", "delivered_at", "acknowledged_at"),
    )


def incidents(rng: np.random.Generator, frame: Weddings, now_us: int) -> Table:
    """Incidents opened in the day window (3 h before the ceremony to the end of reception)."""
    n = len(frame.ceremony)
    has = (rng.random(n) < INCIDENT_SHARE) & ~frame.cancelled
    counts = np.where(has, 1 + rng.poisson(0.5, size=n), 0)
    wedding_of = np.repeat(np.arange(n), counts)
    m = len(wedding_of)
    window_start = frame.ceremony[wedding_of] - 180 * MINUTE
    window = frame.ends[wedding_of] - window_start
    opened = window_start + (rng.random(m) * window).astype(np.int64)
    severity = rng.choice(len(SEVERITIES), size=m, p=SEVERITY_SHARES)
    response_min = rng.exponential(np.asarray(RESPONSE_MEAN_MIN)[severity])
    resolve_min = rng.exponential(np.asarray(RESOLVE_MEAN_MIN)[severity])
    response = opened + (response_min * MINUTE).astype(np.int64)
    resolved = response + (resolve_min * MINUTE).astype(np.int64)
    keep = opened <= now_us
    order = np.flatnonzero(keep)
    order = order[np.lexsort((opened[order], wedding_of[order]))]
    return Table(
        "incidents",
        {
            "id": np.arange(1, len(order) + 1, dtype=np.int64),
            "wedding_id": frame.ids[wedding_of[order]],
            "severity": np.asarray(SEVERITIES)[severity[order]],
            "opened_at": opened[order],
            "first_response_at": mask_future(response[order], now_us),
            "resolved_at": mask_future(resolved[order], now_us),
        },
        timestamps=("opened_at", "first_response_at", "resolved_at"),
    )


def photos(rng: np.random.Generator, frame: Weddings, now_us: int) -> Table:
    """Photo uploads (sizes only): some after the ceremony, most after dinner."""
    n = len(frame.ceremony)
    counts = np.where(frame.cancelled, 0, rng.poisson(frame.guest_count * PHOTOS_PER_GUEST))
    wedding_of = np.repeat(np.arange(n), counts)
    m = len(wedding_of)
    ceremony = frame.ceremony[wedding_of]
    dinner = ceremony + 125 * MINUTE
    early = ceremony + 30 * MINUTE + (rng.random(m) * (dinner - ceremony - 30 * MINUTE))
    late = dinner + rng.beta(2.0, 3.0, size=m) * (frame.ends[wedding_of] - dinner)
    uploaded = np.where(rng.random(m) < AFTER_DINNER_SHARE, late, early).astype(np.int64)
    size = np.clip(
        rng.lognormal(np.log(PHOTO_MEDIAN_BYTES), PHOTO_SIGMA, size=m), *PHOTO_BYTES_RANGE
    ).astype(np.int64)
    order = np.flatnonzero(uploaded <= now_us)
    order = order[np.lexsort((uploaded[order], wedding_of[order]))]
    return Table(
        "photos",
        {
            "id": np.arange(1, len(order) + 1, dtype=np.int64),
            "wedding_id": frame.ids[wedding_of[order]],
            "bytes": size[order],
            "uploaded_at": uploaded[order],
        },
        timestamps=("uploaded_at",),
    )
