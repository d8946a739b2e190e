"""LLaVA-NeXT MLLM probe: any backbone with a Hugging Face vision model + an LLM, trained in two stages.

Stable API (signatures kept; `probes/refseg` builds LISA on these):

    from mllm.model import build_llava_next
    model, processor = build_llava_next(backbone, llm, *, tiling="2x2+1", pinpoints=None, dtype=None)
        backbone: registry name / model directory / rice Backbone; llm: "tiny" or a causal-LM directory.
        -> (transformers.LlavaNextForConditionalGeneration, transformers.LlavaNextProcessor).
        Extra keywords: seed=0 (projector init), extra_special_tokens=() (e.g. ("[SEG]",), one token each).
    from mllm.tiny import build_tiny_tokenizer
    tokenizer = build_tiny_tokenizer(extra_special_tokens=())   # offline BPE, ChatML markers + <image> single tokens
    from mllm.data import encode_conversation
    item = encode_conversation(processor, conversation, image)  # LLaVA [{"from","value"}...], PIL image or None
        -> {"input_ids", "labels" (-100 except answer tokens), "attention_mask", "pixel_values", "image_sizes"};
        template="plain" gives LLaVA's stage-1 caption format. `mllm.data.collate(batch, pad_id)` batches them.

Other modules: config (MLLMConfig + presets in configs/mllm/), train (stage 1/2 loop, FSDP2 under torchrun),
evaluate (lmms-eval 0.7.3 `llava_hf` on the saved checkpoint, toy task YAML in mllm/tasks/),
lmms_tasks (standard task names and their local datasets checked before any model loads),
probe (`run(cfg, backbone) -> RunRecord`), layout (Table 1 leaderboard layout).
"""
