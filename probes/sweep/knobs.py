"""The knobs a sweep may vary, where each one acts (world, curate, pretrain, probe) and what it sets.

Every field of the demo's DemoConfig is a knob (new probe knobs added there appear here without edits);
the extra knobs below set dotted overrides of `rice curate` / `rice pretrain`. A knob's stage decides what
a change of it redoes: a world knob re-renders the toy world, a curate knob re-curates (a curation is shared
by every cell with the same world and curate knobs), a pretrain knob re-pretrains, a probe knob only reruns
the probes.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any

STAGES = ("world", "curate", "pretrain", "probe")
TEACHERS = ("kmeans", "oracle", "bootstrap")


@dataclass(frozen=True)
class Knob:
    name: str
    type: type  # int | float | bool | str
    stage: str
    what: str = ""
    sets: tuple[str, ...] = ()  # dotted config keys (curate or pretrain) that this knob's value goes to
    paper: str = ""  # the paper's Table 5 ablation name, when it has one
    low: float | None = None  # smallest valid value
    choices: tuple[str, ...] = ()
    default: Any = None  # the value that changes nothing (left out of cell ids); None: the preset decides

    def check(self, value: Any, where: str) -> Any:
        """The value, coerced (int -> float); ValueError naming `where`, the knob and the value otherwise."""
        t = self.type
        if t is float and isinstance(value, int) and not isinstance(value, bool):
            value = float(value)
        if isinstance(value, bool) != (t is bool) or not isinstance(value, t):
            raise ValueError(f"{where}: knob {self.name!r} = {value!r} must be of type {t.__name__}")
        if self.low is not None and value < self.low:
            raise ValueError(f"{where}: knob {self.name!r} = {value!r} must be >= {self.low}")
        if self.choices and value not in self.choices:
            raise ValueError(f"{where}: knob {self.name!r} = {value!r} must be one of {', '.join(self.choices)}")
        return value


EXTRA = (
    Knob("regions_per_image", int, "pretrain", "N: sampled regions per image", ("data.regions_per_image",),
         "sampled_boxes_N", 1),
    Knob("sample_rate", float, "pretrain", "rho: negative sampling rate", ("loss.sample_rate",),
         "negative_sampling_rho", 0.0),
    Knob("max_ocr_tokens", int, "curate", "M: positive token labels per OCR region", ("ocr.max_tokens",),
         "positive_ocr_labels_M", 1),
    Knob("region_depth", int, "pretrain", "Region Transformer layers", ("model.region_depth",), low=1),
    Knob("region_losses", bool, "pretrain", "false: the MLCD-style image-level baseline", ("loss.region_losses",),
         default=True),
    Knob("image_loss", bool, "pretrain", "the image-level cluster loss", ("loss.image_loss",), default=True),
    Knob("width", int, "pretrain", "ViT hidden size (MLP 4x)", ("model.vision.hidden_size",), low=8),
    Knob("depth", int, "pretrain", "ViT blocks", ("model.vision.num_hidden_layers",), low=1),
    Knob("lr", float, "pretrain", "pretraining learning rate", ("optim.lr",), low=0.0),
    Knob("untrained", bool, "pretrain", "true: probe the untrained step-0 model (the floor), no pretraining",
         default=False),
    Knob("data_fraction", float, "curate", "fraction of the training images curated (and pretrained on)", low=0.0,
         default=1.0),
    Knob("teacher", str, "curate", "kmeans: cluster labels from the curation embedder; oracle: the toy world's "
         "own categories (an ORACLE upper bound, not a method); bootstrap: k-means on the features of a first-round "
         "RICE (same knobs, teacher kmeans), then pretrain again", choices=TEACHERS, default="kmeans"),
)

# DemoConfig fields that are not knobs of a cell (where output goes, how it is shown, the --fast switch)
NOT_KNOBS = ("out_dir", "fast", "progress", "threads", "pca_images")
DEMO_STAGES = {"num_images": "world", "image_size": "world", "seed": "world",
               "embedder": "curate", "num_clusters": "curate", "ocr": "curate",
               "pretrain_config": "pretrain", "pretrain_steps": "pretrain", "pretrain_batch_size": "pretrain",
               "centers_init": "pretrain"}
DEMO_PAPER = {"num_clusters": "cluster_centers_K"}
DEMO_LOW = {"num_images": 10, "image_size": 128, "num_clusters": 2, "pretrain_steps": 1, "pretrain_batch_size": 1,
            "detection_iters": 1, "detection_size": 56, "eval_images": 0, "seed": 0}


def demo_knobs() -> dict[str, Knob]:
    """A knob per DemoConfig field (its type from the default value); unnamed fields are probe knobs."""
    from probes.demo.config import DemoConfig

    out = {}
    for f in dataclasses.fields(DemoConfig):
        if f.name in NOT_KNOBS:
            continue
        default = f.default if f.default is not dataclasses.MISSING else f.default_factory()
        t = type(default) if isinstance(default, (bool, int, float, str)) else str
        out[f.name] = Knob(f.name, t, DEMO_STAGES.get(f.name, "probe"), "DemoConfig." + f.name,
                           paper=DEMO_PAPER.get(f.name, ""), low=DEMO_LOW.get(f.name))
    return out


def all_knobs() -> dict[str, Knob]:
    knobs = demo_knobs()
    knobs.update({k.name: k for k in EXTRA})
    return knobs


def paper_ablation(name: str) -> str:
    knob = all_knobs().get(name)
    return knob.paper if knob else ""
