"""The shared training loop: AMP, clipping, schedules, logging, atomic checkpoints and exact resume.

The caller owns the model and the data; the loop owns the step counter. `batches(start_step)` must yield the
batches for steps start_step, start_step + 1, ... deterministically, so that a run restarted from the
checkpoint of step k replays exactly the batches an uninterrupted run would have seen (bitwise on CPU).
Each rank checkpoints its own state (`ckpt/rank{r}/step-XXXXXXXX.pt`), because model-parallel parts such as
Partial FC's class-center shards differ per rank.
"""

from __future__ import annotations

import contextlib
import json
import random
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Callable, Iterable, Iterator, Protocol

import numpy as np
import torch
from torch import nn

from .checkpoint import (atomic_torch_save, atomic_write_text, checkpoint_path, latest_checkpoint, load_checkpoint,
                         prune_checkpoints, remove_orphaned_temp_files)
from .dist import DistInfo, all_reduce_mean
from .schedule import warmup_cosine


class Stateful(Protocol):
    def state_dict(self) -> dict: ...
    def load_state_dict(self, state: dict) -> Any: ...


@dataclass
class LoopConfig:
    max_steps: int = 1000
    warmup_steps: int = 100
    min_lr_ratio: float = 0.0
    grad_clip: float = 1.0  # max global norm over `clip_parameters`; 0 turns clipping off
    log_every: int = 10
    checkpoint_every: int = 100
    keep_checkpoints: int = 2
    amp: str = "auto"  # auto: bf16 autocast on CUDA, off on CPU | bf16 | off
    progress: bool = True


def rng_state() -> dict:
    state = {"torch": torch.get_rng_state(), "numpy": np.random.get_state(), "python": random.getstate()}
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def set_rng_state(state: dict) -> None:
    torch.set_rng_state(state["torch"])
    np.random.set_state(state["numpy"])
    random.setstate(state["python"])
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


def seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


class Trainer:
    def __init__(self, cfg: LoopConfig, model: nn.Module, optimizer: torch.optim.Optimizer, run_dir: Path,
                 dist_info: DistInfo, clip_parameters: Iterable[nn.Parameter] | None = None,
                 extra_state: dict[str, Stateful] | None = None):
        self.cfg = cfg
        self.model = model
        self.optimizer = optimizer
        self.scheduler = warmup_cosine(optimizer, cfg.warmup_steps, cfg.max_steps, cfg.min_lr_ratio)
        self.run_dir = Path(run_dir)
        self.dist = dist_info
        # replicated parameters only: a norm over sharded parts would differ per rank and desynchronise replicas
        self.clip_parameters = list(clip_parameters) if clip_parameters is not None else list(model.parameters())
        self.extra_state = extra_state or {}
        self.step = 0
        self.ckpt_dir = self.run_dir / "ckpt" / f"rank{dist_info.rank}"
        self.log_file = self.run_dir / "train_log.jsonl"

    # -- checkpoints ---------------------------------------------------------------------------
    def state_dict(self) -> dict:
        return {
            "step": self.step, "model": self.model.state_dict(), "optimizer": self.optimizer.state_dict(),
            "scheduler": self.scheduler.state_dict(), "rng": rng_state(),
            "extra": {k: v.state_dict() for k, v in self.extra_state.items()}, "config": asdict(self.cfg),
        }

    def save(self) -> Path:
        path = checkpoint_path(self.ckpt_dir, self.step)
        atomic_torch_save(self.state_dict(), path)
        prune_checkpoints(self.ckpt_dir, self.cfg.keep_checkpoints)
        return path

    def resume(self) -> bool:
        """Load this rank's latest checkpoint if there is one; return whether it did.

        Either way the run directory is brought back to the state of that step (step 0 without one): log
        rows past it are dropped and orphaned temp files of a killed write removed, so a run killed before
        its first checkpoint restarts clean instead of appending to its own half-written history.
        """
        remove_orphaned_temp_files(self.ckpt_dir)
        if self.dist.is_main:
            remove_orphaned_temp_files(self.run_dir)  # config / log writes
        path = latest_checkpoint(self.ckpt_dir)
        if path is None:
            self._truncate_log(0)
            return False
        state = load_checkpoint(path)
        self.model.load_state_dict(state["model"])
        self.optimizer.load_state_dict(state["optimizer"])
        self.scheduler.load_state_dict(state["scheduler"])
        for key, obj in self.extra_state.items():
            obj.load_state_dict(state["extra"][key])
        set_rng_state(state["rng"])
        self.step = state["step"]
        self._truncate_log(self.step)
        return True

    def _truncate_log(self, step: int) -> None:
        if self.dist.is_main and self.log_file.exists():
            kept = [l for l in self.log_file.read_text().splitlines() if l and json.loads(l)["step"] <= step]
            if kept:
                atomic_write_text(self.log_file, "".join(l + "\n" for l in kept))
            else:
                self.log_file.unlink()

    # -- the loop ------------------------------------------------------------------------------
    def _autocast(self):
        amp = self.cfg.amp
        on_cuda = self.dist.device.type == "cuda"
        if amp == "bf16" or (amp == "auto" and on_cuda):
            return torch.autocast(device_type=self.dist.device.type, dtype=torch.bfloat16)
        return contextlib.nullcontext()

    def fit(self, step_fn: Callable[[Any], dict[str, torch.Tensor]],
            batches: Callable[[int], Iterator[Any]]) -> list[dict]:
        """Train until `max_steps`; `step_fn(batch)` returns losses with key "total". Returns the logged rows."""
        from torch.utils.tensorboard import SummaryWriter

        from rice.progress import progress

        main = self.dist.is_main
        # events a killed run wrote past its last checkpoint (steps > self.step, as the log rows) are purged
        writer = SummaryWriter(str(self.run_dir / "tb"), purge_step=self.step + 1) if main else None
        bar = progress(total=self.cfg.max_steps, initial=self.step, desc="train",
                       disable=not (main and self.cfg.progress))
        rows, start = [], time.time()
        self.model.train()
        data = batches(self.step)
        while self.step < self.cfg.max_steps:
            batch = next(data)
            self.optimizer.zero_grad(set_to_none=True)
            with self._autocast():
                losses = step_fn(batch)
            losses["total"].backward()
            grad_norm = (torch.nn.utils.clip_grad_norm_(self.clip_parameters, self.cfg.grad_clip)
                         if self.cfg.grad_clip > 0 else torch.tensor(0.0))
            self.optimizer.step()
            self.scheduler.step()
            self.step += 1
            bar.update(1)
            if self.step % self.cfg.log_every == 0 or self.step == self.cfg.max_steps:
                row = {"step": self.step, "lr": self.scheduler.get_last_lr()[0], "grad_norm": float(grad_norm),
                       **{k: float(all_reduce_mean(v.detach().float())) for k, v in losses.items()},
                       "elapsed_s": round(time.time() - start, 3)}
                rows.append(row)
                if main:
                    bar.set_postfix(loss=f"{row['total']:.4f}")
                    for k, v in row.items():
                        if k != "step":
                            writer.add_scalar(f"train/{k}", v, self.step)
                    with self.log_file.open("a") as f:
                        f.write(json.dumps(row) + "\n")
            if self.step % self.cfg.checkpoint_every == 0 or self.step == self.cfg.max_steps:
                self.save()
        bar.close()
        if writer:
            writer.close()
        return rows
