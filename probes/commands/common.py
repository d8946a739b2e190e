"""Pieces every probe subcommand shares: preset lookup, flag -> override translation, the closing printout.

Imports nothing heavy, so `rice-probe --help` stays fast.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Iterable, Mapping

PRESETS_ROOT = Path(__file__).resolve().parents[2] / "configs"


def resolve_config_path(value: str, preset_dir: Path) -> Path:
    """`value` as a YAML file if it is one, else the preset `preset_dir/<value>.yaml`.

    FileNotFoundError (naming --config, the value and the presets there) when it is neither."""
    path = Path(value).expanduser()
    if path.is_file():
        return path
    preset = preset_dir / f"{value}.yaml"
    if preset.is_file():
        return preset
    known = sorted(p.stem for p in preset_dir.glob("*.yaml")) if preset_dir.is_dir() else []
    raise FileNotFoundError(f"--config {value!r}: no such file and no preset {preset} "
                            f"(presets: {', '.join(known) or 'none found'})")


def flag_overrides(args: argparse.Namespace, flags: Iterable[tuple[str, str]]) -> list[str]:
    """`key=value` overrides for each (attribute, config key) whose flag was given (not None).

    Strings are JSON-quoted so that a value such as "1e-3" or "true" stays a string; absent attributes
    (a flag only one sub-action has) are skipped."""
    out = []
    for flag, key in flags:
        value = getattr(args, flag, None)
        if value is not None:
            out.append(f"{key}={json.dumps(value) if isinstance(value, str) else value}")
    return out


def resume_override(args: argparse.Namespace) -> list[str]:
    """`output.resume=...` from --resume/--no-resume, or nothing where the action has no such flag."""
    if not hasattr(args, "resume"):
        return []
    return [f"output.resume={'true' if args.resume else 'false'}"]


def print_metrics(title: str, metrics: Mapping[str, float], width: int = 12) -> None:
    """The closing printout of a probe command: a title line, then one `name value` line per metric."""
    print(title)
    for key, value in metrics.items():
        print(f"  {key:<{width}} {value:6.2f}")
    sys.stdout.flush()


def print_record(probe: str, record, width: int = 12) -> None:
    """`<probe> run finished|already finished, skipped: PATH` and the record's metrics."""
    state = "already finished, skipped" if record.skipped else "finished"
    print_metrics(f"{probe} run {state}: {record.path}", record.metrics, width)


def require_backbone(cfg):
    """`cfg` itself; ValueError when neither --backbone nor the config's 'backbone' names one."""
    if not cfg.backbone:
        raise ValueError("no backbone: pass --backbone NAME (or set 'backbone' in the config)")
    return cfg
