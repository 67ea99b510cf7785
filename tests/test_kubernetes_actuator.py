"""Kubernetes actuator contract tests: the API server is replaced by an httpx.MockTransport
answering in its documented shapes (autoscaling/v2 HorizontalPodAutoscaler, autoscaling/v1
Scale, v1 Status errors). Floor decisions run against real PostgreSQL.

Every test runs once per way of authenticating: a target's url + token, a kubeconfig with an
exec credential plugin (a script printing a v1 ExecCredential), a kubeconfig with client
certificates (a throwaway CA signs them), and an in-cluster service-account directory."""

from __future__ import annotations

import base64
import copy
import json
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import psycopg
import pytest

from wedperf.calendar.model import Wedding
from wedperf.capacity.actuators import ActuatorError, KubernetesActuator, UtilisationChanged
from wedperf.capacity.floor import raise_floor, restore_floor
from wedperf.capacity.state import raised_targets
from wedperf.config import CapacityTarget, OpsSettings, Settings

# How the current test authenticates: the target's credential fields and the Authorization
# header the API server must see (None: none, the client certificate authenticates).
CREDENTIALS: dict = {"fields": {}, "authorization": "Bearer sa-token"}

HPA_PATH = "/apis/autoscaling/v2/namespaces/prod/horizontalpodautoscalers/web"
SCALE_PATH = "/apis/apps/v1/namespaces/prod/deployments/web/scale"
HPA = {
    "apiVersion": "autoscaling/v2",
    "kind": "HorizontalPodAutoscaler",
    "metadata": {
        "name": "web",
        "namespace": "prod",
        "resourceVersion": "1000",
        "uid": "5f0c0a4e-0000-4000-8000-000000000001",
    },
    "spec": {
        "scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": "web"},
        "minReplicas": 2,
        "maxReplicas": 12,
        "metrics": [
            {
                "type": "Resource",
                "resource": {
                    "name": "cpu",
                    "target": {"type": "Utilization", "averageUtilization": 70},
                },
            }
        ],
    },
    "status": {"currentReplicas": 3, "desiredReplicas": 4, "currentMetrics": []},
}
SCALE = {
    "kind": "Scale",
    "apiVersion": "autoscaling/v1",
    "metadata": {"name": "web", "namespace": "prod", "resourceVersion": "77"},
    "spec": {"replicas": 3},
    "status": {"replicas": 3, "selector": "app=web"},
}


def status(code: int, reason: str, message: str) -> httpx.Response:
    return httpx.Response(
        code,
        json={
            "kind": "Status",
            "apiVersion": "v1",
            "metadata": {},
            "status": "Failure",
            "message": message,
            "reason": reason,
            "code": code,
        },
    )


