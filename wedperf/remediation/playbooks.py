"""The core of remediation for one alert, in one module: the label rules that pick its
playbook, the playbook table, the guardrail decision, and `apply_playbook` with its steps.

Each `Playbook` of `PLAYBOOKS` says what it is called, whether it can hurt a wedding in
progress (`disruptive`: approval, or deferral, during a ceremony), which weddings it touches
(`scope`: the alert's wedding, or every wedding live now), the parameters a rule may give it,
and how it runs. Nothing else in wedperf lists playbooks: the rules file is checked against
this table, the guardrails read `disruptive` and `scope` from it. `decide` is what the
remediate-alert flow asks before it acts; `apply_playbook` (through the apply-playbook task)
is the act, recorded step by step in perf.actions. Verification is `remediation.verify`.
"""

from __future__ import annotations

import tomllib
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from importlib import resources
from pathlib import Path
from typing import Any, Literal

import psycopg
import redis
from psycopg import sql

from wedperf.alerts.model import Alert
from wedperf.audit import acted_since, record_step
from wedperf.calendar.model import Wedding
from wedperf.calendar.sync import weddings_by_id, weddings_in_day_windows
from wedperf.capacity.actuators import build_actuator, resolve_target
from wedperf.capacity.floor import (
    ceiling,
    floor_changed_by_someone_else,
    floor_in_force,
    raise_in_force,
)
from wedperf.capacity.state import remember_raise, target_state
from wedperf.config import Settings
from wedperf.db.connection import get_pool
from wedperf.prewarm.steps import http_get_all, prewarm_redis, warmup_urls
from wedperf.services import ResolvedServices


@dataclass(frozen=True)
class StepResult:
    """One step a playbook took (or would take), as `apply_playbook` records it."""

    kind: str
    target: str
    outcome: str  # done | dry-run | skipped | failed
    before: str | None = None
    after: str | None = None
    detail: str = ""


@dataclass(frozen=True)
class PlaybookRun:
    """What one run of a playbook acts for and with."""

    playbook: str
    alert: Alert
    params: Mapping[str, Any]
    touched: Sequence[Wedding]
    conn: psycopg.Connection  # wedperf's database (the capacity state a scale-up remembers)
    settings: Settings
    services: ResolvedServices
    dry_run: bool

    def wedding(self) -> Wedding | None:
        """The alert's wedding, when it is one of the weddings touched."""
        return next((w for w in self.touched if w.wedding_id == self.alert.wedding_id), None)

    @contextmanager
    def app_connection(self, *, autocommit: bool = False) -> Iterator[psycopg.Connection]:
        """A connection to the app's database, handed back to its pool as it was lent."""
        with get_pool(self.services.app_database_url).connection() as app_conn:
            if not autocommit:
                yield app_conn  # the pool commits (or rolls back) when it is handed back
                return
            app_conn.autocommit = True
            try:
                yield app_conn
            finally:
                app_conn.autocommit = False

    @contextmanager
    def cache(self) -> Iterator[redis.Redis]:
        """The app's Redis cache."""
        client = redis.Redis.from_url(self.services.redis_url, socket_timeout=10)
        try:
            yield client
        finally:
            client.close()


@dataclass(frozen=True)
class Playbook:
    name: str
    disruptive: bool  # can hurt a wedding in progress: approval or deferral in a ceremony
    scope: Literal["wedding", "platform"]  # touches the alert's wedding, or every live one
    run: Callable[[PlaybookRun], list[StepResult]]
    does: str = ""
    params: Mapping[str, str] = field(default_factory=dict)  # a rule's `params`: meaning


# --- the steps playbooks are made of (each returns what it changed) --------------------------


