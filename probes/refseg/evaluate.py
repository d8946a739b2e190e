"""Teacher-forced evaluation as LISA's: mask = logit > 0 at the original image size; gIoU / cIoU per split.

`predictions_<split>.json` holds one entry per expression (ref_id, sent_id, ann_id, image_id, sent, the
predicted mask as COCO RLE at the original size, and its I / U), so `rescore(file, split)` recomputes the
scores from the file and the annotations alone.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import torch
from pycocotools import mask as mask_utils

from rice.progress import progress as progress_bar

from .data import Batcher, Item, to_device
from .metrics import IoUAccumulator
from .model import LisaModel
from .refer import ReferSplit


def predictions_file(split: str) -> str:
    """'refcoco|unc|val' -> 'predictions_refcoco_unc_val.json' (a file name for LISA's split name)."""
    return f"predictions_{split.replace('|', '_')}.json"


def encode_rle(mask: np.ndarray) -> dict:
    rle = mask_utils.encode(np.asfortranarray(mask.astype(np.uint8)))
    return {"size": [int(v) for v in rle["size"]], "counts": rle["counts"].decode("ascii")}


@torch.no_grad()
def predict(model: LisaModel, items: list[Item], batcher: Batcher, device: torch.device, amp=None,
            progress: bool = True, desc: str = "refseg eval") -> tuple[list[dict], dict[str, float]]:
    """(prediction entries, {"giou", "ciou"}) over `items`, one image (all its expressions) at a time."""
    was_training = model.training
    model.eval()
    acc = IoUAccumulator()
    entries = []
    try:
        for item in progress_bar(items, total=len(items), desc=desc, disable=not progress):
            batch = to_device(batcher([item]), device)
            with torch.autocast(device.type, dtype=amp, enabled=amp is not None):
                _, logits = model(batch)
            pred = (logits[0].float() > 0).cpu().numpy()  # (n, H, W)
            target = batch["masks"][0].cpu().numpy()
            for e, p, t in zip(item.expressions, pred, target, strict=True):
                inter, union = acc.add(p, t)
                entries.append({"ref_id": e.ref_id, "sent_id": e.sent_id, "ann_id": e.ann_id,
                                "image_id": e.image_id, "sent": e.text, "segmentation": encode_rle(p),
                                "intersection": inter, "union": union})
    finally:
        model.train(was_training)
    return entries, acc.result()


def rescore(path: str | Path, split: ReferSplit) -> dict[str, float]:
    """gIoU / cIoU from a predictions file and the split's annotations only (no model)."""
    entries = json.loads(Path(path).read_text())
    sizes = {im.image_id: (im.height, im.width) for im in split.images}
    acc = IoUAccumulator()
    for e in entries:
        rle = dict(e["segmentation"], counts=e["segmentation"]["counts"].encode())
        h, w = sizes[e["image_id"]]
        acc.add(mask_utils.decode(rle), split.mask(e["ann_id"], h, w))
    return acc.result()
