"""params.yaml -> typed, validated settings; a wrong key or value is a clear error."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any, TypeVar

import yaml


class ParamsError(ValueError):
    """A params.yaml entry that is missing, unknown or out of range."""


T = TypeVar("T")


def load_params(path: Path | str = "params.yaml") -> dict[str, Any]:
    """The whole params file as a dict."""
    path = Path(path)
    if not path.is_file():
        raise ParamsError(f"{path}: params file not found")
    try:
        params = yaml.safe_load(path.read_text()) or {}
    except yaml.YAMLError as err:
        raise ParamsError(f"{path}: not valid YAML ({err})") from None
    if not isinstance(params, dict):
        raise ParamsError(f"{path}: top level must be a mapping")
    return params


def section(cls: type[T], params: dict[str, Any], name: str) -> T:
    """Build dataclass ``cls`` from ``params[name]``, rejecting unknown keys and bad types."""
    values = params.get(name)
    values = {} if values is None else values
    if not isinstance(values, dict):
        raise ParamsError(f"params.yaml: `{name}` must be a mapping")
    fields = {f.name: f for f in dataclasses.fields(cls)}
    unknown = sorted(set(values) - set(fields))
    if unknown:
        raise ParamsError(f"params.yaml: unknown key(s) {unknown} in `{name}`; "
                          f"valid: {sorted(fields)}")
    for key, value in values.items():
        expected = fields[key].type
        if expected == "float" and isinstance(value, int) and not isinstance(value, bool):
            values = {**values, key: float(value)}
        elif expected in ("int", "float", "bool", "str") and type(value).__name__ != expected:
            raise ParamsError(f"params.yaml: `{name}.{key}` must be {expected}, got {value!r}")
    try:
        return cls(**values)
    except ValueError as err:
        raise ParamsError(f"params.yaml: `{name}`: {err}") from None


def _choice(name: str, value: str, valid: tuple[str, ...]) -> None:
    if value not in valid:
        raise ValueError(f"{name} must be one of {', '.join(valid)}; got {value!r}")


@dataclasses.dataclass(frozen=True)
class DataParams:
    """The `data:` section: which dataset, how to read, group, split and decode it."""

    path: str = "data"
    format: str = "auto"
    image_size: int = 128
    test_fraction: float = 0.15
    val_fraction: float = 0.15
    group_by: str = "auto"
    resplit: bool = False
    on_bad: str = "error"

    def __post_init__(self) -> None:
        _choice("group_by", self.group_by, ("auto", "stem", "image"))
        _choice("on_bad", self.on_bad, ("error", "skip"))
        if not 32 <= self.image_size <= 1024:
            raise ValueError(f"image_size must be in 32..1024, got {self.image_size}")
        for key in ("test_fraction", "val_fraction"):
            if not 0 < getattr(self, key) <= 0.5:
                raise ValueError(f"{key} must be in (0, 0.5], got {getattr(self, key)}")


def seed(params: dict[str, Any]) -> int:
    """The project-wide seed (top-level `seed`)."""
    value = params.get("seed", 0)
    if not isinstance(value, int) or isinstance(value, bool):
        raise ParamsError(f"params.yaml: `seed` must be an integer, got {value!r}")
    return value
