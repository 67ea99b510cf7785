"""The sandbox data set, generated in memory: weddings, guests, seating, check-ins, vendors.

Everything derives from one numpy Generator, so (weddings, days, seed, start, now) reproduces
the same rows. Numbers are calibrated on published wedding statistics (docs/sandbox.md, with
their sources); the day's events (timeline, notifications, incidents, photos) are in
day_events.py.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import date, datetime, time

import numpy as np

from wedperf.sandbox import day_events, names
from wedperf.sandbox.engagement import decide_engagement, guest_engagement
from wedperf.sandbox.tables import (
    HOUR,
    MINUTE,
    NULL_INT,
    NULL_TS,
    Table,
    mask_future,
    segment_rank,
    to_us,
)
from wedperf.sandbox.wedding_dates import plan_weddings

# docs/sandbox.md "How big": average guest count 115 (The Knot, 2023); a lognormal with mean
# ~115 is a fair model. sigma 0.5 gives a realistic spread (10th-90th percentile ~55-190 guests).
GUEST_SIGMA = 0.5
GUEST_MEAN = 115.0
GUEST_MIN, GUEST_MAX = 2, 600
# docs/sandbox.md "The day itself": reception 4-6 h after cocktails; ceremony start to end of
# reception is 5.5-6.5 h (16:00 ceremony -> reception ends ~22:00), in 15-minute steps.
RECEPTION_END_HOURS = (5.5, 5.75, 6.0, 6.25, 6.5)
# docs/sandbox.md "How big": ~14 vendors per wedding (The Knot, 2023).
VENDORS_MEAN = 14
VENDORS_MIN = 6
CANCELLED_SHARE = 0.02
# Guests check in "in the hour before the ceremony" (docs/sandbox.md, load modelling
# assumptions); 88-95% of invited guests turn up.
CHECKIN_SHARE = (0.88, 0.95)
CHECKIN_MINUTES = (-60.0, -15.0, 5.0)  # triangular (min, mode, max) around the ceremony
# RSVP mix (accepted, declined) by how close the wedding is; the rest are pending.
RSVP_DAY_HAS_COME = (0.97, 0.03)
RSVP_LAST_TWO_WEEKS = (0.90, 0.06)
RSVP_FURTHER_OUT = (0.70, 0.05)
MORNING = time(8, 0)


@dataclass(frozen=True)
class Weddings:
    """Per-wedding arrays, index i is wedding id i+1 (ids follow ceremony order)."""

    ceremony: np.ndarray  # int64 us
    ends: np.ndarray  # int64 us
    morning: np.ndarray  # int64 us of 08:00 local on the day
    guest_count: np.ndarray
    cancelled: np.ndarray  # bool
    timezones: list[str]
    dst_day: np.ndarray  # bool
    # Guests who use the app on the day (wedperf.sandbox.engagement; 0 when cancelled): the
    # load model's active guests for the same seed.
    active: np.ndarray | None = None

    @property
    def ids(self) -> np.ndarray:
        return np.arange(1, len(self.ceremony) + 1, dtype=np.int64)


def generate_dataset(
    *, weddings: int, days: int, seed: int, start: date, now: datetime
) -> tuple[dict[str, Table], Weddings]:
    """Every app table as in-memory columns, and the per-wedding arrays they were built from.

    Who comes and who uses the app is decided by wedperf.sandbox.engagement from the same
    seed as the load model's, over the weddings in play in id (= ceremony) order; its draws
    come from streams of their own, so the rest of the data set does not depend on them."""
    rng = np.random.default_rng(seed)
    now_us = to_us(now)
    frame, wedding_table = _weddings(rng, weddings, days, start, now_us)
    guests, accepted = _guests(rng, frame, now_us)
    frame, accepted = _engagement(frame, guests, accepted, seed, now_us)
    seating = _seating(rng, frame, guests, accepted)
    checkins = _checkins(rng, frame, guests, accepted, now_us)
    vendors = _vendors(rng, frame)
    timeline = day_events.timeline_items(rng, frame, now_us)
    notifications = day_events.vendor_notifications(rng, frame, vendors, timeline, now_us)
    incidents = day_events.incidents(rng, frame, now_us)
    photos = day_events.photos(rng, frame, now_us)
    tables = [wedding_table, seating, guests, checkins, vendors, timeline, notifications]
    tables += [incidents, photos]
    return {table.name: table for table in tables}, frame


def _weddings(
    rng: np.random.Generator, count: int, days: int, start: date, now_us: int
) -> tuple[Weddings, Table]:
    planned = plan_weddings(rng, start, days, count)
    ceremony = np.array([to_us(p.ceremony_utc) for p in planned], dtype=np.int64)
    order = np.argsort(ceremony, kind="stable")
    planned = [planned[i] for i in order.tolist()]
    ceremony = ceremony[order]
    n = len(planned)
    hours = np.asarray(RECEPTION_END_HOURS)[rng.integers(0, len(RECEPTION_END_HOURS), size=n)]
    ends = ceremony + (hours * HOUR).astype(np.int64)
    mu = np.log(GUEST_MEAN) - GUEST_SIGMA**2 / 2  # lognormal mean = exp(mu + sigma^2/2)
    guest_count = np.clip(np.rint(rng.lognormal(mu, GUEST_SIGMA, size=n)), GUEST_MIN, GUEST_MAX)
    dst_day = np.array([p.dst_day for p in planned], dtype=bool)
    # DST-day weddings are never cancelled: they exist to be watched across the offset change.
    cancelled = (rng.random(n) < CANCELLED_SHARE) & ~dst_day
    confirmed_far = rng.random(n) < 0.6
    status = np.where(
        cancelled,
        "cancelled",
        np.where(
            ends <= now_us,
            "completed",
            # Within 30 days (or under way) every wedding is confirmed; further out, some are
            # still only scheduled (contracts not all signed).
            np.where(
                (ceremony - now_us <= 30 * 24 * HOUR) | confirmed_far, "confirmed", "scheduled"
            ),
        ),
    )
    timezones = [p.timezone for p in planned]
    frame = Weddings(
        ceremony=ceremony,
        ends=ends,
        morning=np.array([to_us(p.local_utc(MORNING)) for p in planned], dtype=np.int64),
        guest_count=guest_count.astype(np.int64),
        cancelled=cancelled,
        timezones=timezones,
        dst_day=dst_day,
    )
    table = Table(
        "weddings",
        {
            "id": frame.ids,
            "couple_name": names.couple_names(rng, n),
            "venue": names.venue_names(rng, timezones),
            "timezone": timezones,
            "ceremony_at": ceremony,
            "reception_ends_at": ends,
            "guest_count": frame.guest_count,
            "status": status,
        },
        timestamps=("ceremony_at", "reception_ends_at"),
    )
    return frame, table


def _guests(rng: np.random.Generator, frame: Weddings, now_us: int) -> tuple[Table, np.ndarray]:
    counts = frame.guest_count
    wedding_of = np.repeat(np.arange(len(counts)), counts)
    total = int(counts.sum())
    full_names, emails = names.guest_names(rng, total)
    profile = np.where(
        frame.ceremony <= now_us, 0, np.where(frame.ceremony - now_us <= 14 * 24 * HOUR, 1, 2)
    )
    mixes = np.array([RSVP_DAY_HAS_COME, RSVP_LAST_TWO_WEEKS, RSVP_FURTHER_OUT])
    p_accept = mixes[profile, 0][wedding_of]
    p_decline = mixes[profile, 1][wedding_of]
    draw = rng.random(total)
    accepted = draw < p_accept
    rsvp = np.where(
        accepted, "accepted", np.where(draw < p_accept + p_decline, "declined", "pending")
    )
    table = Table(
        "guests",
        {
            "id": np.arange(1, total + 1, dtype=np.int64),
            "wedding_id": frame.ids[wedding_of],
            "full_name": full_names,
            "email": emails,
            "rsvp": rsvp,
            "table_no": np.full(total, NULL_INT, dtype=np.int64),  # filled in by _seating
            # Filled in by _engagement.
            "app_installed_at": np.full(total, NULL_TS, dtype=np.int64),
            "guest_list_opened_at": np.full(total, NULL_TS, dtype=np.int64),
        },
        timestamps=("app_installed_at", "guest_list_opened_at"),
        nullable_ints=("table_no",),
    )
    return table, accepted


def _engagement(
    frame: Weddings, guests: Table, accepted: np.ndarray, seed: int, now_us: int
) -> tuple[Weddings, np.ndarray]:
    """Fill the guests' app signals (app_installed_at, guest_list_opened_at; NULL until they
    happen by `now`), accept the RSVP of any declined guest who comes after all, and give
    the frame each wedding's active guests."""
    in_play = ~frame.cancelled
    engagement = decide_engagement(frame.guest_count[in_play], seed)
    wedding_of = guests.columns["wedding_id"] - 1
    rsvp = guests.columns["rsvp"]
    signals = guest_engagement(
        engagement,
        in_play=in_play,
        wedding_of=wedding_of,
        declined=rsvp == "declined",
        ceremony_us=frame.ceremony,
        seed=seed,
    )
    guests.columns["rsvp"] = np.where(signals.changed_mind, "accepted", rsvp)
    guests.columns["app_installed_at"] = mask_future(signals.app_installed_at, now_us)
    guests.columns["guest_list_opened_at"] = mask_future(signals.guest_list_opened_at, now_us)
    active = np.zeros(len(in_play), dtype=np.int64)
    active[in_play] = engagement.active
    return replace(frame, active=active), accepted | signals.changed_mind


