"""Run identity by content: weights and data fingerprints."""

from __future__ import annotations

import torch

from probes.identity import backbone_identity, combine, files_fingerprint, weights_fingerprint


def test_weights_fingerprint_follows_the_bytes():
    torch.manual_seed(0)
    a = torch.nn.Linear(3, 2)
    b = torch.nn.Linear(3, 2)
    b.load_state_dict(a.state_dict())
    assert weights_fingerprint(a) == weights_fingerprint(b)
    with torch.no_grad():
        b.weight[0, 0] += 1e-6  # one float's last bits
    assert weights_fingerprint(a) != weights_fingerprint(b)
    c = torch.nn.Linear(3, 2).to(torch.float64)
    c.load_state_dict(a.state_dict())
    assert weights_fingerprint(c) != weights_fingerprint(a)  # same values, other dtype


def test_files_fingerprint_content_not_path(tmp_path, monkeypatch):
    monkeypatch.setenv("RICE_HASH_CACHE", str(tmp_path / "cache.json"))
    d1, d2 = tmp_path / "one" / "model", tmp_path / "two" / "model"
    for d in (d1, d2):
        d.mkdir(parents=True)
        (d / "config.json").write_text('{"a": 1}')
        (d / "model.safetensors").write_bytes(b"\x00\x01\x02")
    assert files_fingerprint([d1]) == files_fingerprint([d2])  # same content at two paths
    first = files_fingerprint([d1])
    (d1 / "model.safetensors").write_bytes(b"\x00\x01\x03")  # re-exported in place
    assert files_fingerprint([d1]) != first
    assert (tmp_path / "cache.json").is_file()


def test_backbone_identity_and_combine():
    from rice.backbones import create_backbone

    bb = create_backbone("rice-vit-tiny")
    ident = backbone_identity(bb)
    assert ident["name"] == bb.info.name and len(ident["fingerprint"]) == 16
    assert ident == backbone_identity(create_backbone("rice-vit-tiny"))  # deterministic random init
    assert combine({"a": 1}, ident["fingerprint"]) != combine({"a": 2}, ident["fingerprint"])


def test_record_folders_and_files_are_shared_whatever_the_umask(tmp_path):
    import os

    from probes.records import RunDir

    old = os.umask(0o077)
    try:
        run = RunDir.locate(tmp_path / "runs", "p", "d", "b", "r")
        run.prepare({"a": 1})
        run.write_metrics({"m": 1})
    finally:
        os.umask(old)
    for folder in (tmp_path / "runs", tmp_path / "runs" / "p", run.path):
        assert folder.stat().st_mode & 0o777 == 0o755, folder
    assert run.metrics_path.stat().st_mode & 0o777 == 0o644


def test_run_dir_identity_is_checked_for_finished_and_started_runs(tmp_path):
    import pytest

    from probes.records import RunDir

    run = RunDir(tmp_path / "run")
    ours = {"config_hash": "c1", "backbone_fingerprint": "w1", "data_fingerprint": "d1"}
    assert run.check_identity(ours) is False  # nothing there yet
    run.prepare({"a": 1})
    run.write_identity(ours)
    assert run.check_identity(ours) is False  # started, not finished: resume
    other = {**ours, "backbone_fingerprint": "w2"}
    with pytest.raises(ValueError, match="an unfinished run with another identity.*'backbone_fingerprint' = 'w1' "
                                         "there vs 'w2' now.*--no-resume"):
        run.check_identity(other)
    run.write_metrics({"m": 1})
    assert run.check_identity(ours) is True  # finished, same identity: skip
    with pytest.raises(ValueError, match="a finished run with another identity.*data_fingerprint"):
        run.check_identity({**ours, "data_fingerprint": "d2"})
    legacy = RunDir(tmp_path / "legacy")
    legacy.write_metrics({"m": 1})
    with pytest.raises(ValueError, match="without a recorded identity"):
        legacy.check_identity(ours)
