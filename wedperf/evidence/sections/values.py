"""Small value helpers shared by the sections: timestamps as ISO text or local clock time,
NaN-free numbers for JSON, check values in their unit, and the scope in words."""

from __future__ import annotations

import math
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

import pandas as pd

from wedperf.critical_path.report import format_value
from wedperf.evidence.data import Scope


def span_words(scope: Scope) -> str:
    """How the "no data" messages name the scope."""
    if scope.kind == "day":
        return "for this day" if scope.days == 1 else "for these days"
    return "for this wedding's window"


def iso(value: datetime | pd.Timestamp | None) -> str | None:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return None
    return pd.Timestamp(value).isoformat()


def local(value: datetime | None, scope: Scope, fmt: str = "%H:%M") -> str:
    """`value` on the report's clock; a scope of several days puts the day before the time."""
    if value is None:
        return "—"
    if scope.kind == "day" and scope.days > 1 and fmt == "%H:%M":
        fmt = "%a %d %b %H:%M"
    return pd.Timestamp(value).tz_convert(ZoneInfo(scope.timezone)).strftime(fmt)


def number_or_none(value: Any) -> float | None:
    """A float for the figure JSON; None for missing values, since NaN is not valid JSON."""
    if value is None:
        return None
    value = float(value)
    return None if math.isnan(value) else value


def format_check_value(check: str, value: float | None) -> str:
    return "—" if value is None else format_value(check, value)


NO_DATA = "no data"


def round_state(status: str | None, value: Any) -> str:
    """How a check's round is counted and drawn: its status, except that a round without a
    value (nothing to measure: the SLO module classifies it ok) is "no data", not ok."""
    if number_or_none(value) is None and status not in ("warn", "breach"):
        return NO_DATA
    return str(status)
