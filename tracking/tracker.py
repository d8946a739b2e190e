"""The tracker loop: initialise on frame 0's box, then per frame crop the search region around the last
box, score it (times a Hann window), read the box at the peak and map it back to the image.

The template's backbone tokens are computed once per sequence and reused (the backbone is frozen, so they
never change); `recompute_template=True` recomputes them every frame, for checking that claim.
Per frame the work stays on the model's device: the frame goes there once as uint8, the crop is one
`roi_align` call, the Hann window and normalisation constants are precomputed there, and only the four box
numbers come back to the CPU.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np
import torch
from PIL import Image

from .crops import box_from_crop, channel_stats, clip_box, crop, image_tensor, normalize, window
from .datasets import Sequence
from .model import TrackerNet, decode_boxes, hann2d


@dataclass(frozen=True)
class CropSizes:
    template: int
    template_factor: float
    search: int
    search_factor: float


def load_image(path) -> Image.Image:
    with Image.open(path) as im:
        return im.convert("RGB")


class Tracker:
    def __init__(self, net: TrackerNet, sizes: CropSizes, device: torch.device, hann: bool = True,
                 recompute_template: bool = False):
        self.net, self.sizes, self.device = net.eval(), sizes, device
        info = net.backbone.info
        self.mean, self.std = channel_stats(info.image_mean, info.image_std, device)
        grid = sizes.search // info.patch_size
        self.window = hann2d(grid, grid).to(device)[None, None] if hann else None  # (1, 1, g, g)
        self.recompute_template = recompute_template
        self.state: np.ndarray | None = None

    def _frame(self, image: Image.Image | torch.Tensor) -> torch.Tensor:
        """PIL image or (3, H, W) uint8 tensor -> (3, H, W) uint8 on the device."""
        frame = image if isinstance(image, torch.Tensor) else image_tensor(image)
        return frame.to(self.device, non_blocking=True)

    def _crop(self, frame: torch.Tensor, box: np.ndarray, factor: float, size: int):
        win = window(box, factor, size)
        return win, normalize(crop(frame, win), self.mean, self.std)[None]  # (1, 3, size, size)

    @torch.inference_mode()
    def initialize(self, image: Image.Image | torch.Tensor, box: np.ndarray) -> None:
        _, self.template = self._crop(self._frame(image), box, self.sizes.template_factor, self.sizes.template)
        self.z = self.net.template_tokens(self.template)  # (1, Nz, D), cached for the whole sequence
        self.state = np.asarray(box, dtype=np.float64)

    @torch.inference_mode()
    def track(self, image: Image.Image | torch.Tensor) -> np.ndarray:
        frame = self._frame(image)
        win, search = self._crop(frame, self.state, self.sizes.search_factor, self.sizes.search)
        z = self.net.template_tokens(self.template) if self.recompute_template else self.z
        out = self.net.forward_tokens(z, self.net.search_features(search), decode=False)
        score = out["score"] * self.window if self.window is not None else out["score"]
        box = decode_boxes(score, out["size"], out["offset"])[0].cpu().numpy()  # the only device -> CPU copy
        self.state = clip_box(box_from_crop(box, win), frame.shape[2], frame.shape[1])
        return self.state


def track_sequence(tracker: Tracker, seq: Sequence) -> tuple[np.ndarray, np.ndarray]:
    """(N, 4) boxes (frame 0 = the given box, as GOT-10k and pytracking expect) and (N,) seconds per frame."""
    boxes = np.zeros((len(seq.frames), 4))
    times = np.zeros(len(seq.frames))
    for i, path in enumerate(seq.frames):
        image = image_tensor(load_image(path))
        t0 = time.perf_counter()
        if i == 0:
            tracker.initialize(image, seq.boxes[0])
            boxes[0] = seq.boxes[0]
        else:
            boxes[i] = tracker.track(image)
        times[i] = time.perf_counter() - t0
    return boxes, times
