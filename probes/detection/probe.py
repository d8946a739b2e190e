"""`run(cfg, backbone) -> RunRecord`: the detection probe end to end, with its run record.

Order matters for the promise "bad input leaves no run record": the config, the device, the output
folder, the dataset (every annotation and image file) and the backbone are checked before the run
directory is created.

Run identity: the default run id is `<preset>-s<seed>-<combine(config, backbone weights' fingerprint,
annotation files' fingerprint)>`, so re-exported weights or changed annotations at the same paths are a
new run. `identity.json` in the run directory holds the three parts; a finished run is skipped, and an
unfinished one resumed, only when they match (an explicit `--run-id` naming another run's folder is
refused, naming the part that differs).
"""

from __future__ import annotations

import os
import time
from dataclasses import replace
from pathlib import Path

import torch
from torch.utils.data import DataLoader
from torch.utils.tensorboard import SummaryWriter

from rice.backbones.base import Backbone
from rice.config import to_dict

from ..base import RunRecord, register_probe
from ..identity import combine, files_fingerprint, weights_fingerprint
from ..records import RunDir, atomic_write_json, code_revision, config_hash, environment, now_iso
from ..runner import torch_threads
from .config import DetectionConfig
from .data import LoadedData, load_dataset
from .dataset import EvalDataset, TrainDataset, repeat_factors
from .evaluate import predict, score
from .model import CascadeMaskRCNN
from .train import resolve_device, train
from .transforms import Collate, LargeScaleJitter, ShortestEdgeResize

PROBE = "detection"
BBOX_FILE = "detections_bbox.json"
SEGM_FILE = "detections_segm.json"


def identity(cfg: DetectionConfig) -> dict:
    """The part of the config that defines the run (everything but where it is written)."""
    out = to_dict(cfg)
    out.pop("output")
    return out


def data_fingerprint(data: LoadedData) -> str:
    """Content hash of the annotation files (train and eval)."""
    return files_fingerprint(sorted({data.spec.train.annotations, data.spec.eval.annotations}))


def run_identity(cfg: DetectionConfig, backbone_fingerprint: str, data_fp: str) -> dict:
    return {"config_hash": config_hash(identity(cfg)), "backbone_fingerprint": backbone_fingerprint,
            "data_fingerprint": data_fp}


def default_run_id(cfg: DetectionConfig, backbone_fingerprint: str, data_fp: str) -> str:
    return f"{cfg.name}-s{cfg.seed}-{combine(identity(cfg), backbone_fingerprint, data_fp)}"


def locate_run(cfg: DetectionConfig, data: LoadedData, backbone_name: str, backbone_fingerprint: str,
               data_fp: str) -> RunDir:
    run_id = cfg.output.run_id or default_run_id(cfg, backbone_fingerprint, data_fp)
    return RunDir.locate(cfg.output.runs_dir, PROBE, data.spec.name, backbone_name, run_id)


def check_output(run_path: Path, runs_dir: str) -> None:
    """The run directory can be created: its nearest existing ancestor is a folder we may write into."""
    found = Path(os.path.abspath(run_path))
    while not found.exists() and found != found.parent:
        found = found.parent
    if not found.is_dir():
        raise ValueError(f"detection config: field 'output.runs_dir' = {runs_dir!r}: {found} is a file, "
                         f"not a folder")
    if not os.access(found, os.W_OK | os.X_OK):
        raise ValueError(f"detection config: field 'output.runs_dir' = {runs_dir!r}: cannot write into {found} "
                         f"(permission denied or read-only)")


def divisor(cfg: DetectionConfig, patch_size: int) -> int:
    d = cfg.input.size_divisibility or 4 * patch_size
    if d % (4 * patch_size):
        raise ValueError(f"detection config: field 'input.size_divisibility' = {d}: must be a multiple of "
                         f"4 x patch size ({4 * patch_size}) so that every pyramid level has an exact stride")
    return d


def collates(cfg: DetectionConfig, info, div: int) -> tuple[Collate, Collate]:
    """Training and test batching. Both pad to one fixed square: the LSJ crop size for training, and for
    testing the same square (ViTDet's backbone `square_pad`), or the test size if that is larger."""
    train_square = cfg.input.image_size
    test_square = max(cfg.input.image_size, cfg.input.test_max_size)
    return (Collate(info.image_mean, info.image_std, div, fixed_size=train_square),
            Collate(info.image_mean, info.image_std, div, fixed_size=test_square))


def preflight(cfg: DetectionConfig) -> torch.device:
    """Checks that need no data or backbone: the config's values and the device. Returns the device."""
    cfg.validate()
    return resolve_device(cfg.train.device)


@register_probe(PROBE, DetectionConfig)
def run(cfg: DetectionConfig, backbone: Backbone, data: LoadedData | None = None, progress: bool = True) -> RunRecord:
    """Cascade Mask R-CNN on the frozen `backbone`; trains the head, scores with COCOeval / LVISEval."""
    with torch_threads(cfg.train.threads):
        return _run(cfg, backbone, data, progress)


