"""Table 2 of the paper: LISA referring segmentation, cIoU (%) on RefCOCO / RefCOCO+ / RefCOCOg.

A run records `<dataset>_<split>_ciou` and `_giou` for each LISA split it scored (`refcoco_val_ciou`,
`refcocog_test_giou`, ...). The paper's "IoU" is cIoU (LISA's reported metric), so the wide columns
`refcoco_val`, ... are cIoU as in the paper's CSV, and `<column>_giou` carry gIoU beside them.
"""

from __future__ import annotations

from probes.tables import TableLayout, register_layout

DATASET = "refer"
SPLITS = ("refcoco_val", "refcoco_testA", "refcoco_testB", "refcoco+_val", "refcoco+_testA", "refcoco+_testB",
          "refcocog_val", "refcocog_test")


def wide_column(dataset: str, metric: str) -> str | None:
    for suffix, tail in (("_ciou", ""), ("_giou", "_giou")):
        if metric.endswith(suffix) and metric[: -len(suffix)] in SPLITS:
            return metric[: -len(suffix)] + tail
    return None  # e.g. train_subset_*: kept in the long table only


def paper_key(column: str) -> tuple[str, str] | None:
    return (DATASET, f"{column}_ciou") if column in SPLITS else None


register_layout(TableLayout(
    probe="refseg", title="Referring segmentation (LISA on LLaVA-NeXT, SAM decoder), cIoU %",
    wide_column=wide_column, paper_file="table2_refseg.csv", paper_key=paper_key,
    paper_info_columns=("row", "framework", "vision_encoder", "llm", "method"), paper_method_column="row",
    citation="Table 2",
))
