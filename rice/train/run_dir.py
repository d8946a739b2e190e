"""Checks a run makes before it writes anything: the output folder is writable, the device exists, and a
run directory that already holds a run was made with the same resolved configuration.

Every failure is a ValueError / FileNotFoundError / FileExistsError with one line naming the file, the field
and the value, which the command line turns into exit code 2.
"""

from __future__ import annotations

import json
import tempfile
from pathlib import Path
from typing import Any

import yaml

# fields that cannot change the weights or the logged numbers (resume is exact whatever the checkpoint spacing):
# a resumed run may differ in them. data.num_workers is not one: workers interleave the shards differently.
NON_RESULT_FIELDS = ("loop.progress", "loop.checkpoint_every", "loop.keep_checkpoints")


def check_writable_dir(path: Path, flag: str) -> None:
    """`path` is, or can be created as, a folder this process can write into."""
    path = Path(path)
    if path.exists() and not path.is_dir():
        raise FileExistsError(f"{flag} {path}: is a file, not a folder")
    parent = path
    while not parent.exists():
        parent = parent.parent
    if not parent.is_dir():
        raise FileExistsError(f"{flag} {path}: {parent} is a file, not a folder")
    try:  # a real probe: os.access says yes to root even on a read-only mount
        tempfile.TemporaryFile(dir=parent).close()
    except OSError as err:
        raise ValueError(f"{flag} {path}: folder {parent} is not writable ({err.strerror})") from None


def check_device(device: str) -> None:
    """`--device cuda[:N]` on a machine without that GPU is a user mistake, said before any work starts."""
    if device in ("auto", "cpu"):
        return
    if not device.startswith("cuda"):
        raise ValueError(f"--device {device}: expected auto, cpu, cuda or cuda:N")
    import torch

    if not torch.cuda.is_available():
        raise ValueError(f"--device {device}: no CUDA GPU is available on this machine (torch.cuda.is_available() "
                         "is False); use --device cpu")
    index = int(device.split(":", 1)[1]) if ":" in device else 0
    if index >= torch.cuda.device_count():
        raise ValueError(f"--device {device}: only {torch.cuda.device_count()} CUDA device(s)")


def flatten(data: Any, prefix: str = "") -> dict[str, Any]:
    if isinstance(data, dict):
        out: dict[str, Any] = {}
        for key, value in data.items():
            out.update(flatten(value, f"{prefix}{key}."))
        return out
    return {prefix[:-1]: data}


def config_differences(old: dict, new: dict, ignore: tuple[str, ...] = NON_RESULT_FIELDS) -> list[str]:
    """'field: old -> new' for every leaf that differs (fields in `ignore` excepted)."""
    a, b = flatten(old), flatten(new)
    return [f"{k}: {a.get(k)!r} -> {b.get(k)!r}" for k in sorted(set(a) | set(b))
            if k not in ignore and a.get(k) != b.get(k)]


def check_run_dir(run_dir: Path, resolved: dict, config_name: str = "config.yaml",
                  resume_anyway: bool = False) -> bool:
    """Whether `run_dir` already holds a run; refuse one made with another configuration.

    A non-empty folder without `config_name` is refused too (it is not a run of this command), so an
    existing folder of other files is never written into.
    """
    run_dir = Path(run_dir)
    saved = run_dir / config_name
    if not saved.is_file():
        # an atomic write killed half-way leaves only its hidden .tmp file: that folder is still ours to start
        leftovers = [p for p in run_dir.iterdir() if not (p.name.startswith(".") and p.name.endswith(".tmp"))] \
            if run_dir.is_dir() else []
        if leftovers:
            raise FileExistsError(f"--out {run_dir}: the folder is not empty and holds no {config_name}; "
                                  "pick a new or empty folder")
        return False
    try:
        old = yaml.safe_load(saved.read_text()) or {}
    except yaml.YAMLError as err:
        raise ValueError(f"{saved}: not valid YAML ({err}); pick a new --out") from None
    changed = config_differences(old, resolved)
    if changed and not resume_anyway:
        raise ValueError(f"{saved}: this run directory was trained with another configuration "
                         f"({'; '.join(changed)}); rerun with the same settings to resume, pass "
                         "--resume-anyway to continue with the new ones, or pick a new --out")
    return True


DATA_FILE = "data_fingerprint.json"  # the run's `rice.data.fingerprint.data_fingerprint`, beside config.yaml


def check_run_data(run_dir: Path, fingerprint: dict, resume_anyway: bool = False) -> None:
    """Refuse to resume a run in `run_dir` whose saved data fingerprint differs from `fingerprint`.

    Called only for a folder that already holds a run. A run without DATA_FILE (made before data was
    fingerprinted, or killed between its config and fingerprint writes) is accepted: its data is recorded now.
    """
    saved = Path(run_dir) / DATA_FILE
    if not saved.is_file():
        return
    try:
        old = json.loads(saved.read_text())
    except json.JSONDecodeError as err:
        raise ValueError(f"{saved}: not valid JSON ({err}); pick a new --out") from None
    from rice.data.fingerprint import fingerprint_differences

    changed = fingerprint_differences(old, fingerprint)
    if changed and not resume_anyway:
        moved = f" (was {old.get('folder')})" if old.get("folder") != fingerprint["folder"] else ""
        raise ValueError(f"{saved}: this run directory was trained on other data in {fingerprint['folder']}{moved} "
                         f"({'; '.join(changed)}); resume with the data it was trained on, pass --resume-anyway "
                         "to continue on the new data, or pick a new --out")
