"""Readers for the tracking benchmarks' own folder layouts -> `Sequence` (frame paths + x,y,w,h boxes).

    got10k:DIR[:train|val|test]     DIR/<subset>/list.txt, <seq>/00000001.jpg.., groundtruth.txt,
                                    absence.label, cover.label, meta_info.ini (resolution)
    toy:DIR[:train|val]             the toy world (`rice toyworld`): GOT-10k folders in DIR/got10k
    lasot:DIR[:train|test|all]      DIR/<category>/<category>-<k>/img/00000001.jpg.., groundtruth.txt,
                                    full_occlusion.txt, out_of_view.txt; test = DIR/testing_set.txt
    trackingnet:DIR[:TRAIN_0,..|TEST|train]  DIR/<chunk>/anno/<seq>.txt, DIR/<chunk>/frames/<seq>/0.jpg..
    tnl2k:DIR                       DIR/<seq>/imgs/*.jpg|png, groundtruth.txt
    coco:DIR[:train|val]            DIR/annotations/instances_<split>2017.json, DIR/<split>2017/: every
                                    non-crowd object is a one-frame sequence (static pairs for training)

Only paths and boxes are read here (no image decoding). Bad input raises ValueError/FileNotFoundError
naming the sequence and, for annotations, the file and line.
"""

from __future__ import annotations

import ast
import json
import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np

IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png")


@dataclass
class Sequence:
    name: str
    frames: list[Path]
    boxes: np.ndarray  # (N, 4) x, y, w, h per annotated frame; (1, 4) where only the first box is public
    dataset: str  # got10k | toy | lasot | trackingnet | tnl2k | coco
    visible: np.ndarray | None = None  # (N,) bool target-visible flags where the dataset has them
    cover: np.ndarray | None = None  # (N,) GOT-10k visible ratio levels 0..8
    resolution: tuple[int, int] | None = None  # (W, H) where the dataset records it

    @property
    def has_groundtruth(self) -> bool:
        return len(self.boxes) == len(self.frames)

    def usable(self) -> np.ndarray:
        """(N,) frames a training pair may use: positive box and visible (where flags exist)."""
        ok = (self.boxes[:, 2] > 0) & (self.boxes[:, 3] > 0) & np.isfinite(self.boxes).all(axis=1)
        return ok & self.visible if self.visible is not None else ok


def read_boxes(path: Path, sequence: str) -> np.ndarray:
    """x,y,w,h rows (comma, tab or space separated); the first box must have a positive size."""
    if not path.is_file():
        raise FileNotFoundError(f"sequence {sequence}: no annotation file {path}")
    rows = []
    for number, line in enumerate(path.read_text().splitlines(), start=1):
        if not line.strip():
            continue
        values = [v for v in re.split(r"[,\s]+", line.strip()) if v]
        if len(values) != 4:
            raise ValueError(f"sequence {sequence}: {path} line {number}: expected 4 values x,y,w,h, "
                             f"got {len(values)} ({line.strip()!r})")
        try:
            rows.append([float(v) for v in values])
        except ValueError:
            raise ValueError(f"sequence {sequence}: {path} line {number}: not numbers ({line.strip()!r})") from None
    if not rows:
        raise ValueError(f"sequence {sequence}: {path} holds no boxes")
    boxes = np.asarray(rows, dtype=np.float64)
    if not (boxes[0, 2] > 0 and boxes[0, 3] > 0):
        raise ValueError(f"sequence {sequence}: {path} line 1: the first box {line_of(boxes[0])} has zero size; "
                         f"a tracker needs a positive first box")
    return boxes


def line_of(box: np.ndarray) -> str:
    return ",".join(f"{v:g}" for v in box)


def read_flags(path: Path, sequence: str, count: int) -> np.ndarray:
    """0/1 (or small integer) flags, one per frame, in lines or comma-separated on one line."""
    if not path.is_file():
        raise FileNotFoundError(f"sequence {sequence}: no label file {path}")
    values = [v for v in re.split(r"[,\s]+", path.read_text().strip()) if v]
    if len(values) != count:
        raise ValueError(f"sequence {sequence}: {path}: {len(values)} labels for {count} annotated frames")
    try:
        return np.asarray([int(float(v)) for v in values], dtype=np.int64)
    except ValueError:
        raise ValueError(f"sequence {sequence}: {path}: labels must be integers") from None


