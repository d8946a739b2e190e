"""Features for the paper's figures, through the Backbone contract only (rice.backbones.create_backbone).

    patch_maps(backbone, images, size)         -> (N, D, h, w) final-layer patch features
    region_features(backbone, coco, ...)       -> (R, D) mean patch feature inside each annotated box, labels
    pairwise_distances(maps, max_tokens, seed) -> (P,) cosine distances between token pairs of each image
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Sequence

import numpy as np


def load_backbone(spec: str):
    from rice.backbones import create_backbone

    return create_backbone(str(spec)).eval()


def input_side(backbone, size: int) -> int:
    patch = backbone.info.patch_size
    return max(patch, round(size / patch) * patch)


def patch_maps(backbone, images: Sequence, size: int, batch: int = 8) -> np.ndarray:
    """(N, D, h, w) float32 patch features of PIL `images` resized to `size` px (a multiple of the patch)."""
    import torch

    side, out = input_side(backbone, size), []
    with torch.no_grad():
        for i in range(0, len(images), batch):
            pixels = backbone.preprocess(list(images[i: i + batch]), side)
            out.append(backbone.forward_features(pixels).patch.float().cpu().numpy())  # (B, D, h, w)
    return np.concatenate(out)


def read_coco(annotations: str | Path, images_dir: str | Path, max_images: int) -> tuple[list, list[dict], dict]:
    """(image paths, per-image annotation lists, category id -> name) of the first `max_images` images that
    have annotations (sorted by image id), from a COCO-format file."""
    annotations, images_dir = Path(annotations), Path(images_dir)
    if not annotations.is_file():
        raise FileNotFoundError(f"--coco {annotations}: no such annotation file")
    coco = json.loads(annotations.read_text())
    for key in ("images", "annotations", "categories"):
        if key not in coco:
            raise ValueError(f"{annotations}: not a COCO instances file (no {key!r} key)")
    anns: dict[int, list] = {}
    for a in coco["annotations"]:
        anns.setdefault(a["image_id"], []).append(a)
    chosen = [im for im in sorted(coco["images"], key=lambda im: im["id"]) if anns.get(im["id"])][:max_images]
    paths = [images_dir / im["file_name"] for im in chosen]
    missing = [p for p in paths if not p.is_file()]
    if missing:
        raise FileNotFoundError(f"--coco images folder {images_dir}: no image {missing[0].name}")
    per_image = [{"image": im, "annotations": anns[im["id"]]} for im in chosen]
    return paths, per_image, {c["id"]: c["name"] for c in coco["categories"]}


def region_features(maps: np.ndarray, per_image: list[dict]) -> tuple[np.ndarray, np.ndarray]:
    """Mean patch feature of the patches whose centers fall inside each box (the nearest patch for a box
    smaller than one). maps: (N, D, h, w); returns features (R, D) and category ids (R,)."""
    feats, labels = [], []
    for fmap, entry in zip(maps, per_image):
        d, h, w = fmap.shape
        W, H = entry["image"]["width"], entry["image"]["height"]
        cx, cy = (np.arange(w) + 0.5) * W / w, (np.arange(h) + 0.5) * H / h  # patch centers in image pixels
        for a in entry["annotations"]:
            x, y, bw, bh = a["bbox"]
            cols = np.nonzero((cx >= x) & (cx <= x + bw))[0]
            rows = np.nonzero((cy >= y) & (cy <= y + bh))[0]
            if not len(cols):
                cols = np.array([min(w - 1, int((x + bw / 2) * w / W))])
            if not len(rows):
                rows = np.array([min(h - 1, int((y + bh / 2) * h / H))])
            feats.append(fmap[:, rows][:, :, cols].reshape(d, -1).mean(axis=1))
            labels.append(a["category_id"])
    return np.stack(feats).astype(np.float32), np.array(labels)


def pairwise_distances(maps: np.ndarray, max_tokens: int = 256, seed: int = 0) -> np.ndarray:
    """Cosine distances (1 - cos) between all pairs of patch tokens within each image (at most `max_tokens`
    tokens per image, drawn with `seed`), concatenated over images: (P,)."""
    rng = np.random.default_rng(seed)
    out = []
    for fmap in maps:
        tokens = fmap.reshape(fmap.shape[0], -1).T.astype(np.float64)  # (h*w, D)
        if len(tokens) > max_tokens:
            tokens = tokens[np.sort(rng.choice(len(tokens), max_tokens, replace=False))]
        tokens = tokens / np.maximum(np.linalg.norm(tokens, axis=1, keepdims=True), 1e-12)
        sim = tokens @ tokens.T
        iu = np.triu_indices(len(tokens), k=1)
        out.append(1.0 - sim[iu])
    return np.concatenate(out).astype(np.float32)
