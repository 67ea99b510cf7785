"""Real-user-monitoring settings (a section of wedperf.config.Settings: WEDPERF_RUM__*).

Also where the metrics sources learn client kinds (docs/mobile.md): the Prometheus label that names
the client, and the client profile of probe targets.
"""

from __future__ import annotations

from datetime import timedelta

from pydantic import BaseModel, Field, SecretStr

from wedperf.metrics.clients import ClientKind

DEFAULT_OPERATIONS = ["guest_list", "timeline_sync", "photo_upload", "vendor_notify"]
# The app's screen for each operation (as the sandbox's synthetic mobile client reports
# them): the screen names a beacon may carry unless `RumSettings.screens` says otherwise.
APP_SCREENS: dict[str, str] = {
    "guest_list": "GuestList",
    "timeline_sync": "Timeline",
    "photo_upload": "PhotoUpload",
    "vendor_notify": "VendorChat",
}

# User-Agents a probe (or the sandbox's synthetic mobile client) sends for a client profile,
# shaped like the apps' own so that the platform's UA parsing classifies them the same way.
# They end in "wedperf-probe" so synthetic traffic stays recognisable.
DEFAULT_USER_AGENTS: dict[str, str] = {
    "ios": "WedApp/5.2.0 (iPhone; iOS 17.5; Scale/3.00) CFNetwork/1494.0.7 Darwin/23.4.0 "
    "wedperf-probe",
    "android": "WedApp/5.2.0 (Linux; Android 14; Pixel 8) okhttp/4.12.0 wedperf-probe",
    "web": "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/126.0 Safari/537.36 wedperf-probe",
}


class RumSettings(BaseModel):
    """How the webhook service accepts RUM beacons from the mobile apps, and how the metrics
    sources tell clients apart."""

    token: SecretStr | None = Field(
        default=None,
        description="bearer token POST /rum requires (at least 32 bytes, not the alert "
        "webhook's): unset, /rum is not served. A token shipped to phones (or their forwarding "
        "proxy) cannot post alerts; never logged",
    )

    max_beacons_per_batch: int = Field(
        default=500, ge=1, description="more beacons in one POST /rum get 422"
    )
    max_body_bytes: int = Field(
        default=262_144, ge=1024, description="larger POST /rum bodies get 413"
    )
    operations: list[str] = Field(
        default_factory=lambda: list(DEFAULT_OPERATIONS),
        description="operations a beacon may report; others get 422",
    )
    screens: list[str] = Field(
        default_factory=lambda: list(APP_SCREENS.values()),
        min_length=1,
        description="screen names a beacon may report (exactly); others get 422, so that "
        "free text (a name, a phone number) never reaches perf.samples",
    )
    max_in_flight: int = Field(
        default=64,
        ge=1,
        description="authenticated POST /rum requests handled at once; beyond it 503",
    )
    max_in_flight_per_client: int = Field(
        default=16,
        ge=1,
        description="of those, at most this many from one client address (the RUM token is in "
        "every app: one holder cannot take them all); beyond it 503",
    )
    body_timeout_seconds: float = Field(
        default=15.0,
        gt=0,
        description="an admitted batch's body must arrive within this (phones on 3G are "
        "slow); else 408 and the connection is closed",
    )
    max_duration_ms: float = Field(
        default=600_000, gt=0, description="longer durations are refused as implausible"
    )
    max_age: timedelta = Field(
        default=timedelta(days=2),
        description="beacons older than this are refused (apps queue beacons while offline)",
    )
    max_clock_skew: timedelta = Field(
        default=timedelta(minutes=5),
        description="beacons stamped further than this in the future are refused",
    )
    client_label: str | None = Field(
        default="client",
        description="Prometheus series label naming the client kind (ios/android/web); "
        "unset: Prometheus samples are 'unknown'",
    )
    probe_clients: dict[str, ClientKind] = Field(
        default_factory=dict,
        description="client profile of probe targets, by target name: the samples carry the "
        "client kind and the probe sends that client's User-Agent",
    )
    user_agents: dict[str, str] = Field(
        default_factory=lambda: dict(DEFAULT_USER_AGENTS),
        description="User-Agent per client kind, for probes with a client profile",
    )
