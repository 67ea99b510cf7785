"""Capacity floor vs load: the predictive floor set per capacity target against the load it
was sized for (the calendar estimate and, where named, the target's forecast series)."""

from __future__ import annotations

from collections import Counter
from datetime import datetime
from typing import Any

from wedperf.capacity.policy import replicas_needed
from wedperf.config import Settings
from wedperf.evidence.data import MODELLED_SOURCE, EvidenceData
from wedperf.evidence.sections.model import FigureSpec, Section, Table
from wedperf.evidence.sections.values import iso, local, number_or_none, span_words

# Steps that move a capacity target's floor: planned raises and restores, and the
# remediation scale-up (remembered like a raise, restored by the next restore).
CAPACITY_KINDS = ("capacity_raise", "capacity_restore", "remediation_scale_up")


def calendar_load_steps(data: EvidenceData, settings: Settings) -> list[dict[str, Any]]:
    """The calendar's load estimate over the scope as steps, as the floor sizes it: at each
    window edge, the guests of the weddings in their day window — active guests of those
    with the calendar sync's estimate, invited guests of the others, kept apart since they
    are not the same unit — and their requests/s (per active guest, or per invited guest)."""
    active_edges: Counter = Counter()
    invited_edges: Counter = Counter()
    rps_edges: Counter = Counter()
    for w in data.live_weddings:
        opens, closes = w.day_window(settings.day_window_before, settings.day_window_after)
        if w.active_guests is not None:
            edges, guests = active_edges, w.active_guests
            rate = settings.ops.requests_per_active_guest_per_s
        else:
            edges, guests = invited_edges, w.guest_count
            rate = settings.ops.requests_per_guest_per_s
        start = max(opens, data.scope.start)
        edges[start] += guests
        rps_edges[start] += guests * rate
        if closes < data.scope.end:
            edges[closes] -= guests
            rps_edges[closes] -= guests * rate
    steps, active, invited, load = [], 0, 0, 0.0
    for at in sorted(rps_edges):
        active += active_edges[at]
        invited += invited_edges[at]
        load += rps_edges[at]
        # Sums and differences of floats: a span with no wedding on reads 0, not -3e-15.
        rps = max(0.0, round(load, 9))
        steps.append(
            {"at": iso(at), "active_guests": active, "invited_guests": invited, "rps": rps}
        )
    return steps


def needed_steps(load: list[dict[str, Any]], target, settings: Settings) -> list[dict[str, Any]]:
    """Replicas of `target` the calendar estimate needs at each of its steps, as the floor's
    raise computes them (wedperf.capacity.policy.replicas_needed: with headroom, clamped to
    the target's minimum and maximum)."""
    return [
        {
            "at": s["at"],
            "rps": s["rps"],
            "replicas": replicas_needed(
                s["rps"],
                per_replica_rps=target.per_replica_rps,
                headroom=settings.ops.headroom,
                minimum=target.min_replicas,
                maximum=target.max_replicas,
            ),
        }
        for s in load
    ]


