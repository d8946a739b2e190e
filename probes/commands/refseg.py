"""Referring segmentation probe (paper, Table 2): LISA on the LLaVA-NeXT of the MLLM probe, SAM mask decoder.

The backbone is the frozen vision tower of LLaVA-NeXT (2x2+1 tiles at its native size); a [SEG] token's
last hidden state goes through LISA's projection into segment-anything's mask decoder. LoRA (r=8, alpha=16)
on the LLM's q/v, embed_tokens, lm_head, the projection and SAM's mask decoder train; the tower and
SAM's encoders are frozen. Scores: gIoU and cIoU (LISA's definitions), teacher-forced, per split.

  train   train + evaluate one run: RUNS_DIR/refseg/refer/<backbone>/<run_id>/ (config.yaml,
          metrics.json, predictions_<split>.json with COCO RLE masks, tb/, checkpoint.pt). Rerunning
          resumes an interrupted run and skips a finished one with the same identity.
  eval    re-score a run from its checkpoint on any splits (writes predictions and evaluation.json there)

data (--data): a folder in LISA's refer_seg layout (refcoco/refs(unc).p, refcoco+/refs(unc).p,
refcocog/refs(umd).p, each with instances.json; images/mscoco/images/train2014/), or a folder holding
refer_seg/: a toy world (`rice toyworld --out DIR`, RefCOCO, RefCOCO+ and RefCOCOg(umd)) or LISA's dataset
folder, which also holds the other mixture sources (ade20k/, cocostuff/ + coco/, vlpart/, mapillary/,
llava_dataset/, reason_seg/; see probes/refseg/README.md). Without --data: ./toyworld, written there by
rice.toyworld.generate when absent. Splits are named as LISA names them: refcoco|unc|val, refcoco|unc|testA,
refcoco+|unc|testB, refcocog|umd|test, ...
multi-GPU: torchrun --nproc_per_node N -m probes.cli refseg train ... (FSDP2, the MLLM probe's sharding)

examples:
  rice-probe refseg train --backbone mlcd-vit-tiny
  rice-probe refseg train --backbone mlcd-vit-tiny --data toy --config tiny
  rice-probe refseg train --backbone /models/rice-vit-large-patch14-560 --data /data/refer_seg --config lisa \\
      model.lisa.llm=/models/Qwen2.5-7B-Instruct model.sam.checkpoint=/models/sam_vit_h_4b8939.pth
  rice-probe refseg eval runs/refseg/refer/mlcd-vit-tiny/tiny-s0-0123456789 --splits 'refcoco+|unc|val'
"""

from __future__ import annotations

import argparse

from probes.commands.common import (PRESETS_ROOT, flag_overrides, print_metrics, print_record, require_backbone,
                                    resolve_config_path, resume_override)

HELP = "train + evaluate the LISA referring-segmentation probe (gIoU / cIoU on RefCOCO/+/g)"
PRESET_DIR = PRESETS_ROOT / "refseg"
FLAGS = (("backbone", "backbone"), ("data", "data.refer_root"), ("runs_dir", "output.runs_dir"),
         ("run_id", "output.run_id"), ("steps", "train.steps"), ("seed", "seed"), ("device", "train.device"))


def add_arguments(parser: argparse.ArgumentParser) -> None:
    sub = parser.add_subparsers(dest="action", required=True, metavar="{train,eval}")
    train = sub.add_parser("train", help="train and evaluate one run", description=__doc__,
                           formatter_class=parser.formatter_class)
    train.add_argument("--backbone", help="backbone registry name or local model directory; default: the config's")
    train.add_argument("--data", help="refer_seg folder, toy world or LISA dataset folder; default: the config's "
                                     "'data.refer_root', else ./toyworld (written when absent)")
    train.add_argument("--config", default="tiny", help=f"preset in {PRESET_DIR} (tiny, lisa) or a YAML file")
    train.add_argument("overrides", nargs="*", metavar="KEY=VALUE",
                       help="config overrides with dotted keys, e.g. train.steps=100 model.sam.kind=vit_h")
    train.add_argument("--runs-dir", help="root of the run directories (default: the config's output.runs_dir)")
    train.add_argument("--run-id", help="run directory name (default: <preset>-s<seed>-<identity hash>)")
    train.add_argument("--steps", type=int, help="shortcut for train.steps=N")
    train.add_argument("--seed", type=int, help="shortcut for seed=N")
    train.add_argument("--device", help="shortcut for train.device=DEVICE (auto, cpu, cuda, cuda:N)")
    train.add_argument("--allow-missing", action="store_true",
                       help="train on the mixture sources and splits that are present (the lisa preset otherwise "
                            "requires all of them and names what is missing)")
    train.add_argument("--resume", action=argparse.BooleanOptionalAction, default=True,
                       help="continue an interrupted run from its last checkpoint; --no-resume starts it over")
    train.add_argument("--quiet", action="store_true", help="no progress bars")
    ev = sub.add_parser("eval", help="re-score a run from its checkpoint", formatter_class=parser.formatter_class)
    ev.add_argument("run_dir", help="a run directory written by `rice-probe refseg train`")
    ev.add_argument("--splits", nargs="+", default=[], help="LISA split names (default: the run's eval splits)")
    ev.add_argument("--data", default="", help="refer_seg folder or toy world (default: the run's)")
    ev.add_argument("--quiet", action="store_true", help="no progress bars")


def build_config(args: argparse.Namespace):
    from probes.refseg.config import RefsegConfig
    from rice.config import load_config

    overrides = [*args.overrides, *flag_overrides(args, FLAGS)]
    if args.allow_missing:
        overrides.append("data.allow_missing=true")
    overrides += resume_override(args)
    cfg = load_config(RefsegConfig, resolve_config_path(args.config, PRESET_DIR), overrides).validate()
    require_backbone(cfg)
    return cfg


def run(args: argparse.Namespace) -> int:
    if args.action == "eval":
        from probes.refseg.probe import evaluate_run

        out = evaluate_run(args.run_dir, tuple(args.splits), args.data, progress=not args.quiet)
        print_metrics(f"refseg evaluation of {args.run_dir} (step {out['step']})", out["metrics"], width=28)
        return 0
    from probes.refseg import load_data, run as run_probe
    from rice.backbones import create_backbone

    cfg = build_config(args)
    data = load_data(cfg)  # every split is checked before anything is written
    backbone = create_backbone(cfg.backbone)
    record = run_probe(cfg, backbone, data, progress=not args.quiet)
    print_record("refseg", record, width=28)
    return 0
