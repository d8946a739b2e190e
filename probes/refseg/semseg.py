"""Readers for LISA's semantic-segmentation sources, in their public layouts under LISA's dataset folder.

    ade20k      ade20k/{images,annotations}/training/*.{jpg,png} (or ade20k/ADEChallengeData2016/...), class
                names from ADE's objectInfo150.txt / .csv (first synonym of 'Name'); png 0 = other (ignored),
                class k = png value k + 1 (LISA: label 0 -> 255, label -= 1)
    cocostuff   cocostuff/train2017/*.png label maps (value = COCO-Stuff id - 1, 255 unlabeled), images in
                coco/train2017/*.jpg, names from cocostuff/labels.txt ('<id>: <name>', the COCO-Stuff
                repository's file, as LISA's utils/cocostuff_classes.txt); LISA drops the classes whose name
                holds '-' (wall-other, ...)
    mapillary   mapillary/training/{images/*.jpg, v2.0/labels/*.png}, names from mapillary/config_v2.0.json
                (labels[].readable, lower case); the label named 'unlabeled' is ignored
    pascal_part vlpart/pascal_part/train.json (COCO-style, categories 'object:part'), images in
                vlpart/pascal_part/VOCdevkit/VOC2010/JPEGImages/
    paco_lvis   vlpart/paco/annotations/paco_lvis_v1_train.json (COCO-style, 'object_(x):part_(y)' or 'object'),
                images under coco/ (file_name 'train2017/...jpg')

A sample is LISA's: one image, up to `k` of the classes present in it (drawn without replacement), one
question per class from LISA's short templates ("Can you segment the {class} in this image?", ...), mask =
pixels of that class (label maps) or the annotation's mask (the COCO-style part sets, where a part is named
"obj part" or "the part of the obj", each with probability 1/2).
"""

from __future__ import annotations

import csv
import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image

from .data import Sample, pick, seg_sample

SEM_SEG_SOURCES = ("ade20k", "cocostuff", "pascal_part", "paco_lvis", "mapillary")
IGNORE = 255
MAX_REDRAWS = 20  # images without any class are redrawn (LISA falls back to item 0)


def _need(path: Path, what: str) -> Path:
    if not path.exists():
        raise FileNotFoundError(f"{path}: {what} does not exist")
    return path


@dataclass
class LabelMapSet:
    """A semantic-segmentation set of (image, label png) pairs; `classes[v]` names label value v (after `shift`)."""

    name: str
    pairs: list[tuple[Path, Path]]
    classes: list[str]
    shift: int = 0  # subtracted from label values (ADE: 1, its 0 'other' becomes ignored)
    ignored: tuple[int, ...] = ()  # class ids treated as unlabeled
    class_file: Path | None = None

    def files(self) -> list[Path]:
        return [lab for _, lab in self.pairs] + ([self.class_file] if self.class_file else [])

    def label(self, path: Path) -> np.ndarray:
        raw = np.asarray(Image.open(path)).astype(np.int64)
        if raw.ndim != 2:
            raise ValueError(f"{path}: label map of {self.name} must be single-channel, got shape {raw.shape}")
        lab = raw - self.shift
        lab[(raw < self.shift) | (raw == IGNORE) | np.isin(lab, self.ignored)] = IGNORE
        if (lab[lab != IGNORE] >= len(self.classes)).any():
            raise ValueError(f"{path}: label value {int(lab[lab != IGNORE].max()) + self.shift} has no class name "
                             f"({len(self.classes)} classes in {self.name})")
        return lab

    def draw(self, rng: np.random.Generator, k: int) -> Sample:
        for _ in range(MAX_REDRAWS):
            image, label_file = self.pairs[int(rng.integers(len(self.pairs)))]
            lab = self.label(label_file)
            present = [int(c) for c in np.unique(lab) if c != IGNORE]
            if present:
                break
        else:
            raise ValueError(f"{self.name}: {MAX_REDRAWS} drawn label maps hold no class (e.g. {label_file})")
        chosen = [present[i] for i in pick(rng, len(present), k)]
        masks = [(lab == c).astype(np.uint8) for c in chosen]
        return seg_sample("sem_seg", self.name, image, [self.classes[c] for c in chosen], masks, str(label_file), rng)


