"""`make_figures`: load each backbone once, compute what each asked-for figure needs, write PNG + .npz."""

from __future__ import annotations

from pathlib import Path
from typing import Sequence


from . import features as F
from .plots import distance_figure, pca_figure, tsne_figure

FIGURES = ("pca", "tsne", "distances")
IMAGE_EXTS = (".jpg", ".jpeg", ".png")


def _label(spec: str) -> str:
    p = Path(spec)
    return p.name if p.exists() else spec


def _images(folder: str | Path, limit: int) -> list[Path]:
    folder = Path(folder)
    if not folder.is_dir():
        raise FileNotFoundError(f"{folder}: no such image folder")
    found = sorted(p for p in folder.iterdir() if p.suffix.lower() in IMAGE_EXTS)
    if not found:
        raise FileNotFoundError(f"{folder}: no .jpg/.png images")
    return found[:limit] if limit else found


def make_figures(backbones: Sequence[str], out: str | Path, *, images: str = "", sequence: str = "",
                 coco: tuple[str, str] | None = None, which: Sequence[str] = FIGURES, size: int = 224,
                 max_images: int = 8, max_tokens: int = 256, seed: int = 0) -> dict[str, str]:
    """Figures for `backbones` (registry names / directories) into `out`; returns figure -> PNG path.

    pca: on `sequence` (a GOT-10k sequence folder: one PCA across its frames), else `images`, else the
    COCO set's images. tsne and distances: on the COCO set (`coco` = (annotations.json, images folder)).
    """
    from PIL import Image

    bad = [w for w in which if w not in FIGURES]
    if bad:
        raise ValueError(f"--figures {bad[0]!r}: unknown figure; choose from {', '.join(FIGURES)}")
    if not backbones:
        raise ValueError("--backbones: name at least one backbone")
    if ("tsne" in which or "distances" in which) and coco is None:
        raise ValueError("--coco ANNOTATIONS.json:IMAGES is needed for the tsne and distances figures")
    if "pca" in which and not (images or sequence or coco):
        raise ValueError("the pca figure needs --images DIR, --sequence GOT10K_SEQUENCE_DIR or --coco")
    coco_paths, per_image, categories = F.read_coco(*coco, max_images) if coco else ([], [], {})
    pca_paths = (_images(sequence, max_images) if sequence else _images(images, max_images) if images
                 else coco_paths)
    out = Path(out)
    loaded = {_label(b): F.load_backbone(b) for b in backbones}  # fail on a bad name before any figure
    written = {}
    if "pca" in which:
        pics = [Image.open(p).convert("RGB") for p in pca_paths]
        maps = {n: F.patch_maps(b, pics, size) for n, b in loaded.items()}
        what = f"GOT-10k sequence {Path(sequence).name}: one PCA across {len(pics)} frames" if sequence else ""
        written["pca"] = str(pca_figure(pics, maps, out / "fig5_pca.png", title=what, frames=bool(sequence)))
    if coco:
        pics = [Image.open(p).convert("RGB") for p in coco_paths]
        maps = {n: F.patch_maps(b, pics, size) for n, b in loaded.items()}
        if "tsne" in which:
            regions = {n: F.region_features(m, per_image) for n, m in maps.items()}
            written["tsne"] = str(tsne_figure(regions, categories, out / "fig1_tsne.png", seed))
        if "distances" in which:
            dists = {n: F.pairwise_distances(m, max_tokens, seed) for n, m in maps.items()}
            written["distances"] = str(distance_figure(dists, out / "fig4_distances.png"))
    return written
