"""Torch datasets over a `DetectionSplit`, and the deterministic, resumable training sampler.

Every training sample carries its own seed (derived from the run seed and its position in the
stream), and the augmentation runs under that seed: the stream of batches depends only on
(seed, iteration), so a resumed run sees exactly what an uninterrupted one would have.
"""

from __future__ import annotations

import math
from typing import Iterator

import numpy as np
import torch
from PIL import Image, UnidentifiedImageError
from pycocotools import mask as mask_utils
from torch.utils.data import Dataset, Sampler

from .data import DetectionSplit, ImageRecord


def read_image(record: ImageRecord) -> torch.Tensor:
    """(3, H, W) uint8 RGB; the size must match the annotation file's height/width."""
    try:
        with Image.open(record.path) as im:
            array = np.asarray(im.convert("RGB"))
    except (UnidentifiedImageError, OSError) as err:
        raise ValueError(f"{record.path}: cannot decode image id {record.id}: {err}") from None
    image = torch.from_numpy(array.copy()).permute(2, 0, 1)  # (3, H, W) uint8
    if tuple(image.shape[-2:]) != (record.height, record.width):
        raise ValueError(f"{record.path}: image id {record.id} is {image.shape[-1]}x{image.shape[-2]} but the "
                         f"annotations say width={record.width}, height={record.height}")
    return image


def annotation_mask(ann: dict, height: int, width: int) -> np.ndarray:
    """COCO segmentation (polygons, RLE or uncompressed RLE) -> (H, W) uint8; the box when there is none."""
    segm = ann.get("segmentation")
    if not segm:
        mask = np.zeros((height, width), dtype=np.uint8)
        x, y, w, h = ann["bbox"]
        mask[int(y): int(np.ceil(y + h)), int(x): int(np.ceil(x + w))] = 1
        return mask
    if isinstance(segm, list):
        rle = mask_utils.merge(mask_utils.frPyObjects(segm, height, width))
    elif isinstance(segm.get("counts"), list):
        rle = mask_utils.frPyObjects(segm, height, width)
    else:
        rle = segm
    return mask_utils.decode(rle).astype(np.uint8)


class TrainDataset(Dataset):
    """Images with at least one non-crowd annotation; `dataset[(index, seed)]` -> (image, target, meta)."""

    def __init__(self, split: DetectionSplit, transform):
        self.split = split
        self.transform = transform
        self.records = [r for r in split.images
                        if any(not a.get("iscrowd", 0) for a in split.anns_by_image[r.id])]

    def __len__(self) -> int:
        return len(self.records)

    def target(self, record: ImageRecord) -> dict:
        anns = [a for a in self.split.anns_by_image[record.id] if not a.get("iscrowd", 0)]
        boxes = torch.tensor([a["bbox"] for a in anns], dtype=torch.float32).reshape(-1, 4)
        boxes[:, 2:] += boxes[:, :2]  # xywh -> xyxy
        masks = np.stack([annotation_mask(a, record.height, record.width) for a in anns])
        return {
            "boxes": boxes,
            "labels": torch.tensor([self.split.label_of[a["category_id"]] for a in anns], dtype=torch.int64),
            "masks": torch.from_numpy(masks),
        }

    def __getitem__(self, key: tuple[int, int]):
        index, seed = key
        record = self.records[index]
        image, target = read_image(record), self.target(record)
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)
            image, target = self.transform(image, target)
        return image, target, {"image_id": record.id, "orig_size": (record.height, record.width)}


class EvalDataset(Dataset):
    def __init__(self, split: DetectionSplit, transform, max_images: int = 0):
        self.records = split.images[:max_images] if max_images > 0 else list(split.images)
        self.transform = transform

    def __len__(self) -> int:
        return len(self.records)

    def __getitem__(self, index: int):
        record = self.records[index]
        return self.transform(read_image(record)), {}, {"image_id": record.id,
                                                         "orig_size": (record.height, record.width)}


def repeat_factors(split: DetectionSplit, records: list[ImageRecord], thresh: float) -> list[float]:
    """Detectron2's `repeat_factors_from_category_frequency`: per image, max over its classes c of
    max(1, sqrt(thresh / f(c))), f(c) being the fraction of `records` that hold class c."""
    cats = [{a["category_id"] for a in split.anns_by_image[r.id]} for r in records]
    freq: dict[int, int] = {}
    for image_cats in cats:
        for c in image_cats:
            freq[c] = freq.get(c, 0) + 1
    n = max(1, len(records))
    cat_factor = {c: max(1.0, math.sqrt(thresh / (k / n))) for c, k in freq.items()}
    return [max((cat_factor[c] for c in image_cats), default=1.0) for image_cats in cats]


class TrainSampler(Sampler):
    """Yields batches [(index, sample_seed), ...] for iterations start_iter..max_iters-1.

    The stream is a sequence of epochs, each a permutation seeded by (seed, epoch); position k = iteration *
    batch_size + j reads it at k. Without repeat factors an epoch is one pass over the n items; with them
    (repeat-factor sampling) item i appears floor(r_i) times plus once more with probability frac(r_i),
    drawn per epoch from the same seeded generator, as Detectron2's RepeatFactorTrainingSampler does."""

    def __init__(self, num_items: int, batch_size: int, seed: int, start_iter: int, max_iters: int,
                 repeat_factors: list[float] | None = None):
        self.n, self.batch_size, self.seed = num_items, batch_size, seed
        self.start_iter, self.max_iters = start_iter, max_iters
        self.factors = None if repeat_factors is None else torch.tensor(repeat_factors, dtype=torch.float64)
        self._epochs: list[torch.Tensor] = []  # epoch e's item order
        self._starts: list[int] = []  # stream position where epoch e starts

    def epoch(self, epoch: int) -> torch.Tensor:
        """The item order of one epoch (a function of seed and epoch only)."""
        g = torch.Generator().manual_seed(self.seed * 1_000_003 + epoch)
        if self.factors is None:
            return torch.randperm(self.n, generator=g)
        whole = self.factors.floor()
        counts = whole + (torch.rand(self.n, generator=g, dtype=torch.float64) < self.factors - whole)
        items = torch.repeat_interleave(torch.arange(self.n), counts.long())
        return items[torch.randperm(len(items), generator=g)]

    def _item(self, k: int) -> int:
        while not self._starts or k >= self._starts[-1] + len(self._epochs[-1]):
            start = self._starts[-1] + len(self._epochs[-1]) if self._starts else 0
            self._epochs.append(self.epoch(len(self._epochs)))
            self._starts.append(start)
            if len(self._epochs) > 2:  # positions only move forward: drop all but the last two epochs' orders
                self._epochs[-3] = torch.empty(0, dtype=torch.int64)
        e = len(self._starts) - 1
        while self._starts[e] > k:
            e -= 1
        return int(self._epochs[e][k - self._starts[e]])

    def __len__(self) -> int:
        return max(0, self.max_iters - self.start_iter)

    def __iter__(self) -> Iterator[list[tuple[int, int]]]:
        for it in range(self.start_iter, self.max_iters):
            batch = []
            for j in range(self.batch_size):
                k = it * self.batch_size + j
                batch.append((self._item(k), (self.seed * 7_919 + k * 104_729 + 17) % (2**31 - 1)))
            yield batch
