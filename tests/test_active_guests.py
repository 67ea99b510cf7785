"""Active guests, not invited guests: the sandbox app and the load model agree on who uses
the app on the day, the calendar sync stores what the app knows ahead of it, and the
guest_engagement view carries no personal data."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import numpy as np
import psycopg
import pytest

from wedperf.calendar import AppDbCalendarSource, sync_calendar
from wedperf.calendar.active_guests import GuestSignals, estimate_active_guests
from wedperf.calendar.model import Wedding
from wedperf.calendar.settings import ActiveGuestSettings
from wedperf.calendar.sources import GuestSignalsUnreadable
from wedperf.sandbox.demand import with_active_guests
from wedperf.sandbox.engagement import decide_engagement
from wedperf.sandbox.generate import generate_dataset
from wedperf.sandbox.seed import seed_sandbox

START = date(2026, 9, 1)
NOW = datetime(2026, 10, 1, tzinfo=UTC)
AFTER = datetime(2027, 1, 1, tzinfo=UTC)  # every wedding of the seeds below is over
SIGNALS = ActiveGuestSettings()
# Signals read for every wedding of the seeds below, past ones included (as the replay does).
WIDE = ActiveGuestSettings(signals_lookback=timedelta(days=400))
EVERY = {"since": datetime(2000, 1, 1, tzinfo=UTC), "until": datetime(2100, 1, 1, tzinfo=UTC)}

# Per wedding, straight from the app's tables: guests not declined, and of those who
# installed the app or opened the guest list before the cutoff.
APP_COUNTS = """
SELECT w.id::text, w.ceremony_at,
       count(*) FILTER (WHERE g.rsvp <> 'declined'),
       count(*) FILTER (WHERE g.rsvp <> 'declined'
                          AND (g.app_installed_at < w.ceremony_at - %(cutoff)s
                               OR g.guest_list_opened_at < w.ceremony_at - %(cutoff)s))
