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
- A window whose `measure` is `budget` (the fast page) burns against the day's budget
  instead: budget burn over a span = (weighted bad events above the baseline, per minute) /
  (allowance x weighted events per minute so far), the baseline being the error ratio of
  the `baseline_minutes` before the long span. 1 still spends the budget exactly by the
  close, but a busy phase (check-in) or a weighted one (the ceremony) spends more of it per
  bad share than a quiet one, which an error ratio cannot see; a burn that was already
  going on before (a steady one) is not counted again. Its guard is evidence of a rise,
  not a span's size: the long span holds rate x allowance x min_events bad events above
  the baseline (what a ratio window's
  guard means at its threshold), so a quiet phase's few events do not block a page; and
  its bad events fall in at least BURN_MINUTES minutes: a burn lasts, a 2-minute blip does
  not (in the check-in hour a 40-guest wedding's blip spends as much budget as the first
  minutes of a regression: only its length tells them apart). Its short span reaches back
  until, burning at the rate, it would hold SHORT_BAD_EVENTS bad events.
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
from scipy.special import gammaincinv
from scipy.stats import binom

from wedperf.slo.settings import SloSettings

# A firing alert's short span, for the decision to keep it, holds this many bad events' worth
# at the window's rate: enough that a burn still going on does not look calm by chance.
KEEP_BAD_EVENTS = 10
# A budget window needs bad events in at least this many minutes of its long span: a burn
# lasts; a blip of one or two minutes, however many requests it slowed, is not a regression.
BURN_MINUTES = 4
# A budget window's short span, burning at the rate, holds this many bad events: two calm
# minutes of a 40-guest regression are chance (~1.7 bad requests a minute), not its end.
SHORT_BAD_EVENTS = 2


def poisson_lower(count: float, confidence: float) -> float:
    """The one-sided lower confidence bound on a Poisson mean from an observed `count`
    (Garwood's exact interval: the mean below which seeing `count` or more has probability
    1 - confidence). 0 for a count of 0."""
    if count <= 0:
        return 0.0
    return float(gammaincinv(count, 1 - confidence))


def rise_p_value(bad: float, events: float, base_bad: float, base_events: float) -> float:
    """How likely a span's `bad` of `events` is, or more, if its error ratio were the
    baseline's (`base_bad` of `base_events`): the exact conditional test of two Poisson
    rates (given bad + base_bad, the span's share is binomial with p = its share of the
    events). A steady burn's spans and baseline share one ratio, so this is small by chance
    only; a regression's jump from 0.1% to a few percent makes it tiny within minutes."""
    if bad <= 0 or events <= 0 or base_events <= 0:
        return 1.0
    n = int(round(bad + base_bad))
    return float(binom.sf(int(round(bad)) - 1, n, events / (events + base_events)))


@dataclass(frozen=True)
class AlertWindow:
    """An alert window pair in whole minutes."""

    name: str
    severity: str  # page | ticket
    long_minutes: int
    short_minutes: int
    burn_rate: float
    measure: str = "ratio"  # ratio | budget (wedperf.slo.settings.BurnWindow)


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
        found.append(AlertWindow(w.name, w.severity, long, short, w.burn_rate, w.measure))
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
    measure: str = "ratio"
    # The long span's burn at the lower confidence bound of its bad events (and, for a budget
    # window, the upper bound of its baseline): a window fires only when this too reaches
    # its rate, so chance in a few dozen events does not page. None: no events.
    burn_long_low: float | None = None

    def as_dict(self) -> dict:
        return asdict(self)


