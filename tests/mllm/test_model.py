"""Assembly over every registered tiny preset: image-token counts match the tower's features; save/load parity."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image

from mllm.model import SUPPORTED_FAMILIES, build_llava_next, grid_pinpoints
from rice.backbones import list_backbones

TINY_PRESETS = [p.name for p in list_backbones() if p.source == "random-init"]
SIZES = {"square": (56, 56), "wide": (200, 80), "tall": (70, 230), "tiny": (5, 3)}  # (width, height)


def _image(w: int, h: int, seed: int = 0) -> Image.Image:
    return Image.fromarray(np.random.RandomState(seed).randint(0, 255, (h, w, 3), dtype=np.uint8))


def _prompt(processor, question: str = "How many stars are there?") -> str:
    msgs = [{"role": "user", "content": [{"type": "image"}, {"type": "text", "text": question}]}]
    return processor.apply_chat_template(msgs, add_generation_prompt=True)


@pytest.mark.parametrize("name", TINY_PRESETS)
def test_image_tokens_equal_tower_features(name):
    preset = next(p for p in list_backbones() if p.name == name)
    if preset.family not in SUPPORTED_FAMILIES:
        with pytest.raises(ValueError, match=f"{name}.*family '{preset.family}'"):
            build_llava_next(name, "tiny")
        return
    model, processor = build_llava_next(name, "tiny")
    cls = preset.family in ("mlcd", "rice", "clip", "dinov2")
    assert model.config.vision_feature_select_strategy == ("default" if cls else "full")
    assert processor.num_additional_image_tokens == (1 if cls else 0)
    assert model.config.vision_feature_layer == -2
    g = preset.image_size // preset.patch_size
    for kind, (w, h) in SIZES.items():
        batch = processor(images=_image(w, h), text=_prompt(processor), return_tensors="pt")
        n_tokens = int((batch["input_ids"] == model.config.image_token_index).sum())
        assert batch["pixel_values"].shape[1:] == (5, 3, preset.image_size, preset.image_size)  # base + 2x2
        with torch.no_grad():
            feats = model.model.get_image_features(
                pixel_values=batch["pixel_values"], image_sizes=batch["image_sizes"], vision_feature_layer=-2,
                vision_feature_select_strategy=model.config.vision_feature_select_strategy).pooler_output
        assert n_tokens == sum(f.shape[0] for f in feats), (name, kind)
        if kind == "square":  # base g*g + 2x2 tiles (2g)^2 + one newline per row of 2g rows, by hand
            assert n_tokens == g * g + 4 * g * g + 2 * g
        with torch.no_grad():
            model(**batch)  # LlavaNext itself checks the token / feature count


def test_rice_tower_is_the_backbone_weights():
    from rice.backbones import create_backbone

    backbone = create_backbone("rice-vit-tiny")
    model, _ = build_llava_next(backbone, "tiny")
    x = torch.randn(2, 3, 56, 56)
    with torch.no_grad():
        ours = backbone.vit(x, output_hidden_states=True).hidden_states[-2]
        tower = model.model.vision_tower(x, output_hidden_states=True).hidden_states[-2]
    torch.testing.assert_close(tower, ours, rtol=1e-5, atol=1e-5)


def test_pinpoints_option():
    assert grid_pinpoints("2x2+1", 336) == [[672, 672]]
    assert grid_pinpoints("pinpoints", 336) == [[336, 672], [672, 336], [672, 672], [1008, 336], [336, 1008]]
    with pytest.raises(ValueError, match="multiple of the tower size 378"):
        grid_pinpoints("2x2+1", 378, [[378, 700]])
    model, processor = build_llava_next("clip-vit-tiny", "tiny", tiling="pinpoints")
    batch = processor(images=_image(300, 100), text=_prompt(processor), return_tensors="pt")
    assert batch["pixel_values"].shape[1] == 4  # 3x1 crops (1x3 in width) + the base view
    with torch.no_grad():
        model(**batch)


def test_save_load_parity_with_plain_transformers(tmp_path, tiny_llava):
    from transformers import AutoProcessor, LlavaNextForConditionalGeneration

    model, processor = tiny_llava
    model.save_pretrained(tmp_path)
    processor.save_pretrained(tmp_path)
    loaded = LlavaNextForConditionalGeneration.from_pretrained(tmp_path).eval()
    proc2 = AutoProcessor.from_pretrained(tmp_path)
    images = [_image(90, 60, 1), _image(40, 120, 2)]
    texts = [_prompt(processor), _prompt(processor, "What colour is the star?")]
    a = processor(images=images, text=texts, return_tensors="pt", padding=True)
    b = proc2(images=images, text=[_prompt(proc2), _prompt(proc2, "What colour is the star?")], return_tensors="pt",
              padding=True)
    assert torch.equal(a["input_ids"], b["input_ids"]) and torch.equal(a["pixel_values"], b["pixel_values"])
    model.eval()
    with torch.no_grad():
        torch.testing.assert_close(loaded(**b).logits, model(**a).logits, rtol=0, atol=0)
        g1 = model.generate(**a, max_new_tokens=6, do_sample=False)
        g2 = loaded.generate(**b, max_new_tokens=6, do_sample=False)
    assert torch.equal(g1, g2)


def test_llm_directory_without_chat_template(tmp_path):
    from transformers import Qwen2ForCausalLM

    from mllm.tiny import build_tiny_llm, build_tiny_tokenizer

    tok = build_tiny_tokenizer()
    tok.chat_template = None
    Qwen2ForCausalLM(build_tiny_llm(tok)).save_pretrained(tmp_path)
    tok.save_pretrained(tmp_path)
    (tmp_path / "chat_template.jinja").unlink(missing_ok=True)
    with pytest.raises(ValueError, match=f"{tmp_path}.*chat_template"):
        build_llava_next("mlcd-vit-tiny", str(tmp_path))
    with pytest.raises(FileNotFoundError, match="nowhere"):
        build_llava_next("mlcd-vit-tiny", str(tmp_path / "nowhere"))


def test_tiny_tokenizer_special_tokens_are_single():
    from mllm.tiny import build_tiny_tokenizer

    tok = build_tiny_tokenizer(extra_special_tokens=("[SEG]",))
    for t in ("<image>", "<|im_start|>", "<|im_end|>", "[SEG]"):
        assert len(tok(t, add_special_tokens=False)["input_ids"]) == 1, t
    assert build_tiny_tokenizer(("[SEG]",)).get_vocab() == tok.get_vocab()  # deterministic training
