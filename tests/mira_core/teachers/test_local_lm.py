"""The transformers teacher with a tiny random causal LM built here: real generation, replies validated."""

from __future__ import annotations

import json

from mira_core.config import TeacherParams
from mira_core.rubric import Anchor
from mira_core.teachers.base import Doc, Request
from mira_core.teachers.local_lm import LocalLMBackend

DOC = Doc("s/1", "s", "code", "def add(a, b):\n    return a + b\n")


def test_random_model_generates_and_fails_validation_with_a_reason(tiny_causal_lm):
    backend = LocalLMBackend(TeacherParams(provider="transformers", model=str(tiny_causal_lm), max_tokens=12,
                                           max_repairs=1, device="cpu"))
    (o,) = backend.run([Request("judge", DOC)])
    assert not o.ok and o.error_kind == "permanent"
    assert "JSON" in o.error or "schema" in o.error
    assert o.calls == 2 and o.completion_tokens > 0 and o.prompt_tokens > 0


def test_a_valid_generation_is_validated_like_any_teacher(tiny_causal_lm, monkeypatch):
    backend = LocalLMBackend(TeacherParams(provider="transformers", model=str(tiny_causal_lm), device="cpu"))
    anchors = (Anchor(id="a00", name="clarity", description="d", exemplar_reason="e", support=1),)
    reply = json.dumps({"scores": [{"anchor": "a00", "score": 4, "rationale": "short and clear"}]})
    monkeypatch.setattr(backend, "_generate", lambda msgs: (f"Sure! {reply}", 10, 5))
    (o,) = backend.run([Request("score", DOC, anchors, "v1")])
    assert o.ok and o.data == {"scores": {"a00": {"score": 4, "rationale": "short and clear"}}}
