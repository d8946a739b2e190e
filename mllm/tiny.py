"""The `tiny` LLM preset: a tokenizer trained offline on the toy world's words and a 2-layer Qwen2.

Nothing is downloaded: the byte-level BPE is trained with `tokenizers` on a corpus built from the toy
world's vocabulary (colours, shapes, question templates, sign words), so any text still encodes (byte
alphabet) and the chat markers and `<image>` are single special tokens. Training is deterministic,
so the same call gives the same vocabulary.
"""

from __future__ import annotations

from typing import Sequence

IMAGE_TOKEN = "<image>"
IM_START, IM_END, PAD = "<|im_start|>", "<|im_end|>", "<pad>"
SPECIAL_TOKENS = (PAD, IM_START, IM_END, IMAGE_TOKEN)
TINY_VOCAB = 1024

# ChatML (Qwen2.5's layout). Content is a string (LLaVA JSON, lmms-eval's simple adapter) or a list of
# {"type": "image"} / {"type": "text"} parts (lmms-eval's chat adapter); an image part becomes "<image>\n".
CHAT_TEMPLATE = (
    "{% for message in messages %}"
    "{{ '<|im_start|>' + message['role'] + '\n' }}"
    "{% if message['content'] is string %}{{ message['content'] }}"
    "{% else %}{% for part in message['content'] %}"
    "{% if part['type'] == 'image' %}{{ '<image>\n' }}"
    "{% elif part['type'] == 'text' %}{{ part['text'] }}{% endif %}"
    "{% endfor %}{% endif %}"
    "{{ '<|im_end|>\n' }}"
    "{% endfor %}"
    "{% if add_generation_prompt %}{{ '<|im_start|>assistant\n' }}{% endif %}"
)

TINY_LLM = dict(hidden_size=64, intermediate_size=128, num_hidden_layers=2, num_attention_heads=4,
                num_key_value_heads=2, max_position_embeddings=4096, tie_word_embeddings=False)


def toy_corpus() -> list[str]:
    """Lines in the toy world's language: its questions, answers, captions and sign words."""
    from rice.toyworld.llava import SHORT_ANSWER
    from rice.toyworld.shapes import COLOURS, PLURALS, SHAPES
    from rice.toyworld.text import VOCABULARY

    lines = [SHORT_ANSWER, "How many shapes are in the image?", "How many signs are there?",
             "What does the sign say?", "What word is written on the sign?", "user", "assistant", "system",
             "left right above below yes no", "0 1 2 3 4 5 6 7 8 9 10 11 12",
             "Describe the image briefly.", "A picture of", "There is a sign that says"]
    for s in SHAPES:
        lines += [f"How many {PLURALS[s]} are there?", f"What colour is the {s}?", f"a {s}, the {s} and {PLURALS[s]}"]
        for c in COLOURS:
            lines += [f"How many {c} shapes are there?", f"What shape is the {c} object?",
                      f"Is there a {c} {s} in the image?", f"Is the {c} {s} on the left or the right side of the image?",
                      f"Is the {c} {s} above or below the {s}?", f"Is the {c} {s} to the left or to the right of the sign?",
                      f"a {c} {s}"]
    for where in ("left", "right", "top"):
        lines.append(f"What does the sign on the {where} say?")
    lines += [" ".join(VOCABULARY), *VOCABULARY]
    return lines


def build_tiny_tokenizer(extra_special_tokens: Sequence[str] = ()):
    """A `PreTrainedTokenizerFast` (ChatML markers, `<image>`, `<pad>` and `extra_special_tokens` single tokens)."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    extra = [t for t in extra_special_tokens if t not in SPECIAL_TOKENS]
    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(vocab_size=TINY_VOCAB, special_tokens=[*SPECIAL_TOKENS, *extra], show_progress=False,
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet())
    tok.train_from_iterator(toy_corpus(), trainer)
    tokenizer = PreTrainedTokenizerFast(tokenizer_object=tok, eos_token=IM_END, pad_token=PAD,
                                        extra_special_tokens={"image_token": IMAGE_TOKEN},
                                        additional_special_tokens=[IM_START, IM_END, *extra],
                                        padding_side="left")  # generation pads on the left; saved with it
    tokenizer.chat_template = CHAT_TEMPLATE
    return tokenizer


def build_tiny_llm(tokenizer, seed: int = 0, **overrides):
    """A random-init 2-layer Qwen2 config sized to `tokenizer` (returns the config; LlavaNext builds the model)."""
    from transformers import Qwen2Config

    fields = {**TINY_LLM, **overrides}
    return Qwen2Config(vocab_size=len(tokenizer), eos_token_id=tokenizer.eos_token_id,
                       pad_token_id=tokenizer.pad_token_id, bos_token_id=None, **fields)
