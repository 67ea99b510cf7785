"""Replaying a load series through capacity policies, minute by minute.

Policies over the same per-minute load L(t) (requests/s) with per-replica capacity c
(requests/s one replica serves within the latency SLO):

- oracle: knows the future; exactly ceil(L(t) / c) replicas every minute;
- reactive: target tracking at utilisation `target_utilisation`, seeing the load `metric_lag`
  minutes late, new replicas serving `pod_start` minutes after the decision, scale-in only
  after `scale_in_stabilisation` minutes of lower demand (the HPA defaults' shape);
- wedperf: the same reactive autoscaler on top of the floor production sets
  (`production_floor`): the plan's floor runs (`capacity.plan.plan_wedding_ops`, its slots
  and lead times), each raise sized by `capacity.floor.size_floor` from the newest daily fit
  of the forecast (`forecast_rounds`, the fit-forecasts options and schedule) or the
  calendar, each restore decided by `policy.decide_restore` — the functions the
  capacity-floor flow calls, driven by the replay's clock instead of Prefect's;
- wedperf's event-window target utilisation (`production_utilisation`): the plan's
  `utilisation-lower` / `-restore` runs decided by `capacity.utilisation` — the functions
  the capacity-floor flow's utilisation step calls — giving the autoscaler's target
  utilisation minute by minute;
- scheduled scaling without a calendar (`weekly_utilisation`): the target utilisation
  lowered every week in a fixed local window (`WeeklyWindow`), as two CronJobs would;
- a calendar-free floor in the shape of cloud predictive scaling (`calendar_free_floor`).

Under-provisioned minutes are minutes inside event windows with replicas x c < L(t).
"""

from __future__ import annotations

import heapq
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import numpy as np
import pandas as pd

from wedperf.calendar.model import Wedding
from wedperf.calendar.schedule import window_grid_times
from wedperf.capacity.floor import RETRY_SLACK, held_retry_at, size_floor, slot_span
from wedperf.capacity.nowcast import (
    assess,
    decide_nowcast_raise,
    decide_nowcast_restore,
    observed_span,
    size_nowcast,
)
from wedperf.capacity.plan import floor_hold_reach, holding_floor, plan_wedding_ops, serves
from wedperf.capacity.policy import decide_raise, decide_restore
from wedperf.capacity.utilisation import (
    ceremonies_in_progress,
    decide_lower,
    decide_utilisation_restore,
    live_weddings,
)
from wedperf.config import CapacityTarget, Settings
from wedperf.forecast.requests import peak_to_mean


@dataclass(frozen=True)
class ReactiveConfig:
    target_utilisation: float = 0.9
    metric_lag: int = 2  # minutes
    pod_start: int = 3  # minutes
    scale_in_stabilisation: int = 5  # minutes
    min_replicas: int = 1


@dataclass(frozen=True)
class PolicyResult:
    replicas: np.ndarray
    under_provisioned_minutes: int
    replica_hours: float

    def summary(self) -> dict[str, float]:
        return {
            "under_provisioned_minutes": int(self.under_provisioned_minutes),
            "replica_hours": round(float(self.replica_hours), 1),
        }


def oracle(load: np.ndarray, capacity: float, minimum: int = 1) -> np.ndarray:
    return np.maximum(minimum, np.ceil(load / capacity)).astype(np.int64)


