"""The tracker network: frozen backbone (through `forward_features` only) -> two trainable ViT blocks over
the concatenated template + search tokens (with a learned template/search type embedding) -> OSTrack's
center head on the search tokens only.

The backbone embeds template and search crops separately, so the template's backbone tokens can be
computed once per sequence (`template_tokens`) and reused for every frame (`forward_tokens`).
"""

from __future__ import annotations

import torch
from timm.models.vision_transformer import Block
from torch import nn

from rice.backbones.base import Backbone

from .config import ModelConfig


def _conv_bn_relu(cin: int, cout: int) -> nn.Sequential:
    return nn.Sequential(nn.Conv2d(cin, cout, 3, padding=1), nn.BatchNorm2d(cout), nn.ReLU(inplace=True))


def _branch(cin: int, c: int, out: int) -> nn.Sequential:
    """conv3x3-BN-ReLU: cin -> C -> C/2 -> C/4 -> C/8, then a 1x1 conv to `out` maps (OSTrack's CenterPredictor)."""
    return nn.Sequential(_conv_bn_relu(cin, c), _conv_bn_relu(c, c // 2), _conv_bn_relu(c // 2, c // 4),
                         _conv_bn_relu(c // 4, c // 8), nn.Conv2d(c // 8, out, 1))


def _sigmoid(x: torch.Tensor) -> torch.Tensor:
    return x.sigmoid().clamp(1e-4, 1 - 1e-4)


class CenterHead(nn.Module):
    """Score (centre), offset and size maps; the box is read at the score argmax."""

    def __init__(self, in_channels: int, channels: int = 256):
        super().__init__()
        self.ctr = _branch(in_channels, channels, 1)
        self.offset = _branch(in_channels, channels, 2)
        self.size = _branch(in_channels, channels, 2)

    def forward(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        # x: (B, D, H, W) search features
        return {"score": _sigmoid(self.ctr(x)), "size": _sigmoid(self.size(x)), "offset": self.offset(x)}


def decode_boxes(score: torch.Tensor, size: torch.Tensor, offset: torch.Tensor) -> torch.Tensor:
    """(B, 1, H, W), (B, 2, H, W), (B, 2, H, W) -> (B, 4) normalised cx, cy, w, h at the score argmax."""
    b, _, h, w = score.shape
    idx = score.flatten(1).argmax(dim=1, keepdim=True)  # (B, 1)
    iy, ix = idx // w, idx % w
    gather = idx[:, None, :].expand(b, 2, 1)
    wh = size.flatten(2).gather(2, gather).squeeze(-1)  # (B, 2)
    off = offset.flatten(2).gather(2, gather).squeeze(-1)  # (B, 2)
    return torch.cat([(ix.float() + off[:, :1]) / w, (iy.float() + off[:, 1:]) / h, wh], dim=1)


class TrackerNet(nn.Module):
    def __init__(self, backbone: Backbone, cfg: ModelConfig):
        super().__init__()
        self.backbone = backbone.eval()
        for p in self.backbone.parameters():
            p.requires_grad_(False)
        dim = backbone.info.embed_dim
        heads = cfg.num_heads or max(1, dim // 64)
        if dim % heads:
            raise ValueError(f"tracking config: field 'model.num_heads' = {heads}: must divide the backbone's "
                             f"embed_dim {dim}")
        self.type_embed = nn.Parameter(torch.zeros(2, dim))  # row 0: template, row 1: search
        nn.init.trunc_normal_(self.type_embed, std=0.02)
        rates = torch.linspace(0, cfg.drop_path, max(cfg.blocks, 1)).tolist()
        self.blocks = nn.ModuleList(Block(dim, heads, cfg.mlp_ratio, qkv_bias=True, drop_path=rates[i])
                                    for i in range(cfg.blocks))
        self.norm = nn.LayerNorm(dim)
        self.head = CenterHead(dim, cfg.head_channels)

    def train(self, mode: bool = True) -> "TrackerNet":
        super().train(mode)
        self.backbone.eval()  # frozen: no dropout, no statistics updates
        return self

    @torch.no_grad()
    def template_tokens(self, template: torch.Tensor) -> torch.Tensor:
        """(B, 3, Hz, Wz) -> (B, Nz, D) frozen backbone tokens of the template crop."""
        return self.backbone.forward_features(template).patch.flatten(2).transpose(1, 2)

    @torch.no_grad()
    def search_features(self, search: torch.Tensor) -> torch.Tensor:
        """(B, 3, Hx, Wx) -> (B, D, hx, wx) frozen backbone features of the search crop."""
        return self.backbone.forward_features(search).patch

    def forward_tokens(self, z: torch.Tensor, search_map: torch.Tensor, decode: bool = True) -> dict[str, torch.Tensor]:
        """z: (B, Nz, D) template tokens; search_map: (B, D, hx, wx) -> head maps (+ decoded boxes)."""
        b, d, hx, wx = search_map.shape
        x = search_map.flatten(2).transpose(1, 2)  # (B, Nx, D)
        tokens = torch.cat([z + self.type_embed[0], x + self.type_embed[1]], dim=1)  # (B, Nz + Nx, D)
        for block in self.blocks:
            tokens = block(tokens)
        x = self.norm(tokens[:, z.shape[1]:])  # only the search tokens reach the head
        out = self.head(x.transpose(1, 2).reshape(b, d, hx, wx))
        if decode:  # the tracker decodes after its Hann window instead
            out["boxes"] = decode_boxes(out["score"], out["size"], out["offset"])
        return out

    def forward(self, template: torch.Tensor, search: torch.Tensor) -> dict[str, torch.Tensor]:
        return self.forward_tokens(self.template_tokens(template), self.search_features(search))

    def head_state_dict(self) -> dict[str, torch.Tensor]:
        return {k: v for k, v in self.state_dict().items() if not k.startswith("backbone.")}

    def load_head_state_dict(self, state: dict[str, torch.Tensor]) -> None:
        missing, unexpected = self.load_state_dict(state, strict=False)
        missing = [k for k in missing if not k.startswith("backbone.")]
        if missing or unexpected:
            raise ValueError(f"checkpoint does not fit the tracker head (missing {missing[:3]}, "
                             f"unexpected {unexpected[:3]})")

    def trainable_parameters(self) -> list[nn.Parameter]:
        return [p for n, p in self.named_parameters() if p.requires_grad and not n.startswith("backbone.")]


def hann2d(h: int, w: int) -> torch.Tensor:
    """OSTrack's centred 2-D Hann window (hann1d(sz) = 0.5 * (1 - cos(2 pi k / (sz + 1))), k = 1..sz)."""
    def hann1d(n: int) -> torch.Tensor:
        return 0.5 * (1 - torch.cos(2 * torch.pi / (n + 1) * torch.arange(1, n + 1, dtype=torch.float32)))

    return hann1d(h)[:, None] * hann1d(w)[None, :]
