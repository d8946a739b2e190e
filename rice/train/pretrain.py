"""`rice pretrain`: RICE region cluster discrimination pretraining (paper 3.2-3.3, 4.1), one code path for
one CPU process and for torchrun on many GPUs.

The ViT and region head are replicated (DDP); the class-center banks are sharded over ranks (Partial FC) and
sit outside DDP. Objects regions have one positive center, OCR regions their text's tokens, and the image's
class token its image-level cluster labels (MLCD). `loss.region_losses=false` trains the image-level
(MLCD-style) baseline with the same code.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import torch
import yaml
from torch import nn
from torch.nn.parallel import DistributedDataParallel

from rice.config import to_dict
from rice.loss import RegionLoss
from rice.model import RiceModel

from .checkpoint import atomic_write_text, latest_checkpoint
from .dist import DistInfo, barrier, init_distributed
from .init_from import init_checkpoints, load_init
from .loop import Trainer, seed_everything
from .pretrain_config import PretrainConfig
from .pretrain_data import batch_stream
from .run_dir import DATA_FILE, check_device, check_run_data, check_run_dir, check_writable_dir


class GeneratorState:
    """Makes a torch.Generator checkpointable, so Partial FC's negative sampling resumes exactly."""

    def __init__(self, generator: torch.Generator):
        self.generator = generator

    def state_dict(self) -> dict:
        return {"state": self.generator.get_state()}

    def load_state_dict(self, state: dict) -> None:
        self.generator.set_state(state["state"])


class PretrainModule(nn.Module):
    """Everything with trainable weights: the replicated model and this rank's center shards."""

    def __init__(self, cfg: PretrainConfig, generator: torch.Generator):
        super().__init__()
        self.model = RiceModel(cfg.model)
        self.model.vit.gradient_checkpointing = cfg.grad_checkpointing
        lc = cfg.loss
        self.loss = RegionLoss(lc.num_object_classes, lc.num_ocr_classes, cfg.model.embed_dim, lc.sample_rate,
                               lc.margin, lc.scale, cfg.data.max_ocr_tokens, image_loss=lc.image_loss,
                               image_weight=lc.image_loss_weight, generator=generator)
        if lc.centers_init:
            self.init_object_centers(Path(lc.centers_init))

    def init_object_centers(self, path: Path) -> None:
        centers = torch.from_numpy(np.load(path)).float()  # (K, D)
        bank = self.loss.object_fc
        if centers.shape != (bank.num_classes, bank.embed_dim):
            raise ValueError(f"{path}: centers have shape {tuple(centers.shape)}, loss.num_object_classes x "
                             f"embed_dim is {(bank.num_classes, bank.embed_dim)}")
        start, end = bank.class_range
        with torch.no_grad():
            bank.centers.copy_(centers[start:end])


def allreduce_sum_hook(state, bucket):
    """DDP gradient hook that sums instead of averaging.

    The loss is already the mean over the global batch on every rank (Partial FC gathers the embeddings),
    so each rank's backbone gradient is its share of that mean's gradient: the sum over ranks is the
    gradient a single process would get on the concatenated batch, where DDP's default mean gives 1/W of it.
    """
    future = torch.distributed.all_reduce(bucket.buffer(), async_op=True).get_future()
    return future.then(lambda f: f.value()[0])


def build_optimizer(module: PretrainModule, cfg: PretrainConfig) -> torch.optim.Optimizer:
    """AdamW; center banks get no weight decay (they are L2-normalised in the loss)."""
    decay, no_decay = [], []
    for name, p in module.model.named_parameters():
        (no_decay if p.ndim < 2 or "embedding" in name else decay).append(p)
    groups = [
        {"params": decay, "weight_decay": cfg.optim.weight_decay},
        {"params": no_decay, "weight_decay": 0.0},
        {"params": list(module.loss.parameters()), "weight_decay": 0.0},
    ]
    # fused AdamW: ~10x faster than the foreach one on a 1M x D center bank, with no full-size temporaries
    return torch.optim.AdamW(groups, lr=cfg.optim.lr, betas=cfg.optim.betas, fused=True)


