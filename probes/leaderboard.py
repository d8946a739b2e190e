"""Leaderboards from run records: a long table, wide tables shaped like the paper's, and Markdown.

Long: one row per (source, probe, dataset, split, metric, backbone, run) with the protocol columns.
Wide: one row per backbone (and per paper row) and probe, one column per (dataset, metric) as the
probe's `TableLayout` (probes/tables.py) names it after the paper's table (`coco_det_ap`,
`refcoco_val`, `got10k_ao`, ...), seeds averaged, plus `<column>_delta` against a baseline. The
paper's published rows (results/paper/, cited in its README) carry `source=paper`; measured rows
carry `source=run`. A backbone is keyed by its identity (the weights' fingerprint in the record, or
else its full source path), never by its folder name alone: two different models called `rice-tiny`
are two rows (shown as `rice-tiny@<fingerprint>`). Runs of one probe and dataset must share a
protocol (every field of their records' `protocol`, and the split) to be put side by side, unless
`allow_mixed`.
"""

from __future__ import annotations

import json
import math
import os
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from .records import METRICS_FILE, atomic_write_text
from .tables import TableLayout, get_layout

PAPER_DIR = Path(__file__).resolve().parents[1] / "results" / "paper"
PAPER_PROTOCOL = "paper"
ARCH_SIZES = {192: "Ti", 384: "S", 768: "B", 1024: "L", 1152: "SO400M", 1280: "H", 1664: "bigG"}
LONG_COLUMNS = ["source", "probe", "dataset", "split", "metric", "backbone", "value", "arch", "resolution",
                "schedule", "seed", "run_id", "config_name", "code_revision", "backbone_id", "path"]
PAPER_NAME = ("*Region-based Cluster Discrimination for Visual Representation Learning* (RICE, ICCV 2025)")


def arch_name(info: dict) -> str:
    dim, patch = info.get("embed_dim"), info.get("patch_size")
    return f"ViT-{ARCH_SIZES.get(dim, f'{dim}d')}/{patch}"


def collect_runs(runs_dir: str | Path) -> list[dict]:
    """Every finished run (metrics.json) under `runs_dir`, each with its path under key '_path'."""
    runs_dir = Path(runs_dir)
    if not runs_dir.is_dir():
        raise FileNotFoundError(f"runs directory {runs_dir} does not exist")
    records = []
    for file in sorted(runs_dir.rglob(METRICS_FILE)):
        try:
            rec = json.loads(file.read_text())
        except json.JSONDecodeError as err:
            raise ValueError(f"{file}: not valid JSON ({err})") from None
        for key in ("probe", "dataset", "split", "backbone", "metrics", "protocol"):
            if key not in rec:
                raise ValueError(f"{file}: field '{key}' is missing; not a run record")
        for metric, value in rec["metrics"].items():
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
                raise ValueError(f"{file}: field 'metrics.{metric}' = {value!r} is not a finite number")
        rec["_path"] = str(file.parent)
        records.append(rec)
    return records


def backbone_id(rec: dict) -> str:
    """The weights' fingerprint when the record has one, else the full source path, else the name."""
    bb = rec["backbone"]
    info = bb.get("info", {})
    return str(bb.get("fingerprint") or bb.get("source") or info.get("source") or bb["name"])


def display_names(records: list[dict]) -> dict[str, str]:
    """backbone id -> row label: the name, plus `@<fingerprint>` where two identities share a name."""
    ids_of: dict[str, set[str]] = {}
    for rec in records:
        ids_of.setdefault(rec["backbone"]["name"], set()).add(backbone_id(rec))
    labels = {}
    for name, ids in ids_of.items():
        for i in ids:
            labels[i] = name if len(ids) == 1 else f"{name}@{i[:8] if len(i) >= 8 and '/' not in i else i}"
    return labels


