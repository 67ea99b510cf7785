"""Pre-wedding database optimisation of the tables the advisor names.

Per table: `ANALYZE` (fresh statistics for the day's plans) and `pg_prewarm` of its most-scanned
indexes; per configured materialized view: `REFRESH MATERIALIZED VIEW [CONCURRENTLY]`. Every
step is recorded in perf.actions (kinds `advisor_analyze`, `advisor_prewarm_index`,
`advisor_refresh_view`) as soon as it completes. Every refusal — dry run, disabled by a
setting, missing extension, relation or privilege, a lock held by the app — is a `skipped` step
with its reason; any other database error (an unpopulated view refreshed CONCURRENTLY, a
cancelled statement, a lost connection) is a `failed` step with the error, its transaction
rolled back, and the next step still runs: a run never aborts half-way with its steps
unrecorded. Steps run with a short lock_timeout so they never queue behind the app's locks.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass

import psycopg
from psycopg import sql

from wedperf.advisor.settings import AdvisorSettings
from wedperf.audit import record_step
from wedperf.db.queries import queries

log = logging.getLogger(__name__)
Q = queries("advisor")
REASON = "database advisor: pre-wedding optimisation"


@dataclass(frozen=True)
class OptimiseStep:
    kind: str  # advisor_analyze | advisor_prewarm_index | advisor_refresh_view
    target: str
    outcome: str  # done | dry-run | skipped | failed
    detail: str


def optimise_database(
    app_conn: psycopg.Connection,
    perf_conn: psycopg.Connection | None,
    tables: Sequence[str],
    settings: AdvisorSettings,
    *,
    plan_id: str,
    dry_run: bool = False,
    wedding_ids: Sequence[str] = (),
) -> list[OptimiseStep]:
    """ANALYZE `tables` (schema.table), pg_prewarm their hot indexes, refresh the configured
    materialized views; record each step in perf.actions when `perf_conn` is given.

    Writes (app database): statistics, shared buffers, the views' contents. `app_conn` is
    switched to autocommit for the duration (REFRESH and ANALYZE each in their own
    transaction).
    """
    previous_autocommit = app_conn.autocommit
    app_conn.autocommit = True
    steps: list[OptimiseStep] = []

    def completed(step: OptimiseStep) -> None:
        # Recorded at once: an error after this step (or a retry) cannot lose what was done.
        steps.append(step)
        if perf_conn is not None:
            record_step(
                perf_conn,
                plan_id,
                step.kind,
                step.target,
                outcome=step.outcome,
                reason=REASON,
                dry_run=dry_run,
                wedding_ids=wedding_ids,
                detail=step.detail,
            )
        if step.outcome == "failed":
            log.warning("%s %s failed: %s", step.kind, step.target, step.detail)
        elif step.outcome == "skipped":
            log.info("%s %s skipped: %s", step.kind, step.target, step.detail)

    try:
        for table in tables:
            completed(_step("advisor_analyze", table, _analyze, app_conn, table, settings, dry_run))
            for step in _prewarm_indexes(app_conn, table, settings, dry_run):
                completed(step)
        for view in settings.refresh_views:
            completed(
                _step("advisor_refresh_view", view, _refresh, app_conn, view, settings, dry_run)
            )
    finally:
        if not app_conn.closed:  # a lost connection is a failed step, not a second error here
            app_conn.autocommit = previous_autocommit
    return steps


def _step(kind: str, target: str, run: Callable[..., OptimiseStep], *args: object) -> OptimiseStep:
    """`run(*args)`; a database error is the step's `failed` outcome (its transaction already
    rolled back by `conn.transaction()`, and in autocommit mode nothing else is open)."""
    try:
        return run(*args)
    except psycopg.Error as exc:
        return _failed(kind, target, exc)


def _failed(kind: str, target: str, exc: psycopg.Error) -> OptimiseStep:
    message = exc.diag.message_primary or (str(exc).strip().splitlines() or [""])[0]
    error = type(exc).__name__
    return OptimiseStep(kind, target, "failed", f"{error}: {message}" if message else error)


def _analyze(
    conn: psycopg.Connection, table: str, settings: AdvisorSettings, dry_run: bool
) -> OptimiseStep:
    kind = "advisor_analyze"
    if not settings.analyze_tables:
        return OptimiseStep(kind, table, "skipped", "disabled (advisor.analyze_tables = false)")
    if not _exists(conn, table):
        return OptimiseStep(kind, table, "skipped", "relation does not exist")
    if dry_run:
        return OptimiseStep(kind, table, "dry-run", "would ANALYZE")
    # Without the privilege ANALYZE only warns ("skipping ... only table or database owner can
    # analyze it") and succeeds: the notice is the reason.
    notices: list[str] = []

    def keep(diag: psycopg.errors.Diagnostic) -> None:
        if diag.severity_nonlocalized == "WARNING" and diag.message_primary:
            notices.append(diag.message_primary)

    conn.add_notice_handler(keep)
    try:
        outcome = _guarded(conn, sql.SQL("ANALYZE {}").format(_ident(table)), settings)
    finally:
        conn.remove_notice_handler(keep)
    if outcome is not None:
        return OptimiseStep(kind, table, "skipped", outcome)
    if notices:
        return OptimiseStep(kind, table, "skipped", "; ".join(notices))
    return OptimiseStep(kind, table, "done", "statistics refreshed")


def _prewarm_indexes(
    conn: psycopg.Connection, table: str, settings: AdvisorSettings, dry_run: bool
) -> Iterator[OptimiseStep]:
    """One step per hot index of the table (or one for the table when there is none)."""
    kind = "advisor_prewarm_index"
    if not settings.prewarm_indexes:
        yield OptimiseStep(kind, table, "skipped", "disabled (advisor.prewarm_indexes = false)")
        return
    try:
        if not _exists(conn, table):
            yield OptimiseStep(kind, table, "skipped", "relation does not exist")
            return
        has_prewarm = conn.execute(
            "SELECT EXISTS (SELECT 1 FROM pg_extension WHERE extname = 'pg_prewarm')"
        ).fetchone()[0]
        hot = conn.execute(
            Q["app_hot_indexes"],
            {"relation": _regclass_text(table), "limit": settings.hot_indexes_per_table},
        ).fetchall()
    except psycopg.Error as exc:
        yield _failed(kind, table, exc)
        return
    if not hot:
        yield OptimiseStep(kind, table, "skipped", "no index scanned since statistics reset")
        return
    for index, scans in hot:
        if not has_prewarm:
            yield OptimiseStep(
                kind,
                index,
                "skipped",
                "extension pg_prewarm is not installed (CREATE EXTENSION pg_prewarm)",
            )
        elif dry_run:
            yield OptimiseStep(kind, index, "dry-run", f"would pg_prewarm ({scans} scans)")
        else:
            yield _step(kind, index, _prewarm, conn, index, scans)


def _prewarm(conn: psycopg.Connection, index: str, scans: int) -> OptimiseStep:
    kind = "advisor_prewarm_index"
    try:
        blocks = conn.execute(
            "SELECT pg_prewarm(to_regclass(%s))", (_regclass_text(index),)
        ).fetchone()[0]
    except psycopg.errors.InsufficientPrivilege as exc:
        return OptimiseStep(kind, index, "skipped", exc.diag.message_primary or "")
    return OptimiseStep(kind, index, "done", f"{blocks} blocks loaded ({scans} scans)")


def _refresh(
    conn: psycopg.Connection, view: str, settings: AdvisorSettings, dry_run: bool
) -> OptimiseStep:
    kind = "advisor_refresh_view"
    relkind = conn.execute(
        "SELECT relkind FROM pg_class WHERE oid = to_regclass(%s)", (_regclass_text(view),)
    ).fetchone()
    if relkind is None:
        return OptimiseStep(kind, view, "skipped", "relation does not exist")
    if relkind[0] != "m":
        return OptimiseStep(kind, view, "skipped", "not a materialized view")
    concurrently = settings.refresh_concurrently and _has_unique_index(conn, view)
    verb = "REFRESH MATERIALIZED VIEW CONCURRENTLY" if concurrently else "REFRESH MATERIALIZED VIEW"
    if dry_run:
        return OptimiseStep(kind, view, "dry-run", f"would {verb}")
    if settings.refresh_concurrently and not concurrently:
        return OptimiseStep(
            kind,
            view,
            "skipped",
            "CONCURRENTLY needs a unique index on the view; a plain refresh would block "
            "its readers (set advisor.refresh_concurrently = false to allow it)",
        )
    outcome = _guarded(conn, sql.SQL(verb + " {}").format(_ident(view)), settings)
    if outcome is not None:
        return OptimiseStep(kind, view, "skipped", outcome)
    return OptimiseStep(kind, view, "done", verb.lower())


def _guarded(conn: psycopg.Connection, statement: sql.Composed, settings: AdvisorSettings):
    """Run one maintenance statement with a lock_timeout in its own transaction; the refusal's
    reason, or None. Any other database error is raised, the transaction rolled back."""
    timeout = f"{int(settings.lock_timeout.total_seconds() * 1000)}ms"
    try:
        with conn.transaction():
            conn.execute("SELECT set_config('lock_timeout', %s, true)", (timeout,))
            conn.execute(statement)
    except psycopg.errors.InsufficientPrivilege as exc:
        return exc.diag.message_primary or "insufficient privilege"
    except psycopg.errors.LockNotAvailable:
        return f"lock not granted within {timeout} (the app holds it); not waiting"
    except psycopg.errors.UndefinedTable as exc:
        return exc.diag.message_primary or "relation does not exist"
    return None


def _exists(conn: psycopg.Connection, relation: str) -> bool:
    return (
        conn.execute("SELECT to_regclass(%s)", (_regclass_text(relation),)).fetchone()[0]
        is not None
    )


def _has_unique_index(conn: psycopg.Connection, view: str) -> bool:
    return conn.execute(
        "SELECT EXISTS (SELECT 1 FROM pg_index WHERE indrelid = to_regclass(%s) "
        "AND indisunique AND indisvalid AND indpred IS NULL)",
        (_regclass_text(view),),
    ).fetchone()[0]


def _ident(relation: str) -> sql.Identifier:
    schema, _, name = relation.rpartition(".")
    return sql.Identifier(schema, name) if schema else sql.Identifier(name)


def _regclass_text(relation: str) -> str:
    """A schema.name (as given in settings or by regclass::text) for to_regclass()."""
    if '"' in relation:
        return relation  # already quoted by regclass::text
    schema, _, name = relation.rpartition(".")
    parts = [schema, name] if schema else [name]
    return ".".join('"' + p + '"' for p in parts)
