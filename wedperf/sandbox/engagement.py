"""Who comes and who uses the app, per sandbox wedding: the one decision the sandbox app's
guest rows (generate.py) and the load model (demand.py) both take, so they agree.

Per wedding, in the order given (the weddings in play — not cancelled — in ceremony order,
ids breaking ties: how the sandbox numbers them and how the replay reads them back):

- active guests, who use the app on the day: invited x a share who turn up x a share of
  those who use the app, binomial. These are the load model's draws, made exactly as
  before from `default_rng(seed)`, so the demand built on them does not change;
- what the app can know days ahead, from a second stream of the same seed (drawn after, so
  the first stream is untouched): of the active guests, those who installed the app before
  the day (the others install it at check-in); of the other invited, those who installed it
  and will not use it on the day (they do not come, or leave it closed); of either, those
  who opened the guest list before the day.

Every share is a modelling assumption (docs/sandbox.md, "What load looks like"), not a
published figure.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from wedperf.sandbox.tables import HOUR, MINUTE, NULL_TS, segment_rank

ACCEPTED_SHARE = (0.88, 0.95)  # of invited guests who turn up (the sandbox's check-in share)
APP_SHARE = (6.0, 3.0)  # Beta(a, b) share of those using the app: mean 2/3
# The knowable signals (modelling assumptions).
INSTALLED_AHEAD_SHARE = (8.0, 2.0)  # Beta: of active guests, installed before the day: 0.8
IDLE_INSTALL_SHARE = (1.0, 9.0)  # Beta: of the other invited, installed, idle on the day: 0.1
OPENED_LIST_SHARE_ACTIVE = 0.6  # of active guests installed ahead, opened the guest list
OPENED_LIST_SHARE_IDLE = 0.2  # of idle installers, opened the guest list
INSTALL_LEAD_DAYS = (10.0, 0.9)  # lognormal (median days before the ceremony, sigma)
INSTALL_LEAD_MAX_DAYS = 120.0  # nobody installs before the invitations go out
# An active guest without the app installs it at check-in: the check-ins' own triangle
# (generate.CHECKIN_MINUTES), minutes around the ceremony.
INSTALL_AT_CHECKIN_MINUTES = (-60.0, -15.0, 5.0)
DAY = 24 * HOUR
# Streams of a seed besides default_rng(seed) (the load model's), as SeedSequence spawn
# keys: the per-wedding signal counts, then which guests they are and when.
SIGNAL_COUNTS, SIGNAL_GUESTS = 1, 2


@dataclass(frozen=True)
class Engagement:
    """Per wedding (index i: the i-th wedding given), counts of guests."""

    invited: np.ndarray
    active: np.ndarray  # use the app on the day
    installed_ahead_active: np.ndarray  # active, installed the app before the day
    installed_idle: np.ndarray  # not active, installed the app before the day
    opened_list_active: np.ndarray  # active, opened the guest list before the day
    opened_list_idle: np.ndarray  # not active, opened the guest list before the day


def decide_engagement(invited: Sequence[int], seed: int) -> Engagement:
    """Each wedding's active guests and app signals from its invited count, deterministic
    for (invited, seed)."""
    invited = np.asarray(invited, dtype=np.int64)
    rng = np.random.default_rng(seed)
    active = np.empty(len(invited), dtype=np.int64)
    for i, n in enumerate(invited.tolist()):  # per wedding, in this order: the load model's
        share = rng.uniform(*ACCEPTED_SHARE) * rng.beta(*APP_SHARE)
        active[i] = int(rng.binomial(n, share))
    later = _stream(seed, SIGNAL_COUNTS)
    m = len(invited)
    ahead = later.binomial(active, later.beta(*INSTALLED_AHEAD_SHARE, size=m))
    idle = later.binomial(invited - active, later.beta(*IDLE_INSTALL_SHARE, size=m))
    return Engagement(
        invited=invited,
        active=active,
        installed_ahead_active=ahead,
        installed_idle=idle,
        opened_list_active=later.binomial(ahead, OPENED_LIST_SHARE_ACTIVE),
        opened_list_idle=later.binomial(idle, OPENED_LIST_SHARE_IDLE),
    )


def _stream(seed: int, *key: int) -> np.random.Generator:
    """A stream of `seed` independent of `default_rng(seed)`, which it leaves as it was."""
    return np.random.default_rng(np.random.SeedSequence(seed, spawn_key=key))


@dataclass(frozen=True)
class GuestEngagement:
    """Per guest row of the sandbox app: what `decide_engagement` decided, placed in time."""

    active: np.ndarray  # bool: uses the app on the day
    changed_mind: np.ndarray  # bool: had declined, yet comes (its RSVP becomes accepted)
    app_installed_at: np.ndarray  # int64 us, NULL_TS: never installed
    guest_list_opened_at: np.ndarray  # int64 us, NULL_TS: never opened before the day


def guest_engagement(
    engagement: Engagement,
    *,
    in_play: np.ndarray,
    wedding_of: np.ndarray,
    declined: np.ndarray,
    ceremony_us: np.ndarray,
    seed: int,
    stream_key: tuple[int, ...] = (),
) -> GuestEngagement:
    """Which guests the counts of `engagement` are, and when they installed the app and
    opened the guest list.

    `engagement` covers the weddings where `in_play` (one bool per wedding) is true, in
    order; `wedding_of` gives each guest's wedding index (guests grouped by wedding, in
    order), `declined` each guest's RSVP. Active guests are a random pick of those who have
    not declined (a declined guest only when too few others are left: they changed their
    mind). Installs before the day fall a lognormal number of days before the ceremony; an
    active guest without one installs at check-in (the hour before the ceremony); guest-list
    opens fall between the install and the ceremony. `stream_key` picks another stream of
    `seed` for the draws (placing one wedding's guests again, `wedding_signals`)."""
    weddings = len(in_play)

    def per_guest(values: np.ndarray) -> np.ndarray:
        full = np.zeros(weddings, dtype=np.int64)
        full[in_play] = values
        return full[wedding_of]

    rng = _stream(seed, SIGNAL_GUESTS, *stream_key)
    counts = np.bincount(wedding_of, minlength=weddings)
    total = len(wedding_of)
    # Rank within each wedding: not-declined first, in random order.
    by_declined = _rank_within(counts, (rng.random(total), declined, wedding_of))
    active = by_declined < per_guest(engagement.active)
    # Rank within each wedding: the inactive first, in random order.
    by_inactive = _rank_within(counts, (rng.random(total), active, wedding_of))
    installed = np.where(
        active,
        by_declined < per_guest(engagement.installed_ahead_active),
        by_inactive < per_guest(engagement.installed_idle),
    )
    opened = np.where(
        active,
        by_declined < per_guest(engagement.opened_list_active),
        by_inactive < per_guest(engagement.opened_list_idle),
    )
    ceremony = ceremony_us[wedding_of]
    median, sigma = INSTALL_LEAD_DAYS
    lead_days = np.minimum(rng.lognormal(np.log(median), sigma, total), INSTALL_LEAD_MAX_DAYS)
    ahead_at = ceremony - (lead_days * DAY).astype(np.int64)
    checkin_minutes = rng.triangular(*INSTALL_AT_CHECKIN_MINUTES, total)
    at_checkin = ceremony + (checkin_minutes * MINUTE).astype(np.int64)
    installed_at = np.where(installed, ahead_at, np.where(active, at_checkin, NULL_TS))
    opened_at = ahead_at + (rng.random(total) * (ceremony - ahead_at)).astype(np.int64)
    return GuestEngagement(
        active=active,
        changed_mind=active & declined,
        app_installed_at=installed_at,
        guest_list_opened_at=np.where(opened, opened_at, NULL_TS),
    )


def wedding_signals(
    invited_in_play: Sequence[int],
    index: int,
    *,
    declined: np.ndarray,
    ceremony_us: int,
    seed: int,
) -> GuestEngagement:
    """One wedding's guests placed in time again around a new ceremony (a sandbox wedding
    moved to another day): the same `decide_engagement` counts as the load model's for
    (`invited_in_play`, `seed`) at position `index`, its guests (`declined`: each guest's
    RSVP, in id order) picked and timed from a stream of their own, keyed by `index`."""
    decided = decide_engagement(invited_in_play, seed)
    one = Engagement(**{name: values[index : index + 1] for name, values in vars(decided).items()})
    return guest_engagement(
        one,
        in_play=np.ones(1, dtype=bool),
        wedding_of=np.zeros(len(declined), dtype=np.int64),
        declined=np.asarray(declined, dtype=bool),
        ceremony_us=np.array([ceremony_us], dtype=np.int64),
        seed=seed,
        stream_key=(index,),
    )


def _rank_within(counts: np.ndarray, keys: tuple[np.ndarray, ...]) -> np.ndarray:
    """Each row's 0-based rank in its wedding (the last key), ordered by the other keys."""
    order = np.lexsort(keys)
    rank = np.empty(len(order), dtype=np.int64)
    rank[order] = segment_rank(counts)
    return rank
