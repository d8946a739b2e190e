"""Shared fixtures: one thread, a small toy world, and a tiny LLaVA-NeXT on the MLCD tiny tower."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

torch.set_num_threads(1)


@pytest.fixture(scope="session")
def toy_dir(tmp_path_factory) -> Path:
    from rice.toyworld import generate

    out = tmp_path_factory.mktemp("toyworld") / "toy"
    generate(out, num_images=10, seed=0, image_size=128, num_sequences=1, min_frames=2, max_frames=3,
             progress=False)
    return out


@pytest.fixture(scope="session")
def tiny_llava():
    from mllm.model import build_llava_next

    return build_llava_next("mlcd-vit-tiny", "tiny")
