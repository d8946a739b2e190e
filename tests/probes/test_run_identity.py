"""A run is identified by what produced it: re-exported weights or changed annotations at the same paths
are a new run; an explicit --run-id naming another run's folder is refused, not silently skipped."""

from __future__ import annotations

import json
import shutil

import pytest

from probes.cli import main
from rice.backbones import create_backbone

from .conftest import write_variant

pytestmark = pytest.mark.usefixtures("one_thread")

FAST = ["--max-iters", "1", "--quiet", "train.warmup_iters=0", "train.lr_steps=[]", "eval.max_images=1",
        "input.image_size=56", "input.test_short_edge=56", "input.test_max_size=56", "model.cascade.mask=false"]


def _export(directory, seed):
    if directory.exists():
        shutil.rmtree(directory)
    create_backbone("rice-vit-tiny", seed=seed).vit.save_pretrained(directory)


def _runs(root):
    return sorted(p.parent for p in root.rglob("metrics.json"))


def test_reexport_or_new_data_at_the_same_path_is_a_new_run(toy_train, tmp_path, capsys):
    ann, images = toy_train
    train = tmp_path / "train.json"
    shutil.copy(ann, train)
    model = tmp_path / "models" / "rice-tiny"
    runs = tmp_path / "runs"
    argv = ["detection", "--backbone", str(model), "--data", f"cocofmt:{train}:{images}", "--runs-dir", str(runs),
            *FAST]

    _export(model, seed=0)
    assert main(argv) == 0
    (first,) = _runs(runs)
    assert first.parent.name == "rice-tiny"
    capsys.readouterr()
    assert main(argv) == 0 and "already finished, skipped" in capsys.readouterr().out  # same weights, same data

    _export(model, seed=1)  # re-exported at the same path
    assert main(argv) == 0 and "already finished, skipped" not in capsys.readouterr().out
    second = [p for p in _runs(runs) if p != first]
    assert len(second) == 1 and second[0].parent == first.parent
    rec1, rec2 = (json.loads((p / "metrics.json").read_text()) for p in (first, second[0]))
    assert rec1["backbone"]["fingerprint"] != rec2["backbone"]["fingerprint"]
    assert rec1["backbone"]["source"] == rec2["backbone"]["source"] == str(model)
    assert rec1["data_fingerprint"] == rec2["data_fingerprint"]

    write_variant(ann, train, lambda d: d["annotations"].pop())  # other annotations, same file name
    assert main(argv) == 0 and "already finished, skipped" not in capsys.readouterr().out
    (third,) = set(_runs(runs)) - {first, second[0]}
    rec3 = json.loads((third / "metrics.json").read_text())
    assert rec3["data_fingerprint"] != rec2["data_fingerprint"]
    assert rec3["backbone"]["fingerprint"] == rec2["backbone"]["fingerprint"]

    # naming the first run's folder while the data differs: refused with the field, nothing overwritten
    before = (first / "metrics.json").read_bytes()
    assert main([*argv, "--run-id", first.name]) == 2
    err = capsys.readouterr().err
    assert "data_fingerprint" in err and str(first) in err
    assert (first / "metrics.json").read_bytes() == before
