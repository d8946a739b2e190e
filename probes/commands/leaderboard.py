"""Collect finished runs into leaderboard tables, with the paper's published rows beside them.

Writes OUT.csv (long: one row per probe, dataset, split, metric, backbone, run, with the protocol
columns), OUT_wide_<probe>.csv (one row per backbone, shaped like the paper's table of that probe:
Table 1 mllm, Table 2 refseg, Table 3 detection, Table 4 tracking, with `<column>_delta` against
--baseline), OUT_wide.csv (all probes' wide rows together) and OUT.md (one section per probe, also
printed). A backbone is identified by its weights' fingerprint: two different models of the same
name are two rows. Runs of the same probe and dataset whose protocol (resolution, schedule, split,
and any other protocol field such as a tuned tower) differs are refused unless --allow-mixed.

example:
  rice-probe leaderboard runs -o results/detection.csv --baseline mlcd-vit-tiny
"""

from __future__ import annotations

import argparse
from pathlib import Path

HELP = "write long / wide / Markdown leaderboards from run directories"
PAPER_DIR = Path(__file__).resolve().parents[2] / "results" / "paper"  # = probes.leaderboard.PAPER_DIR


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("runs_dir", metavar="RUNS_DIR", help="root holding <probe>/<dataset>/<backbone>/<run_id>/")
    parser.add_argument("-o", "--output", required=True, metavar="OUT.csv",
                        help="long table path; OUT_wide.csv and OUT.md are written beside it")
    parser.add_argument("--baseline", metavar="NAME",
                        help="backbone (or paper method) that deltas are taken against")
    parser.add_argument("--allow-mixed", action="store_true",
                        help="put runs with different protocols (resolution, schedule, split) side by side")
    parser.add_argument("--paper-dir", type=Path, default=PAPER_DIR, help="where the paper's tables are")
    parser.add_argument("--no-paper", action="store_true", help="leave the paper's rows out")


def run(args: argparse.Namespace) -> int:
    from probes.leaderboard import build_leaderboard, check_output, write_leaderboard

    check_output(args.output)  # before the runs are read
    board = build_leaderboard(args.runs_dir, args.baseline, args.allow_mixed,
                              None if args.no_paper else args.paper_dir)
    paths = write_leaderboard(board, args.output)
    print(board.markdown)
    print("wrote " + ", ".join(str(p) for p in paths.values()))
    return 0
