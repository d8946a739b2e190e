"""faiss k-means into K centers (paper 3.1): flat for small K, two-level hierarchical for large K, and
nearest-center assignment. faiss-gpu is used when present (`faiss.get_num_gpus() > 0`).

Seeding: k-means++ (greedy, 2 + ln k local trials, as scikit-learn does) on a seeded subsample of at
most max(PP_POINTS_PER_CENTER * k, PP_MIN_POINTS) points when k <= PP_MAX_K, else faiss's random init; Lloyd iterations
always run in faiss on all the points. Random init alone gets stuck in poor optima on clustered data.

Hierarchical: a coarse k-means into about sqrt(K) cells, then a k-means inside each cell with a
number of centers proportional to the cell's population (largest-remainder apportionment, at least
one and at most the cell's size), so the K centers follow the data density. Labels always come from
an exact search over all K centers, so every point gets its nearest center whichever way they were made.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass

import numpy as np
from rice.progress import progress as progress_bar


PP_MAX_K = 1024
PP_POINTS_PER_CENTER = 8
PP_MIN_POINTS = 8192


@dataclass
class KMeansResult:
    centers: np.ndarray  # (K, D) float32
    method: str  # flat | hierarchical
    inertia: float  # sum of squared distances of the training points to their nearest center
    num_points: int
    seconds: float


def use_gpu(device: str = "auto") -> bool:
    import faiss

    n = faiss.get_num_gpus() if hasattr(faiss, "get_num_gpus") else 0
    if device == "gpu" and n == 0:
        raise ValueError("--kmeans-device gpu: faiss sees no GPU (faiss-cpu installed, or no CUDA device)")
    return n > 0 and device != "cpu"


def kmeans_pp(x: np.ndarray, k: int, seed: int = 0) -> np.ndarray:
    """(k, D) k-means++ seeds from the rows of `x` (greedy: the best of 2 + ln k candidates per step)."""
    rng = np.random.default_rng(seed)
    x = np.ascontiguousarray(x, dtype=np.float32)
    n, trials = len(x), 2 + int(np.log(k))
    sq = np.einsum("nd,nd->n", x, x)
    chosen = [int(rng.integers(n))]
    closest = np.maximum(sq + sq[chosen[0]] - 2 * x @ x[chosen[0]], 0)  # (N,) squared distance to nearest seed
    for _ in range(1, k):
        cum = np.cumsum(closest, dtype=np.float64)
        if cum[-1] <= 0:  # every point sits on a seed: pad with unused points
            chosen.append(int(np.setdiff1d(np.arange(n), chosen)[0]))
            continue
        cand = np.minimum(np.searchsorted(cum, rng.random(trials) * cum[-1], side="right"), n - 1)
        dist = np.maximum(sq[None] + sq[cand, None] - 2 * (x[cand] @ x.T), 0)  # (trials, N)
        new = np.minimum(closest[None], dist)
        best = int(np.argmin(new.sum(1, dtype=np.float64)))
        chosen.append(int(cand[best]))
        closest = new[best]
    return x[chosen].copy()


def flat_kmeans(x: np.ndarray, k: int, iterations: int = 20, seed: int = 0, nredo: int = 1,
                gpu: bool = False) -> np.ndarray:
    """(k, D) centers of `x` (N, D) by faiss k-means on all N points (no internal subsampling)."""
    import faiss

    x = np.ascontiguousarray(x, dtype=np.float32)
    n, d = x.shape
    if n < k:
        raise ValueError(f"k-means: {n} points cannot make {k} clusters; lower --num-clusters or add images")
    if k == n:
        return x.copy()
    if k == 1:
        return x.mean(0, keepdims=True)
    best, best_obj = None, np.inf
    for run in range(nredo):  # faiss's own nredo cannot take an init per restart
        km = faiss.Kmeans(d, k, niter=iterations, seed=seed + run, gpu=gpu, verbose=False,
                          max_points_per_centroid=math.ceil(n / k) + 1, min_points_per_centroid=1)
        init = None
        if k <= PP_MAX_K:
            rng = np.random.default_rng([seed, run])
            m = max(PP_POINTS_PER_CENTER * k, PP_MIN_POINTS)
            sub = x if n <= m else x[np.sort(rng.choice(n, m, replace=False))]
            init = kmeans_pp(sub, k, seed + run)
        km.train(x, init_centroids=init)
        obj = float(km.obj[-1]) if len(km.obj) else np.inf
        if best is None or obj < best_obj:
            best, best_obj = np.asarray(km.centroids, dtype=np.float32).reshape(k, d), obj
    return best


def allocate(counts: np.ndarray, k: int) -> np.ndarray:
    """Centers per cell: proportional to `counts`, >= 1 for each non-empty cell, <= its count, summing to k."""
    counts = np.asarray(counts, dtype=np.int64)
    total, nonempty = int(counts.sum()), int((counts > 0).sum())
    assert nonempty <= k <= total, (nonempty, k, total)
    quota = k * counts / total
    alloc = np.clip(np.floor(quota).astype(np.int64), np.minimum(counts, 1), counts)
    while alloc.sum() < k:  # hand out the rest by largest remainder, never beyond a cell's size
        gap = np.where(alloc < counts, quota - alloc, -np.inf)
        alloc[int(np.argmax(gap))] += 1
    while alloc.sum() > k:  # the floor of 1 per cell may overshoot: take from the most over-served
        gap = np.where(alloc > np.minimum(counts, 1), alloc - quota, -np.inf)
        alloc[int(np.argmax(gap))] -= 1
    return alloc


def hierarchical_kmeans(x: np.ndarray, k: int, iterations: int = 20, seed: int = 0, nredo: int = 1,
                        gpu: bool = False, progress: bool = False) -> np.ndarray:
    x = np.ascontiguousarray(x, dtype=np.float32)
    n = len(x)
    if n < k:
        raise ValueError(f"k-means: {n} points cannot make {k} clusters; lower --num-clusters or add images")
    coarse_k = min(max(1, round(math.sqrt(k))), n)
    coarse = flat_kmeans(x, coarse_k, iterations, seed, nredo, gpu)
    cell = assign(x, coarse, 1, gpu)[1][:, 0]  # (N,)
    order = np.argsort(cell, kind="stable")
    counts = np.bincount(cell, minlength=coarse_k)
    alloc = allocate(counts, k)
    starts = np.concatenate([[0], np.cumsum(counts)])
    centers = []
    for c in progress_bar(range(coarse_k), desc="k-means cells", unit="cell", disable=not progress):
        if alloc[c]:
            pts = x[order[starts[c]:starts[c + 1]]]
            centers.append(flat_kmeans(pts, int(alloc[c]), iterations, seed + 1 + c, nredo, gpu))
    return np.concatenate(centers).astype(np.float32)


def build_index(centers: np.ndarray, gpu: bool = False, gpu_id: int = 0):
    """An exact L2 faiss index over the (K, D) centers (on GPU `gpu_id` with faiss-gpu); build once, search often."""
    import faiss

    index = faiss.IndexFlatL2(centers.shape[1])
    if gpu:
        index = faiss.index_cpu_to_gpu(faiss.StandardGpuResources(), gpu_id, index)
    index.add(np.ascontiguousarray(centers, dtype=np.float32))
    return index


def search(index, x: np.ndarray, k: int = 1, batch: int = 65536) -> tuple[np.ndarray, np.ndarray]:
    """(squared L2 distances (N, k), center indices (N, k)) of each row's k nearest centers."""
    x = np.ascontiguousarray(x, dtype=np.float32)
    if len(x) == 0:
        return np.zeros((0, k), np.float32), np.zeros((0, k), np.int64)
    parts = [index.search(x[i:i + batch], k) for i in range(0, len(x), batch)]
    return np.concatenate([p[0] for p in parts]), np.concatenate([p[1] for p in parts])


