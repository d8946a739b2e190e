"""Check lmms-eval task names and their datasets before any model is loaded or any run file is written.

Standard task names (ocrbench, docvqa_val, mme, ...) pass through to lmms-eval when its task index knows
them and every leaf task's dataset is present locally: a local folder or data files, the `datasets` cache
lmms-eval loads from (offline reuse), or a snapshot in the Hugging Face hub cache. Anything else is one
ValueError naming the task and the dataset. Our packaged toy tasks are checked by the caller (they need
val data). Resolving a standard name builds lmms-eval's full task index once per process (~6 CPU s).
"""

from __future__ import annotations

import functools
import os
from pathlib import Path

LOCAL_BUILDERS = {"json", "csv", "parquet", "text", "arrow", "pandas", "imagefolder", "audiofolder", "webdataset"}


@functools.lru_cache(maxsize=4)
def task_manager(include: tuple[str, ...]):
    from lmms_eval.tasks import TaskManager

    return TaskManager("ERROR", include_path=list(include) or None, model_name="llava_hf")


def leaf_configs(manager, name: str) -> list[dict]:
    """The task configs (simple mode: no hook imports) behind a task, group or tag name."""
    from lmms_eval import utils

    entry = manager.task_index[name]
    if entry["type"] == "python_task":
        return []  # a Python task class: lmms-eval alone knows its data
    if entry["type"] == "task":
        return [utils.load_yaml_config(entry["yaml_path"], mode="simple")]
    members = entry["task"] if entry["type"] == "tag" else utils.load_yaml_config(entry["yaml_path"], mode="simple")["task"]
    out = []
    for member in members if isinstance(members, list) else []:
        if isinstance(member, dict):
            out.append(member)
        elif member in manager.task_index:
            out += leaf_configs(manager, member)
    return out


def dataset_missing(config: dict) -> str | None:
    """None when the task's dataset is present locally, else why not (naming the dataset)."""
    path, kwargs = config.get("dataset_path"), config.get("dataset_kwargs") or {}
    if not isinstance(path, str) or not path:
        return None  # no dataset (a derived task): nothing to check
    if path in LOCAL_BUILDERS:
        files = kwargs.get("data_files") or {}
        files = files.values() if isinstance(files, dict) else files if isinstance(files, list) else [files]
        gone = [str(f) for f in files if isinstance(f, str) and not Path(f).expanduser().exists()]
        return f"data files {gone} of builder {path!r} do not exist" if gone else None
    if Path(path).expanduser().exists():
        return None
    if kwargs.get("load_from_disk"):
        return f"dataset folder {path!r} (load_from_disk) does not exist"
    from datasets.load import CachedDatasetModuleFactory
    from huggingface_hub import snapshot_download
    from lmms_eval.api.task import _resolve_hf_datasets_cache_dir

    cache = _resolve_hf_datasets_cache_dir()
    try:
        CachedDatasetModuleFactory(path, cache_dir=cache).get_module()  # what offline load_dataset reuses
        return None
    except (FileNotFoundError, AssertionError):
        pass
    try:
        snapshot_download(path, repo_type="dataset", local_files_only=True, cache_dir=os.environ.get("HF_HUB_CACHE"))
        return None
    except Exception:  # huggingface_hub's LocalEntryNotFoundError (or a bad repo id): not in the hub cache
        pass
    return (f"dataset {path!r} is not present locally (not a folder, not in the datasets cache {cache}, not in the "
            f"Hugging Face hub cache); download it first (e.g. `datasets.load_dataset({path!r})` on a machine with "
            f"network, same HF_HOME) or point an --include-path task at local files")


def check_tasks(tasks: list[str], include_path: str = "", skip: set[str] = frozenset()) -> None:
    """Raise ValueError for the first task lmms-eval does not know or whose dataset is not present locally."""
    names = [t for t in tasks if t not in skip]
    if not names:
        return
    from .evaluate import TASKS_DIR

    manager = task_manager(tuple([str(TASKS_DIR)] + ([include_path] if include_path else [])))
    for name in names:
        if name not in manager.task_index:
            raise ValueError(f"mllm config: field 'eval.tasks' has {name!r}: lmms-eval has no such task "
                             f"(include paths: {TASKS_DIR}{', ' + include_path if include_path else ''})")
        for config in leaf_configs(manager, name):
            why = dataset_missing(config)
            if why:
                raise ValueError(f"mllm config: field 'eval.tasks' has {name!r} (task {config.get('task', name)!r}): {why}")
