"""LISA's losses: text cross-entropy x 1.0 + per-mask BCE x 2.0 + per-mask Dice x 0.5 (`model/LISA.py`).

Both mask losses are means over masks (each mask's loss is a mean over its pixels for BCE); Dice uses
LISA's smoothing: predictions and targets divided by scale=1000, eps=1e-6 on numerator and denominator.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F

DICE_SCALE = 1000.0
DICE_EPS = 1e-6


@dataclass
class LossWeights:
    ce: float = 1.0
    bce: float = 2.0
    dice: float = 0.5


def dice_loss(logits: torch.Tensor, targets: torch.Tensor, scale: float = DICE_SCALE, eps: float = DICE_EPS) -> torch.Tensor:
    """(n, H, W) logits and 0/1 targets -> (n,) Dice loss per mask, with LISA's smoothing."""
    p = logits.sigmoid().flatten(1)  # (n, HW)
    t = targets.float().flatten(1)
    numerator = 2 * (p / scale * t).sum(-1)
    denominator = (p / scale).sum(-1) + (t / scale).sum(-1)
    return 1 - (numerator + eps) / (denominator + eps)


def bce_loss(logits: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    """(n, H, W) -> (n,) sigmoid cross-entropy per mask (mean over pixels)."""
    return F.binary_cross_entropy_with_logits(logits.flatten(1), targets.float().flatten(1), reduction="none").mean(-1)


def lisa_loss(ce: torch.Tensor, mask_logits: list[torch.Tensor], mask_targets: list[torch.Tensor],
              weights: LossWeights = LossWeights()) -> dict[str, torch.Tensor]:
    """Total and parts. `mask_logits` / `mask_targets`: one (n_i, H_i, W_i) pair per image, or None for an image
    without masks (VQA); a batch without any mask has mask losses 0."""
    pairs = [(p, t) for p, t in zip(mask_logits, mask_targets, strict=True) if p is not None]  # None: VQA
    zero = ce.new_zeros((0,))
    bce = torch.cat([zero] + [bce_loss(p, t) for p, t in pairs])  # (N,)
    dice = torch.cat([zero] + [dice_loss(p, t) for p, t in pairs])  # (N,)
    n = bce.numel()
    bce_mean = bce.sum() / (n + 1e-8)
    dice_mean = dice.sum() / (n + 1e-8)
    total = weights.ce * ce + weights.bce * bce_mean + weights.dice * dice_mean
    return {"loss": total, "ce": ce.detach(), "bce": bce_mean.detach(), "dice": dice_mean.detach()}
