"""Did it recover? Re-read the metric behind the alert after the action.

- Internal critical-path alerts: the wedding's check is evaluated again now.
- Webhook alerts with a metric rule (``METRIC_RULES``, matched on the alert's labels): the
  rule's metric is read again from the app's Prometheus endpoint over a short window — the
  quantile of a latency histogram from the difference of two scrapes, as ``histogram_quantile``
  over ``rate()`` would compute it — and compared with the rule's threshold, window after
  window once the action has settled (``judge_metric``), until it reads clear on
  CLEAR_WINDOWS consecutive windows or the bound (settle + confirm) has passed.
- Otherwise, or when no window could be read or had enough requests until that bound:
  only the source's own verdict — has it sent the resolved notification?

Every answer says which it was: ``verified_by`` is ``metric`` or ``source``.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime

import httpx
import psycopg
from prometheus_client.parser import text_string_to_metric_families

from wedperf.alerts.inbox import load_alert
from wedperf.alerts.model import Alert
from wedperf.calendar.sync import weddings_by_id
from wedperf.config import Settings
from wedperf.critical_path.round import run_round


@dataclass(frozen=True)
class MetricRule:
    """A Prometheus-style latency rule wedperf evaluates itself: fires while the `quantile`
    of histogram `metric` (series with `selector` labels, summed) over `window_s` is above
    `threshold_s`. Read from `{probes.base_url}{path}`."""

    match: Mapping[str, str]  # alert labels that select this rule
    threshold_s: float
    metric: str = "wedapp_request_duration_seconds"
    selector: Mapping[str, str] = field(default_factory=lambda: {"operation": "guest_list"})
    quantile: float = 0.95
    window_s: float = 5.0
    path: str = "/metrics"

    def describe(self) -> str:
        labels = ",".join(f'{k}="{v}"' for k, v in self.selector.items())
        return (
            f"histogram_quantile({self.quantile}, rate({self.metric}_bucket{{{labels}}}"
            f"[{self.window_s:g}s])) > {self.threshold_s:g}"
        )


# The sandbox's guest-list latency against the critical path's warn level (0.5 s p95).
METRIC_RULES: tuple[MetricRule, ...] = (
    MetricRule(match={"alertname": "HighRequestLatency", "service": "sandbox"}, threshold_s=0.5),
)


@dataclass(frozen=True)
class Reading:
    value_s: float | None  # None: no requests in the window
    requests: int


@dataclass(frozen=True)
class Verification:
    recovered: bool
    detail: str
    verified_by: str  # metric | source


class MetricUnavailable(Exception):
    """The rule's metric could not be read (endpoint down, metric missing)."""


def rule_for(alert: Alert, rules: tuple[MetricRule, ...] = METRIC_RULES) -> MetricRule | None:
    """The first rule whose `match` labels the alert carries (its alertname included)."""
    return rule_matching({"alertname": alert.alertname, **alert.labels}, rules)


def metric_rule_of(alert: Alert, rules: tuple[MetricRule, ...] = METRIC_RULES) -> MetricRule | None:
    """The metric rule `verify` judges `alert` by (None: a critical-path check, or the
    source's verdict)."""
    if alert.source == "critical_path" and alert.labels.get("check") and alert.wedding_id:
        return None
    return rule_for(alert, rules)


def rule_matching(
    labels: Mapping[str, object], rules: tuple[MetricRule, ...] = METRIC_RULES
) -> MetricRule | None:
    for rule in rules:
        if all(str(labels.get(k)) == v for k, v in rule.match.items()):
            return rule
    return None


def scrape_buckets(
    url: str, rule: MetricRule, *, transport: httpx.BaseTransport | None = None
) -> dict[float, float]:
    """Cumulative bucket counts (le -> count) of the rule's histogram, summed over series."""
    try:
        with httpx.Client(timeout=SCRAPE_TIMEOUT_S, transport=transport) as client:
            response = client.get(url)
            response.raise_for_status()
    except (httpx.HTTPError, httpx.InvalidURL) as exc:
        raise MetricUnavailable(f"{url}: {exc}") from exc
    buckets: dict[float, float] = {}
    try:  # the parser is lazy: a body that is not the text format fails while iterating
        for family in text_string_to_metric_families(response.text):
            if family.name != rule.metric:
                continue
            for sample in family.samples:
                if sample.name != f"{rule.metric}_bucket":
                    continue
                if any(sample.labels.get(k) != v for k, v in rule.selector.items()):
                    continue
                le = float(sample.labels["le"])
                buckets[le] = buckets.get(le, 0.0) + sample.value
    except (ValueError, KeyError) as exc:
        raise MetricUnavailable(f"{url} is not Prometheus text ({exc})") from exc
    if not buckets:
        raise MetricUnavailable(f"{url} has no {rule.metric} series for {dict(rule.selector)}")
    return buckets


