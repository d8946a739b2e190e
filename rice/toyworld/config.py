"""ToyWorldConfig: every knob of the toy world, validated before anything is written."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from pathlib import Path

MIN_IMAGE_SIZE = 128  # the longest sign plate (8 letters at the smallest font) must fit with margin
MIN_FRAME_SIZE = 96


@dataclass(frozen=True)
class ToyWorldConfig:
    """What `rice.toyworld.generate` renders. Same config (and seed) -> byte-identical files."""

    num_images: int = 100  # scenes in total; split train/val by `val_fraction`
    seed: int = 0
    image_size: int = 224  # square scenes, pixels per side
    val_fraction: float = 0.2
    min_objects: int = 1  # shapes per scene (signs come on top of these)
    max_objects: int = 6
    sign_probability: float = 1.0 / 3.0  # share of scenes that carry at least one sign
    max_signs: int = 2
    min_visible_fraction: float = 0.4  # occlusion never hides more than 60% of a shape
    questions_per_image: int = 4  # LLaVA question-answer pairs per scene
    num_sequences: int = 6  # GOT-10k sequences in total; split train/val by `val_fraction`
    min_frames: int = 20
    max_frames: int = 40
    frame_size: tuple[int, int] = (320, 240)  # (width, height) of tracking frames
    jpeg_quality: int = 95

    def split_counts(self, total: int) -> tuple[int, int]:
        """(train, val) counts for `total` items: val gets round(total * val_fraction), and
        both splits get at least one item whenever total >= 2."""
        n_val = int(round(total * self.val_fraction))
        if total >= 2:
            n_val = min(max(n_val, 1), total - 1)
        else:
            n_val = 0
        return total - n_val, n_val

    def validate(self) -> "ToyWorldConfig":
        """Raise ValueError naming the field and value of the first bad setting."""
        def bad(name: str, why: str) -> ValueError:
            return ValueError(f"ToyWorldConfig.{name}={getattr(self, name)!r}: {why}")

        def is_int(v: object) -> bool:
            return isinstance(v, int) and not isinstance(v, bool)

        for name in ("num_images", "num_sequences", "min_objects", "max_objects",
                     "min_frames", "max_frames", "questions_per_image", "image_size"):
            if not is_int(getattr(self, name)):
                raise bad(name, "must be an integer")
        for name in ("num_images", "num_sequences", "min_objects", "questions_per_image"):
            if getattr(self, name) <= 0:
                raise bad(name, "must be a positive integer")
        if self.num_images < 2:  # the probes train on train and score on val: both must hold a scene
            raise bad("num_images", "too small for a train and a val split; must be at least 2")
        if not is_int(self.seed) or self.seed < 0:
            raise bad("seed", "must be a non-negative integer")
        if self.image_size < MIN_IMAGE_SIZE:
            raise bad("image_size", f"too small; must be at least {MIN_IMAGE_SIZE} pixels")
        if self.max_objects < self.min_objects:
            raise bad("max_objects", f"must be >= min_objects ({self.min_objects})")
        if self.max_objects > 12:
            raise bad("max_objects", "must be at most 12 (scenes would not fit the shapes)")
        if not is_int(self.max_signs) or not 0 <= self.max_signs <= 4:
            raise bad("max_signs", "must be an integer in [0, 4]")
        if not 0.0 <= float(self.sign_probability) <= 1.0:
            raise bad("sign_probability", "must be in [0, 1]")
        if not 0.0 <= float(self.val_fraction) < 1.0:
            raise bad("val_fraction", "must be in [0, 1)")
        if not 0.05 <= float(self.min_visible_fraction) <= 1.0:
            raise bad("min_visible_fraction", "must be in [0.05, 1]")
        if self.min_frames < 2:
            raise bad("min_frames", "must be at least 2 (a template frame and a search frame)")
        if self.max_frames < self.min_frames:
            raise bad("max_frames", f"must be >= min_frames ({self.min_frames})")
        if (len(self.frame_size) != 2 or not all(is_int(v) for v in self.frame_size)
                or min(self.frame_size) < MIN_FRAME_SIZE):
            raise bad("frame_size", f"must be (width, height), each an integer >= {MIN_FRAME_SIZE}")
        if not is_int(self.jpeg_quality) or not 50 <= self.jpeg_quality <= 100:
            raise bad("jpeg_quality", "must be an integer in [50, 100]")
        return self

    def replace(self, **changes) -> "ToyWorldConfig":
        """A copy with `changes`; unknown names give a ValueError listing the valid ones."""
        names = {f.name for f in dataclasses.fields(self)}
        unknown = sorted(set(changes) - names)
        if unknown:
            raise ValueError(f"unknown ToyWorldConfig field(s) {unknown}; valid: {sorted(names)}")
        if "frame_size" in changes and changes["frame_size"] is not None:
            changes["frame_size"] = tuple(changes["frame_size"])
        return dataclasses.replace(self, **changes)


def check_output_dir(out_dir: Path, overwrite: bool) -> None:
    """Refuse a target that is a file, or a non-empty folder unless `overwrite`."""
    if out_dir.exists() and not out_dir.is_dir():
        raise FileExistsError(f"toy world output {out_dir} exists and is not a directory")
    if out_dir.is_dir() and any(out_dir.iterdir()) and not overwrite:
        raise FileExistsError(
            f"toy world output {out_dir} exists and is not empty; "
            "pass overwrite=True (CLI: --overwrite) to replace it")
