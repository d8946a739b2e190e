"""CurateConfig: every knob of `rice curate` (paper 3.1), validated before any work starts.

Defaults are the paper's protocol (SAM masks, boxes with a shorter edge >= 128 px from images with a
shorter edge >= 336 px, a CLIP embedder, K = 1M centers by hierarchical k-means, OCR lines with
confidence > 0.7, M = 10 tokens per OCR region). `configs/curate/toy.yaml` scales them down for the toy world.
"""

from __future__ import annotations

from dataclasses import dataclass, field

MASK_SOURCES = ("sam", "coco:ANNOTATIONS.json[,MORE.json]", "superpixels")
SAM_TYPES = ("vit_h", "vit_l", "vit_b")
SUPERPIXEL_METHODS = ("felzenszwalb", "slic")
REGION_POOLS = ("crop", "mask")
KMEANS_METHODS = ("auto", "flat", "hierarchical")
OCR_ENGINES = ("rapidocr", "paddleocr", "none")
DEVICES = ("auto", "cpu", "gpu")
IMAGE_FORMATS = ("jpg", "png")
FIT_ON = ("regions", "regions+images")


@dataclass
class MaskConfig:
    source: str = "sam"  # "sam" | "coco:ANNOTATIONS.json[,MORE.json]" | "superpixels"
    sam_checkpoint: str = ""  # local SAM checkpoint (.pth state dict)
    sam_type: str = ""  # vit_h | vit_l | vit_b; "" infers it from the checkpoint's file name
    sam_points_per_side: int = 32
    sam_pred_iou_thresh: float = 0.88
    sam_stability_score_thresh: float = 0.95
    superpixel_method: str = "felzenszwalb"  # felzenszwalb | slic
    superpixel_scale: float = 200.0  # felzenszwalb: larger gives bigger segments
    superpixel_segments: int = 64  # slic: about this many segments per image
    min_box: int = 128  # keep boxes whose shorter edge is at least this many pixels
    min_image: int = 336  # skip images whose shorter edge is below this many pixels
    max_regions: int = 0  # keep the largest this many object regions per image (0: all)

    @property
    def coco_paths(self) -> list[str]:
        return [p for p in self.source[len("coco:"):].split(",") if p] if self.source.startswith("coco:") else []


@dataclass
class EmbedConfig:
    embedder: str = "clip-vit-l-14-336"  # any `rice backbones` name, timm:/open_clip: spec, or model directory
    region_pool: str = "crop"  # crop: embed the resized box crop; mask: average patch features under the mask
    batch_size: int = 32  # crops (or whole images) per forward pass, and images per processing chunk
    device: str = "auto"  # auto | cpu | gpu (this rank's local GPU)


@dataclass
class ClusterConfig:
    num_clusters: int = 1_000_000  # K; pretraining's loss.num_object_classes
    method: str = "auto"  # auto: flat up to `flat_max` centers, hierarchical above
    flat_max: int = 16384
    sample: int = 0  # features to train on, drawn deterministically over all shards (0: all)
    iterations: int = 20
    nredo: int = 1  # k-means restarts (the best objective is kept)
    image_labels_k: int = 1  # nearest centers kept as each image's image-level labels
    # What k-means is fitted on. "regions": the object-region features only, as the paper clusters regions
    # (RICE 3.1); images still get labels, their whole-image feature's nearest region centers.
    # "regions+images": the whole-image features join the training points (the earlier behaviour, MLCD's
    # image clustering folded in), so image labels come from centers fitted partly to images.
    fit_on: str = "regions"
    device: str = "auto"  # faiss: auto uses faiss-gpu when faiss.get_num_gpus() > 0


@dataclass
class OCRConfig:
    engine: str = "rapidocr"  # rapidocr | paddleocr | none
    min_conf: float = 0.7  # keep lines with confidence strictly above this (paper: > 0.7)
    tokenizer: str = "open_clip"  # open_clip | open_clip:MODEL | a local Hugging Face tokenizer directory
    max_tokens: int = 10  # M token ids kept per OCR region
    det_limit_side_len: int = 960  # text detector input size limit (PaddleOCR's own default)
    det_limit_type: str = "max"  # max: shrink large images only; min: also upscale small ones
    lang: str = "en"  # paddleocr only


