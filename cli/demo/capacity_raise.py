"""The capacity raise's effect: the same wedding-day load before and after the floor raise
that wedperf's policy decided (flow capacity-floor on the worker)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from cli.demo.errors import Progress

if TYPE_CHECKING:
    from cli.demo.worker import DemoWorker

MEASURED_OPERATION = "guest_list"  # the critical-path SLO's operation


def raise_floor_measured(
    worker: DemoWorker,
    slot: dict[str, Any],
    *,
    base_url: str,
    live_ids: list[int],
    requests: int,
    seed: int,
    progress: Progress,
) -> tuple[dict[str, Any], dict[str, Any]]:
    """Warm the live weddings' caches, drive one load plan, raise the floor, drive the same
    plan again. Returns the flow's result and {floor_before, floor_after, p95_before_ms,
    p95_after_ms} (guest-list p95 as the clients saw it, queueing included)."""
    from wedperf.sandbox.load import drive_load

    def load():
        return drive_load(base_url, live_ids, requests=requests, concurrency=16, seed=seed + 3)

    # Both measurements on warm caches, so only the capacity differs between them.
    drive_load(base_url, live_ids, requests=requests, concurrency=16, seed=seed + 2)
    before = load()
    progress(
        f"raising the capacity floor for wedding{'s' if len(slot['wedding_ids']) > 1 else ''} "
        f"{', '.join(map(str, slot['wedding_ids']))} (flow capacity-floor)"
    )
    floor = worker.run("capacity-floor/capacity-floor", {**slot, "action": "raise"})
    progress(f"  raise: {floor.get('outcome')} ({floor.get('reason', '')})")
    after = load()
    result = {
        "floor_before": floor.get("before"),
        "floor_after": floor.get("after"),
        "p95_before_ms": before.operations[MEASURED_OPERATION].p95_ms,
        "p95_after_ms": after.operations[MEASURED_OPERATION].p95_ms,
        "operation": MEASURED_OPERATION,
        "requests": requests,
        "p95_by_operation_ms": {
            name: {"before": stats.p95_ms, "after": after.operations[name].p95_ms}
            for name, stats in before.operations.items()
            if name in after.operations
        },
    }
    progress(
        f"  same load, {MEASURED_OPERATION} p95: {result['p95_before_ms']:.0f} ms at "
        f"{result['floor_before']} replicas -> {result['p95_after_ms']:.0f} ms at "
        f"{result['floor_after']}"
    )
    return floor, result
