"""A sweep as jobs in content-addressed folders, each a list of runner steps (probes.runner):

    OUT/worlds/<id>/       the toy world                       (id: world knobs)
    OUT/curations/<id>/    shards/ of one curation             (id: world id + curate knobs + curate YAML)
    OUT/models/<id>/       pretrain/ + backbones/ of one model (id: curation id + pretrain knobs + YAML)
    OUT/cells/<id>/        runs/ of the probes, job.json       (id: model id + probe knobs + probes)

Each folder is the `out_dir` of a DemoConfig (so the demo's steps run unchanged in it) and links to the
folders it builds on (`toyworld`, `shards`, `backbones`). A folder is shared by every cell that needs the
same thing (two cells that differ only in a probe knob share their model), and a changed definition is a
new id, never a reused folder. Ids are hashes of content: resolved knob values and the bytes of the YAML
presets they name; a backbone directory of a backbone sweep is identified by its files' hashes.
"""

from __future__ import annotations

import dataclasses
import os
from dataclasses import dataclass
from pathlib import Path

from probes.identity import combine
from probes.demo.config import DemoConfig

from .config import SweepConfig
from .knobs import all_knobs

STAGE_DIRS = {"world": "worlds", "curate": "curations", "model": "models", "cell": "cells"}


@dataclass(frozen=True)
class Job:
    """What a worker needs to rebuild and run one job's steps (picklable for processes and submitit)."""

    stage: str  # world | curate | model | cell
    id: str
    dir: str
    sweep: SweepConfig
    cell: dict  # the cell's knobs (one representative cell for a shared world / curation / model)
    links: tuple[tuple[str, str], ...] = ()  # (name in dir, target dir) links to what this job builds on
    label: str = ""
    model: "Job | None" = None  # a cell's model (pretrain + export), run first under a lock: cells may share it
    round: int = 1  # 2: needs round 1's models first (a bootstrapped curation teacher)


def split_knobs(cell: dict) -> tuple[dict, dict]:
    """(DemoConfig fields, extra knobs) of a cell."""
    from .knobs import demo_knobs

    fields = demo_knobs()
    return ({k: v for k, v in cell.items() if k in fields}, {k: v for k, v in cell.items() if k not in fields})


def demo_config(sweep: SweepConfig, cell: dict, out_dir: str | Path) -> DemoConfig:
    """The DemoConfig of a cell: the demo's full (or --fast) preset with the cell's DemoConfig knobs on top."""
    fields, _ = split_knobs({k: v for k, v in cell.items() if k != "backbone"})
    return DemoConfig.create(fast=sweep.fast, out_dir=str(out_dir), progress=False, **fields)


def _file_hash(path: str) -> str:
    from probes.identity import files_fingerprint

    return files_fingerprint([path]) if path and Path(path).exists() else ""


def stage_values(sweep: SweepConfig, cell: dict) -> dict[str, dict]:
    """Every resolved knob value of a cell by stage (preset values included, so a changed preset is a new id)."""
    resolved = demo_config(sweep, cell, "/x").record()
    _, extra = split_knobs(cell)
    knobs = all_knobs()
    out = {s: {} for s in ("world", "curate", "pretrain", "probe")}
    for name, value in {**resolved, **extra}.items():
        if name in knobs and not (name in extra and knobs[name].default is not None and value == knobs[name].default):
            out[knobs[name].stage][name] = value
    for name in ("pretrain_config", "detection_config"):
        stage = knobs[name].stage
        out[stage][name] = _file_hash(out[stage][name])
    return out


