"""Grouping sources: per-source centroids of record embeddings, clustered into capability groups.

Each source is represented by the normalised mean of its records' embeddings. KMeans on those unit
vectors (k fixed, or `auto`: the best cosine silhouette over k_min..k_max) groups sources whose
content is alike; explicit pins in params override the clustering for the sources they name.
Group names are g0, g1, ... ordered by the alphabetically first clustered source of each group, so the
same partition always gets the same names whatever labels KMeans happened to use. Held-out sources
are not clustered: they join the nearest group after it is named, so one may sort before its group's name-giver.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import polars as pl

from mira_core.config import GroupParams
from mira_core.embedding import read_embeddings
from mira_core.errors import ConfigError
from mira_core.io import write_parquet


def source_centroids(shards_by_source: dict[str, list[Path]]) -> tuple[list[str], np.ndarray, dict[str, int]]:
    """(sources, unit centroid matrix, records per source) from each source's embedding shards."""
    names, rows, counts = [], [], {}
    for source in sorted(shards_by_source):
        total, n = _row_sum(shards_by_source[source])
        if not n:
            continue
        c = total / n
        rows.append(c / max(np.linalg.norm(c), 1e-12))
        names.append(source)
        counts[source] = n
    return names, np.vstack(rows) if rows else np.zeros((0, 0)), counts


def _row_sum(shards: list[Path]) -> tuple[np.ndarray | None, int]:
    """The float64 sum of the shards' embedding rows, and their count, one shard in memory at a time (a source's
    whole matrix took 3 KB a record: 30 GB for ten million). In float64 (float32 sums in row order moved the
    centroid by 1e-7 with the sources' line order), and row by row in shard order, as numpy sums the rows of one
    matrix: the same bits as the mean of the whole matrix."""
    total, n = None, 0
    for shard in shards:
        _, m = read_embeddings([shard])  # a shard it cannot read is a ConfigError naming it
        if not len(m):
            continue
        block = m.astype(np.float64)
        total = np.add.reduce(block if total is None else np.concatenate([total[None], block]), axis=0)
        n += len(m)
    return total, n


def similarity(centroids: np.ndarray) -> np.ndarray:
    """Cosine similarity between unit centroids."""
    return np.clip(centroids @ centroids.T, -1.0, 1.0)


def _kmeans(x: np.ndarray, k: int, seed: int) -> np.ndarray:
    import warnings

    from sklearn.cluster import KMeans
    from sklearn.exceptions import ConvergenceWarning

    with warnings.catch_warnings():  # fewer distinct groups than k (identical centroids): `cluster` counts them
        warnings.simplefilter("ignore", ConvergenceWarning)
        return KMeans(n_clusters=k, n_init=10, random_state=seed).fit_predict(x)


def _silhouette(x: np.ndarray, labels: np.ndarray) -> float | None:
    """The cosine silhouette, or None where it is undefined (one group, or as many groups as points): k-means
    finds fewer groups than asked when sources share a centroid (the same data ingested under two names)."""
    from sklearn.metrics import silhouette_score

    return float(silhouette_score(x, labels, metric="cosine")) if 1 < len(np.unique(labels)) < len(x) else None


