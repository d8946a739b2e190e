"""The paper's figures for any backbones side by side (PNG; the plotted numbers beside each as .npz):

- Figure 5, `pca_figure`: PCA(3) of final-layer patch tokens as RGB. One PCA per backbone, fitted on the
  tokens of all shown images together, so colours are comparable across the images, or across the frames
  of a GOT-10k sequence over time (one column per frame, one row per backbone).
- Figure 1, `tsne_figure`: t-SNE (scikit-learn, random_state=seed) of object-region features of a
  COCO-format set, coloured by category; one panel per backbone.
- Figure 4, `distance_figure`: the distribution of pairwise cosine distances between patch tokens within
  each image of a COCO-format set; one curve per backbone.
"""

from __future__ import annotations

from pathlib import Path
from typing import Sequence

import numpy as np

from probes.demo.figures import _pyplot, pca_rgb, save_figure, upsample


def _save_data(path: Path, **arrays) -> Path:
    """The plotted numbers as .npz beside the PNG (atomic: temp name + rename)."""
    import os

    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.stem}.tmp.npz")
    np.savez(tmp, **arrays)
    os.chmod(tmp, 0o644)
    os.replace(tmp, path)
    return path


def pca_figure(images: Sequence, maps: dict[str, np.ndarray], path: Path, title: str = "",
               frames: bool = False) -> Path:
    """images: PIL; maps: backbone -> (N, D, h, w). frames=True: a row per backbone, a column per frame."""
    plt = _pyplot()
    rgb = {name: pca_rgb(m) for name, m in maps.items()}  # one PCA over all N images per backbone
    panels = [[("input", np.asarray(im.convert("RGB")).astype(np.float32) / 255) for im in images]]
    panels += [[(name, upsample(r[i], images[i].size)) for i in range(len(images))] for name, r in rgb.items()]
    grid = panels if frames else [list(col) for col in zip(*panels)]  # frames: rows = input + backbones
    rows, cols = len(grid), len(grid[0])
    fig, axes = plt.subplots(rows, cols, figsize=(2.0 * cols, 2.0 * rows), squeeze=False)
    fig.subplots_adjust(top=1 - 0.5 / (2.0 * rows))  # the title's room, not a fraction of a tall figure
    for r, row in enumerate(grid):
        for c, (label, pixels) in enumerate(row):
            ax = axes[r][c]
            ax.imshow(pixels)
            ax.set_xticks([])
            ax.set_yticks([])
            if frames and c == 0:
                ax.set_ylabel(label, fontsize=8)
            elif frames and r == 0:
                ax.set_title(f"frame {c + 1}", fontsize=8)
            elif not frames and r == 0:
                ax.set_title(label, fontsize=9)
    if frames:
        axes[0][0].set_title("frame 1", fontsize=8)
    fig.suptitle(title or "PCA(3) of patch tokens as RGB (one PCA per backbone over all shown images)", fontsize=10)
    _save_data(path.with_suffix(".npz"), **{f"rgb_{n}": r for n, r in rgb.items()})
    return save_figure(fig, path)


def tsne_embed(features: np.ndarray, seed: int) -> np.ndarray:
    """(R, D) -> (R, 2), deterministic for a seed (scikit-learn TSNE, PCA init, one job)."""
    from sklearn.manifold import TSNE

    n = len(features)
    if n < 3:
        raise ValueError(f"t-SNE needs at least 3 regions, got {n}: give more images (--max-images)")
    tsne = TSNE(n_components=2, perplexity=float(min(30, max(2, (n - 1) // 3))), init="pca", random_state=seed,
                n_jobs=1)
    return tsne.fit_transform(features.astype(np.float64)).astype(np.float32)


def tsne_figure(regions: dict[str, tuple[np.ndarray, np.ndarray]], categories: dict, path: Path, seed: int) -> Path:
    """regions: backbone -> (features (R, D), category ids (R,))."""
    plt = _pyplot()
    names = list(regions)
    fig, axes = plt.subplots(1, len(names), figsize=(3.6 * len(names), 3.6), squeeze=False)
    cats = sorted({int(c) for _, labels in regions.values() for c in labels})
    cmap = plt.get_cmap("tab20" if len(cats) <= 20 else "nipy_spectral", max(len(cats), 1))
    data = {}
    for ax, name in zip(axes[0], names):
        feats, labels = regions[name]
        xy = tsne_embed(feats, seed)
        data[f"xy_{name}"], data[f"labels_{name}"] = xy, labels
        for i, c in enumerate(cats):
            keep = labels == c
            ax.scatter(xy[keep, 0], xy[keep, 1], s=8, color=cmap(i), label=categories.get(c, str(c)))
        ax.set_title(name, fontsize=9)
        ax.set_xticks([])
        ax.set_yticks([])
    axes[0][-1].legend(fontsize=6, markerscale=1.5, bbox_to_anchor=(1.02, 1), loc="upper left", frameon=False)
    fig.suptitle(f"t-SNE of object-region features, coloured by category (seed {seed})", fontsize=10)
    _save_data(path.with_suffix(".npz"), **data)
    return save_figure(fig, path)


def distance_figure(distances: dict[str, np.ndarray], path: Path, bins: int = 50) -> Path:
    """distances: backbone -> (P,) cosine distances in [0, 2]; density histograms as lines."""
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(5.0, 3.4))
    edges = np.linspace(0.0, 2.0, bins + 1)
    data = {"edges": edges}
    for name, d in distances.items():
        density, _ = np.histogram(d, bins=edges, density=True)
        data[f"density_{name}"] = density
        ax.plot((edges[:-1] + edges[1:]) / 2, density, label=f"{name} (mean {d.mean():.3f})")
    ax.set_xlabel("cosine distance between patch tokens of an image")
    ax.set_ylabel("density")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7)
    ax.set_title("Pairwise token distances", fontsize=10)
    _save_data(path.with_suffix(".npz"), **data)
    return save_figure(fig, path)
