"""A local Prefect server for the demo: started in the background, reused by later demos.

It outlives the demo on purpose, so the Prefect UI URL the demo prints still shows the runs,
deployments and artifacts afterwards. `stop_local_server` (or `wedperf demo --stop-prefect`)
stops it. Its SQLite database lives in `<data_dir>/prefect` (PREFECT_HOME).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import httpx

from wedperf.serving import free_port

STATE_FILE = "demo-server.json"
STARTUP_TIMEOUT_S = 180.0  # a first start migrates SQLite: slow on 2 busy cores


class PrefectServerError(RuntimeError):
    pass


def prefect_command() -> list[str]:
    """The `prefect` CLI of the interpreter running wedperf."""
    return [sys.executable, "-m", "prefect"]


def server_env(home: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k != "PREFECT_API_URL"}
    env["PREFECT_HOME"] = str(home)
    env["PREFECT_SERVER_ANALYTICS_ENABLED"] = "false"
    return env


def healthy(api_url: str) -> bool:
    try:
        return httpx.get(f"{api_url}/health", timeout=2.0).status_code == 200
    except httpx.HTTPError:
        return False


def ensure_local_server(home: Path, *, host: str = "127.0.0.1") -> tuple[str, bool]:
    """The API URL of a healthy local server in `home`, starting one if needed.
    Returns (api_url, started_now)."""
    home.mkdir(parents=True, exist_ok=True)
    state = home / STATE_FILE
    if state.exists():
        recorded = json.loads(state.read_text()).get("api_url", "")
        if recorded and healthy(recorded):
            return recorded, False
        stop_local_server(home)  # a stale pid file would refuse the new start
    port = free_port(host)
    api_url = f"http://{host}:{port}/api"
    started = subprocess.run(
        [
            *prefect_command(),
            "server",
            "start",
            "--background",
            "--host",
            host,
            "--port",
            str(port),
        ],
        env=server_env(home),
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    if started.returncode != 0:
        raise PrefectServerError(
            f"`prefect server start` failed ({started.returncode}): "
            f"{(started.stdout + started.stderr).strip()[-2000:]}"
        )
    deadline = time.monotonic() + STARTUP_TIMEOUT_S
    while not healthy(api_url):
        if time.monotonic() > deadline:
            stop_local_server(home)
            raise PrefectServerError(
                f"the local Prefect server on {api_url} did not become healthy within "
                f"{STARTUP_TIMEOUT_S:.0f} s (PREFECT_HOME {home})"
            )
        time.sleep(1.0)
    tmp = state.with_suffix(".tmp")
    tmp.write_text(json.dumps({"api_url": api_url}))
    os.replace(tmp, state)
    return api_url, True


def stop_local_server(home: Path) -> bool:
    """Stop the background server of `home` if one runs; True if one was stopped."""
    if not (home / "server.pid").exists():
        (home / STATE_FILE).unlink(missing_ok=True)
        return False
    done = subprocess.run(
        [*prefect_command(), "server", "stop"],
        env=server_env(home),
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    (home / STATE_FILE).unlink(missing_ok=True)
    return done.returncode == 0


def ui_url(api_url: str) -> str:
    return api_url.removesuffix("/api")