def cluster(names: list[str], centroids: np.ndarray, p: GroupParams) -> tuple[dict[str, str], dict]:
    """source -> group, and how it was chosen (method, k, silhouette per k tried). A pinned source takes no part in
    the clustering: it took one of k's clusters (two families of sources merged under a fixed k) or swayed the
    silhouette's choice of k, and was then moved, leaving a gap in the group names."""
    pinned = {s: g for s, g in p.pins.items() if s in names}
    free = [i for i, s in enumerate(names) if s not in pinned]
    if pinned and free:
        assign, info = cluster([names[i] for i in free], centroids[free], p.model_copy(update={"pins": {}}))
        assign.update(pinned)
        info["pinned"] = pinned
        return assign, info
    if pinned:  # every source pinned: no clustering ran, and the method and k say so
        k = len(set(pinned.values()))
        return dict(pinned), {"silhouette_by_k": {}, "method": "every source pinned (group.pins)", "k": k,
                              "pinned": pinned}
    n = len(names)
    info: dict = {"silhouette_by_k": {}}
    if isinstance(p.k, int):
        k = min(p.k, n)
        labels = _kmeans(centroids, k, p.seed) if k > 1 else np.zeros(n, dtype=int)
        info.update(method=f"kmeans(k={k})", k=k)
        s = _silhouette(centroids, labels)
        if s is not None:
            info["silhouette"] = round(s, 4)
    elif n < 3 or p.k_max < 2:  # a silhouette needs 2 <= k <= n - 1; k_max 1 (so k_min 1) leaves no k to try
        labels = np.zeros(n, dtype=int)
        info.update(method="single group (fewer than 3 sources)" if n < 3 else "single group (group.k_max 1)", k=1)
    elif p.k_min > n - 1:  # no k the silhouette can judge is as large as asked: the most groups there can be
        k = min(p.k_min, n)
        labels = _kmeans(centroids, k, p.seed)
        info.update(method=f"kmeans(k=auto -> {k}: k_min {p.k_min} leaves no k in 2..sources - 1 to judge)", k=k)
    else:
        best = None
        for k in range(max(2, p.k_min), min(p.k_max, n - 1) + 1):
            lab = _kmeans(centroids, k, p.seed)
            judged = _silhouette(centroids, lab)
            info["silhouette_by_k"][k] = None if judged is None else round(judged, 4)
            s = -1.0 if judged is None else judged  # identical centroids: fewer groups found, ranked last
            if best is None or s > best[0] + 1e-9:
                best = (s, k, lab, judged)
        _, k, labels, judged = best
        info.update(method=f"kmeans(k=auto -> {k}, best cosine silhouette)", k=k,
                    silhouette=None if judged is None else round(judged, 4))
    found = len(np.unique(labels))  # identical centroids make fewer groups than asked
    if found != info["k"]:  # said in the method too, which groups.parquet carries: it read "k=auto -> 2" for one
        info["method"] += f"; {found} group{'s' * (found != 1)} found (sources with identical centroids)"
    info["k"] = found
    members: dict[int, list[str]] = {}
    for name, lab in zip(names, labels, strict=True):
        members.setdefault(int(lab), []).append(name)
    ordered = sorted(members.values(), key=lambda m: min(m))
    assign = {s: f"g{i}" for i, m in enumerate(ordered) for s in m}
    info["pinned"] = {}  # a pin that names one of these sources returned above, before the clustering
    return assign, info


def group_table(assign: dict[str, str], method: str) -> pl.DataFrame:
    return pl.DataFrame({"source": list(assign), "group": list(assign.values()), "method": [method] * len(assign)},
                        schema={"source": pl.String, "group": pl.String, "method": pl.String}).sort("source")


def similarity_table(names: list[str], sim: np.ndarray) -> pl.DataFrame:
    """Source-by-source cosine similarity, long form (source, other, cosine): a source named `source` overwrote the
    names column of a wide table."""
    return pl.DataFrame({"source": np.repeat(names, len(names)).tolist(), "other": list(names) * len(names),
                         "cosine": sim.astype(np.float64).reshape(-1)})


