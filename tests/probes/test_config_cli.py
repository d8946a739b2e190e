"""Presets, overrides, the Probe registry and the `rice-probe` command line."""

from __future__ import annotations

from pathlib import Path

import pytest

from probes import get_probe, list_probes
from probes.cli import main
from rice.config import load_config, to_dict
from probes.detection import DetectionConfig
from probes.records import atomic_write_json, config_hash

pytestmark = pytest.mark.usefixtures("one_thread")

PRESETS = Path(__file__).resolve().parents[2] / "configs" / "detection"


def test_paper_preset_is_the_protocol():
    cfg = load_config(DetectionConfig, PRESETS / "vitdet_b16_512.yaml").validate()
    assert to_dict(cfg) == to_dict(DetectionConfig())  # the dataclass defaults are the paper's protocol
    c = cfg.model.cascade
    assert c.iou_thresholds == (0.5, 0.6, 0.7)
    assert c.bbox_reg_weights == ((10, 10, 5, 5), (20, 20, 10, 10), (30, 30, 15, 15))
    assert cfg.model.pyramid.kind == "maxpool" and cfg.model.pyramid.out_channels == 256
    assert (cfg.input.image_size, cfg.input.min_scale, cfg.input.max_scale) == (512, 0.1, 2.0)
    assert cfg.train.max_iters == 184375 and cfg.train.lr_steps == (163889, 177546)


def test_tiny_preset_and_overrides():
    cfg = load_config(DetectionConfig, PRESETS / "tiny.yaml",
                      ["train.lr=3e-3", "model.pyramid.kind=deconv", "train.lr_steps=[5, 9]", "seed=4"]).validate()
    assert (cfg.name, cfg.train.lr, cfg.model.pyramid.kind, cfg.train.lr_steps, cfg.seed) == \
        ("tiny", 3e-3, "deconv", (5, 9), 4)
    with pytest.raises(ValueError, match="field 'train.max_iters' expects an integer, got 'many'"):
        load_config(DetectionConfig, PRESETS / "tiny.yaml", ["train.max_iters=many"])
    with pytest.raises(ValueError, match="model.pyramid.kind"):
        load_config(DetectionConfig, None, ["model.pyramid.kind=fpn"]).validate()
    with pytest.raises(ValueError, match="not of the form key=value"):
        load_config(DetectionConfig, None, ["train.lr"])
    with pytest.raises(FileNotFoundError, match="nope.yaml"):
        load_config(DetectionConfig, PRESETS / "nope.yaml")


def test_probe_registry():
    assert "detection" in list_probes()
    spec = get_probe("detection")
    assert spec.config_cls is DetectionConfig and callable(spec.run)
    with pytest.raises(ValueError, match="did you mean detection"):
        get_probe("detections")


def test_atomic_json_and_hash(tmp_path):
    path = atomic_write_json(tmp_path / "a" / "m.json", {"x": 1})
    assert path.read_text().strip() == '{\n  "x": 1\n}'
    assert list(path.parent.iterdir()) == [path]
    assert config_hash({"a": 1, "b": [1, 2]}) == config_hash({"b": [1, 2], "a": 1}) != config_hash({"a": 2})


@pytest.mark.parametrize("argv, needles", [
    ([], ["detection", "leaderboard"]),
    (["detection"], ["--backbone", "--data", "cocofmt:TRAIN.json:IMAGES", "KEY=VALUE", "--no-resume", "--max-iters"]),
    (["leaderboard"], ["RUNS_DIR", "--baseline", "--allow-mixed", "OUT_wide.csv"]),
])
def test_help(argv, needles, capsys):
    with pytest.raises(SystemExit) as exit_info:
        main([*argv, "--help"])
    assert exit_info.value.code == 0
    out = capsys.readouterr().out
    for needle in needles:
        assert needle in out


def test_unknown_preset(capsys, tmp_path):
    assert main(["detection", "--backbone", "rice-vit-tiny", "--data", f"toy:{tmp_path}", "--config", "huge"]) == 2
    assert "no preset" in capsys.readouterr().err


def test_run_dir_refuses_a_different_config(tmp_path):
    from probes.records import RunDir

    run = RunDir.locate(tmp_path, "detection", "toy", "org/model", "r1")
    assert run.path == tmp_path / "detection" / "toy" / "org_model" / "r1"
    run.prepare({"seed": 0, "train": {"lr": 1.0}, "output": {"runs_dir": "a"}}, compare_ignoring=("output",))
    run.prepare({"seed": 0, "train": {"lr": 1.0}, "output": {"runs_dir": "b"}}, compare_ignoring=("output",))
    with pytest.raises(ValueError, match=r"config.yaml: .*field 'train.lr': 1.0 there vs 2.0 now"):
        run.prepare({"seed": 0, "train": {"lr": 2.0}}, compare_ignoring=("output",))


def test_lvis_preset_is_vitdets_lvis_recipe():
    cfg = load_config(DetectionConfig, PRESETS / "lvis_vitdet_b16_512.yaml").validate()
    c = cfg.model.cascade
    assert (c.cls_loss, c.fed_loss, c.fed_loss_num_classes, c.fed_loss_freq_weight_power) == ("sigmoid", True, 50, 0.5)
    assert (c.score_thresh, c.detections_per_image, cfg.eval.max_dets_lvis) == (0.02, 300, 300)
    assert cfg.data.repeat_factor_thresh == 0.001
    t = cfg.train
    assert (t.max_iters, t.lr, t.lr_steps, t.batch_size, t.warmup_iters) == (156250, 2e-4, (138889, 150463), 64, 250)
    coco = to_dict(DetectionConfig())
    lvis = to_dict(cfg)
    assert lvis["model"]["pyramid"] == coco["model"]["pyramid"] and lvis["input"] == coco["input"]  # same probe
