"""Cascade RoI heads (Cai & Vasconcelos, Cascade R-CNN) as Detectron2's `CascadeROIHeads` runs them, on
torchvision's detection parts.

Stage t has its own box head, IoU threshold and BoxCoder weights (0.5 / 0.6 / 0.7 and
(10,10,5,5) / (20,20,10,10) / (30,30,15,15) by default) and regresses class-agnostic deltas.

Training: stage 0 takes the RPN proposals with the GT boxes appended, labels them at its threshold and
samples `batch_size_per_image` RoIs (`positive_fraction` positive). Stage t > 0 takes *every* box stage
t - 1 refined from its own input (decoded with stage t - 1's coder, clipped, detached, empty boxes
dropped) and labels it at its own threshold: no GT appended, no re-sampling. The mask head trains on
stage 0's sampled positives (IoU >= 0.5) and their matched GT masks.

Test: each stage classifies and refines the boxes it is given (stage 0 the proposals, stage t the boxes
of stage t - 1); the class scores are the mean over stages of each stage's scores on its own input
boxes, the boxes are the last stage's output; then score threshold, per-class NMS, top k, and the mask
head on the detections.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn
from torchvision.models.detection import _utils as det_utils
from torchvision.ops import batched_nms, box_iou, clip_boxes_to_image, roi_align

from .config import CascadeConfig
from .heads import BoxHead, CascadeStage, MaskHead
from .losses import box_l1, sigmoid_cross_entropy, softmax_cross_entropy
from .pooler import LevelRoIAlign

CANONICAL_LEVEL = 2  # the stride-p level of the five-level pyramid


class _ScaleGradient(torch.autograd.Function):
    """Identity forward; scales the gradient so the shared features see the stages' mean, not their sum."""

    @staticmethod
    def forward(ctx, x, scale):
        ctx.scale = scale
        return x.view_as(x)

    @staticmethod
    def backward(ctx, grad):
        return grad * ctx.scale, None


@dataclass
class StageBatch:
    """One stage's training RoIs (per image) and its predictions on them (all images concatenated)."""

    boxes: list[torch.Tensor]  # (R_i, 4) the stage's input boxes
    labels: list[torch.Tensor]  # (R_i,) 0 = background, else the matched GT's class 1..K
    gt_boxes: list[torch.Tensor]  # (R_i, 4) the matched GT box (meaningless where the label is 0)
    matched: list[torch.Tensor]  # (R_i,) index of the matched GT box in its image (0 where background)
    logits: torch.Tensor  # (R, K + 1)
    deltas: torch.Tensor  # (R, 4) class-agnostic, in the stage's BoxCoder units