FROM app.weddings w JOIN app.guests g ON g.wedding_id = w.id
GROUP BY w.id
"""


def stored(conn: psycopg.Connection) -> dict[str, tuple]:
    return {
        r[0]: r[1:]
        for r in conn.execute(
            "SELECT wedding_id, active_guests, guests_not_declined, guests_engaged "
            "FROM perf.weddings"
        )
    }


def test_the_estimate_is_known_from_the_cutoff_on() -> None:
    signals = GuestSignals(not_declined=100, engaged=50)
    starts = NOW + timedelta(days=5)
    early = estimate_active_guests(signals, starts_at=starts, now=NOW, settings=SIGNALS)
    assert early is None  # more than the cutoff ahead: too early to know
    on = starts - SIGNALS.cutoff
    assert estimate_active_guests(signals, starts_at=starts, now=on, settings=SIGNALS) == 60
    assert estimate_active_guests(None, starts_at=starts, now=on, settings=SIGNALS) is None
    everyone = GuestSignals(not_declined=100, engaged=100)
    # Never more active guests than guests who have not declined.
    assert estimate_active_guests(everyone, starts_at=starts, now=on, settings=SIGNALS) == 100


def test_too_few_engaged_is_missing_data_not_an_estimate_of_zero() -> None:
    """A wedding whose app knows of no (or hardly any) engaged guest is sized by its invited
    guests: an estimate of 0 from missing data would size it at nothing."""
    starts = NOW + timedelta(hours=1)
    share = SIGNALS.min_engaged_share

    def estimate(not_declined: int, engaged: int) -> int | None:
        signals = GuestSignals(not_declined=not_declined, engaged=engaged)
        return estimate_active_guests(signals, starts_at=starts, now=NOW, settings=SIGNALS)

    assert estimate(200, 0) is None
    assert estimate(200, int(200 * share) - 1) is None
    assert estimate(200, int(200 * share)) == round(200 * share * SIGNALS.active_per_engaged)
    assert estimate(0, 0) is None  # everyone declined: no share to take


def test_sync_counts_weddings_with_too_few_signals(migrated_database_url: str) -> None:
    url = migrated_database_url
    with psycopg.connect(url, autocommit=True) as conn:
        seed_sandbox(conn, weddings=150, days=90, seed=11, start=START, now=NOW)
        before = sync_calendar(conn, AppDbCalendarSource(url), now=NOW, active_guests=WIDE)
        # The app lost one past wedding's timestamps.
        past = conn.execute(
            "SELECT id FROM app.weddings WHERE status <> 'cancelled' AND ceremony_at < %s "
            "ORDER BY ceremony_at DESC LIMIT 1",
            (NOW,),
        ).fetchone()[0]
        conn.execute(
            "UPDATE app.guests SET app_installed_at = NULL, guest_list_opened_at = NULL "
            "WHERE wedding_id = %s",
            (past,),
        )
        after = sync_calendar(conn, AppDbCalendarSource(url), now=NOW, active_guests=WIDE)
        assert after.too_few_signals == before.too_few_signals + 1
        assert after.active_guest_estimates == before.active_guest_estimates - 1
        assert f"{after.too_few_signals} weddings with too few guest signals" in after.summary()
        assert str(past) in after.updated  # its floor goes back to invited guests
        row = conn.execute(
            "SELECT active_guests, guests_engaged FROM perf.weddings WHERE wedding_id = %s",
            (str(past),),
        ).fetchone()
        assert row == (None, 0)


def test_sync_stores_the_estimate_and_refreshes_it(migrated_database_url: str) -> None:
    url = migrated_database_url
    # Autocommit: each sync is a transaction of its own, as in production.
    with psycopg.connect(url, autocommit=True) as conn:
        seed_sandbox(conn, weddings=150, days=90, seed=11, start=START, now=NOW)
        report = sync_calendar(conn, AppDbCalendarSource(url), now=NOW, active_guests=WIDE)
        rows = stored(conn)
        app = {r[0]: r[1:] for r in conn.execute(APP_COUNTS, {"cutoff": SIGNALS.cutoff}).fetchall()}
        assert len(rows) == 150 and set(app) == set(rows)
        known = [i for i, (ceremony, _, _) in app.items() if ceremony - SIGNALS.cutoff <= NOW]
        ahead = [i for i, (ceremony, _, _) in app.items() if ceremony - SIGNALS.cutoff > NOW]
        assert known and ahead
        trusted = [i for i in known if app[i][2] >= SIGNALS.min_engaged_share * app[i][1]]
        assert report.active_guest_estimates == len(trusted)
        cancelled = {
            str(r[0])
            for r in conn.execute("SELECT id FROM app.weddings WHERE status = 'cancelled'")
        }
        untrusted = set(known) - set(trusted)
        assert report.too_few_signals == len(untrusted - cancelled)  # cancelled: no load
        for i in known:
            _, not_declined, engaged = app[i]
            expected = min(not_declined, round(engaged * SIGNALS.active_per_engaged))
            assert rows[i] == (expected if i in trusted else None, not_declined, engaged)
        for i in ahead:  # the estimate, and the counts behind it, wait for the cutoff
            assert rows[i] == (None, None, None)
        assert sum(rows[i][0] for i in trusted) > 0

        # Same snapshot, same moment: nothing changes.
        again = sync_calendar(conn, AppDbCalendarSource(url), now=NOW, active_guests=WIDE)
        assert (again.inserted, again.updated) == ([], [])
        assert stored(conn) == rows

        # The app learns more about a past wedding (every guest not declined installed the
        # app a week ahead), and time moves on past the next wedding's cutoff.
        past = trusted[0]
        conn.execute(
            "UPDATE app.guests g SET app_installed_at = w.ceremony_at - interval '7 days' "
            "FROM app.weddings w WHERE w.id = g.wedding_id AND g.wedding_id = %s "
            "AND g.rsvp <> 'declined'",
            (int(past),),
        )
        soon = min(ahead, key=lambda i: app[i][0])
        later = app[soon][0] - SIGNALS.cutoff + timedelta(minutes=1)
        moved = sync_calendar(conn, AppDbCalendarSource(url), now=later, active_guests=WIDE)
        now_rows = stored(conn)
        not_declined = app[past][1]
        assert now_rows[past] == (
            min(not_declined, round(not_declined * SIGNALS.active_per_engaged)),
            not_declined,
            not_declined,
        )
        assert now_rows[soon][0] is not None
        assert {past, soon} <= set(moved.updated)

        # Without the optional view every wedding falls back to its invited guests.
        conn.execute("DROP VIEW wedperf_src.guest_engagement")
        fallback = sync_calendar(conn, AppDbCalendarSource(url), now=later, active_guests=WIDE)
        assert fallback.active_guest_estimates is None
        assert "no guest signals" in fallback.summary()
        assert all(r[0] is None for r in stored(conn).values())

        # A view that exists without the contract's columns does not stop the calendar: the
        # sync warns, sizes by invited guests and says why.
        conn.execute(
            "CREATE VIEW wedperf_src.guest_engagement AS SELECT wedding_id, rsvp FROM app.guests"
        )
        broken = sync_calendar(conn, AppDbCalendarSource(url), now=later, active_guests=WIDE)
        assert broken.seen == 150 and broken.active_guest_estimates is None
        assert "lacks a column of the contract" in (broken.guest_signals_problem or "")
        assert "guest signals unusable, sized by invited guests" in broken.summary()
        assert all(r[0] is None for r in stored(conn).values())


def test_an_install_weeks_ahead_is_not_a_calendar_change(migrated_database_url: str) -> None:
    """Guest signals of a wedding not yet within its cutoff change no estimate, so a re-sync
    reports no change (which would emit wedperf.calendar.changed and re-plan every sync)."""
    url = migrated_database_url
    with psycopg.connect(url, autocommit=True) as conn:
        seed_sandbox(conn, weddings=150, days=90, seed=11, start=START, now=NOW)
        sync_calendar(conn, AppDbCalendarSource(url), now=NOW, active_guests=WIDE)
        far = conn.execute(
            "SELECT id FROM app.weddings WHERE status = 'confirmed' "
            "AND ceremony_at BETWEEN %s AND %s ORDER BY ceremony_at LIMIT 1",
            (NOW + timedelta(days=20), NOW + timedelta(days=25)),
        ).fetchone()[0]
        installed = conn.execute(
            "UPDATE app.guests SET app_installed_at = %s WHERE id = (SELECT min(id) "
            "FROM app.guests WHERE wedding_id = %s AND app_installed_at IS NULL "
            "AND rsvp <> 'declined')",
            (NOW - timedelta(hours=1), far),
        ).rowcount
        assert installed == 1
        again = sync_calendar(conn, AppDbCalendarSource(url), now=NOW, active_guests=WIDE)
        assert (again.inserted, again.updated, again.cancelled) == ([], [], [])
        assert not again.changed


def test_signals_are_read_only_where_the_estimate_can_still_change(
    migrated_database_url: str,
) -> None:
    """The signal query covers weddings from signals_lookback ago to the cutoff ahead, not
    the app's whole guest history; an older wedding keeps the estimate stored."""
    url = migrated_database_url
    with psycopg.connect(url, autocommit=True) as conn:
        seed_sandbox(conn, weddings=150, days=90, seed=11, start=START, now=NOW)
        ceremonies = dict(
            conn.execute(
                "SELECT id::text, ceremony_at FROM app.weddings WHERE status <> 'cancelled'"
            ).fetchall()
        )
        since, until = NOW - SIGNALS.signals_lookback, NOW + SIGNALS.cutoff
        read = AppDbCalendarSource(url).guest_signals(SIGNALS.cutoff, since=since, until=until)
        assert read  # the weddings about to happen and those of the last day
        assert all(since <= ceremonies[i] <= until for i in read)
        old = min(
            (i for i, at in ceremonies.items() if at < since - timedelta(days=5)),
            key=lambda i: ceremonies[i],
        )
        assert old not in read

        sync_calendar(conn, AppDbCalendarSource(url), now=NOW, active_guests=WIDE)
        stored_before = stored(conn)[old]
        assert stored_before[0] is not None
        # The app rewrites an old wedding's signals: a default sync leaves its estimate.
        conn.execute(
            "UPDATE app.guests SET app_installed_at = NULL, guest_list_opened_at = NULL "
            "WHERE wedding_id = %s",
            (int(old),),
        )
        again = sync_calendar(conn, AppDbCalendarSource(url), now=NOW)
        assert stored(conn)[old] == stored_before
        assert old not in again.updated


