"""Typed configuration of the MLLM probe. Defaults are the paper's protocol (LLaVA-NeXT, strict 2x2+1 tiles at
the tower's native resolution, stage 1 projector at 1e-3, stage 2 projector + LLM at 1e-5, frozen tower,
global batch 128); `configs/mllm/*.yaml` are presets over these defaults.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from probes.base import OutputConfig

from .model import TILINGS

DTYPES = ("float32", "bfloat16", "float16")


@dataclass
class ModelConfig:
    tiling: str = "2x2+1"  # the paper's base view + 2x2 crops; "pinpoints" = LLaVA-NeXT's own set
    pinpoints: list = field(default_factory=list)  # explicit [[h, w], ...] (multiples of the tower size)
    dtype: str = "float32"  # training/eval dtype of the assembled model (bfloat16 on GPU)
    gradient_checkpointing: bool = False


@dataclass
class DataConfig:
    # "toy:DIR" (the toy world: DIR/llava/{captions,train,val}.json); or leave it empty and set the files below
    spec: str = ""
    stage1_json: str = ""  # LCS-558K layout (blip_laion_cc_sbu_558k.json)
    stage1_images: str = ""  # folder the stage-1 `image` fields are relative to (default: the JSON's folder)
    stage2_json: str = ""  # LLaVA conversation JSON (the LLaVA-NeXT 740K mix in the paper)
    stage2_images: str = ""
    val_json: str = ""  # optional: LLaVA JSON with `question_type`, scored as the toyvqa task
    val_images: str = ""
    name: str = ""  # dataset name in the run record (default: "toy" for toy:, else "llava-next")
    max_length: int = 0  # truncate conversations to this many tokens (0: no limit)
    limit_train: int = 0  # use only the first N items of each training file (0: all)


@dataclass
class StageConfig:
    lr: float = 1e-3
    epochs: float = 1.0
    warmup_ratio: float = 0.03
    weight_decay: float = 0.0
    max_steps: int = 0  # optimizer steps (0: from epochs)


@dataclass
class TrainConfig:
    global_batch: int = 128  # per-device batch x accumulation x world size
    per_device_batch: int = 4
    tower_lr: float = 0.0  # 0: frozen tower (the probe's protocol); LLaVA-NeXT's recipe trains it at 2e-6 in stage 2
    device: str = "auto"
    threads: int = 0  # torch threads (0: leave as is)
    checkpoint_every: int = 50  # optimizer steps between resumable checkpoints


@dataclass
class EvalConfig:
    tasks: list = field(default_factory=lambda: ["toyvqa"])  # lmms-eval task names (toy tasks ship in mllm/tasks)
    include_path: str = ""  # extra lmms-eval task folder (--include_path) besides the package's toy tasks
    batch_size: int = 1
    limit: int = 0  # lmms-eval --limit (0: all)


@dataclass
class MLLMConfig:
    name: str = "default"
    backbone: str = ""
    llm: str = "tiny"  # "tiny" or a causal-LM directory (Qwen2.5-7B-Instruct in the paper)
    seed: int = 0
    model: ModelConfig = field(default_factory=ModelConfig)
    data: DataConfig = field(default_factory=DataConfig)
    stage1: StageConfig = field(default_factory=StageConfig)
    stage2: StageConfig = field(default_factory=lambda: StageConfig(lr=1e-5))
    train: TrainConfig = field(default_factory=TrainConfig)
    eval: EvalConfig = field(default_factory=EvalConfig)
    output: OutputConfig = field(default_factory=OutputConfig)

    def validate(self) -> "MLLMConfig":
        if self.model.tiling not in TILINGS:
            raise ValueError(f"mllm config: field 'model.tiling' = {self.model.tiling!r}: must be one of {TILINGS}")
        if self.model.dtype not in DTYPES:
            raise ValueError(f"mllm config: field 'model.dtype' = {self.model.dtype!r}: must be one of {DTYPES}")
        t = self.train
        if t.per_device_batch < 1 or t.global_batch < t.per_device_batch or t.global_batch % t.per_device_batch:
            raise ValueError(f"mllm config: field 'train.global_batch' = {t.global_batch}: must be a positive "
                             f"multiple of train.per_device_batch ({t.per_device_batch})")
        for stage in ("stage1", "stage2"):
            s = getattr(self, stage)
            if s.lr < 0 or s.epochs < 0 or not 0 <= s.warmup_ratio < 1:
                raise ValueError(f"mllm config: field '{stage}' = {s}: lr and epochs must be >= 0, "
                                 f"warmup_ratio in [0, 1)")
        if t.tower_lr < 0:
            raise ValueError(f"mllm config: field 'train.tower_lr' = {t.tower_lr}: must be >= 0")
        if not all(isinstance(t, str) and t for t in self.eval.tasks):
            raise ValueError(f"mllm config: field 'eval.tasks' = {self.eval.tasks!r}: lmms-eval task names "
                             f"(an empty list trains and saves without evaluating)")
        return self

    def accumulation(self, world_size: int) -> int:
        per_step = self.train.per_device_batch * world_size
        if self.train.global_batch % per_step:
            raise ValueError(f"mllm config: field 'train.global_batch' = {self.train.global_batch} is not divisible "
                             f"by per_device_batch x world size = {per_step}")
        return self.train.global_batch // per_step

    def tower_protocol(self) -> str:
        return "frozen" if self.train.tower_lr == 0 else f"tuned@{self.train.tower_lr:g}"

    def protocol(self, split: str, resolution: int) -> dict:
        """What must agree for two runs to sit side by side in a leaderboard."""
        tiles = "x".join(map(str, self.model.pinpoints)) if self.model.pinpoints else self.model.tiling
        return {
            "resolution": f"{tiles}@{resolution}",
            "schedule": (f"s1:{self.stage1.epochs:g}ep@{self.stage1.lr:g}/s2:{self.stage2.epochs:g}ep@"
                         f"{self.stage2.lr:g}/gb{self.train.global_batch}"),
            "split": split,
            "tower": self.tower_protocol(),
            "llm": self.llm if self.llm == "tiny" else self.llm.rstrip("/").split("/")[-1],
            "toolkit": "lmms-eval==0.7.3",
        }
