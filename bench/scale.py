"""One machine at scale: the ingest stage and the select-mira path on a generated corpus of 1 M records.

    python -m bench.run --only scale --repeats 1                              # 1 M records, a few GB of JSONL
    MIRA_SCALE_RECORDS=20000 python -m bench.run --only scale --repeats 1     # a quick check of the harness

`generate` writes a seeded corpus of plain JSONL shards (eight sources: prose, code, question-answer
and chat records of varied length, made of English words; a few empty and broken lines for the
quarantine) and a params.yaml naming them. Ingest runs as the user runs it, `mira stage ingest` (the
project's Prefect server, task cache on but empty) in a process of its own, timed from outside, with
the peak RSS of its largest process (RUSAGE_CHILDREN). Selection then runs on the ingested corpus:
`scores` gives it synthetic groups (one per kind of record), rubrics, students report and per-shard
scores keyed on the ingested record ids, and `bench.selection measure` times exactly what the
`select-mira` task runs, in a fresh process. Generation is not timed.

Child modes: `python -m bench.scale generate ROOT N`, `python -m bench.scale ingest ROOT`,
`python -m bench.scale scores ROOT SELECT_ROOT`.
"""

from __future__ import annotations

import json
import keyword
import os
import resource
import shutil
import subprocess
import sys
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import numpy as np

from bench.common import child, emit, env
from bench.selection import N_ANCHORS

RECORDS_ENV = "MIRA_SCALE_RECORDS"  # the corpus size of `python -m bench.run --only scale` (default 1 M)
SHARD_RECORDS = 25_000  # records per raw JSONL shard
# name -> (format, sentences per record: lognormal median and sigma); about 3 KB a record on average
SOURCES = {"web_a": ("text", 32, 0.9), "web_b": ("text", 16, 1.2), "code_a": ("code", 80, 0.8),
           "code_b": ("code", 40, 1.1), "qa_a": ("qa", 10, 0.7), "qa_b": ("qa", 18, 0.9),
           "chat_a": ("chat", 26, 0.8), "chat_b": ("chat", 13, 1.0)}
EMPTY_SHARE, BROKEN_SHARE = 0.0005, 0.0002  # records the quarantine should catch


# ---------------------------------------------------------------- the corpus
class _Vocab:
    """Seeded pools of sentences and code lines, drawn from a Zipf-like vocabulary of English words."""

    def __init__(self, seed: int, n_sentences: int = 40_000, n_lines: int = 20_000) -> None:
        from mira_core.ingest.tokens import minilm_path

        rng = np.random.default_rng(seed)
        # English words, roughly by frequency: the whole-word entries of the bundled WordPiece vocabulary
        vocab = (minilm_path() / "vocab.txt").read_text(encoding="utf-8").split("\n")
        words = np.array([w for w in vocab if w.isascii() and w.isalpha() and len(w) > 1])
        p = 1 / np.arange(1, len(words) + 1) ** 1.05
        p /= p.sum()
        n_words = rng.integers(4, 26, n_sentences)
        drawn = words[rng.choice(len(words), int(n_words.sum()), p=p)].tolist()
        ends = rng.choice([".", ".", ".", "?", "!", ";"], n_sentences).tolist()
        cuts = np.concatenate([[0], np.cumsum(n_words)]).tolist()
        self.sentences = [" ".join(drawn[a:b]).capitalize() + e for a, b, e in zip(cuts, cuts[1:], ends, strict=False)]
        names = [str(w) for w in words[:800] if len(w) > 2 and not keyword.iskeyword(w)]
        ops = ["+", "-", "*", "//", "%", "<<", "and", "or"]
        lines = []
        for _ in range(n_lines):
            a, b, c = (names[int(j)] for j in rng.integers(0, len(names), 3))
            ind = "    " * int(rng.integers(1, 4))
            kind = int(rng.integers(0, 8))
            lines.append(ind + [f"{a} = {b}({c}, {int(rng.integers(0, 999))})",
                                f"if {a} {rng.choice(['>', '<', '==', '!='])} {b}:",
                                f"return {a} {rng.choice(ops)} {b}",
                                f"for {a} in range(len({b})):",
                                f"# {self.sentences[int(rng.integers(0, n_sentences))]}",
                                f"{a}.{b}({c}=self.{c})",
                                f"{a}[{b}] = {c!r}",
                                f"raise ValueError(f'{a} {{{b}!r}}')"][kind])
        self.lines = lines
        self.names = names


