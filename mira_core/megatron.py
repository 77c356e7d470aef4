"""Token shards a trainer reads: Megatron-LM indexed datasets (.bin + .idx), the blend, the lineage.

`select.materialize: megatron` tokenizes the kept records with the target tokenizer and writes, per
source, one Megatron-LM indexed dataset, then `blend.txt` (the text `--data-path` / `--data-args-path`
takes: "w1 prefix1 w2 prefix2 ...", weights = each source's share of the written tokens) and
`lineage.json` (commit, params digest, rubric versions, manifest digest, tokenizer, per-dataset digests).

Format written (little-endian), as read by `_IndexReader` / `IndexedDataset` in Megatron-LM
`megatron/core/datasets/indexed_dataset.py` (NVIDIA/Megatron-LM main, commit 00caa53a; checked by reading
an export back with megatron-core 0.16.1's `IndexedDataset` and building its blended `GPTDataset` on the
blend). Without sequence modes these are the bytes of the older `MMapIndexedDataset` (.idx version 1) too:

  <prefix>.idx
    9 bytes   b"MMIDIDX\\x00\\x00"          index header
    8 bytes   uint64 version = 1
    1 byte    uint8 dtype code of the token ids in .bin (4 = int32, 8 = uint16; Megatron's `DType`)
    8 bytes   uint64 sequence_count  S
    8 bytes   uint64 document_count  D + 1  (the length of document_indices below, leading 0 included)
    S * 4     int32  sequence_lengths        tokens per sequence
    S * 8     int64  sequence_pointers       byte offset of each sequence in .bin (cumulative lengths * itemsize)
    (D+1) * 8 int64  document_indices        [0, 1, 2, ..., S]: document d is sequences [idx[d], idx[d+1])
    (no sequence_modes: those are written only for multimodal datasets, which this is not)
  <prefix>.bin
    the token ids of all sequences back to back, in the dtype above.

One document = one sequence = one kept record (its ids, then the EOD id when `append_eod`), which is
what Megatron's `tools/preprocess_data.py` writes without `--split-sentences`. A record that encodes to
no token at all (empty text, no EOD) is skipped and counted: a zero-length document trains nothing.
The dtype follows Megatron's `DType.optimal_dtype(vocab_size)`: uint16 when the vocabulary has fewer than
65500 entries, else int32. Ids are encoded without special tokens, and a special token's text inside a
record is encoded as text (as `mira_core.ingest.tokens` counts them), so the budget's token counts and the
shards agree, and where the EOD token is a special token the only EOD ids are the ones appended after each
record. Where it is a plain vocabulary entry (a tokenizer without special tokens), a record's own text can encode
to it; `eod_in_text` in the results and lineage counts those records.

Writes are streaming (token ids go to .bin batch by batch; only the per-record lengths stay in memory)
and atomic: .bin and .idx are written under temporary names and renamed at the end, the .idx last, so a
crash never leaves a pair Megatron (`IndexedDataset.exists`) or a re-run would trust. A whole export is
built in a temporary folder that replaces the output folder only when every file is complete.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import re
import subprocess
import time
from array import array
from collections.abc import Iterable, Iterator, Mapping
from itertools import chain
from pathlib import Path
from typing import Any

import numpy as np

from mira_core.errors import JSON_REFUSED, ConfigError
from mira_core.ingest import tokens
from mira_core.io import atomic_dir, text_digest, write_json, write_text

INDEX_HEADER = b"MMIDIDX\x00\x00"
INDEX_VERSION = 1
# Megatron's DType enum: the code stored in the .idx for the dtype of the .bin.
DTYPE_CODES: dict[str, int] = {"uint8": 1, "int8": 2, "int16": 3, "int32": 4, "int64": 5,
                               "float64": 6, "float32": 7, "uint16": 8}
MEGATRON_READER = ("NVIDIA/Megatron-LM megatron/core/datasets/indexed_dataset.py "
                   "(_IndexReader, IndexedDataset; main @ 00caa53a)")
# End-of-document candidates, most specific first. A BERT-style vocabulary (the bundled MiniLM) has none
# of the causal-LM ones; its [SEP] is the separator Megatron's BERT pipeline puts between documents.
EOD_TOKENS = ("<|endoftext|>", "<|end_of_text|>", "</s>", "<eos>", "<|eos|>", "[EOS]", "<|im_end|>", "[SEP]")
BATCH = 1024  # records per encode_batch call: big enough for the Rust tokenizer's threads, small in memory

_UINT16_LIMIT = 65500  # Megatron's DType.optimal_dtype threshold (not 65536: it keeps headroom)


def load_tokenizer(name: str | Path | Any = "minilm") -> Any:
    """A `tokenizers.Tokenizer` with truncation and padding off, from the same places token counting uses.

    `name`: anything `mira_core.ingest.tokens.load_tokenizer` takes ("minilm", a tokenizer.json, a folder
    with one, a hub name already in the local cache; a relative path is read from the current folder, so
    callers pass `tokens.tokenizer_file(name, root)`), or a tokenizer object (a `tokenizers.Tokenizer` or a
    transformers fast tokenizer), copied if it truncates or pads.
    """
    from tokenizers import Tokenizer

    if isinstance(name, str | Path):
        return tokens.load_tokenizer(name)
    tok = name.backend_tokenizer if hasattr(name, "backend_tokenizer") else name
    if not isinstance(tok, Tokenizer):
        raise ConfigError(f"megatron tokenizer: expected a name, a path or a tokenizer, not {type(name).__name__}")
    if tok.truncation is not None or tok.padding is not None or not tok.encode_special_tokens:
        # A truncating tokenizer would silently cut documents, and one reading "<|endoftext|>" in a record as
        # the special token would end the document there; copy so the caller's object is left as is.
        tok = Tokenizer.from_str(tok.to_str())
        tok.no_truncation()
        tok.no_padding()
        tok.encode_special_tokens = True
    return tok


def token_dtype(vocab_size: int) -> np.dtype:
    """The .bin dtype Megatron's builder picks for a vocabulary: uint16 below 65500 entries, else int32."""
    return np.dtype(np.uint16) if vocab_size < _UINT16_LIMIT else np.dtype(np.int32)


