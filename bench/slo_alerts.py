"""How the error-budget alerts behave over many synthetic wedding days.

    uv run python bench/slo_alerts.py [--days 200] [--phase-days 100] [--seed 0]
        [--only regression|blip|steady|clean|phases ...] [--confidence 0.9|none]

Runs the shipped evaluator (wedperf.slo.budget.evaluate_budget with the default SLO settings)
the way a watch round does: every 5 minutes, over the minutes collection has delivered by then
(one minute behind), remembering which alerts fire. The days come from
wedperf.slo.synthetic (traffic from the capacity defaults and the day's profile, latency
lognormal) with each wedding's regression, blip or slow burn placed at a random minute and
the rounds at a random offset. Prints one line per scenario and the figures as JSON last.

Per phase of the day (wedperf.slo.synthetic.PHASES) and guest count (150, 40): the regression
that would spend half the day's budget in 30 minutes, started at a random minute of the
phase (no later than 30 minutes before the close), and how often it paged within 10 minutes;
the 2-minute latency blip of a 40-guest wedding placed in each phase; and the same regression
in the ceremony when the ceremony's minutes weigh 3 (half of the weighted budget).
"""

from __future__ import annotations

import argparse
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import numpy as np

from bench._common import progress, report
from wedperf.slo.budget import alert_windows, evaluate_budget
from wedperf.slo.settings import SloSettings
from wedperf.slo.synthetic import PHASES, SlowSpell, SyntheticDay, phase_minutes

CEREMONY = datetime(2026, 10, 17, 20, 0, tzinfo=UTC)
OPENS = CEREMONY - timedelta(hours=3)
LENGTH = 540  # 3 h before the ceremony + 6 h of ceremony and reception
OBJECTIVE, THRESHOLD = 0.99, 1.0


CEREMONY_MINUTE = 180
NEVER = 999


