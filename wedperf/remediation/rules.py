"""Choosing a playbook for an alert from the rules file."""

from __future__ import annotations

import tomllib
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

from wedperf.remediation.playbooks import get_playbook

# Parameters every rule may set, whatever its playbook (read by the remediate-alert flow).
RULE_PARAMS = {"verify_delay_s": "seconds before recovery is checked (remediation.verify_delay)"}


@dataclass(frozen=True)
class Rule:
    match: dict[str, str]
    playbook: str
    params: dict[str, Any] = field(default_factory=dict)

    def matches(self, labels: dict[str, Any]) -> bool:
        return all(str(labels.get(k)) == str(v) for k, v in self.match.items())


def load_rules(path: Path | None = None) -> list[Rule]:
    """Rules from `path`, or the shipped defaults. An unknown playbook, or a parameter its
    playbook does not take (it would be silently ignored), is a configuration error."""
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
        name = entry.get("playbook")
        try:
            playbook = get_playbook(name)
        except ValueError as exc:
            raise ValueError(f"rule {index}: {exc}") from None
        if not isinstance(entry.get("match"), dict) or not entry["match"]:
            raise ValueError(f"rule {index}: `match` must be a non-empty table of labels")
        params = dict(entry.get("params", {}))
        unknown = sorted(set(params) - set(playbook.params) - set(RULE_PARAMS))
        if unknown:
            takes = ", ".join([*playbook.params, *RULE_PARAMS])
            raise ValueError(
                f"rule {index}: playbook {name!r} takes no parameter "
                f"{', '.join(map(repr, unknown))} (it takes: {takes})"
            )
        rules.append(Rule(dict(entry["match"]), name, params))
    return rules


def choose(rules: list[Rule], labels: dict[str, Any]) -> Rule | None:
    return next((rule for rule in rules if rule.matches(labels)), None)
