"""`run(cfg, backbone) -> RunRecord`: the tracking probe end to end, with its run record.

Config, datasets (every annotation file, every frame listed) and the backbone are checked before the run
directory is created. Under torchrun every rank trains its share of each batch; rank 0 writes the
checkpoint, evaluates and writes the record.
"""

from __future__ import annotations

import hashlib
import time
from dataclasses import replace
from pathlib import Path

import numpy as np
import torch
from torch.utils.tensorboard import SummaryWriter

from probes.base import RunRecord, register_probe
from probes.identity import backbone_identity, combine, files_fingerprint
from probes.records import RunDir, code_revision, environment, now_iso
from probes.runner import torch_threads
from rice.backbones.base import Backbone
from rice.config import to_dict
from rice.train.dist import barrier, init_distributed

from .config import TrackingConfig
from .crops import round_to_patch
from .datasets import Sequence, load_sequences, parse_spec
from .evaluate import evaluate
from .metrics import DEFINITIONS
from .model import TrackerNet
from .sampling import PairDataset
from .tracker import CropSizes
from .train import train

PROBE = "tracking"


def identity(cfg: TrackingConfig) -> dict:
    """The config part of a run's identity: everything but where things are (output, the backbone's and the
    datasets' paths); the backbone's weights and the data's content enter through their fingerprints."""
    out = to_dict(cfg)
    out.pop("output")
    out.pop("backbone")
    kind_split = [f"{kind}:{split}" for kind, _, split in map(parse_spec, [*cfg.data.train, cfg.data.eval])]
    out["data"] = {"train": kind_split[:-1], "eval": kind_split[-1], "ratios": cfg.data.ratios}
    return out


def crop_sizes(cfg: TrackingConfig, patch: int) -> CropSizes:
    c = cfg.crop
    return CropSizes(round_to_patch(c.template_size, patch), c.template_factor,
                     round_to_patch(c.search_size, patch), c.search_factor)


def sequences_fingerprint(groups: list[list[Sequence]]) -> str:
    """Content hash of what was read: names, frame file names, boxes and flags of every sequence."""
    h = hashlib.blake2b(digest_size=8)
    for seqs in groups:
        for s in seqs:
            h.update(f"{s.dataset}|{s.name}|{len(s.frames)}|{s.frames[0].name}|{s.frames[-1].name}|".encode())
            for arr in (s.boxes, s.visible, s.cover):
                if arr is not None:
                    h.update(np.ascontiguousarray(arr).tobytes())
    return h.hexdigest()


def load_data(cfg: TrackingConfig) -> dict:
    train_sets = [load_sequences(spec, "train") for spec in cfg.data.train]
    name, split, seqs = load_sequences(cfg.data.eval, "val")
    if cfg.eval.max_sequences > 0:
        seqs = seqs[: cfg.eval.max_sequences]
    if not seqs:
        raise ValueError(f"tracking config: field 'data.eval' = {cfg.data.eval!r}: no sequences")
    return {"train": train_sets, "eval": (name, split, seqs)}


@register_probe(PROBE, TrackingConfig)
def run(cfg: TrackingConfig, backbone: Backbone, data: dict | None = None, progress: bool = True) -> RunRecord:
    """OSTrack-style tracker on the frozen `backbone`; trains blocks + head, scores the eval split."""
    with torch_threads(cfg.train.threads):
        return _run(cfg, backbone, data, progress)


def evaluate_run(cfg: TrackingConfig, backbone: Backbone, trained: Path, data: dict | None = None,
                 progress: bool = True) -> RunRecord:
    """Score the tracker of the trained run `trained` (its checkpoint) on cfg.data.eval, in a new run directory."""
    with torch_threads(cfg.train.threads):
        return _run(cfg, backbone, data, progress, Path(trained))


