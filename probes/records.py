"""Run directories: `runs/<probe>/<dataset>/<backbone>/<run_id>/` with config.yaml, metrics.json, tb/, checkpoint.

Every file is written atomically (temp file in the same directory + `os.replace`), so a killed run
never leaves a half-written record; `metrics.json` is written last and marks a run as finished.
"""

from __future__ import annotations

import hashlib
import json
import os
import platform
import re
import shutil
import subprocess
import sys
import tempfile
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Callable

import yaml

# torch is imported inside the functions that need it, so `rice-probe --help` stays fast

CONFIG_FILE = "config.yaml"
METRICS_FILE = "metrics.json"
CHECKPOINT_FILE = "checkpoint.pt"
IDENTITY_FILE = "identity.json"  # the named fingerprints (config, weights, data, ...) a run was started for
TENSORBOARD_DIR = "tb"


def safe_name(text: str) -> str:
    """A path component from a backbone / dataset name ('org/model' -> 'org_model')."""
    cleaned = re.sub(r"[^A-Za-z0-9._+-]+", "_", str(text)).strip("._")
    return cleaned or "unnamed"


def make_dirs(path: Path) -> Path:
    """mkdir -p whose new folders are 0755 whatever the umask (records are meant to be shared)."""
    missing, node = [], Path(path)
    while not node.exists() and node != node.parent:
        missing.append(node)
        node = node.parent
    for folder in reversed(missing):
        folder.mkdir(exist_ok=True)
        os.chmod(folder, 0o755)
    return Path(path)


def _atomic(path: Path, write: Callable[[Path], None]) -> Path:
    path = Path(path)
    make_dirs(path.parent)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    try:
        write(Path(tmp))
        os.chmod(tmp, 0o644)  # mkstemp creates 0600; records and tables are meant to be shared
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


def atomic_write_text(path: str | Path, text: str) -> Path:
    return _atomic(Path(path), lambda tmp: tmp.write_text(text))


def atomic_write_json(path: str | Path, obj: Any) -> Path:
    return atomic_write_text(path, json.dumps(obj, indent=2, sort_keys=False) + "\n")


def config_hash(config: dict) -> str:
    blob = json.dumps(config, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha1(blob.encode()).hexdigest()[:10]


def code_revision() -> str:
    """`git rev-parse HEAD` of the checkout holding this package (with '+dirty' for local edits), or 'unknown'."""
    root = Path(__file__).resolve().parents[1]
    try:
        rev = subprocess.run(["git", "rev-parse", "HEAD"], cwd=root, capture_output=True, text=True, timeout=10)
        if rev.returncode != 0:
            return "unknown"
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=root,
                               capture_output=True, text=True, timeout=10)
        return rev.stdout.strip() + ("+dirty" if dirty.stdout.strip() else "")
    except (OSError, subprocess.SubprocessError):
        return "unknown"


def environment() -> dict:
    import torch
    import torchvision

    return {
        "python": sys.version.split()[0],
        "torch": torch.__version__,
        "torchvision": torchvision.__version__,
        "platform": platform.platform(),
        "cuda": torch.cuda.is_available(),
        "threads": torch.get_num_threads(),
    }


def now_iso() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


class RunDir:
    """One run's directory. Creating the object touches nothing on disk; `prepare` does."""

    def __init__(self, path: str | Path):
        self.path = Path(path)

    @classmethod
    def locate(cls, runs_dir: str | Path, probe: str, dataset: str, backbone: str, run_id: str) -> "RunDir":
        return cls(Path(runs_dir) / safe_name(probe) / safe_name(dataset) / safe_name(backbone) / safe_name(run_id))

    config_path = property(lambda self: self.path / CONFIG_FILE)
    metrics_path = property(lambda self: self.path / METRICS_FILE)
    checkpoint_path = property(lambda self: self.path / CHECKPOINT_FILE)
    tensorboard_dir = property(lambda self: self.path / TENSORBOARD_DIR)
    identity_path = property(lambda self: self.path / IDENTITY_FILE)

    @property
    def finished(self) -> bool:
        return self.metrics_path.is_file()

    def prepare(self, config: dict, compare_ignoring: tuple[str, ...] = ()) -> None:
        """Create the directory and write config.yaml; an existing run must hold the same config."""
        if self.config_path.is_file():
            old = yaml.safe_load(self.config_path.read_text()) or {}
            diff = _first_difference({k: v for k, v in old.items() if k not in compare_ignoring},
                                     {k: v for k, v in config.items() if k not in compare_ignoring})
            if diff:
                raise ValueError(f"{self.config_path}: this run directory holds a different config ({diff}); "
                                 f"choose another --run-id or delete the directory")
        make_dirs(self.path)
        atomic_write_text(self.config_path, yaml.safe_dump(config, sort_keys=False))

    def check_identity(self, expected: dict) -> bool:
        """Whether this directory holds the finished run of `expected` (named fingerprints), so it may be skipped.

        A finished or started run of another identity is refused, naming the fields that differ, and so is a run
        without a recorded identity: what another config, other weights or other data produced is never reused.
        """
        if not self.identity_path.is_file():
            if self.finished or self.checkpoint_path.is_file():
                raise ValueError(f"{self.path}: holds a run without a recorded identity ({IDENTITY_FILE}); "
                                 f"delete it or choose another --run-id")
            return False
        found = json.loads(self.identity_path.read_text())
        differ = [k for k in sorted(set(found) | set(expected)) if found.get(k) != expected.get(k)]
        if differ:
            fields = "; ".join(f"field '{k}' = {found.get(k)!r} there vs {expected.get(k)!r} now" for k in differ)
            state, way = (("a finished run", "choose another --run-id or delete it") if self.finished else
                          ("an unfinished run", "pass --no-resume to start it over, or choose another --run-id"))
            raise ValueError(f"{self.identity_path}: {state} with another identity ({fields}); {way}")
        return self.finished

    def write_identity(self, expected: dict) -> Path:
        return atomic_write_json(self.identity_path, expected)

    def done(self, expected: dict) -> bool:
        """A finished run of `expected` is here (skip it); a finished run of another identity is refused."""
        return self.finished and self.check_identity(expected)

    def start(self, expected: dict, config: dict, resume: bool = True) -> None:
        """Begin or resume the run of `expected` here: without `resume` an unfinished run is cleared first;
        then its identity and config must match; config.yaml and identity.json are written (rank 0 only)."""
        if not resume and self.path.exists():
            shutil.rmtree(self.path)
        self.check_identity(expected)
        self.prepare(config, compare_ignoring=("output",))
        self.write_identity(expected)

    def save_checkpoint(self, state: dict) -> Path:
        from rice.train.checkpoint import atomic_torch_save

        atomic_torch_save(state, self.checkpoint_path)
        return self.checkpoint_path

    def load_checkpoint(self) -> dict | None:
        if not self.checkpoint_path.is_file():
            return None
        import torch

        return torch.load(self.checkpoint_path, map_location="cpu", weights_only=False)

    def write_metrics(self, record: dict) -> Path:
        return atomic_write_json(self.metrics_path, record)

    def read_metrics(self) -> dict:
        return json.loads(self.metrics_path.read_text())


def _first_difference(a: Any, b: Any, path: str = "") -> str:
    if isinstance(a, dict) and isinstance(b, dict):
        for key in sorted(set(a) | set(b)):
            where = f"{path}.{key}" if path else key
            if key not in a or key not in b:
                return f"field '{where}' is only in one of them"
            found = _first_difference(a[key], b[key], where)
            if found:
                return found
        return ""
    if a != b:
        return f"field '{path}': {a!r} there vs {b!r} now"
    return ""