def reactive(
    load: np.ndarray,
    capacity: float,
    config: ReactiveConfig,
    floor: np.ndarray | None = None,
    utilisation: np.ndarray | None = None,
) -> np.ndarray:
    """Replicas serving each minute under target tracking (with an optional floor under it,
    and optionally the target utilisation in force each minute instead of the config's)."""
    n = len(load)
    seen = np.concatenate([np.full(config.metric_lag, load[0]), load[: -config.metric_lag or None]])
    target_utilisation = config.target_utilisation if utilisation is None else utilisation
    desired = np.maximum(
        config.min_replicas, np.ceil(seen / (capacity * target_utilisation))
    ).astype(np.int64)
    if floor is not None:
        desired = np.maximum(desired, floor)
    serving = np.empty(n, dtype=np.int64)
    current = int(max(desired[0], floor[0] if floor is not None else 0))
    # Scale-in: only to the highest demand of the stabilisation window (the minute's own
    # demand included), computed for every minute at once; the loop below is then plain
    # integers, which a year of minutes per policy setting needs.
    window = config.scale_in_stabilisation
    padded = np.concatenate([np.full(window - 1, desired[0]), desired])
    targets = np.lib.stride_tricks.sliding_window_view(padded, window).max(axis=1)[:n].tolist()
    # Pods asked for, oldest first: every request is ready `pod_start` minutes after it is
    # made, so requests become ready in the order they were made.
    pending: deque[tuple[int, int]] = deque()  # (minute ready, replica count)
    starting = 0  # replicas in `pending`
    pod_start = config.pod_start
    for t, target in enumerate(targets):
        if target > current + starting:
            pending.append((t + pod_start, target - current - starting))
            starting = target - current
        elif target < current and not pending:
            current = target
        while pending and pending[0][0] <= t:
            ready = pending.popleft()[1]
            current += ready
            starting -= ready
        serving[t] = current
    return serving


def evaluate(
    replicas: np.ndarray, load: np.ndarray, capacity: float, in_window: np.ndarray
) -> PolicyResult:
    short = (replicas * capacity < load) & in_window
    return PolicyResult(replicas, int(short.sum()), float(replicas.sum()) / 60.0)


def floor_from_forecast(
    n_minutes: int,
    windows: list[tuple[int, int]],
    upper_by_minute: np.ndarray,
    *,
    capacity: float,
    headroom: float,
    buffer: int,
) -> np.ndarray:
    """Per minute inside the event windows (opened `buffer` minutes early): replicas for the
    forecast upper bound with headroom, looking `buffer` minutes ahead so capacity is ready
    before the forecast rises — a schedule that follows the forecast's shape, hour by hour,
    rather than one level for the whole window. 0 outside windows (reactive only)."""
    # 22.000000001 replicas is 22.
    need = np.ceil(np.nan_to_num(upper_by_minute) * (1 + headroom) / capacity - 1e-9)
    ahead = (
        np.lib.stride_tricks.sliding_window_view(
            np.concatenate([need, np.zeros(buffer)]), buffer + 1
        ).max(axis=1)
        if buffer
        else need
    )
    inside = np.zeros(n_minutes, dtype=bool)
    for start, end in windows:
        inside[max(0, start - buffer) : min(n_minutes, end)] = True
    return np.where(inside, ahead[:n_minutes], 0).astype(np.int64)


# --- the production floor, replayed --------------------------------------------------------

# The fit-forecasts deployment's schedule (prefect.yaml: cron "30 4 * * *", New York time).
FIT_AT = (4, 30)
FIT_TZ = "America/New_York"


def fit_times(start: pd.Timestamp, end: pd.Timestamp) -> list[pd.Timestamp]:
    """When the scheduled fit-forecasts runs happen in [start, end), in UTC."""
    zone = ZoneInfo(FIT_TZ)
    days = pd.date_range(start.tz_convert(zone).normalize(), end.tz_convert(zone), freq="D")
    times = [
        pd.Timestamp(day.year, day.month, day.day, *FIT_AT, tz=zone).tz_convert("UTC")
        for day in days
    ]
    return [t for t in times if start <= t < end]


def forecast_rounds(
    y: pd.Series,
    features: pd.DataFrame,
    options,
    times: Sequence[pd.Timestamp],
    *,
    on_fit: Callable[[int, int], None] | None = None,
) -> list[tuple[pd.Timestamp, pd.DataFrame]]:
    """What fit-forecasts stores at each of `times`: `options.fit` (the production fit) on
    the `read_hours` of hourly history before the round's origin (the hour in progress is
    forecast, not trained on), as (time of the round, forecast frame). Rounds without
    enough history are left out, as production skips them."""
    rounds = []
    for k, at in enumerate(times):
        origin = at.floor("h")
        history = y[(y.index >= origin - options.read_hours * pd.Timedelta(hours=1))
                    & (y.index < origin)]  # fmt: skip
        if len(history) < options.train_hours:
            continue
        fit = options.fit("replay", history, features)
        rounds.append((at, fit.forecast))
        if on_fit is not None:
            on_fit(k + 1, len(times))
    return rounds


