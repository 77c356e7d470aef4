"""The transformers teacher with a tiny random causal LM built here: real generation, replies validated."""

from __future__ import annotations

import json
import os
import shutil

from mira_core.config import TeacherParams
from mira_core.rubric import Anchor
from mira_core.teachers import make_teacher
from mira_core.teachers.base import Doc, Request
from mira_core.teachers.local_lm import LocalLMBackend, model_digest

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
    monkeypatch.setattr(backend, "_generate", lambda msgs: (f"Sure! {reply}", 10, 5, False))
    (o,) = backend.run([Request("score", DOC, anchors, "v1")])
    assert o.ok and o.data == {"scores": {"a00": {"score": 4, "rationale": "short and clear"}}}


def test_two_checkpoints_named_alike_do_not_share_cache_entries(tiny_causal_lm, tmp_path):
    """runA/final and runB/final are both "final": the key holds the full path and a digest of the folder."""
    a, b = tmp_path / "runA" / "final", tmp_path / "runB" / "final"
    shutil.copytree(tiny_causal_lm, a)
    shutil.copytree(tiny_causal_lm, b)

    def key(folder) -> str:
        t = make_teacher(TeacherParams(provider="transformers", model=str(folder), device="cpu", cache_path="c.sqlite"),
                         tmp_path, {})
        t.cache.close()
        return t.key(Request("judge", DOC))

    assert key(a) == key(a) and key(a) != key(b)
    before = model_digest(a)
    weights = next(f for f in a.iterdir() if f.suffix in (".safetensors", ".bin"))
    os.utime(weights, ns=(weights.stat().st_atime_ns, weights.stat().st_mtime_ns + 10**9))  # a new checkpoint
    assert model_digest(a) != before


def test_after_an_interrupt_the_local_lm_generates_nothing_more(tiny_causal_lm, monkeypatch):
    """Ctrl-C sets the flag in the flow's main thread; the teacher's worker thread must stop generating."""
    from mira_core.errors import INTERRUPTED

    backend = LocalLMBackend(TeacherParams(provider="transformers", model=str(tiny_causal_lm), device="cpu",
                                           max_repairs=0))
    generated = []
    monkeypatch.setattr(backend, "_generate", lambda msgs: generated.append(msgs) or ("{}", 1, 1, False))
    reqs = [Request("judge", DOC), Request("judge", Doc("s/2", "s", "code", "x = 1\n"))]
    backend.run(reqs[:1], on_outcome=lambda i, o: INTERRUPTED.set())  # interrupted after the first answer
    try:
        outcomes = backend.run(reqs)
    finally:
        INTERRUPTED.clear()
    assert len(generated) == 1  # the first run's only request, then none
    assert [o.error_kind for o in outcomes] == ["capped", "capped"] and "interrupted" in outcomes[0].error


def test_a_prompt_past_the_models_context_fails_its_record_not_the_batch(tiny_causal_lm):
    # an IndexError deep in the model sank every request of the run, and a re-run failed the same way
    backend = LocalLMBackend(TeacherParams(provider="transformers", model=str(tiny_causal_lm), max_tokens=8,
                                           max_repairs=0, max_doc_chars=100_000, device="cpu"))
    long = Doc("r-long", "s", "text", "the cat sat on the mat " * 1200)  # ~7,000 tokens, the model reads 4,096
    out = backend.run([Request("judge", DOC), Request("judge", long)])
    assert [o.record_id for o in out] == [DOC.record_id, "r-long"]
    assert out[1].error_kind == "permanent" and "fills the model's context of 4096 tokens" in out[1].error
    assert "JSON" in out[0].error or "schema" in out[0].error  # the short one was asked, as before


def test_teachers_built_on_two_threads_share_one_loaded_model(tiny_causal_lm):
    # label's chunks each build a teacher, two threads at once: overlapping loads in transformers left tied
    # embeddings on the meta device for the rest of the process ("Cannot copy out of meta tensor")
    from concurrent.futures import ThreadPoolExecutor

    p = TeacherParams(provider="transformers", model=str(tiny_causal_lm), device="cpu", max_tokens=4, max_repairs=0)
    with ThreadPoolExecutor(2) as pool:
        backends = list(pool.map(lambda _: LocalLMBackend(p), range(6)))
    assert len({id(b.lm) for b in backends}) == 1
    assert backends[0].lm.lm_head.weight.device.type == "cpu"
    with ThreadPoolExecutor(2) as pool:
        out = list(pool.map(lambda b: b.run([Request("judge", DOC)])[0], backends[:2]))
    assert all(o.calls == 1 for o in out)


