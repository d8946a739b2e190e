"""LISA's training mixture: sem_seg || refer_seg || vqa || reason_seg sampled 9 : 3 : 3 : 1, sub-datasets uniformly.

Every training sample is drawn independently (LISA's HybridDataset): a source with probability proportional
to its rate (over the sources that are present), then one of its sub-datasets uniformly, then an image of it
uniformly, then up to `k` classes / expressions / sentences of that image. `Mixture.micro_batches(seed, step)`
is a function of (seed, step) only, so a resumed run draws exactly the samples an uninterrupted one does.

`load_mixture` reads every requested sub-dataset (and checks its files) before training; a missing one is an
error naming what is missing, unless `allow_missing`, when the run trains on what is present and records
what it skipped.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from .config import MIXTURE_SOURCES
from .data import Sample, pick, seg_sample
from .reasonseg import read_reason_seg, read_vqa, reason_seg_dir, vqa_files
from .refer import ReferSplit
from .semseg import MARKERS, READERS, SEM_SEG_SOURCES


@dataclass
class ReferSet:
    """A refer train split as a mixture member: an image, up to `k` of its expressions (LISA's refer_seg)."""

    split: ReferSplit

    @property
    def name(self) -> str:
        return str(self.split.name)

    def files(self) -> list[Path]:
        return [self.split.refs_file, self.split.instances_file]

    def draw(self, rng: np.random.Generator, k: int) -> Sample:
        image = self.split.images[int(rng.integers(len(self.split.images)))]
        exprs = image.expressions
        chosen = [exprs[i] for i in pick(rng, len(exprs), k)]
        masks = [self.split.mask(e.ann_id, image.height, image.width) for e in chosen]
        return seg_sample("refer_seg", self.name, image.path, [e.text for e in chosen], masks,
                          f"{self.split.refs_file}: image {image.image_id}", rng)


@dataclass
class Mixture:
    groups: dict[str, list]  # source -> its sub-datasets (objects with .name and .draw(rng, k) -> Sample)
    rates: dict[str, float]
    k: int  # classes / expressions per sample (LISA's num_classes_per_sample)
    missing: list[str] = field(default_factory=list)

    def __post_init__(self):
        self.sources = [s for s in MIXTURE_SOURCES if self.groups.get(s) and self.rates.get(s, 0) > 0]
        if not self.sources:
            raise ValueError(f"refseg data: no source of the mixture {self.rates} has data")
        p = np.array([self.rates[s] for s in self.sources], dtype=np.float64)
        self.p = p / p.sum()

    def draw(self, rng: np.random.Generator) -> Sample:
        source = self.sources[int(rng.choice(len(self.sources), p=self.p))]
        subs = self.groups[source]
        return subs[int(rng.integers(len(subs)))].draw(rng, self.k)

    def micro_batches(self, seed: int, step: int, batch_size: int, accumulation: int) -> list[list[Sample]]:
        rng = np.random.default_rng([seed, step])
        return [[self.draw(rng) for _ in range(batch_size)] for _ in range(accumulation)]

    def describe(self) -> dict:
        return {"sources": {s: [sub.name for sub in self.groups[s]] for s in self.sources},
                "probabilities": dict(zip(self.sources, [round(float(x), 6) for x in self.p])),
                "missing": list(self.missing)}

    def files(self) -> list[Path]:
        """The annotation files that define the samples (for the data fingerprint)."""
        return sorted({f for subs in self.groups.values() for sub in subs for f in sub.files()})


def _present(source: str, name: str, dataset_dir: Path) -> Path | None:
    """None when the sub-dataset's files are there, else the path whose absence says it is missing."""
    if source == "sem_seg":
        marker = MARKERS[name](dataset_dir)
    elif source == "vqa":
        marker = vqa_files(dataset_dir, name)[0]
    else:
        marker = reason_seg_dir(dataset_dir, name)
    return None if marker.exists() else marker


def load_mixture(data_cfg, refer_splits: list[ReferSplit], dataset_dir: Path, missing_refer: list[str],
                 refer_dir: Path | None = None) -> Mixture:
    """Read every requested sub-dataset of the mixture (`data_cfg`: DataConfig); see the module doc.
    `refer_splits` are the refer train splits read already, `missing_refer` those whose refs pickle is absent."""
    rates = {s: float(r) for s, r in data_cfg.mixture.items() if float(r) > 0}
    wanted = {"sem_seg": data_cfg.sem_seg_data, "vqa": data_cfg.vqa_data, "reason_seg": data_cfg.reason_seg_data}
    for name in data_cfg.sem_seg_data:
        if name not in SEM_SEG_SOURCES:
            raise ValueError(f"refseg config: field 'data.sem_seg_data' = {name!r}: expected one of {SEM_SEG_SOURCES}")
    groups: dict[str, list] = {"refer_seg": [ReferSet(s) for s in refer_splits]} if "refer_seg" in rates else {}
    absent = [f"refer_seg/{s} ({(refer_dir or dataset_dir / 'refer_seg') / s.split('|')[0]}/refs({s.split('|')[1]}).p "
              f"not found)" for s in missing_refer]
    for source, names in wanted.items():
        if source not in rates:
            continue
        subs = []
        for name in names:
            marker = _present(source, name, dataset_dir)
            if marker is not None:
                absent.append(f"{source}/{name} ({marker} not found)")
                continue
            if source == "sem_seg":
                subs.append(READERS[name](dataset_dir))
            elif source == "vqa":
                subs.append(read_vqa(dataset_dir, name))
            else:
                subs.append(read_reason_seg(dataset_dir, name))
        if not names:
            absent.append(f"{source} (no sub-dataset named in data.{source}_data)")
        groups[source] = subs
    if absent and not data_cfg.allow_missing:
        raise FileNotFoundError(f"{dataset_dir}: the mixture {rates} is incomplete: missing {'; '.join(absent)}; "
                                f"pass --allow-missing (data.allow_missing=true) to train on what is present")
    return Mixture(groups, rates, data_cfg.sentences_per_image, [a.split(" (")[0] for a in absent])
