"""The alert: one episode of one alert, as a notification brings it and as perf.alerts holds it.

One type from the POST to the remediation run: the receiver builds it from a notification
(the fields up to `deliveries`), the inbox returns it as stored (`from_stored`: the row's id
and dispatch state filled in), the dispatcher and the remediation run read it back. An
alert's identity is the episode (source, fingerprint, starts_at): `key` for ordering and
lookups, `identity` as the one string form that run keys and event ids are made of, the
same across databases and restores, where `alert_id` is only a row number of one database.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

# The columns the inbox's RETURNING lists give, in their order (db/queries/alerts.sql).
STORED_COLUMNS = (
    "alert_id",
    "source",
    "fingerprint",
    "starts_at",
    "status",
    "ends_at",
    "alertname",
    "severity",
    "wedding_id",
    "labels",
    "annotations",
    "generator_url",
    "dispatch_state",
    "unannounced",
    "inserted",
)


@dataclass(frozen=True)
class Alert:
    """One alert episode, normalised to perf.alerts' columns."""

    source: str
    fingerprint: str
    starts_at: datetime
    status: str  # firing | resolved
    alertname: str
    ends_at: datetime | None = None
    severity: str | None = None
    wedding_id: str | None = None
    labels: dict[str, Any] = field(default_factory=dict)
    annotations: dict[str, Any] = field(default_factory=dict)
    # As delivered (stored, not read back):
    receiver: str | None = None
    group_key: str | None = None
    external_url: str | None = None
    generator_url: str | None = None
    payload: dict[str, Any] = field(default_factory=dict)
    deliveries: int = 1  # copies of this alert merged into this row (repeats in one batch)
    # As stored (None / defaults until the inbox returns it):
    alert_id: int | None = None
    dispatch_state: str = "pending"
    unannounced: bool = False  # resolved, and its wedperf.alert.resolved event not sent
    inserted: bool = False  # this delivery created the row

    @classmethod
    def from_stored(cls, row: tuple[Any, ...]) -> Alert:
        """An alert from a row in `STORED_COLUMNS` order."""
        return cls(**dict(zip(STORED_COLUMNS, row, strict=True)))

    @property
    def key(self) -> tuple[str, str, datetime]:
        """(source, fingerprint, starts_at): the episode, as a sortable key."""
        return (self.source, self.fingerprint, self.starts_at)

    @property
    def needs_run(self) -> bool:
        """Firing and no remediation run yet."""
        return self.status == "firing" and self.dispatch_state == "pending"

    @property
    def needs_skip(self) -> bool:
        """Resolved before any run was created (internal alerts resolve without the inbox)."""
        return self.status == "resolved" and self.dispatch_state == "pending"

    @property
    def needs_announcement(self) -> bool:
        """Resolved, and its wedperf.alert.resolved event has not gone out."""
        return self.status == "resolved" and self.unannounced

    @property
    def match_labels(self) -> dict[str, Any]:
        """The labels playbook rules match on, the alert's name among them."""
        return {"alertname": self.alertname, **self.labels}

    def row(self) -> dict[str, Any]:
        """The JSON object the inbox's upsert reads (jsonb_to_recordset)."""
        return {
            "source": self.source,
            "fingerprint": self.fingerprint,
            "starts_at": self.starts_at.isoformat(),
            "status": self.status,
            "ends_at": self.ends_at.isoformat() if self.ends_at else None,
            "alertname": self.alertname,
            "severity": self.severity,
            "wedding_id": self.wedding_id,
            "labels": self.labels,
            "annotations": self.annotations,
            "receiver": self.receiver,
            "group_key": self.group_key,
            "external_url": self.external_url,
            "generator_url": self.generator_url,
            "payload": self.payload,
            "deliveries": self.deliveries,
        }


def identity(alert: Alert) -> str:
    """`<source>|<fingerprint>|<starts_at UTC ISO>`: the episode as one string, the part of
    every remediation run key and alert event id that names the alert."""
    return f"{alert.source}|{alert.fingerprint}|{alert.starts_at.astimezone(UTC).isoformat()}"
