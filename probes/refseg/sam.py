"""segment-anything's real `Sam`: the paper's ViT-H/L/B from a local checkpoint, or a tiny config of the same classes.

`SamImage` is LISA's SAM input for one image (ResizeLongestSide to the encoder size, SAM mean/std, pad);
`SamEmbeddingCache` keeps the frozen image encoder's output per image, keyed by the image's pixels and
the encoder's identity, so epochs after the first skip the encoder.
"""

from __future__ import annotations

import hashlib
from collections import OrderedDict
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path

import numpy as np
import torch
from segment_anything import sam_model_registry
from segment_anything.modeling import ImageEncoderViT, MaskDecoder, PromptEncoder, Sam, TwoWayTransformer
from segment_anything.utils.transforms import ResizeLongestSide

from probes.identity import files_fingerprint, weights_fingerprint
from rice.train.checkpoint import atomic_torch_save

SAM_KINDS = ("tiny", "vit_h", "vit_l", "vit_b")
PROMPT_DIM = 256  # SAM's prompt embedding width: the [SEG] projection's output size


@dataclass
class SamConfig:
    kind: str = "vit_h"  # tiny (random init, tests and the toy world) | vit_h | vit_l | vit_b
    checkpoint: str = ""  # local path of the official SAM checkpoint (sam_vit_h_4b8939.pth); required but for tiny
    # the tiny config (same classes, a fraction of the size)
    tiny_image_size: int = 128
    tiny_embed_dim: int = 64
    tiny_depth: int = 2
    tiny_mlp_dim: int = 256
    seed: int = 0  # tiny: the init seed of its random weights
    cache: bool = True  # cache the frozen image encoder's embeddings (keyed by image + SAM identity)
    cache_dir: str = ""  # "" -> in memory only; a folder -> also on disk, shared by runs with the same SAM
    cache_memory_items: int = 512  # embeddings kept in memory (least recently used go; ViT-H: 4 MB each)


