"""Pretrain a RICE model on region shards (paper 3.2-3.3, 4.1): object, OCR and image cluster losses with
sharded Partial FC centers. Runs as one process here, or under torchrun on many GPUs:

    rice pretrain --config configs/pretrain/tiny.yaml --curated SHARDS --out RUN
    torchrun --nproc-per-node 8 -m rice.cli pretrain --config configs/pretrain/vit_b16.yaml --curated SHARDS --out RUN
    rice pretrain --config configs/pretrain/vit_b16_512.yaml --curated SHARDS --out RUN512 init_from=RUN

`--curated SHARDS` reads the shards and the overrides `rice curate` wrote for them (SHARDS/curate_config.json's
pretrain_overrides: K, the OCR vocabulary, centers.npy, k); `--data` reads shards without them.
Rerunning with the same --out resumes from the last checkpoint (exactly, with the same losses); a
different resolved configuration in that folder is refused unless --resume-anyway.
Overrides are dotted `key=value` pairs after the options, e.g. `loop.max_steps=500 loss.region_losses=false`;
they come after the curated ones.
"""

from __future__ import annotations

import argparse
from pathlib import Path

HELP = "train RICE on region shards (resumable; torchrun for many processes)"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--config", required=True, help="YAML preset, e.g. configs/pretrain/tiny.yaml")
    data = parser.add_mutually_exclusive_group(required=True)
    data.add_argument("--curated", metavar="SHARDS",
                      help="a `rice curate --out` folder: its shards plus its curate_config.json pretrain_overrides")
    data.add_argument("--data", help="shard folder, file, glob or {000..009} range from `rice curate`")
    parser.add_argument("--out", required=True, type=Path, help="run directory (checkpoints, TensorBoard, config)")
    parser.add_argument("--skip-bad", action="store_true",
                        help="skip and count bad samples (corrupt image, bad region) instead of stopping")
    parser.add_argument("--resume-anyway", action="store_true",
                        help="continue a run in --out whose saved config or data differs (the old one is kept as "
                             "config.previous.yaml)")
    parser.add_argument("--device", default="auto", help="auto | cpu | cuda | cuda:N")
    parser.add_argument("--threads", type=int, default=0,
                        help="torch CPU threads per process; 0 leaves torch's choice (all cores)")
    parser.add_argument("overrides", nargs="*", help="dotted key=value config overrides")


def curated_overrides(folder: str) -> list[str]:
    """The `pretrain_overrides` list `rice curate` wrote into FOLDER/curate_config.json."""
    from rice.curate.files import read_json

    path = Path(folder) / "curate_config.json"
    if not path.is_file():
        raise FileNotFoundError(f"--curated {folder}: no curate_config.json (not a `rice curate --out` folder, "
                                "or curation has not finished); use --data for plain shards")
    overrides = read_json(path).get("pretrain_overrides")
    if not isinstance(overrides, list):
        raise ValueError(f"{path}: field 'pretrain_overrides' is missing (curation has not finished)")
    return [str(o) for o in overrides]


def run(args: argparse.Namespace) -> int:
    from rice.train.run_dir import check_device

    check_device(args.device)
    if args.threads < 0:
        raise ValueError(f"--threads {args.threads}: must be >= 0")
    import torch

    from rice.config import load_config
    from rice.train.dist import init_distributed
    from rice.train.pretrain import pretrain
    from rice.train.pretrain_config import PretrainConfig

    if args.threads:
        torch.set_num_threads(args.threads)
    curated = curated_overrides(args.curated) if args.curated else []
    overrides = curated + list(args.overrides) + (["data.skip_bad=true"] if args.skip_bad else [])
    cfg = load_config(PretrainConfig, args.config, overrides)
    rows = pretrain(cfg, args.curated or args.data, args.out, init_distributed(args.device),
                    resume_anyway=args.resume_anyway)
    if rows:
        print(f"step {rows[-1]['step']}: loss {rows[-1]['total']:.4f} -> {args.out}")
    return 0
