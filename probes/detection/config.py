"""Typed configuration of the detection probe. Defaults are the paper's protocol (ViTDet-style
Cascade Mask R-CNN on a frozen ViT-B/16 at 512 px, large-scale jitter, the 100-epoch schedule);
`configs/detection/*.yaml` are presets over these defaults.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from probes.base import OutputConfig
from rice.config import field_error

PYRAMID_KINDS = ("maxpool", "deconv")
NORMS = ("LN", "")
CLS_LOSSES = ("softmax", "sigmoid")


@dataclass
class PyramidConfig:
    # "maxpool": the paper's parameter-free resampling (max-pool / nearest unpool to x0.25..x4 of the token grid);
    # "deconv": ViTDet's simple feature pyramid (deconvolutions x4, x2, identity, max-pool, plus a max-pooled top).
    kind: str = "maxpool"
    out_channels: int = 256
    norm: str = "LN"  # LayerNorm over channels after each conv ("" for none, with conv bias)


@dataclass
class RPNConfig:
    anchor_scale: float = 8.0  # one anchor size per level: anchor_scale * stride (32..512 for patch 16)
    aspect_ratios: tuple[float, ...] = (0.5, 1.0, 2.0)
    conv_depth: int = 2
    fg_iou_thresh: float = 0.7
    bg_iou_thresh: float = 0.3
    batch_size_per_image: int = 256
    positive_fraction: float = 0.5
    pre_nms_top_n_train: int = 2000  # per level, as torchvision and Detectron2 do
    post_nms_top_n_train: int = 1000
    pre_nms_top_n_test: int = 1000
    post_nms_top_n_test: int = 1000
    nms_thresh: float = 0.7


@dataclass
class CascadeConfig:
    iou_thresholds: tuple[float, ...] = (0.5, 0.6, 0.7)
    bbox_reg_weights: tuple[tuple[float, ...], ...] = ((10.0, 10.0, 5.0, 5.0), (20.0, 20.0, 10.0, 10.0),
                                                        (30.0, 30.0, 15.0, 15.0))
    stage_loss_weights: tuple[float, ...] = (1.0, 1.0, 1.0)
    batch_size_per_image: int = 512
    positive_fraction: float = 0.25
    roi_levels: int = 4  # RoIs pool from the finest levels (strides p/4..2p); the top level feeds the RPN only
    canonical_box_size: int = 224  # a box of this size pools from the stride-p level
    box_pool_size: int = 7
    mask_pool_size: int = 14
    sampling_ratio: int = 0
    box_conv_dims: tuple[int, ...] = (256, 256, 256, 256)
    box_fc_dims: tuple[int, ...] = (1024,)
    mask_conv_dims: tuple[int, ...] = (256, 256, 256, 256)
    norm: str = "LN"
    mask: bool = True
    # "softmax" cross-entropy (ViTDet's COCO recipe) or "sigmoid": one BCE per class (its LVIS recipe)
    cls_loss: str = "softmax"
    # the federated loss (sigmoid only): each batch penalises its own GT classes plus negatives sampled by
    # image count ** fed_loss_freq_weight_power, up to fed_loss_num_classes classes (Detectron2's defaults)
    fed_loss: bool = False
    fed_loss_num_classes: int = 50
    fed_loss_freq_weight_power: float = 0.5
    score_thresh: float = 0.05
    nms_thresh: float = 0.5
    detections_per_image: int = 100


@dataclass
class ModelConfig:
    pyramid: PyramidConfig = field(default_factory=PyramidConfig)
    rpn: RPNConfig = field(default_factory=RPNConfig)
    cascade: CascadeConfig = field(default_factory=CascadeConfig)


@dataclass
class InputConfig:
    image_size: int = 512  # large-scale-jitter output size (crop, then pad) for training
    min_scale: float = 0.1
    max_scale: float = 2.0
    hflip: bool = True
    test_short_edge: int = 512  # test: shortest edge resized to this, longest capped at test_max_size
    test_max_size: int = 512
    # Inputs are padded to a multiple of this many pixels; 0 means 4 * patch size, so every pyramid level
    # (down to x0.25 of the token grid) has an exact stride.
    size_divisibility: int = 0


@dataclass
class TrainConfig:
    batch_size: int = 64
    lr: float = 1.0e-4
    weight_decay: float = 0.1
    betas: tuple[float, float] = (0.9, 0.999)
    max_iters: int = 184375  # ViTDet's 100-epoch COCO schedule at batch 64
    warmup_iters: int = 250
    warmup_factor: float = 0.001
    lr_steps: tuple[int, ...] = (163889, 177546)
    gamma: float = 0.1
    grad_clip: float = 0.0  # max grad norm, 0 for none
    checkpoint_every: int = 5000
    log_every: int = 20
    num_workers: int = 4
    device: str = "auto"  # auto | cpu | cuda | cuda:N
    threads: int = 0  # torch intra-op threads while the probe runs; 0 leaves torch's default


@dataclass
class EvalConfig:
    batch_size: int = 1
    max_images: int = 0  # 0: the whole split
    max_dets_lvis: int = 300  # LVIS' official limit per image


@dataclass
class DataConfig:
    # coco:DIR | lvis:DIR | toy:DIR | cocofmt:TRAIN.json:IMAGES[:VAL.json:VAL_IMAGES]
    spec: str = ""
    # what to do with annotations whose box has no area: "error" (name the annotation) or "skip";
    # boxes entirely outside their image are always skipped, and counted in the run record
    degenerate_boxes: str = "error"
    # repeat-factor sampling (Detectron2's RepeatFactorTrainingSampler, LVIS): an image is seen
    # max(1, sqrt(t / f)) times per epoch for the rarest class in it (f: fraction of training images holding
    # the class), with stochastic rounding; 0 switches it off (uniform epochs)
    repeat_factor_thresh: float = 0.0


@dataclass
class DetectionConfig:
    name: str = "vitdet_b16_512"  # preset name; the default run id starts with it
    backbone: str = ""  # registry name or path given to rice.backbones.create_backbone
    seed: int = 0
    data: DataConfig = field(default_factory=DataConfig)
    model: ModelConfig = field(default_factory=ModelConfig)
    input: InputConfig = field(default_factory=InputConfig)
    train: TrainConfig = field(default_factory=TrainConfig)
    eval: EvalConfig = field(default_factory=EvalConfig)
    output: OutputConfig = field(default_factory=OutputConfig)

    def validate(self) -> "DetectionConfig":
        """Raise ValueError naming the first bad field and its value; returns self."""
        def bad(field_name, value, why):
            raise field_error("detection", field_name, value, why)

        def check(field_name, value, ok, why):
            if not ok(value):
                bad(field_name, value, why)

        positive_int = (lambda v: isinstance(v, int) and v >= 1, "must be an integer >= 1")
        non_negative_int = (lambda v: isinstance(v, int) and v >= 0, "must be an integer >= 0")
        fraction = (lambda v: 0 < v <= 1, "must be in (0, 1]")
        m = self.model
        if m.pyramid.kind not in PYRAMID_KINDS:
            bad("model.pyramid.kind", m.pyramid.kind, f"expected one of {PYRAMID_KINDS}")
        for name, norm in (("model.pyramid.norm", m.pyramid.norm), ("model.cascade.norm", m.cascade.norm)):
            if norm not in NORMS:
                bad(name, norm, f"expected one of {NORMS}")
        check("model.pyramid.out_channels", m.pyramid.out_channels, *positive_int)
        r = m.rpn
        check("model.rpn.anchor_scale", r.anchor_scale, lambda v: v > 0, "must be > 0")
        check("model.rpn.aspect_ratios", r.aspect_ratios, lambda v: len(v) >= 1 and all(a > 0 for a in v),
              "needs at least one ratio, all > 0")
        for name in ("conv_depth", "batch_size_per_image", "pre_nms_top_n_train", "post_nms_top_n_train",
                     "pre_nms_top_n_test", "post_nms_top_n_test"):
            check(f"model.rpn.{name}", getattr(r, name), *positive_int)
        check("model.rpn.positive_fraction", r.positive_fraction, *fraction)
        check("model.rpn.nms_thresh", r.nms_thresh, *fraction)
        check("model.rpn.bg_iou_thresh", r.bg_iou_thresh, lambda v: 0 <= v <= r.fg_iou_thresh <= 1,
              f"need 0 <= bg_iou_thresh <= fg_iou_thresh ({r.fg_iou_thresh}) <= 1")
        c = m.cascade
        if not (len(c.iou_thresholds) == len(c.bbox_reg_weights) == len(c.stage_loss_weights) >= 1):
            bad("model.cascade.iou_thresholds", c.iou_thresholds,
                "iou_thresholds, bbox_reg_weights and stage_loss_weights need one entry per stage")
        check("model.cascade.iou_thresholds", c.iou_thresholds, lambda v: all(0 < t < 1 for t in v),
              "each threshold must be in (0, 1)")
        if any(len(w) != 4 or min(w) <= 0 for w in c.bbox_reg_weights):
            bad("model.cascade.bbox_reg_weights", c.bbox_reg_weights, "each stage needs 4 weights (wx, wy, ww, wh) > 0")
        if not 1 <= c.roi_levels <= 5:
            bad("model.cascade.roi_levels", c.roi_levels, "must be 1..5")
        for name in ("batch_size_per_image", "box_pool_size", "mask_pool_size", "detections_per_image",
                     "canonical_box_size", "fed_loss_num_classes"):
            check(f"model.cascade.{name}", getattr(c, name), *positive_int)
        check("model.cascade.sampling_ratio", c.sampling_ratio, *non_negative_int)
        check("model.cascade.positive_fraction", c.positive_fraction, *fraction)
        check("model.cascade.nms_thresh", c.nms_thresh, *fraction)
        check("model.cascade.score_thresh", c.score_thresh, lambda v: 0 <= v < 1, "must be in [0, 1)")
        if c.cls_loss not in CLS_LOSSES:
            bad("model.cascade.cls_loss", c.cls_loss, f"expected one of {CLS_LOSSES}")
        if c.fed_loss and c.cls_loss != "sigmoid":
            bad("model.cascade.fed_loss", c.fed_loss, "the federated loss needs model.cascade.cls_loss=sigmoid")
        t = self.train
        check("train.max_iters", t.max_iters, *positive_int)
        check("train.batch_size", t.batch_size, *positive_int)
        check("train.lr", t.lr, lambda v: v > 0, "must be > 0")
        check("train.weight_decay", t.weight_decay, lambda v: v >= 0, "must be >= 0")
        check("train.betas", t.betas, lambda v: len(v) == 2 and all(0 <= b < 1 for b in v),
              "needs two values in [0, 1)")
        check("train.warmup_iters", t.warmup_iters, *non_negative_int)
        check("train.warmup_factor", t.warmup_factor, *fraction)
        check("train.lr_steps", t.lr_steps, lambda v: all(s >= 1 for s in v) and list(v) == sorted(v),
              "must be increasing iterations >= 1")
        check("train.gamma", t.gamma, lambda v: v > 0, "must be > 0")
        check("train.grad_clip", t.grad_clip, lambda v: v >= 0, "must be >= 0 (0: no clipping)")
        check("train.checkpoint_every", t.checkpoint_every, *positive_int)
        check("train.log_every", t.log_every, *positive_int)
        check("train.num_workers", t.num_workers, *non_negative_int)
        check("train.threads", t.threads, *non_negative_int)
        check("train.device", t.device, lambda v: v in ("auto", "cpu", "cuda") or
              (v.startswith("cuda:") and v[5:].isdigit()), "expected auto, cpu, cuda or cuda:N")
        check("eval.batch_size", self.eval.batch_size, *positive_int)
        check("eval.max_images", self.eval.max_images, *non_negative_int)
        check("eval.max_dets_lvis", self.eval.max_dets_lvis, *positive_int)
        i = self.input
        for name in ("image_size", "test_short_edge", "test_max_size"):
            check(f"input.{name}", getattr(i, name), *positive_int)
        check("input.size_divisibility", i.size_divisibility, *non_negative_int)
        if not 0 < i.min_scale <= i.max_scale:
            bad("input.min_scale", i.min_scale, "need 0 < min_scale <= max_scale")
        if self.data.degenerate_boxes not in ("error", "skip"):
            bad("data.degenerate_boxes", self.data.degenerate_boxes, "expected 'error' or 'skip'")
        check("data.repeat_factor_thresh", self.data.repeat_factor_thresh, lambda v: 0 <= v <= 1,
              "must be in [0, 1] (0: no repeat-factor sampling)")
        return self

    def protocol(self, split: str) -> dict:
        """What must agree for two runs to sit side by side in a leaderboard."""
        return {
            "resolution": f"train{self.input.image_size}/test{self.input.test_short_edge}",
            "schedule": f"{self.train.max_iters}x{self.train.batch_size}",
            "split": split,
        }
