"""The ORACLE teacher of the toy experiment: replace curation's k-means labels by the toy world's own
categories. It is an upper bound on what a perfect curation teacher could give, not a method: real data has
no ground-truth categories for pretraining regions.

Each object region of a shard is matched to the COCO annotation of its image with the highest box IoU (the
toy curation takes its regions from those very annotations, so the match is exact up to resizing); its
label becomes the category's index (0..C-1 over the sorted category ids), the image label the most common
category of the image. Image bytes are copied unchanged; shards are rewritten atomically, so a rerun (after
a kill) redoes the same thing. curate_config.json's K and pretraining overrides are set to C.
"""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import numpy as np

from probes.records import atomic_write_json


def _iou(box: np.ndarray, boxes: np.ndarray) -> np.ndarray:
    """box (4,) vs boxes (A, 4), xyxy -> (A,)."""
    lt, rb = np.maximum(box[:2], boxes[:, :2]), np.minimum(box[2:], boxes[:, 2:])
    inter = np.clip(rb - lt, 0, None).prod(axis=1)
    area = lambda b: np.clip(b[..., 2:] - b[..., :2], 0, None).prod(axis=-1)  # noqa: E731
    return inter / np.maximum(area(box) + area(boxes) - inter, 1e-9)


def relabel_with_categories(shards_dir: str | Path, annotations: str | Path, min_iou: float = 0.5) -> dict:
    from rice.data.shards import _AtomicTar, _iter_groups, list_shards

    coco = json.loads(Path(annotations).read_text())
    cats = {c["id"]: i for i, c in enumerate(sorted(coco["categories"], key=lambda c: c["id"]))}
    images = {Path(im["file_name"]).stem: im for im in coco["images"]}
    by_image: dict[int, list] = {}
    for a in coco["annotations"]:
        x, y, w, h = a["bbox"]
        by_image.setdefault(a["image_id"], []).append(([x, y, x + w, y + h], cats[a["category_id"]]))
    matched = unmatched = 0  # numpy bools add as 0/1
    for shard in list_shards(shards_dir):
        out = _AtomicTar(Path(shard))
        try:
            for key, group, err in _iter_groups(shard):
                if err is not None:
                    raise err
                meta = json.loads(group["json"])
                stem = key.split("/")[-1]
                image = images.get(stem) or images.get(stem.split("_", 1)[-1])  # curate keys: <index>_<stem>
                if image is None:
                    raise ValueError(f"{shard}: sample {key!r} matches no image of {annotations}")
                anns = by_image.get(image["id"], [])
                if anns:
                    sx, sy = meta["size"][0] / image["width"], meta["size"][1] / image["height"]
                    boxes = np.array([b for b, _ in anns], dtype=np.float64) * [sx, sy, sx, sy]
                labels = []
                for region in meta["regions"]:
                    if region["kind"] != "object":
                        continue
                    if not anns:
                        raise ValueError(f"{shard}: sample {key!r} has an object region but its image has no "
                                         f"annotation in {annotations}")
                    iou = _iou(np.array(region["box"], dtype=np.float64), boxes)
                    best = int(iou.argmax())
                    region["label"] = anns[best][1]  # below min_iou: still the nearest object, counted
                    matched, unmatched = matched + (iou[best] >= min_iou), unmatched + (iou[best] < min_iou)
                    labels.append(region["label"])
                if labels:
                    meta["image_labels"] = [Counter(labels).most_common(1)[0][0]]
                blob = json.dumps(meta, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode("utf-8")
                members = [(f"{key}.{ext}", data) for ext, data in group.items() if ext != "json"]
                out.add(key, members + [(f"{key}.json", blob)])
        except BaseException:
            out.abort()
            raise
        out.commit()
    config_path = Path(shards_dir) / "curate_config.json"
    config = json.loads(config_path.read_text())
    k = len(cats)
    config["num_object_classes"] = k
    config["pretrain_overrides"] = [f"loss.num_object_classes={k}" if o.startswith("loss.num_object_classes=") else o
                                    for o in config["pretrain_overrides"] if not o.startswith("loss.centers_init=")]
    config["teacher"] = {"kind": "oracle", "categories": k, "matched": int(matched), "unmatched": int(unmatched)}
    atomic_write_json(config_path, config)
    return config["teacher"]