class CascadeRoIHeads(nn.Module):
    def __init__(self, in_channels: int, num_classes: int, strides: list[float], cfg: CascadeConfig,
                 class_image_counts: torch.Tensor | None = None):
        super().__init__()
        self.cfg = cfg
        self.num_classes = num_classes
        self.num_stages = len(cfg.iou_thresholds)
        levels = list(strides[: cfg.roi_levels])
        self.box_pooler = LevelRoIAlign(levels, cfg.box_pool_size, cfg.sampling_ratio, cfg.canonical_box_size,
                                        CANONICAL_LEVEL)
        self.stages = nn.ModuleList([
            CascadeStage(BoxHead(in_channels, cfg.box_pool_size, cfg.box_conv_dims, cfg.box_fc_dims, cfg.norm),
                         num_classes)
            for _ in range(self.num_stages)
        ])
        # low == high: every box is either foreground (IoU >= t) or background; none is ignored
        self.matchers = [det_utils.Matcher(t, t, allow_low_quality_matches=False) for t in cfg.iou_thresholds]
        self.box_coders = [det_utils.BoxCoder(tuple(float(v) for v in w)) for w in cfg.bbox_reg_weights]
        self.sampler = det_utils.BalancedPositiveNegativeSampler(cfg.batch_size_per_image, cfg.positive_fraction)
        weights = None
        if cfg.fed_loss:
            if class_image_counts is None or len(class_image_counts) != num_classes:
                raise ValueError(f"model.cascade.fed_loss needs one image count per class ({num_classes})")
            weights = torch.as_tensor(class_image_counts, dtype=torch.float32) ** cfg.fed_loss_freq_weight_power
        self.register_buffer("fed_loss_weights", weights, persistent=False)  # from the data, not trained
        self.mask_pooler = self.mask_head = None
        if cfg.mask:
            self.mask_pooler = LevelRoIAlign(levels, cfg.mask_pool_size, cfg.sampling_ratio, cfg.canonical_box_size,
                                             CANONICAL_LEVEL)
            self.mask_head = MaskHead(in_channels, cfg.mask_conv_dims, num_classes, cfg.norm)

    # -- targets -----------------------------------------------------------------------------------
    def label_boxes(self, stage: int, boxes: list[torch.Tensor], targets: list[dict]):
        """Match every box to the GT at stage `stage`'s IoU threshold. Per image: labels (0 = background),
        matched GT boxes and matched GT indices."""
        labels_out, gt_out, idx_out = [], [], []
        for b, tgt in zip(boxes, targets):
            gt_boxes, gt_labels = tgt["boxes"].to(b), tgt["labels"]
            if gt_boxes.shape[0] == 0:
                labels_out.append(torch.zeros(b.shape[0], dtype=torch.int64, device=b.device))
                gt_out.append(torch.zeros_like(b))
                idx_out.append(torch.zeros(b.shape[0], dtype=torch.int64, device=b.device))
                continue
            matched = self.matchers[stage](box_iou(gt_boxes, b))  # (R,), -1 below the threshold
            safe = matched.clamp(min=0)
            labels_out.append(torch.where(matched >= 0, gt_labels[safe], torch.zeros_like(safe)))
            gt_out.append(gt_boxes[safe])
            idx_out.append(safe)
        return labels_out, gt_out, idx_out

    def sample_proposals(self, proposals: list[torch.Tensor], targets: list[dict]):
        """Stage 0's RoIs: the proposals with the GT boxes appended, labelled at stage 0's threshold, then
        sampled. Returns per image: boxes, labels, matched GT boxes, matched GT indices."""
        boxes = [torch.cat([p, t["boxes"].to(p)]) for p, t in zip(proposals, targets)]
        labels, gt_boxes, matched = self.label_boxes(0, boxes, targets)
        pos, neg = self.sampler(labels)
        keep = [torch.nonzero(p | n).squeeze(1) for p, n in zip(pos, neg)]
        return tuple([x[k] for x, k in zip(xs, keep)] for xs in (boxes, labels, gt_boxes, matched))

    # -- shared ------------------------------------------------------------------------------------
    def _run_stage(self, stage: int, features: list[torch.Tensor], boxes: list[torch.Tensor]):
        pooled = self.box_pooler(features, boxes)  # (N, C, S, S)
        pooled = _ScaleGradient.apply(pooled, 1.0 / self.num_stages)
        return self.stages[stage](pooled)  # (N, K + 1), (N, 4)

    def refine(self, stage: int, deltas: torch.Tensor, boxes: list[torch.Tensor], image_sizes) -> list[torch.Tensor]:
        """Stage `stage`'s deltas (N, 4) applied to its input boxes with its own coder, clipped to each image."""
        out = []
        for d, b, size in zip(deltas.split([len(b) for b in boxes]), boxes, image_sizes):
            out.append(clip_boxes_to_image(self.box_coders[stage].decode_single(d, b), size))
        return out

    def class_probs(self, logits: torch.Tensor) -> torch.Tensor:
        """(N, K + 1) logits -> scores: softmax, or per-class sigmoid (column 0 then unused)."""
        return logits.sigmoid() if self.cfg.cls_loss == "sigmoid" else F.softmax(logits, dim=-1)

    def forward(self, features: list[torch.Tensor], proposals: list[torch.Tensor], image_sizes: list[tuple[int, int]],
                targets: list[dict] | None = None):
        if self.training:
            if targets is None:
                raise ValueError("training needs targets")
            return self._losses(features, proposals, image_sizes, targets)
        return self._detect(features, proposals, image_sizes)

    # -- training ----------------------------------------------------------------------------------
    def training_stages(self, features, proposals, image_sizes, targets) -> list[StageBatch]:
        """Every stage's RoIs, labels and predictions for one training step (see the module docstring)."""
        out: list[StageBatch] = []
        for t in range(self.num_stages):
            if t == 0:
                boxes, labels, gt_boxes, matched = self.sample_proposals([p.detach() for p in proposals], targets)
            else:
                prev = out[-1]
                boxes = self.refine(t - 1, prev.deltas.detach(), [b.detach() for b in prev.boxes], image_sizes)
                boxes = [b[(b[:, 2] > b[:, 0]) & (b[:, 3] > b[:, 1])] for b in boxes]  # Detectron2's nonempty()
                labels, gt_boxes, matched = self.label_boxes(t, boxes, targets)
            logits, deltas = self._run_stage(t, features, boxes)
            out.append(StageBatch(boxes, labels, gt_boxes, matched, logits, deltas))
        return out

    def _cls_loss(self, logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        if self.cfg.cls_loss == "sigmoid":
            return sigmoid_cross_entropy(logits, labels, self.fed_loss_weights, self.cfg.fed_loss_num_classes)
        return softmax_cross_entropy(logits, labels)

    def _losses(self, features, proposals, image_sizes, targets) -> dict[str, torch.Tensor]:
        losses: dict[str, torch.Tensor] = {}
        stages = self.training_stages(features, proposals, image_sizes, targets)
        for t, s in enumerate(stages):
            labels = torch.cat(s.labels)
            pos = labels > 0
            reg_target = self.box_coders[t].encode_single(torch.cat(s.gt_boxes)[pos], torch.cat(s.boxes)[pos])
            w = self.cfg.stage_loss_weights[t]
            losses[f"loss_cls_stage{t}"] = w * self._cls_loss(s.logits, labels)
            losses[f"loss_box_stage{t}"] = w * box_l1(s.deltas, reg_target, pos)
        if self.mask_head is not None:
            first = stages[0]
            losses["loss_mask"] = self._mask_loss(features, first.boxes, first.labels, first.matched, targets)
        return losses

    def _mask_loss(self, features, boxes, labels, matched, targets) -> torch.Tensor:
        pos = [lab > 0 for lab in labels]
        pos_boxes = [b[p] for b, p in zip(boxes, pos)]
        if sum(len(b) for b in pos_boxes) == 0:
            return sum(p.sum() for p in self.mask_head.parameters()) * 0.0
        logits = self.mask_head(self.mask_pooler(features, pos_boxes))  # (P, K, M, M)
        size = logits.shape[-1]
        mask_targets = []
        for b, m, p, tgt in zip(pos_boxes, matched, pos, targets):
            if len(b) == 0:
                continue
            gt_masks = tgt["masks"][:, None].to(b)  # (G, 1, H, W)
            rois = torch.cat([m[p].to(b)[:, None], b], dim=1)  # roi batch index = matched GT index
            mask_targets.append(roi_align(gt_masks, rois, (size, size), 1.0, sampling_ratio=0, aligned=True)[:, 0])
        target = (torch.cat(mask_targets) >= 0.5).to(logits.dtype)
        label = torch.cat([lab[p] for lab, p in zip(labels, pos)]) - 1
        picked = logits[torch.arange(len(label), device=label.device), label]
        return F.binary_cross_entropy_with_logits(picked, target)

    # -- inference ---------------------------------------------------------------------------------
    @torch.no_grad()
    def _detect(self, features, proposals, image_sizes) -> list[dict]:
        boxes, probs = proposals, []
        for t in range(self.num_stages):
            logits, deltas = self._run_stage(t, features, boxes)
            probs.append(self.class_probs(logits))  # on this stage's own input boxes
            boxes = self.refine(t, deltas, boxes, image_sizes)  # no empty-box filter: rows stay aligned
        mean = sum(probs) / self.num_stages  # (N, K + 1)
        results = [self._postprocess(b, p) for b, p in zip(boxes, mean.split([len(b) for b in boxes]))]
        if self.mask_head is not None:
            det_boxes = [r["boxes"] for r in results]
            if sum(len(b) for b in det_boxes):
                logits = self.mask_head(self.mask_pooler(features, det_boxes))  # (D, K, M, M)
                label = torch.cat([r["labels"] for r in results]) - 1
                masks = logits[torch.arange(len(label), device=label.device), label].sigmoid()[:, None]
                for r, m in zip(results, masks.split([len(b) for b in det_boxes])):
                    r["masks"] = m  # (n, 1, M, M) probabilities in box coordinates
            else:
                for r in results:
                    r["masks"] = r["boxes"].new_zeros((0, 1, 1, 1))
        return results

    def _postprocess(self, boxes: torch.Tensor, probs: torch.Tensor) -> dict:
        """Detectron2's fast_rcnn_inference for class-agnostic boxes: threshold, per-class NMS, top k."""
        cfg = self.cfg
        scores = probs[:, 1:]  # (N, K), background dropped
        rows, cls = torch.nonzero(scores > cfg.score_thresh, as_tuple=True)
        b, s, lab = boxes[rows], scores[rows, cls], cls + 1
        keep = batched_nms(b, s, lab, cfg.nms_thresh)[: cfg.detections_per_image]
        return {"boxes": b[keep], "scores": s[keep], "labels": lab[keep]}
