"""The demo's local Prefect server, looked at in headless Chromium as a person would.

The server is started the way `wedperf demo` starts it, on a port that is not 4200, so a UI
that still pointed at the default `http://127.0.0.1:4200/api` would show no data. A flow run
with a markdown artifact and a deployment are made on it by a separate process; the pages
are then rendered and read: the deployments page must list the deployment, the flow run's
Artifacts tab must show the artifact.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from cli.demo.prefect_server import (
    ensure_local_server,
    forget_server,
    healthy,
    stop_process,
    ui_api_url,
)
from wedperf.serving import free_port

ROOT = Path(__file__).resolve().parents[1]
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(
        CHROMIUM is None, reason="chromium not installed (apt-get install chromium)"
    ),
]

DEPLOYMENT = "ui-check-deployment"
ARTIFACT = "ui-check-report"
MAKE_RUN = f"""
from prefect import flow
from prefect.artifacts import create_markdown_artifact
from prefect.client.orchestration import get_client
from prefect.runtime import flow_run


@flow(name="ui-check")
def ui_check():
    create_markdown_artifact(key="{ARTIFACT}", markdown="# what the UI must show")
    return flow_run.id


with get_client(sync_client=True) as client:
    client.create_deployment(
        flow_id=client.create_flow_from_name("ui-check"), name="{DEPLOYMENT}"
    )
print("RUN", ui_check())
"""


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory):
    home = tmp_path_factory.mktemp("prefect-home")
    started = ensure_local_server(home, preferred_port=free_port())
    assert started.started and started.process is not None
    try:
        env = {k: v for k, v in os.environ.items() if not k.startswith("PREFECT_")}
        env.update(
            PREFECT_API_URL=started.api_url,
            PREFECT_HOME=str(home / "client"),
            PREFECT_SERVER_ANALYTICS_ENABLED="false",
        )
        made = subprocess.run(
            [sys.executable, "-c", MAKE_RUN],
            cwd=ROOT,
            env=env,
            capture_output=True,
            text=True,
            timeout=180,
            check=False,
        )
        assert made.returncode == 0, made.stdout[-2000:] + made.stderr[-2000:]
        run_id = re.search(r"^RUN (\S+)$", made.stdout, re.MULTILINE).group(1)
        yield started, run_id
    finally:
        stop_process(started.process)
        forget_server(home)
    assert not healthy(started.api_url), "the server outlived stop_process"


def render(url: str, home: Path) -> str:
    """The DOM after the single-page app has loaded its data, as plain text."""
    done = subprocess.run(
        [
            CHROMIUM,
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--window-size=1400,1000",
            "--virtual-time-budget=20000",
            "--dump-dom",
            url,
        ],
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, "HOME": str(home)},
        check=False,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", done.stdout))


def test_ui_settings_name_the_servers_own_api(server) -> None:
    started, _ = server
    assert not started.api_url.endswith(":4200/api")  # the default would hide a missing setting
    assert ui_api_url(started.api_url) == started.api_url
    settings = httpx.get(f"{started.ui_url}/ui-settings", timeout=10).json()
    assert settings["api_url"] == started.api_url


@pytest.mark.parametrize("base", ["", "/v2"], ids=["ui-v1", "ui-v2"])
def test_deployments_page_lists_the_deployment(server, base: str, tmp_path: Path) -> None:
    started, _ = server
    text = render(f"{started.ui_url}{base}/deployments", tmp_path)
    assert "Can't connect to Server API" not in text
    assert DEPLOYMENT in text, text[-1500:]
    assert "1 Deployment" in text


def test_flow_run_page_shows_the_runs_artifact(server, tmp_path: Path) -> None:
    started, run_id = server
    text = render(f"{started.ui_url}/v2/runs/flow-run/{run_id}?tab=Artifacts", tmp_path)
    assert "Can't connect to Server API" not in text
    assert "Completed" in text and "ui-check" in text
    assert ARTIFACT in text, text[-1500:]
    assert "did not produce any artifacts" not in text