def run_rows(records: list[dict]) -> list[dict]:
    labels = display_names(records)
    rows = []
    for rec in records:
        info = rec["backbone"].get("info", {})
        bid = backbone_id(rec)
        for metric, value in rec["metrics"].items():
            rows.append({
                "source": "run", "probe": rec["probe"], "dataset": rec["dataset"], "split": rec["split"],
                "metric": metric, "backbone": labels[bid], "value": float(value),
                "arch": arch_name(info), "resolution": str(rec["protocol"].get("resolution", "")),
                "schedule": str(rec["protocol"].get("schedule", "")), "seed": rec.get("seed", ""),
                "run_id": rec.get("run_id", ""), "config_name": rec.get("config_name", ""),
                "code_revision": rec.get("code_revision", ""), "backbone_id": bid,
                "path": rec["_path"], "family": info.get("family", ""),
            })
    return rows


def paper_rows(layout: TableLayout, paper_dir: Path) -> list[dict]:
    """The paper's published table as long rows (values in the probe's own unit)."""
    file = paper_dir / layout.paper_file
    if not file.is_file():
        raise FileNotFoundError(f"paper table {file} not found (pass --paper-dir, or --no-paper)")
    table = pd.read_csv(file)
    value_columns = [c for c in table.columns if c not in layout.paper_info_columns]
    rows = []
    for _, r in table.iterrows():
        label = layout.paper_label(r.to_dict()) if layout.paper_label else str(r[layout.paper_method_column])
        for col in value_columns:
            key = layout.paper_key(col) if layout.paper_key else (col, col)
            if key is None or pd.isna(r[col]):
                continue
            dataset, metric = key
            rows.append({
                "source": "paper", "probe": layout.probe, "dataset": dataset, "split": layout.paper_split,
                "metric": metric, "backbone": label,
                "value": round(float(r[col]) * layout.paper_scale.get(col, 1.0), 6),
                "arch": str(r.get("arch", "")), "resolution": str(r.get("resolution", "")),
                "schedule": PAPER_PROTOCOL, "seed": "", "run_id": "", "config_name": "", "code_revision": "",
                "backbone_id": f"paper:{label}", "path": str(file),
                "family": str(r[layout.paper_method_column]).lower(), "_column": col,
            })
    return rows


def protocol_conflicts(records: list[dict]) -> list[str]:
    """Human-readable differences of protocol among runs of the same probe and dataset."""
    groups: dict[tuple[str, str], list[dict]] = {}
    for rec in records:
        groups.setdefault((rec["probe"], rec["dataset"]), []).append(rec)
    problems = []
    for (probe, dataset), recs in sorted(groups.items()):
        fields = sorted({"split"} | {k for rec in recs for k in rec["protocol"]})
        for field in fields:
            values: dict[str, list[str]] = {}
            for rec in recs:
                value = rec["protocol"].get(field) if field != "split" else rec["split"]
                values.setdefault(str(value), []).append(f"{rec['backbone']['name']}/{rec.get('run_id', '?')}")
            if len(values) > 1:
                listed = "; ".join(f"{v} ({', '.join(who)})" for v, who in sorted(values.items()))
                problems.append(f"{probe}/{dataset}: {field} differs: {listed}")
    return problems


@dataclass
class Leaderboard:
    long: pd.DataFrame
    wide: pd.DataFrame  # every probe's rows; columns are the union of the probes' columns
    markdown: str
    per_probe: dict[str, pd.DataFrame]


def _wide_columns(long: pd.DataFrame) -> pd.Series:
    out = []
    for probe, dataset, metric in zip(long["probe"], long["dataset"], long["metric"]):
        layout = get_layout(probe)
        out.append(layout.wide_column(dataset, metric) if layout else None)
    return pd.Series(out, index=long.index, dtype=object)


