"""Samples of every source -> LISA conversations -> batches for `LisaModel`.

Training: a `Sample` (any source of LISA's mixture, see `mixture.py`) is one image with its conversations,
each "<image>\\n<question>" -> "<answer with [SEG]>" with one target mask, templates drawn from LISA's lists
(`utils/utils.py`: SHORT_QUESTION_LIST for class names and refer expressions, LONG_QUESTION_LIST for
ReasonSeg sentences, ANSWER_LIST); a VQA sample is a LLaVA conversation without [SEG] or mask (LLM loss
only). Evaluation is teacher-forced as LISA's: every expression of a refer image, the question
"What is <sent> in this image? Please output segmentation mask." and the answer "[SEG]." given.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from mllm.data import collate, encode_conversation

from .model import SEG_TOKEN
from .refer import Expression, ReferImage, ReferSplit
from .sam import SamImage

QUESTIONS = ("Can you segment the {} in this image?", "Please segment the {} in this image.",
             "What is {} in this image? Please respond with segmentation mask.",
             "What is {} in this image? Please output segmentation mask.")
ANSWERS = (f"It is {SEG_TOKEN}.", f"Sure, {SEG_TOKEN}.", f"Sure, it is {SEG_TOKEN}.",
           f"Sure, the segmentation result is {SEG_TOKEN}.")
LONG_QUESTIONS = ("{} Please respond with segmentation mask.", "{} Please output segmentation mask.")
EVAL_QUESTION = QUESTIONS[3]
EVAL_ANSWER = f"{SEG_TOKEN}."


@dataclass
class Sample:
    """One training sample: an image and its conversations; `masks[k]` (H, W) 0/1 is conversation k's target
    (no masks: a VQA sample, LLM loss only). `where` names the sample's file(s) for error messages."""

    source: str  # sem_seg | refer_seg | vqa | reason_seg
    dataset: str  # ade20k, refcoco|unc|train, llava_instruct_150k, ReasonSeg|train, ...
    image: Path
    conversations: list[list[dict]]
    masks: list[np.ndarray]
    where: str


def pick(rng: np.random.Generator, n: int, k: int) -> list[int]:
    """Up to `k` of range(n) without replacement, sorted (k <= 0: all), as LISA's np.random.choice."""
    return sorted(int(i) for i in rng.choice(n, size=min(k, n), replace=False)) if k > 0 else list(range(n))


def seg_sample(source: str, dataset: str, image: Path, texts: list[str], masks: list[np.ndarray], where: str,
               rng: np.random.Generator, long: list[bool] | None = None) -> Sample:
    """LISA's question / answer templates around each text (a class name, expression or sentence)."""
    convs = []
    for k, text in enumerate(texts):
        if long is not None and long[k]:
            q = LONG_QUESTIONS[int(rng.integers(len(LONG_QUESTIONS)))].format(text)
        else:
            q = QUESTIONS[int(rng.integers(len(QUESTIONS)))].format(text.lower() if source != "refer_seg" else text)
        convs.append(conversation_text(q, ANSWERS[int(rng.integers(len(ANSWERS)))]))
    return Sample(source, dataset, image, convs, masks, where)


@dataclass
class Item:
    split: ReferSplit
    image: ReferImage
    expressions: list[Expression]


def load_rgb(image: ReferImage) -> Image.Image:
    pil = Image.open(image.path).convert("RGB")
    if (pil.height, pil.width) != (image.height, image.width):
        raise ValueError(f"{image.path}: image {image.image_id} is {pil.width}x{pil.height} px but the instances "
                         f"file says {image.width}x{image.height}")
    return pil


def conversation(sent: str, question: str, answer: str) -> list[dict]:
    return conversation_text(question.format(sent), answer)


def conversation_text(question: str, answer: str) -> list[dict]:
    return [{"from": "human", "value": "<image>\n" + question}, {"from": "gpt", "value": answer}]


def train_items(splits: list[ReferSplit], rng: np.random.Generator, k: int) -> list[Item]:
    """One item per image of every split, with up to `k` of its expressions drawn without replacement."""
    items = []
    for split in splits:
        for image in split.images:
            exprs = image.expressions
            items.append(Item(split, image, [exprs[i] for i in pick(rng, len(exprs), k)]))
    return items


def eval_items(split: ReferSplit) -> list[Item]:
    return [Item(split, image, list(image.expressions)) for image in split.images]


class Batcher:
    """list[Sample] (training) or list[Item] (teacher-forced refer evaluation) -> the batch dict
    `LisaModel.forward` takes, plus the targets (`masks`: (n_i, H, W) uint8 per image; None for a VQA image,
    whose `sam_images` entry is None too: it has no [SEG], so SAM is not run on it)."""

    def __init__(self, processor, sam, seg_id: int, max_length: int = 0):
        self.processor, self.sam, self.seg_id, self.max_length = processor, sam, seg_id, max_length

    def encode(self, conv: list[dict], pil: Image.Image, n_seg: int, where: str) -> dict:
        enc = encode_conversation(self.processor, conv, pil, max_length=self.max_length)
        if int((enc["input_ids"] == self.seg_id).sum()) != n_seg:
            raise ValueError(f"{where}: the conversation has {int((enc['input_ids'] == self.seg_id).sum())} "
                             f"{SEG_TOKEN} tokens, expected {n_seg} (text holds {SEG_TOKEN}, or "
                             f"data.max_length = {self.max_length} cut it off)")
        return enc

    def __call__(self, items: list) -> dict:
        rows, image_index, sam_images, masks = [], [], [], []
        for i, item in enumerate(items):
            if isinstance(item, Sample):
                pil = Image.open(item.image).convert("RGB")
                convs, where, targets = item.conversations, item.where, item.masks
                for t in targets:
                    if t.shape != (pil.height, pil.width):
                        raise ValueError(f"{item.where}: mask is {t.shape[1]}x{t.shape[0]} px but the image "
                                         f"{item.image} is {pil.width}x{pil.height}")
            else:
                pil = load_rgb(item.image)
                targets = [item.split.mask(e.ann_id, item.image.height, item.image.width) for e in item.expressions]
                convs = [conversation(e.text, EVAL_QUESTION, EVAL_ANSWER) for e in item.expressions]
                where = f"{item.split.refs_file}: image {item.image.image_id}"
            seg = bool(targets)
            sam_images.append(SamImage.create(np.asarray(pil), self.sam) if seg else None)
            masks.append(torch.as_tensor(np.stack(targets)) if seg else None)  # (n_i, H, W) uint8
            for conv in convs:
                rows.append(self.encode(conv, pil, 1 if seg else 0, where))
                image_index.append(i)
        batch = collate(rows, self.processor.tokenizer.pad_token_id)
        batch["image_index"] = torch.tensor(image_index)
        batch["sam_images"] = sam_images
        batch["masks"] = masks
        batch["items"] = items
        return batch


def to_device(batch: dict, device: torch.device) -> dict:
    """Tensors and lists of tensors (the per-image targets) onto `device`; the rest as it is."""
    def move(v):
        if isinstance(v, torch.Tensor):
            return v.to(device)
        if isinstance(v, list) and v and all(isinstance(x, torch.Tensor) for x in v):
            return [x.to(device) for x in v]
        return v

    return {k: move(v) for k, v in batch.items()}
