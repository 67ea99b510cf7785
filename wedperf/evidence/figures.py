"""Drawing the report's figures with matplotlib's object API on the Agg canvas (no pyplot:
no global figure state, safe in threads). Each function draws exactly the numbers of its
FigureSpec.data, which are also written beside the figure as JSON."""

from __future__ import annotations

import io
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import matplotlib

matplotlib.use("Agg")  # before anything imports pyplot; headless everywhere

import matplotlib.dates as mdates
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.patches import Patch

from wedperf.evidence.sections.values import round_state

STATUS_COLOURS = {"ok": "#2e7d32", "warn": "#f9a825", "breach": "#c62828", None: "#9e9e9e"}
SEVERITY_COLOURS = {
    "critical": "#c62828",
    "page": "#ad1457",
    "high": "#ef6c00",
    "warning": "#f9a825",
    "ticket": "#8d6e63",
}
OTHER_SEVERITY = "#78909c"
# The shortest alert bar drawn, as a share of the axis (a 2-minute page on a 2-day axis is
# otherwise narrower than a pixel, and hidden under its action marker).
MIN_BAR_SHARE = 0.015
BUDGET_COLOURS = ("#1565c0", "#6a1b9a", "#00838f", "#ef6c00", "#2e7d32", "#ad1457")
OUTCOME_MARKERS = {"done": "o", "dry-run": "D", "planned": "s", "skipped": "x", "failed": "X"}


def _t(value: str | None) -> datetime | None:
    return None if value is None else datetime.fromisoformat(value)


def _time_axis(ax, timezone: str, span: tuple[datetime, datetime] | None = None) -> None:
    """Local clock times on the x axis: hours and minutes, the day named at midnight ticks
    (and in the corner), so a span of two days reads as two days. `span`: the axis limits
    (without, matplotlib pads a lone point by a few minutes either side and every tick
    reads the same minute)."""
    zone = ZoneInfo(timezone)
    if span is not None:
        ax.set_xlim(*span)
    locator = mdates.AutoDateLocator(tz=zone, minticks=4, maxticks=10)
    # No offset text: matplotlib's names the day of the last tick, so a span ending at
    # midnight read "Tue 08 Dec" twice and a Sunday wedding's axis "Mon 07 Dec". The days
    # the span covers are in the axis label instead.
    formatter = mdates.ConciseDateFormatter(
        locator,
        tz=zone,
        formats=["%Y", "%b", "%a %d %b", "%H:%M", "%H:%M", "%S.%f"],
        zero_formats=["", "%Y", "%b", "%a %d %b", "%H:%M", "%H:%M"],
        offset_formats=["", "", "", "", "", ""],
    )
    ax.xaxis.set_major_locator(locator)
    ax.xaxis.set_major_formatter(formatter)
    ax.set_xlabel(axis_label(timezone, span))
    ax.grid(True, alpha=0.3)


def axis_label(timezone: str, span: tuple[datetime, datetime] | None) -> str:
    """ "local time (<zone>)", with the local day(s) of `span`: its first day, and its last if
    another (a span ending exactly at midnight ends the day before)."""
    if span is None:
        return f"local time ({timezone})"
    zone = ZoneInfo(timezone)
    first = span[0].astimezone(zone)
    last = (span[1] - timedelta(microseconds=1)).astimezone(zone)
    days = f"{first:%a %d %b %Y}"
    if last.date() != first.date():
        days += f" – {last:%a %d %b %Y}"
    return f"local time ({timezone}), {days}"