def assign(x: np.ndarray, centers: np.ndarray, k: int = 1, gpu: bool = False, gpu_id: int = 0
           ) -> tuple[np.ndarray, np.ndarray]:
    """`search` over a one-off index of `centers`."""
    return search(build_index(centers, gpu, gpu_id), x, k)


def inertia(x: np.ndarray, centers: np.ndarray, gpu: bool = False) -> float:
    dist, _ = assign(x, centers, 1, gpu)
    return float(dist[:, 0].astype(np.float64).sum())


def train_kmeans(x: np.ndarray, k: int, method: str = "auto", flat_max: int = 16384, iterations: int = 20,
                 seed: int = 0, nredo: int = 1, gpu: bool = False, progress: bool = False) -> KMeansResult:
    """K centers of `x` by `method` (auto: flat up to `flat_max` centers, hierarchical above)."""
    start = time.perf_counter()
    method = ("flat" if k <= flat_max else "hierarchical") if method == "auto" else method
    if method == "flat":
        centers = flat_kmeans(x, k, iterations, seed, nredo, gpu)
    else:
        centers = hierarchical_kmeans(x, k, iterations, seed, nredo, gpu, progress)
    return KMeansResult(centers, method, inertia(x, centers, gpu), len(x), time.perf_counter() - start)
