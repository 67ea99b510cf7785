"""The evidence package on a realistic wedding day in a real PostgreSQL: every section is
there, its numbers equal the database's, empty days say so, writes are atomic, the CLI
works, and the report renders in headless Chromium with every figure loaded."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pandas as pd
import psycopg
import pytest
from psycopg.types.json import Jsonb
from typer.testing import CliRunner

from cli import app
from wedperf.alerts.inbox import set_remediation_state
from wedperf.audit import record_step
from wedperf.capacity.state import remember_raise, remember_restore
from wedperf.config import Settings, reset_settings_cache
from wedperf.critical_path.record import store_round
from wedperf.critical_path.slo import CHECKS
from wedperf.evidence.build import build_evidence_package
from wedperf.forecast.pipeline import SeriesForecast
from wedperf.forecast.store import write_forecast

DAY = date(2026, 10, 17)  # a Saturday in October; the report's clock is New York
START = datetime(2026, 10, 17, 4, tzinfo=UTC)  # local midnight (EDT)
END = datetime(2026, 10, 18, 4, tzinfo=UTC)
NOW = datetime(2026, 10, 18, 9, tzinfo=UTC)
VENUE = "Hollyhock Private Estate"  # must never appear in a report
SECTIONS = ("forecast_vs_actual", "capacity", "critical_path", "alerts_actions")


def utc(hour: int, minute: int = 0, day: int = 17) -> datetime:
    return datetime(2026, 10, day, hour, minute, tzinfo=UTC)


def fit(series: str, origin: datetime, hours: int, base: float) -> SeriesForecast:
    index = pd.date_range(origin, periods=hours, freq="h", tz=UTC)
    mean = pd.Series([base + 5 * i for i in range(hours)], index=index, dtype=float)
    frame = pd.DataFrame(
        {
            "mean": mean,
            "lo-80": mean - 10,
            "hi-80": mean + 10,
            "lo-95": mean - 20,
            "hi-95": mean + 20,
        }
    )
    return SeriesForecast(
        series=series,
        model="calendar_reg",
        model_version="test-1",
        forecast=frame,
        train_start=pd.Timestamp(origin - timedelta(days=28)),
        train_end=pd.Timestamp(origin - timedelta(hours=1)),
    )


def act(conn, at: datetime, **fields) -> None:
    """record_step stamps now(); the day happened in the past, so move the step there."""
    record_step(conn, **fields)
    conn.execute(
        "UPDATE perf.actions SET acted_at = %s WHERE plan_id = %s AND kind = %s AND target = %s",
        (at, fields["plan_id"], fields["kind"], fields["target"]),
    )
    conn.commit()


def checks_round(rows: list[tuple[str, str, float | None, str]]) -> pd.DataFrame:
    return pd.DataFrame(
        [
            {
                "wedding_id": wedding,
                "check_name": check,
                "value": value,
                "threshold": CHECKS[check].breach,
                "warn_threshold": CHECKS[check].warn,
                "status": status,
                "detail": "",
            }
            for wedding, check, value, status in rows
        ]
    )


def fill_day(url: str) -> dict:
    """Saturday 17 October 2026 in New York: two weddings and a cancelled one (and one the
    next day), two forecast series (two fits of one), guest-list samples, a floor raised and
    restored, a pre-warm, critical-path rounds with a latency breach that was remediated,
    and two webhook alerts, one still firing."""
    with psycopg.connect(url) as conn:
        for wid, starts, ends, guests, status in (
            ("w-1001", utc(20), utc(3, day=18), 150, "confirmed"),
            ("w-1002", utc(21, 30), utc(3, 30, day=18), 80, "confirmed"),
            ("w-1003", utc(19), utc(23), 40, "cancelled"),
            ("w-2001", utc(19, day=18), utc(23, day=18), 120, "confirmed"),
        ):
            conn.execute(
                "INSERT INTO perf.weddings (wedding_id, source, starts_at, ends_at, timezone, "
                "venue, guest_count, status) VALUES (%s, 'test', %s, %s, 'America/New_York', "
                "%s, %s, %s)",
                (wid, starts, ends, VENUE, guests, status),
            )
        conn.commit()

        # The nightly fit of the day before (48 h) and the morning's refit (24 h): hours
        # from 08:00Z on must come from the newer one.
        write_forecast(conn, fit("samples.guest_list", utc(8, day=16), 48, 100.0))
        write_forecast(conn, fit("samples.guest_list", utc(8), 24, 300.0))
        # An app-view series: no contract views in this database, so no actuals.
        write_forecast(conn, fit("app.guest_checkins", utc(10), 12, 50.0))

        conn.execute("SELECT perf.ensure_sample_partitions(%s, %s)", (DAY, DAY))
        samples = []
        for hour in range(14, 23):
            for i in range(90 + hour):
                samples.append((utc(hour) + timedelta(seconds=30 * i), f"s{hour}:{i}"))
        with conn.cursor() as cursor:
            cursor.executemany(
                "INSERT INTO perf.samples VALUES (%s, 'probe', 'latency_s', 'guest_list', %s, "
                "'w-1001', 'url', 0.2)",
                samples,
            )
        conn.commit()

        sandbox = {"target": "sandbox", "dry_run": False, "outcome": "done"}
        act(
            conn,
            utc(5, day=16),
            plan_id="restore-16",
            kind="capacity_restore",
            before="5",
            after="2",
            reason="after the 15th",
            **sandbox,
        )
        act(
            conn,
            utc(16, 30),
            plan_id="prewarm-1630",
            kind="prewarm_redis",
            target="redis",
            reason="pre-warm",
            dry_run=False,
            outcome="done",
            wedding_ids=["w-1001"],
        )
        act(
            conn,
            utc(16, 50),
            plan_id="raise-1650",
            kind="capacity_raise",
            before="2",
            after="6",
            reason="2 weddings",
            wedding_ids=["w-1001", "w-1002"],
            **sandbox,
        )
        act(
            conn,
            utc(16, 50),
            plan_id="raise-1650",
            kind="capacity_raise",
            target="web-eu",
            before="3",
            after="4",
            reason="dry",
            dry_run=True,
            outcome="dry-run",
        )
        act(
            conn,
            utc(3, 45, day=18),
            plan_id="restore-0345",
            kind="capacity_restore",
            before="8",
            after="2",
            reason="closed",
            wedding_ids=["w-1001", "w-1002"],
            **sandbox,
        )
        remember_raise(conn, "sandbox", before=2, after=6, by="capacity_raise")
        remember_restore(conn, "sandbox", after=2)

        # Watch rounds every 15 minutes across w-1001's and w-1002's windows: guest-list
        # latency breaches at 20:15 and 20:30 (one alert, resolved at 20:45).
        at = utc(17)
        while at <= utc(3, 30, day=18):
            latency = 1.6 if utc(20, 15) <= at <= utc(20, 30) else 0.3
            rows = [
                ("w-1001", "latency_guest_list", latency, "breach" if latency >= 1 else "ok"),
                ("w-1001", "guest_arrival", 0.9, "ok"),
            ]
            if at >= utc(18, 30):
                drift = 18.0 if utc(22) <= at <= utc(22, 30) else 4.0
                rows.append(("w-1002", "timeline_drift", drift, "warn" if drift >= 15 else "ok"))
            with conn.transaction():
                store_round(conn, checks_round(rows), at)
            at += timedelta(minutes=15)
        alert_id = conn.execute(
            "SELECT alert_id FROM perf.alerts WHERE wedding_id = 'w-1001'"
        ).fetchone()[0]
        act(
            conn,
            utc(20, 20),
            plan_id=f"alert-{alert_id}",
            kind="remediation_scale_up",
            target="sandbox",
            before="6",
            after="8",
            reason="remediation",
            dry_run=False,
            outcome="done",
            wedding_ids=["w-1001"],
        )
        set_remediation_state(conn, alert_id, "recovered", "guest-list p95 back under 1 s")

        for fingerprint, starts, ends, status in (
            ("db-slow", utc(22), utc(22, 20), "resolved"),
            ("queue-lag", utc(1, day=18), None, "firing"),
            ("old", utc(12, day=15), utc(13, day=15), "resolved"),  # another day
        ):
            conn.execute(
                "INSERT INTO perf.alerts (source, fingerprint, starts_at, status, ends_at, "
                "alertname, severity, labels) VALUES ('alertmanager', %s, %s, %s, %s, "
                "'PostgresSlow', 'critical', %s)",
                (fingerprint, starts, status, ends, Jsonb({"alertname": "PostgresSlow"})),
            )
        conn.commit()
    return {"alert_id": alert_id}


@pytest.fixture(scope="module")
def day_db(make_database) -> Iterator[dict]:
    url = make_database()
    info = fill_day(url)
    yield {"url": url, **info}


@pytest.fixture(scope="module")
def package(day_db: dict, tmp_path_factory: pytest.TempPathFactory):
    out = tmp_path_factory.mktemp("evidence") / "day"
    result = build_evidence_package(day_db["url"], out=out, day=DAY, now=NOW, settings=Settings())
    return result


def sql(url: str, query: str, *params):
    with psycopg.connect(url) as conn:
        return conn.execute(query, params).fetchall()


def figure_json(result, name: str) -> dict:
    return json.loads((result.out / "figures" / f"{name}.json").read_text())


def test_package_has_every_section_with_figures_files_and_no_external_urls(package) -> None:
    doc = json.loads(package.json_path.read_text())
    assert doc["scope"] == {
        "kind": "day",
        "label": "2026-10-17",
        "timezone": "America/New_York",
        "start": START.isoformat(),
        "end": END.isoformat(),
        "day": "2026-10-17",
        "wedding_id": None,
    }
    # The database advisor's section comes last, only when wedperf.advisor provides it.
    assert list(doc["sections"])[:4] == list(SECTIONS)
    assert set(doc["sections"]) <= {*SECTIONS, "error_budgets", "advisor"}
    for key in SECTIONS:
        assert doc["sections"][key]["empty"] is None, key
        assert doc["sections"][key]["figures"], key
    names = {p.name for p in package.figures}
    assert names == {
        "forecast_vs_actual.png",
        "capacity_floor.png",
        "critical_path_w-1001.png",
        "critical_path_w-1002.png",
        "alerts_actions.png",
    }
    for png in package.figures:
        assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
        assert png.with_suffix(".json").is_file()
    html = package.html_path.read_text()
    assert html.count('src="data:image/png;base64,') == len(package.figures)
    assert "http://" not in html and "https://" not in html
    markdown = package.markdown_path.read_text()
    for png in package.figures:
        assert f"(figures/{png.name})" in markdown
    for title in (
        "Forecast vs actual load",
        "Capacity floor vs load",
        "Wedding-day critical path",
        "Alerts and actions",
        "SLOs of wedding w-1001",
    ):
        assert title in html and title in markdown
    for text in (html, markdown, package.json_path.read_text()):
        assert VENUE not in text
    assert not list(package.out.parent.glob(".*tmp*")), "no staging directory left behind"


def test_counts_match_the_database(package, day_db: dict) -> None:
    url, counts = day_db["url"], package.summary
    assert counts == json.loads(package.json_path.read_text())["counts"]
    (weddings,) = sql(
        url,
        "SELECT count(*) FROM perf.weddings WHERE starts_at >= %s AND starts_at < %s",
        START,
        END,
    )[0]
    (hours,) = sql(
        url,
        "SELECT count(DISTINCT (series, ts)) FROM perf.forecasts WHERE ts >= %s AND ts < %s",
        START,
        END,
    )[0]
    (actions,) = sql(
        url, "SELECT count(*) FROM perf.actions WHERE acted_at >= %s AND acted_at < %s", START, END
    )[0]
    (alerts, firing) = sql(
        url,
        "SELECT count(*), count(*) FILTER (WHERE status = 'firing') FROM perf.alerts "
        "WHERE starts_at < %s AND coalesce(ends_at, 'infinity') >= %s",
        END,
        START,
    )[0]
    (checks, breaches, warns) = sql(
        url,
        "SELECT count(*), count(*) FILTER (WHERE c.status = 'breach'), "
        "count(*) FILTER (WHERE c.status = 'warn') FROM perf.critical_path_checks c "
        "JOIN perf.weddings w USING (wedding_id) WHERE w.starts_at >= %s AND w.starts_at < %s",
        START,
        END,
    )[0]
    assert (weddings, hours, actions, alerts, firing) == (3, 36, 5, 3, 1)
    assert counts["weddings"] == weddings
    assert counts["weddings_evaluated"] == 2
    assert counts["forecast_series"] == 2 and counts["forecast_hours"] == hours
    assert counts["actions"] == actions
    # raise, dry-run raise, the remediation's scale-up, restore
    assert counts["capacity_actions"] == 4 and counts["capacity_actions_done"] == 3
    assert counts["alerts"] == alerts and counts["alerts_firing"] == firing
    assert counts["critical_path_checks"] == checks
    assert counts["critical_path_breaches"] == breaches == 2
    assert counts["critical_path_warnings"] == warns == 3
    assert counts["figures"] == len(package.figures) == 5


def test_forecast_figure_numbers_are_the_forecast_in_force_and_the_actuals(
    package, day_db: dict
) -> None:
    url = day_db["url"]
    data = figure_json(package, "forecast_vs_actual")
    series = {s["series"]: s for s in data["series"]}
    guest_list = {h["ts"]: h for h in series["samples.guest_list"]["hours"]}
    assert len(guest_list) == 24
    for ts, h in guest_list.items():
        expected = sql(
            url,
            "SELECT mean, lo_80, hi_80, lo_95, hi_95 FROM perf.forecasts "
            "WHERE series = 'samples.guest_list' AND ts = %s ORDER BY origin DESC LIMIT 1",
            datetime.fromisoformat(ts),
        )[0]
        assert (h["mean"], h["lo_80"], h["hi_80"], h["lo_95"], h["hi_95"]) == expected
    assert guest_list[utc(5).isoformat()]["mean"] == 100.0 + 5 * 21  # the older fit
    assert guest_list[utc(9).isoformat()]["mean"] == 300.0 + 5 * 1  # the refit
    counted = dict(
        sql(
            url,
            "SELECT date_trunc('hour', ts), count(*)::float FROM perf.samples "
            "WHERE operation = 'guest_list' GROUP BY 1",
        )
    )
    for ts, h in guest_list.items():
        hour = datetime.fromisoformat(ts)
        if hour in counted:
            assert h["actual"] == counted[hour]
        else:
            assert h["actual"] is None  # no samples: unknown (collector down?), not zero
    assert series["samples.guest_list"]["hours_with_actuals"] == 9  # 14:00Z .. 22:00Z
    checkins = series["app.guest_checkins"]
    assert checkins["forecast_hours"] == 12 and checkins["hours_with_actuals"] == 0
    counts = package.summary
    assert counts["hours_with_actuals"] == sum(s["hours_with_actuals"] for s in series.values())
    assert counts["min_hours_with_actuals"] == 0  # the app-view series has none
    assert checkins["actuals_note"].startswith("actuals unavailable")


def test_capacity_and_alert_figures_match_actions_alerts_and_checks(package, day_db) -> None:
    url = day_db["url"]
    capacity = figure_json(package, "capacity_floor")
    targets = {t["target"]: t for t in capacity["targets"]}
    assert set(targets) == {"sandbox", "web-eu"}
    assert targets["sandbox"]["floor_at_start"] == 2
    steps = [
        (s["kind"], s["before"], s["after"], s["outcome"]) for s in targets["sandbox"]["steps"]
    ]
    assert steps == [
        (kind, before, after, outcome)
        for kind, before, after, outcome in sql(
            url,
            "SELECT kind, before, after, outcome FROM perf.actions WHERE target = 'sandbox' "
            "AND kind IN ('capacity_raise', 'capacity_restore', 'remediation_scale_up') "
            "AND acted_at >= %s AND acted_at < %s ORDER BY acted_at",
            START,
            END,
        )
    ]
    assert [s[1:3] for s in steps] == [("2", "6"), ("6", "8"), ("8", "2")]
    assert targets["sandbox"]["state"]["floor"] == 2
    # Calendar load: 150 invited guests from 17:00Z, 230 from 18:30Z (no estimates).
    load = {s["at"]: s["invited_guests"] for s in capacity["calendar_load"]}
    assert load[utc(17).isoformat()] == 150 and load[utc(18, 30).isoformat()] == 230

    timeline = figure_json(package, "alerts_actions")
    alerts = {a["alert_id"]: a for a in timeline["alerts"]}
    breach = alerts[day_db["alert_id"]]
    assert (breach["check"], breach["wedding_id"], breach["status"]) == (
        "latency_guest_list",
        "w-1001",
        "resolved",
    )
    assert breach["starts_at"] == utc(20, 15).isoformat()
    assert breach["ends_at"] == utc(20, 45).isoformat()
    assert (breach["value_at_start"], breach["value_after"]) == (1.6, 0.3)
    assert breach["remediation_state"] == "recovered"
    remediation = [a for a in timeline["actions"] if a["plan_id"] == f"alert-{breach['alert_id']}"]
    assert [(a["before"], a["after"], a["outcome"]) for a in remediation] == [("6", "8", "done")]
    assert {a["status"] for a in alerts.values()} == {"resolved", "firing"}

    w1001 = figure_json(package, "critical_path_w-1001")
    checks = {c["check"]: c for c in w1001["checks"]}
    latency = checks["latency_guest_list"]
    assert (latency["warn"], latency["breach"]) == (0.5, 1.0)  # the SLO module's defaults
    (rounds, breaches, worst) = sql(
        url,
        "SELECT count(*), count(*) FILTER (WHERE status = 'breach'), max(value) "
        "FROM perf.critical_path_checks WHERE wedding_id = 'w-1001' "
        "AND check_name = 'latency_guest_list'",
    )[0]
    assert (latency["rounds"], latency["breach_rounds"], latency["worst_value"]) == (
        rounds,
        breaches,
        worst,
    )
    assert len(latency["evaluations"]) == rounds
    assert checks["guest_arrival"]["bad_when"] == "below"


def test_empty_day_says_so_in_every_section(make_database, tmp_path: Path) -> None:
    url = make_database()
    result = build_evidence_package(url, out=tmp_path / "empty", day=DAY, now=NOW)
    doc = json.loads(result.json_path.read_text())
    assert doc["sections"]["forecast_vs_actual"]["empty"] == "No forecasts for this day."
    assert all(section["empty"] for section in doc["sections"].values())
    assert result.figures == [] and result.summary["figures"] == 0
    assert "No forecasts for this day." in result.html_path.read_text()
    assert "> No alerts and no actions for this day." in result.markdown_path.read_text()


def test_wedding_package_covers_one_wedding(day_db: dict, tmp_path: Path) -> None:
    result = build_evidence_package(
        day_db["url"], out=tmp_path / "w", wedding_id="w-1002", now=NOW, settings=Settings()
    )
    assert result.scope["wedding_id"] == "w-1002"
    # 3 h window + 1 h padding opens at 17:30, widened to the whole hour.
    assert result.scope["start"] == utc(17, 0).isoformat()
    assert result.scope["end"].endswith(":00:00+00:00")
    assert result.summary["weddings"] == 1 and result.summary["alerts"] == 0
    assert [p.name for p in result.figures if "critical_path" in p.name] == [
        "critical_path_w-1002.png"
    ]
    timeline = figure_json(result, "alerts_actions")
    # Only steps naming w-1002 inside its span: the 16:50Z raise was before it opened.
    assert {a["plan_id"] for a in timeline["actions"]} == {"restore-0345"}


def test_rebuild_is_atomic_and_an_interrupted_build_leaves_the_old_package(
    day_db: dict, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    out = tmp_path / "pkg"
    first = build_evidence_package(day_db["url"], out=out, day=DAY, now=NOW, settings=Settings())
    before = first.json_path.read_text()

    import wedperf.evidence.build as build

    calls = []

    def interrupted(kind, data, *, dpi):
        calls.append(kind)
        if len(calls) == 3:
            raise KeyboardInterrupt  # Ctrl-C half-way through the figures
        return b"\x89PNG\r\n\x1a\n"

    monkeypatch.setattr(build, "render_png", interrupted)
    with pytest.raises(KeyboardInterrupt):
        build_evidence_package(
            day_db["url"], out=out, day=DAY, now=NOW + timedelta(hours=1), settings=Settings()
        )
    assert first.json_path.read_text() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["pkg"]
    monkeypatch.undo()

    (tmp_path / "not-a-package").mkdir()
    (tmp_path / "not-a-package" / "notes.txt").write_text("mine")
    from wedperf.evidence.write import PackageDirError

    with pytest.raises(PackageDirError):
        build_evidence_package(
            day_db["url"], out=tmp_path / "not-a-package", day=DAY, now=NOW, settings=Settings()
        )
    assert (tmp_path / "not-a-package" / "notes.txt").read_text() == "mine"


@pytest.fixture
def cli_env(day_db: dict, redis_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("WEDPERF_DATABASE_URL", day_db["url"])
    monkeypatch.setenv("WEDPERF_REDIS_URL", redis_url)
    monkeypatch.setenv("WEDPERF_DATA_DIR", str(tmp_path / "data"))
    reset_settings_cache()
    yield day_db
    reset_settings_cache()


def test_cli_builds_a_day_and_a_wedding(cli_env: dict, tmp_path: Path) -> None:
    runner = CliRunner()
    result = runner.invoke(
        app, ["evidence", "--date", "2026-10-17", "--out", str(tmp_path / "d"), "--json"]
    )
    assert result.exit_code == 0, result.output
    payload = json.loads(result.stdout)
    assert payload["counts"]["weddings"] == 3 and payload["counts"]["alerts"] == 3
    assert Path(payload["html"]).is_file() and len(payload["figures"]) == 5

    human = runner.invoke(app, ["evidence", "--wedding", "w-1001", "--out", str(tmp_path / "w")])
    assert human.exit_code == 0, human.output
    assert "evidence for wedding w-1001" in human.output
    assert (tmp_path / "w" / "evidence.html").is_file()

    unknown = runner.invoke(app, ["evidence", "--wedding", "nope", "--out", str(tmp_path / "x")])
    assert unknown.exit_code == 1 and "no wedding 'nope'" in unknown.output
    both = runner.invoke(
        app, ["evidence", "--date", "2026-10-17", "--wedding", "w-1001", "--out", "x"]
    )
    assert both.exit_code == 2


@pytest.mark.usefixtures("prefect_harness")
def test_flow_publishes_artifacts_with_stable_keys(cli_env: dict, tmp_path: Path) -> None:
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import ArtifactFilter, ArtifactFilterKey

    from flows.build_evidence import build_evidence

    out = tmp_path / "flow"
    summary = build_evidence(day=DAY, out=str(out))
    assert summary["counts"]["weddings"] == 3
    assert summary["artifacts"] == ["evidence-report", "evidence-summary", "evidence-link"]
    assert Path(summary["html"]) == out.resolve() / "evidence.html"
    with get_client(sync_client=True) as client:
        found = client.read_artifacts(
            artifact_filter=ArtifactFilter(key=ArtifactFilterKey(any_=summary["artifacts"])),
            limit=50,
        )
    latest = {a.key: a for a in sorted(found, key=lambda a: a.created)}
    assert set(latest) == {"evidence-report", "evidence-summary", "evidence-link"}
    assert latest["evidence-report"].type == "markdown"
    assert "## Alerts and actions" in latest["evidence-report"].data
    table = latest["evidence-summary"].data
    rows = table if isinstance(table, list) else json.loads(table)
    assert {"section": "critical_path", "count": "weddings", "value": 3} in rows
    # Prefect 3 stores a link artifact as markdown: [text](link).
    link = out.resolve().joinpath("evidence.html").as_uri()
    assert latest["evidence-link"].data.endswith(f"]({link})")


# --- headless Chromium -------------------------------------------------------------------

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
PROBE = """<script>
window.addEventListener("load", () => {
  const sizes = Array.from(document.images).map(i => i.complete ? i.naturalWidth : 0);
  document.body.setAttribute("data-image-widths", sizes.join(","));
});
</script></body>"""


def chromium(*args: str, timeout: int = 90) -> subprocess.CompletedProcess:
    base = [
        CHROMIUM,
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--virtual-time-budget=5000",
    ]
    env = {**os.environ, "HOME": os.environ.get("HOME", "/tmp")}
    return subprocess.run(
        [*base, *args], capture_output=True, text=True, timeout=timeout, env=env, check=False
    )


@pytest.mark.skipif(CHROMIUM is None, reason="chromium not installed (apt-get install chromium)")
def test_report_renders_in_headless_chromium_with_every_figure_loaded(
    package, tmp_path: Path
) -> None:
    # A copy of the report with a probe that records each image's natural width on load.
    probed = tmp_path / "probed.html"
    probed.write_text(package.html_path.read_text().replace("</body>", PROBE))
    dom = chromium("--dump-dom", probed.as_uri())
    assert dom.returncode == 0, dom.stderr[-2000:]
    marker = 'data-image-widths="'
    assert marker in dom.stdout, dom.stderr[-2000:]
    widths = dom.stdout.split(marker, 1)[1].split('"', 1)[0].split(",")
    assert len(widths) == len(package.figures)
    assert all(int(w) > 0 for w in widths), widths

    # The report itself, as a reader sees it: a screenshot that is not blank.
    shot = Path(os.environ.get("WEDPERF_EVIDENCE_SCREENSHOT", tmp_path / "report.png"))
    shot.parent.mkdir(parents=True, exist_ok=True)
    taken = chromium(f"--screenshot={shot}", "--window-size=1280,6000", package.html_path.as_uri())
    assert taken.returncode == 0 and shot.is_file(), taken.stderr[-2000:]
    from PIL import Image

    with Image.open(shot) as image:
        colours = image.convert("L").getextrema()
    assert colours[0] < 100 < colours[1], "the screenshot has dark text and light background"


def test_advisor_section_cannot_break_the_report(
    day_db: dict, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import wedperf.evidence.advisor as hook

    none = build_evidence_package(day_db["url"], out=tmp_path / "a", day=DAY, now=NOW)
    advisor = json.loads(none.json_path.read_text())["sections"]["advisor"]
    assert advisor["empty"] == "No database advisor findings for this span."

    def broken(conn, *, start, end, settings):
        conn.execute("SELECT * FROM perf.no_such_table")

    monkeypatch.setattr(hook, "evidence_findings", broken)
    failed = build_evidence_package(day_db["url"], out=tmp_path / "b", day=DAY, now=NOW)
    doc = json.loads(failed.json_path.read_text())
    assert doc["sections"]["advisor"]["empty"].startswith("Database advisor findings unavailable")
    assert doc["counts"]["weddings"] == 3  # everything after the failure still read

    monkeypatch.setattr(
        hook, "evidence_findings", lambda conn, **_: [{"table": "app.guests", "mean_ms": 12.5}]
    )
    found = build_evidence_package(day_db["url"], out=tmp_path / "c", day=DAY, now=NOW)
    tables = json.loads(found.json_path.read_text())["sections"]["advisor"]["tables"]
    assert tables == [
        {"title": "Findings", "columns": ["table", "mean_ms"], "rows": [["app.guests", "12.5"]]}
    ]


def test_after_restore_reports_the_day_the_windows_closed() -> None:
    """A restore completing after local midnight reports the evening's day, not the new one."""
    from datetime import UTC, date, datetime

    from wedperf.config import Settings
    from wedperf.evidence.build import scheduled_day

    settings = Settings()
    # 00:20 in New York on 18 October: the restore of a reception that ended at 23:45 on
    # the 17th (restore delay 15 min, rounded up to the 30-min slot).
    now = datetime(2026, 10, 18, 4, 20, tzinfo=UTC)
    assert scheduled_day(settings, now, days_ago=0, after_restore=True) == date(2026, 10, 17)
    assert scheduled_day(settings, now, days_ago=0) == date(2026, 10, 18)
    assert scheduled_day(settings, now, days_ago=1) == date(2026, 10, 17)


