"""Scenario s31 (generative student): a user's own 3-source corpus, `distill.student: generative` on a tiny causal
LM, rules teacher, the default runner (threads, 2 workers). Bugs found there, reproduced on tiny data."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import pytest

from mira_core.config import GenerativeParams
from mira_core.students.base import Inputs
from mira_core.students.generative import GenerativeStudent
from tests.mira_core.students.test_generative import build_tiny_lm


@pytest.fixture(scope="module")
def tiny(tmp_path_factory) -> Path:
    return build_tiny_lm(tmp_path_factory.mktemp("s31_tiny_lm"), n_embd=32, positions=256)


def _loaded_student(model: Path) -> GenerativeStudent:
    """A student as the score stage has it after `GenerativeStudent.load`: tokenizer read, weights not yet."""
    s = GenerativeStudent(GenerativeParams(model=str(model), max_new_tokens=8, max_input_tokens=200, device="cpu"),
                          ["a00", "a01"], (1, 5))
    s._load(model, model=False)
    return s


def test_two_groups_students_never_run_from_pretrained_at_once(tiny, monkeypatch):
    from transformers import AutoModelForCausalLM

    original = AutoModelForCausalLM.from_pretrained.__func__
    state = {"now": 0, "most": 0}
    lock = threading.Lock()

    def counting(cls, *a, **kw):
        with lock:
            state["now"] += 1
            state["most"] = max(state["most"], state["now"])
        try:
            time.sleep(0.3)  # a real load of SmolLM2 takes about a second: long enough for the other thread to enter
            return original(cls, *a, **kw)
        finally:
            with lock:
                state["now"] -= 1

    monkeypatch.setattr(AutoModelForCausalLM, "from_pretrained", classmethod(counting))
    students = [_loaded_student(tiny), _loaded_student(tiny)]  # g0's and g1's students, one score task each
    errors: list[BaseException] = []

    def score(s: GenerativeStudent) -> None:
        try:
            s.predict_explained(Inputs(texts=["def add(a, b):\n    return a + b\n"]))
        except BaseException as e:  # noqa: BLE001 - reported below
            errors.append(e)

    threads = [threading.Thread(target=score, args=(s,)) for s in students]
    [t.start() for t in threads]
    [t.join() for t in threads]
    assert not errors, errors
    for s in students:  # each model whole: its output layer is its (loaded) input embedding
        assert s.model.lm_head.weight.data_ptr() == s.model.transformer.wte.weight.data_ptr()
    assert state["most"] == 1, f"{state['most']} from_pretrained calls ran at once"


def test_an_anchor_the_teacher_varies_on_is_not_called_constant_when_most_val_records_are_unscored():
    import numpy as np

    from mira_core.config import SelectParams
    from mira_core.reliability import agreement
    from mira_core.selection import _judge

    # the run's g0/code/a00: the teacher's val labels 1,5,5,5,5,5; the generative student parsed 2 of the 6 replies
    truth = np.array([1, 5, 5, 5, 5, 5], float)
    pred = np.array([np.nan, np.nan, np.nan, np.nan, 5.0, 4.9])
    m = agreement(truth, pred)
    assert (m["n"], m["unscored"]) == (2, 4)
    assert m["teacher_constant"] is False  # the teacher gave 1 to one record and 5 to the others
    on, why = _judge(m, SelectParams())
    assert not on and "fewer than 3 scored val records" in why, why


def test_mira_init_ignores_every_stage_output_before_any_run(tmp_path):
    import subprocess

    import yaml

    from tests.conftest import tool_env, write_jsonl

    write_jsonl(tmp_path / "in" / "web.jsonl", [{"text": f"A plain sentence about topic {i}."} for i in range(5)])
    res = subprocess.run(["mira", "init", "proj", "--source", f"web={tmp_path / 'in' / 'web.jsonl'}"], cwd=tmp_path,
                         env=tool_env(), capture_output=True, text=True)
    assert res.returncode == 0, res.stdout + res.stderr
    root = tmp_path / "proj"
    outs = sorted({o if isinstance(o, str) else next(iter(o)) for s in yaml.safe_load(
        (root / "dvc.yaml").read_text())["stages"].values() for o in s.get("outs", [])})
    assert "data/students" in outs
    ignored = subprocess.run(["git", "check-ignore", "--no-index", *outs], cwd=root, capture_output=True,
                             text=True).stdout.split()
    assert sorted(ignored) == outs, f"not ignored: {sorted(set(outs) - set(ignored))}"
