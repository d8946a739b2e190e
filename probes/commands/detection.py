"""Train and evaluate the detection probe: Cascade Mask R-CNN on a frozen backbone (paper, Sec. 4.3).

The backbone stays frozen; a simple feature pyramid (max-pool / unpool, or ViTDet's deconvolutions),
an RPN, three cascade stages (IoU 0.5/0.6/0.7) and a mask head are trained, then the eval split is
scored with pycocotools COCOeval (or LVISEval for LVIS). The run is written to
RUNS_DIR/detection/<dataset>/<backbone>/<run_id>/ (config.yaml, metrics.json, detections_*.json,
tb/, checkpoint.pt, identity.json). The default run id carries a fingerprint of the config, the
backbone's weights and the annotation files: a rerun resumes an interrupted run and skips a finished
one only when all three are the same; re-exported weights or changed annotations at the same paths
are a new run.

datasets (--data):
  coco:DIR      DIR/annotations/instances_{train,val}2017.json, DIR/{train,val}2017/
  lvis:DIR      DIR/annotations/lvis_v1_{train,val}.json, COCO images in DIR/{train,val}2017/
  toy:DIR       the toy world (`rice toyworld --out DIR`): DIR/coco/annotations/instances_{train,val}.json
  cocofmt:TRAIN.json:IMAGES[:VAL.json:VAL_IMAGES]
                any COCO-format set; evaluates on the training file when no val pair is given

examples:
  rice-probe detection --backbone rice-vit-tiny --data toy:toy --config tiny
  rice-probe detection --backbone /models/rice-vit-base --data coco:/data/coco --config vitdet_b16_512
  rice-probe detection --backbone /models/rice-vit-base --data lvis:/data/lvis --config lvis_vitdet_b16_512
  rice-probe detection --backbone clip-vit-tiny --data toy:toy train.lr=2e-3 model.pyramid.kind=deconv
"""

from __future__ import annotations

import argparse
import sys

from probes.commands.common import (PRESETS_ROOT, flag_overrides, print_record, require_backbone,
                                    resolve_config_path, resume_override)

HELP = "train + evaluate the Cascade Mask R-CNN detection probe on a frozen backbone"
PRESET_DIR = PRESETS_ROOT / "detection"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--backbone", help="backbone registry name, timm:/open_clip: spec or local model directory "
                                           "(`rice backbones` lists the names); default: the config's 'backbone'")
    parser.add_argument("--data", help="dataset spec, see above; default: the config's 'data.spec'")
    parser.add_argument("--config", default="tiny",
                        help=f"preset name in {PRESET_DIR} (tiny, vitdet_b16_512, lvis_vitdet_b16_512) or a YAML file "
                             "(a run's config.yaml works too)")
    parser.add_argument("overrides", nargs="*", metavar="KEY=VALUE",
                        help="config overrides with dotted keys, e.g. train.lr=2e-4 model.pyramid.kind=deconv")
    parser.add_argument("--runs-dir",
                        help="root of the run directories (default: the config's output.runs_dir, 'runs')")
    parser.add_argument("--run-id", help="run directory name; default: <preset>-s<seed>-<hash of the config, the "
                                         "backbone's weights and the annotation files>")
    parser.add_argument("--max-iters", type=int, help="shortcut for train.max_iters=N")
    parser.add_argument("--seed", type=int, help="shortcut for seed=N")
    parser.add_argument("--device", help="shortcut for train.device=DEVICE (auto, cpu, cuda, cuda:N)")
    parser.add_argument("--resume", action=argparse.BooleanOptionalAction, default=True,
                        help="continue an interrupted run from its last checkpoint; --no-resume starts it over "
                             "(a finished run is always skipped: delete it or pass another --run-id)")
    parser.add_argument("--quiet", action="store_true", help="no progress bars")


FLAGS = (("backbone", "backbone"), ("data", "data.spec"), ("runs_dir", "output.runs_dir"), ("run_id", "output.run_id"),
         ("max_iters", "train.max_iters"), ("seed", "seed"), ("device", "train.device"))


def build_config(args: argparse.Namespace):
    from rice.config import load_config
    from probes.detection.config import DetectionConfig

    overrides = [*args.overrides, *flag_overrides(args, FLAGS), *resume_override(args)]
    cfg = load_config(DetectionConfig, resolve_config_path(args.config, PRESET_DIR), overrides).validate()
    require_backbone(cfg)
    if not cfg.data.spec:
        raise ValueError("no dataset: pass --data SPEC (or set 'data.spec' in the config)")
    return cfg


def run(args: argparse.Namespace) -> int:
    from probes.detection import load_dataset, run as run_probe
    from probes.detection.probe import preflight
    from rice.backbones import create_backbone

    cfg = build_config(args)
    preflight(cfg)  # the device exists: checked before the data and the backbone are loaded
    data = load_dataset(cfg.data.spec, cfg.data.degenerate_boxes)  # validated before anything is written
    splits = {"train": data.train, **({"eval": data.eval} if data.eval is not data.train else {})}
    for name, split in splits.items():
        if split.skipped:
            reasons = ", ".join(f"{n} {why.replace('_', ' ')}" for why, n in split.skipped.items())
            print(f"{split.files.annotations}: skipped {split.skipped_annotations} {name} annotations ({reasons})",
                  file=sys.stderr)
    backbone = create_backbone(cfg.backbone)
    record = run_probe(cfg, backbone, data, progress=not args.quiet)
    print_record("detection", record, width=12)
    return 0
