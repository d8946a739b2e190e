"""Our metrics equal the got10k toolkit's on the same result files, and pytracking's rules by hand."""

from __future__ import annotations

import types

import numpy as np
import pytest
from got10k.experiments import ExperimentGOT10k, ExperimentOTB

from tracking import metrics, results
from tracking.datasets import read_got10k

RES = (320, 240)


def _random_boxes(rng, n, res=RES):
    xy = rng.uniform(0, 0.7, size=(n, 2)) * res
    wh = rng.uniform(8, 80, size=(n, 2))
    return np.round(np.hstack([xy, wh]), 4)


def _trajectories(seed=0):
    """Ground truth and predictions of three sequences, with the awkward cases in the first one."""
    rng = np.random.default_rng(seed)
    out = {}
    for s, n in enumerate((12, 9, 15)):
        anno = _random_boxes(rng, n)
        pred = anno + rng.normal(0, 6, size=anno.shape)
        pred[:, 2:] = np.abs(pred[:, 2:]) + 1
        cover = rng.integers(1, 9, size=n)
        if s == 0:
            anno[3], pred[3] = [2.0, 3.0, 30.0, 30.0], [-30.0, -20.0, 60.0, 50.0]  # partly outside: clipped
            anno[4], pred[4] = [290.0, 200.0, 30.0, 40.0], [300.0, 200.0, 80.0, 90.0]  # past the right/bottom
            pred[5] = [0.0, 0.0, 0.0, 0.0]  # an empty prediction
            cover[6] = 0  # invisible frames are not scored
            cover[7] = 0
            pred[8] = anno[8]  # a perfect hit
        out[f"GOT-10k_Val_{s + 1:06d}"] = (anno, pred, cover)
    return out


def test_got10k_ao_sr_equal_the_toolkit_report(tmp_path, got10k_writer):
    trajectories = _trajectories()
    root = got10k_writer(tmp_path / "data", {k: (a, c, RES) for k, (a, _, c) in trajectories.items()})
    tracker_dir = tmp_path / "results" / "GOT-10k" / "ours"
    for name, (_, pred, _) in trajectories.items():
        results.write_got10k(tracker_dir, name, pred, np.full(len(pred), 0.01))

    report = ExperimentGOT10k(str(root), subset="val", result_dir=str(tmp_path / "results"),
                              report_dir=str(tmp_path / "reports")).report(["ours"])["ours"]

    sequences = read_got10k(root, "val")
    ious = [metrics.got10k_ious(results.read_got10k(tracker_dir, s.name), s.boxes, s.cover, s.resolution)
            for s in sequences]
    ours = metrics.got10k_metrics(ious)
    overall = report["overall"]
    assert ours["ao"] == pytest.approx(100 * overall["ao"], abs=1e-9)
    assert ours["sr50"] == pytest.approx(100 * overall["sr"], abs=1e-9)
    assert ours["sr75"] == pytest.approx(100 * overall["succ_curve"][75], abs=1e-9)  # threshold 0.75
    for seq, seq_ious in zip(sequences, ious):
        assert 100 * float(np.mean(seq_ious)) == pytest.approx(100 * report["seq_wise"][seq.name]["ao"], abs=1e-9)
    # the awkward frames really are in play: 2 invisible frames dropped, the empty box scores 0
    assert len(ious[0]) == len(sequences[0].boxes) - 1 - 2
    assert ious[0][4] == 0.0  # frame 5 (index 4 after dropping frame 0)
    assert 0 < ious[0][2] < 1 and 0 < ious[0][3] < 1  # the out-of-image boxes overlap once clipped
    assert ious[0][2] != pytest.approx(metrics._iou(trajectories["GOT-10k_Val_000001"][1][3:4],
                                                    sequences[0].boxes[3:4])[0])  # clipping changed it


