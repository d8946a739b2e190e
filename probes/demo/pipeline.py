"""`run_demo(cfg)`: the whole pipeline on the toy world, step by step, resumable.

    toyworld -> curate -> pretrain RICE / MLCD-style baseline -> export both (+ the random-init floor)
             -> detection probe x 3 -> leaderboard (CSV + Markdown) -> figures (AP bars, PCA of features)

Each step writes `OUT/steps/NN-name.json` (atomically) after it succeeded; a rerun skips steps with a marker
and continues the first unfinished one, whose own command resumes too (curate, pretrain and detection keep
checkpoints; toyworld and export write atomically). `OUT/demo_config.json` pins the settings: a rerun with
different settings into the same folder is refused, naming what changed.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

from probes.records import atomic_write_json
from probes.runner import Step, clock, metric_groups, metrics_lines, run_steps, torch_threads
from probes.runner import marker_path as _marker_at

from . import mllm_steps, refseg_steps, steps, tracking_steps
from .config import BACKBONES, MLCD, RANDOM, RICE, DemoConfig
from .figures import ap_bar_chart, pca_grid

CONFIG_FILE = "demo_config.json"
SUMMARY_FILE = "summary.json"
AP_FIGURE, PCA_FIGURE = "detection_ap.png", "pca_features.png"


def figures(cfg: DemoConfig, results: dict) -> dict:
    from PIL import Image

    metrics = {name: results[f"detection-{name}"]["metrics"] for name in BACKBONES}
    ap = ap_bar_chart(metrics, cfg.figures_dir / AP_FIGURE,
                      f"Toy-world detection, frozen tiny ViTs ({cfg.pretrain_steps} pretraining steps, "
                      f"{cfg.detection_iters} probe iterations)")
    val = sorted((cfg.toy_dir / "coco" / "val").glob("*.jpg"))[: cfg.pca_images]
    if not val:
        raise FileNotFoundError(f"{cfg.toy_dir / 'coco' / 'val'}: no toy val images for the PCA figure")
    images = [Image.open(p).convert("RGB") for p in val]
    pca = pca_grid(images, {name: cfg.backbone_dir(name) for name in BACKBONES}, cfg.figures_dir / PCA_FIGURE,
                   cfg.image_size)
    return {"ap_chart": str(ap), "pca": str(pca), "pca_images": [str(p) for p in val]}


STEPS: tuple[Step, ...] = (
    Step("toyworld", steps.toyworld, "render the toy world (COCO, RefCOCO, GOT-10k, LLaVA formats)"),
    Step("curate", steps.curate, "curate region shards: toy masks, RapidOCR, tiny embedder, k-means labels"),
    Step(f"pretrain-{RICE}", steps.pretrain(RICE), "pretrain RICE (object + OCR region losses, image loss)"),
    Step(f"export-{RICE}", steps.export(RICE), "export RICE as a Hugging Face MLCD directory"),
    Step(f"pretrain-{MLCD}", steps.pretrain(MLCD), "pretrain the MLCD-style image-level baseline"),
    Step(f"export-{MLCD}", steps.export(MLCD), "export the baseline as a Hugging Face MLCD directory"),
    Step(RANDOM, steps.random_init, "save the untrained step-0 model (the floor)"),
    *(Step(f"detection-{name}", steps.detection(name), f"detection probe on the frozen {name} backbone")
      for name in BACKBONES),
    *(Step(f"mllm-{name}", mllm_steps.step(name), f"MLLM probe (LLaVA-NeXT, toy VQA) on the frozen {name} backbone")
      for name in BACKBONES),
    *(Step(f"refseg-{name}", refseg_steps.step(name), f"referring segmentation (LISA, toy RefCOCO) on the frozen {name} backbone")
      for name in BACKBONES),
    *(Step(f"tracking-{name}", tracking_steps.step(name), f"tracking probe (OSTrack-style, toy GOT-10k) on the frozen {name} backbone")
      for name in BACKBONES),
    Step("leaderboard", steps.leaderboard, "leaderboard CSV + Markdown over the detection runs"),
    Step("figures", figures, "bar chart of detection AP, PCA of patch features"),
)


def marker_path(cfg: DemoConfig, index: int, step: Step) -> Path:
    return _marker_at(cfg.steps_dir, index, step)


def claim_output(cfg: DemoConfig) -> None:
    """Write OUT/demo_config.json, or check that the folder was made with these settings."""
    path = cfg.root / CONFIG_FILE
    if path.is_file():
        old = json.loads(path.read_text())
        changed = [f"{k}: {old.get(k)!r} -> {v!r}" for k, v in cfg.record().items() if old.get(k) != v]
        if changed:
            raise ValueError(f"{path}: this demo folder was made with other settings ({'; '.join(changed)}); "
                             "rerun with the same settings to resume, or pick a new --out")
        return
    if cfg.root.is_dir() and any(cfg.root.iterdir()):
        raise FileExistsError(f"--out {cfg.root}: the folder is not empty and holds no {CONFIG_FILE}; "
                              "pick a new or empty folder")
    atomic_write_json(path, cfg.record())


def run_demo(cfg: DemoConfig) -> dict:
    """Run (or resume) every step; returns the summary (also written to OUT/summary.json)."""
    cfg = cfg.validate()
    claim_output(cfg)
    with torch_threads(cfg.threads):
        return _run_steps(cfg)


def _run_steps(cfg: DemoConfig) -> dict:
    """The shared runner (probes.runner) over STEPS, markers in OUT/steps/, then the summary."""
    start = time.time()
    done = run_steps(STEPS, cfg, cfg.steps_dir)
    summary = make_summary(cfg, done.results, done.seconds, time.time() - start)
    atomic_write_json(cfg.root / SUMMARY_FILE, summary)
    print_summary(cfg, summary)
    return summary


def make_summary(cfg: DemoConfig, results: dict, timings: dict, wall: float) -> dict:
    """Paths and metrics of the demo. Generic over the probes: every step result with a "metrics" key
    appears under "metrics" ({probe: {backbone: metrics}}) and as "<probe>_metrics" / "<probe>_runs"."""
    board = results["leaderboard"]
    groups = metric_groups(results, BACKBONES)
    summary = {
        "out_dir": str(cfg.root),
        "leaderboard_csv": board["csv"], "leaderboard_md": board["markdown"],
        "figures": {"detection_ap": results["figures"]["ap_chart"], "pca": results["figures"]["pca"]},
        "toyworld": results["toyworld"]["dir"], "shards": results["curate"]["dir"],
        "pretrain_runs": {name: results[f"pretrain-{name}"]["dir"] for name in (RICE, MLCD)},
        "backbones": {name: str(cfg.backbone_dir(name)) for name in BACKBONES},
        "metrics": groups,
        "probe_runs": {step: r["dir"] for step, r in results.items()
                       if isinstance(r, dict) and "metrics" in r and "dir" in r},
    }
    for probe, by_backbone in groups.items():
        summary[f"{probe}_metrics"] = by_backbone
        summary[f"{probe}_runs"] = {b: results[f"{probe}-{b}" if b else probe].get("dir", "") for b in by_backbone}
    summary.update({"step_seconds": timings, "this_run_seconds": round(wall, 2),
                    "all_steps_seconds": round(sum(timings.values()), 2)})
    return summary


def print_summary(cfg: DemoConfig, s: dict) -> None:
    md = Path(s["leaderboard_md"])
    print(f"\n{'=' * 100}\nDemo finished: this run {clock(s['this_run_seconds'])}, "
          f"all steps together {clock(s['all_steps_seconds'])}\n{'=' * 100}")
    if md.is_file():
        print(md.read_text().rstrip())
    print("\nProbe metrics on the toy val splits (%):\n" + "\n".join(metrics_lines(s["metrics"])))
    print(f"\nleaderboard:  {s['leaderboard_csv']}\n              {s['leaderboard_md']}")
    print(f"figures:      {s['figures']['detection_ap']}\n              {s['figures']['pca']}")
    print(f"pretraining:  {s['pretrain_runs'][RICE]}\n              {s['pretrain_runs'][MLCD]}")
    print("backbones:    " + "\n              ".join(s["backbones"].values()))
    print("probe runs:   " + "\n              ".join(s["probe_runs"].values()))
    print(f"toy world:    {s['toyworld']}\nshards:       {s['shards']}\nsummary:      {cfg.root / SUMMARY_FILE}")