def with_peak_to_mean(
    rounds: Sequence[tuple[pd.Timestamp, pd.DataFrame]],
    counts: pd.Series,
    peaks: pd.Series,
    read_hours: int,
) -> list[tuple[pd.Timestamp, pd.DataFrame]]:
    """The rounds as fit-forecasts stores them for a request-rate series: each fit carries
    the within-hour peak-to-mean ratio learned from the hours it read (`read_hours` before
    its origin), as `load_inputs` learns it from Prometheus."""
    out = []
    for at, frame in rounds:
        origin = at.floor("h")
        hours = (counts.index >= origin - read_hours * pd.Timedelta(hours=1)) & (
            counts.index < origin
        )
        ratio = peak_to_mean(peaks[hours], counts[hours])
        out.append((at, frame.assign(peak_to_mean=ratio)))
    return out


def newest_fit(
    rounds: Sequence[tuple[pd.Timestamp, pd.DataFrame]],
) -> Callable[[datetime], pd.DataFrame | None]:
    """The forecast perf.latest_forecasts holds at a moment: the newest round before it."""
    stamps = pd.DatetimeIndex([at for at, _ in rounds])

    def at(moment: datetime) -> pd.DataFrame | None:
        k = int(stamps.searchsorted(pd.Timestamp(moment), side="right"))
        return rounds[k - 1][1] if k else None

    return at


@dataclass(frozen=True)
class FloorStep:
    """One capacity-floor run of the replay, as the production step would record it."""

    at: datetime
    action: str  # raise | restore
    before: int
    after: int
    reason: str


def production_floor(
    weddings: Sequence[Wedding],
    minutes: pd.DatetimeIndex,
    target: CapacityTarget,
    settings: Settings,
    forecast_at: Callable[[datetime], pd.DataFrame | None],
) -> tuple[np.ndarray, list[FloorStep]]:
    """The floor the capacity-floor runs of the plan set on `target`, minute by minute over
    `minutes`, and their steps. The plan is made at the first minute (weddings are booked
    months ahead; a later re-plan of an unchanged calendar creates the same runs); each raise
    is sized on the newest fit at its scheduled time (`forecast_at`), each restore waits for
    live weddings and the cooldown and, held back by either, is retried as the flow
    retries it. The floor starts at the target's minimum (its baseline)."""
    now = minutes[0].to_pydatetime()
    by_id = {w.wedding_id: w for w in weddings}
    queue = [
        (run.scheduled_time, run.operation, run.wedding_ids)
        for run in plan_wedding_ops(weddings, now=now, settings=settings)
        if run.target == target.name and run.operation.startswith("floor-")
    ]
    queue.sort(key=lambda item: (item[0], item[1] != "floor-raise"))
    active = sorted((w for w in weddings if w.status != "cancelled"), key=lambda w: w.starts_at)
    starts = np.array([w.starts_at.timestamp() for w in active])
    reach = (
        settings.day_window_before
        + settings.day_window_after
        + max((w.ends_at - w.starts_at for w in active), default=timedelta(0))
    )

    def near(start: datetime, end: datetime) -> list[Wedding]:
        """Weddings that may overlap [start, end) (a superset; size_floor filters)."""
        lo = np.searchsorted(starts, (start - reach).timestamp())
        hi = np.searchsorted(starts, (end + reach).timestamp())
        return active[lo:hi]

    floor, baseline, changed_at = target.min_replicas, None, None
    changes: list[tuple[datetime, int]] = []
    steps: list[FloorStep] = []
    while queue:
        at, operation, ids = queue.pop(0)
        slot = [by_id[i] for i in ids if i in by_id and by_id[i].status != "cancelled"]
        if operation == "floor-raise":
            if not slot:
                continue
            candidates = near(*slot_span(slot, settings))
            sizing = size_floor(target, slot, candidates, forecast_at(at), settings)
            decision = decide_raise(
                needed=sizing.needed, current_floor=floor, maximum=target.max_replicas
            )
            reason = f"{sizing.why}; {decision.reason}"
            if decision.new_floor is not None:
                baseline = floor if baseline is None else baseline
        else:
            behind, ahead = floor_hold_reach(settings)
            nearby = near(at - behind, at + ahead)
            live = holding_floor(nearby, target, at, settings)
            decision = decide_restore(
                baseline=baseline, current_floor=floor, live_weddings=live,
                last_change=changed_at, now=at, cooldown=settings.ops.cooldown,
            )  # fmt: skip
            reason = decision.reason
            if decision.new_floor is not None:
                baseline = None
            elif live and baseline is not None:  # held by weddings: retried as the flow does
                queue.append((held_retry_at(nearby, live, target, settings), operation, ids))
                queue.sort(key=lambda item: (item[0], item[1] != "floor-raise"))
            elif decision.reason.startswith("cooldown") and changed_at is not None:
                retry = changed_at + settings.ops.cooldown + RETRY_SLACK
                queue.append((retry, operation, ids))
                queue.sort(key=lambda item: (item[0], item[1] != "floor-raise"))
        action = operation.removeprefix("floor-")
        if decision.new_floor is not None:
            steps.append(FloorStep(at, action, floor, decision.new_floor, reason))
            floor, changed_at = decision.new_floor, at
            changes.append((at, floor))
    schedule = np.full(len(minutes), target.min_replicas, dtype=np.int64)
    for at, level in changes:
        schedule[minutes.searchsorted(pd.Timestamp(at)) :] = level
    return schedule, steps