def scale_up(
    conn: psycopg.Connection,
    settings: Settings,
    *,
    step: int,
    only: str | None,
    dry_run: bool,
) -> list[StepResult]:
    """Raise each capacity target's floor (or only the one named `only`) to `step` above the
    floor it should have, within its ceiling (`floor.ceiling`). The floor it should have is
    the higher of what its actuator reads (`floor.floor_in_force`: the configured floor, e.g.
    an HPA's minReplicas) and a raise wedperf holds in force on it (`floor.raise_in_force`):
    a raise whose write did not take effect (the floor still at the baseline) is stepped
    above, not the baseline. A floor read below wedperf's raise and not at the baseline
    (`floor.floor_changed_by_someone_else`) is stepped above the raise all the same, and the
    step's detail says so: unlike the nowcast, which leaves such a floor alone, a
    remediation acts on a degradation now, while the live weddings the raise was sized for
    are short — and on a target whose reading is its serving replicas (the sandbox) such a
    reading is lost capacity, not anyone's choice. The baseline owed stays the one wedperf
    found before its first raise. The raise is remembered like a planned one."""
    results = []
    for target in settings.ops.targets:
        if only and target.name != only:
            continue
        actuator = build_actuator(resolve_target(target, settings))
        reading = actuator.read()
        state = target_state(conn, target.name)
        read = floor_in_force(reading, state.floor)
        current = target.min_replicas if read is None else read
        raised = raise_in_force(state)
        base = max(current, raised or 0)
        maximum = ceiling(target, reading)
        new = min(maximum, base + step)
        why = f"floor +{step}" if base == current else f"raise in force {raised} +{step}"
        if floor_changed_by_someone_else(reading.floor, state.baseline, state.floor):
            why += f" (the floor read {current}, not the {state.floor} wedperf set)"
        if new <= current:
            results.append(
                StepResult(
                    "scale_up",
                    target.name,
                    "skipped",
                    str(current),
                    str(current),
                    f"already at the maximum {maximum}",
                )
            )
            continue
        if not dry_run:
            # The intent, committed before the write (as the capacity-floor step does): a
            # write that dies or whose answer is lost still leaves the restore owed.
            remember_raise(conn, target.name, before=current, after=new, by="scale_up")
            conn.commit()
        actuator.set_floor(new, reason="remediation scale-up", dry_run=dry_run)
        results.append(
            StepResult(
                "scale_up",
                target.name,
                "dry-run" if dry_run else "done",
                str(current),
                str(new),
                why if new == base + step else f"{why}, capped at the maximum {maximum}",
            )
        )
    return results


def flush_cache(
    client: redis.Redis, patterns: list[str], wedding_id: str, *, dry_run: bool
) -> StepResult:
    """Delete the wedding's cache keys (SCAN, never KEYS: the cache is shared)."""
    keys = [
        key
        for pattern in patterns
        for key in client.scan_iter(match=pattern.format(wedding_id=wedding_id), count=500)
    ]
    if keys and not dry_run:
        client.delete(*keys)
    return StepResult(
        "flush_cache",
        f"redis:wedding:{wedding_id}",
        "dry-run" if dry_run else "done",
        str(len(keys)),
        "0",
        f"{len(keys)} keys",
    )


def rewarm(
    client: redis.Redis,
    app_conn: psycopg.Connection,
    wedding: Wedding,
    settings: Settings,
    *,
    dry_run: bool,
) -> list[StepResult]:
    """Pre-warm one wedding again: its Redis datasets and its warm-up URLs."""
    if dry_run:
        return [StepResult("rewarm", f"wedding:{wedding.wedding_id}", "dry-run")]
    warmed = prewarm_redis(
        client,
        app_conn,
        [wedding],
        schema=settings.source_schema,
        key_template=settings.ops.prewarm_key_template,
        window_after=settings.day_window_after,
        now=datetime.now(UTC),
    )
    http = http_get_all(
        warmup_urls(settings.ops.prewarm_urls, [wedding.wedding_id], settings.probes.base_url)
    )
    return [
        StepResult(
            "rewarm_redis",
            f"wedding:{wedding.wedding_id}",
            "done",
            after=str(warmed.keys),
            detail=f"{warmed.keys} keys",
        ),
        StepResult(
            "rewarm_http",
            f"wedding:{wedding.wedding_id}",
            "failed" if http.failures else "done",
            after=str(http.requests),
            detail=f"{http.requests} requests, {len(http.failures)} failed",
        ),
    ]


def cancel_runaway_queries(
    app_conn: psycopg.Connection,
    *,
    min_duration_s: float,
    protected_roles: list[str],
    dry_run: bool,
) -> list[StepResult]:
    """pg_cancel_backend for client queries running longer than `min_duration_s` in this
    database — never a protected role's, never our own."""
    rows = app_conn.execute(
        "SELECT pid, usename, extract(epoch FROM now() - query_start)::int, left(query, 80) "
        "FROM pg_stat_activity "
        "WHERE datname = current_database() AND state = 'active' "
        "AND backend_type = 'client backend' AND pid <> pg_backend_pid() "
        "AND now() - query_start > make_interval(secs => %s) "
        "AND NOT (usename = ANY(%s))",
        (min_duration_s, protected_roles),
    ).fetchall()
    results = []
    for pid, role, seconds, query in rows:
        cancelled = False
        if not dry_run:
            cancelled = app_conn.execute("SELECT pg_cancel_backend(%s)", (pid,)).fetchone()[0]
        results.append(
            StepResult(
                "cancel_query",
                f"pid:{pid}",
                "dry-run" if dry_run else ("done" if cancelled else "failed"),
                f"{seconds}s",
                "cancelled" if cancelled else None,
                f"role {role}: {query}",
            )
        )
    if not results:
        results.append(
            StepResult(
                "cancel_query", "app-db", "skipped", detail=f"no query over {min_duration_s:.0f}s"
            )
        )
    return results


