"""Tracking metrics, each under the definition of the tool that the benchmark's numbers come from.

GOT-10k (`got10k` toolkit, `ExperimentGOT10k`): frame 0 dropped; IoU of boxes clipped to the image
(`rect_iou(..., bound=(W, H))`); only frames with cover > 0; IoUs pooled over all frames of all sequences;
AO = mean IoU, SR_t = share of IoU > t (t = 0.5, 0.75).

LaSOT / TrackingNet / TNL2K / OTB (pytracking `analysis/extract_results.py`): per sequence, frame 0 set to
the ground truth and zero-size predictions replaced by the previous frame's; frames whose ground truth has
no positive size (or, on LaSOT, whose target is fully occluded or out of view) count as failures, except
that pytracking's normalized error of an invalid non-LaSOT frame is -1, i.e. a success (kept as it is).
Curves are per-sequence shares over all frames, averaged over sequences: success AUC = mean over IoU
thresholds 0:0.05:1 (strict >), precision at 20 px and normalized precision at 0.20 (<=).
The got10k toolkit's own LaSOT "normalized precision" is the mean of the normalized curve, a different
number; it is not computed here.
All values are returned in percent.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

# pytracking's torch.arange(0, 1 + gap, gap, float64): torch's kernel gives 0.65 and 0.75 one ulp above numpy's
OVERLAP_THRESHOLDS = torch.arange(0.0, 1.0 + 0.05, 0.05, dtype=torch.float64).numpy()
CENTER_THRESHOLDS = np.arange(0, 51, dtype=np.float64)
NORM_THRESHOLDS = np.arange(0, 51, dtype=np.float64) / 100.0
GOT10K_THRESHOLDS = np.linspace(0, 1, 101)

DEFINITIONS = {
    "ao": "got10k toolkit ExperimentGOT10k: mean IoU (image-clipped boxes), frame 0 skipped, cover>0 frames pooled",
    "sr50": "got10k toolkit ExperimentGOT10k: share of pooled IoUs > 0.5",
    "sr75": "got10k toolkit definition: share of pooled IoUs > 0.75 (its success curve at 0.75)",
    "success": "pytracking extract_results: success AUC over IoU thresholds 0:0.05:1, mean over sequences",
    "precision": "pytracking extract_results: share of frames with centre error <= 20 px, mean over sequences",
    "norm_precision": "pytracking extract_results: share of frames with normalized centre error <= 0.20 "
                      "(not the got10k toolkit's curve mean)",
}


def _iou(a: np.ndarray, b: np.ndarray, eps: float = 0.0) -> np.ndarray:
    """(N,) IoU of x,y,w,h rows (continuous coordinates)."""
    w = np.maximum(np.minimum(a[:, 0] + a[:, 2], b[:, 0] + b[:, 2]) - np.maximum(a[:, 0], b[:, 0]), 0)
    h = np.maximum(np.minimum(a[:, 1] + a[:, 3], b[:, 1] + b[:, 3]) - np.maximum(a[:, 1], b[:, 1]), 0)
    inter = w * h
    union = a[:, 2] * a[:, 3] + b[:, 2] * b[:, 3] - inter
    with np.errstate(divide="ignore", invalid="ignore"):
        return inter / (union + eps)


def clip_boxes(boxes: np.ndarray, resolution: tuple[int, int]) -> np.ndarray:
    """A copy of x,y,w,h rows clipped to a W x H image (the got10k toolkit's `bound`)."""
    out = np.array(boxes, dtype=np.float64, copy=True)
    width, height = resolution
    out[:, 0] = np.clip(out[:, 0], 0, width)
    out[:, 1] = np.clip(out[:, 1], 0, height)
    out[:, 2] = np.clip(out[:, 2], 0, width - out[:, 0])
    out[:, 3] = np.clip(out[:, 3], 0, height - out[:, 1])
    return out


def got10k_ious(pred: np.ndarray, anno: np.ndarray, cover: np.ndarray | None,
                resolution: tuple[int, int] | None) -> np.ndarray:
    """One sequence's IoUs as ExperimentGOT10k counts them: frames 1.., cover > 0, image-clipped boxes."""
    pred, anno = np.asarray(pred, np.float64)[1:], np.asarray(anno, np.float64)[1:]
    if resolution is not None:
        pred, anno = clip_boxes(pred, resolution), clip_boxes(anno, resolution)
    ious = np.clip(_iou(pred, anno, np.finfo(float).eps), 0.0, 1.0)
    return ious if cover is None else ious[np.asarray(cover)[1:] > 0]


def got10k_metrics(ious_per_sequence: list[np.ndarray]) -> dict[str, float]:
    """AO, SR0.5, SR0.75 (percent) over the pooled IoUs of all sequences."""
    ious = np.concatenate(ious_per_sequence) if ious_per_sequence else np.zeros(0)
    if not len(ious):
        raise ValueError("GOT-10k metrics: no frame with a visible target to score")
    return {"ao": 100.0 * float(np.mean(ious)), "sr50": 100.0 * float(np.mean(ious > 0.5)),
            "sr75": 100.0 * float(np.mean(ious > 0.75))}


@dataclass
class SequenceErrors:
    overlap: np.ndarray  # (N,) IoU, -1 on invalid frames
    center: np.ndarray  # (N,) centre error in px, inf on invalid frames
    center_norm: np.ndarray  # (N,) centre error / ground-truth size


def _iou_pytracking(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """pytracking's `calc_iou_overlap` (pixel-inclusive corners), capped at 1: on a perfect box its float
    rounding can exceed 1 by an ulp, which would count a perfect box as above threshold 1."""
    tl = np.maximum(a[:, :2], b[:, :2])
    br = np.minimum(a[:, :2] + a[:, 2:] - 1.0, b[:, :2] + b[:, 2:] - 1.0)
    inter = np.clip(br - tl + 1.0, 0, None).prod(axis=1)
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.minimum(inter / (a[:, 2:].prod(axis=1) + b[:, 2:].prod(axis=1) - inter), 1.0)


def _center(boxes: np.ndarray) -> np.ndarray:
    return boxes[:, :2] + 0.5 * (boxes[:, 2:] - 1.0)


def pytracking_errors(pred: np.ndarray, anno: np.ndarray, visible: np.ndarray | None = None,
                      lasot: bool = False) -> SequenceErrors:
    """pytracking's `calc_seq_err_robust` (w,h > 0 validity rule) for one sequence."""
    pred = np.array(pred, dtype=np.float64, copy=True)
    anno = np.asarray(anno, dtype=np.float64)
    if pred.shape != anno.shape:
        raise ValueError(f"{len(pred)} predicted boxes for {len(anno)} ground-truth boxes")
    if np.isnan(pred).any() or (pred[:, 2:] < 0).any():
        raise ValueError("predictions hold NaN or negative sizes")
    for i in range(1, len(pred)):
        if (pred[i, 2:] == 0).any() and not np.isnan(anno[i]).any():
            pred[i] = pred[i - 1]
    pred[0] = anno[0]
    valid = (anno[:, 2] > 0) & (anno[:, 3] > 0)
    if visible is not None:
        valid &= np.asarray(visible, dtype=bool)
    with np.errstate(divide="ignore", invalid="ignore"):
        center = np.sqrt(((_center(pred) - _center(anno)) ** 2).sum(axis=1))
        center_norm = np.sqrt((((_center(pred) - _center(anno)) / anno[:, 2:]) ** 2).sum(axis=1))
    overlap = _iou_pytracking(pred, anno)
    center[~valid] = np.inf
    center_norm[~valid] = -1.0
    overlap[~valid] = -1.0
    if lasot and visible is not None:
        hidden = ~np.asarray(visible, dtype=bool)
        center[hidden] = np.inf
        center_norm[hidden] = np.inf
    if np.isnan(overlap).any():
        raise ValueError("IoU is NaN on a valid frame (a zero-size first prediction?)")
    return SequenceErrors(overlap, center, center_norm)


def pytracking_curves(errors: SequenceErrors) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per-sequence success (21), precision (51) and normalized precision (51) curves as shares."""
    n = len(errors.overlap)
    success = (errors.overlap[:, None] > OVERLAP_THRESHOLDS[None]).sum(0) / n
    precision = (errors.center[:, None] <= CENTER_THRESHOLDS[None]).sum(0) / n
    norm = (errors.center_norm[:, None] <= NORM_THRESHOLDS[None]).sum(0) / n
    return success, precision, norm


def pytracking_metrics(errors: list[SequenceErrors]) -> dict[str, float]:
    """Success AUC, precision@20 px, normalized precision@0.2 (percent), curves averaged over sequences."""
    if not errors:
        raise ValueError("pytracking metrics: no sequence to score")
    curves = [pytracking_curves(e) for e in errors]
    success = np.mean([c[0] for c in curves], axis=0)
    precision = np.mean([c[1] for c in curves], axis=0)
    norm = np.mean([c[2] for c in curves], axis=0)
    return {"success": 100.0 * float(success.mean()), "precision": 100.0 * float(precision[20]),
            "norm_precision": 100.0 * float(norm[20])}
