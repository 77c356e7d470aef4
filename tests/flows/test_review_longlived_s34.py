"""Review (session 34, helper h7): a project that lives for weeks.

One `mira init` project (three JSONL sources, rules teacher) went through 18 rounds of edits, each followed by
`dvc repro` (a few `mira run` and `dvc exp run`): budgets, baselines and ablations, the mask, the student kind,
discover.n_anchors, a source added, a source renamed, a source removed, group.k, the teacher. After each round the
sizes and file counts of .mira/ (task cache, run logs, the Prefect server's database and log, locks, the teacher's
request cache), mlruns/ and mlflow.db, .dvc/cache, data/ and ~/.cache/mira were measured, and data/, metrics/,
plots/, reports/, the export, `mira summary` and the report were searched for the renamed and the removed source.
What did not hold:

- the teacher's request cache keys a label request on the rubric's *version*, a hash of the whole rubric file:
  its group name and source names too, which the prompt never shows. Group names are positions, so adding,
  renaming or removing a source renumbers untouched groups (the project's `extra` group went g1 -> g2 with the
  same sources, the same anchors and the same records); and renaming a source changes its group's `sources`. Each
  time the teacher is sent byte-identical requests again, and an LLM teacher is paid twice for every label of
  those groups.
- the same positions carry `select.weights` (granularity group): groups are numbered by their alphabetically first
  source, so a source added (or renamed) that sorts first renumbers the groups, and a weight the user set for one
  group's sources moves, without a word, to another group's. `mira params` and select accept it, DVC re-runs
  select, and the mixture is not the one asked for.
- `group.k: auto` set to the k that auto had chosen (round 14: the same two groups of the same sources) re-ran
  discover, label, distill, score, select and report (227 s of the tiny project's 230 s full run): data/groups,
  every later stage's DVC dep, holds the method's wording in a column of groups.parquet ("kmeans(k=auto -> 2, best
  cosine silhouette)" -> "kmeans(k=2)") that no stage reads (metrics/group.json has it for the report).
"""

from __future__ import annotations

import json

import numpy as np
import polars as pl
import pytest

from mira_core.config import GroupParams, TeacherParams, parse_params
from mira_core.errors import ConfigError
from mira_core.grouping import cluster, group_sources
from mira_core.io import tree_digest, write_parquet
from mira_core.labels import label_docs
from mira_core.rubric import Anchor, Rubric
from mira_core.teachers import make_teacher
from mira_core.teachers.base import Doc
from tests.fake_openai import FakeOpenAI

TEXTS = [f"# Heading {i}\n\nThis page explains colour number {i} in a few plain words." for i in range(6)]
ANCHORS = [Anchor(id="a00", name="clarity", description="How clearly the page explains its colour.",
                  exemplar_reason="plain words", support=3),
           Anchor(id="a01", name="structure", description="Whether the page has a heading and a body.",
                  exemplar_reason="has both", support=2)]


def _label(server: FakeOpenAI, root, group: str, source: str) -> None:
    """One label run of a group's rubric over the same six records, as the label stage does it."""
    rubric = Rubric(group=group, teacher="openai/fake", prompt_version="p", sources=[source], anchors=ANCHORS,
                    n_sampled=6, n_records=6, n_points=12).with_version()
    docs = [Doc(f"{source}/{i}", source, "text", t) for i, t in enumerate(TEXTS)]
    teacher = make_teacher(TeacherParams(provider="openai", model="fake", base_url=server.base_url, api_key_env=None,
                                         max_retries=0, timeout_s=10, concurrency=2), root, {})
    try:
        labels, failures = label_docs(docs, {d.record_id: "train" for d in docs}, rubric, teacher)
    finally:
        teacher.close()
    assert labels.height == 6 and failures.height == 0


@pytest.mark.xfail(strict=True, reason="the teacher cache keys labels on the rubric version, which hashes the group "
                                       "name and source names the prompt never shows: a renumbered group or a "
                                       "renamed source re-sends (and re-pays) identical requests")
