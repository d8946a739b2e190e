"""One torch thread for the model tests."""

import torch

torch.set_num_threads(1)  # 2 shared cores: extra torch threads only spin (4x the CPU time of test_pretrain)
