"""Sweep YAML validation: every mistake is one error naming the key and the value, before any cell starts."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml

from probes.cli import main
from probes.sweep import load_sweep, parse_sweep
from probes.sweep.plan import plan

REPO = Path(__file__).resolve().parents[3]
GOOD = {"fast": True, "base": {"num_images": 20}, "grid": {"num_clusters": [4, 8], "regions_per_image": [1, 4]}}


@pytest.mark.parametrize("change, message", [
    ({"grid": {"num_clusterz": [4]}}, "unknown knob 'num_clusterz'"),
    ({"grid": {"num_clusters": [4, "many"]}}, "knob 'num_clusters' = 'many' must be of type int"),
    ({"grid": {"regions_per_image": [1.5]}}, "knob 'regions_per_image' = 1.5 must be of type int"),
    ({"grid": {"region_losses": ["yes"]}}, "knob 'region_losses' = 'yes' must be of type bool"),
    ({"grid": {}}, "grid = {}: must be a non-empty mapping"),
    ({"grid": {"num_clusters": []}}, "grid.num_clusters = []: must be a non-empty list"),
    ({"grid": None, "cells": []}, "cells = []: must be a non-empty list"),
    ({"cells": [{}]}, "give exactly one of grid, cells, backbones (found: ['grid', 'cells'])"),
    ({"grid": None, "cells": [{}, {"teacher": "gpt"}]}, "knob 'teacher' = 'gpt' must be one of kmeans, oracle"),
    ({"probes": ["detection", "segmentation3d"]}, "unknown probe 'segmentation3d'"),
    ({"base": {"num_images": 3}}, "knob 'num_images' = 3 must be >= 10"),
    ({"executor": {"kind": "kubernetes"}}, "executor.kind = 'kubernetes'"),
    ({"executor": {"kind": "slurm", "slurm": {"gpus_per_node": "two"}}}, "executor.slurm.gpus_per_node = 'two'"),
    ({"colour": "blue"}, "unknown key 'colour'"),
    ({"grid": None, "backbones": ["clip-vit-tiny"], "probes": ["nope"]}, "unknown probe 'nope'"),
])
def test_bad_input_names_key_and_value(change, message):
    data = {**GOOD, **change}
    data = {k: v for k, v in data.items() if v is not None}
    with pytest.raises(ValueError, match=re.escape(message)):
        parse_sweep(data, "bad.yaml")


def test_cli_refuses_before_any_cell_starts(tmp_path, capsys):
    path = tmp_path / "bad.yaml"
    path.write_text(yaml.safe_dump({**GOOD, "grid": {"num_clusters": [4, "x"]}}))
    out = tmp_path / "out"
    assert main(["sweep", str(path), "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert "bad.yaml" in err and "num_clusters" in err and "'x'" in err
    assert not out.exists()  # nothing written


def test_grid_expands_and_ids_are_content_addressed(tmp_path):
    cfg = parse_sweep(GOOD, "good.yaml")
    assert len(cfg.cells) == 4 and cfg.varied == ["num_clusters", "regions_per_image"]
    worlds, curations, cells, _ = plan(cfg, tmp_path)
    assert len(worlds) == 1 and len(curations) == 2  # K is a curation knob, N a pretraining knob
    assert len({c.id for c in cells}) == 4 and len({c.model.id for c in cells}) == 4
    # the same sweep plans the same folders; a changed cell is a new folder, the unchanged ones are kept
    again = plan(parse_sweep({**GOOD, "grid": {"num_clusters": [4, 9], "regions_per_image": [1, 4]}}, "x"), tmp_path)
    assert [c.id for c in plan(cfg, tmp_path)[2]] == [c.id for c in cells]
    assert len({c.id for c in cells} & {c.id for c in again[2]}) == 2
    # a probe knob changes the cell, not the model (the pretraining is shared)
    probe_change = plan(parse_sweep({**GOOD, "base": {"num_images": 20, "detection_iters": 7}}, "x"), tmp_path)[2]
    assert [c.model.id for c in probe_change] == [c.model.id for c in cells]
    assert not {c.id for c in probe_change} & {c.id for c in cells}


@pytest.mark.parametrize("name", ["toy", "toy_teacher", "paper_N", "paper_K", "paper_rho", "paper_M", "backbones_toy"])
def test_presets_parse(name, tmp_path):
    overrides = []
    if name.startswith("paper"):  # real data: point the preset at (empty) stand-in folders to parse it
        (tmp_path / "images").mkdir()
        overrides = [f"data.images={tmp_path / 'images'}", f"data.detection=coco:{tmp_path}"]
    cfg = load_sweep(REPO / "configs" / "sweep" / f"{name}.yaml", overrides)
    assert cfg.cells and cfg.probes
    if name.startswith("paper"):  # the paper's ablation: one knob, over exactly Table 5's values for it
        import pandas as pd

        from probes.sweep.knobs import all_knobs

        (knob,) = cfg.varied
        table5 = pd.read_csv(REPO / "results" / "paper" / "table5_ablations.csv")
        paper = sorted({float(v) for v in table5.loc[table5.ablation == all_knobs()[knob].paper, "value"]})
        assert paper and sorted(float(c[knob]) for c in cfg.cells) == paper


def test_bootstrap_teacher_is_a_second_round(tmp_path):
    cfg = parse_sweep({**GOOD, "grid": None, "cells": [{"teacher": "kmeans"}, {"teacher": "bootstrap"}]}, "b")
    _, curations, cells, teachers = plan(cfg, tmp_path)
    first, second = cells
    assert (first.round, second.round) == (1, 2) and len(teachers) == 1
    assert teachers[0].id == first.model.id  # the teacher is the first round's model of the same knobs
    assert second.cell["embedder"] == str(tmp_path / "models" / first.model.id / "backbones" / "rice-toy")
    assert [c.round for c in curations] == [1, 2] and curations[1].cell["embedder"] == second.cell["embedder"]


def test_another_probes_knob_changes_no_detection_cell(tmp_path):
    cells = plan(parse_sweep(GOOD, "x"), tmp_path)[2]
    other = plan(parse_sweep({**GOOD, "base": {"num_images": 20, "tracking_epochs": 3}}, "x"), tmp_path)[2]
    assert [c.id for c in other] == [c.id for c in cells]
