"""Train and evaluate the MLLM probe: LLaVA-NeXT on a frozen backbone, scored with lmms-eval (paper, Table 1).

The backbone becomes the LLaVA-NeXT vision tower (strict 2x2+1 anyres tiles at its native resolution), a
two-layer MLP projector connects it to the LLM. `train` runs stage 1 (projector only, captions in the
LCS-558K layout) and stage 2 (projector + LLM, LLaVA conversations), saves a standard Hugging Face
LLaVA-NeXT directory (RUN/hf/) and scores it with lmms-eval 0.7.3 (`llava_hf`): the packaged toy tasks in this process, standard tasks
(OCRBench, DocVQA, ...) one process each; a standard task whose dataset is not present locally is
refused before any model is loaded.
The run goes to RUNS_DIR/mllm/<dataset>/<backbone>/<run_id>/ (config.yaml, metrics.json, stage*.pt,
hf/, eval/<task>/ with lmms-eval's result and sample files, tb/). Rerunning resumes an interrupted run and
skips a finished one. Multi-GPU: launch with torchrun; training is sharded with torch FSDP2.
`eval` scores any saved LLaVA-NeXT directory (a run's hf/) with lmms-eval and prints the scores.

examples:
  rice-probe mllm train --backbone rice-vit-tiny --data toy:toy --config tiny
  torchrun --nproc_per_node 8 -m probes.cli mllm train --backbone rice-vit-l-14-560 --config qwen2.5-7b
  rice-probe mllm train --backbone clip-vit-tiny --data toy:toy --tower-lr 2e-6 stage2.epochs=8
  rice-probe mllm eval --checkpoint runs/mllm/toy/rice-vit-tiny/RUN/hf --data toy:toy --tasks toyvqa
  rice-probe mllm eval --checkpoint RUN/hf --tasks ocrbench,docvqa_val --include-path /data/lmms_tasks
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

HELP = "train + evaluate the LLaVA-NeXT MLLM probe (lmms-eval) on a frozen backbone"
PRESET_DIR = Path(__file__).resolve().parents[2] / "configs" / "mllm"


def _common(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--data", help="'toy:DIR' (the toy world written by `rice toyworld DIR`); "
                                       "the config's data files when not given")
    parser.add_argument("--config", default="tiny",
                        help=f"preset name in {PRESET_DIR} (tiny, qwen2.5-7b) or a YAML file (a run's config.yaml)")
    parser.add_argument("--tasks", help="comma-separated lmms-eval tasks; the config's eval.tasks when not given")
    parser.add_argument("--include-path", help="extra lmms-eval task folder (the package's toy tasks are always there)")
    parser.add_argument("--limit", type=int, help="lmms-eval --limit: documents per task")
    parser.add_argument("overrides", nargs="*", metavar="KEY=VALUE",
                        help="config overrides with dotted keys, e.g. stage2.lr=2e-5 model.tiling=pinpoints")
    parser.add_argument("--quiet", action="store_true", help="no progress bars")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    sub = parser.add_subparsers(dest="mllm_command", required=True, metavar="{train,eval}")
    train = sub.add_parser("train", help="stage 1 + stage 2 training, then lmms-eval", description=__doc__,
                           formatter_class=parser.formatter_class)
    train.add_argument("--backbone", help="backbone registry name or local model directory (`rice backbones`)")
    train.add_argument("--llm", help="'tiny' or a causal-LM directory with a chat template (Qwen2.5-7B-Instruct)")
    train.add_argument("--tower-lr", type=float,
                       help="train the tower in stage 2 at this lr (LLaVA-NeXT: 2e-6); 0 keeps it frozen; "
                            "recorded in the protocol")
    train.add_argument("--runs-dir", help="root of the run directories; the config's output.runs_dir when not given")
    train.add_argument("--run-id", help="run directory name; <preset>-s<seed>-<identity hash> when not given")
    train.add_argument("--seed", type=int, help="shortcut for seed=N")
    train.add_argument("--device", help="shortcut for train.device=DEVICE (auto, cpu, cuda)")
    train.add_argument("--resume", action=argparse.BooleanOptionalAction, default=True,
                       help="continue an interrupted run from its last checkpoint; --no-resume starts it over")
    _common(train)
    ev = sub.add_parser("eval", help="score a saved LLaVA-NeXT directory with lmms-eval", description=__doc__,
                        formatter_class=parser.formatter_class)
    ev.add_argument("--checkpoint", required=True, help="Hugging Face LLaVA-NeXT directory (a run's hf/)")
    ev.add_argument("--out", help="where lmms-eval writes; CHECKPOINT/../eval_<tasks> when not given")
    _common(ev)


def build_config(args: argparse.Namespace):
    from mllm.config import MLLMConfig
    from probes.commands.common import resolve_config_path
    from rice.config import load_config

    overrides = list(args.overrides)
    flags = [("data", "data.spec"), ("include_path", "eval.include_path"), ("limit", "eval.limit")]
    if args.mllm_command == "train":
        flags += [("backbone", "backbone"), ("llm", "llm"), ("tower_lr", "train.tower_lr"),
                  ("runs_dir", "output.runs_dir"), ("run_id", "output.run_id"), ("seed", "seed"),
                  ("device", "train.device")]
        overrides.append(f"output.resume={'true' if args.resume else 'false'}")
    for flag, key in flags:
        value = getattr(args, flag)
        if value is not None:
            overrides.append(f"{key}={json.dumps(value) if isinstance(value, str) else value}")
    if args.tasks:
        overrides.append(f"eval.tasks={json.dumps([t for t in args.tasks.split(',') if t])}")
    return load_config(MLLMConfig, resolve_config_path(args.config, PRESET_DIR), overrides).validate()


def run(args: argparse.Namespace) -> int:
    from mllm.probe import evaluate_checkpoint, load_data, resolve_data

    cfg = resolve_data(build_config(args))
    if args.mllm_command == "eval":
        ckpt = Path(args.checkpoint).expanduser()
        if not (ckpt / "config.json").is_file():
            raise FileNotFoundError(f"--checkpoint {ckpt}: not a Hugging Face model directory (no config.json)")
        data = load_data(cfg) if cfg.data.stage2_json else None
        out = Path(args.out) if args.out else ckpt.parent / f"eval_{'_'.join(cfg.eval.tasks)}"
        metrics, details = evaluate_checkpoint(ckpt, cfg, data, out)
        from probes.records import atomic_write_json

        atomic_write_json(out / "scores.json", {"checkpoint": str(ckpt), "metrics": metrics, "evaluations": details})
        print(f"mllm eval: {out / 'scores.json'}")
    else:
        from mllm.probe import run as run_probe
        from rice.backbones import create_backbone

        if not cfg.backbone:
            raise ValueError("no backbone: pass --backbone NAME (or set 'backbone' in the config)")
        data = load_data(cfg)  # validated before anything is written
        record = run_probe(cfg, create_backbone(cfg.backbone), data, progress=not args.quiet)
        if not record.record:  # a non-zero torchrun rank
            return 0
        state = "already finished, skipped" if record.skipped else "finished"
        print(f"mllm run {state}: {record.path}")
        metrics = record.metrics
    for key, value in metrics.items():
        print(f"  {key:<20} {value:6.2f}")
    sys.stdout.flush()
    return 0
