"""Multi-GPU LISA through the MLLM probe's sharded engine, launched with torchrun.

`shard_lisa` applies `mllm.train.shard` (torch FSDP2 `fully_shard`: one unit per LLM decoder layer and one
for the LLaVA-NeXT) to the LISA model's LLaVA-NeXT, then `fully_shard` on `LisaModel` itself as the root
unit (the [SEG] projection and SAM), so a 7B LLM is sharded across ranks as in the MLLM probe. The process
group comes from `rice.train.dist.init_distributed` (nccl on GPU, gloo on CPU); a plain `python` run is
world size 1 and nothing is sharded.

Data parallelism as the MLLM probe's: an optimizer step draws `grad_accumulation x world_size`
micro-batches (`Mixture.micro_batches`), rank r takes micro-batches [r*A, (r+1)*A), and FSDP averages the
gradients over ranks, so W ranks with accumulation A take the step one process takes with accumulation W*A.

Checkpoints go through torch.distributed.checkpoint's full state dicts (gathered to CPU; a collective under
FSDP2, so every rank calls it), holding the trainable parameters only; the same code path serves one process.
"""

from __future__ import annotations

import torch
import torch.distributed as dist


def shard_lisa(model) -> None:
    """FSDP2 over the LISA model: the MLLM probe's `shard` on its LLaVA-NeXT, then the root unit."""
    from torch.distributed.fsdp import fully_shard

    from mllm.train import shard

    shard(model.llava.get_base_model())  # the LlavaNextForConditionalGeneration inside peft's wrapper
    fully_shard(model)


def trainable_names(model) -> set[str]:
    return {n for n, p in model.named_parameters() if p.requires_grad}


def gather_state(model, optimizer) -> tuple[dict, dict]:
    """(trainable parameters, optimizer state) as full CPU state dicts (empty off rank 0 when sharded)."""
    from torch.distributed.checkpoint.state_dict import StateDictOptions, get_state_dict

    sharded = dist.is_initialized() and dist.get_world_size() > 1
    model_sd, optim_sd = get_state_dict(model, optimizer,
                                        options=StateDictOptions(full_state_dict=True, cpu_offload=sharded))
    names = trainable_names(model)
    return {k: v.detach().cpu().clone() for k, v in model_sd.items() if k in names}, optim_sd


def load_state(model, optimizer, model_sd: dict, optim_sd: dict) -> None:
    """Inverse of `gather_state` on every rank (each reads the same checkpoint file)."""
    from torch.distributed.checkpoint.state_dict import StateDictOptions, set_state_dict

    set_state_dict(model, optimizer, model_state_dict=model_sd, optim_state_dict=optim_sd,
                   options=StateDictOptions(full_state_dict=True, strict=False))


def sum_over_ranks(counts: dict[str, int], keys: tuple[str, ...], device: torch.device) -> dict[str, int]:
    """Per-key sums over ranks (every rank passes the same `keys`); keys with 0 are left out."""
    t = torch.tensor([counts.get(k, 0) for k in keys], dtype=torch.float64, device=device)
    if dist.is_initialized() and dist.get_world_size() > 1:
        dist.all_reduce(t)
    return {k: int(v) for k, v in zip(keys, t.tolist()) if v}


def mean_over_ranks(values: dict[str, float], device: torch.device) -> dict[str, float]:
    if not (dist.is_initialized() and dist.get_world_size() > 1):
        return values
    t = torch.tensor([values[k] for k in values], dtype=torch.float64, device=device)
    dist.all_reduce(t)
    return {k: float(v) / dist.get_world_size() for k, v in zip(values, t.tolist())}
