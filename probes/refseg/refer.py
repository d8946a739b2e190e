"""Readers for the refer format (github lichengunc/refer) in LISA's layout, with LISA's split names.

    ROOT/refcoco/refs(unc).p  ROOT/refcoco+/refs(unc).p  ROOT/refcocog/refs(umd).p  ROOT/refclef/refs(unc).p
    ROOT/<dataset>/instances.json                         (images, annotations: polygons or RLE)
    ROOT/images/mscoco/images/train2014/<file_name>       (refcoco, refcoco+, refcocog)
    ROOT/images/saiapr_tc-12/<file_name>                  (refclef)

A split is named `dataset|splitBy|split` as LISA names it (`refcoco|unc|val`, `refcoco+|unc|testB`,
`refcocog|umd|test`). One item is one image with every sentence of its refs (LISA's val item); each
sentence is one expression with one target mask. Everything is checked when the split is read: a ref
whose annotation or image is missing, an image file that does not exist, or a split the pickle does not
hold raises FileNotFoundError / ValueError naming the file and the item.
"""

from __future__ import annotations

import json
import pickle
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from pycocotools import mask as mask_utils

# dataset -> the splitBy values the refer API publishes for it
SPLIT_BY = {"refcoco": ("unc", "google"), "refcoco+": ("unc",), "refcocog": ("umd", "google"),
            "refclef": ("unc", "berkeley")}
IMAGE_DIRS = {"refclef": Path("images/saiapr_tc-12")}
COCO_IMAGE_DIR = Path("images/mscoco/images/train2014")


@dataclass(frozen=True)
class SplitName:
    dataset: str
    split_by: str
    split: str

    @classmethod
    def parse(cls, text: str) -> "SplitName":
        parts = text.split("|")
        if len(parts) != 3 or not all(parts):
            raise ValueError(f"refer split {text!r}: expected 'dataset|splitBy|split', e.g. 'refcoco|unc|val'")
        dataset, split_by, split = parts
        if dataset not in SPLIT_BY:
            raise ValueError(f"refer split {text!r}: unknown dataset {dataset!r} (known: {', '.join(SPLIT_BY)})")
        if split_by not in SPLIT_BY[dataset]:
            raise ValueError(f"refer split {text!r}: {dataset} has no splitBy {split_by!r} "
                             f"(it has: {', '.join(SPLIT_BY[dataset])})")
        return cls(dataset, split_by, split)

    def __str__(self) -> str:
        return f"{self.dataset}|{self.split_by}|{self.split}"


@dataclass(frozen=True)
class Expression:
    ref_id: int
    sent_id: int
    ann_id: int
    image_id: int
    text: str


@dataclass
class ReferImage:
    image_id: int
    path: Path
    height: int
    width: int
    expressions: list[Expression] = field(default_factory=list)


@dataclass
class ReferSplit:
    name: SplitName
    refs_file: Path
    instances_file: Path
    images: list[ReferImage]
    segmentations: dict[int, object]  # ann_id -> COCO segmentation (polygons or RLE)

    @property
    def num_expressions(self) -> int:
        return sum(len(im.expressions) for im in self.images)

    def mask(self, ann_id: int, height: int, width: int) -> np.ndarray:
        """(H, W) uint8 target of one annotation."""
        return decode_segmentation(self.segmentations[ann_id], height, width)


def decode_segmentation(seg: object, height: int, width: int) -> np.ndarray:
    """COCO polygons, a list of RLEs (str or bytes counts) or one RLE -> (H, W) uint8 union mask."""
    if isinstance(seg, dict):
        seg = [seg]
    if not seg:
        return np.zeros((height, width), np.uint8)
    if isinstance(seg[0], list):  # polygons
        rles = mask_utils.frPyObjects(seg, height, width)
    else:
        rles = []
        for r in seg:
            if isinstance(r["counts"], list):  # uncompressed RLE
                rles.append(mask_utils.frPyObjects(r, height, width))
            else:
                counts = r["counts"].encode() if isinstance(r["counts"], str) else r["counts"]
                rles.append({"size": r["size"], "counts": counts})
    m = mask_utils.decode(rles)  # (H, W, n)
    return (m.reshape(height, width, -1).sum(axis=2) > 0).astype(np.uint8)


def _load_pickle(path: Path) -> list:
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no such refer pickle")
    try:
        with open(path, "rb") as f:
            refs = pickle.load(f)
    except (pickle.UnpicklingError, EOFError, ValueError) as err:
        raise ValueError(f"{path}: not a readable refer pickle ({err})") from None
    if not isinstance(refs, list):
        raise ValueError(f"{path}: expected a pickled list of refs, got {type(refs).__name__}")
    return refs


def _load_instances(path: Path) -> dict:
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no such instances file")
    try:
        data = json.loads(path.read_text())
    except ValueError as err:
        raise ValueError(f"{path}: not valid JSON ({err})") from None
    for key in ("images", "annotations"):
        if key not in data:
            raise ValueError(f"{path}: field '{key}' is missing")
    return data


def read_split(root: str | Path, split: str | SplitName) -> ReferSplit:
    """Read and check one split of the refer data under `root` (the folder holding refcoco/, images/)."""
    root = Path(root)
    name = split if isinstance(split, SplitName) else SplitName.parse(split)
    refs_file = root / name.dataset / f"refs({name.split_by}).p"
    instances_file = root / name.dataset / "instances.json"
    refs = _load_pickle(refs_file)
    instances = _load_instances(instances_file)
    chosen = [r for r in refs if r.get("split") == name.split]
    if not chosen:
        present = sorted({str(r.get("split")) for r in refs})
        raise ValueError(f"{refs_file}: no refs of split {name.split!r} (splits in this file: "
                         f"{', '.join(present) or 'none'})")
    anns = {a["id"]: a for a in instances["annotations"]}
    imgs = {i["id"]: i for i in instances["images"]}
    image_dir = root / IMAGE_DIRS.get(name.dataset, COCO_IMAGE_DIR)
    by_image: dict[int, ReferImage] = {}
    for ref in chosen:
        rid, aid, iid = ref.get("ref_id"), ref.get("ann_id"), ref.get("image_id")
        if aid not in anns:
            raise ValueError(f"{refs_file}: ref {rid} points at annotation {aid}, which {instances_file} lacks")
        if iid not in imgs:
            raise ValueError(f"{refs_file}: ref {rid} points at image {iid}, which {instances_file} lacks")
        if anns[aid]["image_id"] != iid:
            raise ValueError(f"{refs_file}: ref {rid} has image {iid} but its annotation {aid} is on image "
                             f"{anns[aid]['image_id']}")
        if iid not in by_image:
            img = imgs[iid]
            path = image_dir / img["file_name"]
            if not path.is_file():
                raise FileNotFoundError(f"{path}: image {iid} of ref {rid} ({name}) does not exist")
            by_image[iid] = ReferImage(iid, path, int(img["height"]), int(img["width"]))
        for sent in ref.get("sentences", []):
            by_image[iid].expressions.append(Expression(rid, int(sent["sent_id"]), aid, iid, str(sent["sent"])))
    images = [im for im in sorted(by_image.values(), key=lambda im: im.image_id) if im.expressions]
    if not images:
        raise ValueError(f"{refs_file}: the refs of split {name.split!r} hold no sentences")
    used = {e.ann_id for im in images for e in im.expressions}
    return ReferSplit(name, refs_file, instances_file, images, {a: anns[a]["segmentation"] for a in used})