def quantile_of(before: dict[float, float], after: dict[float, float], q: float) -> Reading:
    """`q` of the observations between two scrapes, interpolated within the bucket like
    Prometheus' histogram_quantile (the +Inf bucket answers its lower bound)."""
    bounds = sorted(after)
    counts = [after[b] - before.get(b, 0.0) for b in bounds]
    total = counts[-1] if counts else 0.0
    if total <= 0:
        return Reading(None, 0)
    rank = q * total
    lower, below = 0.0, 0.0
    for bound, count in zip(bounds, counts, strict=True):
        if count >= rank:
            if math.isinf(bound):
                return Reading(lower, int(total))
            inside = count - below
            share = (rank - below) / inside if inside > 0 else 1.0
            return Reading(lower + (bound - lower) * share, int(total))
        lower, below = bound, count
    return Reading(lower, int(total))


def read_rule(
    base_url: str,
    rule: MetricRule,
    *,
    transport: httpx.BaseTransport | None = None,
    sleep: Callable[[float], None] = time.sleep,
) -> Reading:
    """The rule's quantile over the next `window_s` seconds (two scrapes)."""
    url = f"{base_url.rstrip('/')}{rule.path}"
    first = scrape_buckets(url, rule, transport=transport)
    sleep(rule.window_s)
    return quantile_of(first, scrape_buckets(url, rule, transport=transport), rule.quantile)


# Windows in a row the rule must read clear before a metric-verified alert counts as
# recovered: one short window of a loaded app can read clear by chance (the source's own
# "stops firing" is such a window); two in a row at the rule's window is a sustained return.
CLEAR_WINDOWS = 2

# Each scrape's HTTP timeouts (httpx applies it to connecting and to each read, not to the
# whole request): a window is two scrapes, so the last window of a verification ends after
# its bound by those scrapes' time — normally milliseconds, 2 x 10 s for a target that
# accepts and then answers slowly, more for one that trickles its body.
SCRAPE_TIMEOUT_S = 10.0


@dataclass(frozen=True)
class MetricVerdict:
    """What a metric rule's windows said: a verification, or None when no window could be
    judged (unreadable or idle until the bound; `unread` says why) and the source decides."""

    verification: Verification | None
    unread: str = ""
    elapsed_s: float = 0.0