def _run(cfg: DetectionConfig, backbone: Backbone, data: LoadedData | None, progress: bool) -> RunRecord:
    info = backbone.info
    # `backbone` records what was asked for (a registry name or a path); records and run directories use info.name
    cfg = replace(cfg, backbone=cfg.backbone or info.name)
    device = preflight(cfg)
    div = divisor(cfg, info.patch_size)
    data = data or load_dataset(cfg.data.spec, cfg.data.degenerate_boxes)
    backbone_fp, data_fp = weights_fingerprint(backbone), data_fingerprint(data)
    expected = run_identity(cfg, backbone_fp, data_fp)
    run_dir = locate_run(cfg, data, info.name, backbone_fp, data_fp)
    if run_dir.done(expected):  # skipped even where nothing may be written any more
        return RunRecord.load(run_dir.path, skipped=True)
    check_output(run_dir.path, cfg.output.runs_dir)
    resolved = to_dict(cfg)
    run_dir.start(expected, resolved, cfg.output.resume)
    started = now_iso()

    torch.manual_seed(cfg.seed)  # head initialisation
    counts = data.train.class_image_counts() if cfg.model.cascade.fed_loss else None
    model = CascadeMaskRCNN(backbone, len(data.train.category_ids), cfg.model, counts).to(device)
    train_set = TrainDataset(data.train, LargeScaleJitter(cfg.input))
    factors = (repeat_factors(data.train, train_set.records, cfg.data.repeat_factor_thresh)
               if cfg.data.repeat_factor_thresh > 0 else None)
    collate_train, collate_eval = collates(cfg, info, div)
    train_stats = train(model, train_set, collate_train, cfg.train, cfg.seed, run_dir, device, progress, factors)

    t0 = time.time()
    eval_set = EvalDataset(data.eval, ShortestEdgeResize(cfg.input), cfg.eval.max_images)
    loader = DataLoader(eval_set, batch_size=cfg.eval.batch_size, shuffle=False, collate_fn=collate_eval,
                        num_workers=cfg.train.num_workers)
    bbox, segm = predict(model, loader, data.eval, device, progress=progress)
    atomic_write_json(run_dir.path / BBOX_FILE, bbox)
    with_masks = cfg.model.cascade.mask and data.eval.has_masks
    if with_masks:
        atomic_write_json(run_dir.path / SEGM_FILE, segm)
    image_ids = [r.id for r in eval_set.records] if cfg.eval.max_images > 0 else None
    metrics = score(data.eval, data.spec.evaluator, bbox, segm if with_masks else None, image_ids,
                    cfg.eval.max_dets_lvis)
    eval_seconds = time.time() - t0

    writer = SummaryWriter(str(run_dir.tensorboard_dir))
    for k, v in metrics.items():
        writer.add_scalar(f"eval/{k}", v, cfg.train.max_iters)
    writer.close()
    record = {
        "probe": PROBE,
        "dataset": data.spec.name,
        "data_spec": data.spec.spec,
        "split": data.spec.eval.split,
        "train_split": data.spec.train.split,
        "backbone": {"name": info.name, "info": info.to_dict(), "fingerprint": backbone_fp,
                     "source": info.source or cfg.backbone},
        "data_fingerprint": data_fp,
        "metrics": metrics,
        "seed": cfg.seed,
        "run_id": run_dir.path.name,
        "config_name": cfg.name,
        "config_hash": config_hash(identity(cfg)),
        "protocol": cfg.protocol(data.spec.eval.split),
        "code_revision": code_revision(),
        "times": {"started": started, "finished": now_iso(), "train_seconds": round(train_stats["seconds"], 2),
                  "eval_seconds": round(eval_seconds, 2), "resumed_from_iteration": train_stats["resumed_from"]},
        "environment": environment(),
        "counts": {"train_images": len(train_set), "eval_images": len(eval_set),
                   "classes": len(data.train.category_ids), "skipped_annotations": data.train.skipped_annotations,
                   "skipped": {"train": data.train.skipped, "eval": data.eval.skipped}},
        "derived": {"strides": model.strides, "size_divisibility": div,
                    "padded_size": {"train": collate_train.padded(collate_train.fixed_size),
                                    "test": collate_eval.padded(collate_eval.fixed_size)},
                    "anchor_sizes": [cfg.model.rpn.anchor_scale * s for s in model.strides]},
        "files": {"bbox": BBOX_FILE, **({"segm": SEGM_FILE} if with_masks else {}),
                  "checkpoint": run_dir.checkpoint_path.name, "tensorboard": run_dir.tensorboard_dir.name},
    }
    run_dir.write_metrics(record)
    return RunRecord(run_dir.path, record)
