"""Candidate regions (SAM with a tiny random-init model, given COCO masks, superpixels) and region embedding."""

from __future__ import annotations

from functools import partial

import numpy as np
import pytest
import torch
from PIL import Image

from rice.curate.config import MaskConfig
from rice.curate.embed import RegionEmbedder
from rice.curate.images import ImageSkip
from rice.curate.masks import (CocoMasks, SamMasks, SuperpixelMasks, box_from_mask, build_mask_source,
                               candidates_from_masks, infer_sam_type, keep_candidates, load_sam)


def tiny_sam():
    from segment_anything.modeling import ImageEncoderViT, MaskDecoder, PromptEncoder, Sam, TwoWayTransformer

    torch.manual_seed(0)
    encoder = ImageEncoderViT(img_size=64, patch_size=16, embed_dim=32, depth=1, num_heads=2, out_chans=32,
                              norm_layer=partial(torch.nn.LayerNorm, eps=1e-6), window_size=0)
    prompt = PromptEncoder(embed_dim=32, image_embedding_size=(4, 4), input_image_size=(64, 64), mask_in_chans=4)
    decoder = MaskDecoder(num_multimask_outputs=3, transformer_dim=32, iou_head_depth=1, iou_head_hidden_dim=16,
                          transformer=TwoWayTransformer(depth=1, embedding_dim=32, mlp_dim=64, num_heads=2))
    return Sam(encoder, prompt, decoder, pixel_mean=[123.675, 116.28, 103.53], pixel_std=[58.395, 57.12, 57.375]).eval()


def test_sam_automatic_mask_generator_path_runs():
    rng = np.random.default_rng(0)
    image = np.full((80, 96, 3), 200, np.uint8)
    image[20:60, 30:70] = rng.integers(0, 80, size=(40, 40, 3))
    masks = SamMasks(tiny_sam(), points_per_side=4, pred_iou_thresh=0.0, stability_score_thresh=0.0)
    cands = masks(image, "x.png")  # a random SAM may find nothing: the path must run
    for c in cands:
        assert c.mask.shape == (80, 96) and c.mask.dtype == bool and box_from_mask(c.mask) == c.box


def test_sam_checkpoint_loading(tmp_path):
    assert infer_sam_type("sam_vit_b_01ec64.pth") == "vit_b" and infer_sam_type("/w/SAM-ViT-H.pth") == "vit_h"
    with pytest.raises(ValueError, match="--sam-type"):
        infer_sam_type("weights.pth")
    with pytest.raises(FileNotFoundError, match="no such file"):
        load_sam(tmp_path / "sam_vit_b.pth")
    bad = tmp_path / "sam_vit_b_tiny.pth"
    torch.save(tiny_sam().state_dict(), bad)
    with pytest.raises(ValueError, match="cannot load it as SAM vit_b"):
        load_sam(bad)


def test_boxes_and_min_box_filter():
    mask = np.zeros((50, 60), bool)
    mask[10:30, 5:45] = True
    assert box_from_mask(mask) == (5.0, 10.0, 45.0, 30.0)
    assert box_from_mask(np.zeros((4, 4), bool)) is None
    small, big = mask.copy(), np.zeros_like(mask)
    small[:] = False
    small[0:5, 0:50] = True  # 50 x 5: shorter edge 5
    big[5:45, 5:55] = True
    cands = candidates_from_masks([mask, small, big, np.zeros_like(mask)])
    assert len(cands) == 3
    assert [c.box for c in keep_candidates(cands, 20)] == [(5.0, 10.0, 45.0, 30.0), (5.0, 5.0, 55.0, 45.0)]
    assert [c.box for c in keep_candidates(cands, 5, max_regions=2)] == [(5.0, 10.0, 45.0, 30.0),
                                                                          (5.0, 5.0, 55.0, 45.0)]


def test_superpixels_give_connected_regions():
    from skimage import measure

    image = np.zeros((96, 128, 3), np.uint8)
    a, b = np.zeros((96, 128), bool), np.zeros((96, 128), bool)
    a[10:40, 10:50], b[60:90, 70:120] = True, True
    image[a | b] = (250, 20, 20)  # same colour, not connected: two regions
    for method in ("felzenszwalb", "slic"):
        cands = SuperpixelMasks(method, scale=100, segments=16, min_box=16)(image)
        assert all(measure.label(c.mask, connectivity=1).max() == 1 for c in cands), method
        assert all(min(c.box[2] - c.box[0], c.box[3] - c.box[1]) >= 16 for c in cands)
        for rect in (a, b):
            best = max((c.mask & rect).sum() / (c.mask | rect).sum() for c in cands)
            assert best > 0.6, (method, best)