class FakeApiServer:
    """Holds one object; applies merge patches with optimistic concurrency like the API."""

    def __init__(self, obj: dict, path: str) -> None:
        self.obj, self.path = copy.deepcopy(obj), path
        self.calls: list[tuple[str, dict | None]] = []
        self.fail: list[httpx.Response] = []  # responses to give before behaving
        self.concurrent_writes = 0  # another writer bumps the version this many times

    def __call__(self, request: httpx.Request) -> httpx.Response:
        body = json.loads(request.content) if request.content else None
        self.calls.append((request.method, body))
        assert request.headers.get("authorization") == CREDENTIALS["authorization"]
        if self.fail:
            return self.fail.pop(0)
        if request.url.path != self.path:
            return status(404, "NotFound", 'horizontalpodautoscalers "x" not found')
        if request.method == "GET":
            return httpx.Response(200, json=self.obj)
        if request.headers["content-type"] == "application/json-patch+json":
            return self._json_patch(body)
        assert request.headers["content-type"] == "application/merge-patch+json"
        if self.concurrent_writes:
            self.concurrent_writes -= 1
            self._bump()
        if body["metadata"]["resourceVersion"] != self.obj["metadata"]["resourceVersion"]:
            return status(
                409,
                "Conflict",
                "Operation cannot be fulfilled on "
                'horizontalpodautoscalers.autoscaling "web": the object has been '
                "modified; please apply your changes to the latest version and try "
                "again",
            )
        self.obj["spec"].update(body["spec"])
        self._bump()
        return httpx.Response(200, json=self.obj)

    def _json_patch(self, ops: list[dict]) -> httpx.Response:
        """RFC 6902 as the API server applies it: all or nothing; a failed `test` is a 422."""
        if self.concurrent_writes:
            self.concurrent_writes -= 1
            self.obj["spec"]["metrics"][0]["resource"]["target"]["averageUtilization"] = 85
            self._bump()
        patched = copy.deepcopy(self.obj)
        for op in ops:
            *parents, leaf = op["path"].strip("/").split("/")
            node = patched
            for part in parents:
                node = node[int(part)] if isinstance(node, list) else node[part]
            key = int(leaf) if isinstance(node, list) else leaf
            if op["op"] == "test":
                if node[key] != op["value"]:
                    return status(
                        422,
                        "Invalid",
                        f"the server rejected our request due to an error in our request: "
                        f"testing value {op['path']} failed",
                    )
            else:
                assert op["op"] == "replace"
                node[key] = op["value"]
        self.obj = patched
        self._bump()
        return httpx.Response(200, json=self.obj)

    def _bump(self) -> None:
        meta = self.obj["metadata"]
        meta["resourceVersion"] = str(int(meta["resourceVersion"]) + 1)

    @property
    def patches(self) -> list[dict]:
        return [body for method, body in self.calls if method == "PATCH"]


def target(kind: str = "kubernetes-hpa", **kw) -> CapacityTarget:
    return CapacityTarget(
        name="web", kind=kind, namespace="prod", resource="web", **CREDENTIALS["fields"], **kw
    )


def actuator(server: FakeApiServer, **kw) -> KubernetesActuator:
    return KubernetesActuator(
        target(**kw),
        transport=httpx.MockTransport(server),
        retry_delays=(0, 0, 0),
        service_account=CREDENTIALS.get("service_account", "/nonexistent"),
    )


