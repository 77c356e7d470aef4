"""Near-duplicate removal across sources: MinHash signatures, LSH candidate pairs, union-find clusters.

The corpus is read one shard at a time (`minhash_shard`), so only the signatures (num_perm uint32
values per record) and a few small columns stay in memory; `near_duplicates` then finds candidate
pairs by LSH banding (the longest bands that miss at most `max_miss` of the pairs estimated at the threshold,
`lsh_bands`, in band tables of our own that hold each bucket's records by cluster), keeps a pair only when its
estimated Jaccard similarity
reaches the threshold, joins the kept pairs with union-find and keeps one representative per cluster.

The shingle hashing (words or characters -> 64-bit n-gram hashes) is ours and vectorised with numpy,
because hashing each shingle in Python is what makes MinHash slow; the n-gram hashes then feed
datasketch's MinHash unchanged. `decontaminate` reuses the same n-gram hashes.
"""

from __future__ import annotations

import hashlib
import math
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import polars as pl
import regex
from datasketch import MinHash, MinHashLSH

from mira_core.filter_params import DedupParams
from mira_core.io import read_parquet, write_parquet
from mira_core.layout import corpus_shards
from mira_core.marks import nfkc
from mira_core.schema import CORPUS, FILTER_COUNTS, NEAR_DUPLICATES, check_parquet
from mira_core.unspaced import spaced, split_each

REASON = "near_duplicate"
DROPPED, COUNTS = NEAR_DUPLICATES, FILTER_COUNTS  # data/dedup/dropped.parquet, counts.parquet
_READ_COLUMNS = ("record_id", "source", "text", "n_tokens")
_COUNT_COLUMNS = ("record_id", "source", "n_tokens")  # what `balance` counts
_SCHEME = "affine32"  # datasketch's default permutation scheme: 32-bit values, collision-free permutations


@dataclass
class ShardSignatures:
    """MinHash signatures of one corpus shard, with what clustering needs of each record."""

    record_id: list[str]
    source: list[str]
    n_tokens: np.ndarray  # int64, one per record
    signatures: np.ndarray  # uint32, (records, num_perm); rows of records without shingles are unused
    has_shingles: np.ndarray  # bool: False for a record whose normalised text is empty


@dataclass
class DedupResult:
    """The outcome of near-duplicate removal."""

    dropped: pl.DataFrame  # DROPPED schema, sorted by (cluster, record_id)
    counts: pl.DataFrame  # COUNTS schema, one row per source seen, sorted by source
    clusters: int  # clusters of two or more records
    cross_source_clusters: int  # of those, clusters holding records of more than one source
    lsh_bands: tuple[int, int]  # (bands, rows per band) that MinHashLSH chose for the threshold


# --- shingle hashing, shared with decontaminate ---------------------------------------------------

_MUL = np.uint64(0x9E3779B97F4A7C15)  # odd, so multiplication by it is a bijection modulo 2^64
_FMIX = (np.uint64(33), np.uint64(0xFF51AFD7ED558CCD), np.uint64(0xC4CEB9FE1A85EC53))
# The `regex` module's \w is Unicode's word class, combining marks included; the `re` module's is not, and cut a
# Devanagari or pointed-Hebrew word at each vowel sign into one-letter pieces (a 13-word n-gram was 5 words).
_WORDS = regex.compile(r"\w+")
_ASCII_WORDS = re.compile(r"\w+")  # the same on ASCII text, and faster: most records are ASCII
# Characters with no visible form (soft hyphen, zero-width space and joiners, variation selectors): scraped text
# scatters them inside words, and a copy holding them read as another text to dedup and decontaminate. They go
# before NFKC, which they would keep from composing a letter with its accent. A zero-width space marks a word
# break beside a script written without spaces (Thai, Khmer, Japanese text), so there it becomes a space; elsewhere
# (inside an English word, left by <wbr> or put there to defeat copy detection) it is removed like the others: made
# a space, it split the word, and such a copy shared no shingle with its original.
_OTHER_IGNORABLE = regex.compile(r"[\p{Default_Ignorable_Code_Point}--\u200b]", flags=regex.V1)
# Script_Extensions, so the prolonged sound mark, the voicing marks and ideographic punctuation count with kana and Han
_NO_SPACES = (r"[\p{scx=Thai}\p{scx=Lao}\p{scx=Khmer}\p{scx=Mymr}\p{scx=Tibt}\p{scx=Hani}\p{scx=Hira}\p{scx=Kana}"
              r"\p{scx=Bopo}\p{scx=Yi}\p{scx=Java}\p{scx=Bali}\p{scx=Lana}]")
