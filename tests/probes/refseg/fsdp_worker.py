"""torchrun worker of test_distributed.py: the tiny LISA trained by `probes.refseg.run` on 2 gloo ranks
(FSDP2 through `probes.refseg.distributed.shard_lisa`); rank 0 writes the run directory.

usage: torchrun --standalone --nproc_per_node 2 fsdp_worker.py TOY_DIR RUNS_DIR KEY=VALUE...
"""

import sys
from pathlib import Path

import torch

if __name__ == "__main__":
    torch.set_num_threads(1)
    from probes.refseg import RefsegConfig, run
    from rice.backbones import create_backbone
    from rice.config import load_config

    tiny = Path(__file__).resolve().parents[3] / "configs" / "refseg" / "tiny.yaml"
    cfg = load_config(RefsegConfig, tiny, [f"data.refer_root={sys.argv[1]}", f"output.runs_dir={sys.argv[2]}",
                                           "backbone=mlcd-vit-tiny", *sys.argv[3:]]).validate()
    run(cfg, create_backbone("mlcd-vit-tiny"), progress=False)
    torch.distributed.destroy_process_group()
