"""The backbone registry: `create_backbone(name_or_path)` gives any vision model behind one contract.

Names resolve in this order: a registered preset (`rice backbones` lists them), `timm:NAME`,
`open_clip:NAME[:TAG]`, then a local Hugging Face directory recognised by its config's `model_type`
(an MLCD/RICE directory loads into the native `rice.model.RiceViT`).
"""

from __future__ import annotations

from pathlib import Path

from . import presets as _presets  # noqa: F401  (registers the presets)
from .base import Backbone, BackboneInfo, Features
from .hf import HFVisionBackbone, family_for_model_type, read_model_type
from .native import RiceBackbone
from .openclip_adapter import OpenClipBackbone
from .registry import PresetInfo, build_preset, is_registered, list_backbones, register_backbone, unknown_name_error
from .timm_adapter import TimmBackbone
from .weights import check_weight_files

__all__ = [
    "Backbone", "BackboneInfo", "Features", "PresetInfo", "create_backbone", "list_backbones", "register_backbone",
]


def create_backbone(name_or_path: str | Path, **overrides) -> Backbone:
    """Build a backbone by preset name, `timm:`/`open_clip:` spec, or local Hugging Face directory."""
    spec = str(name_or_path)
    if is_registered(spec):
        return build_preset(spec, **overrides)
    if spec.startswith("timm:"):
        return TimmBackbone.create(spec[len("timm:"):], **overrides)
    if spec.startswith("open_clip:"):
        return OpenClipBackbone.create(spec[len("open_clip:"):], **overrides)
    path = Path(spec).expanduser()
    if path.is_dir():
        return _from_directory(path, **overrides)
    if path.exists():
        raise ValueError(f"backbone {spec!r}: is a file; pass the model directory that holds config.json")
    raise unknown_name_error(spec)


def _from_directory(path: Path, name: str | None = None) -> Backbone:
    model_type = read_model_type(path)
    check_weight_files(path)
    name = name or path.name
    if model_type in ("mlcd_vision_model", "mlcd"):
        return RiceBackbone.from_directory(path, name)
    family = family_for_model_type(model_type)
    if family is None:
        raise ValueError(f"{path / 'config.json'}: model_type {model_type!r} is not a supported vision family "
                         f"(supported: MLCD/RICE, CLIP, SigLIP, SigLIP2, DINOv2, AIMv2)")
    return HFVisionBackbone.from_directory(family, path, name)
