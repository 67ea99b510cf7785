"""Acting-ahead settings (a section of wedperf.config.Settings: WEDPERF_OPS__*)."""

from __future__ import annotations

from datetime import timedelta
from typing import Literal

from pydantic import BaseModel, Field, SecretStr, field_validator, model_validator

from wedperf.prewarm.contract import KEY_TEMPLATE
from wedperf.sandbox.capacity import REPLICA_RPS as SANDBOX_REPLICA_RPS


class CapacityTarget(BaseModel):
    """Something whose capacity floor wedperf raises ahead of weddings."""

    name: str
    kind: Literal["sandbox", "kubernetes-hpa", "kubernetes-scale", "http"] = "sandbox"
    url: str | None = Field(
        default=None,
        description="sandbox app base URL, Kubernetes API server, or the HTTP endpoint",
    )
    namespace: str = "default"
    resource: str | None = Field(default=None, description="HPA or Deployment name")
    token: SecretStr | None = Field(default=None, description="bearer token (never logged)")
    token_file: str | None = Field(
        default=None, description="e.g. the service-account token of an in-cluster worker"
    )
    ca_file: str | None = None
    kubeconfig: str | None = Field(
        default=None,
        description="kubeconfig (its current context: token, exec plugin or client certificates)",
    )
    utilisation_metric: str = Field(
        default="cpu",
        description="kubernetes-hpa: the Resource metric whose averageUtilization the "
        "event-window policy lowers",
    )
    min_replicas: int = 1
    max_replicas: int = 20
    per_replica_rps: float = Field(
        default=50.0, description="requests/s one replica serves within the latency SLO"
    )
    serves: list[str] = Field(
        default_factory=list,
        description="timezone prefixes of the weddings this target serves (empty: all)",
    )
    forecast_series: str | None = Field(
        default=None,
        description="perf.forecasts series (hourly request counts) sizing this target's floor; "
        "unset or without a fit covering the slot: the calendar estimate",
    )


class EventUtilisation(BaseModel):
    """A lower autoscaler target utilisation only inside event windows, restored after.

    Through the same actuators as the floor (an HPA's `averageUtilization`): lowered `lead`
    before each ceremony (the planner's slots floor it, never late), kept to the end of the
    wedding's day window, then restored (after the ops restore delay) to the value it had
    before — never while a wedding on the target is in its window or a ceremony is in
    progress. A lead of at least `day_window_before` lowers from the day window's opening.
    Applies to targets whose actuator has a target utilisation (`kubernetes-hpa`); a target
    already at or below `utilisation` is left alone (wedperf never raises it). An HPA whose
    metrics have no `Resource` Utilization target named `utilisation_metric` (Pods, Object,
    External, AverageValue, ContainerResource) has nothing to lower: with `ops.floor` auto,
    its utilisation runs raise and restore its floor instead, decided when each runs.

    Defaults chosen by the replay's frontier (bench/replay.py, docs/capacity.md): 35% from
    4 h before the ceremony (an hour before the default day window opens). Lowered only at
    the window's opening, the autoscaler's metric lag and pod start leave its first minutes
    short (sandbox 10, sandbox_v1 9 event minutes a year at 35%); an hour earlier costs
    1.5% more replica-hours and leaves 4 and 0. Leads of 30-60 min miss the check-ins
    before the ceremony; 40% leaves 44 minutes on the sandbox.
    """

    enabled: bool = Field(default=True, description="lower the target utilisation in windows")
    utilisation: int = Field(
        default=35,
        ge=1,
        le=100,
        description="HPA averageUtilization (%) inside event windows",
    )
    lead: timedelta = Field(
        default=timedelta(hours=4),
        description="lower this long before the ceremony (kept to the day window's end)",
    )


# A wedding day's phases, in order (capacity.nowcast.phase_spans).
NOWCAST_PHASES = ("before", "arrival", "ceremony", "reception")
MIN_NOWCAST_STEP = timedelta(minutes=1)


class PhaseRate(BaseModel):
    """Requests/s per invited guest in one phase of a wedding day: its mean (what the
    phase's requests add up to) and its busiest minute (what capacity must hold)."""

    mean: float = Field(ge=0)
    peak: float = Field(ge=0)

    @model_validator(mode="after")
    def _peak_at_least_mean(self) -> PhaseRate:
        if self.peak < self.mean:
            raise ValueError(
                f"a phase's busiest minute (peak {self.peak}) cannot be below its mean "
                f"({self.mean})"
            )
        return self