def _seating(
    rng: np.random.Generator, frame: Weddings, guests: Table, accepted: np.ndarray
) -> Table:
    """Tables of 10 (or 8) seats, filled in order by accepted guests; others get no table."""
    n = len(frame.ceremony)
    seats = np.where(rng.random(n) < 0.7, 10, 8)
    wedding_of = guests.columns["wedding_id"] - 1
    accepted_per_wedding = np.bincount(wedding_of, accepted, minlength=n).astype(np.int64)
    before = np.concatenate([[0], np.cumsum(accepted_per_wedding)[:-1]])
    rank = np.cumsum(accepted) - 1 - before[wedding_of]
    guests.columns["table_no"] = np.where(accepted, rank // seats[wedding_of] + 1, NULL_INT)
    tables_per_wedding = np.maximum(1, -(-accepted_per_wedding // seats))
    return Table(
        "seating",
        {
            "wedding_id": np.repeat(frame.ids, tables_per_wedding),
            "table_no": segment_rank(tables_per_wedding) + 1,
            "seats": np.repeat(seats, tables_per_wedding),
        },
    )


def _checkins(
    rng: np.random.Generator, frame: Weddings, guests: Table, accepted: np.ndarray, now_us: int
) -> Table:
    n = len(frame.ceremony)
    wedding_of = guests.columns["wedding_id"] - 1
    share = rng.uniform(*CHECKIN_SHARE, size=n)
    accepted_per_wedding = np.bincount(wedding_of, accepted, minlength=n).astype(np.int64)
    # Exactly round(share * invited) guests per wedding (as many as accepted at most), picked
    # at random among the accepted: a Bernoulli draw per guest would stray outside the band.
    target = np.minimum(accepted_per_wedding, np.rint(share * frame.guest_count).astype(np.int64))
    by_wedding_accepted_first = np.lexsort((rng.random(len(wedding_of)), ~accepted, wedding_of))
    rank = np.empty(len(wedding_of), dtype=np.int64)
    rank[by_wedding_accepted_first] = segment_rank(frame.guest_count)
    minutes = rng.triangular(*CHECKIN_MINUTES, size=len(wedding_of))
    checked_in = frame.ceremony[wedding_of] + (minutes * MINUTE).astype(np.int64)
    keep = (rank < target[wedding_of]) & ~frame.cancelled[wedding_of] & (checked_in <= now_us)
    order = np.flatnonzero(keep)
    return Table(
        "guest_checkins",
        {
            "wedding_id": guests.columns["wedding_id"][order],
            "guest_id": guests.columns["id"][order],
            "checked_in_at": checked_in[order],
        },
        timestamps=("checked_in_at",),
    )


def _vendors(rng: np.random.Generator, frame: Weddings) -> Table:
    """~14 vendors per wedding: the core kinds always, then a random pick of the others."""
    n = len(frame.ceremony)
    kinds = list(names.VENDOR_KINDS)
    core, optional = kinds[: names.CORE_VENDOR_KINDS], kinds[names.CORE_VENDOR_KINDS :]
    counts = np.clip(rng.poisson(VENDORS_MEAN, size=n), VENDORS_MIN, len(kinds))
    # A random permutation of the optional kinds per wedding, of which the first few are kept.
    permutation = np.argsort(rng.random((n, len(optional))), axis=1)
    wedding_kinds: list[str] = []
    for i, count in enumerate(counts.tolist()):
        wedding_kinds.extend(core)
        wedding_kinds.extend(optional[j] for j in permutation[i, : count - len(core)].tolist())
    total = int(counts.sum())
    return Table(
        "vendors",
        {
            "id": np.arange(1, total + 1, dtype=np.int64),
            "wedding_id": np.repeat(frame.ids, counts),
            "kind": wedding_kinds,
            "company": names.company_names(rng, wedding_kinds),
        },
    )