def _shard(vocab: _Vocab, rng: np.random.Generator, source: str, fmt: str, median: float, sigma: float,
           start: int, n: int) -> list[str]:
    """n JSON lines of one source."""
    sent, code, names = vocab.sentences, vocab.lines, vocab.names
    k = np.clip(rng.lognormal(np.log(median), sigma, n), 2, 3000).astype(int)
    picks = rng.integers(0, len(sent), int(k.sum()) + 4 * n)
    bad = rng.random(n)
    out, at = [], 0
    for i in range(n):
        rid = f"{source}-{start + i:08d}"
        if bad[i] < BROKEN_SHARE:
            out.append(f'{{"id": "{rid}", "text": "a line cut short')
            continue
        m = int(k[i])
        idx = picks[at:at + m]
        at += m
        if bad[i] < BROKEN_SHARE + EMPTY_SHARE:
            rec: dict = {"id": rid, "text": "   "} if fmt in ("text", "code") else \
                {"id": rid, "question": "", "answer": "x"} if fmt == "qa" else {"id": rid, "messages": []}
        elif fmt == "text":
            paras = [" ".join(sent[j] for j in idx[p:p + 5]) for p in range(0, m, 5)]
            rec = {"id": rid, "title": sent[idx[0]][:60], "text": "\n\n".join(paras)}
        elif fmt == "code":
            fn, arg = names[idx[0] % len(names)], names[idx[1] % len(names)]
            body = "\n".join(code[j % len(code)] for j in idx)
            rec = {"id": rid, "lang": "python", "text": f"def {fn}({arg}, *args):\n    \"\"\"{sent[idx[0]]}\"\"\"\n{body}\n"}
        elif fmt == "qa":
            q = sent[idx[0]].rstrip(".!;") + "?"
            rec = {"id": rid, "question": q, "answer": " ".join(sent[j] for j in idx[1:])}
        else:
            turns = np.array_split(idx, max(2, min(8, m // 3)))
            rec = {"id": rid, "messages": [{"role": ("user", "assistant")[t % 2], "content": " ".join(sent[j] for j in ix)}
                                           for t, ix in enumerate(turns)]}
        out.append(json.dumps(rec))
    return out


def _write_shard(job: tuple[str, str, int, int, int]) -> int:
    source, path, shard, start, n = job
    fmt, median, sigma = SOURCES[source]
    vocab = _vocab()
    rng = np.random.default_rng([sorted(SOURCES).index(source), shard])
    data = "\n".join(_shard(vocab, rng, source, fmt, median, sigma, start, n)) + "\n"
    Path(path).write_text(data, encoding="utf-8")
    return len(data.encode())


_VOCAB: _Vocab | None = None


def _vocab() -> _Vocab:
    global _VOCAB  # one per worker process
    if _VOCAB is None:
        _VOCAB = _Vocab(0)
    return _VOCAB


def generate(root: str, n: str) -> None:
    """The raw shards under ROOT/data/raw/<source>/ and ROOT/params.yaml."""
    import yaml

    rootp, total = Path(root), int(n)
    start_t = time.perf_counter()
    jobs = []
    per_source = total // len(SOURCES)
    for s in SOURCES:
        (rootp / "data" / "raw" / s).mkdir(parents=True, exist_ok=True)
        for shard, start in enumerate(range(0, per_source, SHARD_RECORDS)):
            path = rootp / "data" / "raw" / s / f"part-{shard:05d}.jsonl"
            jobs.append((s, str(path), shard, start, min(SHARD_RECORDS, per_source - start)))
    with ProcessPoolExecutor(max(1, len(os.sched_getaffinity(0)))) as pool:
        sizes = list(pool.map(_write_shard, jobs))
    params = {
        "demo_corpus": {"enabled": False},
        "sources": [{"name": s, "path": f"data/raw/{s}/*.jsonl", "format": fmt, "id_field": "id"}
                    for s, (fmt, _, _) in SOURCES.items()],
        "ingest": {"tokenizer": "minilm"},
        # every usable core (ingest runs one task per source), and a project server that stops soon after
        "runner": {"max_workers": min(len(SOURCES), len(os.sched_getaffinity(0))), "prefect_server_idle_s": 20},
    }
    (rootp / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    emit({"records": per_source * len(SOURCES), "files": len(jobs), "bytes": sum(sizes),
          "seconds": time.perf_counter() - start_t})


# ---------------------------------------------------------------- ingest, measured from outside
def ingest(root: str) -> None:
    """`mira stage ingest` in ROOT from a clean slate: wall time, CPU time and peak RSS of its largest process."""
    rootp = Path(root)
    for d in ("data/corpus", "data/quarantine", "metrics", ".mira/prefect", ".mira/runs"):  # not the server's state
        shutil.rmtree(rootp / d, ignore_errors=True)
    start = time.perf_counter()
    res = subprocess.run(["mira", "stage", "ingest"], cwd=rootp, env={**env(), "MIRA_PROGRESS": "0"},
                         capture_output=True, text=True)
    wall = time.perf_counter() - start
    if res.returncode != 0:
        print(res.stdout[-4000:], res.stderr[-4000:], file=sys.stderr)
        raise SystemExit(res.returncode)
    ru = resource.getrusage(resource.RUSAGE_CHILDREN)
    metrics = json.loads((rootp / "metrics" / "ingest.json").read_text())
    flow_s = json.loads((rootp / ".mira" / "runs" / "ingest.json").read_text())["wall_s"]
    t = metrics["total"]
    emit({"seconds": wall, "flow_seconds": flow_s, "cpu_seconds": ru.ru_utime + ru.ru_stime,
          "peak_rss_mb": ru.ru_maxrss / 1024, "read": t["read"], "kept": t["kept"], "quarantined": t["quarantined"],
          "by_reason": t["by_reason"], "n_tokens": t["n_tokens"], "n_chars": t["n_chars"], "shards": t["shards"],
          "corpus_bytes": _size(rootp / "data" / "corpus")})


def _size(path: Path) -> int:
    return sum(f.stat().st_size for f in path.rglob("*") if f.is_file())


# ---------------------------------------------------------------- select on the ingested corpus
def scores(root: str, select_root: str) -> None:
    """A select project on ROOT's ingested corpus: groups (one per kind of record), rubrics, students report and
    synthetic scores for every ingested record, shard by shard, as the score stage writes them."""
    import polars as pl

    from mira_core.io import write_json, write_parquet
    from mira_core.layout import Layout
    from mira_core.rubric import Anchor, Rubric, save_rubric
    from mira_core.schema import GROUPS
    from mira_core.scoring import score_schema

    src, lay, rng = Layout(Path(root)), Layout(Path(select_root)), np.random.default_rng(1)
    shutil.rmtree(lay.root, ignore_errors=True)
    lay.corpus.parent.mkdir(parents=True)
    lay.corpus.symlink_to(src.corpus.resolve(), target_is_directory=True)
    groups = {s: s.rsplit("_", 1)[0] for s in SOURCES}
    anchors = [f"a{j:02d}" for j in range(N_ANCHORS)]
    write_parquet(pl.DataFrame({"source": list(groups), "group": list(groups.values()),
                                "method": ["kmeans"] * len(groups)}, schema=GROUPS), lay.group_map())
    reports: dict[str, dict] = {}
    for g in sorted(set(groups.values())):
        members = [s for s in groups if groups[s] == g]
        save_rubric(Rubric(group=g, teacher="bench", prompt_version="bench", sources=members,
                           anchors=[Anchor(id=a, name=f"anchor {a}", description="d", exemplar_reason="r", support=1)
                                    for a in anchors]).with_version(), lay.rubrics / f"{g}.json")
        reports[g] = {"anchors": {a: {"mae": 0.5, "spearman": 0.6, "n": 800} for a in anchors},
                      "anchor_names": {a: f"anchor {a}" for a in anchors}, "sources": {}}
    for s, g in groups.items():
        for shard in src.corpus_shards(s):
            ids = pl.read_parquet(shard, columns=["record_id"])["record_id"]
            quality = rng.normal(3, 0.8, len(ids))[:, None]
            x = np.clip(quality + rng.normal(0, 0.5, (len(ids), N_ANCHORS)), 1, 5).astype(np.float32)
            write_parquet(pl.DataFrame({"record_id": ids, "group": [g] * len(ids),
                                        **{a: x[:, j] for j, a in enumerate(anchors)},
                                        "student_version": ["bench"] * len(ids), "coverage": np.ones(len(ids))},
                                       schema=score_schema(anchors)),
                          lay.scores / g / s / shard.name)
        # about a fifth of the (source, anchor) pairs fail the mask, as in bench.selection
        reports[g]["sources"][s] = {"n_val": 200, "anchors": {
            a: {"mae": float(rng.uniform(0.2, 1.0)), "spearman": float(rng.uniform(0.2, 0.9)), "n": 200}
            for a in anchors}}
    write_json(reports, lay.metrics / "students.json")
    emit({"score_bytes": _size(lay.scores)})


# ---------------------------------------------------------------- the benchmark
def run(work: Path, records: int = 1_000_000, repeats: int = 1) -> dict:
    root = work / "scale"
    marker = root / f"generated-{records}.json"
    if not marker.exists():
        shutil.rmtree(root, ignore_errors=True)
        root.mkdir(parents=True)
        marker.write_text(json.dumps(child("scale", "generate", str(root), str(records), timeout=4 * 3600)))
    gen = json.loads(marker.read_text())
    print(f"  scale: {gen['records']:,} records in {gen['files']} JSONL files, {gen['bytes'] / 1e9:,.2f} GB "
          f"(generated in {gen['seconds']:,.0f} s)", flush=True)
    ingests = []
    for r in range(repeats):
        ingests.append(child("scale", "ingest", str(root), timeout=8 * 3600))
        x = ingests[-1]
        print(f"  scale ingest run {r + 1}: {x['seconds']:,.1f} s, {x['read'] / x['seconds']:,.0f} records/s, "
              f"{x['peak_rss_mb']:,.0f} MB", flush=True)
    select_root = root / "select"
    sc = child("scale", "scores", str(root), str(select_root), timeout=4 * 3600)
    selects = []
    for r in range(repeats):
        selects.append(child("selection", "measure", str(select_root), timeout=4 * 3600))
        x = selects[-1]
        print(f"  scale select run {r + 1}: {x['seconds']:,.1f} s, {x['records'] / x['seconds']:,.0f} records/s, "
              f"{x['peak_rss_mb']:,.0f} MB", flush=True)
    return {"records": gen["records"], "raw_files": gen["files"], "raw_bytes": gen["bytes"],
            "generate_seconds": gen["seconds"], "sources": len(SOURCES),
            "max_workers": yaml_workers(root), "ingest": ingests, "score_bytes": sc["score_bytes"], "select": selects}


def yaml_workers(root: Path) -> int:
    import yaml

    return int(yaml.safe_load((root / "params.yaml").read_text())["runner"]["max_workers"])


if __name__ == "__main__":
    {"generate": generate, "ingest": ingest, "scores": scores}[sys.argv[1]](*sys.argv[2:])
