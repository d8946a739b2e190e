"""Train and evaluate the OSTrack-style tracking probe on a frozen backbone (paper, Sec. 4.4, Table 4).

The backbone stays frozen (reached through forward_features only); two ViT blocks over the template +
search tokens and OSTrack's center head are trained (GIoU 2 + L1 5 + focal 1), then the eval split is
tracked (cached template, Hann window) and scored: GOT-10k AO/SR0.5/SR0.75 as the got10k toolkit defines
them, success AUC / precision@20 / normalized precision@0.2 as pytracking does. Runs go to
RUNS_DIR/tracking/<dataset>/<backbone>/<run_id>/ (config.yaml, metrics.json, results/ in the benchmark's
format, tb/, checkpoint.pt); rerunning resumes an interrupted run and skips a finished one.
Multi-GPU: `torchrun --nproc-per-node 8 -m probes.cli tracking train ...` (batch split over ranks).

  train   train the probe, then evaluate it on --eval
  eval    evaluate a finished (or checkpointed) run's tracker again on --eval, into a new run directory

datasets (KIND:DIR[:SPLIT]):
  toy:DIR               the toy world (`rice toyworld DIR`), GOT-10k folders in DIR/got10k
  got10k:DIR[:SPLIT]    train | val | test (test: results + server zip, no local metrics)
  lasot:DIR[:SPLIT]     train | test | all (test = DIR/testing_set.txt)
  trackingnet:DIR[:C]   TRAIN_0,TRAIN_1,... | train | TEST (TEST: submission zip)
  tnl2k:DIR             TNL2K test folders
  coco:DIR[:SPLIT]      COCO 2017 objects as static pairs (training only)

examples:
  rice-probe tracking train --backbone rice-vit-tiny --train toy:toy --eval toy:toy:val --config tiny
  rice-probe tracking train --backbone /models/rice-vit-large --config got10k \\
      --train got10k:/data/got10k:train --eval got10k:/data/got10k:test
  rice-probe tracking eval --run runs/tracking/toy/rice-vit-tiny/tiny-s0-ab12 --eval toy:toy:val
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from probes.commands.common import (PRESETS_ROOT, flag_overrides, print_record, require_backbone,
                                    resolve_config_path, resume_override)

HELP = "train + evaluate the OSTrack-style tracking probe on a frozen backbone"
PRESET_DIR = PRESETS_ROOT / "tracking"
FLAGS = (("eval_spec", "data.eval"), ("runs_dir", "output.runs_dir"), ("run_id", "output.run_id"),
         ("device", "train.device"), ("backbone", "backbone"), ("epochs", "train.epochs"), ("seed", "seed"))


def _common(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--eval", dest="eval_spec", help="eval dataset spec; default: the config's 'data.eval'")
    parser.add_argument("overrides", nargs="*", metavar="KEY=VALUE",
                        help="config overrides with dotted keys, e.g. train.lr=2e-4 crop.search_size=384")
    parser.add_argument("--runs-dir", help="root of the run directories (default: the config's output.runs_dir)")
    parser.add_argument("--run-id", help="run directory name (default: <preset>-s<seed>-<identity hash>)")
    parser.add_argument("--device", help="shortcut for train.device=DEVICE (auto, cpu, cuda, cuda:N)")
    parser.add_argument("--quiet", action="store_true", help="no progress bars")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    sub = parser.add_subparsers(dest="action", required=True, metavar="{train,eval}")
    tr = sub.add_parser("train", help="train the probe, then evaluate it",
                        formatter_class=parser.formatter_class)
    tr.add_argument("--backbone", help="backbone registry name, timm:/open_clip: spec or local model directory")
    tr.add_argument("--config", default="tiny", help=f"preset in {PRESET_DIR} (tiny, got10k, full) or a YAML file")
    tr.add_argument("--train", dest="train_specs", action="append",
                    help="training dataset spec (repeat for a mixture); default: the config's 'data.train'")
    tr.add_argument("--epochs", type=int, help="shortcut for train.epochs=N")
    tr.add_argument("--seed", type=int, help="shortcut for seed=N")
    tr.add_argument("--resume", action=argparse.BooleanOptionalAction, default=True,
                    help="continue an interrupted run from its checkpoint; --no-resume starts it over")
    _common(tr)
    ev = sub.add_parser("eval", help="evaluate a trained run's tracker on another split",
                        formatter_class=parser.formatter_class)
    ev.add_argument("--run", required=True, help="a run directory written by `rice-probe tracking train`")
    ev.add_argument("--backbone", help="the backbone the run was trained on (default: the run's config)")
    _common(ev)


def build_config(args: argparse.Namespace, config_path: Path):
    from rice.config import load_config
    from tracking.config import TrackingConfig

    overrides = [*args.overrides, *flag_overrides(args, FLAGS)]
    if getattr(args, "train_specs", None):
        overrides.append(f"data.train={json.dumps(args.train_specs)}")
    overrides += resume_override(args)
    cfg = load_config(TrackingConfig, config_path, overrides).validate()
    require_backbone(cfg)
    return cfg


def run(args: argparse.Namespace) -> int:
    from rice.backbones import create_backbone
    from tracking.probe import load_data, run as run_probe

    if args.action == "train":
        cfg = build_config(args, resolve_config_path(args.config, PRESET_DIR))
        data = load_data(cfg)  # validated before anything is written
        record = run_probe(cfg, create_backbone(cfg.backbone), data, progress=not args.quiet)
    else:
        from tracking.probe import evaluate_run

        run_dir = Path(args.run)
        if not (run_dir / "config.yaml").is_file() or not (run_dir / "checkpoint.pt").is_file():
            raise FileNotFoundError(f"--run {run_dir}: not a tracking run (needs config.yaml and checkpoint.pt)")
        args.overrides = ['output.run_id=""', *args.overrides]  # a new directory, not the trained run's
        cfg = build_config(args, run_dir / "config.yaml")
        data = load_data(cfg)
        record = evaluate_run(cfg, create_backbone(cfg.backbone), run_dir, data, progress=not args.quiet)
    if not record.record:  # a non-zero rank under torchrun
        return 0
    print_record("tracking", record, width=15)
    return 0
