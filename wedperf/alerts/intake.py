"""Admission for the webhook service's POST routes (the alert receivers and /rum), so that no
sender, authenticated or not, can hold the receiver.

The order is the defence: credentials and content type are checked from the headers (a
request that fails gets its answer and the connection is closed, with nothing of the body
read and no slot taken); only then does a request take one of `max_in_flight` slots, and at
most `max_per_client` of them per client address; its whole body must then arrive within
`body_timeout` or it gets 408 and the connection is closed. What was refused, timed out or
abandoned is counted (`counters`), not logged per request: /healthz reports the counters and
whether the slots are all taken.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections import Counter
from collections.abc import AsyncIterator, Callable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from starlette.datastructures import Headers
from starlette.requests import Request

from wedperf.alerts.auth import AuthFailed, Credentials, Proof
from wedperf.alerts.http import (
    Disconnected,
    Problem,
    asgi_body_chunks,
    read_body,
    starlette_chunks,
)

COUNTERS = (
    "accepted",
    "unauthorized",
    "unsupported_media_type",
    "overloaded",
    "client_limited",
    "body_timeouts",
    "client_disconnects",
    "replays_refused",
)


@dataclass(frozen=True)
class Incoming:
    """One POST as the handler sees it: what the headers say, and the body still to read."""

    method: str
    path: str
    client: str
    headers: Mapping[str, str]
    chunks: AsyncIterator[bytes]


def asgi_incoming(scope: dict, receive: Callable) -> Incoming:
    """The request of a raw ASGI `scope` (the client address is what uvicorn resolved,
    X-Forwarded-For included when the peer is a proxy it trusts)."""
    client = scope.get("client")
    return Incoming(
        method=scope["method"],
        path=scope["path"],
        client=client[0] if client else "unknown",
        headers=Headers(scope=scope),
        chunks=asgi_body_chunks(receive),
    )


def starlette_incoming(request: Request) -> Incoming:
    return Incoming(
        method=request.method,
        path=request.url.path,
        client=request.client.host if request.client else "unknown",
        headers=request.headers,
        chunks=starlette_chunks(request.stream()),
    )


class Gate:
    """The admission state of one kind of route (alerts, or /rum)."""

    def __init__(
        self,
        name: str,
        credentials: Credentials,
        *,
        max_in_flight: int,
        max_per_client: int,
        max_body_bytes: int,
        body_timeout: float,
    ) -> None:
        self.name = name
        self.credentials = credentials
        self.max_in_flight = max_in_flight
        self.max_per_client = max_per_client
        self.max_body_bytes = max_body_bytes
        self.body_timeout = body_timeout
        self.in_flight = 0
        self._by_client: Counter[str] = Counter()
        self.counters: Counter[str] = Counter({name: 0 for name in COUNTERS})

    def screen(self, request: Incoming) -> Proof:
        """Everything the headers alone decide: 401, 415, 413 (declared length), 400."""
        try:
            proof = self.credentials.authenticate(request.method, request.path, request.headers)
        except AuthFailed as exc:
            self.counters["unauthorized"] += 1
            raise Problem(
                401, str(exc), headers={"WWW-Authenticate": self.credentials.challenge}
            ) from None
        media_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
        if media_type != "application/json":
            self.counters["unsupported_media_type"] += 1
            raise Problem(415, "Content-Type must be application/json")
        declared = request.headers.get("content-length")
        if declared is not None:
            if not declared.strip().isdigit():
                raise Problem(400, "Content-Length must be a number")
            if int(declared) > self.max_body_bytes:
                raise Problem(413, f"body larger than {self.max_body_bytes} bytes")
        return proof

    @contextlib.contextmanager
    def admitted(self, client: str) -> Iterator[None]:
        """Hold one slot (and one of the client's) for the block; 503 when none is free."""
        if self.in_flight >= self.max_in_flight:
            self.counters["overloaded"] += 1
            raise Problem(
                503, f"{self.name} receiver overloaded, retry later", headers={"Retry-After": "1"}
            )
        if self._by_client[client] >= self.max_per_client:
            self.counters["client_limited"] += 1
            raise Problem(
                503,
                f"at most {self.max_per_client} requests at once from one client, retry later",
                headers={"Retry-After": "1"},
            )
        self.in_flight += 1
        self._by_client[client] += 1
        try:
            yield
        finally:
            self.in_flight -= 1
            self._by_client[client] -= 1
            if not self._by_client[client]:
                del self._by_client[client]

    async def read(self, request: Incoming) -> bytes:
        """The whole body within `body_timeout` (408) and `max_body_bytes` (413); raises
        Disconnected (counted) when the client leaves first."""
        try:
            async with asyncio.timeout(self.body_timeout):
                return await read_body(None, request.chunks, self.max_body_bytes)
        except TimeoutError:
            self.counters["body_timeouts"] += 1
            raise Problem(
                408, f"body not received within {self.body_timeout:g} s; nothing stored"
            ) from None
        except Disconnected:
            self.counters["client_disconnects"] += 1
            raise

    def health(self) -> dict[str, Any]:
        return {
            "in_flight": self.in_flight,
            "max_in_flight": self.max_in_flight,
            "saturated": self.in_flight >= self.max_in_flight,
            "counters": dict(self.counters),
        }
