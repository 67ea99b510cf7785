"""Who may post: checked from the request headers alone, before a request takes a slot or
any of its body is read.

Alert routes (`Credentials.from_settings`):
- `Authorization: Bearer <token>`: Alertmanager `http_config.authorization.credentials`
  (or `bearer_token`), Grafana's webhook "Authorization header" setting.
- `Authorization: Basic ...` with the token as password (and `basic_username` as user name
  when set): Alertmanager `http_config.basic_auth`, Grafana's basic-auth fields.
- A signed request, only when `hmac_secret` is configured (a key of its own, never the
  token), for generic senders that cannot hold a bearer token in a header:
  `X-Wedperf-Timestamp` (Unix seconds), `X-Wedperf-Nonce` (16-128 of `A-Za-z0-9_-`, new for
  every attempt), `X-Wedperf-Content-SHA256` (hex SHA-256 of the body) and
  `X-Wedperf-Signature: v1=<hex HMAC-SHA256 of "v1\\n<METHOD>\\n<path>\\n<timestamp>\\n<nonce>\\n
  <content sha256>">`. The signature covers the body through its digest, so it is checked
  before the body is read (a forged one costs the receiver nothing); the body is then held
  to the digest, the timestamp to `hmac_window`, and the nonce to one use (perf.webhook_nonces).

`/rum` (`rum_credentials`) takes only its own bearer token. Every secret is at least
`MIN_SECRET_BYTES`, and no two are the same, so no credential works where another's is
expected. Every comparison is constant-time; nothing here logs or echoes a credential.
Without any credential configured the receiver refuses to start unless told it is a
development run (`allow_unauthenticated`).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import re
import secrets
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from wedperf.alerts.settings import WebhookSettings

SIGNATURE_HEADER = "x-wedperf-signature"
TIMESTAMP_HEADER = "x-wedperf-timestamp"
NONCE_HEADER = "x-wedperf-nonce"
DIGEST_HEADER = "x-wedperf-content-sha256"
SIGNATURE_VERSION = "v1"
CHALLENGE = 'Bearer realm="wedperf", Basic realm="wedperf"'
RUM_CHALLENGE = 'Bearer realm="wedperf-rum"'
# 32 bytes: 256 bits when random, the HMAC-SHA256 key size; shorter tokens can be guessed or
# were typed by hand.
MIN_SECRET_BYTES = 32
_NONCE = re.compile(r"^[A-Za-z0-9_-]{16,128}$")
_HEX64 = re.compile(r"^[0-9a-f]{64}$")


class WebhookConfigError(RuntimeError):
    """The receiver cannot start as configured; the message says what to set."""


class AuthFailed(Exception):
    """The request is not authenticated; the message is safe to return (it never repeats
    anything the request sent)."""


@dataclass(frozen=True)
class Proof:
    """What the headers proved, and what is left to check once the body is in: a signed
    request's body digest, and its nonce (to be used once, remembered until `expires_at`)."""

    body_sha256: str | None = None
    nonce: str | None = None
    expires_at: datetime | None = None


HEADERS_ONLY = Proof()


