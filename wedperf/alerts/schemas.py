"""Payload schemas of the three webhook kinds, and their normalisation into inbox rows.

- Alertmanager webhook, version 4 (`POST /alerts/alertmanager`), as documented by Prometheus.
- Grafana unified alerting webhook contact point (`POST /alerts/grafana`): the Alertmanager
  shape plus `orgId`, `title`, `state`, `message` and, per alert, `silenceURL`,
  `dashboardURL`, `panelURL`, `values`, `valueString`.
- Generic JSON (`POST /alerts/generic`): `{"alerts": [{"name", "status", "fingerprint"?,
  "labels", "annotations", "starts_at", "ends_at"?, "generator_url"?}]}`.

An alert's identity is (source, fingerprint, starts_at); source is the receiver kind. A
missing fingerprint is derived from the labels (generic: name + labels), so repeats of the
same alert keep one identity. Labels and annotations are stored as given: the app must not
put guest names or contact details in them (wedperf's schema keeps ids, counts and timings
only).

Everything PostgreSQL or the dispatcher could refuse is refused here, before the
transaction, so that a 4xx never commits and a stored row can always be read back: strings
are storable text (no NUL, in fields wedperf does not know either); instants are RFC 3339
strings with an offset (a number is refused), from 1970 to the end of year 9999 once in UTC
(PostgreSQL stores year 10000, Python cannot read it back); label and annotation sets are
bounded in count and size, and `wedding_id` fits the index it is in.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    AwareDatetime,
    BaseModel,
    ConfigDict,
    Field,
    FiniteFloat,
    Strict,
    model_validator,
)

from wedperf.alerts.model import Alert

ZERO_TIME_YEAR = 1  # Alertmanager's "0001-01-01T00:00:00Z": not resolved yet
EARLIEST = datetime(1970, 1, 1, tzinfo=UTC)
LATEST_YEAR = 9999
MAX_LABELS = 128  # per label or annotation set
MAX_LABEL_VALUE = 4096  # characters
MAX_ANNOTATION_VALUE = 16_384
# wedding_id is in the btree index alerts_wedding_idx, whose rows must stay under 2,704
# bytes: 128 characters are at most 512 bytes of UTF-8.
MAX_WEDDING_ID = 128
MAX_EXTRA_DEPTH = 32


def _storable(value: str) -> str:
    if "\x00" in value:
        raise ValueError("must not contain NUL characters")
    return value


Text = Annotated[str, AfterValidator(_storable)]
ShortText = Annotated[str, Field(max_length=1024), AfterValidator(_storable)]
LongText = Annotated[str, Field(max_length=8192), AfterValidator(_storable)]
Fingerprint = Annotated[str, Field(min_length=1, max_length=256), AfterValidator(_storable)]
LabelName = Annotated[str, Field(min_length=1, max_length=256), AfterValidator(_storable)]
LabelSet = Annotated[
    dict[LabelName, Annotated[str, Field(max_length=MAX_LABEL_VALUE), AfterValidator(_storable)]],
    Field(max_length=MAX_LABELS),
]
AnnotationSet = Annotated[
    dict[
        LabelName, Annotated[str, Field(max_length=MAX_ANNOTATION_VALUE), AfterValidator(_storable)]
    ],
    Field(max_length=MAX_LABELS),
]


def _in_utc_range(value: datetime) -> datetime:
    try:
        utc = value.astimezone(UTC)
    except OverflowError:  # e.g. 9999-12-31T23:59:59-14:00 is in year 10000 in UTC
        raise ValueError(f"must be before {LATEST_YEAR + 1}-01-01T00:00:00Z") from None
    if utc < EARLIEST:
        raise ValueError("must be after 1970-01-01T00:00:00Z")
    return value


def _end_instant(value: datetime) -> datetime:
    if value.year == ZERO_TIME_YEAR and value.utcoffset() == timedelta(0):
        return value  # Alertmanager's "not ended yet"
    return _in_utc_range(value)


# Strict: an RFC 3339 string only (in JSON, a number would be read as Unix seconds).
_RANGE = (
    "RFC 3339 date-time with an offset (a number is refused), from 1970-01-01T00:00:00Z to "
    f"before {LATEST_YEAR + 1}-01-01T00:00:00Z once in UTC"
)
_RANGE_SCHEMA = {
    "formatMinimum": "1970-01-01T00:00:00Z",
    "formatExclusiveMaximum": f"{LATEST_YEAR + 1}-01-01T00:00:00Z",
}
Instant = Annotated[
    AwareDatetime,
    Strict(),
    AfterValidator(_in_utc_range),
    Field(description=_RANGE, json_schema_extra=_RANGE_SCHEMA),
]
EndInstant = Annotated[
    AwareDatetime,
    Strict(),
    AfterValidator(_end_instant),
    Field(
        description=_RANGE + '; or Alertmanager\'s "0001-01-01T00:00:00Z": not ended yet',
        json_schema_extra=_RANGE_SCHEMA,
    ),
]
Status = Literal["firing", "resolved"]


def _check_extra(value: Any, where: str, depth: int = 0) -> None:
    """A field wedperf does not know is stored in the payload as sent: it must be storable
    JSON text too."""
    if depth > MAX_EXTRA_DEPTH:
        raise ValueError(f"{where}: nested deeper than {MAX_EXTRA_DEPTH}")
    if isinstance(value, str):
        if "\x00" in value:
            raise ValueError(f"{where}: must not contain NUL characters")
    elif isinstance(value, dict):
        for key, item in value.items():
            if "\x00" in key:
                raise ValueError(f"{where}: a key must not contain NUL characters")
            _check_extra(item, f"{where}.{key}", depth + 1)
    elif isinstance(value, list):
        for index, item in enumerate(value):
            _check_extra(item, f"{where}.{index}", depth + 1)


class _Lenient(BaseModel):
    """Senders add fields over time; unknown ones are kept in the raw payload, not refused,
    as long as PostgreSQL can store them."""

    model_config = ConfigDict(extra="allow", populate_by_name=True)

    @model_validator(mode="after")
    def _storable_extras(self) -> _Lenient:
        for key, value in (self.model_extra or {}).items():
            if "\x00" in key:
                raise ValueError("a field name must not contain NUL characters")
            _check_extra(value, key)
        return self


def _bounded_wedding_id(labels: dict[str, str]) -> None:
    wedding_id = labels.get("wedding_id")
    if wedding_id is not None and len(wedding_id) > MAX_WEDDING_ID:
        raise ValueError(
            f"labels.wedding_id: at most {MAX_WEDDING_ID} characters (got {len(wedding_id)})"
        )


class AlertmanagerAlert(_Lenient):
    status: Status
    labels: LabelSet
    annotations: AnnotationSet = Field(default_factory=dict)
    starts_at: Instant = Field(alias="startsAt")
    ends_at: EndInstant | None = Field(default=None, alias="endsAt")
    generator_url: ShortText | None = Field(default=None, alias="generatorURL")
    fingerprint: Fingerprint | None = None

    @model_validator(mode="after")
    def _wedding_id_fits(self) -> AlertmanagerAlert:
        _bounded_wedding_id(self.labels)
        return self


class AlertmanagerNotification(_Lenient):
    """Alertmanager's webhook body (`webhook_config`), version 4."""

    version: Literal["4"]
    group_key: LongText = Field(alias="groupKey")
    truncated_alerts: int = Field(default=0, alias="truncatedAlerts", ge=0)
    status: Status
    receiver: ShortText
    group_labels: LabelSet = Field(default_factory=dict, alias="groupLabels")
    common_labels: LabelSet = Field(default_factory=dict, alias="commonLabels")
    common_annotations: AnnotationSet = Field(default_factory=dict, alias="commonAnnotations")
    external_url: ShortText = Field(default="", alias="externalURL")
    alerts: list[AlertmanagerAlert]


