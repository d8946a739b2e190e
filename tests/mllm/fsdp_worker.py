"""torchrun worker of test_fsdp.py: FSDP2 stage-2 training on the toy world, rank 0 saves losses and weights.

usage: torchrun --standalone --nproc_per_node 2 fsdp_worker.py TOY_DIR OUT_DIR
"""

import sys
from pathlib import Path

import torch

if __name__ == "__main__":
    torch.set_num_threads(1)
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    from test_fsdp import train  # noqa: E402

    from rice.train.dist import init_distributed

    info = init_distributed("cpu")
    losses, state = train(Path(sys.argv[1]), Path(sys.argv[2]) / "run", info, sharded=True)
    if info.is_main:
        torch.save({"losses": losses, "state": state}, Path(sys.argv[2]) / "sharded.pt")
    torch.distributed.destroy_process_group()
