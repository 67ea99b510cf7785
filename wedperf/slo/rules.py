"""The SLOs of upcoming wedding days as Prometheus recording and alerting rules.

For teams that want Prometheus (and Alertmanager) to evaluate the budgets themselves: one rule
group per wedding, its labels from the calendar, every rule active only inside the
wedding's day window (`and on() <window>`: outside it the rules produce nothing, so nothing
fires and a firing alert resolves when the window closes). The arithmetic is wedperf's
(wedperf.slo.budget), in PromQL:

- error ratio over a span d:
  1 - sum(rate(<bucket>{le=<threshold>}[r])) / sum(rate(<bucket>{le="+Inf"}[r])), where the
  range r is d, or 4 scrape intervals (prometheus.scrape_interval_seconds) if that is longer:
  rate() over a range of one or two samples extrapolates from almost nothing or returns
  nothing, so a 2-minute short span on a 1-minute scrape is read over 4 minutes;
- events over a span d: the per-second rate over r times d (not increase over d, for the
  same reason);
- budget remaining: 1 - (bad so far / events so far) / allowance x elapsed / length, the
  "so far" sums read back from per-minute event counts recorded each rule interval (1 m)
  inside the window: the rate over r times 60, so that adding one per interval counts each
  event once, however long r is;
- exhaustion burn: remaining x length / time left;
- page: for either page window, the long span burns at its rate or more, the short span at
  its rate and at the exhaustion burn or more, and the long span holds min_events events;
  ticket: the ticket window, without the exhaustion condition. `keep_firing_for` holds an
  alert for its longest short span after the condition stops.

Differences from wedperf's own evaluation, said here so nobody is surprised: no phase
weights (Prometheus does not see the timeline), short spans do not reach back for events in
sparse minutes, no significance test (slo.confidence: PromQL has no Poisson quantile; the
minimum event count stands in for it), and every window is an error-ratio window with the
minimum event count
(wedperf's fast page burns against the day's budget above a baseline: docs/slo.md). SLOs
whose operation has no histogram in prometheus.histograms (e.g. vendor delivery, read from
the app database) have no rules.
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

import yaml

from wedperf.calendar.model import Wedding
from wedperf.config import Settings
from wedperf.critical_path.slo import tier_of
from wedperf.metrics.histogram import le_label
from wedperf.slo.budget import alert_windows
from wedperf.slo.settings import SloDefinition

ALERT_NAME = "WeddingErrorBudgetBurn"
PREFIX = "wedperf_slo"
RULE_INTERVAL_MINUTES = 1
# Prometheus's own advice for rate() ranges: at least four scrape intervals, so that a range
# holds several samples whatever the alignment and a missed scrape does not empty it.
SCRAPES_PER_RANGE = 4


def min_range_minutes(settings: Settings) -> int:
    """The shortest range the rules read a rate over: 4 scrape intervals, whole minutes."""
    return max(1, math.ceil(SCRAPES_PER_RANGE * settings.prometheus.scrape_interval_seconds / 60))


def rate_range(minutes: int, settings: Settings) -> str:
    """The range over which a span of `minutes` is read."""
    return f"{max(minutes, min_range_minutes(settings))}m"


@dataclass(frozen=True)
class WeddingSlo:
    """One SLO of one upcoming wedding, with what its rules need."""

    wedding: Wedding
    definition: SloDefinition
    tier: str
    objective: float
    opens: datetime
    closes: datetime
    selector: str  # the operation's bucket selector with the wedding (and client) matchers

    @property
    def length_minutes(self) -> int:
        return math.ceil((self.closes - self.opens).total_seconds() / 60)


def le_matcher(bound: float) -> str:
    """`le` matching a bound however the exporter spells it ("1.0", "1", "+Inf")."""
    spellings = sorted({le_label(bound), format(bound, "g")})
    if len(spellings) == 1:
        return f'le="{spellings[0]}"'
    return 'le=~"' + "|".join(re.escape(s).replace("\\", "\\\\") for s in spellings) + '"'


def with_matchers(selector: str, matchers: Sequence[str]) -> str:
    """`selector` with more label matchers: `name{a="b"}` -> `name{a="b",c="d"}`."""
    selector = selector.strip()
    extra = ",".join(matchers)
    if selector.endswith("}"):
        inner = selector[selector.index("{") + 1 : -1].strip()
        head = selector[: selector.index("{")]
        return f"{head}{{{inner + ',' if inner else ''}{extra}}}"
    return f"{selector}{{{extra}}}"


def _quote(value: str) -> str:
    return value.replace("\\", "\\\\").replace('"', '\\"')


def wedding_slos(
    weddings: Sequence[Wedding], settings: Settings
) -> tuple[list[WeddingSlo], list[str]]:
    """Every (wedding, SLO) that Prometheus can evaluate, and the SLOs it cannot (no
    histogram for their operation)."""
    found, skipped = [], set()
    for wedding in weddings:
        if wedding.status == "cancelled":
            continue
        opens, closes = wedding.day_window(settings.day_window_before, settings.day_window_after)
        tier = tier_of(wedding.guest_count, settings.critical_path)
        for definition in settings.slo.definitions:
            selector = settings.prometheus.histograms.get(definition.operation)
            if selector is None:
                skipped.add(definition.name)
                continue
            matchers = [f'{settings.prometheus.wedding_label}="{_quote(wedding.wedding_id)}"']
            label = settings.rum.client_label
            if definition.clients == "mobile" and label:
                matchers.append(f'{label}=~"ios|android"')
            elif definition.clients not in ("all", "mobile") and label:
                matchers.append(f'{label}="{definition.clients}"')
            found.append(
                WeddingSlo(
                    wedding,
                    definition,
                    tier,
                    settings.slo.objective(definition, tier),
                    opens,
                    closes,
                    with_matchers(selector, matchers),
                )
            )
    return found, sorted(skipped)


def _active(ws: WeddingSlo) -> str:
    return (
        f"on() (vector(time()) >= {ws.opens.timestamp():.0f} "
        f"and vector(time()) < {ws.closes.timestamp():.0f})"
    )


def _ratio(ws: WeddingSlo, minutes: int, settings: Settings) -> str:
    good = with_matchers(ws.selector, [le_matcher(ws.definition.threshold_s)])
    total = with_matchers(ws.selector, ['le="+Inf"'])
    r = rate_range(minutes, settings)
    return f"(1 - (sum(rate({good}[{r}])) / sum(rate({total}[{r}])))) and {_active(ws)}"


def wedding_group(ws_list: Sequence[WeddingSlo], settings: Settings) -> dict:
    """The rule group of one wedding (all its SLOs)."""
    rules: list[dict] = []
    alerts: list[dict] = []
    for ws in ws_list:
        labels = {"slo": ws.definition.name, "wedding_id": ws.wedding.wedding_id}
        match = (
            f'{{slo="{_quote(ws.definition.name)}",wedding_id="{_quote(ws.wedding.wedding_id)}"}}'
        )
        allowance = 1 - ws.objective
        windows = alert_windows(ws.length_minutes, settings.slo)
        spans = sorted({m for w in windows for m in (w.long_minutes, w.short_minutes)})
        good = with_matchers(ws.selector, [le_matcher(ws.definition.threshold_s)])
        total = with_matchers(ws.selector, ['le="+Inf"'])
        per_interval = RULE_INTERVAL_MINUTES * 60
        r1 = rate_range(RULE_INTERVAL_MINUTES, settings)
        for minutes in spans:
            rules.append(
                {
                    "record": f"{PREFIX}:sli_error:ratio_rate{minutes}m",
                    "expr": _ratio(ws, minutes, settings),
                    "labels": labels,
                }
            )
            rules.append(
                {
                    "record": f"{PREFIX}:sli_events:increase{minutes}m",
                    "expr": (
                        f"sum(rate({total}[{rate_range(minutes, settings)}])) * {minutes * 60} "
                        f"and {_active(ws)}"
                    ),
                    "labels": labels,
                }
            )
        rules += [
            {
                "record": f"{PREFIX}:sli_events:increase1m",
                "expr": f"sum(rate({total}[{r1}])) * {per_interval} and {_active(ws)}",
                "labels": labels,
            },
            {
                "record": f"{PREFIX}:sli_bad:increase1m",
                "expr": (
                    f"(sum(rate({total}[{r1}])) - sum(rate({good}[{r1}]))) * {per_interval} "
                    f"and {_active(ws)}"
                ),
                "labels": labels,
            },
            {
                "record": f"{PREFIX}:error_budget_remaining",
                "expr": (
                    f"1 - (sum_over_time({PREFIX}:sli_bad:increase1m{match}"
                    f"[{ws.length_minutes}m]) / sum_over_time({PREFIX}:sli_events:increase1m"
                    f"{match}[{ws.length_minutes}m])) / {allowance:g} * "
                    f"((time() - {ws.opens.timestamp():.0f}) / "
                    f"{ws.length_minutes * 60}) and {_active(ws)}"
                ),
                "labels": labels,
            },
            {
                "record": f"{PREFIX}:exhaustion_burn",
                "expr": (
                    f"{PREFIX}:error_budget_remaining{match} * {ws.length_minutes * 60} / "
                    f"({ws.closes.timestamp():.0f} - time()) and {_active(ws)}"
                ),
                "labels": labels,
            },
        ]
        min_events = ws.definition.events_needed(ws.objective)
        for severity in ("page", "ticket"):
            mine = [w for w in windows if w.severity == severity]
            if not mine:
                continue
            conditions = []
            for w in mine:
                short_needed = (
                    f"(clamp_min({PREFIX}:exhaustion_burn{match}, {w.burn_rate:g}) * {allowance:g})"
                    if severity == "page"
                    else f"{w.burn_rate * allowance:g}"
                )
                conditions.append(
                    f"({PREFIX}:sli_error:ratio_rate{w.long_minutes}m{match} "
                    f">= {w.burn_rate * allowance:g}"
                    f" and {PREFIX}:sli_error:ratio_rate{w.short_minutes}m{match} "
                    f">= {short_needed}"
                    f" and {PREFIX}:sli_events:increase{w.long_minutes}m{match} "
                    f">= {min_events})"
                )
            names = ", ".join(f"{w.name} {w.burn_rate:g}x over {w.long_minutes}m" for w in mine)
            alerts.append(
                {
                    "alert": ALERT_NAME,
                    # Gated like the recording rules it reads, so it is evaluated only inside.
                    "expr": f"({' or '.join(conditions)}) and {_active(ws)}",
                    "keep_firing_for": f"{max(w.short_minutes for w in mine)}m",
                    "labels": {**labels, "severity": severity, "source": "slo"},
                    "annotations": {
                        "summary": (
                            f"wedding {ws.wedding.wedding_id}: {ws.definition.name} is burning "
                            "its error budget"
                        ),
                        "description": (
                            f"{ws.definition.description or ws.definition.name} "
                            f"({ws.objective:.2%} within {ws.definition.threshold_s:g} s over "
                            f"the day window {ws.opens:%Y-%m-%d %H:%M}-{ws.closes:%H:%M} UTC). "
                            f"Windows: {names}."
                        ),
                    },
                }
            )
    wedding = ws_list[0].wedding
    return {
        "name": f"wedperf-slo-wedding-{wedding.wedding_id}",
        "interval": f"{RULE_INTERVAL_MINUTES}m",
        "rules": rules + alerts,
    }


class _Dumper(yaml.SafeDumper):
    """YAML without anchors and aliases: each rule reads on its own."""

    def ignore_aliases(self, data) -> bool:
        return True


def dump_yaml(data: dict | list, *, many: bool = False) -> str:
    if many:
        return yaml.dump_all(data, Dumper=_Dumper, sort_keys=False, width=1000)
    return yaml.dump(data, Dumper=_Dumper, sort_keys=False, width=1000)


def prometheus_rules(weddings: Sequence[Wedding], settings: Settings) -> tuple[dict, list[str]]:
    """The rule file (a dict to dump as YAML) for `weddings`, and the SLOs left out."""
    found, skipped = wedding_slos(weddings, settings)
    by_wedding: dict[str, list[WeddingSlo]] = {}
    for ws in found:
        by_wedding.setdefault(ws.wedding.wedding_id, []).append(ws)
    groups = [wedding_group(ws_list, settings) for ws_list in by_wedding.values()]
    return {"groups": groups}, skipped
