"""What k-means is fitted on (region features, as the paper clusters regions) and input with nothing readable."""

from __future__ import annotations

import dataclasses

from rice.cli import main
from rice.curate import curate


def test_kmeans_is_fitted_on_region_features_only(tmp_path, make_subset, make_config):
    images = make_subset(tmp_path / "images", 0, 3)
    cfg = make_config(images, tmp_path / "regions", "superpixels", ocr="none", num_clusters=4, image_labels_k=2)
    stats = curate(cfg)
    assert stats.images_written == 3 and stats.object_regions > 3
    assert stats.clusters["trained_on"] == stats.object_regions
    both = dataclasses.replace(cfg, out_dir=str(tmp_path / "both"),
                               cluster=dataclasses.replace(cfg.cluster, fit_on="regions+images"))
    stats = curate(both)
    assert stats.clusters["trained_on"] == stats.object_regions + stats.images_written


def test_all_unreadable_images_say_so(tmp_path, capsys):
    images = tmp_path / "images"
    images.mkdir()
    for i in range(3):
        (images / f"broken{i}.jpg").write_bytes(b"not a jpeg at all")
    rc = main(["curate", str(images), "--out", str(tmp_path / "o"), "--config", "configs/curate/toy.yaml",
               "--masks", "superpixels", "--ocr", "none", "--no-progress"])
    err = capsys.readouterr().err
    assert rc == 2 and "no readable images: all 3 were skipped" in err and "features" not in err, err
    assert len(err.strip().splitlines()) == 1
