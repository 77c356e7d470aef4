"""Review of grouping and label sampling (session 30): an embed stage shard polars cannot read (truncated, or a
damaged row group behind a sound footer) or one without the embedding columns is a ConfigError naming it, at the
group stage (`source_centroids`) and at the label stage's covering read (`embedding_features`); polars' own
errors named no file."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import polars as pl
import pytest

from mira_core.errors import ConfigError
from mira_core.grouping import source_centroids
from mira_core.labels import embedding_features


def _shard(path: Path, n: int = 64) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    emb = np.random.default_rng(0).random((n, 8)).astype(np.float32)
    pl.DataFrame({"record_id": [f"a/{i}" for i in range(n)], "embedding": emb},
                 schema={"record_id": pl.String, "embedding": pl.Array(pl.Float32, 8)}).write_parquet(path)
    return path


def _truncated(path: Path) -> Path:
    data = _shard(path).read_bytes()
    path.write_bytes(data[: len(data) // 2])
    return path


def _damaged_row_group(path: Path) -> Path:
    """The footer reads (so a schema check passes), the column data does not."""
    data = bytearray(_shard(path, n=200).read_bytes())
    data[100:3000] = b"\xab" * 2900
    path.write_bytes(bytes(data))
    return path


def test_the_group_stage_names_an_embedding_shard_it_cannot_read(tmp_path):
    good = _shard(tmp_path / "embeddings [1]" / "a" / "part-00000.parquet")
    bad = _truncated(tmp_path / "embeddings [1]" / "a" / "part-00001.parquet")
    with pytest.raises(ConfigError, match="part-00001.parquet: not a readable Parquet file") as e:
        source_centroids({"a": [good, bad]})
    assert "part-00000" not in str(e.value)


@pytest.mark.parametrize("spoil", [_truncated, _damaged_row_group])
def test_the_covering_read_names_an_embedding_shard_it_cannot_read(tmp_path, spoil):
    good = _shard(tmp_path / "a" / "part-00000.parquet")
    bad = spoil(tmp_path / "a" / "part-00001.parquet")
    with pytest.raises(ConfigError, match="part-00001.parquet: not a readable Parquet file") as e:
        embedding_features([good, bad])(["a/1"])
    assert "part-00000" not in str(e.value)


def test_the_covering_read_names_a_shard_without_embeddings(tmp_path):
    good = _shard(tmp_path / "a" / "part-00000.parquet")
    other = tmp_path / "a" / "part-00001.parquet"
    pl.DataFrame({"record_id": ["a/x"], "text": ["not an embedding"]}).write_parquet(other)
    with pytest.raises(ConfigError, match=r"part-00001.parquet: no 'embedding' column.*run the embed stage"):
        embedding_features([good, other])(["a/1"])


def test_the_method_says_how_many_groups_identical_centroids_left():
    # four sources with one centroid: `k` said 1 and the method, which groups.parquet carries, "k=auto -> 2"
    import numpy as np

    from mira_core.config import GroupParams
    from mira_core.grouping import cluster

    same = np.tile(np.array([[1.0, 0.0, 0.0]]), (4, 1))
    for p in (GroupParams(), GroupParams(k=3)):
        assign, info = cluster(["a", "b", "c", "d"], same, p)
        assert info["k"] == 1 and set(assign.values()) == {"g0"}
        assert info["method"].endswith("; 1 group found (sources with identical centroids)"), info["method"]
    apart = np.eye(4)
    _, info = cluster(["a", "b", "c", "d"], apart, GroupParams(k=2))
    assert info["method"] == "kmeans(k=2)" and info["k"] == 2