def refresh_matviews(
    app_conn: psycopg.Connection, views: list[str] | None, *, dry_run: bool
) -> list[StepResult]:
    """REFRESH each materialized view (CONCURRENTLY where a unique index allows readers on);
    a name that is no materialized view is skipped, the others still refreshed."""
    if views is None:
        views = [
            f"{s}.{n}"
            for s, n in app_conn.execute(
                "SELECT schemaname, matviewname FROM pg_matviews WHERE schemaname = 'app'"
            )
        ]
    results = []
    for view in views:
        schema, _, name = view.rpartition(".")
        ident = sql.Identifier(schema or "public", name)
        # CONCURRENTLY needs a populated view and a unique index on plain columns, no WHERE.
        found = app_conn.execute(
            "SELECT c.relispopulated AND EXISTS (SELECT 1 FROM pg_index i "
            "WHERE i.indrelid = c.oid AND i.indisunique AND i.indisvalid "
            "AND i.indpred IS NULL AND i.indexprs IS NULL) "
            "FROM pg_class c WHERE c.oid = to_regclass(%s) AND c.relkind = 'm'",
            (view,),
        ).fetchone()
        if found is None:
            results.append(
                StepResult("refresh_matview", view, "skipped", detail="no such materialized view")
            )
            continue
        concurrent = found[0]
        if not dry_run:
            statement = sql.SQL("REFRESH MATERIALIZED VIEW {}{}").format(
                sql.SQL("CONCURRENTLY ") if concurrent else sql.SQL(""), ident
            )
            app_conn.execute(statement)
        results.append(
            StepResult(
                "refresh_matview",
                view,
                "dry-run" if dry_run else "done",
                detail="concurrently" if concurrent else "blocking readers",
            )
        )
    return results


# --- the playbook table ----------------------------------------------------------------------


def _scale_up(run: PlaybookRun) -> list[StepResult]:
    return scale_up(
        run.conn,
        run.settings,
        step=int(run.params.get("step", 2)),
        only=run.params.get("target"),
        dry_run=run.dry_run,
    )


def _cancel_runaway_queries(run: PlaybookRun) -> list[StepResult]:
    # Autocommit: each pg_cancel_backend takes effect at once, not at a commit.
    with run.app_connection(autocommit=True) as app_conn:
        return cancel_runaway_queries(
            app_conn,
            min_duration_s=float(run.params.get("min_duration_s", 300)),
            protected_roles=run.settings.remediation.protected_roles,
            dry_run=run.dry_run,
        )


def _refresh_matviews(run: PlaybookRun) -> list[StepResult]:
    with run.app_connection() as app_conn:
        return refresh_matviews(app_conn, run.params.get("views"), dry_run=run.dry_run)


def _flush_rewarm_cache(run: PlaybookRun) -> list[StepResult]:
    return _rewarm_wedding(run, flush_first=True)


def _rerun_prewarm(run: PlaybookRun) -> list[StepResult]:
    return _rewarm_wedding(run, flush_first=False)


def _rewarm_wedding(run: PlaybookRun, *, flush_first: bool) -> list[StepResult]:
    wedding = run.wedding()
    if wedding is None:
        return [
            StepResult(
                run.playbook, "wedding", "skipped", detail="the alert names no known wedding"
            )
        ]
    with run.app_connection() as app_conn, run.cache() as client:
        out = []
        if flush_first:
            patterns = run.params.get("key_patterns", run.settings.remediation.cache_key_patterns)
            if isinstance(patterns, str):  # one pattern written without brackets
                patterns = [patterns]
            out.append(flush_cache(client, list(patterns), wedding.wedding_id, dry_run=run.dry_run))
        return out + rewarm(client, app_conn, wedding, run.settings, dry_run=run.dry_run)


