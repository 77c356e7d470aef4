"""End to end: `mira init` over a user's JSONL, Parquet and saved Hugging Face dataset, outside the repository,
then `dvc repro` there with the rules teacher; the manifests' counts balance. The same over the same sources
on an S3-compatible server (moto's, on 127.0.0.1: tests/mira_core/test_remote_sources.py's `s3` fixture)."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import polars as pl
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import yaml

from tests.conftest import tool_env, write_jsonl
from tests.mira_core.test_remote_sources import s3  # noqa: F401 (the fixture, started only for the s3 variant)

REPO = Path(__file__).resolve().parents[2]
WORDS = ["data", "model", "token", "budget", "source", "group", "anchor", "rubric", "student", "teacher",
         "record", "shard", "corpus", "signal"]


def _sh(cmd: list[str], cwd: Path) -> str:
    res = subprocess.run(cmd, cwd=cwd, env=tool_env(), capture_output=True, text=True)
    assert res.returncode == 0, f"{' '.join(cmd)} failed:\n{res.stdout}\n{res.stderr}"
    return res.stdout + res.stderr


def _user_data(folder: Path, n: int = 60) -> dict[str, Path]:
    """Three sources as a user has them: prose JSONL, code Parquet, a QA dataset saved with save_to_disk."""
    datasets = pytest.importorskip("datasets")
    datasets.disable_progress_bars()
    prose = [{"doc_id": f"d{i}", "text": " ".join(f"The {WORDS[(i + j) % len(WORDS)]} of record {i} is "
                                                  f"described in sentence {j}." for j in range(2 + i % 7))}
             for i in range(n)]
    code = [{"content": f"def f_{i}(x, y={i}):\n    '''Add {i} to x.'''\n" + "    z = x + y\n" * (1 + i % 5)
             + "    return z\n", "path": f"pkg/mod_{i}.py"} for i in range(n)]
    qa = [{"prompt": f"What does the {WORDS[i % len(WORDS)]} do in step {i}?",
           "response": f"In step {i} it " + " and ".join(WORDS[: 1 + i % 6]) + "."} for i in range(n)]
    paths = {"docs": write_jsonl(folder / "docs.jsonl", prose), "code": folder / "code.parquet",
             "qa": folder / "qa_saved"}
    pq.write_table(pa.Table.from_pylist(code), paths["code"])
    datasets.Dataset.from_list(qa).save_to_disk(str(paths["qa"]))
    return paths


@pytest.mark.slow
@pytest.mark.parametrize("where", ["local", "s3"])
def test_init_then_repro_on_the_users_own_data(tmp_path, request, where):
    data = _user_data(tmp_path / "user_data")
    if where == "s3":  # the same files as objects; credentials and endpoint in the environment only
        server = request.getfixturevalue("s3")
        data = {name: server.upload(p, f"user_data/{p.name}") for name, p in data.items()}
    out = _sh(["mira", "init", "proj", *(a for name, p in data.items() for a in ("--source", f"{name}={p}"))],
              tmp_path)
    assert "reader hf_dataset, format qa, question_field: prompt, answer_field: response" in out, out
    assert "format code, text_field: content" in out and "docs" in out, out
    root = tmp_path / "proj"
    for f in ("params.yaml", "dvc.yaml", "README.md", ".gitignore"):
        assert str(REPO) not in (root / f).read_text(), f  # the installed package is enough
    dvc = yaml.safe_load((root / "dvc.yaml").read_text())["stages"]
    assert "demo_corpus" not in dvc and dvc["ingest"]["deps"] == [str(p) for p in data.values()]

    params = yaml.safe_load((root / "params.yaml").read_text())
    params["discover"].update(records_per_group=20, n_anchors=6)
    params["label"]["records_per_group"] = 60
    (root / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    _sh(["mira", "params"], root)
    _sh(["git", "add", "-A"], root)
    _sh(["git", "commit", "-qm", "mira project"], root)
    _sh(["dvc", "repro"], root)

    ingest = json.loads((root / "metrics" / "ingest.json").read_text())
    assert set(ingest["sources"]) == set(data)
    for name, r in ingest["sources"].items():
        assert r["read"] == 60 == r["kept"] + r["quarantined"], name
    corpus = pl.read_parquet(root / "data" / "corpus" / "*" / "part-*.parquet")
    assert corpus.height == ingest["total"]["kept"]
    assert dict(corpus.group_by("source").agg(pl.first("format")).iter_rows()) == {
        "docs": "text", "code": "code", "qa": "qa"}
    score = json.loads((root / "metrics" / "score.json").read_text())
    select = json.loads((root / "metrics" / "select.json").read_text())
    assert {"mira", "random", "length"} <= set(select["methods"])
    for name, m in select["methods"].items():
        assert sum(m["reasons"].values()) == m["records"] == score["records"], name  # counts balance
        assert m["kept_tokens"] <= m["budget_tokens"], name
    manifest = pl.read_parquet(root / "data" / "selection" / "mira" / "manifest.parquet")
    assert manifest.height == score["records"]
    kept = pl.read_parquet(root / "data" / "selection" / "mira" / "records" / "*" / "*.parquet")
    assert kept.height == select["methods"]["mira"]["kept_records"] > 0
    assert json.loads((root / "metrics" / "evaluate.json").read_text())["enabled"] is False
    assert (root / "reports" / "report.html").stat().st_size > 10_000
    assert "selection   MIRA kept" in _sh(["mira", "summary"], root)
    assert _sh(["dvc", "status"], root).strip().endswith("Data and pipelines are up to date.")


def test_init_takes_field_names_from_the_command_line(tmp_path):
    from typer.testing import CliRunner

    from flows.cli import app
    from mira_core.errors import ConfigError

    odd = write_jsonl(tmp_path / "odd.jsonl", [{"q": f"What is {i}?", "a": f"It is {i}.", "id": i} for i in range(3)])
    args = ["init", str(tmp_path / "proj"), "--source", f"odd={odd}", "--no-scm"]
    res = CliRunner().invoke(app, args)
    assert isinstance(res.exception, ConfigError) and "--field odd.question_field=KEY" in str(res.exception)
    res = CliRunner().invoke(app, [*args, "--field", "odd.question_field=q", "--field", "odd.answer_field=a"])
    assert res.exit_code == 0, res.output
    assert "reader jsonl, format qa, question_field: q, answer_field: a, id_field: id" in res.output
    assert "record ids from 'id'" in res.output and "given: question_field 'q', answer_field 'a'" in res.output
    source = yaml.safe_load((tmp_path / "proj" / "params.yaml").read_text())["sources"][0]
    assert {k: source[k] for k in ("format", "question_field", "answer_field", "id_field")} == {
        "format": "qa", "question_field": "q", "answer_field": "a", "id_field": "id"}
