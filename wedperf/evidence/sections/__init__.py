"""The report's sections: the numbers behind each figure, its tables, and what to say when
there is nothing to show. Pure: EvidenceData in, Section out (no drawing, no files).

One module per section; `model` holds the Section/Table/FigureSpec types and `values` the
helpers they share. The names below are the package's public surface."""

from wedperf.evidence.sections.alerts_actions import alerts_actions_section
from wedperf.evidence.sections.capacity import (
    CAPACITY_KINDS,
    calendar_load_steps,
    capacity_section,
)
from wedperf.evidence.sections.critical_path import critical_path_section, wedding_checks_payload
from wedperf.evidence.sections.forecast import forecast_section
from wedperf.evidence.sections.model import FigureSpec, Section, Table
from wedperf.evidence.sections.values import iso, local

__all__ = [
    "CAPACITY_KINDS",
    "FigureSpec",
    "Section",
    "Table",
    "alerts_actions_section",
    "calendar_load_steps",
    "capacity_section",
    "critical_path_section",
    "forecast_section",
    "iso",
    "local",
    "wedding_checks_payload",
]
