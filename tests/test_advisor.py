"""The wedding-day database advisor against real PostgreSQL.

pg_stat_statements must be preloaded, which the shared local server is not (and must not be
reconfigured): this module starts its own throw-away PostgreSQL cluster with initdb/pg_ctl on a
free port with `shared_preload_libraries=pg_stat_statements`, seeds the sandbox there, drops
the guest list's index and drives the sandbox app's own queries at it. wedperf's own database
(baselines, runs, actions) stays on the test server.
"""

from __future__ import annotations

import contextlib
import glob
import importlib.util
import json
import os
import random
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import psycopg
import pytest
from psycopg import sql
from typer.testing import CliRunner

from cli import app
from wedperf.advisor.advise import run_advisor
from wedperf.advisor.baseline import Baseline, compare, load_baselines, save_baselines
from wedperf.advisor.optimise import optimise_database
from wedperf.advisor.plans import explain_generic, plan_summary, read_plan
from wedperf.advisor.report import (
    AdvisorReport,
    QueryFinding,
    advisor_findings_for_artifact,
    latest_report,
    report_markdown,
    report_table,
)
from wedperf.advisor.settings import AdvisorSettings
from wedperf.advisor.stats import StatementStats, read_statements
from wedperf.advisor.suggest import suggest_index
from wedperf.advisor.tables import wedding_tables
from wedperf.config import reset_settings_cache
from wedperf.sandbox.seed import seed_sandbox
from wedperf.sandbox.sqlfiles import named_queries

NOW = datetime(2026, 10, 1, 6, 0, tzinfo=UTC)
EXPECTED_DDL = (
    "CREATE INDEX CONCURRENTLY IF NOT EXISTS guests_wedding_id_idx ON app.guests (wedding_id);"
)
WEDDING_DAY_QUERIES = ("guest_list", "timeline", "timeline_vendors")
# The gap between an index scan and a full scan of ~23k guests is ~20x; ask for far less.
SETTINGS = AdvisorSettings(regression_min_ms=0.05)


def _pg_binary(name: str) -> str | None:
    found = sorted(glob.glob(f"/usr/lib/postgresql/*/bin/{name}"), reverse=True)
    return found[0] if found else shutil.which(name)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextlib.contextmanager
