"""gIoU / cIoU as LISA defines them, on hand-made masks; LISA's BCE and smoothed Dice by hand."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from probes.refseg.loss import LossWeights, bce_loss, dice_loss, lisa_loss
from probes.refseg.metrics import IoUAccumulator, giou_ciou, intersection_union


def box(h, w, y0, y1, x0, x1):
    m = np.zeros((h, w), np.uint8)
    m[y0:y1, x0:x1] = 1
    return m


def test_giou_ciou_equal_a_direct_computation_and_differ_when_sizes_differ():
    # expression 1: a big target half found; expression 2: a small target found exactly
    t1, p1 = box(10, 10, 0, 10, 0, 8), box(10, 10, 0, 10, 0, 4)  # I=40, U=80
    t2, p2 = box(10, 10, 0, 2, 0, 2), box(10, 10, 0, 2, 0, 2)  # I=4, U=4
    assert intersection_union(p1, t1) == (40, 80) and intersection_union(p2, t2) == (4, 4)
    out = giou_ciou([p1, p2], [t1, t2])
    assert out["giou"] == pytest.approx(100 * (40 / (80 + 1e-5) + 4 / (4 + 1e-5)) / 2)
    assert out["ciou"] == pytest.approx(100 * 44 / (84 + 1e-10))
    assert out["giou"] == pytest.approx(75.0, abs=1e-3) and out["ciou"] == pytest.approx(52.381, abs=1e-3)


def test_empty_prediction_on_empty_target_scores_one_and_adds_nothing_to_ciou():
    empty = np.zeros((6, 6), np.uint8)
    t, p = box(6, 6, 0, 3, 0, 3), box(6, 6, 0, 3, 0, 6)  # I=9, U=18
    out = giou_ciou([empty, p], [empty, t])
    assert out["giou"] == pytest.approx(100 * (1.0 + 9 / (18 + 1e-5)) / 2)
    assert out["ciou"] == pytest.approx(100 * 9 / 18)
    only_empty = giou_ciou([empty], [empty])
    assert only_empty == {"giou": 100.0, "ciou": 0.0}  # LISA: 0 / (0 + 1e-10)
    # a non-empty prediction on an empty target is a miss
    assert giou_ciou([p], [empty])["giou"] == 0.0


def test_ignore_label_and_errors():
    t = box(4, 4, 0, 2, 0, 4).astype(np.int64)
    t[3, :] = 255  # ignored row
    p = np.ones((4, 4), bool)  # predicts the ignored row too: not counted
    assert intersection_union(p, t) == (8, 12)
    with pytest.raises(ValueError, match="shape"):
        intersection_union(np.zeros((2, 2)), np.zeros((3, 3)))
    with pytest.raises(ValueError, match="empty"):
        IoUAccumulator().result()


def test_lisa_losses_by_hand():
    logits = torch.tensor([[[2.0, -1.0], [0.5, -3.0]]])  # (1, 2, 2)
    target = torch.tensor([[[1, 0], [1, 1]]])
    p = torch.sigmoid(logits).flatten()
    t = target.flatten().float()
    bce = -(t * torch.log(p) + (1 - t) * torch.log(1 - p)).mean()
    assert bce_loss(logits, target).item() == pytest.approx(bce.item(), rel=1e-6)
    s = 1000.0
    dice = 1 - (2 * (p / s * t).sum() + 1e-6) / ((p / s).sum() + (t / s).sum() + 1e-6)
    assert dice_loss(logits, target).item() == pytest.approx(dice.item(), rel=1e-6)
    # two images, 1 + 2 masks: both mask losses are means over the three masks
    l2 = torch.randn(2, 3, 3)
    t2 = (torch.rand(2, 3, 3) > 0.5).long()
    ce = torch.tensor(0.7)
    out = lisa_loss(ce, [logits, l2], [target, t2], LossWeights())
    bce_all = torch.cat([bce_loss(logits, target), bce_loss(l2, t2)]).mean()
    dice_all = torch.cat([dice_loss(logits, target), dice_loss(l2, t2)]).mean()
    assert out["loss"].item() == pytest.approx((0.7 + 2.0 * bce_all + 0.5 * dice_all).item(), rel=1e-5)
    # a perfect, confident prediction has (almost) no mask loss
    sure = torch.where(target.bool(), 20.0, -20.0).float()
    assert dice_loss(sure, target).item() < 1e-3 and bce_loss(sure, target).item() < 1e-6
