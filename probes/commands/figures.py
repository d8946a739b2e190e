"""The paper's figures for any backbones side by side (PNG, with the plotted numbers as .npz beside):

  fig5_pca.png        Figure 5: PCA(3) of patch tokens as RGB, on --images, or on the frames of one GOT-10k
                      sequence (--sequence) with one PCA fitted across the frames (colours comparable over time)
  fig1_tsne.png       Figure 1: t-SNE of object-region features of a COCO-format set (--coco), by category
  fig4_distances.png  Figure 4: distribution of pairwise token distances on the COCO-format set

examples:
  rice-probe figures --backbones rice-vit-tiny clip-vit-tiny --coco toy/coco/annotations/instances_val.json:toy/coco/val --out figs
  rice-probe figures --backbones demo_out/backbones/rice-toy demo_out/backbones/random-init \\
      --sequence toy/got10k/val/GOT-10k_Val_000001 --figures pca --out figs
"""

from __future__ import annotations

import argparse

HELP = "paper figures (PCA-as-RGB, t-SNE of regions, token distances) for backbones side by side"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    a = parser.add_argument
    a("--backbones", nargs="+", required=True, help="registry names (`rice backbones`) or model directories")
    a("--out", required=True, help="output folder")
    a("--images", default="", help="folder of images for the PCA figure")
    a("--sequence", default="", help="a GOT-10k sequence folder (frames *.jpg): PCA figure over its frames")
    a("--coco", default="", help="ANNOTATIONS.json:IMAGES_DIR, a COCO-format set (t-SNE, distances; PCA fallback)")
    a("--figures", nargs="+", default=["pca", "tsne", "distances"], help="which figures")
    a("--size", type=int, default=224, help="input side, px (rounded to the patch size)")
    a("--max-images", type=int, default=8, help="images (or frames) used")
    a("--max-tokens", type=int, default=256, help="tokens per image in the distance figure")
    a("--seed", type=int, default=0, help="t-SNE and token sampling seed")


def run(args: argparse.Namespace) -> int:
    import torch

    from probes.figures import make_figures
    from probes.runner import torch_threads

    coco = None
    if args.coco:
        ann, sep, images = args.coco.partition(":")
        if not sep or not images:
            raise ValueError(f"--coco {args.coco!r}: expected ANNOTATIONS.json:IMAGES_DIR")
        coco = (ann, images)
    if args.max_images < 1 or args.size < 14:
        raise ValueError(f"--max-images {args.max_images} / --size {args.size}: must be >= 1 / >= 14")
    with torch_threads(min(torch.get_num_threads(), 4)):  # the caller's count again after
        written = make_figures(args.backbones, args.out, images=args.images, sequence=args.sequence, coco=coco,
                               which=args.figures, size=args.size, max_images=args.max_images,
                               max_tokens=args.max_tokens, seed=args.seed)
    for name, path in written.items():
        print(f"{name}: {path}")
    return 0
