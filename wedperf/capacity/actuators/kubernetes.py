"""Kubernetes capacity floor: an HPA's `spec.minReplicas`, or a Deployment's scale subresource.

Talks to the API server through lightkube, which reads real kubeconfigs: bearer tokens, token
files, exec credential plugins (EKS `aws eks get-token`, GKE `gke-gcloud-auth-plugin`, AKS
`kubelogin`), client certificates, and the in-cluster service account. Credentials come from,
in this order: the target's `kubeconfig`; else its `url` with `token`/`token_file` (and
`ca_file`); else the in-cluster service account (token, CA and `KUBERNETES_SERVICE_HOST`/
`_PORT`, as the kubelet mounts them).

Writes are JSON merge patches carrying the `resourceVersion` read just before, so a concurrent
change is a 409 and the read-modify-write is retried. 403/404 are configuration errors,
reported with what to fix; 409, 429, 5xx and transport errors are retried a bounded number of
times (tenacity).

The target utilisation of an HPA (`read_utilisation` / `set_utilisation`) is the
`averageUtilization` of its `Resource` metric named `utilisation_metric` (cpu by default),
written as a JSON patch (RFC 6902) whose `test` ops check the metric at that index is still
that resource and its value is still the one expected: a concurrent change makes the API
server answer 422 and is never overwritten (`UtilisationChanged`).

RBAC the worker's service account needs (namespace of the target):
`get`, `patch` on `horizontalpodautoscalers` (group `autoscaling`), or on `deployments/scale`
(group `apps`).
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

import httpx
import lightkube
from lightkube.config.kubeconfig import SERVICE_ACCOUNT, KubeConfig, SingleConfig
from lightkube.config.models import Cluster, User
from lightkube.core.exceptions import ConfigError
from lightkube.resources.apps_v1 import Deployment
from lightkube.resources.autoscaling_v2 import HorizontalPodAutoscaler
from lightkube.types import PatchType
from tenacity import RetryCallState, Retrying, retry_if_exception_type, stop_after_attempt

from wedperf.capacity.actuators.base import ActuatorError, FloorReading, UtilisationChanged
from wedperf.config import CapacityTarget

RETRY_DELAYS = (0.5, 1.0, 2.0)
# lightkube gates exec plugins on these versions; the v1 ExecCredential answer carries the
# token in the same `status.token` as v1beta1, so a v1 plugin is run as a v1beta1 one.
_EXEC_V1 = "client.authentication.k8s.io/v1"
_EXEC_V1BETA1 = "client.authentication.k8s.io/v1beta1"


class KubernetesActuator:
    def __init__(
        self,
        target: CapacityTarget,
        *,
        transport: httpx.BaseTransport | None = None,
        retry_delays: tuple[float, ...] = RETRY_DELAYS,
        service_account: str | Path = SERVICE_ACCOUNT,
    ) -> None:
        if not target.resource:
            raise ValueError(f"capacity target {target.name}: set resource (HPA/Deployment name)")
        self.target = target
        self.retry_delays = retry_delays
        try:
            config = _config(target, service_account)
            self._client = lightkube.Client(
                config,
                namespace=target.namespace,
                transport=_Shared(transport) if transport is not None else None,
                trust_env=False,
            )
        except (ConfigError, OSError, KeyError) as exc:
            raise ValueError(f"capacity target {target.name}: {exc}") from exc
        ns, name = target.namespace, target.resource
        if target.kind == "kubernetes-hpa":
            self._resource: Any = HorizontalPodAutoscaler
            self._what = f"HPA {ns}/{name}"
        else:
            self._resource = Deployment.Scale
            self._what = f"Deployment {ns}/{name} scale"

    # -- interface -----------------------------------------------------------------------

    def read(self) -> FloorReading:
        obj = self._call("GET", self._get)
        spec, status = obj.spec, obj.status
        if self.target.kind == "kubernetes-hpa":
            return FloorReading(
                floor=spec.minReplicas if spec.minReplicas is not None else 1,  # API default
                autoscaler_wants=status.desiredReplicas if status else None,
                maximum=spec.maxReplicas,
            )
        replicas = (spec.replicas if spec else None) or 0
        wants = status.replicas if status and status.replicas is not None else replicas
        return FloorReading(floor=replicas, autoscaler_wants=wants)

    def set_floor(self, replicas: int, *, reason: str, dry_run: bool) -> None:
        field = "minReplicas" if self.target.kind == "kubernetes-hpa" else "replicas"

        def attempt() -> None:
            obj = self._call("GET", self._get)
            version = obj.metadata.resourceVersion if obj.metadata else None
            maximum = getattr(obj.spec, "maxReplicas", None)
            if maximum is not None and replicas > maximum:
                raise ActuatorError(
                    f"{self._what}: floor {replicas} is above its maxReplicas {maximum}"
                )
            if dry_run:
                return
            patch = {"metadata": {"resourceVersion": version}, "spec": {field: replicas}}
            self._call("PATCH", lambda: self._patch(patch))

        # A 409 means someone changed it meanwhile: read again and re-apply.
        try:
            self._retrying(_Conflict)(attempt)
        except _Conflict as exc:
            raise ActuatorError(f"{self._what}: conflict persisted ({exc})") from None

    def read_utilisation(self) -> int | None:
        if self.target.kind != "kubernetes-hpa":
            return None
        found = self._utilisation_metric(self._call("GET", self._get))
        return found[1] if found else None

    def set_utilisation(self, percent: int, *, expected: int, reason: str, dry_run: bool) -> None:
        if self.target.kind != "kubernetes-hpa":
            raise ActuatorError(f"{self._what}: a scale subresource has no target utilisation")
        if not 1 <= percent <= 1000:
            raise ActuatorError(f"{self._what}: target utilisation {percent}% is out of range")
        found = self._utilisation_metric(self._call("GET", self._get))
        if found is None:
            raise ActuatorError(
                f"{self._what}: no Resource metric {self.target.utilisation_metric!r} with a "
                f"Utilization target"
            )
        index, current = found
        if current != expected:
            raise UtilisationChanged(
                f"{self._what}: target utilisation is {current}%, not the {expected}% expected",
                current,
            )
        if dry_run:
            return
        path = f"/spec/metrics/{index}/resource"
        patch = [
            {"op": "test", "path": f"{path}/name", "value": self.target.utilisation_metric},
            {"op": "test", "path": f"{path}/target/averageUtilization", "value": expected},
            {"op": "replace", "path": f"{path}/target/averageUtilization", "value": percent},
        ]
        try:
            self._call("PATCH", lambda: self._patch(patch, PatchType.JSON), unprocessable=True)
        except _Unprocessable as exc:
            # A failed `test` (or a rejected value): which one, the object says.
            again = self._utilisation_metric(self._call("GET", self._get))
            now = again[1] if again else None
            if now != expected:
                raise UtilisationChanged(
                    f"{self._what}: target utilisation changed to {now}% meanwhile; left as it is",
                    now,
                ) from None
            raise ActuatorError(f"{self._what}: patch rejected ({exc})") from None

    def _utilisation_metric(self, obj: Any) -> tuple[int, int] | None:
        """(index in spec.metrics, averageUtilization) of the target's utilisation metric."""
        for index, metric in enumerate(obj.spec.metrics or []):
            resource = metric.resource
            if metric.type != "Resource" or resource is None:
                continue
            if resource.name != self.target.utilisation_metric:
                continue
            if resource.target.type == "Utilization" and resource.target.averageUtilization:
                return index, int(resource.target.averageUtilization)
        return None

    # -- API -----------------------------------------------------------------------------

    def _get(self) -> Any:
        return self._client.get(self._resource, self.target.resource)

    def _patch(self, patch: dict | list, patch_type: PatchType = PatchType.MERGE) -> Any:
        return self._client.patch(
            self._resource, self.target.resource, patch, patch_type=patch_type
        )

    def _retrying(self, exc_type: type[BaseException]) -> Retrying:
        delays = self.retry_delays

        def wait(state: RetryCallState) -> float:
            return delays[min(state.attempt_number, len(delays)) - 1] if delays else 0

        return Retrying(
            retry=retry_if_exception_type(exc_type),
            stop=stop_after_attempt(len(delays) + 1),
            wait=wait,
            reraise=True,
        )

    def _call(self, method: str, call, *, unprocessable: bool = False) -> Any:
        """`call` with transient failures (5xx, 429, transport errors) retried; others mapped
        to an ActuatorError saying what to fix; a 409 raised as `_Conflict`, and with
        `unprocessable` a 422 (a JSON patch's failed `test`) as `_Unprocessable`."""

        def once() -> Any:
            try:
                return call()
            except lightkube.ApiError as exc:
                code, message = exc.status.code or exc.response.status_code, _message(exc)
                if code == 403:
                    raise ActuatorError(
                        f"{self._what}: forbidden ({message}); grant the worker's service "
                        f"account get/patch on it"
                    ) from None
                if code == 404:
                    raise ActuatorError(f"{self._what}: not found ({message})") from None
                if code == 409:
                    raise _Conflict(message) from None
                if code == 422 and unprocessable:
                    raise _Unprocessable(message) from None
                if code < 500 and code != 429:
                    raise ActuatorError(f"{self._what}: HTTP {code} ({message})") from None
                raise _Transient(f"HTTP {code} ({message})") from None
            except httpx.TransportError as exc:
                raise _Transient(f"API server unreachable: {exc}") from None
            except ConfigError as exc:  # e.g. an exec credential plugin failed
                raise ActuatorError(f"{self._what}: credentials: {exc}") from None

        try:
            return self._retrying(_Transient)(once)
        except _Transient as exc:
            raise ActuatorError(
                f"{self._what}: {method} failed after {len(self.retry_delays) + 1} attempts: {exc}"
            ) from None


