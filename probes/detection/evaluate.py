"""Inference to COCO results format, and scoring with pycocotools' COCOeval or lvis' LVISEval.

AP is never computed here: the official evaluators score the saved detections
(`detections_bbox.json`, `detections_segm.json` with RLE masks), so anyone can re-score a run.
Metrics are reported in percent (0-100), as the paper and Detectron2 report them; -1 is the
evaluators' own "nothing to score" (e.g. APl when the split has no large objects).
"""

from __future__ import annotations

import contextlib
import copy
import io
import logging
import warnings
from pathlib import Path

import numpy as np
import torch
from pycocotools import mask as mask_utils
from pycocotools.coco import COCO
from pycocotools.cocoeval import COCOeval
from torch.utils.data import DataLoader
from torchvision.models.detection.roi_heads import paste_masks_in_image

from rice.progress import progress as progress_bar

from .data import DetectionSplit

COCO_STATS = ("AP", "AP50", "AP75", "APs", "APm", "APl")
LVIS_STATS = ("AP", "AP50", "AP75", "APs", "APm", "APl", "APr", "APc", "APf")


@torch.no_grad()
def predict(model, loader: DataLoader, split: DetectionSplit, device, mask_threshold: float = 0.5,
            progress: bool = True) -> tuple[list[dict], list[dict]]:
    """Run the detector over `loader`; boxes and masks are mapped back to each original image."""
    model.eval()
    category_ids = split.category_ids
    bbox_results, segm_results = [], []
    for batch in progress_bar(loader, desc="eval", disable=not progress, dynamic_ncols=True):
        batch = batch.to(device)
        outputs = model(batch.images, batch.image_sizes)
        for out, size, meta in zip(outputs, batch.image_sizes, batch.metas):
            oh, ow = meta["orig_size"]
            scale = torch.tensor([ow / size[1], oh / size[0]] * 2, device=out["boxes"].device)
            boxes = (out["boxes"] * scale).cpu()  # xyxy in original pixels
            scores = out["scores"].cpu().tolist()
            labels = out["labels"].cpu().tolist()
            xywh = torch.cat([boxes[:, :2], boxes[:, 2:] - boxes[:, :2]], 1).tolist()
            image_id = meta["image_id"]
            for b, s, lab in zip(xywh, scores, labels):
                bbox_results.append({"image_id": image_id, "category_id": category_ids[lab - 1],
                                     "bbox": [round(v, 3) for v in b], "score": round(float(s), 5)})
            if "masks" in out and len(boxes):
                masks = paste_masks_in_image(out["masks"].cpu(), boxes, (oh, ow), padding=1)[:, 0]  # (n, H, W)
                binary = (masks >= mask_threshold).numpy().astype(np.uint8)
                rles = mask_utils.encode(np.asfortranarray(binary.transpose(1, 2, 0)))
                for rle, s, lab in zip(rles, scores, labels):
                    rle["counts"] = rle["counts"].decode("ascii")
                    segm_results.append({"image_id": image_id, "category_id": category_ids[lab - 1],
                                         "segmentation": rle, "score": round(float(s), 5)})
    return bbox_results, segm_results


def coco_api(dataset: dict) -> COCO:
    coco = COCO()
    coco.dataset = copy.deepcopy(dataset)
    with contextlib.redirect_stdout(io.StringIO()):
        coco.createIndex()
    return coco


def score_coco(gt: COCO | dict | str | Path, results: list[dict] | str | Path, iou_type: str,
               image_ids: list[int] | None = None) -> dict[str, float]:
    """COCOeval `iou_type` ("bbox" or "segm") -> {f"{iou_type}_AP": ..., ...} in percent."""
    if isinstance(gt, (str, Path)):
        with contextlib.redirect_stdout(io.StringIO()):
            gt = COCO(str(gt))
    elif isinstance(gt, dict):
        gt = coco_api(gt)
    if isinstance(results, (str, Path)):
        import json

        results = json.loads(Path(results).read_text())
    if not results:  # COCO's loadRes cannot take an empty list; no detections scores zero
        return {f"{iou_type}_{k}": 0.0 for k in COCO_STATS}
    results = copy.deepcopy(results)
    if iou_type == "segm":
        for r in results:
            r.pop("bbox", None)  # areas (for S/M/L) must come from the masks
    with contextlib.redirect_stdout(io.StringIO()):
        dt = gt.loadRes(results)
        ev = COCOeval(gt, dt, iou_type)
        if image_ids is not None:
            ev.params.imgIds = sorted(image_ids)
        ev.evaluate()
        ev.accumulate()
    summary = io.StringIO()
    with contextlib.redirect_stdout(summary):
        ev.summarize()
    logging.getLogger(__name__).info("COCOeval %s\n%s", iou_type, summary.getvalue())
    return {f"{iou_type}_{k}": _percent(ev.stats[i]) for i, k in enumerate(COCO_STATS)}


def _percent(value: float) -> float:
    value = float(value)
    return -1.0 if value < 0 else value * 100.0


def score_lvis(annotation_file: str | Path, results: list[dict], iou_type: str, max_dets: int = 300,
               image_ids: list[int] | None = None) -> dict[str, float]:
    from lvis import LVIS, LVISEval, LVISResults

    if not results:
        return {f"{iou_type}_{k}": 0.0 for k in LVIS_STATS}
    results = copy.deepcopy(results)
    if iou_type == "segm":
        for r in results:
            r.pop("bbox", None)
    with contextlib.redirect_stdout(io.StringIO()):
        gt = LVIS(str(annotation_file))
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DeprecationWarning)
            ev = LVISEval(gt, LVISResults(gt, results, max_dets=max_dets), iou_type)
        if image_ids is not None:
            ev.params.img_ids = sorted(image_ids)
        with _numpy_float_alias(), warnings.catch_warnings():
            warnings.simplefilter("ignore", DeprecationWarning)  # lvis' own logger.warn calls
            ev.run()
    stats = ev.get_results()
    return {f"{iou_type}_{k}": _percent(stats[k]) for k in LVIS_STATS}


@contextlib.contextmanager
def _numpy_float_alias():
    """lvis 0.5.3 still calls `np.float`, which NumPy 1.24 removed; lend it the builtin while it runs."""
    missing = "float" not in np.__dict__
    if missing:
        np.float = float  # type: ignore[attr-defined]
    try:
        yield
    finally:
        if missing:
            del np.float


def score(split: DetectionSplit, evaluator: str, bbox: list[dict], segm: list[dict] | None,
          image_ids: list[int] | None = None, max_dets_lvis: int = 300) -> dict[str, float]:
    """Both IoU types with the split's official evaluator; `image_ids` restricts to a subset (None: all)."""
    metrics: dict[str, float] = {}
    for iou_type, results in (("bbox", bbox), ("segm", segm)):
        if results is None:
            continue
        if evaluator == "lvis":
            metrics.update(score_lvis(split.files.annotations, results, iou_type, max_dets_lvis, image_ids))
        else:
            metrics.update(score_coco(split.dataset, results, iou_type, image_ids))
    return metrics
