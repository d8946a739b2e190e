"""Run the whole pipeline end to end on the built-in toy world, on a CPU, with no downloads:

  1. `rice toyworld`             synthetic scenes in COCO (and RefCOCO, GOT-10k, LLaVA) format
  2. `rice curate`               region shards: the toy masks, RapidOCR on the signs, k-means labels
  3. `rice pretrain` x 2         RICE (region + OCR + image losses) and the MLCD-style image-level baseline,
     `rice export`  x 2          same tiny ViT preset, seed, data and schedule; plus the untrained step-0 model
  4. on each frozen backbone (RICE, MLCD-style, random init), every probe of the suite:
     `rice-probe detection` x 3  Cascade Mask R-CNN (toy COCO val AP)
     `rice-probe mllm`      x 3  LLaVA-NeXT with a tiny Qwen2, scored by lmms-eval (toy VQA per question type)
     `rice-probe refseg`    x 3  LISA with a tiny SAM (toy RefCOCO val cIoU / gIoU)
     `rice-probe tracking`  x 3  OSTrack-style tracker (toy GOT-10k val AO / success)
  5. `rice-probe leaderboard`    OUT/results/leaderboard.{csv,md}, one wide table per probe
  6. figures                     OUT/figures/detection_ap.png, OUT/figures/pca_features.png

The full run takes about 13 minutes on 2 CPU cores (measured: 13m31s with a test suite beside it); `--fast`
(what the tests run) about 45 seconds on 2 idle cores. Rerunning
with the same --out skips finished steps and resumes the unfinished one.
"""

from __future__ import annotations

import argparse
import sys

HELP = "the whole pipeline end to end on the toy world: pretrain RICE and a baseline, probe, tables, pictures"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    from probes.demo import DemoConfig

    d = DemoConfig()
    a = parser.add_argument
    a("--out", required=True, help="output folder (resumable: rerun with the same --out and settings)")
    a("--fast", action="store_true", help="tiny sizes for a 1-2 minute smoke run (the test suite's)")
    a("--seed", type=int, help=f"seed of every step (default {d.seed})")
    g = parser.add_argument_group("sizes (default: the full preset, or the --fast one)")
    g.add_argument("--num-images", type=int, help=f"toy scenes, 80%% train / 20%% val (full: {d.num_images})")
    g.add_argument("--image-size", type=int, help=f"toy scene side, px (full: {d.image_size})")
    g.add_argument("--num-clusters", type=int, help=f"k-means centers K (full: {d.num_clusters})")
    g.add_argument("--pretrain-steps", type=int, help=f"steps of each pretraining run (full: {d.pretrain_steps})")
    g.add_argument("--pretrain-batch-size", type=int, help=f"(full: {d.pretrain_batch_size})")
    g.add_argument("--detection-iters", type=int, help=f"detection probe iterations per backbone "
                                                       f"(full: {d.detection_iters})")
    g.add_argument("--detection-size", type=int, help=f"detection train/test size, px (full: {d.detection_size})")
    g.add_argument("--eval-images", type=int, help="val images scored, 0 for all (default 0)")
    g.add_argument("--pca-images", type=int, help=f"images in the PCA figure (full: {d.pca_images})")
    g = parser.add_argument_group("components")
    g.add_argument("--embedder", help=f"curation's region embedder (default {d.embedder})")
    g.add_argument("--ocr", choices=["rapidocr", "paddleocr", "none"], help=f"OCR engine (default {d.ocr})")
    g.add_argument("--centers-init", action="store_true", default=None,
                   help="initialise the object class centers from curation's k-means centers")
    g.add_argument("--pretrain-config", help="pretraining YAML preset (default configs/pretrain/tiny.yaml)")
    g.add_argument("--detection-config", help="detection YAML preset (default configs/detection/tiny.yaml)")
    a("--threads", type=int, help="torch threads while the demo runs, 0 for torch's default (default 1: as fast "
                                  "for these tiny models, and immune to OpenMP spin-waits on a busy machine)")
    a("--no-progress", action="store_true", help="no progress bars from the underlying commands")
    for action in parser._actions:  # unset knobs fall back to the preset; keep "(default: None)" out of --help
        if action.default is None:
            action.default = argparse.SUPPRESS


def run(args: argparse.Namespace) -> int:
    from probes.demo import DemoConfig, run_demo
    from probes.demo.steps import StepFailed

    knobs = ("seed", "num_images", "image_size", "num_clusters", "pretrain_steps", "pretrain_batch_size",
             "detection_iters", "detection_size", "eval_images", "pca_images", "embedder", "ocr", "centers_init",
             "pretrain_config", "detection_config", "threads")
    cfg = DemoConfig.create(fast=args.fast, out_dir=args.out, progress=not args.no_progress,
                            **{k: getattr(args, k, None) for k in knobs})
    try:
        run_demo(cfg)
    except StepFailed as err:
        print(f"rice-probe demo: error: {err}", file=sys.stderr)
        return 1
    return 0
