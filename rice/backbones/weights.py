"""Finding a preset's weights on local disk, never silently downloading them.

Where a preset looks, in order:
1. `$RICE_BACKBONE_DIR/<preset name>/` (a plain Hugging Face model directory);
2. the Hugging Face cache (`$HF_HUB_CACHE`, `$HF_HOME/hub`, or `~/.cache/huggingface/hub`), offline.
Downloads happen only when `RICE_ALLOW_DOWNLOAD=1` is set (cluster use); tests and the demo never set it.
"""

from __future__ import annotations

import contextlib
import os
from pathlib import Path
from typing import Iterator


def allow_download() -> bool:
    return os.environ.get("RICE_ALLOW_DOWNLOAD", "") == "1"


def hf_cache_dir() -> Path:
    from huggingface_hub import constants

    return Path(constants.HF_HUB_CACHE)


def resolve_hub_dir(preset: str, hub_id: str) -> Path:
    """Return a local directory holding `hub_id`'s files, or raise one FileNotFoundError that says how to fix it."""
    looked: list[str] = []
    root = os.environ.get("RICE_BACKBONE_DIR")
    if root:
        candidate = Path(root) / preset
        looked.append(str(candidate))
        if (candidate / "config.json").is_file():
            return candidate
    from huggingface_hub import snapshot_download

    looked.append(f"{hf_cache_dir()} (hub id {hub_id})")
    try:
        return Path(snapshot_download(hub_id, local_files_only=not allow_download()))
    except Exception as err:  # huggingface_hub raises several offline/lookup error types
        raise FileNotFoundError(
            f"backbone preset {preset!r}: weights for {hub_id!r} are not on this machine "
            f"(looked in: {'; '.join(looked)}). Download them where there is network "
            f"(`huggingface-cli download {hub_id} --local-dir DIR`), then pass the directory instead of the "
            f"name (`--backbone DIR` / `create_backbone('DIR')`), or put it at $RICE_BACKBONE_DIR/{preset}. "
            f"Set RICE_ALLOW_DOWNLOAD=1 to let this process download it. ({type(err).__name__})"
        ) from None


@contextlib.contextmanager
def hub_offline() -> Iterator[None]:
    """Keep libraries that fetch from the hub themselves (timm, open_clip) offline unless downloads are allowed."""
    previous = os.environ.get("HF_HUB_OFFLINE")
    if not allow_download():
        os.environ["HF_HUB_OFFLINE"] = "1"
    try:
        yield
    finally:
        if previous is None:
            os.environ.pop("HF_HUB_OFFLINE", None)
        else:
            os.environ["HF_HUB_OFFLINE"] = previous


def check_weight_files(directory: Path) -> None:
    """ValueError naming the first `*.safetensors` file in `directory` whose header does not cover the file
    (truncated copy, interrupted download): said in one line before any loader sees it."""
    from safetensors import safe_open

    for path in sorted(Path(directory).glob("*.safetensors")):
        try:
            with safe_open(str(path), framework="pt"):
                pass
        except Exception as err:  # SafetensorError is not exported under a stable name
            raise ValueError(f"{path}: not a readable safetensors file (truncated or corrupt: {err}); "
                             "re-export or re-download it") from None
