"""`init_from`: start a pretraining run from a finished one (the paper's second stage, section 4.1).

The ViT, the region head and both class-center banks are copied from the last checkpoint of the source run;
the optimizer, the learning-rate schedule and the step count start fresh (a new run with its own
`loop.max_steps`, typically at a higher `model.vision.image_size` and `optim.lr` / 10). The ViT has no
absolute position embedding (2D RoPE), so its weights load at any resolution. Center banks are sharded over
ranks; the source run may have had another world size: each rank copies the rows it owns from whichever
source shards hold them.
"""

from __future__ import annotations

from pathlib import Path

import torch
import yaml
from torch import nn

from rice.loss.dist import shard_range

from .checkpoint import latest_checkpoint, load_checkpoint

BANKS = ("loss.object_fc.centers", "loss.ocr_fc.centers")


def init_checkpoints(run: Path) -> list[Path]:
    """The last checkpoint of every rank of a finished run, rank order; FileNotFoundError naming what is missing."""
    run = Path(run)
    if not (run / "config.yaml").is_file():
        raise FileNotFoundError(f"init_from={run}: not a `rice pretrain` run directory (no config.yaml)")
    ranks = sorted((run / "ckpt").glob("rank*"), key=lambda p: int(p.name[4:]) if p.name[4:].isdigit() else -1)
    paths = [latest_checkpoint(r) for r in ranks]
    if not paths or any(p is None for p in paths):
        raise FileNotFoundError(f"init_from={run}: no checkpoint under {run / 'ckpt'} for every rank")
    steps = {int(p.name[5:13]) for p in paths}  # step-XXXXXXXX.pt
    if len(steps) != 1:
        raise ValueError(f"init_from={run}: ranks stopped at different steps {sorted(steps)}")
    max_steps = (yaml.safe_load((run / "config.yaml").read_text()) or {}).get("loop", {}).get("max_steps")
    if max_steps is not None and steps != {max_steps}:
        raise ValueError(f"init_from={run}: the run is not finished (step {steps.pop()} of loop.max_steps="
                         f"{max_steps}); finish it first (rerun its `rice pretrain` command)")
    return paths  # type: ignore[return-value]


def load_init(module: nn.Module, run: Path) -> int:
    """Copy weights and this rank's center rows from `run` into `module` (a PretrainModule); return the step."""
    paths = init_checkpoints(run)
    state = load_checkpoint(paths[0])
    model_state = {k: v for k, v in state["model"].items() if k not in BANKS}
    missing, unexpected = module.load_state_dict(model_state, strict=False)
    missing = [k for k in missing if k not in BANKS]
    if missing or unexpected:
        raise ValueError(f"init_from={run}: its model does not match this config's (missing {missing[:3]}, "
                         f"unexpected {unexpected[:3]}); keep model.* except model.vision.image_size")
    for key in BANKS:
        _copy_bank(module, key, paths, run, first=state)
    return int(state["step"])


def _copy_bank(module: nn.Module, key: str, paths: list[Path], run: Path, first: dict) -> None:
    bank = module.get_submodule(key.rsplit(".", 1)[0])  # a PartialFC: this rank owns rows [start, end)
    target, (start, end) = bank.centers, bank.class_range
    num_classes, world = bank.num_classes, len(paths)
    for rank, path in enumerate(paths):
        lo, hi = shard_range(num_classes, world, rank)
        a, b = max(lo, start), min(hi, end)
        if a >= b:
            continue
        rows = (first if rank == 0 else load_checkpoint(path))["model"][key]  # (hi - lo, D)
        if rows.shape != (hi - lo, target.shape[1]):
            raise ValueError(f"init_from={run}: {key} of rank {rank} has shape {tuple(rows.shape)}, this config "
                             f"needs {(hi - lo, target.shape[1])} (loss.num_*_classes and model.embed_dim must match)")
        with torch.no_grad():
            target[a - start:b - start].copy_(rows[a - lo:b - lo])
