"""Evaluation through lmms-eval 0.7.3 (`llava_hf` on our saved Hugging Face checkpoint).

lmms-eval's CLI exits 0 even when a task crashed, so success is read from its result files
(`<ts>_results.json`, and `<ts>_samples_<task>.jsonl` from `--log_samples`), never from the exit code.
OCRBench accumulates scores in module state, hence one subprocess per standard task; the packaged toy
tasks run in this process (lmms-eval's Python API, same result files). Scores are normalised as the
paper's Table 1 does: OCRBench /10 (its aggregate is a fraction of 1000), MME cognition /8, perception /20,
fractions x100. Toy tasks ship in mllm/tasks/ (`--include_path`); their data file is written into the folder
lmms-eval runs in. Our own exact match over lmms-eval's saved generations is computed beside its score.
"""

from __future__ import annotations

import json
import os
import shutil
import string
import subprocess
import sys
from collections import Counter, defaultdict
from pathlib import Path

from .data import Entry
from .tiny import IMAGE_TOKEN

TASKS_DIR = Path(__file__).resolve().parent / "tasks"
TOY_TASKS = {"toyvqa"}
LMMS_EVAL_VERSION = "0.7.3"
# metric key (as lmms-eval names it) -> factor into the paper's unit; others: fractions (<= 1) x100
PAPER_SCALE = {"mme_cognition_score": 1 / 8, "mme_percetion_score": 1 / 20, "mme_perception_score": 1 / 20}
OFFLINE_ENV = {"HF_HUB_OFFLINE": "1", "HF_DATASETS_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1"}


def installed_version() -> str:
    """The installed lmms-eval distribution's version (the pin says 0.7.3)."""
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("lmms_eval")
    except PackageNotFoundError:
        return "not installed"


def normalize(text: str) -> str:
    """lmms-eval's exact_match with ignore_case and ignore_punctuation (no other change)."""
    return str(text).lower().translate(str.maketrans("", "", string.punctuation))


def toy_rows(entries: list[Entry]) -> list[dict]:
    """toyvqa.jsonl rows from val entries: the question without its `<image>` mark, the answer, the image path."""
    rows = []
    for e in entries:
        question = e.conversations[0]["value"].replace(IMAGE_TOKEN, "").strip()
        rows.append({"id": e.id, "question": question, "answer": e.conversations[1]["value"],
                     "image": str(Path(e.image).resolve()), "question_type": e.question_type})
    return rows


def majority_baseline(rows: list[dict]) -> dict[str, float]:
    """Per question type: the accuracy (%) of always giving that type's most common answer."""
    by_type = defaultdict(list)
    for r in rows:
        by_type[r["question_type"]].append(normalize(r["answer"]))
    return {t: 100.0 * Counter(a).most_common(1)[0][1] / len(a) for t, a in sorted(by_type.items())}


def per_type_accuracy(rows: list[dict], predictions: dict[int, str]) -> dict[str, float]:
    """Exact match (%) per question type over predictions keyed by row index (lmms-eval's doc_id)."""
    hits, counts = Counter(), Counter()
    for i, r in enumerate(rows):
        if i in predictions:
            counts[r["question_type"]] += 1
            hits[r["question_type"]] += normalize(predictions[i]) == normalize(r["answer"])
    return {t: 100.0 * hits[t] / counts[t] for t in sorted(counts)}


def lmms_eval_command(checkpoint: Path, task: str, out_dir: Path, include: list[str], device: str,
                      batch_size: int, limit: int) -> list[str]:
    cmd = [sys.executable, "-m", "lmms_eval", "--model", "llava_hf",
           "--model_args", f"pretrained={checkpoint},dtype=float32,device_map={device}",
           "--tasks", task, "--batch_size", str(batch_size), "--device", device,
           "--output_path", str(out_dir), "--log_samples", "--include_path", ",".join(include)]
    return cmd + (["--limit", str(limit)] if limit > 0 else [])


def find_results(out_dir: Path, task: str) -> tuple[dict, Path | None]:
    """The newest `*_results.json` under out_dir holding `task`, and its samples file."""
    for res in sorted(out_dir.rglob("*_results.json"), key=lambda p: p.stat().st_mtime, reverse=True):
        data = json.loads(res.read_text())
        if task in data.get("results", {}):
            samples = sorted(res.parent.glob(f"{res.name.split('_results')[0]}_samples_{task}.jsonl"))
            return data, samples[0] if samples else None
    return {}, None


