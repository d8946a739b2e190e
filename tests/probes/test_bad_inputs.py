"""Bad inputs fail before anything is written, with an error naming the file, field and value."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from probes.cli import main
from probes.detection import load_dataset, parse_data_spec

from .conftest import write_variant

pytestmark = pytest.mark.usefixtures("one_thread")


def _run(tmp_path, data_spec, backbone="rice-vit-tiny", extra=()):
    runs = tmp_path / "runs"
    code = main(["detection", "--backbone", backbone, "--data", data_spec, "--runs-dir", str(runs), "--quiet",
                 "--max-iters", "1", *extra])
    return code, runs


def _assert_refused(capsys, code, runs, *needles):
    err = capsys.readouterr().err
    assert code == 2, err
    for needle in needles:
        assert needle in err, err
    assert not runs.exists()  # no run record


def test_missing_image(toy_train, tmp_path, capsys):
    ann, images = toy_train
    def mutate(d):
        d["images"][1]["file_name"] = "nowhere.jpg"
    bad = write_variant(ann, tmp_path / "missing.json", mutate)
    code, runs = _run(tmp_path, f"cocofmt:{bad}:{images}")
    _assert_refused(capsys, code, runs, str(bad), "file_name", "nowhere.jpg", "not found")


def test_empty_annotation_file(toy_train, tmp_path, capsys):
    _, images = toy_train
    empty = tmp_path / "empty.json"
    empty.write_text("")
    code, runs = _run(tmp_path, f"cocofmt:{empty}:{images}")
    _assert_refused(capsys, code, runs, str(empty), "empty")


def test_annotation_file_without_annotations(toy_train, tmp_path, capsys):
    ann, images = toy_train
    bad = write_variant(ann, tmp_path / "noanns.json", lambda d: d.update(annotations=[]))
    code, runs = _run(tmp_path, f"cocofmt:{bad}:{images}")
    _assert_refused(capsys, code, runs, str(bad), "'annotations' is empty")


def test_box_without_area(toy_train, tmp_path, capsys):
    ann, images = toy_train
    def mutate(d):
        d["annotations"][2]["bbox"][3] = 0
    bad = write_variant(ann, tmp_path / "flat.json", mutate)
    ann_id = json.loads(bad.read_text())["annotations"][2]["id"]
    code, runs = _run(tmp_path, f"cocofmt:{bad}:{images}")
    _assert_refused(capsys, code, runs, str(bad), f"annotation id {ann_id}", "'bbox'", "no area")
    loaded = load_dataset(f"cocofmt:{bad}:{images}", degenerate_boxes="skip")
    assert loaded.train.skipped_annotations == 1


def test_unknown_backbone(toy_train, tmp_path, capsys):
    ann, images = toy_train
    code, runs = _run(tmp_path, f"cocofmt:{ann}:{images}", backbone="rice-vit-tinyy")
    _assert_refused(capsys, code, runs, "rice-vit-tinyy", "rice-vit-tiny")


def test_unknown_config_field(toy_train, tmp_path, capsys):
    ann, images = toy_train
    code, runs = _run(tmp_path, f"cocofmt:{ann}:{images}", extra=["train.learning_rate=1"])
    _assert_refused(capsys, code, runs, "train.learning_rate", "tiny.yaml")


def test_bad_data_specs(tmp_path, capsys):
    for spec, needle in [("imagenet:/x", "unknown dataset kind 'imagenet'"), ("coco", "expected coco:DIR"),
                         (f"coco:{tmp_path / 'nope'}", "does not exist"),
                         ("cocofmt:a.json", "cocofmt takes TRAIN.json:IMAGES")]:
        code, runs = _run(tmp_path, spec)
        _assert_refused(capsys, code, runs, needle)


def test_spec_layouts(tmp_path, toy_dir):
    coco = parse_data_spec(f"coco:{tmp_path}")
    assert coco.name == "coco" and coco.eval.split == "val2017"
    assert coco.train.annotations == tmp_path / "annotations" / "instances_train2017.json"
    assert coco.eval.images == tmp_path / "val2017"
    lvis = parse_data_spec(f"lvis:{tmp_path}")
    assert lvis.evaluator == "lvis" and lvis.eval.annotations.name == "lvis_v1_val.json"
    toy = parse_data_spec(f"toy:{toy_dir}")
    assert toy.name == "toy" and toy.eval.annotations == toy_dir / "coco" / "annotations" / "instances_val.json"
    loaded = load_dataset(f"toy:{toy_dir}")
    assert len(loaded.train.images) == 6 and len(loaded.eval.images) == 2
    one = parse_data_spec("cocofmt:a/tr.json:imgs")
    assert one.eval == one.train and one.name == "cocofmt-tr"
    two = parse_data_spec("cocofmt:a/tr.json:imgs:b/va.json:vimgs")
    assert two.eval.annotations == Path("b/va.json") and two.eval.split == "va"


def test_lvis_images_resolve_through_coco_url(tmp_path):
    root = tmp_path / "lvis"
    (root / "annotations").mkdir(parents=True)
    (root / "train2017").mkdir()
    from PIL import Image

    Image.new("RGB", (32, 24)).save(root / "train2017" / "000000000009.jpg")
    data = {"images": [{"id": 9, "height": 24, "width": 32,
                        "coco_url": "http://images.cocodataset.org/train2017/000000000009.jpg"}],
            "annotations": [{"id": 1, "image_id": 9, "category_id": 1, "bbox": [1, 1, 5, 5], "area": 25,
                             "segmentation": [[1, 1, 6, 1, 6, 6, 1, 6]]}],
            "categories": [{"id": 1, "name": "thing", "frequency": "f"}]}
    for split in ("train", "val"):
        (root / "annotations" / f"lvis_v1_{split}.json").write_text(json.dumps(data))
    loaded = load_dataset(f"lvis:{root}")
    assert loaded.eval.images[0].path == root / "train2017" / "000000000009.jpg"


def test_cuda_without_a_gpu(toy_train, tmp_path, capsys, monkeypatch):
    import torch

    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)  # this machine's answer, on any machine
    ann, images = toy_train
    for device in ("cuda", "cuda:1"):
        code, runs = _run(tmp_path, f"cocofmt:{ann}:{images}", extra=["--device", device])
        _assert_refused(capsys, code, runs, "train.device", repr(device), "no CUDA GPU")


def test_output_folder_that_cannot_be_written(toy_train, tmp_path, capsys):
    ann, images = toy_train
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    runs = blocker / "runs"
    code = main(["detection", "--backbone", "rice-vit-tiny", "--data", f"cocofmt:{ann}:{images}", "--runs-dir",
                 str(runs), "--quiet", "--max-iters", "1"])
    _assert_refused(capsys, code, runs, "output.runs_dir", str(runs), "is a file")
    assert blocker.read_text() == "not a folder"


def test_read_only_output_folder(toy_train, tmp_path, capsys):
    import os

    ann, images = toy_train
    locked = tmp_path / "locked"
    locked.mkdir(mode=0o555)
    if os.geteuid() == 0:  # root writes into a 0555 folder; /proc/sys refuses even root (procfs, no new files)
        locked = Path("/proc/sys")
        if os.access(locked, os.W_OK | os.X_OK):
            pytest.skip("running as root and /proc/sys is writable: no folder here refuses this user")
    code = main(["detection", "--backbone", "rice-vit-tiny", "--data", f"cocofmt:{ann}:{images}", "--runs-dir",
                 str(locked / "runs"), "--quiet", "--max-iters", "1"])
    _assert_refused(capsys, code, locked / "runs", "output.runs_dir", "cannot write into", str(locked))


def test_box_entirely_outside_its_image_is_skipped_and_counted(toy_train, tmp_path):
    ann, images = toy_train

    def mutate(d):
        image = d["images"][0]
        for i, box in enumerate([[image["width"], 0, 5, 5], [-20, 3, 20, 4], [2, image["height"] + 1, 3, 3]]):
            d["annotations"].append({"id": 900 + i, "image_id": image["id"], "category_id": d["categories"][0]["id"],
                                     "bbox": box, "area": 25, "iscrowd": 0})
        d["annotations"].append({"id": 950, "image_id": image["id"], "category_id": d["categories"][0]["id"],
                                 "bbox": [-5, -5, 10, 10], "area": 100, "iscrowd": 0})  # partly inside: kept

    bad = write_variant(ann, tmp_path / "outside.json", mutate)
    loaded = load_dataset(f"cocofmt:{bad}:{images}")
    assert loaded.train.skipped == {"outside_image": 3} and loaded.train.skipped_annotations == 3
    kept = {a["id"] for anns in loaded.train.anns_by_image.values() for a in anns}
    assert 950 in kept and not {900, 901, 902} & kept
    both = load_dataset(f"cocofmt:{bad}:{images}", degenerate_boxes="skip")
    assert both.train.skipped == {"outside_image": 3}


def test_toy_world_without_a_val_split(toy_dir, tmp_path, capsys):
    small = tmp_path / "toy"
    shutil.copytree(toy_dir / "coco", small / "coco")
    val = small / "coco" / "annotations" / "instances_val.json"
    write_variant(val, val, lambda d: d.update(images=[], annotations=[]))
    code, runs = _run(tmp_path, f"toy:{small}")
    _assert_refused(capsys, code, runs, str(val), "'images' is empty", "no val split", "--num-images")
    val.unlink()
    code, runs = _run(tmp_path, f"toy:{small}")
    _assert_refused(capsys, code, runs, str(val), "not found", "no val split")


@pytest.mark.parametrize("override, needles", [
    ("train.batch_size=0", ["train.batch_size", "0", ">= 1"]),
    ("train.lr=-0.001", ["train.lr", "-0.001", "> 0"]),
    ("eval.batch_size=0", ["eval.batch_size", "0"]),
    ("train.warmup_iters=-1", ["train.warmup_iters", "-1"]),
    ("train.lr_steps=[50, 10]", ["train.lr_steps", "(50, 10)", "increasing"]),
    ("train.checkpoint_every=0", ["train.checkpoint_every", "0"]),
    ("train.device=gpu", ["train.device", "'gpu'", "cuda:N"]),
    ("model.cascade.iou_thresholds=[0.5, 1.2, 0.7]", ["model.cascade.iou_thresholds", "1.2"]),
    ("model.cascade.positive_fraction=0", ["model.cascade.positive_fraction", "0"]),
    ("model.cascade.fed_loss=true", ["model.cascade.fed_loss", "cls_loss=sigmoid"]),
    ("model.cascade.cls_loss=focal", ["model.cascade.cls_loss", "'focal'"]),
    ("data.repeat_factor_thresh=-1", ["data.repeat_factor_thresh", "-1"]),
    ("input.image_size=0", ["input.image_size", "0"]),
])
def test_bad_config_values(toy_train, tmp_path, capsys, override, needles):
    ann, images = toy_train
    code, runs = _run(tmp_path, f"cocofmt:{ann}:{images}", extra=[override])
    _assert_refused(capsys, code, runs, "detection config", *needles)
