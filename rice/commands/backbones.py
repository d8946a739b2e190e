"""List the registered backbone presets: name, family, patch, width, native resolution, weight source, and
whether the hub id was checked to exist (UNVERIFIED: expected name only; point the preset at a local copy).

Any preset name, a `timm:NAME` / `open_clip:NAME[:TAG]` spec, or a local Hugging Face directory can be passed
wherever a backbone is asked for (`rice-probe detection --backbone ...`).
"""

from __future__ import annotations

import argparse

HELP = "list the registered backbone presets"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--format", choices=["table", "markdown", "csv"], default="table", help="output format")


def format_table(rows: list[list[str]], fmt: str) -> str:
    header, body = rows[0], rows[1:]
    if fmt == "csv":
        return "\n".join(",".join(r) for r in rows)
    widths = [max(len(r[i]) for r in rows) for i in range(len(header))]
    if fmt == "markdown":
        line = lambda r: "| " + " | ".join(c.ljust(w) for c, w in zip(r, widths)) + " |"  # noqa: E731
        return "\n".join([line(header), "|" + "|".join("-" * (w + 2) for w in widths) + "|", *map(line, body)])
    line = lambda r: "  ".join(c.ljust(w) for c, w in zip(r, widths)).rstrip()  # noqa: E731
    return "\n".join([line(header), line(["-" * w for w in widths]), *map(line, body)])


def _hub_status(info) -> str:
    if info.source == "random-init":
        return "-"
    return "verified" if info.hub_verified else "UNVERIFIED"


def run(args: argparse.Namespace) -> int:
    from rice.backbones import list_backbones

    rows = [["name", "family", "patch", "dim", "resolution", "source", "hub id"]]
    rows += [[p.name, p.family, str(p.patch_size), str(p.embed_dim), str(p.image_size), p.source, _hub_status(p)]
             for p in list_backbones()]
    print(format_table(rows, args.format))
    return 0
