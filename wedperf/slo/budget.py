"""One wedding's error budget for one SLO at one instant, and which alerts it calls for. Pure.

Definitions (docs/slo.md has the reasoning and the sources):

- The SLO window is the wedding's day window, `length` minutes; `elapsed` minutes of it have
  passed. Each minute has good and total event counts and a weight (its phase's; 1 if none).
- allowance = 1 - objective. The budget is the allowance of the window's events (OpenSLO
  "Occurrences"): allowance x the day's weighted events. Until the window closes the day's
  events are projected at the rate so far (events so far x length / elapsed), so
  consumed = weighted bad / (allowance x projected events) = burn so far x elapsed / length;
  at the close it is the day's outcome. remaining = 1 - consumed.
- burn rate over a span = (weighted bad / weighted events in it) / allowance: 1 spends the
  budget exactly by the end, 10 ten times as fast.
- Alert windows (SRE Workbook's multiwindow, multi-burn-rate alerts) scaled to the length:
  a window fires when its long and its short span both burn at its rate or more, and the
  long span holds at least `min_events` events. A short span with fewer events than
  1 / (rate x allowance) reaches back, up to the long span, until it has them: one bad event
  alone never confirms a burn.
- Page windows also need the short span's burn to exceed the *exhaustion burn*,
  remaining x length / left: the burn at which what is left of the budget is gone when the
  window closes, if traffic keeps its average rate. Below it, the budget outlives the
  wedding and there is nothing to wake anyone for.
- An alert that is firing keeps firing while any window of its severity still burns at
  `resolve_share` (half) of its rate or more over its short span, reaching back until the
  span holds 10 / (rate x allowance) events (ten bad ones at the rate): a burn's noisy
  minutes do not resolve and re-open it, and the long span does not hold it for hours after
  the burn stops. It also resolves when the day window closes.
- The spans end at the last minute that has events, not at the round's instant: the newest
  minute is often not collected yet, and an empty minute is not a calm one.
"""

from __future__ import annotations

import math
from collections.abc import Collection, Sequence
from dataclasses import asdict, dataclass
from datetime import timedelta

import numpy as np

from wedperf.slo.settings import SloSettings

# A firing alert's short span, for the decision to keep it, holds this many bad events' worth
# at the window's rate: enough that a burn still going on does not look calm by chance.
KEEP_BAD_EVENTS = 10


@dataclass(frozen=True)
class AlertWindow:
    """An alert window pair in whole minutes."""

    name: str
    severity: str  # page | ticket
    long_minutes: int
    short_minutes: int
    burn_rate: float


def _minutes(value: timedelta) -> int:
    return math.ceil(value.total_seconds() / 60)


def alert_windows(length_minutes: int, settings: SloSettings) -> list[AlertWindow]:
    """The configured window pairs for an SLO window of `length_minutes`: the long span is its
    share of the length (at least slo.min_long, at most the length), the short span
    1/short_ratio of the long (at least slo.min_short)."""
    found = []
    for w in settings.windows:
        long = min(max(math.ceil(length_minutes * w.long_share), _minutes(settings.min_long)),
                   max(length_minutes, 1))  # fmt: skip
        short = min(max(math.ceil(long / settings.short_ratio), _minutes(settings.min_short)), long)
        found.append(AlertWindow(w.name, w.severity, long, short, w.burn_rate))
    return found


@dataclass(frozen=True)
class WindowState:
    name: str
    severity: str
    long_minutes: int
    short_minutes: int  # the short span used (reached back for enough events)
    burn_rate: float  # the window's threshold
    needed: float  # what the short span had to reach (page: at least the exhaustion burn)
    burn_long: float | None  # None: no events in the span
    burn_short: float | None
    events_long: float
    firing: bool

    def as_dict(self) -> dict:
        return asdict(self)


