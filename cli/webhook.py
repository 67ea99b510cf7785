"""`wedperf webhook ...`: the alert webhook receiver."""

from __future__ import annotations

import typer

from cli._common import fail, quiet_prefect, step

app = typer.Typer(no_args_is_help=True, pretty_exceptions_show_locals=False)


@app.command("serve")
def serve_command(
    host: str = typer.Option("127.0.0.1", "--host", help="address to listen on"),
    port: int = typer.Option(8787, "--port", help="port to listen on"),
    insecure_dev: bool = typer.Option(
        False,
        "--insecure-dev",
        help="development run only: accept alerts without any credential",
    ),
) -> None:
    """Receive alerts (Alertmanager, Grafana, generic JSON) into perf.alerts and dispatch
    remediation runs, until interrupted; RUM beacons on /rum when WEDPERF_RUM__TOKEN is set.
    OpenAPI docs at /docs only with WEDPERF_WEBHOOK__EXPOSE_DOCS=true."""
    import uvicorn

    from wedperf.alerts.app import create_app
    from wedperf.alerts.auth import Credentials, WebhookConfigError
    from wedperf.runtime import SchemaNotReady, get_runtime

    quiet_prefect()
    try:
        runtime = get_runtime()
    except SchemaNotReady as exc:
        fail(str(exc))
    settings = runtime.settings.webhook
    if insecure_dev:
        settings = settings.model_copy(update={"allow_unauthenticated": True})
    try:
        credentials = Credentials.from_settings(settings)
    except WebhookConfigError as exc:
        fail(str(exc))
    if credentials.allow_unauthenticated:
        typer.secho(
            "warning: development run, alerts are accepted WITHOUT authentication",
            fg=typer.colors.YELLOW,
            err=True,
        )
    from prefect.settings import PREFECT_API_URL

    if settings.dispatch_inline and not PREFECT_API_URL.value():
        typer.secho(
            "warning: PREFECT_API_URL is not set: alerts are stored but not dispatched inline; "
            "set it to your Prefect server's API (dispatch-pending-alerts dispatches them)",
            fg=typer.colors.YELLOW,
            err=True,
        )
    try:
        api = create_app(
            runtime.services.database_url, settings, credentials, rum=runtime.settings.rum
        )
    except WebhookConfigError as exc:
        fail(str(exc))
    rum = (
        f"RUM beacons on http://{host}:{port}/rum"
        if api.state.rum is not None
        else "/rum off (set WEDPERF_RUM__TOKEN to take beacons)"
    )
    docs = f"docs: http://{host}:{port}/docs" if settings.expose_docs else "docs off"
    step(
        f"alert webhooks on http://{host}:{port}/alerts/{{alertmanager,grafana,generic}}, "
        f"{rum} ({docs}); remediation runs on {settings.remediation_deployment}"
        + ("" if settings.dispatch_inline else " by the dispatch-pending-alerts flow only")
    )
    uvicorn.run(api, host=host, port=port, log_level="warning", access_log=False)
