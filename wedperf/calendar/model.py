"""The wedding as wedperf sees it, and the validation every calendar row goes through."""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

STATUSES = ("scheduled", "confirmed", "completed", "cancelled")
_STATUS_ALIASES = {
    "canceled": "cancelled",
    "tentative": "scheduled",
    "booked": "confirmed",
    "done": "completed",
}
# A wedding day (ceremony to end of reception) longer than this is a data error, not a party.
MAX_WEDDING_SPAN = timedelta(hours=36)


class InvalidWedding(ValueError):
    """A calendar row that cannot be used; the message is the reason reported to the user."""


@dataclass(frozen=True)
class Wedding:
    """One wedding: UTC instants plus the venue's IANA timezone. `active_guests`: the
    calendar sync's known-ahead estimate of the guests who will use the app on the day
    (wedperf.calendar.active_guests); None: not known, size the wedding by `guest_count`."""

    wedding_id: str
    starts_at: datetime
    ends_at: datetime
    timezone: str
    venue: str | None
    guest_count: int
    status: str
    active_guests: int | None = None

    @property
    def zone(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)

    @property
    def local_start(self) -> datetime:
        return self.starts_at.astimezone(self.zone)

    def day_window(self, before: timedelta, after: timedelta) -> tuple[datetime, datetime]:
        """The span in which the day is live: `before` the ceremony to `after` the end."""
        return self.starts_at - before, self.ends_at + after


def check_timezone(name: Any) -> str:
    """The IANA zone name, or InvalidWedding saying why it is not one."""
    if not isinstance(name, str) or not name.strip():
        raise InvalidWedding("missing timezone")
    try:
        ZoneInfo(name.strip())
    except (ZoneInfoNotFoundError, ValueError):
        raise InvalidWedding(f"unknown timezone {name!r} (need an IANA name)") from None
    return name.strip()


def _instant(value: Any, field: str) -> datetime:
    if not isinstance(value, datetime):
        raise InvalidWedding(f"{field} is missing or not a timestamp")
    if value.tzinfo is None:
        raise InvalidWedding(f"{field} has no timezone (a floating time cannot be placed)")
    return value.astimezone(UTC)


def _whole_number(value: Any) -> int:
    if isinstance(value, bool):
        raise InvalidWedding(f"guest_count {value!r} is not a number")
    try:
        number = float(str(value).strip()) if isinstance(value, str) else float(value)
    except (TypeError, ValueError):
        raise InvalidWedding(f"guest_count {value!r} is not a number") from None
    if not math.isfinite(number) or number < 0 or number != int(number):
        raise InvalidWedding(f"guest_count {value!r} is not a non-negative whole number")
    return int(number)


def make_wedding(
    *,
    wedding_id: Any,
    starts_at: Any,
    ends_at: Any,
    timezone: Any,
    venue: Any,
    guest_count: Any,
    status: Any,
) -> Wedding:
    """Validate one calendar row into a Wedding; raise InvalidWedding with the reason."""
    if wedding_id is None or str(wedding_id).strip() == "":
        raise InvalidWedding("missing wedding id")
    zone = check_timezone(timezone)
    start = _instant(starts_at, "starts_at")
    end = _instant(ends_at, "ends_at")
    if end <= start:
        raise InvalidWedding(
            f"ends_at {end.isoformat()} is not after starts_at {start.isoformat()}"
        )
    if end - start > MAX_WEDDING_SPAN:
        raise InvalidWedding(f"wedding lasts {end - start}, longer than {MAX_WEDDING_SPAN}")
    guests = _whole_number(guest_count)
    normalised = str(status or "").strip().lower()
    normalised = _STATUS_ALIASES.get(normalised, normalised)
    if normalised not in STATUSES:
        raise InvalidWedding(f"unknown status {status!r} (expected one of {', '.join(STATUSES)})")
    return Wedding(
        wedding_id=str(wedding_id).strip(),
        starts_at=start,
        ends_at=end,
        timezone=zone,
        venue=(str(venue).strip() or None) if venue is not None else None,
        guest_count=guests,
        status=normalised,
    )
