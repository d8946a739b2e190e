"""The LLaVA conversation files parse, point at real images, and give exact answers."""

from __future__ import annotations

import json
import re

from pycocotools.coco import COCO


def test_llava_json_format_and_images(world):
    root, summary = world
    for split in ("train", "val"):
        entries = json.loads((root / "llava" / f"{split}.json").read_text())
        assert len(entries) == summary.llava[split] > 0
        assert len({e["id"] for e in entries}) == len(entries)
        for e in entries:
            assert (root / "llava" / e["image"]).is_file()
            conv = e["conversations"]
            assert len(conv) >= 2 and len(conv) % 2 == 0
            assert [m["from"] for m in conv] == ["human", "gpt"] * (len(conv) // 2)
            assert conv[0]["value"].startswith("<image>\n")
            assert sum("<image>" in m["value"] for m in conv) == 1
            assert all(m["value"] and len(m["value"].split()) <= 60 for m in conv)
            assert all(len(m["value"].split()) <= 2 for m in conv[1::2]), "answers are short"


def test_count_and_sign_answers_agree_with_coco(world):
    root, _ = world
    coco = COCO(str(root / "coco" / "annotations" / "instances_val.json"))
    by_file = {img["file_name"]: img["id"] for img in coco.dataset["images"]}
    checked = {"count": 0, "text": 0}
    for e in json.loads((root / "llava" / "val.json").read_text()):
        question, answer = e["conversations"][0]["value"], e["conversations"][1]["value"]
        anns = coco.loadAnns(coco.getAnnIds(imgIds=by_file[e["image"].split("/")[-1]]))
        names = [coco.cats[a["category_id"]]["name"] for a in anns]
        m = re.search(r"How many (\w+) shapes are there\?", question)
        if m:
            assert answer == str(sum(n.startswith(m.group(1) + " ") for n in names))
            checked["count"] += 1
        if e["question_type"] == "text":
            assert answer in {a["attributes"]["text"] for a in anns if "attributes" in a}
            checked["text"] += 1
    assert checked["text"] > 0


def test_stage1_captions_in_lcs558k_layout(world):
    root, summary = world
    caps = json.loads((root / "llava" / "captions.json").read_text())
    train = json.loads((root / "llava" / "train.json").read_text())
    assert len(caps) == summary.llava["captions"] == len(train)
    for c in caps:
        assert set(c) == {"id", "image", "conversations"} and (root / "llava" / c["image"]).is_file()
        human, gpt = c["conversations"]
        assert human["from"] == "human" and human["value"].count("<image>") == 1
        assert gpt["from"] == "gpt" and gpt["value"]
