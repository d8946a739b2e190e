"""Table 1 of the paper (OCR/document half): LLaVA-NeXT + Qwen2.5-7B with each vision tower, lmms-eval scores.

Records name the dataset ("llava-next" at paper scale, "toy" on the toy world) and one metric per lmms-eval
task (its main score in %, OCRBench /10, MME cognition /8 and perception /20); toy runs add per-question-type
accuracies (toyvqa_count, ...). No torch import here: the leaderboard loads this module on demand.
"""

from __future__ import annotations

from probes.tables import TableLayout, register_layout

# the paper's columns -> the lmms-eval task names our paper-scale preset runs
PAPER_TASKS = {"infovqa": "infovqa_val", "docvqa": "docvqa_val", "chartqa": "chartqa", "textvqa": "textvqa_val",
               "ocrbench": "ocrbench"}
COLUMN_OF_TASK = {task: column for column, task in PAPER_TASKS.items()}


def wide_column(dataset: str, metric: str) -> str | None:
    """Paper tasks under the paper's column names; every other task (toyvqa, ai2d, ...) under its own name."""
    return COLUMN_OF_TASK.get(metric, metric)


def paper_key(column: str) -> tuple[str, str] | None:
    """The paper's unnamed columns (ocr_col6/7) and its average are not measured tasks."""
    if column in PAPER_TASKS:
        return "llava-next", PAPER_TASKS[column]
    return None


def paper_label(row: dict) -> str:
    """The paper's LLaVA-OneVision rows (Qwen2-7B) repeat methods of its LLaVA-NeXT rows: keep them apart."""
    if row["framework"] == "llava-next":
        return str(row["method"])
    return f"{row['method']} ({row['framework']}, {row['llm']})"


register_layout(TableLayout(
    probe="mllm", title="MLLM probe (LLaVA-NeXT, lmms-eval 0.7.3), scores %",
    wide_column=wide_column, paper_file="table1_mllm_ocr.csv", paper_info_columns=("framework", "method", "arch", "llm"),
    paper_method_column="method", paper_label=paper_label, paper_key=paper_key, paper_scale={"ocrbench": 0.1},
    paper_split="test",
    citation="Table 1",
))