def find_eod(tokenizer: Any, named: str | None = None) -> int | None:
    """The id of the tokenizer's end-of-document token: `named` (a token's text) when given, else the first
    of `EOD_TOKENS` it has; None when it has none of them (or not the named one)."""
    for token in (named,) if named else EOD_TOKENS:
        tid = tokenizer.token_to_id(token)
        if tid is not None:
            return int(tid)
    return None


def configured_eos(tokenizer: Any) -> str | None:
    """The `eos_token` of the tokenizer_config.json beside a tokenizer.json (or in a tokenizer folder): the token
    a model's own tokenizer ends documents with, as Megatron's preprocessing of a Hugging Face tokenizer uses it.
    None for a tokenizer object, or where no such file or key is. A name (`minilm`, a hub name) is resolved as
    `load_tokenizer` resolves it. (An earlier version read a name as a path, whose parent is the current folder:
    any project's tokenizer_config.json there chose the end-of-document token.)"""
    if not isinstance(tokenizer, str | Path):
        return None
    try:
        config = tokens.tokenizer_file(tokenizer).parent / "tokenizer_config.json"
    except ConfigError:  # nothing it names: load_tokenizer will say so
        return None
    try:
        eos = json.loads(config.read_text(encoding="utf-8")).get("eos_token")
    except (OSError, AttributeError, *JSON_REFUSED):
        return None
    if isinstance(eos, dict):  # an AddedToken written out: {"content": "</s>", ...}
        eos = eos.get("content")
    return eos if isinstance(eos, str) and eos else None


