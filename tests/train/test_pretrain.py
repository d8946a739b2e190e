"""`rice pretrain` / `rice export` end to end on synthetic shards."""

import json
import os
import signal
import subprocess
import sys
import time

import torch

from rice.cli import main
from rice.train.checkpoint import latest_checkpoint

CONFIG = "configs/pretrain/tiny.yaml"


def losses(run_dir):
    return [json.loads(l)["total"] for l in (run_dir / "train_log.jsonl").read_text().splitlines()]


def test_tiny_model_overfits_a_few_shards(shards, tmp_path, tiny_overrides):
    run = tmp_path / "run"
    assert main(["pretrain", "--config", CONFIG, "--data", str(shards), "--out", str(run), *tiny_overrides,
                 "loop.max_steps=20", "optim.lr=3e-3"]) == 0  # the last 5 come out ~0.35x the first 5
    curve = losses(run)
    assert len(curve) == 20
    assert sum(curve[-5:]) / 5 < 0.6 * sum(curve[:5]) / 5, curve


def test_image_level_baseline_trains(shards, tmp_path, tiny_overrides):
    run = tmp_path / "run"
    assert main(["pretrain", "--config", CONFIG, "--data", str(shards), "--out", str(run), *tiny_overrides,
                 "loop.max_steps=3", "loss.region_losses=false"]) == 0
    assert len(losses(run)) == 3


def test_sigkill_and_resume_equals_uninterrupted(shards, tmp_path, tiny_overrides):
    # both runs in fresh processes with the same environment: CPU float sums are bitwise only for equal setups
    # killed when its first checkpoint (step 2) appears: 14 steps (> 0.3 s even on a fast idle machine) remain
    args = ["--config", CONFIG, "--data", str(shards), *tiny_overrides, "loop.max_steps=16",
            "loop.checkpoint_every=2"]
    cmd = lambda run: [sys.executable, "-m", "rice.cli", "pretrain", "--out", str(run), *args]  # noqa: E731
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    subprocess.run(cmd(tmp_path / "a"), check=True, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)

    run_b = tmp_path / "b"
    proc = subprocess.Popen(cmd(run_b), env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.time() + 120
    while latest_checkpoint(run_b / "ckpt" / "rank0") is None and proc.poll() is None and time.time() < deadline:
        time.sleep(0.05)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    killed_at = len(losses(run_b))
    assert killed_at < 16, "the run finished before it could be killed; raise loop.max_steps"
    subprocess.run(cmd(run_b), check=True, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    assert losses(run_b) == losses(tmp_path / "a")


def test_export_loads_in_transformers_and_registry(shards, tmp_path, tiny_overrides):
    from transformers import MLCDVisionModel

    from rice.backbones import create_backbone

    run, out = tmp_path / "run", tmp_path / "export"
    assert main(["pretrain", "--config", CONFIG, "--data", str(shards), "--out", str(run), *tiny_overrides,
                 "loop.max_steps=2"]) == 0
    assert main(["export", str(run), str(out)]) == 0
    assert (out / "region_head" / "model.safetensors").is_file()
    hf = MLCDVisionModel.from_pretrained(out).eval()
    backbone = create_backbone(out)
    x = torch.randn(2, 3, 56, 84)
    with torch.no_grad():
        ref = hf(pixel_values=x).last_hidden_state
        feats = backbone.forward_features(x)
    torch.testing.assert_close(feats.patch.flatten(2).transpose(1, 2), ref[:, 1:], atol=1e-5, rtol=1e-5)
    assert main(["export", str(run), str(out)]) == 2  # refuses to overwrite


def test_bad_config_key_is_named(shards, tmp_path, capsys, tiny_overrides):
    assert main(["pretrain", "--config", CONFIG, "--data", str(shards), "--out", str(tmp_path / "r"),
                 "loss.nope=1"]) == 2
    assert "loss.nope" in capsys.readouterr().err


def test_bad_sample_is_named_or_skipped(shards, tmp_path, tiny_overrides, capsys):
    from PIL import Image

    from rice.data.records import Region, Sample
    from rice.data.shards import write_shard

    bad = Sample(key="badlabel", image=Image.new("RGB", (64, 64)), regions=[Region((1, 1, 30, 30), "object", 99)],
                 image_labels=[0])
    write_shard(shards / "shard-000003.tar", [bad], validate=False)
    args = ["pretrain", "--config", CONFIG, "--data", str(shards), *tiny_overrides, "loop.max_steps=4"]
    assert main([*args, "--out", str(tmp_path / "strict")]) == 2
    err = capsys.readouterr().err
    assert "shard-000003.tar" in err and "badlabel" in err and "99" in err
    assert main([*args, "--out", str(tmp_path / "lenient"), "--skip-bad"]) == 0
