"""The `wedperf` command line, in-process, against real PostgreSQL/Redis/Prefect."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest
from typer.testing import CliRunner

from cli import app
from wedperf.config import reset_settings_cache
from wedperf.db.migrate import load_migrations

runner = CliRunner()


@pytest.fixture
def env(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, empty_database_url: str, redis_url: str
) -> Iterator[dict]:
    monkeypatch.setenv("WEDPERF_DATABASE_URL", empty_database_url)
    monkeypatch.setenv("WEDPERF_REDIS_URL", redis_url)
    monkeypatch.setenv("WEDPERF_DATA_DIR", str(tmp_path / "data"))
    reset_settings_cache()
    yield {"db": empty_database_url}
    reset_settings_cache()


def test_db_migrate_twice(env: dict) -> None:
    first = runner.invoke(app, ["db", "migrate"])
    assert first.exit_code == 0, first.output
    names = [f"{m.version:04d}_{m.name}" for m in load_migrations()]
    assert f"applied {len(names)} migration(s): {', '.join(names)}" in first.output
    second = runner.invoke(app, ["db", "migrate"])
    assert second.exit_code == 0, second.output
    assert "schema up to date" in second.output


@pytest.mark.usefixtures("prefect_harness")
def test_doctor_reports_each_part_and_names_the_broken_one(
    env: dict, monkeypatch: pytest.MonkeyPatch
) -> None:
    behind = runner.invoke(app, ["doctor"])
    assert behind.exit_code == 1
    assert "✗ postgresql" in behind.output and "wedperf db migrate" in behind.output

    runner.invoke(app, ["db", "migrate"])
    runner.invoke(app, ["sandbox", "seed", "--weddings", "20", "--days", "10", "--seed", "1"])
    healthy = runner.invoke(app, ["doctor"])
    assert healthy.exit_code == 0, healthy.output
    with psycopg.connect(env["db"]) as conn:
        version = conn.execute("SHOW server_version").fetchone()[0]
    assert f"✓ postgresql: PostgreSQL {version}" in healthy.output
    assert "✓ redis: Redis " in healthy.output
    assert "✓ app database: wedperf_src.weddings has 20 rows" in healthy.output
    assert "calendar sizes weddings by active guests (wedperf_src.guest_engagement)" in (
        healthy.output
    )
    assert "✓ prefect api: Prefect API" in healthy.output
    # Without the optional view, the doctor says the calendar falls back to invited guests.
    with psycopg.connect(env["db"]) as conn:
        conn.execute("DROP VIEW wedperf_src.guest_engagement")
    fallback = runner.invoke(app, ["doctor"])
    assert fallback.exit_code == 0, fallback.output
    assert (
        "calendar sizes weddings by invited guests (no wedperf_src.guest_engagement view)"
        in fallback.output
    )
    # A malformed one is named, by what is wrong with it.
    with psycopg.connect(env["db"]) as conn:
        conn.execute(
            "CREATE VIEW wedperf_src.guest_engagement AS SELECT wedding_id, rsvp FROM app.guests"
        )
    malformed = runner.invoke(app, ["doctor"])
    assert malformed.exit_code == 1, malformed.output
    assert "✗ app database:" in malformed.output
    assert "wedperf_src.guest_engagement lacks a column of the contract" in malformed.output
    with psycopg.connect(env["db"]) as conn:
        conn.execute("DROP VIEW wedperf_src.guest_engagement")

    monkeypatch.setenv("WEDPERF_REDIS_URL", "redis://127.0.0.1:1/0")
    reset_settings_cache()
    broken = runner.invoke(app, ["doctor"])
    assert broken.exit_code == 1
    assert "✗ redis:" in broken.output and "✓ postgresql" in broken.output


def test_unknown_setting_value_is_a_clear_error(env: dict, monkeypatch) -> None:
    monkeypatch.setenv("WEDPERF_SOURCE_SCHEMA", "bad; drop table")
    reset_settings_cache()
    result = runner.invoke(app, ["doctor"])
    assert result.exit_code == 1
    assert "source_schema must be a plain identifier" in result.output
