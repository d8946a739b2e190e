"""Synthetic region shards for the pretraining tests: coloured rectangles whose cluster label is their colour."""

import numpy as np
import pytest
import torch
from PIL import Image, ImageDraw

from rice.data.records import Region, Sample
from rice.data.shards import write_shard

torch.set_num_threads(1)  # 2 shared cores: extra torch threads only spin (4x the CPU time of test_pretrain)

COLOURS = [(230, 30, 30), (30, 200, 30), (30, 30, 230), (220, 220, 30)]


def make_samples(n: int, seed: int = 0, size: int = 64) -> list[Sample]:
    rng = np.random.default_rng(seed)
    samples = []
    for i in range(n):
        img = Image.new("RGB", (size, size), (128, 128, 128))
        draw = ImageDraw.Draw(img)
        regions = []
        for _ in range(int(rng.integers(0, 4))):
            c = int(rng.integers(len(COLOURS)))
            x0, y0 = (int(v) for v in rng.integers(0, size - 20, 2))
            x1, y1 = x0 + int(rng.integers(12, 20)), y0 + int(rng.integers(12, 20))
            draw.rectangle([x0, y0, x1, y1], fill=COLOURS[c])
            regions.append(Region(box=(x0, y0, x1, y1), kind="object", label=c))
        if i % 3 == 0:
            regions.append(Region(box=(2, 2, 40, 14), kind="ocr", tokens=[5, 9, 11], text="abc"))
        samples.append(Sample(key=f"img{i:04d}", image=img, regions=regions, image_labels=[i % len(COLOURS)]))
    return samples


@pytest.fixture
def shards(tmp_path):
    out = tmp_path / "shards"
    out.mkdir()
    samples = make_samples(24)
    for s in range(3):
        write_shard(out / f"shard-{s:06d}.tar", samples[s * 8:(s + 1) * 8])
    return out


_TINY_OVERRIDES = [
    "model.vision.hidden_size=32", "model.vision.intermediate_size=64", "model.vision.num_hidden_layers=2",
    "model.vision.num_attention_heads=2", "model.vision.image_size=56", "model.region_heads=2",
    "loss.num_object_classes=8", "loss.num_ocr_classes=16", "loss.sample_rate=1.0", "data.batch_size=8",
    "loop.warmup_steps=2", "loop.log_every=1", "loop.progress=false",
]


@pytest.fixture
def tiny_overrides():
    return list(_TINY_OVERRIDES)
