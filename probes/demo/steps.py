"""The demo's steps. Each one runs the real command through its `main(argv)` (the argv is printed, so every
step can be repeated by hand) and returns a small JSON-able result that the pipeline keeps in the step's
done-marker. Only the random-init floor is not a command: it is the pretraining runs' own step-0 model.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Callable

from probes.runner import StepFailed, call, probe_cli, rice_cli  # noqa: F401  (the demo's steps use these names)

from .config import CONFIGS, MLCD, RANDOM, RICE, DemoConfig


def _quiet(cfg: DemoConfig) -> list[str]:
    return [] if cfg.progress else ["--no-progress"]


# -- 1. toy world --------------------------------------------------------------------------------
def toyworld(cfg: DemoConfig, results: dict) -> dict:
    toy = cfg.toy_dir
    # `rice toyworld` writes atomically; a folder without a done-marker is regenerated (same bytes)
    overwrite = ["--overwrite"] if toy.exists() else []
    rice_cli(["toyworld", "--out", toy, "--num-images", cfg.num_images, "--seed", cfg.seed,
              "--image-size", cfg.image_size, "--num-sequences", 2, "--min-frames", 2, "--max-frames", 4,
              *overwrite, *_quiet(cfg)])
    counts = {}
    for split in ("train", "val"):
        coco = json.loads((toy / "coco" / "annotations" / f"instances_{split}.json").read_text())
        counts[split] = {"images": len(coco["images"]), "annotations": len(coco["annotations"])}
    return {"dir": str(toy), "coco": counts}


# -- 2. curation ---------------------------------------------------------------------------------
def curate(cfg: DemoConfig, results: dict) -> dict:
    """Curate the toy *train* images only (detection evaluates on val), with the toy world's own masks."""
    toy, out = cfg.toy_dir, cfg.shards_dir
    rice_cli(["curate", toy / "coco" / "train", "--out", out, "--config", CONFIGS / "curate" / "toy.yaml",
              "--masks", f"coco:{toy / 'coco' / 'annotations' / 'instances_train.json'}",
              "--embedder", cfg.embedder, "--num-clusters", cfg.num_clusters, "--ocr", cfg.ocr,
              # the preset's k nearest centers per image, capped by K (a tiny demo may have fewer centers)
              "--image-labels-k", min(3, cfg.num_clusters),
              "--seed", cfg.seed, *_quiet(cfg)])
    return curate_result(out)


def curate_result(out: Path) -> dict:
    """A finished curation's step result: its folder, K, OCR vocabulary, pretraining overrides and counts."""
    written = json.loads((out / "curate_config.json").read_text())
    stats = json.loads((out / "curate_stats.json").read_text())
    return {"dir": str(out), "num_object_classes": written["num_object_classes"],
            "num_ocr_classes": written["num_ocr_classes"], "pretrain_overrides": written["pretrain_overrides"],
            "images_written": stats["images_written"], "object_regions": stats["object_regions"],
            "ocr_regions": stats["ocr_regions"], "ocr_lines": stats["ocr_lines"]}


# -- 3. pretraining and export -------------------------------------------------------------------
def pretrain_overrides(cfg: DemoConfig, curated: dict) -> list[str]:
    """Curation's recommended overrides (K, OCR vocabulary, tokens per region, image labels) + the schedule."""
    keep = [o for o in curated["pretrain_overrides"] if cfg.centers_init or not o.startswith("loss.centers_init=")]
    steps = cfg.pretrain_steps
    return keep + [f"seed={cfg.seed}", f"data.batch_size={cfg.pretrain_batch_size}", f"loop.max_steps={steps}",
                   f"loop.warmup_steps={max(1, min(steps // 10, 50))}", f"loop.log_every={max(1, min(steps // 10, 20))}",
                   f"loop.checkpoint_every={max(1, min(steps // 4, 100))}", f"loop.progress={str(cfg.progress).lower()}"]


def pretrain(kind: str) -> Callable[[DemoConfig, dict], dict]:
    """RICE (object + OCR region losses and the image loss), or the MLCD-style image-level baseline."""
    extra = [] if kind == RICE else ["loss.region_losses=false"]

    def step(cfg: DemoConfig, results: dict) -> dict:
        run = cfg.pretrain_dir / kind
        rice_cli(["pretrain", "--config", cfg.pretrain_config, "--data", cfg.shards_dir, "--out", run,
                  *pretrain_overrides(cfg, results["curate"]), *extra])
        rows = [json.loads(line) for line in (run / "train_log.jsonl").read_text().splitlines() if line]
        return {"dir": str(run), "first": rows[0] if rows else None, "last": rows[-1] if rows else None}

    return step


