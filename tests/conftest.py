"""Fixtures shared by the test packages."""

from __future__ import annotations

import sys
import time
from pathlib import Path

import pytest
import torch.multiprocessing as mp

ROOT = str(Path(__file__).resolve().parents[1])


def _spawn_ranks(worker, args: tuple, nprocs: int, timeout_s: float) -> None:
    """Run `worker(rank, *args)` on `nprocs` spawned processes; fail (and kill them) after `timeout_s`.

    Spawned children import the test module by its pytest name (tests.<pkg>.<module>), so the repository
    root is on sys.path while they start (they copy it from the parent).
    """
    sys.path.insert(0, ROOT)
    try:
        ctx = mp.spawn(worker, args=args, nprocs=nprocs, join=False)
    finally:
        sys.path.remove(ROOT)
    deadline = time.monotonic() + timeout_s
    while not ctx.join(timeout=1.0):
        if time.monotonic() > deadline:
            for process in ctx.processes:
                if process.is_alive():
                    process.kill()
            pytest.fail(f"{nprocs} spawned ranks did not finish within {timeout_s:.0f} s (deadlock?)")


@pytest.fixture(scope="session")
def spawn_ranks():
    return _spawn_ranks


@pytest.fixture(scope="module")
def one_thread():
    """torch on one intra-op thread while a module's tests run (tiny ops stall on a busy machine otherwise);
    test modules opt in with `pytestmark = pytest.mark.usefixtures("one_thread")`."""
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)
