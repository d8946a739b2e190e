"""SweepConfig: a sweep YAML, validated whole before any cell starts.

    fast: true                    # start every cell from the demo's --fast sizes (default false: full sizes)
    base: {num_images: 60}        # knobs fixed for every cell (see probes/sweep/knobs.py)
    grid: {num_clusters: [8, 16], regions_per_image: [1, 10]}    # the product of these lists, or
    cells: [{num_clusters: 8}, {teacher: oracle}]                  # an explicit list of cells, or
    backbones: [clip-vit-tiny, /models/rice-vit-b]                 # registry names / directories, no pretraining
    probes: [detection]           # detection, or any probe with a probes/demo/<probe>_steps.py
    data: {images: "", detection: ""}   # real data: curation images folder, detection --data spec ("" = toy world)
    curate_config: configs/curate/toy.yaml
    curate_set: [], pretrain_set: [], detection_set: []   # extra dotted overrides of each command
    executor: {kind: local, workers: 2, slurm: {partition: gpu, gpus_per_node: 1, ...}}
    out_dir: sweeps/toy           # or `rice-probe sweep CONFIG --out DIR`

Errors name the file, the key and the value (ValueError / FileNotFoundError).
"""

from __future__ import annotations

import importlib.util
import itertools
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from rice.config import apply_overrides, load_yaml_mapping

from .knobs import all_knobs

REPO_ROOT = Path(__file__).resolve().parents[2]
EXECUTORS = ("local", "parallel", "slurm", "submitit-local")
TOP_KEYS = ("name", "fast", "base", "grid", "cells", "backbones", "probes", "data", "curate_config", "curate_set",
            "pretrain_set", "detection_set", "executor", "out_dir")
SLURM_KEYS = {"partition": str, "gpus_per_node": int, "cpus_per_task": int, "mem_gb": int, "timeout_min": int,
              "array_parallelism": int, "nproc_per_node": int, "account": str, "qos": str, "constraint": str}


@dataclass
class ExecutorConfig:
    kind: str = "local"  # local (sequential) | parallel (local processes) | slurm | submitit-local (tests)
    workers: int = 2  # parallel: processes at once
    folder: str = ""  # submitit's logs and pickles ("" = OUT/submitit)
    slurm: dict = field(default_factory=dict)  # SLURM_KEYS; nproc_per_node > 1 runs pretraining under torchrun


@dataclass
class SweepConfig:
    source: str
    name: str
    fast: bool
    cells: list[dict]  # one knob dict per cell (base merged in), or {"backbone": spec} for a backbone sweep
    varied: list[str]  # knobs that differ between cells (the tables' row keys)
    probes: list[str]
    backbone_sweep: bool
    data_images: str = ""
    data_detection: str = ""
    curate_config: str = str(REPO_ROOT / "configs" / "curate" / "toy.yaml")
    curate_set: list[str] = field(default_factory=list)
    pretrain_set: list[str] = field(default_factory=list)
    detection_set: list[str] = field(default_factory=list)
    executor: ExecutorConfig = field(default_factory=ExecutorConfig)
    out_dir: str = ""

    @property
    def toy(self) -> bool:
        return not self.data_detection


def _path(value: Any, where: str) -> str:
    """An existing file/folder, relative to the working directory or else to the repository."""
    if not isinstance(value, str) or not value:
        raise ValueError(f"{where} = {value!r}: must be a path")
    for base in (Path.cwd(), REPO_ROOT):
        p = (base / value).expanduser()
        if p.exists():
            return str(p.absolute())
    raise FileNotFoundError(f"{where} = {value!r}: no such file or folder")


def _strings(value: Any, where: str) -> list[str]:
    if value is None:
        return []
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise ValueError(f"{where} = {value!r}: must be a list of strings")
    return list(value)


