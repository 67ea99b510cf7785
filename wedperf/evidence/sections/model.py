"""What a report section is: its figures (with the numbers behind them), tables, notes,
counts, and what to say instead when there is nothing to show."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass
class Table:
    title: str
    columns: list[str]
    rows: list[list[str]]


@dataclass
class FigureSpec:
    """One figure: `name` is its file stem (figures/<name>.png and .json), `kind` says how
    to draw `data` (wedperf.evidence.figures.DRAW), `data` is exactly what is drawn."""

    name: str
    kind: str
    caption: str
    data: dict[str, Any]


@dataclass
class Section:
    key: str
    title: str
    intro: str
    empty: str | None = None  # said instead of figures when there is nothing to show
    notes: list[str] = field(default_factory=list)
    figures: list[FigureSpec] = field(default_factory=list)
    tables: list[Table] = field(default_factory=list)
    counts: dict[str, int] = field(default_factory=dict)
