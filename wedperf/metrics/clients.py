"""Client kinds: which kind of client observed a sample (docs/mobile.md).

Kept free of imports so that settings modules (read by wedperf.config) can use it.
"""

from __future__ import annotations

from typing import Literal

ClientKind = Literal["ios", "android", "web", "unknown"]
CLIENT_KINDS: tuple[str, ...] = ("ios", "android", "web", "unknown")
MOBILE_CLIENTS: tuple[str, ...] = ("ios", "android")
UNKNOWN = "unknown"
# The one device-side source: a real-user-monitoring beacon's value is what the device saw,
# network included. Every other source (Prometheus, probes, the app database) measures at or
# near the server. Server-side views (the latency_* checks, the `all` rollup group, the
# request-count forecast series) leave it out; the client groups and mobile p95 keep it.
RUM_SOURCE = "rum"

# Spellings seen in the wild (label values, app build flavours) -> kind.
_ALIASES = {
    "ios": "ios",
    "iphone": "ios",
    "ipad": "ios",
    "ipados": "ios",
    "android": "android",
    "web": "web",
    "browser": "web",
    "desktop": "web",
    "mobile-web": "web",
    "mobile_web": "web",
}


def client_kind(raw: str | None) -> str:
    """The client kind a label value or profile names; anything unrecognised is 'unknown'."""
    if not raw:
        return UNKNOWN
    return _ALIASES.get(raw.strip().lower(), UNKNOWN)


def is_mobile(kind: str) -> bool:
    return kind in MOBILE_CLIENTS
