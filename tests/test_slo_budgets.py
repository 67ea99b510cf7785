"""Per-wedding error budgets on real PostgreSQL over synthetic wedding days.

Each day is stored as the Prometheus source stores it (per-minute histogram bucket
increases), rolled up the way collection does (minute by minute, a minute behind the round),
and watched in 5-minute rounds by the code a watch round runs (wedperf.slo.round), which
stores the budgets and fires and resolves page and ticket alerts in perf.alerts.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import numpy as np
import psycopg
import pytest
from psycopg import sql
from psycopg.rows import dict_row

from wedperf.config import Settings
from wedperf.metrics.model import LATENCY, Sample
from wedperf.metrics.store import rollup_minutes, write_samples
from wedperf.slo.budget import alert_windows, evaluate_budget
from wedperf.slo.round import budget_weddings, evaluate_budgets
from wedperf.slo.settings import PhaseWeight, SloSettings
from wedperf.slo.store import ALERT_SOURCE
from wedperf.slo.synthetic import PHASES, SlowSpell, SyntheticDay, phase_minutes

CEREMONY = datetime(2026, 10, 17, 20, 0, tzinfo=UTC)  # 16:00 in New York
BEFORE, SPAN = timedelta(hours=3), timedelta(hours=6)
OPENS = CEREMONY - BEFORE
LENGTH = int((BEFORE + SPAN) / timedelta(minutes=1))  # 540 minutes
ROUND = timedelta(minutes=5)
RECEPTION = 180 + 121  # minutes after the window opens: 2 h into the reception, off the grid


def settings(**slo) -> Settings:
    guest_list = SloSettings().definition("guest-list-latency")
    return Settings(slo=SloSettings(definitions=[guest_list], **slo))


@pytest.fixture(scope="module")
def module_db(make_database: Callable[[], str]) -> str:
    return make_database()


@pytest.fixture
def db(module_db: str) -> str:
    """The module's database as migrated: what an earlier test stored is emptied out first.
    Every day here is on the same date, so a round's rollup (of all weddings' minutes) would
    otherwise redo every earlier test's samples, each test slower than the one before."""
    with psycopg.connect(module_db) as conn:
        tables = conn.execute(
            "SELECT c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
            "WHERE n.nspname = 'perf' AND c.relkind IN ('r', 'p') AND NOT c.relispartition "
            "AND c.relname <> 'schema_migrations'"
        ).fetchall()
        names = sql.SQL(", ").join(sql.Identifier("perf", name) for (name,) in tables)
        conn.execute(sql.SQL("TRUNCATE {}").format(names))
    return module_db


def add_wedding(conn: psycopg.Connection, wedding_id: str, guests: int, ceremony=CEREMONY):
    conn.execute(
        "INSERT INTO perf.weddings (wedding_id, source, starts_at, ends_at, timezone, venue, "
        "guest_count, status) VALUES (%s, 'test', %s, %s, 'America/New_York', NULL, %s, "
        "'confirmed')",
        (wedding_id, ceremony, ceremony + SPAN, guests),
    )


def watch_day(url: str, day: SyntheticDay, config: Settings, samples=None) -> dict:
    """Store the day, then round by round: roll up what collection would have by then (up
    to a minute before the round) and evaluate the budgets, recording them."""
    with psycopg.connect(url) as conn:
        add_wedding(conn, day.wedding_id, day.guests)
        conn.commit()
        write_samples(conn, day.bucket_samples() if samples is None else samples)
        at, close = OPENS + ROUND, OPENS + timedelta(minutes=LENGTH)
        rounds = 0
        while at <= close + ROUND:
            rollup_minutes(
                conn, at - 2 * ROUND, at - timedelta(minutes=1), before=BEFORE, after=timedelta(0)
            )
            mine = [w for w in budget_weddings(conn, at, config) if w.wedding_id == day.wedding_id]
            evaluate_budgets(None, conn, mine, at, config, record=True)
            rounds += 1
            at += ROUND
        cursor = conn.cursor(row_factory=dict_row)
        alerts = cursor.execute(
            "SELECT severity, status, starts_at, ends_at, labels, annotations FROM perf.alerts "
            "WHERE source = %s AND wedding_id = %s ORDER BY starts_at",
            (ALERT_SOURCE, day.wedding_id),
        ).fetchall()
        budgets = cursor.execute(
            "SELECT * FROM perf.slo_budgets WHERE wedding_id = %s ORDER BY evaluated_at",
            (day.wedding_id,),
        ).fetchall()
    return {"alerts": alerts, "budgets": budgets, "rounds": rounds}


