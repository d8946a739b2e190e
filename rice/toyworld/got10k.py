"""GOT-10k sequence folders: a shape moving smoothly with scale change, same-class distractors,
and a short occlusion by another shape passing over it.

    got10k/{train,val}/list.txt
    got10k/{train,val}/GOT-10k_{Train,Val}_000001/00000001.jpg ...
        groundtruth.txt        x,y,w,h per frame (the target's full extent, even when occluded)
        absence.label          1 where the target is fully hidden
        cover.label            visible fraction in eighths: 0 (hidden) .. 8 (fully visible)
        cut_by_image.label     1 where the target touches the frame border
        meta_info.ini          the fields got10k and pytracking read, in their line order
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from rice.progress import progress as progress_bar

from rice.toyworld.config import ToyWorldConfig
from rice.toyworld.files import item_rng, save_jpeg, write_text
from rice.toyworld.shapes import COLOURS, SHAPES, background, jitter_colour, shape_mask

SEQUENCE_PREFIX = {"train": "GOT-10k_Train_", "val": "GOT-10k_Val_"}
FPS = 10


@dataclass
class Mover:
    """A shape whose centre, size and angle follow smooth curves over the frames."""

    shape: str
    rgb: np.ndarray
    x: np.ndarray  # (T,) centre x per frame
    y: np.ndarray  # (T,)
    r: np.ndarray  # (T,) radius per frame
    angle: np.ndarray  # (T,)

    def mask(self, t: int, width: int, height: int) -> np.ndarray:
        return shape_mask(self.shape, float(self.x[t]), float(self.y[t]), float(self.r[t]),
                          float(self.angle[t]), width, height)


def _smooth_path(rng: np.random.Generator, n: int, lo: float, hi: float) -> np.ndarray:
    """Two slow sinusoids whose amplitudes sum to <= 1, so the path stays inside [lo, hi]."""
    t = np.arange(n, dtype=np.float64)
    a1 = rng.uniform(0.3, 0.7)
    a2 = rng.uniform(0.0, min(0.3, 1.0 - a1))
    f1, f2 = rng.uniform(0.004, 0.015), rng.uniform(0.01, 0.03)  # cycles per frame
    p1, p2 = rng.uniform(0, 2 * math.pi, size=2)
    mid, half = (lo + hi) / 2, max((hi - lo) / 2, 0.0)
    return mid + half * (a1 * np.sin(2 * math.pi * f1 * t + p1) + a2 * np.sin(2 * math.pi * f2 * t + p2))


def _mover(rng: np.random.Generator, n: int, shape: str, colour: str, r0: float, width: int, height: int) -> Mover:
    t = np.arange(n, dtype=np.float64)
    amp = rng.uniform(0.15, 0.35)
    r = r0 * (1 + amp * np.sin(2 * math.pi * rng.uniform(0.01, 0.03) * t + rng.uniform(0, 2 * math.pi)))
    reach = 1.15 * r0 * (1 + amp) + 2
    angle = rng.uniform(0, 2 * math.pi) + rng.uniform(-0.05, 0.05) * t
    return Mover(shape, jitter_colour(rng, colour), _smooth_path(rng, n, reach, width - reach),
                 _smooth_path(rng, n, reach, height - reach), r, angle)


def _occluder(rng: np.random.Generator, n: int, target: Mover, colour: str, r0: float) -> Mover:
    """Another shape crossing the target's position at a random frame, on a straight line."""
    t_mid = int(rng.integers(max(1, n // 4), max(2, 3 * n // 4)))
    r = r0 * rng.uniform(1.0, 1.5)
    speed = 2 * (r + r0) / rng.uniform(4, 10)  # the overlap lasts a handful of frames
    theta = rng.uniform(0, 2 * math.pi)
    t = np.arange(n, dtype=np.float64) - t_mid
    shape = SHAPES[int(rng.integers(len(SHAPES)))]
    return Mover(shape, jitter_colour(rng, colour), target.x[t_mid] + speed * math.cos(theta) * t,
                 target.y[t_mid] + speed * math.sin(theta) * t, np.full(n, r), np.full(n, rng.uniform(0, 2 * math.pi)))


def _cover_level(visible: int, total: int) -> int:
    if visible <= 0:
        return 0
    return max(1, min(8, int(round(8 * visible / total))))


def _meta(name: str, category: str, n: int, width: int, height: int) -> str:
    seconds = int(math.ceil(n / FPS))
    lines = ["[METAINFO]", f"url: toyworld://{name}", "begin: 00:00:00",
             f"end: 00:{seconds // 60:02d}:{seconds % 60:02d}", f"anno_fps: {FPS}Hz",
             f"object_class: {category}", "motion_class: translation and scaling",
             "major_class: shape", "root_class: toy object", "motion_adverb: smoothly",
             f"resolution: ({width}, {height})"]
    return "\n".join(lines) + "\n"


def write_sequence(seq_dir: Path, rng: np.random.Generator, cfg: ToyWorldConfig) -> int:
    """Render one sequence into `seq_dir`; returns its number of frames."""
    width, height = cfg.frame_size
    n = int(rng.integers(cfg.min_frames, cfg.max_frames + 1))
    colours = sorted(COLOURS)
    shape = SHAPES[int(rng.integers(len(SHAPES)))]
    colour = colours[int(rng.integers(len(colours)))]
    r0 = rng.uniform(0.07, 0.12) * min(width, height)
    bg = background(rng, width, height)
    target = _mover(rng, n, shape, colour, r0, width, height)
    distractors = [_mover(rng, n, shape, colour, r0 * rng.uniform(0.8, 1.2), width, height)
                   for _ in range(int(rng.integers(1, 3)))]
    occluders = []
    if rng.random() < 0.75:
        others = [c for c in colours if c != colour]
        occluders.append(_occluder(rng, n, target, others[int(rng.integers(len(others)))], r0))
    boxes, cover, absence, cut = [], [], [], []
    for t in range(n):
        frame = bg.astype(np.int16) + rng.integers(-2, 3, size=bg.shape, dtype=np.int16)  # sensor noise
        frame = np.clip(frame, 0, 255).astype(np.uint8)
        for d in distractors:  # below the target: it can hide them, they never hide it
            frame[d.mask(t, width, height)] = d.rgb
        full = target.mask(t, width, height)
        frame[full] = target.rgb
        hidden = np.zeros_like(full)
        for o in occluders:
            m = o.mask(t, width, height)
            frame[m] = o.rgb
            hidden |= m
        cols, rows = np.flatnonzero(full.any(axis=0)), np.flatnonzero(full.any(axis=1))
        x0, x1, y0, y1 = int(cols[0]), int(cols[-1]), int(rows[0]), int(rows[-1])
        boxes.append(f"{x0:.4f},{y0:.4f},{x1 - x0 + 1:.4f},{y1 - y0 + 1:.4f}")
        level = _cover_level(int((full & ~hidden).sum()), int(full.sum()))
        cover.append(str(level))
        absence.append("1" if level == 0 else "0")
        cut.append("1" if x0 == 0 or y0 == 0 or x1 == width - 1 or y1 == height - 1 else "0")
        save_jpeg(seq_dir / f"{t + 1:08d}.jpg", frame, cfg.jpeg_quality)
    write_text(seq_dir / "groundtruth.txt", "\n".join(boxes) + "\n")
    write_text(seq_dir / "cover.label", "\n".join(cover) + "\n")
    write_text(seq_dir / "absence.label", "\n".join(absence) + "\n")
    write_text(seq_dir / "cut_by_image.label", "\n".join(cut) + "\n")
    write_text(seq_dir / "meta_info.ini", _meta(seq_dir.name, f"{colour} {shape}", n, width, height))
    return n


def write_got10k(root: Path, cfg: ToyWorldConfig, progress: bool = True) -> dict:
    """Write `root/train` and `root/val`; returns {subset: {"sequences": n, "frames": m}}."""
    counts = dict(zip(("train", "val"), cfg.split_counts(cfg.num_sequences)))
    summary = {}
    bar = progress_bar(total=cfg.num_sequences, desc="toyworld got10k", unit="seq", disable=not progress)
    for subset, count in counts.items():
        names = [f"{SEQUENCE_PREFIX[subset]}{i + 1:06d}" for i in range(count)]
        frames = 0
        for i, name in enumerate(names):
            frames += write_sequence(root / subset / name, item_rng(cfg.seed, f"got10k/{subset}", i), cfg)
            bar.update(1)
        write_text(root / subset / "list.txt", "".join(f"{name}\n" for name in names))
        summary[subset] = {"sequences": count, "frames": frames}
    bar.close()
    return summary
