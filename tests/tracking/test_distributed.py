"""`torchrun --nproc-per-node 2` (gloo on CPU) trains one tracking run through the same code path as a single
process (DDP over the trainable part, the batch split over ranks); rank 0 writes the record."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import torch

from rice.toyworld import generate

ROOT = Path(__file__).resolve().parents[2]
WORLD = 2


def test_torchrun_two_gloo_ranks_train_one_run(tmp_path):
    toy = tmp_path / "toy"
    generate(toy, num_images=2, seed=1, num_sequences=3, min_frames=8, max_frames=8, frame_size=(160, 120),
             progress=False)
    env = {**os.environ, "PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": "1", "RICE_PROGRESS_LINES": "1"}
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", f"--nproc-per-node={WORLD}",
           "-m", "probes.cli", "tracking", "train", "--backbone", "rice-vit-tiny", "--config", "tiny",
           "--train", f"toy:{toy}:train", "--eval", f"toy:{toy}:val", "--runs-dir", str(tmp_path / "runs"),
           "--run-id", "ddp", "--quiet", "--device", "cpu", "sampling.samples_per_epoch=16", "train.batch_size=8",
           "train.epochs=1", "train.checkpoint_every=1", "eval.max_sequences=1", "train.threads=1"]
    done = subprocess.run(cmd, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    run = tmp_path / "runs" / "tracking" / "toy" / "rice-vit-tiny" / "ddp"
    record = json.loads((run / "metrics.json").read_text())
    assert record["environment"]["world_size"] == WORLD and record["counts"]["iterations"] == 2
    state = torch.load(run / "checkpoint.pt", weights_only=False)
    assert state["iteration"] == 2 and len(state["rng"]) == WORLD
    assert not torch.equal(state["rng"][0], state["rng"][1])  # each rank has its own drop-path stream
    assert np.isfinite(record["derived"]["final_losses"]["loss"])
