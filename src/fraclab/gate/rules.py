"""The gate's rules: which metrics count, which way is better, how far they may move.

A metric is named ``<file>:<key.path>`` (``metrics/classify/resnet18.json:oof_pooled.auroc
.value``). Rules are tried in order and the first whose ``match`` glob fits decides; a
metric no rule matches is ``info`` (shown, never failing).
"""

from __future__ import annotations

import fnmatch
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

DIRECTIONS = ("higher", "lower", "info")


class RulesError(ValueError):
    """A rules file that cannot be used, with the reason."""


@dataclass(frozen=True)
class Rule:
    """One rule: a glob over metric names, the good direction and the tolerances."""

    match: tuple[str, ...]  # globs; any of them
    direction: str  # higher | lower | info
    abs: float = 0.0  # allowed move the wrong way, absolute
    rel: float = 0.0  # ... or relative to |baseline|, whichever is larger

    def matches(self, name: str) -> bool:
        return any(fnmatch.fnmatchcase(name, glob) for glob in self.match)

    def allowed(self, baseline: float) -> float:
        """How far the metric may move the wrong way from ``baseline``."""
        return max(self.abs, self.rel * abs(baseline))

    @property
    def gated(self) -> bool:
        return self.direction != "info"


INFO = Rule(match=("*",), direction="info")


def parse_rules(data: Any, source: str) -> list[Rule]:
    """Rules from the parsed YAML ``data`` (``source`` names it in errors)."""
    if not isinstance(data, dict) or not isinstance(data.get("rules"), list):
        raise RulesError(f"{source}: expected a mapping with a `rules:` list")
    defaults = data.get("defaults") or {}
    if not isinstance(defaults, dict) or set(defaults) - {"abs", "rel"}:
        raise RulesError(f"{source}: `defaults` may only set abs and rel")
    rules = []
    for k, entry in enumerate(data["rules"], start=1):
        where = f"{source}: rule {k}"
        if not isinstance(entry, dict):
            raise RulesError(f"{where}: expected a mapping, got {entry!r}")
        unknown = set(entry) - {"match", "direction", "abs", "rel", "why"}
        if unknown:
            raise RulesError(f"{where}: unknown key(s) {sorted(unknown)}")
        globs = entry.get("match")
        globs = [globs] if isinstance(globs, str) else globs
        if not isinstance(globs, list) or not globs or not all(
                isinstance(g, str) and g for g in globs):
            raise RulesError(f"{where}: `match` must be a glob or a non-empty list of globs")
        if entry.get("direction") not in DIRECTIONS:
            raise RulesError(f"{where} ({globs[0]}): direction must be one of "
                             f"{', '.join(DIRECTIONS)}, got {entry.get('direction')!r}")
        tolerances = {}
        for key in ("abs", "rel"):
            value = entry.get(key, defaults.get(key, 0.0))
            if isinstance(value, bool) or not isinstance(value, int | float) or value < 0:
                raise RulesError(f"{where} ({globs[0]}): {key} must be a number >= 0, "
                                 f"got {value!r}")
            tolerances[key] = float(value)
        rules.append(Rule(tuple(globs), entry["direction"], **tolerances))
    return rules


def load_rules(path: Path) -> list[Rule]:
    """The rules in a YAML file (see ``metrics_rules.yaml``)."""
    if not path.is_file():
        raise RulesError(f"{path}: rules file not found")
    try:
        data = yaml.safe_load(path.read_text())
    except yaml.YAMLError as err:
        raise RulesError(f"{path}: not valid YAML ({err})") from None
    return parse_rules(data, str(path))


def rule_for(name: str, rules: list[Rule]) -> Rule:
    """The first rule matching ``name``; :data:`INFO` when none does."""
    return next((r for r in rules if r.matches(name)), INFO)
