"""The demo's tracking steps: the tiny tracking probe on each exported backbone, on toy GOT-10k sequences.

The demo's main toy world writes only a couple of very short sequences, so the tracking step writes its own
small toy world (more and longer sequences, same generator) once, with the real `rice toyworld` command,
into OUT/tracking_toy; then `rice-probe tracking train` runs on it for the given backbone.
"""

from __future__ import annotations

from typing import Callable

from probes.runner import probe_cli, rice_cli

from .config import CONFIGS, DemoConfig
from .steps import latest_run


def toy_dir(cfg: DemoConfig):
    return cfg.root / "tracking_toy"


def write_toy_sequences(cfg: DemoConfig) -> None:
    """`rice toyworld` into OUT/tracking_toy unless it is there (the command writes atomically)."""
    out = toy_dir(cfg)
    if (out / "got10k" / "val" / "list.txt").is_file():
        return
    rice_cli(["toyworld", "--out", out, "--num-images", 2, "--seed", cfg.seed, "--num-sequences",
              cfg.tracking_sequences, "--min-frames", cfg.tracking_frames, "--max-frames", cfg.tracking_frames,
              "--frame-size", 160, 120, "--overwrite", *([] if cfg.progress else ["--no-progress"])])


def tracking_overrides(cfg: DemoConfig) -> list[str]:
    iters = max(1, cfg.tracking_samples // 8)  # the tiny preset's batch
    return [f"seed={cfg.seed}", f"train.epochs={cfg.tracking_epochs}", f"sampling.samples_per_epoch={cfg.tracking_samples}",
            f"train.lr_drop_epoch={max(1, int(cfg.tracking_epochs * 0.8))}",
            f"train.checkpoint_every={max(1, iters)}", f"train.log_every={max(1, min(iters, 8))}"]


def step(kind: str) -> Callable[[DemoConfig, dict], dict]:
    def run(cfg: DemoConfig, results: dict) -> dict:
        write_toy_sequences(cfg)
        toy = toy_dir(cfg)
        probe_cli(["tracking", "train", "--backbone", cfg.backbone_dir(kind), "--config", CONFIGS / "tracking" / "tiny.yaml",
                   "--train", f"toy:{toy}:train", "--eval", f"toy:{toy}:val", "--runs-dir", cfg.runs_dir,
                   *([] if cfg.progress else ["--quiet"]), *tracking_overrides(cfg)])
        return latest_run(cfg.runs_dir / "tracking" / "toy" / kind)

    return run
