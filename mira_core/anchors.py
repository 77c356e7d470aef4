"""Self-anchored rubric discovery: free-form judgments clustered into a group's anchors.

The teacher judged records freely, naming its own dimensions. Each judgment becomes a point
"name: reason", embedded with the corpus encoder; KMeans (cosine, on unit vectors) cuts the points
into K clusters, and the judgment nearest each centroid becomes the anchor: its name, its
description, and its reason as the exemplar. Support is the cluster's size; anchors are ordered by
support. An anchor is one dimension: clusters whose medoids carry the same name (one dimension argued
in several ways) merge into one anchor with their supports added, so a group can end with fewer than
K anchors, never with two anchors that score the same thing.
"""

from __future__ import annotations

from collections import Counter

import numpy as np
import polars as pl

from mira_core.rubric import Anchor


def point_texts(judgments: pl.DataFrame) -> list[str]:
    """What gets embedded for each judgment: its name and its reason."""
    return [f"{n.replace('_', ' ')}: {r}" for n, r in zip(judgments["name"], judgments["reason"], strict=True)]


def cluster_anchors(judgments: pl.DataFrame, vectors: np.ndarray, k: int, seed: int) -> list[Anchor]:
    """Cluster judgment points into at most k anchors; the medoid judgment of each cluster is its anchor."""
    from sklearn.cluster import KMeans

    if judgments.height == 0:
        return []
    unit = vectors / np.maximum(np.linalg.norm(vectors, axis=1, keepdims=True), 1e-12)
    distinct = len({tuple(np.round(v, 5)) for v in unit})
    k = max(1, min(k, distinct))
    labels = KMeans(n_clusters=k, n_init=10, random_state=seed).fit_predict(unit) if k > 1 else np.zeros(len(unit), int)
    clusters = []
    for c in range(k):
        idx = np.flatnonzero(labels == c)
        if not len(idx):
            continue
        centroid = unit[idx].mean(axis=0)
        centroid /= max(np.linalg.norm(centroid), 1e-12)
        medoid = int(idx[np.argmax(unit[idx] @ centroid)])
        clusters.append((len(idx), medoid, idx))
    names, descriptions = judgments["name"].to_list(), judgments["description"].to_list()
    clusters.sort(key=lambda t: (-t[0], names[t[1]]))
    merged: dict[str, dict] = {}  # name -> anchor fields; an anchor is one dimension, however many clusters it spans
    for support, medoid, idx in clusters:
        row = judgments.row(medoid, named=True)
        if row["name"] in merged:
            merged[row["name"]]["support"] += support
            continue
        description = row["description"] or _most_common([descriptions[j] for j in idx]) or row["reason"]
        merged[row["name"]] = {"name": row["name"], "description": description, "exemplar_reason": row["reason"],
                               "support": support}
    ordered = sorted(merged.values(), key=lambda a: (-a["support"], a["name"]))
    return [Anchor(id=f"a{i:02d}", **a) for i, a in enumerate(ordered)]


def _most_common(values: list[str]) -> str:
    counts = Counter(v for v in values if v)
    return counts.most_common(1)[0][0] if counts else ""


