"""The paper's ViT-B/16-512 rows are registered, and `rice backbones` says which hub ids are unverified."""

from rice.backbones import list_backbones
from rice.cli import main


def test_b16_512_presets_and_unverified_marks(capsys):
    infos = {p.name: p for p in list_backbones()}
    for name in ("rice-vit-b-16-512", "mlcd-vit-b-16-512", "siglip-vit-b-16-512"):
        info = infos[name]
        assert (info.patch_size, info.embed_dim, info.image_size) == (16, 768, 512) and not info.hub_verified
    assert main(["backbones", "--format", "csv"]) == 0
    rows = {line.split(",")[0]: line.split(",") for line in capsys.readouterr().out.splitlines()}
    assert rows["name"][-1] == "hub id"
    assert rows["rice-vit-b-16-512"][-1] == "UNVERIFIED" and rows["mlcd-vit-l-14-336"][-1] == "verified"
    assert rows["rice-vit-tiny"][-1] == "-"
