"""Leaderboard layouts: how one probe's measured metrics and the paper's published table line up.

A probe registers one `TableLayout` from a light module of its own (no torch import), listed in
`LAYOUT_MODULES` so that the leaderboard imports it on demand. The layout maps a measured
(dataset, metric) to a wide-table column named as the paper's table names it, and a column of the
paper's CSV (in results/paper/) back to (dataset, metric), so that measured and published rows share
columns.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass, field
from typing import Callable, Mapping

# probe -> module that calls register_layout on import
LAYOUT_MODULES = {
    "detection": "probes.detection.layout",
    "mllm": "mllm.layout",
    "refseg": "probes.refseg.layout",
    "tracking": "tracking.layout",
}


@dataclass(frozen=True)
class TableLayout:
    probe: str  # the run record's "probe" field
    title: str  # heading of the probe's section in the Markdown leaderboard
    # measured (dataset, metric) -> wide column, or None to keep the metric in the long table only
    wide_column: Callable[[str, str], str | None]
    paper_file: str = ""  # CSV under results/paper/ ("" when the paper has no such table)
    paper_info_columns: tuple[str, ...] = ("method", "arch", "resolution")  # descriptive, not values
    paper_method_column: str = "method"
    # paper CSV row (a dict) -> row label, where the method column alone does not tell rows apart
    paper_label: Callable[[dict], str] | None = None
    # paper CSV column -> (dataset, metric) as the probe's records name them; None leaves the column out
    paper_key: Callable[[str], tuple[str, str] | None] | None = None
    paper_scale: Mapping[str, float] = field(default_factory=dict)  # paper column -> factor into our unit
    paper_split: str = "val"
    citation: str = ""  # e.g. "Table 3"


_LAYOUTS: dict[str, TableLayout] = {}


def register_layout(layout: TableLayout) -> TableLayout:
    _LAYOUTS[layout.probe] = layout
    return layout


def get_layout(probe: str) -> TableLayout | None:
    """The probe's layout (imported on first use), or None for a probe without one."""
    if probe not in _LAYOUTS and probe in LAYOUT_MODULES:
        try:
            importlib.import_module(LAYOUT_MODULES[probe])
        except ModuleNotFoundError as err:
            if not LAYOUT_MODULES[probe].startswith(str(err.name)):
                raise
    return _LAYOUTS.get(probe)