class _DatasetWriter:
    """One indexed dataset under construction: token ids streamed to a temporary .bin, lengths kept."""

    def __init__(self, prefix: Path, dtype: np.dtype) -> None:
        self.prefix = Path(prefix)
        self.prefix.parent.mkdir(parents=True, exist_ok=True)
        self.dtype = dtype
        tag = f".tmp-{os.getpid()}-{id(self):x}"
        self.bin_tmp = self.prefix.with_name(self.prefix.name + ".bin" + tag)
        self.idx_tmp = self.prefix.with_name(self.prefix.name + ".idx" + tag)
        self.lengths = array("q")  # 8 bytes per record: the only per-record state held in memory
        self.tokens = 0
        self.skipped_empty = 0
        self.bin_hash = hashlib.sha256()
        self._bin = open(self.bin_tmp, "wb")  # noqa: SIM115 (closed in finish/abort)

    def add(self, docs: list[list[int]]) -> None:
        """Append documents (token id lists); empty ones are skipped and counted."""
        kept = [d for d in docs if d]
        self.skipped_empty += len(docs) - len(kept)
        if not kept:
            return
        n = sum(len(d) for d in kept)
        ids = np.fromiter(chain.from_iterable(kept), dtype=np.int64, count=n)
        info = np.iinfo(self.dtype)
        low, high = int(ids.min()), int(ids.max())
        if low < info.min or high > info.max:  # name the id that does not fit, not always the largest
            raise ConfigError(f"token id {low if low < info.min else high} does not fit the {self.dtype} shards of "
                              f"{self.prefix}")
        buf = ids.astype(self.dtype).tobytes()
        self._bin.write(buf)
        self.bin_hash.update(buf)
        self.lengths.extend(len(d) for d in kept)
        self.tokens += n

    def finish(self) -> dict[str, Any]:
        """Write the .idx, then rename .bin and .idx into place (the .idx last: it marks completeness)."""
        self._bin.flush()
        os.fsync(self._bin.fileno())
        self._bin.close()
        lengths = np.frombuffer(self.lengths, dtype=np.int64)
        if lengths.size and lengths.max() > np.iinfo(np.int32).max:
            raise ConfigError(f"{self.prefix}: a document longer than 2**31-1 tokens does not fit Megatron's index")
        count = int(lengths.size)
        pointers = np.zeros(count, dtype="<i8")
        if count:
            np.cumsum(lengths[:-1] * self.dtype.itemsize, out=pointers[1:])
        idx_hash = hashlib.sha256()
        with open(self.idx_tmp, "wb") as f:
            for part in (INDEX_HEADER,
                         np.array([INDEX_VERSION], dtype="<u8").tobytes(),
                         np.array([DTYPE_CODES[self.dtype.name]], dtype="<u1").tobytes(),
                         np.array([count, count + 1], dtype="<u8").tobytes(),
                         lengths.astype("<i4").tobytes(),
                         pointers.tobytes(),
                         np.arange(count + 1, dtype="<i8").tobytes()):
                f.write(part)
                idx_hash.update(part)
            f.flush()
            os.fsync(f.fileno())
        bin_path, idx_path = _bin_path(self.prefix), _idx_path(self.prefix)
        # Drop an older .idx first: between the two renames the folder then holds a .bin without an .idx,
        # which nothing trusts, never a new .bin beside an old .idx.
        idx_path.unlink(missing_ok=True)
        for tmp in (self.bin_tmp, self.idx_tmp):
            os.chmod(tmp, 0o644)
        os.replace(self.bin_tmp, bin_path)
        os.replace(self.idx_tmp, idx_path)
        return {"prefix": str(self.prefix), "documents": count, "tokens": self.tokens,
                "skipped_empty": self.skipped_empty, "dtype": self.dtype.name,
                "bin_sha256": self.bin_hash.hexdigest(), "idx_sha256": idx_hash.hexdigest()}

    def abort(self) -> None:
        """Close and delete the temporary files; nothing final is touched."""
        if not self._bin.closed:
            self._bin.close()
        self.bin_tmp.unlink(missing_ok=True)
        self.idx_tmp.unlink(missing_ok=True)


def _bin_path(prefix: Path) -> Path:
    return prefix.with_name(prefix.name + ".bin")


def _idx_path(prefix: Path) -> Path:
    return prefix.with_name(prefix.name + ".idx")


def _encoder(tokenizer: Any, append_eod: bool, eod_id: int | None,
             eod_token: str | None = None) -> tuple[Any, Any, int | None]:
    """(tokenizer, batch encoder returning id lists, resolved eod id) for one export.

    With `append_eod` the EOD id is `eod_id`, else the id of `eod_token`, else of the tokenizer_config.json's
    eos_token, else the first of `EOD_TOKENS` the vocabulary has; finding none is a ConfigError, since
    documents written back to back would make a trainer's samples run across records."""
    tok = load_tokenizer(tokenizer)
    eod = None
    if append_eod and eod_id is not None and (eod_id < 0 or tok.id_to_token(int(eod_id)) is None):
        # an id outside the vocabulary fits the .bin's dtype all the same: the trainer's embedding lookup failed
        raise ConfigError(f"megatron export: eod_id {eod_id!r} is no token of the tokenizer "
                          f"{_tokenizer_name(tokenizer)} ({tok.get_vocab_size(with_added_tokens=True)} entries)")
    if append_eod:
        named = eod_token or configured_eos(tokenizer)
        eod = eod_id if eod_id is not None else find_eod(tok, named) if named else None
        if eod is None and not eod_token:  # no name given, or the config's eos not in the vocabulary
            eod = find_eod(tok)
        if eod is None:
            what = f"has no token {eod_token!r}" if eod_token else f"has none of the end-of-document tokens {EOD_TOKENS}"
            raise ConfigError(f"megatron export: the tokenizer {_tokenizer_name(tokenizer)} {what}; name its "
                              "end-of-document token in select.megatron_eod_token")
    # encode_batch_fast skips the character offsets (same ids, less work); older tokenizers lack it.
    batch = getattr(tok, "encode_batch_fast", tok.encode_batch)
    tail = [eod] if eod is not None else []

    def encode(texts: list[str]) -> list[list[int]]:
        ids = [e.ids for e in batch(texts, add_special_tokens=False)]
        if eod is not None:  # records whose own text holds the EOD id: a trainer reads a document boundary there
            encode.eod_in_text += sum(eod in d for d in ids)
        return [d + tail for d in ids]

    encode.eod_in_text = 0

    return tok, encode, eod


