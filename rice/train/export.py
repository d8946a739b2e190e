"""`rice export RUN_DIR OUT_DIR`: the trained ViT as a Hugging Face MLCD directory, the region head beside it.

OUT_DIR loads with `transformers.MLCDVisionModel.from_pretrained(OUT_DIR)` and with
`rice.backbones.create_backbone(OUT_DIR)`, with identical outputs. The region head (Region Transformer layers
and their norm) goes to `OUT_DIR/region_head/` (safetensors + its config), for region-level use.
"""

from __future__ import annotations

import json
from pathlib import Path

from safetensors.torch import save_file

from rice.config import load_config, to_dict
from rice.model import RiceModel

from .checkpoint import atomic_directory, latest_checkpoint, load_checkpoint
from .pretrain_config import PretrainConfig
from .run_dir import check_writable_dir


def load_trained_model(run_dir: Path) -> tuple[RiceModel, PretrainConfig, int]:
    run_dir = Path(run_dir)
    config_file = run_dir / "config.yaml"
    if not config_file.is_file():
        raise FileNotFoundError(f"{run_dir}: not a pretraining run directory (no config.yaml)")
    cfg = load_config(PretrainConfig, config_file)
    ckpt = latest_checkpoint(run_dir / "ckpt" / "rank0")
    if ckpt is None:
        raise FileNotFoundError(f"{run_dir / 'ckpt' / 'rank0'}: no checkpoint to export")
    state = load_checkpoint(ckpt)
    model = RiceModel(cfg.model)
    prefix = "model."
    model.load_state_dict({k[len(prefix):]: v for k, v in state["model"].items() if k.startswith(prefix)})
    return model.eval(), cfg, int(state["step"])


def export(run_dir: Path, out_dir: Path, overwrite: bool = False) -> Path:
    out_dir = Path(out_dir)
    check_writable_dir(out_dir, "OUT_DIR")
    if out_dir.exists() and any(out_dir.iterdir()) and not overwrite:
        raise FileExistsError(f"{out_dir} exists and is not empty; pass --overwrite to replace it")
    model, cfg, step = load_trained_model(run_dir)
    with atomic_directory(out_dir) as tmp:
        model.vit.save_pretrained(tmp)
        head = tmp / "region_head"
        head.mkdir()
        tensors = {f"region.{k}": v.contiguous() for k, v in model.region.state_dict().items()}
        tensors.update({f"region_norm.{k}": v.contiguous() for k, v in model.region_norm.state_dict().items()})
        save_file(tensors, str(head / "model.safetensors"))
        meta = {"region_depth": cfg.model.region_depth, "region_heads": cfg.model.region_heads,
                "region_mlp_ratio": cfg.model.region_mlp_ratio, "embed_dim": cfg.model.embed_dim,
                "source_run": str(Path(run_dir).resolve()), "step": step, "pretrain_config": to_dict(cfg)}
        (head / "config.json").write_text(json.dumps(meta, indent=2, sort_keys=True))
    return out_dir