@dataclass(frozen=True)
class Budget:
    objective: float
    events: float  # unweighted, so far
    bad: float
    consumed: float  # share of the day's budget spent (weighted, projected); may exceed 1
    remaining: float  # 1 - consumed (negative once overspent)
    burn_rate: float | None  # the first window's long-span burn: "burning now"
    exhaustion_burn: float  # inf once the window has closed
    windows: tuple[WindowState, ...]

    @property
    def page(self) -> bool:
        return any(w.firing for w in self.windows if w.severity == "page")

    @property
    def ticket(self) -> bool:
        return any(w.firing for w in self.windows if w.severity == "ticket")


def evaluate_budget(
    good: Sequence[float],
    total: Sequence[float],
    weights: Sequence[float],
    *,
    length_minutes: int,
    objective: float,
    windows: Sequence[AlertWindow],
    min_events: int,
    firing_before: Collection[str] = (),
    resolve_share: float = 0.5,
) -> Budget:
    """The budget after the minutes given (index 0 = the window's first minute; as many
    minutes as have elapsed) and each window's verdict. `firing_before`: the severities
    whose alert is firing from earlier rounds."""
    good = np.asarray(good, dtype=float)
    total = np.asarray(total, dtype=float)
    weights = np.asarray(weights, dtype=float)
    if not (len(good) == len(total) == len(weights)):
        raise ValueError("good, total and weights need one value per minute")
    if np.any(good > total + 1e-9):
        raise ValueError("a minute has more good events than events")
    allowance = 1 - objective
    elapsed = len(total)
    bad = np.clip(total - good, 0, None)
    # Prefix sums: any span's sums in O(1).
    c_events = np.concatenate([[0.0], np.cumsum(total)])
    c_wevents = np.concatenate([[0.0], np.cumsum(total * weights)])
    c_wbad = np.concatenate([[0.0], np.cumsum(bad * weights)])

    with_events = np.flatnonzero(total > 0)
    end = int(with_events[-1]) + 1 if len(with_events) else elapsed

    def span(minutes: int) -> tuple[float, float, float]:
        start = max(end - minutes, 0)
        return (
            c_events[end] - c_events[start],
            c_wevents[end] - c_wevents[start],
            c_wbad[end] - c_wbad[start],
        )

    def burn(wevents: float, wbad: float) -> float | None:
        return None if wevents <= 0 else float((wbad / wevents) / allowance)

    events, wevents, wbad = span(end)
    burn_so_far = 0.0 if wevents <= 0 else float(wbad / (allowance * wevents))
    consumed = burn_so_far * min(elapsed / length_minutes, 1.0) if length_minutes > 0 else 0.0
    remaining = 1 - consumed
    left = length_minutes - elapsed
    exhaustion = math.inf if left <= 0 else remaining * length_minutes / left

    states = []
    for w in windows:
        long_events, long_we, long_wb = span(w.long_minutes)
        burn_long = burn(long_we, long_wb)
        need_events = 1 / (w.burn_rate * allowance)
        short = w.short_minutes
        while short < w.long_minutes and span(short)[0] < need_events:
            short += 1
        _, short_we, short_wb = span(short)
        burn_short = burn(short_we, short_wb)
        needed = max(w.burn_rate, exhaustion) if w.severity == "page" else w.burn_rate
        fires = (
            long_events >= min_events
            and burn_long is not None
            and burn_short is not None
            and burn_long >= w.burn_rate
            and burn_short >= needed
        )
        keeps = False
        if w.severity in firing_before:
            held = short
            while held < w.long_minutes and span(held)[0] < KEEP_BAD_EVENTS * need_events:
                held += 1
            burn_held = burn(*span(held)[1:])
            keeps = burn_held is not None and burn_held >= resolve_share * w.burn_rate
        firing = bool(left > 0 and (fires or keeps))
        states.append(
            WindowState(
                name=w.name,
                severity=w.severity,
                long_minutes=w.long_minutes,
                short_minutes=short,
                burn_rate=w.burn_rate,
                needed=needed,
                burn_long=burn_long,
                burn_short=burn_short,
                events_long=float(long_events),
                firing=firing,
            )
        )
    return Budget(
        objective=objective,
        events=float(events),
        bad=float(bad.sum()),
        consumed=consumed,
        remaining=remaining,
        burn_rate=states[0].burn_long if states else None,
        exhaustion_burn=exhaustion,
        windows=tuple(states),
    )
