"""A killed run resumes from its last checkpoint and ends exactly where an uninterrupted run ends; a crash in
the middle of writing a checkpoint or a record leaves the previous file whole."""

from __future__ import annotations

import io
import json
import pathlib

import pytest
import torch

from probes.cli import main
from probes.records import RunDir

pytestmark = pytest.mark.usefixtures("one_thread")


def _argv(toy_train, runs):
    ann, images = toy_train
    return ["detection", "--backbone", "siglip-vit-tiny", "--data", f"cocofmt:{ann}:{images}", "--runs-dir",
            str(runs), "--max-iters", "6", "--quiet", "train.checkpoint_every=3", "train.warmup_iters=2",
            "train.lr_steps=[4]", "input.image_size=128", "input.test_short_edge=128", "input.test_max_size=128",
            "eval.max_images=2", "model.pyramid.kind=deconv"]  # the ViTDet pyramid, end to end


def _crashing_save(real_save, crash_on_call: int):
    """torch.save that dies half-way through writing its `crash_on_call`-th file (a kill during the write)."""
    calls = []

    def save(obj, f, *args, **kwargs):
        calls.append(1)
        if len(calls) != crash_on_call:
            return real_save(obj, f, *args, **kwargs)
        buffer = io.BytesIO()
        real_save(obj, buffer, *args, **kwargs)
        half = buffer.getvalue()[: len(buffer.getvalue()) // 2]
        if isinstance(f, (str, pathlib.Path)):
            pathlib.Path(f).write_bytes(half)
        else:
            f.write(half)
            f.flush()
        raise KeyboardInterrupt("killed while writing the checkpoint")

    return save


def test_killed_run_resumes_from_checkpoint(toy_train, tmp_path, monkeypatch, capsys):
    assert main(_argv(toy_train, tmp_path / "straight")) == 0
    (straight,) = [p.parent for p in (tmp_path / "straight").rglob("metrics.json")]

    # checkpoints at iterations 3 and 6: the run dies half-way through writing the second one
    monkeypatch.setattr(torch, "save", _crashing_save(torch.save, crash_on_call=2))
    with pytest.raises(KeyboardInterrupt):
        main(_argv(toy_train, tmp_path / "killed"))
    monkeypatch.undo()
    (killed,) = [p.parent for p in (tmp_path / "killed").rglob("checkpoint.pt")]
    assert not (killed / "metrics.json").exists()
    assert torch.load(killed / "checkpoint.pt", weights_only=False)["iteration"] == 3  # the previous one, whole
    assert not list(killed.glob(".*.tmp"))  # the half-written temp file is gone
    assert killed.name == straight.name  # the run id is deterministic

    capsys.readouterr()
    assert main(_argv(toy_train, tmp_path / "killed")) == 0
    assert "resumed from iteration 3" in capsys.readouterr().err
    record = json.loads((killed / "metrics.json").read_text())
    assert record["times"]["resumed_from_iteration"] == 3
    a = torch.load(straight / "checkpoint.pt", weights_only=False)["model"]
    b = torch.load(killed / "checkpoint.pt", weights_only=False)["model"]
    assert a.keys() == b.keys()
    for key in a:
        torch.testing.assert_close(a[key], b[key], rtol=0, atol=0, msg=key)
    assert record["metrics"] == json.loads((straight / "metrics.json").read_text())["metrics"]


def test_crash_while_writing_a_record_keeps_the_previous_one(tmp_path, monkeypatch):
    run = RunDir.locate(tmp_path, "detection", "toy", "b", "r")
    run.prepare({"seed": 0})
    run.write_metrics({"metrics": {"bbox_AP": 1.0}})
    before = run.metrics_path.read_bytes()
    real_write = pathlib.Path.write_text

    def half_then_die(self, text, *args, **kwargs):
        real_write(self, text[: len(text) // 2], *args, **kwargs)
        raise KeyboardInterrupt("killed while writing")

    monkeypatch.setattr(pathlib.Path, "write_text", half_then_die)
    with pytest.raises(KeyboardInterrupt):
        run.write_metrics({"metrics": {"bbox_AP": 2.0, "segm_AP": 3.0}})
    monkeypatch.undo()
    assert run.metrics_path.read_bytes() == before
    assert sorted(p.name for p in run.path.iterdir()) == ["config.yaml", "metrics.json"]  # no temp file left
    assert oct(run.metrics_path.stat().st_mode & 0o777) == "0o644"
