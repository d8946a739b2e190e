"""lmms-eval 0.7.3 (`llava_hf`, in this process through its Python API) on the packaged toy task reports our exact match.

Run through `rice-probe mllm eval`. The answers of half the documents are set to what our own greedy generation gives (in upper case with
a full stop, which exact_match with ignore_case / ignore_punctuation must accept), the rest to a
wrong word, so the expected score is known before lmms-eval runs; its generations must equal ours.
"""

from __future__ import annotations

import json

import torch
from PIL import Image

from mllm import evaluate as ev
from mllm.data import load_llava_json
from probes.cli import main

N_DOCS = 4


def _our_generation(model, processor, row) -> str:
    msgs = [{"role": "user", "content": [{"type": "image"}, {"type": "text", "text": row["question"]}]}]
    text = processor.apply_chat_template(msgs, add_generation_prompt=True)
    batch = processor(images=Image.open(row["image"]).convert("RGB"), text=text, return_tensors="pt")
    with torch.no_grad():
        out = model.generate(**batch, max_new_tokens=8, do_sample=False)
    return processor.tokenizer.decode(out[0, batch["input_ids"].shape[1]:], skip_special_tokens=True)


def test_lmms_eval_score_equals_our_exact_match(toy_dir, tmp_path, tiny_llava):
    """Through `rice-probe mllm eval` on a copy of the toy world whose first answers are rewritten."""
    model, processor = tiny_llava
    model.eval()
    ckpt = tmp_path / "hf"
    model.save_pretrained(ckpt)
    processor.save_pretrained(ckpt)
    val = json.loads((toy_dir / "llava" / "val.json").read_text())[:N_DOCS]
    for item in val:
        item["image"] = str((toy_dir / "llava" / item["image"]).resolve())
    rows = ev.toy_rows(load_llava_json_from(val, tmp_path))
    ours = [_our_generation(model, processor, r) for r in rows]
    assert all(ev.normalize(o) for o in ours[::2]), "need non-empty generations to compare"
    for i, item in enumerate(val):
        item["conversations"][1]["value"] = ours[i].upper() + "." if i % 2 == 0 else "zebra-" + ours[i]
    copy = tmp_path / "toy" / "llava"
    copy.mkdir(parents=True)
    for name in ("captions", "train"):
        (copy / f"{name}.json").write_text(json.dumps([]))
    (copy / "val.json").write_text(json.dumps(val))
    assert main(["mllm", "eval", "--checkpoint", str(ckpt), "--data", f"toy:{tmp_path / 'toy'}",
                 "--tasks", "toyvqa", "--out", str(tmp_path / "eval")]) == 0
    scores = json.loads((tmp_path / "eval" / "scores.json").read_text())
    detail = scores["evaluations"]["toyvqa"]
    samples = [json.loads(ln) for ln in open(detail["samples_file"]) if ln.strip()]
    preds = ev.sample_predictions(samples)
    assert [preds[i] for i in range(N_DOCS)] == ours  # lmms-eval generated exactly what we generate
    assert scores["metrics"]["toyvqa"] == detail["own_exact_match"] == 50.0  # its score == our exact match
    assert detail["lmms_eval_version"] == ev.LMMS_EVAL_VERSION
    assert sum(detail["per_type"].values()) >= 0 and set(detail["majority_baseline"]) == set(detail["per_type"])


def load_llava_json_from(items, tmp_path):
    f = tmp_path / "val_probe.json"
    f.write_text(json.dumps(items))
    return load_llava_json(f)