def forecast_vs_actual(data: dict[str, Any]) -> Figure:
    drawn = data["series"][: data["drawn"]]
    fig = Figure(figsize=(10, 2.6 * len(drawn) + 0.6), layout="constrained")
    axes = fig.subplots(len(drawn), 1, squeeze=False)[:, 0]
    for ax, series in zip(axes, drawn, strict=True):
        ts = [_t(h["ts"]) for h in series["hours"]]
        # Opaque fills of clearly different lightness (no alpha blending into each other),
        # the 95% band's edges outlined: the two bands read apart.
        ax.fill_between(
            ts,
            [h["lo_95"] for h in series["hours"]],
            [h["hi_95"] for h in series["hours"]],
            facecolor="#e3f2fd",
            edgecolor="#64b5f6",
            lw=0.8,
            ls="--",
            label="95% interval",
        )
        ax.fill_between(
            ts,
            [h["lo_80"] for h in series["hours"]],
            [h["hi_80"] for h in series["hours"]],
            color="#64b5f6",
            lw=0,
            label="80% interval",
        )
        ax.plot(
            ts, [h["mean"] for h in series["hours"]], color="#0d47a1", lw=1.6, label="forecast mean"
        )
        actual = [
            (t, h["actual"])
            for t, h in zip(ts, series["hours"], strict=True)
            if h["actual"] is not None
        ]
        if actual:
            ax.plot(
                [a[0] for a in actual],
                [a[1] for a in actual],
                "o",
                color="#d84315",
                ms=4,
                label="actual",
            )
        else:
            ax.text(
                0.99,
                0.95,
                f"no actuals: {series['actuals_note']}",
                transform=ax.transAxes,
                ha="right",
                va="top",
                fontsize=8,
                color="#555",
            )
        ax.set_title(f"{series['series']} ({', '.join(series['models'])})", fontsize=10, loc="left")
        ax.set_ylabel("per hour")
        span = (_t(data["start"]), _t(data["end"])) if data.get("start") else None
        _time_axis(ax, data["timezone"], span)
        ax.legend(fontsize=7, loc="upper left", ncols=4)
    return fig


def capacity_floor(data: dict[str, Any]) -> Figure:
    fig = Figure(figsize=(10, 6), layout="constrained")
    load_ax, floor_ax = fig.subplots(2, 1, sharex=True, height_ratios=(1, 1))
    start, end = _t(data["start"]), _t(data["end"])
    load = data["calendar_load"]
    if load:
        xs = [_t(s["at"]) for s in load] + [end]
        ys = [s["rps"] for s in load] + [load[-1]["rps"]]
        load_ax.step(xs, ys, where="post", color="#6a1b9a", lw=1.6, label="calendar estimate")
    measured = data.get("measured_load") or []
    if measured:
        # A gap in the measurements (nothing collected) is a gap in the line, not a ramp.
        step = timedelta(minutes=data.get("measured_step_minutes", 5))
        xs, ys = [], []
        for m in measured:
            at = _t(m["at"])
            if xs and at - xs[-1] > step:
                xs.append(xs[-1] + step)
                ys.append(float("nan"))
            xs.append(at)
            ys.append(m["rps"])
        load_ax.plot(
            xs,
            ys,
            color="#00897b",
            lw=1.0,
            marker="." if len(measured) < 3 else None,
            label=f"{data.get('measured_label', 'measured')} "
            f"({data.get('measured_step_minutes', 5)}-min mean)",
        )
    for target in data["targets"]:
        if target["forecast"]:
            hours = target["forecast"]["hours"]
            load_ax.plot(
                [_t(h["ts"]) for h in hours],
                [h["hi_rps"] for h in hours],
                "--",
                lw=1.2,
                label=f"forecast upper bound ({target['forecast']['series']})",
            )
            actual = [h for h in hours if h["actual_rps"] is not None]
            if actual:
                load_ax.plot(
                    [_t(h["ts"]) for h in actual],
                    [h["actual_rps"] for h in actual],
                    "o",
                    ms=4,
                    label=f"actual ({target['forecast']['series']})",
                )
    if not load and not measured and not any(t["forecast"] for t in data["targets"]):
        load_ax.text(
            0.5,
            0.5,
            "no wedding load in this span",
            transform=load_ax.transAxes,
            ha="center",
            va="center",
            color="#555",
        )
    load_ax.set_ylabel("load (requests/s)")
    load_ax.set_title("Load", fontsize=10, loc="left")

    for target in data["targets"]:
        done = [s for s in target["steps"] if s["outcome"] == "done" and s["after"] is not None]
        level = target["floor_at_start"]
        if level is None and done and done[0]["before"] is not None:
            level = int(done[0]["before"])
        xs, ys = [], []
        if level is not None:
            xs, ys = [start], [level]
        for s in done:
            xs.append(_t(s["at"]))
            ys.append(int(s["after"]))
        if xs:
            xs.append(end)
            ys.append(ys[-1])
            line = floor_ax.step(xs, ys, where="post", lw=2, label=f"{target['target']} floor")[0]
            colour = line.get_color()
            per_replica = target.get("per_replica_rps")
            if per_replica:  # the floor on the load's axis: what it serves within the SLO
                load_ax.step(
                    xs,
                    [y * per_replica for y in ys],
                    where="post",
                    lw=1.2,
                    ls="--",
                    color=colour,
                    label=f"{target['target']} floor x {per_replica:g} req/s per replica",
                )
        else:
            colour = None
        for s in target["steps"]:
            if s["outcome"] == "done" or s["after"] is None:
                continue
            floor_ax.plot(
                [_t(s["at"])],
                [int(s["after"])],
                OUTCOME_MARKERS.get(s["outcome"], "o"),
                mfc="none",
                color=colour or "#555",
                ms=8,
                label=f"{target['target']} {s['kind'].removeprefix('capacity_')} ({s['outcome']})",
            )
        needed = target.get("needed") or []
        if needed:  # what a raise at each moment would size the floor to
            floor_ax.step(
                [_t(n["at"]) for n in needed] + [end],
                [n["replicas"] for n in needed] + [needed[-1]["replicas"]],
                where="post",
                ls=":",
                lw=1.4,
                color=colour or "#555",
                label=f"{target['target']} needed for the calendar estimate",
            )
    if not data["targets"]:
        floor_ax.text(
            0.5,
            0.5,
            "no capacity floor changes in this span",
            transform=floor_ax.transAxes,
            ha="center",
            va="center",
            color="#555",
        )
    if load_ax.get_legend_handles_labels()[0]:
        load_ax.legend(fontsize=7, loc="upper left")
    floor_ax.set_ylabel("replicas")
    floor_ax.set_title("Capacity floor", fontsize=10, loc="left")
    floor_ax.set_xlim(start, end)
    floor_ax.set_ylim(bottom=0)
    if floor_ax.get_legend_handles_labels()[0]:
        _dedup_legend(floor_ax)
    _time_axis(load_ax, data["timezone"], (start, end))
    _time_axis(floor_ax, data["timezone"], (start, end))
    load_ax.set_xlabel("")
    return fig


