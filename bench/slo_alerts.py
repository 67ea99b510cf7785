"""How the error-budget alerts behave over many synthetic wedding days.

    uv run python bench/slo_alerts.py [--days 200] [--seed 0]

Runs the shipped evaluator (wedperf.slo.budget.evaluate_budget with the default SLO settings)
the way a watch round does: every 5 minutes, over the minutes collection has delivered by then
(one minute behind), remembering which alerts fire. The days come from
wedperf.slo.synthetic (traffic from the capacity defaults and the day's profile, latency
lognormal) with each wedding's regression, blip or slow burn placed at a random minute and
the rounds at a random offset. Prints one line per scenario and the figures as JSON last.
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
from wedperf.slo.synthetic import SlowSpell, SyntheticDay

CEREMONY = datetime(2026, 10, 17, 20, 0, tzinfo=UTC)
OPENS = CEREMONY - timedelta(hours=3)
LENGTH = 540  # 3 h before the ceremony + 6 h of ceremony and reception
OBJECTIVE, THRESHOLD = 0.99, 1.0


def watch(day: SyntheticDay, settings: SloSettings, offset: int) -> list[tuple[str, int, int]]:
    """(severity, fired at, resolved at) minutes of the alerts of one watched day."""
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
            np.ones(n),
            length_minutes=LENGTH,
            objective=OBJECTIVE,
            windows=windows,
            min_events=SloSettings().definition("guest-list-latency").events_needed(),
            firing_before=set(firing),
            resolve_share=settings.resolve_share,
        )
        now = {s for s in ("page", "ticket") if getattr(budget, s)}
        for severity in now - set(firing):
            firing[severity] = at
        for severity in set(firing) - now:
            episodes.append((severity, firing.pop(severity), at))
    return episodes + [(s, t, LENGTH + 999) for s, t in firing.items()]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--days", type=int, default=200)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    rng = np.random.default_rng(args.seed)
    settings = SloSettings()
    figures: dict[str, dict] = {}

    def day(guests: int) -> SyntheticDay:
        return SyntheticDay("bench", guests, OPENS, CEREMONY, LENGTH, seed=int(rng.integers(1e9)))

    for guests in (150, 40):
        delays, resolved_after, episodes = [], [], []
        for _ in range(args.days):
            d = day(guests)
            start = int(rng.integers(20, LENGTH - 60))
            share = d.share_for_budget(start, 30, budget_share=0.5, allowance=1 - OBJECTIVE)
            d.spells = [SlowSpell(start, 30, share=share)]
            pages = [e for e in watch(d, settings, int(rng.integers(0, 5))) if e[0] == "page"]
            delays.append(pages[0][1] - start if pages else 999)
            episodes.append(len(pages))
            if pages:
                resolved_after.append(pages[-1][2] - (start + 30))
        d = np.array(delays)
        figures[f"regression_{guests}_guests"] = {
            "paged": float(np.mean(d < 999)),
            "paged_within_10_min": float(np.mean(d <= 10)),
            "median_minutes_to_page": float(np.median(d)),
            "p90_minutes_to_page": float(np.percentile(d, 90)),
            "days_with_more_than_one_page": int(sum(e > 1 for e in episodes)),
            "median_minutes_to_resolve_after_it_ends": float(np.median(resolved_after)),
        }
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
    for burn in (1.5, 2.0):
        pages = tickets = 0
        ticket_episodes = []
        for _ in range(args.days // 2):
            d = day(150)
            d.spells = [SlowSpell(60, 360, share=burn * (1 - OBJECTIVE))]
            found = watch(d, settings, int(rng.integers(0, 5)))
            pages += any(e[0] == "page" for e in found)
            tickets += any(e[0] == "ticket" for e in found)
            ticket_episodes.append(sum(e[0] == "ticket" for e in found))
        figures[f"steady_{burn:g}x_150_guests"] = {
            "days_paged": pages,
            "days_ticketed": tickets,
            "days": args.days // 2,
            "median_ticket_episodes": float(np.median(ticket_episodes)),
        }
    for guests in (150, 40):
        alerted = sum(bool(watch(day(guests), settings, 0)) for _ in range(args.days // 2))
        figures[f"clean_day_{guests}_guests"] = {"days_alerted": alerted, "days": args.days // 2}
    for name, values in figures.items():
        progress(f"{name}: {values}")
    report(figures)


if __name__ == "__main__":
    main()
