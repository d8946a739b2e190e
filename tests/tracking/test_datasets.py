"""Readers on small folders in each benchmark's layout; writers read back; bad input names sequence and line."""

from __future__ import annotations

import zipfile

import numpy as np
import pytest
from got10k.datasets import GOT10k

from tracking import results
from tracking.datasets import load_sequences, read_got10k, read_lasot, read_tnl2k, read_trackingnet

BOXES = np.array([[10, 12, 30, 20], [11, 13, 30, 21], [12, 14, 31, 22]], float)


def _frames(folder, names, data=b"\xff\xd8\xff\xd9"):
    folder.mkdir(parents=True, exist_ok=True)
    for n in names:
        (folder / n).write_bytes(data)


def _boxes(path, boxes=BOXES):
    path.parent.mkdir(parents=True, exist_ok=True)
    np.savetxt(path, boxes, fmt="%g", delimiter=",")


def test_got10k_reader_matches_the_toolkit(tmp_path, got10k_writer):
    root = got10k_writer(tmp_path, {"GOT-10k_Val_000001": (BOXES, np.array([8, 0, 5]), (64, 48))})
    (seq,) = read_got10k(root, "val")
    img_files, anno, meta = GOT10k(str(root), subset="val", return_meta=True)[0]
    assert [str(p) for p in seq.frames] == img_files
    np.testing.assert_array_equal(seq.boxes, anno)
    np.testing.assert_array_equal(seq.cover, meta["cover"])
    assert seq.visible.tolist() == [True, False, True] and seq.resolution == (64, 48)
    assert load_sequences(f"got10k:{root}:val")[:2] == ("got10k", "val")


def test_lasot_trackingnet_tnl2k_readers(tmp_path):
    lasot = tmp_path / "lasot" / "cat" / "cat-1"
    _frames(lasot / "img", [f"{i:08d}.jpg" for i in range(1, 4)])
    _boxes(lasot / "groundtruth.txt")
    (lasot / "full_occlusion.txt").write_text("0,1,0\n")
    (lasot / "out_of_view.txt").write_text("0,0,1\n")
    (tmp_path / "lasot" / "testing_set.txt").write_text("cat-1\n")
    (seq,) = read_lasot(tmp_path / "lasot", "test")
    assert seq.visible.tolist() == [True, False, False] and read_lasot(tmp_path / "lasot", "train") == []

    tn = tmp_path / "trackingnet" / "TRAIN_0"
    _frames(tn / "frames" / "vid_a", [f"{i}.jpg" for i in range(3)])
    _boxes(tn / "anno" / "vid_a.txt")
    _frames(tmp_path / "trackingnet" / "TEST" / "frames" / "vid_b", [f"{i}.jpg" for i in range(5)])
    _boxes(tmp_path / "trackingnet" / "TEST" / "anno" / "vid_b.txt", BOXES[:1])
    (train,) = read_trackingnet(tmp_path / "trackingnet", "train")
    (test,) = read_trackingnet(tmp_path / "trackingnet", "TEST")
    assert train.has_groundtruth and len(test.frames) == 5 and not test.has_groundtruth

    tnl = tmp_path / "tnl2k" / "seqA"
    _frames(tnl / "imgs", ["00001.png", "00002.png", "00003.png"])
    _boxes(tnl / "groundtruth.txt")
    (seq,) = read_tnl2k(tmp_path / "tnl2k")
    assert [p.name for p in seq.frames] == ["00001.png", "00002.png", "00003.png"]


def test_bad_inputs_name_the_sequence_and_line(tmp_path, got10k_writer):
    root = got10k_writer(tmp_path, {"GOT-10k_Val_000001": (BOXES, np.array([8, 8, 8]), (64, 48))})
    seq = root / "val" / "GOT-10k_Val_000001"
    (seq / "00000002.jpg").unlink()
    with pytest.raises(ValueError, match=r"GOT-10k_Val_000001: .*1 of 3 frames are missing \(first: 00000002.jpg\)"):
        read_got10k(root, "val")
    _frames(seq, ["00000002.jpg"])
    (seq / "groundtruth.txt").write_text("10,12,30,20\n11,13,30\n12,14,31,22\n")
    with pytest.raises(ValueError, match=r"GOT-10k_Val_000001: .*groundtruth.txt line 2: expected 4 values"):
        read_got10k(root, "val")
    (seq / "groundtruth.txt").write_text("10,12,0,20\n11,13,30,21\n12,14,31,22\n")
    with pytest.raises(ValueError, match=r"GOT-10k_Val_000001: .*groundtruth.txt line 1: .*zero size"):
        read_got10k(root, "val")
    with pytest.raises(FileNotFoundError, match="no folder"):
        read_got10k(tmp_path / "nowhere", "val")
    with pytest.raises(ValueError, match="unknown kind 'vot'"):
        load_sequences("vot:/x")


def test_writers_round_trip_in_the_benchmark_formats(tmp_path):
    results.write_got10k(tmp_path / "GOT-10k" / "t", "seqA", BOXES, np.array([0.1, 0.02, 0.03]))
    np.testing.assert_allclose(results.read_got10k(tmp_path / "GOT-10k" / "t", "seqA"), BOXES)
    assert (tmp_path / "GOT-10k" / "t" / "seqA" / "seqA_time.txt").read_text().splitlines()[1] == "0.02000000"
    path = results.write_txt(tmp_path / "lasot", "cat-1", BOXES)
    np.testing.assert_allclose(results.read_txt(path), BOXES)
    z = results.write_trackingnet_zip(tmp_path / "sub.zip", {"vid_b": BOXES, "vid_a": BOXES[:1]})
    with zipfile.ZipFile(z) as zf:
        assert zf.namelist() == ["vid_a.txt", "vid_b.txt"]
        assert zf.read("vid_a.txt").decode() == "10.000,12.000,30.000,20.000\n"
    g = results.zip_got10k(tmp_path / "GOT-10k" / "t", tmp_path / "got.zip")
    with zipfile.ZipFile(g) as zf:
        assert zf.namelist() == ["seqA/seqA_001.txt", "seqA/seqA_time.txt"]
