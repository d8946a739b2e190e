"""`curate(cfg)`: a folder of images -> region shards for `rice pretrain` (paper 3.1), resumable and sharded.

Shard i holds images [i*S, (i+1)*S) of the sorted image list (skipped images leave gaps) and is
done by rank i % world_size, so any world size writes the same shards. Each stage is cached:
stage 1+2 per shard in `work/features-*.npz`, stage 3 in `centers.npy`, stage 4+5 in the shard tar
itself. A restart with the same configuration redoes only what is missing and writes the same
bytes; a different configuration in the same output folder is refused.
"""

from __future__ import annotations

import dataclasses
import hashlib
import os
import time
from collections import Counter
from pathlib import Path
from typing import Callable

import numpy as np

from rice.config import to_dict
from rice.curate import dist
from rice.curate.centers import fit_centers
from rice.curate.config import CurateConfig
from rice.curate.files import (atomic_save_npy, atomic_write_json, features_path, load_features, load_npy, read_json,
                               save_features, shard_path, summary_path)
from rice.curate.images import list_images, num_shards, rank_shards, shard_images
from rice.curate.kmeans import build_index, use_gpu
from rice.curate.ocr import OCRTokenizer, build_ocr_engine, build_tokenizer
from rice.curate.stats import CurateStats, aggregate
from rice.curate.write import make_summary, read_shard_json, write_one
from rice.progress import progress as progress_bar

CONFIG_FILE, STATS_FILE, CENTERS_FILE = "curate_config.json", "curate_stats.json", "centers.npy"


def _record(cfg: CurateConfig) -> dict:
    rec = to_dict(cfg)
    rec.pop("progress")  # the only field that cannot change the output
    return rec


def _diff(old: dict, new: dict, prefix: str = "") -> list[str]:
    out = []
    for k in sorted(set(old) | set(new)):
        a, b = old.get(k), new.get(k)
        if isinstance(a, dict) and isinstance(b, dict):
            out += _diff(a, b, f"{prefix}{k}.")
        elif a != b:
            out.append(f"{prefix}{k}: {a!r} -> {b!r}")
    return out


def _inputs(paths: list[str]) -> dict:
    """The image list's fingerprint: shard i's images must not change between a run and its resumption."""
    return {"num_images": len(paths), "list_sha1": hashlib.sha1("\n".join(paths).encode("utf-8")).hexdigest()}


def _check_output(out: Path, cfg: CurateConfig, paths: list[str]) -> str | None:
    """Rank 0: claim `out` for this configuration and image list, or say why not (None: fine)."""
    path = out / CONFIG_FILE
    try:
        if path.exists():
            old = read_json(path)
            changed = _diff({"config": old.get("config", {}), "inputs": old.get("inputs", {})},
                            {"config": _record(cfg), "inputs": _inputs(paths)})
            if changed:
                return (f"{path}: the output folder was curated with another configuration or image list "
                        f"({'; '.join(changed)}); rerun with the same settings and images to resume, "
                        "or pick a new --out")
            return None
        if out.exists() and any(out.iterdir()):
            return f"--out {out}: the folder is not empty and holds no {CONFIG_FILE}; pick a new or empty folder"
        atomic_write_json(path, {"config": _record(cfg), "inputs": _inputs(paths)})
    except (OSError, ValueError) as err:
        return f"--out {out}: {err}"
    return None


def _build_extractor(cfg: CurateConfig, tokenizer: OCRTokenizer | None, local_rank: int):
    from rice.curate.embed import RegionEmbedder, resolve_device
    from rice.curate.extract import Extractor
    from rice.curate.masks import build_mask_source

    device = resolve_device(cfg.embed.device, local_rank)
    masks = build_mask_source(cfg.masks, str(device))
    embedder = RegionEmbedder.create(cfg.embed.embedder, cfg.embed.batch_size, device, cfg.seed)
    return Extractor(cfg, masks, embedder, build_ocr_engine(cfg.ocr), tokenizer)


