"""Review (session 31) of the GPU-ready students and the local servers: the fine-tuned encoder at its max_length
bound and with an anchor constant in train, an MLflow UI killed while it starts, and seeded random checks of the
generative student's reply parsing, its expected-score reading and its prompt cut. Everything runs on CPU with tiny
models built here or in tests/conftest.py."""

from __future__ import annotations

import json
import math
import random
import signal
import subprocess
import sys
import textwrap
import time

import numpy as np
import pytest

from mira_core.config import FinetuneParams, GenerativeParams
from mira_core.errors import ConfigError
from mira_core.students import Inputs, load_student
from mira_core.students.finetune import FinetuneStudent
from mira_core.students.generative import GenerativeStudent, parse_reply, render_prompt
from mira_core.teachers.base import ReplyError
from tests.conftest import REPO

TEXTS = ["hello world", "bad text here", "fine"]


pytestmark = pytest.mark.usefixtures("one_thread")  # tests/mira_core/students/conftest.py


def finetune(tiny_encoder, **kw) -> FinetuneStudent:
    p = FinetuneParams(**({"epochs": 2, "batch_size": 2, "max_length": 16, "device": "cpu"} | kw))
    return FinetuneStudent(p, ["a00", "a01"], (1, 5), str(tiny_encoder), seed=0)


@pytest.mark.parametrize("max_length", [1, 2])
def test_a_finetune_max_length_that_leaves_no_text_is_named(tiny_encoder, max_length):
    # [CLS] and [SEP] take 2 tokens: at 2 every record was read as those two alone (one score for all records, a
    # constant student, silently); at 1 the tokenizer did not truncate at all and read more than max_length tokens
    student = finetune(tiny_encoder, max_length=max_length)
    with pytest.raises(ConfigError, match=rf"distill.finetune.max_length = {max_length}: .*2 special tokens.*use 3"):
        student.fit(Inputs(texts=TEXTS), np.array([[1, 3], [5, 3], [2, 3]]))
    finetune(tiny_encoder, max_length=3).fit(Inputs(texts=TEXTS), np.array([[1, 3], [5, 3], [2, 3]]))


def test_a_finetune_anchor_constant_in_train_is_predicted_as_that_value(tiny_encoder, tmp_path):
    # its head row started random and, trained toward 0 for a few steps, scored every record by noise (2.5 .. 2.8
    # for a constant 3): the anchor then ranked records by nothing, where ridge and the mlp head give the constant
    student = finetune(tiny_encoder)
    student.fit(Inputs(texts=TEXTS), np.array([[1, 3], [5, 3], [2, 3]]))
    x = Inputs(texts=["x", "hello world", "zzz qq", ""])
    pred = student.predict(x, clipped=False)
    assert pred[:, 1].tolist() == [3.0] * 4
    assert len(set(pred[:, 0].tolist())) > 1  # the other anchor still reads the record
    student.save(tmp_path / "s")
    np.testing.assert_array_equal(load_student(tmp_path / "s").predict(x, clipped=False), pred)


# ------------------------------------------------------------------------------------------------ the MLflow UI

CHILD = textwrap.dedent('''
    import sys
    from pathlib import Path
    import flows.servers as S

    state, port, www = Path(sys.argv[1]), int(sys.argv[2]), sys.argv[3]
    real_start = S._start

    def start(cmd, env, log):  # a stand-in that never answers /health (no such file): the start never ends
        proc = real_start([sys.executable, "-m", "http.server", "--bind", "127.0.0.1", "--directory", www, str(port)],
                          env, log)
        print(proc.pid, flush=True)
        return proc

    S._start = start
    with S.mlflow_ui("sqlite:///x.db", state / "mlruns", state, "127.0.0.1", port, timeout=300):
        pass
''')


def test_an_mlflow_ui_killed_while_it_starts_is_stopped_by_the_next_mira_ui(tmp_path):
    # the record was written once the server answered: a `mira ui` killed in the seconds MLflow takes to start left
    # a server in its own session, holding --mlflow-port, that no later `mira ui` knew of (its port 'in use' for good)
    import os

    from flows.servers import ORPHANS, _proc_start, free_port, stop_orphaned_mlflow

    state, www = tmp_path / ".mira", tmp_path / "www"
    www.mkdir()
    port = free_port()
    child = subprocess.Popen([sys.executable, "-c", CHILD, str(state), str(port), str(www)], cwd=REPO,
                             stdout=subprocess.PIPE, text=True)
    server = None
    try:
        server = int(child.stdout.readline())
        start = _proc_start(server)
        time.sleep(0.5)  # the child is in its wait for /health
        child.send_signal(signal.SIGKILL)  # no clean-up runs
        child.wait()
        assert _proc_start(server) == start  # the server outlived it
        assert len(list((state / ORPHANS).glob("*.json"))) == 1
        assert stop_orphaned_mlflow(state) == [f"http://127.0.0.1:{port}"]
        deadline = time.monotonic() + 30
        while _proc_start(server) == start and time.monotonic() < deadline:
            time.sleep(0.1)
        assert _proc_start(server) != start
        assert not list((state / ORPHANS).glob("*.json"))
    finally:
        child.kill()
        child.wait()
        if server is not None and _proc_start(server) == start:  # the check failed: stop the stand-in here
            os.killpg(server, signal.SIGKILL)