def test_the_cutoff_is_the_same_hours_in_any_session_time_zone(
    migrated_database_url: str,
) -> None:
    """Two days before a ceremony just after London's clocks go back is 48 hours, not the
    49 that '2 days' stepped in a Europe/London session gives."""
    url = migrated_database_url
    ceremony = datetime(2026, 10, 26, 12, tzinfo=UTC)  # BST ended 2026-10-25 01:00 UTC
    london = psycopg.conninfo.make_conninfo(url, options="-c TimeZone=Europe/London")
    with psycopg.connect(url, autocommit=True) as conn:
        seed_sandbox(conn, weddings=10, days=20, seed=3, start=START, now=NOW)
        wedding = conn.execute("SELECT min(id) FROM app.weddings").fetchone()[0]
        conn.execute(
            "UPDATE app.weddings SET ceremony_at = %s, reception_ends_at = %s, "
            "status = 'confirmed' WHERE id = %s",
            (ceremony, ceremony + timedelta(hours=6), wedding),
        )
        # Every guest accepted and installed the app 48.5 hours ahead: inside 48 hours'
        # cutoff, outside a 49-hour one.
        conn.execute(
            "UPDATE app.guests SET rsvp = 'accepted', guest_list_opened_at = NULL, "
            "app_installed_at = %s WHERE wedding_id = %s",
            (ceremony - timedelta(hours=48, minutes=30), wedding),
        )
        invited = conn.execute(
            "SELECT count(*) FROM app.guests WHERE wedding_id = %s", (wedding,)
        ).fetchone()[0]
        signals = AppDbCalendarSource(london).guest_signals(SIGNALS.cutoff, **EVERY)
        assert signals is not None
        assert signals[str(wedding)].engaged == invited > 0


