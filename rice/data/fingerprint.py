"""Content fingerprint of a pretraining data set: which shards, and what is in them.

A run directory is resumed only with the data it was trained on; the path alone says nothing (a re-curation
writes new shards under the same names). Hashing every byte would read the whole data set at every
(re)start -- tens of TB for 1B samples -- so each file is identified by

    name (relative to the shards' common folder), size, sha256 of its first and last 64 KiB

Why that is enough for shards: they are written whole and atomically (`rice.data.shards`, a temp file
renamed into place) and never edited in place, so "other data" means other shards. A tar's first 64 KiB hold
the first sample's header and image (usually its JSON too), its last 64 KiB the last sample's JSON (key,
boxes, labels) and the end-of-archive blocks; other images, other labels or other sample counts change the
size or one of those ends. What it misses -- an edit in the middle of a shard that keeps its size -- is not
something the tools here do. Cost: 128 KiB read per shard (about 12 GB for 100k shards of 10k samples,
against the ~100 TB an epoch reads), read by a thread pool to hide a network file system's latency.

The folder's `curate_config.json` (the curation's exact configuration) is hashed whole: it is small, and
with the shards' ends it pins how they were made. Other extra files (e.g. `loss.centers_init`) are
fingerprinted like shards.
"""

from __future__ import annotations

import hashlib
import os
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Sequence

from rice.data.shards import list_shards

END_BYTES = 64 * 1024  # bytes hashed at each end of a file
FOLDER_FILES = ("curate_config.json",)  # hashed whole when present beside the shards


def file_fingerprint(path: str | Path, whole: bool = False) -> str:
    """'size:sha256' of the file's first and last END_BYTES (of every byte when `whole` or when it is small)."""
    size = os.path.getsize(path)
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        if whole or size <= 2 * END_BYTES:
            for block in iter(lambda: f.read(1 << 20), b""):
                digest.update(block)
        else:
            digest.update(f.read(END_BYTES))
            f.seek(size - END_BYTES)
            digest.update(f.read(END_BYTES))
    return f"{size}:{digest.hexdigest()[:32]}"


def data_fingerprint(source: str | Path | Sequence[str | Path], extra: Sequence[str | Path] = ()) -> dict:
    """{"folder": the shards' common folder, "files": {relative name: file_fingerprint}, "digest": hash of all}.

    `files` holds every shard of `source` (see `list_shards`), the folder's FOLDER_FILES when present, and
    each path in `extra` (by its absolute path when it lies outside the folder).
    """
    shards = [os.path.abspath(p) for p in list_shards(source)]
    folder = os.path.commonpath([os.path.dirname(p) for p in shards])
    entries = {os.path.relpath(p, folder): (p, False) for p in shards}
    for name in FOLDER_FILES:
        if os.path.isfile(os.path.join(folder, name)):
            entries[name] = (os.path.join(folder, name), True)
    for path in map(os.path.abspath, map(str, extra)):
        if not os.path.isfile(path):
            raise FileNotFoundError(f"{path}: no such file (data fingerprint)")
        inside = os.path.commonpath([folder, path]) == folder
        entries[os.path.relpath(path, folder) if inside else path] = (path, False)
    names = sorted(entries)
    with ThreadPoolExecutor(max_workers=min(16, len(names))) as pool:
        prints = list(pool.map(lambda n: file_fingerprint(*entries[n]), names))
    files = dict(zip(names, prints))
    digest = hashlib.sha256("\n".join(f"{n}\t{p}" for n, p in files.items()).encode()).hexdigest()[:16]
    return {"folder": folder, "files": files, "digest": digest}


def fingerprint_differences(old: dict, new: dict, limit: int = 5) -> list[str]:
    """What changed between two `data_fingerprint`s, as 'name: new' / 'name: removed' / 'name: size a -> b' /
    'name: content changed'; at most `limit` items, then '... and N more'."""
    a, b = old.get("files", {}), new.get("files", {})
    changed = []
    for name in sorted(set(a) | set(b)):
        if name not in a:
            changed.append(f"{name}: new")
        elif name not in b:
            changed.append(f"{name}: removed")
        elif a[name] != b[name]:
            size_a, size_b = a[name].split(":")[0], b[name].split(":")[0]
            changed.append(f"{name}: size {size_a} -> {size_b}" if size_a != size_b else f"{name}: content changed")
    return changed if len(changed) <= limit else changed[:limit] + [f"... and {len(changed) - limit} more"]
