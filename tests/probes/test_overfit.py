"""End to end through `rice-probe detection`: the detector memorises a handful of toy images.

It trains on the toy train split (plus one annotation entirely outside its image, which must be skipped and
counted) and is scored on a *different* annotation file: four of the six training images. A record scored
against the training file instead would show other numbers (the two extra images' objects are missed)."""

from __future__ import annotations

import json

import pytest
import yaml
from pycocotools.coco import COCO
from pycocotools.cocoeval import COCOeval

from probes.cli import main
from probes.detection.evaluate import score_coco
from probes.identity import files_fingerprint

from .conftest import OVERFIT_OVERRIDES, write_variant

pytestmark = pytest.mark.usefixtures("one_thread")


def _outside_box(d):
    image = d["images"][0]
    d["annotations"].append({"id": 10**6, "image_id": image["id"], "category_id": d["categories"][0]["id"],
                             "bbox": [image["width"] + 5, 3, 10, 10], "area": 100, "iscrowd": 0})


def _four_images(d):
    keep = {im["id"] for im in d["images"][2:]}
    d["images"] = [im for im in d["images"] if im["id"] in keep]
    d["annotations"] = [a for a in d["annotations"] if a["image_id"] in keep]


@pytest.fixture(scope="module")
def overfit_run(toy_train, tmp_path_factory):
    ann, images = toy_train
    tmp = tmp_path_factory.mktemp("overfit")
    train = write_variant(ann, tmp / "instances_train.json", _outside_box)
    val = write_variant(ann, tmp / "heldout.json", _four_images)
    runs = tmp / "runs"
    argv = ["detection", "--backbone", "rice-vit-tiny", "--data", f"cocofmt:{train}:{images}:{val}:{images}",
            "--config", "tiny", "--runs-dir", str(runs), "--max-iters", "150", "--quiet", "train.lr_steps=[120]",
            *OVERFIT_OVERRIDES]
    assert main(argv) == 0
    (run_dir,) = [p.parent for p in runs.rglob("metrics.json")]
    return argv, runs, run_dir, val, train


def test_overfits_a_handful_of_toy_images(overfit_run):
    run_dir = overfit_run[2]
    metrics = json.loads((run_dir / "metrics.json").read_text())["metrics"]
    print("overfit metrics:", {k: round(v, 1) for k, v in metrics.items()})
    assert metrics["bbox_AP50"] > 50.0  # percent
    assert metrics["segm_AP50"] > 25.0


def test_run_record_layout(overfit_run):
    _, runs, run_dir, val, train = overfit_run
    assert run_dir.relative_to(runs).parts[:3] == ("detection", "cocofmt-instances_train", "rice-vit-tiny")
    assert run_dir.name.startswith("tiny-s0-")
    record = json.loads((run_dir / "metrics.json").read_text())
    assert record["probe"] == "detection" and record["split"] == "heldout"
    assert record["train_split"] == "instances_train"
    assert record["backbone"]["name"] == "rice-vit-tiny" and record["backbone"]["info"]["patch_size"] == 14
    assert record["backbone"]["source"] == "random-init" and len(record["backbone"]["fingerprint"]) == 16
    assert record["data_fingerprint"] == files_fingerprint([train, val])
    assert record["counts"]["train_images"] == 6 and record["counts"]["eval_images"] == 4
    assert record["counts"]["skipped"]["train"] == {"outside_image": 1}
    assert record["counts"]["skipped_annotations"] == 1
    assert record["derived"]["padded_size"] == {"train": 112, "test": 112}
    identity = json.loads((run_dir / "identity.json").read_text())
    assert identity == {"config_hash": record["config_hash"], "backbone_fingerprint": record["backbone"]["fingerprint"],
                        "data_fingerprint": record["data_fingerprint"]}
    assert record["seed"] == 0 and record["code_revision"]
    assert {"python", "torch", "platform"} <= set(record["environment"])
    assert record["protocol"] == {"resolution": "train112/test112", "schedule": "150x2", "split": "heldout"}
    assert record["derived"]["strides"] == [3.5, 7.0, 14.0, 28.0, 56.0]
    assert {"bbox_AP", "bbox_AP50", "bbox_AP75", "segm_AP", "segm_APl"} <= set(record["metrics"])
    config = yaml.safe_load((run_dir / "config.yaml").read_text())
    assert config["train"]["max_iters"] == 150 and config["backbone"] == "rice-vit-tiny"
    assert config["model"]["cascade"]["iou_thresholds"] == [0.5, 0.6, 0.7]
    assert list((run_dir / "tb").glob("events.out.tfevents.*"))
    import torch

    ckpt = torch.load(run_dir / "checkpoint.pt", weights_only=False)
    assert ckpt["iteration"] == 150
    assert ckpt["model"] and not any(k.startswith("backbone.") for k in ckpt["model"])
    assert not list(run_dir.glob(".*.tmp"))  # no temp files left behind
    for name in ("metrics.json", "config.yaml", "identity.json", "detections_bbox.json", "detections_segm.json",
                 "checkpoint.pt"):
        assert (run_dir / name).stat().st_mode & 0o777 == 0o644, name  # readable by others


