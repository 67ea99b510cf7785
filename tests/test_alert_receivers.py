"""Several receivers behind a load balancer: two `wedperf webhook serve` apps (each served
over HTTP in its own thread, with its own pool and inline dispatcher) sharing one inbox,
and two pending sweeps running beside them, through a storm of 2,000 notifications with
repeats and a second episode of some alerts. One remediation run per alert episode, one
dispatch attempt per episode (a receiver claims an alert before dispatching it) but for a
retry after a recorded transient Prefect error, none lost."""

from __future__ import annotations

import asyncio
import contextvars
import random
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from datetime import timedelta

import httpx
import psycopg
import pytest

from wedperf.alerts.app import create_app
from wedperf.alerts.auth import Credentials
from wedperf.alerts.dispatch import RemediationDispatcher, describe_error
from wedperf.alerts.pending import dispatch_pending
from wedperf.alerts.samples import alertmanager_alert, alertmanager_notification
from wedperf.alerts.settings import WebhookSettings
from wedperf.prefect_api import is_transient
from wedperf.serving import serve_in_thread

pytestmark = pytest.mark.usefixtures("prefect_harness")

TOKEN = "receivers-test-token-0123456789abcdef"
AUTH = {"authorization": f"Bearer {TOKEN}"}
DEPLOYMENT = "remediate-alert/remediate-alert"
FIRST, SECOND = "2026-11-07T10:00:00Z", "2026-11-07T11:00:00Z"


def runs_by_key(marker: str) -> dict[str, list]:
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import DeploymentFilter, DeploymentFilterId

    found: dict[str, list] = {}
    offset = 0
    with get_client(sync_client=True) as client:
        deployment = client.read_deployment_by_name(DEPLOYMENT)
        while True:
            page = client.read_flow_runs(
                deployment_filter=DeploymentFilter(id=DeploymentFilterId(any_=[deployment.id])),
                limit=200,
                offset=offset,
            )
            for run in page:
                if marker in (run.idempotency_key or ""):
                    found.setdefault(run.idempotency_key, []).append(run)
            if len(page) < 200:
                return found
            offset += 200


def storm(numbers: list[int], starts: str, per_notification: int) -> list[dict]:
    return [
        alertmanager_notification(
            [alertmanager_alert(n, starts_at=starts) for n in numbers[i : i + per_notification]]
        )
        for i in range(0, len(numbers), per_notification)
    ]


async def post_round_robin(
    receivers: list[str], notifications: list[dict], concurrency: int = 16
) -> list[httpx.Response]:
    """What a load balancer does: every other notification to the other receiver."""
    limit = asyncio.Semaphore(concurrency)
    async with httpx.AsyncClient(headers=AUTH, timeout=60) as client:

        async def one(n: int, body: dict) -> httpx.Response:
            async with limit:
                base = receivers[n % len(receivers)]
                return await client.post(f"{base}/alerts/alertmanager", json=body)

        return list(await asyncio.gather(*(one(n, b) for n, b in enumerate(notifications))))


async def sweeping(url: str, config: WebhookSettings, api_url: str, until: asyncio.Event) -> list:
    """One pending sweep every 200 ms until `until` is set, then one more; the outcomes."""
    outcomes = []
    while True:
        done = until.is_set()
        outcome, _ = await dispatch_pending(url, config, api_url=api_url, batch_size=50)
        outcomes.append(outcome)
        if done:
            return outcomes
        await asyncio.sleep(0.2)


def states(url: str) -> Counter:
    with psycopg.connect(url) as conn:
        return Counter(
            dict(conn.execute("SELECT dispatch_state, count(*) FROM perf.alerts GROUP BY 1"))
        )


@dataclass
class Calls:
    """Run creations asked of Prefect per alert_id, by any receiver or sweep, and the errors
    of those that failed: per alert, and of the deployment lookup a batch starts with (a
    failure there fails the batch's alerts without asking for their creations)."""

    creations: Counter = field(default_factory=Counter)
    failures: dict[int, list[str]] = field(default_factory=dict)
    lookup_failures: list[str] = field(default_factory=list)


@pytest.fixture
def create_calls(monkeypatch: pytest.MonkeyPatch) -> Calls:
    calls = Calls()
    lock = threading.Lock()
    creating = contextvars.ContextVar("creating", default=False)
    real_create, real_lookup = RemediationDispatcher.create_run, RemediationDispatcher.deployment_id

    async def counted(self, alert):
        with lock:
            calls.creations[alert.alert_id] += 1
        token = creating.set(True)
        try:
            return await real_create(self, alert)
        except Exception as exc:
            with lock:
                calls.failures.setdefault(alert.alert_id, []).append(_failure(exc))
            raise
        finally:
            creating.reset(token)

    async def looked_up(self):
        try:
            return await real_lookup(self)
        except Exception as exc:
            if not creating.get():  # a creation's own lookup counts as its failure
                with lock:
                    calls.lookup_failures.append(_failure(exc))
            raise

    monkeypatch.setattr(RemediationDispatcher, "create_run", counted)
    monkeypatch.setattr(RemediationDispatcher, "deployment_id", looked_up)
    return calls


