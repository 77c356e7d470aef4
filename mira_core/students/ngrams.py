"""Hashed word and character n-grams for the `linear` student, vectorised in numpy.

Role: turn records into sparse, L2-normalised count vectors of `n_features` hash buckets, fast
enough to score a corpus on CPU: the linear student must score at least 2,000 docs/s per core on
~2 KB records.

Key decision: our own hashing instead of sklearn's HashingVectorizer. sklearn builds character
n-grams in a Python loop; measured on 2 KB chunks of the standard library, one core:

    sklearn word 1-2 grams                      ~3,600 docs/s   held-out Spearman 0.48
    sklearn word 1-2 + char_wb 3-5 grams          ~510 docs/s                     0.54
    this module, word 1-2 + char 3,5 grams     ~3,000-3,300 docs/s (whole predict) 0.56
    this module, word 1-2 + char 3,4,5 grams   ~2,000-2,200 docs/s (whole predict) 0.55

(13 rules-teacher dimensions as proxy labels, ridge alpha 1, 800 train / 3,200 test records.) Here
a batch becomes one array of Unicode code points; n-gram hashes are polynomial hashes in wrapping
uint32 arithmetic, mixed with MurmurHash3's finaliser; the counts come from one sort of
(document, block, bucket) keys. The sort is most of the time, so the character orders were cut to
3 and 5: dropping 4 loses nothing measurable and saves a third of the keys. No `alternate_sign`:
sklearn with and without it scored the same Spearman at 2^16..2^20 buckets, and it costs a pass.

The analysis follows sklearn's `analyzer='word'` (tokens of 2+ word characters, lowercased) and
`analyzer='char'` (lowercased, whitespace runs collapsed to one space). Words and characters are
two blocks, each L2-normalised on its own (like a FeatureUnion of two hashers) so the ~10x more
numerous character n-grams do not drown the words; both hash into the same buckets with different
salts. Hashes depend only on code points, so features are identical across machines and runs.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import asdict, dataclass
from functools import lru_cache

import numpy as np
import scipy.sparse as sp

SCHEME = "mira-ngram-hash/2"  # bump when the features change, so old checkpoints refuse to load
MAX_FEATURES = 2**24  # the dense coefficient matrix is n_anchors x n_features float32: 1 GB at 15 anchors
BMP = 0x10000
PRIME = np.uint32(0x9E3779B1)  # Knuth's golden-ratio multiplier: odd (invertible mod 2^32), bits spread widely
WORD_SALT = 0x5EED_0000
CHUNK = 128  # records per vectorised pass; measured 3.6k/4.3k/4.0k/3.5k docs/s at 64/128/256/512 (cache vs call cost)


@lru_cache(maxsize=1)
def _tables() -> tuple[np.ndarray, np.ndarray]:
    """(is word character, is whitespace) for every BMP code point; `_is_word` looks up the rest."""
    chars = [chr(i) for i in range(BMP)]
    word = np.array([c.isalnum() or c == "_" for c in chars], dtype=bool)  # re's \w
    space = np.array([c.isspace() for c in chars] + [False], dtype=bool)  # no whitespace lies above the BMP
    return word, space


def _is_word(c: np.ndarray) -> np.ndarray:
    """Which code points are word characters (re's \\w): the BMP's from the table, the rest one by one.

    Above the BMP lie emoji (not word characters) and CJK extensions (word characters). A table over all
    1.1 M code points would cost a second to build in every process; a batch's astral code points are
    few, so they are looked up per distinct value.
    """
    word, _ = _tables()
    out = word[np.minimum(c, BMP - 1)]
    astral = c >= BMP
    if astral.any():
        values, inverse = np.unique(c[astral], return_inverse=True)
        out[astral] = np.array([chr(v).isalnum() for v in values.tolist()], dtype=bool)[inverse]
    return out


def _mix(h: np.ndarray, salt: int) -> np.ndarray:
    """MurmurHash3's 32-bit finaliser of h ^ salt: spreads polynomial hashes over all bits."""
    h = h ^ np.uint32(salt)
    h ^= h >> np.uint32(16)
    h *= np.uint32(0x85EBCA6B)
    h ^= h >> np.uint32(13)
    h *= np.uint32(0xC2B2AE35)
    h ^= h >> np.uint32(16)
    return h


def _powers(base: np.uint32, n: int) -> np.ndarray:
    out = np.empty(n + 1, np.uint32)
    out[0] = 1
    np.multiply.accumulate(np.full(n, base, np.uint32), out=out[1:])
    return out


@dataclass(frozen=True)
class NgramHasher:
    """Featurizer settings; `transform` maps texts to an (n, n_features) float32 CSR matrix."""

    n_features: int = 2**18
    max_chars: int = 4000
    word_ngrams: tuple[int, ...] = (1, 2)
    char_ngrams: tuple[int, ...] = (3, 5)
    scheme: str = SCHEME

    def __post_init__(self) -> None:
        if not 0 < self.n_features <= MAX_FEATURES:
            raise ValueError(f"n_features must be in 1..{MAX_FEATURES}, got {self.n_features}")
        if not set(self.word_ngrams) <= {1, 2}:
            raise ValueError(f"word_ngrams must be among (1, 2), got {self.word_ngrams}")
        if not (self.word_ngrams or self.char_ngrams) or min(self.char_ngrams, default=1) < 1:
            raise ValueError(f"bad n-gram orders: words {self.word_ngrams}, chars {self.char_ngrams}")

    def settings(self) -> dict:
        return {k: list(v) if isinstance(v, tuple) else v for k, v in asdict(self).items()}

    @classmethod
    def from_settings(cls, s: dict) -> NgramHasher:
        if s.get("scheme") != SCHEME:
            raise ValueError(f"features of scheme {s.get('scheme')!r}; this version computes {SCHEME!r}")
        return cls(int(s["n_features"]), int(s["max_chars"]), tuple(s["word_ngrams"]), tuple(s["char_ngrams"]))

    def transform(self, texts: list[str]) -> sp.csr_matrix:
        """Features of `texts`; a row may hold a bucket twice (a word and a char n-gram), which products sum."""
        parts = list(self.batches(texts))
        if not parts:
            return sp.csr_matrix((0, self.n_features), dtype=np.float32)
        return parts[0] if len(parts) == 1 else sp.vstack(parts, format="csr")

    def batches(self, texts: list[str]) -> Iterator[sp.csr_matrix]:
        """Features of consecutive slices of `texts`: predicting slice by slice skips the final vstack."""
        chunk = max(1, min(CHUNK, 2**31 // self.n_features))  # keys (record, block, bucket) must fit uint32
        for i in range(0, len(texts), chunk):
            yield self._chunk(texts[i : i + chunk])

    def _chunk(self, texts: list[str]) -> sp.csr_matrix:
        n, nf = len(texts), np.uint32(self.n_features)
        c, doc = self._codepoints(texts)
        blocks = [b for b in (self._words(c, doc), self._chars(c, doc)) if b]
        keys = [(d * np.uint32(2) + np.uint32(b)) * nf + h % nf for b, block in enumerate(blocks) for d, h in block]
        key = np.concatenate(keys) if keys else np.zeros(0, np.uint32)
        if key.size == 0:
            return sp.csr_matrix((n, self.n_features), dtype=np.float32)
        key.sort()
        first = np.empty(key.size, bool)
        first[0] = True
        np.not_equal(key[1:], key[:-1], out=first[1:])
        starts = np.flatnonzero(first)
        counts = np.diff(starts, append=key.size).astype(np.float32)
        ukey = key[starts]
        row = ukey // nf  # record * 2 + block
        norms = np.sqrt(np.bincount(row, weights=counts * counts, minlength=2 * n)).astype(np.float32)
        indptr = np.zeros(n + 1, np.int64)
        np.cumsum(np.bincount(row >> np.uint32(1), minlength=n), out=indptr[1:])
        return sp.csr_matrix((counts / norms[row], (ukey % nf).astype(np.int32), indptr), shape=(n, self.n_features))

    def _codepoints(self, texts: list[str]) -> tuple[np.ndarray, np.ndarray]:
        """Code points of the lowercased heads, whitespace runs collapsed to one space; and each one's record."""
        _, space = _tables()
        heads = [t[: self.max_chars].lower() for t in texts]
        c = np.frombuffer("".join(heads).encode("utf-32-le"), dtype=np.uint32)
        doc = np.repeat(np.arange(len(heads), dtype=np.uint32), [len(h) for h in heads])
        ws = space[np.minimum(c, BMP)]
        keep = np.ones(c.size, bool)
        keep[1:] = ~(ws[1:] & ws[:-1] & (doc[1:] == doc[:-1]))
        return np.where(ws, np.uint32(32), c)[keep], doc[keep]

    def _chars(self, c: np.ndarray, doc: np.ndarray) -> list[tuple[np.ndarray, np.ndarray]]:
        """(record, hash) of every character n-gram that lies inside one record."""
        out, h = [], c
        for n in range(1, max(self.char_ngrams, default=0) + 1):
            if n > 1:
                h = h[:-1] * PRIME + c[n - 1 :]  # rolling: hash of c[i:i+n] from hash of c[i:i+n-1]
            if n in self.char_ngrams:
                inside = doc[: h.size] == doc[n - 1 :]
                out.append((doc[: h.size][inside], _mix(h[inside], n)))
        return out

    def _words(self, c: np.ndarray, doc: np.ndarray) -> list[tuple[np.ndarray, np.ndarray]]:
        """(record, hash) of word unigrams and bigrams; words are runs of 2+ word characters (sklearn's)."""
        if not self.word_ngrams or c.size == 0:
            return []
        w = _is_word(c)
        new_doc = np.ones(c.size, bool)
        new_doc[1:] = doc[1:] != doc[:-1]
        start = w & (new_doc | ~np.roll(w, 1))
        end = w & (np.append(new_doc[1:], True) | ~np.roll(w, -1))
        s, e = np.flatnonzero(start), np.flatnonzero(end) + 1
        s, e = s[e - s >= 2], e[e - s >= 2]
        # hash of c[s:e] = sum c_j P^(j-s) = (H[e] - H[s]) * P^-s with prefix sums H[i] = sum_{j<i} c_j P^j
        prefix = np.zeros(c.size + 1, np.uint32)
        np.cumsum(c * _powers(PRIME, c.size)[:-1], out=prefix[1:], dtype=np.uint32)
        inverse = np.uint32(pow(int(PRIME), -1, 2**32))
        th = (prefix[e] - prefix[s]) * _powers(inverse, c.size)[s]
        tdoc, uni = doc[s], _mix(th, WORD_SALT + 1)
        out = []
        if 1 in self.word_ngrams:
            out.append((tdoc, uni))
        if 2 in self.word_ngrams and th.size > 1:
            # combine mixed unigram hashes: a polynomial of raw ones collides ('u2555 0x00b8' ~ 'u2556 0x00b7')
            same = tdoc[:-1] == tdoc[1:]
            out.append((tdoc[:-1][same], _mix(uni[:-1][same] * PRIME + th[1:][same], WORD_SALT + 2)))
        return out