def wide_table(long: pd.DataFrame, baseline: str | None, split_protocols: bool = False,
               paper_columns: tuple[str, ...] = ()) -> pd.DataFrame:
    """One probe's wide table: one row per (source, backbone); with `split_protocols` (mixed runs allowed)
    one row per protocol too, so that runs of different protocols are never averaged together."""
    head = ["probe", "method", "arch", "resolution", "schedule", "source", "runs"]
    ap = long.assign(column=_wide_columns(long)).dropna(subset=["column"])
    if ap.empty:
        return pd.DataFrame(columns=head)
    ap = ap.rename(columns={"backbone": "method"})
    key = ["probe", "source", "method", "arch"] + (["resolution", "schedule"] if split_protocols else [])
    values = ap.pivot_table(index=key, columns="column", values="value", aggfunc="mean")
    grouped = ap.groupby(key)
    wide = values.reset_index()
    runs = ap[ap["source"] == "run"].groupby(key)["path"].nunique()
    joined = lambda col: grouped[col].agg(lambda v: "; ".join(dict.fromkeys(map(str, v))))  # noqa: E731
    lookup = lambda series, r, default: series.get(tuple(r[k] for k in key), default)  # noqa: E731
    if not split_protocols:
        res, sched = joined("resolution"), joined("schedule")
        wide["resolution"] = [lookup(res, r, "") for _, r in wide.iterrows()]
        wide["schedule"] = [lookup(sched, r, "") for _, r in wide.iterrows()]
    wide["runs"] = [int(lookup(runs, r, 0)) for _, r in wide.iterrows()]
    metric_cols = [c for c in paper_columns if c in wide.columns]
    metric_cols += sorted(c for c in values.columns if c not in metric_cols)
    wide["_order"] = (wide["source"] != "paper").astype(int)
    wide = wide.sort_values(["probe", "_order", "method"], kind="stable").drop(columns="_order")
    wide = wide[[*head, *metric_cols]]
    if baseline:
        wide = add_deltas(wide, long, baseline, metric_cols)
    return wide.reset_index(drop=True)


def add_deltas(wide: pd.DataFrame, long: pd.DataFrame, baseline: str, metric_cols: list[str]) -> pd.DataFrame:
    """`<col>_delta` = value - baseline's value, within each source: measured rows against the measured
    baseline backbone, paper rows against the paper row of the same method (or the baseline's family)."""
    fam = long.loc[(long["source"] == "run") & (long["backbone"] == baseline), "family"]
    names = {baseline.lower()} | {str(f).lower() for f in fam}
    wide = wide.copy()
    found = False
    for source in ("run", "paper"):
        rows = wide["source"] == source
        match = rows & (wide["method"] == baseline if source == "run" else wide["method"].str.lower().isin(names))
        if not match.any():
            continue
        found = True
        base = wide[match].iloc[0]
        for col in metric_cols:
            wide.loc[rows, f"{col}_delta"] = (wide.loc[rows, col] - base[col]).round(4)
    if not found:
        known = sorted(set(wide["method"]))
        raise ValueError(f"--baseline {baseline!r} matches no backbone or paper row (known: {', '.join(known)})")
    head = [c for c in wide.columns if c not in metric_cols and not c.endswith("_delta")]
    return wide[head + [c for col in metric_cols for c in (col, f"{col}_delta") if c in wide.columns]]


def to_markdown(df: pd.DataFrame) -> str:
    def fmt(col, v):
        if isinstance(v, float):
            if math.isnan(v):
                return ""
            return f"{v:+.1f}" if col.endswith("_delta") else f"{v:.1f}"
        return str(v)

    cols = list(df.columns)
    lines = ["| " + " | ".join(cols) + " |", "|" + "|".join("---" for _ in cols) + "|"]
    lines += ["| " + " | ".join(fmt(c, r[c]) for c in cols) + " |" for _, r in df.iterrows()]
    return "\n".join(lines)


