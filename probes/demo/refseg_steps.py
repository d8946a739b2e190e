"""Demo steps of the referring-segmentation probe: LISA (tiny LLM, tiny SAM) on each exported backbone.

Each step runs the real command (`rice-probe refseg train`) on the toy world's RefCOCO with the
DemoConfig's `refseg_*` knobs as overrides and returns the run's toy val gIoU / cIoU.
"""

from __future__ import annotations

from typing import Callable

from probes.runner import probe_cli

from .config import CONFIGS, DemoConfig
from .steps import latest_run


def overrides(cfg: DemoConfig) -> list[str]:
    steps = cfg.refseg_steps
    return [f"seed={cfg.seed}", f"train.steps={steps}", f"train.warmup_steps={max(1, steps // 10)}",
            f"train.checkpoint_every={max(1, steps // 2)}", f"train.log_every={max(1, steps // 10)}",
            f"eval.max_images={cfg.refseg_eval_images}", f"train.threads={cfg.threads}"]


def step(kind: str) -> Callable[[DemoConfig, dict], dict]:
    def run(cfg: DemoConfig, results: dict) -> dict:
        probe_cli(["refseg", "train", "--backbone", cfg.backbone_dir(kind), "--data", cfg.toy_dir,
                   "--config", str(CONFIGS / "refseg" / "tiny.yaml"), "--runs-dir", cfg.runs_dir,
                   *([] if cfg.progress else ["--quiet"]), *overrides(cfg)])
        return latest_run(cfg.runs_dir / "refseg" / "refer" / kind)

    return run
