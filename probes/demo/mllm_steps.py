"""Demo steps of the MLLM probe: LLaVA-NeXT (tiny LLM) on each exported backbone, toy VQA through lmms-eval.

Each step runs the real command (`rice-probe mllm train`) on the toy world's LLaVA files, with the
DemoConfig's `mllm_*` knobs as overrides, and returns the run's toy VQA accuracy per question type.
"""

from __future__ import annotations

from typing import Callable

from probes.runner import probe_cli

from .config import CONFIGS, DemoConfig
from .steps import latest_run


def overrides(cfg: DemoConfig) -> list[str]:
    return [f"seed={cfg.seed}", f"stage1.max_steps={cfg.mllm_stage1_steps}",
            f"stage2.max_steps={cfg.mllm_stage2_steps}", f"data.limit_train={cfg.mllm_train_items}",
            f"eval.limit={cfg.mllm_eval_docs}", f"train.threads={cfg.threads}",
            f"train.checkpoint_every={max(1, cfg.mllm_stage2_steps // 2)}"]


def step(kind: str) -> Callable[[DemoConfig, dict], dict]:
    def run(cfg: DemoConfig, results: dict) -> dict:
        probe_cli(["mllm", "train", "--backbone", cfg.backbone_dir(kind), "--data", f"toy:{cfg.toy_dir}",
                   "--config", str(CONFIGS / "mllm" / "tiny.yaml"), "--runs-dir", cfg.runs_dir,
                   *([] if cfg.progress else ["--quiet"]), *overrides(cfg)])
        return latest_run(cfg.runs_dir / "mllm" / "toy" / kind)

    return run
