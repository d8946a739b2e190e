"""The steps of each sweep job, and `run_job(job)`: what a worker (this process, a local process or a Slurm
job through submitit) runs. Steps call the real commands (`rice toyworld|curate|pretrain|export`,
`rice-probe detection`, the demo's probe steps) through the shared runner, so a job killed anywhere resumes
at its first unfinished step.
"""

from __future__ import annotations

import importlib
import json
import math
import os
import subprocess
import sys
from pathlib import Path

from probes.demo import steps as demo_steps
from probes.demo.config import DemoConfig
from probes.records import atomic_write_json
from probes.runner import Step, probe_cli, rice_cli, run_steps, torch_threads

from .knobs import all_knobs
from .plan import Job, model_kind, prepare, split_knobs


def _sets(cell: dict, stage: str) -> list[str]:
    """Dotted overrides of the extra knobs acting at `stage` (width also sets the MLP width, 4x)."""
    knobs, out = all_knobs(), []
    _, extra = split_knobs(cell)
    for name, value in extra.items():
        knob = knobs[name]
        if knob.stage == stage:
            text = str(value).lower() if isinstance(value, bool) else value
            out += [f"{key}={text}" for key in knob.sets]
            if name == "width":
                out.append(f"model.vision.intermediate_size={4 * value}")
    return out


# -- curation ------------------------------------------------------------------------------------
def _subset(images: Path, fraction: float, out: Path) -> Path:
    """A folder of links to the first `fraction` of the images (sorted by relative path)."""
    from rice.curate.files import list_images

    paths = list_images(images)
    keep = paths[: max(1, math.ceil(fraction * len(paths)))]
    out.mkdir(parents=True, exist_ok=True)
    for p in keep:
        rel = Path(p).relative_to(images)
        dest = out / rel
        dest.parent.mkdir(parents=True, exist_ok=True)
        if not dest.is_symlink():
            os.symlink(Path(p).absolute(), dest)
    return out


def curate(job: Job):
    def step(cfg: DemoConfig, results: dict) -> dict:
        sweep, cell = job.sweep, job.cell
        toy_ann = cfg.toy_dir / "coco" / "annotations" / "instances_train.json"
        images = Path(sweep.data_images) if sweep.data_images else cfg.toy_dir / "coco" / "train"
        fraction = cell.get("data_fraction", 1.0)
        if fraction < 1.0:
            images = _subset(images, fraction, cfg.root / "images")
        masks = [] if sweep.data_images else ["--masks", f"coco:{toy_ann}"]
        sets = _sets(cell, "curate") + sweep.curate_set
        rice_cli(["curate", images, "--out", cfg.shards_dir, "--config", sweep.curate_config, *masks,
                  "--embedder", cfg.embedder, "--num-clusters", cfg.num_clusters, "--ocr", cfg.ocr,
                  "--seed", cfg.seed, "--no-progress", *(["--set", *sets] if sets else [])])
        if cell.get("teacher") == "oracle":
            from .oracle import relabel_with_categories

            relabel_with_categories(cfg.shards_dir, toy_ann)
        return demo_steps.curate_result(cfg.shards_dir)

    return step


# -- pretraining ---------------------------------------------------------------------------------
def _pretrain_overrides(job: Job, cfg: DemoConfig, results: dict) -> list[str]:
    """The demo's overrides (curation's K, OCR vocabulary...; the schedule), then the knobs', then the YAML's."""
    return [*demo_steps.pretrain_overrides(cfg, results["curate"]), *_sets(job.cell, "pretrain"),
            *job.sweep.pretrain_set]


def pretrain(job: Job):
    def step(cfg: DemoConfig, results: dict) -> dict:
        run = cfg.pretrain_dir / model_kind(job.cell)
        argv = ["pretrain", "--config", cfg.pretrain_config, "--data", cfg.shards_dir, "--out", run,
                *_pretrain_overrides(job, cfg, results)]
        nproc = int(job.sweep.executor.slurm.get("nproc_per_node", 1) or 1)
        if nproc > 1:  # a multi-GPU cell: the same command under torchrun inside the job
            command = [sys.executable, "-m", "torch.distributed.run", "--nproc-per-node", str(nproc),
                       "-m", "rice.cli", *map(str, argv)]
            print("$ " + " ".join(command), flush=True)
            subprocess.run(command, check=True)
        else:
            rice_cli(argv)
        rows = [json.loads(line) for line in (run / "train_log.jsonl").read_text().splitlines() if line]
        return {"dir": str(run), "first": rows[0] if rows else None, "last": rows[-1] if rows else None}

    return step


