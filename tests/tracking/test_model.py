"""Network shapes, crops, losses by hand, and the cached template giving the same boxes as recomputing it."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image

from rice.backbones import create_backbone
from tracking.config import LossConfig, ModelConfig
from tracking.crops import box_from_crop, box_to_crop, crop, crop_pil, image_tensor, round_to_patch, window
from tracking.datasets import Sequence
from tracking.losses import focal_loss, gaussian_heatmap, gaussian_radius, tracking_loss
from tracking.model import TrackerNet, decode_boxes, hann2d
from tracking.tracker import CropSizes, Tracker, track_sequence


@pytest.fixture(scope="module")
def net():
    torch.manual_seed(0)
    return TrackerNet(create_backbone("rice-vit-tiny"), ModelConfig(head_channels=32))


def test_sizes_round_to_patch_multiples():
    assert (round_to_patch(128, 14), round_to_patch(256, 14), round_to_patch(256, 16)) == (126, 252, 256)


def test_only_search_tokens_reach_the_head_and_the_backbone_is_frozen(net):
    out = net(torch.randn(2, 3, 70, 70), torch.randn(2, 3, 126, 126))
    assert out["score"].shape == (2, 1, 9, 9) and out["size"].shape == (2, 2, 9, 9) and out["boxes"].shape == (2, 4)
    assert all(not p.requires_grad for p in net.backbone.parameters())
    assert not any(k.startswith("backbone.") for k in net.head_state_dict())
    net.train()
    assert not net.backbone.training and net.head.training
    net.eval()


def test_crop_maps_boxes_in_and_out():
    box = np.array([50.0, 40.0, 20.0, 10.0])
    win = window(box, 4.0, 128)
    assert win.side == int(np.ceil(np.sqrt(200) * 4))
    norm = box_to_crop(box, win)
    cxcywh = np.array([norm[0] + norm[2] / 2, norm[1] + norm[3] / 2, norm[2], norm[3]])
    np.testing.assert_allclose(box_from_crop(cxcywh, win), box, atol=1e-9)
    image = image_tensor(Image.new("RGB", (64, 48), (255, 255, 255)))
    patch = crop(image, window(np.array([0.0, 0.0, 10.0, 10.0]), 4.0, 40))  # x0 = y0 = -15, side 40
    assert patch.shape == (3, 40, 40)
    assert patch[:, :15].abs().max() == 0 and patch[:, :, :15].abs().max() == 0  # zero padding outside
    assert (patch[:, 15:, 15:] == 255).all()
    rng = np.random.default_rng(0)
    pixels = torch.from_numpy(rng.integers(0, 256, (3, 48, 64), dtype=np.uint8))
    win = window(np.array([20.0, 11.0, 5.0, 5.0]), 4.0, 20)
    assert (win.x0, win.y0, win.side) == (12, 4, 20)  # side 20 -> 20: the pixels as they are
    torch.testing.assert_close(crop(pixels, win), pixels[:, 4:24, 12:32].float())


def test_device_crop_matches_the_training_loaders_pil_crop():
    """The tracker (torch, on the device) and the training loader (PIL) cut the same pixels: enlarged, padded
    with zeros past the image border, and shrunk (antialiased) windows."""
    rng = np.random.default_rng(1)
    image = Image.fromarray(rng.integers(0, 256, (12, 16, 3), dtype=np.uint8)).resize((64, 48), Image.BILINEAR)
    for box, factor, out in (([20, 11, 8, 6], 3.0, 42), ([2, 3, 10, 8], 4.0, 84), ([20, 11, 12, 12], 4.0, 21)):
        win = window(np.array(box, float), factor, out)
        ours = crop(image_tensor(image), win)
        pil = torch.from_numpy(np.array(crop_pil(image, win))).permute(2, 0, 1).float()
        assert (ours - pil).abs().max() <= 1.0, win  # PIL rounds to uint8


def test_heatmap_focal_and_decode_by_hand():
    # CenterNet's radius for a 4 x 4 box at min overlap 0.7: min of its three roots
    assert gaussian_radius(4, 4, 0.7) == pytest.approx(min((8 + np.sqrt(64 - 4 * 16 * 0.3 / 1.7)) / 2,
                                                           (16 + np.sqrt(256 - 16 * 0.3 * 16)) / 2,
                                                           (-2 * 0.7 * 8 + np.sqrt((2 * 0.7 * 8) ** 2 + 4 * 2.8 * 0.3 * 16)) / 2))
    heat = gaussian_heatmap(torch.tensor([[0.25, 0.25, 0.5, 0.5]]), 16)  # centre (8, 8) on the 16 grid
    assert heat[0, 8, 8] == 1 and heat.max() == 1 and (heat[0] == 1).sum() == 1
    assert heat[0, 8, 9] < 1 and heat[0, 0, 0] == 0
    perfect = heat.clamp(1e-4, 1 - 1e-4)
    assert focal_loss(perfect, heat) < focal_loss(torch.full_like(heat, 0.5), heat)
    score = torch.zeros(1, 1, 4, 4)
    score[0, 0, 1, 2] = 1
    size = torch.full((1, 2, 4, 4), 0.5)
    offset = torch.full((1, 2, 4, 4), 0.25)
    np.testing.assert_allclose(decode_boxes(score, size, offset)[0].numpy(), [2.25 / 4, 1.25 / 4, 0.5, 0.5])
    assert hann2d(5, 5)[2, 2] == 1 and hann2d(5, 5)[0, 0] < hann2d(5, 5)[1, 1]


def test_loss_terms_and_gradients_reach_only_the_trainable_part(net):
    net.train()
    out = net(torch.randn(2, 3, 70, 70), torch.randn(2, 3, 126, 126))
    terms = tracking_loss(out, torch.tensor([[0.4, 0.4, 0.2, 0.2], [0.3, 0.35, 0.3, 0.25]]), LossConfig())
    expected = 2 * terms["giou"] + 5 * terms["l1"] + terms["focal"]
    assert terms["loss"].item() == pytest.approx(expected.item(), rel=1e-6)
    terms["loss"].backward()
    assert net.type_embed.grad is not None and net.head.size[0][0].weight.grad is not None
    assert all(p.grad is None for p in net.backbone.parameters())
    net.zero_grad(set_to_none=True)
    net.eval()


def test_cached_template_gives_the_same_boxes_as_recomputing_it(net, tmp_path):
    rng = np.random.default_rng(0)
    frames, boxes = [], []
    for t in range(5):
        img = np.full((96, 128, 3), 40, np.uint8)
        x, y = 30 + 6 * t, 30 + 3 * t
        img[y:y + 20, x:x + 24] = (220, 60, 30)
        img += rng.integers(0, 10, img.shape, dtype=np.uint8)
        path = tmp_path / f"{t + 1:08d}.jpg"
        Image.fromarray(img).save(path)
        frames.append(path)
        boxes.append([x, y, 24, 20])
    seq = Sequence("toy", frames, np.array(boxes, float), "toy")
    sizes = CropSizes(70, 2.0, 126, 4.0)
    cached, _ = track_sequence(Tracker(net, sizes, torch.device("cpu")), seq)
    again, _ = track_sequence(Tracker(net, sizes, torch.device("cpu"), recompute_template=True), seq)
    np.testing.assert_array_equal(cached, again)
    assert (cached[1:] != cached[0]).any()  # the tracker did move the box


def test_evaluate_writes_each_benchmark_format_and_scores_what_it_wrote(net, tmp_path):
    import zipfile

    from tracking.evaluate import evaluate
    from tracking.results import read_txt

    frames = []
    for t in range(4):
        img = np.full((48, 64, 3), 30, np.uint8)
        img[10 + t:30 + t, 20 + 2 * t:40 + 2 * t] = (200, 200, 40)
        frames.append(tmp_path / f"{t}.jpg")
        Image.fromarray(img).save(frames[-1])
    boxes = np.array([[20 + 2 * t, 10 + t, 20, 20] for t in range(4)], float)
    sizes = CropSizes(70, 2.0, 126, 4.0)
    device = torch.device("cpu")
    lasot = [Sequence("cat-1", frames, boxes, "lasot", visible=np.array([True, True, False, True]))]
    out = evaluate(net, sizes, lasot, "lasot", tmp_path / "run", device, progress=False)
    written = read_txt(tmp_path / "run" / out["files"]["results"] / "cat-1.txt")
    assert written.shape == (4, 4) and set(out["metrics"]) == {"success", "precision", "norm_precision"}
    from tracking.metrics import pytracking_errors, pytracking_metrics

    # the reported numbers are the ones pytracking's rule gives on the file as written (LaSOT visibility)
    rescored = pytracking_metrics([pytracking_errors(written, boxes, lasot[0].visible, lasot=True)])
    assert out["metrics"] == pytest.approx(rescored, abs=1e-9)
    assert out["baseline_metrics"]["precision"] <= 75.0  # the hidden frame is a failure even for the floor
    test_split = [Sequence("vid_b", frames, boxes[:1], "trackingnet")]
    out = evaluate(net, sizes, test_split, "trackingnet", tmp_path / "tn", device, progress=False)
    assert out["metrics"] == {}  # no public ground truth: the server scores it
    with zipfile.ZipFile(tmp_path / "tn" / out["files"]["submission"]) as zf:
        assert zf.namelist() == ["vid_b.txt"] and len(zf.read("vid_b.txt").decode().splitlines()) == 4