def list_frames(folder: Path, sequence: str, count: int, names: list[str] | None = None) -> list[Path]:
    """The sequence's frame files in order; `names` are the expected file names when the layout fixes them."""
    if not folder.is_dir():
        raise FileNotFoundError(f"sequence {sequence}: no frame folder {folder}")
    if names is not None:
        present = {p.name for p in folder.iterdir()}
        missing = [n for n in names if n not in present]
        if missing:
            raise ValueError(f"sequence {sequence}: {folder}: {len(missing)} of {len(names)} frames are missing "
                             f"(first: {missing[0]})")
        return [folder / n for n in names]
    frames = sorted(p for p in folder.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)
    if len(frames) < count:
        raise ValueError(f"sequence {sequence}: {folder}: {len(frames)} frames for {count} annotated boxes "
                         f"(frames are missing)")
    return frames


def _meta_resolution(path: Path) -> tuple[int, int] | None:
    if not path.is_file():
        return None
    for line in path.read_text().splitlines()[1:]:
        key, _, value = line.partition(":")
        if key.strip() == "resolution":
            w, h = ast.literal_eval(value.strip())
            return int(w), int(h)
    return None


def read_got10k(root: Path, subset: str = "val", dataset: str = "got10k") -> list[Sequence]:
    base = Path(root) / subset
    if not base.is_dir():
        raise FileNotFoundError(f"GOT-10k {subset}: no folder {base}")
    listing = base / "list.txt"
    names = (listing.read_text().split() if listing.is_file()
             else sorted(p.name for p in base.iterdir() if p.is_dir()))
    out = []
    for name in names:
        seq = base / name
        boxes = read_boxes(seq / "groundtruth.txt", name)
        public = len(boxes)
        frame_count = public
        if subset == "test":  # only the first box is published: count the frames instead
            frame_count = sum(1 for p in seq.glob("*.jpg"))
        frames = list_frames(seq, name, frame_count, [f"{i:08d}.jpg" for i in range(1, frame_count + 1)])
        visible = cover = None
        if (seq / "absence.label").is_file():
            visible = read_flags(seq / "absence.label", name, public) == 0
        if (seq / "cover.label").is_file():
            cover = read_flags(seq / "cover.label", name, public)
        out.append(Sequence(name, frames, boxes, dataset, visible, cover, _meta_resolution(seq / "meta_info.ini")))
    return out


def read_lasot(root: Path, split: str = "all") -> list[Sequence]:
    root = Path(root)
    if not root.is_dir():
        raise FileNotFoundError(f"LaSOT: no folder {root}")
    seq_dirs = sorted(s for c in sorted(root.iterdir()) if c.is_dir() for s in sorted(c.iterdir())
                      if (s / "groundtruth.txt").is_file())
    if split in ("train", "test"):
        listing = root / "testing_set.txt"
        if not listing.is_file():
            raise FileNotFoundError(f"LaSOT split {split!r}: no {listing} (the list of test sequences)")
        test = set(listing.read_text().split())
        seq_dirs = [s for s in seq_dirs if (s.name in test) == (split == "test")]
    elif split != "all":
        raise ValueError(f"LaSOT: split {split!r}: expected train, test or all")
    out = []
    for seq in seq_dirs:
        boxes = read_boxes(seq / "groundtruth.txt", seq.name)
        occluded = read_flags(seq / "full_occlusion.txt", seq.name, len(boxes))
        out_of_view = read_flags(seq / "out_of_view.txt", seq.name, len(boxes))
        frames = list_frames(seq / "img", seq.name, len(boxes), [f"{i:08d}.jpg" for i in range(1, len(boxes) + 1)])
        out.append(Sequence(seq.name, frames, boxes, "lasot", (occluded == 0) & (out_of_view == 0)))
    return out


