"""The two training stages, one code path for one process and for torchrun (torch FSDP2 `fully_shard`).

Stage 1 (alignment) trains the projector (and the anyres `image_newline`); stage 2 (instruction tuning)
trains projector + LLM, and the tower too only when `train.tower_lr > 0`. The loss is the LM loss on
answer tokens (labels are -100 elsewhere), averaged per micro-batch and over the global batch.

Data order is a function of (seed, step) only: step k's global batch is items [kG, (k+1)G) of a
seeded stream of epoch permutations, split into micro-batches of `per_device_batch`; rank r of W
takes micro-batches r*A .. (r+1)*A-1 (A = accumulation). So a W-rank run sees the same micro-batches
as one process with W*A accumulation steps, and a resumed run continues exactly where it stopped.
A checkpoint (`<stage>.pt`: full model + optimizer + scheduler state, step, losses) is written every
`checkpoint_every` steps and at the end of the stage.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass
from pathlib import Path

import torch
import torch.distributed as dist

from rice.progress import progress as progress_bar
from rice.train.checkpoint import atomic_torch_save
from rice.train.dist import DistInfo
from rice.train.schedule import warmup_cosine

from .config import MLLMConfig, StageConfig
from .data import collate


@dataclass
class StageResult:
    losses: list  # mean answer loss of each optimizer step
    steps: int
    resumed_from: int
    seconds: float


def set_trainable(model, stage: str, tower_lr: float) -> list[dict]:
    """requires_grad per stage; returns AdamW parameter groups (the tower only when tuned)."""
    model.requires_grad_(False)
    connector = list(model.model.multi_modal_projector.parameters()) + [model.model.image_newline]
    groups = [{"params": connector, "name": "projector"}]
    if stage == "stage2":
        groups.append({"params": list(model.model.language_model.parameters()) + [
            p for p in model.lm_head.parameters() if all(p is not q for q in model.model.language_model.parameters())],
            "name": "llm"})
        if tower_lr > 0:
            groups.append({"params": list(model.model.vision_tower.parameters()), "name": "tower", "lr": tower_lr})
    for g in groups:
        for p in g["params"]:
            p.requires_grad_(True)
    return groups


def shard(model) -> None:
    """FSDP2: one unit per LLM decoder layer and one for the rest (a 7B LM does not fit replicated)."""
    from torch.distributed.fsdp import fully_shard

    for layer in model.model.language_model.layers:
        fully_shard(layer)
    fully_shard(model)


def step_indices(n_items: int, global_batch: int, step: int, seed: int) -> list[int]:
    """Items of optimizer step `step`: a slice of the seeded stream of epoch permutations."""
    out, start = [], step * global_batch
    epoch, offset = divmod(start, n_items)
    while len(out) < global_batch:
        g = torch.Generator().manual_seed(seed * 1000003 + epoch)
        perm = torch.randperm(n_items, generator=g).tolist()
        take = perm[offset: offset + global_batch - len(out)]
        out += take
        epoch, offset = epoch + 1, 0
    return out


def total_steps(stage: StageConfig, n_items: int, global_batch: int) -> int:
    return stage.max_steps if stage.max_steps > 0 else max(1, math.ceil(stage.epochs * n_items / global_batch))


def _state(model, optimizer) -> tuple[dict, dict]:
    from torch.distributed.checkpoint.state_dict import StateDictOptions, get_state_dict

    return get_state_dict(model, optimizer, options=StateDictOptions(full_state_dict=True, cpu_offload=True))


def _load_state(model, optimizer, model_sd: dict, optim_sd: dict | None) -> None:
    from torch.distributed.checkpoint.state_dict import StateDictOptions, set_state_dict

    set_state_dict(model, optimizer, model_state_dict=model_sd, optim_state_dict=optim_sd or {},
                   options=StateDictOptions(full_state_dict=True, broadcast_from_rank0=False))


def train_stage(model, dataset, stage_name: str, cfg: MLLMConfig, info: DistInfo, run_dir: Path,
                writer=None, progress: bool = True) -> StageResult:
    """Run (or resume, or skip when done) one stage on `dataset`; returns its step losses."""
    stage: StageConfig = getattr(cfg, stage_name)
    ckpt_path = Path(run_dir) / f"{stage_name}.pt"
    groups = set_trainable(model, stage_name, cfg.train.tower_lr)
    optimizer = torch.optim.AdamW(groups, lr=stage.lr, weight_decay=stage.weight_decay)
    accum = cfg.accumulation(info.world_size)
    g_batch, micro = cfg.train.global_batch, cfg.train.per_device_batch
    steps = total_steps(stage, len(dataset), g_batch)
    scheduler = warmup_cosine(optimizer, math.ceil(stage.warmup_ratio * steps), steps)
    losses: list[float] = []
    start = 0
    if ckpt_path.is_file():
        ck = torch.load(ckpt_path, map_location="cpu", weights_only=False)
        _load_state(model, optimizer, ck["model"], ck["optim"])
        scheduler.load_state_dict(ck["scheduler"])
        start, losses = ck["step"], list(ck["losses"])
    resumed_from = start
    pad = dataset.processor.tokenizer.pad_token_id
    dtype = getattr(torch, cfg.model.dtype)
    model.train()
    t0 = time.time()
    bar = progress_bar(range(start, steps), total=steps - start, desc=stage_name, disable=not progress or not info.is_main)
    for step in bar:
        idx = step_indices(len(dataset), g_batch, step, cfg.seed)
        chunks = [idx[i: i + micro] for i in range(0, g_batch, micro)]
        mine = chunks[info.rank * accum: (info.rank + 1) * accum]
        micro_batches = (collate([dataset[i] for i in chunk], pad) for chunk in mine)
        losses.append(train_step(model, micro_batches, optimizer, scheduler, accum, dtype, info))
        if writer is not None and info.is_main:
            writer.add_scalar(f"{stage_name}/answer_loss", losses[-1], step)
            writer.add_scalar(f"{stage_name}/lr", scheduler.get_last_lr()[0], step)
        if (step + 1) % cfg.train.checkpoint_every == 0 or step + 1 == steps:
            _checkpoint(model, optimizer, scheduler, step + 1, losses, ckpt_path, info)
    return StageResult(losses, steps, resumed_from, time.time() - t0)


def train_step(model, micro_batches, optimizer, scheduler, accum: int, dtype: torch.dtype, info: DistInfo) -> float:
    """One optimizer step over this rank's micro-batches; returns the global mean answer loss."""
    device = info.device
    total = torch.zeros((), device=device)
    for batch in micro_batches:
        batch = {k: v.to(device) for k, v in batch.items()}
        with torch.autocast(device.type, dtype=dtype, enabled=dtype != torch.float32):
            loss = model(**batch).loss / accum
        loss.backward()
        total += loss.detach()
    if info.world_size > 1:
        dist.all_reduce(total)
        total /= info.world_size
    optimizer.step()
    scheduler.step()
    optimizer.zero_grad(set_to_none=True)
    return float(total)


def _checkpoint(model, optimizer, scheduler, step: int, losses: list, path: Path, info: DistInfo) -> None:
    model_sd, optim_sd = _state(model, optimizer)  # collective under FSDP2: every rank calls it
    if info.is_main:
        atomic_torch_save({"step": step, "model": model_sd, "optim": optim_sd, "scheduler": scheduler.state_dict(),
                           "losses": losses}, path)
    if info.world_size > 1:
        dist.barrier()


def full_state_dict(model) -> dict:
    """The whole model's state on CPU (gathered under FSDP2), for `save_pretrained`."""
    from torch.distributed.checkpoint.state_dict import StateDictOptions, get_model_state_dict

    return get_model_state_dict(model, options=StateDictOptions(full_state_dict=True, cpu_offload=True))
