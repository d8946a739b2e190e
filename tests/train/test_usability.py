"""Use: progress lines in logs, `--help` defaults shown once, the lock file matches what is installed,
and a toy world too small for a val split is refused."""

import importlib.metadata
import io
import re
import subprocess
import sys
from pathlib import Path

from rice.cli import main
from rice.progress import LineProgress

ROOT = Path(__file__).resolve().parents[2]


def test_line_progress_prints_plain_lines_without_carriage_returns():
    out = io.StringIO()
    bar = LineProgress(total=5, desc="train", every=0.0, stream=out, initial=2)
    for _ in range(3):
        bar.update(1)
    bar.set_postfix(loss="0.5")
    bar.close()
    lines = out.getvalue().splitlines()
    assert "\r" not in out.getvalue()
    assert [l.split(" ")[1] for l in lines] == ["3/5", "4/5", "5/5", "5/5"]
    assert lines[0].startswith("train: 3/5 (60%)") and lines[-1].endswith("loss=0.5")


def test_line_progress_is_quiet_between_intervals_and_when_disabled():
    out = io.StringIO()
    items = list(LineProgress(range(4), desc="x", every=3600.0, stream=out))
    assert items == [0, 1, 2, 3] and out.getvalue().splitlines() == [out.getvalue().strip()]  # only the final line
    assert "4/4 (100%)" in out.getvalue()
    quiet = io.StringIO()
    list(LineProgress(range(4), every=0.0, stream=quiet, disable=True))
    assert quiet.getvalue() == ""


def test_help_shows_each_default_once(capsys):
    for argv in (["curate", "--help"], ["pretrain", "--help"], ["toyworld", "--help"]):
        try:
            main(argv)
        except SystemExit:
            pass
        text = capsys.readouterr().out
        assert "(default: None)" not in text and "(default: False)" not in text, argv
        for line in text.splitlines():
            assert line.lower().count("default") <= 1, (argv, line)


def test_pretrain_help_names_the_new_flags():
    out = subprocess.run([sys.executable, "-m", "rice.cli", "pretrain", "--help"], capture_output=True, text=True,
                         check=True).stdout
    for flag in ("--threads", "--device", "--resume-anyway", "--curated"):
        assert flag in out


def _requirement_names(spec: str) -> str:
    return re.split(r"[<>=!~;\[ ]", spec, maxsplit=1)[0].strip().lower().replace("_", "-")


def test_lock_pins_exactly_what_is_installed():
    lock = {}
    for line in (ROOT / "requirements.lock").read_text().splitlines():
        line = line.split(";")[0].strip()
        if line and not line.startswith("#"):
            name, _, version = line.partition("==")
            assert version, f"requirements.lock: {line!r} is not pinned with =="
            lock[name.lower().replace("_", "-")] = version
    declared = [_requirement_names(r) for r in importlib.metadata.requires("rice-probe") or []]
    assert "transformers" in declared
    for name in declared:
        assert name in lock, f"requirements.lock does not pin {name}"
        assert importlib.metadata.version(name) == lock[name], f"{name}: installed != locked (run `make lock`)"


def test_toyworld_too_small_for_a_val_split(tmp_path, capsys):
    out = tmp_path / "toy"
    assert main(["toyworld", "--out", str(out), "--num-images", "1"]) == 2
    err = capsys.readouterr().err
    assert "num_images=1" in err and "val split" in err and len(err.strip().splitlines()) == 1
    assert not out.exists()


def test_help_imports_no_torch():
    """`rice --help` / `rice-probe --help` build every subcommand's parser: none may import torch at module level."""
    code = ("import sys, probes.cli, rice.cli; probes.cli.build_parser(); rice.cli.build_parser(); "
            "print(sorted(m for m in ('torch', 'transformers', 'lmms_eval') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=ROOT).stdout
    assert out.strip() == "[]"
