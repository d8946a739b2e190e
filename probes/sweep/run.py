"""`run_sweep(cfg, out)`: plan the cells, run the phases (worlds -> curations -> models -> cells) through the
chosen executor, then write the tables from the finished cells. Rerunning resumes: every job skips its
finished steps (probes.runner), so only unfinished work runs again.
"""

from __future__ import annotations

import time
from pathlib import Path

import yaml

from probes.records import atomic_write_json, atomic_write_text
from probes.runner import clock

from .config import SweepConfig
from .executors import run_phase
from .plan import plan
from .tables import write_tables

SUMMARY_FILE = "sweep_summary.json"


def run_sweep(cfg: SweepConfig, out: str | Path) -> dict:
    root = Path(out).expanduser().absolute()
    start = time.time()
    worlds, curations, cells, teachers = plan(cfg, root)
    root.mkdir(parents=True, exist_ok=True)
    atomic_write_text(root / "sweep.yaml", yaml.safe_dump({"source": cfg.source, "cells": cfg.cells,
                                                           "probes": cfg.probes, "fast": cfg.fast}, sort_keys=False))
    folder = Path(cfg.executor.folder or root / "submitit")
    models = len({c.model.id for c in cells if c.model is not None})
    print(f"sweep {cfg.name}: {len(cells)} cells ({len(worlds)} toy worlds, {len(curations)} curations, "
          f"{models} models) -> {root}  [executor: {cfg.executor.kind}]", flush=True)
    run_phase(worlds, cfg.executor, folder)
    records = []
    for round_ in sorted({c.round for c in cells}):  # round 2: bootstrapped teachers need round 1's models
        run_phase([c for c in curations if c.round == round_], cfg.executor, folder)
        run_phase([t for t in teachers if t.round == round_], cfg.executor, folder)
        records += run_phase([c for c in cells if c.round == round_], cfg.executor, folder)
    order = {c.id: i for i, c in enumerate(cells)}
    records.sort(key=lambda r: order[r["id"]])
    tables = write_tables(records, cfg.probes, cfg.varied, root / "results")
    summary = {"name": cfg.name, "source": cfg.source, "out_dir": str(root), "varied": cfg.varied,
               "cells": [{"id": r["id"], "dir": r["dir"], "knobs": r["cell"],
                          "metrics": {p: r["results"][p]["metrics"] for p in cfg.probes}} for r in records],
               "tables": tables, "seconds": round(time.time() - start, 2)}
    atomic_write_json(root / SUMMARY_FILE, summary)
    print(f"\nsweep {cfg.name} finished in {clock(summary['seconds'])}: {tables['long_csv']}")
    for knob, files in tables["knobs"].items():
        print(f"  {knob}: {files['wide_csv']}\n  {' ' * len(knob)}  {files['markdown']}\n"
              f"  {' ' * len(knob)}  {files['plot']}")
    return summary
