"""A pretraining run killed inside its very first write (config.yaml) can be started again."""

from __future__ import annotations

import pytest

from rice.train.run_dir import check_run_dir


def test_only_an_orphaned_tmp_file_is_not_a_foreign_folder(tmp_path):
    run = tmp_path / "run"
    run.mkdir()
    (run / ".config.yaml.abc123.tmp").write_text("half")
    assert check_run_dir(run, {"a": 1}) is False  # no run yet: start clean
    (run / "notes.txt").write_text("someone else's file")
    with pytest.raises(FileExistsError, match="not empty and holds no config.yaml"):
        check_run_dir(run, {"a": 1})
