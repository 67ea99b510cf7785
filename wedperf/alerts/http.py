"""HTTP plumbing shared by the webhook service's routes (the alert receivers and /rum):
error answers as `{"error": ..., "problems": [...]}` JSON, and reading a request body up
to a size limit.

Imports neither the app nor its routes, so every route module can use it (wedperf.alerts.app
includes the /rum router, which therefore cannot import the app)."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Callable
from typing import Any

from fastapi.responses import JSONResponse
from pydantic import ValidationError

# An answer names at most this many problems, then how many more there are: enough to fix
# a payload, without echoing thousands of errors back for a large malformed one.
MAX_PROBLEMS = 10


class Problem(Exception):
    """An error answer: status, message, optional details and headers."""

    def __init__(
        self,
        status: int,
        message: str,
        *,
        problems: list[str] | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.problems = problems or []
        self.headers = headers or {}

    def body(self) -> dict[str, Any]:
        body: dict[str, Any] = {"error": self.message}
        if self.problems:
            body["problems"] = self.problems
        return body

    def response(self) -> JSONResponse:
        return JSONResponse(self.body(), status_code=self.status, headers={**self.headers, **CLOSE})


# Every error answer closes the connection: the request's body may not have been read (a
# refusal from the headers), and a sender that kept trickling it must not keep the socket.
CLOSE = {"Connection": "close"}


async def send_json(
    send: Callable, status: int, payload: Any, headers: dict[str, str] | None = None
) -> None:
    """Answer over raw ASGI `send` with a JSON body (errors close the connection)."""
    body = json.dumps(payload, separators=(",", ":")).encode()
    extra = {**(headers or {}), **(CLOSE if status >= 400 else {})}
    raw = [(b"content-type", b"application/json"), (b"content-length", b"%d" % len(body))]
    raw += [(k.lower().encode(), v.encode()) for k, v in extra.items()]
    await send({"type": "http.response.start", "status": status, "headers": raw})
    await send({"type": "http.response.body", "body": body})


def capped_problems(problems: list[str]) -> list[str]:
    """The first MAX_PROBLEMS problems, then "... and N more" if there are more."""
    if len(problems) <= MAX_PROBLEMS:
        return problems
    return [*problems[:MAX_PROBLEMS], f"... and {len(problems) - MAX_PROBLEMS} more"]


def validation_problems(exc: ValidationError) -> list[str]:
    """What pydantic found wrong, one "where: what" line per error, capped like
    `capped_problems` (only the shown errors are formatted)."""
    problems = []
    for error in exc.errors(include_url=False, include_input=False)[:MAX_PROBLEMS]:
        where = ".".join(str(part) for part in error["loc"]) or "body"
        problems.append(f"{where}: {error['msg']}")
    if exc.error_count() > MAX_PROBLEMS:
        problems.append(f"... and {exc.error_count() - MAX_PROBLEMS} more")
    return problems


async def read_body(declared_length: str | None, chunks: AsyncIterator[bytes], limit: int) -> bytes:
    """The body from `chunks`, refused with 413 as soon as it is known to exceed `limit`
    bytes: from the Content-Length header (`declared_length`) before reading anything, else
    while reading (a sender may omit or understate it). 400 for a Content-Length that is not
    a number."""
    if declared_length is not None:
        if not declared_length.strip().isdigit():
            raise Problem(400, "Content-Length must be a number")
        if int(declared_length) > limit:
            raise Problem(413, f"body larger than {limit} bytes")
    parts, size = [], 0
    async for chunk in chunks:
        size += len(chunk)
        if size > limit:
            raise Problem(413, f"body larger than {limit} bytes")
        parts.append(chunk)
    return b"".join(parts)


class Disconnected(Exception):
    """The sender went away before its body arrived; there is no one to answer."""


async def starlette_chunks(stream: AsyncIterator[bytes]) -> AsyncIterator[bytes]:
    """A Starlette request stream with its ClientDisconnect as Disconnected."""
    from starlette.requests import ClientDisconnect

    try:
        async for chunk in stream:
            yield chunk
    except ClientDisconnect:
        raise Disconnected from None


async def asgi_body_chunks(receive: Callable) -> AsyncIterator[bytes]:
    """The request body straight from ASGI `receive` messages (for handlers that bypass the
    framework); raises Disconnected if the client leaves first."""
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            raise Disconnected
        yield message.get("body", b"")
        if not message.get("more_body", False):
            return