def curate(cfg: CurateConfig, *, on_shard_written: Callable[[int, Path], None] | None = None) -> CurateStats:
    """Run (or resume) curation on this rank; every rank returns the same stats.

    Under torchrun, initialise the process group first (`rice.train.dist.init_distributed`).
    `on_shard_written(index, path)` is called after each shard this rank writes (tests use it).
    """
    cfg = dataclasses.replace(cfg, images_dir=str(Path(cfg.images_dir).expanduser().absolute()),
                              out_dir=str(Path(cfg.out_dir).expanduser().absolute())).validate()
    rank, world = dist.rank_world()
    local_rank = int(os.environ.get("LOCAL_RANK", "0"))
    progress, seconds, tick = cfg.progress and rank == 0, {}, time.perf_counter()
    root, out = Path(cfg.images_dir), Path(cfg.out_dir)
    work = out / "work"
    paths = list_images(root)
    S = cfg.samples_per_shard
    total = num_shards(len(paths), S)
    error = dist.broadcast_object(_check_output(out, cfg, paths) if rank == 0 else None)
    if error:
        raise ValueError(error)
    mine = rank_shards(total, rank, world)
    have_centers = dist.broadcast_object((out / CENTERS_FILE).is_file() if rank == 0 else None)
    todo = [i for i in mine if not shard_path(out, i).exists()]
    missing = [i for i in (todo if have_centers else mine) if not features_path(work, i).exists()]
    tokenizer = build_tokenizer(cfg.ocr.tokenizer) if cfg.ocr.engine != "none" else None
    vocab = tokenizer.vocab_size if tokenizer is not None else None

    # stages 1+2: candidate regions, OCR lines and features, cached per shard
    if missing:
        extractor = _build_extractor(cfg, tokenizer, local_rank)
        count = sum(len(shard_images(i, len(paths), S)) for i in missing)
        with progress_bar(total=count, desc="curate: regions", unit="img", disable=not progress) as bar:
            for i in missing:
                items = [(g, paths[g]) for g in shard_images(i, len(paths), S)]
                save_features(features_path(work, i), *extractor.shard(i, root, items, bar.update))
    dist.barrier()
    seconds["regions_and_features"] = time.perf_counter() - tick

    # stage 3: k-means centers, trained once, cached as centers.npy
    tick = time.perf_counter()
    gpu = use_gpu(cfg.cluster.device)
    info_path = work / "centers_info.json"
    if have_centers:
        centers = load_npy(out / CENTERS_FILE)
        info = read_json(info_path) if info_path.exists() else {}
        if centers.ndim != 2 or len(centers) != cfg.cluster.num_clusters:
            raise ValueError(f"{out / CENTERS_FILE}: shape {centers.shape} does not hold "
                             f"cluster.num_clusters={cfg.cluster.num_clusters} centers; delete it to retrain")
    else:
        points, seen = {}, Counter()
        for i in mine:
            regions, whole, meta = load_features(features_path(work, i))
            points[i] = regions if cfg.cluster.fit_on == "regions" else np.concatenate([regions, whole])
            seen.update(r["status"] for r in meta["images"])
        check_readable(root, sum(dist.all_gather_object(seen), Counter()))
        centers, info = fit_centers(cfg.cluster, points, cfg.seed, gpu, progress)
        del points
        if rank == 0:
            atomic_write_json(info_path, info)
            atomic_save_npy(out / CENTERS_FILE, centers)
    dist.barrier()
    seconds["kmeans"] = time.perf_counter() - tick

    # stages 4+5: labels, shards, per-shard summaries
    tick = time.perf_counter()
    index = build_index(centers, gpu, local_rank) if todo else None
    for i in progress_bar(todo, desc="curate: shards", unit="shard", disable=not progress):
        write_one(i, root, features_path(work, i), shard_path(out, i), summary_path(work, i), index,
                  cfg.cluster.image_labels_k, vocab, cfg.image_format, cfg.jpeg_quality)
        if on_shard_written is not None:
            on_shard_written(i, shard_path(out, i))
    for i in mine:  # a shard whose summary was lost (killed between tar and summary): rebuild it
        if not summary_path(work, i).exists():
            if not features_path(work, i).exists():
                raise ValueError(f"{shard_path(out, i)}: neither its summary nor its feature cache is in {work}; "
                                 "delete the shard to redo it")
            _, _, meta = load_features(features_path(work, i))
            atomic_write_json(summary_path(work, i), make_summary(i, meta, read_shard_json(shard_path(out, i)), {}))
    summaries = [read_json(summary_path(work, i)) for i in mine]
    seconds["shards"] = time.perf_counter() - tick

    gathered = dist.gather_object({"summaries": summaries, "written": len(todo), "seconds": seconds})
    stats = None
    if rank == 0:
        stats = aggregate([s for part in gathered for s in part["summaries"]], cfg.cluster.num_clusters)
        stats.clusters.update(info)
        stats.shards_written = sum(part["written"] for part in gathered)
        stats.num_ocr_classes, stats.tokenizer = vocab, tokenizer.name if tokenizer is not None else None
        stats.embed_dim = int(centers.shape[1])
        stats.seconds = {k: round(max(p["seconds"][k] for p in gathered), 3) for k in seconds}
        atomic_write_json(out / STATS_FILE, stats.to_dict())
        atomic_write_json(out / CONFIG_FILE, _final_config(cfg, stats, _inputs(paths), out))
    return dist.broadcast_object(stats)


def check_readable(root: Path, statuses: Counter) -> None:
    """No image could be read (all corrupt, too small, ...): say so, not "0 features" at the k-means stage."""
    if statuses.get("ok", 0) == 0:
        reasons = ", ".join(f"{k}={v}" for k, v in sorted(statuses.items()))
        raise ValueError(f"images dir {root}: no readable images: all {sum(statuses.values())} were skipped "
                         f"({reasons}); nothing to cluster")


def _final_config(cfg: CurateConfig, stats: CurateStats, inputs: dict, out: Path) -> dict:
    overrides = [f"loss.num_object_classes={stats.num_object_classes}",
                 f"loss.centers_init={out / CENTERS_FILE}",
                 f"data.max_ocr_tokens={cfg.ocr.max_tokens}",
                 f"data.max_image_labels={cfg.cluster.image_labels_k}"]
    if stats.num_ocr_classes is not None:
        overrides.insert(1, f"loss.num_ocr_classes={stats.num_ocr_classes}")
    return {"config": _record(cfg), "inputs": inputs, "num_shards": stats.num_shards,
            "num_object_classes": stats.num_object_classes, "num_ocr_classes": stats.num_ocr_classes,
            "tokenizer": stats.tokenizer, "embed_dim": stats.embed_dim,
            "pretrain_overrides": overrides,
            "note": "loss.centers_init needs the model's embed_dim to equal embed_dim (the curation embedder's)"}
