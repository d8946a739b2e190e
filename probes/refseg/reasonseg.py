"""Readers for LISA's reasoning-segmentation (ReasonSeg) and VQA (LLaVA instruction) sources.

    ReasonSeg|train   reason_seg/ReasonSeg/train/*.jpg, each with a same-named labelme-style .json:
                      "shapes" [{"label", "points" [[x, y], ...]}], "text" (a list of queries, or one), and
                      "is_sentence". As LISA's `get_mask_from_json`: polygons labelled 'flag' are skipped, the
                      rest are filled largest first, 'ignore' ones with 255 (ignored), others with 1; the
                      training target is mask == 1. A sentence query gets LISA's long template ("{sent} Please
                      output segmentation mask."), a phrase the short one.
    llava_instruct_150k
                      llava_dataset/llava_instruct_150k.json, images in coco/train2017/ (LISA's layout); or any
                      LLaVA JSON given as a path, images relative to its folder (the toy world's llava/train.json).
                      A sample is the conversation as it is: LLM loss on the answers, no [SEG], no mask.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw

from .data import Sample, pick, seg_sample

VQA_LAYOUT = {"llava_instruct_150k": ("llava_dataset/llava_instruct_150k.json", "coco/train2017")}


def reason_seg_dir(dataset_dir: Path, spec: str) -> Path:
    """'ReasonSeg|train' -> DATASET_DIR/reason_seg/ReasonSeg/train."""
    name, sep, split = spec.partition("|")
    if not sep or not name or not split:
        raise ValueError(f"refseg config: field 'data.reason_seg_data' = {spec!r}: expected 'ReasonSeg|train'")
    return dataset_dir / "reason_seg" / name / split


def polygon_mask(anno: dict, height: int, width: int, where: str) -> np.ndarray:
    """(H, W) uint8: 1 target, 255 ignore, 0 background, polygons filled in decreasing area (LISA's order)."""
    shapes = []
    for i, shape in enumerate(anno.get("shapes", [])):
        try:
            label, points = str(shape["label"]), [(float(x), float(y)) for x, y in shape["points"]]
        except (KeyError, TypeError, ValueError):
            raise ValueError(f"{where}: field 'shapes[{i}]' needs 'label' and 'points' [[x, y], ...]") from None
        if label.lower() == "flag" or len(points) < 2:
            continue
        one = Image.new("L", (width, height), 0)
        ImageDraw.Draw(one).polygon(points, fill=1, outline=1)
        shapes.append((int(np.asarray(one).sum()), label, points))
    canvas = Image.new("L", (width, height), 0)
    draw = ImageDraw.Draw(canvas)
    for _, label, points in sorted(shapes, key=lambda s: -s[0]):
        value = 255 if "ignore" in label.lower() else 1
        draw.polygon(points, fill=value, outline=value)
    return np.asarray(canvas).copy()


@dataclass
class ReasonSegSet:
    name: str
    items: list[tuple[Path, Path]]  # (image, json)

    def files(self) -> list[Path]:
        return [js for _, js in self.items]

    def draw(self, rng: np.random.Generator, k: int) -> Sample:
        image, js = self.items[int(rng.integers(len(self.items)))]
        anno = json.loads(js.read_text())
        texts = anno.get("text")
        texts = [texts] if isinstance(texts, str) else list(texts or [])
        if not texts:
            raise ValueError(f"{js}: field 'text' is empty")
        with Image.open(image) as im:
            width, height = im.size
        mask = (polygon_mask(anno, height, width, str(js)) == 1).astype(np.uint8)
        chosen = [texts[i] for i in pick(rng, len(texts), k)]
        long = [bool(anno.get("is_sentence", False))] * len(chosen)
        return seg_sample("reason_seg", self.name, image, chosen, [mask] * len(chosen), str(js), rng, long)


def read_reason_seg(dataset_dir: Path, spec: str) -> ReasonSegSet:
    folder = reason_seg_dir(dataset_dir, spec)
    if not folder.is_dir():
        raise FileNotFoundError(f"{folder}: ReasonSeg folder ({spec}) does not exist")
    items = []
    for image in sorted(folder.glob("*.jpg")):
        js = image.with_suffix(".json")
        if not js.is_file():
            raise FileNotFoundError(f"{js}: annotation of the ReasonSeg image {image.name} does not exist")
        try:
            anno = json.loads(js.read_text())
        except ValueError as err:
            raise ValueError(f"{js}: not valid JSON ({err})") from None
        for key in ("shapes", "text", "is_sentence"):
            if key not in anno:
                raise ValueError(f"{js}: field '{key}' is missing")
        items.append((image, js))
    if not items:
        raise FileNotFoundError(f"{folder}: no ReasonSeg images (*.jpg)")
    return ReasonSegSet(spec, items)


def vqa_files(dataset_dir: Path, spec: str) -> tuple[Path, Path]:
    """(LLaVA JSON, image root) of a VQA source: a name of LISA's layout or a path to a LLaVA JSON file."""
    if spec in VQA_LAYOUT:
        js, images = VQA_LAYOUT[spec]
        return dataset_dir / js, dataset_dir / images
    path = Path(spec).expanduser()
    return path, path.parent


@dataclass
class VqaSet:
    name: str
    entries: list  # mllm.data.Entry with an image
    json_file: Path

    def files(self) -> list[Path]:
        return [self.json_file]

    def draw(self, rng: np.random.Generator, k: int) -> Sample:
        e = self.entries[int(rng.integers(len(self.entries)))]
        return Sample("vqa", self.name, e.image, [e.conversations], [], f"{self.name} item {e.id}")


def read_vqa(dataset_dir: Path, spec: str) -> VqaSet:
    from mllm.data import load_llava_json

    js, images = vqa_files(dataset_dir, spec)
    entries = [e for e in load_llava_json(js, images) if e.image is not None]
    if not entries:
        raise ValueError(f"{js}: no conversation with an image (text-only items are not used: see README)")
    return VqaSet(spec, entries, js)