def _default_phase_rates() -> dict[str, PhaseRate]:
    # A modelling assumption, not a measurement: per invited guest, the phase averages and
    # busiest minutes of the sandbox's load model v2 (wedperf.sandbox.demand: about 60% of
    # the invited use the app; check-ins peak 15 min before the ceremony, phones are away
    # during it, the photo burst after dinner is the reception's peak). docs/capacity.md,
    # "Re-sizing during the day (nowcast)".
    return {
        "before": PhaseRate(mean=0.006, peak=0.006),
        "arrival": PhaseRate(mean=0.037, peak=0.060),
        "ceremony": PhaseRate(mean=0.005, peak=0.005),
        "reception": PhaseRate(mean=0.027, peak=0.105),
    }


class Nowcast(BaseModel):
    """Re-sizing during the day: each watch round compares each live wedding's requests so
    far with its expected curve, and raises the replica floor of the targets serving a
    wedding that runs hot for its remaining phases (only raises; restored once the hot
    weddings' windows close). docs/capacity.md, "Re-sizing during the day (nowcast)".

    The expected curve is `phase_rates` x the wedding's invited guests over its phases
    (before = day window opening to arrival, arrival, ceremony, reception to its end;
    the forecast settings' `arrival_before` and `ceremony_length`): a modelling
    assumption, not learned from completed weddings. Off by default (`enabled`): measured
    on the replay's sandbox year it lies on the event-window utilisation's own cost/risk
    curve, not below it."""

    enabled: bool = Field(
        default=False,
        description="run the nowcast in every watch round; off by default: on the sandbox "
        "year it saved 2 of the 4 event minutes the shipped event utilisation misses for "
        "1.08 x the oracle's replica-hours more, where 30% alone misses none for 0.30 x "
        "more (docs/capacity.md)",
    )
    threshold: float = Field(
        default=1.2,
        description="a wedding runs hot when its (shrunk) intensity, requests so far over "
        "expected so far, is at least this",
    )
    min_expected_requests: float = Field(
        default=2000.0,
        ge=0,
        description="no intensity until this many requests were expected so far (too early "
        "to tell a hot wedding from a noisy minute)",
    )
    prior_requests: float = Field(
        default=2000.0,
        ge=0,
        description="shrinkage toward 1: intensity = (observed + k) / (expected + k) with "
        "k this many requests (k expected requests' worth of a prior intensity of 1)",
    )
    horizon: timedelta | None = Field(
        default=None,
        description="size the floor on the expected busiest minute of the next `horizon` "
        "(each round raises it further as the day goes on); unset: of the rest of the hot "
        "weddings' days at once",
    )
    query: str | None = Field(
        default=None,
        description="PromQL of each wedding's requests per step, one series per wedding "
        "(labelled prometheus.wedding_label); $wedding_ids (required) is replaced by a regex "
        "of the round's wedding ids, $step by `step` in seconds (e.g. 300s), $label by "
        "prometheus.wedding_label; unset: the sandbox app's "
        'sum by ($label) (increase(wedapp_request_duration_seconds_count{$label=~"$wedding_ids"}'
        "[$step]))",
    )
    step: timedelta = Field(
        default=timedelta(minutes=5),
        description="resolution of the observed requests (at least 1 minute: >= 4 scrape "
        "intervals of 15 s; whole seconds)",
    )
    phase_rates: dict[str, PhaseRate] = Field(
        default_factory=_default_phase_rates,
        description="expected requests/s per invited guest by phase (before, arrival, "
        "ceremony, reception): mean and busiest minute; a modelling assumption",
    )

    @field_validator("phase_rates")
    @classmethod
    def _every_phase(cls, rates: dict[str, PhaseRate]) -> dict[str, PhaseRate]:
        known = set(NOWCAST_PHASES)
        missing, unknown = known - set(rates), set(rates) - known
        if missing or unknown:
            raise ValueError(
                f"phase_rates needs exactly the phases {', '.join(NOWCAST_PHASES)}"
                + (f"; missing {', '.join(sorted(missing))}" if missing else "")
                + (f"; unknown {', '.join(sorted(unknown))}" if unknown else "")
            )
        return rates

    @field_validator("threshold")
    @classmethod
    def _above_one(cls, value: float) -> float:
        if not value > 1:
            raise ValueError(
                f"threshold must be above 1 (an intensity of 1 is the expected load), got {value}"
            )
        return value

    @field_validator("step")
    @classmethod
    def _whole_step(cls, value: timedelta) -> timedelta:
        if value < MIN_NOWCAST_STEP or value.total_seconds() % 1:
            raise ValueError(
                f"step must be whole seconds and at least {MIN_NOWCAST_STEP} (4 scrape "
                f"intervals of 15 s), got {value}"
            )
        return value

    @field_validator("horizon")
    @classmethod
    def _horizon(cls, value: timedelta | None) -> timedelta | None:
        if value is not None and value < timedelta(0):
            raise ValueError(f"horizon must be >= 0 or unset, got {value}")
        return value

    @field_validator("query")
    @classmethod
    def _query_has_ids(cls, value: str | None) -> str | None:
        if value is not None and "$wedding_ids" not in value:
            raise ValueError(
                "query must contain $wedding_ids (the regex of the round's wedding ids): "
                "without it every wedding would read the same series"
            )
        return value


