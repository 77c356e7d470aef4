"""The encoder pass: one vector per record, computed once and reused by group, discover, distill and score,
with the record's document statistics and the share of it that the encoder read.

Two kinds of encoder, chosen by `embed.encoder`:
- `static` (the default): a static embedding distilled offline from the bundled MiniLM
  (mira_core/static_encoder.py). It reads every token of every record, thousands of records per second
  per core: coverage 1.0.
- a transformer (`minilm`, or a local encoder folder): reads `embed.windows` windows of `max_length`
  tokens spread evenly from the head to the tail of each record (1 = the head only); the windows'
  vectors are averaged. Speed comes from choices measured in BENCHMARKS.md: records are tokenized once
  and windows sorted by length so each batch is padded only to its own longest window (dynamic
  padding); and bf16 where the hardware has native bf16 (AVX512-BF16/AMX CPUs, CUDA), with fp32 pooling.
  A record is tokenized whole whatever the number of windows, so its coverage is a true share of what it
  holds: as ingest kept it (`ingest.max_chars`, or a source's own `max_chars`, bounds a record's length, and so
  this stage's cost).

Each record's row also holds `coverage` (tokens read / tokens in the record, 1.0 for a whole read) and
`stats`, the document statistics of mira_core/docstats.py (teacher-independent structure a student reads
beside the embedding). Embeddings are mean-pooled and L2-normalised (the sentence-transformers recipe of
all-MiniLM-L6-v2; the pooling mode, cls or mean, and whether to normalise are read from the model folder when it
has a sentence-transformers config: one whose modules.json lists no Normalize module gives vectors as pooled; a
folder asking for another pooling or another module, such as a Dense layer, is refused).

Unlike the token counts and the Megatron shards (mira_core/ingest/tokens.py), the encoders read a special
token's text inside a record ("[SEP]") as that token, as their tokenizers do by default: the vector is a
feature a student reads, not training data, and changing it would change every stored embedding. So
`coverage`'s token counts can differ from ingest's `n_tokens` by a few for such a record.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from functools import lru_cache
from pathlib import Path

import numpy as np
import polars as pl

from mira_core.config import EmbedParams
from mira_core.errors import ConfigError, check_interrupted
from mira_core.ingest.tokens import BUNDLED, resolve_model_path
from mira_core.io import (
    DAMAGED_PARQUET,
    file_digest,
    library_versions,
    model_digest,
    read_json,
    read_parquet,
    write_json,
    write_parquet,
)
from mira_core.layout import project_path
from mira_core.schema import CORPUS, read_checked

CHARS_PER_TOKEN_CAP = 16  # a WordPiece token is rarely longer than this; text beyond max_length * 16 is never read


def cpu_has_bf16() -> bool:
    """True when the CPU has native bf16 arithmetic (AVX512-BF16 or AMX)."""
    try:
        flags = Path("/proc/cpuinfo").read_text()
    except OSError:
        return False
    return "avx512_bf16" in flags or "amx_bf16" in flags


def resolve_backend(p: EmbedParams, device: str) -> str:
    """The backend `auto` stands for: torch where it has fast arithmetic (CUDA, native bf16), else ONNX int8."""
    if p.backend != "auto":
        if p.backend != "torch" and device == "cuda":
            raise ConfigError(f"embed.backend = {p.backend!r} runs on CPU only; use torch (or auto) with CUDA")
        return p.backend
    return "torch" if device == "cuda" or cpu_has_bf16() else "onnx-int8"


def resolve_device_dtype(p: EmbedParams) -> tuple[str, str]:
    """The device and dtype `auto` stands for on this machine."""
    import torch

    device = p.device
    if device == "auto":
        device = "cuda" if torch.cuda.is_available() else "cpu"
    elif device == "cuda" and not torch.cuda.is_available():
        raise ConfigError("embed.device = 'cuda': no CUDA device is available")
    dtype = p.dtype
    if dtype == "auto":
        dtype = "bf16" if (device == "cuda" or cpu_has_bf16()) else "fp32"
    return device, dtype


# sentence-transformers' pooling flags before its 5.x `pooling_mode` key, in the order it concatenates them
_LEGACY_POOLING = {"pooling_mode_cls_token": "cls", "pooling_mode_max_tokens": "max", "pooling_mode_mean_tokens": "mean",
                   "pooling_mode_mean_sqrt_len_tokens": "mean_sqrt_len_tokens",
                   "pooling_mode_weightedmean_tokens": "weightedmean", "pooling_mode_lasttoken": "lasttoken"}
# the sentence-transformers modules this pass applies; another one (Dense, a second pooling) would change the vectors
_APPLIED_MODULES = ("Transformer", "Pooling", "Normalize")


def _st_modules(path: Path) -> list[tuple[str, Path]]:
    """(class name, folder) of each module in a sentence-transformers folder's modules.json; [] without one."""
    modules = path / "modules.json"
    if not modules.exists():
        return []
    return [(m.get("type", "").rsplit(".", 1)[-1], path / m.get("path", "")) for m in read_json(modules)]


