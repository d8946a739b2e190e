"""`rice-probe figures` for two tiny random-init backbones side by side, on the toy world's COCO set and one
of its GOT-10k sequences."""

from __future__ import annotations

import json

import numpy as np
import pytest
from PIL import Image

from probes.cli import main
from probes.figures import make_figures
from probes.figures.features import pairwise_distances, patch_maps, read_coco, region_features, load_backbone
from probes.figures.plots import tsne_embed

BACKBONES = ["rice-vit-tiny", "clip-vit-tiny"]  # patch 14 and 14: 112 px -> 8 x 8 tokens


pytestmark = pytest.mark.usefixtures("one_thread")  # tests/conftest.py


@pytest.fixture(scope="module")
def figures(toy_dir, tmp_path_factory):
    out = tmp_path_factory.mktemp("figures") / "new"  # a folder that does not exist yet
    ann = toy_dir / "coco" / "annotations" / "instances_train.json"
    code = main(["figures", "--backbones", *BACKBONES, "--coco", f"{ann}:{toy_dir / 'coco' / 'train'}",
                 "--out", str(out), "--size", "112", "--max-images", "4", "--seed", "0"])
    assert code == 0
    return out, ann


def test_three_figures_side_by_side(figures):
    out, ann = figures
    for name in ("fig5_pca", "fig1_tsne", "fig4_distances"):
        with Image.open(out / f"{name}.png") as img:
            assert img.format == "PNG" and min(img.size) > 100
    rgb = np.load(out / "fig5_pca.npz")
    assert sorted(rgb.files) == [f"rgb_{b}" for b in sorted(BACKBONES)]
    assert all(rgb[k].shape == (4, 8, 8, 3) and rgb[k].min() >= 0 and rgb[k].max() <= 1 for k in rgb.files)
    coco = json.loads(ann.read_text())
    first4 = sorted({a["image_id"] for a in coco["annotations"]})[:4]
    regions = sum(a["image_id"] in first4 for a in coco["annotations"])
    tsne = np.load(out / "fig1_tsne.npz")
    assert all(tsne[f"xy_{b}"].shape == (regions, 2) for b in BACKBONES)
    dist = np.load(out / "fig4_distances.npz")
    assert dist["edges"].shape == (51,) and all(dist[f"density_{b}"].shape == (50,) for b in BACKBONES)
    with Image.open(out / "fig1_tsne.png") as img:  # panels side by side
        assert img.size[0] > 1.5 * img.size[1]


def test_tsne_is_deterministic_for_a_seed(toy_dir):
    paths, per_image, _ = read_coco(toy_dir / "coco" / "annotations" / "instances_train.json",
                                    toy_dir / "coco" / "train", 4)
    backbone = load_backbone("rice-vit-tiny")
    maps = patch_maps(backbone, [Image.open(p).convert("RGB") for p in paths], 112)
    feats, labels = region_features(maps, per_image)
    assert feats.shape == (len(labels), backbone.info.embed_dim)
    a, b = tsne_embed(feats, 0), tsne_embed(feats, 0)
    assert np.array_equal(a, b) and a.shape == (len(labels), 2)
    # the region feature is the mean of the patches inside the box (hand-checked for the first box)
    entry = per_image[0]
    x, y, w, h = entry["annotations"][0]["bbox"]
    W, H = entry["image"]["width"], entry["image"]["height"]
    centers_x, centers_y = (np.arange(8) + 0.5) * W / 8, (np.arange(8) + 0.5) * H / 8
    cols = [j for j in range(8) if x <= centers_x[j] <= x + w] or [min(7, int((x + w / 2) * 8 / W))]
    rows = [i for i in range(8) if y <= centers_y[i] <= y + h] or [min(7, int((y + h / 2) * 8 / H))]
    expected = maps[0][:, rows][:, :, cols].reshape(maps.shape[1], -1).mean(axis=1)
    np.testing.assert_allclose(feats[0], expected, rtol=1e-6)


def test_pairwise_distances_by_hand():
    maps = np.zeros((1, 2, 1, 3), dtype=np.float32)  # one image, 3 tokens in 2-D: (1,0), (0,1), (-1,0)
    maps[0, :, 0, 0], maps[0, :, 0, 1], maps[0, :, 0, 2] = (1, 0), (0, 1), (-1, 0)
    np.testing.assert_allclose(np.sort(pairwise_distances(maps)), [1.0, 1.0, 2.0], atol=1e-6)


def test_pca_over_the_frames_of_a_got10k_sequence(toy_dir, tmp_path):
    sequence = sorted((toy_dir / "got10k" / "val").glob("GOT-10k_Val_*"))[0]
    frames = sorted(sequence.glob("*.jpg"))
    written = make_figures(BACKBONES, tmp_path, sequence=str(sequence), which=["pca"], size=112, max_images=8)
    rgb = np.load(tmp_path / "fig5_pca.npz")
    assert rgb["rgb_rice-vit-tiny"].shape == (len(frames), 8, 8, 3)
    # one PCA across the frames: each component spans [0, 1] over all frames together, not per frame
    for k in rgb.files:
        assert np.allclose(rgb[k].reshape(-1, 3).min(axis=0), 0) and np.allclose(rgb[k].reshape(-1, 3).max(axis=0), 1)
    with Image.open(written["pca"]) as img:  # a row per backbone (plus the frames), a column per frame
        assert img.size[0] > img.size[1]


def test_bad_input_is_one_clear_error(tmp_path, capsys):
    assert main(["figures", "--backbones", "rice-vit-tiny", "--out", str(tmp_path), "--figures", "umap"]) == 2
    assert "--figures 'umap'" in capsys.readouterr().err
    assert main(["figures", "--backbones", "rice-vit-tiny", "--out", str(tmp_path), "--figures", "tsne"]) == 2
    assert "--coco" in capsys.readouterr().err


def test_pca_rgb_equals_scikit_learn_pca():
    """Figure 5's colours are scikit-learn's PCA(3) of all tokens together, each component min-max scaled
    (a component's sign is arbitrary in both: compare up to it)."""
    from sklearn.decomposition import PCA

    from probes.figures.plots import pca_rgb

    rng = np.random.default_rng(0)
    maps = rng.normal(size=(2, 6, 3, 4)) * np.array([5.0, 3.0, 2.0, 0.5, 0.2, 0.1])[None, :, None, None]
    maps += 20 * rng.normal(size=6)[None, :, None, None]  # far from the origin: an uncentred PCA would differ
    rgb = pca_rgb(maps).reshape(-1, 3)  # (N*h*w, 3)
    tokens = maps.transpose(0, 2, 3, 1).reshape(-1, 6)  # (N*h*w, D)
    ref = PCA(n_components=3).fit_transform(tokens)
    for c in range(3):
        scaled = [(v - v.min()) / (v.max() - v.min()) for v in (ref[:, c], -ref[:, c])]
        assert min(np.abs(rgb[:, c] - s).max() for s in scaled) < 1e-5, c
