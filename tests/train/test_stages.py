"""The pretraining protocol: the second stage (`init_from`), the image-level loss weight, `--curated`."""

import json

import pytest
import torch
import yaml

from rice.cli import main
from rice.loss import RegionLoss

CONFIG = "configs/pretrain/tiny.yaml"


def pretrain(data, run, overrides, flag="--data"):
    return main(["pretrain", "--config", CONFIG, flag, str(data), "--out", str(run), *overrides])


def test_init_from_copies_weights_and_centers_and_restarts_the_schedule(shards, tmp_path, tiny_overrides, capsys):
    stage1, stage2 = tmp_path / "s1", tmp_path / "s2"
    assert pretrain(shards, stage1, tiny_overrides + ["loop.max_steps=3"]) == 0
    # lr 0: AdamW leaves the weights as they were loaded, so the second stage's weights are the first's
    assert pretrain(shards, stage2, tiny_overrides + ["loop.max_steps=2", "optim.lr=0", "model.vision.image_size=84",
                                                      f"init_from={stage1}"]) == 0
    assert f"initialised from {stage1} (step 3)" in capsys.readouterr().out
    a = torch.load(next((stage1 / "ckpt" / "rank0").glob("step-00000003.pt")), weights_only=False)
    b = torch.load(next((stage2 / "ckpt" / "rank0").glob("step-00000002.pt")), weights_only=False)
    assert a["model"].keys() == b["model"].keys()
    for key in a["model"]:
        assert torch.equal(a["model"][key], b["model"][key]), key  # ViT, region head and both center banks
    assert b["step"] == 2 and b["scheduler"]["last_epoch"] == 2  # fresh step count and schedule
    assert b["optimizer"]["state"][0]["step"].item() == 2  # fresh AdamW moments
    rows = [json.loads(l) for l in (stage2 / "train_log.jsonl").read_text().splitlines()]
    assert [r["step"] for r in rows] == [1, 2]


def test_init_from_refuses_an_unfinished_or_missing_run(shards, tmp_path, tiny_overrides, capsys):
    stage1 = tmp_path / "s1"
    assert pretrain(shards, stage1, tiny_overrides + ["loop.max_steps=4", "loop.checkpoint_every=2"]) == 0
    (stage1 / "ckpt" / "rank0" / "step-00000004.pt").unlink()
    capsys.readouterr()
    assert pretrain(shards, tmp_path / "s2", tiny_overrides + [f"init_from={stage1}"]) == 2
    assert "not finished (step 2 of loop.max_steps=4)" in capsys.readouterr().err
    assert pretrain(shards, tmp_path / "s3", tiny_overrides + [f"init_from={tmp_path / 'nowhere'}"]) == 2
    assert "not a `rice pretrain` run directory" in capsys.readouterr().err
    assert not (tmp_path / "s2").exists() and not (tmp_path / "s3").exists()


@pytest.mark.parametrize("weight", [0.0, 0.25, 1.0])
def test_image_loss_weight_scales_the_image_term(weight):
    torch.manual_seed(0)
    loss = RegionLoss(8, 16, 4, sample_rate=1.0, image_loss=True, image_weight=weight)
    obj, img = torch.randn(5, 4), torch.randn(3, 4)
    out = loss(obj, torch.tensor([0, 1, 2, 3, 4]), None, None, img, torch.tensor([[1, 2], [3, -1], [0, 7]]))
    assert out["image"] > 0
    assert torch.allclose(out["total"], out["object"] + out["ocr"] + weight * out["image"])


def test_stage_presets_are_the_papers():
    def load(name):
        return yaml.safe_load(open(f"configs/pretrain/{name}.yaml"))

    for first, second, size in [("vit_b16", "vit_b16_512", 512), ("vit_l14", "vit_l14_336", 336),
                                ("vit_l14", "vit_l14_378", 378), ("vit_l14", "vit_l14_560", 560)]:
        a, b = load(first), load(second)
        assert a["model"]["vision"]["image_size"] == 224 and b["model"]["vision"]["image_size"] == size
        assert b["optim"]["lr"] == pytest.approx(a["optim"]["lr"] / 10)
        assert b["loop"]["max_steps"] * 512 * 64 >= 1e9 > (b["loop"]["max_steps"] - 1) * 512 * 64  # 1B samples
        assert {k: v for k, v in b["model"]["vision"].items() if k != "image_size"} == \
            {k: v for k, v in a["model"]["vision"].items() if k != "image_size"}
    mlcd = load("mlcd_vit_b16")
    assert mlcd["loss"]["region_losses"] is False and mlcd["data"]["max_image_labels"] > 1


def test_curated_reads_the_pretrain_overrides(shards, tmp_path, tiny_overrides):
    (shards / "curate_config.json").write_text(json.dumps(
        {"pretrain_overrides": ["loss.num_object_classes=8", "data.max_image_labels=3", "data.max_ocr_tokens=4"]}))
    run = tmp_path / "run"
    assert pretrain(shards, run, tiny_overrides + ["loop.max_steps=1"], flag="--curated") == 0
    saved = yaml.safe_load((run / "config.yaml").read_text())
    assert saved["data"]["max_image_labels"] == 3 and saved["data"]["max_ocr_tokens"] == 4


def test_curated_without_curate_config_is_named(shards, tmp_path, tiny_overrides, capsys):
    assert pretrain(shards, tmp_path / "run", tiny_overrides, flag="--curated") == 2
    assert f"--curated {shards}: no curate_config.json" in capsys.readouterr().err