def _pooling(path: Path) -> tuple[str, bool]:
    """(mode, normalize) from a sentence-transformers model folder; mean + normalize by default.

    The pooling config is read in both of sentence-transformers' formats: the `pooling_mode_*` flags and the
    `pooling_mode` key that it writes since 5.x (a CLS-pooled model it saved was read as mean-pooled). A mode
    that `pool` does not apply (max, last token, several concatenated) is refused, not replaced by the mean."""
    modules = _st_modules(path)
    folder = next((d for kind, d in modules if kind == "Pooling"), path / "1_Pooling")
    mode = "mean"
    cfg = folder / "config.json"
    if cfg.exists():
        c = read_json(cfg)
        modes = c.get("pooling_mode")
        if modes is None:  # the flags; none set is the mean, as sentence-transformers reads them
            modes = [m for key, m in _LEGACY_POOLING.items() if c.get(key)] or ["mean"]
        modes = [modes] if isinstance(modes, str) else list(modes)
        if modes not in (["cls"], ["mean"]):
            raise ConfigError(f"{cfg}: pooling {'+'.join(map(str, modes))} is not supported by the encoder pass "
                              "(cls or mean)")
        mode = modes[0]
    normalize = any(kind == "Normalize" for kind, _ in modules) if modules else True
    return mode, normalize


def pool(hidden, mask, how: str):
    """One vector per sequence from last hidden states (batch, seq, dim) and the attention mask (batch, seq):
    the first token's state for "cls", else the mean over the unmasked positions (an all-padding row divides
    by 1, not 0). One function for the encoder pass and the fine-tuned student, so the student pools its
    hidden states exactly as the embeddings were pooled."""
    if how == "cls":
        return hidden[:, 0]
    w = mask.unsqueeze(-1).float()
    return (hidden * w).sum(1) / w.sum(1).clamp(min=1.0)


