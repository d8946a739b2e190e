"""The tiny SAM of segment-anything's classes, the embedding cache and the one-call-per-image decoder."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from probes.refseg.sam import SamConfig, SamEmbeddingCache, SamImage, build_sam, decode_masks, encode_image, sam_identity


@pytest.fixture(scope="module")
def sam():
    torch.set_num_threads(1)
    return build_sam(SamConfig(kind="tiny"))


def image(seed, h=90, w=120):
    return np.random.default_rng(seed).integers(0, 256, (h, w, 3), dtype=np.uint8)


def test_cache_returns_what_the_encoder_computes_and_changes_invalidate_it(sam, tmp_path):
    cfg = SamConfig(kind="tiny")
    cache = SamEmbeddingCache(sam_identity(sam, cfg), tmp_path)
    a = SamImage.create(image(0), sam)
    first = cache.get(sam, a)
    assert torch.equal(first, encode_image(sam, a)) and first.shape == (1, 256, 8, 8)
    assert torch.equal(cache.get(sam, SamImage.create(image(0), sam)), first)  # same pixels: a hit
    assert (cache.hits, cache.misses) == (1, 1)
    b = SamImage.create(image(1), sam)  # another image: a miss, and its own embedding
    assert torch.equal(cache.get(sam, b), encode_image(sam, b)) and cache.misses == 2
    # from disk in a fresh cache object with the same SAM identity
    again = SamEmbeddingCache(sam_identity(sam, cfg), tmp_path)
    assert torch.equal(again.get(sam, a), first) and (again.hits, again.misses) == (1, 0)
    small = SamEmbeddingCache(sam_identity(sam, cfg), None, max_items=1)  # memory only, one entry
    small.get(sam, a), small.get(sam, b), small.get(sam, a)
    assert (small.hits, small.misses) == (0, 3) and list(small.memory) == [f"{a.key}-float32"]
    # another SAM (other weights) has another identity: nothing of the first one's is served
    other_cfg = SamConfig(kind="tiny", seed=1)
    other = build_sam(other_cfg)
    assert sam_identity(other, other_cfg) != sam_identity(sam, cfg)
    other_cache = SamEmbeddingCache(sam_identity(other, other_cfg), tmp_path)
    emb = other_cache.get(other, SamImage.create(image(0), other))
    assert other_cache.misses == 1 and not torch.equal(emb, first)
    assert torch.equal(emb, encode_image(other, SamImage.create(image(0), other)))


def test_decoder_one_call_per_image_gives_masks_at_the_original_size(sam):
    a = SamImage.create(image(2, 70, 50), sam)
    prompts = torch.randn(3, 256)
    masks = decode_masks(sam, encode_image(sam, a), prompts, a)
    assert masks.shape == (3, 70, 50)
    one = decode_masks(sam, encode_image(sam, a), prompts[1:2], a)
    assert torch.allclose(one[0], masks[1], atol=1e-5)  # prompts do not interact


def test_missing_sam_checkpoint_names_the_field():
    with pytest.raises(FileNotFoundError, match="model.sam.checkpoint.*no such SAM checkpoint"):
        build_sam(SamConfig(kind="vit_h", checkpoint="/nonexistent/sam_vit_h.pth"))
    with pytest.raises(ValueError, match="model.sam.kind"):
        build_sam(SamConfig(kind="vit_x"))
