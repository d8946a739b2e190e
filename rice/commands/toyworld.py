"""Write the toy world: deterministic synthetic scenes (shapes with exact masks, signs with
OCR-readable words) in the real dataset formats: COCO instances, RefCOCO (refer API layout),
GOT-10k sequences, LLaVA conversations, and a plain image folder for curation.
The same seed and settings give byte-identical files."""

from __future__ import annotations

import argparse

HELP = "write the deterministic synthetic toy world in COCO / RefCOCO / GOT-10k / LLaVA formats"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    from rice.toyworld import ToyWorldConfig

    d = ToyWorldConfig()
    parser.add_argument("--out", required=True, help="output folder (must be absent or empty unless --overwrite)")
    parser.add_argument("--num-images", type=int, default=d.num_images, help="scenes in total (train + val)")
    parser.add_argument("--seed", type=int, default=d.seed)
    parser.add_argument("--image-size", type=int, default=d.image_size, help="side of the square scenes, px")
    parser.add_argument("--val-fraction", type=float, default=d.val_fraction)
    parser.add_argument("--max-objects", type=int, default=d.max_objects, help="shapes per scene, at most")
    parser.add_argument("--num-sequences", type=int, default=d.num_sequences, help="GOT-10k sequences (train + val)")
    parser.add_argument("--min-frames", type=int, default=d.min_frames, help="frames per sequence, at least")
    parser.add_argument("--max-frames", type=int, default=d.max_frames, help="frames per sequence, at most")
    parser.add_argument("--frame-size", type=int, nargs=2, default=list(d.frame_size), metavar=("W", "H"),
                        help="GOT-10k frame width and height, px")
    parser.add_argument("--overwrite", action="store_true", help="replace a non-empty output folder")
    parser.add_argument("--no-progress", action="store_true", help="no progress bars")


def run(args: argparse.Namespace) -> int:
    from rice.toyworld import generate

    summary = generate(args.out, overwrite=args.overwrite, progress=not args.no_progress,
                       num_images=args.num_images, seed=args.seed, image_size=args.image_size,
                       val_fraction=args.val_fraction, max_objects=args.max_objects,
                       num_sequences=args.num_sequences, min_frames=args.min_frames, max_frames=args.max_frames,
                       frame_size=tuple(args.frame_size))
    gt = summary.got10k
    print(f"toy world written to {summary.out_dir}")
    print(f"  coco:      {summary.images['train']} train / {summary.images['val']} val images, "
          f"{sum(summary.annotations.values())} annotations ({summary.signs} signs)")
    print(f"  refer_seg: {summary.refer['refs']} refs, {summary.refer['sentences']} expressions")
    print(f"  got10k:    {gt['train']['sequences']} train / {gt['val']['sequences']} val sequences, "
          f"{gt['train']['frames'] + gt['val']['frames']} frames")
    print(f"  llava:     {summary.llava['train']} train conversations, {summary.llava['val']} val questions")
    print(f"  time:      {sum(summary.seconds.values()):.1f} s")
    return 0
