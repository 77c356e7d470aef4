"""label end to end with the openai teacher: a run cut short by a dead endpoint resumes without paying twice."""

from __future__ import annotations

import json
from collections import Counter

import polars as pl
import pytest

from flows import discover, embed, group, ingest, label
from mira_core.config import parse_params
from tests.conftest import write_jsonl
from tests.fake_openai import DOC_RE, FakeOpenAI

pytestmark = pytest.mark.slow


def _params(root, encoder, **teacher):
    write_jsonl(root / "raw" / "code.jsonl", [{"text": f"def f{i}(x):\n    return x + {i}\n"} for i in range(30)])
    write_jsonl(root / "raw" / "prose.jsonl", [{"text": f"Prose record number {i} explains a topic in a few words."}
                                               for i in range(30)])
    return parse_params({
        "sources": [{"name": "code", "path": "raw/code.jsonl", "format": "code"},
                    {"name": "prose", "path": "raw/prose.jsonl", "format": "text"}],
        "embed": {"encoder": str(encoder), "dtype": "fp32", "max_length": 64},
        "group": {"k": 1},
        "discover": {"records_per_group": 20, "n_anchors": 4},
        "label": {"records_per_group": 40, "chunk_size": 8, "repeat_fraction": 0.25, "val_fraction": 0.25},
        "teacher": teacher,
    })


def _docs(requests) -> list[str]:
    return [DOC_RE.search(r.messages[-1]["content"]).group(1) for r in requests]


def test_label_stopped_half_way_resumes_without_asking_finished_records_again(tmp_path, tiny_encoder,
                                                                              prefect_harness):
    rules = _params(tmp_path, tiny_encoder)  # anchors discovered by the rules teacher
    for stage in (ingest, embed, group, discover):
        stage.run(rules, tmp_path)

    with FakeOpenAI() as server:
        params = _params(tmp_path, tiny_encoder, provider="openai", model="fake", base_url=server.base_url,
                         api_key_env=None, max_retries=0, concurrency=2)
        for k in range(21, 400):  # the endpoint dies after 20 requests
            server.on_request(k, "500")
        first = label.run(params, tmp_path)
        g = first["groups"]["g0"]
        n_first = len(server.requests)
        answered = Counter(_docs(server.requests[:20]))
        assert g["failed"] == {"transient": n_first - 20}
        assert g["labeled"] < 40

        server.clear_faults()
        second = label.run(params, tmp_path)
        asked_again = Counter(_docs(server.requests[n_first:]))
        assert sum(asked_again.values()) == n_first - 20  # exactly the requests that failed, no more
        g = second["groups"]["g0"]
        assert g["failed"] == {} and g["labeled"] == 40 and g["repeats"] == pytest.approx(10, abs=6)
        assert second["teacher"]["cache_hits"] == 20

    labels = pl.read_parquet(tmp_path / "data" / "labels" / "g0.parquet")
    repeats = pl.read_parquet(tmp_path / "data" / "labels" / "repeats" / "g0.parquet")
    corpus = pl.read_parquet(tmp_path / "data" / "corpus" / "*" / "*.parquet")
    text = dict(zip(corpus["record_id"], corpus["text"], strict=True))
    needed = Counter(text[r] for r in labels["record_id"]) + Counter(text[r] for r in repeats["record_id"])
    assert answered + asked_again == needed  # every request answered exactly once over the two runs
    rubric = json.loads((tmp_path / "data" / "rubrics" / "g0.json").read_text())
    anchor_ids = [a["id"] for a in rubric["anchors"]]
    assert labels.columns[4:4 + len(anchor_ids)] == anchor_ids
    assert set(labels["split"]) == {"train", "val"} and labels["rubric_version"].unique().to_list() == [
        rubric["version"]]
    assert all(set(json.loads(r)) == set(anchor_ids) for r in labels["rationales"])
    metrics = json.loads((tmp_path / "metrics" / "label.json").read_text())
    assert metrics["teacher"]["provider"] == "openai" and metrics["teacher"]["prompt_tokens"] > 0