def export(kind: str) -> Callable[[DemoConfig, dict], dict]:
    def step(cfg: DemoConfig, results: dict) -> dict:
        out = cfg.backbone_dir(kind)
        rice_cli(["export", cfg.pretrain_dir / kind, out, "--overwrite"])  # atomic; replaces a stale copy
        return {"dir": str(out)}

    return step


def random_init(cfg: DemoConfig, results: dict) -> dict:
    """The floor: the exact model both pretraining runs start from, untrained.

    `rice pretrain` seeds everything with `seed` and then builds `RiceModel(cfg.model)` first; doing the same
    with the RICE run's resolved config gives its step-0 weights (and the MLCD run's: same seed, same model).
    """
    import torch

    from rice.config import load_config
    from rice.model import RiceModel
    from rice.train.checkpoint import atomic_directory
    from rice.train.loop import seed_everything
    from rice.train.pretrain_config import PretrainConfig

    run_config = cfg.pretrain_dir / RICE / "config.yaml"
    pcfg = load_config(PretrainConfig, run_config)
    seed_everything(pcfg.seed)
    with torch.no_grad():
        model = RiceModel(pcfg.model)
    out = cfg.backbone_dir(RANDOM)
    with atomic_directory(out) as tmp:
        model.vit.save_pretrained(tmp)
    print(f"random-init floor (step-0 weights of {run_config}, seed {pcfg.seed}) -> {out}")
    return {"dir": str(out), "config": str(run_config), "seed": pcfg.seed}


# -- 4. detection probe --------------------------------------------------------------------------
def detection_overrides(cfg: DemoConfig) -> list[str]:
    iters, size = cfg.detection_iters, cfg.detection_size
    return [f"seed={cfg.seed}", f"train.max_iters={iters}", f"train.warmup_iters={max(1, min(iters // 10, 20))}",
            f"train.lr_steps=[{max(1, int(iters * 0.8))}]", f"train.checkpoint_every={max(1, min(iters // 3, 100))}",
            f"train.log_every={max(1, min(iters // 10, 20))}", f"input.image_size={size}",
            f"input.test_short_edge={size}", f"input.test_max_size={size}", f"eval.max_images={cfg.eval_images}"]


def detection(kind: str) -> Callable[[DemoConfig, dict], dict]:
    def step(cfg: DemoConfig, results: dict) -> dict:
        probe_cli(["detection", "--backbone", cfg.backbone_dir(kind), "--data", f"toy:{cfg.toy_dir}",
                   "--config", cfg.detection_config, "--runs-dir", cfg.runs_dir,
                   *([] if cfg.progress else ["--quiet"]), *detection_overrides(cfg)])
        return latest_run(cfg.runs_dir / "detection" / "toy" / kind)

    return step


def latest_run(backbone_runs: Path, pattern: str = "*/metrics.json") -> dict:
    """A probe step's result: the newest finished run under `backbone_runs`, its folder and its metrics."""
    found = sorted(backbone_runs.glob(pattern), key=lambda p: p.stat().st_mtime)
    if not found:
        raise FileNotFoundError(f"{backbone_runs}: no finished run (no {pattern})")
    return {"dir": str(found[-1].parent), "metrics": json.loads(found[-1].read_text())["metrics"]}


# -- 5. leaderboard ------------------------------------------------------------------------------
def leaderboard(cfg: DemoConfig, results: dict) -> dict:
    """Long CSV, wide CSV (deltas against the MLCD-style baseline) and Markdown. The paper's published rows
    are left out: they are COCO/LVIS numbers of large models, not comparable with toy-world runs."""
    csv = cfg.results_dir / "leaderboard.csv"
    probe_cli(["leaderboard", cfg.runs_dir, "-o", csv, "--baseline", MLCD, "--no-paper"])
    return {"csv": str(csv), "wide_csv": str(csv.with_name(csv.stem + "_wide.csv")),
            "markdown": str(csv.with_suffix(".md"))}
