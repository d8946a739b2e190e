"""LISA's other mixture sources read from tiny fixtures in their public layouts (lisa_fixture.py),
each sample checked against hand-computed masks and names; the 9:3:3:1 sampler; the lisa preset's missing list."""

from __future__ import annotations

import importlib.util
import shutil
from pathlib import Path

import numpy as np
import pytest
from pycocotools import mask as mask_utils

from probes.refseg.data import ANSWERS, LONG_QUESTIONS, QUESTIONS, Sample
from probes.refseg.mixture import Mixture, load_mixture
from probes.refseg.reasonseg import read_reason_seg, read_vqa
from probes.refseg.semseg import (
    read_ade20k,
    read_cocostuff,
    read_mapillary,
    read_paco_lvis,
    read_pascal_part,
)

_spec = importlib.util.spec_from_file_location("refseg_lisa_fixture", Path(__file__).with_name("lisa_fixture.py"))
fixture = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(fixture)
ADE_LABEL, BOX, MAPILLARY_LABEL, STUFF_LABEL, H, W = (fixture.ADE_LABEL, fixture.BOX, fixture.MAPILLARY_LABEL,
                                                     fixture.STUFF_LABEL, fixture.H, fixture.W)
label_map, write_lisa_sources, PRESETS = fixture.label_map, fixture.write_lisa_sources, fixture.PRESETS


def asked(sample: Sample) -> list[str]:
    """The class / text each conversation asks about, read back through LISA's short templates."""
    out = []
    for conv in sample.conversations:
        q, a = conv[0]["value"].removeprefix("<image>\n"), conv[1]["value"]
        assert a in ANSWERS
        for t in QUESTIONS:
            head, tail = t.split("{}")
            if q.startswith(head) and q.endswith(tail):
                out.append(q[len(head):len(q) - len(tail)])
                break
        else:
            raise AssertionError(f"not one of LISA's short questions: {q!r}")
    return out


def region(values: dict, v: int, fill: int = 0) -> np.ndarray:
    return (label_map(values, fill) == v).astype(np.uint8)


def by_name(sample: Sample) -> dict[str, np.ndarray]:
    return dict(zip(asked(sample), sample.masks, strict=True))


def test_label_map_sources_give_lisa_samples(lisa_sources):
    rng = np.random.default_rng(0)
    ade = by_name(read_ade20k(lisa_sources).draw(rng, 3))
    # png 1 -> class 0 'wall', png 3 -> class 2 'sky' (first synonym), png 0 'other' is never asked for
    assert set(ade) == {"wall", "sky"}
    assert np.array_equal(ade["wall"], region(ADE_LABEL, 1)) and np.array_equal(ade["sky"], region(ADE_LABEL, 3))
    stuff = by_name(read_cocostuff(lisa_sources).draw(rng, 3))
    # png v is COCO-Stuff id v + 1; 'wall-other' (png 3) is dropped as LISA drops dashed names; 255 unlabeled
    assert set(stuff) == {"person", "bicycle"}
    assert np.array_equal(stuff["bicycle"], region(STUFF_LABEL, 1, 255))
    mapi = by_name(read_mapillary(lisa_sources).draw(rng, 3))
    assert set(mapi) == {"road", "car"}  # the label named 'unlabeled' is ignored
    assert np.array_equal(mapi["car"], region(MAPILLARY_LABEL, 1))
    # at most k classes per sample, drawn without replacement
    one = read_ade20k(lisa_sources).draw(np.random.default_rng(1), 1)
    assert len(one.conversations) == 1 and asked(one)[0] in {"wall", "sky"}


def test_part_sources_read_their_coco_json(lisa_sources):
    x, y, w, h = BOX
    expected = mask_utils.decode(mask_utils.frPyObjects([[x, y, x + w, y, x + w, y + h, x, y + h]], H, W))[..., 0]
    seen = set()
    for seed in range(6):
        for reader, obj, part in ((read_pascal_part, "dog", "head"), (read_paco_lvis, "mug", "handle")):
            s = reader(lisa_sources).draw(np.random.default_rng(seed), 3)
            (name,) = asked(s)
            assert name in {f"{obj} {part}", f"the {part} of the {obj}"}, name
            seen.add(name)
            assert np.array_equal(s.masks[0], expected) and s.image.is_file()
    assert {"dog head", "the head of the dog"} <= seen  # both of LISA's part phrasings occur


