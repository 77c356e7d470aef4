"""What `mira init` prints when it is done: only the set-up it ran, and a `next:` line that pastes as it is."""

from __future__ import annotations

import shlex
import subprocess

from typer.testing import CliRunner

from flows.cli import app
from tests.conftest import write_jsonl

ROWS = [{"text": f"Record {i} is a paragraph of prose.\nIt explains a topic in plain words."} for i in range(3)]


def _init(folder, docs, *more: str) -> list[str]:
    res = CliRunner().invoke(app, ["init", str(folder), "--source", f"docs={docs}", *more])
    assert res.exit_code == 0, (res.output, res.exception)
    return res.output.splitlines()


def test_the_next_line_quotes_the_folder_and_the_wrote_line_names_only_what_ran(tmp_path):
    docs = write_jsonl(tmp_path / "docs.jsonl", ROWS)
    folder = tmp_path / "my 'proj'"
    lines = _init(folder, docs, "--no-scm")
    assert lines[-2] == "wrote params.yaml, dvc.yaml, README.md, .gitignore"  # --no-scm: no git init, no dvc init
    nxt = lines[-1]
    assert nxt.startswith(f"next: cd {shlex.quote(str(folder))} && mira params && ")
    assert shlex.split(nxt.removeprefix("next: "))[:2] == ["cd", str(folder)]  # one word, the folder, once parsed
    assert "mira params && git init && dvc init && git add -A" in nxt  # not a repository yet: say to make it one

    repo = tmp_path / "repo"
    repo.mkdir()
    subprocess.run(["git", "init", "-q"], cwd=repo, check=True)
    assert _init(repo, docs)[-2] == "wrote params.yaml, dvc.yaml, README.md, .gitignore; dvc init"  # .git was there
    fresh = _init(tmp_path / "fresh", docs)
    assert fresh[-2] == "wrote params.yaml, dvc.yaml, README.md, .gitignore; git init, dvc init"
    assert "git init && dvc init" not in fresh[-1]  # done already
