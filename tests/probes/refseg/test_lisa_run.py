"""The tiny LISA end to end: overfitting toy expressions (a sign-text one among them), the run record and
its predictions, skip on rerun, checkpoint round trip and resume after a kill."""

from __future__ import annotations

import json

import pytest
import torch

from probes.refseg import load_data, run
from probes.refseg.evaluate import predictions_file, rescore
from probes.refseg.probe import evaluate_run
from probes.refseg.refer import ReferImage


def overfit_data(cfg):
    """3 train images with 2 expressions each, one of them a sign's text ("the sign that says ...")."""
    data = load_data(cfg)
    split = data.train[0]
    with_sign = [im for im in split.images if any("says" in e.text for e in im.expressions)]
    others = [im for im in split.images if im not in with_sign]
    chosen = []
    for im in with_sign[:1] + others[:2]:
        says = [e for e in im.expressions if "says" in e.text]
        rest = [e for e in im.expressions if "says" not in e.text]
        chosen.append(ReferImage(im.image_id, im.path, im.height, im.width, (says + rest)[:2]))
    split.images = chosen
    return data


def test_tiny_lisa_overfits_toy_expressions(toy_dir, tmp_path_factory, tiny_cfg, backbone):
    runs = tmp_path_factory.mktemp("runs")
    cfg = tiny_cfg(toy_dir, runs, "train.steps=60", "train.lr=5e-3", "data.sentences_per_image=0",
                   "eval.train_subset=3", "eval.max_images=2", "train.checkpoint_every=60")
    data = overfit_data(cfg)
    rec = run(cfg, backbone, data, progress=False)
    m = rec.metrics
    entries = json.loads((rec.path / predictions_file("train_subset")).read_text())
    assert len(entries) == 6 and any("says" in e["sent"] for e in entries)
    # baselines on the same expressions: the empty mask (cIoU 0) and the whole image (|T| / |image|)
    split = data.train[0]
    sizes = {im.image_id: (im.height, im.width) for im in split.images}
    areas = [int(split.mask(e["ann_id"], *sizes[e["image_id"]]).sum()) for e in entries]
    whole = 100 * sum(areas) / sum(h * w for h, w in (sizes[e["image_id"]] for e in entries))
    assert m["train_subset_ciou"] > whole + 20 and m["train_subset_ciou"] > 25, (m, whole)
    sign = next(e for e in entries if "says" in e["sent"])
    assert sign["intersection"] / sign["union"] > 0.25, sign
    # the scores are recomputable from the predictions file and the annotations alone
    again = rescore(rec.path / predictions_file("train_subset"), split)
    assert again["ciou"] == pytest.approx(m["train_subset_ciou"], abs=1e-3)
    assert again["giou"] == pytest.approx(m["train_subset_giou"], abs=1e-3)
    r = rec.record
    assert r["probe"] == "refseg" and r["split"] == "refcoco|unc|val"
    assert {"resolution", "schedule", "split", "tower"} <= set(r["protocol"])
    assert r["backbone"]["fingerprint"] and r["data_fingerprint"] and r["identity"] in r["run_id"]
    assert r["train"]["sam_cache"]["misses"] == 3  # each image went through SAM's encoder once
    assert {"refcoco_val_giou", "refcoco_val_ciou"} <= set(m)
    # a finished run is skipped on rerun
    assert run(cfg, backbone, data, progress=False).skipped
    # checkpoint round trip: the checkpoint alone reproduces the run's predictions on val
    val_file = rec.path / predictions_file("refcoco|unc|val")
    before = json.loads(val_file.read_text())
    out = evaluate_run(rec.path, progress=False)
    assert json.loads(val_file.read_text()) == before
    assert out["metrics"]["refcoco_val_ciou"] == m["refcoco_val_ciou"] and out["step"] == 60
    # the RefCOCO+ and RefCOCOg(umd) variants are scored by the same path, under LISA's split names
    other = evaluate_run(rec.path, ("refcoco+|unc|val", "refcocog|umd|test"), progress=False)
    assert {"refcoco+_val_ciou", "refcocog_test_giou"} <= set(other["metrics"])
    assert (rec.path / predictions_file("refcocog|umd|test")).is_file()


def test_resume_after_a_kill_equals_an_uninterrupted_run(toy_dir, tmp_path_factory, tiny_cfg, backbone, monkeypatch):
    import probes.refseg.train as train_mod

    runs = tmp_path_factory.mktemp("runs")
    base = ["train.steps=4", "train.checkpoint_every=2", "data.max_train_images=2", "eval.max_images=1",
            "data.sentences_per_image=1"]
    whole = run(tiny_cfg(toy_dir, runs, *base, "output.run_id=whole"), backbone, progress=False)
    real_loss, calls = train_mod.lisa_loss, {"n": 0}

    def dies_at_step_3(*args, **kwargs):
        calls["n"] += 1
        if calls["n"] == 3:
            raise KeyboardInterrupt("killed")
        return real_loss(*args, **kwargs)

    cfg = tiny_cfg(toy_dir, runs, *base, "output.run_id=killed")
    monkeypatch.setattr(train_mod, "lisa_loss", dies_at_step_3)
    with pytest.raises(KeyboardInterrupt):
        run(cfg, backbone, progress=False)
    run_dir = runs / "refseg" / "refer" / "mlcd-vit-tiny" / "killed"
    assert not (run_dir / "metrics.json").exists()
    assert torch.load(run_dir / "checkpoint.pt", weights_only=False)["step"] == 2
    monkeypatch.setattr(train_mod, "lisa_loss", real_loss)
    resumed = run(cfg, backbone, progress=False)
    assert resumed.record["times"]["resumed_from_step"] == 2
    a = torch.load(whole.path / "checkpoint.pt", weights_only=False)["model"]
    b = torch.load(resumed.path / "checkpoint.pt", weights_only=False)["model"]
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)
    assert resumed.record["train"]["last_loss"] == whole.record["train"]["last_loss"]
    # a finished run is skipped only when its identity matches: another config under its run id is refused
    with pytest.raises(ValueError, match="a finished run with another identity"):
        run(tiny_cfg(toy_dir, runs, *base, "train.lr=1e-3", "output.run_id=whole"), backbone, progress=False)
