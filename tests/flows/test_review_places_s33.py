"""Review (session 33, helper h5): a project in an awkward place, and two runs of it at once.

Found by running mira on a small corpus of one's own under '/tmp/s33h5/my proj [ü]/' and launching two
`mira stage ingest` (and two `mira run`) in it together. Each test failed before its fix landed
(flows.common.stage_lock; mira_core.progress read by the embed task's bar).
"""

from __future__ import annotations

import polars as pl
import pytest

from flows.common import run_log
from mira_core.errors import MiraError
from mira_core.io import atomic_dir
from mira_core.layout import Layout


def test_a_second_run_of_a_stage_in_progress_is_refused_and_the_first_keeps_its_output(tmp_path):
    lay = Layout(tmp_path)
    out = lay.corpus / "chat"
    with run_log(lay, "ingest"), atomic_dir(out) as first:  # `mira stage ingest` number one, writing its shards
        (first / "part-00000.parquet").write_text("first")
        # number two, started meanwhile (a double launch, or `mira stage ingest` while `mira run` is going)
        with pytest.raises(MiraError, match="ingest"), run_log(lay, "ingest"), atomic_dir(out) as second:
            (second / "part-00000.parquet").write_text("second")
        # before the lock, the second run's atomic_dir took the first's live folder for a killed run's leftover and deleted
        # it: the first run failed here with FileNotFoundError (seen in a real double `mira stage ingest`)
        (first / "part-00001.parquet").write_text("first")
    assert sorted(p.name for p in out.iterdir()) == ["part-00000.parquet", "part-00001.parquet"]
    with run_log(lay, "ingest"):  # the first run's end frees the stage: a later run is not refused
        pass


def test_embed_progress_bar_obeys_mira_progress(tmp_path, monkeypatch, capsys):
    import tasks.embed as embed_task
    from mira_core.config import EmbedParams

    shard = tmp_path / "data" / "corpus" / "web" / "part-00000.parquet"
    shard.parent.mkdir(parents=True)
    pl.DataFrame({"record_id": ["a", "b", "c"], "text": ["x", "y", "z"]}).write_parquet(shard)

    def fake_embed_shard(shard, out, enc, p, update):
        update(3)
        return {"records": 3}

    monkeypatch.setattr(embed_task, "load_encoder", lambda p, root: object())
    monkeypatch.setattr(embed_task, "embed_shard", fake_embed_shard)
    monkeypatch.setenv("MIRA_PROGRESS", "0")  # docs/configuration.md: "MIRA_PROGRESS=0 turns them off"
    out = tmp_path / "data" / "embeddings" / "web" / "part-00000.parquet"
    assert embed_task.embed_one.fn(shard, EmbedParams(), str(tmp_path), out) == {"records": 3}
    assert "embed web/part-00000" not in capsys.readouterr().err
