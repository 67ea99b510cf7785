"""Event-window target utilisation: which autoscaler target applies when (pure).

Inside a wedding's event window — from `ops.event_utilisation.lead` before its ceremony to
the end of its day window (`utilisation_window`) — the target's reactive autoscaler tracks
a lower target
utilisation (`ops.event_utilisation.utilisation`, an HPA `averageUtilization` in %), so it
keeps spare capacity for the steps of the day (check-ins, the photo burst after dinner)
that arrive faster than it reacts; outside windows the target utilisation it had before
(the baseline) is restored, so the rest of the week costs what it did.

The planner (`capacity.plan.plan_wedding_ops`) schedules a `utilisation-lower` run at
the start of each slot of windows and a `utilisation-restore` run after they close; each
run asks this module what to do at its moment:

- `decide_lower`: set the event utilisation, never raise it (a target already at or below
  it is left alone — wedperf never scales in to lower a target), never over someone else's
  change since wedperf's last lowering (then it is theirs: left alone, the baseline
  forgotten);
- `decide_utilisation_restore`: back to the baseline, unless a wedding on the target is
  in its window (or enters it within the next slot), a ceremony on it is in progress
  (raising utilisation is a scale-in), the cooldown since the last change has not passed,
  or someone else changed the value since wedperf set it (then it is theirs: left alone,
  the baseline forgotten).

The production step (`capacity.event_utilisation`) and the replay
(`capacity.replay.production_utilisation`) call the same functions with their own clock.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from wedperf.calendar.model import Wedding

# Actuator kinds that have a target utilisation to act on.
UTILISATION_KINDS = frozenset({"kubernetes-hpa"})


def acts_on_utilisation(kind: str, enabled: bool) -> bool:
    """Whether the event-window policy applies to a target of this actuator kind."""
    return enabled and kind in UTILISATION_KINDS


def raises_floor(kind: str, floor: str, utilisation_enabled: bool) -> bool:
    """Whether the floor policy applies to a target (`ops.floor`: auto = where the
    event-window utilisation does not)."""
    if floor == "auto":
        return not acts_on_utilisation(kind, utilisation_enabled)
    return floor == "always"


@dataclass(frozen=True)
class UtilisationDecision:
    new: int | None  # the target utilisation (%) to set; None: leave the target alone
    reason: str
    forget_baseline: bool = False  # someone else owns the value now: no restore is owed


def decide_lower(
    *,
    event: int,
    current: int | None,
    baseline: int | None = None,
    set_by_wedperf: int | None = None,
) -> UtilisationDecision:
    """The event utilisation, unless the target is already at or below it (never raise), or
    a lowering is in force (`baseline`) and the value is neither the one wedperf set nor the
    baseline: someone else changed it since, so it is theirs — left alone, the baseline
    forgotten (a restore would put the baseline back over their value). At the baseline, the
    last lowering never took effect (or was undone): lowered as a new one."""
    if current is None:
        return UtilisationDecision(
            None,
            "the target has no target utilisation to lower",
            forget_baseline=baseline is not None,
        )
    if baseline is not None and current not in (set_by_wedperf, baseline):
        return UtilisationDecision(
            None,
            f"target utilisation is {current}%, not the {set_by_wedperf}% wedperf set: changed "
            f"by someone else, left as it is",
            forget_baseline=True,
        )
    if current <= event:
        return UtilisationDecision(None, f"target utilisation {current}% already <= {event}%")
    return UtilisationDecision(event, f"lower target utilisation {current}% -> {event}%")


def utilisation_window(
    wedding: Wedding, *, lead: timedelta, after: timedelta
) -> tuple[datetime, datetime]:
    """When the event utilisation applies for a wedding: `lead` before its ceremony to the
    end of its day window (`after` its end)."""
    return wedding.starts_at - lead, wedding.ends_at + after


def live_weddings(
    weddings: Iterable[Wedding], now: datetime, until: datetime, *, lead, after
) -> list[str]:
    """Weddings whose utilisation window overlaps [now, until): in it, or entering soon."""
    out = []
    for w in weddings:
        if w.status == "cancelled":
            continue
        opens, closes = utilisation_window(w, lead=lead, after=after)
        if opens < until and closes > now:
            out.append(w.wedding_id)
    return out


def ceremonies_in_progress(
    weddings: Iterable[Wedding], now: datetime, ceremony_length: timedelta
) -> list[str]:
    """Weddings whose ceremony (its start, for `ceremony_length`) is under way at `now`."""
    return [
        w.wedding_id
        for w in weddings
        if w.status != "cancelled" and w.starts_at <= now < w.starts_at + ceremony_length
    ]


def decide_utilisation_restore(
    *,
    baseline: int | None,
    current: int | None,
    set_by_wedperf: int | None,
    live: Sequence[str],
    in_ceremony: Sequence[str],
    last_change: datetime | None,
    now: datetime,
    cooldown: timedelta,
) -> UtilisationDecision:
    """Back to the target utilisation the target had before wedperf lowered it."""
    if baseline is None:
        return UtilisationDecision(None, "no lowered target utilisation in force")
    if in_ceremony:
        shown = ", ".join(in_ceremony[:5])
        return UtilisationDecision(None, f"ceremony of {shown} in progress: no scale-in now")
    if live:
        shown = ", ".join(live[:5])
        return UtilisationDecision(None, f"wedding(s) {shown} live on the target: not restoring")
    if last_change is not None and now - last_change < cooldown:
        return UtilisationDecision(None, f"cooldown: last change {now - last_change} ago")
    if current is None:
        return UtilisationDecision(
            None, "the target has no target utilisation any more", forget_baseline=True
        )
    if current == baseline:
        # Before someone else's: a lowering whose write never took effect (the worker died
        # after recording its intent) leaves the baseline in force, and nothing to undo.
        return UtilisationDecision(None, f"already at baseline {baseline}%", forget_baseline=True)
    if set_by_wedperf is not None and current != set_by_wedperf:
        return UtilisationDecision(
            None,
            f"target utilisation is {current}%, not the {set_by_wedperf}% wedperf set: changed "
            f"by someone else, left as it is",
            forget_baseline=True,
        )
    return UtilisationDecision(baseline, f"restore target utilisation {current}% -> {baseline}%")
