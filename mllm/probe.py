"""`run(cfg, backbone) -> RunRecord`: LLaVA-NeXT on the backbone, stage 1 then stage 2, then lmms-eval.

Order keeps the promise "bad input leaves no run record": config, every data item (image files,
`<image>` marks) and the model assembly are checked before the run directory is created. Under
torchrun every rank trains (FSDP2); rank 0 saves the Hugging Face checkpoint (RUN/hf/), runs the
lmms-eval tasks and writes metrics.json.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, replace
from pathlib import Path

import torch

from probes.base import RunRecord, register_probe
from probes.identity import backbone_identity, combine, files_fingerprint, weights_fingerprint
from probes.records import RunDir, code_revision, environment, now_iso
from probes.runner import torch_threads
from rice.config import to_dict

from . import evaluate as ev
from .config import MLLMConfig
from .data import ConversationDataset, Entry, load_llava_json

PROBE = "mllm"
HF_DIR = "hf"


@dataclass
class Data:
    name: str
    stage1: list[Entry]
    stage2: list[Entry]
    val: list[Entry]
    files: list[Path]


def resolve_data(cfg: MLLMConfig) -> MLLMConfig:
    """Fill the data file fields from `data.spec` ("toy:DIR")."""
    d = cfg.data
    if not d.spec:
        return cfg
    kind, _, where = d.spec.partition(":")
    if kind != "toy" or not where:
        raise ValueError(f"mllm config: field 'data.spec' = {d.spec!r}: must be 'toy:DIR' (or set data.stage1_json, "
                         f"data.stage2_json and data.val_json)")
    llava = Path(where).expanduser() / "llava"
    return replace(cfg, data=replace(d, stage1_json=str(llava / "captions.json"), stage2_json=str(llava / "train.json"),
                                     val_json=str(llava / "val.json"), name=d.name or "toy"))


def load_data(cfg: MLLMConfig) -> Data:
    d = cfg.data
    if not d.stage2_json:
        raise ValueError("mllm config: field 'data.stage2_json' is empty: pass --data toy:DIR or set the data files")
    if d.spec and not Path(d.stage1_json).is_file():
        raise FileNotFoundError(f"{d.stage1_json}: no stage-1 captions in the toy world {d.spec[4:]!r}; it was "
                                f"written before captions existed: regenerate it with `rice toyworld`")
    s1 = load_llava_json(d.stage1_json, d.stage1_images or None, d.limit_train) if d.stage1_json else []
    s2 = load_llava_json(d.stage2_json, d.stage2_images or None, d.limit_train)
    val = load_llava_json(d.val_json, d.val_images or None) if d.val_json else []
    files = [Path(p) for p in (d.stage1_json, d.stage2_json, d.val_json) if p]
    return Data(d.name or "llava-next", s1, s2, val, files)


def identity(cfg: MLLMConfig) -> dict:
    out = to_dict(cfg)
    out.pop("output")
    # paths are for finding data (its content is fingerprinted); these knobs do not change results
    out["data"] = {k: v for k, v in out["data"].items() if k not in ("spec",) and not k.endswith(("_json", "_images"))}
    for knob in ("threads", "checkpoint_every"):
        out["train"].pop(knob)
    return out


def run_identity(cfg: MLLMConfig, backbone_fingerprint: str, data: Data) -> dict:
    llm = "tiny" if cfg.llm == "tiny" else files_fingerprint([cfg.llm])
    return {"config": identity(cfg), "backbone": backbone_fingerprint, "data": files_fingerprint(data.files),
            "llm": llm}


@register_probe(PROBE, MLLMConfig)
def run(cfg: MLLMConfig, backbone, data: Data | None = None, progress: bool = True) -> RunRecord:
    """LLaVA-NeXT two-stage training on the (frozen) backbone, scored with lmms-eval."""
    with torch_threads(cfg.train.threads):
        return _run(cfg, backbone, data, progress)


def _run(cfg: MLLMConfig, backbone, data: Data | None, progress: bool) -> RunRecord:
    from torch.utils.tensorboard import SummaryWriter

    from rice.train.dist import barrier, init_distributed

    from .model import build_llava_next
    from .train import full_state_dict, shard, train_stage

    cfg = resolve_data(replace(cfg, backbone=cfg.backbone or backbone.info.name)).validate()
    data = data or load_data(cfg)
    check_eval_tasks(cfg, data)  # a missing dataset fails here, before any model is built or file written
    info = backbone.info
    bb = backbone_identity(backbone)  # hashes every weight once
    ident = run_identity(cfg, bb["fingerprint"], data)
    run_hash = combine(ident)
    run_id = cfg.output.run_id or f"{cfg.name}-s{cfg.seed}-{run_hash}"
    run_dir = RunDir.locate(cfg.output.runs_dir, PROBE, data.name, info.name, run_id)
    expected = {"identity": run_hash, "config_hash": combine(ident["config"]),
                "backbone_fingerprint": ident["backbone"], "data_fingerprint": ident["data"], "llm": ident["llm"]}
    if run_dir.done(expected):
        return RunRecord.load(run_dir.path, skipped=True)
    dtype = getattr(torch, cfg.model.dtype)
    model, processor = build_llava_next(backbone, cfg.llm, tiling=cfg.model.tiling,
                                        pinpoints=cfg.model.pinpoints or None, seed=cfg.seed)
    dist_info = init_distributed(cfg.train.device)
    cfg.accumulation(dist_info.world_size)  # a global batch that does not split is refused before writing
    if dist_info.is_main:
        run_dir.start(expected, to_dict(cfg), cfg.output.resume)
    barrier()
    started = now_iso()
    if cfg.model.gradient_checkpointing:
        model.model.language_model.gradient_checkpointing_enable()
    model.to(dist_info.device)
    if dist_info.world_size > 1:
        shard(model)
    # the tower's hash, not a copy of it (on any device); sharded towers are checked by the FSDP test instead
    tower_before = weights_fingerprint(model.model.vision_tower) if dist_info.world_size == 1 else None
    writer = SummaryWriter(str(run_dir.tensorboard_dir)) if dist_info.is_main else None
    stages = {}
    for stage, entries, template in (("stage1", data.stage1, "plain"), ("stage2", data.stage2, "chat")):
        if not entries:
            continue
        ds = ConversationDataset(entries, processor, template, cfg.data.max_length)
        stages[stage] = train_stage(model, ds, stage, cfg, dist_info, run_dir.path, writer, progress)
    tower_unchanged = weights_fingerprint(model.model.vision_tower) == tower_before if tower_before else None
    state = full_state_dict(model)
    if dist_info.is_main:
        hf = run_dir.path / HF_DIR
        model.save_pretrained(hf, state_dict=state)
        processor.save_pretrained(hf)
    barrier()
    if not dist_info.is_main:
        return RunRecord(run_dir.path, {})
    del state
    t0 = time.time()
    metrics, evals = evaluate_checkpoint(run_dir.path / HF_DIR, cfg, data, run_dir.path / "eval")
    for k, v in metrics.items():
        writer.add_scalar(f"eval/{k}", v, 0)
    writer.close()
    record = {
        "probe": PROBE, "dataset": data.name, "split": "val" if data.val else ",".join(cfg.eval.tasks),
        "backbone": {**bb, "info": info.to_dict()},
        "data_fingerprint": ident["data"], "llm": {"name": cfg.llm, "fingerprint": ident["llm"]},
        "identity": run_hash, "metrics": metrics, "evaluations": evals,
        "training": {s: {"steps": r.steps, "first_loss": r.losses[0], "last_loss": r.losses[-1],
                         "losses": r.losses, "resumed_from_step": r.resumed_from, "seconds": round(r.seconds, 2)}
                     for s, r in stages.items()},
        "tower_unchanged": tower_unchanged,
        "seed": cfg.seed, "run_id": run_dir.path.name, "config_name": cfg.name,
        "protocol": {**cfg.protocol("val" if data.val else "test", info.image_size),
                     "toolkit": f"lmms-eval=={ev.installed_version()}"},
        "derived": {"accumulation": cfg.accumulation(dist_info.world_size), "world_size": dist_info.world_size,
                    "image_grid_pinpoints": model.config.image_grid_pinpoints, "dtype": str(dtype)},
        "code_revision": code_revision(),
        "times": {"started": started, "finished": now_iso(), "eval_seconds": round(time.time() - t0, 2)},
        "environment": environment(),
        "counts": {"stage1": len(data.stage1), "stage2": len(data.stage2), "val": len(data.val)},
        "files": {"checkpoint": HF_DIR, "eval": "eval", "tensorboard": run_dir.tensorboard_dir.name},
    }
    run_dir.write_metrics(record)
    return RunRecord(run_dir.path, record)


def check_eval_tasks(cfg: MLLMConfig, data: Data | None) -> None:
    """Toy tasks need val data; standard names must be lmms-eval tasks whose datasets are present locally."""
    from .lmms_tasks import check_tasks

    for task in cfg.eval.tasks:
        if task in ev.TOY_TASKS and (not data or not data.val):
            raise ValueError(f"mllm eval: task {task!r} needs val data (--data toy:DIR or data.val_json)")
    check_tasks(list(cfg.eval.tasks), cfg.eval.include_path, skip=ev.TOY_TASKS)


def evaluate_checkpoint(checkpoint: Path, cfg: MLLMConfig, data: Data | None, eval_dir: Path) -> tuple[dict, dict]:
    """Every `eval.tasks` task through lmms-eval; (metrics in %, per-task details)."""
    check_eval_tasks(cfg, data)
    metrics, details = {}, {}
    for task in cfg.eval.tasks:
        rows = ev.toy_rows(data.val) if task in ev.TOY_TASKS else None
        out = ev.run_task(checkpoint, task, eval_dir, device="cpu" if not torch.cuda.is_available() else "cuda",
                          batch_size=cfg.eval.batch_size, limit=cfg.eval.limit, include_path=cfg.eval.include_path,
                          toy_rows_=rows)
        scores = ev.paper_scores(task, out["results"])
        if not scores:
            raise ValueError(f"lmms-eval task {task!r}: its result file has no numeric metric ({out['log']})")
        main = next(iter(scores))
        metrics[task] = scores[main]
        detail = {"metric": main, "scores": scores, "samples_file": str(out["samples_file"]),
                  "lmms_eval_version": ev.installed_version(),  # the distribution; its files say "main@<hash>"
                  "lmms_eval_reported": out["results"].get("lmms_eval_version"),
                  "task_version": (out["results"].get("versions") or {}).get(task)}
        if rows is not None:
            preds = ev.sample_predictions(out["samples"])
            own = ev.per_type_accuracy(rows, preds)
            hits = sum(ev.normalize(preds[i]) == ev.normalize(rows[i]["answer"]) for i in preds)
            detail["own_exact_match"] = 100.0 * hits / max(1, len(preds))
            detail["majority_baseline"] = ev.majority_baseline([rows[i] for i in sorted(preds)])
            detail["per_type"] = own
            metrics.update({f"{task}_{t}": v for t, v in own.items()})
        details[task] = detail
    return metrics, details