def test_two_day_package_counts_rounds_per_completed_wedding(day_db: dict, tmp_path: Path):
    """A scope of two days (the demo's yesterday and today): both days' hours, and each
    completed wedding's rounds, counted and drawn across its day window."""
    result = build_evidence_package(
        day_db["url"], out=tmp_path / "two", day=DAY, days=2, now=NOW, settings=Settings()
    )
    assert result.out.name == "two"
    assert result.scope["label"] == "2026-10-17 to 2026-10-18"
    assert result.scope["start"] == START.isoformat()
    assert result.scope["end"] == (END + timedelta(days=1)).isoformat()
    counts = result.summary
    rounds = dict(
        sql(
            day_db["url"],
            "SELECT wedding_id, count(DISTINCT evaluated_at) FROM perf.critical_path_checks "
            "GROUP BY 1",
        )
    )
    done = sql(
        day_db["url"],
        "SELECT wedding_id FROM perf.weddings WHERE status <> 'cancelled' "
        "AND starts_at >= %s AND starts_at < %s AND ends_at <= %s",
        START,
        END + timedelta(days=1),
        NOW,
    )
    assert counts["weddings_completed"] == len(done) > 0
    assert counts["min_rounds_per_wedding"] == min(rounds.get(w, 0) for (w,) in done)
    figure = figure_json(result, f"critical_path_{done[0][0]}")
    assert figure["window_start"] < figure["ceremony"] < figure["window_end"]
    assert "to 2026-10-18" in result.html_path.read_text()