def _check_knobs(values: Any, where: str) -> dict:
    knobs = all_knobs()
    if not isinstance(values, dict):
        raise ValueError(f"{where} = {values!r}: must be a mapping of knob: value")
    out = {}
    for key, value in values.items():
        if key not in knobs:
            raise ValueError(f"{where}: unknown knob {key!r} (value {value!r}); valid: {', '.join(sorted(knobs))}")
        out[key] = knobs[key].check(value, f"{where}.{key}")
        if key.endswith("_config") and isinstance(value, str):
            out[key] = _path(value, f"{where}.{key}")
    return out


def available_probes() -> list[str]:
    found = ["detection"]
    for path in sorted((REPO_ROOT / "probes" / "demo").glob("*_steps.py")):
        found.append(path.stem[: -len("_steps")])
    return sorted(set(found))


def _expand(data: dict, source: str) -> tuple[list[dict], bool]:
    given = [k for k in ("grid", "cells", "backbones") if data.get(k) is not None]
    if len(given) != 1:
        raise ValueError(f"{source}: give exactly one of grid, cells, backbones (found: {given or 'none'})")
    key = given[0]
    value = data[key]
    if key == "backbones":
        if not isinstance(value, list) or not value or not all(isinstance(v, str) and v for v in value):
            raise ValueError(f"{source}: backbones = {value!r}: must be a non-empty list of names or directories")
        return [{"backbone": v} for v in value], True
    if key == "grid":
        if not isinstance(value, dict) or not value:
            raise ValueError(f"{source}: grid = {value!r}: must be a non-empty mapping of knob: [values]")
        for k, v in value.items():
            if not isinstance(v, list) or not v:
                raise ValueError(f"{source}: grid.{k} = {v!r}: must be a non-empty list of values")
        names = list(value)
        rows = [dict(zip(names, combo)) for combo in itertools.product(*(value[n] for n in names))]
        return [_check_knobs(r, f"{source}: grid") for r in rows], False
    if not isinstance(value, list) or not value:
        raise ValueError(f"{source}: cells = {value!r}: must be a non-empty list of knob mappings")
    return [_check_knobs(r, f"{source}: cells[{i}]") for i, r in enumerate(value)], False


def parse_sweep(data: dict, source: str = "sweep") -> SweepConfig:
    """Validate a sweep mapping (see the module docstring) and expand its cells."""
    unknown = sorted(set(data) - set(TOP_KEYS))
    if unknown:
        raise ValueError(f"{source}: unknown key {unknown[0]!r} (value {data[unknown[0]]!r}); valid: {', '.join(TOP_KEYS)}")
    fast = data.get("fast", False)
    if not isinstance(fast, bool):
        raise ValueError(f"{source}: fast = {fast!r}: must be true or false")
    base = _check_knobs(data.get("base") or {}, f"{source}: base")
    rows, backbone_sweep = _expand(data, source)
    cells = [dict(base, **r) for r in rows]
    keys = sorted({k for c in cells for k in c})
    defaults = {k: v.default for k, v in all_knobs().items()}
    varied = [k for k in keys if len({repr(c.get(k, defaults.get(k))) for c in cells}) > 1] or [keys[0] if keys else "cell"]
    if len({repr(sorted(c.items())) for c in cells}) != len(cells):
        raise ValueError(f"{source}: two cells have the same knobs; every cell must differ")
    probes = data.get("probes", ["detection"])
    if not isinstance(probes, list) or not probes:
        raise ValueError(f"{source}: probes = {probes!r}: must be a non-empty list")
    known = available_probes()
    for p in probes:
        if p not in known:
            raise ValueError(f"{source}: probes: unknown probe {p!r}; available: {', '.join(known)}")
    data_cfg = data.get("data") or {}
    if not isinstance(data_cfg, dict) or set(data_cfg) - {"images", "detection"}:
        raise ValueError(f"{source}: data = {data_cfg!r}: must be a mapping with keys images, detection")
    images = _path(data_cfg["images"], f"{source}: data.images") if data_cfg.get("images") else ""
    detection = data_cfg.get("detection") or ""
    if not isinstance(detection, str):
        raise ValueError(f"{source}: data.detection = {detection!r}: must be a --data spec such as coco:DIR")
    if backbone_sweep and set(probes) - {"detection"}:
        raise ValueError(f"{source}: probes {sorted(set(probes) - {'detection'})} read a pretrained cell's own "
                         "backbone (the demo's steps); a backbones sweep runs detection only")
    if detection and set(probes) - {"detection"}:
        raise ValueError(f"{source}: probes {sorted(set(probes) - {'detection'})} run on the toy world only; "
                         f"remove them or data.detection = {detection!r}")
    if bool(images) != bool(detection) and not backbone_sweep:
        raise ValueError(f"{source}: data.images and data.detection go together (real data) or are both empty "
                         "(the toy world)")
    cfg = SweepConfig(source=source, name=str(data.get("name") or Path(source).stem), fast=fast, cells=cells,
                      varied=varied, probes=list(probes), backbone_sweep=backbone_sweep, data_images=images,
                      data_detection=detection, executor=_executor(data.get("executor") or {}, source),
                      out_dir=str(data.get("out_dir") or ""))
    if data.get("curate_config"):
        cfg.curate_config = _path(data["curate_config"], f"{source}: curate_config")
    for key in ("curate_set", "pretrain_set", "detection_set"):
        setattr(cfg, key, _strings(data.get(key), f"{source}: {key}"))
    _check_demo_configs(cfg)
    return cfg


