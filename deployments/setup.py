"""What `prefect deploy --all` needs on a Prefect server, set up idempotently.

- the process work pool every deployment in prefect.yaml names, with the base job template in
  `deployments/process-pool.json`;
- its work queues: `default` first, `remediation` after it and capped, so an alert storm
  cannot take the worker slots the per-minute collection and watch rounds need;
- the global concurrency limits the remediate-alert flow acts within (names from the
  `remediation` settings: how many act at once, how many start per minute);
- then `prefect deploy --all --no-prompt`, the real CLI, from the project root.

Run from a checkout, against the server in PREFECT_API_URL:

    uv run python -m deployments.setup [--project-dir /opt/wedperf] [--skip-deploy]

Re-running converges: a missing pool or limit is created, one that differs from the
declaration is updated, an equal one is left alone; deployments are upserted by name.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml
from prefect.client.orchestration import SyncPrefectClient, get_client
from prefect.client.schemas.actions import (
    GlobalConcurrencyLimitCreate,
    GlobalConcurrencyLimitUpdate,
    WorkPoolCreate,
    WorkPoolUpdate,
)
from prefect.exceptions import ObjectNotFound

ROOT = Path(__file__).resolve().parents[1]
PREFECT_FILE = ROOT / "prefect.yaml"
POOL_TEMPLATE = Path(__file__).with_name("process-pool.json")
POOL_TYPE = "process"
POOL_DESCRIPTION = (
    "wedperf flows (prefect.yaml). Workers: `uv run prefect worker start --pool <name>` in a "
    "wedperf checkout with WEDPERF_PROJECT_DIR and the WEDPERF_* settings in the environment."
)

# Defaults of the remediation budget (README, "Remediation").
REMEDIATION_AT_ONCE = 2
REMEDIATION_PER_MINUTE = 10


@dataclass(frozen=True)
class WorkQueue:
    """A queue of the work pool; workers take runs from lower `priority` numbers first."""

    name: str
    priority: int
    concurrency_limit: int | None
    description: str


WORK_QUEUES = (
    WorkQueue(
        "default",
        1,
        None,
        "Collection, watch rounds, planning, pre-warm, capacity floors, forecasts.",
    ),
    WorkQueue(
        "remediation",
        10,
        4,
        "remediate-alert runs: after the default queue, at most 4 at once, so an alert "
        "storm never holds every worker slot on a wedding day.",
    ),
)


@dataclass(frozen=True)
class ConcurrencyLimit:
    """A Prefect global concurrency limit; with slot decay it is a rate limit."""

    name: str
    limit: int
    slot_decay_per_second: float = 0.0


def work_pool_name(prefect_file: Path = PREFECT_FILE) -> str:
    """The one work pool every deployment in `prefect_file` runs on."""
    deployments = yaml.safe_load(prefect_file.read_text())["deployments"]
    names = {(d.get("work_pool") or {}).get("name") for d in deployments}
    if len(names) != 1 or None in names:
        raise ValueError(f"{prefect_file}: expected one work pool for every deployment: {names}")
    return names.pop()


def base_job_template(project_dir: str | Path | None = None) -> dict[str, Any]:
    """The process pool's base job template; with `project_dir` (the checkout on every
    worker host), flow runs start in it rather than in a temporary directory."""
    template = json.loads(POOL_TEMPLATE.read_text())
    if project_dir is not None:
        template["variables"]["properties"]["working_dir"]["default"] = str(project_dir)
    return template


def remediation_limits(
    at_once: int = REMEDIATION_AT_ONCE, per_minute: int = REMEDIATION_PER_MINUTE
) -> list[ConcurrencyLimit]:
    """The limits remediate-alert acquires, named as the `remediation` settings say."""
    from wedperf.config import Settings

    settings = Settings().remediation
    return [
        ConcurrencyLimit(settings.concurrency_limit, at_once),
        # `per_minute` slots, each freed 60/per_minute seconds after it was taken.
        ConcurrencyLimit(settings.rate_limit, per_minute, round(per_minute / 60, 4)),
    ]


def ensure_work_pool(client: SyncPrefectClient, name: str, template: dict[str, Any]) -> str:
    """Create the process work pool, or bring its base job template up to date.
    Returns "created", "updated" or "unchanged"."""
    try:
        pool = client.read_work_pool(name)
    except ObjectNotFound:
        client.create_work_pool(
            WorkPoolCreate(
                name=name,
                type=POOL_TYPE,
                base_job_template=template,
                description=POOL_DESCRIPTION,
            )
        )
        return "created"
    if pool.type != POOL_TYPE:
        raise ValueError(
            f"work pool {name!r} exists with type {pool.type!r}; wedperf's deployments need a "
            f"{POOL_TYPE!r} pool (delete it or name another pool in prefect.yaml)"
        )
    if pool.base_job_template == template and pool.description == POOL_DESCRIPTION:
        return "unchanged"
    client.update_work_pool(
        name, WorkPoolUpdate(base_job_template=template, description=POOL_DESCRIPTION)
    )
    return "updated"


def ensure_work_queues(
    client: SyncPrefectClient, pool: str, queues: tuple[WorkQueue, ...] = WORK_QUEUES
) -> dict[str, str]:
    """Create each work queue of the pool, or set its priority, limit and description.
    Returns name -> "created", "updated" or "unchanged"."""
    outcome: dict[str, str] = {}
    for wanted in queues:
        fields = {
            "priority": wanted.priority,
            "concurrency_limit": wanted.concurrency_limit,
            "description": wanted.description,
        }
        try:
            existing = client.read_work_queue_by_name(wanted.name, work_pool_name=pool)
        except ObjectNotFound:
            client.create_work_queue(wanted.name, work_pool_name=pool, **fields)
            outcome[wanted.name] = "created"
            continue
        if all(getattr(existing, key) == value for key, value in fields.items()):
            outcome[wanted.name] = "unchanged"
            continue
        client.update_work_queue(existing.id, **fields)
        outcome[wanted.name] = "updated"
    return outcome


def ensure_concurrency_limits(
    client: SyncPrefectClient, limits: list[ConcurrencyLimit]
) -> dict[str, str]:
    """Create each global concurrency limit, or set it to the declared limit and decay.
    Returns name -> "created", "updated" or "unchanged"."""
    outcome: dict[str, str] = {}
    for wanted in limits:
        try:
            existing = client.read_global_concurrency_limit_by_name(wanted.name)
        except ObjectNotFound:
            client.create_global_concurrency_limit(
                GlobalConcurrencyLimitCreate(
                    name=wanted.name,
                    limit=wanted.limit,
                    slot_decay_per_second=wanted.slot_decay_per_second,
                    active=True,
                )
            )
            outcome[wanted.name] = "created"
            continue
        same = (
            existing.active
            and existing.limit == wanted.limit
            and abs((existing.slot_decay_per_second or 0.0) - wanted.slot_decay_per_second) < 1e-9
        )
        if same:
            outcome[wanted.name] = "unchanged"
            continue
        client.update_global_concurrency_limit(
            wanted.name,
            GlobalConcurrencyLimitUpdate(
                limit=wanted.limit,
                slot_decay_per_second=wanted.slot_decay_per_second,
                active=True,
            ),
        )
        outcome[wanted.name] = "updated"
    return outcome


def prepare(
    client: SyncPrefectClient,
    *,
    project_dir: str | Path | None = None,
    limits: list[ConcurrencyLimit] | None = None,
    prefect_file: Path = PREFECT_FILE,
) -> dict[str, Any]:
    """The work pool, its queues and the global concurrency limits, before
    `prefect deploy --all`."""
    pool = work_pool_name(prefect_file)
    return {
        "work_pool": {pool: ensure_work_pool(client, pool, base_job_template(project_dir))},
        "work_queues": ensure_work_queues(client, pool),
        "concurrency_limits": ensure_concurrency_limits(
            client, remediation_limits() if limits is None else limits
        ),
    }


def deploy_all(
    *,
    api_url: str | None = None,
    project_dir: str | Path | None = None,
    prefect_file: Path = PREFECT_FILE,
    env: dict[str, str] | None = None,
    timeout: float = 300,
) -> str:
    """Run `prefect deploy --all --no-prompt` in the project root; returns its output.

    The pull step's `{{ $WEDPERF_PROJECT_DIR }}` is resolved by `prefect deploy` when the
    variable is set (`project_dir` sets it): that path is written into every deployment.
    Unset, the placeholder is kept and each worker resolves it from its own environment.
    """
    env = dict(os.environ if env is None else env)
    if api_url is not None:
        env["PREFECT_API_URL"] = api_url
    if project_dir is not None:
        env["WEDPERF_PROJECT_DIR"] = str(project_dir)
    env.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
    command = [sys.executable, "-m", "prefect", "--no-prompt", "deploy", "--all"]
    command += ["--prefect-file", str(prefect_file)]
    done = subprocess.run(
        command,
        cwd=prefect_file.parent,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
    output = done.stdout + done.stderr
    if done.returncode != 0:
        raise RuntimeError(f"prefect deploy --all failed ({done.returncode}):\n{output[-4000:]}")
    return output


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m deployments.setup",
        description="Create the work pool and concurrency limits, then deploy prefect.yaml.",
    )
    parser.add_argument(
        "--project-dir",
        default=os.environ.get("WEDPERF_PROJECT_DIR"),
        help="the wedperf checkout on every worker host (default $WEDPERF_PROJECT_DIR); "
        "unset: each worker's own WEDPERF_PROJECT_DIR",
    )
    parser.add_argument("--remediation-limit", type=int, default=REMEDIATION_AT_ONCE)
    parser.add_argument("--remediation-per-minute", type=int, default=REMEDIATION_PER_MINUTE)
    parser.add_argument(
        "--skip-deploy", action="store_true", help="only the work pool and the limits"
    )
    args = parser.parse_args(argv)

    from prefect.settings import PREFECT_API_URL

    api_url = PREFECT_API_URL.value()
    if not api_url:
        parser.error("set PREFECT_API_URL to the Prefect server to deploy to")
    with get_client(sync_client=True) as client:
        report = prepare(
            client,
            project_dir=args.project_dir,
            limits=remediation_limits(args.remediation_limit, args.remediation_per_minute),
        )
    print(json.dumps(report))
    if not args.skip_deploy:
        print(deploy_all(api_url=api_url, project_dir=args.project_dir))
    return 0


if __name__ == "__main__":
    sys.exit(main())
