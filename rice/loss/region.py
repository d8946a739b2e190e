"""RICE's object and OCR region losses (and MLCD's image-level loss) on two Partial FC banks.

* Object regions: one positive each, a cluster id in the object bank (K = 1M k-means centers).
* OCR regions: up to ``max_ocr_positives`` positives each (M = 10 in Table 5d), the token ids of
  the region's text, in a separate bank with one center per vocabulary token.
* Images (optional, ``image_loss=True``): the global embedding with its k nearest cluster ids as
  positives (MLCD's multi-label loss). Images and object regions share the object bank's K
  centers, as MLCD/RICE cluster both with the same k-means; image rows draw their own negatives.

Each term is the Partial FC loss (global mean over its rows); ``total`` is their sum, the image term
scaled by ``image_weight`` (the paper's text has only the region terms; see PretrainConfig.loss).
"""

from __future__ import annotations

import torch
import torch.distributed as dist
import torch.nn.functional as F
from torch import nn

from rice.loss.cluster import as_label_matrix
from rice.loss.partial_fc import PartialFC


class RegionLoss(nn.Module):
    """Object + OCR (+ image) region cluster discrimination losses.

    Args:
        num_object_classes: size of the object (cluster) bank.
        num_ocr_classes: size of the OCR token bank (the tokenizer's vocabulary).
        embed_dim, sample_rate, margin, scale: shared by both banks (see :class:`PartialFC`).
        max_ocr_positives: OCR rows keep their first this many token ids (padding dropped first).
        image_loss: also compute the image-level multi-label loss on the object bank. Fixed at
            construction so that every rank runs the same collectives whatever its data.
        image_weight: the image term's weight in ``total``.
        generator, sparse_grad, group: passed to both banks.

    Ranks may have no rows of a kind: pass ``None`` or a ``(0, D)`` tensor. Every rank still runs
    every bank's collectives, so a rank without OCR regions does not stall the others.
    """

    def __init__(
        self,
        num_object_classes: int,
        num_ocr_classes: int,
        embed_dim: int,
        sample_rate: float = 0.1,
        margin: float = 0.3,
        scale: float = 64.0,
        max_ocr_positives: int = 10,
        *,
        image_loss: bool = False,
        image_weight: float = 1.0,
        generator: torch.Generator | None = None,
        sparse_grad: bool = False,
        group: dist.ProcessGroup | None = None,
    ) -> None:
        super().__init__()
        if max_ocr_positives < 1:
            raise ValueError(f"max_ocr_positives must be >= 1, got {max_ocr_positives}")
        shared = dict(margin=margin, scale=scale, generator=generator, sparse_grad=sparse_grad, group=group)
        self.object_fc = PartialFC(num_object_classes, embed_dim, sample_rate, **shared)
        self.ocr_fc = PartialFC(num_ocr_classes, embed_dim, sample_rate, **shared)
        self.max_ocr_positives, self.image_loss = int(max_ocr_positives), bool(image_loss)
        self.image_weight = float(image_weight)

    def forward(
        self,
        object_embeds: torch.Tensor | None,
        object_labels: torch.Tensor | None,
        ocr_embeds: torch.Tensor | None = None,
        ocr_tokens: torch.Tensor | None = None,
        image_embeds: torch.Tensor | None = None,
        image_labels: torch.Tensor | None = None,
    ) -> dict[str, torch.Tensor]:
        """Losses ``{"object", "ocr", ["image",] "total"}`` (scalars).

        Args:
            object_embeds: ``(M_obj, D)``; object_labels: ``(M_obj,)`` or ``(M_obj, 1)`` cluster ids.
            ocr_embeds: ``(M_ocr, D)``; ocr_tokens: ``(M_ocr, P)`` token ids padded with -1.
            image_embeds: ``(B, D)``; image_labels: ``(B, k)`` cluster ids padded with -1.
        """
        object_embeds, object_labels = self._rows(object_embeds, object_labels, "object")
        ocr_embeds, ocr_tokens = self._rows(ocr_embeds, ocr_tokens, "ocr")
        ocr_tokens = as_label_matrix(ocr_tokens, ocr_embeds.shape[0], self.ocr_fc.num_classes, "ocr_tokens")
        losses = {
            "object": self.object_fc(object_embeds, object_labels),
            "ocr": self.ocr_fc(ocr_embeds, first_positives(ocr_tokens, self.max_ocr_positives)),
        }
        if self.image_loss:
            image_embeds, image_labels = self._rows(image_embeds, image_labels, "image")
            losses["image"] = self.object_fc(image_embeds, image_labels)
        elif image_embeds is not None or image_labels is not None:
            raise ValueError("image_embeds/image_labels were given but RegionLoss has image_loss=False")
        losses["total"] = losses["object"] + losses["ocr"]
        if "image" in losses:
            losses["total"] = losses["total"] + self.image_weight * losses["image"]
        return losses

    def _rows(self, embeds, labels, kind: str) -> tuple[torch.Tensor, torch.Tensor]:
        """``None`` for both means no rows of this kind on this rank: a ``(0, D)`` placeholder."""
        if embeds is None and labels is None:
            bank = self.object_fc.centers
            empty_labels = torch.zeros(0, 1, dtype=torch.long, device=bank.device)
            return bank.new_zeros(0, self.object_fc.embed_dim), empty_labels
        if embeds is None or labels is None:
            raise ValueError(f"{kind}: give both the embeddings and the labels, or neither")
        return embeds, labels


def first_positives(labels: torch.Tensor, k: int) -> torch.Tensor:
    """``(M, P)`` ids padded with -1 -> ``(M, k)``: each row's first ``k`` ids in order, -1 padded."""
    order = (labels < 0).to(torch.uint8).argsort(dim=1, stable=True)  # (M, P), ids before padding
    labels = labels.gather(1, order)[:, :k]
    return F.pad(labels, (0, k - labels.shape[1]), value=-1)  # (M, k)
