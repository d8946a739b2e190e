"""gIoU and cIoU exactly as LISA computes them (`train_ds.py::validate`, `utils/utils.py`).

Per expression, the foreground intersection I and union U of the binary prediction and target (pixels
labelled `ignore_index` in the target count for neither):
    gIoU = mean over expressions of I / (U + 1e-5), where an expression with U == 0 scores 1.0
    cIoU = sum(I) / (sum(U) + 1e-10)
Both are returned in percent (0-100) like the paper's tables.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import torch

GIOU_EPS = 1e-5
CIOU_EPS = 1e-10
IGNORE_INDEX = 255


def intersection_union(pred: np.ndarray | torch.Tensor, target: np.ndarray | torch.Tensor,
                       ignore_index: int = IGNORE_INDEX) -> tuple[int, int]:
    """Foreground (I, U) in pixels of one (H, W) prediction (bool / 0-1) against its (H, W) target."""
    pred = torch.as_tensor(np.asarray(pred) if not isinstance(pred, torch.Tensor) else pred).long()
    target = torch.as_tensor(np.asarray(target) if not isinstance(target, torch.Tensor) else target).long()
    if pred.shape != target.shape:
        raise ValueError(f"prediction of shape {tuple(pred.shape)} vs target of shape {tuple(target.shape)}")
    valid = target != ignore_index
    p = (pred > 0) & valid
    t = (target == 1) & valid
    inter = int((p & t).sum())
    union = int((p | t).sum())
    return inter, union


def expression_iou(inter: int, union: int) -> float:
    """LISA's per-expression score: I / (U + 1e-5), and 1.0 for an empty union (nothing to find, nothing found)."""
    return 1.0 if union == 0 else inter / (union + GIOU_EPS)


@dataclass
class IoUAccumulator:
    """Collects (I, U) per expression; `result()` gives {"giou", "ciou"} in percent."""

    inters: list[int] = field(default_factory=list)
    unions: list[int] = field(default_factory=list)

    def add(self, pred, target, ignore_index: int = IGNORE_INDEX) -> tuple[int, int]:
        inter, union = intersection_union(pred, target, ignore_index)
        self.inters.append(inter)
        self.unions.append(union)
        return inter, union

    def __len__(self) -> int:
        return len(self.inters)

    def result(self) -> dict[str, float]:
        if not self.inters:
            raise ValueError("no expressions were scored (the evaluation split is empty)")
        giou = float(np.mean([expression_iou(i, u) for i, u in zip(self.inters, self.unions)]))
        ciou = float(sum(self.inters) / (sum(self.unions) + CIOU_EPS))
        return {"giou": 100.0 * giou, "ciou": 100.0 * ciou}


def giou_ciou(preds, targets, ignore_index: int = IGNORE_INDEX) -> dict[str, float]:
    """gIoU / cIoU (percent) over paired lists of (H, W) masks."""
    acc = IoUAccumulator()
    for p, t in zip(preds, targets, strict=True):
        acc.add(p, t, ignore_index)
    return acc.result()
