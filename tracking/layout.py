"""Table 4 of the paper: the OSTrack tracking probe on LaSOT, TrackingNet, GOT-10k and TNL2K (light: no torch)."""

from __future__ import annotations

from probes.tables import TableLayout, register_layout

METRICS = ("success", "precision", "norm_precision", "ao", "sr50", "sr75")


def wide_column(dataset: str, metric: str) -> str | None:
    """lasot_success, got10k_ao, toy_ao, ...: `<dataset>_<metric>` as the paper's CSV names its columns."""
    return f"{dataset}_{metric}" if metric in METRICS else None


def paper_key(column: str) -> tuple[str, str] | None:
    dataset, _, metric = column.partition("_")
    return (dataset, metric) if metric in METRICS else None


register_layout(TableLayout(
    probe="tracking", title="Table 4: OSTrack tracking probe (frozen backbone), %",
    wide_column=wide_column, paper_file="table4_tracking.csv", paper_info_columns=("method",),
    paper_method_column="method", paper_key=paper_key, citation="Table 4",
))