def build_sam(cfg: SamConfig) -> Sam:
    """The configured `Sam` in eval mode. A missing checkpoint is an error naming the path."""
    if cfg.kind not in SAM_KINDS:
        raise ValueError(f"refseg config: field 'model.sam.kind' = {cfg.kind!r}: expected one of {SAM_KINDS}")
    if cfg.kind == "tiny":
        torch.manual_seed(cfg.seed)
        size, patch = cfg.tiny_image_size, 16
        sam = Sam(
            image_encoder=ImageEncoderViT(img_size=size, patch_size=patch, embed_dim=cfg.tiny_embed_dim,
                                          depth=cfg.tiny_depth, num_heads=4, mlp_ratio=4, out_chans=PROMPT_DIM,
                                          qkv_bias=True, norm_layer=partial(torch.nn.LayerNorm, eps=1e-6),
                                          use_rel_pos=True, window_size=4, global_attn_indexes=(cfg.tiny_depth - 1,)),
            prompt_encoder=PromptEncoder(embed_dim=PROMPT_DIM, image_embedding_size=(size // patch, size // patch),
                                         input_image_size=(size, size), mask_in_chans=16),
            mask_decoder=MaskDecoder(num_multimask_outputs=3, transformer_dim=PROMPT_DIM,
                                     transformer=TwoWayTransformer(depth=2, embedding_dim=PROMPT_DIM,
                                                                   mlp_dim=cfg.tiny_mlp_dim, num_heads=8)))
        return sam.eval()
    path = Path(cfg.checkpoint).expanduser()
    if not cfg.checkpoint or not path.is_file():
        raise FileNotFoundError(f"refseg config: field 'model.sam.checkpoint' = {cfg.checkpoint!r}: no such SAM "
                                f"checkpoint (download sam_{cfg.kind}_*.pth from segment-anything's README and give "
                                f"its local path, or use model.sam.kind=tiny)")
    sam = sam_model_registry[cfg.kind](checkpoint=None)
    state = torch.load(path, map_location="cpu", weights_only=True)
    try:
        sam.load_state_dict(state)
    except RuntimeError as err:
        raise ValueError(f"{path}: not a SAM {cfg.kind} checkpoint ({str(err).splitlines()[0]})") from None
    return sam.eval()


def sam_identity(sam: Sam, cfg: SamConfig) -> str:
    """What SAM's frozen image encoder is, by content: the checkpoint's file hash, or the tiny encoder's weights."""
    if cfg.kind == "tiny":
        return "tiny-" + weights_fingerprint(sam.image_encoder)
    return f"{cfg.kind}-" + files_fingerprint([cfg.checkpoint])


@dataclass
class SamImage:
    """One image as SAM sees it."""

    pixels: torch.Tensor  # (1, 3, S, S) normalised and padded
    input_size: tuple[int, int]  # after ResizeLongestSide, before padding
    original_size: tuple[int, int]  # (H, W) of the image
    key: str  # content hash of the original pixels

    @classmethod
    def create(cls, image: np.ndarray, sam: Sam) -> "SamImage":
        """`image` is (H, W, 3) uint8 RGB."""
        image = np.ascontiguousarray(image, dtype=np.uint8)
        resized = ResizeLongestSide(sam.image_encoder.img_size).apply_image(image)  # (h', w', 3)
        x = torch.as_tensor(resized).permute(2, 0, 1).contiguous()[None].float()  # (1, 3, h', w')
        key = hashlib.blake2b(image.tobytes() + repr(image.shape).encode(), digest_size=16).hexdigest()
        return cls(sam.preprocess(x.to(sam.device)), tuple(resized.shape[:2]), tuple(image.shape[:2]), key)


@dataclass
class SamEmbeddingCache:
    """image key -> SAM image embedding (1, 256, h, w), for one SAM identity. Hits/misses are counted."""

    identity: str
    directory: Path | None = None
    max_items: int = 512
    memory: OrderedDict[str, torch.Tensor] = field(default_factory=OrderedDict)
    hits: int = 0
    misses: int = 0

    def _remember(self, key: str, emb: torch.Tensor) -> None:
        self.memory[key] = emb
        self.memory.move_to_end(key)
        while len(self.memory) > self.max_items:
            self.memory.popitem(last=False)

    def _file(self, key: str) -> Path | None:
        return None if self.directory is None else self.directory / self.identity / f"{key}.pt"

    def get(self, sam: Sam, image: SamImage) -> torch.Tensor:
        kind = sam.device.type
        # an embedding computed under bf16 autocast is another embedding than the float32 one
        precision = str(torch.get_autocast_dtype(kind)).removeprefix("torch.") if torch.is_autocast_enabled(kind) \
            else "float32"
        key = f"{image.key}-{precision}"
        cached = self.memory.get(key)
        file = self._file(key)
        if cached is None and file is not None and file.is_file():
            cached = torch.load(file, map_location="cpu", weights_only=True)
        if cached is not None:
            self.hits += 1
            self._remember(key, cached)
            return cached.to(sam.device)
        self.misses += 1
        emb = encode_image(sam, image)
        self._remember(key, emb.cpu())
        if file is not None:
            atomic_torch_save(emb.cpu(), file)
        return emb


@torch.no_grad()
def encode_image(sam: Sam, image: SamImage) -> torch.Tensor:
    """SAM's frozen image encoder: (1, 3, S, S) -> (1, 256, S/16, S/16)."""
    return sam.image_encoder(image.pixels)


def image_embedding(sam: Sam, image: SamImage, cache: SamEmbeddingCache | None) -> torch.Tensor:
    return cache.get(sam, image) if cache is not None else encode_image(sam, image)


def decode_masks(sam: Sam, embedding: torch.Tensor, prompts: torch.Tensor, image: SamImage) -> torch.Tensor:
    """One mask-decoder call for one image: (1, 256, h, w) embedding, (n, 256) [SEG] prompts -> (n, H, W) logits.

    The prompts go in as sparse prompt embeddings beside the (empty) output of the frozen prompt encoder,
    with multimask_output=False, as LISA does; the logits are upsampled to the original image size.
    """
    n = prompts.shape[0]
    sparse, dense = sam.prompt_encoder(points=None, boxes=None, masks=None)  # (1, 0, 256), (1, 256, h, w)
    sparse = torch.cat([sparse.expand(n, -1, -1), prompts[:, None, :].to(sparse.dtype)], dim=1)  # (n, 1, 256)
    low, _ = sam.mask_decoder(image_embeddings=embedding, image_pe=sam.prompt_encoder.get_dense_pe(),
                              sparse_prompt_embeddings=sparse, dense_prompt_embeddings=dense,
                              multimask_output=False)  # (n, 1, h4, w4)
    masks = sam.postprocess_masks(low, input_size=image.input_size, original_size=image.original_size)
    return masks[:, 0]  # (n, H, W)
