"""OSTrack's training objective: GIoU x 2 + L1 x 5 on the decoded box, CenterNet focal loss x 1 on the score map
against a Gaussian heatmap (CenterNet's radius at min overlap 0.7, sigma = diameter / 6)."""

from __future__ import annotations

import math

import numpy as np
import torch
import torch.nn.functional as F
from torchvision.ops import box_convert, generalized_box_iou_loss

from .config import LossConfig


def gaussian_radius(height: float, width: float, min_overlap: float = 0.7) -> float:
    """CenterNet's `gaussian_radius` (the three corner cases, as CenterNet and OSTrack compute them)."""
    b1, c1 = height + width, width * height * (1 - min_overlap) / (1 + min_overlap)
    r1 = (b1 + math.sqrt(b1 ** 2 - 4 * c1)) / 2
    b2, c2 = 2 * (height + width), (1 - min_overlap) * width * height
    r2 = (b2 + math.sqrt(b2 ** 2 - 16 * c2)) / 2
    a3, b3, c3 = 4 * min_overlap, -2 * min_overlap * (height + width), (min_overlap - 1) * width * height
    r3 = (b3 + math.sqrt(b3 ** 2 - 4 * a3 * c3)) / 2
    return min(r1, r2, r3)


def gaussian_heatmap(boxes: torch.Tensor, size: int, min_overlap: float = 0.7) -> torch.Tensor:
    """(B, 4) normalised x, y, w, h -> (B, size, size) heatmaps with a peak of exactly 1 at the box centre."""
    out = torch.zeros(len(boxes), size, size)
    for i, box in enumerate(boxes.detach().cpu().double().numpy() * size):
        x, y, w, h = box
        cx, cy = int(round(x + w / 2)), int(round(y + h / 2))
        radius = max(0, int(gaussian_radius(h, w, min_overlap)))
        d = 2 * radius + 1
        sigma = d / 6
        g = np.exp(-(np.arange(-radius, radius + 1)[:, None] ** 2 + np.arange(-radius, radius + 1)[None] ** 2)
                   / (2 * sigma * sigma))
        g[g < np.finfo(g.dtype).eps * g.max()] = 0
        left, right = min(cx, radius), min(size - cx, radius + 1)
        top, bottom = min(cy, radius), min(size - cy, radius + 1)
        if left + right <= 0 or top + bottom <= 0 or cx < 0 or cy < 0:
            continue  # the centre lies outside the map: no positive
        patch = torch.from_numpy(g[radius - top:radius + bottom, radius - left:radius + right]).float()
        region = out[i, cy - top:cy + bottom, cx - left:cx + right]
        torch.maximum(region, patch, out=region)
    return out


def focal_loss(pred: torch.Tensor, gt: torch.Tensor, alpha: float = 2.0, beta: float = 4.0) -> torch.Tensor:
    """CenterNet's penalty-reduced focal loss over the batch, normalised by the number of peaks."""
    pos = gt.eq(1).float()
    neg = 1.0 - pos
    pos_loss = (torch.log(pred) * (1 - pred) ** alpha * pos).sum()
    neg_loss = (torch.log(1 - pred) * pred ** alpha * (1 - gt) ** beta * neg).sum()
    num_pos = pos.sum()
    return -neg_loss if num_pos == 0 else -(pos_loss + neg_loss) / num_pos


def tracking_loss(out: dict[str, torch.Tensor], target: torch.Tensor, cfg: LossConfig) -> dict[str, torch.Tensor]:
    """out: the net's maps and (B, 4) cx,cy,w,h boxes; target: (B, 4) normalised x,y,w,h in the search crop."""
    pred = box_convert(out["boxes"], "cxcywh", "xyxy")
    gt = box_convert(target, "xywh", "xyxy").clamp(0, 1)
    giou = generalized_box_iou_loss(pred, gt, reduction="mean")
    l1 = F.l1_loss(pred, gt)
    heat = gaussian_heatmap(target, out["score"].shape[-1], cfg.min_overlap).to(out["score"].device)
    focal = focal_loss(out["score"][:, 0], heat, cfg.focal_alpha, cfg.focal_beta)
    total = cfg.giou_weight * giou + cfg.l1_weight * l1 + cfg.focal_weight * focal
    return {"loss": total, "giou": giou.detach(), "l1": l1.detach(), "focal": focal.detach()}
