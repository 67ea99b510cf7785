"""The local Prefect server and process worker of the demo, each started by pid.

The server prefers port 4200 (a stable UI URL across demos) and falls back to a free port.
Its UI is told where its own API is (`PREFECT_UI_API_URL`): without it, `/ui-settings`
answers `http://127.0.0.1:4200/api` whatever the port, and the UI shows "Can't connect to
Server API". Its SQLite database lives in `<data_dir>/prefect` (PREFECT_HOME).

The demo stops the server and worker it started, by their pids (each is the leader of its own
process group, so the uvicorn and flow-run children go too); with `--keep-prefect` both keep
running for the UI; the next demo reuses that server (and stops it at its end, unless kept
again), or replaces it when its UI does not name its API.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import httpx

from wedperf.serving import free_port

STATE_FILE = "demo-server.json"
PREFERRED_PORT = 4200
STARTUP_TIMEOUT_S = 180.0  # a first start migrates SQLite: slow on 2 busy cores
STOP_TIMEOUT_S = 20.0


class PrefectServerError(RuntimeError):
    pass


@dataclass(frozen=True)
class LocalProcess:
    """A process the demo started (`pid`, leader of its own group) and where it logs."""

    pid: int
    log: Path


@dataclass(frozen=True)
class LocalServer:
    home: Path
    api_url: str
    process: LocalProcess | None  # None: reused, and its pid is not known to be the server
    started: bool  # False: a server a previous demo kept (--keep-prefect), reused

    @property
    def ui_url(self) -> str:
        return ui_url(self.api_url)


def prefect_command() -> list[str]:
    """The `prefect` CLI of the interpreter running wedperf."""
    return [sys.executable, "-m", "prefect"]


def server_env(home: Path, api_url: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k != "PREFECT_API_URL"}
    env["PREFECT_HOME"] = str(home)
    env["PREFECT_SERVER_ANALYTICS_ENABLED"] = "false"
    # The UI's API is the server itself, not the default 127.0.0.1:4200.
    env["PREFECT_UI_API_URL"] = api_url
    return env


def healthy(api_url: str) -> bool:
    try:
        return httpx.get(f"{api_url}/health", timeout=2.0).status_code == 200
    except httpx.HTTPError:
        return False


def ui_api_url(api_url: str) -> str | None:
    """The API URL the server's UI uses (`GET <ui>/ui-settings`), or None if unreachable."""
    try:
        answer = httpx.get(f"{ui_url(api_url)}/ui-settings", timeout=5.0)
        answer.raise_for_status()
        return answer.json().get("api_url")
    except (httpx.HTTPError, ValueError):
        return None


def port_free(host: str, port: int) -> bool:
    with socket.socket() as sock:
        try:
            sock.bind((host, port))
        except OSError:
            return False
        return True


def choose_port(host: str, preferred: int = PREFERRED_PORT) -> int:
    return preferred if port_free(host, preferred) else free_port(host)


def ensure_local_server(
    home: Path, *, host: str = "127.0.0.1", preferred_port: int = PREFERRED_PORT
) -> LocalServer:
    """A healthy local server in `home` whose UI names its API, starting one if needed."""
    home.mkdir(parents=True, exist_ok=True)
    state = home / STATE_FILE
    if state.exists():
        kept = json.loads(state.read_text())
        recorded, pid = kept.get("api_url", ""), kept.get("pid")
        if recorded and healthy(recorded) and ui_api_url(recorded) == recorded:
            known = pid is not None and _is_prefect_server(int(pid))
            process = LocalProcess(int(pid), home / "demo-server.log") if known else None
            return LocalServer(home, recorded, process, started=False)
        stop_local_server(home)  # stale, or a server whose UI cannot reach its API
    port = choose_port(host, preferred_port)
    api_url = f"http://{host}:{port}/api"
    log = home / "demo-server.log"
    with log.open("wb") as sink:
        process = subprocess.Popen(
            [*prefect_command(), "server", "start", "--host", host, "--port", str(port)],
            env=server_env(home, api_url),
            stdin=subprocess.DEVNULL,
            stdout=sink,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # its own process group: stopped with its children
        )
    started = LocalProcess(process.pid, log)
    deadline = time.monotonic() + STARTUP_TIMEOUT_S
    while not healthy(api_url):
        if process.poll() is not None or time.monotonic() > deadline:
            stop_process(started)
            raise PrefectServerError(
                f"the local Prefect server on {api_url} did not become healthy within "
                f"{STARTUP_TIMEOUT_S:.0f} s (PREFECT_HOME {home}): {tail(log)}"
            )
        time.sleep(1.0)
    tmp = state.with_suffix(".tmp")
    tmp.write_text(json.dumps({"api_url": api_url, "pid": process.pid}))
    os.replace(tmp, state)
    return LocalServer(home, api_url, started, started=True)


def start_worker(
    pool: str,
    *,
    queues: tuple[str, ...],
    env: dict[str, str],
    cwd: Path,
    log: Path,
    name: str | None = None,
) -> LocalProcess:
    """`prefect worker start --pool <pool> --work-queue ... [--name <name>]` (a process
    worker), polling every second so the demo's runs start at once rather than on the next
    10 s poll. The worker labels each run it takes with its name (`prefect.worker.name`)."""
    env = {
        **env,
        "PREFECT_WORKER_QUERY_SECONDS": "1",
        "PREFECT_WORKER_PREFETCH_SECONDS": "5",
    }
    with log.open("wb") as sink:
        process = subprocess.Popen(
            [
                *prefect_command(),
                *("worker", "start", "--pool", pool, "--type", "process"),
                *(arg for queue in queues for arg in ("--work-queue", queue)),
                *(("--name", name) if name else ()),
            ],
            cwd=cwd,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=sink,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    return LocalProcess(process.pid, log)


def stop_process(process: LocalProcess, timeout: float = STOP_TIMEOUT_S) -> bool:
    """SIGTERM the group led by `process.pid`, SIGKILL after `timeout`; True if it ran."""
    try:
        os.killpg(process.pid, signal.SIGTERM)
    except ProcessLookupError:
        return False
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            # Reap it when it is our child; otherwise just look whether it is gone.
            if os.waitpid(process.pid, os.WNOHANG)[0] == process.pid:
                return True
        except ChildProcessError:
            if not Path(f"/proc/{process.pid}").exists():
                return True
        time.sleep(0.2)
    try:
        os.killpg(process.pid, signal.SIGKILL)
        os.waitpid(process.pid, 0)
    except (ProcessLookupError, ChildProcessError):
        pass
    return True


def stop_local_server(home: Path) -> bool:
    """Stop the server a previous demo kept in `home` (by its recorded pid); True if one was
    stopped."""
    state = home / STATE_FILE
    pid = json.loads(state.read_text()).get("pid") if state.exists() else None
    state.unlink(missing_ok=True)
    if not pid or not _is_prefect_server(int(pid)):
        return False  # gone, or the pid now belongs to another program
    return stop_process(LocalProcess(int(pid), home / "demo-server.log"))


def _is_prefect_server(pid: int) -> bool:
    try:
        argv = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
    except OSError:
        return False
    return b"prefect" in argv and b"server" in argv


def forget_server(home: Path) -> None:
    (home / STATE_FILE).unlink(missing_ok=True)


def tail(log: Path, chars: int = 2000) -> str:
    try:
        return log.read_text(errors="replace").strip()[-chars:]
    except OSError:
        return ""


def ui_url(api_url: str) -> str:
    return api_url.removesuffix("/api")
