"""Stage embed: one encoder pass over every corpus record, shard by shard, resumable.

Reads: data/corpus/. Writes: data/embeddings/<source>/part-N.parquet (record_id, embedding, coverage, stats),
metrics/embed.json (records, coverage, and `zero_vectors`: records the static encoder found no known token in).
"""

from __future__ import annotations

from pathlib import Path

from prefect import flow

from flows.common import gather, prune, run_log, stage_main, states, task_runner
from mira_core.config import CacheParams, EmbedParams, Params, RunnerParams
from mira_core.embedding import fingerprint, load_encoder
from mira_core.errors import ConfigError
from mira_core.io import write_json
from mira_core.layout import Layout
from mira_core.static_encoder import zero_vectors
from tasks.caching import cached, submit
from tasks.embed import embed_one


@flow(name="embed")
def embed_flow(p: EmbedParams, cache: CacheParams, root: str) -> dict:
    """Embed every corpus shard; shards already embedded with the same encoder are skipped."""
    lay = Layout(Path(root))
    shards = lay.corpus_shards()
    if not shards:
        raise ConfigError(f"{lay.corpus}: no corpus shards (run the ingest stage first)")
    enc = load_encoder(p, lay.root)  # fail on a bad encoder before any work
    task = cached(embed_one, cache, lay.root)
    with run_log(lay, "embed") as log:
        stamp = fingerprint(enc, p)
        futures = [submit(task, s, p, str(lay.root), out=lay.embedding_shard(s), stamp=stamp,
                          out_stamp=lay.embedding_shard(s).with_suffix(".json")) for s in shards]
        results = gather(futures, "embed", "shard")  # each shard also draws its own bar over its records
        log["tasks"] = states(futures)
        wanted = {lay.embedding_shard(s) for s in shards}
        # Embeddings (and their .json sidecars) of shards that no longer exist.
        prune(lay.embeddings.glob("*/part-*.*"), lambda f: f.with_suffix(".parquet") in wanted)
        # and the folders of sources no longer in the corpus (a removed or renamed one): data/embeddings is a persist
        # out, which DVC never empties; a hidden folder is a killed atomic write's, which its next run removes
        folders = {w.parent for w in wanted}
        prune([d for d in lay.embeddings.iterdir() if d.is_dir() and not d.name.startswith(".")], folders.__contains__)
        records = sum(r["records"] for r in results)
        log.update(records=records, resumed_shards=sum(r["resumed"] for r in results), device=enc.device)
        coverage = total_coverage(results)
        # records with no token the static encoder knows: kept as all-zero vectors, counted so that they are seen
        # (each shard counts its own; a task result cached before the count is counted from its vectors)
        zero = sum(r["zero_vectors"] if r.get("zero_vectors") is not None else zero_vectors([lay.embedding_shard(s)])
                   for s, r in zip(shards, results, strict=True))
        metrics = {"records": records, "shards": len(shards), "encoder": fingerprint(enc, p), "coverage": coverage,
                   "zero_vectors": zero}
        write_json(metrics, lay.metrics_file("embed"))
    print(f"embed: {records} records in {len(shards)} shards ({enc.fingerprint['encoder']}, {enc.dtype}, "
          f"{enc.device}); coverage {coverage['mean']} of each record's tokens on average, "
          f"{coverage['full_records']} records read whole"
          + (f"; {zero} records hold no token the encoder knows: their vectors are all zeros" if zero else ""))
    return metrics


def total_coverage(results: list[dict]) -> dict:
    """The record-weighted mean coverage of the shards' results and the records read whole. A shard of no records
    (coverage mean None) weighs nothing: it made the sum fail on `0 * None`."""
    covered = [(r["records"], r["coverage"]) for r in results
               if r.get("coverage") and r["coverage"].get("mean") is not None]
    return {"mean": round(sum(n * c["mean"] for n, c in covered) / max(1, sum(n for n, _ in covered)), 4)
            if covered else None, "full_records": sum(c["full"] for _, c in covered)}


def run(params: Params, root: Path) -> dict:
    # one shard at a time on a thread pool: torch already uses every core for one batch
    runner = params.runner if params.runner.kind == "dask" else RunnerParams(max_workers=1)
    return embed_flow.with_options(task_runner=task_runner(runner))(params.embed, params.cache, str(root))


def main(argv: list[str] | None = None) -> None:
    stage_main(run, "embed", argv)


if __name__ == "__main__":
    main()
