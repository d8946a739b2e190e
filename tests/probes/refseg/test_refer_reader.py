"""The refer reader on the toy world's RefCOCO / RefCOCO+ / RefCOCOg, and its errors on bad input."""

from __future__ import annotations

import json
import pickle
import shutil

import numpy as np
import pytest
from PIL import Image

from probes.refseg.refer import SplitName, decode_segmentation, read_split


@pytest.fixture()
def refer_copy(toy_dir, tmp_path):
    dst = tmp_path / "refer_seg"
    shutil.copytree(toy_dir / "refer_seg", dst)
    return dst


def test_reads_lisa_split_names_of_all_three_datasets(toy_dir):
    root = toy_dir / "refer_seg"
    for name in ("refcoco|unc|train", "refcoco+|unc|train", "refcocog|umd|train", "refcocog|umd|val"):
        split = read_split(root, name)
        assert str(split.name) == name and split.num_expressions > 0
        for image in split.images:
            assert image.path.is_file()
            with Image.open(image.path) as im:
                assert (im.height, im.width) == (image.height, image.width)
            for e in image.expressions:
                m = split.mask(e.ann_id, image.height, image.width)
                assert m.shape == (image.height, image.width) and m.sum() > 0
    sents = [e.text for im in read_split(root, "refcoco|unc|train").images for e in im.expressions]
    assert any("says" in s for s in sents)  # sign-text expressions are there


def test_polygon_and_rle_segmentations_decode_alike():
    poly = [[1.0, 1.0, 6.0, 1.0, 6.0, 5.0, 1.0, 5.0]]
    m = decode_segmentation(poly, 8, 8)
    from pycocotools import mask as mu

    rle = mu.encode(np.asfortranarray(m))
    assert np.array_equal(decode_segmentation([{"size": rle["size"], "counts": rle["counts"].decode()}], 8, 8), m)
    assert m.sum() > 0


@pytest.mark.parametrize("spec, match", [("refcoco|unc", "dataset\\|splitBy\\|split"),
                                         ("refcocox|unc|val", "unknown dataset"),
                                         ("refcoco+|umd|val", "has no splitBy")])
def test_bad_split_names(spec, match):
    with pytest.raises(ValueError, match=match):
        SplitName.parse(spec)


def test_split_the_pickle_lacks_names_file_and_splits(toy_dir):
    with pytest.raises(ValueError, match=r"refs\(umd\)\.p: no refs of split 'testA' \(splits in this file: test, train"):
        read_split(toy_dir / "refer_seg", "refcocog|umd|testA")
    with pytest.raises(FileNotFoundError, match=r"refcoco/refs\(google\)\.p: no such refer pickle"):
        read_split(toy_dir / "refer_seg", "refcoco|google|val")


def test_ref_pointing_at_a_missing_annotation(refer_copy):
    inst = refer_copy / "refcoco" / "instances.json"
    data = json.loads(inst.read_text())
    refs = pickle.loads((refer_copy / "refcoco" / "refs(unc).p").read_bytes())
    victim = next(r for r in refs if r["split"] == "train")
    data["annotations"] = [a for a in data["annotations"] if a["id"] != victim["ann_id"]]
    inst.write_text(json.dumps(data))
    with pytest.raises(ValueError, match=rf"refs\(unc\)\.p: ref {victim['ref_id']} points at annotation "
                                         rf"{victim['ann_id']}, which .*instances.json lacks"):
        read_split(refer_copy, "refcoco|unc|train")


def test_missing_image_file(refer_copy):
    refs = pickle.loads((refer_copy / "refcoco" / "refs(unc).p").read_bytes())
    victim = next(r for r in refs if r["split"] == "val")
    path = refer_copy / "images/mscoco/images/train2014" / f"COCO_train2014_{victim['image_id']:012d}.jpg"
    path.unlink()
    with pytest.raises(FileNotFoundError, match=rf"{path.name}: image {victim['image_id']} of ref \d+ "
                                                rf"\(refcoco\|unc\|val\) does not exist"):
        read_split(refer_copy, "refcoco|unc|val")