MALFORMED_VIEWS = [
    pytest.param(
        "lacks a column of the contract",
        "SELECT wedding_id, rsvp, app_installed_at FROM app.guests",
        id="missing column",
    ),
    pytest.param(
        "another type than the contract's",
        "SELECT wedding_id, rsvp, app_installed_at::text AS app_installed_at, "
        "guest_list_opened_at FROM app.guests",
        id="text timestamps",
    ),
    pytest.param(  # an error only when the rows are read: a DataError
        "another type than the contract's",
        "SELECT wedding_id, rsvp, (CASE WHEN id > 0 THEN 'soon' END)::timestamptz "
        "AS app_installed_at, guest_list_opened_at FROM app.guests",
        id="a value that is no timestamp",
    ),
]


@pytest.mark.parametrize(("wording", "view"), MALFORMED_VIEWS)
def test_a_malformed_engagement_view_is_named_by_what_is_wrong(
    migrated_database_url: str, wording: str, view: str
) -> None:
    url = migrated_database_url
    with psycopg.connect(url, autocommit=True) as conn:
        seed_sandbox(conn, weddings=10, days=20, seed=3, start=START, now=NOW)
        conn.execute("DROP VIEW wedperf_src.guest_engagement")
        conn.execute(f"CREATE VIEW wedperf_src.guest_engagement AS {view}")
        with pytest.raises(GuestSignalsUnreadable, match=wording):
            AppDbCalendarSource(url).guest_signals(SIGNALS.cutoff, **EVERY)
        report = sync_calendar(conn, AppDbCalendarSource(url), now=NOW, active_guests=WIDE)
        assert report.seen == 10 and wording in (report.guest_signals_problem or "")


def test_an_engagement_view_wedperf_may_not_read_is_permission_denied(
    migrated_database_url: str,
) -> None:
    url = migrated_database_url
    role = "wedperf_test_no_engagement"
    with psycopg.connect(url, autocommit=True) as conn:
        seed_sandbox(conn, weddings=10, days=20, seed=3, start=START, now=NOW)
        conn.execute(f"DROP ROLE IF EXISTS {role}")
        conn.execute(f"CREATE ROLE {role} LOGIN")
        try:
            conn.execute(f"GRANT USAGE ON SCHEMA wedperf_src TO {role}")
            conn.execute(f"GRANT SELECT ON wedperf_src.weddings TO {role}")
            reader = psycopg.conninfo.make_conninfo(url, user=role)
            with pytest.raises(GuestSignalsUnreadable, match="permission denied on view"):
                AppDbCalendarSource(reader).guest_signals(SIGNALS.cutoff, **EVERY)
        finally:
            conn.execute(f"DROP OWNED BY {role}")
            conn.execute(f"DROP ROLE {role}")