def plan(sweep: SweepConfig, root: Path) -> tuple[list[Job], list[Job], list[Job], list[Job]]:
    """(worlds, curations, cells, teacher models) jobs; shared jobs appear once; cells in the sweep's order,
    each with its model job (shared by the cells that differ only in probe knobs). A cell with
    teacher=bootstrap is in round 2: its curation embeds with the exported model of the same knobs with
    teacher=kmeans (round 1, a "teacher model" job), then pretrains again."""
    root = Path(root)
    worlds, curations, cells, teachers = {}, {}, [], {}

    def job(stage: str, table: dict | None, id_: str, cell: dict, links=(), label="", round_=1) -> Job:
        j = Job(stage, id_, str(root / STAGE_DIRS[stage] / id_), sweep, cell, tuple(links),
                label or f"{stage} {id_}", round=round_)
        if table is not None:
            table.setdefault(id_, j)
        return j

    def pretrained(cell: dict, world_id: str, toy_link: list, label: str, round_: int) -> Job:
        v = stage_values(sweep, cell)
        cur_id = combine("curate", world_id, v["curate"], _file_hash(sweep.curate_config), sweep.curate_set,
                         sweep.data_images)
        job("curate", curations, cur_id, cell, toy_link, round_=round_)
        model_id = combine("model", cur_id, v["pretrain"], sweep.pretrain_set)
        shards = [("shards", str(root / "curations" / cur_id / "shards"))]
        return job("model", None, model_id, cell, toy_link + shards, f"{label} model", round_)

    for i, cell in enumerate(sweep.cells):
        v = stage_values(sweep, cell)
        world_id = combine("world", v["world"]) if sweep.toy else ""
        toy_link = [("toyworld", str(root / "worlds" / world_id / "toyworld"))] if world_id else []
        if world_id:
            job("world", worlds, world_id, cell)
        probe_part = combine("probe", _probe_knobs(v["probe"], sweep.probes), sweep.probes, sweep.detection_set,
                             sweep.data_detection)
        label = f"cell {i + 1}/{len(sweep.cells)}"
        if sweep.backbone_sweep:
            spec = cell["backbone"]
            ident = _backbone_identity(spec)
            cells.append(job("cell", None, combine("cell", ident, probe_part, world_id), cell, toy_link, label))
            continue
        round_ = 1
        if cell.get("teacher") == "bootstrap":
            first = {k: x for k, x in cell.items() if k not in ("untrained", "region_losses")}
            teacher = pretrained({**first, "teacher": "kmeans"}, world_id, toy_link, f"{label} teacher", 1)
            teachers.setdefault(teacher.id, teacher)
            cell = {**cell, "embedder": str(Path(teacher.dir) / "backbones" / model_kind(first))}
            round_ = 2
        model = pretrained(cell, world_id, toy_link, label, round_)
        backbones = [("backbones", str(Path(model.dir) / "backbones"))]
        cells.append(dataclasses.replace(job("cell", None, combine("cell", model.id, probe_part), cell,
                                             toy_link + backbones, label, round_), model=model))
    return list(worlds.values()), list(curations.values()), cells, list(teachers.values())


def _probe_knobs(values: dict, probes: list[str]) -> dict:
    """The probe knobs a cell's probes read: `<probe>_*` of the probes it runs (and `eval_images` for
    detection), plus any unprefixed ones; so a knob added to the demo for another probe changes no cell."""
    from probes.sweep.config import available_probes

    others = [p for p in available_probes() if p not in probes]
    return {k: v for k, v in values.items()
            if not any(k.startswith(f"{p}_") for p in others) and not (k == "eval_images" and "detection" not in probes)}


def _backbone_identity(spec: str) -> str:
    from probes.identity import files_fingerprint

    p = Path(spec).expanduser()
    return files_fingerprint(sorted(x for x in p.rglob("*") if x.is_file())) if p.is_dir() else spec


def link(dir_: Path, name: str, target: str) -> None:
    """dir_/name -> target as a relative symlink (replaced when it points elsewhere)."""
    path = dir_ / name
    rel = os.path.relpath(target, dir_)
    if path.is_symlink() and os.readlink(path) == rel:
        return
    if path.is_symlink():
        path.unlink()
    os.symlink(rel, path)


def prepare(job: Job) -> DemoConfig:
    """Make the job's folder and links; its DemoConfig (out_dir = the job's folder)."""
    d = Path(job.dir)
    d.mkdir(parents=True, exist_ok=True)
    for name, target in job.links:
        link(d, name, target)
    return demo_config(job.sweep, job.cell, d)


def model_kind(cell: dict) -> str:
    """The exported backbone's name: the demo's names for RICE, the image-level baseline and the floor."""
    from probes.demo.config import MLCD, RANDOM, RICE

    if cell.get("untrained"):
        return RANDOM
    return RICE if cell.get("region_losses", True) else MLCD
