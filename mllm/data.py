"""LLaVA conversation data: validation, tokenisation with loss on answers only, batching.

`encode_conversation(processor, conversation, image)` turns one LLaVA conversation (a list of
{"from": "human"|"gpt", "value": ...}, `<image>` marking where the image goes) into
input_ids / labels / attention_mask (1-D), pixel_values (tiles, 3, s, s) and image_sizes (2,).
Labels are -100 everywhere except the answer tokens (the assistant text and its end marker), so the
loss is the answer loss. Two templates: "chat" renders with the processor's chat template (stage 2,
instruction tuning); "plain" is LLaVA's stage-1 format `<image>` + caption + "\\n".

The `<image>` token is expanded into as many copies as the tower gives features for this image
(the count LlavaNextProcessor computes), so the ids match what `processor(text, images)` gives.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import torch
from PIL import Image

from .tiny import IMAGE_TOKEN

IGNORE = -100
ROLES = {"human": "user", "gpt": "assistant", "system": "system"}
TEMPLATES = ("chat", "plain")


def _render(processor, messages, add_generation_prompt: bool) -> str:
    return processor.tokenizer.apply_chat_template(messages, chat_template=processor.chat_template, tokenize=False,
                                                   add_generation_prompt=add_generation_prompt)


def conversation_pieces(processor, conversation: list[dict], template: str = "chat") -> list[tuple[str, bool]]:
    """[(text, is_answer), ...] whose concatenation is the rendered conversation."""
    if template == "plain":  # LLaVA's pretraining format: the image, then the caption
        caption = next((m["value"] for m in conversation if m["from"] == "gpt"), None)
        if caption is None:
            raise ValueError("plain template: the conversation has no 'gpt' turn (the caption)")
        return [(IMAGE_TOKEN, False), (caption.strip() + "\n", True)]
    if template != "chat":
        raise ValueError(f"template {template!r}: must be one of {', '.join(TEMPLATES)}")
    messages = [{"role": ROLES[m["from"]], "content": m["value"]} for m in conversation]
    pieces, done = [], ""
    for i, m in enumerate(messages):
        if m["role"] != "assistant":
            continue
        prefix = _render(processor, messages[:i], add_generation_prompt=True)
        full = _render(processor, messages[: i + 1], add_generation_prompt=False)
        if not (prefix.startswith(done) and full.startswith(prefix)):
            raise ValueError("the chat template does not render conversations incrementally; cannot find answer spans")
        pieces += [(prefix[len(done):], False), (full[len(prefix):], True)]
        done = full
    rest = _render(processor, messages, add_generation_prompt=False)[len(done):]
    if rest:
        pieces.append((rest, False))
    return pieces


def count_image_marks(conversation: list[dict]) -> int:
    return sum(str(m.get("value", "")).count(IMAGE_TOKEN) for m in conversation)


def image_token_count(processor, image: Image.Image) -> int:
    """How many `<image>` tokens LlavaNextProcessor expands one mark into for this image."""
    ids = processor(images=image, text=IMAGE_TOKEN, return_tensors="pt")["input_ids"]
    return int((ids == processor.tokenizer.convert_tokens_to_ids(IMAGE_TOKEN)).sum())


def encode_conversation(processor, conversation: list[dict], image: Image.Image | None,
                        template: str = "chat", max_length: int = 0) -> dict:
    """One conversation -> {input_ids, labels, attention_mask, pixel_values, image_sizes} (see module doc)."""
    marks = count_image_marks(conversation)
    if marks != (1 if image is not None else 0):
        raise ValueError(f"conversation has {marks} '{IMAGE_TOKEN}' marks for {1 if image is not None else 0} image(s)")
    tok = processor.tokenizer
    image_id = tok.convert_tokens_to_ids(IMAGE_TOKEN)
    ids: list[int] = []
    labels: list[int] = []
    for text, is_answer in conversation_pieces(processor, conversation, template):
        piece = tok(text, add_special_tokens=False)["input_ids"]
        ids += piece
        labels += piece if is_answer else [IGNORE] * len(piece)
    out: dict = {}
    if image is not None:
        image = image.convert("RGB")
        n = image_token_count(processor, image)
        at = ids.index(image_id)
        ids[at:at + 1] = [image_id] * n
        labels[at:at + 1] = [IGNORE] * n
        pix = processor.image_processor(images=image, return_tensors="pt")
        out["pixel_values"] = pix["pixel_values"][0]  # (tiles, 3, s, s)
        out["image_sizes"] = pix["image_sizes"][0]  # (2,) original (height, width)
    if max_length and len(ids) > max_length:
        if image is not None and ids[max_length - 1] == image_id:
            raise ValueError(f"max_length {max_length} cuts through the image tokens; raise data.max_length")
        ids, labels = ids[:max_length], labels[:max_length]
    out["input_ids"] = torch.tensor(ids, dtype=torch.long)
    out["labels"] = torch.tensor(labels, dtype=torch.long)
    out["attention_mask"] = torch.ones(len(ids), dtype=torch.long)
    return out


@dataclass(frozen=True)
class Entry:
    """One validated LLaVA JSON item."""

    id: str
    image: Path | None
    conversations: list
    question_type: str = ""


def load_llava_json(json_file: str | Path, image_root: str | Path | None = None, limit: int = 0) -> list[Entry]:
    """Read and check a LLaVA JSON file (train, val or LCS-558K captions); `image` paths are under `image_root`.

    Every item is checked before training starts: roles alternate human/gpt, one `<image>` mark per image,
    the image file exists. Errors name the file, the item and the value.
    """
    json_file = Path(json_file)
    if not json_file.is_file():
        raise FileNotFoundError(f"{json_file}: LLaVA JSON file does not exist")
    root = Path(image_root) if image_root is not None else json_file.parent
    try:
        items = json.loads(json_file.read_text())
    except json.JSONDecodeError as err:
        raise ValueError(f"{json_file}: not valid JSON ({err})") from None
    if not isinstance(items, list):
        raise ValueError(f"{json_file}: must hold a list of conversations, got {type(items).__name__}")
    entries = []
    for i, item in enumerate(items[:limit] if limit > 0 else items):
        where = f"{json_file}: item {i} (id {item.get('id')!r})" if isinstance(item, dict) else f"{json_file}: item {i}"
        conv = item.get("conversations") if isinstance(item, dict) else None
        if not isinstance(conv, list) or not conv:
            raise ValueError(f"{where}: field 'conversations' must be a non-empty list, got {conv!r}")
        roles = [m.get("from") if isinstance(m, dict) else None for m in conv]
        bad = [r for r in roles if r not in ROLES]
        if bad or "gpt" not in roles:
            raise ValueError(f"{where}: field 'conversations[].from' = {roles}: must be human/gpt turns with an answer")
        image = root / item["image"] if item.get("image") else None
        marks = count_image_marks(conv)
        if marks != (1 if image is not None else 0):
            raise ValueError(f"{where}: field 'conversations' has {marks} '{IMAGE_TOKEN}' marks for "
                             f"{'one image' if image is not None else 'no image'} (image = {item.get('image')!r})")
        if image is not None and not image.is_file():
            raise FileNotFoundError(f"{where}: field 'image' = {item['image']!r}: file {image} does not exist")
        entries.append(Entry(str(item.get("id", i)), image, conv, str(item.get("question_type", ""))))
    return entries


class ConversationDataset(torch.utils.data.Dataset):
    def __init__(self, entries: list[Entry], processor, template: str = "chat", max_length: int = 0):
        self.entries, self.processor, self.template, self.max_length = entries, processor, template, max_length

    def __len__(self) -> int:
        return len(self.entries)

    def __getitem__(self, i: int) -> dict:
        e = self.entries[i]
        image = Image.open(e.image).convert("RGB") if e.image is not None else None
        return encode_conversation(self.processor, e.conversations, image, self.template, self.max_length)


def collate(batch: list[dict], pad_id: int) -> dict:
    """Right-pad ids (pad_id), labels (-100), mask (0); pad tiles with zeros (image_sizes says how many are real)."""
    n = max(len(b["input_ids"]) for b in batch)
    out = {
        "input_ids": torch.full((len(batch), n), pad_id, dtype=torch.long),
        "labels": torch.full((len(batch), n), IGNORE, dtype=torch.long),
        "attention_mask": torch.zeros((len(batch), n), dtype=torch.long),
    }
    for i, b in enumerate(batch):
        k = len(b["input_ids"])
        out["input_ids"][i, :k], out["labels"][i, :k], out["attention_mask"][i, :k] = \
            b["input_ids"], b["labels"], b["attention_mask"]
    with_images = [b for b in batch if "pixel_values" in b]
    if with_images:
        if len(with_images) != len(batch):
            raise ValueError("a batch mixes conversations with and without images; use batch size 1 for text-only data")
        tiles = max(b["pixel_values"].shape[0] for b in batch)
        shape = batch[0]["pixel_values"].shape[1:]
        pix = torch.zeros((len(batch), tiles, *shape), dtype=batch[0]["pixel_values"].dtype)
        for i, b in enumerate(batch):
            pix[i, : b["pixel_values"].shape[0]] = b["pixel_values"]
        out["pixel_values"] = pix  # (B, tiles, 3, s, s)
        out["image_sizes"] = torch.stack([b["image_sizes"] for b in batch])  # (B, 2)
    return out
