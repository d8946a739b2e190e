"""`rice-probe figures`: the paper's Figures 5 (PCA of patch tokens as RGB, images or a GOT-10k sequence),
1 (t-SNE of object-region features) and 4 (pairwise token distances) for any backbones side by side.

    from probes.figures import make_figures
    make_figures(["rice-vit-tiny", "clip-vit-tiny"], "figs", coco=("ann.json", "images/"), seed=0)
"""

from .make import FIGURES, make_figures

__all__ = ["FIGURES", "make_figures"]