def _pairs(labels: list[Path], image_of, name: str) -> list[tuple[Path, Path]]:
    if not labels:
        raise FileNotFoundError(f"{name}: no label maps found")
    pairs = []
    for lab in labels:
        img = image_of(lab)
        if not img.is_file():
            raise FileNotFoundError(f"{img}: image of the label map {lab} ({name}) does not exist")
        pairs.append((img, lab))
    return pairs


def ade20k_root(dataset_dir: Path) -> Path:
    root = dataset_dir / "ade20k"
    return root / "ADEChallengeData2016" if (root / "ADEChallengeData2016").is_dir() else root


def read_ade20k(dataset_dir: Path) -> LabelMapSet:
    root = ade20k_root(dataset_dir)
    info = next((root / f for f in ("objectInfo150.txt", "objectInfo150.csv") if (root / f).is_file()), None)
    if info is None:
        raise FileNotFoundError(f"{root / 'objectInfo150.txt'}: ADE20K's class list does not exist")
    text = info.read_text().splitlines()
    rows = list(csv.DictReader(text, delimiter="\t" if "\t" in text[0] else ","))
    if not rows or "Name" not in rows[0]:
        raise ValueError(f"{info}: field 'Name' is missing (expected ADE's Idx/Ratio/Train/Val/Name columns)")
    classes = [r["Name"].split(";")[0].strip() for r in rows]
    labels = sorted(_need(root / "annotations" / "training", "ADE20K's training annotations").glob("*.png"))
    pairs = _pairs(labels, lambda p: root / "images" / "training" / f"{p.stem}.jpg", "ade20k")
    return LabelMapSet("ade20k", pairs, classes, shift=1, class_file=info)


def read_cocostuff(dataset_dir: Path) -> LabelMapSet:
    root = dataset_dir / "cocostuff"
    names = _need(root / "labels.txt", "COCO-Stuff's class list ('<id>: <name>' lines)")
    by_id = {}
    for n, line in enumerate(names.read_text().splitlines()):
        if line.strip():
            idx, sep, name = line.partition(":")
            if not sep or not idx.strip().isdigit():
                raise ValueError(f"{names}: line {n + 1} = {line!r}: expected '<id>: <name>'")
            by_id[int(idx)] = name.strip()
    # png value v is COCO-Stuff id v + 1 (0 'unlabeled' is stored as 255)
    classes = [by_id.get(v + 1, f"class {v + 1}") for v in range(max(by_id))]
    dashed = tuple(v for v, c in enumerate(classes) if "-" in c)
    labels = sorted(_need(root / "train2017", "COCO-Stuff's train2017 label maps").glob("*.png"))
    pairs = _pairs(labels, lambda p: dataset_dir / "coco" / "train2017" / f"{p.stem}.jpg", "cocostuff")
    return LabelMapSet("cocostuff", pairs, classes, ignored=dashed, class_file=names)


def read_mapillary(dataset_dir: Path) -> LabelMapSet:
    root = dataset_dir / "mapillary"
    config = _need(root / "config_v2.0.json", "Mapillary Vistas' v2.0 config")
    try:
        classes = [str(x["readable"]).lower() for x in json.loads(config.read_text())["labels"]]
    except (ValueError, KeyError, TypeError) as err:
        raise ValueError(f"{config}: field 'labels[].readable' is missing or unreadable ({err!r})") from None
    labels = sorted(_need(root / "training" / "v2.0" / "labels", "Mapillary's v2.0 training labels").glob("*.png"))
    pairs = _pairs(labels, lambda p: root / "training" / "images" / f"{p.stem}.jpg", "mapillary")
    return LabelMapSet("mapillary", pairs, classes, ignored=tuple(v for v, c in enumerate(classes) if c == "unlabeled"),
                       class_file=config)


