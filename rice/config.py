"""Typed config dataclasses <-> YAML presets and `key=value` overrides, with errors that name the field.

A preset is a YAML mapping whose keys mirror the dataclass fields (nested dataclasses are nested
mappings). Overrides use dotted paths: `train.lr=2e-4`, `model.pyramid.kind=deconv`; the value is
parsed as YAML, so `train.lr_steps=[100,200]` and `model.cascade.mask=false` work.
"""

from __future__ import annotations

import dataclasses
import types
import typing
from pathlib import Path
from typing import Any, Mapping, Sequence, TypeVar

import yaml

T = TypeVar("T")


def load_yaml_mapping(path: str | Path) -> dict:
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"config file {path} does not exist")
    try:
        data = yaml.safe_load(path.read_text())
    except yaml.YAMLError as err:
        raise ValueError(f"{path}: not valid YAML: {err}") from None
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ValueError(f"{path}: expected a mapping of config fields at the top level, got {type(data).__name__}")
    return data


def field_error(what: str, name: str, value: Any, why: str) -> ValueError:
    """The one-line error of a bad config value: `<what> config: field 'a.b' = value: why`."""
    return ValueError(f"{what} config: field '{name}' = {value!r}: {why}")


def parse_override(text: str) -> tuple[list[str], Any]:
    """'a.b.c=value' -> (['a', 'b', 'c'], parsed value)."""
    key, sep, raw = text.partition("=")
    if not sep or not key.strip():
        raise ValueError(f"override {text!r} is not of the form key=value (for example train.lr=1e-4)")
    try:
        value = yaml.safe_load(raw) if raw.strip() else ""
    except yaml.YAMLError:
        value = raw
    return key.strip().split("."), value


def apply_overrides(data: dict, overrides: Sequence[str]) -> dict:
    out = dict(data)
    for text in overrides:
        keys, value = parse_override(text)
        node = out
        for k in keys[:-1]:
            child = node.get(k)
            child = dict(child) if isinstance(child, dict) else {}
            node[k] = child
            node = child
        node[keys[-1]] = value
    return out


def from_dict(cls: type[T], data: Mapping | None, source: str = "config", prefix: str = "") -> T:
    """Build dataclass `cls` from a (possibly partial) mapping; missing fields keep their defaults."""
    data = dict(data or {})
    hints = typing.get_type_hints(cls)
    fields = {f.name: f for f in dataclasses.fields(cls)}
    unknown = sorted(set(data) - set(fields))
    if unknown:
        raise ValueError(f"{source}: unknown field '{prefix}{unknown[0]}'; known fields of '{prefix or cls.__name__}': "
                         f"{', '.join(sorted(fields))}")
    kwargs = {name: _coerce(hints[name], value, source, f"{prefix}{name}") for name, value in data.items()}
    return cls(**kwargs)


def _coerce(tp: Any, value: Any, source: str, path: str) -> Any:
    origin = typing.get_origin(tp)
    args = typing.get_args(tp)
    if origin in (typing.Union, types.UnionType):
        if value is None and type(None) in args:
            return None
        options = [a for a in args if a is not type(None)]
        return _coerce(options[0], value, source, path)
    if dataclasses.is_dataclass(tp):
        if isinstance(value, tp):
            return value
        if not isinstance(value, Mapping):
            raise ValueError(f"{source}: field '{path}' expects a mapping, got {value!r}")
        return from_dict(tp, value, source, prefix=f"{path}.")
    if origin in (tuple, list):
        if not isinstance(value, (list, tuple)):
            raise ValueError(f"{source}: field '{path}' expects a list, got {value!r}")
        if origin is tuple and args and args[-1] is not Ellipsis:
            if len(args) != len(value):
                raise ValueError(f"{source}: field '{path}' expects {len(args)} items, got {value!r}")
            return tuple(_coerce(a, v, source, f"{path}[{i}]") for i, (a, v) in enumerate(zip(args, value)))
        item = args[0] if args else Any
        items = [_coerce(item, v, source, f"{path}[{i}]") for i, v in enumerate(value)]
        return tuple(items) if origin is tuple else items
    if tp is bool:
        if not isinstance(value, bool):
            raise ValueError(f"{source}: field '{path}' expects true/false, got {value!r}")
        return value
    if tp is int:
        if isinstance(value, bool) or not isinstance(value, (int, float)) or int(value) != value:
            raise ValueError(f"{source}: field '{path}' expects an integer, got {value!r}")
        return int(value)
    if tp is float:
        if isinstance(value, str):  # YAML 1.1 reads "3e-3" (no dot) as a string
            try:
                value = float(value)
            except ValueError:
                pass
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise ValueError(f"{source}: field '{path}' expects a number, got {value!r}")
        return float(value)
    if tp is str:
        if isinstance(value, (dict, list)):
            raise ValueError(f"{source}: field '{path}' expects a string, got {value!r}")
        return "" if value is None else str(value)
    return value


def to_dict(cfg: Any) -> dict:
    """Dataclass -> plain YAML/JSON-safe dict (tuples become lists)."""

    def plain(v):
        if dataclasses.is_dataclass(v):
            return {f.name: plain(getattr(v, f.name)) for f in dataclasses.fields(v)}
        if isinstance(v, (list, tuple)):
            return [plain(x) for x in v]
        if isinstance(v, Path):
            return str(v)
        return v

    return plain(cfg)


def load_config(cls: type[T], path: str | Path | None = None, overrides: Sequence[str] = ()) -> T:
    """Defaults of `cls` <- YAML preset at `path` <- dotted `key=value` overrides."""
    data = load_yaml_mapping(path) if path else {}
    source = str(path) if path else cls.__name__
    if overrides:
        data = apply_overrides(data, overrides)
        source = f"{source} (with overrides {' '.join(overrides)})"
    return from_dict(cls, data, source)
