"""Epoch time of the tiny LISA with and without the SAM image-embedding cache (prints JSON).

One epoch = every toy train image once (its expressions as conversations), forward + backward + AdamW
step. The cached epoch is measured after a warm-up epoch has filled the cache, which is what every epoch
after the first sees in a run; the uncached epoch runs SAM's frozen image encoder on every image.
The ratio is uncached / cached epoch time on the same model, data and machine, in the same process.

    python benchmarks/bench_refseg_cache.py --images 8 --sam-image-size 256 --sam-depth 4 --sam-embed-dim 128
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

from probes.refseg.loss import lisa_loss


def epoch(model, items, batcher, opt, batch_size: int) -> float:
    t0 = time.perf_counter()
    for i in range(0, len(items), batch_size):
        batch = batcher(items[i:i + batch_size])
        ce, logits = model(batch)
        loss = lisa_loss(ce, logits, batch["masks"])["loss"]
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
    return time.perf_counter() - t0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--images", type=int, default=8)
    parser.add_argument("--image-size", type=int, default=224, help="toy scene side, px")
    parser.add_argument("--sam-image-size", type=int, default=256)
    parser.add_argument("--sam-depth", type=int, default=4)
    parser.add_argument("--sam-embed-dim", type=int, default=128)
    parser.add_argument("--batch-size", type=int, default=2)
    parser.add_argument("--repeats", type=int, default=2, help="epochs timed per mode (the minimum is kept)")
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)

    from probes.refseg.config import RefsegConfig
    from probes.refseg.data import train_items
    from probes.refseg.probe import build_model
    from probes.refseg.refer import read_split
    from probes.refseg.sam import SamConfig, SamEmbeddingCache, build_sam, sam_identity
    from rice.backbones import create_backbone
    from rice.toyworld import generate

    with tempfile.TemporaryDirectory() as tmp:
        toy = Path(tmp) / "toy"
        generate(toy, num_images=max(10, int(args.images / 0.8) + 2), seed=0, image_size=args.image_size,
                 num_sequences=1, min_frames=2, max_frames=3, progress=False)
        sam_cfg = SamConfig(kind="tiny", tiny_image_size=args.sam_image_size, tiny_depth=args.sam_depth,
                            tiny_embed_dim=args.sam_embed_dim)
        cfg = RefsegConfig()
        cfg.model.sam = sam_cfg
        cfg.model.lisa.llm = "tiny"
        sam = build_sam(sam_cfg)
        sam_id = sam_identity(sam, sam_cfg)
        model, batcher = build_model(cfg, create_backbone("mlcd-vit-tiny"), sam, sam_id)
        split = read_split(toy / "refer_seg", "refcoco|unc|train")
        split.images = split.images[: args.images]
        items = train_items([split], np.random.default_rng(0), 3)
        opt = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=1e-4)
        model.train()
        times = {}
        model.cache = SamEmbeddingCache(sam_id)
        first = epoch(model, items, batcher, opt, args.batch_size)  # fills the cache
        times["cache"] = min(epoch(model, items, batcher, opt, args.batch_size) for _ in range(args.repeats))
        model.cache = None
        times["no_cache"] = min(epoch(model, items, batcher, opt, args.batch_size) for _ in range(args.repeats))
    print(json.dumps({
        "benchmark": "refseg_sam_cache", "images": len(items),
        "expressions": sum(len(i.expressions) for i in items),
        "sam": {"image_size": args.sam_image_size, "depth": args.sam_depth, "embed_dim": args.sam_embed_dim,
                "encoder_params": sum(p.numel() for p in sam.image_encoder.parameters())},
        "first_epoch_seconds": round(first, 3), "epoch_seconds_cache": round(times["cache"], 3),
        "epoch_seconds_no_cache": round(times["no_cache"], 3),
        "ratio_no_cache_over_cache": round(times["no_cache"] / times["cache"], 3),
        "threads": args.threads,
    }, indent=2))


if __name__ == "__main__":
    main()
