"""Review round 32 of the planted-defect generator: what `mira planted build` refuses with a message naming what the
user gave, and randomized checks that every planted defect is really there and every good record really good."""

from __future__ import annotations

import ast
import json
import random
from pathlib import Path

import pytest
from typer.testing import CliRunner

from mira_core.demo_corpus import Roots
from mira_core.errors import ConfigError
from mira_core.ingest.render import render_messages, render_qa
from mira_core.planted import build_planted_corpus
from mira_core.planted_defects import DEFECTS


def _roots(tmp_path: Path) -> Roots:
    """A tiny installation: a few documented modules with doctests, no docs."""
    std, sp, inc = (tmp_path / x for x in ("std", "sp", "inc"))
    for p in (std, sp, inc):
        p.mkdir()
    for j in range(4):
        body = "".join(f'def func_{i}(v):\n    """Times {i}.\n\n    >>> func_{i}(2)\n    {2 * i + j}\n    """\n'
                       f"    return v * {i} + {j}\n\n\n" for i in range(6))
        (std / f"mod_{j}.py").write_text(body)
    return Roots(std, sp, inc)


@pytest.mark.parametrize("seed", [-1, 2**32])
def test_a_seed_out_of_range_is_a_config_error_naming_it(tmp_path, seed):
    # DemoCorpusParams refused it with pydantic's ValidationError, naming a model the user never wrote, and
    # `mira planted build --seed -1` printed a traceback
    with pytest.raises(ConfigError, match=rf"seed = {seed}: must be from 0"):
        build_planted_corpus(tmp_path / "out", seed=seed, records_per_source=4, roots=_roots(tmp_path))


def test_mira_planted_build_with_a_negative_seed_says_so_without_a_traceback(tmp_path):
    from flows.planted import app

    r = CliRunner().invoke(app, ["build", str(tmp_path / "out"), "--seed", "-1", "--records", "4"])
    assert r.exit_code == 2 and "seed = -1" in r.output and "Traceback" not in r.output, r.output


@pytest.mark.parametrize("under", [False, True])
def test_an_out_that_is_a_file_is_a_config_error_naming_it(tmp_path, under):
    # FileExistsError (the folder is a file) or NotADirectoryError (a folder above it is), after the sources were made
    f = tmp_path / "corpus [1].txt"
    f.write_text("not a folder\n")
    out = f / "raw" if under else f
    with pytest.raises(ConfigError, match=r"corpus \[1\]\.txt: a file, not a folder"):
        build_planted_corpus(out, seed=0, records_per_source=4, roots=_roots(tmp_path))
    assert f.read_text() == "not a folder\n"


# ---------------------------------------------------------------- randomized: each defect is there, on many inputs
WORDS = ("alpha", "béta", "x1", "日本語", "data", "é", "42", "foo_bar", "Ünïcode", "a", "(note)", "`code`")


def _program(r: random.Random) -> str:
    parts = []
    for i in range(r.randint(1, 8)):
        parts.append(r.choice([f"def f{i}(a, b=({i}, [1, 2])):\n    return {{'k': a[0:1]}}",
                               f"x{i} = [{i}, ({i},), {{{i}: {i}}}]",
                               f"class C{i}:\n    y: int = {i}\n    def m(self): return self.y",
                               f"s{i} = f'{{x!r:>{i}}}' if (x := {i}) else None",
                               f"if {i}:\n    pass\n\x0c",
                               f"lam{i} = lambda q: q[::2]  # (comment: [x]"]))
    return "\n".join(parts) + "\n"


def _page(r: random.Random) -> str:
    paras: list[str] = []
    while sum(map(len, paras)) < 600:  # the builder's sections are 600 characters or more
        paras.append(" ".join(r.choice(WORDS) for _ in range(r.randint(1, 30))) + r.choice([".", "", "!", " -"]))
    return "\n\n".join(paras)


def _trace(r: random.Random) -> list[dict]:
    msgs = [{"role": "system", "content": "s"}, {"role": "user", "content": "Show me `m.f`."}]
    for i in range(r.randint(1, 8)):
        code = r.choice(["1+1", "print('é')", "x = {'a': [1, 2]}\nx", "", '"q"', "{}"])
        msgs += [{"role": "assistant", "content": None, "tool_calls": [
                     {"id": f"call_{i}", "type": "function", "function": {"name": "python",
                                                                          "arguments": json.dumps({"code": code})}}]},
                 {"role": "tool", "tool_call_id": f"call_{i}", "content": r.choice(["1", "(no output)", "é"])}]
    return [*msgs, {"role": "assistant", "content": "`f`: done"}]


def _parses(code: str) -> bool:
    try:
        ast.parse(code)
    except (SyntaxError, ValueError):
        return False
    return True


def _invalid_json(s: str) -> bool:
    try:
        json.loads(s)
    except json.JSONDecodeError:
        return True
    return False


def test_randomized_every_defect_is_really_there_and_differs_from_its_original():
    for n in range(200):
        r = random.Random(n)
        code, page, trace = _program(r), _page(r), _trace(r)
        assert _parses(code)
        broken = DEFECTS["syntax_error"]({"id": "m.py", "text": code}, random.Random(n), [])["text"]
        assert not _parses(broken), (n, code)
        assert DEFECTS["minified"]({"id": "m.py", "text": code}, random.Random(n), [])["text"] != code
        for kind in ("spam", "boilerplate", "truncated", "garbled"):
            out = DEFECTS[kind]({"id": "d", "text": page}, random.Random(n), [])["text"]
            assert out.strip() and out != page, (n, kind)
        cut = DEFECTS["truncated"]({"id": "d", "text": page}, random.Random(n), [])["text"]
        assert page.startswith(cut) and len(cut) <= 0.35 * len(page), n
        rec = {"id": "t", "messages": trace}
        for kind in ("broken_tool_json", "tool_loop", "no_final_answer"):
            out = DEFECTS[kind](rec, random.Random(n), [])["messages"]
            assert render_messages(out) != render_messages(trace), (n, kind)
        out = DEFECTS["broken_tool_json"](rec, random.Random(n), [])["messages"]
        assert any(_invalid_json(c["function"]["arguments"]) for m in out for c in (m.get("tool_calls") or []))
        question = f"Write the function `g{n}(a, *b, c=1)` of the Python module `m`.\n\nDoc."
        answer = f"{'async ' if n % 2 else ''}def g{n}(a, *b, c=1):\n    '''Doc.'''\n    return a\n"
        qa = {"id": "q", "question": question, "answer": answer}
        pool = [qa, *({"id": f"p{j}", "question": "q", "answer": f"def h{j}(x):\n    return x\n"} for j in range(3))]
        for kind in ("empty_answer", "echoed_answer", "wrong_answer"):
            out = DEFECTS[kind](qa, random.Random(n), pool)
            assert render_qa(out["question"], out["answer"]) != render_qa(question, answer), (n, kind)
