"""The training loop: AdamW on the trainable blocks and head, StepLR, grad clipping, torchrun/DDP (world size 1
is a plain process: the same code without the wrapper), periodic atomic checkpoints, resume, TensorBoard.

A checkpoint holds the trainable weights, optimiser and scheduler state and the iteration; the data stream
is a function of (seed, sample id), so a run resumed at iteration k continues exactly where it stopped.
"""

from __future__ import annotations

import math
import time

import torch
from torch.nn.parallel import DistributedDataParallel
from torch.utils.data import DataLoader
from torch.utils.tensorboard import SummaryWriter

from probes.records import RunDir
from rice.progress import progress as progress_bar
from rice.train.dist import DistInfo, all_reduce_mean, barrier

from .config import LossConfig, TrainConfig
from .losses import tracking_loss
from .model import TrackerNet
from .sampling import PairDataset, StreamSampler


def gather_rng_states(dist: DistInfo) -> list[torch.Tensor]:
    """Every rank's CPU RNG state (rank 0 saves them all)."""
    state = torch.get_rng_state()
    if dist.world_size == 1:
        return [state]
    import torch.distributed as tdist

    states = [torch.empty_like(state) for _ in range(dist.world_size)]
    tdist.all_gather_object(states, state)
    return states


def lr_factor(it: int, cfg: TrainConfig, iters_per_epoch: int) -> float:
    return cfg.gamma if it >= cfg.lr_drop_epoch * iters_per_epoch else 1.0


def train(net: TrackerNet, dataset: PairDataset, cfg: TrainConfig, loss_cfg: LossConfig, iters_per_epoch: int,
          seed: int, run: RunDir, dist: DistInfo, progress: bool = True) -> dict:
    """Train from the run's checkpoint (if any) to epochs * iters_per_epoch; returns {iterations, seconds, ...}."""
    total = cfg.epochs * iters_per_epoch
    if cfg.batch_size % dist.world_size:
        raise ValueError(f"tracking config: field 'train.batch_size' = {cfg.batch_size}: must be divisible by the "
                         f"number of ranks ({dist.world_size})")
    optimizer = torch.optim.AdamW(net.trainable_parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)
    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, lambda it: lr_factor(it, cfg, iters_per_epoch))
    start = 0
    state = run.load_checkpoint()
    if state is not None:
        net.load_head_state_dict(state["model"])
        optimizer.load_state_dict(state["optimizer"])
        scheduler.load_state_dict(state["scheduler"])
        start = int(state["iteration"])
        torch.set_rng_state(state["rng"][dist.rank % len(state["rng"])])  # drop-path masks continue too
    else:
        torch.manual_seed(seed + dist.rank)
    if start >= total:
        return {"iterations": start, "seconds": 0.0, "resumed_from": start}
    model = DistributedDataParallel(net) if dist.world_size > 1 else net
    loader = DataLoader(dataset, batch_sampler=StreamSampler(cfg.batch_size, dist.rank, dist.world_size, start, total),
                        num_workers=cfg.num_workers, pin_memory=dist.device.type == "cuda")
    writer = SummaryWriter(str(run.tensorboard_dir), purge_step=start) if dist.is_main else None
    net.train()
    t0 = time.time()
    losses: dict[str, float] = {}
    bar = progress_bar(total=total, desc="tracking train", disable=not (progress and dist.is_main))
    bar.update(start)
    try:
        for it, (z, x, target) in enumerate(loader, start=start):
            z, x, target = (t.to(dist.device, non_blocking=True) for t in (z, x, target))
            with torch.autocast("cuda", dtype=torch.bfloat16, enabled=cfg.amp and dist.device.type == "cuda"):
                out = model(z, x)
            terms = tracking_loss({k: v.float() for k, v in out.items()}, target, loss_cfg)
            value = terms["loss"].item()
            if not math.isfinite(value):
                raise FloatingPointError(f"tracking loss became {value} at iteration {it}")
            optimizer.zero_grad(set_to_none=True)
            terms["loss"].backward()
            if cfg.grad_clip > 0:
                torch.nn.utils.clip_grad_norm_(net.trainable_parameters(), cfg.grad_clip)
            optimizer.step()
            scheduler.step()
            done = it + 1
            if done % cfg.log_every == 0 or done == total:
                losses = {k: float(all_reduce_mean(v.detach())) for k, v in terms.items()}
                if writer is not None:
                    for k, v in losses.items():
                        writer.add_scalar(f"train/{k}", v, done)
                    writer.add_scalar("train/lr", optimizer.param_groups[0]["lr"], done)
            bar.update(1)
            bar.set_postfix(loss=f"{value:.3f}")
            if done % cfg.checkpoint_every == 0 or done == total:
                rng = gather_rng_states(dist)
                if dist.is_main:
                    run.save_checkpoint({"model": net.head_state_dict(), "optimizer": optimizer.state_dict(),
                                         "scheduler": scheduler.state_dict(), "iteration": done, "rng": rng})
                barrier()
    finally:
        bar.close()
        if writer is not None:
            writer.close()
    return {"iterations": total, "seconds": time.time() - t0, "resumed_from": start, "final_losses": losses}
