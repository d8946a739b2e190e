"""A 2 x 2 toy sweep (K x N) through the real commands: killed after its first cell and rerun, it completes
only the rest; its tables equal the cells' own metrics.json; submitit's LocalExecutor gives the same tables."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest
import yaml
from PIL import Image

from probes.cli import main

REPO = Path(__file__).resolve().parents[3]
TINY = {"fast": True,
        "base": {"num_images": 20, "image_size": 128, "pretrain_steps": 3, "pretrain_batch_size": 4,
                 "detection_iters": 3, "detection_size": 112, "ocr": "none"},
        "grid": {"num_clusters": [4, 8], "regions_per_image": [1, 4]}}


def _yaml(tmp: Path, **extra) -> Path:
    """The sweep YAML, with private copies of the presets it names (cells are addressed by their content:
    an edit of configs/ during the test would rightly make new cells)."""
    base = dict(TINY["base"])
    for key, preset in (("pretrain_config", "pretrain/tiny.yaml"), ("detection_config", "detection/tiny.yaml")):
        copy = tmp / preset.replace("/", "_")
        shutil.copyfile(REPO / "configs" / preset, copy)
        base[key] = str(copy)
    curate = tmp / "curate_toy.yaml"
    shutil.copyfile(REPO / "configs" / "curate" / "toy.yaml", curate)
    path = tmp / "tiny.yaml"
    path.write_text(yaml.safe_dump({**TINY, "base": base, "curate_config": str(curate), **extra}))
    return path


def _markers(out: Path) -> dict[str, int]:
    return {str(p.relative_to(out)): p.stat().st_mtime_ns for p in out.glob("*/*/steps/*.json")}


@pytest.fixture(scope="module")
def killed_and_resumed(tmp_path_factory):
    """Start the sweep in a subprocess, SIGKILL it as soon as the first cell is finished, rerun it here."""
    tmp = tmp_path_factory.mktemp("sweep")
    config, out = _yaml(tmp), tmp / "out"
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "OMP_NUM_THREADS": "1"}
    proc = subprocess.Popen([sys.executable, "-m", "probes.cli", "sweep", str(config), "--out", str(out)],
                            cwd=REPO, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                            start_new_session=True)
    try:
        while not list(out.glob("cells/*/job.json")):
            if proc.poll() is not None:
                pytest.fail(f"the sweep ended before its first cell: {proc.stderr.read().decode()[-2000:]}")
            time.sleep(0.05)
    finally:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
    finished = {p.parent.name for p in out.glob("cells/*/job.json")}
    before = {**_markers(out), **{str(p.relative_to(out)): p.stat().st_mtime_ns for p in out.glob("cells/*/job.json")}}
    assert not (out / "results").exists()  # tables only once every cell is done: no half-written rows
    assert main(["sweep", str(config), "--out", str(out)]) == 0
    return out, finished, before


def test_rerun_completes_only_the_rest(killed_and_resumed):
    out, finished, before = killed_and_resumed
    jobs = {p.parent.name: json.loads(p.read_text()) for p in out.glob("cells/*/job.json")}
    assert len(jobs) == 4 and 1 <= len(finished) < 4
    for cell, job in jobs.items():
        assert job["ran"] == ["detection"]  # each cell's probe ran once: in the first run or in the rerun
    after = {**_markers(out), **{str(p.relative_to(out)): p.stat().st_mtime_ns for p in out.glob("cells/*/job.json")}}
    assert {k: after[k] for k in before} == before  # every finished step's marker and cell record untouched
    assert len(after) - len(before) >= 2 * (4 - len(finished))  # the unfinished cells' markers and records
    assert len(_markers(out)) == 4 + 4 * 2 + 1 + 2  # probe, pretrain + export per cell; the world; 2 curations
    assert len(list(out.glob("curations/*"))) == 2 and len(list(out.glob("models/*"))) == 4


def test_tables_equal_the_cells_metrics(killed_and_resumed):
    out, _, _ = killed_and_resumed
    long = pd.read_csv(out / "results" / "sweep_long.csv")
    det = long[long.probe == "detection"]
    assert len(det) == 4 * 12 and set(det.dataset) == {"toy"} and set(det.split) == {"val"}
    for _, row in det.iterrows():
        metrics = json.loads((Path(row.run_dir) / "metrics.json").read_text())["metrics"]
        assert row.value == pytest.approx(metrics[row.metric])
    losses = long[long.probe == "pretrain"]
    assert len(losses) == 4 * 4 and losses.value.nunique() > 1  # last logged losses differ between cells
    for _, row in losses.iterrows():
        last = json.loads((Path(row.run_dir) / "train_log.jsonl").read_text().splitlines()[-1])
        assert row.value == pytest.approx(last[row.metric.removeprefix("loss_")])
    for knob in ("num_clusters", "regions_per_image"):
        wide = pd.read_csv(out / "results" / f"{knob}_wide.csv")
        measured = wide[wide.source == "measured"]
        assert len(measured) == 4
        for _, row in long.iterrows():
            column = f"{row.probe}/{row.dataset}/{row.metric}"
            assert measured.set_index("cell").loc[row.cell, column] == pytest.approx(row.value)
        assert (wide.source != "measured").any()  # the paper's Table 5 rows beside (K and N are ablations)
        assert "Table 5" in (out / "results" / f"{knob}.md").read_text()
        with Image.open(out / "results" / f"{knob}.png") as img:
            assert img.format == "PNG" and min(img.size) > 100


def test_submitit_local_executor_gives_the_same_tables(killed_and_resumed):
    """The same YAML with executor.kind=submitit-local into a new folder that starts with the sequential
    sweep's toy world and curations (to keep the test short): every model and probe run is redone, as a
    job array through submitit, and the tables come out equal."""
    out, _, _ = killed_and_resumed
    config = _yaml(out.parent, executor={"kind": "submitit-local"})
    other = out.parent / "submitit_out"
    for shared in ("worlds", "curations"):
        shutil.copytree(out / shared, other / shared, symlinks=True)
    assert main(["sweep", str(config), "--out", str(other)]) == 0
    # the 4 cells went through submitit; the copied world and curations were found finished, not resubmitted
    assert len(list((other / "submitit").glob("*_result.pkl"))) == 4
    assert all(json.loads(p.read_text())["ran"] == ["detection"] for p in other.glob("cells/*/job.json"))
    for name in ("sweep_long.csv", "num_clusters_wide.csv", "regions_per_image_wide.csv"):
        a, b = pd.read_csv(out / "results" / name), pd.read_csv(other / "results" / name)
        a, b = a.drop(columns=[c for c in a.columns if c == "run_dir"]), b.drop(columns=[c for c in b if c == "run_dir"])
        pd.testing.assert_frame_equal(a, b)