def capacity_section(data: EvidenceData, settings: Settings) -> Section:
    section = Section(
        "capacity",
        "Capacity floor vs load",
        "The predictive floor wedperf set per capacity target (replicas) against the load it was "
        "sized for: the calendar estimate (the guests of the weddings in their day window: "
        "active guests x requests per active guest per second where the calendar sync has an "
        "active-guest estimate, invited guests x requests per invited guest per second "
        "otherwise) and, where a target names a forecast series, that series' forecast and "
        "actuals.",
    )
    steps = [a for a in data.actions if a["kind"] in CAPACITY_KINDS]
    load = calendar_load_steps(data, settings)
    configured = {t.name: t for t in settings.ops.targets}
    state = {s["target"]: s for s in data.capacity_state}
    names = sorted({a["target"] for a in steps} | set(data.floor_at_start))
    forecasts = {fc.name: fc for fc in data.forecasts}
    targets = []
    for name in names:
        target = configured.get(name)
        per_replica = target.per_replica_rps if target else None
        needed, needed_at_peak = [], None
        if target is not None and load:
            needed = needed_steps(load, target, settings)
            needed_at_peak = max(n["replicas"] for n in needed)
        series = None
        if target is not None and target.forecast_series in forecasts:
            hours = forecasts[target.forecast_series].hours
            series = {
                "series": target.forecast_series,
                "hours": [
                    {
                        "ts": iso(ts),
                        "hi_rps": float(r[f"hi_{settings.ops.quantile}"]) / 3600.0,
                        "actual_rps": None
                        if number_or_none(r["actual"]) is None
                        else r["actual"] / 3600.0,
                    }
                    for ts, r in hours.iterrows()
                ],
            }
        targets.append(
            {
                "target": name,
                "per_replica_rps": per_replica,
                "floor_at_start": data.floor_at_start.get(name),
                # Over the whole span (the peak may be a day without any planned run).
                "replicas_needed_at_peak": needed_at_peak,
                "needed": needed,
                "steps": [
                    {
                        "at": iso(a["acted_at"]),
                        "kind": a["kind"],
                        "before": a["before"],
                        "after": a["after"],
                        "outcome": a["outcome"],
                        "plan_id": a["plan_id"],
                        "weddings": len(a["wedding_ids"]),
                    }
                    for a in steps
                    if a["target"] == name
                ],
                "state": _state(state.get(name)),
                "forecast": series,
            }
        )
    section.counts = {
        "capacity_actions": len(steps),
        "capacity_actions_done": sum(a["outcome"] == "done" for a in steps),
        "capacity_targets": len(targets),
    }
    measured = [
        {"at": iso(row["at"]), "rps": float(row["rps"])}
        for row in data.extra.get("measured_load", [])
    ]
    section.counts["measured_load_points"] = len(measured)
    sources = data.extra.get("sample_sources") or {}
    counts = {name: int(row["samples"]) for name, row in sources.items()}
    modelled = counts.get(MODELLED_SOURCE, 0)
    collected = sum(counts.values()) - modelled
    section.counts["load_samples_modelled"] = modelled
    section.counts["load_samples_collected"] = collected
    if modelled and collected:
        load_label = "measured + modelled"
    elif modelled:
        load_label = "modelled (sandbox load model)"
    else:
        load_label = "measured"
    if (
        not steps
        and not any(s["active_guests"] or s["invited_guests"] for s in load)
        and not measured
    ):
        section.empty = f"No capacity floor changes and no wedding load {span_words(data.scope)}."
        return section
    if not steps:
        section.notes.append(f"No capacity floor changes recorded {span_words(data.scope)}.")
    if not load:
        section.notes.append("No weddings in their day window: no calendar load.")
    if modelled:
        row = sources[MODELLED_SOURCE]
        others = sorted(set(counts) - {MODELLED_SOURCE})
        section.notes.append(
            f"Modelled, not measured: {modelled:,} of the load line's {modelled + collected:,} "
            f"samples, from {local(row['first'], data.scope)} to "
            f"{local(row['last'], data.scope)}, were generated by the sandbox load model "
            f"(source {MODELLED_SOURCE}); no collector measured them. "
            + (
                f"The other {collected:,} were collected ({', '.join(others)})."
                if collected
                else "None were collected."
            )
        )
    if modelled:
        section.notes += _modelled_past_notes(
            sources[MODELLED_SOURCE]["last"], steps, targets, data
        )
    load_words = {
        "measured": "the load the server-side sources recorded",
        "measured + modelled": "the load the server-side sources recorded together with the "
        "sandbox load model's modelled requests (see the note)",
        "modelled (sandbox load model)": "the load the sandbox load model gave (modelled, "
        "not measured; see the note)",
    }[load_label]
    section.figures.append(
        FigureSpec(
            "capacity_floor",
            "capacity_floor",
            "Top: load (requests/s): the calendar estimate the floor is sized on and "
            f"{load_words} (5-minute means of the request operations' events, wedperf's own "
            "probes of them included). "
            + _estimate_words(load, measured)
            + " Bottom: the floor per target (replicas; solid = done, hollow markers = dry-run "
            "or planned only) and, dotted, the replicas the calendar estimate needs at each "
            f"moment (with {settings.ops.headroom:.0%} headroom), what a raise at that moment "
            "sizes the floor to.",
            {
                "timezone": data.scope.timezone,
                "start": iso(data.scope.start),
                "end": iso(data.scope.end),
                "requests_per_guest_per_s": settings.ops.requests_per_guest_per_s,
                "requests_per_active_guest_per_s": settings.ops.requests_per_active_guest_per_s,
                "calendar_load": load,
                "measured_load": measured,
                "measured_step_minutes": 5,
                "measured_label": load_label,
                "samples_by_source": counts,
                "targets": targets,
            },
        )
    )
    section.tables.append(
        Table(
            "Capacity steps",
            ["time", "target", "step", "floor before → after", "outcome", "weddings", "plan"],
            [
                [
                    local(a["acted_at"], data.scope),
                    a["target"],
                    a["kind"].removeprefix("capacity_"),
                    f"{a['before'] or '—'} → {a['after'] or '—'}",
                    a["outcome"],
                    str(len(a["wedding_ids"])),
                    a["plan_id"],
                ]
                for a in steps
            ],
        )
    )
    if data.capacity_state:
        section.tables.append(
            Table(
                "Capacity state now",
                ["target", "floor", "baseline (pre-raise)", "changed"],
                [
                    [
                        s["target"],
                        str(s["floor"]),
                        "—" if s["baseline"] is None else str(s["baseline"]),
                        local(s["changed_at"], data.scope, "%Y-%m-%d %H:%M"),
                    ]
                    for s in data.capacity_state
                ],
            )
        )
    return section