def test_a_renumbered_group_or_a_renamed_source_asks_the_teacher_nothing_twice(tmp_path):
    with FakeOpenAI() as server:
        _label(server, tmp_path, "g1", "extra")  # round 9: the new source is alone in g1
        _label(server, tmp_path, "g2", "extra")  # round 10: another source renamed, k-means numbers it g2
        _label(server, tmp_path, "g2", "colours")  # and a rename of this source itself
        bodies = [json.dumps(r.body, sort_keys=True) for r in server.requests if r.path.endswith("/chat/completions")]
    assert len(bodies) >= 6
    # every request the teacher was sent is one it had not already answered: the cache serves the same question
    assert len(bodies) == len(set(bodies)), f"{len(bodies)} requests sent, {len(set(bodies))} distinct"


# centroids of a project's sources: code apart, prose and qa alike; later a `blog` source like prose is added
CENTROIDS = {"code": [1.0, 0.0, 0.0], "prose": [0.0, 1.0, 0.1], "qa": [0.0, 1.0, -0.1], "blog": [0.05, 1.0, 0.0]}


def _groups(names: list[str]) -> dict[str, list[str]]:
    assign, _ = cluster(names, np.array([CENTROIDS[n] for n in names]), GroupParams())  # group.k: auto
    out: dict[str, list[str]] = {}
    for source, group in assign.items():
        out.setdefault(group, []).append(source)
    return {g: sorted(s) for g, s in out.items()}


@pytest.mark.xfail(strict=True, reason="select.weights names groups by position (numbered by their first source): a "
                                       "source added that sorts first renumbers them, and a weight silently moves to "
                                       "other sources")
def test_a_group_weight_stays_with_its_sources_when_a_source_is_added():
    before = _groups(["code", "prose", "qa"])
    assert before == {"g0": ["code"], "g1": ["prose", "qa"]}
    # the user gives the prose/qa group 30 % of the budget, by the name the report and mira summary show it under
    raw = {"sources": [{"name": n, "path": f"{n}.jsonl", "format": "text"} for n in ("code", "prose", "qa", "blog")],
           "select": {"weights": {"g1": 0.3}}}
    try:
        parse_params(raw)
    except ConfigError:
        return  # refused up front (a weight on an unpinned group name is a position, not a set of sources): fine
    # weeks later a fourth source like prose is added: kmeans puts it with prose and qa, as expected
    after = _groups(["blog", "code", "prose", "qa"])
    assert sorted(after.values()) == [["blog", "prose", "qa"], ["code"]]
    # the weight set for prose and qa must still be theirs (or the run must have refused it), not code's
    assert set(before["g1"]) <= set(after["g1"]), f"g1 is now {after['g1']}: the 30 % weight moved to it"


@pytest.mark.xfail(strict=True, reason="groups.parquet holds the grouping method's wording: the same groups under "
                                       "another group.k wording change data/groups and re-run every later stage")
def test_the_same_groups_under_another_k_setting_leave_data_groups_unchanged(tmp_path):
    rng = np.random.default_rng(0)
    for source in ("code", "prose", "qa"):
        rows = np.array(CENTROIDS[source], dtype=np.float32) + 0.01 * rng.standard_normal((5, 3)).astype(np.float32)
        write_parquet(pl.DataFrame({"record_id": [f"{source}/{i}" for i in range(5)], "embedding": rows}),
                      tmp_path / "embeddings" / source / "part-00000.parquet")
    auto = group_sources(tmp_path / "embeddings", GroupParams(), tmp_path / "auto")  # k: auto, which picks 2
    two = group_sources(tmp_path / "embeddings", GroupParams(k=2), tmp_path / "two")  # the user pins k: 2
    assert auto["groups"] == two["groups"] == {"g0": ["code"], "g1": ["prose", "qa"]}
    # the same groups: the folder DVC hashes for discover, label, distill, score, select and report is the same
    assert tree_digest(tmp_path / "auto") == tree_digest(tmp_path / "two")
