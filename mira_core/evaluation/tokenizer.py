"""The proxy model's tokenizer: a byte-level BPE trained here on a seeded corpus sample, or MiniLM's WordPiece.

The default is a small byte-level BPE (the GPT-2 recipe): it has no unknown tokens, so code, C
headers and shell scripts all round-trip, and a small vocabulary keeps the output layer (the largest
matrix, and most of the step time, of a 128-wide model) cheap: a 16 x 128-token CPU step took ~0.12 s
with 2048 entries, ~0.17 s with 4096, ~0.37 s with 8192. Training it on 2 M characters takes about
0.7 s; encoding runs at ~1.9 M characters/s per thread, so `encode` splits the work over threads (the
Rust encoder releases the GIL: 3.7 M characters/s on 2 cores, 13-15 s for the 48 M-character demo
corpus). The process-wide TOKENIZERS_PARALLELISM=false that flows/ sets does not reach these threads.
"minilm" is the WordPiece tokenizer bundled with all-MiniLM-L6-v2 (offline, 30522 entries,
lower-cased): no training, but a 15x larger output layer (~1.8 s per CPU step).
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import numpy as np
from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers

from mira_core.sampling import keyed_order

EOS = "<|endoftext|>"
MAX_SAMPLE_RECORD_CHARS = 20_000  # one huge file must not fill the tokenizer sample on its own
ENCODE_CHUNK = 256  # records per encode call: big enough to amortize the call, small enough to balance threads


@dataclass(frozen=True)
class LMTokenizer:
    """A fast tokenizer and the id of the token that separates records."""

    tokenizer: Tokenizer
    eos_id: int
    kind: str


    @property
    def vocab_size(self) -> int:
        return self.tokenizer.get_vocab_size()

    @property
    def dtype(self) -> type[np.unsignedinteger]:
        """The narrowest integer type that holds every id (uint16 halves the memory of the token streams)."""
        return np.uint16 if self.vocab_size <= np.iinfo(np.uint16).max + 1 else np.uint32

    def encode(self, texts: Sequence[str], threads: int = 0) -> list[np.ndarray]:
        """Token ids of each text (no special tokens, no truncation), encoded on `threads` threads (0: all cores).

        A record's own "<|endoftext|>" (or "[SEP]") is text: read as the special token, it would put the record
        separator in the middle of a record. Set here, at each call: the flag is not part of tokenizer.json and is
        lost on every copy (pickling, `from_str`).
        """
        self.tokenizer.encode_special_tokens = True
        chunks = [list(texts[i:i + ENCODE_CHUNK]) for i in range(0, len(texts), ENCODE_CHUNK)]
        workers = max(1, min(threads or os.cpu_count() or 1, len(chunks)))

        def one(chunk: list[str]) -> list[np.ndarray]:
            return [np.asarray(e.ids, dtype=self.dtype)
                    for e in self.tokenizer.encode_batch_fast(chunk, add_special_tokens=False)]

        if workers == 1:
            return [a for c in chunks for a in one(c)]
        with ThreadPoolExecutor(workers) as pool:
            return [a for part in pool.map(one, chunks) for a in part]

    def save(self, path: Path) -> Path:
        """Write tokenizer.json (loadable with `tokenizers.Tokenizer.from_file`; set `encode_special_tokens = True`
        on the loaded one to encode records as `encode` does)."""
        path.parent.mkdir(parents=True, exist_ok=True)
        self.tokenizer.save(str(path))
        return path


def sample_texts(ids: Sequence[str], texts: Mapping[str, str], max_chars: int, seed: int) -> list[str]:
    """A seeded random sample of the records `ids` (each cut to 20 000 characters) holding about `max_chars`
    characters, drawn in the order of a seeded hash of each record's id: a record added elsewhere in the corpus
    moves no other record in or out of it (a shuffle of positions re-drew the whole sample, and the vocabulary)."""
    out: list[str] = []
    total = 0
    for i in keyed_order(ids, f"{seed}:tokenizer-sample"):
        if total >= max_chars:
            break
        t = texts[ids[i]][:MAX_SAMPLE_RECORD_CHARS]
        out.append(t)
        total += len(t)
    return out


def train_bpe(texts: Sequence[str], vocab_size: int) -> LMTokenizer:
    """A byte-level BPE with `vocab_size` entries (EOS included) trained on `texts`."""
    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(vocab_size=vocab_size, special_tokens=[EOS], show_progress=False,
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet())
    tok.train_from_iterator(texts, trainer)
    tok.no_truncation()
    tok.no_padding()
    return LMTokenizer(tok, tok.token_to_id(EOS), "bpe")


def minilm_tokenizer() -> LMTokenizer:
    """The WordPiece tokenizer bundled with all-MiniLM-L6-v2; [SEP] separates records."""
    from mira_core.ingest.tokens import resolve_model_path

    tok = Tokenizer.from_file(str(Path(resolve_model_path("minilm")) / "tokenizer.json"))
    tok.no_truncation()
    tok.no_padding()
    return LMTokenizer(tok, tok.token_to_id("[SEP]"), "minilm")


def build_tokenizer(kind: Literal["bpe", "minilm"], vocab_size: int, sample: Sequence[str]) -> LMTokenizer:
    """The tokenizer `kind` names; `sample` (the training texts) and `vocab_size` are used by bpe only."""
    return minilm_tokenizer() if kind == "minilm" else train_bpe(sample, vocab_size)
