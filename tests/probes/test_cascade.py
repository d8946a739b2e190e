"""Cascade stages against hand-computed values: labels, refined boxes, losses and test-time scores.

Every stage's predictor is set to constant outputs (zero weights, chosen biases) where a test needs to
know the deltas, so each stage's refined boxes can be decoded by hand (`decode` below, the R-CNN box
parametrisation written out) and compared with what the heads did.
"""

import math

import pytest
import torch
from torchvision.ops import box_iou

from probes.detection import CascadeConfig, CascadeRoIHeads, level_strides

pytestmark = pytest.mark.usefixtures("one_thread")

SIZE = 128
WEIGHTS = [(10.0, 10.0, 5.0, 5.0), (20.0, 20.0, 10.0, 10.0), (30.0, 30.0, 15.0, 15.0)]


def _heads(**kw) -> CascadeRoIHeads:
    cfg = CascadeConfig(box_conv_dims=(), box_fc_dims=(16,), mask_conv_dims=(8,), **kw)
    torch.manual_seed(0)
    return CascadeRoIHeads(8, 3, level_strides(16), cfg)


def _features(seed=1, grad=False):
    g = torch.Generator().manual_seed(seed)
    return [torch.randn(1, 8, int(SIZE / s), int(SIZE / s), generator=g).requires_grad_(grad)
            for s in level_strides(16)]


def _constant_deltas(heads, deltas):
    for stage, d in zip(heads.stages, deltas):
        torch.nn.init.zeros_(stage.predictor.bbox_pred.weight)
        stage.predictor.bbox_pred.bias.data.copy_(torch.tensor(d))


def _constant_logits(heads, logits):
    for stage, c in zip(heads.stages, logits):
        torch.nn.init.zeros_(stage.predictor.cls_score.weight)
        stage.predictor.cls_score.bias.data.copy_(torch.tensor(c))


def decode(box, d, w):
    """The R-CNN parametrisation by hand: shift the centre by (dx/wx, dy/wy) box sizes, scale the sides
    by exp(dw/ww), exp(dh/wh), clip to the SIZE x SIZE image."""
    x1, y1, x2, y2 = [float(v) for v in box]
    bw, bh = x2 - x1, y2 - y1
    cx, cy = x1 + 0.5 * bw + d[0] / w[0] * bw, y1 + 0.5 * bh + d[1] / w[1] * bh
    pw, ph = math.exp(d[2] / w[2]) * bw, math.exp(d[3] / w[3]) * bh
    return [min(max(v, 0.0), float(SIZE)) for v in (cx - pw / 2, cy - ph / 2, cx + pw / 2, cy + ph / 2)]


def encode(gt, box, w):
    """Inverse of `decode` (without clipping): the regression target of `box` towards `gt`."""
    bw, bh = box[2] - box[0], box[3] - box[1]
    gw, gh = gt[2] - gt[0], gt[3] - gt[1]
    return [w[0] * ((gt[0] + gw / 2) - (box[0] + bw / 2)) / bw, w[1] * ((gt[1] + gh / 2) - (box[1] + bh / 2)) / bh,
            w[2] * math.log(gw / bw), w[3] * math.log(gh / bh)]


def _labels_at(boxes, gt_boxes, gt_labels, thresh):
    iou = box_iou(gt_boxes, torch.tensor(boxes).reshape(-1, 4))  # (G, R)
    best, idx = iou.max(0)
    return [int(gt_labels[i]) if b >= thresh else 0 for b, i in zip(best.tolist(), idx.tolist())]


