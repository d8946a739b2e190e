"""LLaVA-NeXT on any registered backbone that has a Hugging Face vision model.

`build_llava_next(backbone, llm)` returns a transformers `LlavaNextForConditionalGeneration` and its
`LlavaNextProcessor`; `save_pretrained` of both is a standard LLaVA-NeXT directory that plain
transformers and lmms-eval's `llava_hf` load. The vision tower is the backbone's own weights, moved
into the tower class transformers builds from its vision config (RICE's native ViT goes into
`MLCDVisionModel`, with which it is weight-compatible).

Tiling: "2x2+1" (the paper's default) is one pinpoint (2s, 2s) at the tower's native size s, so every
image becomes a base view plus four s x s crops; "pinpoints" is LLaVA-NeXT's own set
(1x2, 2x1, 2x2, 1x3, 3x1 crops of s); `pinpoints=[[h, w], ...]` sets any list (multiples of s).
"""

from __future__ import annotations

from pathlib import Path
from typing import Sequence

import torch

from .tiny import CHAT_TEMPLATE, IMAGE_TOKEN, build_tiny_llm, build_tiny_tokenizer

TILINGS = ("2x2+1", "pinpoints")
# families whose tower LlavaNext calls as `tower(pixel_values)` and whose prefix is [CLS] or nothing
SUPPORTED_FAMILIES = ("mlcd", "rice", "clip", "siglip", "dinov2", "aimv2")
FEATURE_LAYER = -2


def grid_pinpoints(tiling: str, size: int, pinpoints: Sequence[Sequence[int]] | None = None) -> list[list[int]]:
    """The anyres resolutions (height, width) for a tower of native size `size`."""
    if pinpoints is not None:
        out = [[int(h), int(w)] for h, w in pinpoints]
        bad = [p for p in out if p[0] % size or p[1] % size or min(p) <= 0]
        if bad:
            raise ValueError(f"pinpoints {bad}: every pinpoint must be a positive multiple of the tower size {size}")
        return out
    if tiling == "2x2+1":
        return [[2 * size, 2 * size]]
    if tiling == "pinpoints":  # LLaVA-NeXT's [(336,672),(672,336),(672,672),(1008,336),(336,1008)] at s=336
        return [[f * size, g * size] for f, g in ((1, 2), (2, 1), (2, 2), (3, 1), (1, 3))]
    raise ValueError(f"tiling {tiling!r}: must be one of {', '.join(TILINGS)}")


def vision_tower(backbone) -> tuple[torch.nn.Module, bool]:
    """(Hugging Face vision model holding the backbone's weights, has a class token) or one clear error."""
    from rice.backbones import create_backbone
    from rice.backbones.hf import HFVisionBackbone
    from rice.backbones.native import RiceBackbone

    if isinstance(backbone, (str, Path)):
        backbone = create_backbone(backbone)
    info = backbone.info
    if isinstance(backbone, RiceBackbone):
        from transformers import MLCDVisionConfig, MLCDVisionModel

        # transformers 5's MLCDVisionModel uses RiceViT's own parameter names (rice.model.vit's docstring)
        tower = MLCDVisionModel(MLCDVisionConfig(**backbone.vit.config.to_hf_dict()))
        tower.load_state_dict(backbone.vit.state_dict(), strict=True)
        return tower.eval(), True
    if not isinstance(backbone, HFVisionBackbone):
        raise ValueError(f"backbone {info.name!r} (family {info.family!r}): has no Hugging Face vision model, so it "
                         f"cannot be a LLaVA-NeXT vision tower (supported families: {', '.join(SUPPORTED_FAMILIES)})")
    if info.family not in SUPPORTED_FAMILIES:
        raise ValueError(f"backbone {info.name!r} (family {info.family!r}): transformers' LlavaNext cannot call this "
                         f"tower (it needs extra inputs or has register tokens); supported families: "
                         f"{', '.join(SUPPORTED_FAMILIES)}")
    return backbone.model, backbone.family.has_cls