# ------------------------------------------------------------------------------------- seeded random invariants

ANCHORS = ["a00", "a01"]
FRAGMENTS = ['{', '}', '[', ']', '"scores"', ':', ',', '"anchor"', '"a00"', '"a01"', '"score"', '3', '9', '-1',
             '1e400', '"rationale"', '"x"', 'null', 'true', '<think>', '</think>', '```json', ' ', '\n', '3.0', '"3"',
             '\u0663', '1' * 30]


def _random_reply(rng: random.Random) -> str:
    if rng.random() < 0.5:  # fragments of the shape, in any order
        return "".join(rng.choice(FRAGMENTS) for _ in range(rng.randint(0, 30)))
    items = [{"anchor": a, "score": rng.randint(1, 5), "rationale": rng.choice(["", "x", "\u00e9 }"])} for a in ANCHORS]
    rng.shuffle(items)
    for _ in range(rng.choice([0, 0, 1, 2])):  # a valid reply, or one with a field or an item broken
        item, key = rng.choice(items), rng.choice(["anchor", "score", "rationale", None])
        if key is None and rng.random() < 0.5:
            items.append(dict(item))  # an anchor twice
        elif key is None:
            items.remove(item)  # an anchor missing
        else:
            item[key] = rng.choice([*ANCHORS, "zz", 3, None, 0, 6, 2.5, "3", True, 10**30])
    obj: object = {"scores": items}
    if rng.random() < 0.2:
        obj = rng.choice([[obj], 3, "s", None, {"scores": None}])
    return rng.choice(["", "prose ", "```json\n", "<think>{}</think>"]) + json.dumps(obj) + rng.choice(["", " }", "```"])


def test_parse_reply_gives_every_anchor_an_integer_on_the_scale_or_a_reply_error():
    rng = random.Random(0)
    parsed = 0
    for _ in range(600):
        text = _random_reply(rng)
        try:
            scores, why = parse_reply(text, ANCHORS, (1, 5))
        except ReplyError:
            continue
        parsed += 1
        assert list(scores) == ANCHORS and all(type(v) is int and 1 <= v <= 5 for v in scores.values()), text
        assert list(why) == ANCHORS and all(isinstance(v, str) for v in why.values()), text
    assert parsed > 10  # the generator reaches valid replies too


def test_expected_scores_from_served_logprobs_stay_finite_and_on_the_scale():
    rng = random.Random(1)
    for _ in range(600):
        lo = rng.choice([0, 1, 2])
        hi = rng.choice([lo + 1, 5, 9, 10])
        anchors = ["a00", "a01", "a02"][: rng.randint(1, 3)]
        student = GenerativeStudent(GenerativeParams(model="x", device="cpu"), anchors, (lo, hi))
        toks, written = [], {}
        for a in anchors:
            written[a] = rng.randint(lo, hi)
            pieces = ['{"', "anchor", '":', ' "', a, '",', ' "', "score", '":', rng.choice([" ", ""]) + str(written[a]),
                      "}"]
            toks += pieces[::-1] if rng.random() < 0.2 else pieces
        tops = []
        for t in toks:
            alt = [t, t.replace(t.strip(), str(rng.randint(0, 12)), 1) if t.strip() else t, "x", " 3", "\u0663"]
            top = {rng.choice(alt): rng.choice([-0.1, -2.0, -50.0, 0.0, -1e308, -math.inf])
                   for _ in range(rng.randint(0, 6))}
            tops.append(top if rng.random() > 0.05 else rng.choice([None, {}]))
        lp = {"tokens": toks, "top_logprobs": tops,
              "token_logprobs": None if rng.random() < 0.05 else [rng.choice([None, -0.5, -3.0]) for _ in toks]}
        got = student._expected_from_logprobs(lp, written)
        assert set(got) <= set(anchors)
        assert all(math.isfinite(v) and lo <= v <= hi for v in got.values()), (lo, hi, got)


def test_a_prompt_fits_max_input_tokens_whole_cut_or_is_a_config_error(tiny_causal_lm):
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(str(tiny_causal_lm))
    words = ["score", "the", "\u65e5\u672c", "\u00e9", "<<<", "END DOCUMENT>>>", "\n", "$x", "${document}", "{", "}"]
    rng = random.Random(3)

    def n_tokens(text: str, chars: int) -> int:
        return len(tokenizer(render_prompt(text, ANCHORS, (1, 5), chars))["input_ids"])

    for _ in range(200):
        text = " ".join(rng.choice(words) for _ in range(rng.randint(0, 200)))
        limit, chars = rng.randint(10, 400), rng.randint(1, 2000)
        student = GenerativeStudent(GenerativeParams(model="x", device="cpu", max_input_tokens=limit,
                                                     max_doc_chars=chars), ANCHORS, (1, 5))
        student.tokenizer = tokenizer
        try:
            ids = student._prompt_ids(text)
        except ConfigError:
            assert n_tokens(text, 0) > limit  # only when not even the prompt without the record's text fits
            continue
        assert len(ids) <= limit
        if n_tokens(text, chars) <= limit:  # a prompt that fits is not cut
            assert ids == tokenizer(render_prompt(text, ANCHORS, (1, 5), chars))["input_ids"]