def test_each_stage_labels_at_its_own_threshold_and_only_stage0_appends_gt():
    heads = _heads(batch_size_per_image=64)
    gt = {"boxes": torch.tensor([[0.0, 0.0, 100.0, 100.0]]), "labels": torch.tensor([2])}
    # IoU with the GT box equals the height fraction: 0.3, 0.55, 0.65, 0.75
    boxes = [torch.tensor([[0.0, 0.0, 100.0, h] for h in (30.0, 55.0, 65.0, 75.0)])]
    expected = {0: [0, 2, 2, 2], 1: [0, 0, 2, 2], 2: [0, 0, 0, 2]}
    for stage, want in expected.items():
        labels, gt_boxes, matched = heads.label_boxes(stage, boxes, [gt])
        assert labels[0].tolist() == want, f"stage {stage}"
        assert torch.equal(gt_boxes[0][torch.tensor(want) > 0], gt["boxes"].expand(sum(w > 0 for w in want), 4))
        assert matched[0].tolist() == [0, 0, 0, 0]
    sampled, labels, _, _ = heads.sample_proposals(boxes, [gt])  # batch 64 > 5: sampling keeps every box
    assert sampled[0].shape[0] == 5 and torch.equal(sampled[0][-1], gt["boxes"][0])  # the GT box appended
    assert sorted(labels[0].tolist()) == sorted(expected[0] + [2])
    assert [m.high_threshold for m in heads.matchers] == [0.5, 0.6, 0.7]
    assert [m.low_threshold for m in heads.matchers] == [0.5, 0.6, 0.7]
    assert [c.weights for c in heads.box_coders] == WEIGHTS


def test_stage0_samples_its_batch_at_the_positive_fraction():
    heads = _heads(batch_size_per_image=16, positive_fraction=0.25)
    gt = {"boxes": torch.tensor([[20.0, 20.0, 80.0, 80.0]]), "labels": torch.tensor([1])}
    positives = [[20.0 + i, 20.0, 80.0 + i, 80.0] for i in range(10)]  # IoU >= 0.7
    negatives = [[90.0, 90.0 + i, 120.0, 110.0 + i] for i in range(15)]  # IoU 0
    torch.manual_seed(3)
    boxes, labels, _, _ = heads.sample_proposals([torch.tensor(positives + negatives)], [gt])
    assert (labels[0] > 0).sum() == 4 and (labels[0] == 0).sum() == 12  # 16 at 25%
    pool = torch.tensor(positives + negatives + [[20.0, 20.0, 80.0, 80.0]])
    assert all((pool == b).all(1).any() for b in boxes[0])  # a subset of the proposals + GT


def _scene():
    """Two GT boxes, ten proposals around them and one in the background, in a 128 x 128 image."""
    gt = {"boxes": torch.tensor([[20.0, 20.0, 80.0, 80.0], [70.0, 10.0, 120.0, 50.0]]), "labels": torch.tensor([1, 3])}
    gt["masks"] = torch.zeros(2, SIZE, SIZE, dtype=torch.uint8)
    gt["masks"][0, 20:80, 20:80] = 1
    gt["masks"][1, 10:50, 70:120] = 1
    proposals = torch.tensor([[20.0 + 4 * i, 18.0 + 2 * i, 78.0 + 3 * i, 82.0 - i] for i in range(5)]
                             + [[66.0 + 3 * i, 8.0 + i, 118.0 - 2 * i, 52.0 + 2 * i] for i in range(5)]
                             + [[0.0, 90.0, 30.0, 125.0]])
    return gt, proposals


# stage 0 moves boxes right and shrinks them, stage 1 moves them down-left, stage 2 grows them
DELTAS = [(0.5, 0.3, -0.2, 0.1), (-0.6, 0.8, 0.3, -0.3), (0.6, -0.6, 0.5, 0.5)]


