"""Orchestration: render the scenes once, then write every format from them, atomically.

Everything is written into a temporary folder next to the target and renamed into place at
the end, so a crash or a bad argument never leaves a half-written toy world behind.
"""

from __future__ import annotations

import os
import shutil
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

from rice.progress import progress as progress_bar

from rice.toyworld.coco import ImageRecord, scene_record, write_coco
from rice.toyworld.config import ToyWorldConfig, check_output_dir
from rice.toyworld.files import item_rng, link_or_copy, save_jpeg, write_text
from rice.toyworld.got10k import write_got10k
from rice.toyworld.llava import write_llava
from rice.toyworld.refer import write_refer
from rice.toyworld.scene import sample_scene
from rice.toyworld.shapes import CATEGORY_NAMES


@dataclass
class ToyWorldSummary:
    """What one `generate` call wrote (counts), and how long each part took (seconds)."""

    out_dir: Path
    config: ToyWorldConfig
    images: dict[str, int] = field(default_factory=dict)  # COCO split -> images
    annotations: dict[str, int] = field(default_factory=dict)  # COCO split -> annotations
    signs: int = 0
    refer: dict = field(default_factory=dict)  # refs, sentences, splits
    llava: dict[str, int] = field(default_factory=dict)  # split -> entries
    got10k: dict = field(default_factory=dict)  # subset -> {sequences, frames}
    seconds: dict[str, float] = field(default_factory=dict)  # part -> wall time

    @property
    def num_images(self) -> int:
        return sum(self.images.values())


def render_scenes(root: Path, cfg: ToyWorldConfig, progress: bool = True) -> list[ImageRecord]:
    """Render every scene to `root/coco/{train,val}/<id:012d>.jpg`; returns their records."""
    records: list[ImageRecord] = []
    image_id, ann_id = 1, 1
    counts = dict(zip(("train", "val"), cfg.split_counts(cfg.num_images)))
    with progress_bar(total=cfg.num_images, desc="toyworld scenes", unit="img", disable=not progress) as bar:
        for split, count in counts.items():
            for index in range(count):
                scene = sample_scene(item_rng(cfg.seed, f"scene/{split}", index), cfg)
                file_name = f"{image_id:012d}.jpg"
                save_jpeg(root / "coco" / split / file_name, scene.render(), cfg.jpeg_quality)
                rec = scene_record(scene, image_id, file_name, split, index, ann_id)
                records.append(rec)
                image_id += 1
                ann_id += len(rec.objects)
                bar.update(1)
    return records


def _readme(s: ToyWorldSummary) -> str:
    c = s.config
    gt = s.got10k
    return f"""# RICE toy world

Deterministic synthetic scenes written by `rice toyworld` (`rice.toyworld.generate`).
Seed {c.seed}; the same seed and settings give byte-identical files.

- Scenes: {s.num_images} images of {c.image_size} x {c.image_size} px ({s.images['train']} train, {s.images['val']} val),
  {c.min_objects}-{c.max_objects} shapes each, {s.signs} signs in all; {len(CATEGORY_NAMES)} categories
  ("colour shape" pairs plus `sign`, ids in sorted name order).
- `coco/annotations/instances_{{train,val}}.json`, images in `coco/{{train,val}}/`: COCO instances,
  RLE masks of the visible parts; {s.annotations['train']} train and {s.annotations['val']} val annotations.
  Signs carry `attributes.text`.
- `refer_seg/refcoco/refs(unc).p`, `refer_seg/refcoco/instances.json`, images in
  `refer_seg/images/mscoco/images/train2014/`: the refer API / LISA layout; {s.refer['refs']} refs,
  {s.refer['sentences']} expressions (splits: {', '.join(f'{k} {v}' for k, v in s.refer['splits'].items())}).
- `got10k/{{train,val}}/`: GOT-10k sequences of {c.frame_size[0]} x {c.frame_size[1]} px
  (sequences / frames: train {gt['train']['sequences']} / {gt['train']['frames']}, val {gt['val']['sequences']} / {gt['val']['frames']}).
- `llava/train.json` ({s.llava['train']} conversations), `llava/val.json` ({s.llava['val']} questions),
  images in `llava/images/` (`image` paths are relative to `llava/`).
- `images/`: all {s.num_images} scene images, for curation.
"""


def _write_all(root: Path, cfg: ToyWorldConfig, progress: bool, summary: ToyWorldSummary) -> None:
    tick = time.perf_counter()

    def lap(part: str) -> None:
        nonlocal tick
        now = time.perf_counter()
        summary.seconds[part] = now - tick
        tick = now

    records = render_scenes(root, cfg, progress)
    for split in ("train", "val"):
        recs = [r for r in records if r.split == split]
        summary.images[split] = len(recs)
        summary.annotations[split] = write_coco(root / "coco" / "annotations" / f"instances_{split}.json", recs)
    summary.signs = sum(o.text is not None for r in records for o in r.objects)
    lap("coco")
    paths = {r.image_id: root / "coco" / r.split / r.file_name for r in records}
    summary.refer = write_refer(root / "refer_seg", records, paths, cfg.seed)
    lap("refer")
    summary.llava = write_llava(root / "llava", records, paths, cfg.seed, cfg.questions_per_image)
    lap("llava")
    for r in records:
        link_or_copy(paths[r.image_id], root / "images" / r.file_name)
    lap("images")
    summary.got10k = write_got10k(root / "got10k", cfg, progress)
    lap("got10k")
    write_text(root / "README.md", _readme(summary))


def generate(out_dir: str | os.PathLike, config: ToyWorldConfig | None = None, *, overwrite: bool = False,
             progress: bool = True, **fields) -> ToyWorldSummary:
    """Write the toy world to `out_dir`. `fields` override `config` (e.g. num_images=40, seed=1,
    image_size=224, num_sequences=4). Validates everything before writing anything."""
    cfg = (config or ToyWorldConfig()).replace(**fields).validate()
    out = Path(out_dir).expanduser().absolute()
    check_output_dir(out, overwrite)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{out.name}.tmp-", dir=out.parent))
    summary = ToyWorldSummary(out_dir=out, config=cfg)
    try:
        _write_all(tmp, cfg, progress, summary)
        os.chmod(tmp, 0o755)  # mkdtemp makes it private; the result is an ordinary folder
        if out.exists():
            trash = Path(tempfile.mkdtemp(prefix=f".{out.name}.old-", dir=out.parent))
            os.replace(out, trash / "old")
            os.replace(tmp, out)
            shutil.rmtree(trash)
        else:
            os.replace(tmp, out)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return summary
