"""Metrics sources behind one interface (`wedperf.metrics.model.MetricsSource`)."""

from wedperf.metrics.sources.probe import ProbeSource
from wedperf.metrics.sources.prometheus import PrometheusSource
from wedperf.metrics.sources.sql import SqlSource

__all__ = ["ProbeSource", "PrometheusSource", "SqlSource"]
