"""The one step runner of the suite: `rice-probe demo` and every job of `rice-probe sweep` go through it.

A step is a named function `(ctx, results) -> dict` (ctx: the job's config, e.g. a DemoConfig; results: the
results of the earlier steps of the job, by name) whose returned dict is JSON-able. After a step succeeded
its result is written atomically to a done-marker `MARKERS/NN-name.json`; a rerun loads the markers of
finished steps instead of running them (the step's own command resumes where it was killed: curate,
pretrain and the probes keep checkpoints). A marker whose result names a "dir" that no longer exists is
stale: that step runs again. A killed job therefore leaves finished markers and at most one unfinished
step, never a half-written marker.

Steps call the real commands in this process through `rice_cli` / `probe_cli` (printing the argv, so every
step can be repeated by hand).
"""

from __future__ import annotations

import json
import shlex
import time
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterator, Sequence

from probes.records import atomic_write_json, now_iso


@contextmanager
def torch_threads(n: int) -> Iterator[None]:
    """torch's intra-op threads set to `n` while the block runs (n <= 0: unchanged), restored after.

    Every probe's `run` and the demo wrap their work in it, so that a caller's thread count survives."""
    import torch  # here, not at the top: the CLI imports this module for --help

    before = torch.get_num_threads()
    if n > 0:
        torch.set_num_threads(n)
    try:
        yield
    finally:
        torch.set_num_threads(before)


class StepFailed(RuntimeError):
    """A command run by a step exited with an error (which it has printed)."""


@dataclass(frozen=True)
class Step:
    name: str
    run: Callable[[Any, dict], dict]  # (config, results of earlier steps by name) -> this step's result
    what: str = ""


@dataclass
class Outcome:
    """What `run_steps` returns: every step's result and seconds (from markers or from this run)."""

    results: dict = field(default_factory=dict)
    seconds: dict = field(default_factory=dict)
    ran: list = field(default_factory=list)  # names of the steps that ran in this call (not loaded)


def call(prog: str, main: Callable[[Sequence[str]], int], argv: list) -> None:
    """Run `prog argv` in this process; a non-zero exit becomes StepFailed naming the command."""
    argv = [str(a) for a in argv]
    command = f"{prog} {shlex.join(argv)}"
    print(f"$ {command}", flush=True)
    code = main(argv)
    if code:
        raise StepFailed(f"`{command}` exited with status {code} (its error is printed above)")


def rice_cli(argv: list) -> None:
    from rice.cli import main

    call("rice", main, argv)


def probe_cli(argv: list) -> None:
    from probes.cli import main

    call("rice-probe", main, argv)


def marker_path(markers: Path, index: int, step: Step) -> Path:
    return Path(markers) / f"{index:02d}-{step.name}.json"


def clock(seconds: float) -> str:
    m, s = divmod(int(round(seconds)), 60)
    return f"{m}m{s:02d}s"


def load_marker(path: Path) -> dict | None:
    """A finished step's marker, or None when it is missing or stale (a result "dir" that is gone)."""
    if not path.is_file():
        return None
    done = json.loads(path.read_text())
    out_dir = done.get("result", {}).get("dir") if isinstance(done.get("result"), dict) else None
    if out_dir and not Path(out_dir).exists():
        print(f"{path}: its output {out_dir} is gone; running the step again", flush=True)
        return None
    return done


def run_steps(steps: Sequence[Step], ctx: Any, markers: Path, *, results: dict | None = None,
              label: str = "", banner: bool = True) -> Outcome:
    """Run (or resume) `steps` in order with done-markers under `markers`; raises the first failure.

    `results` seeds the results dict (e.g. a sweep cell gets its curation's results); `label` prefixes
    the progress lines (a sweep names the cell).
    """
    start, out = time.time(), Outcome(results=dict(results or {}))
    prefix = f"{label} " if label else ""
    for i, step in enumerate(steps, 1):
        marker = marker_path(markers, i, step)
        head = f"{prefix}[{i}/{len(steps)}] {step.name}: {step.what}"
        done = load_marker(marker)
        if done is not None:
            out.results[step.name], out.seconds[step.name] = done["result"], done["seconds"]
            print(f"{head} -- done earlier ({marker.name}), skipped", flush=True)
            continue
        if banner:
            print(f"\n{'=' * 100}\n{head}  [elapsed {clock(time.time() - start)}]\n{'=' * 100}", flush=True)
        else:
            print(head, flush=True)
        tick = time.time()
        try:
            result = step.run(ctx, out.results)
        except BaseException as err:
            print(f"{prefix}[{i}/{len(steps)}] {step.name}: FAILED after {clock(time.time() - tick)} "
                  f"({type(err).__name__}); finished steps are kept: rerun the same command to resume from "
                  "this step", flush=True)
            raise
        seconds = round(time.time() - tick, 2)
        atomic_write_json(marker, {"step": step.name, "finished": now_iso(), "seconds": seconds, "result": result})
        out.results[step.name], out.seconds[step.name] = result, seconds
        out.ran.append(step.name)
        print(f"{prefix}[{i}/{len(steps)}] {step.name}: finished in {clock(seconds)}", flush=True)
    return out


def metric_groups(results: dict, names: Sequence[str]) -> dict[str, dict[str, dict]]:
    """Every step result with a "metrics" key, grouped by probe: {probe: {backbone: metrics}}.

    A step named `<probe>-<backbone>` (backbone one of `names`) goes under `probe`; any other step with
    metrics goes under its own name with the backbone "" (so new probe steps appear without edits).
    """
    groups: dict[str, dict[str, dict]] = {}
    for step, result in results.items():
        if not isinstance(result, dict) or not isinstance(result.get("metrics"), dict):
            continue
        backbone = next((n for n in sorted(names, key=len, reverse=True) if step.endswith(f"-{n}")), None)
        probe = step[: -len(backbone) - 1] if backbone else step
        groups.setdefault(probe, {})[backbone or ""] = result["metrics"]
    return groups


def metrics_lines(groups: dict[str, dict[str, dict]], per_row: int = 6) -> list[str]:
    """Plain-text rows: one per (probe, backbone), the first `per_row` numeric metrics."""
    lines = []
    for probe, by_backbone in groups.items():
        lines.append(f"{probe}:")
        for backbone, metrics in by_backbone.items():
            shown = [(k, v) for k, v in metrics.items() if isinstance(v, (int, float)) and not isinstance(v, bool)]
            text = "   ".join(f"{k} {v:6.2f}" for k, v in shown[:per_row])
            lines.append(f"  {backbone or probe:<14} {text}")
    return lines
