"""LLaVA conversation JSON: questions about counts, colours, shapes, positions and sign text.

    llava/train.json   one multi-turn conversation per scene (the LLaVA instruction format)
    llava/val.json     one single-turn entry per question, with its `question_type`
    llava/captions.json  one caption per train scene, in LCS-558K's `blip_laion_cc_sbu_558k.json` layout
                       (LLaVA's stage-1 alignment data)
    llava/images/      the scene images; `image` fields are relative to the llava/ folder

Answers are short and exact (a number, a colour, a shape, left/right, above/below, yes/no, or
the sign's text as written), and every question has exactly one right answer by construction.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from rice.toyworld.coco import ImageRecord, ObjectRecord
from rice.toyworld.files import item_rng, link_or_copy, write_json
from rice.toyworld.refer import unique_name
from rice.toyworld.shapes import CATEGORY_NAMES, PLURALS, SHAPES, SIGN

SHORT_ANSWER = "Answer the question using a single word or phrase."
SIDE_MARGIN = 0.08  # fraction of the image side between things called left/right of each other


def _count_questions(objs: list[ObjectRecord], rng: np.random.Generator) -> list[tuple[str, str]]:
    shapes = [o for o in objs if o.shape != SIGN]
    present = sorted({o.shape for o in shapes})
    absent = [s for s in SHAPES if s not in present]
    asked = present + ([absent[int(rng.integers(len(absent)))]] if absent else [])
    out = [(f"How many {PLURALS[s]} are there?", str(sum(o.shape == s for o in shapes))) for s in asked]
    out += [(f"How many {c} shapes are there?", str(sum(o.colour == c for o in shapes)))
            for c in sorted({o.colour for o in shapes})]
    out.append(("How many shapes are in the image?", str(len(shapes))))
    out.append(("How many signs are there?", str(sum(o.shape == SIGN for o in objs))))
    return out


def _attribute_questions(objs: list[ObjectRecord], rng: np.random.Generator) -> dict[str, list[tuple[str, str]]]:
    shapes = [o for o in objs if o.shape != SIGN]
    out: dict[str, list[tuple[str, str]]] = {"colour": [], "shape": [], "exists": []}
    for o in shapes:
        if sum(g.shape == o.shape for g in shapes) == 1:
            out["colour"].append((f"What colour is the {o.shape}?", o.colour))
        if sum(g.colour == o.colour for g in shapes) == 1:
            out["shape"].append((f"What shape is the {o.colour} object?", o.shape))
    present = sorted({o.category for o in shapes})
    absent = [c for c in CATEGORY_NAMES if c != SIGN and c not in present]
    asked = present[:2] + [absent[int(rng.integers(len(absent)))] for _ in range(2)]
    for c in asked:
        article = "an" if c[0] in "aeiou" else "a"
        out["exists"].append((f"Is there {article} {c} in the image?", "yes" if c in present else "no"))
    return out


def _position_questions(objs: list[ObjectRecord], side: int) -> list[tuple[str, str]]:
    named = [(o, unique_name(o, objs)) for o in objs]
    named = [(o, n) for o, n in named if n is not None]
    margin = SIDE_MARGIN * side
    out = []
    for a, na in named:
        if a.cx < side / 2 - 2 * margin or a.cx > side / 2 + 2 * margin:
            where = "left" if a.cx < side / 2 else "right"
            out.append((f"Is the {na} on the left or the right side of the image?", where))
        for b, nb in named:
            if a is b:
                continue
            ax, ay, aw, ah = a.bbox
            bx, by, bw, bh = b.bbox
            if ax + aw + margin <= bx or bx + bw + margin <= ax:
                out.append((f"Is the {na} to the left or to the right of the {nb}?",
                            "left" if ax < bx else "right"))
            if ay + ah + margin <= by or by + bh + margin <= ay:
                out.append((f"Is the {na} above or below the {nb}?", "above" if ay < by else "below"))
    return out


def _text_questions(objs: list[ObjectRecord], side: int) -> list[tuple[str, str]]:
    signs = [o for o in objs if o.shape == SIGN]
    if len(signs) == 1:
        return [("What does the sign say?", signs[0].text), ("What word is written on the sign?", signs[0].text)]
    out = []
    margin = SIDE_MARGIN * side
    for s in signs:
        others = [g for g in signs if g is not s]
        if s.cx + margin < min(g.cx for g in others):
            out.append(("What does the sign on the left say?", s.text))
        if s.cx - margin > max(g.cx for g in others):
            out.append(("What does the sign on the right say?", s.text))
        if s.cy + margin < min(g.cy for g in others):
            out.append(("What does the sign at the top say?", s.text))
    return out


def questions(rec: ImageRecord, rng: np.random.Generator, k: int) -> list[tuple[str, str, str]]:
    """Up to `k` (kind, question, answer) triples, cycling through the kinds in random order."""
    pools = {"count": _count_questions(rec.objects, rng), **_attribute_questions(rec.objects, rng),
             "position": _position_questions(rec.objects, rec.width), "text": _text_questions(rec.objects, rec.width)}
    order = sorted(kind for kind, qa in pools.items() if qa)
    rng.shuffle(order)
    if "text" in order:  # scenes with signs always ask about them: that is what signs are for
        order.remove("text")
        order.insert(0, "text")
    chosen: list[tuple[str, str, str]] = []
    asked: set[str] = set()
    while len(chosen) < k and any(pools[kind] for kind in order):
        for kind in order:
            if pools[kind] and len(chosen) < k:
                q, a = pools[kind].pop(int(rng.integers(len(pools[kind]))))
                if q not in asked:
                    asked.add(q)
                    chosen.append((kind, q, a))
    return chosen


def _turn(question: str, answer: str, first: bool) -> list[dict]:
    prompt = f"{question}\n{SHORT_ANSWER}"
    return [{"from": "human", "value": f"<image>\n{prompt}" if first else prompt}, {"from": "gpt", "value": answer}]


# LCS-558K's captioning prompts put `<image>` before or after the instruction
CAPTION_PROMPTS = ("<image>\nRender a clear and concise summary of the photo.",
                   "Describe the image concisely.\n<image>", "<image>\nGive a brief description of the image.")


def caption(rec: ImageRecord) -> str:
    """The scene's objects from left to right, e.g. "a red star, a sign that says LAKE and a blue ring"."""
    parts = [f"a sign that says {o.text}" if o.shape == SIGN else f"a {o.colour} {o.shape}"
             for o in sorted(rec.objects, key=lambda o: (o.cx, o.cy))]
    if not parts:
        return "an empty background"
    return parts[0] if len(parts) == 1 else ", ".join(parts[:-1]) + " and " + parts[-1]


