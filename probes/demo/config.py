"""DemoConfig: every knob of `rice-probe demo`, with the full and the `--fast` presets, validated up front.

The full preset takes about 13 minutes on 2 CPU cores with all four probes (the budget is 15); `--fast` (the
test suite's) under a minute. Explicit knobs win over either preset. The config is
saved as `OUT/demo_config.json`; a rerun into the same folder must use the same settings (so that finished
steps can be skipped safely).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[2]
CONFIGS = REPO_ROOT / "configs"
OCR_ENGINES = ("rapidocr", "paddleocr", "none")

# names of the three backbones: export directories, detection run folders, leaderboard rows, figure labels
RICE, MLCD, RANDOM = "rice-toy", "mlcd-toy", "random-init"
BACKBONES = (RICE, MLCD, RANDOM)


@dataclass(frozen=True)
class DemoConfig:
    out_dir: str = "demo_out"
    fast: bool = False
    seed: int = 0
    # 1. toy world
    num_images: int = 1000  # scenes in total; 80% train (curated, pretrained on, detection train), 20% val
    image_size: int = 224  # toy scene side, px
    # 2. curation
    embedder: str = "clip-vit-tiny"  # region embedder for k-means (a `rice backbones` name or a directory)
    num_clusters: int = 64  # K: k-means centers = pretraining's loss.num_object_classes
    ocr: str = "rapidocr"
    # 3. pretraining (both runs share preset, seed, data and schedule)
    pretrain_config: str = str(CONFIGS / "pretrain" / "tiny.yaml")
    pretrain_steps: int = 500
    pretrain_batch_size: int = 16
    centers_init: bool = False  # initialise the object centers from curation's k-means centers
    # 4. detection probe
    detection_config: str = str(CONFIGS / "detection" / "tiny.yaml")
    detection_iters: int = 400
    detection_size: int = 224  # train crop and test size, px (a multiple of 4 x patch keeps strides exact)
    eval_images: int = 0  # val images scored (0: all)
    # 5. MLLM probe (LLaVA-NeXT with the tiny LLM, toy VQA through lmms-eval)
    mllm_stage1_steps: int = 10  # optimizer steps of stage 1 (projector on captions)
    mllm_stage2_steps: int = 60  # optimizer steps of stage 2 (projector + LLM on conversations)
    mllm_train_items: int = 0  # first N items of each LLaVA train file (0: all)
    mllm_eval_docs: int = 40  # toy VQA questions scored by lmms-eval (0: all)
    # 5b. referring segmentation probe (LISA on LLaVA-NeXT with the tiny LLM and a tiny SAM, toy RefCOCO)
    refseg_steps: int = 60  # optimizer steps (batch 2 images, up to 3 expressions each)
    refseg_eval_images: int = 20  # toy RefCOCO val images scored (0: all)
    # 5c. tracking probe (tiny OSTrack-style tracker on its own toy GOT-10k sequences, 160 x 120 px)
    # (the tiny preset's recipe: ~320 iterations is what the tracker needs to beat the fixed-box floor; fewer
    # does not; ~30 CPU-s per backbone)
    tracking_sequences: int = 20  # toy sequences written for it (train + val, 80 / 20)
    tracking_frames: int = 30  # frames per toy sequence
    tracking_epochs: int = 10
    tracking_samples: int = 256  # training pairs per epoch (batch 8)
    # 6. figures
    pca_images: int = 4  # toy val images in the PCA feature figure
    # torch intra-op threads while the demo runs (0: torch's default). One thread is as fast for these tiny
    # models and immune to the spin-wait slowdown of OpenMP on a busy machine (100x on 2 shared cores).
    threads: int = 1
    progress: bool = True  # progress bars of the underlying commands (never changes results)

    @classmethod
    def create(cls, fast: bool = False, **given) -> "DemoConfig":
        """The full (or fast) preset with `given` knobs on top; None values mean "use the preset"."""
        names = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(given) - names)
        if unknown:
            raise ValueError(f"unknown DemoConfig field(s) {unknown}; valid: {sorted(names)}")
        values = dict(FAST_PRESET) if fast else {}
        values.update({k: v for k, v in given.items() if v is not None})
        for name in ("pretrain_config", "detection_config"):  # steps may run from another working directory
            if name in values:
                values[name] = str(Path(values[name]).expanduser().absolute())
        return cls(fast=fast, **values).validate()

    def validate(self) -> "DemoConfig":
        """Raise ValueError naming the field and value of the first bad setting."""
        def bad(name: str, why: str) -> ValueError:
            return ValueError(f"DemoConfig.{name}={getattr(self, name)!r}: {why}")

        if not self.out_dir:
            raise bad("out_dir", "name an output folder (--out)")
        for name in ("mllm_stage1_steps", "mllm_stage2_steps", "mllm_train_items", "mllm_eval_docs",
                     "refseg_eval_images"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 0:
                raise bad(name, "must be an integer >= 0")
        minimum = {"refseg_steps": 1, "num_images": 10, "image_size": 128, "num_clusters": 2, "pretrain_steps": 1,
                   "pretrain_batch_size": 1, "detection_iters": 1, "detection_size": 56, "pca_images": 1,
                   "tracking_sequences": 2, "tracking_frames": 2, "tracking_epochs": 1, "tracking_samples": 16}
        for name, low in minimum.items():
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < low:
                raise bad(name, f"must be an integer >= {low}")
        if isinstance(self.seed, bool) or not isinstance(self.seed, int) or self.seed < 0:
            raise bad("seed", "must be a non-negative integer")
        if isinstance(self.eval_images, bool) or not isinstance(self.eval_images, int) or self.eval_images < 0:
            raise bad("eval_images", "must be an integer >= 0 (0: all val images)")
        if isinstance(self.threads, bool) or not isinstance(self.threads, int) or self.threads < 0:
            raise bad("threads", "must be an integer >= 0 (0: torch's default)")
        if self.ocr not in OCR_ENGINES:
            raise bad("ocr", f"must be one of {', '.join(OCR_ENGINES)}")
        for name in ("pretrain_config", "detection_config"):
            if not Path(getattr(self, name)).is_file():
                raise FileNotFoundError(f"DemoConfig.{name}={getattr(self, name)!r}: no such YAML file")
        if not self.embedder:
            raise bad("embedder", "name a backbone (see `rice backbones`) or a model directory")
        return self

    def record(self) -> dict:
        """What a finished step depends on: everything but where the output goes and how it is shown."""
        out = dataclasses.asdict(self)
        for name in ("out_dir", "progress", "threads"):
            out.pop(name)
        return out

    # -- where everything goes -------------------------------------------------------------------
    @property
    def root(self) -> Path:
        return Path(self.out_dir).expanduser().absolute()

    toy_dir = property(lambda self: self.root / "toyworld")
    shards_dir = property(lambda self: self.root / "shards")
    pretrain_dir = property(lambda self: self.root / "pretrain")
    backbones_dir = property(lambda self: self.root / "backbones")
    runs_dir = property(lambda self: self.root / "runs")
    results_dir = property(lambda self: self.root / "results")
    figures_dir = property(lambda self: self.root / "figures")
    steps_dir = property(lambda self: self.root / "steps")

    def backbone_dir(self, name: str) -> Path:
        return self.backbones_dir / name


# --fast: the smallest run that still goes through every real step (the test suite runs it)
FAST_PRESET = dict(num_images=60, num_clusters=16, pretrain_steps=12, pretrain_batch_size=8, detection_iters=12, mllm_stage1_steps=1,
                   mllm_stage2_steps=2, mllm_train_items=8, mllm_eval_docs=4, refseg_steps=2, refseg_eval_images=1,
                   tracking_sequences=2, tracking_frames=6, tracking_epochs=1, tracking_samples=32,
                   detection_size=112, pca_images=2)