class _Shared(httpx.BaseTransport):
    """A transport lightkube uses as given: its connection parameters are copied with
    `dataclasses.asdict`, which deep-copies the transport (and a test's fake server in it)."""

    def __init__(self, inner: httpx.BaseTransport) -> None:
        self._inner = inner

    def __deepcopy__(self, memo: dict) -> _Shared:
        return self

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        return self._inner.handle_request(request)

    def close(self) -> None:
        self._inner.close()


class _Conflict(Exception):
    pass


class _Transient(Exception):
    pass


class _Unprocessable(Exception):
    pass


def _message(exc: lightkube.ApiError) -> str:
    """The API server's `Status` message, or the start of the body."""
    status = exc.status
    text = status.message or status.reason
    return str(text)[:300] if text else exc.response.text[:200]


def _config(target: CapacityTarget, service_account: str | Path) -> SingleConfig:
    """The lightkube configuration of a target (see the module docstring for the order)."""
    if target.kubeconfig:
        config = KubeConfig.from_file(target.kubeconfig).get()
        if config is None:
            raise ConfigError(f"kubeconfig {target.kubeconfig} has no current context")
        cluster = config.cluster
        if target.url:
            cluster = dataclasses.replace(cluster, server=target.url)
        if target.ca_file:
            cluster = dataclasses.replace(
                cluster, certificate_auth=target.ca_file, certificate_auth_data=None
            )
        user = config.user or User()
        if target.token is not None:
            user = User(token=target.token.get_secret_value())
        elif target.token_file:
            user = User(token_file=target.token_file)
        if user.exec is not None and user.exec.apiVersion == _EXEC_V1:
            user = dataclasses.replace(
                user, exec=dataclasses.replace(user.exec, apiVersion=_EXEC_V1BETA1)
            )
        return config._replace(cluster=cluster, user=user)
    if target.url:
        if target.token is not None:
            user = User(token=target.token.get_secret_value())
        elif target.token_file:
            user = User(token_file=target.token_file)
        else:
            raise ConfigError("needs a token, token_file or kubeconfig with the url")
        cluster = Cluster(server=target.url, certificate_auth=target.ca_file)
        return KubeConfig.from_one(cluster=cluster, user=user).get()
    try:
        return KubeConfig.from_service_account(service_account).get()
    except (ConfigError, KeyError) as exc:
        raise ConfigError(
            "no kubeconfig or url, and no in-cluster service account "
            f"({service_account}, KUBERNETES_SERVICE_HOST/PORT): {exc}"
        ) from exc
