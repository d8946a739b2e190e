"""probes/commands/common.py and probes.runner.torch_threads: what every probe subcommand shares."""

from __future__ import annotations

import argparse
from dataclasses import dataclass, field

import pytest
import torch

from probes.commands.common import flag_overrides, print_record, require_backbone, resolve_config_path, resume_override
from probes.runner import torch_threads
from rice.config import load_config


@dataclass
class Out:
    resume: bool = True
    run_id: str = ""


@dataclass
class Cfg:
    backbone: str = ""
    seed: int = 0
    output: Out = field(default_factory=Out)


def test_resolve_config_path_file_then_preset_then_a_clear_error(tmp_path):
    presets = tmp_path / "presets"
    presets.mkdir()
    (presets / "tiny.yaml").write_text("seed: 1\n")
    (presets / "big.yaml").write_text("seed: 2\n")
    own = tmp_path / "mine.yaml"
    own.write_text("seed: 3\n")
    assert resolve_config_path(str(own), presets) == own
    assert resolve_config_path("tiny", presets) == presets / "tiny.yaml"
    with pytest.raises(FileNotFoundError, match=r"--config 'huge': no such file .*\(presets: big, tiny\)"):
        resolve_config_path("huge", presets)
    with pytest.raises(FileNotFoundError, match=r"presets: none found"):
        resolve_config_path("tiny", tmp_path / "absent")


def test_flag_overrides_only_given_flags_and_strings_stay_strings(tmp_path):
    args = argparse.Namespace(backbone="1e-3", seed=7, run_id=None, resume=False)
    flags = (("backbone", "backbone"), ("seed", "seed"), ("run_id", "output.run_id"), ("absent", "x.y"))
    overrides = flag_overrides(args, flags) + resume_override(args)
    assert overrides == ['backbone="1e-3"', "seed=7", "output.resume=false"]
    path = tmp_path / "c.yaml"
    path.write_text("{}\n")
    cfg = load_config(Cfg, path, overrides)
    assert (cfg.backbone, cfg.seed, cfg.output.resume, cfg.output.run_id) == ("1e-3", 7, False, "")
    assert resume_override(argparse.Namespace()) == []
    with pytest.raises(ValueError, match="no backbone: pass --backbone"):
        require_backbone(Cfg())


def test_print_record(capsys):
    record = argparse.Namespace(skipped=True, path="runs/x", metrics={"ao": 12.345})
    print_record("tracking", record, width=4)
    assert capsys.readouterr().out == "tracking run already finished, skipped: runs/x\n  ao    12.35\n"


def test_torch_threads_sets_and_restores():
    before = torch.get_num_threads()
    with torch_threads(1):
        assert torch.get_num_threads() == 1
    assert torch.get_num_threads() == before
    with pytest.raises(RuntimeError), torch_threads(1):
        raise RuntimeError("the count comes back after an error too")
    assert torch.get_num_threads() == before
    with torch_threads(0):
        assert torch.get_num_threads() == before
