"""`wedperf slo rules`: Prometheus rules checked (and their alerts exercised) by promtool, and
OpenSLO v1 documents, for the weddings in perf.weddings.

promtool comes with Debian's `prometheus` package (`.ci/run` installs it); the tests that run
it are skipped, with the reason, where it is absent.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import psycopg
import pytest
import yaml
from typer.testing import CliRunner

from cli import app
from wedperf.calendar.model import Wedding
from wedperf.config import Settings, reset_settings_cache
from wedperf.doctor import run_checks
from wedperf.slo.rules import dump_yaml, le_matcher, prometheus_rules, with_matchers

PROMTOOL = shutil.which("promtool")
PROMETHEUS = shutil.which("prometheus")
needs_promtool = pytest.mark.skipif(
    PROMTOOL is None, reason="promtool not on PATH (apt-get install prometheus)"
)
CEREMONY = datetime(2026, 10, 17, 20, 0, tzinfo=UTC)


@pytest.fixture
def calendar_env(
    migrated_database_url: str, redis_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> str:
    with psycopg.connect(migrated_database_url) as conn:
        for wedding_id, guests, zone, cancelled in [
            ("1001", 150, "America/New_York", False),
            ("w-2002", 40, "Europe/London", False),
            ("3003", 80, "America/Chicago", True),
        ]:
            conn.execute(
                "INSERT INTO perf.weddings (wedding_id, source, starts_at, ends_at, timezone, "
                "venue, guest_count, status) VALUES (%s, 'test', %s, %s, %s, NULL, %s, %s)",
                (
                    wedding_id,
                    CEREMONY,
                    CEREMONY + timedelta(hours=6),
                    zone,
                    guests,
                    "cancelled" if cancelled else "confirmed",
                ),
            )
    monkeypatch.setenv("WEDPERF_DATABASE_URL", migrated_database_url)
    monkeypatch.setenv("WEDPERF_REDIS_URL", redis_url)
    monkeypatch.setenv("WEDPERF_DATA_DIR", str(tmp_path / "data"))
    reset_settings_cache()
    yield migrated_database_url
    reset_settings_cache()


def cli_rules(tmp_path: Path, output_format: str) -> str:
    out = tmp_path / f"rules.{output_format}.yaml"
    result = CliRunner().invoke(
        app,
        [
            "slo",
            "rules",
            "--format",
            output_format,
            "--from",
            (CEREMONY - timedelta(hours=6)).isoformat(),
            "--hours",
            "12",
            "--out",
            str(out),
        ],
    )
    assert result.exit_code == 0, result.output
    # The command used the test's Redis (WEDPERF_REDIS_URL), not an embedded one of its own.
    assert not (tmp_path / "data" / "redis").exists()
    return out.read_text()


def test_matchers_and_le_spellings() -> None:
    assert with_matchers('h_bucket{op="a"}', ['w="1"']) == 'h_bucket{op="a",w="1"}'
    assert with_matchers("h_bucket", ['w="1"']) == 'h_bucket{w="1"}'
    assert with_matchers("h_bucket{}", ['w="1"']) == 'h_bucket{w="1"}'
    assert le_matcher(0.5) == 'le="0.5"'
    # Python's client writes "1.0", Go's "1": both are the same bucket.
    assert le_matcher(1.0) == 'le=~"1|1\\\\.0"'


@needs_promtool
def test_promtool_accepts_the_generated_rules(calendar_env: str, tmp_path: Path) -> None:
    text = cli_rules(tmp_path, "prometheus")
    rules = yaml.safe_load(text)
    names = [g["name"] for g in rules["groups"]]
    assert names == ["wedperf-slo-wedding-1001", "wedperf-slo-wedding-w-2002"]  # not cancelled
    check = subprocess.run(
        [PROMTOOL, "check", "rules", str(tmp_path / "rules.prometheus.yaml")],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert check.returncode == 0, check.stdout + check.stderr
    assert "SUCCESS" in check.stdout
    group = rules["groups"][0]
    alerts = [r for r in group["rules"] if "alert" in r]
    assert {(a["labels"]["slo"], a["labels"]["severity"]) for a in alerts} >= {
        ("guest-list-latency", "page"),
        ("guest-list-latency", "ticket"),
    }
    opens, closes = CEREMONY - timedelta(hours=3), CEREMONY + timedelta(hours=6)
    window = (
        f"vector(time()) >= {opens.timestamp():.0f} and vector(time()) < {closes.timestamp():.0f}"
    )
    recording = [r for r in group["rules"] if "record" in r and "increase1m" in r["record"]]
    assert recording and all(window in r["expr"] for r in recording)  # active only inside
    assert all(r["labels"]["wedding_id"] == "1001" for r in group["rules"])


@pytest.mark.parametrize(("scrape_s", "shortest"), [(60, 4), (15, 1), (30, 2), (90, 6)])
def test_rule_ranges_span_at_least_four_scrape_intervals(scrape_s: float, shortest: int) -> None:
    # rate()/increase() over a range of one or two samples extrapolates from almost nothing
    # (or returns nothing): every range is at least 4 scrape intervals, whatever the rule
    # interval (1 m) or the short span (2 m for a 9-hour window).
    wedding = Wedding("r1", CEREMONY, CEREMONY + timedelta(hours=6), "UTC", None, 150, "confirmed")
    settings = Settings(prometheus={"scrape_interval_seconds": scrape_s})
    rules, _ = prometheus_rules([wedding], settings)
    exprs = [r["expr"] for r in rules["groups"][0]["rules"] if "record" in r]
    ranges = [
        int(m) for e in exprs for m in re.findall(r"(?:rate|increase)\([^()]*\[(\d+)m\]\)", e)
    ]
    assert ranges and min(ranges) == shortest
    assert min(ranges) * 60 >= 4 * scrape_s
    # A span longer than that keeps its own range: the fast window's 8 minutes, say.
    assert 8 in ranges


@needs_promtool
def test_the_rules_page_on_a_regression_inside_the_window_only(tmp_path: Path) -> None:
    # A wedding whose day window is [00:00, 09:00) on promtool's clock (which starts at 0),
    # 100 guest-list requests a minute; from minute 300 to 330 one in ten is slow, and again
    # from 545 to 575, after the window has closed.
    opens = datetime(1970, 1, 1, tzinfo=UTC)
    wedding = Wedding(
        "t1", opens + timedelta(hours=3), opens + timedelta(hours=9), "UTC", None, 150, "confirmed"
    )
    settings = Settings()
    settings.slo.definitions = [settings.slo.definition("guest-list-latency")]
    rules, _ = prometheus_rules([wedding], settings)
    (tmp_path / "rules.yaml").write_text(dump_yaml(rules))
    good, total, counted_good = [], [], 0
    for minute in range(601):
        total.append(100 * minute)
        good.append(counted_good)
        counted_good += 90 if 300 <= minute < 330 or 545 <= minute < 575 else 100
    selector = 'wedapp_request_duration_seconds_bucket{operation="guest_list",wedding_id="t1"'
    generated = {r["labels"]["severity"]: r for r in rules["groups"][0]["rules"] if "alert" in r}

    def expected(severity: str) -> dict:
        rule = generated[severity]
        return {
            "exp_labels": {"alertname": "WeddingErrorBudgetBurn", **rule["labels"]},
            "exp_annotations": rule["annotations"],
        }

    test = {
        "rule_files": ["rules.yaml"],
        "evaluation_interval": "1m",
        "tests": [
            {
                "interval": "1m",
                "input_series": [
                    {"series": selector + ',le="1.0"}', "values": " ".join(map(str, good))},
                    {"series": selector + ',le="+Inf"}', "values": " ".join(map(str, total))},
                ],
                "alert_rule_test": [
                    {"eval_time": "295m", "alertname": "WeddingErrorBudgetBurn", "exp_alerts": []},
                    # Six minutes in: the fast window pages (a burn of 10x).
                    {
                        "eval_time": "306m",
                        "alertname": "WeddingErrorBudgetBurn",
                        "exp_alerts": [expected("page")],
                    },
                    # Twenty minutes after it ended, the page has resolved; the ticket (30 min
                    # at 10x is 1.7x over its 180 min) holds while its 15 min span still burns.
                    {
                        "eval_time": "350m",
                        "alertname": "WeddingErrorBudgetBurn",
                        "exp_alerts": [expected("ticket")],
                    },
                    {"eval_time": "400m", "alertname": "WeddingErrorBudgetBurn", "exp_alerts": []},
                    # After the window closed the rules produce nothing: no page, however bad.
                    {"eval_time": "560m", "alertname": "WeddingErrorBudgetBurn", "exp_alerts": []},
                ],
            }
        ],
    }
    (tmp_path / "test.yaml").write_text(yaml.safe_dump(test, sort_keys=False))
    run = subprocess.run(
        [PROMTOOL, "test", "rules", "test.yaml"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert run.returncode == 0, run.stdout + run.stderr


def test_openslo_documents_parse_as_openslo_v1(calendar_env: str, tmp_path: Path) -> None:
    documents = list(yaml.safe_load_all(cli_rules(tmp_path, "openslo")))
    assert {d["apiVersion"] for d in documents} == {"openslo/v1"}
    kinds = [d["kind"] for d in documents]
    assert kinds.count("Service") == 1 and kinds.count("AlertNotificationTarget") == 1
    slos = [d for d in documents if d["kind"] == "SLO"]
    assert {d["metadata"]["labels"]["wedding_id"] for d in slos} == {"1001", "w-2002"}
    for d in documents:  # RFC 1123 names, as the spec asks every implementation to support
        assert re.fullmatch(r"[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?", d["metadata"]["name"])
    guest = next(
        d
        for d in slos
        if d["metadata"]["labels"] == {**d["metadata"]["labels"], "slo": "guest-list-latency"}
        and d["metadata"]["labels"]["wedding_id"] == "1001"
    )
    spec = guest["spec"]
    assert spec["budgetingMethod"] == "Occurrences"
    assert spec["objectives"] == [{"displayName": "99.00% within 1 s", "target": 0.99}]
    # The day window as a calendar-aligned window: 13:00 in New York, 9 hours.
    assert spec["timeWindow"] == [
        {
            "duration": "540m",
            "calendar": {"startTime": "2026-10-17 13:00:00", "timeZone": "America/New_York"},
            "isRolling": False,
        }
    ]
    ratio = spec["indicator"]["spec"]["ratioMetric"]
    assert ratio["counter"] is True
    assert 'wedding_id="1001"' in ratio["good"]["metricSource"]["spec"]["query"]
    assert 'le="+Inf"' in ratio["total"]["metricSource"]["spec"]["query"]
    conditions = [p["spec"]["conditions"][0]["spec"] for p in spec["alertPolicies"]]
    assert [(c["severity"], c["condition"]["threshold"]) for c in conditions] == [
        ("page", 4),
        ("page", 2.5),
        ("ticket", 1),
    ]
    assert all(len(p["spec"]["description"]) <= 1050 for p in spec["alertPolicies"])
    # OpenSLO v1 AlertCondition, kind burnrate: op (lte|gte|lt|gt), threshold, lookbackWindow
    # and alertAfter are all required; a burn at the threshold fires, so the operator is gte.
    for c in conditions:
        assert set(c["condition"]) == {"kind", "op", "threshold", "lookbackWindow", "alertAfter"}
        assert c["condition"]["kind"] == "burnrate" and c["condition"]["op"] == "gte"
        assert re.fullmatch(r"\d+m", c["condition"]["lookbackWindow"])


@pytest.mark.skipif(
    PROMETHEUS is None, reason="prometheus not on PATH (apt-get install prometheus)"
)
def test_doctor_compares_the_scrape_interval_with_prometheus_targets(
    tmp_path: Path, redis_url: str
) -> None:
    from wedperf.doctor import scrape_interval
    from wedperf.serving import free_port

    port = free_port()
    config = tmp_path / "prometheus.yml"
    config.write_text(  # Prometheus scraping itself every 30 s
        "global:\n  scrape_interval: 30s\nscrape_configs:\n  - job_name: self\n"
        f"    static_configs:\n      - targets: ['127.0.0.1:{port}']\n"
    )
    process = subprocess.Popen(
        [
            PROMETHEUS,
            f"--config.file={config}",
            f"--storage.tsdb.path={tmp_path / 'tsdb'}",
            f"--web.listen-address=127.0.0.1:{port}",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                # Ready, and its target discovered (a few seconds after start).
                targets = httpx.get(f"{url}/api/v1/targets", timeout=1).json()
                if targets["data"]["activeTargets"]:
                    break
            except (httpx.HTTPError, ValueError):
                pass
            assert time.monotonic() < deadline, "Prometheus did not discover its target"
            time.sleep(0.2)
        too_fast = Settings(prometheus={"url": url, "scrape_interval_seconds": 15})
        with pytest.raises(RuntimeError, match=r"job self is scraped every 30 s.*=30"):
            scrape_interval(too_fast)
        matching = Settings(prometheus={"url": url, "scrape_interval_seconds": 30})
        assert "every 30 s at most" in scrape_interval(matching)
        assert "over 2 m or more" in scrape_interval(matching)
        # As `wedperf doctor` reports it (given URLs, so it starts no embedded service).
        given = {"database_url": "postgresql://postgres@127.0.0.1:1/none", "redis_url": redis_url}
        checks = {c.part: c for c in run_checks(too_fast.model_copy(update=given))}
    finally:
        process.terminate()
        process.wait(timeout=20)
    assert not checks["prometheus scrape interval"].ok


def _gate(opens: datetime, closes: datetime) -> str:
    return (
        f"and on() (vector(time()) >= {opens.timestamp():.0f} "
        f"and vector(time()) < {closes.timestamp():.0f})"
    )


def test_every_generated_rule_is_gated_to_the_day_window() -> None:
    # Every recording and alerting rule, the budget left and the exhaustion burn included,
    # ends with the window's gate: outside the day window none of them produces a sample.
    wedding = Wedding("g1", CEREMONY, CEREMONY + timedelta(hours=6), "UTC", None, 150, "confirmed")
    rules, _ = prometheus_rules([wedding], Settings())
    gate = _gate(CEREMONY - timedelta(hours=3), CEREMONY + timedelta(hours=6))
    every = rules["groups"][0]["rules"]
    assert {r.get("record") for r in every} >= {
        "wedperf_slo:error_budget_remaining",
        "wedperf_slo:exhaustion_burn",
    }
    ungated = [r.get("record") or r.get("alert") for r in every if not r["expr"].endswith(gate)]
    assert ungated == []


@needs_promtool
def test_recording_rules_produce_nothing_outside_the_window(tmp_path: Path) -> None:
    # promtool's clock starts at 0: the day window is [00:00, 09:00). Inside it the budget
    # left and the exhaustion burn have a sample; after the close (and the ranges that still
    # hold samples from inside) neither has one.
    opens = datetime(1970, 1, 1, tzinfo=UTC)
    wedding = Wedding(
        "t2", opens + timedelta(hours=3), opens + timedelta(hours=9), "UTC", None, 150, "confirmed"
    )
    settings = Settings()
    settings.slo.definitions = [settings.slo.definition("guest-list-latency")]
    rules, _ = prometheus_rules([wedding], settings)
    (tmp_path / "rules.yaml").write_text(dump_yaml(rules))
    selector = 'wedapp_request_duration_seconds_bucket{operation="guest_list",wedding_id="t2"'
    total = " ".join(str(100 * m) for m in range(661))
    good = " ".join(str(99 * m) for m in range(661))  # 1% slow all day: burn 1x
    labels = {"slo": "guest-list-latency", "wedding_id": "t2"}

    def expect(expr: str, at: str, samples: list) -> dict:
        return {"expr": expr, "eval_time": at, "exp_samples": samples}

    test = {
        "rule_files": ["rules.yaml"],
        "evaluation_interval": "1m",
        "tests": [
            {
                "interval": "1m",
                "input_series": [
                    {"series": selector + ',le="1.0"}', "values": good},
                    {"series": selector + ',le="+Inf"}', "values": total},
                ],
                "promql_expr_test": [
                    # Half-way through, at 1x, about half the budget is left: 1 - 1 x 270/540.
                    expect(
                        "round(wedperf_slo:error_budget_remaining, 0.05)",
                        "270m",
                        [{"labels": f'{{slo="{labels["slo"]}",wedding_id="t2"}}', "value": 0.5}],
                    ),
                    expect(
                        "count(wedperf_slo:exhaustion_burn)", "270m", [{"labels": "{}", "value": 1}]
                    ),
                    expect("wedperf_slo:error_budget_remaining", "560m", []),
                    expect("wedperf_slo:exhaustion_burn", "560m", []),
                    expect("wedperf_slo:sli_events:increase1m", "600m", []),
                ],
            }
        ],
    }
    (tmp_path / "test.yaml").write_text(yaml.safe_dump(test, sort_keys=False))
    run = subprocess.run(
        [PROMTOOL, "test", "rules", "test.yaml"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert run.returncode == 0, run.stdout + run.stderr
