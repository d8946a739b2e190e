"""Leaderboard tables from fixture run records and the paper's Table 3."""

from __future__ import annotations

import pandas as pd
import pytest

from probes.cli import main
from probes.leaderboard import build_leaderboard
from probes.records import RunDir

INFO = {"rice-vit-b": dict(family="rice", embed_dim=768, patch_size=16),
        "mlcd-vit-b": dict(family="mlcd", embed_dim=768, patch_size=16)}


def _record(runs, backbone, dataset, bbox, segm, seed=0, resolution="train512/test512", schedule="184375x64",
            split="val2017"):
    run_id = f"r-s{seed}-{resolution}-{schedule}"
    rec = {
        "probe": "detection", "dataset": dataset, "split": split, "seed": seed, "run_id": run_id,
        "backbone": {"name": backbone, "info": {"name": backbone, **INFO[backbone]}},
        "metrics": {"bbox_AP": bbox, "bbox_AP50": bbox + 20, "segm_AP": segm},
        "protocol": {"resolution": resolution, "schedule": schedule, "split": split},
        "config_name": "vitdet_b16_512", "code_revision": "abc",
    }
    RunDir.locate(runs, "detection", dataset, backbone, run_id).write_metrics(rec)


@pytest.fixture
def runs(tmp_path):
    runs = tmp_path / "runs"
    _record(runs, "rice-vit-b", "coco", 40.0, 32.0, seed=0)
    _record(runs, "rice-vit-b", "coco", 38.0, 31.0, seed=1)
    _record(runs, "mlcd-vit-b", "coco", 36.0, 29.0)
    _record(runs, "rice-vit-b", "lvis", 27.0, 22.0, split="lvis_v1_val", schedule="long")
    _record(runs, "mlcd-vit-b", "lvis", 22.0, 18.0, split="lvis_v1_val", schedule="long")
    return runs


def test_long_and_wide_tables(runs, tmp_path, capsys):
    out = tmp_path / "board" / "det.csv"
    assert main(["leaderboard", str(runs), "-o", str(out), "--baseline", "mlcd-vit-b"]) == 0
    printed = capsys.readouterr().out
    long = pd.read_csv(out)
    wide = pd.read_csv(tmp_path / "board" / "det_wide.csv")
    assert (tmp_path / "board" / "det.md").read_text().strip() in printed

    measured = long[long["source"] == "run"]
    assert len(measured) == 5 * 3  # five runs x three metrics
    row = measured[(measured["backbone"] == "rice-vit-b") & (measured["metric"] == "bbox_AP50")
                   & (measured["seed"] == 1)].iloc[0]
    assert (row["dataset"], row["split"], row["value"], row["arch"]) == ("coco", "val2017", 58.0, "ViT-B/16")
    assert {"resolution", "schedule", "run_id", "path"} <= set(long.columns)
    paper = long[long["source"] == "paper"]
    assert len(paper) == 4 * 12  # Table 3: four methods x twelve AP columns
    rice_paper = paper[(paper["backbone"] == "RICE") & (paper["dataset"] == "coco") & (paper["metric"] == "bbox_AP")]
    assert rice_paper["value"].tolist() == [38.9]

    assert wide["source"].tolist()[:4] == ["paper"] * 4 and sorted(wide["method"][4:]) == ["mlcd-vit-b", "rice-vit-b"]
    assert list(wide.columns[7:11]) == ["coco_det_ap", "coco_det_ap_delta", "coco_seg_ap", "coco_seg_ap_delta"]
    assert [c for c in wide.columns if not c.endswith("_delta")][7:12] == [
        "coco_det_ap", "coco_seg_ap", "lvis_det_ap", "lvis_seg_ap", "rf100_aerial"]  # the paper's column order
    rice = wide[wide["method"] == "rice-vit-b"].iloc[0]
    assert rice["schedule"] == "184375x64; long" and rice["resolution"] == "train512/test512"
    assert rice["coco_det_ap"] == 39.0 and rice["runs"] == 3  # two COCO seeds averaged, plus one LVIS run
    assert rice["coco_det_ap_delta"] == pytest.approx(3.0) and rice["lvis_seg_ap_delta"] == pytest.approx(4.0)
    mlcd = wide[wide["method"] == "mlcd-vit-b"].iloc[0]
    assert mlcd["coco_det_ap_delta"] == 0.0
    # paper rows get deltas against the paper's own row of the baseline's family (MLCD)
    rice_p = wide[(wide["method"] == "RICE") & (wide["source"] == "paper")].iloc[0]
    assert rice_p["coco_det_ap_delta"] == pytest.approx(38.9 - 35.6)
    assert rice_p["rf100_avg_delta"] == pytest.approx(26.5 - 17.3)
    assert "| rice-vit-b |" in printed and "+3.0" in printed


