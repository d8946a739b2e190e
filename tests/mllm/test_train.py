"""Stage 1 then stage 2 lower the answer loss on toy data; the frozen tower stays bitwise equal; resume is exact."""

from __future__ import annotations

import pytest
import torch

from mllm.config import MLLMConfig, StageConfig, TrainConfig
from mllm.data import ConversationDataset, collate, load_llava_json
from mllm.model import build_llava_next
from mllm.train import train_stage
from rice.train.dist import DistInfo

ONE = DistInfo(0, 1, 0, torch.device("cpu"))


def _cfg(**train) -> MLLMConfig:
    return MLLMConfig(stage1=StageConfig(lr=3e-3, max_steps=6, warmup_ratio=0.0),
                      stage2=StageConfig(lr=3e-3, max_steps=6, warmup_ratio=0.0),
                      train=TrainConfig(global_batch=4, per_device_batch=2, checkpoint_every=3, **train)).validate()


def _answer_loss(model, ds) -> float:
    model.eval()
    with torch.no_grad():
        batch = collate([ds[i] for i in range(len(ds))], ds.processor.tokenizer.pad_token_id)
        return float(model(**batch).loss)


def _sets(toy_dir, processor):
    llava = toy_dir / "llava"
    s1 = ConversationDataset(load_llava_json(llava / "captions.json"), processor, "plain")
    s2 = ConversationDataset(load_llava_json(llava / "train.json"), processor, "chat")
    return s1, s2


def test_two_stages_lower_answer_loss_tower_frozen(toy_dir, tmp_path):
    model, processor = build_llava_next("rice-vit-tiny", "tiny")
    s1, s2 = _sets(toy_dir, processor)
    tower = {k: v.clone() for k, v in model.model.vision_tower.state_dict().items()}
    llm = {k: v.clone() for k, v in model.model.language_model.state_dict().items()}
    before = (_answer_loss(model, s1), _answer_loss(model, s2))
    cfg = _cfg()
    r1 = train_stage(model, s1, "stage1", cfg, ONE, tmp_path, progress=False)
    assert all(torch.equal(v, model.model.language_model.state_dict()[k]) for k, v in llm.items())  # stage 1: LLM frozen
    after1 = _answer_loss(model, s1)
    train_stage(model, s2, "stage2", cfg, ONE, tmp_path, progress=False)
    after2 = _answer_loss(model, s2)
    assert after1 < before[0] and after2 < before[1], (before, after1, after2)
    assert len(r1.losses) == 6
    assert all(torch.equal(v, model.model.vision_tower.state_dict()[k]) for k, v in tower.items())
    assert not all(torch.equal(v, model.model.language_model.state_dict()[k]) for k, v in llm.items())


def test_tower_lr_trains_the_tower(toy_dir, tmp_path):
    model, processor = build_llava_next("clip-vit-tiny", "tiny")
    _, s2 = _sets(toy_dir, processor)
    tower = {k: v.clone() for k, v in model.model.vision_tower.state_dict().items()}
    cfg = _cfg(tower_lr=1e-3)
    cfg.stage2.max_steps = 1
    train_stage(model, s2, "stage2", cfg, ONE, tmp_path, progress=False)
    assert cfg.tower_protocol() == "tuned@0.001"
    assert not all(torch.equal(v, model.model.vision_tower.state_dict()[k]) for k, v in tower.items())


class _Killed(Exception):
    pass


class _DiesAfter(torch.utils.data.Dataset):
    """Wraps a dataset; raises once `n` items were read (a kill in the middle of a stage)."""

    def __init__(self, ds, n):
        self.ds, self.n, self.reads, self.processor = ds, n, 0, ds.processor

    def __len__(self):
        return len(self.ds)

    def __getitem__(self, i):
        self.reads += 1
        if self.reads > self.n:
            raise _Killed
        return self.ds[i]


def test_resume_after_kill_is_exact(toy_dir, tmp_path):
    cfg = _cfg()
    model, processor = build_llava_next("mlcd-vit-tiny", "tiny")
    _, s2 = _sets(toy_dir, processor)
    full = train_stage(model, s2, "stage2", cfg, ONE, tmp_path / "a", progress=False)
    ref = {k: v.clone() for k, v in model.state_dict().items()}

    model, processor = build_llava_next("mlcd-vit-tiny", "tiny")
    _, s2 = _sets(toy_dir, processor)
    with pytest.raises(_Killed):  # dies in step 5, after the step-3 checkpoint
        train_stage(model, _DiesAfter(s2, 4 * 4 + 1), "stage2", cfg, ONE, tmp_path / "b", progress=False)
    model, processor = build_llava_next("mlcd-vit-tiny", "tiny")
    _, s2 = _sets(toy_dir, processor)
    resumed = train_stage(model, s2, "stage2", cfg, ONE, tmp_path / "b", progress=False)
    assert resumed.resumed_from == 3 and resumed.losses == full.losses
    assert all(torch.equal(v, model.state_dict()[k]) for k, v in ref.items())
