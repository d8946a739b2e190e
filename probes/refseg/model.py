"""LISA on the MLLM probe's LLaVA-NeXT: [SEG] hidden state -> projection -> SAM mask decoder.

Contract of `LisaModel.forward(batch)`: `batch` holds the LLM inputs of every conversation (one [SEG] each;
`image_index[k]` says which image conversation k belongs to) and one `SamImage` per image. It returns the
LLM's answer cross-entropy and, per image, the (n_i, H_i, W_i) mask logits of its conversations, from one
mask-decoder call per image (None for an image without [SEG]: a VQA sample, whose `sam_images` entry is None). [SEG] positions come from the expanded input ids (the `<image>` mark is
already replaced by as many tokens as the tower gives), never from a fixed offset.

What trains (LISA): LoRA (peft) on the LLM's q_proj / v_proj, the LLM's embed_tokens and lm_head, the
projection and SAM's mask decoder; the vision tower, the multimodal projector and SAM's image and prompt
encoders are frozen.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import torch
from torch import nn

from .sam import PROMPT_DIM, SamEmbeddingCache, decode_masks, image_embedding

SEG_TOKEN = "[SEG]"


@dataclass
class LoraConfig:
    r: int = 8
    alpha: int = 16
    dropout: float = 0.05
    target_modules: tuple[str, ...] = ("q_proj", "v_proj")


@dataclass
class LisaConfig:
    llm: str = "tiny"  # "tiny" or a local causal-LM directory (Qwen2.5-7B-Instruct in the paper)
    tiling: str = "2x2+1"
    # the paper's first stage: an MLLM probe run directory (or its hf/ folder, any LLaVA-NeXT directory) to
    # start from; "" builds a fresh LLaVA-NeXT (random projector) on the backbone and `llm`
    stage1: str = ""
    seg_offset: int = 0  # 0: the hidden state at [SEG] itself; -1: at the token before it (LISA's one-token shift)
    lora: LoraConfig = field(default_factory=LoraConfig)


def seg_token_id(tokenizer, source: str = "tokenizer") -> int:
    """The id of [SEG]; an error naming the tokenizer when [SEG] does not encode to exactly one id."""
    ids = tokenizer(SEG_TOKEN, add_special_tokens=False)["input_ids"]
    if len(ids) != 1:
        raise ValueError(f"{source}: '{SEG_TOKEN}' encodes to {len(ids)} ids {ids}, not one token; add it as a "
                         f"special token (add_special_tokens / extra_special_tokens)")
    return int(ids[0])


def seg_positions(input_ids: torch.Tensor, seg_id: int, offset: int = 0) -> torch.Tensor:
    """(B, L) ids -> (N, 2) [row, position] of every [SEG] (shifted by `offset`), in row-major order."""
    where = (input_ids == seg_id).nonzero()  # (N, 2)
    where[:, 1] += offset
    if (where[:, 1] < 0).any():
        raise ValueError(f"seg_offset {offset} points before the start of a sequence")
    return where


def projection(hidden: int) -> nn.Sequential:
    """LISA's text_hidden_fcs: Linear(H, H), ReLU, Linear(H, 256), Dropout(0)."""
    return nn.Sequential(nn.Linear(hidden, hidden), nn.ReLU(inplace=True), nn.Linear(hidden, PROMPT_DIM), nn.Dropout(0.0))


def apply_lora(llava: nn.Module, cfg: LoraConfig) -> nn.Module:
    """peft LoRA on the LLM's attention, then LISA's fully trainable LLM parts (embed_tokens, lm_head)."""
    from peft import LoraConfig as PeftLoraConfig, get_peft_model

    targets = rf".*language_model.*\.({'|'.join(cfg.target_modules)})$"
    model = get_peft_model(llava, PeftLoraConfig(r=cfg.r, lora_alpha=cfg.alpha, lora_dropout=cfg.dropout,
                                                 target_modules=targets, bias="none"))
    for name, p in model.named_parameters():
        if "lm_head" in name or "embed_tokens" in name:
            p.requires_grad_(True)
    return model


class LisaModel(nn.Module):
    def __init__(self, llava: nn.Module, sam: nn.Module, seg_id: int, seg_offset: int = 0,
                 cache: SamEmbeddingCache | None = None):
        super().__init__()
        self.llava = llava
        self.sam = sam
        self.seg_id = seg_id
        self.seg_offset = seg_offset
        self.cache = cache
        self.projection = projection(llava.config.text_config.hidden_size)
        for p in self.sam.image_encoder.parameters():
            p.requires_grad_(False)
        for p in self.sam.prompt_encoder.parameters():
            p.requires_grad_(False)

    def trainable_state(self) -> dict[str, torch.Tensor]:
        """The parameters that training changes (what a checkpoint must hold)."""
        names = {n for n, p in self.named_parameters() if p.requires_grad}
        return {k: v.detach().cpu().clone() for k, v in self.state_dict().items() if k in names}

    def forward(self, batch: dict) -> tuple[torch.Tensor, list[torch.Tensor]]:
        out = self.llava(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"],
                         pixel_values=batch["pixel_values"], image_sizes=batch["image_sizes"],
                         labels=batch.get("labels"), output_hidden_states=True)
        hidden = out.hidden_states[-1]  # (B, L, H)
        where = seg_positions(batch["input_ids"], self.seg_id, self.seg_offset)  # (N, 2)
        rows = where[:, 0]
        # one [SEG] per conversation (the collate function checks), so row k's prompt is conversation k's
        prompts = self.projection(hidden[rows, where[:, 1]].float())  # (N, 256)
        image_index = batch["image_index"].to(rows.device)[rows]  # (N,)
        masks = []
        for i, image in enumerate(batch["sam_images"]):
            if image is None:  # a VQA sample: no [SEG], no mask, LLM loss only
                masks.append(None)
                continue
            emb = image_embedding(self.sam, image, self.cache)  # (1, 256, h, w), frozen
            masks.append(decode_masks(self.sam, emb, prompts[image_index == i], image))  # (n_i, H, W)
        ce = out.loss if out.loss is not None else hidden.new_zeros(())
        return ce, masks