def make_step(model: nn.Module, loss: RegionLoss, cfg: PretrainConfig, device: torch.device):
    region_losses = cfg.loss.region_losses

    def step(batch: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        batch = {k: v.to(device, non_blocking=True) for k, v in batch.items()}
        out = model(batch["pixels"], boxes=batch["boxes"] if region_losses else None)
        image = dict(image_embeds=out.image_embed.float(), image_labels=batch["image_labels"]) \
            if cfg.loss.image_loss else {}
        if not region_losses:
            return loss(None, None, None, None, **image)
        embeds = out.region_embeds.float()  # (B, N, D)
        valid, kinds = batch["valid"], batch["kinds"]
        obj, ocr = valid & (kinds == 0), valid & (kinds == 1)
        return loss(embeds[obj], batch["labels"][obj], embeds[ocr], batch["tokens"][ocr], **image)

    return step


def prepare_run_dir(cfg: PretrainConfig, data: str | Path, run_dir: Path, resume_anyway: bool = False,
                    device: str = "auto") -> tuple[bool, dict]:
    """Every check that needs no training: config values, device, data, output folder, a saved config or data
    fingerprint that differs, the `init_from` run. Nothing is written. Returns whether `run_dir` already holds
    this run, and the data's fingerprint (the shards, their curate_config.json, `loss.centers_init`)."""
    from rice.data.fingerprint import data_fingerprint

    cfg.validate()
    check_device(device)
    centers = cfg.loss.centers_init
    if centers and not Path(centers).is_file():
        raise FileNotFoundError(f"loss.centers_init={centers}: no such file")
    fingerprint = data_fingerprint(data, [centers] if centers else [])
    check_writable_dir(run_dir, "--out")
    if cfg.init_from:
        init_checkpoints(Path(cfg.init_from))
    existing = check_run_dir(run_dir, to_dict(cfg), resume_anyway=resume_anyway)
    if existing:
        check_run_data(run_dir, fingerprint, resume_anyway)
    return existing, fingerprint


def write_data_fingerprint(run_dir: Path, fingerprint: dict) -> None:
    """Record the data (after config.yaml: a run killed between the two is taken as one made before data was
    fingerprinted, and records the data it resumes with); a different saved one goes to *.previous.json."""
    path = run_dir / DATA_FILE
    text = json.dumps(fingerprint, indent=1, sort_keys=True) + "\n"
    if path.is_file() and path.read_text() != text:  # resume_anyway, or the same shards read from another folder
        atomic_write_text(run_dir / DATA_FILE.replace(".json", ".previous.json"), path.read_text())
    atomic_write_text(path, text)


def pretrain(cfg: PretrainConfig, data: str | Path, run_dir: Path, dist_info: DistInfo | None = None,
             resume_anyway: bool = False) -> list[dict]:
    """Train (or resume) into `run_dir`; returns the logged rows of this process's run.

    Refuses (ValueError) a run directory whose saved config or data fingerprint differs from `cfg` / `data`
    unless `resume_anyway`, before anything is written; the previous ones are then kept as
    config.previous.yaml / data_fingerprint.previous.json.
    """
    dist_info = dist_info or init_distributed()
    run_dir = Path(run_dir)
    existing, fingerprint = prepare_run_dir(cfg, data, run_dir, resume_anyway, str(dist_info.device))
    run_dir.mkdir(parents=True, exist_ok=True)
    barrier()  # every rank has checked before rank 0 writes
    if dist_info.is_main:
        config_file = run_dir / "config.yaml"
        text = yaml.safe_dump(to_dict(cfg), sort_keys=False)
        if existing and config_file.read_text() != text:  # only with resume_anyway
            atomic_write_text(run_dir / "config.previous.yaml", config_file.read_text())
        atomic_write_text(config_file, text)
        write_data_fingerprint(run_dir, fingerprint)
    seed_everything(cfg.seed + dist_info.rank)
    generator = torch.Generator().manual_seed(cfg.seed * 1000 + dist_info.rank)
    module = PretrainModule(cfg, generator).to(dist_info.device)
    model: nn.Module = module.model
    if dist_info.world_size > 1:
        model = DistributedDataParallel(module.model, find_unused_parameters=not cfg.loss.region_losses)
        model.register_comm_hook(None, allreduce_sum_hook)
    optimizer = build_optimizer(module, cfg)
    trainer = Trainer(cfg.loop, module, optimizer, run_dir, dist_info, clip_parameters=module.model.parameters(),
                      extra_state={"generator": GeneratorState(generator)})
    if trainer.resume():
        if dist_info.is_main:
            print(f"resumed from step {trainer.step} ({latest_checkpoint(trainer.ckpt_dir)})", flush=True)
    elif cfg.init_from:
        step = load_init(module, Path(cfg.init_from))
        if dist_info.is_main:
            print(f"initialised from {cfg.init_from} (step {step}); optimizer, schedule and step count fresh",
                  flush=True)
    size = cfg.model.vision.image_size
    stream = lambda start: batch_stream(data, cfg.data, size, cfg.seed, dist_info.rank,  # noqa: E731
                                        dist_info.world_size, start, cfg.loss.num_object_classes,
                                        cfg.loss.num_ocr_classes)
    return trainer.fit(make_step(model, module.loss, cfg, dist_info.device), stream)
