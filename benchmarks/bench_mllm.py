"""MLLM probe: stage-2 training-step throughput vs a bare transformers LlavaNext step; image tokens per image. JSON.

Throughput: tokens/s of `mllm.train.train_step` (our stage-2 step: collate, forward with the answer loss,
backward, AdamW over projector + LLM, scheduler) against a bare loop on the same model class, the same
pre-collated batch and the same trainable parameters (`model(**batch).loss.backward(); opt.step()`), in the
same run, interleaved. Goal: ratio >= 0.9. Image tokens: what LlavaNextProcessor expands one `<image>` into
under the strict 2x2+1 tiling for towers of 336 / 378 / 560 px (patch 14, class token), for a square and a
4:3 image, next to the hand count for the square case (g^2 + 4 g^2 + 2 g newlines, g = size / 14).

    .venv/bin/python benchmarks/bench_mllm.py --backbone mlcd-vit-tiny --steps 5
"""

from __future__ import annotations

import argparse
import copy
import json
import platform
import time

import numpy as np
import torch
from PIL import Image


def image_tokens() -> dict:
    from mllm.data import image_token_count
    from mllm.model import build_processor, grid_pinpoints
    from mllm.tiny import build_tiny_tokenizer

    tok = build_tiny_tokenizer()
    out = {}
    for size in (336, 378, 560):
        proc = build_processor(tok, size, 14, (0.5,) * 3, (0.5,) * 3, grid_pinpoints("2x2+1", size), True)
        g = size // 14
        out[str(size)] = {"square": image_token_count(proc, Image.new("RGB", (800, 800))),
                          "4:3": image_token_count(proc, Image.new("RGB", (800, 600))),
                          "square_by_hand": g * g + 4 * g * g + 2 * g}
    return out


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--backbone", default="mlcd-vit-tiny")
    p.add_argument("--llm", default="tiny")
    p.add_argument("--batch", type=int, default=4)
    p.add_argument("--steps", type=int, default=5, help="timed steps per method (after one warm-up step)")
    p.add_argument("--threads", type=int, default=1)
    args = p.parse_args(argv)
    torch.set_num_threads(args.threads)

    from mllm.config import MLLMConfig
    from mllm.data import collate, encode_conversation
    from mllm.model import build_llava_next
    from mllm.train import set_trainable, train_step
    from rice.train.dist import DistInfo
    from rice.train.schedule import warmup_cosine

    ours, processor = build_llava_next(args.backbone, args.llm)
    bare = copy.deepcopy(ours)
    rng = np.random.RandomState(0)
    conv = [{"from": "human", "value": "<image>\nHow many red circles are there?"}, {"from": "gpt", "value": "3"},
            {"from": "human", "value": "What does the sign say?"}, {"from": "gpt", "value": "BAKERY"}]
    items = [encode_conversation(processor, conv, Image.fromarray(rng.randint(0, 255, (96, 128, 3), np.uint8)))
             for _ in range(args.batch)]
    pad = processor.tokenizer.pad_token_id
    batch = collate(items, pad)
    tokens = int(batch["attention_mask"].sum())
    info = DistInfo(0, 1, 0, torch.device("cpu"))
    cfg = MLLMConfig()
    opt_ours = torch.optim.AdamW(set_trainable(ours, "stage2", 0.0), lr=1e-5)
    sched = warmup_cosine(opt_ours, 0, 10 ** 6)
    set_trainable(bare, "stage2", 0.0)
    opt_bare = torch.optim.AdamW([q for q in bare.parameters() if q.requires_grad], lr=1e-5)
    ours.train()
    bare.train()

    def step_ours():
        train_step(ours, [collate(items, pad)], opt_ours, sched, 1, getattr(torch, cfg.model.dtype), info)

    def step_bare():
        bare(**batch).loss.backward()
        opt_bare.step()
        opt_bare.zero_grad(set_to_none=True)

    times = {"ours": [], "bare": []}
    step_ours(), step_bare()  # warm-up
    for _ in range(args.steps):  # interleaved, so machine load hits both alike
        for name, fn in (("ours", step_ours), ("bare", step_bare)):
            t0 = time.perf_counter()
            fn()
            times[name].append(time.perf_counter() - t0)
    med = {k: float(np.median(v)) for k, v in times.items()}
    print(json.dumps({
        "benchmark": "mllm_stage2_step", "backbone": args.backbone, "llm": args.llm, "batch": args.batch,
        "tokens_per_step": tokens, "steps": args.steps, "threads": args.threads,
        "tokens_per_s": {k: tokens / v for k, v in med.items()},
        "ratio_ours_vs_bare": med["bare"] / med["ours"], "goal_ratio": 0.9,
        "image_tokens_2x2+1": image_tokens(), "platform": platform.platform(), "torch": torch.__version__,
    }, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