def test_later_stages_label_every_refined_box_of_the_previous_stage():
    heads = _heads(batch_size_per_image=64).train()  # 64 > 13 RoIs: stage 0 keeps all, in order
    _constant_deltas(heads, DELTAS)
    gt, proposals = _scene()
    stages = heads.training_stages(_features(), [proposals], [(SIZE, SIZE)], [gt])
    assert len(stages) == 3
    stage0 = proposals.tolist() + gt["boxes"].tolist()  # the GT appended at stage 0 only
    torch.testing.assert_close(stages[0].boxes[0], torch.tensor(stage0))
    inputs = [stage0]
    for t in (1, 2):
        inputs.append([decode(b, DELTAS[t - 1], WEIGHTS[t - 1]) for b in inputs[-1]])  # stage t-1's own coder
    rpn_restart = [decode(b, DELTAS[1], WEIGHTS[1]) for b in stage0]  # what a restart from the proposals sees
    for t, (want_boxes, thresh) in enumerate(zip(inputs, (0.5, 0.6, 0.7))):
        s = stages[t]
        torch.testing.assert_close(s.boxes[0], torch.tensor(want_boxes), rtol=0, atol=1e-4, msg=f"stage {t}")
        want = _labels_at(want_boxes, gt["boxes"], gt["labels"], thresh)
        assert s.labels[0].tolist() == want, f"stage {t}"
        pos = torch.tensor(want) > 0
        best = box_iou(gt["boxes"], torch.tensor(want_boxes)).argmax(0)
        torch.testing.assert_close(s.gt_boxes[0][pos], gt["boxes"][best[pos]])
        assert s.logits.shape == (len(want_boxes), 4) and s.deltas.shape == (len(want_boxes), 4)
        assert not s.boxes[0].requires_grad
    # the scene tells the protocols apart: later stages keep positives and negatives, and other labels
    # than boxes refined from the RPN proposals (a restart) or at another stage's threshold would get
    assert 0 < sum(w > 0 for w in _labels_at(inputs[2], gt["boxes"], gt["labels"], 0.7)) < len(inputs[2])
    assert _labels_at(inputs[2], gt["boxes"], gt["labels"], 0.7) != _labels_at(inputs[2], gt["boxes"],
                                                                                 gt["labels"], 0.5)
    assert _labels_at(rpn_restart, gt["boxes"], gt["labels"], 0.7) != _labels_at(inputs[2], gt["boxes"],
                                                                                   gt["labels"], 0.7)


def test_training_detaches_boxes_and_trains_every_stage_and_the_mask_head():
    heads = _heads(batch_size_per_image=16).train()
    feats = _features(grad=True)
    gt, proposals = _scene()
    losses = heads(feats, [proposals], [(SIZE, SIZE)], [gt])
    assert sorted(losses) == sorted([f"loss_{k}_stage{t}" for k in ("cls", "box") for t in range(3)] + ["loss_mask"])
    sum(losses.values()).backward()
    for stage in heads.stages:
        assert stage.predictor.cls_score.weight.grad.abs().sum() > 0
        assert stage.predictor.bbox_pred.weight.grad.abs().sum() > 0
    assert heads.mask_head.predictor.weight.grad.abs().sum() > 0
    assert feats[0].grad is not None


def approx(value):
    return pytest.approx(value, rel=1e-5, abs=1e-6)


def _softplus(x):
    return math.log1p(math.exp(x))


def test_losses_are_the_hand_computed_values():
    heads = _heads(batch_size_per_image=64).train()
    logits = [[0.0, 1.0, 2.0, -1.0], [0.5, 0.0, -0.5, 1.0], [2.0, 0.0, 0.0, 1.0]]
    deltas = [(1.0, 0.0, 0.0, 0.0), (0.0, 1.0, 0.0, 0.0), (0.5, 0.5, 0.0, 0.0)]
    _constant_logits(heads, logits)
    _constant_deltas(heads, deltas)
    torch.nn.init.zeros_(heads.mask_head.predictor.weight)
    heads.mask_head.predictor.bias.data.fill_(0.8)  # every mask logit 0.8
    gt = {"boxes": torch.tensor([[20.0, 20.0, 80.0, 80.0]]), "labels": torch.tensor([2]),
          "masks": torch.zeros(1, SIZE, SIZE, dtype=torch.uint8)}
    gt["masks"][0, 20:80, 20:80] = 1
    proposals = torch.tensor([[20.0, 20.0, 80.0, 80.0], [90.0, 90.0, 120.0, 120.0]])
    losses = heads(_features(), [proposals], [(SIZE, SIZE)], [gt])

    boxes = proposals.tolist() + gt["boxes"].tolist()  # stage 0: the proposals and the GT box
    for t in range(3):
        labels = _labels_at(boxes, gt["boxes"], gt["labels"], (0.5, 0.6, 0.7)[t])
        log_p = [c - math.log(sum(math.exp(v) for v in logits[t])) for c in logits[t]]
        cls = -sum(log_p[lab] for lab in labels) / len(labels)
        box = sum(abs(d - e) for b, lab in zip(boxes, labels) if lab
                  for d, e in zip(deltas[t], encode(gt["boxes"][0].tolist(), b, WEIGHTS[t]))) / len(labels)
        assert losses[f"loss_cls_stage{t}"].item() == approx(cls), t
        assert losses[f"loss_box_stage{t}"].item() == approx(box), t
        if t == 0:
            assert labels == [2, 0, 2]
        boxes = [decode(b, deltas[t], WEIGHTS[t]) for b in boxes]
    # the mask head trains on stage 0's positives (both exactly the GT box: every target pixel is 1),
    # so the loss is softplus(-0.8); the shifted boxes of later stages would have background pixels
    assert losses["loss_mask"].item() == approx(_softplus(-0.8))


