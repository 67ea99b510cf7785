"""Choosing a playbook for an alert from the rules file."""

from __future__ import annotations

import tomllib
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

PLAYBOOKS = (
    "scale_up",
    "flush_rewarm_cache",
    "cancel_runaway_queries",
    "refresh_matviews",
    "rerun_prewarm",
)
# Actions that can hurt a wedding in progress: they need approval during a ceremony.
DISRUPTIVE = {"flush_rewarm_cache", "cancel_runaway_queries"}


@dataclass(frozen=True)
class Rule:
    match: dict[str, str]
    playbook: str
    params: dict[str, Any] = field(default_factory=dict)

    def matches(self, labels: dict[str, Any]) -> bool:
        return all(str(labels.get(k)) == str(v) for k, v in self.match.items())


def load_rules(path: Path | None = None) -> list[Rule]:
    """Rules from `path`, or the shipped defaults; unknown playbooks are configuration errors."""
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
        playbook = entry.get("playbook")
        if playbook not in PLAYBOOKS:
            raise ValueError(
                f"rule {index}: unknown playbook {playbook!r} (known: {', '.join(PLAYBOOKS)})"
            )
        if not isinstance(entry.get("match"), dict) or not entry["match"]:
            raise ValueError(f"rule {index}: `match` must be a non-empty table of labels")
        rules.append(Rule(dict(entry["match"]), playbook, dict(entry.get("params", {}))))
    return rules


def choose(rules: list[Rule], labels: dict[str, Any]) -> Rule | None:
    return next((rule for rule in rules if rule.matches(labels)), None)
