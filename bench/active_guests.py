"""Accuracy benchmark of the calendar's active-guest estimate (docs/capacity.md, "Active
guests"): per seed, the sandbox year of 2,000 weddings (as the replay seeds it) seeded in a
scratch database and synced as of the end of the year, each wedding's stored estimate (the
one the sync takes from the cutoff on) against the load model's active guests for the same
seed, beside invited guests and invited x the year's true active share ("best constant",
which no policy knows ahead). Prints the markdown table docs/capacity.md shows.

    uv run python bench/active_guests.py [--seeds 2026 42 7]

The RSVPs the estimate reads are the year-end ones (day-of), not those of its cutoff: the
app signals are cut at the cutoff, the "not declined" counts are not. A wedding without an
estimate (too few guest signals) counts as its invited guests x the floor's per-invited /
per-active rate ratio, the active guests the floor then sizes it for.

Last line: {"seeds": {...: {"weddings": N, "estimate_median_abs_pct": ...}}}
"""

from __future__ import annotations

import argparse
from datetime import UTC, date, datetime, timedelta

import numpy as np
import psycopg

from bench._common import progress, report, scratch_database
from wedperf.calendar import AppDbCalendarSource, sync_calendar
from wedperf.calendar.model import Wedding
from wedperf.calendar.settings import ActiveGuestSettings
from wedperf.config import Settings
from wedperf.sandbox.demand import with_active_guests
from wedperf.sandbox.seed import seed_sandbox

START = date(2026, 1, 1)  # the replay's sandbox year
WEDDINGS, DAYS = 2000, 365


def year(seed: int) -> tuple[list[Wedding], int]:
    """The year's weddings in play as the sync stores them (ceremony order, ids breaking
    ties: the load model's order), and how many fell back to invited guests."""
    year_end = datetime.combine(START + timedelta(days=DAYS + 1), datetime.min.time(), UTC)
    with scratch_database("wedperf_active_guests") as url, psycopg.connect(url) as conn:
        seed_sandbox(conn, weddings=WEDDINGS, days=DAYS, seed=seed, start=START, now=year_end)
        # Signals read for the whole year (a live sync reads only the last day's weddings).
        whole_year = ActiveGuestSettings(signals_lookback=timedelta(days=DAYS + 35))
        synced = sync_calendar(
            conn, AppDbCalendarSource(url), now=year_end, active_guests=whole_year
        )
        rows = conn.execute(
            "SELECT wedding_id, starts_at, ends_at, timezone, venue, guest_count, status, "
            "active_guests FROM perf.weddings WHERE status <> 'cancelled' "
            "ORDER BY starts_at, wedding_id::bigint"
        ).fetchall()
    return [Wedding(*r) for r in rows], synced.too_few_signals


def rows_for(seed: int) -> tuple[list[str], dict]:
    weddings, fallbacks = year(seed)
    ops = Settings().ops
    per_invited = ops.requests_per_guest_per_s / ops.requests_per_active_guest_per_s
    model = np.array([d.active for d in with_active_guests(weddings, seed=seed)], dtype=float)
    invited = np.array([w.guest_count for w in weddings], dtype=float)
    estimate = np.array(
        [
            w.active_guests if w.active_guests is not None else w.guest_count * per_invited
            for w in weddings
        ],
        dtype=float,
    )
    share = model.sum() / invited.sum()
    bases = {
        "active-guest estimate": estimate,
        "invited guests": invited,
        f"invited × {share:.4f} (best constant)": invited * share,
    }
    lines, figures = [], {"weddings": len(weddings), "fallbacks": fallbacks}
    for basis, predicted in bases.items():
        error = np.abs(predicted - model) / np.maximum(model, 1)
        corr = np.corrcoef(predicted, model)[0, 1]
        mean = round(float((predicted - model).mean()), 2)
        lines.append(
            f"| {seed} | {len(weddings)} | {basis} | {corr:.4f} | "
            f"{np.median(error) * 100:.2f}% | {np.percentile(error, 90) * 100:.2f}% | "
            f"{f'{mean:+.2f}' if mean else '0.00'} |"
        )
        if basis == "active-guest estimate":
            figures["estimate_median_abs_pct"] = round(float(np.median(error) * 100), 2)
    return lines, figures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=[2026, 42, 7])
    args = parser.parse_args()
    table = [
        "| seed | weddings | basis | correlation | median abs % error | p90 abs % error "
        "| mean error (guests) |",
        "|---|---|---|---|---|---|---|",
    ]
    figures = {}
    for seed in args.seeds:
        progress(f"seed {seed}: seeding and syncing the sandbox year")
        lines, figures[seed] = rows_for(seed)
        table += lines
    print("\n".join(table))
    report({"seeds": figures})


if __name__ == "__main__":
    main()
