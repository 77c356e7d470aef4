"""Review tests (session 29) of the students: each failed before its fix.

- a loaded auto student saves the same checkpoint again (it failed: the loaded student had no params);
- torch-seeded sections of students fitted in threads (the distill stage fits two groups at once) do not read each
  other's draws: an mlp head, a fine-tuned encoder's head and dropout, LoRA adapters.
"""

from __future__ import annotations

import threading
from collections.abc import Callable

import numpy as np
import pytest

from mira_core.config import DistillParams, EmbedParams
from mira_core.students import load_student, make_student, student_version
from mira_core.students.base import Inputs

SCALE = (1, 5)


def _auto_data(n: int = 40, seed: int = 0) -> tuple[Inputs, np.ndarray]:
    rng = np.random.default_rng(seed)
    stats = rng.normal(size=(n, 3)).astype(np.float32)
    emb = rng.normal(size=(n, 8)).astype(np.float32)
    texts = [f"word{i % 5} other{i % 3} text" for i in range(n)]
    y = np.clip(np.rint(np.stack([3 + stats[:, 0], 3 + 1.5 * emb[:, 0]], 1)), *SCALE)
    return Inputs(texts=texts, embeddings=emb, stats=stats), y


def test_a_loaded_auto_student_saves_the_same_checkpoint_again(tmp_path):
    # every other kind re-saves as loaded (test_students.py); auto failed with AttributeError: no attribute 'p'
    x, y = _auto_data()
    student = make_student(DistillParams(student="auto"), ["a00", "a01"], SCALE, EmbedParams(), {"encoder": "e"})
    student.fit(x, y)
    student.save(tmp_path / "ckpt")
    loaded = load_student(tmp_path / "ckpt")
    np.testing.assert_array_equal(loaded.predict(x, clipped=False), student.predict(x, clipped=False))
    loaded.save(tmp_path / "again")
    assert student_version(tmp_path / "again") == student_version(tmp_path / "ckpt")
    assert (tmp_path / "again" / "config.json").read_bytes() == (tmp_path / "ckpt" / "config.json").read_bytes()


# --------------------------------------------------------------------------- seeded sections in threads