def build_leaderboard(runs_dir: str | Path, baseline: str | None = None, allow_mixed: bool = False,
                      paper_dir: Path | None = PAPER_DIR) -> Leaderboard:
    records = collect_runs(runs_dir)
    if not records:
        raise ValueError(f"{runs_dir}: no finished runs (no {METRICS_FILE} below it)")
    conflicts = protocol_conflicts(records)
    if conflicts and not allow_mixed:
        raise ValueError("refusing to put runs with different protocols side by side:\n  " + "\n  ".join(conflicts)
                         + "\npass --allow-mixed to compare them anyway")
    rows = run_rows(records)
    paper_columns: dict[str, list[str]] = {}
    for probe in sorted({r["probe"] for r in records}):
        layout = get_layout(probe)
        if paper_dir is not None and layout is not None and layout.paper_file:
            published = paper_rows(layout, Path(paper_dir))
            rows += published
            paper_columns[probe] = list(dict.fromkeys(
                layout.wide_column(r["dataset"], r["metric"]) or r["_column"] for r in published))
    long = pd.DataFrame(rows)
    long["_order"] = (long["source"] != "paper").astype(int)
    long = long.sort_values(["probe", "dataset", "metric", "_order", "backbone", "seed"], kind="stable")
    long = long.drop(columns="_order")
    per_probe, sections = {}, []
    probes_with_baseline = {p for p in long["probe"].unique()
                            if baseline and baseline in set(long.loc[long["probe"] == p, "backbone"])}
    for probe in sorted(long["probe"].unique()):
        part = long[long["probe"] == probe]
        use_baseline = baseline if (probe in probes_with_baseline or not probes_with_baseline) else None
        wide = wide_table(part, use_baseline, split_protocols=bool(conflicts),
                          paper_columns=tuple(paper_columns.get(probe, ())))
        per_probe[probe] = wide
        layout = get_layout(probe)
        cited = f" Rows with source=paper: {PAPER_NAME}, {layout.citation} (see results/paper/README.md)." \
            if probe in paper_columns and layout and layout.citation else ""
        sections += [f"## {layout.title if layout else probe}", "", f"Probe `{probe}`.{cited}", "",
                     to_markdown(wide), ""]
    wide_all = pd.concat(list(per_probe.values()), ignore_index=True) if per_probe else pd.DataFrame()
    md = "\n".join(["# Leaderboard", "", f"Runs from `{runs_dir}`; metrics in percent.", "",
                    *(["**Mixed protocols:** " + "; ".join(conflicts), ""] if conflicts else []), *sections])
    return Leaderboard(long[LONG_COLUMNS].reset_index(drop=True), wide_all, md, per_probe)


def check_output(out_csv: str | Path) -> Path:
    """-o must name a file in a folder we can write to; said before anything is written."""
    out_csv = Path(out_csv)
    if out_csv.is_dir():
        raise ValueError(f"-o {out_csv}: is a folder; name the long table's CSV file (e.g. {out_csv / 'board.csv'})")
    parent = out_csv.parent
    while not parent.exists():
        parent = parent.parent
    if not parent.is_dir():
        raise ValueError(f"-o {out_csv}: {parent} is a file, not a folder")
    if not os.access(parent, os.W_OK | os.X_OK):
        raise ValueError(f"-o {out_csv}: cannot write into {parent} (permission denied)")
    return out_csv


def write_leaderboard(board: Leaderboard, out_csv: str | Path) -> dict[str, Path]:
    """OUT.csv (long), OUT_wide.csv (all probes), OUT_wide_<probe>.csv (one per probe) and OUT.md; the caller has
    checked `out_csv` with `check_output` before reading the runs."""
    out_csv = Path(out_csv)
    wide_path = out_csv.with_name(out_csv.stem + "_wide.csv")
    md_path = out_csv.with_suffix(".md")
    atomic_write_text(out_csv, board.long.to_csv(index=False))
    atomic_write_text(wide_path, board.wide.to_csv(index=False))
    paths = {"long": out_csv, "wide": wide_path, "markdown": md_path}
    for probe, wide in board.per_probe.items():
        paths[f"wide_{probe}"] = atomic_write_text(out_csv.with_name(f"{out_csv.stem}_wide_{probe}.csv"),
                                                   wide.to_csv(index=False))
    atomic_write_text(md_path, board.markdown)
    return paths
