"""The GOT-10k folders read with the got10k toolkit's own dataset class."""

from __future__ import annotations

import numpy as np
from got10k.datasets import GOT10k
from PIL import Image


def test_got10k_toolkit_reads_every_subset(world):
    root, summary = world
    for subset in ("train", "val"):
        dataset = GOT10k(str(root / "got10k"), subset=subset, return_meta=True)
        assert len(dataset) == summary.got10k[subset]["sequences"] > 0
        frames = 0
        for name, (img_files, anno, meta) in zip(dataset.seq_names, dataset):
            assert name.startswith("GOT-10k_Train_" if subset == "train" else "GOT-10k_Val_")
            assert len(img_files) == len(anno) and 20 <= len(anno) <= 24
            assert anno.shape == (len(anno), 4) and (anno[:, 2:] > 0).all()
            with Image.open(img_files[0]) as im:
                w, h = im.size
            assert (anno[:, 0] >= 0).all() and (anno[:, 0] + anno[:, 2] <= w).all()
            assert (anno[:, 1] >= 0).all() and (anno[:, 1] + anno[:, 3] <= h).all()
            for key in ("cover", "absence", "cut_by_image"):
                assert meta[key].shape == (len(anno),)
            assert set(np.unique(meta["cover"])) <= set(range(9))
            assert ((meta["absence"] == 1) == (meta["cover"] == 0)).all()
            assert meta["object_class"] and meta["resolution"]
            # smooth motion: the centre moves a few pixels per frame, never jumps
            centre = anno[:, :2] + anno[:, 2:] / 2
            assert np.abs(np.diff(centre, axis=0)).max() < 25
            frames += len(anno)
        assert frames == summary.got10k[subset]["frames"]


def test_some_sequence_has_an_occlusion(world):
    root, _ = world
    covers = [GOT10k(str(root / "got10k"), subset=s, return_meta=True)[i][2]["cover"]
              for s in ("train", "val") for i in range(len(GOT10k(str(root / "got10k"), subset=s)))]
    assert any((c < 8).any() for c in covers)


def test_more_longer_smaller_sequences_for_the_tracking_probe(tmp_path):
    """The knobs the tracking probe's demo uses (`rice toyworld --num-sequences --min/max-frames --frame-size`)."""
    import argparse

    from rice.commands.toyworld import add_arguments
    from rice.toyworld.config import ToyWorldConfig
    from rice.toyworld.got10k import write_got10k

    parser = argparse.ArgumentParser()
    add_arguments(parser)
    args = parser.parse_args(["--out", "x", "--num-sequences", "4", "--min-frames", "30", "--max-frames", "30",
                              "--frame-size", "160", "120"])
    assert tuple(args.frame_size) == (160, 120) and parser.parse_args(["--out", "x"]).frame_size == [320, 240]
    cfg = ToyWorldConfig(num_sequences=args.num_sequences, min_frames=30, max_frames=30,
                         frame_size=tuple(args.frame_size)).validate()
    summary = write_got10k(tmp_path, cfg, progress=False)
    assert summary == {"train": {"sequences": 3, "frames": 90}, "val": {"sequences": 1, "frames": 30}}
    dataset = GOT10k(str(tmp_path), subset="train", return_meta=True)
    img_files, anno, meta = dataset[0]
    with Image.open(img_files[0]) as im:
        assert im.size == (160, 120)
    assert meta["resolution"] == "(160, 120)" and len(anno) == 30
    assert (anno[:, 0] + anno[:, 2] <= 160).all() and (anno[:, 1] + anno[:, 3] <= 120).all()
