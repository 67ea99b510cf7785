"""Wedding-day load at a steady rate, round after round, in a background thread.

`wedperf up` keeps the sandbox busy the way a wedding day does while scheduled runs collect,
watch and act on it. Every `period` seconds a round of `rate * period` requests is sent (the
`wedperf.sandbox.load` mix: guest lists, timelines, photo bursts, vendor pings), a share of
them as synthetic mobile clients posting RUM beacons when a RUM endpoint is given. A round
that takes longer than its period starts the next at once and is counted `late`: the rate is
then what the sandbox can serve, which is worth seeing rather than hiding.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass

PERIOD_S = 5.0
MOBILE_SHARE = 0.25  # of each round's requests, when a RUM endpoint is given
WEB_CONCURRENCY, MOBILE_CONCURRENCY = 8, 4


@dataclass
class PacedTotals:
    """What the load sent since it started."""

    rounds: int = 0
    requests: int = 0
    errors: int = 0
    beacons_stored: int = 0
    late_rounds: int = 0
    failed_rounds: int = 0  # a round that raised (the app gone mid-round); the next one runs
    last_guest_list_p95_ms: float | None = None
    last_error: str | None = None


class PacedLoad:
    """`rate` requests per second (averaged over each round) on `wedding_ids` of the
    sandbox at `base_url`, until `stop`. Each round's plan is drawn from `seed` and the round
    number, so two runs with one seed send the same requests."""

    def __init__(
        self,
        base_url: str,
        wedding_ids: Sequence[int],
        *,
        rate: float,
        seed: int,
        rum_url: str | None = None,
        rum_token: str | None = None,
        period: float = PERIOD_S,
    ) -> None:
        if rate <= 0 or period <= 0:
            raise ValueError(f"rate and period must be positive, got {rate} and {period}")
        if not wedding_ids:
            raise ValueError("need at least one wedding id to drive load against")
        self._base_url, self._ids = base_url, list(wedding_ids)
        self._rate, self._seed, self._period = rate, seed, period
        self._rum_url, self._rum_token = rum_url, rum_token
        self._totals = PacedTotals()
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="paced-load", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self, timeout: float = 60.0) -> bool:
        """Stop after the round in flight; False if it did not end within `timeout`."""
        self._stop.set()
        self._thread.join(timeout=timeout)
        return not self._thread.is_alive()

    def totals(self) -> dict:
        with self._lock:
            return asdict(self._totals)

    def _run(self) -> None:
        due = time.monotonic()
        round_no = 0
        while not self._stop.is_set():
            self._round(round_no)
            round_no += 1
            due += self._period
            wait = due - time.monotonic()
            if wait < 0:
                with self._lock:
                    self._totals.late_rounds += 1
                due = time.monotonic()
            self._stop.wait(max(wait, 0.0))

    def _round(self, round_no: int) -> None:
        from wedperf.mobile.client import drive_mobile_client
        from wedperf.sandbox.load import drive_load

        size = max(1, round(self._rate * self._period))
        mobile = int(size * MOBILE_SHARE) if self._rum_url else 0
        seed = self._seed * 1_000_003 + round_no
        web = phones = None
        try:
            if size > mobile:
                web = drive_load(
                    self._base_url,
                    self._ids,
                    requests=size - mobile,
                    concurrency=min(WEB_CONCURRENCY, size - mobile),
                    seed=seed,
                )
            if mobile:
                phones = drive_mobile_client(
                    self._base_url,
                    self._rum_url,
                    self._rum_token,
                    self._ids,
                    requests=mobile,
                    concurrency=min(MOBILE_CONCURRENCY, mobile),
                    seed=seed,
                    # Beacons carry what the phone would see; the round does not also wait
                    # out a 3G photo upload in wall-clock time.
                    simulate_network=False,
                )
        except Exception as exc:  # a background round must not end the load
            with self._lock:
                self._totals.failed_rounds += 1
                self._totals.last_error = f"{type(exc).__name__}: {exc}"[:300]
            return
        with self._lock:
            t = self._totals
            t.rounds += 1
            for summary in filter(None, (web, phones)):
                t.requests += summary.requests
                t.errors += summary.errors
            if phones is not None:
                t.beacons_stored += phones.beacons_stored
            if web is not None and "guest_list" in web.operations:
                t.last_guest_list_p95_ms = round(web.operations["guest_list"].p95_ms, 1)