def plot_similarity(names: list[str], sim: np.ndarray, assign: dict[str, str], path: Path) -> None:
    """A heatmap of source-by-source cosine similarity, sources ordered by group, written as PNG."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from mira_core.io import atomic_path

    order = sorted(range(len(names)), key=lambda i: (assign[names[i]], names[i]))
    labels = [f"{names[i]} [{assign[names[i]]}]" for i in order]
    m = sim[np.ix_(order, order)]
    size = 2.5 + 0.45 * len(names)
    fig, ax = plt.subplots(figsize=(size + 1.5, size))
    im = ax.imshow(m, cmap="viridis", vmin=min(0.0, float(m.min())), vmax=1.0)
    ax.set_xticks(range(len(labels)), labels, rotation=60, ha="right", fontsize=8)
    ax.set_yticks(range(len(labels)), labels, fontsize=8)
    for i in range(len(order)):
        for j in range(len(order)):
            ax.text(j, i, f"{m[i, j]:.2f}", ha="center", va="center", fontsize=6,
                    color="white" if m[i, j] < 0.6 else "black")
    fig.colorbar(im, ax=ax, fraction=0.046, label="cosine similarity of source centroids")
    ax.set_title("Source similarity (grouped)")
    fig.tight_layout()
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png", dpi=110)
    plt.close(fig)


def read_groups(path: Path) -> dict[str, str]:
    """The source -> group map written by the group stage."""
    from mira_core.schema import GROUPS, check_parquet

    if not Path(path).exists():
        raise ConfigError(f"{path}: no group map (run the group stage first)")
    check_parquet(path, GROUPS)
    return dict(pl.read_parquet(path, glob=False).select("source", "group").iter_rows())


def members(groups: dict[str, str]) -> dict[str, list[str]]:
    """group -> its sources, both sorted."""
    out: dict[str, list[str]] = {}
    for s, g in sorted(groups.items()):
        out.setdefault(g, []).append(s)
    return dict(sorted(out.items()))


def judged_members(groups: dict[str, str], held_out: list[str] | tuple[str, ...]) -> dict[str, list[str]]:
    """group -> its sources that the teacher judges and labels: every source but the held-out ones.

    A held-out source (select.held_out_sources) is the proxy evaluation's target and is never selected, so
    the teacher is not paid for its records and no rubric or student is fitted on them. A group whose every
    source is held out is left out: it gets no rubric, no labels, no student and no scores.
    """
    out = {g: [s for s in srcs if s not in held_out] for g, srcs in members(groups).items()}
    return {g: srcs for g, srcs in out.items() if srcs}


def cluster_judged(names: list[str], centroids: np.ndarray, p: GroupParams, held_out: tuple[str, ...] = ()
                   ) -> tuple[dict[str, str], dict]:
    """`cluster` on every source but the held-out ones, which then join the group whose centroid is nearest
    theirs (cosine; a pin still decides). A held-out source is the proxy evaluation's target: were it clustered,
    it could pull sources together or apart, and so shape the selection it is meant to judge."""
    judged = [i for i, s in enumerate(names) if s not in held_out]
    if not judged:  # nothing but held-out sources: no selection to keep apart from them
        return cluster(names, centroids, p)
    assign, info = cluster([names[i] for i in judged], centroids[judged], p)
    groups = sorted(set(assign.values()))
    mean = np.stack([centroids[[i for i in judged if assign[names[i]] == g]].mean(axis=0) for g in groups])
    mean /= np.maximum(np.linalg.norm(mean, axis=1, keepdims=True), 1e-12)
    nearest = {}
    for i, s in enumerate(names):
        if s in held_out:
            nearest[s] = p.pins.get(s) or groups[int(np.argmax(mean @ centroids[i]))]
    assign.update(nearest)
    info["held_out"] = nearest  # not clustered: the group each joined
    return assign, info


def group_sources(embeddings: Path, p: GroupParams, out: Path, held_out: tuple[str, ...] = ()) -> dict:
    """Centroids, similarity matrix, clustering; writes the group map, the matrix and its heatmap under `out`.
    Held-out sources (select.held_out_sources) are not clustered; each joins its nearest group (`cluster_judged`).

    Returns the stage's metrics: the method, its scores, the members of each group, records per source.
    """
    # A hidden folder is no source: what a killed atomic_dir left (`.<source>.XXXXXXXX.tmp/`, `.<source>.old/`).
    shards = {d.name: sorted(d.glob("part-*.parquet")) for d in sorted(embeddings.iterdir())
              if d.is_dir() and not d.name.startswith(".")}
    names, centroids, counts = source_centroids(shards)
    if not names:  # every shard empty: there is nothing to group, and the heatmap failed on its empty matrix
        raise ConfigError(f"{embeddings}: none of its {len(shards)} source folders holds an embedded record; check "
                          "that the corpus keeps records (metrics/ingest.json) and run the embed stage")
    assign, info = cluster_judged(names, centroids, p, tuple(held_out))
    sim = similarity(centroids)
    out.mkdir(parents=True, exist_ok=True)
    write_parquet(group_table(assign, info["method"]), out / "groups.parquet")
    write_parquet(similarity_table(names, sim), out / "similarity.parquet")
    plot_similarity(names, sim, assign, out / "similarity.png")
    return {**info, "groups": members(assign), "records": counts}