def _with_template(folder, tmp_path, template: str, bos: bool = False):
    """A copy of the tiny model whose tokenizer has `template` (and adds a BOS of its own when `bos`)."""
    from tokenizers import processors
    from transformers import AutoTokenizer

    out = tmp_path / "templated"
    shutil.copytree(folder, out)
    tok = AutoTokenizer.from_pretrained(out)
    tok.chat_template = template
    if bos:  # a token of the vocabulary (the model has no row for a new one)
        tok.bos_token = "[EOS]"
        tok._tokenizer.post_processor = processors.TemplateProcessing(
            single="[EOS] $A", special_tokens=[("[EOS]", tok.convert_tokens_to_ids("[EOS]"))])
    tok.save_pretrained(out)
    return out


def test_a_template_that_refuses_the_system_role_gets_it_folded_into_the_user_message(tiny_causal_lm, tmp_path):
    gemma_like = ("{% for m in messages %}{% if m['role'] == 'system' %}{{ raise_exception('System role not "
                  "supported') }}{% endif %}<{{ m['role'] }}>{{ m['content'] }}{% endfor %}<assistant>")
    backend = LocalLMBackend(TeacherParams(provider="transformers", model=str(_with_template(
        tiny_causal_lm, tmp_path, gemma_like)), device="cpu", max_tokens=4, max_repairs=0))
    msgs = [{"role": "system", "content": "You judge."}, {"role": "user", "content": "Judge this."}]
    assert backend._prompt(msgs) == "<user>You judge.\n\nJudge this.<assistant>"
    (o,) = backend.run([Request("judge", DOC)])  # a record's outcome, not a TemplateError out of the stage
    assert o.calls == 1


def test_a_chat_templates_bos_is_not_doubled_by_the_tokenizer(tiny_causal_lm, tmp_path, monkeypatch):
    llama_like = "{{ bos_token }}{% for m in messages %}<{{ m['role'] }}>{{ m['content'] }}{% endfor %}<assistant>"
    backend = LocalLMBackend(TeacherParams(provider="transformers", model=str(_with_template(
        tiny_causal_lm, tmp_path, llama_like, bos=True)), device="cpu", max_tokens=2, max_repairs=0))
    bos = backend.tokenizer.convert_tokens_to_ids("[EOS]")
    assert backend.tokenizer("x")["input_ids"][0] == bos  # the tokenizer adds one of its own
    seen = []
    real = backend.lm.generate
    monkeypatch.setattr(backend.lm, "generate", lambda **kw: seen.append(kw["input_ids"][0].tolist()) or real(**kw))
    backend.run([Request("judge", DOC)])
    assert seen[0][0] == bos and seen[0][1] != bos


def test_a_reply_the_context_cut_short_says_so(tiny_causal_lm):
    # a prompt that leaves room for a few tokens only: the cut reply was cached as "not JSON", naming no fix
    from mira_core.teachers import prompts

    p = TeacherParams(provider="transformers", model=str(tiny_causal_lm), device="cpu", max_tokens=400,
                      max_repairs=0, max_doc_chars=100_000)
    backend = LocalLMBackend(p)

    def doc(k: int) -> Doc:
        return Doc("r-near", "s", "text", "word " * k)

    def room(k: int) -> int:
        msgs = prompts.messages(Request("judge", doc(k)), (p.scale_min, p.scale_max), p.max_doc_chars,
                                p.max_judgments)
        return 4096 - len(backend.tokenizer(backend._prompt(msgs), add_special_tokens=False)["input_ids"])

    k = room(1) - 2  # one token a word: three tokens of room left
    assert 1 <= room(k) <= 5
    (o,) = backend.run([Request("judge", doc(k))])
    assert not o.ok and "cut it short" in o.error and "teacher.max_doc_chars" in o.error


def test_the_device_is_part_of_the_cache_key(tiny_causal_lm, tmp_path):
    # greedy decoding on a GPU and on a CPU can part ways at a near tie: their answers are not one another's
    t = make_teacher(TeacherParams(provider="transformers", model=str(tiny_causal_lm), device="cpu",
                                   cache_path="c.sqlite"), tmp_path, {})
    t.cache.close()
    assert t.settings["device"] == "cpu"
    key = t.key(Request("judge", DOC))
    t.settings = {**t.settings, "device": "cuda"}
    assert t.key(Request("judge", DOC)) != key