def _batches(items: Iterable[str], size: int) -> Iterator[list[str]]:
    buf: list[str] = []
    for item in items:
        buf.append(item)
        if len(buf) >= size:
            yield buf
            buf = []
    if buf:
        yield buf


def write_indexed_dataset(texts: Iterable[str], tokenizer: Any, prefix: Path, append_eod: bool = True, *,
                          eod_id: int | None = None, eod_token: str | None = None,
                          batch_size: int = BATCH) -> dict[str, Any]:
    """Tokenize `texts` and write `<prefix>.bin` and `<prefix>.idx`, one document per text.

    `tokenizer`: anything `load_tokenizer` takes. `append_eod`: end each document with the EOD id (`eod_id`,
    `eod_token`'s id, or the tokenizer's own as `_encoder` finds it; none found, or an `eod_id` that is no token of
    the tokenizer, is a ConfigError). Streams:
    `texts` is consumed once, in batches. If it raises, the temporary files are removed and no .bin/.idx is
    created or replaced. Returns the counts, dtype, eod id and sha256 digests.
    """
    tok, encode, eod = _encoder(tokenizer, append_eod, eod_id, eod_token)
    dtype = token_dtype(tok.get_vocab_size(with_added_tokens=True))
    writer = _DatasetWriter(Path(prefix), dtype)
    t0 = time.perf_counter()
    try:
        for batch in _batches(texts, batch_size):
            writer.add(encode(batch))
        stats = writer.finish()
    except BaseException:
        writer.abort()
        raise
    return {**stats, "eod_id": eod, "eod_in_text": encode.eod_in_text, "seconds": round(time.perf_counter() - t0, 3)}


def blend_text(prefix_weights: dict[str, float]) -> str:
    """The `--data-path` value for a blend: "w1 prefix1 w2 prefix2 ..." (Megatron normalizes the weights)."""
    if not prefix_weights:
        raise ConfigError("a Megatron blend needs at least one dataset")
    parts = []
    for prefix, weight in prefix_weights.items():
        if not prefix or re.search(r"\s", prefix):
            raise ConfigError(f"Megatron splits --data-path on whitespace: prefix {prefix!r} cannot be used")
        if not (math.isfinite(weight) and weight > 0):
            raise ConfigError(f"blend weight of {prefix!r} must be a positive number, got {weight!r}")
        parts.append(f"{weight!r} {prefix}")
    return " ".join(parts)


def write_blend(prefix_weights: dict[str, float], path: Path) -> Path:
    """Write the blend text (one line, for `--data-args-path`, or `--data-path $(cat path)`), atomically."""
    return write_text(blend_text(prefix_weights) + "\n", Path(path))


def git_commit(root: Path) -> str | None:
    """`git rev-parse HEAD` in `root`, or None outside a git checkout (or without git)."""
    try:
        res = subprocess.run(["git", "rev-parse", "HEAD"], cwd=root, capture_output=True, text=True, timeout=30)
    except (OSError, subprocess.SubprocessError):
        return None
    return (res.stdout.strip() or None) if res.returncode == 0 else None


