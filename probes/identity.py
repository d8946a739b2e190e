"""Run identity: what produced a run, by content, never by path.

A run is the same run only when the same backbone weights, the same data and the same resolved config
produced it. `weights_fingerprint` hashes a module's state dict (names, dtypes, shapes, bytes), so a
re-export at the same path, or two different models that share a folder name, are told apart;
`files_fingerprint` hashes files' content (annotation files, LLM / SAM checkpoints). File hashes are
cached by (real path, size, mtime) in `$RICE_HASH_CACHE` (default `~/.cache/rice-probe/hashes.json`),
so a 20 GB checkpoint is read once, not at every rerun.
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path
from typing import Iterable

import torch

DIGEST = 16  # hex characters kept of each blake2b digest
_CHUNK = 1 << 22


def _blake() -> "hashlib._Hash":
    return hashlib.blake2b(digest_size=DIGEST // 2)


def weights_fingerprint(module: torch.nn.Module) -> str:
    """Content hash of `module.state_dict()`: equal iff every tensor's name, dtype, shape and bytes are."""
    h = _blake()
    for name, tensor in sorted(module.state_dict().items()):
        t = tensor.detach().cpu().contiguous()
        h.update(f"{name}|{t.dtype}|{tuple(t.shape)}|".encode())
        if t.numel():
            h.update(t.reshape(-1).view(torch.uint8).numpy().tobytes() if t.dtype != torch.bool
                     else t.numpy().tobytes())
    return h.hexdigest()


def _cache_path() -> Path:
    return Path(os.environ.get("RICE_HASH_CACHE", Path.home() / ".cache" / "rice-probe" / "hashes.json"))


_CACHE: dict[str, dict] = {}  # cache file -> its digests, read once per process


def _load_cache() -> dict:
    path = str(_cache_path())
    if path not in _CACHE:
        try:
            _CACHE[path] = json.loads(Path(path).read_text())
        except (OSError, ValueError):
            _CACHE[path] = {}
    return _CACHE[path]


def _save_cache(cache: dict) -> None:
    path = _cache_path()
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
        tmp.write_text(json.dumps(cache))
        os.replace(tmp, path)
    except OSError:  # a read-only home only costs the cache
        pass


def file_digest(path: str | Path, cache: dict | None = None) -> str:
    """blake2b of one file's bytes (cached by real path, size and mtime when `cache` is given)."""
    path = Path(path)
    st = path.stat()
    key = f"{path.resolve()}|{st.st_size}|{st.st_mtime_ns}"
    if cache is not None and key in cache:
        return cache[key]
    h = _blake()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(_CHUNK), b""):
            h.update(chunk)
    digest = h.hexdigest()
    if cache is not None:
        cache[key] = digest
    return digest


def _expand(paths: Iterable[str | Path]) -> list[tuple[str, Path]]:
    """(name relative to the given root, file) for every file; directories are walked, sorted."""
    out = []
    for given in paths:
        given = Path(given)
        if given.is_dir():
            out += [(f"{given.name}/{f.relative_to(given).as_posix()}", f)
                    for f in sorted(given.rglob("*")) if f.is_file() and not f.name.startswith(".")]
        elif given.is_file():
            out.append((given.name, given))
        else:
            raise FileNotFoundError(f"{given}: no such file or directory to fingerprint")
    return out


def files_fingerprint(paths: Iterable[str | Path]) -> str:
    """One hash over the names (relative to each given path) and contents of the files; order-independent."""
    cache = _load_cache()
    known = len(cache)
    entries = sorted((name, file_digest(file, cache)) for name, file in _expand(paths))
    if len(cache) != known:  # written only when a file was hashed anew
        _save_cache(cache)
    h = _blake()
    for name, digest in entries:
        h.update(f"{name}={digest};".encode())
    return h.hexdigest()


def backbone_identity(backbone: torch.nn.Module) -> dict:
    """What run records store about a backbone: its name, where it came from, and its weights' hash."""
    info = getattr(backbone, "info", None)
    return {"name": getattr(info, "name", type(backbone).__name__), "source": getattr(info, "source", ""),
            "fingerprint": weights_fingerprint(backbone)}


def combine(*parts: object) -> str:
    """A short hash over JSON-able parts (config identity, fingerprints), for run ids."""
    blob = json.dumps(parts, sort_keys=True, separators=(",", ":"), default=str)
    h = _blake()
    h.update(blob.encode())
    return h.hexdigest()[:10]