@dataclass
class CurateConfig:
    images_dir: str = ""
    out_dir: str = ""
    masks: MaskConfig = field(default_factory=MaskConfig)
    embed: EmbedConfig = field(default_factory=EmbedConfig)
    cluster: ClusterConfig = field(default_factory=ClusterConfig)
    ocr: OCRConfig = field(default_factory=OCRConfig)
    samples_per_shard: int = 1000  # shard i holds images [i*S, (i+1)*S) of the sorted image list
    image_format: str = "jpg"  # how shards store the pixels: jpg | png
    jpeg_quality: int = 95
    seed: int = 0  # k-means, the training sample, and random-init embedders
    progress: bool = True

    def validate(self) -> CurateConfig:
        """Raise ValueError naming the field and value of the first bad setting."""
        def bad(name: str, value: object, why: str) -> ValueError:
            return ValueError(f"CurateConfig.{name}={value!r}: {why}")

        def choice(name: str, value: str, options: tuple[str, ...]) -> None:
            if value not in options:
                raise bad(name, value, f"must be one of {', '.join(options)}")

        def positive(name: str, value: int, minimum: int = 1) -> None:
            if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
                raise bad(name, value, f"must be an integer >= {minimum}")

        if not self.images_dir:
            raise bad("images_dir", self.images_dir, "name the folder of images to curate")
        if not self.out_dir:
            raise bad("out_dir", self.out_dir, "name the output folder for the shards (--out)")
        m = self.masks
        if m.source not in ("sam", "superpixels") and not m.coco_paths:
            raise bad("masks.source", m.source, f"must be one of {', '.join(MASK_SOURCES)}")
        if m.source == "sam" and not m.sam_checkpoint:
            raise bad("masks.sam_checkpoint", m.sam_checkpoint,
                      "--masks sam needs a local SAM checkpoint (--sam-checkpoint PATH); "
                      "use --masks superpixels for a weight-free run")
        if m.sam_type:
            choice("masks.sam_type", m.sam_type, SAM_TYPES)
        choice("masks.superpixel_method", m.superpixel_method, SUPERPIXEL_METHODS)
        positive("masks.sam_points_per_side", m.sam_points_per_side)
        positive("masks.superpixel_segments", m.superpixel_segments)
        positive("masks.min_box", m.min_box)
        positive("masks.min_image", m.min_image)
        positive("masks.max_regions", m.max_regions, 0)
        if m.superpixel_scale <= 0:
            raise bad("masks.superpixel_scale", m.superpixel_scale, "must be > 0")
        choice("embed.region_pool", self.embed.region_pool, REGION_POOLS)
        choice("embed.device", self.embed.device, DEVICES)
        positive("embed.batch_size", self.embed.batch_size)
        if not self.embed.embedder:
            raise bad("embed.embedder", self.embed.embedder, "name a backbone (see `rice backbones`) or a directory")
        c = self.cluster
        positive("cluster.num_clusters", c.num_clusters)
        choice("cluster.method", c.method, KMEANS_METHODS)
        choice("cluster.device", c.device, DEVICES)
        choice("cluster.fit_on", c.fit_on, FIT_ON)
        positive("cluster.flat_max", c.flat_max)
        positive("cluster.sample", c.sample, 0)
        positive("cluster.iterations", c.iterations)
        positive("cluster.nredo", c.nredo)
        positive("cluster.image_labels_k", c.image_labels_k, 0)
        if c.image_labels_k > c.num_clusters:
            raise bad("cluster.image_labels_k", c.image_labels_k, f"exceeds num_clusters={c.num_clusters}")
        if 0 < c.sample < c.num_clusters:
            raise bad("cluster.sample", c.sample, f"is fewer points than num_clusters={c.num_clusters}")
        o = self.ocr
        choice("ocr.engine", o.engine, OCR_ENGINES)
        choice("ocr.det_limit_type", o.det_limit_type, ("max", "min"))
        positive("ocr.max_tokens", o.max_tokens)
        positive("ocr.det_limit_side_len", o.det_limit_side_len, 32)
        if not 0.0 <= o.min_conf < 1.0:
            raise bad("ocr.min_conf", o.min_conf, "must be in [0, 1)")
        positive("samples_per_shard", self.samples_per_shard)
        choice("image_format", self.image_format, IMAGE_FORMATS)
        if not 50 <= self.jpeg_quality <= 100:
            raise bad("jpeg_quality", self.jpeg_quality, "must be in [50, 100]")
        positive("seed", self.seed, 0)
        return self
