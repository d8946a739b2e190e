"""Reference outputs straight from the library behind each adapter, for the parity tests."""

from __future__ import annotations

import pytest
import torch

from rice.backbones import HFVisionBackbone, OpenClipBackbone, RiceBackbone, TimmBackbone
from rice.backbones.hf import naflex_inputs

torch.set_num_threads(1)  # 2 shared cores: extra torch threads only spin (4x the CPU time of test_pretrain)


def reference_tokens(backbone, pixels: torch.Tensor, tmp_path) -> tuple[torch.Tensor, list[torch.Tensor]]:
    """(final tokens incl. prefix (B, N, D), every hidden state [(B, N, D)] from index 0) from the library itself."""
    if isinstance(backbone, HFVisionBackbone):
        kwargs = {"pixel_values": pixels}
        if backbone.family.call == "naflex":
            kwargs = naflex_inputs(pixels, backbone.info.patch_size)
        out = backbone.model(**kwargs, output_hidden_states=True)
        return out.last_hidden_state, list(out.hidden_states)
    if isinstance(backbone, RiceBackbone):  # parity against transformers' own MLCD model
        from transformers import MLCDVisionModel

        backbone.vit.save_pretrained(tmp_path / "mlcd")
        ref = MLCDVisionModel.from_pretrained(tmp_path / "mlcd").eval()
        out = ref(pixel_values=pixels, output_hidden_states=True)
        return out.last_hidden_state, list(out.hidden_states)
    if isinstance(backbone, TimmBackbone):
        model = backbone.model
        final = model.forward_features(pixels)
        _, inter = model.forward_intermediates(pixels, indices=list(range(len(model.blocks))), output_fmt="NLC",
                                               return_prefix_tokens=True)
        hidden = [None] + [torch.cat([prefix, tokens], dim=1) for tokens, prefix in inter]
        return final, hidden
    if isinstance(backbone, OpenClipBackbone):
        visual = backbone.visual
        visual.output_tokens = True
        try:
            _, tokens = visual(pixels)
        finally:
            visual.output_tokens = False
        out = visual.forward_intermediates(pixels, indices=list(range(backbone.info.num_layers)),
                                           output_fmt="NLC", output_extra_tokens=True)
        hidden = [None] + [torch.cat([p, t], dim=1) for t, p in zip(out["image_intermediates"],
                                                                   out["image_intermediates_prefix"])]
        # open_clip's tokens are post-ln_post; prefix back in front for a uniform shape
        return torch.cat([torch.zeros_like(tokens[:, :1]), tokens], dim=1), hidden
    raise TypeError(f"no reference for {type(backbone).__name__}: add one here when adding an adapter class")


@pytest.fixture
def reference():
    return reference_tokens