def write_llava(root: Path, records: list[ImageRecord], image_paths: dict[int, Path], seed: int, k: int) -> dict:
    """Write `root/train.json`, `root/val.json` and link the images; returns counts."""
    entries: dict[str, list[dict]] = {"train": [], "val": []}
    for rec in records:
        rel = f"images/{rec.file_name}"
        link_or_copy(image_paths[rec.image_id], root / rel)
        qa = questions(rec, item_rng(seed, f"llava/{rec.split}", rec.index), k)
        if rec.split == "train":
            conv = [m for j, (_, q, a) in enumerate(qa) for m in _turn(q, a, j == 0)]
            entries["train"].append({"id": f"{rec.image_id:012d}", "image": rel, "conversations": conv})
        else:
            entries["val"].extend({"id": f"{rec.image_id:012d}_{j}", "image": rel, "question_type": kind,
                                   "conversations": _turn(q, a, True)} for j, (kind, q, a) in enumerate(qa))
    captions = [{"id": f"{rec.image_id:012d}", "image": f"images/{rec.file_name}",
                 "conversations": [{"from": "human", "value": CAPTION_PROMPTS[rec.index % len(CAPTION_PROMPTS)]},
                                   {"from": "gpt", "value": caption(rec)}]}
                for rec in records if rec.split == "train"]
    for split, items in entries.items():
        write_json(root / f"{split}.json", items, indent=1)
    write_json(root / "captions.json", captions, indent=1)
    return {**{split: len(items) for split, items in entries.items()}, "captions": len(captions)}
