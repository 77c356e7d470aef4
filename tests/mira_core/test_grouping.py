"""Tests of source grouping: centroids, auto k, stable names, pins, the heatmap."""

from __future__ import annotations

import numpy as np
import polars as pl

from mira_core.config import GroupParams
from mira_core.grouping import cluster, cluster_judged, plot_similarity, similarity, source_centroids


def families(base, members: list[list[str]], noise: float, rng) -> tuple[list[str], np.ndarray]:
    """Source names and unit centroids: each family's sources near its row of `base`."""
    names, rows = [], []
    for fam, group in enumerate(members):
        for m in group:
            v = base[fam] + noise * rng.standard_normal(base.shape[1])
            rows.append(v / np.linalg.norm(v))
            names.append(m)
    return names, np.vstack(rows)


def _three_families(rng):
    return families(np.eye(3, 16), [["c1", "c2", "c3"], ["t1", "t2"], ["q1", "q2", "q3"]], 0.05, rng)


def test_auto_k_finds_the_families_and_names_are_stable():
    names, x = _three_families(np.random.default_rng(0))
    assign, info = cluster(names, x, GroupParams(k="auto", k_min=2, k_max=6))
    assert info["k"] == 3 and set(info["silhouette_by_k"]) == {2, 3, 4, 5, 6}
    assert assign == {"c1": "g0", "c2": "g0", "c3": "g0", "q1": "g1", "q2": "g1", "q3": "g1", "t1": "g2", "t2": "g2"}
    perm = np.random.default_rng(1).permutation(len(names))
    assign2, _ = cluster([names[i] for i in perm], x[perm], GroupParams(k="auto", k_min=2, k_max=6, seed=7))
    assert assign2 == assign


def test_pins_override_and_fixed_k():
    names, x = _three_families(np.random.default_rng(0))
    assign, info = cluster(names, x, GroupParams(k=2, pins={"t1": "special"}))
    assert info["k"] == 2 and assign["t1"] == "special" and info["pinned"] == {"t1": "special"}
    assert len(set(assign.values())) == 3


def test_two_sources_make_one_group():
    assign, info = cluster(["a", "b"], np.eye(2), GroupParams())
    assert set(assign.values()) == {"g0"} and info["k"] == 1


def test_auto_with_k_min_past_the_sources_makes_the_most_groups_it_can():
    # the demo's params ask k_min 3; a project with 3 sources left auto no k to try (and crashed)
    names, x = ["a", "b", "c"], np.eye(3, 8)
    assign, info = cluster(names, x, GroupParams(k="auto", k_min=3, k_max=6))
    assert info["k"] == 3 and sorted(assign.values()) == ["g0", "g1", "g2"] and "k_min 3" in info["method"]
    assign, info = cluster([*names, "d"], np.eye(4, 8), GroupParams(k="auto", k_min=5, k_max=6))
    assert info["k"] == 4 and len(set(assign.values())) == 4


def test_centroids_from_shards_and_the_heatmap(tmp_path):
    for src, vec in {"a": [1.0, 0.0], "b": [0.0, 1.0]}.items():
        (tmp_path / src).mkdir()
        pl.DataFrame({"record_id": [f"{src}/1", f"{src}/2"], "embedding": [vec, vec]},
                     schema={"record_id": pl.String, "embedding": pl.Array(pl.Float32, 2)}
                     ).write_parquet(tmp_path / src / "part-00000.parquet")
    names, c, counts = source_centroids({s: [tmp_path / s / "part-00000.parquet"] for s in "ab"})
    sim = similarity(c)
    assert names == ["a", "b"] and counts == {"a": 2, "b": 2}
    np.testing.assert_allclose(sim, np.eye(2), atol=1e-6)
    png = tmp_path / "sim.png"
    plot_similarity(names, sim, {"a": "g0", "b": "g1"}, png)
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and png.stat().st_size > 5000


