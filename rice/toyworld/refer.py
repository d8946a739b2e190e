"""RefCOCO in the refer API layout (github lichengunc/refer, as LISA reads it).

    refer_seg/refcoco/refs(unc).p        pickled list of refs
    refer_seg/refcoco/instances.json     images / annotations / categories (segmentation: [RLE])
    refer_seg/images/mscoco/images/train2014/COCO_train2014_<id:012d>.jpg

Expressions come from the scene and are unambiguous by construction: each one is emitted only
when exactly one object in its image satisfies it. Kinds: category ("the red circle"), size
("the biggest triangle"), position ("the star on the left"), relation ("the blue square left
of the star"), and text ("the sign that says OPEN").

Beside RefCOCO, two variants share its images and instances.json, as the real ones share COCO:
    refer_seg/refcoco+/refs(unc).p   no location words (RefCOCO+'s rule): category, text and size only;
                                     splits train / val / testA / testB as RefCOCO's
    refer_seg/refcocog/refs(umd).p   longer expressions (the longest kinds first, as full clauses);
                                     splits train / val / test (umd's partition, by image)
"""

from __future__ import annotations

import pickle
from pathlib import Path

import numpy as np

from rice.toyworld.coco import ImageRecord, ObjectRecord, coco_annotation, coco_categories, coco_image
from rice.toyworld.files import item_rng, link_or_copy, write_json
from rice.toyworld.shapes import SIGN

SENTENCES_PER_REF = 3
SIZE_RATIO = 1.3  # "biggest" only when the biggest is clearly bigger than the runner-up
POSITION_MARGIN = 0.08  # "on the left" only with a clear gap, as a fraction of the image side
REFER_IMAGE_DIR = Path("images/mscoco/images/train2014")
TEST_SPLITS = ("val", "testA", "testB")
UMD_TEST_SPLITS = ("val", "test")
APPEARANCE_KINDS = ("category", "text", "size")  # RefCOCO+ forbids location words
LONG_KINDS = ("relation", "position", "size", "text", "category")  # RefCOCOg's preference: longest first
VARIANT_STREAM = {"refcoco+": 1, "refcocog": 2}  # sub-streams of refer/<split>; RefCOCO keeps the plain one


def refer_file_name(image_id: int) -> str:
    return f"COCO_train2014_{image_id:012d}.jpg"


def _noun_phrases(obj: ObjectRecord, objects: list[ObjectRecord]) -> list[tuple[str, list[ObjectRecord]]]:
    """Noun phrases that describe `obj`, each with every object of the image it also fits."""
    if obj.shape == SIGN:
        signs = [o for o in objects if o.shape == SIGN]
        return [("sign", signs), (f"sign that says {obj.text}", [obj])]
    shapes = [o for o in objects if o.shape != SIGN]
    return [(obj.category, [o for o in shapes if o.category == obj.category]),
            (obj.shape, [o for o in shapes if o.shape == obj.shape]),
            (f"{obj.colour} shape", [o for o in shapes if o.colour == obj.colour])]


def unique_name(obj: ObjectRecord, objects: list[ObjectRecord]) -> str | None:
    """The shortest noun phrase that names `obj` alone, if any."""
    unique = [p for p, group in _noun_phrases(obj, objects) if len(group) == 1]
    return min(unique, key=lambda p: (len(p), p)) if unique else None


def _relations(t: ObjectRecord, l: ObjectRecord) -> list[tuple[str, bool]]:
    """(relation, whether it strictly holds): t's visible box lies wholly on that side of l's."""
    tx, ty, tw, th = t.bbox
    lx, ly, lw, lh = l.bbox
    return [("left of", tx + tw <= lx), ("right of", tx >= lx + lw),
            ("above", ty + th <= ly), ("below", ty >= ly + lh)]


def _loose(g: ObjectRecord, l: ObjectRecord, relation: str) -> bool:
    """The weak form of `relation` that every other candidate must fail, so the strict one is unambiguous."""
    return {"left of": g.cx < l.cx, "right of": g.cx > l.cx,
            "above": g.cy < l.cy, "below": g.cy > l.cy}[relation]


def expressions(t: ObjectRecord, objects: list[ObjectRecord], side: int) -> dict[str, list[str]]:
    """Every unambiguous expression for `t`, by kind."""
    out: dict[str, list[str]] = {"category": [], "text": [], "size": [], "position": [], "relation": []}
    margin = POSITION_MARGIN * side
    for phrase, group in _noun_phrases(t, objects):
        if len(group) == 1:
            out["text" if phrase.startswith("sign that") else "category"].append(f"the {phrase}")
            continue
        others = [g for g in group if g is not t]
        # by full size and by what is left visible, so that occlusion cannot flip the answer
        if all(t.full_area >= SIZE_RATIO * g.full_area and t.area >= SIZE_RATIO * g.area for g in others):
            out["size"].append(f"the biggest {phrase}")
        if all(t.full_area * SIZE_RATIO <= g.full_area and t.area * SIZE_RATIO <= g.area for g in others):
            out["size"].append(f"the smallest {phrase}")
        for where, ok in (("on the left", t.cx + margin < min(g.cx for g in others)),
                          ("on the right", t.cx - margin > max(g.cx for g in others)),
                          ("at the top", t.cy + margin < min(g.cy for g in others)),
                          ("at the bottom", t.cy - margin > max(g.cy for g in others))):
            if ok:
                out["position"].append(f"the {phrase} {where}")
        for l in objects:
            if any(l is g for g in group):
                continue
            name = unique_name(l, objects)
            if name is None:
                continue
            for relation, holds in _relations(t, l):
                if holds and not any(_loose(g, l, relation) for g in others):
                    out["relation"].append(f"the {phrase} {relation} the {name}")
    return out


