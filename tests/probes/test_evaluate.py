"""Scoring goes through the official evaluators (pycocotools COCOeval, lvis LVISEval)."""

from __future__ import annotations

import json

import numpy as np
import pytest
from pycocotools import mask as mask_utils

from probes.detection.data import DetectionSplit, SplitFiles
from probes.detection.evaluate import score, score_coco

pytestmark = pytest.mark.usefixtures("one_thread")


def _gt(tmp_path, lvis: bool):
    mask = np.zeros((40, 50), np.uint8)
    mask[5:25, 10:40] = 1
    rle = mask_utils.encode(np.asfortranarray(mask))
    rle["counts"] = rle["counts"].decode("ascii")
    image = {"id": 1, "file_name": "a.jpg", "height": 40, "width": 50}
    cats = [{"id": 1, "name": "box"}, {"id": 2, "name": "other"}]
    if lvis:
        image.update(neg_category_ids=[2], not_exhaustive_category_ids=[])
        cats = [dict(c, frequency="f", synset=c["name"]) for c in cats]
    data = {"images": [image], "categories": cats,
            "annotations": [{"id": 1, "image_id": 1, "category_id": 1, "bbox": [10, 5, 30, 20], "area": 600,
                             "iscrowd": 0, "segmentation": rle}]}
    path = tmp_path / ("lvis.json" if lvis else "coco.json")
    path.write_text(json.dumps(data))
    dets_bbox = [{"image_id": 1, "category_id": 1, "bbox": [10, 5, 30, 20], "score": 0.9},
                 {"image_id": 1, "category_id": 2, "bbox": [0, 0, 5, 5], "score": 0.8}]
    dets_segm = [{"image_id": 1, "category_id": 1, "segmentation": rle, "score": 0.9}]
    split = DetectionSplit(SplitFiles(path, tmp_path, "val"), data, [], {1: data["annotations"]}, [1, 2])
    return split, dets_bbox, dets_segm


@pytest.mark.parametrize("evaluator", ["coco", "lvis"])
def test_perfect_detections_score_100(tmp_path, evaluator):
    split, bbox, segm = _gt(tmp_path, lvis=evaluator == "lvis")
    metrics = score(split, evaluator, bbox, segm)
    assert metrics["bbox_AP"] == pytest.approx(100.0) and metrics["segm_AP"] == pytest.approx(100.0)
    if evaluator == "lvis":
        assert {"bbox_APr", "bbox_APc", "bbox_APf"} <= set(metrics)  # LVIS' frequency groups
    assert metrics["bbox_APl"] == -1.0  # no large objects: the evaluator's own "nothing to score"


def test_no_detections_scores_zero(tmp_path):
    split, _, _ = _gt(tmp_path, lvis=False)
    assert score_coco(split.dataset, [], "bbox")["bbox_AP"] == 0.0


@pytest.mark.parametrize("evaluator", ["coco", "lvis"])
def test_image_subset_is_what_gets_scored(tmp_path, evaluator):
    """`image_ids` restricts both the ground truth and the detections: scoring image 1 alone gives 100, the
    whole split (image 2's object missed) gives less."""
    split, bbox, _ = _gt(tmp_path, lvis=evaluator == "lvis")
    data = split.dataset
    data["images"].append(dict(data["images"][0], id=2))
    data["annotations"].append(dict(data["annotations"][0], id=2, image_id=2))
    split.files.annotations.write_text(json.dumps(data))
    whole = score(split, evaluator, bbox, None)["bbox_AP"]
    subset = score(split, evaluator, bbox, None, image_ids=[1])["bbox_AP"]
    assert subset == pytest.approx(100.0)
    assert 0.0 < whole < 90.0
