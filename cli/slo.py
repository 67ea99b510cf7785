"""`wedperf slo ...`: the per-wedding SLOs as Prometheus rules or OpenSLO documents; a
wedding's stored error budgets."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import typer

from cli._common import fail, step

app = typer.Typer(no_args_is_help=True)


def _instant(value: datetime | None) -> datetime:
    if value is None:
        return datetime.now(UTC)
    return value if value.tzinfo else value.replace(tzinfo=UTC)


@app.command("rules")
def rules_command(
    output_format: str = typer.Option(
        "prometheus", "--format", help="prometheus (rule file) or openslo (v1 documents)"
    ),
    hours: float = typer.Option(
        48, "--hours", min=0.1, help="day windows overlapping the next N hours"
    ),
    start: datetime = typer.Option(
        None, "--from", help="start of the span instead of now (ISO; naive = UTC)"
    ),
    out: Path | None = typer.Option(None, "--out", help="write here instead of stdout"),
) -> None:
    """The SLOs of the upcoming wedding days (from perf.weddings) as Prometheus recording and
    alerting rules, one group per wedding active only inside its day window, or as OpenSLO
    v1 SLO documents with one-off calendar windows."""
    from wedperf.calendar.sync import weddings_in_day_windows
    from wedperf.runtime import get_runtime
    from wedperf.slo.openslo import openslo_documents
    from wedperf.slo.rules import dump_yaml, prometheus_rules

    if output_format not in ("prometheus", "openslo"):
        raise typer.BadParameter("must be prometheus or openslo", param_hint="--format")
    runtime = get_runtime()
    settings = runtime.settings
    begin = _instant(start)
    with runtime.pool.connection() as conn:
        weddings = weddings_in_day_windows(conn, begin, begin + timedelta(hours=hours), settings)
    if output_format == "prometheus":
        rules, skipped = prometheus_rules(weddings, settings)
        text = dump_yaml(rules)
        count = f"{len(rules['groups'])} wedding rule groups"
    else:
        documents, skipped = openslo_documents(weddings, settings)
        text = dump_yaml(documents, many=True)
        count = f"{len(documents) - 2} SLO documents"
    if skipped:
        step(f"no Prometheus histogram for the operation of: {', '.join(skipped)} (left out)")
    step(f"{count} for {len(weddings)} weddings in the next {hours:g} h")
    if out is None:
        typer.echo(text, nl=False)
    else:
        out.write_text(text)
        step(f"wrote {out}")


@app.command("budgets")
def budgets_command(
    wedding: str = typer.Option(..., "--wedding", help="wedding id (as in perf.weddings)"),
    at: datetime = typer.Option(
        None, "--at", help="the stored round at or before this instant (ISO; default: latest)"
    ),
) -> None:
    """A wedding's stored error budgets: the latest round's table (or the round at or before
    --at) and how many rounds are stored."""
    from wedperf.calendar.sync import weddings_by_id
    from wedperf.runtime import get_runtime
    from wedperf.slo.store import stored_budgets

    runtime = get_runtime()
    with runtime.pool.connection() as conn:
        if not weddings_by_id(conn, [wedding]):
            fail(f"no wedding {wedding!r} in perf.weddings (run `wedperf calendar sync`)")
        rows = stored_budgets(conn, [wedding])
    if at is not None:
        rows = [r for r in rows if r["evaluated_at"] <= _instant(at)]
    if not rows:
        fail(f"no error budgets stored for wedding {wedding} (watch rounds write them)", code=2)
    latest = max(r["evaluated_at"] for r in rows)
    rounds = len({r["evaluated_at"] for r in rows})
    typer.echo(f"wedding {wedding}: round at {latest:%Y-%m-%d %H:%M} UTC ({rounds} rounds stored)")
    order = {name: i for i, name in enumerate(runtime.settings.slo.names)}
    shown = sorted(
        (r for r in rows if r["evaluated_at"] == latest),
        key=lambda r: (order.get(r["slo"], len(order)), r["slo"]),
    )
    headers = ["slo", "objective", "events", "bad", "consumed", "remaining", "burn", "alert"]
    table = [
        [
            r["slo"],
            f"{r['objective']:.2%} <= {r['threshold_s']:g} s",
            f"{r['events']:,.0f}",
            f"{r['bad_events']:,.0f}",
            ("~" if _provisional(r, runtime.settings) else "") + f"{r['consumed']:.1%}",
            ("~" if _provisional(r, runtime.settings) else "") + f"{r['remaining']:.1%}",
            "—" if r["burn_rate"] is None else f"{r['burn_rate']:.2f}x",
            "page" if r["page"] else "ticket" if r["ticket"] else "ok",
        ]
        for r in shown
    ]
    widths = [max(len(h), *(len(row[i]) for row in table)) for i, h in enumerate(headers)]
    typer.echo("  ".join(h.ljust(w) for h, w in zip(headers, widths, strict=True)).rstrip())
    for row in table:
        typer.echo("  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip())
    if any(_provisional(r, runtime.settings) for r in shown):
        from wedperf.slo.report import PROVISIONAL_NOTE

        typer.echo(PROVISIONAL_NOTE)


def _provisional(row: dict, settings) -> bool:
    """As Budget.provisional: a round before the close with fewer events than the SLO's
    minimum count."""
    if row["evaluated_at"] >= row["window_end"]:
        return False
    try:
        needed = settings.slo.definition(row["slo"]).events_needed(row["objective"])
    except KeyError:  # an SLO no longer configured
        return False
    return 0 < row["events"] < needed