@dataclass(frozen=True)
class UtilisationStep:
    """One utilisation run of the replay, as the production step would record it."""

    at: datetime
    action: str  # lower | restore
    before: int
    after: int
    reason: str


def production_utilisation(
    weddings: Sequence[Wedding],
    minutes: pd.DatetimeIndex,
    target: CapacityTarget,
    settings: Settings,
    baseline: int,
) -> tuple[np.ndarray, list[UtilisationStep]]:
    """The autoscaler target utilisation (%) the plan's utilisation runs leave in force on
    `target`, minute by minute over `minutes`, and their steps; the target starts at
    `baseline` (and nobody else changes it). As `production_floor`: planned at the first
    minute, each run decided at its scheduled time, a restore held back by the cooldown
    retried as the flow retries it."""
    now = minutes[0].to_pydatetime()
    queue = [
        (run.scheduled_time, run.operation, run.wedding_ids)
        for run in plan_wedding_ops(weddings, now=now, settings=settings)
        if run.target == target.name and run.operation.startswith("utilisation-")
    ]
    order = lambda item: (item[0], item[1] != "utilisation-lower")  # noqa: E731
    queue.sort(key=order)
    by_id = {w.wedding_id: w for w in weddings}
    active = sorted((w for w in weddings if w.status != "cancelled"), key=lambda w: w.starts_at)
    starts = np.array([w.starts_at.timestamp() for w in active])
    reach = (
        settings.day_window_before
        + settings.day_window_after
        + max((w.ends_at - w.starts_at for w in active), default=timedelta(0))
    )
    lead = settings.ops.event_utilisation.lead
    event = settings.ops.event_utilisation.utilisation

    def near(start: datetime, end: datetime) -> list[Wedding]:
        lo = np.searchsorted(starts, (start - reach).timestamp())
        hi = np.searchsorted(starts, (end + reach).timestamp())
        return [w for w in active[lo:hi] if serves(target, w)]

    current, remembered, set_by, changed_at = baseline, None, None, None
    changes: list[tuple[datetime, int]] = []
    steps: list[UtilisationStep] = []
    while queue:
        at, operation, ids = queue.pop(0)
        slot = [by_id[i] for i in ids if i in by_id and by_id[i].status != "cancelled"]
        if operation == "utilisation-lower":
            if not slot:
                continue
            decision = decide_lower(
                event=event, current=current, baseline=remembered, set_by_wedperf=set_by
            )
            if decision.forget_baseline:  # someone else's value (never here: nobody else)
                remembered = None
            if decision.new is not None:
                remembered = current if remembered is None else remembered
        else:
            nearby = near(at - lead, at + settings.ops.slot + lead)
            decision = decide_utilisation_restore(
                baseline=remembered, current=current, set_by_wedperf=set_by,
                live=live_weddings(nearby, at, at + settings.ops.slot, lead=lead,
                                   after=settings.day_window_after),
                in_ceremony=ceremonies_in_progress(nearby, at, settings.forecast.ceremony_length),
                last_change=changed_at, now=at, cooldown=settings.ops.cooldown,
            )  # fmt: skip
            if decision.new is not None or decision.forget_baseline:
                remembered = None
            if decision.new is None and decision.reason.startswith("cooldown"):
                queue.append((changed_at + settings.ops.cooldown + RETRY_SLACK, operation, ids))
                queue.sort(key=order)
        if decision.new is not None:
            action = operation.removeprefix("utilisation-")
            steps.append(UtilisationStep(at, action, current, decision.new, decision.reason))
            current, set_by, changed_at = decision.new, decision.new, at
            changes.append((at, current))
    schedule = np.full(len(minutes), baseline, dtype=np.int64)
    for at, level in changes:
        schedule[minutes.searchsorted(pd.Timestamp(at)) :] = level
    return schedule, steps