def minute_of(index: int) -> datetime:
    return OPENS + timedelta(minutes=index)


def test_windows_scale_with_the_day_window() -> None:
    windows = {w.name: w for w in alert_windows(LENGTH, SloSettings())}
    # 540 minutes: 1/72, 1/6 and 1/3 of it, short spans 1/12 of those (2 minutes at least).
    assert (windows["fast"].long_minutes, windows["fast"].short_minutes) == (8, 2)
    assert (windows["slow"].long_minutes, windows["slow"].short_minutes) == (90, 8)
    assert (windows["steady"].long_minutes, windows["steady"].short_minutes) == (180, 15)
    short_day = {w.name: w for w in alert_windows(240, SloSettings())}
    assert short_day["fast"].long_minutes == 5  # never under slo.min_long


def test_a_regression_spending_half_the_budget_in_30_minutes_pages_within_10(db: str) -> None:
    day = SyntheticDay("reg-150", 150, OPENS, CEREMONY, LENGTH, seed=1)
    share = day.share_for_budget(RECEPTION, 30, budget_share=0.5, allowance=0.01)
    day.spells = [SlowSpell(RECEPTION, 30, share=share)]
    seen = watch_day(db, day, settings())

    pages = [a for a in seen["alerts"] if a["severity"] == "page"]
    assert pages, f"no page; alerts: {seen['alerts']}"
    began = minute_of(RECEPTION)
    assert began < pages[0]["starts_at"] <= began + timedelta(minutes=10)
    paged = next(b for b in seen["budgets"] if b["evaluated_at"] == pages[0]["starts_at"])
    assert [w["name"] for w in paged["windows"] if w["firing"]] == ["fast"]
    assert len(pages) == 1  # one episode: noisy minutes of the regression do not re-open it
    # It resolves once the burn stops (the slow window's short span clears within minutes).
    ended = minute_of(RECEPTION + 30)
    assert all(a["status"] == "resolved" for a in seen["alerts"])
    assert max(a["ends_at"] for a in pages) <= ended + timedelta(minutes=20)
    # The regression spent about half the day's budget, as designed (plus the background).
    final = seen["budgets"][-1]
    assert final["evaluated_at"] == OPENS + timedelta(minutes=LENGTH)
    assert 0.45 <= final["consumed"] <= 0.75, final["consumed"]


@pytest.mark.parametrize("guests", [150, 40])
@pytest.mark.parametrize("phase", [name for name, _, _ in PHASES])
def test_a_half_budget_regression_pages_within_10_minutes_in_every_phase(
    db: str, phase: str, guests: int
) -> None:
    # The same regression in each phase of the day: 11 minutes into the phase, off the round
    # grid. In the check-in hour traffic is 2-3 times the day's average, so the error ratio
    # that spends half the day's budget in 30 minutes is only ~4% (a ratio burn at the fast
    # window's own threshold); in the ceremony a 40-guest wedding has ~8 requests a minute,
    # fewer than a ratio window's minimum count in 8 minutes. The fast window burns against
    # the budget, so neither holds the page back.
    # At 150 guests one day per phase must page within 10 minutes. At 40 guests a regression
    # spends ~1.7 bad requests a minute, and two calm minutes by chance can delay the page by
    # a round (bench/slo_alerts.py: 77-96% of days within 10 minutes, by phase): of three
    # days, at least two page within 10 minutes and every one within 20.
    start = phase_minutes(phase, 180).start + 11
    seeds = (17,) if guests == 150 else (17, 18, 19)
    delays = []
    for seed in seeds:
        wedding_id = f"phase-{phase}-{guests}-{seed}"
        day = SyntheticDay(wedding_id, guests, OPENS, CEREMONY, LENGTH, seed=seed)
        share = day.share_for_budget(start, 30, budget_share=0.5, allowance=0.01)
        day.spells = [SlowSpell(start, 30, share=share)]
        seen = watch_day(db, day, settings())
        pages = [a for a in seen["alerts"] if a["severity"] == "page"]
        assert len(pages) == 1, seen["alerts"]  # one episode
        assert all(a["status"] == "resolved" for a in seen["alerts"])  # every alert resolves
        delays.append((pages[0]["starts_at"] - minute_of(start)) / timedelta(minutes=1))
    assert all(0 < d <= 20 for d in delays), delays
    assert sum(d <= 10 for d in delays) >= len(seeds) - (len(seeds) > 1), (phase, delays)


