"""Where a phase of sweep jobs runs: in this process one after another (local), in local processes
(parallel, `workers` at once), or through submitit (slurm: a job array on the cluster; submitit-local:
submitit's LocalExecutor, the same submitit code path without a cluster, which the tests use).

`run_phase(jobs, cfg, folder)` returns the job records in the order of `jobs`; a failed job does not stop
the others of its phase: the failures are collected and raised together (as the first one's error type
where it is a user mistake), after every other job has finished, so finished work is never lost.
"""

from __future__ import annotations

import json
import multiprocessing
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Sequence

from .config import ExecutorConfig
from .jobs import run_job
from .plan import Job


class JobsFailed(RuntimeError):
    """Some jobs of a sweep phase failed (each printed its error); finished ones are kept."""


def _gather(jobs: Sequence[Job], outcomes: list) -> list[dict]:
    failed = [(j, e) for j, e in zip(jobs, outcomes) if isinstance(e, BaseException)]
    if failed:
        for job, err in failed:
            print(f"sweep: {job.label} ({job.dir}) failed: {type(err).__name__}: {err}", flush=True)
        first = failed[0][1]
        if len(failed) == 1 and isinstance(first, (ValueError, FileNotFoundError)):
            raise first
        raise JobsFailed(f"{len(failed)} of {len(jobs)} {jobs[0].stage} jobs failed (first: {first}); "
                         "rerun the same command to resume them")
    return outcomes


def _local(jobs: Sequence[Job]) -> list:
    out = []
    for job in jobs:
        try:
            out.append(run_job(job))
        except Exception as err:  # noqa: BLE001  (collected; KeyboardInterrupt still stops the sweep)
            out.append(err)
    return out


def _parallel(jobs: Sequence[Job], workers: int) -> list:
    # spawn: a fresh interpreter per worker (forking a process that has run torch can deadlock in OpenMP)
    with ProcessPoolExecutor(max_workers=workers, mp_context=multiprocessing.get_context("spawn")) as pool:
        futures = [pool.submit(run_job, job) for job in jobs]
        out = []
        for f in futures:
            try:
                out.append(f.result())
            except Exception as err:  # noqa: BLE001
                out.append(err)
    return out


def _submitit(jobs: Sequence[Job], cfg: ExecutorConfig, folder: Path) -> list:
    import submitit

    if cfg.kind == "submitit-local":
        executor = submitit.LocalExecutor(folder=str(folder))
        executor.update_parameters(timeout_min=int(cfg.slurm.get("timeout_min", 60)))
    else:
        executor = submitit.AutoExecutor(folder=str(folder), cluster="slurm")
        s = cfg.slurm
        params = {"timeout_min": s.get("timeout_min", 24 * 60), "slurm_array_parallelism": s.get("array_parallelism", 64),
                  "gpus_per_node": s.get("gpus_per_node", 0), "cpus_per_task": s.get("cpus_per_task", 8),
                  "tasks_per_node": 1}  # torchrun (nproc_per_node) starts the per-GPU processes inside the job
        for key, name in (("partition", "slurm_partition"), ("mem_gb", "mem_gb"), ("account", "slurm_account"),
                          ("qos", "slurm_qos"), ("constraint", "slurm_constraint")):
            if key in s:
                params[name] = s[key]
        executor.update_parameters(**params)
    # one job array per phase (LocalExecutor runs an array's jobs as concurrent local processes)
    out = []
    for handle in executor.map_array(run_job, list(jobs)):
        try:
            out.append(handle.result())
        except Exception as err:  # noqa: BLE001  (submitit re-raises the job's error, with its log's tail)
            out.append(err)
    return out


def finished(job: Job) -> dict | None:
    """The record of a job that finished earlier (its job.json, every output it names still there)."""
    path = Path(job.dir) / "job.json"
    if not path.is_file():
        return None
    record = json.loads(path.read_text())
    dirs = [r["dir"] for r in record["results"].values() if isinstance(r, dict) and "dir" in r]
    return record if all(Path(d).exists() for d in dirs) else None


def run_phase(jobs: Sequence[Job], cfg: ExecutorConfig, folder: Path) -> list[dict]:
    """Records of `jobs` in order; finished jobs are read back here, only the others are dispatched (no
    cluster job is spent on finding out that a cell is done)."""
    records = {i: finished(j) for i, j in enumerate(jobs)}
    todo = [i for i, r in records.items() if r is None]
    if todo:
        print(f"sweep: {len(jobs) - len(todo)} {jobs[0].stage} jobs done earlier, {len(todo)} to run", flush=True)
        pending = [jobs[i] for i in todo]
        if cfg.kind == "local" or len(pending) == 1 and cfg.kind == "parallel":
            outcomes = _local(pending)
        elif cfg.kind == "parallel":
            outcomes = _parallel(pending, cfg.workers)
        else:
            outcomes = _submitit(pending, cfg, Path(folder))
        records.update(zip(todo, _gather(pending, outcomes)))
    return [records[i] for i in range(len(jobs))]
