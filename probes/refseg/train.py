"""LISA's optimisation: AdamW, linear warm-up then linear decay to 0, gradient accumulation, clipping,
bf16 autocast on GPU; a checkpoint every `checkpoint_every` optimizer steps and resume from the last one.

A checkpoint holds what training changes (trainable parameters, optimizer, scheduler, step, RNG state),
not the frozen backbone / SAM encoders, which the run identity already pins by content.
"""

from __future__ import annotations

import time

import torch
from torch.utils.tensorboard import SummaryWriter

from rice.progress import progress as progress_bar

from ..records import RunDir
from .config import MIXTURE_SOURCES, TrainConfig
from .data import Batcher, to_device
from .distributed import gather_state, load_state, mean_over_ranks, sum_over_ranks
from .loss import lisa_loss
from .mixture import Mixture
from .model import LisaModel


def resolve_device(name: str) -> torch.device:
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(name)


def autocast_dtype(cfg: TrainConfig, device: torch.device) -> torch.dtype | None:
    if cfg.dtype == "bfloat16" or (cfg.dtype == "auto" and device.type == "cuda"):
        return torch.bfloat16
    return None


def warmup_decay(step: int, warmup: int, total: int) -> float:
    """LR factor: linear 0 -> 1 over `warmup` steps, then linear 1 -> 0 at `total` (DeepSpeed WarmupDecayLR)."""
    if step < warmup:
        return (step + 1) / warmup
    return max(0.0, (total - step) / max(1, total - warmup))


def make_optimizer(model: LisaModel, cfg: TrainConfig):
    params = [p for p in model.parameters() if p.requires_grad]
    opt = torch.optim.AdamW(params, lr=cfg.lr, betas=tuple(cfg.betas), weight_decay=cfg.weight_decay)
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda s: warmup_decay(s, cfg.warmup_steps, cfg.steps))
    return opt, sched


def train(model: LisaModel, mixture: Mixture, batcher: Batcher, cfg: TrainConfig, seed: int, run_dir: RunDir,
          device: torch.device, progress: bool = True, rank: int = 0, world_size: int = 1) -> dict:
    """Train in place (sharded with `distributed.shard_lisa` when world_size > 1; every rank calls this);
    returns {"seconds", "resumed_from", "last_loss", "samples_by_source"}. Rank 0 writes the checkpoint and
    TensorBoard; the logged losses are means over ranks."""
    opt, sched = make_optimizer(model, cfg)
    main = rank == 0
    start = 0
    state = run_dir.load_checkpoint()
    if state is not None:
        load_state(model, opt, state["model"], state["optimizer"])
        sched.load_state_dict(state["scheduler"])
        start = int(state["step"])
        torch.set_rng_state(state["rng"])  # LoRA dropout draws: a resumed run equals an uninterrupted one
    resumed_from = start
    amp = autocast_dtype(cfg, device)
    writer = SummaryWriter(str(run_dir.tensorboard_dir)) if main else None
    t0 = time.time()
    last: dict[str, float] = {}
    drawn: dict[str, int] = {}  # samples per source drawn by this (possibly resumed) process, summed over ranks
    model.train()
    model.sam.image_encoder.eval()
    accum = cfg.grad_accumulation
    for step in progress_bar(range(start, cfg.steps), total=cfg.steps - start, desc="refseg train",
                             disable=not progress or not main):
        opt.zero_grad(set_to_none=True)
        parts = {"loss": 0.0, "ce": 0.0, "bce": 0.0, "dice": 0.0}
        groups = mixture.micro_batches(seed, step, cfg.batch_size, accum * world_size)  # the global step's
        for group in groups[rank * accum:(rank + 1) * accum]:
            for sample in group:
                drawn[sample.source] = drawn.get(sample.source, 0) + 1
            batch = to_device(batcher(group), device)
            with torch.autocast(device.type, dtype=amp, enabled=amp is not None):
                ce, logits = model(batch)
                out = lisa_loss(ce, [None if m is None else m.float() for m in logits], batch["masks"], cfg.loss)
            (out["loss"] / cfg.grad_accumulation).backward()
            for key in parts:
                parts[key] += float(out[key].detach()) / cfg.grad_accumulation
        if cfg.grad_clip > 0:
            torch.nn.utils.clip_grad_norm_([p for p in model.parameters() if p.requires_grad], cfg.grad_clip)
        opt.step()
        sched.step()
        last = parts = mean_over_ranks(parts, device)
        done = step + 1
        if main and (done % cfg.log_every == 0 or done == cfg.steps):
            for key, value in parts.items():
                writer.add_scalar(f"train/{key}", value, done)
            writer.add_scalar("train/lr", sched.get_last_lr()[0], done)
        if done % cfg.checkpoint_every == 0 or done == cfg.steps:
            model_sd, optim_sd = gather_state(model, opt)  # a collective when sharded: every rank calls it
            if main:
                run_dir.save_checkpoint({"model": model_sd, "optimizer": optim_sd, "scheduler": sched.state_dict(),
                                         "step": done, "rng": torch.get_rng_state(), "world_size": world_size})
            if world_size > 1:
                torch.distributed.barrier()
    if writer is not None:
        writer.close()
    drawn = sum_over_ranks(drawn, MIXTURE_SOURCES, device)
    return {"seconds": time.time() - t0, "resumed_from": resumed_from, "last_loss": last, "samples_by_source": drawn}
