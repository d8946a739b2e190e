"""A toy world for the curation tests (generated once per session), small image folders cut from it,
and a tiny curation config."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
import torch

from rice.curate import ClusterConfig, CurateConfig, EmbedConfig, MaskConfig, OCRConfig
from rice.toyworld import generate

torch.set_num_threads(1)  # 2 shared cores: extra torch threads only spin (4x the CPU time of test_pretrain)

NUM_IMAGES = 60


@pytest.fixture(autouse=True, scope="session")
def one_faiss_thread():
    """OpenMP spin-waiting makes faiss slow on a shared 2-core machine; the tests' data are tiny."""
    import faiss

    before = faiss.omp_get_max_threads()
    faiss.omp_set_num_threads(1)
    yield
    faiss.omp_set_num_threads(before)


@pytest.fixture(scope="session")
def world(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("curate_toyworld") / "world"
    generate(out, num_images=NUM_IMAGES, seed=5, num_sequences=2, min_frames=2, max_frames=3,
             sign_probability=0.5, progress=False)
    return out


@pytest.fixture(scope="session")
def train_coco(world) -> tuple[Path, dict]:
    path = world / "coco" / "annotations" / "instances_train.json"
    return path, json.loads(path.read_text())


def sign_images(coco: dict) -> list[str]:
    ids = {a["image_id"] for a in coco["annotations"] if "text" in a.get("attributes", {})}
    return sorted(img["file_name"] for img in coco["images"] if img["id"] in ids)


def subset(world: Path, coco: dict, dest: Path, with_signs: int, without_signs: int) -> Path:
    """Copy some train images (the first ones with signs, and without) into `dest`."""
    signs = sign_images(coco)
    plain = sorted(img["file_name"] for img in coco["images"] if img["file_name"] not in signs)
    dest.mkdir(parents=True)
    for name in signs[:with_signs] + plain[:without_signs]:
        shutil.copy(world / "coco" / "train" / name, dest / name)
    return dest


def tiny_config(images: Path, out: Path, masks: str, **fields) -> CurateConfig:
    """K = 16 clusters of clip-vit-tiny crop features; toy-world sizes (boxes >= 16 px, images >= 128 px)."""
    return CurateConfig(
        images_dir=str(images), out_dir=str(out), samples_per_shard=fields.pop("samples_per_shard", 4),
        masks=MaskConfig(source=masks, min_box=16, min_image=128, max_regions=fields.pop("max_regions", 0)),
        embed=EmbedConfig(embedder="clip-vit-tiny", region_pool=fields.pop("region_pool", "crop"), batch_size=16),
        cluster=ClusterConfig(num_clusters=fields.pop("num_clusters", 16), iterations=10,
                              image_labels_k=fields.pop("image_labels_k", 1)),
        ocr=OCRConfig(engine=fields.pop("ocr", "rapidocr")), progress=False, **fields)


@pytest.fixture(scope="session")
def make_config():
    return tiny_config


@pytest.fixture(scope="session")
def make_subset(world, train_coco):
    return lambda dest, with_signs, without_signs: subset(world, train_coco[1], dest, with_signs, without_signs)
