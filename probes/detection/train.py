"""The head-training loop: AdamW, linear warmup then step decay, periodic atomic checkpoints, resume.

The frozen backbone is not in the optimiser or the checkpoint. A checkpoint holds the head weights,
optimiser and scheduler state, the iteration and the RNG state; the data stream is a function of
(seed, iteration), so a run resumed from iteration k continues exactly where it stopped.
"""

from __future__ import annotations

import math
import sys
import time

import torch
from torch.utils.data import DataLoader
from torch.utils.tensorboard import SummaryWriter

from rice.progress import progress as progress_bar

from ..records import RunDir
from .config import TrainConfig
from .dataset import TrainDataset, TrainSampler
from .model import CascadeMaskRCNN
from .transforms import Collate


def lr_factor(it: int, cfg: TrainConfig) -> float:
    """Linear warmup from `warmup_factor` to 1 over `warmup_iters`, times gamma per passed step."""
    factor = cfg.gamma ** sum(it >= s for s in cfg.lr_steps)
    if it < cfg.warmup_iters:
        alpha = it / cfg.warmup_iters
        factor *= cfg.warmup_factor * (1 - alpha) + alpha
    return factor


def build_optimizer(model: CascadeMaskRCNN, cfg: TrainConfig) -> torch.optim.Optimizer:
    """AdamW; norms and biases get no weight decay (Detectron2's default for ViTDet)."""
    decay, no_decay = [], []
    for name, p in model.named_parameters():
        if not p.requires_grad or name.startswith("backbone."):
            continue
        (no_decay if p.ndim <= 1 else decay).append(p)
    groups = [{"params": decay, "weight_decay": cfg.weight_decay}, {"params": no_decay, "weight_decay": 0.0}]
    return torch.optim.AdamW(groups, lr=cfg.lr, betas=tuple(cfg.betas))


def resolve_device(name: str) -> torch.device:
    """'auto' | 'cpu' | 'cuda' | 'cuda:N' -> a device that exists here, else ValueError naming the field."""
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name == "cpu":
        return torch.device("cpu")
    if name != "cuda" and not (name.startswith("cuda:") and name[5:].isdigit()):
        raise ValueError(f"detection config: field 'train.device' = {name!r}: expected auto, cpu, cuda or cuda:N")
    if not torch.cuda.is_available():
        raise ValueError(f"detection config: field 'train.device' = {name!r}: no CUDA GPU is available on this "
                         f"machine (torch.cuda.is_available() is False); use --device cpu or auto")
    index = int(name[5:]) if ":" in name else 0
    if index >= torch.cuda.device_count():
        raise ValueError(f"detection config: field 'train.device' = {name!r}: this machine has "
                         f"{torch.cuda.device_count()} CUDA device(s)")
    return torch.device(name)


def train(model: CascadeMaskRCNN, dataset: TrainDataset, collate: Collate, cfg: TrainConfig, seed: int,
          run: RunDir, device: torch.device, progress: bool = True,
          repeat_factors: list[float] | None = None) -> dict:
    """Train from the run's checkpoint (if any) to `cfg.max_iters`; returns {iterations, seconds, last losses}.
    `repeat_factors` (one per dataset item) switches on repeat-factor sampling."""
    optimizer = build_optimizer(model, cfg)
    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, lambda it: lr_factor(it, cfg))
    start = 0
    state = run.load_checkpoint()
    if state is not None:
        model.load_head_state_dict(state["model"])
        optimizer.load_state_dict(state["optimizer"])
        scheduler.load_state_dict(state["scheduler"])
        torch.set_rng_state(state["rng"])
        start = int(state["iteration"])
        print(f"detection run {run.path}: resumed from iteration {start}", file=sys.stderr, flush=True)
    else:
        torch.manual_seed(seed)
    if start >= cfg.max_iters:
        return {"iterations": start, "seconds": 0.0, "resumed_from": start}

    sampler = TrainSampler(len(dataset), cfg.batch_size, seed, start, cfg.max_iters, repeat_factors)
    loader = DataLoader(dataset, batch_sampler=sampler, collate_fn=collate, num_workers=cfg.num_workers,
                        generator=torch.Generator().manual_seed(seed))  # own generator: the global RNG stays resumable
    writer = SummaryWriter(str(run.tensorboard_dir), purge_step=start)
    model.train()
    t0 = time.time()
    losses: dict[str, float] = {}
    bar = progress_bar(total=cfg.max_iters, initial=start, desc="train", disable=not progress, dynamic_ncols=True)
    bar.n = start  # the plain-line progress of a log file takes no `initial`
    it = start
    try:
        for it, batch in enumerate(loader, start=start):
            batch = batch.to(device)
            loss_dict = model(batch.images, batch.image_sizes, batch.targets)
            loss = sum(loss_dict.values())
            loss_value = loss.item()
            if not math.isfinite(loss_value):
                raise FloatingPointError(f"loss became {loss_value} at iteration {it}: "
                                         f"{ {k: v.item() for k, v in loss_dict.items()} }")
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            if cfg.grad_clip > 0:
                torch.nn.utils.clip_grad_norm_(model.trainable_parameters(), cfg.grad_clip)
            optimizer.step()
            scheduler.step()
            losses = {k: float(v.detach()) for k, v in loss_dict.items()}
            done = it + 1
            if done % cfg.log_every == 0 or done == cfg.max_iters:
                writer.add_scalar("train/loss", loss_value, done)
                for k, v in losses.items():
                    writer.add_scalar(f"train/{k}", v, done)
                writer.add_scalar("train/lr", optimizer.param_groups[0]["lr"], done)
            bar.update(1)
            bar.set_postfix(loss=f"{loss_value:.3f}", lr=f"{optimizer.param_groups[0]['lr']:.2e}")
            if done % cfg.checkpoint_every == 0 or done == cfg.max_iters:
                save_checkpoint(run, model, optimizer, scheduler, done)
    finally:
        bar.close()
        writer.close()
    return {"iterations": cfg.max_iters, "seconds": time.time() - t0, "resumed_from": start,
            "final_losses": losses}


def save_checkpoint(run: RunDir, model, optimizer, scheduler, iteration: int) -> None:
    run.save_checkpoint({
        "model": model.head_state_dict(),
        "optimizer": optimizer.state_dict(),
        "scheduler": scheduler.state_dict(),
        "iteration": iteration,
        "rng": torch.get_rng_state(),
    })

