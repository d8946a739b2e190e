"""`rice-probe ...`: the probing suite's command line. One module per subcommand under probes/commands/."""

from __future__ import annotations

import argparse
import sys
from typing import Sequence

from rice.commandline import build_parser as _build_parser, run_command

# subcommand name -> module under probes.commands; each has HELP, `add_arguments(parser)` and `run(args) -> int`
SUBCOMMANDS = {
    "detection": "probes.commands.detection",
    "leaderboard": "probes.commands.leaderboard",
    "demo": "probes.commands.demo",
    "refseg": "probes.commands.refseg",
    "mllm": "probes.commands.mllm",
    "tracking": "probes.commands.tracking",
    "sweep": "probes.commands.sweep",
    "figures": "probes.commands.figures",
}


def build_parser() -> argparse.ArgumentParser:
    description = "Frozen-backbone probes (Cascade Mask R-CNN detection, ...) and leaderboards of their runs."
    return _build_parser("rice-probe", description, SUBCOMMANDS)


def main(argv: Sequence[str] | None = None) -> int:
    return run_command(build_parser(), argv)


if __name__ == "__main__":
    sys.exit(main())
