"""Re-sizing during the day (the intensity nowcast): is a live wedding busier than expected,
and what floor do the targets serving it need for the rest of its day? (pure)

A wedding's expected load is a step curve over its phases (`phase_spans`: before = day
window opening to arrival, arrival, ceremony, reception to its end), requests/s per invited
guest in each phase (`ops.nowcast.phase_rates`: a mean and a busiest minute, a modelling
assumption) x its guests. Each watch round:

- `intensity`: requests observed since its day window opened (`observed_span`: whole
  steps of `ops.nowcast.step`) over those the curve's means expected in the same span,
  shrunk toward 1 with a pseudo-count k of expected requests at intensity 1: (observed +
  k) / (expected + k), the posterior mean of a Poisson rate under a gamma prior of mean 1
  and weight k; and only once at least `min_expected_requests` were expected —
  before that one busy minute would look like a hot day;
- a wedding is hot at an intensity of at least `threshold`;
- `size_nowcast`: the peak, over the rest of the hot weddings' days, of the expected busiest
  minutes of every wedding on the target, the hot ones scaled by their intensity (the others
  at 1: the calendar's expectation), through `policy.replicas_needed`;
- `decide_nowcast_raise`: `policy.decide_raise` (never lowers, never past the maximum),
  unless someone else changed the floor since wedperf raised it (then it is theirs);
- `decide_nowcast_restore`: `policy.decide_restore` (no wedding holding the target's floor,
  `plan.holding_floor`; the cooldown passed), never while a ceremony on the target is in
  progress, never over someone else's value.

The production step (`capacity.nowcast_round`) and the replay
(`capacity.replay.production_nowcast`) call these functions with their own clocks.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from wedperf.calendar.model import Wedding
from wedperf.capacity.floor import floor_changed_by_someone_else
from wedperf.capacity.plan import serves
from wedperf.capacity.policy import FloorDecision, decide_raise, decide_restore, replicas_needed
from wedperf.config import CapacityTarget, Settings


def phase_spans(wedding: Wedding, settings: Settings) -> list[tuple[str, datetime, datetime]]:
    """The wedding's day window split into its phases, as (phase, start, end), empty ones
    left out: before (from the day window's opening to arrival), arrival (the forecast's
    `arrival_before` the ceremony), ceremony (`ceremony_length`, cut at the end), reception
    (to `ends_at`); the same phases as `forecast.events.wedding_phase_events`."""
    opens, _ = wedding.day_window(settings.day_window_before, settings.day_window_after)
    arrival = wedding.starts_at - settings.forecast.arrival_before
    ceremony_end = min(wedding.ends_at, wedding.starts_at + settings.forecast.ceremony_length)
    spans = [
        ("before", opens, min(arrival, wedding.starts_at)),
        ("arrival", max(arrival, opens), wedding.starts_at),
        ("ceremony", wedding.starts_at, ceremony_end),
        ("reception", ceremony_end, wedding.ends_at),
    ]
    return [(phase, lo, hi) for phase, lo, hi in spans if hi > lo]


def expected_requests(
    wedding: Wedding, start: datetime, end: datetime, settings: Settings
) -> float:
    """Requests the curve's phase means expect of the wedding in [start, end)."""
    rates = settings.ops.nowcast.phase_rates
    total = 0.0
    for phase, lo, hi in phase_spans(wedding, settings):
        overlap = (min(hi, end) - max(lo, start)).total_seconds()
        if overlap > 0:
            total += overlap * rates[phase].mean * wedding.guest_count
    return total