def run_provenance(root: Path, params_file: Path, environ: Mapping[str, str]) -> dict[str, Any]:
    """What besides the commit tells a run apart: the DVC experiment it ran in (`dvc exp run` names it in
    DVC_EXP_NAME) and whether params.yaml is the one committed (an experiment's `-S` edits it first, so the commit
    alone would name a run whose params differ). None where it cannot be told (no git, no commit)."""
    committed = None
    if git_commit(root) is not None:  # outside a checkout `git diff` compares files, not a commit
        try:
            # `git diff` says nothing of a file git does not track: an untracked params.yaml is not the committed one
            tracked = subprocess.run(["git", "ls-files", "--error-unmatch", "--", str(params_file)], cwd=root,
                                     capture_output=True, timeout=30).returncode == 0
            res = subprocess.run(["git", "diff", "--quiet", "HEAD", "--", str(params_file)], cwd=root,
                                 capture_output=True, timeout=30)
            committed = {0: True, 1: False}.get(res.returncode) if tracked else False
        except (OSError, subprocess.SubprocessError):
            pass
    return {"dvc_experiment": environ.get("DVC_EXP_NAME") or None, "params_committed": committed}


CODE_PACKAGES = ("mira_core", "tasks", "flows")  # the folders whose code makes a run's outputs


def code_provenance(checkout: Path | None = None) -> dict[str, Any]:
    """Which mira code ran: the installed package's version and, when the code runs from a git checkout (an
    editable install, the demo), that checkout's commit and whether the code differs from it (`code_committed`:
    false when a file of mira_core/, tasks/ or flows/ is edited or added and not committed). The project's own
    commit (lineage's `commit`) names params and data; in a `mira init` project it is not mira's code.
    `checkout`: the folder holding those packages; by default the one this module is imported from."""
    from importlib.metadata import PackageNotFoundError, version

    checkout = Path(checkout) if checkout is not None else Path(__file__).resolve().parents[1]
    try:
        out: dict[str, Any] = {"mira_version": version("mira")}
    except PackageNotFoundError:
        out = {"mira_version": None}
    out |= {"code_commit": None, "code_committed": None}
    try:
        # The package's files must be tracked by the checkout found: a venv inside a project's repository is
        # gitignored there, and that repository's commit says nothing of the installed code.
        tracked = subprocess.run(["git", "ls-files", "--error-unmatch", "--", "mira_core/__init__.py"], cwd=checkout,
                                 capture_output=True, timeout=30).returncode == 0
        if not tracked:
            return out
        status = subprocess.run(["git", "status", "--porcelain", "--", *CODE_PACKAGES], cwd=checkout,
                                capture_output=True, text=True, errors="surrogateescape", timeout=30)
    except (OSError, subprocess.SubprocessError):
        return out
    if status.returncode == 0:
        out |= {"code_commit": git_commit(checkout), "code_committed": not status.stdout.strip()}
    return out


def lineage(*, commit: str | None, params_digest: str, rubric_versions: dict[str, Any],
            manifest_digest: str, **extra: Any) -> dict[str, Any]:
    """The lineage record every export carries: what code, params, rubrics and manifest made it."""
    return {"commit": commit, "params_digest": params_digest, "rubric_versions": dict(rubric_versions),
            "manifest_digest": manifest_digest, **extra}


def write_lineage(path: Path, **fields: Any) -> Path:
    """Write `lineage(**fields)` as JSON (sorted keys), atomically."""
    return write_json(lineage(**fields), Path(path))


def dataset_name(source: str) -> str:
    """A file stem for a source: itself when it is a safe name, else a cleaned name plus a digest.

    Megatron splits --data-path on whitespace and sources may hold '/' or spaces; the digest keeps two
    sources that clean to the same name apart.
    """
    if re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9._-]*", source):
        return source
    clean = re.sub(r"[^A-Za-z0-9._-]+", "_", source).strip("._-") or "source"
    return f"{clean}-{text_digest(source, 4)}"