@dataclass(frozen=True)
class Budget:
    objective: float
    events: float  # unweighted, so far
    bad: float
    consumed: float  # share of the day's budget spent (weighted, projected); may exceed 1
    remaining: float  # 1 - consumed (negative once overspent)
    # The first window's long-span burn, exactly as that window alerts on it (for the fast
    # page: bad events above the baseline against the day's pace): the figure shown by
    # `wedperf watch`, the stored rounds and the report is the one the page compares.
    burn_rate: float | None
    exhaustion_burn: float  # inf once the window has closed
    windows: tuple[WindowState, ...]
    # Some events, but fewer than min_events so far (the allowance so far is under one bad
    # event): consumed projects the day from too few events, and a single bad event reads as
    # several percent of the budget. Shown marked. No alert depends on it: early in the
    # window the exhaustion burn is at most length / time left (~1), below every page rate.
    provisional: bool = False

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
    baseline_minutes: int = 30,
    confidence: float | None = None,
    rise_p: float = 0.001,
) -> Budget:
    """The budget after the minutes given (index 0 = the window's first minute; as many
    minutes as have elapsed) and each window's verdict. `firing_before`: the severities
    whose alert is firing from earlier rounds. `confidence`: a window fires only if its long
    span's burn reaches its rate with the span's bad events at this one-sided lower bound,
    and a budget window's rise over its baseline has a p-value of `rise_p` or less (None,
    the default here: the point estimates alone; rounds pass slo.confidence, 0.8)."""
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

    c_bad = np.concatenate([[0.0], np.cumsum(bad)])

    def between(start: int, stop: int) -> tuple[float, float, float, float]:
        start, stop = max(start, 0), max(stop, 0)
        return (
            c_events[stop] - c_events[start],
            c_wevents[stop] - c_wevents[start],
            c_wbad[stop] - c_wbad[start],
            c_bad[stop] - c_bad[start],
        )

    def span(minutes: int) -> tuple[float, float, float]:
        return between(end - minutes, end)[:3]

    def burn(wevents: float, wbad: float) -> float | None:
        return None if wevents <= 0 else float((wbad / wevents) / allowance)

    # Weighted events per minute so far: the pace a budget window's burn is measured against
    # (the same projection of the day's events as `consumed`).
    pace = c_wevents[end] / end if end else 0.0

    events, wevents, wbad = span(end)
    burn_so_far = 0.0 if wevents <= 0 else float(wbad / (allowance * wevents))
    consumed = burn_so_far * min(elapsed / length_minutes, 1.0) if length_minutes > 0 else 0.0
    remaining = 1 - consumed
    left = length_minutes - elapsed
    exhaustion = math.inf if left <= 0 else remaining * length_minutes / left

    states = []
    for w in windows:
        long_events, long_we, long_wb = span(w.long_minutes)
        if w.measure == "budget":
            # The error ratio before the long span: what is not new.
            base = between(end - w.long_minutes - baseline_minutes, end - w.long_minutes)
            known = base[0] >= min_events and base[1] > 0
            base_ratio = base[2] / base[1] if known else 0.0
            rise_bad = between(end - w.long_minutes, end)[3] - base_ratio * long_events

            def window_burn(minutes: int, base_ratio=base_ratio, low=None) -> float | None:
                # low: the share of the span's bad events counted (their lower bound)
                _, we, wb = span(minutes)
                used = min(minutes, end)
                if pace <= 0 or used <= 0:
                    return None
                wb = wb if low is None else wb * low
                return float(max(wb - base_ratio * we, 0.0) / used / (allowance * pace))

            low = None
            if confidence is not None:
                # The bad events at their lower confidence bound, and the rise significant:
                # a few lucky minutes of a slow burn in a quiet phase (whose budget burn the
                # low pace so far magnifies) and a steady burn's noisy baseline do not page.
                long_bad = between(end - w.long_minutes, end)[3]
                kept = poisson_lower(long_bad, confidence) / long_bad if long_bad > 0 else 0.0
                if known and rise_p_value(long_bad, long_events, base[3], base[0]) > rise_p:
                    kept = 0.0
                low = kept
            bad_minutes = int(np.count_nonzero(bad[max(end - w.long_minutes, 0) : end]))
            guarded = (
                rise_bad >= w.burn_rate * allowance * min_events and bad_minutes >= BURN_MINUTES
            )
        else:

            def window_burn(minutes: int, low=None) -> float | None:
                _, we, wb = span(minutes)
                return burn(we, wb if low is None else wb * low)

            guarded = long_events >= min_events
            low = None
            if confidence is not None:
                long_bad = between(end - w.long_minutes, end)[3]
                low = poisson_lower(long_bad, confidence) / long_bad if long_bad > 0 else 0.0
        burn_long = window_burn(w.long_minutes)
        burn_long_low = burn_long if low is None else window_burn(w.long_minutes, low=low)
        need_events = 1 / (w.burn_rate * allowance)
        short = w.short_minutes
        while short < w.long_minutes and span(short)[0] < need_events:
            short += 1
        if w.measure == "budget":
            # Burning at the rate, the short span holds SHORT_BAD_EVENTS bad events: in a
            # small wedding two calm minutes of a regression are chance, not its end.
            while short < w.long_minutes and w.burn_rate * allowance * pace * short < (
                SHORT_BAD_EVENTS
            ):
                short += 1
        burn_short = window_burn(short)
        needed = max(w.burn_rate, exhaustion) if w.severity == "page" else w.burn_rate
        fires = (
            guarded
            and burn_long is not None
            and burn_short is not None
            and burn_long >= w.burn_rate
            and burn_long_low is not None
            and burn_long_low >= w.burn_rate
            and burn_short >= needed
        )
        keeps = False
        if w.severity in firing_before:
            held = short
            while held < w.long_minutes and span(held)[0] < KEEP_BAD_EVENTS * need_events:
                held += 1
            burn_held = window_burn(held)
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
                measure=w.measure,
                burn_long_low=burn_long_low,
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
        provisional=bool(left > 0 and 0 < events < min_events),
    )
