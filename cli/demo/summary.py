"""The demo's closing summary: where every result is, and what each step stored."""

from __future__ import annotations

from typing import Any

from cli.demo.prefect_server import ui_url
from wedperf.db.connection import connect
from wedperf.db.queries import queries


def summarise(**parts) -> dict[str, Any]:
    services = parts["services"]
    with connect(services.database_url) as conn:
        totals = dict(
            zip(
                ("weddings", "samples", "rollups", "checks", "alerts", "actions", "forecasts"),
                conn.execute(queries("demo")["table_counts"]).fetchone(),
                strict=True,
            )
        )
    seeded, collected, evidence = parts["seeded"], parts["collected"], parts["evidence"]
    lines = [
        f"report: {evidence['html']}",
        f"markdown twin: {evidence['markdown']}; numbers: {evidence['json']}",
        f"Prefect UI: {ui_url(parts['api_url'])} "
        f"({len(parts['deployed']['deployments'])} deployments, runs, artifacts)",
        f"sandbox: {seeded.counts['weddings']} weddings, {seeded.counts['guests']} guests; "
        f"live now: {', '.join(map(str, parts['live_ids']))}",
        f"calendar: {parts['synced']['inserted']} new, {parts['synced']['updated']} updated, "
        f"{parts['synced']['rejected']} rejected",
        f"load: {parts['load'].requests} web requests: "
        + ", ".join(f"{op} p95 {st.p95_ms:.0f} ms" for op, st in parts["load"].operations.items()),
        f"mobile: {parts['mobile'].requests} requests, {parts['mobile'].beacons_stored} RUM "
        f"beacons stored",
        f"pre-warm: guest-list p95 {_ms(parts['prewarm'].get('guest_list_p95_before_ms'))} first "
        f"touch -> {_ms(parts['prewarm'].get('guest_list_p95_after_ms'))} warmed, "
        f"{parts['prewarm'].get('redis_keys', 0)} Redis keys",
        *_effect_lines(parts["prewarm_ab"], parts["capacity"]),
        f"collection: {collected['samples']} samples ({collected['new_samples']} new)",
        f"forecasts: {_forecast_line(parts['forecasts'])}",
        f"plan: {len(parts['plan']['runs'])} scheduled runs for "
        f"{parts['plan']['weddings']} weddings in the horizon",
        f"capacity floor: {parts['floor']['outcome']} "
        f"({parts['floor']['before']} -> {parts['floor']['after']}): {parts['floor']['reason']}",
        f"capacity floor restore: {parts['restore'].get('outcome')}",
        f"worker: {parts['worker']['runs_completed']} flow runs completed, "
        f"{parts['worker']['runs_failed']} failed",
        f"critical path: {parts['watched'].get('weddings', '?')} live weddings checked",
        f"the past: {parts['history']['day']} and this morning modelled: "
        f"{parts['history']['requests']:,} requests of {parts['history']['weddings']} weddings, "
        f"{parts['history']['rounds']} watch rounds; forecast origin "
        f"{parts['history']['forecast_origin']}",
        f"remediation: alert {parts['remediation']['alert_id']} -> "
        f"{parts['remediation']['state']} (verified by {parts['remediation'].get('verified_by')})",
        "perf tables: " + ", ".join(f"{k} {v}" for k, v in totals.items()),
    ]
    return {
        "lines": lines,
        "prefect_ui": ui_url(parts["api_url"]),
        "prefect_api": parts["api_url"],
        "report": evidence["html"],
        "evidence": evidence,
        "totals": totals,
        "live_weddings": parts["live_ids"],
        "remediation": parts["remediation"],
        "prewarm": {
            k: parts["prewarm_ab"][k]
            for k in ("cold_p95_ms", "warm_p95_ms", "warm_weddings", "cold_weddings", "cache_hits")
        },
        "capacity": {
            k: parts["capacity"][k]
            for k in ("floor_before", "floor_after", "p95_before_ms", "p95_after_ms", "operation")
        },
        "worker": parts["worker"],
        "history": {k: v for k, v in parts["history"].items() if k != "rounds_per_wedding"}
        | {"min_rounds": min(parts["history"]["rounds_per_wedding"].values(), default=0)},
        "worker_pid": parts["worker_pid"],  # run_demo: `stopped`, once the worker is
        "after_incident": parts["after_incident"],
        "plan_runs": len(parts["plan"]["runs"]),
        "deployments": parts["deployed"]["deployments"],
        "out": str(parts["out"]),
    }


def _effect_lines(ab: dict[str, Any], capacity: dict[str, Any]) -> list[str]:
    return [
        f"pre-warm A/B: first-touch p95 {_ms(ab['warm_p95_ms'])} pre-warmed vs "
        f"{_ms(ab['cold_p95_ms'])} not ({len(ab['warm_weddings'])} vs "
        f"{len(ab['cold_weddings'])} weddings, one load run)",
        f"capacity: same load, {capacity['operation']} p95 {_ms(capacity['p95_before_ms'])} "
        f"at {capacity['floor_before']} replicas -> {_ms(capacity['p95_after_ms'])} at "
        f"{capacity['floor_after']}",
    ]


def _forecast_line(result: dict[str, Any]) -> str:
    fitted = ", ".join(f"{name} ({fit['model']})" for name, fit in result["series"].items())
    skipped = ", ".join(sorted(result["skipped"]))
    return f"fitted {fitted or 'none'}" + (f"; too short: {skipped}" if skipped else "")


def _ms(value: float | None) -> str:
    return "-" if value is None else f"{value:.0f} ms"
