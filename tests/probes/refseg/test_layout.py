"""Table 2 layout: measured cIoU / gIoU columns line up with the paper's (cIoU) columns."""

from __future__ import annotations

from pathlib import Path

from probes.leaderboard import paper_rows
from probes.tables import get_layout

PAPER_DIR = Path(__file__).resolve().parents[3] / "results" / "paper"


def test_columns_and_paper_rows():
    layout = get_layout("refseg")
    assert layout.wide_column("refer", "refcoco+_testB_ciou") == "refcoco+_testB"
    assert layout.wide_column("refer", "refcocog_test_giou") == "refcocog_test_giou"
    assert layout.wide_column("refer", "train_subset_ciou") is None
    rows = paper_rows(layout, PAPER_DIR)
    rice = [r for r in rows if r["backbone"] == "LISA (RICE, Qwen2.5-7B, llava-next)"]
    assert {r["metric"]: r["value"] for r in rice}["refcoco_val_ciou"] == 83.5 and len(rice) == 8
    assert len({r["backbone"] for r in rows}) == 13  # every paper row stays its own row
