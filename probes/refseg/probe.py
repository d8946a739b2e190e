"""`run(cfg, backbone) -> RunRecord`: LISA on the MLLM probe's LLaVA-NeXT with `backbone` as the frozen tower.

Order matters for "bad input leaves no run record": the config, every refer split (refs, annotations,
image files), SAM's checkpoint and the [SEG] tokenizer are checked before the run directory is made.
The run id is built from the run's identity (config minus output, backbone weights, annotation files,
SAM, LLM); a finished run is skipped only when its recorded identity matches.
"""

from __future__ import annotations

import json
import sys
import time
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np
import torch
from torch.utils.tensorboard import SummaryWriter

from rice.config import to_dict
from rice.train.dist import barrier, init_distributed

from ..base import RunRecord, register_probe
from ..runner import torch_threads
from ..identity import (
    backbone_identity,
    combine,
    files_fingerprint,
    weights_fingerprint,
)
from ..records import RunDir, atomic_write_json, code_revision, environment, now_iso
from .config import RefsegConfig
from .data import Batcher, eval_items, train_items
from .distributed import shard_lisa
from .evaluate import predict, predictions_file
from .mixture import Mixture, ReferSet, load_mixture
from .model import SEG_TOKEN, LisaModel, apply_lora, seg_token_id
from .refer import ReferSplit, SplitName, read_split
from .sam import SamEmbeddingCache, build_sam, sam_identity
from .train import autocast_dtype, resolve_device, train

PROBE = "refseg"
DATASET = "refer"
EVAL_FILE = "evaluation.json"
DEFAULT_TOY_WORLD = "toyworld"


@dataclass
class LoadedData:
    root: Path
    train: list[ReferSplit]
    eval: list[ReferSplit]
    missing: list[str] = field(default_factory=list)  # refer train splits skipped under data.allow_missing
    mixture: Mixture | None = None  # None: built from `train` alone (refer_seg), as before

    def __post_init__(self):
        if self.mixture is None:
            self.mixture = Mixture({"refer_seg": [ReferSet(s) for s in self.train]}, {"refer_seg": 1.0}, 3)

    def files(self) -> list[Path]:
        refer = {f for s in self.train + self.eval for f in (s.refs_file, s.instances_file)}
        return sorted(refer | set(self.mixture.files()))


def default_toy_world(where: str | Path = ".", **toy_fields) -> Path:
    """WHERE/toyworld, the folder `rice toyworld --out toyworld` writes (tracking's tiny preset reads the same
    folder); written with `rice.toyworld.generate` (seed 0, its default settings, or `toy_fields`) when absent."""
    root = (Path(where) / DEFAULT_TOY_WORLD).absolute()
    if not root.exists():
        from rice.toyworld import generate

        print(f"refseg: no --data given: writing the toy world to {root} (rice.toyworld.generate, seed 0)",
              file=sys.stderr, flush=True)
        generate(root, progress=False, **toy_fields)
    if not (root / "refer_seg").is_dir():
        raise FileNotFoundError(f"{root / 'refer_seg'}: the default toy world has no refer data; run "
                                f"`rice toyworld --out {root} --overwrite`, or pass --data DIR")
    return root


def refer_root(spec: str) -> Path:
    """A refer folder (holding refcoco/...) or a folder holding refer_seg/ (a toy world, LISA's dataset folder);
    "" -> the default toy world ./toyworld (written when absent)."""
    root = Path(spec).expanduser() if spec else default_toy_world()
    if (root / "refer_seg").is_dir():
        root = root / "refer_seg"
    if not root.is_dir():
        raise FileNotFoundError(f"{root}: refer data folder does not exist")
    return root


def load_data(cfg: RefsegConfig) -> LoadedData:
    """Every split and mixture source, read and checked (files, annotations, images) before anything is written."""
    root = refer_root(cfg.data.refer_root)
    train, missing = [], []
    use_refer = float(cfg.data.mixture.get("refer_seg", 0)) > 0
    for s in cfg.data.train_splits if use_refer else ():
        name = SplitName.parse(s)
        if not (root / name.dataset / f"refs({name.split_by}).p").is_file():
            missing.append(s)  # an error naming everything missing (load_mixture) unless data.allow_missing
            continue
        train.append(read_split(root, name))
    if cfg.data.max_train_images > 0:
        for s in train:
            s.images = s.images[: cfg.data.max_train_images]
    dataset_dir = Path(cfg.data.dataset_dir).expanduser() if cfg.data.dataset_dir else \
        (root.parent if root.name == "refer_seg" else root)
    mixture = load_mixture(cfg.data, train, dataset_dir, missing, root)
    return LoadedData(root, train, read_eval_splits(cfg, root), missing, mixture)