def test_sigmoid_federated_loss_in_the_heads():
    cfg = CascadeConfig(box_conv_dims=(), box_fc_dims=(16,), mask=False, cls_loss="sigmoid", fed_loss=True,
                        fed_loss_num_classes=3, fed_loss_freq_weight_power=0.5)
    torch.manual_seed(0)
    # image counts 0, 25, 9 -> weights 0, 5, 3: with class 2 in the batch, class 3 is the one negative drawn
    heads = CascadeRoIHeads(8, 3, level_strides(16), cfg, torch.tensor([0, 25, 9])).train()
    assert heads.fed_loss_weights.tolist() == [0.0, 5.0, 3.0]
    assert "fed_loss_weights" not in heads.state_dict()  # from the data, not a checkpointed weight
    logits = [[0.3, 1.0, -2.0, 0.5]] * 3
    _constant_logits(heads, logits)
    _constant_deltas(heads, [(0.0,) * 4] * 3)
    gt = {"boxes": torch.tensor([[20.0, 20.0, 80.0, 80.0]]), "labels": torch.tensor([2])}
    losses = heads(_features(), [torch.tensor([[90.0, 90.0, 120.0, 120.0]])], [(SIZE, SIZE)], [gt])
    # RoIs: background, the GT box (class 2). Covered classes: 2 (present) and 3 (drawn); class 1 is not.
    def bce(x, y):
        return _softplus(x) - x * y

    want = (bce(-2.0, 0) + bce(0.5, 0) + bce(-2.0, 1) + bce(0.5, 0)) / 2
    assert losses["loss_cls_stage0"].item() == approx(want)


def test_test_time_scores_average_each_stages_scores_on_its_own_input_boxes():
    heads = _heads(score_thresh=0.0, nms_thresh=1.0, detections_per_image=100).eval()
    _constant_deltas(heads, DELTAS)  # known boxes; the class scores still depend on the pooled box features
    feats = _features()
    proposals = torch.tensor([[20.0, 20.0, 80.0, 90.0], [5.0, 60.0, 60.0, 120.0]])
    out = heads(feats, [proposals], [(SIZE, SIZE)])[0]

    boxes, probs = proposals.tolist(), []
    with torch.no_grad():
        for t, stage in enumerate(heads.stages):
            logits, _ = stage(heads.box_pooler(feats, [torch.tensor(boxes)]))
            probs.append(torch.softmax(logits, -1))
            boxes = [decode(b, DELTAS[t], WEIGHTS[t]) for b in boxes]  # the next stage's input
    scores = (sum(probs) / 3)[:, 1:]  # (2, 3)
    order = scores.flatten().argsort(descending=True)
    torch.testing.assert_close(out["scores"], scores.flatten()[order])
    assert out["labels"].tolist() == (order % 3 + 1).tolist()
    torch.testing.assert_close(out["boxes"], torch.tensor(boxes)[order // 3], rtol=0, atol=1e-4)  # last stage's
    assert out["masks"].shape == (6, 1, 28, 28)
    # the test can tell: scoring every stage on the final boxes gives other scores
    with torch.no_grad():
        final = torch.tensor(boxes)
        on_final = sum(torch.softmax(s(heads.box_pooler(feats, [final]))[0], -1) for s in heads.stages) / 3
    assert (on_final[:, 1:] - scores).abs().max() > 1e-4