MINUTES_PER_WEEK = 7 * 24 * 60


@dataclass(frozen=True)
class WeeklyWindow:
    """A fixed weekly window in local time, as two CronJobs would set it: from `opens` to
    `closes`, each (weekday, hour, minute) with Monday = 0; it may wrap over Sunday night."""

    opens: tuple[int, int, int]
    closes: tuple[int, int, int]
    timezone: str = "America/New_York"

    def contains(self, minutes: pd.DatetimeIndex) -> np.ndarray:
        """Whether each minute is inside the window (local wall-clock time; on the night
        the clocks change, a cron time that does not exist is passed at the next minute
        that does)."""
        local = minutes.tz_convert(self.timezone)
        of_week = (
            local.day_of_week.to_numpy() * 1440
            + local.hour.to_numpy() * 60
            + local.minute.to_numpy()
        )
        opens, closes = (d * 1440 + h * 60 + m for d, h, m in (self.opens, self.closes))
        return (of_week - opens) % MINUTES_PER_WEEK < (closes - opens) % MINUTES_PER_WEEK


def weekly_utilisation(
    minutes: pd.DatetimeIndex, window: WeeklyWindow, *, utilisation: int, baseline: int
) -> np.ndarray:
    """Scheduled scaling without a calendar: the autoscaler target utilisation (%) in force
    each minute when it is set to `utilisation` every week inside `window` and back to
    `baseline` outside it."""
    return np.where(window.contains(minutes), utilisation, baseline).astype(np.int64)


def bisect_threshold(
    ok: Callable[[float], bool],
    lo: float,
    hi: float,
    *,
    tolerance: float,
    good_enough: Callable[[float], bool] | None = None,
) -> float:
    """The highest x in [lo, hi) at which `ok` holds, to within `tolerance`, for an `ok`
    that holds at `lo`, fails at `hi` (neither is called there) and flips once in between
    (e.g. a target utilisation with at most N under-provisioned minutes). Stops early at
    an x that is `good_enough`, which it returns whether `ok` holds there or not (so a
    `good_enough` that implies `ok` keeps the answer on `ok`'s side)."""
    if not lo < hi:
        raise ValueError(f"need lo < hi, got {lo} and {hi}")
    while hi - lo > tolerance:
        mid = (lo + hi) / 2
        if ok(mid):
            lo = mid
        else:
            hi = mid
        if good_enough is not None and good_enough(mid):
            return mid
    return lo