def critical_path(data: dict[str, Any]) -> Figure:
    checks = data["checks"]
    fig = Figure(figsize=(10, 0.42 * len(checks) + 1.6), layout="constrained")
    ax = fig.subplots()
    for row, check in enumerate(checks):
        # Each round in its state as the section counts it (wedperf.evidence.sections.values
        # .round_state): the table's ok/warn/breach/no data are these marks.
        for state in ("ok", "warn", "breach", "no data"):
            at = [_t(e["at"]) for e in check["evaluations"] if _state(e) == state]
            colour = STATUS_COLOURS.get(state, STATUS_COLOURS[None])
            ax.plot(at, [row] * len(at), "s", ms=7, color=colour)
    ax.set_yticks(range(len(checks)), [c["check"] for c in checks], fontsize=8)
    ax.set_ylim(len(checks) - 0.5, -0.5)
    ceremony = _t(data["ceremony"])
    ax.axvline(ceremony, color="#37474f", lw=1, ls="--")
    ax.text(ceremony, len(checks) - 0.5, " ceremony", va="bottom", fontsize=8, color="#37474f")
    rounds = max((c["rounds"] for c in checks), default=0)
    ax.set_title(
        f"Wedding {data['wedding_id']} ({data['tier']}, {data['guest_count']} guests): "
        f"{rounds} round{'' if rounds == 1 else 's'} over its day window",
        fontsize=10,
        loc="left",
    )
    fig.legend(
        handles=[
            Line2D([], [], marker="s", ls="", color=STATUS_COLOURS[s], label=s or "no data")
            for s in ("ok", "warn", "breach", None)
        ],
        fontsize=7,
        loc="outside lower center",
        ncols=4,
    )
    span = None
    if data.get("window_start") and data.get("window_end"):
        span = (_t(data["window_start"]), _t(data["window_end"]))
    _time_axis(ax, data["timezone"], span)
    return fig


def _state(evaluation: dict[str, Any]) -> str:
    return evaluation.get("state") or round_state(evaluation["status"], evaluation["value"])


