"""The `wedperf` command line: the layer above the flows.

Commands call the core (`wedperf`) directly, or run a flow of `flows/` where the command is
"run this job once" (calendar sync, collect, plan, forecast fit, evidence --publish, the
demo), so the run shows in Prefect like a deployment's. Nothing in the core imports this
package or the flows.
"""

from __future__ import annotations

import typer

from cli import (
    calendar,
    collect,
    db,
    doctor,
    evidence,
    forecast,
    plan,
    sandbox,
    services,
    slo,
    up,
    watch,
    webhook,
)
from cli.demo.command import demo_command

app = typer.Typer(
    name="wedperf",
    help="Wedding-aware performance monitoring and capacity automation (Prefect 3 flows).",
    no_args_is_help=True,
    pretty_exceptions_show_locals=False,
)
app.add_typer(db.app, name="db", help="wedperf's own PostgreSQL schema.")
app.add_typer(sandbox.app, name="sandbox", help="A realistic wedding platform to run against.")
app.add_typer(calendar.app, name="calendar", help="The wedding calendar.")
app.add_typer(forecast.app, name="forecast", help="Calendar-aware load forecasts.")
app.add_typer(webhook.app, name="webhook", help="Alert webhooks into remediation flows.")
app.add_typer(services.app, name="services", help="Embedded PostgreSQL and Redis.")
app.add_typer(slo.app, name="slo", help="Per-wedding error budgets: rules, stored budgets.")
app.command("collect")(collect.collect_command)
app.command("watch")(watch.watch_command)
app.command("plan")(plan.plan_command)
app.command("doctor")(doctor.doctor_command)
app.command("demo")(demo_command)
app.command("up")(up.up_command)
app.command("evidence")(evidence.evidence_command)