def calendar_free_floor(
    minutes: pd.DatetimeIndex,
    load: np.ndarray,
    *,
    capacity: float,
    headroom: float,
    history_days: int = 14,
    refresh: timedelta = timedelta(hours=6),
    horizon: timedelta = timedelta(hours=48),
    buffer: int = 10,
) -> np.ndarray:
    """A floor in the shape of cloud predictive scaling, without the calendar: every
    `refresh`, an hourly forecast of the next `horizon` from the last `history_days` (the
    mean of the same hour of the week in those weeks), capacity for it with `headroom`,
    launched `buffer` minutes before each hour. 0 while history is short."""
    hourly = pd.Series(load, index=minutes).resample("h").mean()
    week = 168
    values = hourly.to_numpy()
    forecast = np.full(len(values), np.nan)
    step, ahead = int(refresh / timedelta(hours=1)), int(horizon / timedelta(hours=1))
    for origin in range(history_days * 24, len(values), step):
        past = values[origin - history_days * 24 : origin]
        weeks = len(past) // week
        profile = np.nanmean(past[len(past) - weeks * week :].reshape(weeks, week), axis=0)
        lead = np.arange(origin, min(origin + ahead, len(values)))
        # Hours already forecast by an earlier refresh are overwritten by the newer one.
        forecast[lead] = profile[(lead - (origin - weeks * week)) % week]
    need = np.ceil(np.nan_to_num(forecast) * (1 + headroom) / capacity - 1e-9)
    per_minute = pd.Series(need, index=hourly.index).reindex(minutes, method="ffill")
    shifted = per_minute.shift(-buffer).ffill().to_numpy()
    return np.maximum(per_minute.to_numpy(), shifted).astype(np.int64)


# --- the nowcast, replayed ----------------------------------------------------------------
# The watch rounds' intensity nowcast (`capacity.nowcast`), its decisions called as the
# production step (`capacity.nowcast_round`) calls them.


@dataclass(frozen=True)
class NowcastStep:
    """One nowcast step of the replay's watch rounds, as the production step records it."""

    at: datetime
    action: str  # raise | restore
    before: int
    after: int
    reason: str