def alerts_actions(data: dict[str, Any]) -> Figure:
    alerts, actions = data["alerts"], data["actions"]
    rows = {f"alert-{a['alert_id']}": i for i, a in enumerate(alerts)}
    labels = [
        f"#{a['alert_id']} {a['check'] or a['alertname']}"
        + (f" · {a['wedding_id']}" if a["wedding_id"] else "")
        for a in alerts
    ]
    lanes: dict[str, int] = {}
    for action in actions:
        if action["plan_id"] not in rows:
            lane = _lane(action["kind"])
            if lane not in lanes:
                lanes[lane] = len(labels) + len(lanes)
    labels += list(lanes)
    fig = Figure(figsize=(10, 0.45 * len(labels) + 1.8), layout="constrained")
    ax = fig.subplots()
    span_start, span_end = _t(data["start"]), _t(data["end"])
    shortest = (mdates.date2num(span_end) - mdates.date2num(span_start)) * MIN_BAR_SHARE
    for i, alert in enumerate(alerts):
        start, until = _t(alert["starts_at"]), _t(alert["drawn_until"])
        width = mdates.date2num(until) - mdates.date2num(start)
        ax.barh(
            i,
            max(width, shortest),
            left=mdates.date2num(start),
            height=0.55,
            color=SEVERITY_COLOURS.get(alert["severity"] or "", OTHER_SEVERITY),
            alpha=0.85 if alert["status"] == "resolved" else 0.55,
            hatch=None if alert["status"] == "resolved" else "//",
        )
    for action in actions:
        row = rows.get(action["plan_id"], lanes.get(_lane(action["kind"])))
        ax.plot(
            [_t(action["at"])],
            [row],
            OUTCOME_MARKERS.get(action["outcome"], "o"),
            color="#1b1b1b",
            mfc="#1b1b1b" if action["outcome"] == "done" else "white",
            ms=7,
        )
    ax.set_yticks(range(len(labels)), labels, fontsize=8)
    ax.set_ylim(len(labels) - 0.5, -0.5)
    handles = [
        Line2D(
            [],
            [],
            marker=m,
            ls="",
            color="#1b1b1b",
            mfc="#1b1b1b" if o == "done" else "white",
            label=f"action {o}",
        )
        for o, m in OUTCOME_MARKERS.items()
        if any(a["outcome"] == o for a in actions)
    ]
    severities = dict.fromkeys(a["severity"] or "no severity" for a in alerts)
    handles += [
        Line2D([], [], lw=6, color=SEVERITY_COLOURS.get(s, OTHER_SEVERITY), label=f"alert {s}")
        for s in severities
    ]
    if any(a["status"] != "resolved" for a in alerts):
        handles.append(Patch(facecolor="white", edgecolor="#555", hatch="//", label="still firing"))
    if handles:  # below the axes: inside, it would hide the markers at the span's edges
        fig.legend(handles=handles, fontsize=7, loc="outside lower center", ncols=len(handles))
    ax.set_title(
        "Alerts (bars; hatched = still firing) and actions (markers)", fontsize=10, loc="left"
    )
    _time_axis(ax, data["timezone"], (span_start, span_end))
    return fig


def _lane(kind: str) -> str:
    if kind.startswith("capacity"):
        return "capacity"
    if kind.startswith("prewarm"):
        return "pre-warm"
    if kind.startswith("remediation"):
        return "remediation"
    return kind


def _dedup_legend(ax) -> None:
    handles, labels = ax.get_legend_handles_labels()
    seen: dict[str, Any] = {}
    for handle, label in zip(handles, labels, strict=True):
        seen.setdefault(label, handle)
    ax.legend(seen.values(), seen.keys(), fontsize=7, loc="upper left")


