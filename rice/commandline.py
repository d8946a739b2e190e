"""The machinery both console scripts share: one module per subcommand, user errors as exit code 2.

A subcommand module has a docstring (its --help text), `HELP` (one line), `add_arguments(parser)` and
`run(args) -> int`.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from typing import Mapping, Sequence


class HelpFormatter(argparse.RawDescriptionHelpFormatter, argparse.ArgumentDefaultsHelpFormatter):
    """Keeps the layout of module docstrings (usage examples) and shows each argument's default once.

    "(default: X)" is added only when there is a default worth showing (not None, not a store_true
    False, not an empty list) and the help text does not already say "default" itself.
    """

    def _get_help_string(self, action: argparse.Action) -> str | None:
        text = action.help or ""
        default = action.default  # identity for None/False: 0 is a default worth showing, False is not
        if "default" in text.lower() or default is None or default is False or default is argparse.SUPPRESS \
                or (isinstance(default, (list, str)) and not default):
            return text
        return super()._get_help_string(action)


def build_parser(prog: str, description: str, subcommands: Mapping[str, str]) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog=prog, description=description, formatter_class=HelpFormatter)
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for name, module_name in subcommands.items():
        module = importlib.import_module(module_name)
        p = sub.add_parser(name, help=module.HELP, description=module.__doc__, formatter_class=HelpFormatter)
        module.add_arguments(p)
        p.set_defaults(_run=module.run)
    return parser


def run_command(parser: argparse.ArgumentParser, argv: Sequence[str] | None) -> int:
    """Parse and run; a user mistake (bad value, missing file, existing output) prints one line and returns 2."""
    args = parser.parse_args(argv)
    try:
        return int(args._run(args) or 0)
    except (ValueError, FileNotFoundError, FileExistsError) as err:
        print(f"{parser.prog} {args.command}: error: {err}", file=sys.stderr)
        return 2