class OpsSettings(BaseModel):
    """Acting ahead of weddings: the plan, the capacity policy and pre-warm."""

    horizon: timedelta = Field(default=timedelta(days=7), description="how far ahead to plan")
    prewarm_lead: timedelta = Field(
        default=timedelta(minutes=30), description="pre-warm this long before the day window"
    )
    floor_buffer: timedelta = Field(
        default=timedelta(minutes=10),
        description="raise the floor this long before the day window (pod start + margin)",
    )
    restore_delay: timedelta = Field(
        default=timedelta(minutes=15), description="restore this long after the day window"
    )
    slot: timedelta = Field(
        default=timedelta(minutes=30), description="runs are grouped into slots this long"
    )
    mode: Literal["act", "dry-run", "forecast-only"] = Field(
        default="act",
        description="act; dry-run (read targets, record what would change); forecast-only "
        "(record the plan, touch nothing)",
    )
    quantile: Literal[80, 95] = Field(
        default=95, description="upper bound of the forecast interval the floor is sized on"
    )
    headroom: float = Field(default=0.2, description="extra capacity on top of the forecast")
    requests_per_guest_per_s: float = Field(
        default=0.107,
        description="fallback load model when no forecast exists: peak requests/s per invited "
        "guest, for weddings without an active-guest estimate. The same calibration as "
        "requests_per_active_guest_per_s: 0.175 x the share of invited guests who are active "
        "(0.61 in the sandbox year, docs/capacity.md 'Active guests'), so a wedding is sized "
        "alike with its estimate and without one",
    )
    requests_per_active_guest_per_s: float = Field(
        default=0.175,
        description="fallback load model when no forecast exists: peak requests/s per active "
        "guest, for weddings with the calendar sync's active-guest estimate (a modelling "
        "assumption: the sandbox load model's photo burst plus dancing, docs/capacity.md "
        "'Active guests')",
    )
    cooldown: timedelta = Field(
        default=timedelta(minutes=15), description="no lowering within this long of a change"
    )
    floor: Literal["auto", "always", "never"] = Field(
        default="auto",
        description="raise targets' replica floors ahead of weddings: auto = on targets "
        "without the event-window target utilisation (sandbox, http, kubernetes-scale, or "
        "with it switched off; an HPA without a Utilization metric gets the floor from its "
        "utilisation runs, decided at step time) — where both apply, the replay's frontier "
        "found the floor costs more at equal risk (docs/capacity.md); always; never",
    )
    event_utilisation: EventUtilisation = Field(default_factory=EventUtilisation)
    nowcast: Nowcast = Field(default_factory=Nowcast)
    targets: list[CapacityTarget] = Field(
        default_factory=lambda: [
            CapacityTarget(name="sandbox", per_replica_rps=SANDBOX_REPLICA_RPS)
        ],
        description="a sandbox target without a url uses probes.base_url (the sandbox app); "
        "the default one carries the sandbox's per-replica capacity (wedperf.sandbox.capacity)",
    )
    prewarm_urls: list[str] = Field(
        default_factory=lambda: [
            "{base_url}/weddings/{wedding_id}/guests",
            "{base_url}/weddings/{wedding_id}/timeline",
        ],
        description="HTTP warm-up requests per wedding ({base_url} = probes.base_url)",
    )
    prewarm_key_template: str = Field(
        default=KEY_TEMPLATE,
        description="Redis key of a wedding's dataset (guest_list, timeline, vendors, seating); "
        "the app must read the same keys (the cache contract, docs/sandbox.md)",
    )
    prewarm_relations: list[str] = Field(
        default_factory=lambda: [
            "wedperf_src.guest_list",
            "wedperf_src.timeline_items",
            "wedperf_src.vendors",
            "wedperf_src.seating",
        ],
        description="contract views whose tables are pg_prewarm'ed and ANALYZEd before a "
        "wedding day (a view stands for the tables it reads; each step is skipped with its "
        "reason when the worker's role lacks the privilege)",
    )
    prewarm_deployment: str = "prewarm-weddings/prewarm-weddings"
    floor_deployment: str = "capacity-floor/capacity-floor"
