import pytest
import torch

from probes.detection import PyramidConfig, SimplePyramid, level_strides

pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.mark.parametrize("patch, strides", [(14, [3.5, 7, 14, 28, 56]), (16, [4, 8, 16, 32, 64])])
@pytest.mark.parametrize("kind", ["maxpool", "deconv"])
def test_levels_have_documented_strides(patch, strides, kind):
    assert level_strides(patch) == strides
    pyramid = SimplePyramid(32, patch, PyramidConfig(kind=kind, out_channels=8))
    assert pyramid.strides == strides
    image_h, image_w = 8 * patch, 12 * patch  # token grid 8 x 12
    levels = list(pyramid(torch.randn(2, 32, 8, 12)).values())
    assert len(levels) == 5
    for level, stride in zip(levels, strides):
        assert level.shape[:2] == (2, 8)
        assert (image_h / level.shape[-2], image_w / level.shape[-1]) == (stride, stride)


def test_maxpool_pyramid_is_parameter_free_before_the_convs():
    pyramid = SimplePyramid(16, 16, PyramidConfig(kind="maxpool", out_channels=4, norm=""))
    assert not any("resample" in name for name, _ in pyramid.named_parameters())
    assert all(name.startswith(("lateral", "output")) for name, _ in pyramid.named_parameters())


def test_grid_not_divisible_by_four_is_refused():
    pyramid = SimplePyramid(16, 14, PyramidConfig(out_channels=4))
    with pytest.raises(ValueError, match="divisible by 4"):
        pyramid(torch.randn(1, 16, 6, 8))


@pytest.mark.parametrize("name", ["rice-vit-tiny", "siglip-vit-tiny"])
def test_detector_features_from_a_frozen_registry_backbone(name):
    from probes.detection import CascadeMaskRCNN, ModelConfig
    from rice.backbones import create_backbone

    backbone = create_backbone(name)
    p = backbone.info.patch_size
    model = CascadeMaskRCNN(backbone, 3, ModelConfig(pyramid=PyramidConfig(out_channels=8)))
    model.train()
    assert not backbone.training and not any(q.requires_grad for q in backbone.parameters())
    assert not any(n.startswith("backbone.") for n in model.head_state_dict())
    feats = model.features(torch.randn(1, 3, 8 * p, 4 * p))
    assert [8 * p / f.shape[-2] for f in feats] == level_strides(p)
    assert feats[0].requires_grad  # the pyramid trains; the backbone does not