@dataclass(frozen=True, repr=False)
class Credentials:
    """Resolved secrets of one kind of route (repr hides them)."""

    token: bytes | None
    hmac_key: bytes | None
    basic_username: bytes | None
    allow_unauthenticated: bool = False
    hmac_window: timedelta = timedelta(minutes=5)
    allow_basic: bool = True
    challenge: str = CHALLENGE

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
        """The alert routes' credentials: the token (settings, else the Prefect Secret
        block) and, only if `hmac_secret` is set, the signing key.

        Raises WebhookConfigError when no credential is configured and unauthenticated
        access was not explicitly allowed, when a secret is shorter than MIN_SECRET_BYTES, or
        when the signing key is the token.
        """
        token = settings.token.get_secret_value() if settings.token else None
        if not token and settings.token_secret_block:
            token = (load_secret or load_prefect_secret)(settings.token_secret_block)
        hmac_key = settings.hmac_secret.get_secret_value() if settings.hmac_secret else None
        if not token and not hmac_key and not settings.allow_unauthenticated:
            raise WebhookConfigError(
                "no webhook credential configured: set WEDPERF_WEBHOOK_TOKEN (or "
                "WEDPERF_WEBHOOK__TOKEN, or WEDPERF_WEBHOOK__TOKEN_SECRET_BLOCK naming a Prefect "
                "Secret block, or WEDPERF_WEBHOOK__HMAC_SECRET); for a development run only, "
                "pass --insecure-dev"
            )
        if token:
            check_secret("the webhook token (WEDPERF_WEBHOOK_TOKEN)", token)
        if hmac_key:
            check_secret("WEDPERF_WEBHOOK__HMAC_SECRET", hmac_key)
            if token and hmac.compare_digest(hmac_key.encode(), token.encode()):
                raise WebhookConfigError(
                    "WEDPERF_WEBHOOK__HMAC_SECRET must not be the webhook token: give signed "
                    "requests a key of their own"
                )
        return cls(
            token=token.encode() if token else None,
            hmac_key=hmac_key.encode() if hmac_key else None,
            basic_username=settings.basic_username.encode() if settings.basic_username else None,
            allow_unauthenticated=settings.allow_unauthenticated,
            hmac_window=settings.hmac_window,
        )

    def authenticate(
        self, method: str, path: str, headers: Mapping[str, str], *, now: float | None = None
    ) -> Proof:
        """Check the request's credentials from its headers; raises AuthFailed.

        Returns HEADERS_ONLY when that is all there is to it, or the Proof a signed request
        still owes (`check_body`, then its nonce used once).
        """
        if self.allow_unauthenticated:
            return HEADERS_ONLY
        authorization = headers.get("authorization")
        if authorization:
            scheme, _, value = authorization.strip().partition(" ")
            if scheme.lower() == "bearer" and self.token is not None:
                if _same(value.strip().encode(), self.token):
                    return HEADERS_ONLY
                raise AuthFailed("invalid bearer token")
            if scheme.lower() == "basic" and self.token is not None and self.allow_basic:
                if self._basic_ok(value.strip()):
                    return HEADERS_ONLY
                raise AuthFailed("invalid basic-auth credentials")
            if SIGNATURE_HEADER not in headers:
                raise AuthFailed(f"unsupported authorization scheme; {self._expected()}")
        if SIGNATURE_HEADER in headers:
            if self.hmac_key is None:
                raise AuthFailed(f"signed requests are not enabled here; {self._expected()}")
            return self._verify_signature(
                method, path, headers, time.time() if now is None else now
            )
        raise AuthFailed(f"missing credentials: {self._expected()}")

    def check_body(self, proof: Proof, body: bytes) -> None:
        """A signed request's body against the digest it signed; raises AuthFailed."""
        if proof.body_sha256 is None:
            return
        if not _same(hashlib.sha256(body).hexdigest().encode(), proof.body_sha256.encode()):
            raise AuthFailed("body does not match its signed X-Wedperf-Content-SHA256")

    def _verify_signature(
        self, method: str, path: str, headers: Mapping[str, str], now: float
    ) -> Proof:
        assert self.hmac_key is not None
        version, _, signature = headers.get(SIGNATURE_HEADER, "").strip().partition("=")
        if version != SIGNATURE_VERSION or not signature:
            raise AuthFailed(
                "X-Wedperf-Signature must be v1=<hex HMAC-SHA256 of method, path, timestamp, "
                "nonce and body digest> (body-only signatures are no longer accepted)"
            )
        stamp = headers.get(TIMESTAMP_HEADER, "").strip()
        nonce = headers.get(NONCE_HEADER, "").strip()
        digest = headers.get(DIGEST_HEADER, "").strip().lower()
        if not stamp.isdigit() or len(stamp) > 12:
            raise AuthFailed("X-Wedperf-Timestamp must be Unix seconds")
        if not _NONCE.match(nonce):
            raise AuthFailed("X-Wedperf-Nonce must be 16-128 of A-Z a-z 0-9 _ -")
        if not _HEX64.match(digest):
            raise AuthFailed("X-Wedperf-Content-SHA256 must be the hex SHA-256 of the body")
        expected = signature_of(self.hmac_key, method, path, stamp, nonce, digest)
        if not _same(signature.strip().lower().encode(), expected.encode()):
            raise AuthFailed("invalid signature")
        # Checked after the signature, so an unsigned guess learns nothing about the clock.
        window = self.hmac_window.total_seconds()
        if abs(now - int(stamp)) > window:
            raise AuthFailed(
                f"signed request outside the {window:g} s replay window (check the sender's "
                "clock; sign every attempt anew)"
            )
        expires = datetime.fromtimestamp(int(stamp), UTC) + self.hmac_window
        return Proof(body_sha256=digest, nonce=nonce, expires_at=expires)

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

    def _expected(self) -> str:
        ways = []
        if self.token is not None:
            ways.append("Authorization: Bearer <token>")
            if self.allow_basic:
                ways.append("basic auth")
        if self.hmac_key is not None:
            ways.append("a v1 X-Wedperf-Signature")
        return "send " + (", or ".join(ways) or "credentials")


