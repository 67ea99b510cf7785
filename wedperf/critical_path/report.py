"""How a wedding's round reads in the Prefect UI and on the terminal."""

from __future__ import annotations

import math
import re
from datetime import datetime

import pandas as pd

from wedperf.calendar.model import Wedding
from wedperf.critical_path.checks import CLIENT_GROUPS
from wedperf.critical_path.slo import CHECKS, LATENCY_OPERATIONS

_MARK = {"ok": "✅", "warn": "⚠️", "breach": "🔴"}


def artifact_key(wedding_id: str, suffix: str) -> str:
    """Prefect artifact keys allow lowercase letters, digits and dashes only."""
    slug = re.sub(r"[^a-z0-9]+", "-", wedding_id.lower()).strip("-") or "unnamed"
    return f"wedding-{slug}-{suffix}"


def format_value(check_name: str, value: float) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "—"
    unit = CHECKS[check_name].unit
    if unit in ("ratio", "share"):
        return f"{value:.0%}"
    if unit == "s":
        return f"{value * 1000:.0f} ms" if value < 10 else f"{value:.0f} s"
    if unit == "min":
        return f"{value:.0f} min"
    return f"{value:g} {unit}"


def table_rows(results: pd.DataFrame) -> list[dict[str, str]]:
    """One row per check: check, status, value, warn/breach thresholds, detail."""
    return [
        {
            "check": r.check_name,
            "status": r.status,
            "value": format_value(r.check_name, r.value),
            "warn at": format_value(r.check_name, r.warn_threshold),
            "breach at": format_value(r.check_name, r.threshold),
            "detail": r.detail,
        }
        for r in results.itertuples(index=False)
    ]


def wedding_markdown(wedding: Wedding, results: pd.DataFrame, at: datetime) -> str:
    """A short summary: when, how many guests, what is wrong right now."""
    local = wedding.starts_at.astimezone(wedding.zone)
    counts = results["status"].value_counts()
    worst = "breach" if counts.get("breach") else "warn" if counts.get("warn") else "ok"
    lines = [
        f"# Wedding {wedding.wedding_id} {_MARK[worst]}",
        "",
        f"Ceremony {local:%Y-%m-%d %H:%M} {wedding.timezone} · {wedding.guest_count} guests · "
        f"evaluated {at.astimezone(wedding.zone):%H:%M} local ({at:%H:%M} UTC)",
        "",
    ]
    problems = results[results["status"] != "ok"]
    if problems.empty:
        lines.append("All critical-path checks are within their SLOs.")
    for r in problems.itertuples(index=False):
        lines.append(
            f"- {_MARK[r.status]} **{r.check_name}**: {format_value(r.check_name, r.value)} "
            f"(breach at {format_value(r.check_name, r.threshold)}) — {r.detail}"
        )
    return "\n".join(lines)


def text_table(results: pd.DataFrame) -> str:
    """The table for a terminal."""
    rows = table_rows(results)
    headers = ["check", "status", "value", "warn at", "breach at", "detail"]
    widths = {h: max(len(h), *(len(str(r[h])) for r in rows)) for h in headers[:-1]}
    out = ["  ".join(h.ljust(widths[h]) for h in headers[:-1]) + "  detail"]
    for r in rows:
        out.append("  ".join(str(r[h]).ljust(widths[h]) for h in headers[:-1]) + f"  {r['detail']}")
    return "\n".join(out)


def _p95_cell(p95: float, samples: int) -> str:
    return f"{p95 * 1000:.0f} ms (n={samples})" if p95 < 10 else f"{p95:.1f} s (n={samples})"


def client_rows(by_client: pd.DataFrame, wedding_id: str) -> list[dict[str, str]]:
    """One row per operation: p95 of web, mobile (ios + android), ios, android and all
    clients, each with its sample count ("—" where there were none)."""
    mine = by_client[by_client["wedding_id"] == wedding_id] if not by_client.empty else by_client
    cells = {
        (r.operation, r.client): _p95_cell(float(r.p95), round(r.samples))
        for r in mine.itertuples(index=False)
    }
    rows = []
    for operation in LATENCY_OPERATIONS:
        row = {"operation": operation}
        for group in CLIENT_GROUPS:
            row[f"{group} p95"] = cells.get((operation, group), "—")
        rows.append(row)
    return rows


def client_text_table(by_client: pd.DataFrame, wedding_id: str) -> str:
    """Mobile p95 beside web per operation, for a terminal."""
    rows = client_rows(by_client, wedding_id)
    headers = list(rows[0])
    widths = {h: max(len(h), *(len(r[h]) for r in rows)) for h in headers}
    out = ["  ".join(h.ljust(widths[h]) for h in headers).rstrip()]
    out += ["  ".join(r[h].ljust(widths[h]) for h in headers).rstrip() for r in rows]
    return "\n".join(out)
