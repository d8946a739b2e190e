"""Tokenisation with loss on answers only, and bad LLaVA JSON input named precisely."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from PIL import Image

from mllm.data import IGNORE, encode_conversation, load_llava_json

CONV = [{"from": "human", "value": "<image>\nHow many stars?"}, {"from": "gpt", "value": "2"},
        {"from": "human", "value": "What colour is the star?"}, {"from": "gpt", "value": "red"}]


def test_encode_matches_processor_and_masks_all_but_answers(tiny_llava):
    _, processor = tiny_llava
    tok = processor.tokenizer
    image = Image.fromarray(np.random.RandomState(0).randint(0, 255, (80, 200, 3), dtype=np.uint8))
    item = encode_conversation(processor, CONV, image)
    msgs = [{"role": "user" if m["from"] == "human" else "assistant", "content": m["value"]} for m in CONV]
    text = tok.apply_chat_template(msgs, chat_template=processor.chat_template, tokenize=False)
    ref = processor(images=image, text=text, return_tensors="pt")
    assert torch.equal(item["input_ids"], ref["input_ids"][0])  # same ids as the processor on the whole text
    assert torch.equal(item["pixel_values"], ref["pixel_values"][0])
    answer = [i for i, lab in zip(item["input_ids"].tolist(), item["labels"].tolist()) if lab != IGNORE]
    assert tok.decode(answer) == "2<|im_end|>\nred<|im_end|>\n"
    plain = encode_conversation(processor, CONV[:2], image, template="plain")
    kept = [i for i, lab in zip(plain["input_ids"].tolist(), plain["labels"].tolist()) if lab != IGNORE]
    assert tok.decode(kept) == "2\n" and plain["input_ids"][0] == tok.convert_tokens_to_ids("<image>")


def _write(tmp_path, items):
    (tmp_path / "img.jpg").parent.mkdir(parents=True, exist_ok=True)
    Image.new("RGB", (32, 32)).save(tmp_path / "img.jpg")
    f = tmp_path / "data.json"
    f.write_text(json.dumps(items))
    return f


def test_missing_image_file_is_named(tmp_path):
    f = _write(tmp_path, [{"id": "a", "image": "img.jpg", "conversations": CONV},
                          {"id": "b", "image": "gone.jpg", "conversations": CONV}])
    with pytest.raises(FileNotFoundError, match=r"data.json: item 1 \(id 'b'\): field 'image' = 'gone.jpg'"):
        load_llava_json(f)


def test_two_image_marks_for_one_image(tmp_path, tiny_llava):
    two = [{"from": "human", "value": "<image>\n<image>\nHow many?"}, {"from": "gpt", "value": "2"}]
    f = _write(tmp_path, [{"id": "x7", "image": "img.jpg", "conversations": two}])
    with pytest.raises(ValueError, match=r"data.json: item 0 \(id 'x7'\): field 'conversations' has 2 '<image>'"):
        load_llava_json(f)
    with pytest.raises(ValueError, match="2 '<image>' marks for 1 image"):
        encode_conversation(tiny_llava[1], two, Image.new("RGB", (32, 32)))


def test_bad_roles_and_toy_files_load(tmp_path, toy_dir):
    f = _write(tmp_path, [{"id": "r", "image": "img.jpg", "conversations": [{"from": "bot", "value": "<image>"}]}])
    with pytest.raises(ValueError, match=r"item 0 \(id 'r'\): field 'conversations\[\].from' = \['bot'\]"):
        load_llava_json(f)
    for name in ("captions", "train", "val"):
        assert load_llava_json(toy_dir / "llava" / f"{name}.json")