def read_trackingnet(root: Path, split: str = "train") -> list[Sequence]:
    root = Path(root)
    if split == "train":
        chunks = sorted(p.name for p in root.glob("TRAIN_*") if p.is_dir())
    else:
        chunks = [c for c in split.split(",") if c]
    if not chunks:
        raise FileNotFoundError(f"TrackingNet: no TRAIN_* chunk folders in {root}")
    out = []
    for chunk in chunks:
        anno_dir = root / chunk / "anno"
        if not anno_dir.is_dir():
            raise FileNotFoundError(f"TrackingNet {chunk}: no folder {anno_dir}")
        for anno in sorted(anno_dir.glob("*.txt")):
            name = anno.stem
            boxes = read_boxes(anno, name)
            folder = root / chunk / "frames" / name
            count = len(boxes)
            if chunk == "TEST":
                count = sum(1 for p in folder.glob("*.jpg")) if folder.is_dir() else 0
            frames = list_frames(folder, name, count, [f"{i}.jpg" for i in range(count)])
            out.append(Sequence(name, frames, boxes, "trackingnet"))
    return out


def read_tnl2k(root: Path) -> list[Sequence]:
    root = Path(root)
    if not root.is_dir():
        raise FileNotFoundError(f"TNL2K: no folder {root}")
    out = []
    for seq in sorted(p for p in root.iterdir() if (p / "groundtruth.txt").is_file()):
        boxes = read_boxes(seq / "groundtruth.txt", seq.name)
        frames = list_frames(seq / "imgs", seq.name, len(boxes))[: len(boxes)]
        out.append(Sequence(seq.name, frames, boxes, "tnl2k"))
    return out


def read_coco(root: Path, split: str = "train", min_size: float = 1.0) -> list[Sequence]:
    root = Path(root)
    ann_file = root / "annotations" / f"instances_{split}2017.json"
    if not ann_file.is_file():
        raise FileNotFoundError(f"COCO: no annotation file {ann_file}")
    coco = json.loads(ann_file.read_text())
    images = {im["id"]: im for im in coco["images"]}
    out = []
    for ann in coco["annotations"]:
        x, y, w, h = (float(v) for v in ann["bbox"])
        if ann.get("iscrowd", 0) or w < min_size or h < min_size:
            continue
        im = images[ann["image_id"]]
        out.append(Sequence(f"coco-{ann['id']}", [root / f"{split}2017" / im["file_name"]],
                            np.array([[x, y, w, h]]), "coco", resolution=(im["width"], im["height"])))
    return out


def parse_spec(spec: str) -> tuple[str, Path, str]:
    """'KIND:DIR[:SPLIT]' -> (kind, dir, split or '')."""
    kind, _, rest = spec.partition(":")
    path, split = rest.rsplit(":", 1) if ":" in rest else (rest, "")
    if not path:
        raise ValueError(f"dataset spec {spec!r}: no folder (expected KIND:DIR[:SPLIT])")
    return kind, Path(path).expanduser(), split


def load_sequences(spec: str, default_split: str = "train") -> tuple[str, str, list[Sequence]]:
    """A dataset spec -> (dataset name for records, split, sequences)."""
    kind, path, split = parse_spec(spec)
    if kind == "toy":
        split = split or default_split
        return "toy", split, read_got10k(path / "got10k", split, "toy")
    if kind == "got10k":
        split = split or default_split
        return "got10k", split, read_got10k(path, split)
    if kind == "lasot":
        split = split or ("test" if default_split != "train" else "train")
        return "lasot", split, read_lasot(path, split)
    if kind == "trackingnet":
        split = split or ("TEST" if default_split != "train" else "train")
        return "trackingnet", split, read_trackingnet(path, split)
    if kind == "tnl2k":
        return "tnl2k", split or "test", read_tnl2k(path)
    if kind == "coco":
        split = split or "train"
        return "coco", split, read_coco(path, split)
    raise ValueError(f"dataset spec {spec!r}: unknown kind {kind!r} (toy, got10k, lasot, trackingnet, tnl2k, coco)")