PLAYBOOKS: dict[str, Playbook] = {
    p.name: p
    for p in (
        Playbook(
            "scale_up",
            disruptive=False,
            scope="platform",
            run=_scale_up,
            does="raise each (or the named) capacity target's floor by `step`",
            params={
                "target": "the one capacity target to raise (default: every target)",
                "step": "replicas added to the floor (default 2), never above the maximum",
            },
        ),
        Playbook(
            "flush_rewarm_cache",
            disruptive=True,
            scope="wedding",
            run=_flush_rewarm_cache,
            does="delete the wedding's cache keys (SCAN), re-warm its datasets and URLs",
            params={
                "key_patterns": "the wedding's cache keys, {wedding_id} templated "
                "(default: remediation.cache_key_patterns)",
            },
        ),
        Playbook(
            "cancel_runaway_queries",
            disruptive=True,
            scope="platform",
            run=_cancel_runaway_queries,
            does="pg_cancel_backend for client queries over `min_duration_s`, "
            "never for protected roles",
            params={"min_duration_s": "how long a query runs before it is cancelled (300)"},
        ),
        Playbook(
            "refresh_matviews",
            disruptive=False,
            scope="platform",
            run=_refresh_matviews,
            does="REFRESH MATERIALIZED VIEW (CONCURRENTLY where possible)",
            params={
                "views": "schema-qualified names (default: every materialized view in schema app)"
            },
        ),
        Playbook(
            "rerun_prewarm",
            disruptive=False,
            scope="wedding",
            run=_rerun_prewarm,
            does="pre-warm the alert's wedding again",
        ),
    )
}


def get_playbook(name: str) -> Playbook:
    """The playbook `name`; a name outside the table is a ValueError naming the known ones."""
    try:
        return PLAYBOOKS[name]
    except (KeyError, TypeError):
        raise ValueError(f"unknown playbook {name!r} (known: {', '.join(PLAYBOOKS)})") from None


# --- label rules: which playbook an alert gets -----------------------------------------------


# Parameters every rule may set, whatever its playbook (read by the remediate-alert flow).
RULE_PARAMS = {
    "verify_delay_s": "seconds the action may take to take effect before it counts as not "
    "recovered (remediation.verify_delay): the settle time before metric windows count"
}


@dataclass(frozen=True)
class Rule:
    match: dict[str, str]
    playbook: str
    params: dict[str, Any] = field(default_factory=dict)

    def matches(self, labels: dict[str, Any]) -> bool:
        return all(str(labels.get(k)) == str(v) for k, v in self.match.items())


def load_rules(path: Path | None = None) -> list[Rule]:
    """Rules from `path`, or the shipped defaults. An unknown playbook, or a parameter its
    playbook does not take (it would be silently ignored), is a configuration error."""
    text = (
        path.read_text()
        if path is not None
        else resources.files(__package__).joinpath("playbooks.toml").read_text()
    )
    try:
        raw = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ValueError(f"playbooks file {path or '(default)'} is not valid TOML: {exc}") from exc
    rules = []
    for index, entry in enumerate(raw.get("rule", []), start=1):
        name = entry.get("playbook")
        try:
            playbook = get_playbook(name)
        except ValueError as exc:
            raise ValueError(f"rule {index}: {exc}") from None
        if not isinstance(entry.get("match"), dict) or not entry["match"]:
            raise ValueError(f"rule {index}: `match` must be a non-empty table of labels")
        params = dict(entry.get("params", {}))
        unknown = sorted(set(params) - set(playbook.params) - set(RULE_PARAMS))
        if unknown:
            takes = ", ".join([*playbook.params, *RULE_PARAMS])
            raise ValueError(
                f"rule {index}: playbook {name!r} takes no parameter "
                f"{', '.join(map(repr, unknown))} (it takes: {takes})"
            )
        rules.append(Rule(dict(entry["match"]), name, params))
    return rules


def choose(rules: list[Rule], labels: dict[str, Any]) -> Rule | None:
    return next((rule for rule in rules if rule.matches(labels)), None)


# --- guardrails: the weddings a playbook touches, ceremonies in progress ---------------------


@dataclass(frozen=True)
class CeremonyConflict:
    wedding_id: str
    ceremony_local: str
    until: datetime  # when the ceremony window closes


def ceremony_window(wedding: Wedding, settings: Settings) -> tuple[datetime, datetime]:
    r = settings.remediation
    return wedding.starts_at - r.ceremony_before, wedding.starts_at + r.ceremony_after


def touched_weddings(
    conn: psycopg.Connection,
    playbook: Playbook,
    wedding_id: str | None,
    now: datetime,
    settings: Settings,
) -> list[Wedding]:
    """A wedding-scoped playbook touches the alert's wedding; a platform-wide one (query
    cancel, scale) touches every wedding live now."""
    live = weddings_in_day_windows(conn, now, now + timedelta(microseconds=1), settings)
    if playbook.scope == "wedding" and wedding_id:
        return [w for w in live if w.wedding_id == wedding_id] or weddings_by_id(conn, [wedding_id])
    return live