def run_task(checkpoint: Path, task: str, eval_dir: Path, *, device: str = "cpu", batch_size: int = 1,
             limit: int = 0, include_path: str = "", toy_rows_: list[dict] | None = None) -> dict:
    """Run one lmms-eval task; returns {"results", "samples", "log", "samples_file"} read from its result files.

    Our packaged toy tasks (no module state) run in this process through lmms-eval's Python API, which saves
    the same `<ts>_results.json` / `<ts>_samples_<task>.jsonl` as its CLI; every other task (OCRBench keeps
    scores in module state), and any task under torch.distributed, runs in its own `python -m lmms_eval`.
    """
    work = eval_dir / task
    work.mkdir(parents=True, exist_ok=True)
    if toy_rows_ is not None:
        (work / f"{task}.jsonl").write_text("".join(json.dumps(r) + "\n" for r in toy_rows_))
    include = [str(TASKS_DIR)] + ([include_path] if include_path else [])
    argv = lmms_eval_command(checkpoint.resolve(), task, work / "lmms_eval", include, device, batch_size, limit)[3:]
    log = work / "lmms_eval.log"
    import torch.distributed as dist

    if task in TOY_TASKS and not (dist.is_available() and dist.is_initialized()):
        _in_process(argv, task, work, log)
        returncode = 0
    else:
        env = {**os.environ, **OFFLINE_ENV, "TOKENIZERS_PARALLELISM": "false"}
        with open(log, "w") as f:
            f.write(" ".join([sys.executable, "-m", "lmms_eval", *argv]) + "\n")
            f.flush()
            returncode = subprocess.run([sys.executable, "-m", "lmms_eval", *argv], cwd=work, env=env, stdout=f,
                                        stderr=subprocess.STDOUT).returncode
    data, samples = find_results(work / "lmms_eval", task)
    if not data:
        tail = [ln for ln in log.read_text().splitlines() if ln.strip()][-3:]
        raise ValueError(f"lmms-eval task {task!r}: no result file under {work / 'lmms_eval'} (exit code "
                         f"{returncode}; a missing local dataset is the usual cause; log {log}): " + " | ".join(tail))
    rows = [json.loads(ln) for ln in samples.read_text().splitlines() if ln.strip()] if samples else []
    return {"results": data, "samples": rows, "log": log, "samples_file": samples}


def _cli_namespace(argv: list[str]):
    """lmms-eval's own CLI arguments for argv (its defaults for everything not given)."""
    import warnings

    with warnings.catch_warnings():  # its __main__ sets a process-wide DeprecationWarning filter
        from lmms_eval.__main__ import parse_eval_args
    saved = sys.argv
    sys.argv = ["lmms_eval", *argv]
    try:
        return parse_eval_args()[1]
    finally:
        sys.argv = saved


def _in_process(argv: list[str], task: str, work: Path, log: Path) -> None:
    """What `python -m lmms_eval ARGV` does for one packaged task, in this process (no re-import, no task index).

    The task is the packaged YAML, included from WORK/task/ where its data file lies; results and samples are saved by lmms-eval's EvaluationTracker as its CLI does.
    lmms-eval logs (loguru) go to `log` while it runs; warnings go to stderr afterwards.
    """
    from loguru import logger

    from lmms_eval import evaluator, utils
    from lmms_eval.loggers import EvaluationTracker
    from lmms_eval.tasks import TaskManager

    args = _cli_namespace(argv)
    # a one-line task YAML beside the data file: lmms-eval resolves the packaged YAML's relative data file
    # against it, and indexes only this folder (its full index of ~2000 tasks costs ~6 CPU seconds)
    folder = work / "task"
    folder.mkdir(exist_ok=True)
    (folder / f"{task}.yaml").write_text(f"include: {TASKS_DIR / task / f'{task}.yaml'}\n")
    shutil.copyfile(work / f"{task}.jsonl", folder / f"{task}.jsonl")
    log.write_text(" ".join(["(in process) lmms_eval", *argv]) + "\n")
    logger.remove()
    sink = logger.add(str(log), level=args.verbosity)
    try:
        manager = TaskManager(args.verbosity, include_path=str(folder), include_defaults=False, model_name=args.model)
        tracker = EvaluationTracker(output_path=args.output_path)
        stamp = utils.get_datetime_str(timezone=args.timezone)
        results = evaluator.simple_evaluate(
            model=args.model, model_args=args.model_args, tasks=[task], batch_size=args.batch_size,
            device=args.device, limit=args.limit, log_samples=True, evaluation_tracker=tracker, task_manager=manager,
            verbosity=args.verbosity, random_seed=args.seed[0], numpy_random_seed=args.seed[1],
            torch_random_seed=args.seed[2], fewshot_random_seed=args.seed[3], cli_args=args, datetime_str=stamp,
            force_simple=args.force_simple, process_docs_parallel=getattr(args, "process_docs_parallel", 4))
        samples = results.pop("samples")
        tracker.save_results_aggregated(results=results, samples=samples, datetime_str=stamp)
        for name in results["configs"]:
            tracker.save_results_samples(task_name=name, samples=samples[name])
    except Exception:
        logger.exception(f"lmms-eval task {task!r} failed")
    finally:
        logger.remove(sink)
        logger.add(sys.stderr, level="WARNING")


def paper_scores(task: str, results: dict) -> dict[str, float]:
    """lmms-eval's numeric metrics of one task, in the paper's unit (see module doc)."""
    out = {}
    for key, value in results.get("results", {}).get(task, {}).items():
        if not isinstance(value, (int, float)) or key.endswith("_stderr,none") or "stderr" in key or key == "alias":
            continue
        metric = key.split(",")[0]
        if metric in PAPER_SCALE:
            out[metric] = float(value) * PAPER_SCALE[metric]
        elif task.startswith("ocrbench") or abs(value) <= 1.0:
            out[metric] = 100.0 * float(value)
        else:
            out[metric] = float(value)
    return out


def sample_predictions(samples: list[dict]) -> dict[int, str]:
    """doc_id -> the (filtered) generation lmms-eval scored."""
    out = {}
    for s in samples:
        resp = s.get("filtered_resps") or s.get("resps") or [""]
        while isinstance(resp, list):
            resp = resp[0] if resp else ""
        out[int(s["doc_id"])] = str(resp)
    return out
