"""Run an ablation sweep: a grid or list over curation / pretraining knobs (each cell: curate -> pretrain ->
export -> probes, sharing curations and models between cells that need the same one), or a list of
backbones probed with no pretraining. Cells live in content-addressed folders under --out; rerunning the
same command skips everything finished. The YAML is validated whole before any cell starts.

outputs (OUT/results/):
  sweep_long.csv        one row per cell x probe x metric
  <knob>_wide.csv/.md   Table 5's shape per varied knob, with the paper's Table 5 rows beside where it has them
  <knob>.png            a line plot per knob

examples:
  rice-probe sweep configs/sweep/toy.yaml --out sweeps/toy
  rice-probe sweep configs/sweep/toy.yaml --out sweeps/toy executor.kind=parallel executor.workers=2
  rice-probe sweep configs/sweep/paper_N.yaml --out sweeps/N data.images=/data/img10 data.detection=coco:/data/coco
  rice-probe sweep configs/sweep/toy.yaml --list-knobs
"""

from __future__ import annotations

import argparse
import sys

HELP = "ablation sweeps (grid / list of knobs, or of backbones): local, parallel or Slurm via submitit"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("config", help="sweep YAML (see configs/sweep/)")
    parser.add_argument("--out", help="sweep folder (default: the YAML's out_dir, else sweeps/<name>)")
    parser.add_argument("--dry-run", action="store_true", help="validate and print the cells and folders only")
    parser.add_argument("--list-knobs", action="store_true", help="print every knob, its stage and type, and exit")
    parser.add_argument("overrides", nargs="*", metavar="KEY=VALUE",
                        help="dotted overrides of the YAML, e.g. executor.kind=parallel base.pretrain_steps=50")


def run(args: argparse.Namespace) -> int:
    from probes.sweep import load_sweep, run_sweep
    from probes.sweep.knobs import all_knobs

    if args.list_knobs:
        for k in all_knobs().values():
            print(f"{k.name:<22} {k.stage:<9} {k.type.__name__:<6} {k.what}")
        return 0
    cfg = load_sweep(args.config, args.overrides)
    out = args.out or cfg.out_dir or f"sweeps/{cfg.name}"
    if args.dry_run:
        from probes.sweep.plan import plan

        worlds, curations, cells, _ = plan(cfg, out)
        print(f"{len(cells)} cells, {len(curations)} curations; varied: {cfg.varied}")
        for job in cells:
            print(f"  {job.dir}  {job.cell}")
        return 0
    from probes.runner import StepFailed
    from probes.sweep.executors import JobsFailed

    try:
        run_sweep(cfg, out)
    except (StepFailed, JobsFailed) as err:
        print(f"rice-probe sweep: error: {err}", file=sys.stderr)
        return 1
    return 0