def test_the_engagement_view_holds_no_names_or_contacts(migrated_database_url: str) -> None:
    with psycopg.connect(migrated_database_url) as conn:
        seed_sandbox(conn, weddings=10, days=20, seed=3, start=START, now=NOW)
        columns = [
            r[0]
            for r in conn.execute(
                "SELECT column_name FROM information_schema.columns WHERE table_schema = "
                "'wedperf_src' AND table_name = 'guest_engagement' ORDER BY ordinal_position"
            )
        ]
        assert columns == ["wedding_id", "rsvp", "app_installed_at", "guest_list_opened_at"]
        # One row per invited guest, and no value of it is a guest's name or email.
        names = {r[0] for r in conn.execute("SELECT full_name FROM app.guests")}
        emails = {r[0] for r in conn.execute("SELECT email FROM app.guests")}
        rows = conn.execute("SELECT * FROM wedperf_src.guest_engagement").fetchall()
        assert len(rows) == conn.execute("SELECT count(*) FROM app.guests").fetchone()[0]
        values = {str(v) for row in rows for v in row}
        assert not values & (names | emails)


def test_the_sandbox_app_and_the_load_model_agree_on_active_guests(
    migrated_database_url: str,
) -> None:
    url = migrated_database_url
    args = {"weddings": 300, "days": 120, "seed": 2026, "start": START, "now": AFTER}
    tables, frame = generate_dataset(**args)
    with psycopg.connect(url) as conn:
        seed_sandbox(conn, **args)
        sync_calendar(conn, AppDbCalendarSource(url), now=AFTER, active_guests=WIDE)
        # The calendar as wedperf stores it, in the order the sandbox numbers weddings.
        weddings = [
            Wedding(*r)
            for r in conn.execute(
                "SELECT wedding_id, starts_at, ends_at, timezone, venue, guest_count, status, "
                "active_guests FROM perf.weddings WHERE status <> 'cancelled' "
                "ORDER BY starts_at, wedding_id::bigint"
            )
        ]
        per_wedding = {
            r[0]: r[1:]
            for r in conn.execute(
                "SELECT wedding_id, count(*) FILTER (WHERE rsvp <> 'declined'), "
                "count(*) FILTER (WHERE app_installed_at IS NOT NULL) "
                "FROM app.guests GROUP BY wedding_id"
            )
        }
    in_play = ~frame.cancelled
    ids = frame.ids[in_play]
    assert [int(w.wedding_id) for w in weddings] == ids.tolist()
    model = np.array([d.active for d in with_active_guests(weddings, seed=2026)])
    # The load model's active guests are the generator's, wedding by wedding.
    np.testing.assert_array_equal(model, frame.active[in_play])
    assert (frame.active[frame.cancelled] == 0).all()
    engagement = decide_engagement(frame.guest_count[in_play], 2026)
    for k, wedding_id in enumerate(ids.tolist()):
        not_declined, installed = per_wedding[wedding_id]
        # Active guests come (their RSVP is not a no), and each has the app by the day:
        # installed ahead, or at check-in; the idle installers on top.
        assert model[k] <= not_declined
        assert installed == model[k] + engagement.installed_idle[k]
    # What the app knew two days ahead predicts the load model's active guests better than
    # invited guests at the best constant share do.
    estimate = np.array([w.active_guests for w in weddings], dtype=float)
    invited = np.array([w.guest_count for w in weddings], dtype=float)
    share = model.sum() / invited.sum()

    def median_error(predicted: np.ndarray) -> float:
        return float(np.median(np.abs(predicted - model) / np.maximum(model, 1)))

    assert median_error(estimate) < 0.2
    assert median_error(estimate) < median_error(invited * share)
    assert np.corrcoef(estimate, model)[0, 1] > np.corrcoef(invited, model)[0, 1]