def test_the_fast_window_burns_the_weighted_budget() -> None:
    # The same bad requests in a ceremony that weighs 3 spend three times the budget: the
    # fast window's budget burn triples, where an error ratio (the slow window's) is blind to
    # a weight that all of its span shares.
    total = np.full(200, 20.0)
    good = total.copy()
    good[194:200] -= 2  # 10% slow for the last 6 minutes, in the ceremony
    windows = alert_windows(LENGTH, SloSettings())
    flat, weights = np.ones(200), np.ones(200)
    weights[180:215] = 3.0
    kwargs = dict(length_minutes=LENGTH, objective=0.99, windows=windows, min_events=100)
    unweighted = evaluate_budget(good, total, flat, **kwargs)
    weighted = evaluate_budget(good, total, weights, **kwargs)
    fast = [next(w for w in b.windows if w.name == "fast") for b in (unweighted, weighted)]
    # Three times the weighted bad events, against a pace the ceremony's weight raises too
    # (240 weighted events a minute over 200 minutes instead of 200): 3 x 200 / 240 = 2.5.
    assert fast[1].burn_long == pytest.approx(2.5 * fast[0].burn_long)
    slow = [next(w for w in b.windows if w.name == "slow") for b in (unweighted, weighted)]
    assert slow[1].burn_short == pytest.approx(slow[0].burn_short)  # 8 min inside the ceremony
    assert weighted.page and fast[1].firing


def test_a_two_minute_blip_in_a_40_guest_wedding_does_not_page(db: str) -> None:
    # Latency quadruples for two minutes of the reception: a few requests cross 1 s.
    day = SyntheticDay("blip-40", 40, OPENS, CEREMONY, LENGTH, seed=2)
    day.spells = [SlowSpell(RECEPTION, 2, factor=4.0)]
    requests = day.requests()
    slow = sum(int((m > 1.0).sum()) for m in requests[RECEPTION : RECEPTION + 2])
    assert 1 <= slow <= 10, slow  # the blip is what the issue describes: a handful of requests
    seen = watch_day(db, day, settings(), samples=day.bucket_samples(requests))
    assert not [a for a in seen["alerts"] if a["severity"] == "page"], seen["alerts"]
    assert all(a["status"] == "resolved" for a in seen["alerts"])


def test_a_slow_steady_burn_opens_a_ticket_not_a_page(db: str) -> None:
    # 1.5x the allowance from two hours before the ceremony to four hours after it.
    day = SyntheticDay("steady-150", 150, OPENS, CEREMONY, LENGTH, seed=3)
    day.spells = [SlowSpell(60, 360, share=0.015)]
    seen = watch_day(db, day, settings())
    severities = {a["severity"] for a in seen["alerts"]}
    assert severities == {"ticket"}, seen["alerts"]
    ticket = seen["alerts"][0]
    assert ticket["status"] == "resolved" and ticket["ends_at"] <= minute_of(420 + 30)
    final = seen["budgets"][-1]
    assert final["evaluated_at"] == OPENS + timedelta(minutes=LENGTH)  # the day's outcome
    assert final["consumed"] > 1  # the day overspent its budget: reported, not paged


def test_three_slow_requests_in_a_sparse_wedding_do_not_page(db: str) -> None:
    # Probes only: one guest-list request a minute. Three of them slow in a row.
    samples = [
        Sample(
            ts=minute_of(i) + timedelta(seconds=30),
            source="probe",
            metric=LATENCY,
            operation="guest_list",
            series="guest-list:sparse",
            wedding_id="sparse",
            attributed_by="url",
            value=2.5 if RECEPTION <= i < RECEPTION + 3 else 0.1,
        )
        for i in range(LENGTH)
    ]
    day = SyntheticDay("sparse", 40, OPENS, CEREMONY, LENGTH)
    seen = watch_day(db, day, settings(), samples=samples)
    assert not [a for a in seen["alerts"] if a["severity"] == "page"], seen["alerts"]
    assert all(a["status"] == "resolved" for a in seen["alerts"])
    # Without the minimum event count the same three requests would page: the guard is
    # what holds it back, not the thresholds.
    unguarded = np.ones(LENGTH)
    good = np.ones(RECEPTION + 5)
    good[RECEPTION : RECEPTION + 3] = 0
    budget = evaluate_budget(
        good,
        np.ones(RECEPTION + 5),
        unguarded[: RECEPTION + 5],
        length_minutes=LENGTH,
        objective=0.99,
        windows=alert_windows(LENGTH, SloSettings()),
        min_events=1,
    )
    assert budget.page


