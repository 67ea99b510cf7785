"""Critical-path checks on sandbox data with injected problems, on real PostgreSQL."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pandas as pd
import psycopg
import pytest

from wedperf.calendar import AppDbCalendarSource, sync_calendar
from wedperf.calendar.model import Wedding
from wedperf.config import CriticalPathSettings, Settings, SloOverride
from wedperf.critical_path import checks
from wedperf.critical_path.round import live_weddings, run_round
from wedperf.sandbox.seed import seed_sandbox

SEED_NOW = datetime(2026, 10, 20, 12, 0, tzinfo=UTC)
SETTINGS = Settings()


@pytest.fixture(scope="module")
def sandbox_url(make_database) -> str:
    url = make_database()
    with psycopg.connect(url) as conn:
        seed_sandbox(conn, weddings=60, days=14, seed=99, start=date(2026, 10, 5), now=SEED_NOW)
        sync_calendar(conn, AppDbCalendarSource(url), now=SEED_NOW)
    return url


@pytest.fixture
def conn(sandbox_url: str) -> Iterator[psycopg.Connection]:
    """A connection whose changes are all rolled back after the test."""
    with psycopg.connect(sandbox_url) as connection:
        yield connection
        connection.rollback()


def wedding(conn: psycopg.Connection, wedding_id: str) -> Wedding:
    row = conn.execute(
        "SELECT wedding_id, starts_at, ends_at, timezone, venue, guest_count, status "
        "FROM perf.weddings WHERE wedding_id = %s",
        (wedding_id,),
    ).fetchone()
    return Wedding(*row)


def a_clean_completed_wedding(conn: psycopg.Connection) -> Wedding:
    """A completed wedding with >= 2 notifications per some vendor, made spotless: everything
    acknowledged, every item on time, no incidents, normal latency samples."""
    wedding_id = conn.execute(
        "SELECT p.wedding_id FROM perf.weddings p JOIN app.weddings a ON a.id::text = p.wedding_id "
        "WHERE p.status = 'completed' AND p.guest_count >= 60 "
        "AND (SELECT count(*) FROM app.vendor_notifications n WHERE n.wedding_id = a.id) >= 10 "
        "ORDER BY p.starts_at LIMIT 1"
    ).fetchone()[0]
    w = wedding(conn, wedding_id)
    conn.execute(
        "UPDATE app.vendor_notifications SET delivered_at = sent_at + interval '2 s', "
        "acknowledged_at = sent_at + interval '3 min' WHERE wedding_id = %s",
        (int(wedding_id),),
    )
    conn.execute(
        "UPDATE app.timeline_items SET started_at = scheduled_at + interval '1 min', "
        "completed_at = scheduled_at + interval '20 min' WHERE wedding_id = %s",
        (int(wedding_id),),
    )
    conn.execute("DELETE FROM app.incidents WHERE wedding_id = %s", (int(wedding_id),))
    at = evaluation_instant(w)
    add_latency(
        conn,
        w,
        at,
        {"guest_list": 0.08, "timeline_sync": 0.06, "photo_upload": 1.5, "vendor_notify": 0.05},
    )
    return w


def evaluation_instant(w: Wedding) -> datetime:
    return w.starts_at + timedelta(minutes=60)


def add_latency(conn, w: Wedding, at: datetime, p95s: dict[str, float]) -> None:
    conn.execute("SELECT perf.ensure_sample_partitions(%s, %s)", (at.date(), at.date()))
    for operation, value in p95s.items():
        for i in range(20):
            conn.execute(
                "INSERT INTO perf.samples VALUES (%s, 'probe', 'latency_s', %s, %s, %s, 'url', %s) "
                "ON CONFLICT DO NOTHING",
                (at - timedelta(seconds=30 * (i + 1)), operation, f"test:{i}", w.wedding_id, value),
            )


def evaluate(conn, w: Wedding, at: datetime, *, record: bool = False, settings=SETTINGS):
    result = run_round(conn, conn, [w], at, settings, record=record)
    return result


def statuses(result) -> dict[str, str]:
    return dict(zip(result.results["check_name"], result.results["status"], strict=True))


def breaching(result) -> set[str]:
    return {c for c, s in statuses(result).items() if s == "breach"}


def test_clean_day_has_no_breach(conn) -> None:
    w = a_clean_completed_wedding(conn)
    result = evaluate(conn, w, evaluation_instant(w))
    assert breaching(result) == set()
    values = dict(zip(result.results["check_name"], result.results["value"], strict=True))
    assert values["guest_arrival"] > 0.75
    assert values["vendor_unresponsive"] == 0
    assert values["latency_guest_list"] == pytest.approx(0.08)


def test_vendor_who_never_acknowledges(conn) -> None:
    w = a_clean_completed_wedding(conn)
    at = evaluation_instant(w)
    vendor = conn.execute(
        "SELECT vendor_id FROM app.vendor_notifications WHERE wedding_id = %s "
        "AND sent_at <= %s GROUP BY vendor_id HAVING count(*) >= 2 LIMIT 1",
        (int(w.wedding_id), at - timedelta(minutes=20)),
    ).fetchone()[0]
    conn.execute(
        "UPDATE app.vendor_notifications SET acknowledged_at = NULL "
        "WHERE wedding_id = %s AND vendor_id = %s",
        (int(w.wedding_id), vendor),
    )
    assert breaching(evaluate(conn, w, at)) == {"vendor_unresponsive"}


def test_ceremony_forty_minutes_late(conn) -> None:
    w = a_clean_completed_wedding(conn)
    # The day slips: the ceremony and everything after it start 40 minutes late.
    conn.execute(
        "UPDATE app.timeline_items SET started_at = scheduled_at + interval '40 min' "
        "WHERE wedding_id = %s AND scheduled_at >= %s",
        (int(w.wedding_id), w.starts_at),
    )
    result = evaluate(conn, w, w.starts_at + timedelta(minutes=60))
    assert breaching(result) == {"timeline_drift"}
    detail = result.results.set_index("check_name").at["timeline_drift", "detail"]
    assert "ceremony started +40 min" in detail


def test_slow_incident_response(conn) -> None:
    w = a_clean_completed_wedding(conn)
    at = evaluation_instant(w)
    conn.execute(
        "INSERT INTO app.incidents (wedding_id, severity, opened_at, first_response_at) "
        "VALUES (%s, 'high', %s, %s)",
        (int(w.wedding_id), at - timedelta(minutes=50), at - timedelta(minutes=5)),
    )
    assert breaching(evaluate(conn, w, at)) == {"incident_response_high"}


def test_guest_list_latency_spike(conn) -> None:
    w = a_clean_completed_wedding(conn)
    at = evaluation_instant(w)
    conn.execute(
        "DELETE FROM perf.samples WHERE wedding_id = %s AND operation = 'guest_list'",
        (w.wedding_id,),
    )
    add_latency(conn, w, at, {"guest_list": 2.5})
    assert breaching(evaluate(conn, w, at)) == {"latency_guest_list"}


def test_slow_rum_beacons_breach_mobile_p95_not_the_server_latency_check(conn) -> None:
    """Phones on venue 3G see 3 s guest lists; the server answers in 80 ms. Only the mobile
    check may breach: a latency_guest_list breach runs a disruptive cache flush."""
    w = a_clean_completed_wedding(conn)
    at = evaluation_instant(w)
    for i in range(30):
        conn.execute(
            "INSERT INTO perf.samples "
            "VALUES (%s, 'rum', 'latency_s', 'guest_list', %s, %s, 'beacon', 3.0, %s)",
            (
                at - timedelta(seconds=20 * (i + 1)),
                f"android/3g/5.2.1/GuestList#beacon-{i:04d}",
                w.wedding_id,
                "android" if i % 2 else "ios",
            ),
        )
    result = evaluate(conn, w, at)
    assert breaching(result) == {"mobile_p95_guest_list"}
    values = dict(zip(result.results["check_name"], result.results["value"], strict=True))
    assert values["latency_guest_list"] == pytest.approx(0.08)  # the probes' samples only
    assert values["mobile_p95_guest_list"] == pytest.approx(3.0)


def test_server_latency_check_ignores_rum_rows_in_a_frame() -> None:
    weddings = pd.DataFrame({"wedding_id": ["1"]})
    latency = pd.DataFrame(
        {
            "wedding_id": ["1"] * 3,
            "operation": ["guest_list"] * 3,
            "value": [0.1, 9.0, 9.0],
            "client": ["unknown", "ios", "web"],
            "source": ["prometheus", "rum", "rum"],
        }
    )
    server = checks.operation_latency(weddings, latency, operation="guest_list")
    assert server["value"].tolist() == [0.1] and server["detail"].tolist() == ["1 samples"]
    view = checks.client_latency(latency, ["guest_list"]).set_index("client")
    assert view.at["all", "samples"] == 1 and view.at["web", "p95"] == 9.0


def test_incident_with_no_response_yet(conn) -> None:
    w = a_clean_completed_wedding(conn)
    at = evaluation_instant(w)
    conn.execute(
        "INSERT INTO app.incidents (wedding_id, severity, opened_at) VALUES (%s, 'critical', %s)",
        (int(w.wedding_id), at - timedelta(minutes=12)),
    )
    result = evaluate(conn, w, at).results.set_index("check_name")
    assert result.at["incident_response_critical", "status"] == "breach"
    assert result.at["incident_response_critical", "value"] == pytest.approx(12)
    assert "1 awaiting first response" in result.at["incident_response_critical", "detail"]


def test_no_check_ins_yet(conn) -> None:
    w = a_clean_completed_wedding(conn)
    conn.execute("DELETE FROM app.guest_checkins WHERE wedding_id = %s", (int(w.wedding_id),))
    early = evaluate(conn, w, w.starts_at - timedelta(hours=2)).results.set_index("check_name")
    assert early.at["guest_arrival", "status"] == "ok"
    assert "too early" in early.at["guest_arrival", "detail"]
    assert early.at["guests_missing_at_ceremony", "status"] == "ok"
    late = evaluate(conn, w, w.starts_at + timedelta(minutes=15)).results.set_index("check_name")
    assert late.at["guest_arrival", "value"] == 0
    assert late.at["guest_arrival", "status"] == "breach"
    assert late.at["guests_missing_at_ceremony", "value"] == 1.0


def test_timeline_item_without_scheduled_time(conn) -> None:
    w = a_clean_completed_wedding(conn)
    conn.execute("ALTER TABLE app.timeline_items ALTER COLUMN scheduled_at DROP NOT NULL")
    conn.execute(
        "INSERT INTO app.timeline_items (wedding_id, item, scheduled_at, started_at) "
        "VALUES (%s, 'surprise fireworks', NULL, %s)",
        (int(w.wedding_id), w.starts_at),
    )
    result = evaluate(conn, w, evaluation_instant(w)).results.set_index("check_name")
    assert result.at["timeline_drift", "status"] == "ok"
    assert "1 item(s) without a scheduled time" in result.at["timeline_drift", "detail"]


def test_cancelled_wedding_is_not_watched(conn) -> None:
    w = a_clean_completed_wedding(conn)
    at = evaluation_instant(w)
    assert w.wedding_id in {x.wedding_id for x in live_weddings(conn, at, SETTINGS)}
    conn.execute(
        "UPDATE perf.weddings SET status = 'cancelled' WHERE wedding_id = %s", (w.wedding_id,)
    )
    assert w.wedding_id not in {x.wedding_id for x in live_weddings(conn, at, SETTINGS)}


def test_reception_past_midnight(conn) -> None:
    w = a_clean_completed_wedding(conn)
    zone = ZoneInfo(w.timezone)
    local = w.starts_at.astimezone(zone)
    # Move the whole day to a 21:00 local ceremony: the reception runs past midnight.
    shift = local.replace(hour=21, minute=0).astimezone(UTC) - w.starts_at
    for table, key, columns in (
        ("app.weddings", "id", ("ceremony_at", "reception_ends_at")),
        ("app.timeline_items", "wedding_id", ("scheduled_at", "started_at", "completed_at")),
        ("app.vendor_notifications", "wedding_id", ("sent_at", "delivered_at", "acknowledged_at")),
        ("app.guest_checkins", "wedding_id", ("checked_in_at",)),
        ("perf.weddings", "wedding_id", ("starts_at", "ends_at")),
    ):
        sets = ", ".join(f"{c} = {c} + %(shift)s" for c in columns)
        conn.execute(
            f"UPDATE {table} SET {sets} WHERE {key}::text = %(id)s",  # noqa: S608 - test constants
            {"shift": shift, "id": w.wedding_id},
        )
    moved = wedding(conn, w.wedding_id)
    after_midnight = (local + timedelta(days=1)).replace(hour=1, minute=0).astimezone(UTC)
    assert moved.ends_at > after_midnight
    assert w.wedding_id in {x.wedding_id for x in live_weddings(conn, after_midnight, SETTINGS)}
    result = evaluate(conn, moved, after_midnight).results.set_index("check_name")
    # Check-ins happened the evening before, on the previous local date: still counted.
    assert result.at["guests_missing_at_ceremony", "value"] < 0.2
    assert set(result["status"]) == {"ok"}


def test_daylight_saving_day_arrival_uses_instants() -> None:
    zone = ZoneInfo("America/New_York")
    # 2026-11-01: clocks fall back at 02:00; the 16:00 ceremony is 21:00 UTC, not 20:00.
    starts = datetime(2026, 11, 1, 16, 0, tzinfo=zone).astimezone(UTC)
    weddings = pd.DataFrame(
        {
            "wedding_id": ["dst"],
            "starts_at": [starts],
            "ends_at": [starts + timedelta(hours=6)],
            "guest_count": [100],
        }
    )
    at = datetime(2026, 11, 1, 15, 45, tzinfo=zone).astimezone(UTC)
    arrived = pd.DataFrame(
        {
            "wedding_id": ["dst"] * 40,
            "checked_in_at": [starts - timedelta(minutes=50 - i) for i in range(40)],
        }
    )
    result = checks.guest_arrival(
        weddings, arrived, at, expected_share=0.9, arrival_minutes=(-60.0, -15.0, 5.0)
    )
    # At the curve's mode, 15 minutes before the ceremony, 45/65 of the 90 expected guests
    # have arrived: 62.3. (Had the DST shift been mishandled, `at` would be 45 or 75 minutes
    # from the ceremony instead of 15.)
    assert result.at[0, "detail"] == "36 checked in, 62 expected by now"
    assert result.at[0, "value"] == pytest.approx(36 / (90 * 45 / 65))


def test_slo_overrides_apply_by_tier_then_wedding(conn) -> None:
    w = a_clean_completed_wedding(conn)
    at = evaluation_instant(w)
    settings = Settings(
        critical_path=CriticalPathSettings(
            slo={"latency_guest_list": SloOverride(breach=0.05)},
            weddings={w.wedding_id: {"latency_photo_upload": SloOverride(warn=1, breach=1.2)}},
        )
    )
    result = evaluate(conn, w, at, settings=settings).results.set_index("check_name")
    assert result.at["latency_guest_list", "threshold"] == 0.05
    assert result.at["latency_guest_list", "status"] == "breach"
    assert result.at["latency_photo_upload", "status"] == "breach"


def test_breach_fires_one_alert_and_recovery_resolves_it(conn) -> None:
    w = a_clean_completed_wedding(conn)
    at = evaluation_instant(w)
    conn.execute(
        "DELETE FROM perf.samples WHERE wedding_id = %s AND operation = 'guest_list'",
        (w.wedding_id,),
    )
    add_latency(conn, w, at, {"guest_list": 2.5})

    def alerts() -> list[tuple]:
        return conn.execute(
            "SELECT labels ->> 'check', status, starts_at, ends_at FROM perf.alerts "
            "WHERE wedding_id = %s ORDER BY alert_id",
            (w.wedding_id,),
        ).fetchall()

    first = evaluate(conn, w, at, record=True)
    assert first.alerts.fired == [(w.wedding_id, "latency_guest_list")]
    again = evaluate(conn, w, at, record=True)  # the same round, retried
    later = evaluate(conn, w, at + timedelta(minutes=5), record=True)
    assert again.alerts.fired == [] and later.alerts.fired == []
    assert alerts() == [("latency_guest_list", "firing", at, None)]
    assert (
        conn.execute(
            "SELECT count(*) FROM perf.critical_path_checks WHERE wedding_id = %s AND "
            "check_name = 'latency_guest_list'",
            (w.wedding_id,),
        ).fetchone()[0]
        == 2
    )  # one row per round, the retry overwrote its own

    # Latency back to normal: the check recovers and the alert resolves, once.
    recovered_at = at + timedelta(minutes=20)
    add_latency(conn, w, recovered_at, {"guest_list": 0.1})
    recovered = evaluate(conn, w, recovered_at, record=True)
    assert recovered.alerts.resolved == [(w.wedding_id, "latency_guest_list")]
    assert evaluate(conn, w, recovered_at + timedelta(minutes=5), record=True).alerts.resolved == []
    assert alerts() == [("latency_guest_list", "resolved", at, recovered_at)]

    # Re-running older rounds (a backfill, a retried flow run) changes nothing: the breach of
    # the round at `at` is the episode that started then, not a new alert.
    for older in (at, at + timedelta(minutes=5), recovered_at):
        rerun = evaluate(conn, w, older, record=True)
        assert rerun.alerts.fired == [] and rerun.alerts.resolved == []
    assert alerts() == [("latency_guest_list", "resolved", at, recovered_at)]


def test_unknown_check_in_overrides_is_named(conn) -> None:
    w = a_clean_completed_wedding(conn)
    settings = Settings(
        critical_path=CriticalPathSettings(slo={"latency_guestlist": SloOverride(breach=1)})
    )
    with pytest.raises(
        ValueError, match="unknown critical-path checks in SLO overrides: latency_guestlist"
    ):
        evaluate(conn, w, evaluation_instant(w), settings=settings)
