"""Exact (fractional) strides for RoIAlign and anchors: torchvision assumes powers of two."""

from collections import OrderedDict

import pytest
import torch
from torchvision.models.detection.anchor_utils import AnchorGenerator
from torchvision.models.detection.image_list import ImageList
from torchvision.ops import MultiScaleRoIAlign

from probes.detection import LevelAnchorGenerator, LevelRoIAlign, level_strides

pytestmark = pytest.mark.usefixtures("one_thread")


def _x_ramp(strides, size, channels=2):
    """Feature maps whose value at each cell is the image x coordinate of the cell centre."""
    maps = []
    for s in strides:
        n = int(size / s)
        xs = (torch.arange(n, dtype=torch.float32) + 0.5) * s
        maps.append(xs.view(1, 1, 1, n).expand(1, channels, n, n).contiguous())
    return maps


def test_patch16_matches_torchvision_multiscale_roialign():
    strides = level_strides(16)[:4]  # 4, 8, 16, 32
    feats = [torch.randn(1, 3, int(256 / s), int(256 / s)) for s in strides]
    boxes = [torch.tensor([[10.0, 12.0, 40.0, 50.0], [5.0, 5.0, 150.0, 120.0], [20.0, 30.0, 250.0, 240.0],
                           [60.0, 60.0, 90.0, 200.0]])]
    ours = LevelRoIAlign(strides, 7, sampling_ratio=2, canonical_box_size=224, canonical_level=2, aligned=False)
    theirs = MultiScaleRoIAlign(["0", "1", "2", "3"], 7, sampling_ratio=2)
    expected = theirs(OrderedDict((str(i), f) for i, f in enumerate(feats)), boxes, [(256, 256)])
    torch.testing.assert_close(ours(feats, boxes), expected)


def test_patch14_pools_at_the_right_place():
    strides = level_strides(14)[:4]  # 3.5, 7, 14, 28 -- torchvision would round 1/3.5 to 1/4
    feats = _x_ramp(strides, 224)
    boxes = [torch.tensor([[20.0, 20.0, 60.0, 70.0], [100.0, 40.0, 200.0, 180.0], [30.0, 10.0, 90.0, 50.0]])]
    pooler = LevelRoIAlign(strides, 7, sampling_ratio=2)
    assert pooler.assign_levels(torch.cat([torch.zeros(3, 1), boxes[0]], 1)).tolist() == [0, 1, 0]
    pooled = pooler(feats, boxes)  # (3, 2, 7, 7)
    centres = (boxes[0][:, 0] + boxes[0][:, 2]) / 2
    torch.testing.assert_close(pooled.mean(dim=(1, 2, 3)), centres, atol=1e-3, rtol=0)
    # torchvision's pooler, given the same maps, infers power-of-two scales and samples elsewhere
    tv = MultiScaleRoIAlign(["0", "1", "2", "3"], 7, sampling_ratio=2)
    tv_pooled = tv(OrderedDict((str(i), f) for i, f in enumerate(feats)), boxes, [(224, 224)])
    assert tv.scales[0] == 0.25 != 1 / 3.5
    assert (tv_pooled.mean(dim=(1, 2, 3)) - centres).abs().max() > 1.0


def test_anchor_centres_use_fractional_strides():
    strides = level_strides(14)
    gen = LevelAnchorGenerator([8 * s for s in strides], (1.0,), strides)
    images = ImageList(torch.zeros(1, 3, 112, 112), [(112, 112)])
    feats = [torch.zeros(1, 4, int(112 / s), int(112 / s)) for s in strides]
    anchors = gen(images, feats)[0]
    counts = [f.shape[-1] * f.shape[-2] for f in feats]
    level0 = anchors[: counts[0]]
    centres = (level0[:, 0] + level0[:, 2]) / 2
    assert torch.allclose(centres[:3], torch.tensor([0.0, 3.5, 7.0]))
    assert centres.max().item() == 3.5 * 31
    sizes = [(a[:, 2] - a[:, 0])[0].item() for a in anchors.split(counts)]
    assert sizes == [28.0, 56.0, 112.0, 224.0, 448.0]
    # torchvision's generator steps by image_size // grid_size: 3 instead of 3.5
    tv = AnchorGenerator(tuple((s,) for s in [28, 56, 112, 224, 448]), ((1.0,),) * 5)
    tv_level0 = tv(images, feats)[0][: counts[0]]
    assert ((tv_level0[:, 0] + tv_level0[:, 2]) / 2)[1].item() == 3.0
