"""Classification losses of a cascade stage, as Detectron2's `FastRCNNOutputLayers` defines them.

Logits are (N, K + 1) with background at index 0 (this package's layout; Detectron2 puts it last).
- softmax: cross-entropy over K + 1 classes, mean over the N RoIs (ViTDet's COCO recipe).
- sigmoid: one binary cross-entropy per foreground class (the background column is unused), summed over
  classes and divided by N; optionally the federated loss (Zhou et al., ViTDet's LVIS recipe): only the
  classes present in the batch plus negatives sampled in proportion to `class_weights` (image count **
  0.5) are penalised, so rare classes are not pushed down on images where nobody annotated them.
- box: class-agnostic L1 on the positives' deltas, divided by N (smooth-L1 with beta 0 in Detectron2).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F


def softmax_cross_entropy(logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """(N, K + 1), (N,) in 0..K -> mean cross-entropy."""
    if logits.shape[0] == 0:
        return logits.sum() * 0.0
    return F.cross_entropy(logits, labels)


def fed_loss_classes(labels: torch.Tensor, class_weights: torch.Tensor, num_classes: int) -> torch.Tensor:
    """(K,) bool: the classes the federated loss covers for a batch with `labels` (N,) in 0..K.

    The batch's foreground classes, plus negatives drawn without replacement with probability proportional
    to `class_weights` (K,) until `num_classes` are covered. As in Detectron2, the background counts among
    the batch's classes when present (so one fewer negative is drawn); unlike it, the draw is capped at the
    number of classes with non-zero weight, so a dataset with fewer than `num_classes` classes works."""
    k = class_weights.numel()
    present = torch.unique(labels)  # includes 0 when the batch has background RoIs
    foreground = present[present > 0] - 1
    covered = torch.zeros(k, dtype=torch.bool, device=labels.device)
    covered[foreground] = True
    wanted = num_classes - len(present)
    if wanted > 0:
        prob = class_weights.to(device=labels.device, dtype=torch.float32).clone()
        prob[foreground] = 0
        wanted = min(wanted, int((prob > 0).sum()))
        if wanted > 0:
            covered[torch.multinomial(prob, wanted, replacement=False)] = True
    return covered


def sigmoid_cross_entropy(logits: torch.Tensor, labels: torch.Tensor, class_weights: torch.Tensor | None = None,
                          fed_num_classes: int = 50) -> torch.Tensor:
    """Per-class BCE summed over the (covered) classes, divided by N; `class_weights` switches on the fed loss."""
    n, k = logits.shape[0], logits.shape[1] - 1
    if n == 0:
        return logits.sum() * 0.0
    target = F.one_hot(labels, k + 1)[:, 1:].to(logits.dtype)  # (N, K): background rows are all zero
    loss = F.binary_cross_entropy_with_logits(logits[:, 1:], target, reduction="none")  # (N, K)
    if class_weights is not None:
        loss = loss * fed_loss_classes(labels, class_weights, fed_num_classes).to(loss.dtype)[None, :]
    return loss.sum() / n


def box_l1(deltas: torch.Tensor, targets: torch.Tensor, positive: torch.Tensor) -> torch.Tensor:
    """deltas (N, 4), targets (P, 4) for the P positives `positive` (N,) bool -> summed L1 / max(N, 1)."""
    return F.l1_loss(deltas[positive], targets, reduction="sum") / max(1, deltas.shape[0])
