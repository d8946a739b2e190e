"""The Probe contract: a module with a config dataclass and `run(cfg, backbone) -> RunRecord`.

Probes register by decorator; `get_probe(name)` imports the probe's module on demand so that
`import probes` stays light.
"""

from __future__ import annotations

import difflib
import importlib
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

from .records import METRICS_FILE

# probe name -> module that registers it on import
PROBE_MODULES = {
    "detection": "probes.detection",
    "refseg": "probes.refseg",
    "mllm": "mllm.probe",
    "tracking": "tracking.probe",
}


@dataclass
class OutputConfig:
    """Where a probe run goes (every probe's config has one); not part of the run's identity: a run id hashes
    the config without it, the backbone's weights and the data."""

    runs_dir: str = "runs"
    run_id: str = ""  # "" -> <preset>-s<seed>-<identity hash>
    resume: bool = True


@dataclass
class RunRecord:
    """What a probe run hands back: where it lives and what metrics.json says."""

    path: Path
    record: dict = field(default_factory=dict)  # the content of metrics.json
    skipped: bool = False  # True when the run had already finished and was not run again

    @property
    def metrics(self) -> dict[str, float]:
        return self.record.get("metrics", {})

    @classmethod
    def load(cls, path: str | Path, skipped: bool = False) -> "RunRecord":
        path = Path(path)
        file = path / METRICS_FILE if path.is_dir() else path
        if not file.is_file():
            raise FileNotFoundError(f"{file}: no metrics.json (the run has not finished)")
        return cls(path=file.parent, record=json.loads(file.read_text()), skipped=skipped)


@dataclass(frozen=True)
class ProbeSpec:
    name: str
    config_cls: type
    run: Callable[..., RunRecord]
    doc: str = ""


_PROBES: dict[str, ProbeSpec] = {}


def register_probe(name: str, config_cls: type) -> Callable:
    """Decorator for a probe's `run(cfg, backbone) -> RunRecord`."""

    def wrap(fn: Callable[..., RunRecord]) -> Callable[..., RunRecord]:
        if name in _PROBES and _PROBES[name].run is not fn:
            raise ValueError(f"probe {name!r} is registered twice")
        _PROBES[name] = ProbeSpec(name, config_cls, fn, (fn.__doc__ or "").strip())
        return fn

    return wrap


def get_probe(name: str) -> ProbeSpec:
    if name not in _PROBES and name in PROBE_MODULES:
        importlib.import_module(PROBE_MODULES[name])
    if name not in _PROBES:
        known = sorted(set(_PROBES) | set(PROBE_MODULES))
        close = difflib.get_close_matches(name, known, n=3)
        hint = f"; did you mean {', '.join(close)}?" if close else ""
        raise ValueError(f"unknown probe {name!r}{hint} (known: {', '.join(known)})")
    return _PROBES[name]


def list_probes() -> list[str]:
    return sorted(set(_PROBES) | set(PROBE_MODULES))


def probe_config(name: str) -> Any:
    return get_probe(name).config_cls
