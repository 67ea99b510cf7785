"""Kubernetes capacity floor: an HPA's `spec.minReplicas`, or a Deployment's scale subresource.

Talks to the API server directly with httpx (bearer token from the target, a token file such as
an in-cluster service account's, or a kubeconfig with token auth). Writes are JSON merge
patches carrying the `resourceVersion` read just before, so a concurrent change is a 409 and
the read-modify-write is retried. 403/404 are configuration errors, reported with what to fix;
409 and 5xx are retried a bounded number of times.

RBAC the worker's service account needs (namespace of the target):
`get`, `patch` on `horizontalpodautoscalers` (group `autoscaling`), or on `deployments/scale`
(group `apps`).
"""

from __future__ import annotations

import base64
import ssl
import time
from pathlib import Path
from typing import Any

import httpx
import yaml

from wedperf.capacity.actuators.base import ActuatorError, FloorReading
from wedperf.config import CapacityTarget

RETRY_DELAYS = (0.5, 1.0, 2.0)


class KubernetesActuator:
    def __init__(
        self,
        target: CapacityTarget,
        *,
        transport: httpx.BaseTransport | None = None,
        retry_delays: tuple[float, ...] = RETRY_DELAYS,
    ) -> None:
        if not target.resource:
            raise ValueError(f"capacity target {target.name}: set resource (HPA/Deployment name)")
        self.target = target
        self.retry_delays = retry_delays
        server, token, verify = _credentials(target)
        self._client = httpx.Client(
            base_url=server,
            headers={"authorization": f"Bearer {token}", "accept": "application/json"},
            verify=verify,
            timeout=10,
            transport=transport,
        )
        ns, name = target.namespace, target.resource
        if target.kind == "kubernetes-hpa":
            self._path = f"/apis/autoscaling/v2/namespaces/{ns}/horizontalpodautoscalers/{name}"
            self._what = f"HPA {ns}/{name}"
        else:
            self._path = f"/apis/apps/v1/namespaces/{ns}/deployments/{name}/scale"
            self._what = f"Deployment {ns}/{name} scale"

    # -- interface -----------------------------------------------------------------------

    def read(self) -> FloorReading:
        body = self._request("GET")
        spec, status = body.get("spec", {}), body.get("status", {})
        if self.target.kind == "kubernetes-hpa":
            return FloorReading(
                floor=spec.get("minReplicas", 1),  # the API's default when unset
                autoscaler_wants=status.get("desiredReplicas"),
                maximum=spec.get("maxReplicas"),
            )
        replicas = spec.get("replicas", 0)
        return FloorReading(floor=replicas, autoscaler_wants=status.get("replicas", replicas))

    def set_floor(self, replicas: int, *, reason: str, dry_run: bool) -> None:
        for delay in (*self.retry_delays, None):
            body = self._request("GET")
            version = body.get("metadata", {}).get("resourceVersion")
            maximum = body.get("spec", {}).get("maxReplicas")
            if maximum is not None and replicas > maximum:
                raise ActuatorError(
                    f"{self._what}: floor {replicas} is above its maxReplicas {maximum}"
                )
            if dry_run:
                return
            field = "minReplicas" if self.target.kind == "kubernetes-hpa" else "replicas"
            patch = {"metadata": {"resourceVersion": version}, "spec": {field: replicas}}
            try:
                self._request("PATCH", json=patch, conflict_ok=delay is not None)
                return
            except _Conflict:
                time.sleep(delay)  # someone changed it meanwhile: read again and re-apply
        raise AssertionError("unreachable")  # pragma: no cover - last attempt raises

    # -- HTTP ----------------------------------------------------------------------------

    def _request(
        self, method: str, *, json: dict | None = None, conflict_ok: bool = False
    ) -> dict[str, Any]:
        headers = {"content-type": "application/merge-patch+json"} if method == "PATCH" else {}
        last_error = ""
        for delay in (*self.retry_delays, None):
            try:
                response = self._client.request(method, self._path, json=json, headers=headers)
            except httpx.TransportError as exc:
                last_error = f"API server unreachable: {exc}"
            else:
                if response.status_code < 300:
                    return response.json()
                message = _status_message(response)
                if response.status_code == 403:
                    raise ActuatorError(
                        f"{self._what}: forbidden ({message}); grant the worker's service "
                        f"account get/patch on it"
                    )
                if response.status_code == 404:
                    raise ActuatorError(f"{self._what}: not found ({message})")
                if response.status_code == 409:
                    if conflict_ok:
                        raise _Conflict(message)
                    raise ActuatorError(f"{self._what}: conflict persisted ({message})")
                if response.status_code < 500 and response.status_code != 429:
                    raise ActuatorError(f"{self._what}: HTTP {response.status_code} ({message})")
                last_error = f"HTTP {response.status_code} ({message})"
            if delay is None:
                break
            time.sleep(delay)
        raise ActuatorError(
            f"{self._what}: {method} failed after {len(self.retry_delays) + 1} attempts: "
            f"{last_error}"
        )


class _Conflict(Exception):
    pass


def _status_message(response: httpx.Response) -> str:
    """The API server's `Status` message, or the start of the body."""
    try:
        body = response.json()
        return str(body.get("message") or body.get("reason") or body)[:300]
    except ValueError:
        return response.text[:200]


def _credentials(target: CapacityTarget) -> tuple[str, str, ssl.SSLContext | bool]:
    """API server URL, bearer token and TLS verification for a target."""
    server, token, ca_data = target.url, None, None
    if target.kubeconfig:
        server_k, token, ca_data = _from_kubeconfig(Path(target.kubeconfig))
        server = server or server_k
    if target.token is not None:
        token = target.token.get_secret_value()
    elif target.token_file:
        token = Path(target.token_file).read_text().strip()
    if not server or not token:
        raise ValueError(
            f"capacity target {target.name}: needs the API server url and a token "
            "(token, token_file or kubeconfig)"
        )
    verify: ssl.SSLContext | bool = True
    if target.ca_file:
        verify = ssl.create_default_context(cafile=target.ca_file)
    elif ca_data:
        verify = ssl.create_default_context(cadata=ca_data)
    return server, token, verify


def _from_kubeconfig(path: Path) -> tuple[str, str | None, str | None]:
    config = yaml.safe_load(path.read_text())
    contexts = {c["name"]: c["context"] for c in config.get("contexts", [])}
    context = contexts[config["current-context"]]
    cluster = next(c["cluster"] for c in config["clusters"] if c["name"] == context["cluster"])
    user = next(u["user"] for u in config["users"] if u["name"] == context["user"])
    ca = cluster.get("certificate-authority-data")
    ca_pem = base64.b64decode(ca).decode() if ca else None
    if ca_pem is None and cluster.get("certificate-authority"):
        ca_pem = Path(cluster["certificate-authority"]).read_text()
    return cluster["server"], user.get("token"), ca_pem