def choose_sentences(kinds: dict[str, list[str]], rng: np.random.Generator, k: int = SENTENCES_PER_REF) -> list[str]:
    """Up to `k` distinct expressions, one kind at a time in random order, for variety."""
    pools = {kind: sorted(set(v)) for kind, v in kinds.items() if v}
    order = sorted(pools)
    rng.shuffle(order)
    chosen: list[str] = []
    while len(chosen) < k and any(pools.values()):
        for kind in order:
            if pools[kind] and len(chosen) < k:
                chosen.append(pools[kind].pop(int(rng.integers(len(pools[kind])))))
    return chosen


def ref_split(rec: ImageRecord, test_splits: tuple[str, ...] = TEST_SPLITS) -> str:
    return "train" if rec.split == "train" else test_splits[rec.index % len(test_splits)]


def refcocog_sentences(kinds: dict[str, list[str]], rng: np.random.Generator, k: int = SENTENCES_PER_REF) -> list[str]:
    """RefCOCOg-style: up to `k` expressions of the longest kinds available, phrased as full clauses."""
    chosen: list[str] = []
    for kind in LONG_KINDS:
        pool = sorted(set(kinds.get(kind, [])))
        rng.shuffle(pool)
        chosen += pool[: k - len(chosen)]
    return [f"{s} in the picture" if s.startswith("the sign") else f"{s}, shown in the picture" for s in chosen]


def _variant_sentences(variant: str):
    """(sentence chooser, test splits) of RefCOCO and its two variants."""
    if variant == "refcoco+":
        return (lambda kinds, rng: choose_sentences({k: kinds[k] for k in APPEARANCE_KINDS}, rng)), TEST_SPLITS
    if variant == "refcocog":
        return refcocog_sentences, UMD_TEST_SPLITS
    return choose_sentences, TEST_SPLITS


def build_refs(records: list[ImageRecord], seed: int, variant: str = "refcoco") -> list[dict]:
    choose, test_splits = _variant_sentences(variant)
    refs: list[dict] = []
    sent_id = 0
    for rec in records:
        rng = item_rng(seed, f"refer/{rec.split}", rec.index)
        if variant in VARIANT_STREAM:  # an independent stream per variant; RefCOCO's draws stay as they were
            rng = np.random.default_rng([seed, VARIANT_STREAM[variant], int(rng.integers(2**31))])
        seen: set[str] = set()  # an expression names one object, so it appears once per image
        for obj in rec.objects:
            sentences = []
            for raw in choose(expressions(obj, rec.objects, rec.width), rng):
                sent = raw.lower()
                if sent in seen:
                    continue
                seen.add(sent)
                sentences.append({"sent": sent, "raw": raw, "tokens": sent.split(), "sent_id": sent_id})
                sent_id += 1
            if not sentences:
                continue
            refs.append({"ref_id": len(refs), "ann_id": obj.ann_id, "image_id": rec.image_id,
                         "category_id": obj.category_id, "split": ref_split(rec, test_splits),
                         "sent_ids": [s["sent_id"] for s in sentences],
                         "file_name": f"COCO_train2014_{rec.image_id:012d}_{obj.ann_id}.jpg",
                         "sentences": sentences})
    return refs


def write_refer(root: Path, records: list[ImageRecord], image_paths: dict[int, Path], seed: int) -> dict:
    """Write `root/{refcoco,refcoco+,refcocog}/{refs(unc|umd).p,instances.json}` and link the images; returns
    RefCOCO's counts, with the variants' counts under "variants"."""
    for rec in records:
        link_or_copy(image_paths[rec.image_id], root / REFER_IMAGE_DIR / refer_file_name(rec.image_id))
    instances = {
        "info": {"description": "RICE toy world, RefCOCO layout"}, "licenses": [],
        "images": [coco_image(rec, refer_file_name(rec.image_id)) for rec in records],
        "annotations": [coco_annotation(o, rec.image_id, list_segmentation=True)
                        for rec in records for o in rec.objects],
        "categories": coco_categories()}
    counts = {}
    for dataset, split_by in (("refcoco", "unc"), ("refcoco+", "unc"), ("refcocog", "umd")):
        refs = build_refs(records, seed, dataset)
        write_json(root / dataset / "instances.json", instances)
        with open(root / dataset / f"refs({split_by}).p", "wb") as f:
            pickle.dump(refs, f, protocol=4)
        test_splits = UMD_TEST_SPLITS if split_by == "umd" else TEST_SPLITS
        splits = {s: sum(r["split"] == s for r in refs) for s in ("train",) + test_splits}
        counts[dataset] = {"refs": len(refs), "sentences": sum(len(r["sentences"]) for r in refs), "splits": splits}
    return {**counts["refcoco"], "variants": {k: v for k, v in counts.items() if k != "refcoco"}}