def materialize_megatron(records: Iterable[tuple[str, str]], tokenizer: Any, out: Path, *,
                         commit: str | None, params_digest: str, rubric_versions: dict[str, Any],
                         manifest_digest: str, append_eod: bool = True, eod_id: int | None = None,
                         eod_token: str | None = None, prefix_root: str | None = None, batch_size: int = BATCH,
                         epochs: dict[str, float] | None = None, provenance: dict[str, Any] | None = None
                         ) -> dict[str, Any]:
    """Write kept records as one Megatron dataset per source under `out`, plus blend.txt and lineage.json.

    `records`: (source, text) pairs in any order (sources may interleave; each source keeps its order).
    Blend weights are each source's share of the written tokens (EOD ids included), times its `epochs` (the
    passes the selection asks over an upsampled source's records; 1 by default), so a trainer that follows the
    blend sees the sources in the proportions the selection chose. Prefixes in blend.txt are
    `<out>/<name>` (absolute), or `<prefix_root>/<name>` when the trainer mounts the folder elsewhere.
    The folder is built aside and replaces `out` whole only when complete. Returns the lineage record.
    """
    out = Path(out)
    # "/" (the trainer reads the export at the root) leaves "" here, and the prefixes "/<name>"; "" itself names no folder
    root = prefix_root.rstrip("/") if prefix_root is not None else str(out.resolve())
    if prefix_root == "" or re.search(r"\s", root):  # before any tokenizing: Megatron could not read the blend
        raise ConfigError(f"megatron export: the blend's prefixes would start with {root!r}, and Megatron splits "
                          "--data-path on whitespace; set select.megatron_prefix_root to the folder (without "
                          "spaces) where the trainer will read the export")
    tok, encode, eod = _encoder(tokenizer, append_eod, eod_id, eod_token)
    dtype = token_dtype(tok.get_vocab_size(with_added_tokens=True))
    t0 = time.perf_counter()
    with atomic_dir(out) as tmp:
        writers: dict[str, _DatasetWriter] = {}
        pending: dict[str, list[str]] = {}
        names: dict[str, str] = {}
        try:
            for source, text in records:
                if source not in writers:
                    name = dataset_name(source)
                    if name in names.values():  # only if two sources are literally the same safe name
                        raise ConfigError(f"two sources map to dataset name {name!r}")
                    names[source] = name
                    writers[source] = _DatasetWriter(tmp / name, dtype)
                    pending[source] = []
                buf = pending[source]
                buf.append(text)
                if len(buf) >= batch_size:
                    writers[source].add(encode(buf))
                    buf.clear()
            datasets: dict[str, dict[str, Any]] = {}
            for source, writer in writers.items():
                if pending[source]:
                    writer.add(encode(pending[source]))
                stats = writer.finish()
                stats["prefix"] = f"{root}/{names[source]}"
                datasets[source] = stats
        except BaseException:
            for writer in writers.values():
                writer.abort()
            raise
        total = sum(d["tokens"] for d in datasets.values())
        for source, d in datasets.items():
            d["epochs"] = float((epochs or {}).get(source, 1.0))
        weighted = sum(d["tokens"] * d["epochs"] for d in datasets.values())
        written = {s: d for s, d in datasets.items() if d["tokens"] > 0}
        if not written:
            raise ConfigError("megatron export: no kept record has any token; nothing to train on")
        for source, d in datasets.items():
            if d["tokens"] == 0:  # an empty dataset breaks Megatron's blend; keep it out, say so in lineage
                for suffix in (".bin", ".idx"):
                    (tmp / (names[source] + suffix)).unlink()
                d.update(prefix=None, bin_sha256=None, idx_sha256=None)  # no file: nothing to digest
            d["weight"] = d["tokens"] * d["epochs"] / weighted
        weights = {d["prefix"]: d["weight"] for d in written.values()}
        write_blend(weights, tmp / "blend.txt")
        record = lineage(commit=commit, params_digest=params_digest, rubric_versions=rubric_versions,
                         manifest_digest=manifest_digest, format="megatron-indexed-dataset",
                         megatron_reader=MEGATRON_READER, index_version=INDEX_VERSION, dtype=dtype.name,
                         tokenizer=_tokenizer_name(tokenizer),
                         tokenizer_sha256=_tokenizer_sha256(tokenizer, tok),
                         append_eod=append_eod, eod_id=eod, eod_in_text=encode.eod_in_text, add_special_tokens=False,
                         special_token_text="encoded as text",
                         datasets=datasets, blend=blend_text(weights),
                         documents=sum(d["documents"] for d in datasets.values()), tokens=total,
                         **(provenance or {}))
        write_json(record, tmp / "lineage.json")
    record["seconds"] = round(time.perf_counter() - t0, 3)
    return record


def _tokenizer_name(tokenizer: Any) -> str:
    """How the tokenizer was named, for lineage (an object has no path; its digest is recorded beside)."""
    return str(tokenizer) if isinstance(tokenizer, str | Path) else type(tokenizer).__name__


def _tokenizer_sha256(tokenizer: Any, tok: Any) -> str:
    """sha256 of the tokenizer.json a name loads (as ingest's identity records it), else of the object's JSON."""
    if isinstance(tokenizer, str | Path):
        return tokens.tokenizer_identity(tokenizer)["sha256"]
    return hashlib.sha256(tok.to_str().encode()).hexdigest()