class Encoder:
    """A Hugging Face encoder with pooling, loaded once; `encode_records` turns records into vectors (unit vectors
    unless the model folder's modules.json leaves out Normalize)."""

    def __init__(self, p: EmbedParams, cache_dir: Path | None = None, root: Path | None = None) -> None:
        import torch
        from transformers import AutoModel, AutoTokenizer
        from transformers.utils import logging as hf_logging

        hf_logging.disable_progress_bar()  # the per-tensor "Loading weights" bar; our own bar counts records
        path = model_folder(p.encoder, root)
        if not (path / "config.json").exists():
            raise ConfigError(f"embed.encoder = {p.encoder!r}: no model folder with config.json at {path}")
        unapplied = [kind for kind, _ in _st_modules(path) if kind not in _APPLIED_MODULES]
        if unapplied:
            raise ConfigError(f"{path / 'modules.json'}: module(s) {', '.join(unapplied)} are not applied by the "
                              f"encoder pass (only {', '.join(_APPLIED_MODULES)}): its vectors would not be this "
                              "model's")
        self.pooling, self.normalize = _pooling(path)  # before the weights load: a refused folder fails at once
        self.device, self.dtype = resolve_device_dtype(p)
        self.backend = resolve_backend(p, self.device)
        if p.threads:
            torch.set_num_threads(p.threads)
        self.tokenizer = AutoTokenizer.from_pretrained(str(path), local_files_only=True)
        if self.tokenizer.cls_token_id is None or self.tokenizer.sep_token_id is None:
            raise ConfigError(f"embed.encoder = {p.encoder!r}: its tokenizer has no CLS or SEP token, which frame "
                              "each window the encoder pass reads (a BERT-style encoder is expected)")
        self.runner = None  # an ONNX Runtime session when the backend is onnx
        if self.backend == "torch":
            torch_dtype = torch.bfloat16 if self.dtype == "bf16" else torch.float32
            self.model = AutoModel.from_pretrained(str(path), local_files_only=True, dtype=torch_dtype).to(self.device)
            self.model.eval()
            config = self.model.config
        else:
            from transformers import AutoConfig

            from mira_core.onnx_backend import OnnxEncoderRunner, export_onnx, onnx_cache_key

            self.dtype = "int8" if self.backend == "onnx-int8" else "fp32"
            quantize = "int8" if self.backend == "onnx-int8" else "none"
            onnx = export_onnx(path, Path(cache_dir or Path.home() / ".cache" / "mira" / "encoders"), quantize)
            self.runner = OnnxEncoderRunner(onnx, p.threads)
            self.onnx_key = onnx_cache_key(path, quantize)
            config = AutoConfig.from_pretrained(str(path), local_files_only=True)
        # the tokenizer's limit too, as sentence-transformers caps it: a RoBERTa-family model (roberta, xlm-roberta,
        # mpnet) numbers positions from padding_idx + 1, so its 514 position embeddings hold 512 tokens, as its
        # tokenizer says; a window of 514 failed with "index out of range" (transformers' unset limit is huge)
        limit = getattr(self.tokenizer, "model_max_length", None) or p.max_length
        self.max_length = min(p.max_length, getattr(config, "max_position_embeddings", p.max_length),
                              limit if limit < 1_000_000 else p.max_length)
        if self.max_length < 3:  # [CLS] and [SEP] frame every window: 2 left none to read (a division by zero)
            raise ConfigError(f"embed.max_length = {p.max_length}: a window reads max_length - 2 tokens between "
                              f"[CLS] and [SEP] (this encoder takes {self.max_length}); use 3 or more")
        self.windows = p.windows
        self.batch_size = p.batch_size
        self.dim = int(config.hidden_size)
        self.fingerprint = {
            "encoder": p.encoder, "weights": model_digest(path), "dtype": self.dtype, "max_length": self.max_length,
            "windows": self.windows, "pooling": self.pooling, "normalize": self.normalize, "dim": self.dim,
            "backend": self.backend, **({"onnx": self.onnx_key} if self.runner is not None else {}),
            # dynamic int8 quantises each batch's activations with one scale, padding included: a window's vector
            # depends on its batch-mates (cosine ~0.99 to itself alone), so the batch size is part of what made it
            **({"batch_size": self.batch_size} if self.backend == "onnx-int8" else {}),
        }

    def tokenize(self, texts: list[str]) -> list[list[int]]:
        """Token ids of each text's head, special tokens included, no padding."""
        cut = self.max_length * CHARS_PER_TOKEN_CAP
        enc = self.tokenizer([t[:cut] for t in texts], truncation=True, max_length=self.max_length,
                             padding=False, return_attention_mask=False)
        return enc["input_ids"]

    def window_ids(self, texts: list[str]) -> tuple[list[list[int]], np.ndarray, np.ndarray]:
        """(windows, the record of each window, coverage of each record): up to `windows` windows per record,
        spread evenly from head to tail, each with the special tokens around it. Each text is tokenized once, whole
        as ingest kept it: its token count is what coverage needs, and the last window reaches its end."""
        body = self.max_length - 2
        cls, sep = self.tokenizer.cls_token_id, self.tokenizer.sep_token_id
        # verbose=False: no window passes max_length, so transformers' "sequence length is longer than the specified
        # maximum ... will result in indexing errors" for a record over 512 tokens was a false alarm
        full = self.tokenizer(texts, add_special_tokens=False, return_attention_mask=False,
                              verbose=False)["input_ids"]
        windows, owner, cover = [], [], np.ones(len(texts), dtype=np.float32)
        for r, ids in enumerate(full):
            n = len(ids)
            k = max(1, min(self.windows, -(-n // body)))
            starts = [0] if k == 1 else [round(j * (n - body) / (k - 1)) for j in range(k)]
            read = np.zeros(max(n, 1), dtype=bool)
            for s in starts:
                windows.append([cls, *ids[s : s + body], sep])
                owner.append(r)
                read[s : s + body] = True
            cover[r] = read.mean() if n else 1.0
        return windows, np.asarray(owner, dtype=np.int64), cover  # int even when empty

    def encode(self, texts: list[str], progress: Callable[[int], None] | None = None) -> np.ndarray:
        """Embeddings (n, dim) float32 in input order."""
        return self.encode_records(texts, progress)[0]

    def encode_records(self, texts: list[str], progress: Callable[[int], None] | None = None
                       ) -> tuple[np.ndarray, np.ndarray]:
        """(embeddings (n, dim) float32 in input order, coverage (n,)): windows are batched by length."""
        if not texts:  # an empty shard: the tokenizer fails on an empty batch
            return np.zeros((0, self.dim), dtype=np.float32), np.zeros(0, dtype=np.float32)
        windows, owner, cover = self.window_ids(texts)
        vectors = self._encode_ids(windows)
        out = np.zeros((len(texts), self.dim), dtype=np.float32)
        np.add.at(out, owner, vectors)
        out /= np.maximum(np.bincount(owner, minlength=len(texts)), 1)[:, None]
        if self.normalize:
            out /= np.maximum(np.linalg.norm(out, axis=1, keepdims=True), 1e-12)
        if progress:
            progress(len(texts))
        return out, cover

    def _batches(self, ids: list[list[int]]):
        """(positions, input_ids, attention_mask) per batch, longest windows first, each padded to its own longest."""
        order = np.argsort([-len(x) for x in ids], kind="stable")
        pad = self.tokenizer.pad_token_id or 0
        for start in range(0, len(order), self.batch_size):
            check_interrupted()
            idx = order[start : start + self.batch_size]
            width = max(len(ids[i]) for i in idx)
            input_ids = np.full((len(idx), width), pad, dtype=np.int64)
            mask = np.zeros((len(idx), width), dtype=np.int64)
            for row, i in enumerate(idx):
                input_ids[row, : len(ids[i])] = ids[i]
                mask[row, : len(ids[i])] = 1
            yield idx, input_ids, mask

    def _encode_ids(self, ids: list[list[int]]) -> np.ndarray:
        """One pooled (and normalised) vector per window: on the ONNX Runtime session or on torch."""
        import torch

        out = np.zeros((len(ids), self.dim), dtype=np.float32)
        with torch.inference_mode():
            for idx, input_ids, mask in self._batches(ids):
                if self.runner is not None:
                    hidden = torch.from_numpy(self.runner(input_ids, mask))
                    m = torch.from_numpy(mask)
                else:
                    m = torch.from_numpy(mask).to(self.device)
                    hidden = self.model(input_ids=torch.from_numpy(input_ids).to(self.device),
                                        attention_mask=m).last_hidden_state.float()
                pooled = pool(hidden, m, self.pooling)
                if self.normalize:
                    pooled = torch.nn.functional.normalize(pooled, dim=-1)
                out[idx] = pooled.cpu().numpy()
        return out


class StaticEncoder:
    """A model2vec static embedding (mira_core/static_encoder.py): the mean of token vectors over the whole record."""

    def __init__(self, p: EmbedParams, cache_dir: Path, root: Path | None = None) -> None:
        import logging

        from model2vec import StaticModel

        logging.getLogger("model2vec").setLevel(logging.ERROR)  # it warns that we lift its 512-token default: we mean to

        from mira_core.static_encoder import is_static_folder, static_model_dir

        self.device, self.dtype = "cpu", "fp32"
        if p.encoder == "static":
            source = model_folder(p.static_source, root)
            if not (source / "config.json").exists():
                raise ConfigError(f"embed.static_source = {p.static_source!r}: no model folder at {source}")
            if not (source / "tokenizer.json").is_file():  # the distilled model runs the source's fast tokenizer
                raise ConfigError(f"embed.static_source = {p.static_source!r}: {source} holds no tokenizer.json (save "
                                  "the model's fast tokenizer there with save_pretrained)")
            folder = static_model_dir(source, cache_dir)
        else:
            folder = model_folder(p.encoder, root)
            if not is_static_folder(folder):
                raise ConfigError(f"embed.encoder = {p.encoder!r}: not a model2vec folder")
        self.model = StaticModel.from_pretrained(str(folder), max_length=None, force_download=False)
        self.model.tokenizer.no_padding()
        self.dim = int(self.model.dim)
        self.max_length = None
        self.batch_size = p.batch_size
        self.fingerprint = {"encoder": p.encoder, "weights": model_digest(folder, "config.json"),
                            # a source folder by its content (the weights digest holds it too), so not by its path
                            "source": (None if p.encoder != "static" else model_digest(source)
                                       if p.static_source != BUNDLED and source.is_dir() else p.static_source),
                            "max_length": None, "windows": None, "dim": self.dim}

    def encode(self, texts: list[str], progress: Callable[[int], None] | None = None) -> np.ndarray:
        return self.encode_records(texts, progress)[0]

    def encode_records(self, texts: list[str], progress: Callable[[int], None] | None = None
                       ) -> tuple[np.ndarray, np.ndarray]:
        """(embeddings (n, dim) float32, coverage): every token of every record is read (coverage 1.0)."""
        out = np.zeros((len(texts), self.dim), dtype=np.float32)
        step = max(1, self.batch_size * 16)
        for i in range(0, len(texts), step):
            check_interrupted()
            out[i : i + step] = self.model.encode(texts[i : i + step], max_length=None, batch_size=step)
            if progress:
                progress(len(texts[i : i + step]))
        return out, np.ones(len(texts), dtype=np.float32)


# The embedding code's own version: bump it when what a record's vector is made of changes (windows, pooling,
# the text cut), so shards and students made before no longer pass for current ones (embed's data/embeddings is
# persist: DVC re-runs the stage on a code change, but the shards' stamps decide what is re-embedded).
# 3: a record is read as ingest kept it: a cut at 100,000 characters (ingest's default max_chars) left the end of a
# longer record kept by a raised ingest.max_chars unread, a long trace's final answer among it
VERSION = "embed/3"  # 2: weights identified by content


_LOAD = threading.Lock()


def load_encoder(p: EmbedParams, root: Path | None = None) -> Encoder | StaticEncoder:
    """One encoder per params value in a process, shared by the tasks of a thread pool.

    The lock matters: transformers' lazy imports are not thread-safe, and two tasks loading at once
    would also hold two copies of the weights. `root` is the project folder: a relative `embed.cache_dir`
    (where the static encoder's distilled weights are cached) is read from there; `~` is the user's home.
    """
    # a model folder's content is part of what is shared: one retrained in place is loaded again, not served
    folders = [model_folder(f, root) for f in (p.encoder, *([p.static_source] if p.encoder == "static" else []))]
    content = tuple(model_digest(f) if f.is_dir() else str(f) for f in folders)
    home = Path(root or ".").resolve()
    with _LOAD:
        return _load_encoder(p, str(home / Path(p.cache_dir).expanduser()), content, str(home))


@lru_cache(maxsize=2)
def _load_encoder(p: EmbedParams, cache_dir: str, content: tuple = (), root: str = ".") -> Encoder | StaticEncoder:
    from mira_core.static_encoder import is_static_folder

    if p.encoder == "static" or is_static_folder(model_folder(p.encoder, Path(root))):
        return StaticEncoder(p, Path(cache_dir), Path(root))
    return Encoder(p, Path(cache_dir), Path(root))


def model_folder(name: str, root: Path | None) -> Path:
    """The folder an encoder knob names: the bundled MiniLM for 'minilm' (and 'static', which is no folder), else a
    path read from the project folder `root` (`~` the user's home): `mira stage embed --root` run from another folder
    read a relative one from there, or failed."""
    return Path(resolve_model_path(name)) if name in (BUNDLED, "static") else project_path(name, root)


def fingerprint(enc: Encoder | StaticEncoder, p: EmbedParams) -> dict:
    """What identifies an embedding shard's vectors and statistics: the encoder's and the statistics' versions.

    The device is not in it, as the batch size is not: the batch size moves a vector by rounding only (MiniLM fp32,
    batch 64 against 1: 1.5e-7 at most), and the device at one dtype is expected to as well (not measured: no GPU
    here), while the dtype and backend, which move it more (fp32 against bf16: cosine 0.99995), are in the encoder's
    part. With the device in, moving a project between a GPU and a CPU machine would re-embed every shard and refit
    every student."""
    from mira_core.docstats import NAMES
    from mira_core.docstats import VERSION as STATS_VERSION

    return {**enc.fingerprint, "embed": VERSION, "stats": STATS_VERSION if p.stats else None,
            "n_stats": len(NAMES) if p.stats else 0}


def check_current(shard: Path, made: dict) -> None:
    """Refuse a shard whose document statistics another version of mira made (its stamp's `stats`). After an
    upgrade, a plain `dvc repro` that re-runs distill or score for another reason (a changed knob) and not embed
    fitted the students on the old statistics, or scored with them, under this version's code, without a word."""
    if why := made_by_other_version(made):
        raise ConfigError(f"{shard}: {why}: re-run embed (after upgrading mira, dvc repro --force)")


def made_by_other_version(made: dict) -> str | None:
    """Why a shard's encoder stamp is another version of mira's statistics (`check_current`, `mira summary`), or
    None where it is this version's (or made without statistics)."""
    from mira_core.docstats import VERSION as STATS_VERSION

    if made.get("stats") in (None, STATS_VERSION):
        return None
    return (f"embedded by another version of mira ({made.get('embed')}, statistics {made.get('stats')}; this one "
            f"makes {VERSION}, {STATS_VERSION})")


def embedding_schema(dim: int, n_stats: int = 0) -> dict:
    schema = {"record_id": pl.String, "embedding": pl.Array(pl.Float32, dim), "coverage": pl.Float32}
    if n_stats:
        schema["stats"] = pl.Array(pl.Float32, n_stats)
    return schema


def _sidecar(out: Path) -> Path:
    return out.with_suffix(".json")


def _rows(path: Path) -> int | None:
    """The rows of a Parquet file, or None where polars cannot read its footer (a truncated or damaged file)."""
    try:
        return pl.scan_parquet(path, glob=False).select(pl.len()).collect().item()
    except DAMAGED_PARQUET:
        return None


def embed_shard(corpus_shard: Path, out: Path, enc: Encoder | StaticEncoder, p: EmbedParams,
                progress: Callable[[int], None] | None = None) -> dict:
    """Embed one corpus shard into `out`, unless `out` already holds this shard's embeddings (resume).

    A sidecar `out.json` records the input's digest and the encoder fingerprint; it is written after
    the Parquet file, so its presence means the shard is complete and current. A shard that no longer reads back
    under it (truncated or damaged since, or not the number of rows it records) is embedded again.
    """
    from mira_core.docstats import NAMES, doc_stats_matrix

    # the libraries too: a shard is not resumed across a torch, transformers or onnxruntime upgrade (the fingerprint,
    # which a student checks its inputs against, leaves them out: a student need not be refitted for one)
    stamp = {"input": file_digest(corpus_shard), "encoder": fingerprint(enc, p), "libraries": library_versions()}
    side = _sidecar(out)
    done = read_json(side) if out.exists() and side.exists() else {}
    # a shard polars cannot read under a current stamp (truncated or damaged after it was written) is embedded again:
    # resuming it failed on polars' bare error, and group's message about it says to re-run this stage
    n = _rows(out) if done.get("stamp") == stamp else None
    if n is not None and n == done.get("records", n):
        if progress:
            progress(n)
        zero = done.get("zero_vectors")
        if zero is None:  # a stamp from before the count: counted from the shard's vectors once
            from mira_core.static_encoder import zero_vectors

            zero = zero_vectors([out])
        return {"records": n, "resumed": True, "coverage": done.get("coverage"), "zero_vectors": zero}
    df = read_checked(corpus_shard, CORPUS, ["record_id", "format", "text"])
    texts = df["text"].to_list()
    vectors, cover = enc.encode_records(texts, progress)
    columns = {"record_id": df["record_id"], "embedding": vectors, "coverage": cover}
    if p.stats:
        columns["stats"] = doc_stats_matrix(df["format"].to_list(), texts)
    table = pl.DataFrame(columns, schema=embedding_schema(enc.dim, len(NAMES) if p.stats else 0))
    side.unlink(missing_ok=True)  # a kill between the two writes must not leave new vectors under an old stamp
    write_parquet(table, out)
    coverage = {"mean": round(float(cover.mean()), 4) if len(cover) else None,
                # read whole is 1.0 exactly: ">= 0.999" counted a record of 1,025 tokens with one left unread
                "full": int((cover == 1.0).sum())}
    # all-zero rows: records the static encoder knows no token of (static_encoder's docstring); counted here, where
    # the vectors are in memory, rather than by reading every shard's vectors again after the stage
    zero = int((~np.asarray(vectors).any(axis=1)).sum()) if len(vectors) else 0
    write_json({"stamp": stamp, "records": df.height, "coverage": coverage, "zero_vectors": zero}, side)
    return {"records": df.height, "resumed": False, "coverage": coverage, "zero_vectors": zero}


def read_embeddings(paths: list[Path]) -> tuple[list[str], np.ndarray]:
    """(record_ids, matrix) of embedding shards, in shard order."""
    if not paths:
        return [], np.zeros((0, 0), dtype=np.float32)
    # one file at a time through io.read_parquet: a shard polars cannot read is a ConfigError naming it
    df = pl.concat([read_parquet(p, columns=["record_id", "embedding"]) for p in paths])
    return df["record_id"].to_list(), df["embedding"].to_numpy().astype(np.float32, copy=False)