def watch(
    day: SyntheticDay, settings: SloSettings, offset: int, weights: np.ndarray | None = None
) -> list[tuple[str, int, int]]:
    """(severity, fired at, resolved at) minutes of the alerts of one watched day; resolved
    at LENGTH + NEVER if it never resolved."""
    minutes = day.requests()
    total = np.array([len(m) for m in minutes], float)
    good = np.array([(m <= THRESHOLD).sum() for m in minutes], float)
    windows = alert_windows(LENGTH, settings)
    firing: dict[str, int] = {}
    episodes = []
    for at in range(5 + offset, LENGTH + 6, 5):
        n, seen = min(at, LENGTH), max(0, min(at - 1, LENGTH))  # collection is a minute behind
        g, t = good[:n].copy(), total[:n].copy()
        g[seen:], t[seen:] = 0, 0
        budget = evaluate_budget(
            g,
            t,
            np.ones(n) if weights is None else weights[:n],
            length_minutes=LENGTH,
            objective=OBJECTIVE,
            windows=windows,
            min_events=SloSettings().definition("guest-list-latency").events_needed(),
            firing_before=set(firing),
            resolve_share=settings.resolve_share,
            baseline_minutes=int(settings.baseline.total_seconds() // 60),
            confidence=settings.confidence,
            rise_p=settings.rise_p_value,
        )
        now = {s for s in ("page", "ticket") if getattr(budget, s)}
        for severity in now - set(firing):
            firing[severity] = at
        for severity in set(firing) - now:
            episodes.append((severity, firing.pop(severity), at))
    return episodes + [(s, t, LENGTH + NEVER) for s, t in firing.items()]


def regression_figures(delays: list[int], unresolved: int) -> dict:
    d = np.array(delays)
    return {
        "paged_within_10_min": round(float(np.mean(d <= 10)), 3),
        "paged": round(float(np.mean(d < NEVER)), 3),
        "median_minutes_to_page": float(np.median(d)),
        "p90_minutes_to_page": float(np.percentile(d, 90)),
        "alerts_never_resolved": unresolved,
    }


def by_phase(rng: np.random.Generator, settings: SloSettings, days: int) -> dict[str, dict]:
    """Per phase and guest count: the half-budget regression's time to page, the 40-guest
    blip's pages; and the regression in a ceremony that weighs 3."""
    figures: dict[str, dict] = {}

    def day(guests: int) -> SyntheticDay:
        return SyntheticDay("bench", guests, OPENS, CEREMONY, LENGTH, seed=int(rng.integers(1e9)))

    def regressions(guests: int, phase: str, weights: np.ndarray | None = None) -> dict:
        minutes = [m for m in phase_minutes(phase, CEREMONY_MINUTE) if 5 <= m <= LENGTH - 30]
        delays, unresolved = [], 0
        for _ in range(days):
            d = day(guests)
            start = int(rng.choice(minutes))
            share = d.share_for_budget(start, 30, 0.5, 1 - OBJECTIVE, weights=weights)
            d.spells = [SlowSpell(start, 30, share=share)]
            found = watch(d, settings, int(rng.integers(0, 5)), weights)
            pages = [e for e in found if e[0] == "page"]
            delays.append(pages[0][1] - start if pages else NEVER)
            unresolved += sum(e[2] >= LENGTH + NEVER for e in found)
        return regression_figures(delays, unresolved)

    for guests in (150, 40):
        for phase, _, _ in PHASES:
            figures[f"phase_{phase}_{guests}_guests"] = regressions(guests, phase)
    weights = np.ones(LENGTH)
    weights[phase_minutes("ceremony", CEREMONY_MINUTE).start : CEREMONY_MINUTE + 35] = 3.0
    for guests in (150, 40):
        figures[f"phase_ceremony_weight_3_{guests}_guests"] = regressions(
            guests, "ceremony", weights
        )
    for phase, _, _ in PHASES:
        minutes = [m for m in phase_minutes(phase, CEREMONY_MINUTE) if m <= LENGTH - 2]
        paged = 0
        for _ in range(days):
            d = day(40)
            d.spells = [SlowSpell(int(rng.choice(minutes)), 2, factor=4.0)]
            paged += any(e[0] == "page" for e in watch(d, settings, int(rng.integers(0, 5))))
        figures[f"blip_latency_x4_40_guests_in_{phase}"] = {"days_paged": paged, "days": days}
    return figures


SCENARIOS = ("regression", "blip", "steady", "clean", "phases")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--days", type=int, default=200, help="days per scenario")
    parser.add_argument("--phase-days", type=int, default=100, help="days per phase and case")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--only", choices=SCENARIOS, action="append", help="these scenarios")
    parser.add_argument(
        "--confidence",
        default=None,
        help="slo.confidence to run with (default: the shipped setting; 'none': point "
        "estimates only, as before the significance guard)",
    )
    args = parser.parse_args()
    rng = np.random.default_rng(args.seed)
    settings = SloSettings()
    if args.confidence is not None:
        value = None if args.confidence == "none" else float(args.confidence)
        settings = settings.model_copy(update={"confidence": value})
    only = set(args.only or SCENARIOS)
    figures: dict[str, dict] = {"settings": {"seed": args.seed, "confidence": settings.confidence}}

    def day(guests: int) -> SyntheticDay:
        return SyntheticDay("bench", guests, OPENS, CEREMONY, LENGTH, seed=int(rng.integers(1e9)))

    if "regression" in only:
        for guests in (150, 40):
            delays, resolved_after, episodes = [], [], []
            for _ in range(args.days):
                d = day(guests)
                start = int(rng.integers(20, LENGTH - 60))
                share = d.share_for_budget(start, 30, budget_share=0.5, allowance=1 - OBJECTIVE)
                d.spells = [SlowSpell(start, 30, share=share)]
                pages = [e for e in watch(d, settings, int(rng.integers(0, 5))) if e[0] == "page"]
                delays.append(pages[0][1] - start if pages else NEVER)
                episodes.append(len(pages))
                if pages:
                    resolved_after.append(pages[-1][2] - (start + 30))
            d = np.array(delays)
            figures[f"regression_{guests}_guests"] = {
                "days": args.days,
                "paged": float(np.mean(d < NEVER)),
                "paged_within_10_min": float(np.mean(d <= 10)),
                "median_minutes_to_page": float(np.median(d)),
                "p90_minutes_to_page": float(np.percentile(d, 90)),
                "days_with_more_than_one_page": int(sum(e > 1 for e in episodes)),
                "median_minutes_to_resolve_after_it_ends": float(np.median(resolved_after)),
            }
    if "blip" in only:
        for name, guests, spell in (
            ("blip_latency_x4_40_guests", 40, {"factor": 4.0}),
            ("blip_all_slow_40_guests", 40, {"share": 1.0}),
            ("blip_all_slow_150_guests", 150, {"share": 1.0}),
        ):
            paged = 0
            for _ in range(args.days):
                d = day(guests)
                d.spells = [SlowSpell(int(rng.integers(5, LENGTH - 10)), 2, **spell)]
                paged += any(e[0] == "page" for e in watch(d, settings, int(rng.integers(0, 5))))
            figures[name] = {"days_paged": paged, "days": args.days}
    if "steady" in only:
        for burn, guests in ((1.5, 150), (1.5, 40), (2.0, 150)):
            pages = tickets = 0
            ticket_episodes, page_minutes = [], []
            for _ in range(args.days):
                d = day(guests)
                d.spells = [SlowSpell(60, 360, share=burn * (1 - OBJECTIVE))]
                found = watch(d, settings, int(rng.integers(0, 5)))
                paged = [e[1] for e in found if e[0] == "page"]
                pages += bool(paged)
                page_minutes += paged[:1]
                tickets += any(e[0] == "ticket" for e in found)
                ticket_episodes.append(sum(e[0] == "ticket" for e in found))
            figures[f"steady_{burn:g}x_{guests}_guests"] = {
                "days_paged": pages,
                "days_ticketed": tickets,
                "days": args.days,
                "median_ticket_episodes": float(np.median(ticket_episodes)),
                "first_page_minutes": sorted(page_minutes),
            }
    if "clean" in only:
        for guests in (150, 40):
            alerted = sum(bool(watch(day(guests), settings, 0)) for _ in range(args.days // 2))
            figures[f"clean_day_{guests}_guests"] = {
                "days_alerted": alerted,
                "days": args.days // 2,
            }
    if "phases" in only:
        figures.update(by_phase(rng, settings, args.phase_days))
    for name, values in figures.items():
        progress(f"{name}: {values}")
    report(figures)


if __name__ == "__main__":
    main()