def test_a_timeline_with_one_round_reads_local_hours() -> None:
    """One round is one mark on an axis spanning the day window in local hours, not a few
    minutes padded round it with every tick reading the same time."""
    from wedperf.evidence.figures import critical_path

    ceremony = utc(20)
    data = {
        "wedding_id": "w-1",
        "tier": "standard",
        "guest_count": 80,
        "timezone": "America/New_York",
        "ceremony": ceremony.isoformat(),
        "window_start": (ceremony - timedelta(hours=3)).isoformat(),
        "window_end": (ceremony + timedelta(hours=6)).isoformat(),
        "checks": [
            {
                "check": "guest_arrival",
                "rounds": 1,
                "evaluations": [{"at": utc(18).isoformat(), "value": 0.5, "status": "ok"}],
            }
        ],
    }
    fig = critical_path(data)
    fig.canvas.draw()
    ax = fig.axes[0]
    labels = [t.get_text() for t in ax.get_xticklabels() if t.get_text()]
    assert len(labels) >= 4 and len(set(labels)) == len(labels), labels
    assert "13:00" in labels and "16:00" in labels  # 17:00Z .. 02:00Z is 13:00 .. 22:00 EDT
    assert "1 round over its day window" in ax.get_title(loc="left")


def test_modelled_samples_are_labelled_modelled_not_measured(make_database, tmp_path: Path):
    """The sandbox's modelled history (source sandbox-model) in scope: the capacity figure's
    load line and caption say modelled, a note says which part, and the critical-path
    section counts the rounds up to the end of the modelled samples as on a modelled clock."""
    url = make_database()
    fill_day(url)
    modelled = [utc(16) + timedelta(minutes=m) for m in range(4 * 60)]  # 16:00 to 19:59
    with psycopg.connect(url) as conn, conn.cursor() as cursor:
        cursor.executemany(
            "INSERT INTO perf.samples (ts, source, metric, operation, series, wedding_id, "
            "attributed_by, value) VALUES (%s, 'sandbox-model', 'latency_s', 'guest_list', "
            "%s, 'w-1001', 'label', 0.1)",
            [(at, f"m{i}") for i, at in enumerate(modelled)],
        )
    result = build_evidence_package(
        url, out=tmp_path / "modelled", day=DAY, now=NOW, settings=Settings()
    )
    figure = figure_json(result, "capacity_floor")
    assert figure["measured_label"] == "measured + modelled"
    assert figure["samples_by_source"]["sandbox-model"] == len(modelled)
    doc = json.loads(result.json_path.read_text())
    capacity = doc["sections"]["capacity"]
    assert "modelled" in figure["caption"] and "probes" in figure["caption"]
    assert any("sandbox load model" in note for note in capacity["notes"])
    assert capacity["counts"]["load_samples_modelled"] == len(modelled)
    # Rounds every 15 min from 17:00; the modelled samples cover minutes up to 20:00.
    rounds = sql(
        url,
        "SELECT count(DISTINCT evaluated_at) FROM perf.critical_path_checks "
        "WHERE evaluated_at <= %s",
        utc(20),
    )[0][0]
    critical = doc["sections"]["critical_path"]
    assert critical["counts"]["rounds_on_modelled_clock"] == rounds == 13
    assert any("modelled clock" in note for note in critical["notes"])