def test_budget_rows_have_a_natural_key_and_rounds_are_idempotent(db: str) -> None:
    day = SyntheticDay("idem-100", 100, OPENS, CEREMONY, LENGTH, seed=4)
    day.spells = [SlowSpell(RECEPTION, 20, share=0.3)]
    config = settings()
    with psycopg.connect(db) as conn:
        add_wedding(conn, day.wedding_id, day.guests)
        conn.commit()
        write_samples(conn, day.bucket_samples())
        rollup_minutes(conn, OPENS, minute_of(LENGTH), before=BEFORE, after=timedelta(0))
        at = minute_of(RECEPTION + 9)  # on the grid, mid-regression: the page is firing

        def one_round() -> tuple[int, list]:
            wedding = [w for w in budget_weddings(conn, at, config) if w.wedding_id == "idem-100"]
            evaluate_budgets(None, conn, wedding, at, config, record=True)
            rows = conn.execute(
                "SELECT count(*) FROM perf.slo_budgets WHERE wedding_id = 'idem-100'"
            ).fetchone()[0]
            alerts = conn.execute(
                "SELECT severity, status, starts_at FROM perf.alerts "
                "WHERE source = 'slo' AND wedding_id = 'idem-100'"
            ).fetchall()
            return rows, alerts

        first = one_round()
        again = one_round()  # the same round retried
    assert first[0] == 1 and ("page", "firing") in [a[:2] for a in first[1]]
    assert again == first