def _run(cfg: TrackingConfig, backbone: Backbone, data: dict | None, progress: bool,
         trained: Path | None = None) -> RunRecord:
    info = backbone.info
    cfg = replace(cfg, backbone=cfg.backbone or info.name).validate()
    sizes = crop_sizes(cfg, info.patch_size)
    data = data or load_data(cfg)
    eval_name, eval_split, eval_seqs = data["eval"]
    bb = backbone_identity(backbone)
    data_fp = sequences_fingerprint([s for _, _, s in data["train"]] + [eval_seqs])
    source = RunDir(trained) if trained is not None else None
    if source is not None and not source.checkpoint_path.is_file():
        raise FileNotFoundError(f"{source.checkpoint_path}: the trained run has no checkpoint")
    weights = files_fingerprint([source.checkpoint_path]) if source is not None else ""
    run_hash = combine(identity(cfg), bb["fingerprint"], data_fp, weights)
    default_id = f"{source.path.name}-eval-{run_hash}" if source else f"{cfg.name}-s{cfg.seed}-{run_hash}"
    run_dir = RunDir.locate(cfg.output.runs_dir, PROBE, eval_name, info.name, cfg.output.run_id or default_id)
    expected = {"identity": run_hash, "backbone_fingerprint": bb["fingerprint"], "data_fingerprint": data_fp,
                "trained": weights}
    if run_dir.done(expected):
        return RunRecord.load(run_dir.path, skipped=True)

    dist = init_distributed(cfg.train.device)
    if dist.is_main:
        run_dir.start(expected, to_dict(cfg), cfg.output.resume)
    barrier()
    started = now_iso()
    torch.manual_seed(cfg.seed)  # block and head initialisation, equal on every rank
    net = TrackerNet(backbone, cfg.model).to(dist.device)
    iters_per_epoch = cfg.sampling.samples_per_epoch // cfg.train.batch_size
    total = cfg.train.epochs * iters_per_epoch
    dataset = PairDataset([s for _, _, s in data["train"]], cfg.data.ratios, cfg.sampling, sizes, info.image_mean,
                          info.image_std, cfg.seed, total * cfg.train.batch_size)
    if source is None:
        stats = train(net, dataset, cfg.train, cfg.loss, iters_per_epoch, cfg.seed, run_dir, dist, progress)
    else:
        state = source.load_checkpoint()
        net.load_head_state_dict(state["model"])
        if int(state["iteration"]) < total:
            raise ValueError(f"{source.checkpoint_path}: training stopped at iteration {state['iteration']} of "
                             f"{total}; finish it with `rice-probe tracking train` first")
        stats = {"seconds": 0.0, "resumed_from": int(state["iteration"])}
    if not dist.is_main:
        barrier()
        return RunRecord(run_dir.path, {})
    t0 = time.time()
    scored = evaluate(net, sizes, eval_seqs, eval_name, run_dir.path, dist.device, cfg.eval.hann, progress)
    eval_seconds = time.time() - t0
    writer = SummaryWriter(str(run_dir.tensorboard_dir))
    for k, v in scored["metrics"].items():
        writer.add_scalar(f"eval/{k}", v, total)
    writer.close()
    record = {
        "probe": PROBE,
        "dataset": eval_name,
        "data_spec": {"train": cfg.data.train, "eval": cfg.data.eval},
        "split": eval_split,
        "train_split": [split for _, split, _ in data["train"]],
        "backbone": {**bb, "info": info.to_dict()},
        "data_fingerprint": data_fp,
        "identity": run_hash,
        **({"trained_in": str(source.path), "checkpoint_fingerprint": weights} if source else {}),
        "metrics": scored["metrics"],
        "baseline_metrics": {"fixed_first_box": scored["baseline_metrics"]},
        "metric_definitions": {k: DEFINITIONS[k] for k in scored["metrics"]},
        "seed": cfg.seed,
        "run_id": run_dir.path.name,
        "config_name": cfg.name,
        "protocol": cfg.protocol(eval_split, sizes.template, sizes.search),
        "code_revision": code_revision(),
        "times": {"started": started, "finished": now_iso(), "train_seconds": round(stats["seconds"], 2),
                  "eval_seconds": round(eval_seconds, 2), "resumed_from_iteration": stats["resumed_from"],
                  "eval_fps": round(scored["fps"], 2)},
        "environment": {**environment(), "world_size": dist.world_size},
        "counts": {"train_sequences": [len(s) for _, _, s in data["train"]], "eval_sequences": len(eval_seqs),
                   "eval_frames": scored["frames"], "iterations": total, "iterations_per_epoch": iters_per_epoch},
        "derived": {"template_size": sizes.template, "search_size": sizes.search,
                    "search_grid": sizes.search // info.patch_size, "final_losses": stats.get("final_losses", {})},
        "files": {**scored["files"], "checkpoint": run_dir.checkpoint_path.name,
                  "tensorboard": run_dir.tensorboard_dir.name},
    }
    run_dir.write_metrics(record)
    barrier()
    return RunRecord(run_dir.path, record)