def test_collected_samples_alone_are_labelled_measured(package) -> None:
    figure = figure_json(package, "capacity_floor")
    assert figure["measured_label"] == "measured"
    assert "sandbox-model" not in figure["samples_by_source"]
    doc = json.loads(package.json_path.read_text())
    assert doc["sections"]["critical_path"]["counts"]["rounds_on_modelled_clock"] == 0


def test_hours_without_samples_are_not_actuals(make_database) -> None:
    """A samples series with a gap (an hour wedperf's collector was down): the gap hour is
    unknown, not 0, and counts in neither hours with actuals, coverage nor MAE."""
    from wedperf.evidence.data import _actuals, day_scope

    url = make_database()
    settings = Settings()
    spec = next(s for s in settings.forecast.series if s.name == "samples.guest_list")
    with psycopg.connect(url) as conn:
        conn.execute("SELECT perf.ensure_sample_partitions(%s, %s)", (DAY, DAY))
        for hour in (10, 11, 13):  # none at 12:00Z
            conn.execute(
                "INSERT INTO perf.samples (ts, source, metric, operation, series, wedding_id, "
                "attributed_by, value) VALUES (%s, 'probe', %s, 'guest_list', %s, 'w-1', "
                "'url', 0.2)",
                (utc(hour, 10), spec.metric, f"s{hour}"),
            )
        conn.commit()
        series, note = _actuals(conn, None, spec, day_scope(DAY, settings), settings, NOW)
    assert note is None
    assert list(series.index) == [pd.Timestamp(utc(h)) for h in (10, 11, 13)]
    assert list(series) == [1.0, 1.0, 1.0]
