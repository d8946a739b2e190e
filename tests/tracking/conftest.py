"""Small GOT-10k-format fixtures written on the fly, and single-threaded torch for the tracking tests."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pytest
from PIL import Image


@pytest.fixture(autouse=True, scope="module")
def _tracking_one_thread(one_thread):
    """Every tracking test module on one torch thread (tests/conftest.py::one_thread)."""
    yield


def _jpeg(width: int = 16, height: int = 12) -> bytes:
    buf = io.BytesIO()
    Image.new("RGB", (width, height), (90, 120, 150)).save(buf, format="JPEG")
    return buf.getvalue()


def write_got10k_sequence(seq_dir: Path, anno: np.ndarray, cover: np.ndarray, resolution: tuple[int, int],
                          frames: int | None = None) -> None:
    """One GOT-10k sequence folder as the toolkit reads it (frame pixels are irrelevant to the metrics)."""
    seq_dir.mkdir(parents=True, exist_ok=True)
    data = _jpeg()
    for i in range(len(anno) if frames is None else frames):
        (seq_dir / f"{i + 1:08d}.jpg").write_bytes(data)
    np.savetxt(seq_dir / "groundtruth.txt", anno, fmt="%.4f", delimiter=",")
    np.savetxt(seq_dir / "cover.label", cover, fmt="%d")
    np.savetxt(seq_dir / "absence.label", (np.asarray(cover) == 0).astype(int), fmt="%d")
    np.savetxt(seq_dir / "cut_by_image.label", np.zeros(len(anno)), fmt="%d")
    (seq_dir / "meta_info.ini").write_text(f"[METAINFO]\nobject_class: thing\nresolution: ({resolution[0]}, "
                                           f"{resolution[1]})\n")


@pytest.fixture
def got10k_writer():
    """write(root, {name: (anno, cover, resolution)}, subset) -> root; writes list.txt too."""

    def write(root: Path, sequences: dict, subset: str = "val") -> Path:
        for name, (anno, cover, resolution) in sequences.items():
            write_got10k_sequence(root / subset / name, anno, cover, resolution)
        (root / subset / "list.txt").write_text("\n".join(sequences) + "\n")
        return root

    return write
