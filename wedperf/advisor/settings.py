"""Database advisor settings (a section of wedperf.config.Settings: WEDPERF_ADVISOR__*)."""

from __future__ import annotations

from datetime import timedelta

from pydantic import BaseModel, Field, field_validator


class AdvisorSettings(BaseModel):
    """How the wedding-day database advisor reads the app database."""

    enabled: bool = Field(default=True, description="off: the advise-database flow does nothing")
    tables: list[str] = Field(
        default_factory=list,
        description="wedding tables as schema.table; empty: every table with a wedding column "
        "(and the tables those columns reference), discovered from the catalog",
    )
    wedding_columns: list[str] = Field(
        default_factory=lambda: ["wedding_id"],
        description="columns that name the wedding; a seq scan filtered on one is a finding",
    )
    exclude_schemas: list[str] = Field(
        default_factory=lambda: ["perf", "pg_catalog", "information_schema", "pg_toast"],
        description="schemas never taken for wedding tables during discovery",
    )
    top: int = Field(default=10, ge=1, description="wedding-day queries listed in the report")
    explain_top: int = Field(
        default=5,
        ge=0,
        description="the worst this many by total and by mean time (plus regressions) are "
        "EXPLAINed",
    )
    large_table_rows: int = Field(
        default=10_000, ge=0, description="a seq scan on a table at least this big is a finding"
    )
    regression_ratio: float = Field(
        default=1.5, gt=1.0, description="mean time this many times the baseline's is a regression"
    )
    regression_min_ms: float = Field(
        default=0.5, ge=0.0, description="...and at least this many ms slower per call"
    )
    regression_min_calls: int = Field(
        default=10, ge=1, description="...over at least this many calls since the baseline"
    )
    explain_analyze: bool = Field(
        default=False,
        description="EXPLAIN ANALYZE (executes the statement, SELECTs only, read-only "
        "transaction); keep off on production",
    )
    explain_timeout: timedelta = Field(
        default=timedelta(seconds=5), description="statement_timeout of each EXPLAIN"
    )
    lock_timeout: timedelta = Field(
        default=timedelta(seconds=2),
        description="lock_timeout of ANALYZE / REFRESH: never queue behind the app's locks",
    )
    analyze_tables: bool = Field(
        default=True, description="pre-wedding step: ANALYZE the tables the advisor names"
    )
    prewarm_indexes: bool = Field(
        default=True, description="pre-wedding step: pg_prewarm their most-scanned indexes"
    )
    hot_indexes_per_table: int = Field(default=3, ge=1)
    refresh_views: list[str] = Field(
        default_factory=list,
        description="materialized views (schema.view) refreshed before a wedding day",
    )
    refresh_concurrently: bool = Field(
        default=True,
        description="REFRESH MATERIALIZED VIEW CONCURRENTLY (needs a unique index on the view)",
    )
    database_label: str | None = Field(
        default=None,
        description="name of the app database in baselines and reports; unset: its datname",
    )
    artifact_key: str = Field(
        default="advise-database",
        description="Prefect artifact key (a keyed artifact is versioned)",
    )

    @field_validator("tables", "refresh_views")
    @classmethod
    def _qualified(cls, value: list[str]) -> list[str]:
        for name in value:
            if name.count(".") != 1:
                raise ValueError(f"expected schema.name, got {name!r}")
        return value