_WORD_BREAK = regex.compile(rf"(?<={_NO_SPACES})\u200b|\u200b(?={_NO_SPACES})")
_SIGNATURE_CHUNK = 1 << 15  # shingle hashes per MinHash update: its work array is (hashes, num_perm)


def without_ignorables(text: str) -> str:
    """`text` without default-ignorable characters, a zero-width space made a word break where it is one. The others
    go first, so that one beside a zero-width space (a joiner, a soft hyphen) hides no neighbour from it."""
    return _WORD_BREAK.sub(" ", _OTHER_IGNORABLE.sub("", text)).replace("\u200b", "")


def _fold(text: str) -> str:
    """Without default-ignorable characters, NFKC, case-folded: a copy in decomposed (NFD) or full-width
    characters, or with soft hyphens in its words, reads as the original."""
    if text.isascii():  # no ASCII character is default-ignorable, and ASCII folds to ASCII
        return text.lower()
    text = without_ignorables(text)
    # NFKC again after the fold: case folding can leave a text that is not normalised (Greek "ΐ" folds to
    # iota, diaeresis, acute; its capital's fold to iota-with-diaeresis, acute), so a copy in capitals read as
    # other text. Unicode's NFKC_Casefold closes it the same way.
    return nfkc(nfkc(text).casefold())  # mira_core.marks: a long run of combining marks in linear time


def normalise(text: str) -> str:
    """Fold case and Unicode forms (`_fold`) and collapse every run of whitespace to one space, so layout and
    encoding changes do not hide a copy."""
    return " ".join(_fold(text).split())


def words(text: str, split_unspaced: bool | None = None) -> list[str]:
    """The folded word tokens (`_fold`; runs of letters, combining marks, digits and '_') of a text, punctuation
    dropped. In text mostly in Chinese or Japanese each Han or kana character is a word (`mira_core.unspaced`):
    a clause up to its comma was one word, and a benchmark item too few words to match. `split_unspaced` true or
    false splits them always or never instead (decontaminate indexes a benchmark item both ways)."""
    folded = _fold(text)
    if split_unspaced is None:
        folded = spaced(folded)
    elif split_unspaced:
        folded = split_each(folded)
    return (_ASCII_WORDS if folded.isascii() else _WORDS).findall(folded)


def _fmix64(h: np.ndarray) -> np.ndarray:
    """MurmurHash3's 64-bit finalizer: spreads every input bit over the output (uint64 arithmetic wraps)."""
    shift, m1, m2 = _FMIX
    h = h ^ (h >> shift)
    h = h * m1
    h = h ^ (h >> shift)
    h = h * m2
    return h ^ (h >> shift)


def _blake8(token: str) -> int:
    return int.from_bytes(hashlib.blake2b(token.encode("utf-8"), digest_size=8).digest(), "little")


class TokenHasher:
    """A stable 64-bit hash (blake2b, 8 bytes) per token, remembered across calls.

    Hashing is the slow part in Python and a corpus repeats its vocabulary, so each distinct token is
    hashed once; the table is emptied when it reaches `max_size` entries, which bounds its memory.
    """

    def __init__(self, max_size: int = 1_000_000) -> None:
        self.max_size = max_size
        self.table: dict[str, int] = {}

    def __call__(self, tokens: Sequence[str]) -> np.ndarray:
        table = self.table
        missing = set(tokens).difference(table)
        if len(table) + len(missing) > self.max_size:
            table.clear()
            missing = set(tokens)
        table.update(zip(missing, map(_blake8, missing), strict=True))
        return np.fromiter(map(table.__getitem__, tokens), dtype=np.uint64, count=len(tokens))


def char_hashes(text: str) -> np.ndarray:
    """A stable 64-bit hash of each character (its code point, mixed)."""
    codes = np.frombuffer(text.encode("utf-32-le"), dtype="<u4").astype(np.uint64)
    return _fmix64(codes + _MUL)