def read_eval_splits(cfg: RefsegConfig, root: Path) -> list[ReferSplit]:
    evals = [read_split(root, s) for s in cfg.data.eval_splits]
    for s in evals:
        s.images = s.images[: cfg.eval.max_images] if cfg.eval.max_images > 0 else s.images
    return evals


def identity(cfg: RefsegConfig) -> dict:
    out = to_dict(cfg)
    out.pop("output")
    return out


def score(model: LisaModel, batcher: Batcher, scored: list, run_dir: RunDir, amp, progress: bool,
          step: int, write: bool = True) -> tuple[dict[str, float], dict[str, str]]:
    """Predict and score each (name, SplitName, items); writes predictions_<name>.json (when `write`);
    metrics in percent."""
    device = next(model.projection.parameters()).device
    metrics, files = {}, {}
    writer = SummaryWriter(str(run_dir.tensorboard_dir)) if write else None
    for name, split_name, split_items in scored:
        entries, scores = predict(model, split_items, batcher, device, amp, progress, desc=f"eval {name}")
        files[name] = predictions_file(name)
        key = f"{split_name.dataset}_{split_name.split}" if name != "train_subset" else "train_subset"
        for metric, value in scores.items():
            metrics[f"{key}_{metric}"] = round(value, 4)
        if writer is not None:
            atomic_write_json(run_dir.path / files[name], entries)
            for metric, value in scores.items():
                writer.add_scalar(f"eval/{key}_{metric}", value, step)
    if writer is not None:
        writer.close()
    return metrics, files


def llm_fingerprint(llm: str) -> str:
    if llm != "tiny" and not Path(llm).expanduser().is_dir():
        raise FileNotFoundError(f"refseg config: field 'model.lisa.llm' = {llm!r}: not 'tiny' and not a local LLM "
                                f"directory (e.g. Qwen2.5-7B-Instruct), and no model.lisa.stage1 is given")
    return llm if llm == "tiny" else files_fingerprint([llm])


def stage1_dir(path: str) -> Path:
    """An MLLM probe run directory (its hf/ folder) or a LLaVA-NeXT directory itself."""
    hf = Path(path).expanduser()
    hf = hf / "hf" if (hf / "hf" / "config.json").is_file() else hf
    if not (hf / "config.json").is_file():
        raise FileNotFoundError(f"refseg config: field 'model.lisa.stage1' = {path!r}: no {hf / 'config.json'} "
                                f"(give an MLLM probe run directory or a LLaVA-NeXT save_pretrained folder)")
    return hf


def load_stage1(path: str, backbone):
    """(LLaVA-NeXT, processor) of the first stage with [SEG] added as one new token; its tower must be `backbone`."""
    from transformers import AutoProcessor, LlavaNextForConditionalGeneration

    from mllm.model import vision_tower

    hf = stage1_dir(path)
    llava = LlavaNextForConditionalGeneration.from_pretrained(str(hf))
    processor = AutoProcessor.from_pretrained(str(hf))
    tok = processor.tokenizer
    if SEG_TOKEN not in tok.get_vocab():
        tok.add_special_tokens({"additional_special_tokens": [SEG_TOKEN]}, replace_extra_special_tokens=False)
        llava.resize_token_embeddings(len(tok), mean_resizing=False)
    if weights_fingerprint(llava.model.vision_tower) != weights_fingerprint(vision_tower(backbone)[0]):
        raise ValueError(f"{hf}: its vision tower is not the backbone {backbone.info.name!r} (other weights); "
                         f"start from an MLLM run of the same backbone")
    return llava, processor