def ceremony_conflicts(
    weddings: list[Wedding], now: datetime, settings: Settings
) -> list[CeremonyConflict]:
    out = []
    for w in weddings:
        opens, closes = ceremony_window(w, settings)
        if opens <= now < closes:
            out.append(
                CeremonyConflict(w.wedding_id, f"{w.local_start:%H:%M} {w.timezone}", closes)
            )
    return out


@dataclass(frozen=True)
class Decision:
    """What a remediation run is to do for one alert, decided before it acts."""

    rule: Rule
    playbook: Playbook
    touched: list[Wedding]  # the weddings the playbook touches (its `scope`)
    conflicts: list[CeremonyConflict]  # disruptive, and touching a ceremony: ask or defer


def decide(
    conn: psycopg.Connection, alert: Alert, now: datetime, settings: Settings
) -> Decision | None:
    """The first rule matching the alert's labels (remediation.playbooks_file, or the
    shipped rules), its playbook, the weddings it touches (perf.weddings) and, when it is
    disruptive, those in their ceremony window at `now`; None when no rule matches."""
    rule = choose(load_rules(settings.remediation.playbooks_file), alert.match_labels)
    if rule is None:
        return None
    playbook = get_playbook(rule.playbook)
    touched = touched_weddings(conn, playbook, alert.wedding_id, now, settings)
    conflicts = ceremony_conflicts(touched, now, settings) if playbook.disruptive else []
    return Decision(rule, playbook, touched, conflicts)


# --- one playbook run: cooldown, steps, roll-up, audit ---------------------------------------


def roll_up(results: Sequence[StepResult], *, dry_run: bool) -> str:
    """One outcome for a playbook run: dry-run, failed if any step failed, skipped if every
    step was, else done."""
    if dry_run:
        return "dry-run"
    if any(r.outcome == "failed" for r in results):
        return "failed"
    if all(r.outcome == "skipped" for r in results):
        return "skipped"
    return "done"


def playbook_kind(name: str) -> str:
    """The perf.actions kind of playbook `name`'s own row (its steps are `remediation_<step
    kind>`): the cooldown's key, and what approval and deferral record for it."""
    return f"remediation_playbook_{name}"


def cooldown_kinds(name: str) -> tuple[str, str]:
    """The kinds whose `done` row starts playbook `name`'s cooldown: its own row's kind, and
    the one it had before (`remediation_<name>`), so a cooldown holds across an upgrade."""
    return playbook_kind(name), f"remediation_{name}"


def apply_playbook(
    conn: psycopg.Connection,
    alert: Alert,
    name: str,
    params: Mapping[str, Any],
    touched: Sequence[Wedding],
    *,
    plan_id: str,
    settings: Settings,
    services: ResolvedServices,
    now: datetime | None = None,
) -> list[StepResult]:
    """Run playbook `name` for `alert` with the rule's `params` and return its steps.

    Writes perf.actions (plan `plan_id`): each step as `remediation_<step kind>`, then the
    playbook's own row (`playbook_kind`: `remediation_playbook_<playbook>`, target the alert's
    wedding or `platform`, no before/after: a kind of its own, or scale_up's row would pass
    for its own step, `remediation_scale_up` on the capacity target)
    with the steps rolled up. That row ending `done` starts the cooldown: the same playbook on
    the same target rests for remediation.cooldown, and a resting playbook writes only its own
    row, saying why (a step recorded under that key would be overwritten by it). With
    remediation.dry_run the steps say what they would do and change nothing.
    """
    playbook = get_playbook(name)
    guard = settings.remediation
    now = now or datetime.now(UTC)
    target = f"wedding:{alert.wedding_id}" if alert.wedding_id else "platform"
    resting = acted_since(conn, cooldown_kinds(name), target, now - guard.cooldown)
    if resting:
        why = f"cooldown {guard.cooldown}"
        results = [StepResult(name, target, "skipped", detail=why)]
    else:
        results = playbook.run(
            PlaybookRun(
                playbook=name,
                alert=alert,
                params=params,
                touched=touched,
                conn=conn,
                settings=settings,
                services=services,
                dry_run=guard.dry_run,
            )
        )
        why = f"{len(results)} step(s)"
    summary = StepResult(name, target, roll_up(results, dry_run=guard.dry_run), detail=why)
    rows = [(f"remediation_{step.kind}", step) for step in ([] if resting else results)]
    for kind, step in [*rows, (playbook_kind(name), summary)]:
        record_step(
            conn,
            plan_id,
            kind,
            step.target,
            outcome=step.outcome,
            reason="remediation",
            dry_run=guard.dry_run,
            before=step.before,
            after=step.after,
            wedding_ids=[w.wedding_id for w in touched],
            detail=step.detail,
        )
    return results
