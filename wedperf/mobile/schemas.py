"""The RUM beacon batch the mobile apps POST to /rum, and its checks against the settings.

A beacon is one timed user-visible operation on a device: which screen, which operation, how
long it took, on which network, in which app version and client, for which wedding, when.
Nothing else is accepted or stored: fields the model does not know are ignored; screen and
operation must be configured names, network and client come from fixed lists, and the wedding
id must look like an id here and name a wedding in perf.weddings when stored
(wedperf.mobile.storage), so a name, e-mail address or phone number is never stored.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Literal

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field

from wedperf.metrics.clients import ClientKind
from wedperf.mobile.settings import RumSettings

NetworkType = Literal["wifi", "ethernet", "5g", "4g", "3g", "2g", "unknown"]
_TOKEN = r"^[A-Za-z0-9][A-Za-z0-9_.:/+-]*$"


class RumBeacon(BaseModel):
    """One operation as a user's device timed it."""

    # A numeric wedding id (4211) is read as its text ("4211"), perf's key type.
    model_config = ConfigDict(extra="ignore", str_strip_whitespace=True, coerce_numbers_to_str=True)

    beacon_id: str | None = Field(
        default=None,
        min_length=8,
        max_length=64,
        pattern=r"^[A-Za-z0-9_-]+$",
        description="random id the app gives each beacon (a UUID); a retry resends it. "
        "Optional: without it, a beacon is identified by its content.",
    )
    screen: str = Field(
        min_length=1,
        max_length=64,
        pattern=_TOKEN,
        description="app screen, one of the configured screens, e.g. GuestList",
    )
    operation: str = Field(
        min_length=1, max_length=64, description="one of the configured operations"
    )
    duration_ms: float = Field(
        ge=0, allow_inf_nan=False, description="tap to content shown, milliseconds"
    )
    network: NetworkType = Field(description="connection type the device reported")
    app_version: str = Field(min_length=1, max_length=32, pattern=r"^[0-9A-Za-z][0-9A-Za-z._+-]*$")
    client: ClientKind = Field(description="ios, android or web (unknown if the app cannot tell)")
    wedding_id: str | None = Field(
        default=None,
        max_length=64,
        pattern=r"^[A-Za-z0-9_-]+$",
        description="the wedding the screen belongs to: the id of a wedding wedperf knows "
        "(never a name); a beacon naming an unknown wedding is dropped",
    )
    ts: AwareDatetime = Field(description="when the operation started (ISO 8601 with offset)")


class RumBatch(BaseModel):
    """What POST /rum accepts: a batch of beacons, as the app flushes its queue."""

    model_config = ConfigDict(extra="ignore")

    beacons: list[RumBeacon] = Field(min_length=1)


def batch_problems(batch: RumBatch, settings: RumSettings, now: datetime) -> list[str]:
    """What the configured limits refuse in `batch` (empty: acceptable), one line each,
    naming the beacon by its index."""
    problems: list[str] = []
    if len(batch.beacons) > settings.max_beacons_per_batch:
        return [
            f"{len(batch.beacons)} beacons in one batch; at most {settings.max_beacons_per_batch}"
        ]
    allowed = set(settings.operations)
    screens = set(settings.screens)
    oldest = now - settings.max_age
    newest = now + settings.max_clock_skew
    for index, beacon in enumerate(batch.beacons):
        where = f"beacons.{index}"
        if beacon.screen not in screens:
            # The value is not echoed: a screen that is not a screen may be personal data.
            problems.append(
                f"{where}.screen: not a configured screen ({', '.join(sorted(screens))})"
            )
        if beacon.operation not in allowed:
            problems.append(
                f"{where}.operation: {beacon.operation!r} is not one of "
                f"{', '.join(sorted(allowed))}"
            )
        if beacon.duration_ms > settings.max_duration_ms:
            problems.append(
                f"{where}.duration_ms: {beacon.duration_ms:g} ms is over the "
                f"{settings.max_duration_ms:g} ms limit"
            )
        if beacon.ts < oldest:
            problems.append(f"{where}.ts: older than {human_span(settings.max_age)}")
        elif beacon.ts > newest:
            problems.append(f"{where}.ts: more than {human_span(settings.max_clock_skew)} ahead")
    return problems


def human_span(span: timedelta) -> str:
    seconds = int(span.total_seconds())
    if seconds % 86_400 == 0:
        return f"{seconds // 86_400} day(s)"
    if seconds % 3600 == 0:
        return f"{seconds // 3600} hour(s)"
    return f"{seconds // 60} minute(s)"
