"""Cascade Mask R-CNN on a frozen backbone: backbone -> simple pyramid -> RPN -> cascade RoI heads.

The backbone is reached only through `forward_features(pixels).patch` (B, D, h, w); it stays in eval
mode with `requires_grad=False` and runs under `torch.no_grad()`. Checkpoints hold the trainable
head only (`head_state_dict`).
"""

from __future__ import annotations

import torch
from torch import nn
from torchvision.models.detection.image_list import ImageList
from torchvision.models.detection.rpn import RegionProposalNetwork, RPNHead

from rice.backbones.base import Backbone

from .anchors import LevelAnchorGenerator
from .cascade import CascadeRoIHeads
from .config import ModelConfig
from .pyramid import SimplePyramid

BACKBONE_PREFIX = "backbone."


class CascadeMaskRCNN(nn.Module):
    def __init__(self, backbone: Backbone, num_classes: int, cfg: ModelConfig,
                 class_image_counts: list[int] | None = None):
        """`class_image_counts` (training images per class, label order) feeds the federated loss."""
        super().__init__()
        self.cfg = cfg
        self.num_classes = num_classes
        self.backbone = backbone
        backbone.requires_grad_(False)
        backbone.eval()
        info = backbone.info
        self.pyramid = SimplePyramid(info.embed_dim, info.patch_size, cfg.pyramid)
        self.strides = self.pyramid.strides
        c = cfg.pyramid.out_channels
        r = cfg.rpn
        anchors = LevelAnchorGenerator([r.anchor_scale * s for s in self.strides], r.aspect_ratios, self.strides)
        self.rpn = RegionProposalNetwork(
            anchors, RPNHead(c, anchors.num_anchors_per_location()[0], conv_depth=r.conv_depth),
            fg_iou_thresh=r.fg_iou_thresh, bg_iou_thresh=r.bg_iou_thresh,
            batch_size_per_image=r.batch_size_per_image, positive_fraction=r.positive_fraction,
            pre_nms_top_n={"training": r.pre_nms_top_n_train, "testing": r.pre_nms_top_n_test},
            post_nms_top_n={"training": r.post_nms_top_n_train, "testing": r.post_nms_top_n_test},
            nms_thresh=r.nms_thresh,
        )
        counts = None if class_image_counts is None else torch.as_tensor(class_image_counts)
        self.roi_heads = CascadeRoIHeads(c, num_classes, self.strides, cfg.cascade, counts)

    def train(self, mode: bool = True) -> "CascadeMaskRCNN":
        super().train(mode)
        self.backbone.eval()  # frozen: dropout / norm statistics never switch to training behaviour
        return self

    def features(self, images: torch.Tensor) -> list[torch.Tensor]:
        """(B, 3, H, W) normalised pixels -> five pyramid levels, finest first."""
        with torch.no_grad():
            patch = self.backbone.forward_features(images).patch  # (B, D, H/p, W/p)
        return list(self.pyramid(patch.float()).values())

    def forward(self, images: torch.Tensor, image_sizes: list[tuple[int, int]], targets: list[dict] | None = None):
        """Training: a dict of losses. Eval: per image {boxes, scores, labels, masks (n, 1, M, M)} in the
        coordinates of the (unpadded) input image."""
        feats = self.features(images)
        image_list = ImageList(images, [tuple(int(v) for v in s) for s in image_sizes])
        named = {str(i): f for i, f in enumerate(feats)}
        proposals, rpn_losses = self.rpn(image_list, named, targets if self.training else None)
        out = self.roi_heads(feats, proposals, image_list.image_sizes, targets)
        if self.training:
            return {**rpn_losses, **out}
        return out

    def head_state_dict(self) -> dict[str, torch.Tensor]:
        return {k: v for k, v in self.state_dict().items() if not k.startswith(BACKBONE_PREFIX)}

    def load_head_state_dict(self, state: dict[str, torch.Tensor]) -> None:
        missing, unexpected = self.load_state_dict(state, strict=False)
        missing = [k for k in missing if not k.startswith(BACKBONE_PREFIX)]
        if missing or unexpected:
            raise ValueError(f"checkpoint does not fit the detector: missing {missing[:5]}, "
                             f"unexpected {unexpected[:5]}")

    def trainable_parameters(self) -> list[nn.Parameter]:
        return [p for n, p in self.named_parameters() if p.requires_grad and not n.startswith(BACKBONE_PREFIX)]
