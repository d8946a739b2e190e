"""Tracker loop speed against the bare backbone forward on the search crop, in the same run (prints JSON).

    python benchmarks/bench_tracking.py [--width 768 --layers 12 --device cuda --frames 200]

The backbone is a random-init RICE ViT of the given size (`rice-vit-tiny` with overrides: no weights needed).
`loop_over_backbone` is the per-frame cost of `Tracker.track` (crop + frozen backbone on the search crop +
two blocks + head + Hann window + box mapping; frames already decoded) divided by the backbone forward
alone; the goal is <= 1.3 with the cached template. `recompute_over_cached` shows what caching saves;
`blocks_head_ms` is the two trainable blocks + head alone (what the loop cannot avoid on top of the backbone).
On CPU the clock is process CPU time (one thread), so a machine shared with other jobs still gives ratios.
"""

from __future__ import annotations

import argparse
import json
import time

import numpy as np
import torch
from PIL import Image

from rice.backbones import create_backbone
from tracking.config import ModelConfig
from tracking.crops import image_tensor, round_to_patch
from tracking.model import TrackerNet
from tracking.tracker import CropSizes, Tracker


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize()


def timed(fn, n: int, device: torch.device, clock=time.perf_counter) -> float:
    for _ in range(max(2, n // 10)):
        fn()
    _sync(device)
    t0 = clock()
    for _ in range(n):
        fn()
    _sync(device)
    return (clock() - t0) / n


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--width", type=int, default=64)
    ap.add_argument("--layers", type=int, default=2)
    ap.add_argument("--search", type=int, default=256)
    ap.add_argument("--template", type=int, default=128)
    ap.add_argument("--frames", type=int, default=30)
    ap.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--clock", choices=("auto", "cpu", "wall"), default="auto",
                    help="cpu: process CPU seconds (robust on a shared machine; CPU runs), wall: elapsed; "
                         "auto: cpu on CPU, wall on CUDA")
    ap.add_argument("--head-channels", type=int, default=256)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    device = torch.device(args.device)
    use_cpu_clock = args.clock == "cpu" or (args.clock == "auto" and device.type == "cpu")
    clock = time.process_time if use_cpu_clock else time.perf_counter
    heads = max(1, args.width // 64)
    backbone = create_backbone("rice-vit-tiny", hidden_size=args.width, num_hidden_layers=args.layers,
                               num_attention_heads=heads, intermediate_size=4 * args.width)
    p = backbone.info.patch_size
    sizes = CropSizes(round_to_patch(args.template, p), 2.0, round_to_patch(args.search, p), 4.0)
    net = TrackerNet(backbone, ModelConfig(head_channels=args.head_channels)).to(device).eval()
    rng = np.random.default_rng(0)
    image = Image.fromarray(rng.integers(0, 255, (480, 640, 3), dtype=np.uint8))
    box = np.array([300.0, 220.0, 40.0, 30.0])
    search = torch.randn(1, 3, sizes.search, sizes.search, device=device)

    frame = image_tensor(image)  # decoded once, as track_sequence does before its timer starts
    with torch.inference_mode():
        backbone_s = timed(lambda: backbone.forward_features(search), args.frames, device, clock)
        feats = backbone.forward_features(search).patch
        z = net.template_tokens(search[:, :, : sizes.template, : sizes.template])
        blocks_head_s = timed(lambda: net.forward_tokens(z, feats, decode=False), args.frames, device, clock)
    out = {"device": str(device), "clock": "cpu" if use_cpu_clock else "wall", "width": args.width,
           "layers": args.layers, "head_channels": args.head_channels, "search": sizes.search,
           "template": sizes.template, "frames": args.frames, "backbone_ms": 1000 * backbone_s,
           "blocks_head_ms": 1000 * blocks_head_s}
    for name, recompute in (("cached", False), ("recompute", True)):
        tracker = Tracker(net, sizes, device, recompute_template=recompute)

        def step():
            tracker.track(frame)
            tracker.state = box.copy()  # keep the search region fixed: same work every frame

        tracker.initialize(frame, box)
        out[f"loop_{name}_ms"] = 1000 * timed(step, args.frames, device, clock)
        out[f"loop_{name}_fps"] = 1.0 / (out[f"loop_{name}_ms"] / 1000)
    out["backbone_fps"] = 1.0 / backbone_s
    out["loop_over_backbone"] = out["loop_cached_ms"] / out["backbone_ms"]
    out["recompute_over_cached"] = out["loop_recompute_ms"] / out["loop_cached_ms"]
    print(json.dumps(out, indent=2))


if __name__ == "__main__":
    main()
