"""Runs that tell the truth: a changed config is refused, a rerun after a kill before the first checkpoint
starts clean, a resumed run says so, bad inputs are one line with exit code 2 and nothing written, and
exported files are readable by others. Each test failed on the code before issue 14."""

import json
import os
import stat

import pytest
import torch

from rice.cli import main
from rice.train.checkpoint import latest_checkpoint

CONFIG = "configs/pretrain/tiny.yaml"


def pretrain(shards, run, overrides, *extra):
    return main(["pretrain", "--config", CONFIG, "--data", str(shards), "--out", str(run), *extra, *overrides])


def log_steps(run):
    return [json.loads(l)["step"] for l in (run / "train_log.jsonl").read_text().splitlines()]


def tb_steps(run, tag="train/total"):
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    acc = EventAccumulator(str(run / "tb"), purge_orphaned_data=True)
    acc.Reload()
    return [e.step for e in acc.Scalars(tag)]


def raw_tb_steps(run, tag="train/total"):
    """Every scalar event on disk, without TensorBoard's purge logic: what a naive reader sees."""
    from tensorboard.backend.event_processing.event_file_loader import EventFileLoader

    steps = []
    for path in sorted((run / "tb").glob("events.*")):
        for event in EventFileLoader(str(path)).Load():
            steps += [event.step for v in event.summary.value if v.tag == tag]
    return steps