def test_reason_seg_polygons_and_long_questions(lisa_sources):
    s = read_reason_seg(lisa_sources, "ReasonSeg|train").draw(np.random.default_rng(0), 3)
    (conv,) = s.conversations
    q = conv[0]["value"].removeprefix("<image>\n")
    assert q in {t.format("the thing you would sit on after a long walk") for t in LONG_QUESTIONS}
    want = np.zeros((H, W), np.uint8)
    want[2:18, 2:22] = 1  # the target polygon, outline included
    want[6:12, 6:12] = 0  # its 'ignore' polygon is not target; the 'flag' polygon is skipped
    assert np.array_equal(s.masks[0], want)


def test_vqa_sample_is_the_conversation_without_masks(lisa_sources):
    s = read_vqa(lisa_sources, "llava_instruct_150k").draw(np.random.default_rng(0), 3)
    assert s.source == "vqa" and s.masks == [] and s.image == lisa_sources / "coco" / "train2017" / "000000000009.jpg"
    assert [m["value"] for m in s.conversations[0]][1:] == ["Grey.", "Why?", "Noise."]


class Marker:
    def __init__(self, name):
        self.name = name

    def draw(self, rng, k):
        return self.name


def test_sampler_is_9_3_3_1_with_uniform_sub_datasets_and_seeded():
    groups = {"sem_seg": [Marker("a"), Marker("b")], "refer_seg": [Marker("r")], "vqa": [Marker("v")],
              "reason_seg": [Marker("z")]}
    mix = Mixture(groups, {"sem_seg": 9, "refer_seg": 3, "vqa": 3, "reason_seg": 1}, 3)
    draws = [x for step in range(200) for mb in mix.micro_batches(0, step, 2, 10) for x in mb]  # 4000 samples
    freq = {k: draws.count(k) / len(draws) for k in "abrvz"}
    for key, p in {"a": 9 / 32, "b": 9 / 32, "r": 3 / 16, "v": 3 / 16, "z": 1 / 16}.items():
        assert abs(freq[key] - p) < 0.03, (key, freq)
    assert mix.micro_batches(0, 5, 2, 10) == mix.micro_batches(0, 5, 2, 10) != mix.micro_batches(1, 5, 2, 10)
    # absent sources drop out and the rest are renormalised
    assert Mixture({"vqa": [Marker("v")]}, {"sem_seg": 9, "vqa": 3}, 3).p.tolist() == [1.0]


def test_lisa_preset_names_what_is_missing_and_the_flag_trains_on_the_rest(tmp_path):
    from probes.refseg import RefsegConfig
    from rice.config import load_config

    root = write_lisa_sources(tmp_path / "dataset")
    shutil.rmtree(root / "mapillary")
    shutil.rmtree(root / "reason_seg")
    cfg = load_config(RefsegConfig, PRESETS / "lisa.yaml", []).validate()
    with pytest.raises(FileNotFoundError) as err:
        load_mixture(cfg.data, [], root, [])
    msg = str(err.value)
    assert "sem_seg/mapillary" in msg and "reason_seg/ReasonSeg|train" in msg and "--allow-missing" in msg
    assert "ade20k" not in msg.split("missing")[1]
    cfg = load_config(RefsegConfig, PRESETS / "lisa.yaml", ["data.allow_missing=true"]).validate()
    mix = load_mixture(cfg.data, [], root, ["refcoco|unc|train"])
    d = mix.describe()
    assert d["sources"] == {"sem_seg": ["ade20k", "cocostuff", "pascal_part", "paco_lvis"], "vqa": ["llava_instruct_150k"]}
    assert d["probabilities"] == {"sem_seg": 0.75, "vqa": 0.25}
    assert set(d["missing"]) == {"refer_seg/refcoco|unc|train", "sem_seg/mapillary", "reason_seg/ReasonSeg|train"}
    # a source whose files are there but broken is an error naming the file, even under allow_missing
    (root / "cocostuff" / "labels.txt").write_text("person\n")
    with pytest.raises(ValueError, match=r"labels.txt: line 1 = 'person'"):
        load_mixture(cfg.data, [], root, [])
