"""Prefect task wrappers around wedperf's core, grouped by boundary.

Retry policy lives here, on I/O tasks only; pure computation is not retried. Task inputs are
live objects (sources, windows), so caching is off (`cache_policy=NONE`).
"""