def test_the_invited_and_active_rates_are_one_calibration() -> None:
    """Sized by invited guests or by active ones, a sandbox wedding calendar comes out at the
    same load on the whole: the per-invited rate is the per-active rate x the active share."""
    from wedperf.capacity.settings import OpsSettings

    _, frame = generate_dataset(weddings=600, days=180, seed=5, start=START, now=AFTER)
    in_play = ~frame.cancelled
    ops = OpsSettings()
    by_invited = frame.guest_count[in_play].sum() * ops.requests_per_guest_per_s
    by_active = frame.active[in_play].sum() * ops.requests_per_active_guest_per_s
    assert by_invited == pytest.approx(by_active, rel=0.03)


@pytest.mark.parametrize("seed", [1, 2])
def test_the_signals_leave_the_load_models_draws_alone(seed: int) -> None:
    """The knowable signals come from a stream of their own: the active guests are the
    draws the load model always made (uniform x beta share, binomial, per wedding)."""
    invited = [120, 80, 200, 15, 0, 310]
    rng = np.random.default_rng(seed)
    before = [int(rng.binomial(n, rng.uniform(0.88, 0.95) * rng.beta(6.0, 3.0))) for n in invited]
    assert decide_engagement(invited, seed).active.tolist() == before


def test_the_evidence_shows_the_calendar_load_the_floor_is_sized_on() -> None:
    from types import SimpleNamespace

    from wedperf.config import Settings
    from wedperf.evidence.sections.capacity import calendar_load_steps

    settings = Settings()
    ceremony = datetime(2026, 10, 17, 20, tzinfo=UTC)
    end = ceremony + timedelta(hours=6)
    estimated = Wedding("1", ceremony, end, "UTC", None, 300, "confirmed", active_guests=180)
    invited = Wedding("2", ceremony + timedelta(hours=1), end, "UTC", None, 100, "confirmed")
    scope = SimpleNamespace(start=ceremony - timedelta(hours=6), end=end + timedelta(hours=6))
    data = SimpleNamespace(scope=scope, live_weddings=[estimated, invited])
    steps = calendar_load_steps(data, settings)  # type: ignore[arg-type]
    ops = settings.ops
    assert [(s["active_guests"], s["invited_guests"], s["rps"]) for s in steps][:2] == [
        (180, 0, pytest.approx(180 * ops.requests_per_active_guest_per_s)),
        (
            180,
            100,
            pytest.approx(
                180 * ops.requests_per_active_guest_per_s + 100 * ops.requests_per_guest_per_s
            ),
        ),
    ]
    assert (steps[-1]["active_guests"], steps[-1]["invited_guests"]) == (0, 0)
    assert steps[-1]["rps"] == pytest.approx(0.0)


def test_weddings_brought_live_are_estimated_by_their_active_guests(
    migrated_database_url: str,
) -> None:
    """A wedding moved into today's window has the app signals of a wedding this close: its
    guests' installs move with it, so its estimate is near its active guests."""
    from wedperf.sandbox.live import bring_weddings_live

    url = migrated_database_url
    args = {"weddings": 150, "days": 90, "seed": 11, "start": START, "now": NOW}
    _, frame = generate_dataset(**args)
    with psycopg.connect(url) as conn:
        seed_sandbox(conn, **args)
        ids = bring_weddings_live(conn, count=4, now=NOW, seed=11)
        assert len(ids) == 4
        late = conn.execute(
            "SELECT count(*) FROM app.guests WHERE wedding_id = ANY(%s) "
            "AND (app_installed_at > %s OR guest_list_opened_at > %s)",
            (ids, NOW, NOW),
        ).fetchone()[0]
        assert late == 0  # nothing the app cannot know yet
        sync_calendar(conn, AppDbCalendarSource(url), now=NOW, active_guests=WIDE)
        estimates = dict(
            conn.execute(
                "SELECT wedding_id::bigint, active_guests FROM perf.weddings "
                "WHERE wedding_id = ANY(%s)",
                ([str(i) for i in ids],),
            ).fetchall()
        )
    active = {i: int(frame.active[i - 1]) for i in ids}
    for i in ids:
        assert estimates[i] is not None
        assert abs(estimates[i] - active[i]) <= max(0.35 * active[i], 5), (i, estimates, active)
    assert sum(estimates.values()) == pytest.approx(sum(active.values()), rel=0.2)