def floor(job: Job):
    """The untrained model that a pretraining run with these knobs would start from (its step-0 weights)."""
    def step(cfg: DemoConfig, results: dict) -> dict:
        import torch

        from rice.config import load_config
        from rice.model import RiceModel
        from rice.train.checkpoint import atomic_directory
        from rice.train.loop import seed_everything
        from rice.train.pretrain_config import PretrainConfig

        overrides = _pretrain_overrides(job, cfg, results)
        pcfg = load_config(PretrainConfig, cfg.pretrain_config, overrides)
        seed_everything(pcfg.seed)  # what `rice pretrain` does before it builds the model
        with torch.no_grad():
            model = RiceModel(pcfg.model)
        out = cfg.backbone_dir(model_kind(job.cell))
        with atomic_directory(out) as tmp:
            model.vit.save_pretrained(tmp)
        return {"dir": str(out), "seed": pcfg.seed, "overrides": overrides}

    return step


# -- probes --------------------------------------------------------------------------------------
def detection(job: Job, backbone: str):
    def step(cfg: DemoConfig, results: dict) -> dict:
        data = job.sweep.data_detection or f"toy:{cfg.toy_dir}"
        probe_cli(["detection", "--backbone", backbone, "--data", data, "--config", cfg.detection_config,
                   "--runs-dir", cfg.runs_dir, "--quiet", *demo_steps.detection_overrides(cfg),
                   *job.sweep.detection_set])
        return demo_steps.latest_run(cfg.runs_dir, "detection/*/*/*/metrics.json")

    return step


def job_steps(job: Job, cfg: DemoConfig) -> list[Step]:
    kind = model_kind(job.cell)
    if job.stage == "world":
        return [Step("toyworld", demo_steps.toyworld, "render the toy world")]
    if job.stage == "curate":
        return [Step("curate", curate(job), "curate region shards")]
    if job.stage == "model":
        if job.cell.get("untrained"):
            return [Step(kind, floor(job), "save the untrained step-0 model (the floor)")]
        return [Step(f"pretrain-{kind}", pretrain(job), "pretrain"),
                Step(f"export-{kind}", demo_steps.export(kind), "export as a Hugging Face MLCD directory")]
    backbone = job.cell["backbone"] if job.sweep.backbone_sweep else str(cfg.backbone_dir(kind))
    out = []
    for probe in job.sweep.probes:
        if probe == "detection":
            out.append(Step("detection", detection(job, backbone), "detection probe"))
        else:
            module = importlib.import_module(f"probes.demo.{probe}_steps")
            out.append(Step(probe, module.step(kind), f"{probe} probe"))
    return out


def _run(job: Job, results: dict | None = None) -> tuple[DemoConfig, object]:
    cfg = prepare(job)
    return cfg, run_steps(job_steps(job, cfg), cfg, Path(job.dir) / "steps", results=results, label=job.label,
                          banner=False)


def _run_model(model: Job):
    """A model job (pretrain + export, or the floor) under a lock on its folder: parallel cells that share a
    model wait for the first one instead of training it twice."""
    from filelock import FileLock

    Path(model.dir).mkdir(parents=True, exist_ok=True)
    with FileLock(str(Path(model.dir) / ".lock")):
        shards = prepare(model).shards_dir  # the link to the curation
        _, done = _run(model, {"curate": demo_steps.curate_result(shards.resolve())})
    return done


def run_job(job: Job) -> dict:
    """Run (or resume) one job; returns {"stage", "id", "dir", "cell", "results", "seconds", "ran"} (also
    written to its folder as job.json). A cell first runs its model's steps (`_run_model`).
    Torch's thread count is the job's while it runs and the caller's again after (the sequential executor
    runs jobs in the caller's process)."""
    with torch_threads(demo_config_threads(job) or 0):
        return _run_job(job)


def _run_job(job: Job) -> dict:
    seeded, model_seconds = {}, {}
    if job.stage == "model":
        done = _run_model(job)
    else:
        if job.model is not None:
            first = _run_model(job.model)
            seeded, model_seconds = {k: v for k, v in first.results.items() if k != "curate"}, first.seconds
        _, done = _run(job, seeded)
    results = {k: v for k, v in done.results.items() if k != "curate" or job.stage == "curate"}
    record = {"stage": job.stage, "id": job.id, "dir": job.dir, "cell": job.cell, "results": results,
              "seconds": {**model_seconds, **done.seconds}, "ran": done.ran}
    atomic_write_json(Path(job.dir) / "job.json", record)
    return record


def demo_config_threads(job: Job) -> int:
    from .plan import demo_config

    return demo_config(job.sweep, job.cell, job.dir).threads
