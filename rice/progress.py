"""Progress that reads well in a terminal and in a log file.

On a terminal `progress(...)` is a tqdm bar. When stderr is not a terminal (CI, Slurm, `| tee`), redrawing
a bar fills the log with carriage returns, so it prints one plain line every `RICE_PROGRESS_EVERY` seconds
(default 30) and one at the end instead. Either way the object has tqdm's `update`, `set_postfix` and
`close`, and iterating it yields the wrapped items.
"""

from __future__ import annotations

import os
import sys
import time
from typing import Any, Iterable, Iterator


def log_interval() -> float:
    try:
        return max(0.0, float(os.environ.get("RICE_PROGRESS_EVERY", "30")))
    except ValueError:
        return 30.0


class LineProgress:
    """tqdm's small interface, printed as `desc: n/total (pct) elapsed, rate, postfix` lines."""

    def __init__(self, iterable: Iterable | None = None, total: int | None = None, desc: str = "",
                 disable: bool = False, every: float | None = None, stream: Any = None, initial: int = 0,
                 **_: Any):
        self.iterable, self.desc, self.disable = iterable, desc, disable
        if total is None and iterable is not None and hasattr(iterable, "__len__"):
            total = len(iterable)  # type: ignore[arg-type]
        self.total, self.n, self.initial, self.postfix = total, initial, initial, ""
        self.every = log_interval() if every is None else every
        self.stream = stream or sys.stderr
        self.start = self.last = time.time()
        self.closed = False

    def __iter__(self) -> Iterator:
        for item in self.iterable or ():
            yield item
            self.update(1)
        self.close()

    def __enter__(self) -> "LineProgress":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    def set_postfix(self, ordered_dict: dict | None = None, refresh: bool = True, **kwargs: Any) -> None:
        items = {**(ordered_dict or {}), **kwargs}
        self.postfix = ", ".join(f"{k}={v}" for k, v in items.items())

    def set_postfix_str(self, s: str = "", refresh: bool = True) -> None:
        self.postfix = s

    def set_description(self, desc: str | None = None, refresh: bool = True) -> None:
        self.desc = desc or ""

    def refresh(self) -> None:
        pass

    def update(self, n: int = 1) -> None:
        self.n += n
        now = time.time()
        if not self.disable and now - self.last >= self.every:
            self.last = now
            self._print()

    def _print(self) -> None:
        elapsed = time.time() - self.start
        done = f"{self.n}/{self.total} ({100.0 * self.n / self.total:.0f}%)" if self.total else f"{self.n}"
        rate = f"{(self.n - self.initial) / elapsed:.2f}/s" if elapsed > 0 else "-"
        tail = f", {self.postfix}" if self.postfix else ""
        print(f"{self.desc + ': ' if self.desc else ''}{done} {elapsed:.0f}s, {rate}{tail}", file=self.stream,
              flush=True)

    def close(self) -> None:
        if not self.closed and not self.disable and self.n > self.initial:
            self._print()
        self.closed = True


def progress(iterable: Iterable | None = None, total: int | None = None, desc: str = "", disable: bool = False,
             **kwargs: Any):
    """A tqdm bar on a terminal, else periodic plain lines (see the module docstring)."""
    if sys.stderr.isatty() and not os.environ.get("RICE_PROGRESS_LINES"):
        from tqdm import tqdm

        return tqdm(iterable, total=total, desc=desc, disable=disable, **kwargs)
    return LineProgress(iterable, total=total, desc=desc, disable=disable, **kwargs)
