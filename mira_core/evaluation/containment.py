"""Training records that hold a held-out record inside them, which the proxy evaluation keeps out of every stream.

dedup links whole records at estimated Jaccard >= its threshold, so a training record that quotes a target record
inside a text four times as long (Jaccard about 0.2), or holds the same QA pair rendered as chat (0.70), is no
near-duplicate; on the demo, a third-party module holds the very function a `docstring_qa` answer is. Such a record
taught the target to every arm that trained on it. The measure here is containment, not Jaccard: the share of a
held-out record's distinct word n-grams (the qa and chat renderings' header lines left out, as decontaminate does)
that one training record holds. A licence header shared with a target file is a small share of that file's n-grams,
so it does not count, where a single shared n-gram (decontaminate's rule for benchmark items) would.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np

from mira_core.dedup import TokenHasher, gram_owners, ngram_hashes, shared_per_item, words
from mira_core.ingest.render import without_headers


def _grams(text: str, n: int, hasher: TokenHasher) -> np.ndarray:
    # a Chinese or Japanese character is a word wherever it stands, as dedup's shingles split them: split only in
    # text mostly in those scripts, a Chinese target quoted in an English record was one word there and a run of
    # characters in the target, and no n-gram matched
    return ngram_hashes(hasher(words(without_headers(text), split_unspaced=True)), n)


def unchecked(targets: Sequence[str], n: int) -> int:
    """How many held-out texts have no n-gram of `n` words (`holding_records` can find no record holding them)."""
    hasher = TokenHasher()
    return sum(not len(_grams(t, n, hasher)) for t in targets)


def holding_records(train: Mapping[str, str], targets: Sequence[str], n: int, share: float) -> dict[str, int]:
    """{training record id: index in `targets` of a held-out text it holds}, for every training record holding at
    least `share` of one held-out text's distinct n-grams of `n` words. A held-out text under n words has no
    n-gram and holds nothing to match (`unchecked` counts them: a short answer quoted word for word stays in)."""
    hasher = TokenHasher()
    per_target = [_grams(t, n, hasher) for t in targets]
    sizes = np.array([len(g) for g in per_target], dtype=np.int64)
    if not sizes.any():
        return {}
    grams, owner = gram_owners(per_target)
    need = np.ceil(share * sizes - 1e-9)
    out: dict[str, int] = {}
    for rid, text in train.items():
        mine = _grams(text, n, hasher)
        if not len(mine):
            continue
        counts = shared_per_item(mine, grams, owner, len(targets))
        held = np.flatnonzero((counts >= need) & (sizes > 0))
        if len(held):
            out[rid] = int(held[0])
    return out
