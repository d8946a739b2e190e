"""Run the tracker over the eval sequences, write the benchmark's result files, score what was written.

Scores (percent): GOT-10k-format data (GOT-10k, the toy world) get AO / SR0.5 / SR0.75 (got10k toolkit
definitions) and success / precision / normalized precision (pytracking definitions); LaSOT, TNL2K and
TrackingNet get the pytracking ones (LaSOT with its visibility rule). Splits without public ground truth
(GOT-10k test, TrackingNet TEST) get result files and a server zip, and no local metrics.
The fixed-first-box baseline is scored the same way, as a floor.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from rice.progress import progress as progress_bar

from . import metrics, results
from .datasets import Sequence
from .model import TrackerNet
from .tracker import CropSizes, Tracker, track_sequence

TRACKER_NAME = "probe"  # the tracker folder under results/GOT-10k/ (ExperimentGOT10k's `tracker_names`)
GOT10K_FORMAT = ("got10k", "toy")


def result_paths(dataset: str) -> dict[str, str]:
    if dataset in GOT10K_FORMAT:
        return {"results": f"results/GOT-10k/{TRACKER_NAME}", "toolkit": "got10k ExperimentGOT10k(result_dir=results)"}
    if dataset == "trackingnet":
        return {"results": "results/trackingnet", "submission": "results/trackingnet_submission.zip"}
    return {"results": f"results/{dataset}"}


def write_results(root: Path, dataset: str, seq: Sequence, boxes: np.ndarray, times: np.ndarray) -> np.ndarray:
    """Write one sequence's result file and return the boxes as read back from it."""
    folder = root / result_paths(dataset)["results"]
    if dataset in GOT10K_FORMAT:
        results.write_got10k(folder, seq.name, boxes, times)
        return results.read_got10k(folder, seq.name)
    path = results.write_txt(folder, seq.name, boxes)
    return results.read_txt(path)


def score(dataset: str, sequences: list[Sequence], predictions: list[np.ndarray]) -> dict[str, float]:
    if not all(s.has_groundtruth for s in sequences):
        return {}
    out: dict[str, float] = {}
    if dataset in GOT10K_FORMAT:
        out.update(metrics.got10k_metrics([metrics.got10k_ious(p, s.boxes, s.cover, s.resolution)
                                           for s, p in zip(sequences, predictions)]))
    lasot = dataset == "lasot"
    out.update(metrics.pytracking_metrics([metrics.pytracking_errors(p, s.boxes, s.visible if lasot else None, lasot)
                                           for s, p in zip(sequences, predictions)]))
    return out


def evaluate(net: TrackerNet, sizes: CropSizes, sequences: list[Sequence], dataset: str, run_root: Path,
             device: torch.device, hann: bool = True, progress: bool = True) -> dict:
    """{"metrics", "baseline_metrics", "files", "frames", "fps"} for the eval split."""
    tracker = Tracker(net, sizes, device, hann)
    predictions, seconds, frames = [], 0.0, 0
    for seq in progress_bar(sequences, desc="tracking eval", disable=not progress):
        boxes, times = track_sequence(tracker, seq)
        predictions.append(write_results(run_root, dataset, seq, boxes, times))
        seconds, frames = seconds + float(times[1:].sum()), frames + len(times) - 1
    files = result_paths(dataset)
    if dataset == "trackingnet":
        results.write_trackingnet_zip(run_root / files["submission"], dict(zip((s.name for s in sequences),
                                                                               predictions)))
    if dataset == "got10k" and not all(s.has_groundtruth for s in sequences):
        files["submission"] = f"results/GOT-10k/{TRACKER_NAME}.zip"
        results.zip_got10k(run_root / files["results"], run_root / files["submission"])
    fixed = [np.repeat(s.boxes[:1], len(s.frames), axis=0) for s in sequences]
    return {"metrics": score(dataset, sequences, predictions), "baseline_metrics": score(dataset, sequences, fixed),
            "files": files, "frames": frames, "fps": frames / seconds if seconds > 0 else 0.0}