def test_cocoeval_on_saved_detections_reproduces_metrics(overfit_run):
    _, _, run_dir, ann, train = overfit_run
    metrics = json.loads((run_dir / "metrics.json").read_text())["metrics"]
    gt = COCO(str(ann))  # the eval split's file
    heldout = {im["id"] for im in json.loads(ann.read_text())["images"]}
    bbox = json.loads((run_dir / "detections_bbox.json").read_text())
    assert {d["image_id"] for d in bbox} == heldout  # predictions on every eval image, and only on them
    # scored against the training file the same detections give another AP: the split is what was scored
    assert score_coco(train, bbox, "bbox")["bbox_AP"] != pytest.approx(metrics["bbox_AP"], abs=0.5)
    for iou_type in ("bbox", "segm"):
        dets = json.loads((run_dir / f"detections_{iou_type}.json").read_text())
        if iou_type == "segm":
            assert isinstance(dets[0]["segmentation"]["counts"], str)  # RLE
        ev = COCOeval(gt, gt.loadRes(dets), iou_type)
        ev.evaluate(), ev.accumulate(), ev.summarize()
        assert ev.stats[0] * 100 == pytest.approx(metrics[f"{iou_type}_AP"], abs=1e-9)
        assert ev.stats[1] * 100 == pytest.approx(metrics[f"{iou_type}_AP50"], abs=1e-9)
        assert score_coco(ann, run_dir / f"detections_{iou_type}.json", iou_type)[f"{iou_type}_AP"] == \
            pytest.approx(metrics[f"{iou_type}_AP"])


def test_finished_run_is_skipped_on_rerun(overfit_run, capsys):
    argv, _, run_dir = overfit_run[:3]
    before = (run_dir / "metrics.json").read_text()
    capsys.readouterr()
    assert main(argv) == 0
    assert "already finished, skipped" in capsys.readouterr().out
    assert (run_dir / "metrics.json").read_text() == before


def test_lvis_recipe_trains_end_to_end(toy_train, tmp_path):
    """Sigmoid CE with the federated loss and repeat-factor sampling run through the whole probe."""
    ann, images = toy_train
    argv = ["detection", "--backbone", "rice-vit-tiny", "--data", f"cocofmt:{ann}:{images}", "--config", "tiny",
            "--runs-dir", str(tmp_path), "--max-iters", "2", "--quiet", "train.warmup_iters=0", "train.lr_steps=[]",
            "eval.max_images=1", "input.image_size=56", "input.test_short_edge=56", "input.test_max_size=56",
            "model.cascade.cls_loss=sigmoid", "model.cascade.fed_loss=true", "model.cascade.fed_loss_num_classes=3",
            "model.cascade.score_thresh=0.02", "data.repeat_factor_thresh=0.5"]
    assert main(argv) == 0
    (metrics,) = tmp_path.rglob("metrics.json")
    record = json.loads(metrics.read_text())
    assert record["metrics"]["bbox_AP"] >= 0.0
    cfg = yaml.safe_load((metrics.parent / "config.yaml").read_text())
    assert cfg["model"]["cascade"]["fed_loss"] is True and cfg["data"]["repeat_factor_thresh"] == 0.5
