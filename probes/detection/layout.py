"""Table 3 of the paper: Cascade Mask R-CNN AP (%) on COCO, LVIS and the Roboflow100-VL domains."""

from __future__ import annotations

from probes.tables import TableLayout, register_layout

SUFFIX = {"bbox_AP": "det_ap", "segm_AP": "seg_ap"}


def wide_column(dataset: str, metric: str) -> str | None:
    """coco_det_ap, lvis_seg_ap, ...; the Roboflow100 columns are detection AP under the domain's name."""
    if metric not in SUFFIX:
        return None
    if dataset.startswith("rf100_") and metric == "bbox_AP":
        return dataset
    return f"{dataset}_{SUFFIX[metric]}"


def paper_key(column: str) -> tuple[str, str]:
    for metric, suffix in SUFFIX.items():
        if column.endswith(f"_{suffix}"):
            return column[: -len(suffix) - 1], metric
    return column, "bbox_AP"


register_layout(TableLayout(
    probe="detection", title="Detection (Cascade Mask R-CNN on a frozen backbone), AP %",
    wide_column=wide_column, paper_file="table3_detection.csv", paper_key=paper_key, citation="Table 3",
))
