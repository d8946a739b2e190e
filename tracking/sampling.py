"""Training pairs as OSTrack samples them: a dataset by its ratio, a sequence uniformly, a visible template
frame and a visible search frame after it (causal, at most `max_gap` frames later; static images pair
with themselves); the search box jittered (size x exp(N * s), centre + U(-0.5, 0.5) * sqrt(area) * c),
grayscale and horizontal flip on both frames together, brightness per crop. Crops are cut with PIL here (CPU
loader workers); the tracker cuts the same windows on the device with `crops.crop` (equal to 1 gray level,
checked by a test).

Item `i` is a pure function of (seed, i), so the data stream is resumable and rank-independent.
"""

from __future__ import annotations

import numpy as np
import torch
from PIL import Image, ImageOps
from torch.utils.data import Dataset, Sampler

from .config import SamplingConfig
from .crops import box_to_crop, crop_pil, pil_to_tensor, window
from .datasets import Sequence
from .tracker import CropSizes, load_image


def jitter_box(box: np.ndarray, rng: np.random.Generator, center: float, scale: float) -> np.ndarray:
    x, y, w, h = box
    size = np.array([w, h]) * np.exp(rng.standard_normal(2) * scale)
    offset = np.sqrt(size.prod()) * center
    cx, cy = np.array([x + w / 2, y + h / 2]) + offset * (rng.random(2) - 0.5)
    return np.array([cx - size[0] / 2, cy - size[1] / 2, size[0], size[1]])


def pick_frames(seq: Sequence, rng: np.random.Generator, max_gap: int) -> tuple[int, int]:
    usable = np.flatnonzero(seq.usable())
    if len(usable) == 1:
        return int(usable[0]), int(usable[0])
    t = int(usable[rng.integers(len(usable) - 1)])
    later = usable[(usable > t) & (usable <= t + max_gap)]
    if not len(later):
        later = usable[usable > t][:1]
    return t, int(later[rng.integers(len(later))])


class PairDataset(Dataset):
    """(template (3, Hz, Wz), search (3, Hx, Wx), target (4,) normalised x,y,w,h in the search crop)."""

    def __init__(self, sources: list[list[Sequence]], ratios: list[float], cfg: SamplingConfig, sizes: CropSizes,
                 mean: tuple, std: tuple, seed: int, length: int):
        self.sources = [[s for s in seqs if s.usable().any()] for seqs in sources]
        empty = [i for i, seqs in enumerate(self.sources) if not seqs]
        if empty:
            raise ValueError(f"training dataset {empty[0]} has no sequence with a usable box")
        weights = np.asarray(ratios or [1.0] * len(sources), dtype=np.float64)
        self.probs = weights / weights.sum()
        self.cfg, self.sizes, self.mean, self.std = cfg, sizes, mean, std
        self.seed, self.length = seed, length

    def __len__(self) -> int:
        return self.length

    def _crop(self, image: Image.Image, box, factor, size, rng, center, scale):
        win = window(jitter_box(box, rng, center, scale), factor, size)
        x = pil_to_tensor(crop_pil(image, win), (0, 0, 0), (1, 1, 1))
        b = self.cfg.brightness
        x = (x * rng.uniform(max(0.0, 1 - b), 1 + b)).clamp_(0, 1)
        mean, std = torch.tensor(self.mean).view(3, 1, 1), torch.tensor(self.std).view(3, 1, 1)
        return (x - mean) / std, win

    def __getitem__(self, index: int):
        rng = np.random.default_rng([self.seed, index])
        seqs = self.sources[int(rng.choice(len(self.sources), p=self.probs))]
        seq = seqs[int(rng.integers(len(seqs)))]
        t, s = pick_frames(seq, rng, self.cfg.max_gap)
        images = [load_image(seq.frames[t]), load_image(seq.frames[s])]
        boxes = [seq.boxes[t].copy(), seq.boxes[s].copy()]
        if rng.random() < self.cfg.grayscale:
            images = [ImageOps.grayscale(im).convert("RGB") for im in images]
        if rng.random() < self.cfg.hflip:
            images = [ImageOps.mirror(im) for im in images]
            for im, b in zip(images, boxes):
                b[0] = im.width - b[0] - b[2]
        c = self.cfg
        z, _ = self._crop(images[0], boxes[0], self.sizes.template_factor, self.sizes.template, rng,
                          c.template_center_jitter, c.template_scale_jitter)
        x, win = self._crop(images[1], boxes[1], self.sizes.search_factor, self.sizes.search, rng,
                            c.search_center_jitter, c.search_scale_jitter)
        return z, x, torch.tensor(box_to_crop(boxes[1], win), dtype=torch.float32)


class StreamSampler(Sampler):
    """Batches of global sample ids for one rank: iteration k holds ids k*B .. k*B + B - 1, split by rank."""

    def __init__(self, batch_size: int, rank: int, world: int, start: int, stop: int):
        self.per_rank = batch_size // world
        self.batch_size, self.rank, self.start, self.stop = batch_size, rank, start, stop

    def __len__(self) -> int:
        return max(0, self.stop - self.start)

    def __iter__(self):
        for it in range(self.start, self.stop):
            first = it * self.batch_size + self.rank * self.per_rank
            yield list(range(first, first + self.per_rank))
