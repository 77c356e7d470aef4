"""The select stage's export: kept records as JSONL or as Megatron-LM indexed datasets, each with a lineage.json
that names the params, manifest and rubric versions that made it; an upsampled source weighs more in the blend."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import polars as pl

from mira_core.ingest.tokens import load_tokenizer, token_counter, tokenizer_file, tokenizer_identity
from mira_core.io import atomic_dir, file_digest, write_parquet
from mira_core.manifests import corpus_index, export_kept
from mira_core.rubric import Anchor, Rubric, save_rubric
from mira_core.selection import select
from tests.mira_core.test_dedup import write_corpus


def _project(tmp_path):
    texts = {s: [(f"r{i}", f"{s} record {i}: " + "word " * (5 + i)) for i in range(6)] for s in ("a", "b")}
    write_corpus(tmp_path, texts)
    for shard in (tmp_path / "data" / "corpus").glob("*/*.parquet"):  # counted as ingest counts, in the export's ids
        df = pl.read_parquet(shard)
        df.with_columns(n_tokens=pl.Series(token_counter("minilm").count(df["text"].to_list()), dtype=pl.Int64)
                        ).write_parquet(shard)
    index = corpus_index(tmp_path / "data" / "corpus", {"a": "a", "b": "b"}, [])
    records = index.with_columns(score=pl.Series(np.arange(index.height, dtype=float)))
    # a is weighted 0.8 of a budget it cannot fill: all its records kept, repeated up to 3 times
    manifest = select(records, 0.9, "source", "mira", weights={"a": 0.8, "b": 0.2}, max_epochs=3.0)
    path = write_parquet(manifest, tmp_path / "manifest.parquet")
    (tmp_path / "params.yaml").write_text("select: {budget: 0.9}\n")
    save_rubric(Rubric(group="a", anchors=[Anchor(id="a00", name="n", description="d", exemplar_reason="r",
                                                  support=1)], teacher="rules", prompt_version="p", sources=["a"]),
                tmp_path / "rubrics" / "a.json")
    return manifest, path


def _fields(tmp_path, manifest_path):
    return {"tokenizer": tokenizer_file("minilm"), "commit": "abc", "params_digest": "p1",
            "rubrics": tmp_path / "rubrics"}


def test_jsonl_export_holds_the_kept_records_and_their_lineage(tmp_path):
    manifest, path = _project(tmp_path)
    out = tmp_path / "records"
    res = export_kept(tmp_path / "data" / "corpus", path, "jsonl", out, **_fields(tmp_path, path))
    kept = manifest.filter(pl.col("kept"))
    assert sum(res["records"].values()) == kept.height
    written = pl.concat([pl.read_ndjson(f) for f in sorted(out.glob("*/*.jsonl"))])
    assert sorted(written["record_id"]) == sorted(kept["record_id"])
    epochs = dict(kept.select("record_id", "epochs").iter_rows())
    assert dict(written.select("record_id", "epochs").iter_rows()) == epochs and max(epochs.values()) > 1.0
    lineage = json.loads((out / "lineage.json").read_text())
    assert lineage["manifest_digest"] == file_digest(path) and lineage["commit"] == "abc"
    assert lineage["params_digest"] == "p1" and list(lineage["rubric_versions"]) == ["a"]


def test_the_lineage_tells_an_experiment_from_the_commit_it_started_from(tmp_path):
    """`dvc exp run -S` edits params.yaml before the stages run: the commit alone would name a run whose params
    differ, so the lineage says whether params.yaml is the committed one, and the experiment's name."""
    import subprocess

    from mira_core.megatron import run_provenance

    manifest, path = _project(tmp_path)
    params = tmp_path / "params.yaml"
    assert run_provenance(tmp_path, params, {}) == {"dvc_experiment": None, "params_committed": None}  # no git
    git = ["git", "-c", "user.name=t", "-c", "user.email=t@t"]
    subprocess.run(["git", "init", "-q"], cwd=tmp_path, check=True)
    subprocess.run([*git, "commit", "-q", "--allow-empty", "-m", "empty"], cwd=tmp_path, check=True)
    assert run_provenance(tmp_path, params, {})["params_committed"] is False  # a commit, but params.yaml untracked
    subprocess.run([*git, "add", "params.yaml"], cwd=tmp_path, check=True)
    subprocess.run([*git, "commit", "-qm", "p"], cwd=tmp_path, check=True)
    assert run_provenance(tmp_path, params, {})["params_committed"] is True
    params.write_text("select: {budget: 0.5}\n")  # what `dvc exp run -S select.budget=0.5` does first
    provenance = run_provenance(tmp_path, params, {"DVC_EXP_NAME": "half"})
    assert provenance == {"dvc_experiment": "half", "params_committed": False}
    out = tmp_path / "records"
    export_kept(tmp_path / "data" / "corpus", path, "jsonl", out, **_fields(tmp_path, path), provenance=provenance)
    lineage = json.loads((out / "lineage.json").read_text())
    assert lineage["dvc_experiment"] == "half" and lineage["params_committed"] is False