def _state(row: dict[str, Any] | None) -> dict[str, Any] | None:
    if row is None:
        return None
    return {
        "baseline": row["baseline"],
        "floor": row["floor"],
        "changed_at": iso(row["changed_at"]),
    }


def _estimate_words(load: list[dict[str, Any]], measured: list[dict[str, Any]]) -> str:
    """One sentence on what the calendar estimate is, and how far above the load it sits."""
    if not load:
        return ""
    peak = max(s["rps"] for s in load)
    words = (
        "The calendar estimate is a sum of per-wedding peaks: each wedding in its day window "
        "counts at its guests' full request rate for the whole window, so it is conservative "
        f"(it peaks at {peak:.0f} req/s"
    )
    if measured:
        words += f"; the load line at {max(m['rps'] for m in measured):.0f} req/s"
    return words + ")."


def _modelled_past_notes(
    until, steps: list[dict[str, Any]], targets: list[dict[str, Any]], data: EvidenceData
) -> list[str]:
    """The modelled past (the sandbox load model's history) had no planned runs: say so, and
    what the floor stayed at while the calendar estimate asked for more."""
    planned = [a for a in steps if a["kind"] == "capacity_raise" and a["acted_at"] <= until]
    if planned:
        return []
    notes = []
    for t in targets:
        level = t["floor_at_start"]
        if level is None and t["steps"] and t["steps"][0]["before"] is not None:
            level = t["steps"][0]["before"]
        needed = [
            n["replicas"] for n in t.get("needed", []) if datetime.fromisoformat(n["at"]) <= until
        ]
        if level is None:
            continue
        notes.append(
            f"The modelled past (to {local(until, data.scope)}) has no planned runs: wedperf "
            f"planned no floor raise for it, so the {t['target']} floor stayed at {level}"
            + (
                f" while the calendar estimate needed up to {max(needed)}."
                if needed and max(needed) > int(level)
                else "."
            )
        )
    return notes
