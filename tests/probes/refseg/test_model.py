"""[SEG]: one token, found in the expanded input ids whatever the image size, its last hidden state fed to SAM."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image

from probes.refseg.data import conversation, eval_items
from probes.refseg.model import SEG_TOKEN, seg_positions, seg_token_id


def test_a_tokenizer_that_splits_seg_is_refused():
    from mllm.tiny import build_tiny_tokenizer

    with pytest.raises(ValueError, match=r"/models/llm/tokenizer.json: '\[SEG\]' encodes to \d+ ids .* not one token"):
        seg_token_id(build_tiny_tokenizer(), "/models/llm/tokenizer.json")


@pytest.fixture(scope="module")
def tiny_model(toy_dir, tiny_cfg, backbone, tmp_path_factory):
    from probes.refseg.probe import build_model
    from probes.refseg.sam import build_sam, sam_identity

    cfg = tiny_cfg(toy_dir, tmp_path_factory.mktemp("runs"))
    sam = build_sam(cfg.model.sam)
    return build_model(cfg, backbone, sam, sam_identity(sam, cfg.model.sam))


def test_seg_position_comes_from_the_expanded_ids(tiny_model):
    from mllm.data import collate, encode_conversation

    model, batcher = tiny_model
    proc, seg = batcher.processor, model.seg_id
    image_id = proc.tokenizer.convert_tokens_to_ids("<image>")
    rows = [encode_conversation(proc, conversation("the red circle", "Find {}.", f"{SEG_TOKEN}."),
                                Image.fromarray(np.zeros((h, w, 3), np.uint8))) for h, w in ((40, 100), (120, 60))]
    batch = collate(rows, proc.tokenizer.pad_token_id)
    where = seg_positions(batch["input_ids"], seg)
    n_image = [(r["input_ids"] == image_id).sum().item() for r in rows]
    assert n_image[0] != n_image[1]  # anyres: the image-token count depends on the image
    for k, r in enumerate(rows):
        pos = int(where[k, 1])
        assert where[k, 0] == k and batch["input_ids"][k, pos] == seg and pos > n_image[k]
        assert pos == int((r["input_ids"] == seg).nonzero()[0, 0])
    shifted = seg_positions(batch["input_ids"], seg, offset=-1)  # LISA's one-token shift, also from the ids
    assert torch.equal(shifted[:, 1], where[:, 1] - 1)


def test_last_hidden_state_at_seg_goes_through_the_projection(tiny_model, toy_dir):
    from probes.refseg.refer import read_split

    model, batcher = tiny_model
    item = eval_items(read_split(toy_dir / "refer_seg", "refcoco|unc|val"))[0]
    batch = batcher([item])
    seen = {}
    hook = model.projection.register_forward_hook(lambda m, i, o: seen.update(x=i[0].detach()))
    model.eval()
    with torch.no_grad():
        _, masks = model(batch)
        out = model.llava(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"],
                          pixel_values=batch["pixel_values"], image_sizes=batch["image_sizes"], output_hidden_states=True)
    hook.remove()
    where = seg_positions(batch["input_ids"], model.seg_id)
    assert len(where) == len(item.expressions)
    assert torch.allclose(seen["x"], out.hidden_states[-1][where[:, 0], where[:, 1]].float(), atol=1e-5)
    assert masks[0].shape == (len(item.expressions), item.image.height, item.image.width)


def test_stage1_directory_gets_seg_as_one_new_token(tiny_model, backbone, toy_dir, tiny_cfg, tmp_path):
    from mllm.model import build_llava_next
    from probes.refseg.probe import build_model
    from probes.refseg.sam import build_sam, sam_identity

    llava, processor = build_llava_next(backbone, "tiny", seed=3)  # an MLLM-probe-style model without [SEG]
    llava.save_pretrained(tmp_path / "hf")
    processor.save_pretrained(tmp_path / "hf")
    cfg = tiny_cfg(toy_dir, tmp_path / "runs", f"model.lisa.stage1={tmp_path}")
    sam = build_sam(cfg.model.sam)
    model, batcher = build_model(cfg, backbone, sam, sam_identity(sam, cfg.model.sam))
    vocab = len(processor.tokenizer)
    assert model.seg_id == vocab == len(batcher.processor.tokenizer) - 1
    emb = model.llava.get_input_embeddings().weight
    assert emb.shape[0] == vocab + 1
    assert torch.equal(emb[:vocab], llava.get_input_embeddings().weight)  # stage 1's LLM, kept
    from rice.backbones import create_backbone

    with pytest.raises(ValueError, match="its vision tower is not the backbone"):
        build_model(cfg, create_backbone("clip-vit-tiny"), sam, sam_identity(sam, cfg.model.sam))


def test_what_trains_is_what_lisa_trains(tiny_model):
    model, _ = tiny_model
    trainable = [n for n, p in model.named_parameters() if p.requires_grad]
    groups = {"lora": 0, "embed_tokens": 0, "lm_head": 0, "projection": 0, "sam.mask_decoder": 0}
    for name in trainable:
        hit = [g for g in groups if g in name]
        assert hit, f"{name} should be frozen"
        groups[hit[0]] += 1
    assert all(groups.values()), groups
    lora = [n for n in trainable if "lora" in n]
    assert all("language_model" in n and ("q_proj" in n or "v_proj" in n) for n in lora)
    frozen = [n for n, p in model.named_parameters() if not p.requires_grad]
    for part in ("vision_tower", "multi_modal_projector", "sam.image_encoder", "sam.prompt_encoder"):
        assert any(part in n for n in frozen) and not any(part in n for n in trainable)