def rum_credentials(webhook: Credentials, rum_token: str | None) -> Credentials | None:
    """/rum's credentials: its own bearer token only (so what the apps carry cannot post
    alerts); None (/rum not served) without one, except in a development run, which takes
    beacons unauthenticated too. Raises WebhookConfigError for a short token or one that is
    an alert credential."""
    if rum_token is None:
        if webhook.allow_unauthenticated:
            return Credentials(
                token=None,
                hmac_key=None,
                basic_username=None,
                allow_unauthenticated=True,
                challenge=RUM_CHALLENGE,
            )
        return None
    check_secret("WEDPERF_RUM__TOKEN", rum_token)
    raw = rum_token.encode()
    if any(key is not None and _same(raw, key) for key in (webhook.token, webhook.hmac_key)):
        raise WebhookConfigError(
            "WEDPERF_RUM__TOKEN must differ from the alert webhook's credentials: the apps "
            "carry it, and it must not be able to start remediation"
        )
    return Credentials(
        token=raw, hmac_key=None, basic_username=None, allow_basic=False, challenge=RUM_CHALLENGE
    )


def check_secret(name: str, value: str) -> None:
    """Refuse a secret shorter than MIN_SECRET_BYTES (its length is said, never its value)."""
    size = len(value.encode())
    if size < MIN_SECRET_BYTES:
        raise WebhookConfigError(
            f"{name} is {size} bytes; at least {MIN_SECRET_BYTES} are required (make one with "
            "`python -c 'import secrets; print(secrets.token_urlsafe(32))'`)"
        )


def signature_of(
    key: bytes, method: str, path: str, timestamp: str, nonce: str, body_sha256: str
) -> str:
    """The hex v1 signature of a request (what `X-Wedperf-Signature: v1=` carries)."""
    message = "\n".join([SIGNATURE_VERSION, method.upper(), path, timestamp, nonce, body_sha256])
    return hmac.new(key, message.encode(), hashlib.sha256).hexdigest()


def signed_headers(
    key: str | bytes,
    method: str,
    path: str,
    body: bytes,
    *,
    timestamp: int | None = None,
    nonce: str | None = None,
) -> dict[str, str]:
    """The headers of a signed request (senders and tests); every attempt signs anew."""
    raw = key.encode() if isinstance(key, str) else key
    stamp = str(int(time.time()) if timestamp is None else timestamp)
    nonce = nonce or secrets.token_urlsafe(18)
    digest = hashlib.sha256(body).hexdigest()
    return {
        TIMESTAMP_HEADER: stamp,
        NONCE_HEADER: nonce,
        DIGEST_HEADER: digest,
        SIGNATURE_HEADER: f"{SIGNATURE_VERSION}="
        + signature_of(raw, method, path, stamp, nonce, digest),
    }


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