def _failure(exc: BaseException) -> str:
    """How the dispatcher records `exc` (describe_error), marked when it is not transient."""
    return describe_error(exc) + ("" if is_transient(exc) else " [refused]")


# Episodes whose run creation may be retried after a transient Prefect error (a timeout or a
# 5xx of the test server under load): each retry must follow a recorded error of that
# episode's; more than this many means something other than load is going on.
RETRIED_EPISODES_TOLERATED = 10


def test_two_receivers_and_two_sweeps_make_one_run_per_episode(
    inbox: str, remediation_deployment: str, create_calls: Calls
) -> None:
    from prefect.settings import PREFECT_API_URL

    api_url = PREFECT_API_URL.value()
    distinct, refired = 300, 60
    rng = random.Random(18)
    first = [n % distinct for n in range(3600)]  # 1,800 notifications of 2: 92% repeats
    rng.shuffle(first)
    second = [n % refired for n in range(400)]  # 200 notifications of 2: new episodes
    rng.shuffle(second)
    # A short grace: the sweeps take over whatever inline dispatch has not done within it.
    config = WebhookSettings(
        token=TOKEN, inline_grace=timedelta(seconds=10), dispatch_timeout_seconds=30, db_pool_size=4
    )
    apps = [
        create_app(inbox, config, Credentials.from_settings(config), prefect_api_url=api_url)
        for _ in range(2)
    ]

    async def phase(receivers: list[str], notifications: list[dict]):
        stop = asyncio.Event()
        sweeps = [asyncio.create_task(sweeping(inbox, config, api_url, stop)) for _ in range(2)]
        responses = await post_round_robin(receivers, notifications)
        stop.set()
        return responses, await asyncio.gather(*sweeps)

    began = time.perf_counter()
    with serve_in_thread(apps[0]) as a, serve_in_thread(apps[1]) as b:
        responses, sweeps = asyncio.run(phase([a, b], storm(first, FIRST, 2)))
        assert Counter(r.status_code for r in responses) == {200: 1800}
        assert sum(r.json()["new"] for r in responses) == distinct
        _settle(inbox, config, api_url)
        assert states(inbox) == {"dispatched": distinct}
        more, more_sweeps = asyncio.run(phase([a, b], storm(second, SECOND, 2)))
        assert Counter(r.status_code for r in more) == {200: 200}
        _settle(inbox, config, api_url)
    elapsed = time.perf_counter() - began

    # None lost: every episode stored once and dispatched; the re-fired alerts' first episode
    # ended (a new start means the resolved notification was missed).
    assert states(inbox) == {"dispatched": distinct + refired}
    with psycopg.connect(inbox) as conn:
        rows = conn.execute(
            "SELECT alert_id, flow_run_id, status, repeats, starts_at FROM perf.alerts"
        ).fetchall()
    assert Counter(r[2] for r in rows) == {"firing": distinct, "resolved": refired}
    assert sum(r[3] for r in rows) == (3600 - distinct) + (400 - refired)
    # One run per episode, whichever receiver or sweep got there first.
    runs = runs_by_key("2026-11-07T1")
    assert len(runs) == distinct + refired, f"{len(runs)} keys ({elapsed:.1f}s)"
    assert all(len(found) == 1 for found in runs.values())
    by_alert = {run.parameters["alert_id"]: run.id for (run,) in runs.values()}
    assert by_alert == {alert_id: run_id for alert_id, run_id, *_ in rows}
    # Every dispatcher that reached an alert recorded the same run (the idempotency key), and
    # the sweeps, running beside the receivers throughout, created no run of their own.
    assert len({run_id for _, run_id, *_ in rows}) == len(rows)
    # A sweep's errors are failures recorded below (transient ones only), never others.
    recorded = {e for errors in create_calls.failures.values() for e in errors}
    recorded |= set(create_calls.lookup_failures)
    assert not {e for e in recorded if e.endswith("[refused]")}, sorted(recorded)
    sweep_errors = {e for pair in (sweeps, more_sweeps) for s in pair for o in s for e in o.errors}
    assert sweep_errors <= recorded, sweep_errors - recorded
    # One dispatch attempt per episode: a repeat, the other receiver or a sweep finds the
    # alert claimed and leaves it (the idempotency key is the safety net, not the mechanism).
    # The one exception: an attempt that failed on a transient Prefect error leaves its alert
    # due at once, and the next dispatcher tries again. So every episode made exactly one
    # creation that succeeded, every other one failed with a recorded error, and only a few
    # episodes needed more than one.
    creations, failures = create_calls.creations, create_calls.failures
    assert set(creations) == set(by_alert)
    assert {a: n - len(failures.get(a, [])) for a, n in creations.items()} == dict.fromkeys(
        by_alert, 1
    ), creations.most_common(3)
    assert len(failures) <= RETRIED_EPISODES_TOLERATED, failures
    with psycopg.connect(inbox) as conn:
        attempts = dict(conn.execute("SELECT alert_id, dispatch_attempts FROM perf.alerts"))
    # Each attempt is counted once on its row: a creation asked for, or a batch that failed
    # on its deployment lookup first (each such failure fails at least one alert's attempt).
    extra = {a: attempts[a] - creations[a] for a in by_alert}
    lookups = len(create_calls.lookup_failures)
    assert all(0 <= n <= lookups for n in extra.values()), create_calls.lookup_failures
    assert (sum(extra.values()) == 0) == (lookups == 0), create_calls.lookup_failures


