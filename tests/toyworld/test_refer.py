"""RefCOCO files follow the refer API / LISA layout, and every expression is unambiguous."""

from __future__ import annotations

import json
import pickle

import numpy as np
from pycocotools import mask as mask_utils

REF_KEYS = {"ref_id", "ann_id", "image_id", "category_id", "split", "sent_ids", "file_name", "sentences"}


def _load(root):
    data = root / "refer_seg" / "refcoco"
    with open(data / "refs(unc).p", "rb") as f:
        refs = pickle.load(f)
    with open(data / "instances.json") as f:
        instances = json.load(f)
    return refs, instances


def test_refs_point_at_real_annotations_and_images(world):
    root, summary = world
    refs, instances = _load(root)
    assert len(refs) == summary.refer["refs"] > 0
    anns = {a["id"]: a for a in instances["annotations"]}
    imgs = {i["id"]: i for i in instances["images"]}
    cats = {c["id"]: c["name"] for c in instances["categories"]}
    image_dir = root / "refer_seg" / "images" / "mscoco" / "images" / "train2014"
    sent_ids = set()
    for ref in refs:
        assert set(ref) == REF_KEYS
        ann = anns[ref["ann_id"]]
        assert ann["image_id"] == ref["image_id"] and ann["category_id"] == ref["category_id"]
        assert ref["category_id"] in cats
        img = imgs[ref["image_id"]]
        assert img["file_name"].startswith("COCO_train2014_") and (image_dir / img["file_name"]).is_file()
        assert ref["split"] in ("train", "val", "testA", "testB")
        assert ref["sent_ids"] == [s["sent_id"] for s in ref["sentences"]] and ref["sentences"]
        for s in ref["sentences"]:
            assert s["sent"] == s["raw"].lower() and s["tokens"] == s["sent"].split()
            assert s["sent_id"] not in sent_ids
            sent_ids.add(s["sent_id"])
        # the LISA / refer.getMask path: segmentation is a list of RLEs with str counts
        rle = [dict(r, counts=r["counts"].encode()) for r in ann["segmentation"]]
        m = np.sum(mask_utils.decode(rle), axis=2)
        assert int(m.sum()) == ann["area"]
    assert {r["split"] for r in refs} >= {"train", "val"}


def test_expressions_are_unique_per_image(world):
    root, _ = world
    refs, _ = _load(root)
    per_image: dict[int, list[str]] = {}
    for ref in refs:
        per_image.setdefault(ref["image_id"], []).extend(s["sent"] for s in ref["sentences"])
    for sents in per_image.values():
        assert len(sents) == len(set(sents))
    all_sents = [s for sents in per_image.values() for s in sents]
    kinds = {"biggest": 0, " of the ": 0, "says": 0, "on the": 0}
    for s in all_sents:
        for k in kinds:
            kinds[k] += k in s
    assert kinds["says"] > 0 and kinds[" of the "] > 0, kinds


def test_expressions_identify_exactly_one_object():
    from rice.toyworld.coco import ObjectRecord
    from rice.toyworld.refer import expressions

    def obj(i, shape, colour, cx, cy, area, text=None):
        r = 10
        return ObjectRecord(i, "sign" if shape == "sign" else f"{colour} {shape}", shape, colour, text, cx, cy,
                            area, [cx - r, cy - r, 2 * r, 2 * r], area, {})

    a = obj(1, "square", "blue", 30, 100, 400)
    b = obj(2, "square", "blue", 180, 100, 400)
    star = obj(3, "star", "red", 100, 100, 300)
    sign = obj(4, "sign", None, 100, 30, 600, text="OPEN")
    objects = [a, b, star, sign]
    ea = {s for v in expressions(a, objects, 224).values() for s in v}
    eb = {s for v in expressions(b, objects, 224).values() for s in v}
    assert "the blue square left of the star" in ea and "the blue square right of the star" in eb
    assert "the blue square on the left" in ea and not ea & eb
    assert "the sign that says OPEN" in {s for v in expressions(sign, objects, 224).values() for s in v}
    assert "the star" in {s for v in expressions(star, objects, 224).values() for s in v}


LOCATION_WORDS = ("left", "right", "top", "bottom", "above", "below")


def test_refcoco_plus_and_refcocog_variants(world):
    root, summary = world
    data = root / "refer_seg"
    refcoco_instances = (data / "refcoco" / "instances.json").read_bytes()
    for dataset, split_by, splits in (("refcoco+", "unc", {"train", "val", "testA", "testB"}),
                                      ("refcocog", "umd", {"train", "val", "test"})):
        assert (data / dataset / "instances.json").read_bytes() == refcoco_instances  # shared images / annotations
        with open(data / dataset / f"refs({split_by}).p", "rb") as f:
            refs = pickle.load(f)
        counts = summary.refer["variants"][dataset]
        assert len(refs) == counts["refs"] > 0 and set(counts["splits"]) == splits
        assert {r["split"] for r in refs} <= splits and "train" in {r["split"] for r in refs}
        assert all(set(r) == REF_KEYS for r in refs)
        sents = [s["sent"] for r in refs for s in r["sentences"]]
        if dataset == "refcoco+":
            assert not [s for s in sents if any(w in s.split() for w in LOCATION_WORDS)]
            assert any("says" in s for s in sents)
        else:
            mean_len = sum(len(s.split()) for s in sents) / len(sents)
            with open(data / "refcoco" / "refs(unc).p", "rb") as f:
                base = [s["sent"] for r in pickle.load(f) for s in r["sentences"]]
            assert mean_len > sum(len(s.split()) for s in base) / len(base)