class GrafanaAlert(AlertmanagerAlert):
    silence_url: ShortText | None = Field(default=None, alias="silenceURL")
    dashboard_url: ShortText | None = Field(default=None, alias="dashboardURL")
    panel_url: ShortText | None = Field(default=None, alias="panelURL")
    values: Annotated[dict[LabelName, FiniteFloat | None], Field(max_length=MAX_LABELS)] | None = (
        None
    )
    value_string: Text | None = Field(default=None, alias="valueString")


class GrafanaNotification(_Lenient):
    """Grafana unified alerting's webhook contact point body (version "1")."""

    receiver: ShortText
    status: Status
    org_id: int | None = Field(default=None, alias="orgId")
    alerts: list[GrafanaAlert]
    group_labels: LabelSet = Field(default_factory=dict, alias="groupLabels")
    common_labels: LabelSet = Field(default_factory=dict, alias="commonLabels")
    common_annotations: AnnotationSet = Field(default_factory=dict, alias="commonAnnotations")
    external_url: ShortText = Field(default="", alias="externalURL")
    version: ShortText = "1"
    group_key: LongText = Field(default="", alias="groupKey")
    truncated_alerts: int = Field(default=0, alias="truncatedAlerts", ge=0)
    title: Text | None = None
    state: Text | None = None
    message: Text | None = None