def production_nowcast(
    weddings: Sequence[Wedding],
    minutes: pd.DatetimeIndex,
    target: CapacityTarget,
    settings: Settings,
    observed_rps: dict[str, tuple[int, np.ndarray]],
) -> tuple[np.ndarray, list[NowcastStep]]:
    """The floor the watch rounds' nowcast sets on `target`, minute by minute over
    `minutes`, and its steps. `observed_rps`: per wedding id, (the minute offset its array
    starts at, its requests/s per minute from there) — what Prometheus's per-wedding rate
    would show. Rounds run on the watch grid (`critical_path.interval`) at the instants the
    calendar sync plans (`calendar.schedule.window_grid_times`: inside any day window, its
    end included); each assesses the live weddings on their `observed_span`, raises for hot
    ones and restores with `capacity.nowcast`'s decisions, as `nowcast_round` does. A raise
    still in force after its span's last round is restored by the floor-restore run the
    hourly plan-wedding-ops owes it (the next slot after its :05 run), decided likewise.
    The floor starts at the target's minimum (its baseline) and nobody else changes it;
    with `ops.nowcast.enabled` false it stays there, as in production."""
    if not settings.ops.nowcast.enabled:
        return np.full(len(minutes), target.min_replicas, dtype=np.int64), []
    active = sorted(
        (w for w in weddings if w.status != "cancelled" and serves(target, w)),
        key=lambda w: w.starts_at,
    )
    starts = np.array([w.starts_at.timestamp() for w in active])
    before, after = settings.day_window_before, settings.day_window_after
    reach = before + after + max((w.ends_at - w.starts_at for w in active), default=timedelta(0))
    first = minutes[0].to_pydatetime()
    span = minutes[-1].to_pydatetime() - first + timedelta(minutes=1)

    def near(start: datetime, end: datetime) -> list[Wedding]:
        lo = np.searchsorted(starts, (start - reach).timestamp())
        hi = np.searchsorted(starts, (end + reach).timestamp())
        return active[lo:hi]

    # Requests per wedding between two minute offsets, from cumulative sums.
    cumulative = {
        wid: (lo, np.concatenate([[0.0], np.cumsum(rps * 60.0)]))
        for wid, (lo, rps) in observed_rps.items()
    }

    def requests(wid: str, start: datetime, end: datetime) -> float:
        if wid not in cumulative or end <= start:
            return 0.0
        lo, sums = cumulative[wid]
        a = int((start - first).total_seconds() // 60) - lo
        b = int((end - first).total_seconds() // 60) - lo
        a, b = min(max(a, 0), len(sums) - 1), min(max(b, 0), len(sums) - 1)
        return float(sums[b] - sums[a])

    rounds = window_grid_times(
        [w.day_window(before, after) for w in active],
        now=first - timedelta(seconds=1),
        horizon=span,
        interval=settings.critical_path.interval,
    )
    queue = list(rounds)
    heapq.heapify(queue)
    planned = set(rounds)
    floor, baseline, set_by, changed_at = target.min_replicas, None, None, None
    changes: list[tuple[datetime, int]] = []
    steps: list[NowcastStep] = []
    while queue:
        at = heapq.heappop(queue)
        live = [w for w in near(at, at) if w.day_window(before, after)[0] <= at
                < w.day_window(before, after)[1]]  # fmt: skip
        observed = {w.wedding_id: requests(w.wedding_id, *observed_span(w, at, settings))
                    for w in live}  # fmt: skip
        assessed = assess(live, observed, at, settings)
        hot = [a for a in assessed if a.hot]
        action = None
        if hot:
            until = max(w.day_window(before, after)[1] for w in live
                        if w.wedding_id in {a.wedding_id for a in hot})  # fmt: skip
            sizing = size_nowcast(target, assessed, near(at, until), at, settings)
            decision = decide_nowcast_raise(
                needed=sizing.needed, current_floor=floor, maximum=target.max_replicas,
                baseline=baseline, set_by_wedperf=set_by,
            )  # fmt: skip
            reason, action = f"{sizing.why}; {decision.reason}", "raise"
            if decision.new_floor is not None and baseline is None:
                baseline = floor
        elif baseline is not None:
            behind, ahead = floor_hold_reach(settings)
            nearby = near(at - behind, at + ahead)
            decision = decide_nowcast_restore(
                baseline=baseline, current_floor=floor, set_by_wedperf=set_by,
                live_weddings=holding_floor(nearby, target, at, settings),
                in_ceremony=ceremonies_in_progress(nearby, at, settings.forecast.ceremony_length),
                last_change=changed_at, now=at, cooldown=settings.ops.cooldown,
            )  # fmt: skip
            reason, action = decision.reason, "restore"
            if decision.new_floor is not None:
                baseline = None
        if action is not None and decision.new_floor is not None:
            steps.append(NowcastStep(at, action, floor, decision.new_floor, reason))
            floor, set_by, changed_at = decision.new_floor, decision.new_floor, at
            changes.append((at, floor))
        if baseline is not None and at + settings.critical_path.interval not in planned:
            # The span's last round left a raise in force: plan-wedding-ops (hourly, at :05)
            # owes it a floor-restore in the next slot after its run.
            owed = _owed_restore_at(at, settings.ops.slot)
            if owed not in planned:
                planned.add(owed)
                heapq.heappush(queue, owed)
    schedule = np.full(len(minutes), target.min_replicas, dtype=np.int64)
    for at, level in changes:
        schedule[minutes.searchsorted(pd.Timestamp(at)) :] = level
    return schedule, steps


# plan-wedding-ops runs hourly at :05 (prefect.yaml); an owed restore goes in the next slot.
PLAN_AT_MINUTE = 5


def _owed_restore_at(at: datetime, slot: timedelta) -> datetime:
    plan = at.replace(minute=PLAN_AT_MINUTE, second=0, microsecond=0)
    if plan <= at:
        plan += timedelta(hours=1)
    step = int(slot.total_seconds())
    asap = int(plan.timestamp()) + 60
    return datetime.fromtimestamp(-(-asap // step) * step, at.tzinfo)
