"""A finished sweep's tables and plots, built only from the cells' own run records (metrics.json):

    OUT/results/sweep_long.csv     one row per cell x probe x metric (every knob of the cell as a column),
                                   plus the pretraining run's last logged losses (probe "pretrain")
    OUT/results/<knob>_wide.csv    Table 5's shape: one row per cell, the varied knobs, one column per metric;
    OUT/results/<knob>.md          with the paper's Table 5 rows for the same knob beside (rows source=paper)
    OUT/results/<knob>.png         the headline metric of each probe against the knob, a line per setting of
                                   the other varied knobs

Every file is written atomically, after all cells finished; a killed sweep leaves the previous tables or
none, never a half-written row. Paper rows come from results/paper/table5_ablations.csv (Table 5 of the
RICE paper: ViT-B/16 on 10% of the data, COCO / LVIS / OCR benchmarks): they sit beside the measured rows
where the knob is the same ablation, and are marked as published numbers, not measured ones.
"""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd

from probes.records import atomic_write_text

from .knobs import all_knobs, paper_ablation

PAPER_TABLE5 = Path(__file__).resolve().parents[2] / "results" / "paper" / "table5_ablations.csv"
HEADLINE = ("bbox_AP", "segm_AP", "loss_total")  # plotted where a probe reports them; else its first metric
LOSSES = ("object", "ocr", "image", "total")  # pretraining losses of the last logged step, in the long table


def long_rows(cells: list[dict], probes: list[str]) -> pd.DataFrame:
    """cells: job records of the cell phase (see jobs.run_job); metrics are read from each run's metrics.json."""
    rows = []
    knob_names = sorted({k for c in cells for k in c["cell"]})
    defaults = {k: v.default for k, v in all_knobs().items()}  # an absent knob is at its default
    for c in cells:
        base = {"cell": c["id"], **{k: c["cell"].get(k, defaults.get(k)) for k in knob_names}}
        pretrain = next((r for step, r in c["results"].items() if step.startswith("pretrain-")), None)
        if pretrain and pretrain.get("last"):  # the pretraining run's last logged losses (train_log.jsonl)
            for key in LOSSES:
                if key in pretrain["last"]:
                    rows.append({**base, "probe": "pretrain", "dataset": "shards", "split": "train",
                                 "metric": f"loss_{key}", "value": float(pretrain["last"][key]),
                                 "run_dir": pretrain["dir"]})
        for probe in probes:
            result = c["results"][probe]
            record = json.loads((Path(result["dir"]) / "metrics.json").read_text())
            for metric, value in record["metrics"].items():
                if isinstance(value, bool) or not isinstance(value, (int, float)):
                    continue
                rows.append({**base, "probe": probe,
                             "dataset": record.get("dataset", ""), "split": record.get("split", ""),
                             "metric": metric, "value": float(value), "run_dir": result["dir"]})
    return pd.DataFrame(rows)


def wide_table(long: pd.DataFrame, knob: str, varied: list[str]) -> pd.DataFrame:
    keys = [knob] + [k for k in varied if k != knob]
    frame = long.assign(column=long["probe"] + "/" + long["dataset"].astype(str) + "/" + long["metric"])
    wide = frame.pivot_table(index=["cell", *keys], columns="column", values="value", aggfunc="first")
    wide = wide.reset_index().sort_values(keys, key=lambda s: s.map(_sort_key)).reset_index(drop=True)
    wide.columns.name = None
    wide.insert(0, "source", "measured")
    return wide


def _sort_key(v):
    return (0, float(v), "") if isinstance(v, (int, float)) and not isinstance(v, bool) else (1, 0.0, str(v))


