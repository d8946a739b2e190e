"""Registered presets: the paper's rows (public hub ids, loaded offline) and a random-init `*-tiny` per family."""

from __future__ import annotations

import torch

from .hf import HF_FAMILIES, HFVisionBackbone
from .native import RiceBackbone
from .openclip_adapter import OpenClipBackbone, tiny_open_clip_visual
from .registry import register_backbone
from .timm_adapter import TimmBackbone
from .weights import check_weight_files, resolve_hub_dir


def _hub_preset(name, *, family, hub_id, patch, dim, size, paper_row="", verified=True):
    """Register a preset that loads `hub_id` from local disk with the family's loader.

    `verified=False`: the hub id follows the publisher's naming but was not seen on the hub; `rice backbones`
    says so, and a local copy under $RICE_BACKBONE_DIR/<name> works whatever the id.
    """

    @register_backbone(name, family=family, patch_size=patch, embed_dim=dim, image_size=size, source=hub_id,
                       paper_row=paper_row, hub_verified=verified)
    def build(preset_name, **overrides):
        if overrides:
            raise ValueError(f"backbone preset {preset_name!r} takes no overrides (got {sorted(overrides)})")
        directory = resolve_hub_dir(preset_name, hub_id)
        check_weight_files(directory)
        if family == "rice":
            return RiceBackbone.from_directory(directory, preset_name, hub_id)
        return HFVisionBackbone.from_directory(HF_FAMILIES[family], directory, preset_name, hub_id)

    return build


_hub_preset("rice-vit-l-14-560", family="rice", hub_id="DeepGlint-AI/rice-vit-large-patch14-560",
            patch=14, dim=1024, size=560, paper_row="RICE ViT-L-14-560px")
_hub_preset("mlcd-vit-l-14-336", family="mlcd", hub_id="DeepGlint-AI/mlcd-vit-large-patch14-336",
            patch=14, dim=1024, size=336, paper_row="MLCD ViT-L-14-336px")
_hub_preset("mlcd-vit-bigG-14-448", family="mlcd", hub_id="DeepGlint-AI/mlcd-vit-bigG-patch14-448",
            patch=14, dim=1664, size=448, paper_row="MLCD ViT-bigG-14-448px")
_hub_preset("clip-vit-l-14-336", family="clip", hub_id="openai/clip-vit-large-patch14-336",
            patch=14, dim=1024, size=336, paper_row="CLIP ViT-L-14-336px")
_hub_preset("siglip-so400m-14-384", family="siglip", hub_id="google/siglip-so400m-patch14-384",
            patch=14, dim=1152, size=384, paper_row="SigLIP ViT-SO400M-14-384px")
# The fixed-resolution SigLIP2 checkpoints use the SigLIP architecture (config model_type "siglip").
_hub_preset("siglip2-so400m-16-384", family="siglip", hub_id="google/siglip2-so400m-patch16-384",
            patch=16, dim=1152, size=384, paper_row="SigLIPv2 ViT-SO400M-16-384px")
_hub_preset("siglip2-so400m-16-naflex", family="siglip2", hub_id="google/siglip2-so400m-patch16-naflex",
            patch=16, dim=1152, size=256)
_hub_preset("dinov2-vit-b-14", family="dinov2", hub_id="facebook/dinov2-base",
            patch=14, dim=768, size=518, paper_row="DINOv2 ViT-B/14")
_hub_preset("dinov2-vit-l-14", family="dinov2", hub_id="facebook/dinov2-large",
            patch=14, dim=1024, size=518, paper_row="DINOv2 ViT-L/14")
# The ViT-B/16 rows of the paper's Table 3 (512 px). The RICE and MLCD ids follow DeepGlint-AI's naming, but
# no ViT-B/16-512 checkpoint of either was seen published: unverified until someone confirms them.
_hub_preset("rice-vit-b-16-512", family="rice", hub_id="DeepGlint-AI/rice-vit-base-patch16-512",
            patch=16, dim=768, size=512, paper_row="RICE ViT-B/16 512", verified=False)
_hub_preset("mlcd-vit-b-16-512", family="mlcd", hub_id="DeepGlint-AI/mlcd-vit-base-patch16-512",
            patch=16, dim=768, size=512, paper_row="MLCD ViT-B/16 512", verified=False)
_hub_preset("siglip-vit-b-16-512", family="siglip", hub_id="google/siglip-base-patch16-512",
            patch=16, dim=768, size=512, paper_row="SigLIP ViT-B/16 512", verified=False)
_hub_preset("aimv2-vit-l-14-336", family="aimv2", hub_id="apple/aimv2-large-patch14-336",
            patch=14, dim=1024, size=336, paper_row="AIMv2 ViT-L-14-336px")

# ---- random-init tiny presets: a few layers, small width; tests and the toy world use them ----------------------
TINY = dict(hidden_size=64, intermediate_size=128, num_hidden_layers=2, num_attention_heads=2)
TINY_SEED = 0


def _seeded(build):
    """Random-init presets are deterministic: the same overrides give the same weights (`seed` to vary)."""

    def wrapped(name, seed: int = TINY_SEED, **overrides):
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)
            return build(name, **overrides)

    return wrapped


def _tiny_hf(name, family, patch, size, **fixed):
    @register_backbone(name, family=family, patch_size=patch, embed_dim=TINY["hidden_size"], image_size=size,
                       source="random-init")
    @_seeded
    def build(preset_name, **overrides):
        fields = {**TINY, "patch_size": patch, "image_size": size, **fixed, **overrides}
        if family == "rice":
            return RiceBackbone.from_config(preset_name, **fields)
        if family == "siglip2":
            grid = fields.pop("image_size") // fields["patch_size"]
            fields.setdefault("num_patches", grid * grid)
        return HFVisionBackbone.from_config(HF_FAMILIES[family], preset_name, **fields)

    return build


_tiny_hf("rice-vit-tiny", "rice", 14, 56)
_tiny_hf("mlcd-vit-tiny", "mlcd", 14, 56)
_tiny_hf("clip-vit-tiny", "clip", 14, 56)
_tiny_hf("siglip-vit-tiny", "siglip", 16, 64)
_tiny_hf("siglip2-vit-tiny", "siglip2", 16, 64)
_tiny_hf("dinov2-vit-tiny", "dinov2", 14, 56)
_tiny_hf("aimv2-vit-tiny", "aimv2", 14, 56)


@register_backbone("timm-vit-tiny", family="timm", patch_size=16, embed_dim=64, image_size=64, source="random-init")
@_seeded
def timm_vit_tiny(name, **overrides):
    kwargs = dict(depth=2, embed_dim=64, num_heads=2, img_size=64, **overrides)
    return TimmBackbone.create("vit_tiny_patch16_224", name=name, pretrained=False, **kwargs)


@register_backbone("open_clip-vit-tiny", family="open_clip", patch_size=16, embed_dim=64, image_size=64,
                   source="random-init")
@_seeded
def open_clip_vit_tiny(name, **overrides):
    kwargs = dict(image_size=64, patch_size=16, width=64, layers=2, heads=2, **overrides)
    return OpenClipBackbone(tiny_open_clip_visual(**kwargs), name, "random-init")
