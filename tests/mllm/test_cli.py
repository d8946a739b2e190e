"""`rice-probe mllm train` end to end (no lmms-eval here: see test_lmms_eval.py): record, HF directory, skip."""

from __future__ import annotations

import json

import pytest

from probes.cli import main

TRAIN = ["stage1.max_steps=1", "stage2.max_steps=2", "data.limit_train=4", "eval.tasks=[]", "train.global_batch=4",
         "train.per_device_batch=2"]


def test_train_writes_record_and_loadable_checkpoint_then_skips(toy_dir, tmp_path, capsys):
    from transformers import AutoProcessor, LlavaNextForConditionalGeneration

    args = ["mllm", "train", "--backbone", "rice-vit-tiny", "--data", f"toy:{toy_dir}", "--runs-dir", str(tmp_path),
            "--quiet", *TRAIN]
    assert main(args) == 0
    runs = list((tmp_path / "mllm" / "toy" / "rice-vit-tiny").glob("*/metrics.json"))
    assert len(runs) == 1
    rec = json.loads(runs[0].read_text())
    assert rec["probe"] == "mllm" and rec["tower_unchanged"] is True
    assert rec["protocol"]["tower"] == "frozen" and rec["protocol"]["resolution"] == "2x2+1@56"
    assert set(rec["training"]) == {"stage1", "stage2"} and rec["training"]["stage2"]["steps"] == 2
    assert rec["backbone"]["fingerprint"] and rec["data_fingerprint"]
    hf = runs[0].parent / "hf"
    LlavaNextForConditionalGeneration.from_pretrained(hf)
    assert AutoProcessor.from_pretrained(hf).tokenizer.chat_template
    mtime = runs[0].stat().st_mtime_ns
    assert main(args) == 0 and "already finished, skipped" in capsys.readouterr().out
    assert runs[0].stat().st_mtime_ns == mtime


def test_bad_input_exits_2_before_writing(toy_dir, tmp_path, capsys):
    assert main(["mllm", "train", "--backbone", "timm-vit-tiny", "--data", f"toy:{toy_dir}",
                 "--runs-dir", str(tmp_path), *TRAIN]) == 2
    assert "has no Hugging Face vision model" in capsys.readouterr().err
    assert main(["mllm", "train", "--backbone", "rice-vit-tiny", "--data", f"toy:{tmp_path / 'nope'}",
                 "--runs-dir", str(tmp_path), *TRAIN]) == 2
    assert "captions.json" in capsys.readouterr().err
    assert main(["mllm", "train", "--backbone", "rice-vit-tiny", "--data", f"toy:{toy_dir}", "model.tiling=3x3",
                 "--runs-dir", str(tmp_path)]) == 2
    assert not (tmp_path / "mllm").exists()


@pytest.mark.parametrize("sub", ["train", "eval"])
def test_help(sub, capsys):
    with pytest.raises(SystemExit):
        main(["mllm", sub, "--help"])
    assert "lmms-eval" in capsys.readouterr().out


def test_standard_task_without_local_data_fails_before_any_model(toy_dir, tmp_path, capsys, monkeypatch):
    """ocrbench's dataset (echo840/OCRBench) is in no local cache: one error naming it, before a model loads."""
    monkeypatch.setenv("LMMS_EVAL_DATASETS_CACHE", str(tmp_path / "datasets"))
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "hub"))
    unloadable = tmp_path / "ckpt"
    unloadable.mkdir()
    (unloadable / "config.json").write_text("{}")  # loading this model would fail with another error
    assert main(["mllm", "eval", "--checkpoint", str(unloadable), "--tasks", "ocrbench"]) == 2
    err = capsys.readouterr().err
    assert "'ocrbench'" in err and "'echo840/OCRBench' is not present locally" in err, err
    assert main(["mllm", "train", "--backbone", "rice-vit-tiny", "--data", f"toy:{toy_dir}", "--runs-dir",
                 str(tmp_path), *[o for o in TRAIN if not o.startswith("eval.")], "eval.tasks=[toyvqa,ocrbench]"]) == 2
    assert "'echo840/OCRBench' is not present locally" in capsys.readouterr().err
    assert main(["mllm", "eval", "--checkpoint", str(unloadable), "--tasks", "no_such_task"]) == 2
    assert "lmms-eval has no such task" in capsys.readouterr().err
    assert not (tmp_path / "mllm").exists()  # nothing trained, nothing written