def observed_span(wedding: Wedding, at: datetime, settings: Settings) -> tuple[datetime, datetime]:
    """The span of the wedding's requests a round at `at` compares: the whole steps of
    `ops.nowcast.step` (on the epoch's grid, as Prometheus is asked) from its day window's
    opening to `at` — empty (start >= end) before a first whole step. Observed and expected
    requests are both counted over it."""
    step = int(settings.ops.nowcast.step.total_seconds())
    opens, _ = wedding.day_window(settings.day_window_before, settings.day_window_after)
    start = -(-int(opens.timestamp()) // step) * step
    end = int(at.timestamp()) // step * step
    return datetime.fromtimestamp(start, UTC), datetime.fromtimestamp(end, UTC)


def intensity(observed: float, expected: float, *, prior: float) -> float:
    """Observed over expected requests, shrunk toward 1 by `prior` expected requests."""
    if expected + prior <= 0:
        return 1.0
    return (observed + prior) / (expected + prior)


@dataclass(frozen=True)
class WeddingIntensity:
    wedding_id: str
    observed: float  # requests over its observed span (since its day window opened)
    expected: float  # requests the curve expected over the same span
    intensity: float | None  # None: too little expected yet to tell
    hot: bool


def assess(
    weddings: Iterable[Wedding], observed: Mapping[str, float], at: datetime, settings: Settings
) -> list[WeddingIntensity]:
    """Each live wedding's intensity so far at `at` (`observed`: its requests over its
    `observed_span`; a wedding without a series has observed none)."""
    nowcast = settings.ops.nowcast
    out = []
    for w in weddings:
        if w.status == "cancelled":
            continue
        expected = expected_requests(w, *observed_span(w, at, settings), settings)
        seen = float(observed.get(w.wedding_id, 0.0))
        if expected < nowcast.min_expected_requests or expected <= 0:
            out.append(WeddingIntensity(w.wedding_id, seen, expected, None, False))
            continue
        value = intensity(seen, expected, prior=nowcast.prior_requests)
        hot = value >= nowcast.threshold
        out.append(WeddingIntensity(w.wedding_id, seen, expected, value, hot))
    return out


@dataclass(frozen=True)
class NowcastSizing:
    """The floor the hot weddings on a target need for the rest of their days."""

    needed: int
    load_rps: float
    hot: list[str]  # the hot weddings on the target
    until: datetime | None  # the end of the last hot wedding's day window

    @property
    def why(self) -> str:
        shown = ", ".join(self.hot[:5])
        return (
            f"wedding(s) {shown} running hot: expected peak {self.load_rps:.1f} req/s for "
            f"their remaining phases, {self.needed} replica(s) needed"
        )


def size_nowcast(
    target: CapacityTarget,
    assessed: Sequence[WeddingIntensity],
    candidates: Sequence[Wedding],
    at: datetime,
    settings: Settings,
) -> NowcastSizing | None:
    """The floor for the rest of the hot weddings' days on `target`; None when none of the
    weddings it serves runs hot. `candidates`: the weddings whose day windows may overlap
    [at, end of the last hot one's window) (any superset; filtered here)."""
    by_id = {w.wedding_id: w for w in candidates}
    factor = {
        a.wedding_id: a.intensity
        for a in assessed
        if a.hot and a.wedding_id in by_id and serves(target, by_id[a.wedding_id])
    }
    if not factor:
        return None
    until = max(
        by_id[i].day_window(settings.day_window_before, settings.day_window_after)[1]
        for i in factor
    )
    rates = settings.ops.nowcast.phase_rates
    horizon = settings.ops.nowcast.horizon
    sized_until = until if horizon is None else min(until, at + horizon)
    # Busiest minutes as step segments over [at, sized_until); their sum's peak by a sweep over
    # edges (ends before starts at a tie: a phase ending as another begins is no overlap).
    edges: list[tuple[datetime, int, float]] = []
    for w in candidates:
        if w.status == "cancelled" or not serves(target, w):
            continue
        scale = factor.get(w.wedding_id, 1.0) * w.guest_count
        for phase, lo, hi in phase_spans(w, settings):
            lo, hi = max(lo, at), min(hi, sized_until)
            if hi > lo:
                rps = rates[phase].peak * scale
                edges += [(lo, 1, rps), (hi, 0, -rps)]
    peak = active = 0.0
    for _, _, delta in sorted(edges, key=lambda e: (e[0], e[1])):
        active += delta
        peak = max(peak, active)
    needed = replicas_needed(
        max(peak, 0.0),
        per_replica_rps=target.per_replica_rps,
        headroom=settings.ops.headroom,
        minimum=target.min_replicas,
        maximum=target.max_replicas,
    )
    return NowcastSizing(needed, peak, sorted(factor), until)


def decide_nowcast_raise(
    *,
    needed: int,
    current_floor: int | None,
    maximum: int,
    baseline: int | None,
    set_by_wedperf: int | None,
) -> FloorDecision:
    """`decide_raise`, unless a raise is in force (`baseline`) and the floor is neither the
    one wedperf set nor the baseline: someone else changed it since, so it is theirs. (At
    the baseline, the raise's write never took effect: raised again.)"""
    if floor_changed_by_someone_else(current_floor, baseline, set_by_wedperf):
        return FloorDecision(None, _theirs(current_floor, set_by_wedperf))
    return decide_raise(needed=needed, current_floor=current_floor, maximum=maximum)


def decide_nowcast_restore(
    *,
    baseline: int | None,
    current_floor: int | None,
    set_by_wedperf: int | None,
    live_weddings: list[str],
    in_ceremony: Sequence[str],
    last_change: datetime | None,
    now: datetime,
    cooldown: timedelta,
) -> FloorDecision:
    """Back to the baseline once no wedding on the target is live (`decide_restore`: and the
    cooldown has passed) — never while a ceremony on it is in progress, never over someone
    else's value (the caller then forgets the baseline: no restore is owed)."""
    if baseline is not None and in_ceremony:
        shown = ", ".join(in_ceremony[:5])
        return FloorDecision(None, f"ceremony of {shown} in progress: no scale-in now")
    if baseline is not None and floor_changed_by_someone_else(
        current_floor, baseline, set_by_wedperf
    ):
        return FloorDecision(None, _theirs(current_floor, set_by_wedperf))
    return decide_restore(
        baseline=baseline,
        current_floor=current_floor,
        live_weddings=live_weddings,
        last_change=last_change,
        now=now,
        cooldown=cooldown,
    )


def changed_by_someone_else(decision: FloorDecision) -> bool:
    """Whether a nowcast decision left the floor alone because it is someone else's."""
    return decision.new_floor is None and "changed by someone else" in decision.reason


def _theirs(current, set_by_wedperf) -> str:
    return (
        f"floor is {current}, not the {set_by_wedperf} wedperf set: changed by someone else, "
        "left as it is"
    )
