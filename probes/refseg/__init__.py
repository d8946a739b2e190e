"""Referring segmentation probe (paper, Table 2): LISA on the MLLM probe's LLaVA-NeXT, SAM mask decoder.

`run(cfg, backbone)` trains the [SEG] path on refer-format data (RefCOCO / RefCOCO+ / RefCOCOg in LISA's
layout, or the toy world's) and scores gIoU / cIoU teacher-forced, writing predictions_<split>.json.
"""

from .config import RefsegConfig
from .probe import LoadedData, load_data, run

__all__ = ["RefsegConfig", "LoadedData", "load_data", "run"]
