"""Backbone registry: one small builder function per preset, registered by decorator (timm style)."""

from __future__ import annotations

import difflib
from dataclasses import dataclass
from typing import Callable

from .base import Backbone


@dataclass(frozen=True)
class PresetInfo:
    """What the registry table shows without building (or downloading) anything."""

    name: str
    family: str
    patch_size: int
    embed_dim: int
    image_size: int
    source: str  # hub id, or "random-init"
    paper_row: str = ""  # the paper row this preset stands for, if any
    hub_verified: bool = True  # False: the hub id is the expected name, not checked to exist on the hub


@dataclass(frozen=True)
class _Entry:
    info: PresetInfo
    build: Callable[..., Backbone]


_REGISTRY: dict[str, _Entry] = {}


def register_backbone(name: str, *, family: str, patch_size: int, embed_dim: int, image_size: int,
                      source: str, paper_row: str = "", hub_verified: bool = True) -> Callable:
    """Decorator: `@register_backbone("clip-vit-l-14-336", family="clip", ...)` over `fn(name, **overrides)`."""

    def wrap(fn: Callable[..., Backbone]) -> Callable[..., Backbone]:
        if name in _REGISTRY:
            raise ValueError(f"backbone preset {name!r} is registered twice")
        _REGISTRY[name] = _Entry(PresetInfo(name, family, patch_size, embed_dim, image_size, source, paper_row,
                                                 hub_verified), fn)
        return fn

    return wrap


def list_backbones() -> list[PresetInfo]:
    return [entry.info for _, entry in sorted(_REGISTRY.items())]


def is_registered(name: str) -> bool:
    return name in _REGISTRY


def build_preset(name: str, **overrides) -> Backbone:
    return _REGISTRY[name].build(name, **overrides)


def unknown_name_error(name: str) -> ValueError:
    close = difflib.get_close_matches(name, list(_REGISTRY), n=5, cutoff=0.4)
    hint = f" Did you mean: {', '.join(close)}?" if close else ""
    return ValueError(
        f"unknown backbone {name!r}: not a registered preset, not an existing local directory, "
        f"and not a 'timm:NAME' or 'open_clip:NAME[:TAG]' spec.{hint} Run `rice backbones` for the list."
    )
