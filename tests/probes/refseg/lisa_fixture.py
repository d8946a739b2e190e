"""LISA's other mixture sources, each a tiny fixture in its public layout (see probes/refseg/semseg.py,
reasonseg.py): one image per source, label maps / polygons with hand-set regions the tests check against."""

from __future__ import annotations

import json
from pathlib import Path

PRESETS = Path(__file__).resolve().parents[3] / "configs" / "refseg"
H, W = 24, 32


def _jpg(path: Path, seed: int) -> None:
    import numpy as np
    from PIL import Image

    path.parent.mkdir(parents=True, exist_ok=True)
    rgb = np.random.default_rng(seed).integers(0, 255, (H, W, 3), dtype=np.uint8)
    Image.fromarray(rgb).save(path, quality=95)


def _png(path: Path, label) -> None:
    import numpy as np
    from PIL import Image

    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(np.asarray(label, dtype=np.uint8)).save(path)


def label_map(values: dict[int, tuple[slice, slice]], fill: int = 0):
    """(H, W) uint8 filled with `fill`, value v on the region values[v] = (rows, cols)."""
    import numpy as np

    lab = np.full((H, W), fill, np.uint8)
    for v, (rows, cols) in values.items():
        lab[rows, cols] = v
    return lab


ADE_LABEL = {1: (slice(0, 12), slice(None)), 3: (slice(12, 24), slice(0, 10))}  # png 0 elsewhere ("other")
STUFF_LABEL = {0: (slice(0, 8), slice(None)), 1: (slice(8, 16), slice(0, 16)), 3: (slice(16, 24), slice(None))}
MAPILLARY_LABEL = {0: (slice(0, 10), slice(None)), 1: (slice(10, 20), slice(0, 8)), 2: (slice(20, 24), slice(None))}
BOX = [4.0, 2.0, 12.0, 10.0]  # x, y, w, h of the part annotations (a rectangle polygon)


def _coco_json(path: Path, file_name: str, categories: list[str]) -> None:
    x, y, w, h = BOX
    poly = [x, y, x + w, y, x + w, y + h, x, y + h]
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps({
        "images": [{"id": 7, "file_name": file_name, "height": H, "width": W}],
        "categories": [{"id": i + 1, "name": n} for i, n in enumerate(categories)],
        "annotations": [{"id": i + 1, "image_id": 7, "category_id": i + 1, "segmentation": [poly], "area": w * h,
                         "bbox": BOX, "iscrowd": 0} for i in range(len(categories))]}))


def write_lisa_sources(root: Path) -> Path:
    """LISA's dataset folder with one image per sem_seg / vqa / reason_seg source, in their public layouts."""
    ade = root / "ade20k" / "ADEChallengeData2016"
    (ade).mkdir(parents=True)
    (ade / "objectInfo150.txt").write_text("Idx\tRatio\tTrain\tVal\tName\n1\t0.1576\t11664\t1172\twall\n"
                                           "2\t0.1072\t6046\t612\tbuilding;edifice\n3\t0.0878\t8265\t796\tsky\n")
    _jpg(ade / "images" / "training" / "ADE_train_00000001.jpg", 1)
    _png(ade / "annotations" / "training" / "ADE_train_00000001.png", label_map(ADE_LABEL))
    stuff = root / "cocostuff"
    stuff.mkdir()
    (stuff / "labels.txt").write_text("0: unlabeled\n1: person\n2: bicycle\n3: car\n4: wall-other\n")
    _png(stuff / "train2017" / "000000000009.png", label_map(STUFF_LABEL, fill=255))
    _jpg(root / "coco" / "train2017" / "000000000009.jpg", 2)
    _coco_json(root / "vlpart" / "pascal_part" / "train.json", "2008_000001.jpg", ["dog:head"])
    _jpg(root / "vlpart" / "pascal_part" / "VOCdevkit" / "VOC2010" / "JPEGImages" / "2008_000001.jpg", 3)
    _coco_json(root / "vlpart" / "paco" / "annotations" / "paco_lvis_v1_train.json", "train2017/000000000009.jpg",
               ["mug_(cup):handle_(part)"])
    mapi = root / "mapillary"
    mapi.mkdir()
    (mapi / "config_v2.0.json").write_text(json.dumps({"labels": [
        {"name": "construction--flat--road", "readable": "Road"}, {"name": "object--vehicle--car", "readable": "Car"},
        {"name": "void--unlabeled", "readable": "Unlabeled"}]}))
    _jpg(mapi / "training" / "images" / "m1.jpg", 4)
    _png(mapi / "training" / "v2.0" / "labels" / "m1.png", label_map(MAPILLARY_LABEL))
    llava = root / "llava_dataset"
    llava.mkdir()
    (llava / "llava_instruct_150k.json").write_text(json.dumps([{"id": "9", "image": "000000000009.jpg",
        "conversations": [{"from": "human", "value": "<image>\nWhat colour is it?"}, {"from": "gpt", "value": "Grey."},
                          {"from": "human", "value": "Why?"}, {"from": "gpt", "value": "Noise."}]}]))
    reason = root / "reason_seg" / "ReasonSeg" / "train"
    _jpg(reason / "r1.jpg", 5)
    (reason / "r1.json").write_text(json.dumps({
        "text": ["the thing you would sit on after a long walk"], "is_sentence": True,
        "shapes": [{"label": "target", "points": [[2, 2], [21, 2], [21, 17], [2, 17]]},
                   {"label": "ignore", "points": [[6, 6], [11, 6], [11, 11], [6, 11]]},
                   {"label": "flag", "points": [[0, 0], [31, 0], [31, 23], [0, 23]]}]}))
    return root