def build_model(cfg: RefsegConfig, backbone, sam, sam_id: str) -> tuple[LisaModel, Batcher]:
    """The LLaVA-NeXT of the MLLM probe with [SEG], LoRA and LISA's trainable parts, around `sam`."""
    from mllm.model import build_llava_next

    torch.manual_seed(cfg.seed)
    if cfg.model.lisa.stage1:
        llava, processor = load_stage1(cfg.model.lisa.stage1, backbone)
    else:
        llava, processor = build_llava_next(backbone, cfg.model.lisa.llm, tiling=cfg.model.lisa.tiling,
                                            seed=cfg.seed, extra_special_tokens=(SEG_TOKEN,))
    source = str(stage1_dir(cfg.model.lisa.stage1)) if cfg.model.lisa.stage1 else f"llm {cfg.model.lisa.llm!r}"
    seg_id = seg_token_id(processor.tokenizer, f"tokenizer of {source}")
    for p in llava.parameters():  # the tower, projector and LLM are frozen; LoRA and LISA's parts train
        p.requires_grad_(False)
    llava = apply_lora(llava, cfg.model.lisa.lora)
    cache_dir = Path(cfg.model.sam.cache_dir) if cfg.model.sam.cache_dir else None
    cache = SamEmbeddingCache(sam_id, cache_dir, cfg.model.sam.cache_memory_items) if cfg.model.sam.cache else None
    torch.manual_seed(cfg.seed + 1)  # projection init
    model = LisaModel(llava, sam, seg_id, cfg.model.lisa.seg_offset, cache)
    return model, Batcher(processor, sam, seg_id, cfg.data.max_length)


@register_probe(PROBE, RefsegConfig)
def run(cfg: RefsegConfig, backbone, data: LoadedData | None = None, progress: bool = True) -> RunRecord:
    """LISA referring segmentation on the frozen `backbone`; gIoU / cIoU per eval split, teacher-forced."""
    with torch_threads(cfg.train.threads):
        return _run(cfg, backbone, data, progress)


def _run(cfg: RefsegConfig, backbone, data: LoadedData | None, progress: bool) -> RunRecord:
    info = backbone.info
    cfg = replace(cfg, backbone=cfg.backbone or info.name).validate()
    data = data or load_data(cfg)
    sam = build_sam(cfg.model.sam)
    sam_id = sam_identity(sam, cfg.model.sam)
    bb = backbone_identity(backbone)
    data_fp = files_fingerprint(data.files())
    lisa = cfg.model.lisa
    start = files_fingerprint([stage1_dir(lisa.stage1)]) if lisa.stage1 else llm_fingerprint(lisa.llm)
    ident = combine(identity(cfg), bb["fingerprint"], data_fp, sam_id, start)
    run_dir = RunDir.locate(cfg.output.runs_dir, PROBE, DATASET, info.name,
                            cfg.output.run_id or f"{cfg.name}-s{cfg.seed}-{ident}")
    expected = {"identity": ident, "backbone_fingerprint": bb["fingerprint"], "data_fingerprint": data_fp,
                "sam": sam_id}
    if run_dir.done(expected):
        return RunRecord.load(run_dir.path, skipped=True)

    model, batcher = build_model(cfg, backbone, sam, sam_id)  # checks the [SEG] tokenizer
    dist_info = init_distributed(cfg.train.device)  # torchrun: one process per device; else world size 1
    main, world = dist_info.is_main, dist_info.world_size
    if main:
        run_dir.start(expected, to_dict(cfg), cfg.output.resume)
    barrier()
    started = now_iso()
    device = resolve_device(cfg.train.device) if world == 1 else dist_info.device
    model.to(device)
    if world > 1:
        shard_lisa(model)  # the MLLM probe's FSDP2 units + LisaModel as the root
    cache = model.cache  # None when model.sam.cache is off
    items = train_items(data.train, np.random.default_rng(cfg.seed), cfg.data.sentences_per_image)
    data.mixture.k = cfg.data.sentences_per_image
    stats = train(model, data.mixture, batcher, cfg.train, cfg.seed, run_dir, device, progress,
                  dist_info.rank, world)
    cache_stats = {"hits": cache.hits, "misses": cache.misses} if cache else None  # training's share

    t0 = time.time()
    scored = [(str(sp.name), sp.name, eval_items(sp)) for sp in data.eval]
    if cfg.eval.train_subset > 0 and items:  # the trained images and expressions themselves, teacher-forced as on val
        scored.append(("train_subset", items[0].split.name, items[: cfg.eval.train_subset]))
    # every rank runs the evaluation (FSDP's forward is collective); rank 0 writes predictions and the record
    metrics, files = score(model, batcher, scored, run_dir, autocast_dtype(cfg.train, device), progress and main,
                           cfg.train.steps, write=main)
    record = {
        "probe": PROBE, "dataset": DATASET, "data_root": str(data.root),
        "split": ",".join(cfg.data.eval_splits), "train_splits": [str(s.name) for s in data.train],
        "missing_train_splits": data.missing,
        "mixture": {"requested": dict(cfg.data.mixture),
                    **data.mixture.describe()},
        "backbone": {"name": info.name, "info": info.to_dict(), "fingerprint": bb["fingerprint"],
                     "source": bb["source"]},
        "data_fingerprint": data_fp, "sam": {"kind": cfg.model.sam.kind, "identity": sam_id},
        "llm": cfg.model.lisa.llm, "identity": ident, "metrics": metrics, "seed": cfg.seed,
        "run_id": run_dir.path.name, "config_name": cfg.name,
        "protocol": cfg.protocol(",".join(cfg.data.eval_splits)), "code_revision": code_revision(),
        "times": {"started": started, "finished": now_iso(), "train_seconds": round(stats["seconds"], 2),
                  "eval_seconds": round(time.time() - t0, 2), "resumed_from_step": stats["resumed_from"]},
        "train": {"last_loss": stats["last_loss"], "samples_by_source": stats["samples_by_source"],
                  "sam_cache": cache_stats},
        "environment": environment(), "world_size": world,
        "counts": {"train_images": len(items), "train_expressions": sum(len(i.expressions) for i in items),
                   "eval_expressions": {n: sum(len(i.expressions) for i in its) for n, _, its in scored}},
        "files": {"predictions": files, "checkpoint": run_dir.checkpoint_path.name,
                  "tensorboard": run_dir.tensorboard_dir.name},
    }
    if main:
        run_dir.write_metrics(record)
    barrier()
    return RunRecord(run_dir.path, record)


