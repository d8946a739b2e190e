"""OSTrack's context crops: a square of side ceil(sqrt(w*h) * factor) centred on a box, zero-padded where
it leaves the image, resized to `out` px (on tensors, on the model's device); and the maps of boxes into and
out of such a crop.

Boxes are x, y, w, h in image pixels; boxes "in the crop" are normalised to [0, 1] by the crop side.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image


def round_to_patch(size: int, patch: int) -> int:
    """128 -> 126 for patch 14: the nearest multiple of the patch size (at least one patch)."""
    return max(patch, int(round(size / patch)) * patch)


@dataclass(frozen=True)
class Window:
    x0: int  # top-left corner of the crop in the image, px
    y0: int
    side: int  # crop side in the image, px
    out: int  # crop side after resizing, px


def window(box: np.ndarray, factor: float, out: int) -> Window:
    x, y, w, h = (float(v) for v in box)
    side = max(1, math.ceil(math.sqrt(max(w * h, 1e-6)) * factor))
    return Window(int(round(x + 0.5 * w - 0.5 * side)), int(round(y + 0.5 * h - 0.5 * side)), side, out)


def image_tensor(image: Image.Image) -> torch.Tensor:
    """PIL image -> (3, H, W) uint8 RGB tensor (one copy; crops then read only their window of it)."""
    return torch.from_numpy(np.array(image.convert("RGB"), dtype=np.uint8)).permute(2, 0, 1)


def crop(image: torch.Tensor, win: Window) -> torch.Tensor:
    """(3, H, W) image (uint8 or float, any device) -> (3, out, out) float in the image's units: the window's
    pixels, zeros outside the image, resized bilinearly -- antialiased when shrinking, as PIL's resize is, so
    this equals `crop_pil` (the training loader's crop) up to PIL's uint8 rounding.

    Only the window's part of the image is converted to float; one pad and one interpolate call.
    """
    _, height, width = image.shape
    xa, ya = max(0, win.x0), max(0, win.y0)
    xb, yb = min(width, win.x0 + win.side), min(height, win.y0 + win.side)
    if xa >= xb or ya >= yb:  # the window misses the image entirely
        return torch.zeros(3, win.out, win.out, device=image.device)
    part = image[:, ya:yb, xa:xb].float()  # (3, h', w')
    part = F.pad(part, (xa - win.x0, win.x0 + win.side - xb, ya - win.y0, win.y0 + win.side - yb))  # (3, side, side)
    if win.side == win.out:
        return part
    return F.interpolate(part[None], size=(win.out, win.out), mode="bilinear", align_corners=False,
                         antialias=win.side > win.out)[0]


def box_to_crop(box: np.ndarray, win: Window) -> np.ndarray:
    """Image x,y,w,h -> x,y,w,h normalised by the crop side."""
    x, y, w, h = (float(v) for v in box)
    return np.array([(x - win.x0) / win.side, (y - win.y0) / win.side, w / win.side, h / win.side])


def box_from_crop(cxcywh: np.ndarray, win: Window) -> np.ndarray:
    """Normalised cx,cy,w,h in the crop -> image x,y,w,h."""
    cx, cy, w, h = (float(v) * win.side for v in cxcywh)
    return np.array([win.x0 + cx - 0.5 * w, win.y0 + cy - 0.5 * h, w, h])


def clip_box(box: np.ndarray, width: int, height: int, margin: int = 10) -> np.ndarray:
    """OSTrack's `clip_box`: keep at least `margin` px of the box inside the image."""
    x1, y1, w, h = (float(v) for v in box)
    x2, y2 = x1 + w, y1 + h
    x1, x2 = min(max(0.0, x1), width - margin), min(max(float(margin), x2), float(width))
    y1, y2 = min(max(0.0, y1), height - margin), min(max(float(margin), y2), float(height))
    return np.array([x1, y1, max(float(margin), x2 - x1), max(float(margin), y2 - y1)])


def crop_pil(image: Image.Image, win: Window) -> Image.Image:
    """PIL version of `crop` for the training loader: the window's pixels (zeros outside), resized bilinearly."""
    region = image.crop((win.x0, win.y0, win.x0 + win.side, win.y0 + win.side))
    return region.resize((win.out, win.out), Image.BILINEAR)


def pil_to_tensor(image: Image.Image, mean: tuple, std: tuple) -> torch.Tensor:
    """PIL RGB -> normalised (3, H, W) float."""
    return normalize(image_tensor(image).float(), *channel_stats(mean, std))


def normalize(x: torch.Tensor, mean: torch.Tensor, std: torch.Tensor) -> torch.Tensor:
    """(..., 3, H, W) pixels in 0..255 -> (x / 255 - mean) / std, mean and std as (3, 1, 1) tensors."""
    return (x * (1.0 / 255.0) - mean) / std


def channel_stats(mean: tuple, std: tuple, device: torch.device | str = "cpu") -> tuple[torch.Tensor, torch.Tensor]:
    return (torch.tensor(mean, device=device).view(3, 1, 1), torch.tensor(std, device=device).view(3, 1, 1))
