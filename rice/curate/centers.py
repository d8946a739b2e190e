"""Stage 3: the k-means centers, trained once and shared by every rank.

The training points are the object-region features of every shard (the paper clusters regions), plus
the whole-image features with `cluster.fit_on=regions+images`; images and regions share the K centers. With
`cluster.sample`, a deterministic sample is drawn: each shard contributes a share proportional to
its point count (largest remainder, in shard order), rows chosen by a generator seeded with
(seed, shard index). Each rank samples its own shards; rank 0 gathers the samples from all ranks
(`gather_object`), concatenates them in shard order, trains, and broadcasts the centers. The
sample, hence the centers, are the same for any world size.
"""

from __future__ import annotations

import numpy as np

from rice.curate import dist
from rice.curate.config import ClusterConfig
from rice.curate.kmeans import train_kmeans


def sample_plan(counts: dict[int, int], sample: int) -> dict[int, int]:
    """Points to take from each shard: all of them, or `sample` split in proportion to the counts."""
    total = sum(counts.values())
    if sample <= 0 or sample >= total:
        return dict(counts)
    shards = sorted(counts)
    quota = np.array([sample * counts[i] / total for i in shards])
    take = np.floor(quota).astype(np.int64)
    for j in np.argsort(-(quota - take), kind="stable")[: sample - int(take.sum())]:
        take[j] += 1
    return {i: int(t) for i, t in zip(shards, take)}


def shard_sample(points: np.ndarray, take: int, seed: int, shard: int) -> np.ndarray:
    if take >= len(points):
        return points
    rows = np.random.default_rng([seed, shard]).choice(len(points), size=take, replace=False)
    return points[np.sort(rows)]


def fit_centers(cfg: ClusterConfig, points: dict[int, np.ndarray], seed: int, gpu: bool,
                progress: bool) -> tuple[np.ndarray, dict]:
    """(centers (K, D), info) on every rank; `points` holds this rank's shards' training points (n_i, D)."""
    rank, _ = dist.rank_world()
    counts: dict[int, int] = {}
    dims: set[int] = set()
    for part in dist.all_gather_object({i: p.shape for i, p in points.items()}):
        counts.update({i: shape[0] for i, shape in part.items()})
        dims.update(shape[1] for shape in part.values())
    assert len(dims) == 1, f"feature caches disagree on the feature width: {sorted(dims)}"
    dim, total = dims.pop(), sum(counts.values())
    if total < cfg.num_clusters:  # every rank sees the same counts, so every rank raises
        raise ValueError(f"cluster.num_clusters={cfg.num_clusters}: only {total} features to cluster were "
                         f"extracted (cluster.fit_on={cfg.fit_on}); lower --num-clusters or curate more images")
    plan = sample_plan(counts, cfg.sample)
    mine = {i: shard_sample(p, plan[i], seed, i) for i, p in points.items()}
    gathered = dist.gather_object(mine)
    result, error = None, None
    if rank == 0:
        merged = {i: x for part in gathered for i, x in part.items()}
        x = np.concatenate([merged[i] for i in sorted(merged)]).astype(np.float32)
        try:
            result = train_kmeans(x, cfg.num_clusters, cfg.method, cfg.flat_max, cfg.iterations, seed, cfg.nredo,
                                  gpu, progress)
        except Exception as err:  # tell the other ranks before raising, so that none waits forever
            error = f"k-means failed on rank 0: {type(err).__name__}: {err}"
    error = dist.broadcast_object(error)
    if error is not None:
        raise RuntimeError(error)
    info = None
    if result is not None:
        info = {"method": result.method, "trained_on": result.num_points, "inertia": result.inertia,
                "seconds": round(result.seconds, 3), "total_points": total}
    centers = dist.broadcast_array(result.centers if result is not None else None, (cfg.num_clusters, dim))
    return centers, dist.broadcast_object(info)
