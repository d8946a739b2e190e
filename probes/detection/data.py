"""Dataset specs (`--data coco:DIR` ...) and COCO/LVIS-format annotation loading, validated up front.

    coco:DIR        DIR/annotations/instances_{train,val}2017.json, images in DIR/{train,val}2017/
    lvis:DIR        DIR/annotations/lvis_v1_{train,val}.json; images are COCO 2017's, found through
                    each image's `coco_url` as DIR/{train,val}2017/<file> (LVIS val draws on both)
    toy:DIR         the toy world: DIR/coco/annotations/instances_{train,val}.json, DIR/coco/{train,val}/
    cocofmt:TRAIN.json:IMAGES[:VAL.json:VAL_IMAGES]
                    any COCO-format set; without a val pair the probe evaluates on the training file

Every problem (missing file, empty file, missing field, image file not on disk, a box without area)
raises ValueError / FileNotFoundError naming the file, the field and the value, before any run
directory is created. Boxes without area may be skipped instead (`degenerate_boxes="skip"`); boxes
entirely outside their image are always skipped; both are counted per reason (`skipped`).
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from pathlib import Path

EVALUATORS = ("coco", "lvis")


@dataclass(frozen=True)
class SplitFiles:
    annotations: Path
    images: Path
    split: str  # name in run records and leaderboards ("val2017", "val", ...)


@dataclass(frozen=True)
class DatasetSpec:
    spec: str
    kind: str
    name: str  # dataset name in the run directory and leaderboard
    train: SplitFiles
    eval: SplitFiles
    evaluator: str = "coco"  # "coco" (pycocotools COCOeval) or "lvis" (lvis LVISEval)


def parse_data_spec(spec: str) -> DatasetSpec:
    kind, sep, rest = spec.partition(":")
    usage = "expected coco:DIR, lvis:DIR, toy:DIR or cocofmt:TRAIN.json:IMAGES[:VAL.json:VAL_IMAGES]"
    if not sep or not rest:
        raise ValueError(f"--data {spec!r}: {usage}")
    if kind in ("coco", "lvis", "toy"):
        root = Path(rest).expanduser()
        if not root.is_dir():
            raise FileNotFoundError(f"--data {spec!r}: dataset directory {root} does not exist")
        splits = [_standard_split(kind, root, s) for s in ("train", "val")]
        return DatasetSpec(spec, kind, kind, *splits, evaluator="lvis" if kind == "lvis" else "coco")
    if kind == "cocofmt":
        parts = rest.split(":")
        if len(parts) not in (2, 4) or not all(parts):
            raise ValueError(f"--data {spec!r}: cocofmt takes TRAIN.json:IMAGES or "
                             f"TRAIN.json:IMAGES:VAL.json:VAL_IMAGES")
        train = SplitFiles(Path(parts[0]).expanduser(), Path(parts[1]).expanduser(), Path(parts[0]).stem)
        val = SplitFiles(Path(parts[2]).expanduser(), Path(parts[3]).expanduser(), Path(parts[2]).stem) \
            if len(parts) == 4 else train
        return DatasetSpec(spec, kind, f"cocofmt-{Path(parts[0]).stem}", train, val)
    raise ValueError(f"--data {spec!r}: unknown dataset kind {kind!r}; {usage}")


def _standard_split(kind: str, root: Path, split: str) -> SplitFiles:
    if kind == "coco":
        return SplitFiles(root / "annotations" / f"instances_{split}2017.json", root / f"{split}2017", f"{split}2017")
    if kind == "lvis":  # images are found through each image's coco_url, under root/{train,val}2017/
        return SplitFiles(root / "annotations" / f"lvis_v1_{split}.json", root, f"lvis_v1_{split}")
    return SplitFiles(root / "coco" / "annotations" / f"instances_{split}.json", root / "coco" / split, split)


@dataclass
class ImageRecord:
    id: int
    path: Path
    height: int
    width: int


@dataclass
class DetectionSplit:
    """One annotation file, checked: its images exist and its boxes have area."""

    files: SplitFiles
    dataset: dict  # the JSON content (ground truth for COCOeval / LVISEval)
    images: list[ImageRecord]
    anns_by_image: dict[int, list[dict]]
    category_ids: list[int]  # sorted; contiguous label i + 1 <-> category_ids[i] (0 is background)
    skipped: dict[str, int] = field(default_factory=dict)  # reason ("no_area", "outside_image") -> count
    label_of: dict[int, int] = field(default_factory=dict)

    def __post_init__(self):
        self.label_of = {cid: i + 1 for i, cid in enumerate(self.category_ids)}

    @property
    def skipped_annotations(self) -> int:
        return sum(self.skipped.values())

    def class_image_counts(self) -> list[int]:
        """Images per class in label order: LVIS' own `image_count` when every category has one, else
        counted from the loaded annotations (what the federated loss weights by)."""
        cats = {int(c["id"]): c for c in self.dataset["categories"]}
        if all("image_count" in c for c in cats.values()):
            return [int(cats[cid]["image_count"]) for cid in self.category_ids]
        counts = dict.fromkeys(self.category_ids, 0)
        for anns in self.anns_by_image.values():
            for cid in {a["category_id"] for a in anns}:
                counts[cid] += 1
        return [counts[cid] for cid in self.category_ids]

    @property
    def has_masks(self) -> bool:
        return any(a.get("segmentation") for anns in self.anns_by_image.values() for a in anns)


def _read_json(path: Path, spec: str, hint: str = "") -> dict:
    if not path.is_file():
        raise FileNotFoundError(f"{path}: annotation file not found (from --data {spec!r}){hint}")
    text = path.read_text()
    if not text.strip():
        raise ValueError(f"{path}: annotation file is empty")
    try:
        data = json.loads(text)
    except json.JSONDecodeError as err:
        raise ValueError(f"{path}: not valid JSON ({err})") from None
    if not isinstance(data, dict):
        raise ValueError(f"{path}: expected a COCO-format object at the top level, got {type(data).__name__}")
    for key in ("images", "annotations", "categories"):
        if not isinstance(data.get(key), list):
            raise ValueError(f"{path}: field '{key}' is missing or not a list")
    for key in ("images", "categories"):
        if not data[key]:
            raise ValueError(f"{path}: field '{key}' is empty{hint if key == 'images' else ''}")
    return data


def _image_path(files: SplitFiles, img: dict, kind: str) -> Path:
    if kind == "lvis" and img.get("coco_url"):
        folder, name = img["coco_url"].rstrip("/").split("/")[-2:]
        return files.images / folder / name
    return files.images / img["file_name"]


def load_split(files: SplitFiles, kind: str, spec: str, training: bool,
               degenerate_boxes: str = "error") -> DetectionSplit:
    path = files.annotations
    hint = ""
    if kind == "toy" and not training:
        hint = (" (the toy world has no val split: it was generated with too few images; "
                "`rice toyworld --num-images N` with N >= 2 writes both splits)")
    data = _read_json(path, spec, hint)
    if training and not data["annotations"]:
        raise ValueError(f"{path}: field 'annotations' is empty: nothing to train on")
    category_ids = sorted(int(c["id"]) for c in data["categories"])
    images: list[ImageRecord] = []
    for i, img in enumerate(data["images"]):
        for key in ("id", "height", "width"):
            if key not in img:
                raise ValueError(f"{path}: images[{i}] has no field '{key}'")
        if "file_name" not in img and not (kind == "lvis" and img.get("coco_url")):
            raise ValueError(f"{path}: images[{i}] (id {img['id']}) has no field 'file_name'")
        file = _image_path(files, img, kind)
        if not file.is_file():
            raise FileNotFoundError(f"{path}: image id {img['id']} (field 'file_name' = "
                                    f"{img.get('file_name', img.get('coco_url'))!r}) not found at {file}")
        images.append(ImageRecord(int(img["id"]), file, int(img["height"]), int(img["width"])))
    by_id = {im.id: im for im in images}
    known_cats = set(category_ids)
    by_image: dict[int, list[dict]] = {im.id: [] for im in images}
    skipped = {"no_area": 0, "outside_image": 0}
    for i, ann in enumerate(data["annotations"]):
        where = f"{path}: annotation id {ann.get('id', f'#{i}')}"
        if ann.get("image_id") not in by_id:
            raise ValueError(f"{where}: field 'image_id' = {ann.get('image_id')!r} names no image in this file")
        if ann.get("category_id") not in known_cats:
            raise ValueError(f"{where}: field 'category_id' = {ann.get('category_id')!r} is not in 'categories'")
        box = ann.get("bbox")
        numbers = isinstance(box, list) and all(isinstance(v, (int, float)) and math.isfinite(v) for v in box)
        if not (numbers and len(box) == 4):
            raise ValueError(f"{where}: field 'bbox' = {box!r} is not [x, y, width, height]")
        if box[2] <= 0 or box[3] <= 0:
            if degenerate_boxes == "skip":
                skipped["no_area"] += 1
                continue
            raise ValueError(f"{where} (image {ann['image_id']}): field 'bbox' = {box!r} has no area; "
                             f"fix the annotation or set data.degenerate_boxes=skip")
        im = by_id[ann["image_id"]]
        if box[0] >= im.width or box[1] >= im.height or box[0] + box[2] <= 0 or box[1] + box[3] <= 0:
            skipped["outside_image"] += 1  # nothing of it is in the picture: nothing to learn from
            continue
        by_image[ann["image_id"]].append(ann)
    return DetectionSplit(files, data, images, by_image, category_ids, {k: v for k, v in skipped.items() if v})


@dataclass
class LoadedData:
    spec: DatasetSpec
    train: DetectionSplit
    eval: DetectionSplit


def load_dataset(spec_text: str, degenerate_boxes: str = "error") -> LoadedData:
    spec = parse_data_spec(spec_text)
    train = load_split(spec.train, spec.kind, spec_text, training=True, degenerate_boxes=degenerate_boxes)
    if not any(not a.get("iscrowd", 0) for anns in train.anns_by_image.values() for a in anns):
        raise ValueError(f"{spec.train.annotations}: no usable (non-crowd, non-empty) annotations to train on")
    evaluation = train if spec.eval == spec.train else load_split(spec.eval, spec.kind, spec_text, training=False,
                                                                   degenerate_boxes=degenerate_boxes)
    if evaluation.category_ids != train.category_ids:
        raise ValueError(f"{spec.eval.annotations}: field 'categories' differs from {spec.train.annotations} "
                         f"({len(evaluation.category_ids)} vs {len(train.category_ids)} categories)")
    return LoadedData(spec, train, evaluation)
