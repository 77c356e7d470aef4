"""Mid-training output on the demo: what dedup and decontaminate drop, that the counts balance, and that the
Megatron export of MIRA's kept records reads back (with tests/megatron_reader.py, an independent reader of the
documented format) to exactly the target tokenizer's ids of those records.

Runs on the pipeline benchmark's copy of the repository (bench/.work/pipeline, after `dvc repro`): it sets
`select.materialize: megatron`, runs `mira stage select`, checks, and puts params.yaml back as it was.
"""

from __future__ import annotations

import json
import subprocess
import time
from pathlib import Path

from bench.common import env


def run(root: Path) -> dict:
    import polars as pl
    import yaml

    from mira_core.ingest.tokens import load_tokenizer
    from tests.megatron_reader import read_indexed

    params_path = root / "params.yaml"
    original = params_path.read_text()
    params = yaml.safe_load(original)
    params["select"]["materialize"] = "megatron"
    params_path.write_text(yaml.safe_dump(params, sort_keys=False))
    try:
        start = time.perf_counter()
        subprocess.run(["mira", "stage", "select"], cwd=root, env=env(), check=True, capture_output=True)
        select_s = time.perf_counter() - start
        out = root / "data" / "selection" / "mira" / "megatron"
        lineage = json.loads((out / "lineage.json").read_text())
        manifest = pl.read_parquet(root / "data" / "selection" / "mira" / "manifest.parquet")
        kept = manifest.filter(pl.col("kept")).select("record_id")
        corpus = pl.concat([pl.read_parquet(f, columns=["record_id", "source", "text"])
                            for f in sorted((root / "data" / "corpus").glob("*/part-*.parquet"))])
        texts = corpus.join(kept, on="record_id", how="semi")  # corpus order: the order the export wrote
        tok = load_tokenizer(params["ingest"]["tokenizer"], root)
        eod = lineage["eod_id"]
        checked = mismatched = tokens = 0
        for source, d in lineage["datasets"].items():
            docs = read_indexed(Path(d["prefix"]))["docs"] if d["prefix"] else []
            want = texts.filter(pl.col("source") == source)["text"].to_list()
            ids = [e.ids + [eod] for e in tok.encode_batch(want, add_special_tokens=False)]
            checked += len(want)
            tokens += sum(len(x) for x in ids)
            mismatched += sum(a != b for a, b in zip(docs, ids, strict=False)) + abs(len(docs) - len(want))
    finally:
        params_path.write_text(original)
    metrics = {s: json.loads((root / "metrics" / f"{s}.json").read_text()) for s in ("ingest", "dedup",
                                                                                       "decontaminate", "select")}
    methods = metrics["select"]["methods"]
    t = metrics["ingest"]["total"]
    balanced = t["read"] == t["kept"] + t["quarantined"] and all(
        sum(m["reasons"].values()) == m["records"] == t["kept"] for m in methods.values())
    return {"select_seconds": select_s, "documents": checked, "tokens": tokens, "mismatched": mismatched,
            "export_tokens": lineage["tokens"], "blend": lineage["blend"], "dtype": lineage["dtype"],
            "dedup": metrics["dedup"]["total"], "dedup_by_source": {s: r["records_dropped"] for s, r in
                                                                    metrics["dedup"]["sources"].items()},
            "clusters": metrics["dedup"].get("clusters"),
            "cross_source_clusters": metrics["dedup"].get("cross_source_clusters"),
            "decontaminate": metrics["decontaminate"]["total"],
            "benchmarks": metrics["decontaminate"]["benchmarks"], "reasons": methods["mira"]["reasons"],
            "read": metrics["ingest"]["total"]["read"], "quarantined": metrics["ingest"]["total"]["quarantined"],
            "balanced": balanced}