def test_coco_masks_match_by_file_name(train_coco):
    path, coco = train_coco
    source = build_mask_source(MaskConfig(source=f"coco:{path}", min_box=1))
    assert isinstance(source, CocoMasks)
    img = coco["images"][0]
    anns = [a for a in coco["annotations"] if a["image_id"] == img["id"]]
    cands = source(np.zeros((img["height"], img["width"], 3), np.uint8), f"sub/{img['file_name']}")
    assert len(cands) == len(anns)
    for c, a in zip(cands, anns):
        x, y, w, h = a["bbox"]
        assert np.allclose(c.box, (x, y, x + w, y + h), atol=1.0)
    with pytest.raises(ImageSkip, match="size_mismatch"):
        source(np.zeros((10, 10, 3), np.uint8), img["file_name"])
    with pytest.raises(ImageSkip, match="no_annotations"):
        source(np.zeros((10, 10, 3), np.uint8), "elsewhere.jpg")
    with pytest.raises(FileNotFoundError, match="missing.json"):
        build_mask_source(MaskConfig(source="coco:missing.json"))


def test_mask_pooling_and_crops():
    emb = RegionEmbedder.create("clip-vit-tiny", batch_size=2)
    images = [Image.fromarray(np.random.default_rng(i).integers(0, 255, (70, 84, 3), dtype=np.uint8))
              for i in range(3)]
    full = np.ones((70, 84), bool)
    left = np.zeros((70, 84), bool)
    left[:, :42] = True
    weights = [emb.mask_weights(ms) for ms in ([full, left], [], [left])]
    assert weights[0].shape == (2, 16) and np.allclose(weights[0][0], 1)
    assert np.allclose(weights[0][1], [1, 1, 0, 0] * 4)
    regions, whole = emb.embed_masked(images, weights)
    assert regions.shape == (3, 64) and whole.shape == (3, 64)
    assert np.allclose(np.linalg.norm(regions, axis=1), 1, atol=1e-5)
    _, patch = emb._forward(images[:1])  # (1, D, h, w): a full mask is the plain patch mean
    expected = torch.nn.functional.normalize(patch.mean((2, 3)), dim=-1)[0].numpy()
    assert np.allclose(regions[0], expected, atol=1e-5)
    crops = emb.embed_crops(images, [[(0, 0, 84, 70)], [], [(0, 0, 42, 70), (10, 10, 50, 60)]])
    assert crops.shape == (3, 64) and np.allclose(crops[0], whole[0], atol=1e-5)


def test_sam_masks_through_the_pipeline(tmp_path, monkeypatch, make_subset, make_config):
    """`--masks sam` end to end with a tiny random SAM in place of a real checkpoint."""
    import dataclasses

    import rice.curate.masks as masks_mod
    from rice.curate import curate
    from rice.data.shards import iter_samples

    loaded = []
    monkeypatch.setattr(masks_mod, "load_sam", lambda path, sam_type="", device="cpu": loaded.append(
        (str(path), sam_type or masks_mod.infer_sam_type(path))) or tiny_sam())
    images = make_subset(tmp_path / "images", 0, 2)
    cfg = make_config(images, tmp_path / "out", "sam", ocr="none", num_clusters=2)
    # a random SAM may find no region worth keeping: cluster the whole-image features too, so k-means has points
    cfg = dataclasses.replace(cfg, masks=dataclasses.replace(cfg.masks, sam_checkpoint="sam_vit_b_tiny.pth",
                                                             sam_points_per_side=4),
                              cluster=dataclasses.replace(cfg.cluster, fit_on="regions+images"))
    stats = curate(cfg)
    assert loaded == [("sam_vit_b_tiny.pth", "vit_b")]
    assert stats.images_written == 2 and stats.images_skipped == {}
    samples = list(iter_samples(tmp_path / "out", num_classes=2))
    assert len(samples) == 2 and all(len(s.image_labels) == 1 for s in samples)
