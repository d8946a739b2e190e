"""`rice-probe sweep`: ablation grids over curation / pretraining knobs, or lists of backbones, through the
shared step runner (probes.runner); see probes/sweep/config.py for the YAML and plan.py for the folders.

    from probes.sweep import load_sweep, run_sweep
    run_sweep(load_sweep("configs/sweep/toy.yaml"), "sweeps/toy")
"""

from .config import SweepConfig, load_sweep, parse_sweep

__all__ = ["SweepConfig", "load_sweep", "parse_sweep", "run_sweep"]


def run_sweep(cfg, out):  # heavy imports (torch via the jobs) only when a sweep runs
    from .run import run_sweep as _run

    return _run(cfg, out)