def test_mixed_protocols_are_refused(runs, tmp_path, capsys):
    _record(runs, "mlcd-vit-b", "coco", 30.0, 25.0, seed=5, resolution="train1024/test1024")
    out = tmp_path / "x.csv"
    assert main(["leaderboard", str(runs), "-o", str(out)]) == 2
    err = capsys.readouterr().err
    assert "detection/coco: resolution differs" in err and "train1024/test1024" in err and "--allow-mixed" in err
    assert not out.exists()
    board = build_leaderboard(runs, allow_mixed=True)
    assert "Mixed protocols" in board.markdown
    assert len(board.wide[board.wide["method"] == "mlcd-vit-b"]) == 3  # one row per protocol (2 COCO, 1 LVIS)


def test_unknown_baseline(runs, tmp_path):
    with pytest.raises(ValueError, match="--baseline 'nope' matches no backbone"):
        build_leaderboard(runs, baseline="nope")


def test_same_name_different_weights_are_two_rows(tmp_path):
    """Backbones are keyed by their fingerprint, not their folder name."""
    runs = tmp_path / "runs"
    for fingerprint, ap in (("aaaaaaaa11111111", 30.0), ("bbbbbbbb22222222", 20.0)):
        rec = {"probe": "detection", "dataset": "toy", "split": "val", "seed": 0, "run_id": f"r-{fingerprint}",
               "backbone": {"name": "rice-tiny", "fingerprint": fingerprint,
                            "info": {"name": "rice-tiny", **INFO["rice-vit-b"]}},
               "metrics": {"bbox_AP": ap, "segm_AP": ap / 2},
               "protocol": {"resolution": "r", "schedule": "s", "split": "val"}}
        RunDir.locate(runs, "detection", "toy", "rice-tiny", rec["run_id"]).write_metrics(rec)
    board = build_leaderboard(runs, paper_dir=None)
    wide = board.per_probe["detection"].set_index("method")
    assert sorted(wide.index) == ["rice-tiny@aaaaaaaa", "rice-tiny@bbbbbbbb"]
    assert wide.loc["rice-tiny@aaaaaaaa", "toy_det_ap"] == 30.0 and wide.loc["rice-tiny@bbbbbbbb", "toy_det_ap"] == 20.0
    assert set(board.long["backbone_id"]) == {"aaaaaaaa11111111", "bbbbbbbb22222222"}


def test_non_numeric_metric_is_named(runs, tmp_path, capsys):
    rec_file = next(runs.rglob("metrics.json"))
    rec = __import__("json").loads(rec_file.read_text())
    rec["metrics"]["bbox_AP"] = "n/a"
    rec_file.write_text(__import__("json").dumps(rec))
    assert main(["leaderboard", str(runs), "-o", str(tmp_path / "b.csv")]) == 2
    err = capsys.readouterr().err
    assert str(rec_file) in err and "metrics.bbox_AP" in err and "'n/a'" in err
    assert not (tmp_path / "b.csv").exists()


def test_output_that_is_a_folder_or_unwritable(runs, tmp_path, capsys):
    folder = tmp_path / "out"
    folder.mkdir()
    assert main(["leaderboard", str(runs), "-o", str(folder)]) == 2
    assert "is a folder" in capsys.readouterr().err
    blocker = tmp_path / "file.txt"
    blocker.write_text("x")
    assert main(["leaderboard", str(runs), "-o", str(blocker / "sub" / "b.csv")]) == 2
    err = capsys.readouterr().err
    assert str(blocker) in err and "not a folder" in err


def test_protocol_fields_beyond_resolution_are_compared(tmp_path):
    runs = tmp_path / "runs"
    for name, tower in (("rice-vit-b", "frozen"), ("mlcd-vit-b", "tuned@2e-06")):
        rec = {"probe": "detection", "dataset": "toy", "split": "val", "run_id": name,
               "backbone": {"name": name, "info": {"name": name, **INFO[name]}}, "metrics": {"bbox_AP": 1.0},
               "protocol": {"resolution": "r", "schedule": "s", "split": "val", "tower": tower}}
        RunDir.locate(runs, "detection", "toy", name, name).write_metrics(rec)
    with pytest.raises(ValueError, match="detection/toy: tower differs"):
        build_leaderboard(runs, paper_dir=None)