def _overlapping(monkeypatch, owner: object, name: str, fits: list[Callable[[], dict]]) -> list[dict]:
    """Run two fits in threads, with `owner.name` (called inside a student's seeded section) patched so that their
    seeded sections overlap as far as the students let them: the first to arrive waits there (1 s at most) for the
    second, which then waits until the first fit has returned. Returns each fit's result."""
    real = getattr(owner, name)
    guard, arrived, first_done = threading.Lock(), threading.Event(), threading.Event()
    seen: list[int] = []

    def at_seeded_point(*args, **kwargs):
        me = threading.get_ident()
        with guard:
            new, first = me not in seen, not seen
            if new:
                seen.append(me)
        if new and first:
            arrived.wait(1.0)  # a student that seeds one group at a time never lets the second arrive here
        elif new:
            arrived.set()
            first_done.wait(10.0)
        return real(*args, **kwargs)

    monkeypatch.setattr(owner, name, at_seeded_point)
    out: list[dict | None] = [None, None]

    def run(i: int) -> None:
        out[i] = fits[i]()
        if seen and seen[0] == threading.get_ident():
            first_done.set()

    threads = [threading.Thread(target=run, args=(i,)) for i in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    monkeypatch.setattr(owner, name, real)
    return out


def _same(a: dict, b: dict) -> bool:
    return a.keys() == b.keys() and all(np.array_equal(a[k], b[k]) for k in a)


def _assert_threads_match_lone_fits(monkeypatch, owner: object, name: str, fit: Callable[[int], Callable[[], dict]]
                                    ) -> None:
    """Fits 0 and 1 overlapping in threads give what each gives alone (torch on one thread, so that its own
    parallel sums cannot tell them apart)."""
    import torch

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        alone = [fit(0)(), fit(1)()]
        together = _overlapping(monkeypatch, owner, name, [fit(0), fit(1)])
    finally:
        torch.set_num_threads(threads)
    assert _same(together[0], alone[0]) and _same(together[1], alone[1])


def test_mlp_heads_fitted_in_threads_start_from_their_seeds(monkeypatch):
    # two groups fitted at once: the second's initialisation was drawn from the state the first restored on leaving
    # its section, not from its seed, so the same labels gave another student than a lone fit did
    import mira_core.students.mlp as mlp_module
    from mira_core.config import HeadParams
    from mira_core.students.head import HeadStudent

    rng = np.random.default_rng(0)
    data = [(Inputs(embeddings=rng.normal(size=(30, 6)).astype(np.float32)),
             rng.integers(1, 6, (30, 2)).astype(np.float32)) for _ in range(2)]

    def fit(i: int) -> Callable[[], dict]:
        def go() -> dict:
            s = HeadStudent(HeadParams(model="mlp", epochs=3, hidden=16), ["a", "b"], SCALE, seed=0)
            s.fit(*data[i])
            return dict(s.tensors)
        return go

    alone = [fit(0)(), fit(1)()]
    together = _overlapping(monkeypatch, mlp_module, "MLP", [fit(0), fit(1)])
    assert _same(together[0], alone[0]) and _same(together[1], alone[1])


def test_finetune_students_fitted_in_threads_start_from_their_seeds(tiny_encoder, monkeypatch):
    # `distill.auto.candidates` with finetune fits it per fold in every group at once (max_workers is cut to 1 only
    # for `student: finetune`): the head's init and the dropout masks came from another group's section

    import mira_core.students.finetune as finetune_module
    from mira_core.config import FinetuneParams
    from mira_core.students.finetune import FinetuneStudent

    rng = np.random.default_rng(1)
    data = [(Inputs(texts=[f"record {i} word{rng.integers(9)}" for i in range(12)]),
             rng.integers(1, 6, (12, 1)).astype(np.float32)) for _ in range(2)]
    params = FinetuneParams(epochs=1, batch_size=4, max_length=16, device="cpu")

    def fit(i: int) -> Callable[[], dict]:
        def go() -> dict:
            s = FinetuneStudent(params, ["a"], SCALE, encoder=str(tiny_encoder), seed=0)
            s.fit(*data[i])
            return {k: v.detach().numpy().copy() for k, v in s.model.state_dict().items()}
        return go

    _assert_threads_match_lone_fits(monkeypatch, finetune_module, "_auto_model", fit)


def test_lora_generative_students_fitted_in_threads_start_from_their_seeds(tmp_path, monkeypatch):
    # LoRA's adapters are initialised from torch's one generator: the second group's came from the state the first
    # restored, so a re-run of the stage gave another student

    from mira_core.config import GenerativeParams
    from mira_core.students.generative import GenerativeStudent
    from tests.mira_core.students.test_generative import build_tiny_lm, synthetic

    pytest.importorskip("peft")
    lm = build_tiny_lm(tmp_path / "lm", n_embd=32, n_layer=1)
    data = [synthetic(8, seed=s)[:3] for s in (3, 4)]
    params = GenerativeParams(model=str(lm), lora=True, lora_r=2, epochs=1, batch_size=8, max_new_tokens=64,
                              max_input_tokens=160, device="cpu")

    def fit(i: int) -> Callable[[], dict]:
        def go() -> dict:
            texts, y, whys = data[i]
            s = GenerativeStudent(params, ["a00", "a01"], SCALE, seed=0)
            s.fit(Inputs(texts=texts), y, rationales=whys)
            return {k: v.detach().numpy().copy() for k, v in s.model.state_dict().items()}
        return go

    _assert_threads_match_lone_fits(monkeypatch, GenerativeStudent, "_load", fit)


def test_a_missing_train_label_is_named_with_its_group_and_anchor(tmp_path):
    """A null label in train (a hand-edited labels table) gave the students' bare ValueError, naming no group, anchor
    or file; the label stage itself never writes one."""
    import polars as pl

    from mira_core.distillation import distill_group
    from mira_core.errors import ConfigError
    from mira_core.rubric import Anchor, Rubric

    rubric = Rubric(group="g3", teacher="t", prompt_version="p", sources=["s"],
                    anchors=[Anchor(id=a, name=a, description="d", exemplar_reason="r", support=1)
                             for a in ("a00", "a01")]).with_version()
    labels = pl.DataFrame({"record_id": [f"s/{i}" for i in range(6)], "split": ["train"] * 3 + ["val"] * 3,
                           "rubric_version": [rubric.version] * 6, "a00": [1, 2, 3, 4, 5, 1],
                           "a01": [1, None, 3, 4, 5, 1]})
    with pytest.raises(ConfigError, match=r"group g3: train labels missing or not finite for anchor\(s\) a01 "
                                          r"\(data/labels/g3\.parquet"):
        distill_group(labels, labels.head(0), rubric, DistillParams(), EmbedParams(), [], [], tmp_path / "out")