def test_megatron_export_weights_an_upsampled_source_by_its_epochs(tmp_path):
    manifest, path = _project(tmp_path)
    out = tmp_path / "megatron"
    with atomic_dir(out) as tmp:  # as the select task writes it: aside, then renamed into place
        res = export_kept(tmp_path / "data" / "corpus", path, "megatron", tmp, final=out, **_fields(tmp_path, path))
    blend = (out / "blend.txt").read_text().split()
    assert all(Path(prefix + ".idx").is_file() for prefix in blend[1::2])  # the blend names the final files
    kept = manifest.filter(pl.col("kept"))
    assert res["records"] == dict(kept.group_by("source").len().iter_rows())
    epochs = dict(kept.group_by("source").agg(pl.col("epochs").max()).iter_rows())
    assert epochs["a"] > 1.0 and epochs["b"] == 1.0
    lineage = json.loads((out / "lineage.json").read_text())
    assert lineage["tokenizer_sha256"] == tokenizer_identity("minilm")["sha256"]  # the tokenizer that counted
    d = lineage["datasets"]
    share = {s: d[s]["tokens"] * epochs[s] for s in d}
    assert abs(d["a"]["weight"] - share["a"] / sum(share.values())) < 1e-9
    weights = (out / "blend.txt").read_text().split()[0::2]
    assert abs(sum(map(float, weights)) - 1.0) < 1e-6
    # the documents are the kept texts, in the target tokenizer's ids (an EOD after each)
    tok = load_tokenizer("minilm")
    first = pl.read_parquet(sorted((tmp_path / "data" / "corpus" / "a").glob("*.parquet"))[0]).filter(
        pl.col("record_id").is_in(kept["record_id"].implode()))["text"][0]
    bin_ids = np.fromfile(out / "a.bin", dtype=np.uint16)
    ids = tok.encode(first, add_special_tokens=False).ids
    assert bin_ids[: len(ids)].tolist() == ids


def test_an_export_that_misses_a_kept_record_is_an_invariant_error_not_a_smaller_export(tmp_path):
    """A kept id the corpus lacks would drop out of the export's join without a word; the export checks its
    per-source counts against the manifest's, in every format."""
    import pytest

    from mira_core.errors import InvariantError

    manifest, path = _project(tmp_path)
    ghost = manifest.filter(pl.col("kept")).head(1).with_columns(record_id=pl.lit("a/not-in-the-corpus"))
    bad = write_parquet(pl.concat([manifest, ghost]), tmp_path / "bad.parquet")
    for fmt in ("jsonl", "megatron"):
        with pytest.raises(InvariantError, match=r"'a': \((\d+), (\d+)\)"):
            export_kept(tmp_path / "data" / "corpus", bad, fmt, tmp_path / fmt, **_fields(tmp_path, bad))
    assert export_kept(tmp_path / "data" / "corpus", path, "parquet", tmp_path / "ok", **_fields(tmp_path, path))


def test_a_megatron_export_in_another_tokenizer_than_the_one_that_counted_is_an_invariant_error(tmp_path):
    # the budget, trained_tokens and the blend's weights would be in two tokenizers: a tokenizer.json replaced since
    # ingest counted exported silently
    import pytest

    from mira_core.errors import InvariantError

    manifest, path = _project(tmp_path)
    recounted = manifest.with_columns(n_tokens=pl.col("n_tokens") + pl.when(pl.col("source") == "b").then(1).otherwise(0))
    bad = write_parquet(recounted, tmp_path / "bad.parquet")
    differ = r"tokens differ from the manifest's n_tokens.*\{'b': \((\d+), (\d+)\)\}.*re-run the pipeline from ingest"
    # as the select task writes it, aside and then renamed: nothing lands
    with pytest.raises(InvariantError, match=differ), atomic_dir(tmp_path / "m") as tmp:
        export_kept(tmp_path / "data" / "corpus", bad, "megatron", tmp, **_fields(tmp_path, bad))
    assert not (tmp_path / "m").exists()
    assert export_kept(tmp_path / "data" / "corpus", path, "megatron", tmp_path / "ok", **_fields(tmp_path, path))


def test_the_lineage_names_the_code_that_ran_and_whether_it_was_committed(tmp_path):
    """The project's commit names params and data; the code is mira's own checkout (or an installed version), and an
    uncommitted edit of it must not pass for the commit."""
    import subprocess

    from mira_core.megatron import code_provenance

    git = ["git", "-c", "user.name=t", "-c", "user.email=t@t"]
    checkout = tmp_path / "mira"
    (checkout / "mira_core").mkdir(parents=True)
    (checkout / "mira_core" / "__init__.py").write_text('"""mira."""\n')
    assert code_provenance(checkout)["code_committed"] is None  # not a checkout: nothing to compare with
    subprocess.run(["git", "init", "-q"], cwd=checkout, check=True)
    assert code_provenance(checkout)["code_committed"] is None  # a checkout that does not track the code
    subprocess.run([*git, "add", "."], cwd=checkout, check=True)
    subprocess.run([*git, "commit", "-qm", "code"], cwd=checkout, check=True)
    head = subprocess.run(["git", "rev-parse", "HEAD"], cwd=checkout, capture_output=True, text=True).stdout.strip()
    assert code_provenance(checkout) | {"mira_version": None} == {
        "mira_version": None, "code_commit": head, "code_committed": True}
    (checkout / "mira_core" / "new.py").write_text("x = 1\n")  # a module added, not committed
    assert code_provenance(checkout)["code_committed"] is False
    (checkout / "mira_core" / "new.py").unlink()
    (checkout / "mira_core" / "__init__.py").write_text('"""mira, edited."""\n')
    assert code_provenance(checkout)["code_committed"] is False
    (checkout / "notes.txt").write_text("not code\n")  # outside the packages: not the code that ran
    subprocess.run(["git", "checkout", "-q", "--", "mira_core"], cwd=checkout, check=True)
    assert code_provenance(checkout)["code_committed"] is True
    assert isinstance(code_provenance()["mira_version"], str)  # the installed package's version
