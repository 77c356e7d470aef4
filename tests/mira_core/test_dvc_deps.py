"""The paths params name that a stage reads, and the warning when dvc.yaml does not list them: DVC sees only the
params string, so a model retrained in place at the same path would never re-run the stage."""

from __future__ import annotations

import yaml

from flows.params import load_params
from mira_core.dvc_deps import param_paths, untracked_param_paths
from mira_core.ingest.source import untracked_by_dvc


def _project(tmp_path, **sections) -> object:
    params = {"sources": [{"name": "a", "path": "a.jsonl", "format": "text"}], **sections}
    (tmp_path / "params.yaml").write_text(yaml.safe_dump(params))
    return load_params(tmp_path / "params.yaml")


def test_each_stage_names_the_local_paths_its_params_point_to(tmp_path):
    for folder in ("tok", "enc", "lm"):
        (tmp_path / folder).mkdir()
    (tmp_path / "tok" / "tokenizer.json").write_text("{}")
    (tmp_path / "other.parquet").write_bytes(b"x")
    (tmp_path / "bench.jsonl").write_text("{}\n")
    p = _project(tmp_path, ingest={"tokenizer": "tok"}, embed={"encoder": "enc"},
                 distill={"student": "generative", "generative": {"model": "lm"}},
                 select={"materialize": "megatron"}, evaluate={"manifests": {"other": "other.parquet"}},
                 decontaminate={"benchmarks": [{"name": "b", "path": "bench.jsonl", "fields": ["prompt"]}]})
    got = {s: [x.relative_to(tmp_path).as_posix() for x in param_paths(s, p, tmp_path)]
           for s in ("ingest", "decontaminate", "embed", "distill", "select", "evaluate", "group", "score")}
    assert got == {"ingest": ["tok"], "decontaminate": ["bench.jsonl"], "embed": ["enc"], "distill": ["lm"],
                   "select": ["tok"], "evaluate": ["other.parquet"], "group": [], "score": []}
    # a finetune student reads the encoder's folder; a JSONL export does not tokenize
    p = _project(tmp_path, embed={"encoder": "enc"}, distill={"student": "finetune"}, select={"materialize": "jsonl"},
                 ingest={"tokenizer": "tok"})
    assert [x.name for x in param_paths("distill", p, tmp_path)] == ["enc"] and param_paths("select", p, tmp_path) == []
    # a static encoder's transformer embeds discover's judgments and is what finetune trains
    p = _project(tmp_path, embed={"encoder": "static", "static_source": "enc"}, distill={"student": "finetune"})
    assert [x.name for x in param_paths("discover", p, tmp_path)] == ["enc"]
    assert [x.name for x in param_paths("distill", p, tmp_path)] == ["enc"]
    assert [x.name for x in param_paths("embed", p, tmp_path)] == ["enc"]


def test_bundled_names_and_missing_paths_are_not_deps(tmp_path):
    p = _project(tmp_path)  # minilm tokenizer, static encoder from minilm, HumanEval from its package, rules teacher
    assert all(param_paths(s, p, tmp_path) == [] for s in ("ingest", "decontaminate", "embed", "discover", "distill"))


def test_a_params_path_dvc_yaml_does_not_list_is_warned_of(tmp_path):
    (tmp_path / "enc").mkdir()
    p = _project(tmp_path, embed={"encoder": "enc"})
    assert untracked_param_paths("embed", p, tmp_path) == []  # no dvc.yaml: nothing to say
    (tmp_path / "dvc.yaml").write_text(yaml.safe_dump({"stages": {"embed": {"cmd": "mira stage embed",
                                                                            "deps": ["data/corpus"]}}}))
    (warning,) = untracked_param_paths("embed", p, tmp_path)
    assert str(tmp_path / "enc") in warning and "embed stage does not list" in warning
    (tmp_path / "dvc.yaml").write_text(yaml.safe_dump({"stages": {"embed": {"cmd": "mira stage embed",
                                                                            "deps": ["data/corpus", "enc"]}}}))
    assert untracked_param_paths("embed", p, tmp_path) == []


def test_the_sources_check_still_reads_the_ingest_deps(tmp_path):
    (tmp_path / "d").mkdir()
    (tmp_path / "dvc.yaml").write_text(yaml.safe_dump({"stages": {"ingest": {"cmd": "x", "deps": ["d"]}}}))
    inputs = {"a": [tmp_path / "d" / "a.jsonl"], "b": [tmp_path / "b.jsonl"]}
    (warning,) = untracked_by_dvc(inputs, tmp_path)
    assert warning.startswith("source 'b' reads")