@dataclass
class CocoPartSet:
    """A COCO-style instance set (PASCAL-Part, PACO-LVIS); a class is a name or an (object, part) pair."""

    name: str
    coco: object  # pycocotools.coco.COCO
    image_ids: list[int]
    image_dir: Path
    classes: dict[int, str | tuple[str, str]]
    json_file: Path

    def files(self) -> list[Path]:
        return [self.json_file]

    def draw(self, rng: np.random.Generator, k: int) -> Sample:
        image_id = self.image_ids[int(rng.integers(len(self.image_ids)))]
        anns = self.coco.loadAnns(self.coco.getAnnIds(imgIds=[image_id]))
        chosen = [anns[i] for i in pick(rng, len(anns), k)]
        texts = []
        for ann in chosen:
            cls = self.classes[ann["category_id"]]
            if isinstance(cls, tuple):
                obj, part = cls
                texts.append(f"{obj} {part}" if rng.random() < 0.5 else f"the {part} of the {obj}")
            else:
                texts.append(cls)
        masks = [self.coco.annToMask(a).astype(np.uint8) for a in chosen]
        info = self.coco.imgs[image_id]
        return seg_sample("sem_seg", self.name, self.image_dir / info["file_name"], texts, masks,
                          f"{self.name} image {image_id}", rng)


def _read_coco_parts(name: str, json_file: Path, image_dir: Path, class_name) -> CocoPartSet:
    import contextlib
    import io

    from pycocotools.coco import COCO

    _need(json_file, f"{name}'s annotation file")
    try:
        with contextlib.redirect_stdout(io.StringIO()):  # pycocotools prints progress
            coco = COCO(str(json_file))
        classes = {c["id"]: class_name(c["name"]) for c in coco.loadCats(coco.getCatIds())}
    except (ValueError, KeyError, TypeError) as err:
        raise ValueError(f"{json_file}: not a COCO-style annotation file of {name} ({err!r})") from None
    ids = [i for i in sorted(coco.getImgIds()) if coco.getAnnIds(imgIds=[i])]
    if not ids:
        raise ValueError(f"{json_file}: no image with annotations")
    for i in ids:
        path = image_dir / coco.imgs[i]["file_name"]
        if not path.is_file():
            raise FileNotFoundError(f"{path}: image {i} of {json_file} does not exist")
    return CocoPartSet(name, coco, ids, image_dir, classes, json_file)


def _pascal_part_name(text: str) -> tuple[str, str]:
    obj, sep, part = text.strip().partition(":")
    if not sep:
        raise ValueError(f"category {text!r} is not 'object:part'")
    return obj, part


def _paco_name(text: str) -> str | tuple[str, str]:
    parts = text.strip().split(":")
    if len(parts) > 2:
        raise ValueError(f"category {text!r} has more than one ':'")
    names = [p.split("_(")[0] for p in parts]
    return names[0] if len(names) == 1 else (names[0], names[1])


def read_pascal_part(dataset_dir: Path) -> CocoPartSet:
    root = dataset_dir / "vlpart" / "pascal_part"
    return _read_coco_parts("pascal_part", root / "train.json", root / "VOCdevkit" / "VOC2010" / "JPEGImages",
                            _pascal_part_name)


def read_paco_lvis(dataset_dir: Path) -> CocoPartSet:
    return _read_coco_parts("paco_lvis", dataset_dir / "vlpart" / "paco" / "annotations" / "paco_lvis_v1_train.json",
                            dataset_dir / "coco", _paco_name)


READERS = {"ade20k": read_ade20k, "cocostuff": read_cocostuff, "mapillary": read_mapillary,
           "pascal_part": read_pascal_part, "paco_lvis": read_paco_lvis}
# the file or folder whose absence means "this source is not here" (under allow_missing: skipped)
MARKERS = {"ade20k": lambda d: ade20k_root(d) / "annotations" / "training",
           "cocostuff": lambda d: d / "cocostuff" / "train2017",
           "mapillary": lambda d: d / "mapillary" / "config_v2.0.json",
           "pascal_part": lambda d: d / "vlpart" / "pascal_part" / "train.json",
           "paco_lvis": lambda d: d / "vlpart" / "paco" / "annotations" / "paco_lvis_v1_train.json"}