def ngram_hashes(unit_hashes: np.ndarray, n: int, whole_if_short: bool = False, distinct: bool = True) -> np.ndarray:
    """The distinct 64-bit hashes of the n-grams of a sequence of unit (word or character) hashes.

    An order-sensitive polynomial over the n units, mixed at the end: n vector operations for the whole
    sequence instead of one Python hash call per n-gram. A sequence shorter than n has no n-gram, or,
    with `whole_if_short`, one gram made of the whole sequence (so short texts still get a signature).
    With `distinct` false, the hashes are in position order instead, one per n-gram start, repeats kept.
    """
    m = len(unit_hashes) - n + 1
    if m <= 0:
        if not whole_if_short or len(unit_hashes) == 0:
            return np.empty(0, dtype=np.uint64)
        n, m = len(unit_hashes), 1
    acc = unit_hashes[:m].copy()
    for k in range(1, n):
        acc = acc * _MUL + unit_hashes[k : k + m]
    return np.unique(_fmix64(acc)) if distinct else _fmix64(acc)


def gram_owners(per_item: Sequence[np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    """Every item's distinct n-gram hashes in one sorted array, with the index (in `per_item`) of the item each
    came from; a hash appears once per item that has it, its items in the given order (a stable sort)."""
    if not per_item:
        return np.empty(0, dtype=np.uint64), np.empty(0, dtype=np.int64)
    grams = np.concatenate(per_item)
    owner = np.repeat(np.arange(len(per_item), dtype=np.int64), [len(g) for g in per_item])
    order = np.argsort(grams, kind="stable")
    return grams[order], owner[order]


def shared_per_item(record_grams: np.ndarray, grams: np.ndarray, owner: np.ndarray, n_items: int) -> np.ndarray:
    """How many of a record's distinct n-grams each item holds (length `n_items`), against `gram_owners`' arrays:
    a binary search per record gram, one count per (gram, item) pair it finds."""
    lo = np.searchsorted(grams, record_grams, side="left")
    hi = np.searchsorted(grams, record_grams, side="right")
    hit = hi > lo
    if not hit.any():
        return np.zeros(n_items, dtype=np.int64)
    found = np.concatenate([owner[a:b] for a, b in zip(lo[hit].tolist(), hi[hit].tolist(), strict=True)])
    return np.bincount(found, minlength=n_items)


def shingle_hashes(text: str, p: DedupParams, hasher: TokenHasher | None = None) -> np.ndarray:
    """The distinct 64-bit shingle hashes of a record under `p` (empty for an empty normalised text)."""
    norm = normalise(text)
    if not norm:
        return np.empty(0, dtype=np.uint64)
    # a Chinese or Japanese character is a word wherever it stands (`mira_core.unspaced`): split on spaces, a Chinese
    # page was one shingle, and a copy with one character changed shared nothing with it. Always, not only in text
    # mostly in those scripts (`spaced`): a page with about as much English as Chinese in it was shingled one way
    # and a near-copy of it just across the "mostly" line the other, so the two shared almost no shingle.
    if p.shingle == "char":
        units = char_hashes(norm)
    else:
        units = (hasher or TokenHasher())((norm if norm.isascii() else split_each(norm)).split())
    return ngram_hashes(units, p.shingle_size, whole_if_short=True)


# --- signatures -----------------------------------------------------------------------------------


def _template(p: DedupParams) -> MinHash:
    """An empty MinHash whose permutations every record's MinHash shares (generated once, not per record)."""
    return MinHash(num_perm=p.num_perm, seed=p.seed, scheme=_SCHEME)


def signature(hashes: np.ndarray, template: MinHash) -> np.ndarray:
    """The MinHash signature (uint32, num_perm) of a set of 64-bit shingle hashes."""
    m = MinHash(num_perm=template.num_perm, seed=template.seed, hashfunc=int,
                permutations=template.permutations, scheme=_SCHEME)
    # affine32 takes 32-bit input hashes: the high half of our mixed 64-bit hash is as good as any. In chunks: an
    # update builds a (hashes, num_perm) array, 1 GB and 16 s for a 1 MB record's character shingles; the minimum
    # over the chunks' minima is the same signature.
    for start in range(0, len(hashes), _SIGNATURE_CHUNK):
        m.update_batch((hashes[start : start + _SIGNATURE_CHUNK] >> np.uint64(32)).tolist())
    return m.hashvalues


def minhash_shard(path: Path, p: DedupParams) -> ShardSignatures:
    """MinHash signatures of every record of one corpus shard; reads only that shard."""
    check_parquet(path, {c: CORPUS[c] for c in _READ_COLUMNS})
    frame = read_parquet(path, columns=list(_READ_COLUMNS))  # a name, not a glob pattern (a folder "runs [2]")
    template = _template(p)
    hasher = TokenHasher()
    sigs = np.zeros((frame.height, p.num_perm), dtype=np.uint32)
    has = np.zeros(frame.height, dtype=bool)
    for i, text in enumerate(frame["text"]):
        hashes = shingle_hashes(text or "", p, hasher)
        if len(hashes):
            sigs[i] = signature(hashes, template)
            has[i] = True
    return ShardSignatures(
        record_id=frame["record_id"].to_list(),
        source=frame["source"].to_list(),
        n_tokens=frame["n_tokens"].fill_null(0).to_numpy().astype(np.int64),
        signatures=sigs,
        has_shingles=has,
    )


# --- clustering -----------------------------------------------------------------------------------


class _UnionFind:
    """Disjoint sets over 0..n-1, grown on demand; path halving keeps finds short."""

    def __init__(self) -> None:
        self.parent: list[int] = []

    def add(self, count: int) -> None:
        self.parent.extend(range(len(self.parent), len(self.parent) + count))

    def find(self, x: int) -> int:
        parent = self.parent
        while parent[x] != x:
            parent[x] = parent[parent[x]]
            x = parent[x]
        return x

    def union(self, a: int, b: int) -> None:
        ra, rb = self.find(a), self.find(b)
        if ra != rb:
            self.parent[max(ra, rb)] = min(ra, rb)


def _by_cluster(bucket: dict[int, list[int]], uf: _UnionFind) -> dict[int, list[int]]:
    """A bucket's members under their clusters' current roots: the lists of clusters merged since they were put
    there are joined (the shorter into the longer, so a record moves O(log n) times in all)."""
    for key in [k for k in bucket if uf.find(k) != k]:
        members, root = bucket.pop(key), uf.find(key)
        kept = bucket.get(root)
        if kept is None:
            bucket[root] = members
        elif len(kept) < len(members):
            members.extend(kept)
            bucket[root] = members
        else:
            kept.extend(members)
    return bucket


def _any_close(sigs: np.ndarray, members: list[int], g: int, threshold: float) -> bool:
    """Whether any of `members` has an estimated Jaccard similarity with record `g` of at least `threshold`; read in
    chunks that grow eightfold, as a near-copy is most often close to the first member it is compared with."""
    start, size = 0, 1
    while start < len(members):
        chunk = members[start : start + size]
        if ((sigs[chunk] == sigs[g]).mean(axis=1) >= threshold).any():
            return True
        start, size = start + size, size * 8
    return False


def miss_rate(bands: int, rows: int, num_perm: int, threshold: float) -> float:
    """The share of pairs whose estimated Jaccard is exactly the threshold's (k of num_perm values equal, k the
    least count at or above it) that no band puts up as a candidate: no band of `rows` values lies wholly in
    the k equal positions, each k-set equally likely. Inclusion-exclusion over the bands, in exact integers."""
    k = math.ceil(threshold * num_perm - 1e-9)
    hit_none = sum((-1) ** j * math.comb(bands, j) * math.comb(num_perm - j * rows, k - j * rows)
                   for j in range(bands + 1) if k - j * rows >= 0)
    return hit_none / math.comb(num_perm, k)


def lsh_bands(threshold: float, num_perm: int, max_miss: float) -> tuple[int, int]:
    """(bands, rows per band): the longest bands (fewest false candidates, the cost) that miss at most `max_miss`
    of the pairs estimated at the threshold. The Jaccard check removes every false candidate, so only a miss
    changes the result; datasketch's weighted optimum (weights 0.2 / 0.8) missed 21 % of them at 0.8 and 34 % at
    0.95, near-copies the threshold says are dropped."""
    for rows in range(num_perm // 2, 1, -1):  # datasketch wants two bands or more
        bands = num_perm // rows
        if miss_rate(bands, rows, num_perm, threshold) <= max_miss:
            return bands, rows
    return num_perm, 1  # one value per band: every pair sharing a value is a candidate, none is missed


def near_duplicates(shards: Iterable[ShardSignatures], p: DedupParams) -> DedupResult:
    """Cluster near-duplicate records over all shards and list every record but one per cluster.

    Each record is queried against the records indexed before it, then indexed, so every candidate pair
    is seen once (a pair whose records are in one cluster already needs no check). A candidate pair joins the
    clusters of its two records only when their estimated
    Jaccard similarity (the share of equal signature values) is at least `p.threshold`: LSH banding alone
    lets dissimilar pairs through. Clusters are the connected components of the kept pairs, so
    A~B and B~C put A, B and C in one cluster even when A and C are further apart (transitive-safe:
    the result does not depend on the order the pairs are found in).
    """
    lsh = MinHashLSH(threshold=p.threshold, num_perm=p.num_perm, params=lsh_bands(p.threshold, p.num_perm, p.max_miss))
    # the band tables are ours; datasketch only cuts the signature into bands. A bucket holds its records by cluster (the root
    # each joined under, resolved when read), so a record is compared with each cluster of a bucket it is not yet
    # in until one member is close enough, not with every member: a bucket of k near-copies, which datasketch
    # returned whole to every query (k^2 / 2 candidates in all; 80,000 records of which 8,000 were one template
    # and a word took 93 s), costs about one comparison per record.
    tables: list[dict[bytes, int | dict[int, list[int]]]] = [{} for _ in lsh.hashranges]
    uf = _UnionFind()
    first_of: dict[bytes, int] = {}  # signature -> the first record with it
    ids: list[str] = []
    sources: list[str] = []
    tokens: list[np.ndarray] = []
    sigs = np.empty((1024, p.num_perm), dtype=np.uint32)  # every record's signature, grown by doubling

    for shard in shards:
        base, n = len(ids), len(shard.record_id)
        if base + n > len(sigs):
            grown = np.empty((max(2 * len(sigs), base + n), p.num_perm), dtype=np.uint32)
            grown[:base] = sigs[:base]
            sigs = grown
        sigs[base : base + n] = shard.signatures
        ids.extend(shard.record_id)
        sources.extend(shard.source)
        tokens.append(shard.n_tokens)
        uf.add(n)
        for row in np.flatnonzero(shard.has_shingles).tolist():
            g = base + row
            # A signature seen before lands in the same buckets with the same Jaccard to every record as its first
            # holder, so joining that record finds every pair the query would: k exact copies cost k, not k^2 / 2.
            first = first_of.setdefault(sigs[g].tobytes(), g)
            if first != g:
                uf.union(g, first)
                continue
            keys = [sigs[g, start:end].tobytes() for start, end in lsh.hashranges]
            for table, key in zip(tables, keys, strict=True):
                bucket = table.get(key)
                if bucket is None:
                    continue
                if isinstance(bucket, int):  # one record: the common case, kept as a bare id
                    bucket = table[key] = {bucket: [bucket]}
                for root, members in _by_cluster(bucket, uf).items():
                    if root != uf.find(g) and _any_close(sigs, members, g, p.threshold):
                        uf.union(g, root)
            for table, key in zip(tables, keys, strict=True):
                bucket = table.get(key)
                if bucket is None:
                    table[key] = g
                else:
                    bucket.setdefault(uf.find(g), []).append(g)

    n_tokens = np.concatenate(tokens) if tokens else np.empty(0, dtype=np.int64)
    roots = np.fromiter((uf.find(i) for i in range(len(ids))), dtype=np.int64, count=len(ids))
    in_cluster = np.flatnonzero(np.bincount(roots, minlength=len(ids))[roots] > 1)
    members: dict[int, list[int]] = {}  # only the records of clusters of two or more: most records are alone
    for i in in_cluster.tolist():
        members.setdefault(int(roots[i]), []).append(i)

    priority = {s: k for k, s in enumerate(p.source_priority)}

    def rank(i: int) -> tuple:
        first = (priority.get(sources[i], len(priority)), sources[i], ids[i])
        return (-int(n_tokens[i]), *first) if p.keep == "longest" else first

    rows: list[tuple[str, str, str, float, int, str]] = []
    cross = 0
    for group in members.values():
        rep, *rest = sorted(group, key=rank)
        cross += len({sources[i] for i in group}) > 1
        for place, i in enumerate(rest, start=1):
            rows.append((ids[i], sources[i], ids[rep], float((sigs[i] == sigs[rep]).mean()), place, REASON))
    dropped = pl.DataFrame(rows, schema=DROPPED, orient="row").sort("cluster", "record_id")
    return DedupResult(
        dropped=dropped,
        counts=balance(pl.DataFrame({"record_id": ids, "source": sources, "n_tokens": n_tokens},
                                    schema={"record_id": pl.String, "source": pl.String, "n_tokens": pl.Int64}),
                       dropped["record_id"]),
        clusters=len(members),
        cross_source_clusters=cross,
        lsh_bands=(lsh.b, lsh.r),
    )


def balance(records: pl.DataFrame, dropped_ids: pl.Series) -> pl.DataFrame:
    """Per-source counts (COUNTS schema) of `records` (record_id, source, n_tokens) and of those dropped."""
    is_dropped = pl.col("record_id").is_in(dropped_ids.implode())
    return (
        records.group_by("source")
        .agg(
            records_in=pl.len().cast(pl.Int64),
            records_dropped=is_dropped.sum().cast(pl.Int64),
            tokens_in=pl.col("n_tokens").sum().cast(pl.Int64),
            tokens_dropped=pl.col("n_tokens").filter(is_dropped).sum().cast(pl.Int64),
        )
        .sort("source")
        .select(list(COUNTS))
    )


def corpus_records(shards: Sequence[Path]) -> pl.DataFrame:
    """record_id, source and n_tokens of every record of `shards`, read one shard at a time; for no shard (an
    empty corpus) an empty frame of those columns, so the counts are zero rather than a concat error."""
    frames = [read_parquet(s, columns=list(_COUNT_COLUMNS)) for s in shards]
    return pl.concat(frames) if frames else pl.DataFrame(schema={c: CORPUS[c] for c in _COUNT_COLUMNS})


def dedup_corpus(shards: Sequence[Path], p: DedupParams) -> DedupResult:
    """Near-duplicate removal over corpus shards, read one at a time (e.g. `Layout.corpus_shards()`)."""
    return near_duplicates((minhash_shard(s, p) for s in shards), p)


def counts_summary(counts: pl.DataFrame) -> dict:
    """Per source and in total: records and tokens in and dropped (records_in = dropped + passed)."""
    rows = {r["source"]: {k: r[k] for k in ("records_in", "records_dropped", "tokens_in", "tokens_dropped")}
            for r in counts.iter_rows(named=True)}
    total = {k: sum(r[k] for r in rows.values()) for k in ("records_in", "records_dropped", "tokens_in",
                                                           "tokens_dropped")}
    return {"total": total, "sources": rows}


def run_dedup(corpus: Path, p: DedupParams, out: Path) -> dict:
    """The dedup stage's work: near-duplicates of the corpus folder, written under `out` (dropped.parquet and
    counts.parquet); returns the stage's metrics. Disabled, nothing is dropped and the counts still balance."""
    shards = corpus_shards(corpus)
    if p.enabled:
        result = dedup_corpus(shards, p)
        dropped, counts = result.dropped, result.counts
        info = {"clusters": result.clusters, "cross_source_clusters": result.cross_source_clusters,
                "lsh_bands": list(result.lsh_bands),
                # dropped though their estimate against the kept record is under the threshold: joined through
                # another member (A~B~C), as connected components do; many of them flag a chained cluster
                "joined_by_chain": int((dropped["jaccard"] < p.threshold).sum())}
    else:
        dropped, info = pl.DataFrame(schema=DROPPED), {}
        counts = balance(corpus_records(shards), pl.Series([], dtype=pl.String))
    out.mkdir(parents=True, exist_ok=True)
    write_parquet(dropped, out / "dropped.parquet")
    write_parquet(counts, out / "counts.parquet")
    return {"enabled": p.enabled, "threshold": p.threshold, **info, **counts_summary(counts)}