def test_changed_config_is_refused_naming_the_field(shards, tmp_path, tiny_overrides, capsys):
    run = tmp_path / "run"
    assert pretrain(shards, run, tiny_overrides + ["loop.max_steps=2"]) == 0
    before = {p: p.read_bytes() for p in run.rglob("*") if p.is_file()}
    capsys.readouterr()
    assert pretrain(shards, run, tiny_overrides + ["loop.max_steps=2", "optim.lr=5e-4"]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "optim.lr: 0.001 -> 0.0005" in err and "--resume-anyway" in err, err
    assert {p: p.read_bytes() for p in run.rglob("*") if p.is_file()} == before  # nothing overwritten
    # progress is the one field that cannot change the result: it may differ
    assert pretrain(shards, run, [o for o in tiny_overrides if o != "loop.progress=false"] +
                    ["loop.max_steps=2", "loop.progress=true"]) == 0
    assert pretrain(shards, run, tiny_overrides + ["loop.max_steps=3", "optim.lr=5e-4"], "--resume-anyway") == 0
    assert "lr: 0.0005" in (run / "config.yaml").read_text()
    assert "lr: 0.001" in (run / "config.previous.yaml").read_text()
    assert log_steps(run) == [1, 2, 3]


def test_new_shards_at_the_same_path_are_refused(shards, tmp_path, tiny_overrides, capsys):
    """Same config, same --data path, other shard contents: a new run, not a resume (issue 14)."""
    from rice.data.shards import write_shard
    from tests.train.conftest import make_samples

    run, args = tmp_path / "run", tiny_overrides + ["loop.max_steps=1"]
    assert pretrain(shards, run, args) == 0
    saved = json.loads((run / "data_fingerprint.json").read_text())
    assert sorted(saved["files"]) == ["shard-000000.tar", "shard-000001.tar", "shard-000002.tar"]
    # rewritten with the same bytes (a copy, a new mtime) is the same data: it resumes (nothing left to do)
    shard1 = shards / "shard-000001.tar"
    shard1.write_bytes(shard1.read_bytes())
    assert pretrain(shards, run, args) == 0
    # a re-curation: other samples under the same shard name, and one more shard
    write_shard(shard1, make_samples(8, seed=7))
    write_shard(shards / "shard-000003.tar", make_samples(8, seed=8))
    before = {p: p.read_bytes() for p in run.rglob("*") if p.is_file()}
    capsys.readouterr()
    assert pretrain(shards, run, args) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1, err
    assert f"other data in {shards}" in err and "data_fingerprint.json" in err and "--resume-anyway" in err, err
    assert "shard-000001.tar: " in err and "shard-000003.tar: new" in err and "shard-000000" not in err, err
    assert {p: p.read_bytes() for p in run.rglob("*") if p.is_file()} == before  # nothing overwritten
    # --resume-anyway continues on the new data and records it; the old fingerprint is kept
    assert pretrain(shards, run, tiny_overrides + ["loop.max_steps=2"], "--resume-anyway") == 0
    assert "shard-000003.tar" in json.loads((run / "data_fingerprint.json").read_text())["files"]
    assert json.loads((run / "data_fingerprint.previous.json").read_text()) == saved
    assert log_steps(run) == [1, 2]


def test_rerun_after_kill_before_first_checkpoint_starts_clean(shards, tmp_path, tiny_overrides):
    run = tmp_path / "run"
    args = tiny_overrides + ["loop.max_steps=3", "loop.checkpoint_every=100"]
    assert pretrain(shards, run, args) == 0
    # the state a kill before the first checkpoint leaves: logged rows and TensorBoard events, no checkpoint,
    # and the temp file of the checkpoint write it was killed in
    ckpt = run / "ckpt" / "rank0"
    for path in ckpt.iterdir():
        path.unlink()
    orphan = ckpt / ".step-00000003.pt.abc123.tmp"
    orphan.write_bytes(b"half a checkpoint")
    log_orphan = run / ".train_log.jsonl.xyz.tmp"
    log_orphan.write_text('{"step": 1}')
    assert pretrain(shards, run, args) == 0
    assert log_steps(run) == [1, 2, 3]
    assert not orphan.exists() and not log_orphan.exists()
    assert tb_steps(run) == [1, 2, 3]
    assert len(raw_tb_steps(run)) == 6  # the first run's events are on disk; the purge marker hides them


def test_resumed_run_says_from_which_step(shards, tmp_path, tiny_overrides, capsys):
    run = tmp_path / "run"
    args = tiny_overrides + ["loop.max_steps=4", "loop.checkpoint_every=2"]
    assert pretrain(shards, run, tiny_overrides + ["loop.max_steps=4", "loop.checkpoint_every=2"]) == 0
    (run / "ckpt" / "rank0" / "step-00000004.pt").unlink()  # as if killed between steps 2 and 4
    capsys.readouterr()
    assert pretrain(shards, run, args) == 0
    assert "resumed from step 2" in capsys.readouterr().out
    assert log_steps(run) == [1, 2, 3, 4] and tb_steps(run) == [1, 2, 3, 4]


@pytest.mark.parametrize("override, field", [
    ("loop.max_steps=0", "loop.max_steps=0"), ("loop.max_steps=-3", "loop.max_steps=-3"),
    ("data.batch_size=0", "data.batch_size=0"), ("optim.lr=-0.001", "optim.lr=-0.001"),
])
def test_bad_values_exit_2_before_anything_is_written(finished, tmp_path, tiny_overrides, capsys, override, field):
    run = tmp_path / "run"
    assert pretrain(finished[0], run, tiny_overrides + [override]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and field in err, err
    assert not run.exists()


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the message on a machine without a GPU")
def test_device_cuda_without_gpu(finished, tmp_path, tiny_overrides, capsys):
    assert pretrain(finished[0], tmp_path / "run", tiny_overrides, "--device", "cuda") == 2
    err = capsys.readouterr().err
    assert "--device cuda" in err and "no CUDA GPU" in err
    assert not (tmp_path / "run").exists()


@pytest.fixture(scope="module")
def finished(tmp_path_factory):
    """One finished 1-step run and its export, shared by the tests that only read them."""
    from tests.train.conftest import _TINY_OVERRIDES, make_samples
    from rice.data.shards import write_shard

    root = tmp_path_factory.mktemp("finished")
    shards = root / "shards"
    shards.mkdir()
    write_shard(shards / "shard-000000.tar", make_samples(8))
    run, out = root / "run", root / "model"
    assert pretrain(shards, run, _TINY_OVERRIDES + ["loop.max_steps=1"]) == 0
    assert main(["export", str(run), str(out)]) == 0
    return shards, run, out


def unwritable_folder(tmp_path):
    """A folder this process cannot create files in (root ignores mode bits: use a read-only mount then)."""
    if os.geteuid() != 0:
        folder = tmp_path / "readonly"
        folder.mkdir()
        folder.chmod(0o555)
        return folder
    for candidate in ("/sys", "/proc/self"):
        try:
            open(os.path.join(candidate, ".rice-write-probe"), "w").close()
        except OSError:
            return candidate
    pytest.skip("no unwritable folder on this machine")


def test_unwritable_or_file_outputs(finished, tmp_path, tiny_overrides, capsys):
    shards, run, _ = finished
    folder = unwritable_folder(tmp_path)
    assert pretrain(shards, f"{folder}/run", tiny_overrides) == 2
    assert "is not writable" in capsys.readouterr().err
    a_file = tmp_path / "a_file"
    a_file.write_text("x")
    assert pretrain(shards, a_file, tiny_overrides) == 2
    assert "is a file" in capsys.readouterr().err
    assert main(["export", str(run), str(a_file)]) == 2
    assert f"OUT_DIR {a_file}: is a file" in capsys.readouterr().err and a_file.read_text() == "x"
    assert main(["export", str(run), f"{folder}/model"]) == 2
    assert "is not writable" in capsys.readouterr().err


def test_exports_and_checkpoints_are_world_readable(finished):
    _, run, out = finished
    ckpt = latest_checkpoint(run / "ckpt" / "rank0")
    files = [ckpt, run / "config.yaml", run / "data_fingerprint.json", run / "train_log.jsonl",
             *[p for p in out.rglob("*") if p.is_file()]]
    folders = [out, *[p for p in out.rglob("*") if p.is_dir()]]
    assert {str(p): oct(stat.S_IMODE(p.stat().st_mode)) for p in files} == {str(p): "0o644" for p in files}
    assert {oct(stat.S_IMODE(p.stat().st_mode)) for p in folders} == {"0o755"}


def test_truncated_safetensors_is_named(finished, tmp_path):
    import shutil

    from rice.backbones import create_backbone

    out = tmp_path / "model"
    shutil.copytree(finished[2], out)
    weights = out / "model.safetensors"
    weights.write_bytes(weights.read_bytes()[: weights.stat().st_size // 2])
    with pytest.raises(ValueError) as err:
        create_backbone(str(out))
    assert str(weights) in str(err.value) and "truncated" in str(err.value) and "\n" not in str(err.value)


def test_threads_flag(finished, tmp_path, tiny_overrides):
    before = torch.get_num_threads()
    try:
        assert pretrain(finished[0], tmp_path / "run", tiny_overrides + ["loop.max_steps=1"], "--threads", "2") == 0
        assert torch.get_num_threads() == 2
    finally:
        torch.set_num_threads(before)