def paper_rows(knob: str, paper_csv: Path = PAPER_TABLE5) -> pd.DataFrame:
    """The paper's Table 5 rows of the same ablation: {knob: value, <metric>: score}, source=paper."""
    ablation = paper_ablation(knob)
    if not ablation or not Path(paper_csv).is_file():
        return pd.DataFrame()
    table = pd.read_csv(paper_csv)
    table = table[table["ablation"] == ablation]
    if table.empty:
        return table
    wide = table.pivot_table(index="value", columns="metric", values="score", aggfunc="first").reset_index()
    wide.columns.name = None
    wide = wide.rename(columns={"value": knob, **{m: f"paper/{m}" for m in table["metric"].unique()}})
    wide.insert(0, "source", "paper (RICE Table 5, ViT-B/16, 10% data)")
    return wide


def _markdown(frame: pd.DataFrame) -> str:
    if frame.empty:
        return "(none)\n"
    cols = list(frame.columns)
    fmt = lambda v: "" if pd.isna(v) else (f"{v:.2f}" if isinstance(v, float) else str(v))  # noqa: E731
    lines = ["| " + " | ".join(cols) + " |", "|" + "---|" * len(cols)]
    lines += ["| " + " | ".join(fmt(v) for v in row) + " |" for row in frame.itertuples(index=False)]
    return "\n".join(lines) + "\n"


def plot_knob(wide: pd.DataFrame, knob: str, varied: list[str], path: Path) -> Path:
    from probes.demo.figures import _pyplot, save_figure

    plt = _pyplot()
    metric_cols = [c for c in wide.columns if c.count("/") == 2]
    by_probe: dict[str, list[str]] = {}
    for c in metric_cols:
        by_probe.setdefault(c.split("/")[0], []).append(c)
    shown = []
    for cols in by_probe.values():
        picked = [c for c in cols if c.split("/")[-1] in HEADLINE]
        shown += picked or cols[:1]
    others = [k for k in varied if k != knob]
    numeric = all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in wide[knob])
    fig, axes = plt.subplots(1, len(shown), figsize=(4.2 * len(shown), 3.4), squeeze=False)
    for ax, col in zip(axes[0], shown):
        groups = wide.groupby(others, dropna=False) if others else [((), wide)]
        for key, part in groups:
            key = key if isinstance(key, tuple) else (key,)
            label = ", ".join(f"{k}={v}" for k, v in zip(others, key)) or col.split("/")[-1]
            x = part[knob] if numeric else part[knob].astype(str)
            ax.plot(x, part[col], marker="o", label=label)
        if numeric and len(set(wide[knob])) > 2 and min(wide[knob]) > 0 and max(wide[knob]) / min(wide[knob]) >= 20:
            ax.set_xscale("log")
        ax.set_xlabel(knob)
        ax.set_ylabel(col)
        ax.grid(alpha=0.3)
        ax.legend(fontsize=7)
    fig.suptitle(f"sweep over {knob}", fontsize=10)
    return save_figure(fig, path)


def write_tables(cells: list[dict], probes: list[str], varied: list[str], out: Path) -> dict:
    """All the files above; returns their paths (and the long table's row count)."""
    out = Path(out)
    long = long_rows(cells, probes)
    written = {"long_csv": str(atomic_write_text(out / "sweep_long.csv", long.to_csv(index=False))),
               "rows": len(long), "knobs": {}}
    if long.empty:
        return written
    for knob in varied:
        wide = wide_table(long, knob, varied)
        paper = paper_rows(knob)
        both = pd.concat([wide, paper], ignore_index=True) if not paper.empty else wide
        csv = atomic_write_text(out / f"{knob}_wide.csv", both.to_csv(index=False))
        text = f"# Sweep over `{knob}`\n\nMeasured (one row per cell; metrics in %):\n\n{_markdown(wide)}"
        if not paper.empty:
            text += (f"\nThe paper's Table 5 for the same ablation ({paper_ablation(knob)}; ViT-B/16 pretrained on "
                     "10% of the data, COCO/LVIS val or OCR benchmarks: published numbers, another scale, not "
                     f"measured here):\n\n{_markdown(paper)}")
        md = atomic_write_text(out / f"{knob}.md", text)
        png = plot_knob(wide, knob, varied, out / f"{knob}.png")
        written["knobs"][knob] = {"wide_csv": str(csv), "markdown": str(md), "plot": str(png)}
    return written
