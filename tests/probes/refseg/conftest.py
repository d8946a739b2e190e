"""Fixtures of the refseg tests: the tiny preset over the shared toy world (tests/probes/conftest.py)."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

TINY = Path(__file__).resolve().parents[3] / "configs" / "refseg" / "tiny.yaml"


@pytest.fixture(scope="session")
def tiny_cfg():
    from probes.refseg import RefsegConfig
    from rice.config import load_config

    torch.set_num_threads(1)

    def make(toy_dir, runs_dir, *overrides):
        return load_config(RefsegConfig, TINY, [f"data.refer_root={toy_dir}", f"output.runs_dir={runs_dir}",
                                                "backbone=mlcd-vit-tiny", *overrides]).validate()

    return make


@pytest.fixture(scope="session")
def backbone():
    from rice.backbones import create_backbone

    return create_backbone("mlcd-vit-tiny")


@pytest.fixture(scope="session")
def lisa_sources(tmp_path_factory) -> Path:
    """LISA's dataset folder with one image per sem_seg / vqa / reason_seg source (lisa_fixture.py)."""
    import importlib.util

    spec = importlib.util.spec_from_file_location("refseg_lisa_fixture", Path(__file__).with_name("lisa_fixture.py"))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.write_lisa_sources(tmp_path_factory.mktemp("lisa") / "dataset")