def budget_burndown(data: dict[str, Any]) -> Figure:
    """A wedding's error budgets across its day window: budget left per SLO (top), the
    first alert window's burn rate as it alerts on it (bottom), page and ticket spans, the
    ceremony. An SLO with fewer than three rounds is drawn as markers; a lone round is
    labelled with its budget left and time."""
    fig = Figure(figsize=(10, 6), layout="constrained")
    left_ax, burn_ax = fig.subplots(2, 1, sharex=True, height_ratios=[3, 2])
    opens, closes = _t(data["window_start"]), _t(data["window_end"])
    for index, slo in enumerate(data["slos"]):
        colour = BUDGET_COLOURS[index % len(BUDGET_COLOURS)]
        at = [_t(p["at"]) for p in slo["points"]]
        # A line needs two rounds: with fewer, each round is a marker (a lone round drawn as
        # a line is invisible, and the 0% axis line reads as a flat budget at 0%).
        marker = "o" if len(at) < 3 else None
        left = [100 * p["remaining"] for p in slo["points"]]
        left_ax.plot(
            at,
            left,
            color=colour,
            lw=1.6,
            marker=marker,
            ms=6,
            label=f"{slo['slo']} ({100 * slo['objective']:g}% <= {slo['threshold_s']:g} s)",
        )
        if len(at) == 1:
            left_ax.annotate(
                f"{left[0]:.0f}% left at {at[0].astimezone(ZoneInfo(data['timezone'])):%H:%M}"
                " (one round)",
                (at[0], left[0]),
                xytext=(6, 6),
                textcoords="offset points",
                fontsize=8,
                color=colour,
            )
        burn = [(t, p["burn_rate"]) for t, p in zip(at, slo["points"], strict=True)]
        burn = [(t, b) for t, b in burn if b is not None]
        if burn:
            burn_ax.plot(
                [t for t, _ in burn], [b for _, b in burn], color=colour, lw=1.2, marker=marker
            )
    colours = {
        slo["slo"]: BUDGET_COLOURS[i % len(BUDGET_COLOURS)] for i, slo in enumerate(data["slos"])
    }
    lanes = {slo: i for i, slo in enumerate(colours)}
    for alert in data["alerts"]:
        start = _t(alert["starts_at"])
        end = _t(alert["ends_at"]) or closes
        shade = STATUS_COLOURS["breach"] if alert["severity"] == "page" else "#f9a825"
        for ax in (left_ax, burn_ax):
            ax.axvspan(start, end, color=shade, alpha=0.12, lw=0)
        if alert["slo"] in colours:
            left_ax.plot(
                [start, end],
                [103 - 3 * lanes[alert["slo"]] - (1.2 if alert["severity"] == "ticket" else 0)] * 2,
                color=colours[alert["slo"]],
                lw=3,
                ls="-" if alert["severity"] == "page" else "--",
                solid_capstyle="butt",
            )
    left_ax.axhline(0, color="#37474f", lw=0.8)
    left_ax.set_ylabel("budget left (%)")
    left_ax.set_ylim(min(-10, left_ax.get_ylim()[0]), 106)
    burn_ax.axhline(1, color="#37474f", lw=0.8, ls=":")
    burn_ax.set_ylabel("burn rate (x), first window")
    burn_ax.set_ylim(bottom=0)
    ceremony = _t(data["ceremony"])
    for ax in (left_ax, burn_ax):
        ax.axvline(ceremony, color="#37474f", lw=1, ls="--")
        ax.set_xlim(opens, closes)
    left_ax.text(ceremony, 2, " ceremony", va="bottom", fontsize=8, color="#37474f")
    left_ax.set_title(
        f"Wedding {data['wedding_id']} ({data['tier']}, {data['guest_count']} guests): "
        "error budgets over the day window",
        fontsize=10,
        loc="left",
    )
    handles, labels = left_ax.get_legend_handles_labels()
    handles += [
        Patch(color=STATUS_COLOURS["breach"], alpha=0.3, label="page"),
        Patch(color="#f9a825", alpha=0.3, label="ticket"),
    ]
    left_ax.legend(handles=handles, fontsize=7, loc="lower right", ncols=2)
    _time_axis(left_ax, data["timezone"], (opens, closes))
    _time_axis(burn_ax, data["timezone"], (opens, closes))
    left_ax.set_xlabel("")
    return fig


DRAW: dict[str, Callable[[dict[str, Any]], Figure]] = {
    "forecast_vs_actual": forecast_vs_actual,
    "capacity_floor": capacity_floor,
    "critical_path": critical_path,
    "alerts_actions": alerts_actions,
    "budget_burndown": budget_burndown,
}


def render_png(kind: str, data: dict[str, Any], *, dpi: int = 110) -> bytes:
    """The figure of `kind` for `data`, as PNG bytes."""
    fig = DRAW[kind](data)
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=dpi)
    return buffer.getvalue()