def _settle(url: str, config: WebhookSettings, api_url: str, timeout: float = 30.0) -> None:
    """Sweep until nothing is pending (what the inline dispatchers left, as the minute's
    sweep would)."""
    deadline = time.monotonic() + timeout
    while states(url).get("pending") and time.monotonic() < deadline:
        asyncio.run(dispatch_pending(url, config, api_url=api_url))
        time.sleep(0.2)


def test_a_lease_must_outlast_the_inline_grace() -> None:
    """A receiver tells a claimed alert from a fresh one by when it is due (claim + lease
    against arrival + grace): a lease no longer than the grace is refused."""
    with pytest.raises(ValueError, match="dispatch_lease"):
        WebhookSettings(
            token=TOKEN, inline_grace=timedelta(minutes=2), dispatch_lease=timedelta(minutes=1)
        )


GRACE, LEASE = timedelta(seconds=30), timedelta(minutes=2)


def _stored_alert(conn: psycopg.Connection, fingerprint: str) -> int:
    """A new firing alert stored as a receiver stores it (upsert_alerts: due at arrival +
    grace)."""
    from psycopg.types.json import Jsonb

    from wedperf.alerts.dispatch import Q

    row = {
        "source": "alertmanager",
        "fingerprint": fingerprint,
        "starts_at": FIRST,
        "status": "firing",
        "alertname": "GuestListSlow",
        "severity": "critical",
        "payload": {},
        "deliveries": 1,
    }
    [(alert_id, *_)] = conn.execute(
        Q["upsert_alerts"], {"alerts": Jsonb([row]), "grace": GRACE}
    ).fetchall()
    return alert_id


def _claim(conn: psycopg.Connection, alert_id: int) -> bool:
    """A receiver's inline claim (`claim_inline`, as `dispatch.claim_inline` runs it)."""
    from wedperf.alerts.dispatch import Q

    params = {"alert_ids": [alert_id], "lease": LEASE, "grace": GRACE}
    return bool(conn.execute(Q["claim_inline"], params).fetchall())


def _later(conn: psycopg.Connection, alert_id: int, seconds: float) -> None:
    """As if `seconds` had passed: every timestamp of the alert moved back by as much."""
    conn.execute(
        "UPDATE perf.alerts SET received_at = received_at - make_interval(secs => %(s)s), "
        "next_dispatch_at = next_dispatch_at - make_interval(secs => %(s)s) "
        "WHERE alert_id = %(id)s",
        {"s": seconds, "id": alert_id},
    )


def test_a_claimed_alert_is_not_claimed_again_before_its_lease_ends(inbox: str) -> None:
    with psycopg.connect(inbox, autocommit=True) as conn:
        alert_id = _stored_alert(conn, "leased")
        assert _claim(conn, alert_id)  # the receiver that stored it
        assert not _claim(conn, alert_id)  # a repeat at once, at the other receiver
        # Past the lease minus the grace (the claim used to look fresh again from there),
        # still inside the lease: nobody claims it.
        _later(conn, alert_id, (LEASE - GRACE).total_seconds() + 5)
        assert not _claim(conn, alert_id)
        _later(conn, alert_id, GRACE.total_seconds())  # the lease is over: claimable
        assert _claim(conn, alert_id)


def test_a_repeat_notification_honours_a_refusal_backoff(inbox: str) -> None:
    from wedperf.alerts.dispatch import Q

    with psycopg.connect(inbox, autocommit=True) as conn:
        alert_id = _stored_alert(conn, "refused")
        assert _claim(conn, alert_id)
        # Prefect refused the run (not transient): backoff 10 s, one attempt counted.
        conn.execute(
            Q["mark_attempt_failed"],
            {
                "alert_ids": [alert_id],
                "errors": ["PrefectHTTPStatusError: 422"],
                "transient": [False],
                "max_attempts": 20,
            },
        )
        assert not _claim(conn, alert_id)  # a repeat within the backoff (shorter than grace)
        _later(conn, alert_id, 11)
        assert _claim(conn, alert_id)  # the backoff is over
        attempts = conn.execute(
            "SELECT dispatch_attempts FROM perf.alerts WHERE alert_id = %s", (alert_id,)
        ).fetchone()[0]
        assert attempts == 1
