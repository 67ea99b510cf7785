"""The evidence report agrees with itself, in a real PostgreSQL: a demo-like two days (a
Saturday reception running past midnight, Sunday weddings in two zones, a Monday wedding with
an active-guest estimate and a floor raise, a modelled past): every section covers the same
weddings, a round without a value is "no data" in the tables as in the figures, the capacity
figure's needed line agrees with the raise, a page's verification reading is shown, an
unavailable advisor source is a note, and the axes name each day once."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta

import pandas as pd
import psycopg
import pytest
from conftest import store_weddings
from matplotlib.colors import to_rgb
from test_evidence import act, checks_round

from wedperf.calendar.model import Wedding
from wedperf.config import Settings
from wedperf.critical_path.record import store_round
from wedperf.evidence.build import build_evidence_package
from wedperf.forecast.pipeline import SeriesForecast
from wedperf.forecast.store import write_forecast

DAY = date(2026, 12, 6)  # a Sunday; the report covers Sunday and Monday in New York
NOW = datetime(2026, 12, 8, 0, 0, tzinfo=UTC)  # Monday 19:00 in New York
PAGE_NOTE = (
    "verified by metric: p95 923 ms over 86 requests in 5 s > 500 ms "
    "(histogram_quantile(0.95, rate(x[5s])) > 0.5 still true)"
)


def utc(day: int, hour: int, minute: int = 0) -> datetime:
    return datetime(2026, 12, day, hour, minute, tzinfo=UTC)


# id, ceremony, end, zone, guests, active guests, status
WEDDINGS = (
    # Saturday 22:00 in New York: its reception runs past midnight into Sunday.
    ("489", utc(6, 3), utc(6, 6), "America/New_York", 100, None, "completed"),
    ("462", utc(6, 21), utc(7, 2), "America/New_York", 421, None, "completed"),
    # Sunday 17:30 in Chicago, its day window all Sunday there.
    ("492", utc(6, 23, 30), utc(7, 4, 30), "America/Chicago", 107, None, "completed"),
    ("495", utc(6, 22), utc(7, 3), "America/New_York", 50, None, "cancelled"),
    # Monday 15:46 in Los Angeles, 227 active guests expected.
    ("599", utc(7, 23, 46), utc(8, 4, 46), "America/Los_Angeles", 263, 227, "confirmed"),
    ("700", utc(9, 20), utc(10, 2), "America/New_York", 80, None, "confirmed"),  # later
)


def budget(conn, wedding_id: str, at: datetime, opens: datetime, closes: datetime) -> None:
    conn.execute(
        "INSERT INTO perf.slo_budgets (wedding_id, slo, evaluated_at, window_start, window_end, "
        "operation, clients, threshold_s, objective, events, bad_events, consumed, remaining, "
        "burn_rate, exhaustion_burn, page, ticket, windows) VALUES (%s, 'guest-list-latency', "
        "%s, %s, %s, 'guest_list', 'web', 1.0, 0.99, 100, 0, 0, 1, 0, 10, false, false, '[]')",
        (wedding_id, at, opens, closes),
    )


def fit(series: str, origin: datetime, hours: int) -> SeriesForecast:
    index = pd.date_range(origin, periods=hours, freq="h", tz=UTC)
    mean = pd.Series([50.0 + i for i in range(hours)], index=index, dtype=float)
    frame = pd.DataFrame(
        {"mean": mean, "lo-80": mean - 5, "hi-80": mean + 5, "lo-95": mean - 9, "hi-95": mean + 9}
    )
    return SeriesForecast(
        series=series,
        model="calendar_reg",
        model_version="test-1",
        forecast=frame,
        train_start=pd.Timestamp(origin - timedelta(days=28)),
        train_end=pd.Timestamp(origin - timedelta(hours=1)),
    )


def fill(url: str) -> dict:
    with psycopg.connect(url) as conn:
        store_weddings(conn, [
            Wedding(wid, starts, ends, zone, None, guests, status, active)
            for wid, starts, ends, zone, guests, active, status in WEDDINGS
        ])  # fmt: skip
        write_forecast(conn, fit("app.guest_checkins", utc(6, 5), 48))
        # The modelled past: the sandbox load model's samples over Sunday.
        conn.execute("SELECT perf.ensure_sample_partitions(%s, %s)", (DAY, DAY + timedelta(1)))
        with conn.cursor() as cursor:
            cursor.executemany(
                "INSERT INTO perf.samples (ts, source, metric, operation, series, wedding_id, "
                "attributed_by, value) VALUES (%s, 'sandbox-model', 'latency_s', 'guest_list', "
                "%s, '462', 'label', 0.1)",
                [(utc(6, 16) + timedelta(minutes=10 * i), f"m{i}") for i in range(6 * 13)],
            )
        conn.commit()
        sandbox = {"target": "sandbox", "dry_run": False, "outcome": "done"}
        act(conn, utc(5, 5), plan_id="restore-5", kind="capacity_restore", before="5",
            after="2", reason="after the 4th", **sandbox)  # fmt: skip
        # Monday's planned raise, sized on 599's 227 active guests: 39.7 req/s -> 6 replicas.
        act(conn, utc(7, 22, 52), plan_id="raise-mon", kind="capacity_raise", before="2",
            after="6", reason="1 wedding", wedding_ids=["599"], **sandbox)  # fmt: skip

        # Rounds every 15 min: 492's mobile checks have no value all day; 599's guest
        # arrival has none before the ceremony.
        for at in pd.date_range(utc(6, 20, 30), utc(7, 4, 30), freq="15min"):
            rows = [
                ("492", "latency_guest_list", 0.3, "ok"),
                ("492", "mobile_p95_guest_list", None, "ok"),
            ]
            with conn.transaction():
                store_round(conn, checks_round(rows), at.to_pydatetime())
        for at in pd.date_range(utc(7, 20, 46), utc(7, 23, 46), freq="15min"):
            rows = [
                ("599", "guest_arrival", None, "ok"),
                ("599", "latency_guest_list", 0.25, "ok"),
            ]
            with conn.transaction():
                store_round(conn, checks_round(rows), at.to_pydatetime())
        for wid, at, opens, closes in (
            ("489", utc(6, 6), utc(6, 0), utc(6, 6)),
            ("492", utc(7, 4, 30), utc(6, 20, 30), utc(7, 4, 30)),
            ("599", utc(7, 23, 45), utc(7, 20, 46), utc(8, 4, 46)),
        ):
            budget(conn, wid, at, opens, closes)
        # The page of Monday's incident: two minutes, resolved; its remediation verified by
        # re-reading the metric.
        conn.execute(
            "INSERT INTO perf.alerts (source, fingerprint, starts_at, status, ends_at, alertname, "
            "severity, wedding_id, labels, remediation_state, remediation_note) VALUES "
            "('alertmanager', 'page-1', %s, 'resolved', %s, 'HighRequestLatency', 'page', "
            "'599', '{\"alertname\": \"HighRequestLatency\"}', 'escalated', %s)",
            (utc(7, 22, 53), utc(7, 22, 55), PAGE_NOTE),
        )
        conn.execute(
            "INSERT INTO perf.alerts (source, fingerprint, starts_at, status, alertname, "
            "severity, labels) VALUES ('alertmanager', 'warn-1', %s, 'firing', 'QueueLag', "
            "'warning', '{}')",
            (utc(7, 18),),
        )
        conn.commit()
    return {}


@pytest.fixture(scope="module")
def report(make_database, tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict]:
    import wedperf.evidence.advisor as hook
    from wedperf.advisor.evidence import findings_rows
    from wedperf.advisor.report import AdvisorReport

    url = make_database()
    fill(url)
    unavailable = AdvisorReport(
        database="wedperf",
        generated_at=utc(7, 22, 50),
        available=False,
        reason="not_available",
        message="pg_stat_statements is not available: install the contrib package",
    )
    original = hook.evidence_findings
    hook.evidence_findings = lambda conn, **_: findings_rows(unavailable)
    try:
        out = tmp_path_factory.mktemp("evidence") / "two-days"
        result = build_evidence_package(url, out=out, day=DAY, days=2, now=NOW, settings=Settings())
    finally:
        hook.evidence_findings = original
    doc = json.loads(result.json_path.read_text())
    yield {"url": url, "result": result, "doc": doc}


def figure(report: dict, name: str) -> dict:
    return json.loads((report["result"].out / "figures" / f"{name}.json").read_text())


def table(section: dict, title: str) -> dict:
    (found,) = [t for t in section["tables"] if t["title"] == title]
    return found


def rows_by(found: dict, column: str) -> dict[str, dict[str, str]]:
    index = found["columns"].index(column)
    return {row[index]: dict(zip(found["columns"], row, strict=True)) for row in found["rows"]}


def test_every_section_covers_the_same_weddings(report: dict) -> None:
    """The day's weddings are those whose day window overlaps the span (one definition): the
    Saturday reception past midnight is in the Weddings table, the timelines and the
    budgets alike; the cancelled one is listed as cancelled, with no budget."""
    from wedperf.evidence.data import day_scope, scope_weddings

    sections = report["doc"]["sections"]
    listed = set(rows_by(table(sections["critical_path"], "Weddings"), "wedding"))
    budgets = set(rows_by(table(sections["error_budgets"], "Budgets at the last round"), "wedding"))
    settings = Settings()
    with psycopg.connect(report["url"]) as conn:
        defined = scope_weddings(conn, day_scope(DAY, settings, 2), settings)
    assert listed == {w.wedding_id for w in defined} == {"489", "462", "492", "495", "599"}
    assert budgets == {"489", "492", "599"} <= listed
    assert rows_by(table(sections["critical_path"], "Weddings"), "wedding")["495"]["status"] == (
        "cancelled"
    )
    counts = report["result"].summary
    assert counts["weddings"] == 5
    # The Saturday reception is listed, but its whole day is not in the span: not completed.
    assert counts["weddings_opened_before_span"] == 1
    assert counts["weddings_completed"] == 2  # 462 and 492
    assert any("489" in n and "before the span" in n for n in sections["critical_path"]["notes"])


def test_rounds_without_a_value_are_no_data_in_table_and_figure(report: dict) -> None:
    section = report["doc"]["sections"]["critical_path"]
    slos = rows_by(table(section, "SLOs of wedding 492"), "check")
    drawn = {c["check"]: c for c in figure(report, "critical_path_492")["checks"]}
    mobile = slos["mobile_p95_guest_list"]
    rounds = int(mobile["rounds"])
    assert rounds == 33
    assert (mobile["ok"], mobile["no data"], mobile["worst"]) == ("0", str(rounds), "—")
    assert {e["state"] for e in drawn["mobile_p95_guest_list"]["evaluations"]} == {"no data"}
    latency = slos["latency_guest_list"]
    assert (latency["ok"], latency["no data"]) == (str(rounds), "0")
    # The table's counts are the figure's marks, check by check.
    for check, row in slos.items():
        states = [e["state"] for e in drawn[check]["evaluations"]]
        for column in ("ok", "warn", "breach", "no data"):
            assert int(row[column]) == states.count(column), (check, column)
    weddings = rows_by(table(section, "Weddings"), "wedding")
    assert (weddings["492"]["ok"], weddings["492"]["no data"]) == ("33", "33")
    assert (weddings["599"]["ok"], weddings["599"]["no data"]) == ("13", "13")
    assert section["counts"]["critical_path_no_data"] == 46


def test_capacity_needed_line_agrees_with_the_raise_and_the_caption_explains(
    report: dict,
) -> None:
    data = figure(report, "capacity_floor")
    sandbox = next(t for t in data["targets"] if t["target"] == "sandbox")
    raise_step = next(s for s in sandbox["steps"] if s["kind"] == "capacity_raise")
    in_force = [n for n in sandbox["needed"] if n["at"] <= raise_step["at"]][-1]
    # What a raise at that moment sizes to is what it did: 227 active guests, 39.7 req/s.
    assert in_force["replicas"] == int(raise_step["after"]) == 6
    assert round(in_force["rps"], 3) == round(227 * 0.175, 3)
    # The span's peak (Sunday, invited guests) needs more, and is not drawn as "needed".
    assert sandbox["replicas_needed_at_peak"] == max(n["replicas"] for n in sandbox["needed"]) > 6
    assert "sum of per-wedding peaks" in data["caption"]
    assert "conservative" in data["caption"]
    notes = report["doc"]["sections"]["capacity"]["notes"]
    past = [n for n in notes if "has no planned runs" in n]
    assert len(past) == 1 and "floor stayed at 2" in past[0]
    assert f"needed up to {sandbox['replicas_needed_at_peak']}" in past[0]

    from wedperf.evidence.figures import capacity_floor

    fig = capacity_floor(data)
    labels = fig.axes[1].get_legend_handles_labels()[1]
    assert "sandbox needed for the calendar estimate" in labels
    assert not any("calendar peak" in label for label in labels)


def test_a_page_shows_its_verification_reading_and_a_visible_bar(report: dict) -> None:
    section = report["doc"]["sections"]["alerts_actions"]
    alerts = rows_by(table(section, "Alerts"), "what")
    assert "p95 923 ms over 86 requests" in alerts["HighRequestLatency"]["before → after"]
    assert alerts["QueueLag"]["before → after"] == "—"  # nothing stored: truly absent

    from matplotlib.dates import date2num

    from wedperf.evidence.figures import MIN_BAR_SHARE, alerts_actions

    data = figure(report, "alerts_actions")
    fig = alerts_actions(data)
    fig.canvas.draw()
    legend = [t.get_text() for t in fig.legends[0].get_texts()]
    assert {"alert page", "alert warning", "still firing"} <= set(legend)
    ax = fig.axes[0]
    span = date2num(datetime.fromisoformat(data["end"])) - date2num(
        datetime.fromisoformat(data["start"])
    )
    widths = [p.get_width() for p in ax.patches]
    assert len(widths) == 2 and min(widths) >= span * MIN_BAR_SHARE * 0.999


def test_unavailable_advisor_source_is_a_note_not_a_finding(report: dict) -> None:
    advisor = report["doc"]["sections"]["advisor"]
    assert advisor["counts"]["advisor_findings"] == 0
    assert advisor["tables"] == []
    assert any("pg_stat_statements unavailable" in n for n in advisor["notes"])


def test_axes_name_each_day_once_and_budgets_say_their_clock(report: dict) -> None:
    from wedperf.evidence.figures import critical_path, forecast_vs_actual

    fig = forecast_vs_actual(figure(report, "forecast_vs_actual"))
    fig.canvas.draw()
    ax = fig.axes[0]
    texts = [t.get_text() for t in ax.get_xticklabels()]
    offset = ax.xaxis.get_major_formatter().get_offset()
    assert offset == ""
    assert sum("Tue 08 Dec" in t for t in [*texts, offset, ax.get_xlabel()]) <= 1
    assert ax.get_xlabel().endswith("Sun 06 Dec 2026 – Mon 07 Dec 2026")
    # The bands: opaque, the 80% clearly darker than the 95%.
    band95, band80 = ax.collections[:2]
    light = [sum(to_rgb(tuple(b.get_facecolor()[0][:3]))) / 3 for b in (band95, band80)]
    assert light[0] - light[1] > 0.2
    assert band95.get_facecolor()[0][3] == band80.get_facecolor()[0][3] == 1.0

    # A Sunday wedding in Chicago: its axis names Sunday, not the day its last tick falls on.
    fig = critical_path(figure(report, "critical_path_492"))
    fig.canvas.draw()
    ax = fig.axes[0]
    assert ax.xaxis.get_major_formatter().get_offset() == ""
    assert ax.get_xlabel() == "local time (America/Chicago), Sun 06 Dec 2026"

    budgets = table(report["doc"]["sections"]["error_budgets"], "Budgets at the last round")
    assert budgets["columns"][-1] == "as of (America/New_York)"
    as_of = {row[0]: row[-1] for row in budgets["rows"]}
    assert as_of["492"] == "Sun 06 Dec 23:30"  # 04:30Z on the report's clock
    assert as_of["489"] == "Sun 06 Dec 01:00"