def _cluster(initdb: str, pg_ctl: str, options: str = "") -> Iterator[str]:
    """A throw-away PostgreSQL cluster on a free port; yields its admin URL."""
    run_as = ["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []
    base = Path(tempfile.mkdtemp(prefix="wedperf-advisor-pg-"))
    pgdata = base / "data"
    if run_as:
        shutil.chown(base, user="postgres")
    subprocess.run(
        [*run_as, initdb, "-D", str(pgdata), "-U", "postgres", "--auth=trust", "-E", "UTF8"],
        check=True,
        capture_output=True,
    )
    port = _free_port()
    server_options = f"-p {port} -k {base} -c listen_addresses=127.0.0.1 -c fsync=off {options}"
    subprocess.run(
        [*run_as, pg_ctl, "-D", str(pgdata), "-l", str(base / "server.log"), "-o", server_options]
        + ["-w", "start"],
        check=True,
        capture_output=True,
    )
    try:
        yield f"postgresql://postgres@127.0.0.1:{port}/postgres"
    finally:
        subprocess.run(
            [*run_as, pg_ctl, "-D", str(pgdata), "-m", "fast", "-w", "stop"], capture_output=True
        )
        shutil.rmtree(base, ignore_errors=True)


@pytest.fixture(scope="session")
def stats_server() -> Iterator[str]:
    """Admin URL of a throw-away cluster with pg_stat_statements preloaded."""
    initdb, pg_ctl = _pg_binary("initdb"), _pg_binary("pg_ctl")
    if not initdb or not pg_ctl:
        pytest.skip("initdb/pg_ctl not found: cannot start a cluster with pg_stat_statements")
    preload = "-c shared_preload_libraries=pg_stat_statements -c pg_stat_statements.track=all"
    with _cluster(initdb, pg_ctl, preload) as url:
        yield url


@pytest.fixture(scope="session")
def pg16_server() -> Iterator[str]:
    """A PostgreSQL 16+ cluster from the pgserver wheel's binaries (EXPLAIN (GENERIC_PLAN))."""
    spec = importlib.util.find_spec("pgserver")  # located, not imported (it warns on import)
    if spec is None or not spec.submodule_search_locations:
        pytest.skip("the pgserver wheel (PostgreSQL 16 binaries) is not installed")
    bin_dir = Path(spec.submodule_search_locations[0]) / "pginstall" / "bin"
    if os.geteuid() == 0:
        # As root the cluster runs as `postgres`, which must be able to reach the wheel's
        # binaries: not so when the checkout sits in a private directory (mktemp -d).
        reachable = subprocess.run(
            ["runuser", "-u", "postgres", "--", "test", "-x", str(bin_dir / "initdb")]
        )
        if reachable.returncode != 0:
            pytest.skip(f"the postgres account cannot execute {bin_dir / 'initdb'}")
    with _cluster(str(bin_dir / "initdb"), str(bin_dir / "pg_ctl")) as url:
        yield url


def _new_app_database(admin_url: str, name: str) -> str:
    with psycopg.connect(admin_url, autocommit=True) as conn:
        conn.execute(
            sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
        )
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    url = psycopg.conninfo.make_conninfo(admin_url, dbname=name)
    with psycopg.connect(url) as conn:
        seed_sandbox(conn, weddings=200, days=60, seed=5, start=date(2026, 9, 1), now=NOW)
    return url


def _wedding_day_load(url: str, rounds: int, seed: int) -> None:
    """The sandbox app's request-handler queries (guest list, timeline, vendors), as the app
    sends them: server-side parameters, so pg_stat_statements sees `$1`."""
    queries = named_queries("queries.sql")
    with psycopg.connect(url, autocommit=True) as conn:
        ids = [row[0] for row in conn.execute("SELECT id FROM app.weddings")]
        rng = random.Random(seed)
        for _ in range(rounds):
            wedding_id = rng.choice(ids)
            for name in WEDDING_DAY_QUERIES:
                conn.execute(queries[name], {"wedding_id": wedding_id}).fetchall()


@pytest.fixture(scope="module")
def advised(stats_server: str, make_database) -> dict:
    """A sandbox whose guest-list index went missing after a known-good baseline was taken."""
    app_url = _new_app_database(stats_server, "wedapp_advisor")
    perf_url = make_database()
    with psycopg.connect(app_url, autocommit=True) as conn:
        conn.execute("CREATE EXTENSION pg_stat_statements")
        conn.execute("SELECT pg_stat_statements_reset()")
    _wedding_day_load(app_url, rounds=150, seed=1)
    with psycopg.connect(app_url) as app_conn, psycopg.connect(perf_url) as perf_conn:
        baseline_run = run_advisor(app_conn, perf_conn, SETTINGS, now=NOW, save_baseline=True)
    with psycopg.connect(app_url, autocommit=True) as conn:
        conn.execute("DROP INDEX app.guests_wedding_idx")
    _wedding_day_load(app_url, rounds=150, seed=2)
    with psycopg.connect(app_url) as app_conn, psycopg.connect(perf_url) as perf_conn:
        report = run_advisor(
            app_conn, perf_conn, SETTINGS, now=NOW + timedelta(days=1), save_baseline=False
        )
    return {
        "app_url": app_url,
        "perf_url": perf_url,
        "admin_url": stats_server,
        "baseline_run": baseline_run,
        "report": report,
    }


def test_wedding_tables_are_discovered_from_the_catalog(advised: dict) -> None:
    with psycopg.connect(advised["app_url"]) as conn:
        tables = wedding_tables(conn, AdvisorSettings())
        configured = wedding_tables(conn, AdvisorSettings(tables=["app.guests"]))
    assert ("app", "guests") in tables and ("app", "timeline_items") in tables
    assert ("app", "weddings") in tables  # referenced by the wedding_id foreign keys
    assert not any(schema in ("perf", "wedperf_src") for schema, _ in tables)
    assert configured == [("app", "guests")]


def test_missing_index_ranks_the_guest_list_first_and_suggests_the_index(advised: dict) -> None:
    report: AdvisorReport = advised["report"]
    assert report.available, report.message
    first = report.queries[0]
    assert "FROM app.guests AS g" in first.query and "$1" in first.query
    assert first.rank_by_total == 1 and first.rank_by_mean == 1
    assert first.plan.startswith("Seq Scan on app.guests")
    assert any("FROM app.timeline_items" in q.query for q in report.queries)
    [suggestion] = report.suggestions
    assert suggestion.queryid == first.queryid
    assert suggestion.relation == "app.guests" and suggestion.columns == ["wedding_id"]
    assert suggestion.ddl == EXPECTED_DDL
    assert "app.guests" in report.named_tables
    # The DDL is valid as given (and never run by the advisor).
    with psycopg.connect(advised["app_url"], autocommit=True) as conn:
        assert conn.execute("SELECT to_regclass('app.guests_wedding_id_idx')").fetchone()[0] is None


def test_regression_against_the_stored_baseline_is_detected(advised: dict) -> None:
    before: AdvisorReport = advised["baseline_run"]
    assert before.suggestions == []  # the index was there
    assert before.baselines_saved >= len(WEDDING_DAY_QUERIES)
    report: AdvisorReport = advised["report"]
    guest_list = report.queries[0]
    assert guest_list.regressed and guest_list.regression_ratio >= SETTINGS.regression_ratio
    assert [q.queryid for q in report.regressions] == [guest_list.queryid]
    with psycopg.connect(advised["perf_url"]) as conn:
        stored = conn.execute(
            "SELECT query, calls FROM perf.advisor_baselines WHERE queryid = %s",
            (guest_list.queryid,),
        ).fetchone()
    assert stored[0] == guest_list.query and "$1" in stored[0]
    assert stored[1] < guest_list.calls  # the baseline kept the known-good figures


def test_findings_are_stored_for_other_jobs(advised: dict) -> None:
    with psycopg.connect(advised["perf_url"]) as conn:
        latest = latest_report(conn)
        findings = advisor_findings_for_artifact(conn)
    assert latest is not None and latest.generated_at == NOW + timedelta(days=1)
    assert latest.suggestions[0].ddl == EXPECTED_DDL
    assert EXPECTED_DDL in findings.markdown
    assert findings.table[0]["rank"] == 1 and findings.named_tables == latest.named_tables


def test_generic_plan_of_a_normalised_statement_with_untypable_parameters(advised: dict) -> None:
    with psycopg.connect(advised["app_url"], autocommit=True) as conn:
        plan = explain_generic(
            conn,
            "/* c */ SELECT 1 FROM app.guests WHERE $1 IS NULL AND wedding_id = ANY ($2) "
            "AND rsvp = $3",
        )
        assert conn.execute("SELECT count(*) FROM pg_prepared_statements").fetchone()[0] == 0
    reading = read_plan(plan)
    [scan] = reading.seq_scans
    assert scan.relation == "app.guests"
    assert set(scan.equality_columns) == {"wedding_id", "rsvp"}


def test_generic_plan_option_on_postgresql_16(pg16_server: str) -> None:
    url = _new_app_database(pg16_server, "wedapp_pg16")
    with psycopg.connect(url, autocommit=True) as conn:
        assert conn.info.server_version >= 160000
        conn.execute("DROP INDEX app.guests_wedding_idx")
        guest_list = named_queries("queries.sql")["guest_list"].replace("%(wedding_id)s", "$1")
        [scan] = read_plan(explain_generic(conn, guest_list)).seq_scans
        untypable = explain_generic(conn, "SELECT 1 FROM app.vendors WHERE $1 IS NULL")
    assert scan.relation == "app.guests" and scan.equality_columns == ["wedding_id"]
    assert read_plan(untypable).relations == ["app.vendors"]


def test_hidden_statements_of_other_roles_are_reported(advised: dict) -> None:
    with psycopg.connect(advised["app_url"], autocommit=True) as conn:
        conn.execute("DROP ROLE IF EXISTS advisor_reader")
        conn.execute("CREATE ROLE advisor_reader LOGIN")
    reader_url = psycopg.conninfo.make_conninfo(advised["app_url"], user="advisor_reader")
    with psycopg.connect(reader_url, autocommit=True) as conn:
        snapshot = read_statements(conn)
        report = run_advisor(conn, None, SETTINGS, now=NOW)
    assert snapshot.hidden > 0
    assert "GRANT pg_read_all_stats TO advisor_reader" in snapshot.warnings[0]
    assert report.available and report.warnings == snapshot.warnings
    assert all("app.guests AS g" not in q.query for q in report.queries)


def test_extension_not_installed_is_a_clear_message(migrated_database_url: str) -> None:
    with psycopg.connect(migrated_database_url) as conn:
        report = run_advisor(conn, conn, SETTINGS, now=NOW)
        stored = latest_report(conn)
    assert not report.available and report.reason == "not_installed"
    assert "CREATE EXTENSION pg_stat_statements" in report.message
    assert stored is not None and stored.reason == "not_installed"


def test_extension_not_preloaded_is_a_clear_message(empty_database_url: str) -> None:
    # The shared test server has the extension's files but does not preload the library.
    with psycopg.connect(empty_database_url, autocommit=True) as conn:
        conn.execute("CREATE EXTENSION pg_stat_statements")
        report = run_advisor(conn, None, SETTINGS, now=NOW)
    assert not report.available and report.reason == "not_preloaded"
    assert "shared_preload_libraries" in report.message


def test_regression_needs_enough_slower_calls() -> None:
    base = Baseline(1, "SELECT $1", 100, 50.0, 0.5, 100, NOW)
    slower = StatementStats(1, "SELECT $1", 200, 550.0, 200)  # 100 new calls at 5 ms
    assert compare(slower, base, SETTINGS).regressed
    assert compare(slower, base, SETTINGS).recent_mean_ms == pytest.approx(5.0)
    few = StatementStats(1, "SELECT $1", 105, 75.0, 105)  # 5 calls only
    assert not compare(few, base, SETTINGS).regressed
    same = StatementStats(1, "SELECT $1", 200, 100.0, 200)
    assert not compare(same, base, SETTINGS).regressed
    # After a statistics reset the cumulative mean is all there is.
    reset = StatementStats(1, "SELECT $1", 50, 250.0, 50)
    after_reset = compare(reset, base, SETTINGS, stats_reset=NOW + timedelta(hours=1))
    assert after_reset.regressed and after_reset.recent_mean_ms == pytest.approx(5.0)


def test_regression_after_the_entry_alone_restarted() -> None:
    """An entry reset by queryid or evicted under pg_stat_statements.max restarts from zero
    while pg_stat_statements_info.stats_reset stays put: the difference with the baseline is
    meaningless, the current mean is all there is."""
    base = Baseline(1, "SELECT $1", 100, 50.0, 0.5, 100, NOW)
    # Evicted, tracked again: more calls than the baseline but less total time.
    evicted = compare(StatementStats(1, "SELECT $1", 300, 30.0, 300), base, SETTINGS)
    assert evicted.recent_mean_ms == pytest.approx(0.1) and evicted.recent_calls == 300
    assert not evicted.regressed
    # Reset, then exactly as many calls as the baseline, ten times slower: not "not called".
    same_calls = compare(StatementStats(1, "SELECT $1", 100, 500.0, 100), base, SETTINGS)
    assert same_calls.regressed and same_calls.recent_mean_ms == pytest.approx(5.0)
    # Fewer calls than the baseline.
    fewer = compare(StatementStats(1, "SELECT $1", 40, 200.0, 40), base, SETTINGS)
    assert fewer.regressed and fewer.recent_calls == 40
    # Not called since the baseline: unchanged figures, nothing to judge.
    idle = compare(StatementStats(1, "SELECT $1", 100, 50.0, 100), base, SETTINGS)
    assert idle.recent_calls == 0 and not idle.regressed

    # PostgreSQL 17+ says when the entry restarted: figures that only look cumulative
    # (1000 calls, the same total) are 1000 fast calls since, not 900 free ones.
    slow_base = Baseline(2, "SELECT $1", 100, 500.0, 5.0, 100, NOW)
    restarted = StatementStats(2, "SELECT $1", 1000, 500.0, 1000, stats_since=NOW + timedelta(1))
    since = compare(restarted, slow_base, SETTINGS)
    assert since.recent_mean_ms == pytest.approx(0.5) and since.recent_calls == 1000
    older = StatementStats(2, "SELECT $1", 1000, 5000.0, 1000, stats_since=NOW - timedelta(1))
    assert compare(older, slow_base, SETTINGS).recent_mean_ms == pytest.approx(5.0)


def test_statement_stats_since_is_read_when_the_server_has_it(advised: dict) -> None:
    with psycopg.connect(advised["app_url"], autocommit=True) as conn:
        snapshot = read_statements(conn)
        has_since = conn.execute(
            "SELECT string_to_array(extversion, '.')::int[] >= '{1,11}' FROM pg_extension "
            "WHERE extname = 'pg_stat_statements'"
        ).fetchone()[0]
    assert snapshot.statements
    assert all((s.stats_since is not None) == has_since for s in snapshot.statements)


def test_save_baseline_replaces_only_the_statements_seen_now(migrated_database_url: str) -> None:
    """What the docs promise for --save-baseline: statements not seen keep their baseline."""
    seen = StatementStats(1, "SELECT $1 FROM app.guests", 100, 50.0, 100)
    unseen = StatementStats(2, "SELECT $1 FROM app.vendors", 10, 20.0, 10)
    with psycopg.connect(migrated_database_url) as conn:
        assert save_baselines(conn, "app", [seen, unseen], captured_at=NOW) == 2
        again = StatementStats(1, "SELECT $1 FROM app.guests", 300, 90.0, 300)
        later = NOW + timedelta(days=1)
        assert save_baselines(conn, "app", [again], captured_at=later) == 0  # first-seen only
        assert save_baselines(conn, "app", [again], captured_at=later, overwrite=True) == 1
        baselines = load_baselines(conn, "app")
    assert (baselines[1].calls, baselines[1].captured_at) == (300, later)
    assert (baselines[2].calls, baselines[2].captured_at) == (10, NOW)


def test_plan_filter_literals_are_redacted(advised: dict) -> None:
    """A generic plan can carry literals (a view's or policy's definition, a statement that was
    not normalised): none reaches the stored or published findings."""
    with psycopg.connect(advised["app_url"], autocommit=True) as conn:
        plan = explain_generic(
            conn,
            "SELECT g.id FROM app.guests AS g "
            "WHERE g.wedding_id = $1 AND g.full_name = 'Ada Lovelace'",
        )
        reading = read_plan(plan)
        [scan] = reading.seq_scans
        suggestion = suggest_index(
            conn, 42, scan, table_rows=23_000, wedding_columns=SETTINGS.wedding_columns
        )
    assert "Ada Lovelace" in json.dumps(plan)  # the server's plan has it
    assert "Ada" not in scan.filter and "'?'" in scan.filter
    assert scan.equality_columns == ["wedding_id", "full_name"]  # still read from the filter
    summary = plan_summary(reading)
    finding = QueryFinding(42, "SELECT ...", 1, 1.0, 1.0, 1, 1, 1, 1.0, plan=summary)
    report = AdvisorReport(
        "app", NOW, True, queries=[finding], suggestions=[suggestion], named_tables=["app.guests"]
    )
    published = [
        json.dumps(report.to_dict()),
        report_markdown(report),
        json.dumps(report_table(report)),
    ]
    assert suggestion is not None and "'?'" in suggestion.note
    assert not any("Ada" in text for text in published)


# --- pre-wedding optimisation -------------------------------------------------------------


@pytest.fixture(scope="module")
def optimise_app(stats_server: str) -> str:
    url = _new_app_database(stats_server, "wedapp_optimise")
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("CREATE EXTENSION pg_prewarm")
        conn.execute(
            "CREATE MATERIALIZED VIEW app.guest_counts AS "
            "SELECT wedding_id, count(*) AS guests FROM app.guests GROUP BY wedding_id"
        )
        conn.execute(
            "CREATE UNIQUE INDEX guest_counts_wedding_idx ON app.guest_counts (wedding_id)"
        )
        conn.execute("CREATE MATERIALIZED VIEW app.rsvp_counts AS SELECT count(*) FROM app.guests")
    _wedding_day_load(url, rounds=20, seed=3)
    # Index statistics reach pg_stat_user_indexes when the load's backend exits: wait for them.
    with psycopg.connect(url, autocommit=True) as conn:
        for _ in range(100):
            scans = conn.execute(
                "SELECT idx_scan FROM pg_stat_user_indexes "
                "WHERE indexrelname = 'guests_wedding_idx'"
            ).fetchone()[0]
            if scans:
                break
            time.sleep(0.1)
    return url


def _actions(perf_url: str, plan_id: str) -> dict[tuple[str, str], tuple[str, str]]:
    with psycopg.connect(perf_url) as conn:
        rows = conn.execute(
            "SELECT kind, target, outcome, detail, wedding_ids FROM perf.actions "
            "WHERE plan_id = %s",
            (plan_id,),
        ).fetchall()
    assert all(r[4] == ["7"] for r in rows)
    return {(kind, target): (outcome, detail) for kind, target, outcome, detail, _ in rows}


def test_optimisation_steps_are_recorded(optimise_app: str, migrated_database_url: str) -> None:
    settings = AdvisorSettings(
        refresh_views=["app.guest_counts", "app.rsvp_counts", "app.no_such_view"]
    )
    with psycopg.connect(optimise_app) as app_conn, psycopg.connect(migrated_database_url) as perf:
        steps = optimise_database(
            app_conn,
            perf,
            ["app.guests", "app.no_such_table"],
            settings,
            plan_id="opt-1",
            wedding_ids=["7"],
        )
    actions = _actions(migrated_database_url, "opt-1")
    assert len(actions) == len(steps)
    assert actions[("advisor_analyze", "app.guests")] == ("done", "statistics refreshed")
    prewarmed = {t: v for (k, t), v in actions.items() if k == "advisor_prewarm_index"}
    assert "app.guests_wedding_idx" in prewarmed
    assert prewarmed["app.guests_wedding_idx"][0] == "done"
    assert "blocks loaded" in prewarmed["app.guests_wedding_idx"][1]
    assert actions[("advisor_refresh_view", "app.guest_counts")][0] == "done"
    outcome, detail = actions[("advisor_refresh_view", "app.rsvp_counts")]
    assert outcome == "skipped" and "unique index" in detail
    assert actions[("advisor_refresh_view", "app.no_such_view")] == (
        "skipped",
        "relation does not exist",
    )
    assert actions[("advisor_analyze", "app.no_such_table")] == (
        "skipped",
        "relation does not exist",
    )


def test_optimisation_skips_with_reasons(optimise_app: str, migrated_database_url: str) -> None:
    with psycopg.connect(optimise_app) as app_conn, psycopg.connect(migrated_database_url) as perf:
        dry = optimise_database(
            app_conn,
            perf,
            ["app.guests"],
            AdvisorSettings(refresh_views=["app.guest_counts"]),
            plan_id="opt-dry",
            dry_run=True,
            wedding_ids=["7"],
        )
        disabled = optimise_database(
            app_conn,
            perf,
            ["app.guests"],
            AdvisorSettings(analyze_tables=False, prewarm_indexes=False),
            plan_id="opt-off",
            wedding_ids=["7"],
        )
    assert {s.outcome for s in dry} == {"dry-run"}
    assert {(s.kind, s.outcome) for s in disabled} == {
        ("advisor_analyze", "skipped"),
        ("advisor_prewarm_index", "skipped"),
    }
    assert all("disabled" in s.detail for s in disabled)
    assert {v[0] for v in _actions(migrated_database_url, "opt-dry").values()} == {"dry-run"}

    # A role that does not own the tables, in a database without pg_prewarm.
    with psycopg.connect(optimise_app, autocommit=True) as conn:
        conn.execute("DROP EXTENSION pg_prewarm")
        conn.execute("DROP ROLE IF EXISTS advisor_maint")
        conn.execute("CREATE ROLE advisor_maint LOGIN")
        conn.execute("GRANT USAGE ON SCHEMA app TO advisor_maint")
        conn.execute("GRANT SELECT ON ALL TABLES IN SCHEMA app TO advisor_maint")
    maint_url = psycopg.conninfo.make_conninfo(optimise_app, user="advisor_maint")
    try:
        with psycopg.connect(maint_url) as app_conn, psycopg.connect(migrated_database_url) as perf:
            optimise_database(
                app_conn,
                perf,
                ["app.guests"],
                AdvisorSettings(refresh_views=["app.guest_counts"]),
                plan_id="opt-refused",
                wedding_ids=["7"],
            )
    finally:
        with psycopg.connect(optimise_app, autocommit=True) as conn:
            conn.execute("CREATE EXTENSION pg_prewarm")
    actions = _actions(migrated_database_url, "opt-refused")
    outcome, detail = actions[("advisor_analyze", "app.guests")]
    assert outcome == "skipped" and "only table or database owner" in detail
    outcome, detail = actions[("advisor_refresh_view", "app.guest_counts")]
    assert outcome == "skipped" and "must be owner" in detail
    prewarm = [v for (k, _), v in actions.items() if k == "advisor_prewarm_index"]
    assert prewarm and all(
        o == "skipped" and "pg_prewarm is not installed" in d for o, d in prewarm
    )


def test_optimisation_errors_are_failed_steps_and_the_next_steps_run(
    optimise_app: str, migrated_database_url: str
) -> None:
    """REFRESH CONCURRENTLY of an unpopulated view and a cancelled statement are failed steps
    with the error, their transaction rolled back: the steps after them still run."""
    with psycopg.connect(optimise_app, autocommit=True) as conn:
        conn.execute(
            "CREATE MATERIALIZED VIEW app.unpopulated_counts AS "
            "SELECT wedding_id, count(*) AS guests FROM app.guests GROUP BY wedding_id "
            "WITH NO DATA"
        )
        conn.execute("CREATE UNIQUE INDEX ON app.unpopulated_counts (wedding_id)")
        conn.execute(
            "CREATE MATERIALIZED VIEW app.slow_counts AS "
            "SELECT count(*) AS n FROM app.guests, pg_sleep(5) WITH NO DATA"
        )
    # Cancelled by statement_timeout, as a DBA's pg_cancel_backend or a failover would.
    timeout_url = psycopg.conninfo.make_conninfo(optimise_app, options="-c statement_timeout=300")
    try:
        with (
            psycopg.connect(optimise_app) as app_conn,
            psycopg.connect(timeout_url) as slow_conn,
            psycopg.connect(migrated_database_url) as perf,
        ):
            steps = optimise_database(
                app_conn,
                perf,
                ["app.guests"],
                AdvisorSettings(
                    prewarm_indexes=False,
                    refresh_views=["app.unpopulated_counts", "app.guest_counts"],
                ),
                plan_id="opt-errors",
                wedding_ids=["7"],
            )
            cancelled = optimise_database(
                slow_conn,
                perf,
                [],
                AdvisorSettings(
                    refresh_concurrently=False,
                    refresh_views=["app.slow_counts", "app.rsvp_counts"],
                ),
                plan_id="opt-cancelled",
                wedding_ids=["7"],
            )
            assert not app_conn.autocommit and not slow_conn.autocommit  # restored
    finally:
        with psycopg.connect(optimise_app, autocommit=True) as conn:
            conn.execute("DROP MATERIALIZED VIEW app.unpopulated_counts, app.slow_counts")
    assert [s.outcome for s in steps] == ["done", "skipped", "failed", "done"]
    actions = _actions(migrated_database_url, "opt-errors")
    outcome, detail = actions[("advisor_refresh_view", "app.unpopulated_counts")]
    assert outcome == "failed" and detail.startswith("FeatureNotSupported: ")
    assert "not populated" in detail
    assert actions[("advisor_refresh_view", "app.guest_counts")][0] == "done"
    assert actions[("advisor_analyze", "app.guests")][0] == "done"
    actions = _actions(migrated_database_url, "opt-cancelled")
    outcome, detail = actions[("advisor_refresh_view", "app.slow_counts")]
    assert outcome == "failed" and detail.startswith("QueryCanceled: ")
    assert actions[("advisor_refresh_view", "app.rsvp_counts")][0] == "done"
    assert [s.outcome for s in cancelled] == ["failed", "done"]


def test_a_lost_app_connection_fails_each_step_without_raising(
    optimise_app: str, migrated_database_url: str
) -> None:
    with psycopg.connect(optimise_app) as app_conn, psycopg.connect(migrated_database_url) as perf:
        with psycopg.connect(optimise_app, autocommit=True) as admin:
            admin.execute("SELECT pg_terminate_backend(%s)", (app_conn.info.backend_pid,))
        steps = optimise_database(
            app_conn,
            perf,
            ["app.guests"],
            AdvisorSettings(refresh_views=["app.guest_counts"]),
            plan_id="opt-lost",
            wedding_ids=["7"],
        )
    assert steps and all(s.outcome == "failed" for s in steps)
    assert steps[0].detail.startswith("AdminShutdown: terminating connection")
    assert all(s.detail == "OperationalError: the connection is closed" for s in steps[1:])
    actions = _actions(migrated_database_url, "opt-lost")
    assert set(actions) == {(s.kind, s.target) for s in steps}


def test_steps_are_recorded_as_they_complete(
    optimise_app: str, migrated_database_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Whatever stops a run half-way, the steps it already took are in perf.actions."""
    import wedperf.advisor.optimise as optimise

    def broken(*args, **kwargs):
        raise RuntimeError("not a database error")

    monkeypatch.setattr(optimise, "_refresh", broken)
    with (
        psycopg.connect(optimise_app) as app_conn,
        psycopg.connect(migrated_database_url) as perf,
        pytest.raises(RuntimeError),
    ):
        optimise_database(
            app_conn,
            perf,
            ["app.guests"],
            AdvisorSettings(refresh_views=["app.guest_counts"]),
            plan_id="opt-interrupted",
            wedding_ids=["7"],
        )
    actions = _actions(migrated_database_url, "opt-interrupted")
    assert actions[("advisor_analyze", "app.guests")] == ("done", "statistics refreshed")
    assert any(kind == "advisor_prewarm_index" for kind, _ in actions)


# --- command line and flow ------------------------------------------------------------------


@pytest.fixture
def advisor_env(advised: dict, redis_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("WEDPERF_DATABASE_URL", advised["perf_url"])
    monkeypatch.setenv("WEDPERF_APP_DATABASE_URL", advised["app_url"])
    monkeypatch.setenv("WEDPERF_REDIS_URL", redis_url)
    monkeypatch.setenv("WEDPERF_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("WEDPERF_ADVISOR__REGRESSION_MIN_MS", "0.05")
    reset_settings_cache()
    yield advised
    reset_settings_cache()


def test_cli_db_advise_json(advisor_env: dict) -> None:
    result = CliRunner().invoke(app, ["db", "advise", "--json"])
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert data["available"] is True
    assert "FROM app.guests AS g" in data["queries"][0]["query"]
    assert data["queries"][0]["regressed"] is True
    assert [s["ddl"] for s in data["suggestions"]] == [EXPECTED_DDL]


def test_cli_db_advise_without_the_extension(
    advisor_env: dict, migrated_database_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("WEDPERF_APP_DATABASE_URL", migrated_database_url)
    reset_settings_cache()
    result = CliRunner().invoke(app, ["db", "advise", "--json"])
    assert result.exit_code == 1
    data = json.loads(result.stdout)
    assert data["available"] is False and data["reason"] == "not_installed"
    assert "CREATE EXTENSION pg_stat_statements" in data["message"]


@pytest.mark.usefixtures("prefect_harness")
def test_advise_database_flow_publishes_and_optimises(advisor_env: dict) -> None:
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import ArtifactFilter, ArtifactFilterKey

    from flows.advise_database import advise_database

    result = advise_database()
    assert result["available"] and result["suggestions"] == [EXPECTED_DDL]
    assert "app.guests" in result["named_tables"]
    analyzed = {
        s["target"]: s["outcome"]
        for s in result["optimise_steps"]
        if s["kind"] == "advisor_analyze"
    }
    assert analyzed["app.guests"] == "done"
    with get_client(sync_client=True) as client:
        artifacts = client.read_artifacts(
            artifact_filter=ArtifactFilter(
                key=ArtifactFilterKey(any_=["advise-database", "advise-database-queries"])
            )
        )
    assert {a.key for a in artifacts} == {"advise-database", "advise-database-queries"}
    markdown = next(a for a in artifacts if a.key == "advise-database")
    assert EXPECTED_DDL in markdown.data


def test_prewarm_hook_optimises_the_tables_the_advisor_named(advisor_env: dict) -> None:
    from tasks.advisor import optimise_for_weddings
    from wedperf.calendar.model import Wedding

    wedding = Wedding("7", NOW, NOW + timedelta(hours=8), "Europe/London", None, 120, "confirmed")
    steps = optimise_for_weddings.fn([wedding], "prewarm-hook", False)
    with psycopg.connect(advisor_env["perf_url"]) as conn:
        named = latest_report(conn).named_tables
    analyzed = [s.target for s in steps if s.kind == "advisor_analyze"]
    assert analyzed == named and "app.guests" in analyzed
    actions = _actions(advisor_env["perf_url"], "prewarm-hook")
    assert actions[("advisor_analyze", "app.guests")] == ("done", "statistics refreshed")


def test_prewarm_hook_does_nothing_when_the_advisor_is_disabled(
    advisor_env: dict, monkeypatch: pytest.MonkeyPatch
) -> None:
    from tasks.advisor import optimise_for_weddings
    from wedperf.calendar.model import Wedding

    monkeypatch.setenv("WEDPERF_ADVISOR__ENABLED", "false")
    reset_settings_cache()
    with psycopg.connect(advisor_env["perf_url"]) as conn:
        runs = conn.execute("SELECT count(*) FROM perf.advisor_runs").fetchone()[0]
    wedding = Wedding("7", NOW, NOW + timedelta(hours=8), "Europe/London", None, 120, "confirmed")
    [step] = optimise_for_weddings.fn([wedding], "prewarm-hook-off", False)
    assert step.outcome == "skipped" and "advisor.enabled = false" in step.detail
    with psycopg.connect(advisor_env["perf_url"]) as conn:
        assert conn.execute("SELECT count(*) FROM perf.advisor_runs").fetchone()[0] == runs
        assert not conn.execute(
            "SELECT 1 FROM perf.actions WHERE plan_id = 'prewarm-hook-off'"
        ).fetchall()


@pytest.mark.usefixtures("prefect_harness")
def test_advise_database_flow_fails_when_pg_stat_statements_cannot_be_read(
    advisor_env: dict, migrated_database_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import (
        ArtifactFilter,
        ArtifactFilterFlowRunId,
        ArtifactFilterKey,
    )

    from flows.advise_database import advise_database

    monkeypatch.setenv("WEDPERF_APP_DATABASE_URL", migrated_database_url)
    reset_settings_cache()
    state = advise_database(return_state=True)
    assert state.is_failed()
    assert "not_installed" in state.message
    assert "CREATE EXTENSION pg_stat_statements" in state.message
    with get_client(sync_client=True) as client:
        [artifact] = client.read_artifacts(
            artifact_filter=ArtifactFilter(
                key=ArtifactFilterKey(any_=["advise-database"]),
                flow_run_id=ArtifactFilterFlowRunId(any_=[state.state_details.flow_run_id]),
            )
        )
    assert "pg_stat_statements unavailable" in artifact.data
    assert "CREATE EXTENSION pg_stat_statements" in artifact.data


def test_evidence_findings_of_the_span(advised: dict) -> None:
    from wedperf.advisor.evidence import evidence_findings
    from wedperf.config import Settings

    with psycopg.connect(advised["perf_url"]) as conn:
        rows = evidence_findings(
            conn, start=NOW + timedelta(hours=1), end=NOW + timedelta(days=2), settings=Settings()
        )
        before = evidence_findings(
            conn, start=NOW - timedelta(days=1), end=NOW - timedelta(hours=1), settings=Settings()
        )
    assert before == []
    assert len({tuple(r) for r in rows}) == 1  # the same keys in each row
    suggestion, regression = rows
    assert suggestion["table"] == "app.guests" and suggestion["suggestion"] == EXPECTED_DDL
    assert regression["queryid"] == suggestion["queryid"]
    assert regression["finding"].startswith("regressed")
    assert not any("$1" in str(v) for r in rows for v in r.values())  # no statement text