def load_llm(llm: str | Path, seed: int = 0, extra_special_tokens: Sequence[str] = ()):
    """(causal LM, tokenizer) for "tiny" or a local transformers directory that has a chat template."""
    if str(llm) == "tiny":
        from transformers import Qwen2ForCausalLM

        tokenizer = build_tiny_tokenizer(extra_special_tokens)
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)
            model = Qwen2ForCausalLM(build_tiny_llm(tokenizer))
        return model, tokenizer
    from transformers import AutoModelForCausalLM, AutoTokenizer

    path = Path(llm).expanduser()
    if not (path / "config.json").is_file():
        raise FileNotFoundError(f"llm {str(llm)!r}: not 'tiny' and not a model directory ({path / 'config.json'} "
                                f"does not exist); download the LLM (e.g. Qwen/Qwen2.5-7B-Instruct) and pass its path")
    tokenizer = AutoTokenizer.from_pretrained(str(path))
    if not getattr(tokenizer, "chat_template", None):
        raise ValueError(f"{path}: field 'chat_template' is missing from the tokenizer files (tokenizer_config.json "
                         f"/ chat_template.jinja); use an instruction-tuned LLM directory that ships one")
    added = [t for t in (IMAGE_TOKEN, *extra_special_tokens) if t not in tokenizer.get_vocab()]
    if added:
        tokenizer.add_special_tokens({"additional_special_tokens": added}, replace_extra_special_tokens=False)
    tokenizer.extra_special_tokens = {**(getattr(tokenizer, "extra_special_tokens", None) or {}),
                                      "image_token": IMAGE_TOKEN}
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    tokenizer.padding_side = "left"
    model = AutoModelForCausalLM.from_pretrained(str(path), dtype="auto")
    if len(tokenizer) > model.get_input_embeddings().weight.shape[0]:
        model.resize_token_embeddings(len(tokenizer))
    return model, tokenizer


def build_processor(tokenizer, size: int, patch: int, mean, std, pinpoints, has_cls: bool):
    from transformers import LlavaNextImageProcessor, LlavaNextProcessor

    ip = LlavaNextImageProcessor(size={"shortest_edge": size}, crop_size={"height": size, "width": size},
                                 image_grid_pinpoints=pinpoints, image_mean=list(mean), image_std=list(std))
    return LlavaNextProcessor(image_processor=ip, tokenizer=tokenizer, patch_size=patch,
                              vision_feature_select_strategy="default" if has_cls else "full",
                              num_additional_image_tokens=1 if has_cls else 0,
                              chat_template=tokenizer.chat_template or CHAT_TEMPLATE)


def build_llava_next(backbone, llm, *, tiling: str = "2x2+1", pinpoints=None, dtype=None, seed: int = 0,
                     extra_special_tokens: Sequence[str] = ()):
    """(LlavaNextForConditionalGeneration, LlavaNextProcessor) with the backbone as tower and `llm` as LM.

    backbone: a registry name / model directory or a rice Backbone. llm: "tiny" or a causal-LM directory.
    The projector (mlp2x_gelu) and image_newline are freshly initialised from `seed`.
    """
    from rice.backbones import create_backbone
    from transformers import LlavaNextConfig, LlavaNextForConditionalGeneration
    from transformers.models.llava_next.modeling_llava_next import LlavaNextMultiModalProjector

    if isinstance(backbone, (str, Path)):
        backbone = create_backbone(backbone)
    info = backbone.info
    tower, has_cls = vision_tower(backbone)
    points = grid_pinpoints(tiling, info.image_size, pinpoints)
    lm, tokenizer = load_llm(llm, seed, extra_special_tokens)
    config = LlavaNextConfig(
        vision_config=tower.config.to_dict(), text_config=lm.config.to_dict(),
        image_token_index=tokenizer.convert_tokens_to_ids(IMAGE_TOKEN), projector_hidden_act="gelu",
        vision_feature_select_strategy="default" if has_cls else "full", vision_feature_layer=FEATURE_LAYER,
        image_grid_pinpoints=points, tie_word_embeddings=lm.config.tie_word_embeddings,
        image_seq_length=(info.image_size // info.patch_size) ** 2)
    config.vision_config.image_size = info.image_size  # DINOv2 configs keep 518 whatever they were built for
    with torch.device("meta"):  # no second random init of a 7B LM: the real modules are put in below
        model = LlavaNextForConditionalGeneration(config)
    model.model.vision_tower = tower
    model.model.language_model = lm.model
    model.lm_head = lm.lm_head
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        model.model.multi_modal_projector = LlavaNextMultiModalProjector(config)  # Linear, GELU, Linear
        hidden = config.text_config.hidden_size
        model.model.image_newline = torch.nn.Parameter(torch.randn(hidden) / hidden ** 0.5)
    model.generation_config.eos_token_id = tokenizer.eos_token_id
    model.generation_config.pad_token_id = tokenizer.pad_token_id
    if dtype is not None:
        model = model.to(dtype)
    processor = build_processor(tokenizer, info.image_size, info.patch_size, info.image_mean, info.image_std, points,
                                has_cls)
    return model, processor


def tower_of(model) -> torch.nn.Module:
    return model.model.vision_tower


def projector_of(model) -> torch.nn.Module:
    return model.model.multi_modal_projector