class GenericAlert(_Lenient):
    """One alert from any sender that can POST JSON."""

    name: Annotated[str, Field(min_length=1, max_length=256), AfterValidator(_storable)]
    status: Status = "firing"
    fingerprint: Fingerprint | None = Field(
        default=None, description="stable id of the alert; derived from name + labels if absent"
    )
    labels: LabelSet = Field(default_factory=dict)
    annotations: AnnotationSet = Field(default_factory=dict)
    starts_at: Instant = Field(
        description="when the condition began; every repeat must send the same instant"
    )
    ends_at: Instant | None = Field(default=None, description="when it ended (resolved only)")
    generator_url: ShortText | None = None

    @model_validator(mode="after")
    def _wedding_id_fits(self) -> GenericAlert:
        _bounded_wedding_id(self.labels)
        return self


class GenericNotification(_Lenient):
    """Generic JSON webhook body."""

    alerts: list[GenericAlert]


def label_fingerprint(labels: dict[str, str], name: str | None = None) -> str:
    """A stable fingerprint of a label set (and name): 16 hex digits, like Alertmanager's."""
    canonical = json.dumps([name, sorted(labels.items())], separators=(",", ":"))
    return hashlib.sha256(canonical.encode()).hexdigest()[:16]


def _ends(status: str, ends_at: datetime | None, received: datetime) -> datetime | None:
    if status == "firing":
        return None
    if ends_at is None or ends_at.year == ZERO_TIME_YEAR:
        return received
    return ends_at


def from_alertmanager(
    body: AlertmanagerNotification | GrafanaNotification, source: str, received: datetime
) -> list[Alert]:
    """Rows of an Alertmanager or Grafana notification (the same alert shape)."""
    rows = []
    for alert in body.alerts:
        labels = dict(alert.labels)
        rows.append(
            Alert(
                source=source,
                fingerprint=alert.fingerprint or label_fingerprint(labels),
                starts_at=alert.starts_at,
                status=alert.status,
                ends_at=_ends(alert.status, alert.ends_at, received),
                alertname=labels.get("alertname") or "unnamed",
                severity=labels.get("severity"),
                wedding_id=labels.get("wedding_id"),
                labels=labels,
                annotations=dict(alert.annotations),
                receiver=body.receiver,
                group_key=body.group_key or None,
                external_url=body.external_url or None,
                generator_url=alert.generator_url or None,
                payload=alert.model_dump(mode="json", by_alias=True, exclude_none=True),
            )
        )
    return rows


def from_generic(body: GenericNotification, received: datetime) -> list[Alert]:
    """Rows of a generic notification; `name` becomes the alertname label."""
    rows = []
    for alert in body.alerts:
        labels = {"alertname": alert.name, **alert.labels}
        rows.append(
            Alert(
                source="generic",
                fingerprint=alert.fingerprint or label_fingerprint(dict(alert.labels), alert.name),
                starts_at=alert.starts_at,
                status=alert.status,
                ends_at=_ends(alert.status, alert.ends_at, received),
                alertname=alert.name,
                severity=labels.get("severity"),
                wedding_id=labels.get("wedding_id"),
                labels=labels,
                annotations=dict(alert.annotations),
                receiver=None,
                group_key=None,
                external_url=None,
                generator_url=alert.generator_url or None,
                payload=alert.model_dump(mode="json", exclude_none=True),
            )
        )
    return rows


def collapse(alerts: list[Alert]) -> list[Alert]:
    """One row per identity, and at most one firing row per (source, fingerprint).

    Copies of one alert (within a notification, or across notifications written together)
    become one row counting its deliveries; a resolved copy wins over a firing one. Two firing
    alerts of one fingerprint with different starts mean the earlier ended when the later
    began. Sorted by identity so concurrent upserts lock rows in the same order.
    """
    by_identity: dict[tuple[str, str, datetime], Alert] = {}
    for alert in alerts:
        seen = by_identity.get(alert.key)
        if seen is None:
            by_identity[alert.key] = alert
            continue
        winner = alert if seen.status == "firing" and alert.status == "resolved" else seen
        by_identity[alert.key] = replace(winner, deliveries=seen.deliveries + alert.deliveries)
    latest_firing: dict[tuple[str, str], datetime] = {}
    for alert in by_identity.values():
        if alert.status == "firing":
            key = (alert.source, alert.fingerprint)
            latest_firing[key] = max(latest_firing.get(key, alert.starts_at), alert.starts_at)
    out = []
    for alert in by_identity.values():
        latest = latest_firing.get((alert.source, alert.fingerprint))
        if alert.status == "firing" and latest is not None and alert.starts_at < latest:
            alert = ended_by(alert, latest)
        out.append(alert)
    out.sort(key=lambda a: a.key)
    return out


def ended_by(alert: Alert, later_start: datetime) -> Alert:
    """The firing `alert` as resolved when a later episode of it began."""
    return replace(alert, status="resolved", ends_at=later_start)