def evaluate_run(path: str | Path, splits: tuple[str, ...] = (), data_root: str = "", progress: bool = True) -> dict:
    """Re-score a run from its checkpoint on `splits` (default: the run's eval splits); writes predictions and
    evaluation.json in the run directory. The backbone and SAM must be the ones the run was trained with."""
    from rice.backbones import create_backbone
    from rice.config import load_config

    run_dir = RunDir(Path(path))
    for file in (run_dir.config_path, run_dir.checkpoint_path, run_dir.identity_path):
        if not file.is_file():
            raise FileNotFoundError(f"{file}: not found; {run_dir.path} is not a refseg run with a checkpoint")
    overrides = [f"data.eval_splits={json.dumps(list(splits))}"] if splits else []
    overrides += [f"data.refer_root={json.dumps(data_root)}"] if data_root else []
    cfg = load_config(RefsegConfig, run_dir.config_path, overrides).validate()
    known = json.loads((run_dir.identity_path).read_text())
    backbone = create_backbone(cfg.backbone)
    sam = build_sam(cfg.model.sam)
    sam_id = sam_identity(sam, cfg.model.sam)
    fp = backbone_identity(backbone)["fingerprint"]
    for what, now, then in (("backbone", fp, known["backbone_fingerprint"]), ("SAM", sam_id, known["sam"])):
        if now != then:
            raise ValueError(f"{run_dir.identity_path}: the run was trained with another {what} "
                             f"({then} there vs {now} now)")
    evals = read_eval_splits(cfg, refer_root(cfg.data.refer_root))
    with torch_threads(cfg.train.threads):
        model, batcher = build_model(cfg, backbone, sam, sam_id)
        state = run_dir.load_checkpoint()
        result = model.load_state_dict(state["model"], strict=False)
        if result.unexpected_keys:
            raise ValueError(f"{run_dir.checkpoint_path}: unexpected parameters {result.unexpected_keys[:3]}")
        device = resolve_device(cfg.train.device)
        model.to(device)
        scored = [(str(sp.name), sp.name, eval_items(sp)) for sp in evals]
        metrics, files = score(model, batcher, scored, run_dir, autocast_dtype(cfg.train, device), progress,
                               int(state["step"]))
    out = {"metrics": metrics, "files": files, "step": int(state["step"]), "evaluated": now_iso()}
    atomic_write_json(run_dir.path / EVAL_FILE, out)
    return out
