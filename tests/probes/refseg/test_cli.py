"""`rice-probe refseg`: help, and bad input refused (exit 2, one line naming the item) before anything is written."""

from __future__ import annotations

from pathlib import Path

from probes.cli import main


def test_help_and_bad_inputs(toy_dir, tmp_path, capsys):
    for argv in (["refseg", "--help"], ["refseg", "train", "--help"], ["refseg", "eval", "--help"]):
        try:
            main(argv)
        except SystemExit as done:
            assert done.code == 0
    assert "refcoco|unc|val" in capsys.readouterr().out
    runs = tmp_path / "runs"
    base = ["refseg", "train", "--backbone", "mlcd-vit-tiny", "--data", str(toy_dir), "--runs-dir", str(runs)]
    assert main(base + ['data.eval_splits=["refcoco|unc|testC"]']) == 2
    assert "no refs of split 'testC'" in capsys.readouterr().err
    assert main(base + ["--config", "lisa"]) == 2  # the toy world has refer data only
    err = capsys.readouterr().err
    assert all(f in err for f in ("refer_seg/refclef|unc|train", "sem_seg/ade20k", "vqa/llava_instruct_150k",
                                  "reason_seg/ReasonSeg|train", "--allow-missing"))
    assert main(base + ["--config", "lisa", "--allow-missing", 'data.eval_splits=["refcoco|unc|val"]']) == 2
    assert "model.sam.checkpoint" in capsys.readouterr().err
    assert main(["refseg", "eval", str(tmp_path / "nothing")]) == 2
    assert not runs.exists()


def test_default_data_is_the_toy_world_and_trains_on_the_whole_mixture(toy_dir, lisa_sources, tmp_path, monkeypatch,
                                                                        capsys):
    """No --data: ./toyworld; with LISA's other sources beside it (data.dataset_dir), all four groups train."""
    import json

    from probes.refseg.probe import default_toy_world

    monkeypatch.chdir(tmp_path)
    (tmp_path / "toyworld").mkdir()
    assert main(["refseg", "train", "--backbone", "mlcd-vit-tiny", "--runs-dir", "runs"]) == 2
    assert "rice toyworld --out" in capsys.readouterr().err and not (tmp_path / "runs").exists()
    (tmp_path / "toyworld").rmdir()
    (tmp_path / "toyworld").symlink_to(toy_dir)
    # equal rates and one micro-batch of 4 samples: this seed draws one sample of each source
    mix = ["data.mixture={sem_seg: 1, refer_seg: 1, vqa: 1, reason_seg: 1}", f"data.dataset_dir={lisa_sources}",
           "train.steps=1", "train.warmup_steps=0", "train.batch_size=4", "eval.max_images=1", "--seed", "15", "--quiet"]
    assert main(["refseg", "train", "--backbone", "mlcd-vit-tiny", "--runs-dir", "runs", *mix]) == 0
    (record,) = (tmp_path / "runs").glob("refseg/refer/mlcd-vit-tiny/*/metrics.json")
    r = json.loads(record.read_text())
    assert Path(r["data_root"]).resolve() == (toy_dir / "refer_seg").resolve()  # ./toyworld links to toy_dir
    assert set(r["mixture"]["sources"]) == {"sem_seg", "refer_seg", "vqa", "reason_seg"} and not r["mixture"]["missing"]
    assert r["train"]["samples_by_source"] == {"sem_seg": 1, "refer_seg": 1, "vqa": 1, "reason_seg": 1}
    assert r["train"]["last_loss"]["ce"] > 0 and r["train"]["last_loss"]["bce"] > 0
    # absent ./toyworld: written by rice.toyworld.generate (small settings here; defaults on the command line)
    made = default_toy_world(tmp_path / "fresh", num_images=3, image_size=128, num_sequences=2, min_frames=2,
                             max_frames=3, frame_size=(96, 96))
    assert made == tmp_path / "fresh" / "toyworld" and (made / "refer_seg" / "refcoco" / "refs(unc).p").is_file()
