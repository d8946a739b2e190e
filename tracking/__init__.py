"""OSTrack-style tracking probe on a frozen backbone (paper, Sec. 4.4 / Table 4).

Light on purpose: `tracking.layout` (the leaderboard layout) is imported without torch. The probe itself
registers from `tracking.probe` (see probes.base.PROBE_MODULES).

    tracking.config    TrackingConfig and the presets' fields
    tracking.datasets  GOT-10k / LaSOT / TrackingNet / TNL2K / COCO readers -> Sequence
    tracking.metrics   GOT-10k AO/SR (got10k toolkit) and success/precision/norm. precision (pytracking)
    tracking.results   result writers in the benchmarks' own formats
    tracking.crops     OSTrack's square context crops and the box maps in and out of them
    tracking.model     frozen backbone + two ViT blocks + OSTrack's center head; losses
    tracking.sampling  causal training pairs, jitter, augmentations
    tracking.tracker   the per-sequence loop (cached template, Hann window)
    tracking.train     AdamW training (torchrun/DDP, resume, TensorBoard)
    tracking.probe     run(cfg, backbone) -> RunRecord
"""
