"""Per-sequence results in the formats the benchmarks' own tools and servers read.

    GOT-10k      <dir>/<seq>/<seq>_001.txt (x,y,w,h per frame, %.3f) and <dir>/<seq>/<seq>_time.txt
                 (seconds per frame); `<dir>` is `<result_dir>/GOT-10k/<tracker>` for ExperimentGOT10k,
                 which needs the time file too. The test split is also zipped for the server.
    LaSOT, TNL2K <dir>/<seq>.txt, x,y,w,h per frame
    TrackingNet  <seq>.txt per sequence inside one zip (the evaluation server's submission format)

Metrics are computed from the files read back, so every number is what a trusted tool would read.
"""

from __future__ import annotations

import io
import os
import zipfile
from pathlib import Path

import numpy as np

from probes.records import atomic_write_text


def _rows(boxes: np.ndarray, fmt: str = "%.3f") -> str:
    buf = io.StringIO()
    np.savetxt(buf, np.asarray(boxes, dtype=np.float64).reshape(-1, 4), fmt=fmt, delimiter=",")
    return buf.getvalue()


def write_got10k(tracker_dir: Path, seq: str, boxes: np.ndarray, times: np.ndarray) -> Path:
    folder = Path(tracker_dir) / seq
    atomic_write_text(folder / f"{seq}_time.txt", "".join(f"{t:.8f}\n" for t in np.asarray(times, np.float64)))
    return atomic_write_text(folder / f"{seq}_001.txt", _rows(boxes))


def read_got10k(tracker_dir: Path, seq: str) -> np.ndarray:
    return read_txt(Path(tracker_dir) / seq / f"{seq}_001.txt")


def write_txt(result_dir: Path, seq: str, boxes: np.ndarray) -> Path:
    return atomic_write_text(Path(result_dir) / f"{seq}.txt", _rows(boxes))


def read_txt(path: Path) -> np.ndarray:
    return np.loadtxt(path, delimiter=",", ndmin=2)


def write_zip(zip_path: Path, files: dict[str, str]) -> Path:
    """A zip of name -> text, written to a temp file and renamed into place."""
    zip_path = Path(zip_path)
    zip_path.parent.mkdir(parents=True, exist_ok=True)
    tmp = zip_path.with_name(f".{zip_path.name}.tmp")
    with zipfile.ZipFile(tmp, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        for name in sorted(files):
            zf.writestr(name, files[name])
    os.chmod(tmp, 0o644)
    os.replace(tmp, zip_path)
    return zip_path


def write_trackingnet_zip(zip_path: Path, results: dict[str, np.ndarray]) -> Path:
    return write_zip(zip_path, {f"{seq}.txt": _rows(boxes) for seq, boxes in results.items()})


def zip_got10k(tracker_dir: Path, zip_path: Path) -> Path:
    """The GOT-10k test-server submission: every <seq>/<seq>_001.txt and _time.txt under `tracker_dir`."""
    tracker_dir = Path(tracker_dir)
    files = {p.relative_to(tracker_dir).as_posix(): p.read_text()
             for p in sorted(tracker_dir.glob("*/*.txt"))}
    return write_zip(zip_path, files)
