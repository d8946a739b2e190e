"""End to end through `rice-probe tracking`: the tiny tracker beats the fixed-box floor on toy val, its numbers
are the got10k toolkit's on the saved result files, a killed run resumes to the same weights, bad input
exits 2 before anything is written."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from got10k.experiments import ExperimentGOT10k

from probes.cli import main
from rice.toyworld import generate

FAST = ["sampling.samples_per_epoch=16", "train.batch_size=8", "train.epochs=2", "train.checkpoint_every=2",
        "train.log_every=1", "eval.max_sequences=1"]


@pytest.fixture(scope="module")
def toy(tmp_path_factory):
    out = tmp_path_factory.mktemp("tracking") / "toy"
    generate(out, num_images=2, seed=0, num_sequences=20, min_frames=30, max_frames=40, frame_size=(160, 120),
             progress=False)
    return out


def _train(toy, runs, *extra, run_id=None):
    argv = ["tracking", "train", "--backbone", "rice-vit-tiny", "--config", "tiny", "--train", f"toy:{toy}:train",
            "--eval", f"toy:{toy}:val", "--runs-dir", str(runs), "--quiet", *(["--run-id", run_id] if run_id else []),
            *extra]
    return main(argv)


def _record(runs, run_id):
    path = runs / "tracking" / "toy" / "rice-vit-tiny" / run_id
    return path, json.loads((path / "metrics.json").read_text())


def test_tiny_tracker_beats_the_fixed_first_box_and_matches_the_toolkit(toy, tmp_path):
    assert _train(toy, tmp_path, run_id="tiny") == 0
    path, record = _record(tmp_path, "tiny")
    ours, floor = record["metrics"], record["baseline_metrics"]["fixed_first_box"]
    assert ours["ao"] > floor["ao"] + 5, (ours, floor)
    assert ours["success"] > floor["success"] + 5
    report = ExperimentGOT10k(str(toy / "got10k"), subset="val", result_dir=str(path / "results"),
                              report_dir=str(tmp_path / "reports")).report(["probe"])["probe"]["overall"]
    assert ours["ao"] == pytest.approx(100 * report["ao"], abs=1e-9)
    assert ours["sr50"] == pytest.approx(100 * report["sr"], abs=1e-9)
    assert record["protocol"]["tower"] == "frozen" and record["protocol"]["split"] == "val"
    assert set(record["metric_definitions"]) == set(ours)
    assert (path / "config.yaml").is_file() and any((path / "tb").iterdir())
    # a rerun is skipped; `tracking eval` of the same weights on the same split gives the same numbers
    assert _train(toy, tmp_path, run_id="tiny") == 0
    assert main(["tracking", "eval", "--run", str(path), "--eval", f"toy:{toy}:val", "--runs-dir", str(tmp_path),
                 "--quiet"]) == 0
    (again,) = [p for p in path.parent.glob("tiny-eval-*/metrics.json")]
    assert json.loads(again.read_text())["metrics"] == ours


def test_a_killed_run_resumes_to_the_same_weights(toy, tmp_path, monkeypatch):
    import tracking.train as train_module

    assert _train(toy, tmp_path, *FAST, run_id="whole") == 0
    real, calls = train_module.tracking_loss, {"n": 0}

    def dies_at_iteration_3(*args, **kwargs):
        calls["n"] += 1
        if calls["n"] == 4:
            raise KeyboardInterrupt  # after the checkpoint at iteration 2
        return real(*args, **kwargs)

    monkeypatch.setattr(train_module, "tracking_loss", dies_at_iteration_3)
    with pytest.raises(KeyboardInterrupt):
        _train(toy, tmp_path, *FAST, run_id="killed")
    path, _ = tmp_path / "tracking" / "toy" / "rice-vit-tiny" / "killed", None
    assert not (path / "metrics.json").exists()
    assert torch.load(path / "checkpoint.pt", weights_only=False)["iteration"] == 2
    monkeypatch.setattr(train_module, "tracking_loss", real)
    assert _train(toy, tmp_path, *FAST, run_id="killed") == 0
    whole = torch.load(tmp_path / "tracking" / "toy" / "rice-vit-tiny" / "whole" / "checkpoint.pt", weights_only=False)
    resumed = torch.load(path / "checkpoint.pt", weights_only=False)
    assert resumed["iteration"] == whole["iteration"] == 4
    for key, value in whole["model"].items():
        assert torch.equal(value, resumed["model"][key]), key
    assert _record(tmp_path, "killed")[1]["times"]["resumed_from_iteration"] == 2
    assert _record(tmp_path, "killed")[1]["metrics"] == _record(tmp_path, "whole")[1]["metrics"]


def test_bad_input_exits_2_and_writes_nothing(toy, tmp_path, capsys):
    assert _train(toy, tmp_path, "--eval", f"toy:{tmp_path / 'missing'}:val") == 2
    assert "no folder" in capsys.readouterr().err
    assert _train(toy, tmp_path, "--train", "vot:/x") == 2
    assert "data.train[1]" in capsys.readouterr().err
    assert _train(toy, tmp_path, "train.batch_size=0") == 2
    assert not (tmp_path / "tracking").exists()
    np.testing.assert_equal(main(["tracking", "eval", "--run", str(tmp_path), "--quiet"]), 2)
