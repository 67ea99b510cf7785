"""App-DB source: latencies that the app's own rows record, read through the contract views."""

from __future__ import annotations

import psycopg
from psycopg import sql

from wedperf.metrics.model import LATENCY, CollectWindow, Sample, SourceError

# operation -> query over the contract views, returning (ts, wedding_id, series, value).
# Vendor notification delivery, end to end: the app stamps sent_at and delivered_at on each
# message. (Distinct from `vendor_notify`, the latency of the app's API call that sends one.)
_QUERIES = {
    "vendor_delivery": sql.SQL(
        "SELECT delivered_at, wedding_id::text, "
        "vendor_id::text || '@' || to_char(sent_at AT TIME ZONE 'UTC', "
        "'YYYY-MM-DD\"T\"HH24:MI:SS.US'), "
        "extract(epoch FROM delivered_at - sent_at)::float8 "
        "FROM {schema}.vendor_notifications "
        "WHERE delivered_at >= %(start)s AND delivered_at < %(end)s"
    ),
}


class SqlSource:
    name = "app_db"

    def __init__(
        self, conninfo: str, *, schema: str = "wedperf_src", timeout_s: float = 10
    ) -> None:
        self.conninfo = conninfo
        self.schema = schema
        self.timeout_ms = int(timeout_s * 1000)

    def collect(self, window: CollectWindow) -> list[Sample]:
        samples: list[Sample] = []
        try:
            with psycopg.connect(
                self.conninfo,
                connect_timeout=max(1, self.timeout_ms // 1000),
                options=f"-c statement_timeout={self.timeout_ms}",
            ) as conn:
                for operation, query in _QUERIES.items():
                    rows = conn.execute(
                        query.format(schema=sql.Identifier(self.schema)),
                        {"start": window.start, "end": window.end},
                    ).fetchall()
                    samples.extend(
                        Sample(ts, self.name, LATENCY, operation, series, wedding_id, "row", value)
                        for ts, wedding_id, series, value in rows
                        if value is not None and value >= 0
                    )
        except psycopg.errors.QueryCanceled as exc:
            raise SourceError(f"app database query exceeded {self.timeout_ms} ms") from exc
        except psycopg.errors.UndefinedTable as exc:
            raise SourceError(
                f"app database has no {self.schema} contract views: {exc.diag.message_primary}"
            ) from exc
        except psycopg.OperationalError as exc:
            raise SourceError(f"app database unreachable: {exc}") from exc
        return samples
