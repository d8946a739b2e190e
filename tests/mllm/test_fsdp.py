"""FSDP2 (`fully_shard`) on 2 gloo ranks under torchrun gives the losses and updated weights of one process."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import torch

from mllm.config import MLLMConfig, StageConfig, TrainConfig

STEPS = 2
ROOT = Path(__file__).resolve().parents[2]


def _cfg() -> MLLMConfig:
    return MLLMConfig(stage2=StageConfig(lr=3e-3, max_steps=STEPS, warmup_ratio=0.0),
                      train=TrainConfig(global_batch=4, per_device_batch=2, checkpoint_every=STEPS)).validate()


def train(toy_dir, run_dir, info, sharded: bool):
    """Stage 2 for STEPS steps on the toy world; (losses, full state dict). The worker calls this too."""
    from mllm.data import ConversationDataset, load_llava_json
    from mllm.model import build_llava_next
    from mllm.train import full_state_dict, shard, train_stage

    model, processor = build_llava_next("mlcd-vit-tiny", "tiny")
    ds = ConversationDataset(load_llava_json(toy_dir / "llava" / "train.json"), processor, "chat")
    if sharded:
        shard(model)
    result = train_stage(model, ds, "stage2", _cfg(), info, run_dir, progress=False)
    return result.losses, full_state_dict(model)


def test_two_gloo_ranks_match_one_process(toy_dir, tmp_path):
    from rice.train.dist import DistInfo

    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")]),
           "OMP_NUM_THREADS": "1"}
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2",
           str(Path(__file__).with_name("fsdp_worker.py")), str(toy_dir), str(tmp_path)]
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    sharded = torch.load(tmp_path / "sharded.pt", weights_only=False)
    losses, state = train(toy_dir, tmp_path / "single", DistInfo(0, 1, 0, torch.device("cpu")), sharded=False)
    assert len(losses) == STEPS
    torch.testing.assert_close(sharded["losses"], losses, rtol=1e-5, atol=1e-6)
    changed = 0
    for k, v in state.items():
        torch.testing.assert_close(sharded["state"][k], v, rtol=1e-4, atol=1e-6, msg=k)
        changed += "language_model" in k
    assert changed > 0
