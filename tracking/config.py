"""Typed configuration of the tracking probe. Defaults are OSTrack's vitb_256 recipe with the paper's
frozen backbone (GOT-10k-only schedule); `configs/tracking/*.yaml` are presets over these defaults.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from probes.base import OutputConfig
from rice.config import field_error

DATA_KINDS = ("toy", "got10k", "lasot", "trackingnet", "tnl2k", "coco")


@dataclass
class CropConfig:
    """OSTrack's crops: a square of side sqrt(w*h)*factor around the target, resized to `*_size` px.

    Sizes are rounded to the nearest multiple of the backbone's patch size (128 -> 126 for patch 14)."""

    template_size: int = 128
    template_factor: float = 2.0
    search_size: int = 256
    search_factor: float = 4.0


@dataclass
class ModelConfig:
    blocks: int = 2  # trainable ViT blocks over the concatenated template + search tokens
    num_heads: int = 0  # 0: embed_dim // 64 (at least 1)
    mlp_ratio: float = 4.0
    drop_path: float = 0.1
    head_channels: int = 256  # C of the center head (C -> C/2 -> C/4 -> C/8)


@dataclass
class LossConfig:
    giou_weight: float = 2.0
    l1_weight: float = 5.0
    focal_weight: float = 1.0
    focal_alpha: float = 2.0  # CenterNet focal loss exponents
    focal_beta: float = 4.0
    min_overlap: float = 0.7  # CenterNet's Gaussian radius parameter


@dataclass
class SamplingConfig:
    samples_per_epoch: int = 60000
    max_gap: int = 200  # search frame at most this many frames after the template frame (causal)
    search_center_jitter: float = 3.0
    search_scale_jitter: float = 0.25
    template_center_jitter: float = 0.0
    template_scale_jitter: float = 0.0
    grayscale: float = 0.05  # probability, both crops together
    hflip: float = 0.5  # probability, both frames together
    brightness: float = 0.2  # each crop's pixels x U(1 - b, 1 + b)


@dataclass
class TrainConfig:
    epochs: int = 100
    batch_size: int = 128  # global; each of the W ranks takes batch_size / W
    lr: float = 4.0e-4
    weight_decay: float = 1.0e-4
    lr_drop_epoch: int = 80  # StepLR: lr x gamma from this epoch on
    gamma: float = 0.1
    grad_clip: float = 0.1  # max grad norm, 0 for none
    amp: bool = True  # bf16 autocast of the forward pass on CUDA (ignored on CPU)
    checkpoint_every: int = 500  # iterations (also at the end)
    log_every: int = 20
    num_workers: int = 4
    device: str = "auto"  # auto | cpu | cuda | cuda:N
    threads: int = 0  # torch intra-op threads while the probe runs; 0 leaves torch's default


@dataclass
class DataConfig:
    """Dataset specs `KIND:DIR[:SPLIT]`, KIND in toy | got10k | lasot | trackingnet | tnl2k | coco."""

    train: list[str] = field(default_factory=lambda: ["got10k:data/got10k:train"])
    ratios: list[float] = field(default_factory=list)  # sampling weight per train spec; [] -> 1:1:...
    eval: str = "got10k:data/got10k:val"


@dataclass
class EvalConfig:
    max_sequences: int = 0  # 0: every sequence of the eval split
    hann: bool = True  # multiply the score map by a 2-D Hann window (OSTrack's test-time prior)


@dataclass
class TrackingConfig:
    name: str = "got10k"  # preset name; the default run id starts with it
    backbone: str = ""  # registry name or path given to rice.backbones.create_backbone
    seed: int = 0
    data: DataConfig = field(default_factory=DataConfig)
    crop: CropConfig = field(default_factory=CropConfig)
    model: ModelConfig = field(default_factory=ModelConfig)
    loss: LossConfig = field(default_factory=LossConfig)
    sampling: SamplingConfig = field(default_factory=SamplingConfig)
    train: TrainConfig = field(default_factory=TrainConfig)
    eval: EvalConfig = field(default_factory=EvalConfig)
    output: OutputConfig = field(default_factory=OutputConfig)

    def validate(self) -> "TrackingConfig":
        def bad(name, value, why):
            raise field_error("tracking", name, value, why)

        for name in ("template_size", "search_size"):
            if getattr(self.crop, name) < 16:
                bad(f"crop.{name}", getattr(self.crop, name), "must be >= 16 px")
        for name in ("template_factor", "search_factor"):
            if getattr(self.crop, name) <= 0:
                bad(f"crop.{name}", getattr(self.crop, name), "must be > 0")
        if self.model.blocks < 0:
            bad("model.blocks", self.model.blocks, "must be >= 0")
        if self.model.head_channels < 8 or self.model.head_channels % 8:
            bad("model.head_channels", self.model.head_channels, "must be a positive multiple of 8")
        t = self.train
        for name in ("epochs", "batch_size", "log_every", "checkpoint_every"):
            if getattr(t, name) < 1:
                bad(f"train.{name}", getattr(t, name), "must be >= 1")
        if self.sampling.samples_per_epoch < t.batch_size:
            bad("sampling.samples_per_epoch", self.sampling.samples_per_epoch,
                f"must be >= train.batch_size ({t.batch_size})")
        if self.sampling.max_gap < 1:
            bad("sampling.max_gap", self.sampling.max_gap, "must be >= 1")
        for name in ("grayscale", "hflip"):
            if not 0 <= getattr(self.sampling, name) <= 1:
                bad(f"sampling.{name}", getattr(self.sampling, name), "a probability must be in [0, 1]")
        if not self.data.train:
            bad("data.train", self.data.train, "name at least one training dataset")
        for i, spec in enumerate([*self.data.train, self.data.eval]):
            kind = spec.split(":", 1)[0]
            where = f"data.train[{i}]" if i < len(self.data.train) else "data.eval"
            if kind not in DATA_KINDS or ":" not in spec:
                bad(where, spec, f"expected KIND:DIR[:SPLIT] with KIND in {', '.join(DATA_KINDS)}")
        if self.data.eval.startswith("coco:"):
            bad("data.eval", self.data.eval, "COCO gives static pairs for training only; evaluate on videos")
        if self.data.ratios and (len(self.data.ratios) != len(self.data.train) or min(self.data.ratios) <= 0):
            bad("data.ratios", self.data.ratios, f"need one positive weight per train spec ({len(self.data.train)})")
        return self

    def protocol(self, split: str, template: int, search: int) -> dict:
        """What must agree for two runs to sit side by side in a leaderboard."""
        return {
            "resolution": f"template{template}@{self.crop.template_factor:g}/search{search}@{self.crop.search_factor:g}",
            "schedule": f"{self.train.epochs}ep x {self.sampling.samples_per_epoch} pairs, "
                        f"batch {self.train.batch_size}, drop@{self.train.lr_drop_epoch}",
            "split": split,
            "train_data": "+".join(sorted(s.split(":", 1)[0] for s in self.data.train)),
            "tower": "frozen",
            "blocks": self.model.blocks,
            "toolkit": "got10k toolkit definitions (AO/SR) + pytracking definitions (success/precision)",
        }