def test_hidden_folders_of_a_killed_write_are_no_source(tmp_path):
    """`.<source>.XXXXXXXX.tmp/` and `.<source>.old/` (a killed atomic_dir) must not join the grouping as sources."""
    from mira_core.grouping import group_sources

    emb = tmp_path / "embeddings"
    for src, vec in {"a": [1.0, 0.0], "b": [0.0, 1.0], ".a.k3j4h5ab.tmp": [1.0, 0.0], ".b.old": [0.0, 1.0]}.items():
        (emb / src).mkdir(parents=True)
        pl.DataFrame({"record_id": [f"{src}/1"], "embedding": [vec]},
                     schema={"record_id": pl.String, "embedding": pl.Array(pl.Float32, 2)}
                     ).write_parquet(emb / src / "part-00000.parquet")
    metrics = group_sources(emb, GroupParams(), tmp_path / "groups")
    assert metrics["records"] == {"a": 1, "b": 1}


def test_a_pinned_group_name_must_be_a_plain_name():
    import pytest
    from pydantic import ValidationError

    for bad in ("../x", "web$\\x$", "a b", "web\n"):  # a trailing newline: `$` alone let it through
        with pytest.raises(ValidationError, match="a group name must start with an ASCII letter or digit"):
            GroupParams(pins={"web": bad})
    assert GroupParams(pins={"web": "web-pages.v2"}).pins == {"web": "web-pages.v2"}


def test_auto_with_k_max_one_and_identical_centroids_make_one_group_not_a_crash():
    # k_max 1 is legal with auto: no k to try, and the search unpacked None
    assign, info = cluster(list("abcd"), np.eye(4, 8), GroupParams(k="auto", k_min=1, k_max=1))
    assert set(assign.values()) == {"g0"} and info["k"] == 1
    # the same data ingested under three names: k-means finds one group, where the silhouette is undefined
    same = np.tile(np.eye(1, 8), (3, 1))
    for p in (GroupParams(), GroupParams(k=2), GroupParams(k="auto", k_min=3)):
        assign, info = cluster(list("abc"), same, p)
        assert set(assign.values()) == {"g0"} and info["k"] == 1, p


def test_the_similarity_table_keeps_its_names_whatever_a_source_is_called():
    from mira_core.grouping import similarity_table

    table = similarity_table(["code", "source"], np.array([[1.0, 0.2], [0.2, 1.0]]))
    assert table.rows() == [("code", "code", 1.0), ("code", "source", 0.2), ("source", "code", 0.2),
                            ("source", "source", 1.0)]


def test_held_out_sources_do_not_shape_the_groups_and_join_the_nearest():
    # three held-out sources beside the t family: clustered, they would make a fourth group of their own or pull
    # the t family with them; held out, the groups are those of the judged sources, and each joins its nearest
    names, x = _three_families(np.random.default_rng(0))
    rng = np.random.default_rng(2)
    held = ["h1", "h2", "h3"]
    rows = []
    for _ in held:
        v = np.eye(4, 16)[3] + 0.6 * np.eye(3, 16)[1] + 0.05 * rng.standard_normal(16)
        rows.append(v / np.linalg.norm(v))
    p = GroupParams(k="auto", k_min=2, k_max=6)
    judged, _ = cluster(names, x, p)
    together, _ = cluster(names + held, np.vstack([x, *rows]), p)
    assert {together[s] for s in held}.isdisjoint(together[s] for s in names)  # clustered: a group of their own
    assign, info = cluster_judged(names + held, np.vstack([x, *rows]), p, tuple(held))
    assert {s: assign[s] for s in names} == judged
    assert info["held_out"] == dict.fromkeys(held, judged["t1"]) and {assign[s] for s in held} == {judged["t1"]}
    pinned, info = cluster_judged(names + held, np.vstack([x, *rows]), GroupParams(k="auto", k_min=2, k_max=6,
                                                                                   pins={"h2": judged["q1"]}),
                                  tuple(held))
    assert pinned["h2"] == judged["q1"] and info["held_out"]["h2"] == judged["q1"]
    only_held, _ = cluster_judged(["a", "b"], x[:2], p, ("a", "b"))  # nothing judged: clustered as before
    assert only_held == cluster(["a", "b"], x[:2], p)[0]
