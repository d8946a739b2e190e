"""Typed configuration of the referring-segmentation probe. Defaults are LISA's protocol (paper, Table 2):
ViT-H SAM at 1024 px, LoRA r=8 / alpha=16 on q/v, ce 1.0 / bce 2.0 / dice 0.5, AdamW 3e-4 (0.9, 0.95), 100
warm-up steps then linear decay to 0 at 5,000 steps, batch 2 x 10 accumulation, clip 1.0.
`configs/refseg/*.yaml` are presets over these defaults (`tiny` for tests and the toy world, `lisa`).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from probes.base import OutputConfig
from rice.config import field_error

from .loss import LossWeights
from .model import LisaConfig
from .refer import SplitName
from .sam import SamConfig

DTYPES = ("auto", "float32", "bfloat16")
# LISA's mixture (sample_rates 9,3,3,1); readers in refer.py, semseg.py, reasonseg.py; sampler in mixture.py
MIXTURE_SOURCES = ("sem_seg", "refer_seg", "vqa", "reason_seg")


@dataclass
class ModelConfig:
    lisa: LisaConfig = field(default_factory=LisaConfig)
    sam: SamConfig = field(default_factory=SamConfig)


@dataclass
class DataConfig:
    # the folder holding refcoco/, refcoco+/, refcocog/ and images/ (LISA's refer_seg/), or one holding refer_seg/
    # (LISA's dataset folder, a toy world); "" -> the toy world ./toyworld, written by rice.toyworld when absent
    refer_root: str = ""
    # LISA's --dataset_dir: the folder holding ade20k/, cocostuff/, coco/, vlpart/, mapillary/, llava_dataset/,
    # reason_seg/ (see semseg.py, reasonseg.py); "" -> the folder above refer_root's refer_seg/
    dataset_dir: str = ""
    sem_seg_data: tuple[str, ...] = ("ade20k", "cocostuff", "pascal_part", "paco_lvis", "mapillary")
    vqa_data: tuple[str, ...] = ("llava_instruct_150k",)  # names of LISA's layout or LLaVA JSON paths
    reason_seg_data: tuple[str, ...] = ("ReasonSeg|train",)
    train_splits: tuple[str, ...] = ("refcoco|unc|train", "refcoco+|unc|train", "refcocog|umd|train")
    eval_splits: tuple[str, ...] = ("refcoco|unc|val",)
    # LISA's mixture: source -> sample rate. A source without data is an error unless allow_missing is set
    mixture: dict[str, float] = field(default_factory=lambda: {"refer_seg": 1.0})
    allow_missing: bool = False  # train on the sources / splits that are present, and record which were missing
    sentences_per_image: int = 3  # LISA's num_classes_per_sample
    max_train_images: int = 0  # 0: all
    max_length: int = 0  # 0: no truncation of the conversation ids


@dataclass
class TrainConfig:
    lr: float = 3.0e-4
    betas: tuple[float, float] = (0.9, 0.95)
    weight_decay: float = 0.0
    steps: int = 5000  # optimizer steps (LISA: 10 epochs x 500)
    warmup_steps: int = 100
    batch_size: int = 2  # images per micro-batch per device
    grad_accumulation: int = 10
    grad_clip: float = 1.0
    loss: LossWeights = field(default_factory=LossWeights)
    dtype: str = "auto"  # auto: bfloat16 autocast on GPU, float32 on CPU
    device: str = "auto"
    threads: int = 0
    checkpoint_every: int = 500  # optimizer steps; the last step always saves
    log_every: int = 10


@dataclass
class EvalConfig:
    max_images: int = 0  # per split; 0: all
    train_subset: int = 0  # also score this many train images (teacher-forced, as on val); 0: none


@dataclass
class RefsegConfig:
    name: str = "lisa"
    backbone: str = ""
    seed: int = 0
    model: ModelConfig = field(default_factory=ModelConfig)
    data: DataConfig = field(default_factory=DataConfig)
    train: TrainConfig = field(default_factory=TrainConfig)
    eval: EvalConfig = field(default_factory=EvalConfig)
    output: OutputConfig = field(default_factory=OutputConfig)

    def validate(self) -> "RefsegConfig":
        def bad(name, value, why):
            raise field_error("refseg", name, value, why)

        for key in ("train_splits", "eval_splits"):
            for s in getattr(self.data, key):
                try:
                    SplitName.parse(s)
                except ValueError as err:
                    bad(f"data.{key}", s, str(err))
        unknown = sorted(set(self.data.mixture) - set(MIXTURE_SOURCES))
        if unknown:
            bad("data.mixture", self.data.mixture, f"unknown source {unknown[0]!r} (LISA's: {MIXTURE_SOURCES})")
        if any(float(r) < 0 for r in self.data.mixture.values()) or not any(float(r) > 0 for r in self.data.mixture.values()):
            bad("data.mixture", self.data.mixture, "rates must be >= 0 with at least one > 0")
        if self.train.steps < 1:
            bad("train.steps", self.train.steps, "must be >= 1")
        if not 0 <= self.train.warmup_steps <= self.train.steps:
            bad("train.warmup_steps", self.train.warmup_steps, "must be within 0..train.steps")
        if self.train.batch_size < 1 or self.train.grad_accumulation < 1:
            bad("train.batch_size", (self.train.batch_size, self.train.grad_accumulation), "both must be >= 1")
        if self.train.dtype not in DTYPES:
            bad("train.dtype", self.train.dtype, f"expected one of {DTYPES}")
        if self.model.lisa.seg_offset not in (0, -1):
            bad("model.lisa.seg_offset", self.model.lisa.seg_offset, "expected 0 or -1")
        return self

    def protocol(self, split: str) -> dict:
        s = self.model.sam
        return {
            "resolution": f"{self.model.lisa.tiling}@native/sam-{s.kind}-{s.tiny_image_size if s.kind == 'tiny' else 1024}",
            "schedule": f"{self.train.steps}x{self.train.batch_size}x{self.train.grad_accumulation}",
            "split": split,
            "tower": "frozen",
            "llm": self.model.lisa.llm if self.model.lisa.llm == "tiny" else "local",
            "eval": "teacher-forced",
        }