def judge_metric(
    base_url: str,
    rule: MetricRule,
    *,
    settle: float,
    confirm: float,
    min_requests: int,
    transport: httpx.BaseTransport | None = None,
    clock: Callable[[], float] = time.monotonic,
    sleep: Callable[[float], None] = time.sleep,
) -> MetricVerdict:
    """Read `rule` window after window once `settle` seconds (what the action needs to take
    effect) have passed since now, the playbook's end: no window starts before then.

    The rule must then read clear on CLEAR_WINDOWS consecutive windows, each with at least
    `min_requests` requests (a thinner window is idle, not clear, and breaks the run like an
    unreadable one), by `settle + max(confirm, CLEAR_WINDOWS x window)` — a confirm span
    shorter than the windows recovery needs is stretched to them, so a clear rule can
    always recover. Past the first CLEAR_WINDOWS windows, none is started that cannot end by
    that bound; then it is not recovered (some window was judged) or undecided (every window
    unreadable or idle: returned at the bound, not earlier, and the caller asks the source).
    The answer comes after the bound by at most the windows' scrapes (SCRAPE_TIMEOUT_S)."""
    began = clock()
    deadline = began + settle + max(confirm, CLEAR_WINDOWS * rule.window_s)
    sleep(settle)
    clear, tried = 0, 0
    last: Reading | None = None
    unread = ""
    # CLEAR_WINDOWS windows are always tried (the scrapes' own time must not leave a clear
    # rule one window short of recovering), more while another fits before the deadline.
    while tried < CLEAR_WINDOWS or clock() + rule.window_s <= deadline + 1e-6:
        tried += 1
        try:
            reading = read_rule(base_url, rule, transport=transport, sleep=sleep)
        except MetricUnavailable as exc:
            unread, clear = f"metric unavailable ({exc}); ", 0
            sleep(max(0.0, min(rule.window_s, deadline - clock())))  # then try again
            continue
        if reading.value_s is None or reading.requests < min_requests:
            unread, clear = (
                f"{'no' if reading.value_s is None else reading.requests} requests in the "
                f"{rule.window_s:g} s window (idle: fewer than {min_requests}); ",
                0,
            )
            continue
        last = reading
        clear = clear + 1 if reading.value_s <= rule.threshold_s else 0
        if clear >= CLEAR_WINDOWS:
            break
    if last is None:
        sleep(max(0.0, deadline - clock()))  # the source is asked at the bound, not before
        elapsed = clock() - began
        return MetricVerdict(None, f"{unread.rstrip('; ')} until {elapsed:.1f} s after the "
                             "action; ", elapsed)  # fmt: skip
    elapsed = clock() - began
    ok = clear >= CLEAR_WINDOWS
    allowed = deadline - began
    bound = f"{settle:.0f} s to settle + {allowed - settle:.0f} s to confirm"
    if ok:
        outcome = (
            f", {clear} windows in a row, the last ending {elapsed:.1f} s after the action "
            f"({rule.describe()} no longer true)"
        )
    elif clear:
        outcome = (
            f", clear {clear} of the {CLEAR_WINDOWS} windows in a row needed by "
            f"{elapsed:.1f} s after the action (allowed {allowed:.0f} s: {bound})"
        )
    else:
        outcome = (
            f", not clear {elapsed:.1f} s after the action (allowed {allowed:.0f} s: "
            f"{bound}; {rule.describe()} still true)"
        )
    return MetricVerdict(
        Verification(
            ok,
            f"p{rule.quantile * 100:g} {last.value_s * 1000:.0f} ms over "
            f"{last.requests} requests in {rule.window_s:g} s "
            f"{'<=' if last.value_s <= rule.threshold_s else '>'} "
            f"{rule.threshold_s * 1000:.0f} ms" + outcome,
            "metric",
        ),
        elapsed_s=elapsed,
    )


def verify(
    perf_conn: psycopg.Connection,
    app_conn: psycopg.Connection,
    alert: Alert,
    settings: Settings,
    *,
    metric: MetricVerdict | None = None,
    rules: tuple[MetricRule, ...] = METRIC_RULES,
) -> Verification:
    """Has the alert's condition cleared? Reads the check or metric again when there is one,
    else the alert's status at its source (reads perf.alerts).

    An alert with a metric rule is decided by the caller's `metric` verdict (`judge_metric`,
    read before the caller took its connections); only when no window could be judged (or
    no verdict is given) is the source asked. The caller waits the delay itself before a
    check or the source."""
    check = alert.labels.get("check")
    rule = metric_rule_of(alert, rules)
    if rule is None and alert.source == "critical_path" and check and alert.wedding_id:
        weddings = weddings_by_id(perf_conn, [alert.wedding_id])
        if not weddings:
            return Verification(
                False, f"wedding {alert.wedding_id} no longer in the calendar", "metric"
            )
        result = run_round(
            app_conn, perf_conn, weddings, datetime.now(UTC), settings, record=False
        ).results
        row = result[result["check_name"] == check].iloc[0]
        return Verification(
            row.status != "breach", f"{check} is {row.status} ({row.detail})", "metric"
        )
    unread = ""
    if rule is not None and metric is not None:
        if metric.verification is not None:
            return metric.verification
        unread = metric.unread
    now = load_alert(perf_conn, alert.alert_id)
    if now is None:
        return Verification(False, f"{unread}the alert is no longer in the inbox", "source")
    return Verification(
        now.status == "resolved", f"{unread}alert is {now.status} at its source", "source"
    )