def _pem_pair(tmp: Path) -> dict[str, bytes]:
    """A throwaway CA, and a client certificate + key it signed (PEM)."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    def cert(subject, issuer, key, signer, ca: bool):
        now = datetime.now(UTC)
        return (
            x509.CertificateBuilder()
            .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, subject)]))
            .issuer_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, issuer)]))
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - timedelta(minutes=1))
            .not_valid_after(now + timedelta(days=1))
            .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
            .sign(signer, hashes.SHA256())
        )

    ca_key, user_key = (
        ec.generate_private_key(ec.SECP256R1()),
        ec.generate_private_key(ec.SECP256R1()),
    )
    ca = cert("test-ca", "test-ca", ca_key, ca_key, ca=True)
    user = cert("system:serviceaccount:wedperf:worker", "test-ca", user_key, ca_key, ca=False)
    pem = serialization.Encoding.PEM
    return {
        "ca": ca.public_bytes(pem),
        "cert": user.public_bytes(pem),
        "key": user_key.private_bytes(
            pem, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        ),
        "other_key": ec.generate_private_key(ec.SECP256R1()).private_bytes(
            pem, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        ),
    }


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def write_kubeconfig(path: Path, user: dict, ca: bytes) -> Path:
    import yaml

    path.write_text(
        yaml.safe_dump(
            {
                "apiVersion": "v1",
                "kind": "Config",
                "current-context": "prod",
                "clusters": [
                    {
                        "name": "c",
                        "cluster": {
                            "server": "https://k8s.test:6443",
                            "certificate-authority-data": _b64(ca),
                        },
                    }
                ],
                "users": [{"name": "u", "user": user}],
                "contexts": [{"name": "prod", "context": {"cluster": "c", "user": "u"}}],
            }
        )
    )
    return path


def exec_plugin(tmp: Path, token: str = "sa-token") -> Path:
    """A credential plugin like `aws eks get-token`: prints a v1 ExecCredential, counts runs."""
    script = tmp / "get-token"
    script.write_text(
        f"#!{sys.executable}\n"
        "import json, pathlib\n"
        f"runs = pathlib.Path({str(tmp / 'runs')!r})\n"
        "runs.write_text(str(int(runs.read_text() or 0) + 1) if runs.exists() else '1')\n"
        "print(json.dumps({'apiVersion': 'client.authentication.k8s.io/v1', "
        "'kind': 'ExecCredential', "
        f"'status': {{'token': {token!r}, 'expirationTimestamp': '2099-01-01T00:00:00Z'}}}}))\n"
    )
    script.chmod(0o755)
    return script


@pytest.fixture(scope="module")
def pems(tmp_path_factory) -> dict[str, bytes]:
    return _pem_pair(tmp_path_factory.mktemp("pki"))


@pytest.fixture(autouse=True, params=["token", "exec", "client-cert", "in-cluster"])
def credentials(request, tmp_path: Path, pems, monkeypatch) -> str:
    """Point `target()` at one way of authenticating for the test."""
    mode = request.param
    creds: dict = {"fields": {}, "authorization": "Bearer sa-token"}
    if mode == "token":
        creds["fields"] = {"url": "https://k8s.test:6443", "token": "sa-token"}
    elif mode == "exec":
        user = {
            "exec": {
                "apiVersion": "client.authentication.k8s.io/v1",
                "command": str(exec_plugin(tmp_path)),
                "interactiveMode": "Never",
            }
        }
        config = write_kubeconfig(tmp_path / "kubeconfig", user, pems["ca"])
        creds["fields"] = {"kubeconfig": str(config)}
    elif mode == "client-cert":
        user = {
            "client-certificate-data": _b64(pems["cert"]),
            "client-key-data": _b64(pems["key"]),
        }
        config = write_kubeconfig(tmp_path / "kubeconfig", user, pems["ca"])
        creds["fields"] = {"kubeconfig": str(config)}
        creds["authorization"] = None
    else:
        account = tmp_path / "serviceaccount"
        account.mkdir()
        (account / "token").write_text("sa-token\n")
        (account / "namespace").write_text("prod")
        (account / "ca.crt").write_bytes(pems["ca"])
        monkeypatch.setenv("KUBERNETES_SERVICE_HOST", "k8s.test")
        monkeypatch.setenv("KUBERNETES_SERVICE_PORT", "6443")
        creds["service_account"] = str(account)
    monkeypatch.setattr(sys.modules[__name__], "CREDENTIALS", creds)
    return mode


def test_reads_the_hpa_floor_and_what_it_wants() -> None:
    reading = actuator(FakeApiServer(HPA, HPA_PATH)).read()
    assert (reading.floor, reading.autoscaler_wants, reading.maximum) == (2, 4, 12)


def test_patch_sets_min_replicas_with_the_version_read() -> None:
    server = FakeApiServer(HPA, HPA_PATH)
    actuator(server).set_floor(6, reason="test", dry_run=False)
    assert server.patches == [{"metadata": {"resourceVersion": "1000"}, "spec": {"minReplicas": 6}}]
    assert server.obj["spec"]["minReplicas"] == 6


def test_conflict_is_reread_and_retried() -> None:
    server = FakeApiServer(HPA, HPA_PATH)
    server.concurrent_writes = 1
    actuator(server).set_floor(6, reason="test", dry_run=False)
    assert len(server.patches) == 2 and server.obj["spec"]["minReplicas"] == 6
    assert server.patches[1]["metadata"]["resourceVersion"] == "1001"


def test_conflict_that_never_ends_is_an_error() -> None:
    server = FakeApiServer(HPA, HPA_PATH)
    server.concurrent_writes = 10
    with pytest.raises(ActuatorError, match="conflict persisted"):
        actuator(server).set_floor(6, reason="test", dry_run=False)
    assert len(server.patches) == 4  # bounded


def test_forbidden_names_the_missing_permission() -> None:
    server = FakeApiServer(HPA, HPA_PATH)
    server.fail = [
        status(
            403,
            "Forbidden",
            'horizontalpodautoscalers.autoscaling "web" is '
            'forbidden: User "system:serviceaccount:wedperf:worker" cannot get '
            'resource "horizontalpodautoscalers"',
        )
    ]
    with pytest.raises(ActuatorError, match="forbidden.*cannot get.*service account get/patch"):
        actuator(server).read()


def test_missing_hpa_is_reported() -> None:
    server = FakeApiServer(HPA, "/elsewhere")
    with pytest.raises(ActuatorError, match="HPA prod/web: not found"):
        actuator(server).read()


def test_server_errors_are_retried_then_reported() -> None:
    server = FakeApiServer(HPA, HPA_PATH)
    server.fail = [status(503, "ServiceUnavailable", "etcdserver: leader changed")] * 2
    assert actuator(server).read().floor == 2  # third attempt answers
    server.fail = [status(500, "InternalError", "boom")] * 10
    with pytest.raises(ActuatorError, match="GET failed after 4 attempts: HTTP 500"):
        actuator(server).read()


def test_dry_run_sends_no_write() -> None:
    server = FakeApiServer(HPA, HPA_PATH)
    actuator(server).set_floor(6, reason="test", dry_run=True)
    assert server.patches == [] and server.obj["spec"]["minReplicas"] == 2


def test_floor_above_the_hpa_maximum_is_refused() -> None:
    server = FakeApiServer(HPA, HPA_PATH)
    with pytest.raises(ActuatorError, match="above its maxReplicas 12"):
        actuator(server).set_floor(13, reason="test", dry_run=False)
    assert server.patches == []


def test_deployment_scale_subresource() -> None:
    server = FakeApiServer(SCALE, SCALE_PATH)
    act = actuator(server, kind="kubernetes-scale")
    assert act.read().floor == 3
    act.set_floor(5, reason="test", dry_run=False)
    assert server.patches[0]["spec"] == {"replicas": 5}


def test_kubeconfig_with_token(tmp_path: Path, credentials: str) -> None:
    if credentials != "token":
        pytest.skip("authenticates with its own kubeconfig")
    kubeconfig = tmp_path / "config"
    kubeconfig.write_text(
        "apiVersion: v1\nkind: Config\ncurrent-context: prod\n"
        "clusters:\n- name: c\n  cluster:\n    server: https://k8s.test:6443\n"
        "users:\n- name: u\n  user:\n    token: sa-token\n"
        "contexts:\n- name: prod\n  context:\n    cluster: c\n    user: u\n"
    )
    server = FakeApiServer(HPA, HPA_PATH)
    act = KubernetesActuator(
        CapacityTarget(
            name="web",
            kind="kubernetes-hpa",
            namespace="prod",
            resource="web",
            kubeconfig=str(kubeconfig),
        ),
        transport=httpx.MockTransport(server),
    )
    assert act.read().floor == 2


def test_exec_plugin_token_reaches_the_api_server(tmp_path: Path, pems, credentials) -> None:
    if credentials != "exec":
        pytest.skip("exec plugin only")
    plugin_dir = tmp_path / "other"
    plugin_dir.mkdir()
    user = {
        "exec": {
            "apiVersion": "client.authentication.k8s.io/v1",
            "command": str(exec_plugin(plugin_dir, token="eks-issued-token")),
        }
    }
    config = write_kubeconfig(tmp_path / "eks", user, pems["ca"])
    CREDENTIALS["authorization"] = "Bearer eks-issued-token"
    server = FakeApiServer(HPA, HPA_PATH)
    act = KubernetesActuator(
        target().model_copy(update={"kubeconfig": str(config)}),
        transport=httpx.MockTransport(server),
    )
    assert act.read().floor == 2
    act.set_floor(6, reason="test", dry_run=False)
    assert server.obj["spec"]["minReplicas"] == 6
    assert (plugin_dir / "runs").read_text() == "1"  # run once, its token reused


def test_failing_exec_plugin_is_reported(tmp_path: Path, pems, credentials) -> None:
    if credentials != "exec":
        pytest.skip("exec plugin only")
    user = {"exec": {"apiVersion": "client.authentication.k8s.io/v1", "command": "false"}}
    config = write_kubeconfig(tmp_path / "broken", user, pems["ca"])
    server = FakeApiServer(HPA, HPA_PATH)
    act = KubernetesActuator(
        target().model_copy(update={"kubeconfig": str(config)}),
        transport=httpx.MockTransport(server),
    )
    with pytest.raises(ActuatorError, match="credentials: Exec false returned 1"):
        act.read()
    assert server.calls == []


def test_client_certificate_must_match_its_key(tmp_path: Path, pems, credentials) -> None:
    if credentials != "client-cert":
        pytest.skip("client certificates only")
    user = {
        "client-certificate-data": _b64(pems["cert"]),
        "client-key-data": _b64(pems["other_key"]),
    }
    config = write_kubeconfig(tmp_path / "mismatch", user, pems["ca"])
    with pytest.raises(Exception, match="(?i)key values mismatch|KEY_VALUES_MISMATCH"):
        KubernetesActuator(target().model_copy(update={"kubeconfig": str(config)}))


# --- the floor policy through the actuator, against real PostgreSQL -------------------------

NOW = datetime.now(UTC).replace(microsecond=0)


def add_wedding(conn, wedding_id: str, starts_at: datetime, guests: int) -> Wedding:
    w = Wedding(
        wedding_id, starts_at, starts_at + timedelta(hours=6), "UTC", None, guests, "confirmed"
    )
    conn.execute(
        "INSERT INTO perf.weddings (wedding_id, source, starts_at, ends_at, timezone, "
        "guest_count, status) VALUES (%s, 'test', %s, %s, 'UTC', %s, 'confirmed')",
        (w.wedding_id, w.starts_at, w.ends_at, guests),
    )
    return w


def settings(**ops) -> Settings:
    return Settings(
        ops=OpsSettings(targets=[target(max_replicas=10)], requests_per_guest_per_s=0.5, **ops)
    )


def test_raise_then_restore_round_trip(migrated_database_url: str) -> None:
    server = FakeApiServer(HPA, HPA_PATH)
    act = actuator(server, max_replicas=10)
    with psycopg.connect(migrated_database_url) as conn:
        w = add_wedding(conn, "w1", NOW + timedelta(hours=3, minutes=10), guests=500)
        raised = raise_floor(
            conn, act, target(max_replicas=10), [w], plan_id="p1", settings=settings()
        )
        # 500 guests x 0.5 req/s x 1.2 / 50 per replica = 6 replicas
        assert (raised.outcome, raised.before, raised.after) == ("done", 2, 6)
        assert server.obj["spec"]["minReplicas"] == 6

        conn.execute(
            "UPDATE perf.weddings SET starts_at = starts_at - interval '2 days', "
            "ends_at = ends_at - interval '2 days'"
        )
        conn.execute("UPDATE perf.capacity_state SET changed_at = now() - interval '1 hour'")
        restored = restore_floor(
            conn,
            act,
            target(max_replicas=10),
            [w],
            plan_id="p2",
            settings=settings(),
            now=datetime.now(UTC),
        )
        assert (restored.outcome, restored.after) == ("done", 2)
        assert server.obj["spec"]["minReplicas"] == 2
        actions = conn.execute(
            "SELECT kind, before, after, outcome FROM perf.actions ORDER BY action_id"
        ).fetchall()
    assert actions == [("capacity_raise", "2", "6", "done"), ("capacity_restore", "6", "2", "done")]


class WorkerDied(BaseException):
    """The worker process ending mid-step (not an Exception: nothing handles it)."""


def test_a_worker_dying_at_the_raise_still_owes_the_restore(migrated_database_url: str) -> None:
    """The raise's baseline is committed before the PATCH: a worker dying at the write
    leaves the restore owed, and that restore, at the baseline already, just forgets it."""
    server = FakeApiServer(HPA, HPA_PATH)

    def dying(request: httpx.Request) -> httpx.Response:
        if request.method == "PATCH":
            raise WorkerDied
        return server(request)

    with psycopg.connect(migrated_database_url) as setup:
        w = add_wedding(setup, "w1", NOW - timedelta(days=2), guests=500)
    worker = psycopg.connect(migrated_database_url)
    with pytest.raises(WorkerDied):
        raise_floor(worker, actuator(dying, max_replicas=10), target(max_replicas=10), [w],
                    plan_id="p1", settings=settings())  # fmt: skip
    worker.close()  # whatever it had not committed is rolled back
    assert server.obj["spec"]["minReplicas"] == 2
    with psycopg.connect(migrated_database_url) as conn:
        assert raised_targets(conn) == ["web"]
        conn.execute("UPDATE perf.capacity_state SET changed_at = now() - interval '1 hour'")
        restored = restore_floor(conn, actuator(server, max_replicas=10),
                                 target(max_replicas=10), [w], plan_id="p2",
                                 settings=settings(), now=datetime.now(UTC))  # fmt: skip
        assert restored.outcome == "skipped" and "already at baseline 2" in restored.reason
        assert raised_targets(conn) == [] and server.patches == []


def test_maximum_is_never_exceeded(migrated_database_url: str) -> None:
    server = FakeApiServer(HPA, HPA_PATH)
    with psycopg.connect(migrated_database_url) as conn:
        w = add_wedding(conn, "big", NOW + timedelta(hours=4), guests=100_000)
        raised = raise_floor(
            conn,
            actuator(server, max_replicas=10),
            target(max_replicas=10),
            [w],
            plan_id="p",
            settings=settings(),
        )
    assert raised.after == 10 and server.obj["spec"]["minReplicas"] == 10


def test_no_scale_in_while_a_wedding_is_live(migrated_database_url: str) -> None:
    server = FakeApiServer(HPA, HPA_PATH)
    act = actuator(server, max_replicas=10)
    with psycopg.connect(migrated_database_url) as conn:
        w = add_wedding(conn, "live", NOW + timedelta(hours=1), guests=500)  # window is open
        raise_floor(conn, act, target(max_replicas=10), [w], plan_id="p1", settings=settings())
        conn.execute("UPDATE perf.capacity_state SET changed_at = now() - interval '1 hour'")
        restored = restore_floor(
            conn,
            act,
            target(max_replicas=10),
            [w],
            plan_id="p2",
            settings=settings(),
            now=datetime.now(UTC),
        )
    assert restored.outcome == "skipped" and "live" in restored.reason
    assert len(server.patches) == 1 and server.obj["spec"]["minReplicas"] == 6


def test_dry_run_and_forecast_only_touch_nothing(migrated_database_url: str) -> None:
    server = FakeApiServer(HPA, HPA_PATH)
    with psycopg.connect(migrated_database_url) as conn:
        w = add_wedding(conn, "w", NOW + timedelta(hours=5), guests=500)
        dry = raise_floor(
            conn,
            actuator(server, max_replicas=10),
            target(max_replicas=10),
            [w],
            plan_id="dry",
            settings=settings(mode="dry-run"),
        )
        planned = raise_floor(
            conn,
            None,
            target(max_replicas=10),
            [w],
            plan_id="fo",
            settings=settings(mode="forecast-only"),
        )
        state = conn.execute("SELECT count(*) FROM perf.capacity_state").fetchone()[0]
    assert (dry.outcome, dry.after) == ("dry-run", 6)
    assert (planned.outcome, planned.after) == ("planned", 6)
    assert server.patches == [] and state == 0


def test_floor_is_sized_on_the_stored_forecast_when_there_is_one(
    migrated_database_url: str,
) -> None:
    import pandas as pd

    from wedperf.forecast.pipeline import SeriesForecast
    from wedperf.forecast.store import write_forecast

    server = FakeApiServer(HPA, HPA_PATH)
    hpa = target(max_replicas=10, forecast_series="web_requests")
    with psycopg.connect(migrated_database_url) as conn:
        w = add_wedding(conn, "fc", NOW + timedelta(hours=4), guests=10)  # calendar: tiny
        opens = (w.starts_at - timedelta(hours=3)).replace(minute=0, second=0)
        index = pd.date_range(opens - timedelta(hours=2), periods=14, freq="h")
        # Peak hour upper bound 900,000 requests = 250 req/s; x 1.2 / 50 per replica = 6
        # replicas (the calendar's 10 guests would need 1).
        upper = [900_000.0 if i == 6 else 1000.0 for i in range(14)]
        frame = pd.DataFrame(
            {
                "mean": [v / 2 for v in upper],
                "lo-80": 0.0,
                "hi-80": upper,
                "lo-95": 0.0,
                "hi-95": upper,
            },
            index=index,
        )
        write_forecast(
            conn,
            SeriesForecast(
                series="web_requests",
                model="snaive",
                model_version="snaive-v1",
                forecast=frame,
                train_start=index[0] - timedelta(days=28),
                train_end=index[0] - timedelta(hours=1),
            ),
        )
        raised = raise_floor(
            conn, actuator(server, max_replicas=10), hpa, [w], plan_id="fc", settings=settings()
        )
    assert raised.after == 6 and "(forecast)" in raised.reason


# -- the HPA's target utilisation (event windows) ----------------------------------------------

UTILISATION = "/spec/metrics/1/resource/target/averageUtilization"


def hpa_with_memory_first() -> dict:
    """The documented HPA with a memory metric before cpu: the cpu metric is at index 1."""
    hpa = copy.deepcopy(HPA)
    memory = {
        "type": "Resource",
        "resource": {"name": "memory", "target": {"type": "Utilization", "averageUtilization": 80}},
    }
    hpa["spec"]["metrics"].insert(0, memory)
    return hpa


def test_reads_the_cpu_target_utilisation() -> None:
    assert actuator(FakeApiServer(hpa_with_memory_first(), HPA_PATH)).read_utilisation() == 70


def test_utilisation_is_a_json_patch_that_tests_the_value_it_replaces() -> None:
    server = FakeApiServer(hpa_with_memory_first(), HPA_PATH)
    actuator(server).set_utilisation(40, expected=70, reason="test", dry_run=False)
    assert server.patches == [
        [
            {"op": "test", "path": "/spec/metrics/1/resource/name", "value": "cpu"},
            {"op": "test", "path": UTILISATION, "value": 70},
            {"op": "replace", "path": UTILISATION, "value": 40},
        ]
    ]
    metrics = server.obj["spec"]["metrics"]
    assert metrics[1]["resource"]["target"]["averageUtilization"] == 40
    assert metrics[0]["resource"]["target"]["averageUtilization"] == 80  # memory untouched
    assert server.obj["spec"]["minReplicas"] == 2


def test_a_concurrent_utilisation_change_is_not_overwritten() -> None:
    """Someone sets 85% between wedperf's read and its patch: the `test` op fails (422) and
    their value stays."""
    server = FakeApiServer(HPA, HPA_PATH)
    server.concurrent_writes = 1
    with pytest.raises(UtilisationChanged, match="changed to 85% meanwhile") as caught:
        actuator(server).set_utilisation(40, expected=70, reason="test", dry_run=False)
    assert caught.value.current == 85
    assert server.obj["spec"]["metrics"][0]["resource"]["target"]["averageUtilization"] == 85
    assert len(server.patches) == 1  # not retried over their change


def test_utilisation_not_as_expected_sends_no_patch() -> None:
    server = FakeApiServer(HPA, HPA_PATH)
    with pytest.raises(UtilisationChanged, match="is 70%, not the 90% expected"):
        actuator(server).set_utilisation(40, expected=90, reason="test", dry_run=False)
    assert server.patches == []


def test_utilisation_dry_run_sends_no_write() -> None:
    server = FakeApiServer(HPA, HPA_PATH)
    actuator(server).set_utilisation(40, expected=70, reason="test", dry_run=True)
    assert server.patches == []


def test_hpa_without_a_cpu_utilisation_target() -> None:
    hpa = copy.deepcopy(HPA)
    hpa["spec"]["metrics"][0]["resource"]["target"] = {"type": "AverageValue", "averageValue": "1"}
    act = actuator(FakeApiServer(hpa, HPA_PATH))
    assert act.read_utilisation() is None
    with pytest.raises(ActuatorError, match="no Resource metric 'cpu' with a Utilization"):
        act.set_utilisation(40, expected=70, reason="test", dry_run=False)