def test_re_running_any_round_of_the_day_changes_nothing(db: str) -> None:
    # A regression pages and resolves, a slow burn tickets and resolves. Then every round of
    # the day runs again, newest first, then oldest first: the stored alerts and budgets
    # stay exactly as the day left them (each alert's natural key is source, fingerprint and
    # the round it started at; an older round's breach belongs to the episode covering it).
    day = SyntheticDay("rerun-150", 150, OPENS, CEREMONY, LENGTH, seed=7)
    share = day.share_for_budget(RECEPTION, 30, budget_share=0.5, allowance=0.01)
    day.spells = [SlowSpell(60, 100, share=0.03), SlowSpell(RECEPTION, 30, share=share)]
    config = settings()
    rounds = [OPENS + ROUND * k for k in range(1, LENGTH // 5 + 2)]

    def snapshot(conn) -> tuple[list, list]:
        alerts = conn.execute(
            "SELECT severity, status, starts_at, ends_at, annotations FROM perf.alerts "
            "WHERE source = 'slo' AND wedding_id = 'rerun-150' ORDER BY starts_at, severity"
        ).fetchall()
        budgets = conn.execute(
            "SELECT evaluated_at, consumed, page, ticket FROM perf.slo_budgets "
            "WHERE wedding_id = 'rerun-150' ORDER BY evaluated_at"
        ).fetchall()
        return alerts, budgets

    def run(conn, instants) -> None:
        for at in instants:
            mine = [w for w in budget_weddings(conn, at, config) if w.wedding_id == "rerun-150"]
            evaluate_budgets(None, conn, mine, at, config, record=True)

    with psycopg.connect(db) as conn:
        add_wedding(conn, day.wedding_id, day.guests)
        conn.commit()
        write_samples(conn, day.bucket_samples())
        rollup_minutes(conn, OPENS, minute_of(LENGTH), before=BEFORE, after=timedelta(0))
        run(conn, rounds)
        first = snapshot(conn)
        assert {(a[0], a[1]) for a in first[0]} == {("page", "resolved"), ("ticket", "resolved")}
        run(conn, reversed(rounds))
        assert snapshot(conn) == first
        run(conn, rounds)
        assert snapshot(conn) == first


def test_phase_weights_make_the_ceremony_count_more() -> None:
    good, total = np.full(200, 100.0), np.full(200, 100.0)
    good[180:190] = 90  # ten bad minutes during the ceremony
    flat = evaluate_budget(
        good,
        total,
        np.ones(200),
        length_minutes=LENGTH,
        objective=0.99,
        windows=[],
        min_events=100,
    )
    weights = np.ones(200)
    weights[180:215] = 3.0  # the ceremony weighs three times
    weighted = evaluate_budget(
        good, total, weights, length_minutes=LENGTH, objective=0.99, windows=[], min_events=100
    )
    assert weighted.consumed > 2 * flat.consumed
    # 100 bad of 20,000 events at a 1% allowance: half the budget of the first 200 minutes,
    # which are 200/540 of the day.
    assert flat.consumed == pytest.approx(100 / (0.01 * 20_000) * 200 / LENGTH)


def test_phase_weights_come_from_the_timeline_per_tier() -> None:
    from wedperf.slo.sli import Phase, minute_weights

    config = SloSettings(
        phases={"Ceremony": PhaseWeight(weight=3)},
        tiers={"grand": {"phases": {"first dance": {"weight": 2, "minutes": 10}}}},
    )
    assert config.phase_weights("standard") == {"ceremony": PhaseWeight(weight=3)}
    assert list(config.phase_weights("grand")) == ["first dance"]
    phases = [Phase("ceremony", OPENS + timedelta(minutes=180), minute_of(215), 3.0)]
    weights = minute_weights(OPENS, LENGTH, phases)
    assert weights[179] == 1 and weights[180] == 3 and weights[214] == 3 and weights[215] == 1


def test_the_evidence_report_draws_the_budget_burn_down(db: str, tmp_path) -> None:
    from wedperf.evidence.build import build_evidence_package

    day = SyntheticDay("report-150", 150, OPENS, CEREMONY, LENGTH, seed=5)
    share = day.share_for_budget(RECEPTION, 30, budget_share=0.5, allowance=0.01)
    day.spells = [SlowSpell(60, 30, share=0.03), SlowSpell(RECEPTION, 30, share=share)]
    watch_day(db, day, settings())
    result = build_evidence_package(
        db,
        out=tmp_path / "evidence",
        wedding_id="report-150",
        settings=settings(),
        now=OPENS + timedelta(hours=12),
    )
    section = result.sections["error_budgets"]
    assert section["empty"] is None
    assert section["counts"]["budget_pages"] == 1
    figure = tmp_path / "evidence" / "figures" / "error_budget_report-150.png"
    assert figure in result.figures and figure.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    drawn = json.loads(figure.with_suffix(".json").read_text())
    points = drawn["slos"][0]["points"]
    assert len(points) == LENGTH // 5  # every round of the day, the last at the close
    assert points[-1]["at"] == (OPENS + timedelta(minutes=LENGTH)).isoformat()
    assert [a["severity"] for a in drawn["alerts"]].count("page") == 1
    markdown = result.markdown_path.read_text()
    assert "Budgets at the last round" in markdown and "guest-list-latency" in markdown


def test_slo_budgets_cli_prints_the_stored_round(
    db: str, redis_url: str, tmp_path, monkeypatch
) -> None:
    from typer.testing import CliRunner

    from cli import app
    from wedperf.config import reset_settings_cache

    day = SyntheticDay("cli-120", 120, OPENS, CEREMONY, LENGTH, seed=6)
    day.spells = [SlowSpell(RECEPTION, 30, share=0.2)]
    watch_day(db, day, settings())
    monkeypatch.setenv("WEDPERF_DATABASE_URL", db)
    monkeypatch.setenv("WEDPERF_REDIS_URL", redis_url)
    monkeypatch.setenv("WEDPERF_DATA_DIR", str(tmp_path / "data"))
    reset_settings_cache()
    try:
        mid = minute_of(RECEPTION + 14).isoformat()
        during = CliRunner().invoke(app, ["slo", "budgets", "--wedding", "cli-120", "--at", mid])
        final = CliRunner().invoke(app, ["slo", "budgets", "--wedding", "cli-120"])
        unknown = CliRunner().invoke(app, ["slo", "budgets", "--wedding", "nobody"])
    finally:
        reset_settings_cache()
    assert during.exit_code == 0, during.output
    row = next(line for line in during.output.splitlines() if line.startswith("guest-list"))
    assert row.split()[-1] == "page"
    assert f"round at {OPENS + timedelta(minutes=LENGTH):%Y-%m-%d %H:%M} UTC" in final.output
    assert (
        next(line for line in final.output.splitlines() if line.startswith("guest-list")).split()[
            -1
        ]
        == "ok"
    )  # the window closed: nothing fires any more
    assert unknown.exit_code == 1 and "no wedding 'nobody'" in unknown.output
    # The commands used the test's Redis (WEDPERF_REDIS_URL), not an embedded one of their own.
    assert not (tmp_path / "data" / "redis").exists()


def test_the_budget_step_opens_the_app_database_only_to_read_phases(
    db: str, redis_url: str, tmp_path, monkeypatch
) -> None:
    from tasks.critical_path import evaluate_error_budgets
    from wedperf.config import reset_settings_cache

    with psycopg.connect(db) as conn:
        add_wedding(conn, "lazy-app", 60)
    at = minute_of(200)
    # The app database is unreachable: a round that weighs no phases must not need it.
    monkeypatch.setenv("WEDPERF_DATABASE_URL", db)
    monkeypatch.setenv("WEDPERF_APP_DATABASE_URL", "postgresql://postgres@127.0.0.1:1/none")
    monkeypatch.setenv("WEDPERF_REDIS_URL", redis_url)
    monkeypatch.setenv("WEDPERF_DATA_DIR", str(tmp_path / "data"))
    reset_settings_cache()
    try:
        with psycopg.connect(db) as conn:
            weddings = [
                w for w in budget_weddings(conn, at, settings()) if w.wedding_id == "lazy-app"
            ]
        rows, _ = evaluate_error_budgets.fn(weddings, at, label="lazy")
    finally:
        reset_settings_cache()
    assert {r["wedding_id"] for r in rows} == {"lazy-app"}

    # The factory is called exactly when a tier weighs phases (the timeline is read then).
    opened = []

    class Opened(Exception):
        pass

    def app_connection():
        opened.append(True)
        raise Opened

    with psycopg.connect(db) as conn:
        evaluate_budgets(app_connection, conn, weddings, at, settings(), record=False)
        assert opened == []
        weighted = settings(phases={"ceremony": PhaseWeight(weight=3)})
        with pytest.raises(Opened):
            evaluate_budgets(app_connection, conn, weddings, at, weighted, record=False)
    assert opened == [True]


def test_a_one_round_burn_down_is_a_labelled_point() -> None:
    # A wedding watched once (the demo's live weddings) has one stored round per SLO: drawn
    # as a line it is invisible and the 0% axis line reads as a flat budget at 0%. It is a
    # marker at the budget left, labelled with it.
    from wedperf.evidence.figures import budget_burndown, render_png

    at = minute_of(200)
    data = {
        "wedding_id": "one-round",
        "tier": "standard",
        "guest_count": 80,
        "timezone": "America/New_York",
        "ceremony": CEREMONY.isoformat(),
        "window_start": OPENS.isoformat(),
        "window_end": minute_of(LENGTH).isoformat(),
        "slos": [
            {
                "slo": "guest-list-latency",
                "objective": 0.99,
                "threshold_s": 1.0,
                "points": [
                    {
                        "at": at.isoformat(),
                        "remaining": 0.83,
                        "burn_rate": 0.4,
                        "page": False,
                        "ticket": False,
                    }
                ],
            }
        ],
        "without_events": [],
        "alerts": [],
    }
    fig = budget_burndown(data)
    left_ax = fig.axes[0]
    drawn = [
        line
        for line in left_ax.get_lines()
        if line.get_label() == "guest-list-latency (99% <= 1 s)"
    ]
    assert len(drawn) == 1 and drawn[0].get_marker() == "o"
    assert list(drawn[0].get_ydata()) == [pytest.approx(83.0)]
    labels = [t.get_text() for t in left_ax.texts]
    assert "83% left at 16:20 (one round)" in labels  # 20:20 UTC in New York
    assert render_png("budget_burndown", data)[:8] == b"\x89PNG\r\n\x1a\n"


# Start minutes across the whole day window, off the round grid in every way (minute mod 5 =
# 0..4): set-up, early arrivals, check-in, the ceremony's start, cocktails, the reception,
# and late (85 minutes before the close, past which the budget outlives a half-budget
# regression and it tickets by design: docs/slo.md).
OFFSETS = (20, 97, 143, 186, 264, 333, 421, 455)


@pytest.mark.parametrize("start", OFFSETS)
def test_a_half_budget_regression_pages_within_10_minutes_at_any_offset(
    db: str, start: int
) -> None:
    # Two days (seeds) per start minute, 150 guests: the regression pages within 10
    # minutes of its start, once, by the fast window, and every alert resolves. The burn the
    # round shows is the figure the page compared (one function: Budget.burn_rate).
    for seed in (31, 32):
        wedding_id = f"offset-{start}-{seed}"
        day = SyntheticDay(wedding_id, 150, OPENS, CEREMONY, LENGTH, seed=seed)
        share = day.share_for_budget(start, 30, budget_share=0.5, allowance=0.01)
        day.spells = [SlowSpell(start, 30, share=share)]
        seen = watch_day(db, day, settings())
        pages = [a for a in seen["alerts"] if a["severity"] == "page"]
        assert len(pages) == 1, (seed, seen["alerts"])
        delay = (pages[0]["starts_at"] - minute_of(start)) / timedelta(minutes=1)
        assert 0 < delay <= 10, (seed, delay)
        assert all(a["status"] == "resolved" for a in seen["alerts"])
        paged = next(b for b in seen["budgets"] if b["evaluated_at"] == pages[0]["starts_at"])
        fast = next(w for w in paged["windows"] if w["name"] == "fast")
        assert fast["firing"] and paged["burn_rate"] == pytest.approx(fast["burn_long"])


@pytest.mark.parametrize(("guests", "seed"), [(150, 11), (150, 12), (40, 13), (40, 14)])
def test_a_slow_steady_burn_tickets_and_never_pages_on_other_seeds(
    db: str, guests: int, seed: int
) -> None:
    # 1.5x the allowance for six hours, through the busy check-in hour whose traffic the day's
    # pace so far undercounts (so the fast window's budget burn magnifies any noise): a
    # ticket, never a page (bench/slo_alerts.py: no page on 800 days at 150 guests, 7 of 800
    # at 40), and the ticket resolves.
    day = SyntheticDay(f"steady-{guests}-{seed}", guests, OPENS, CEREMONY, LENGTH, seed=seed)
    day.spells = [SlowSpell(60, 360, share=0.015)]
    seen = watch_day(db, day, settings())
    assert {a["severity"] for a in seen["alerts"]} == {"ticket"}, seen["alerts"]
    assert all(a["status"] == "resolved" for a in seen["alerts"])


@pytest.mark.parametrize(("start", "seed"), [(37, 21), (152, 22), (188, 23), (488, 24)])
def test_a_two_minute_blip_does_not_page_at_any_offset(db: str, start: int, seed: int) -> None:
    # The 40-guest wedding's latency blip (x4 for two minutes) in set-up, the check-in hour,
    # the ceremony and late in the reception.
    day = SyntheticDay(f"blip-{start}-{seed}", 40, OPENS, CEREMONY, LENGTH, seed=seed)
    day.spells = [SlowSpell(start, 2, factor=4.0)]
    seen = watch_day(db, day, settings())
    assert not [a for a in seen["alerts"] if a["severity"] == "page"], seen["alerts"]
    assert all(a["status"] == "resolved" for a in seen["alerts"])


def test_early_rounds_with_too_few_events_are_provisional() -> None:
    # A 40-guest wedding's first round: ~5 requests a minute in set-up, one of them slow.
    # Projected at that pace, the day's budget is a quarter of what the day will hold, so one
    # bad event reads as ~4% spent: marked provisional until the window has min_events
    # events, and the table says so.
    from wedperf.slo.report import PROVISIONAL_NOTE, budget_text_table
    from wedperf.slo.round import WeddingBudget

    total = np.full(5, 5.0)
    good = total.copy()
    good[2] -= 1
    windows = alert_windows(LENGTH, SloSettings())
    kwargs = dict(length_minutes=LENGTH, objective=0.99, windows=windows, min_events=100)
    early = evaluate_budget(good, total, np.ones(5), **kwargs)
    assert early.provisional and early.consumed == pytest.approx(1 / (0.01 * 25) * 5 / LENGTH)
    later = evaluate_budget(
        np.concatenate([good, np.full(20, 5.0)]), np.full(25, 5.0), np.ones(25), **kwargs
    )
    assert not later.provisional  # 125 events
    definition = SloSettings().definition("guest-list-latency")
    wedding = type("W", (), {"wedding_id": "w"})()
    rows = [WeddingBudget(wedding, definition, "standard", OPENS, OPENS, OPENS, early)]
    table = budget_text_table(rows)
    assert "~3.7%" in table and PROVISIONAL_NOTE in table
