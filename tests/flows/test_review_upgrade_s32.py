"""Review s32, scenario: a user upgrades mira in the middle of a project (docstats/6 -> docstats/7, a new rules
teacher version, dedup's tokenisation). `dvc repro --force` and `mira run` after the upgrade gave outputs equal to a
from-scratch run (44 Parquet files, every metric). A plain `dvc repro` after the upgrade is a no-op, as documented;
but a knob changed after the upgrade re-runs only part of the graph, and the new code then mixes with the old
outputs without a word: labels of the new rules teacher over a rubric the old one discovered, students fitted
afresh on the old docstats/6 statistics. The two tests below are those mixes on tiny data; each failed before
its check landed (labels.check_rubric_teacher, embedding.check_current)."""

from __future__ import annotations

import random

import pytest


def _anchors(names):
    from mira_core.rubric import Anchor

    return [Anchor(id=f"a{i:02d}", name=n, description=n, exemplar_reason=n, support=1) for i, n in enumerate(names)]


def test_review_upgrade_rules_answers_are_keyed_by_the_rules_version_only():
    # guard (passes): an answer cached under the old rules version is never the new one's, over random requests,
    # and nothing else of the request makes two versions' keys meet
    import tempfile
    from pathlib import Path

    from mira_core.config import TeacherParams
    from mira_core.teachers import _rules_version, make_teacher
    from mira_core.teachers.base import Doc, Request, Teacher

    with tempfile.TemporaryDirectory() as d:
        t = make_teacher(TeacherParams(provider="rules"), Path(d), {})
        try:
            assert t.prompt_version == _rules_version()
            old = Teacher(t.backend, t.cache, "rules@a55a2e2551", t.settings, t.scale)
            rng = random.Random(32)
            keys_new, keys_old = set(), set()
            for i in range(300):
                text = "".join(rng.choice("ab c\n(){}:") for _ in range(rng.randint(0, 30)))
                fmt = rng.choice(["text", "code", "qa", "chat", "agent"])
                anchors = tuple(_anchors(rng.sample(["parses", "word_count", "duplicate_line_fraction"],
                                                    rng.randint(0, 3))))
                req = Request(kind=rng.choice(["judge", "score"]), doc=Doc(f"s/{i}", "s", fmt, text),
                              anchors=anchors, rubric_version=rng.choice([None, "v1", "v2"]),
                              repeat=rng.randint(0, 2))
                assert t.key(req) == t.key(req) and t.key(req) != old.key(req)
                keys_new.add(t.key(req))
                keys_old.add(old.key(req))
            assert not keys_new & keys_old
        finally:
            t.close()


def test_review_upgrade_label_refuses_a_rubric_of_another_teacher_version(tmp_path):
    from mira_core.config import TeacherParams
    from mira_core.errors import ConfigError
    from mira_core.rubric import Rubric
    from mira_core.teachers import _rules_version

    params = TeacherParams(provider="rules")
    current = Rubric(group="g0", teacher="rules/rules-v1", prompt_version=_rules_version(), sources=["s"],
                     anchors=_anchors(["parses"])).with_version()
    stale = current.model_copy(update={"prompt_version": "rules@a55a2e2551"}).with_version()
    from mira_core.labels import check_rubric_teacher  # the proposed check, called by flows/label.py before any spend

    check_rubric_teacher(current, params)  # discovered by this teacher: fine
    with pytest.raises(ConfigError, match=r"g0.*rules@a55a2e2551.*re-run discover.*dvc repro --force"):
        check_rubric_teacher(stale, params)


def test_review_upgrade_distill_refuses_embeddings_of_an_older_statistics_version(tmp_path):
    from mira_core.distillation import encoder_fingerprint
    from mira_core.docstats import NAMES
    from mira_core.docstats import VERSION as STATS
    from mira_core.embedding import VERSION as EMBED
    from mira_core.errors import ConfigError
    from mira_core.io import write_json

    made = {"encoder": "static", "weights": "e23bff86624e0688", "embed": EMBED, "stats": STATS,
            "n_stats": len(NAMES), "dim": 256, "source": "minilm", "max_length": None, "windows": None}
    shard = tmp_path / "embeddings" / "s" / "part-00000.parquet"
    shard.parent.mkdir(parents=True)
    write_json({"stamp": {"encoder": made}}, shard.with_suffix(".json"))
    assert encoder_fingerprint([shard]) == made  # made by this mira: fine
    write_json({"stamp": {"encoder": made | {"stats": "docstats/6"}}}, shard.with_suffix(".json"))
    with pytest.raises(ConfigError, match=rf"docstats/6.*{STATS}.*re-run embed"):
        encoder_fingerprint([shard])