def test_got10k_hand_computed():
    anno = np.array([[10, 10, 10, 10], [10, 10, 10, 10], [10, 10, 10, 10], [10, 10, 10, 10]], float)
    pred = np.array([[0, 0, 1, 1], [10, 10, 10, 10], [15, 10, 10, 10], [-10, 10, 20, 10]], float)
    # frame 0 skipped; IoU 1, 50/150; the toolkit's bound moves x=-10 to 0 but keeps w=20 (it caps w at W - x
    # only), so the last box becomes x in [0, 20] and overlaps half: 100/200
    ious = metrics.got10k_ious(pred, anno, np.array([8, 8, 8, 8]), (100, 100))
    np.testing.assert_allclose(ious, [1.0, 1 / 3, 0.5], atol=1e-12)
    m = metrics.got10k_metrics([ious])
    assert m["ao"] == pytest.approx(100 * (1 + 1 / 3 + 0.5) / 3)
    assert m["sr50"] == pytest.approx(100 / 3) and m["sr75"] == pytest.approx(100 / 3)


def test_success_and_precision_equal_the_toolkit_otb_helpers():
    rng = np.random.default_rng(1)
    helper = types.SimpleNamespace(nbins_iou=21, nbins_ce=51)  # ExperimentOTB's constructor downloads OTB
    ours, theirs_succ, theirs_prec = [], [], []
    for n in (30, 17, 25):
        anno = _random_boxes(rng, n)
        pred = anno + rng.normal(0, 8, size=anno.shape)
        pred[:, 2:] = np.abs(pred[:, 2:]) + 1
        errors = metrics.pytracking_errors(pred, anno)
        boxes = pred.copy()
        boxes[0] = anno[0]  # as ExperimentOTB.report does
        ious, ce = ExperimentOTB._calc_metrics(helper, boxes, anno)
        succ, prec = ExperimentOTB._calc_curves(helper, ious, ce)
        success, precision, _ = metrics.pytracking_curves(errors)
        np.testing.assert_allclose(success, succ, atol=1e-12)
        np.testing.assert_allclose(precision, prec, atol=1e-12)
        ours.append(errors)
        theirs_succ.append(succ)
        theirs_prec.append(prec)
    m = metrics.pytracking_metrics(ours)
    assert m["success"] == pytest.approx(100 * np.mean(theirs_succ), abs=1e-9)
    assert m["precision"] == pytest.approx(100 * np.mean(theirs_prec, axis=0)[20], abs=1e-9)


def test_lasot_visibility_rule_and_pytracking_quirks_by_hand():
    anno = np.array([[10, 10, 20, 20]] * 4, float)
    pred = np.array([[0, 0, 5, 5], [10, 10, 20, 20], [10, 10, 20, 20], [10, 10, 0, 0]], float)
    visible = np.array([True, True, False, True])
    lasot = metrics.pytracking_errors(pred, anno, visible, lasot=True)
    # frame 0 -> ground truth; frame 2 hidden -> failure although the box is perfect; frame 3 (empty) -> frame 2
    np.testing.assert_allclose(lasot.overlap, [1, 1, -1, 1])
    assert np.isinf(lasot.center[2]) and np.isinf(lasot.center_norm[2])
    m = metrics.pytracking_metrics([lasot])
    # 3 of 4 frames have IoU 1: above 20 of the 21 thresholds (not above 1.0 itself)
    assert m["success"] == pytest.approx(75.0 * 20 / 21) and m["precision"] == pytest.approx(75.0)
    assert m["norm_precision"] == pytest.approx(75.0)
    # without the LaSOT rule an invalid frame's normalized error is -1: pytracking counts it as a success
    anno[2, 2:] = 0
    plain = metrics.pytracking_metrics([metrics.pytracking_errors(pred, anno)])
    assert plain["success"] == pytest.approx(75.0 * 20 / 21) and plain["precision"] == pytest.approx(75.0)
    assert plain["norm_precision"] == pytest.approx(100.0)


def test_metrics_refuse_bad_predictions():
    anno = np.array([[1, 1, 5, 5]] * 3, float)
    with pytest.raises(ValueError, match="2 predicted boxes for 3"):
        metrics.pytracking_errors(anno[:2], anno)
    with pytest.raises(ValueError, match="NaN"):
        metrics.pytracking_errors(np.full((3, 4), np.nan), anno)
    with pytest.raises(ValueError, match="no frame"):
        metrics.got10k_metrics([np.zeros(0)])