def _executor(data: Any, source: str) -> ExecutorConfig:
    if not isinstance(data, dict):
        raise ValueError(f"{source}: executor = {data!r}: must be a mapping")
    unknown = sorted(set(data) - {"kind", "workers", "folder", "slurm"})
    if unknown:
        raise ValueError(f"{source}: executor: unknown key {unknown[0]!r}; valid: kind, workers, folder, slurm")
    ex = ExecutorConfig(**data)
    if ex.kind not in EXECUTORS:
        raise ValueError(f"{source}: executor.kind = {ex.kind!r}: must be one of {', '.join(EXECUTORS)}")
    if isinstance(ex.workers, bool) or not isinstance(ex.workers, int) or ex.workers < 1:
        raise ValueError(f"{source}: executor.workers = {ex.workers!r}: must be an integer >= 1")
    if not isinstance(ex.slurm, dict):
        raise ValueError(f"{source}: executor.slurm = {ex.slurm!r}: must be a mapping")
    for key, value in ex.slurm.items():
        if key not in SLURM_KEYS:
            raise ValueError(f"{source}: executor.slurm: unknown key {key!r}; valid: {', '.join(SLURM_KEYS)}")
        if not isinstance(value, SLURM_KEYS[key]) or isinstance(value, bool):
            raise ValueError(f"{source}: executor.slurm.{key} = {value!r}: must be {SLURM_KEYS[key].__name__}")
    return ex


def _check_demo_configs(cfg: SweepConfig) -> None:
    """Build every cell's DemoConfig once now, so a bad combination fails before any cell starts."""
    from .plan import demo_config

    for i, cell in enumerate(cfg.cells):
        try:
            demo_config(cfg, cell, "/nonexistent-check")
        except ValueError as err:
            raise ValueError(f"{cfg.source}: cell {i} {cell}: {err}") from None
    for p in cfg.probes:
        if p != "detection" and importlib.util.find_spec(f"probes.demo.{p}_steps") is None:
            raise ValueError(f"{cfg.source}: probes: {p!r} has no probes/demo/{p}_steps.py")


def load_sweep(path: str | Path, overrides: list[str] | tuple = ()) -> SweepConfig:
    data = apply_overrides(load_yaml_mapping(path), list(overrides))
    return parse_sweep(data, str(path))
