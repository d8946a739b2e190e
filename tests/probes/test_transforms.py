"""Large-scale jitter, test resize, collate, and the resumable sample stream."""

from __future__ import annotations

import math

import pytest
import torch
from torch.utils.data import DataLoader

from probes.detection import InputConfig, load_dataset
from probes.detection.dataset import TrainDataset, TrainSampler
from probes.detection.transforms import (Collate, LargeScaleJitter, ShortestEdgeResize, boxes_from_masks,
                                         shortest_edge_size)

pytestmark = pytest.mark.usefixtures("one_thread")


def test_boxes_from_masks():
    masks = torch.zeros(2, 10, 12, dtype=torch.bool)
    masks[0, 2:5, 3:9] = True
    boxes, nonempty = boxes_from_masks(masks)
    assert boxes[0].tolist() == [3.0, 2.0, 9.0, 5.0] and nonempty.tolist() == [True, False]


def test_lsj_keeps_boxes_on_masks_and_collate_pads(toy_train):
    ann, images = toy_train
    split = load_dataset(f"cocofmt:{ann}:{images}").train
    cfg = InputConfig(image_size=96, min_scale=0.5, max_scale=2.0)
    data = TrainDataset(split, LargeScaleJitter(cfg))
    for seed in range(6):
        image, target, meta = data[(seed % len(data), seed)]
        assert image.dtype == torch.uint8 and max(image.shape[-2:]) <= 96
        boxes, keep = boxes_from_masks(target["masks"].bool())
        assert keep.all() and torch.equal(boxes, target["boxes"])
        assert len(target["labels"]) == len(target["boxes"])
    assert torch.equal(data[(0, 5)][0], data[(0, 5)][0])  # the sample seed fixes the augmentation
    collate = Collate((0.5, 0.5, 0.5), (0.25, 0.25, 0.25), divisor=56, fixed_size=96)
    batch = collate([data[(0, 1)], data[(1, 2)]])
    assert batch.images.shape == (2, 3, 112, 112)  # 96 rounded up to a multiple of 4 x patch 14
    h, w = batch.image_sizes[0]
    assert batch.images[0, :, h:, :].abs().sum() == 0 and batch.images[0, :, :, w:].abs().sum() == 0
    assert batch.images[0, :, :h, :w].min() >= -2.0 - 1e-6  # (0 - 0.5) / 0.25


def test_shortest_edge_resize():
    assert shortest_edge_size(480, 640, 512, 512) == (384, 512)  # longest edge capped
    assert shortest_edge_size(480, 640, 240, 1000) == (240, 320)
    resize = ShortestEdgeResize(InputConfig(test_short_edge=64, test_max_size=100))
    assert resize(torch.zeros(3, 128, 256, dtype=torch.uint8)).shape == (3, 50, 100)


def test_sample_stream_is_a_function_of_seed_and_iteration(toy_train):
    full = list(TrainSampler(5, 2, seed=3, start_iter=0, max_iters=8))
    assert list(TrainSampler(5, 2, seed=3, start_iter=5, max_iters=8)) == full[5:]
    assert sorted(i for batch in full[:5] for i, _ in batch) == sorted(list(range(5)) * 2)  # epochs cover all
    ann, images = toy_train
    data = TrainDataset(load_dataset(f"cocofmt:{ann}:{images}").train, LargeScaleJitter(InputConfig(image_size=64)))
    collate = Collate((0.5,) * 3, (0.5,) * 3, divisor=64, fixed_size=64)
    loaders = [DataLoader(data, batch_sampler=TrainSampler(len(data), 2, 0, 0, 3), collate_fn=collate, num_workers=n)
               for n in (0, 2)]
    for a, b in zip(*loaders):
        assert torch.equal(a.images, b.images) and a.metas == b.metas


def test_sample_stream_without_repeat_factors_is_one_seeded_permutation_per_epoch():
    stream = [i for batch in TrainSampler(5, 2, seed=3, start_iter=0, max_iters=5) for i, _ in batch]
    expected = []
    for epoch in range(2):
        expected += torch.randperm(5, generator=torch.Generator().manual_seed(3 * 1_000_003 + epoch)).tolist()
    assert stream == expected
    other = [i for batch in TrainSampler(5, 2, seed=4, start_iter=0, max_iters=5) for i, _ in batch]
    assert other != stream  # the seed is used
    seeds = [s for batch in TrainSampler(5, 2, seed=3, start_iter=0, max_iters=5) for _, s in batch]
    assert len(set(seeds)) == len(seeds)  # every sample gets its own augmentation seed


def test_repeat_factors_are_detectron2s_category_frequency_rule():
    from types import SimpleNamespace

    from probes.detection.data import ImageRecord
    from probes.detection.dataset import repeat_factors

    records = [ImageRecord(i, None, 10, 10) for i in range(10)]
    # class 1 in every image, class 2 in image 0 only, class 3 in images 0-4
    anns = {i: [{"category_id": 1}] + ([{"category_id": 2}] if i == 0 else [])
            + ([{"category_id": 3}] if i < 5 else []) for i in range(10)}
    split = SimpleNamespace(anns_by_image=anns)
    factors = repeat_factors(split, records, thresh=0.4)
    # f(1) = 1 -> 1; f(2) = 0.1 -> sqrt(0.4 / 0.1) = 2; f(3) = 0.5 -> max(1, sqrt(0.8)) = 1
    assert factors == pytest.approx([2.0] + [1.0] * 9)
    factors = repeat_factors(split, records, thresh=0.9)
    assert factors == pytest.approx([3.0] + [math.sqrt(0.9 / 0.5)] * 4 + [1.0] * 5)


def test_repeat_factor_sampling_stream():
    factors = [1.0, 2.5, 1.0]
    sampler = TrainSampler(3, 2, seed=0, start_iter=0, max_iters=60, repeat_factors=factors)
    epochs = [sampler.epoch(e).tolist() for e in range(200)]
    for order in epochs:
        assert order.count(0) == 1 and order.count(2) == 1 and order.count(1) in (2, 3)  # floor + a coin flip
    mean = sum(order.count(1) for order in epochs) / len(epochs)
    assert abs(mean - 2.5) < 0.15  # the coin lands with the fractional part's probability
    full = [i for batch in sampler for i, _ in batch]
    assert full == [i for order in epochs for i in order][:120]  # the stream is the epochs in order
    resumed = [i for batch in TrainSampler(3, 2, 0, 37, 60, factors) for i, _ in batch]
    assert resumed == full[74:]  # resumable: a function of (seed, position)


def test_test_images_are_padded_to_the_training_square():
    from probes.detection import DetectionConfig
    from probes.detection.probe import collates
    from rice.backbones import create_backbone

    cfg = DetectionConfig(input=InputConfig(image_size=168, test_short_edge=64, test_max_size=96))
    info = create_backbone("rice-vit-tiny").info
    train, test = collates(cfg, info, 56)
    resize = ShortestEdgeResize(cfg.input)
    items = [(resize(torch.zeros(3, 60, 90, dtype=torch.uint8)), {}, {}),
             (resize(torch.zeros(3, 80, 40, dtype=torch.uint8)), {}, {})]
    batch = test(items)
    assert batch.image_sizes == [(64, 96), (96, 48)]
    assert batch.images.shape == (2, 3, 168, 168)  # the training square, not the batch's own (112, 112)
    assert train([items[0]]).images.shape == test([items[0]]).images.shape
