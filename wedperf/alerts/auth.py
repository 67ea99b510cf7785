"""Who may post alerts: bearer token, basic auth, or an HMAC-SHA256 body signature.

- `Authorization: Bearer <token>`: Alertmanager `http_config.authorization.credentials`
  (or `bearer_token`), Grafana's webhook "Authorization header" setting.
- `Authorization: Basic ...` with the token as password (and `basic_username` as user name
  when set): Alertmanager `http_config.basic_auth`, Grafana's basic-auth fields.
- `X-Wedperf-Signature: sha256=<hex HMAC-SHA256 of the raw body>` keyed with `hmac_secret`
  (or the token): for generic senders that cannot hold a bearer token in a header.

Every comparison is constant-time (`hmac.compare_digest`). Nothing here logs a credential.
Without any credential configured the receiver refuses to start unless told it is a
development run (`allow_unauthenticated`).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
from collections.abc import Callable, Mapping
from dataclasses import dataclass

from wedperf.alerts.settings import WebhookSettings

SIGNATURE_HEADER = "x-wedperf-signature"
CHALLENGE = 'Bearer realm="wedperf", Basic realm="wedperf"'


class WebhookConfigError(RuntimeError):
    """The receiver cannot start as configured; the message says what to set."""


class AuthFailed(Exception):
    """The request is not authenticated; the message is safe to return (no secret in it)."""


@dataclass(frozen=True, repr=False)
class Credentials:
    """Resolved secrets of the receiver (repr hides them)."""

    token: bytes | None
    hmac_key: bytes | None
    basic_username: bytes | None
    allow_unauthenticated: bool = False

    def __repr__(self) -> str:
        return (
            f"Credentials(token={'set' if self.token else 'unset'}, "
            f"hmac={'set' if self.hmac_key else 'unset'}, "
            f"allow_unauthenticated={self.allow_unauthenticated})"
        )

    @classmethod
    def from_settings(
        cls,
        settings: WebhookSettings,
        *,
        load_secret: Callable[[str], str] | None = None,
    ) -> Credentials:
        """Resolve the token (settings, else the Prefect Secret block) and the HMAC key.

        Raises WebhookConfigError when no credential is configured and unauthenticated
        access was not explicitly allowed.
        """
        token = settings.token.get_secret_value() if settings.token else None
        if not token and settings.token_secret_block:
            token = (load_secret or load_prefect_secret)(settings.token_secret_block)
        hmac_key = settings.hmac_secret.get_secret_value() if settings.hmac_secret else token
        if not token and not hmac_key and not settings.allow_unauthenticated:
            raise WebhookConfigError(
                "no webhook credential configured: set WEDPERF_WEBHOOK_TOKEN (or "
                "WEDPERF_WEBHOOK__TOKEN, or WEDPERF_WEBHOOK__TOKEN_SECRET_BLOCK naming a Prefect "
                "Secret block, or WEDPERF_WEBHOOK__HMAC_SECRET); for a development run only, "
                "pass --insecure-dev"
            )
        return cls(
            token=token.encode() if token else None,
            hmac_key=hmac_key.encode() if hmac_key else None,
            basic_username=settings.basic_username.encode() if settings.basic_username else None,
            allow_unauthenticated=settings.allow_unauthenticated,
        )

    def needs_body(self, headers: Mapping[str, str]) -> bool:
        """Check the Authorization header, if any, before the body is read.

        Returns True when the request must instead be verified by its body signature
        (`verify_signature`), False when it is authenticated already. Raises AuthFailed.
        """
        if self.allow_unauthenticated:
            return False
        authorization = headers.get("authorization")
        if authorization:
            scheme, _, value = authorization.strip().partition(" ")
            if scheme.lower() == "bearer" and self.token is not None:
                if _same(value.strip().encode(), self.token):
                    return False
                raise AuthFailed("invalid bearer token")
            if scheme.lower() == "basic" and self.token is not None:
                if self._basic_ok(value.strip()):
                    return False
                raise AuthFailed("invalid basic-auth credentials")
            if SIGNATURE_HEADER not in headers:
                raise AuthFailed(f"unsupported authorization scheme {scheme[:20]!r}")
        if SIGNATURE_HEADER in headers and self.hmac_key is not None:
            return True
        raise AuthFailed(
            "missing credentials: send Authorization: Bearer <token>, basic auth, or "
            "X-Wedperf-Signature: sha256=<HMAC-SHA256 of the body>"
        )

    def verify_signature(self, headers: Mapping[str, str], body: bytes) -> None:
        """Check X-Wedperf-Signature against the body; raises AuthFailed."""
        assert self.hmac_key is not None
        scheme, _, signature = headers.get(SIGNATURE_HEADER, "").strip().partition("=")
        if scheme.lower() != "sha256" or not signature:
            raise AuthFailed("X-Wedperf-Signature must be sha256=<hex digest>")
        expected = hmac.new(self.hmac_key, body, hashlib.sha256).hexdigest().encode()
        if not _same(signature.strip().lower().encode(), expected):
            raise AuthFailed("invalid body signature")

    def _basic_ok(self, value: str) -> bool:
        try:
            decoded = base64.b64decode(value, validate=True)
        except (binascii.Error, ValueError):
            return False
        username, sep, password = decoded.partition(b":")
        if not sep or self.token is None:
            return False
        user_ok = self.basic_username is None or _same(username, self.basic_username)
        return _same(password, self.token) and user_ok


def sign(key: str | bytes, body: bytes) -> str:
    """The X-Wedperf-Signature value for `body` (senders and tests)."""
    raw = key.encode() if isinstance(key, str) else key
    return "sha256=" + hmac.new(raw, body, hashlib.sha256).hexdigest()


def load_prefect_secret(name: str) -> str:
    """The value of the Prefect Secret block `name` (read once, at start-up)."""
    from wedperf.prefect_api import secret_value

    try:
        value = secret_value(name)
    except ValueError as exc:
        raise WebhookConfigError(f"Prefect Secret block {name!r} not found") from exc
    if not isinstance(value, str) or not value:
        raise WebhookConfigError(f"Prefect Secret block {name!r} does not hold a string token")
    return value


def _same(given: bytes, expected: bytes) -> bool:
    return hmac.compare_digest(given, expected)
