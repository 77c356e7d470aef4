"""Review of a corpus that is not English (session 32): Chinese and Japanese prose without spaces, Arabic, Hebrew and
Russian, Chinese QA pairs. What the filters and the rules teacher make of them.

- The rules teacher's prose words are whitespace tokens (`prose.words`): a well-formed 300-character Chinese page is
  1 to 4 "words", so `word_count` grades every such page 1, and every other text dimension needs 10+ words and says
  nothing; a space-separated Chinese spam page is the only CJK record the dimensions can read (word_count 4).
- Terminal punctuation is `[.!?]` only (`prose._TERMINAL`, also read by `qa.answer_completeness`): an Arabic
  paragraph ending in '؟' or a Chinese one ending in '。' "stops mid-sentence".
- `answer_relevance` scores a question with no ASCII keyword (every Chinese question) 1: '0 of 0 question keywords'.
- dedup's word shingles are whitespace tokens too: a Chinese page is one shingle, so a copy with one character
  changed (or one space added) shares nothing with it (Jaccard 0), while an English page's copy keeps ~0.95.
- decontaminate's words are runs of \\w: a Chinese clause up to its comma is one word, so a Chinese benchmark item
  has fewer than `ngram` words, is counted unmatchable, and a verbatim copy of it in the corpus is kept.
- docstats' `terminal_punct_line_frac` does not count '。' either (report-only: it changes a statistic).

Each was a strict xfail until its fix landed (mira_core.unspaced, prose._TERMINAL, qa.answer_relevance, docstats
TERMINAL); the controls beside them show that text without CJK characters is read exactly as before.
"""

from __future__ import annotations

import json
import random

import numpy as np
import pytest

from mira_core.decontaminate import best_match, build_index
from mira_core.dedup import TokenHasher, ngram_hashes, shingle_hashes, words
from mira_core.docstats import INDEX, doc_stats
from mira_core.filter_params import BenchmarkSpec, DecontaminateParams, DedupParams
from mira_core.ingest.render import render_qa
from mira_core.teachers.rules.assess import assess

# A well-formed Chinese page: two paragraphs, full-width punctuation, no spaces (as Chinese is written)
ZH_PAGE = ("北京是中国的首都，也是全国的政治和文化中心。每年春天，很多游客来到这里参观故宫和长城。"
           "近年来，城市的公共交通系统发展得非常快。地铁线路已经覆盖了大部分城区，出行变得更加方便。\n\n"
           "人工智能技术正在改变我们的工作方式。许多公司开始使用大型语言模型来处理客户的问题。"
           "然而，数据的质量决定了模型的上限。研究人员发现，经过筛选的数据可以显著提高模型的表现。")
EN_PAGE = ("Beijing is the capital of China and the centre of its political and cultural life. Every spring, many "
           "visitors come to see the Forbidden City and the Great Wall. In recent years the public transport system "
           "has grown very quickly, and subway lines now cover most of the city.\n\n"
           "Artificial intelligence is changing the way that we work. Many companies have started to use large "
           "language models to answer questions from their customers. However, the quality of the data sets the "
           "upper limit of the model, and filtered data clearly improves how well a model performs.")

# ---------------------------------------------------------------- the rules teacher's prose dimensions


def test_rules_word_count_reads_a_chinese_page_as_more_than_two_words():
    found = assess("text", ZH_PAGE, ["word_count", "mean_word_length", "stopword_presence"])
    assert found["word_count"].score >= 3, found["word_count"].reason
    # a dimension meaningless for unspaced text says so (None) rather than grade the page broken
    assert found["mean_word_length"].score in (None, 4, 5), found["mean_word_length"].reason
    assert found["stopword_presence"].score in (None, 4, 5), found["stopword_presence"].reason


def test_rules_control_the_english_page_is_read_as_prose():
    found = assess("text", EN_PAGE, ["word_count", "mean_word_length", "stopword_presence", "terminal_punctuation"])
    assert found["word_count"].score >= 3 and found["mean_word_length"].score == 5
    assert found["stopword_presence"].score == 5 and found["terminal_punctuation"].score == 5


def test_rules_word_count_of_chinese_text_does_not_depend_on_its_spaces():
    # the spaces decided: a spaced Chinese spam page was the only CJK record word_count could read (4 against 1)
    spam = "免费下载 最新电影 高清 免费 下载 点击 加微信 赚钱 " * 15
    spaced_, unspaced = (assess("text", t, ["word_count"])["word_count"] for t in (spam, spam.replace(" ", "")))
    assert spaced_.score == unspaced.score and spaced_.reason == unspaced.reason


@pytest.mark.parametrize("para", [
    "هل تعرف أين تقع مدينة القاهرة الجميلة؟",  # Arabic question mark U+061F
    "我们使用 Python 和 PyTorch 来训练 这个 模型。",  # Chinese with English words: 5+ whitespace words, ends in U+3002
    "この モデル は Python で 書かれて います。",  # Japanese written with spaces (as in some corpora), U+3002
    "Сегодня мы проверим каждый источник данных！",  # full-width exclamation mark U+FF01
], ids=["arabic_question", "chinese_full_stop", "japanese_full_stop", "fullwidth_exclamation"])
def test_rules_terminal_punctuation_reads_other_scripts_full_stops(para):
    found = assess("text", para, ["terminal_punctuation"])["terminal_punctuation"]
    assert found.score == 5, found.reason


def test_rules_answer_completeness_reads_a_chinese_full_stop_as_an_end():
    text = render_qa("什么是列表推导式？",
                     "列表推导式是Python中创建列表的简洁写法，例如 [x * x for x in range(10)] 会生成前十个平方数。")
    found = assess("qa", text, ["answer_completeness"])["answer_completeness"]
    assert "mid-sentence" not in found.reason, found.reason


def test_rules_answer_relevance_with_no_readable_keyword_is_not_graded_1():
    text = render_qa("为什么天空是蓝色的？",
                     "这是因为瑞利散射。太阳光中波长较短的蓝光更容易被空气分子散射，所以天空看起来是蓝色的。")
    found = assess("qa", text, ["answer_relevance"])["answer_relevance"]
    assert found.score is None, found.reason


# ---------------------------------------------------------------- dedup: word shingles of unspaced text

ZH_CHARS = "的一是在不了有和人这中大为上们个国我以要他时来用们生到作地于出就分对成会可主发年动同工也能下过子说产种面而方后多定行学法所民得经十三之进着等部度家电力里如水化高自二理起小物现实加量都两体制机当使点从业本去把性好应开它合还因由其些然前外天政四日那社义事平形相全表间样与关各重新线内数正心反你明看原又么利比或但质气第向道命此变条只没结解问意建月公无系军很情者最立代想已通并提直题党程展五果料象员革位入常文总次品式活设及管特件长求老头基资边流路级少图山统接知较将组见计别她手角期根论运农指几九区强放决西被干做必战先回则任取据处理府研"  # noqa: E501
EN_WORDS = ("data model quality river city tea train learn code source page filter corpus record token budget group "
            "anchor student teacher score select keep drop copy near word line text")


def _zh_page(rng: random.Random) -> str:
    paras = []
    for _ in range(rng.randint(1, 4)):
        sents = ["".join(rng.choice(ZH_CHARS) for _ in range(rng.randint(8, 30))) + rng.choice("。！？")
                 for _ in range(rng.randint(3, 8))]
        paras.append("".join(sents))
    return "\n\n".join(paras)


def _en_page(rng: random.Random) -> str:
    vocab = EN_WORDS.split()
    paras = []
    for _ in range(rng.randint(1, 4)):
        sents = [" ".join(rng.choice(vocab) for _ in range(rng.randint(6, 16))).capitalize() + "."
                 for _ in range(rng.randint(3, 8))]
        paras.append(" ".join(sents))
    return "\n\n".join(paras)


def _one_char_changed(rng: random.Random, text: str, alphabet: str) -> str:
    spots = [i for i, c in enumerate(text) if c in alphabet]
    i = rng.choice(spots)
    new = rng.choice([c for c in alphabet if c != text[i]])
    return text[:i] + new + text[i + 1:]


def _jaccard(a: str, b: str, p: DedupParams) -> float:
    sa, sb = set(shingle_hashes(a, p).tolist()), set(shingle_hashes(b, p).tolist())
    return len(sa & sb) / len(sa | sb)


def test_dedup_control_an_english_page_with_one_letter_changed_stays_a_near_copy():
    rng, p = random.Random(32), DedupParams()
    for _ in range(200):
        page = _en_page(rng)
        if len(page.split()) < 100:
            continue
        assert _jaccard(page, _one_char_changed(rng, page, "abcdefghijklmnopqrstuvwxyz"), p) >= p.threshold


def test_dedup_a_chinese_page_with_one_character_changed_stays_a_near_copy():
    rng, p = random.Random(32), DedupParams()
    failures = []
    for k in range(200):
        page = _zh_page(rng)
        if len(page) < 150:  # as long as the English pages above (100+ words)
            continue
        j = _jaccard(page, _one_char_changed(rng, page, ZH_CHARS), p)
        if j < p.threshold:
            failures.append((k, round(j, 3)))
    assert not failures, f"{len(failures)} copies missed, e.g. {failures[:5]}"


def test_dedup_a_chinese_copy_with_one_space_added_is_a_near_copy():
    p = DedupParams()
    assert _jaccard(ZH_PAGE, ZH_PAGE.replace("。", "。 ", 1), p) >= p.threshold


def test_dedup_a_mixed_page_and_its_near_copy_across_the_mostly_chinese_line_stay_near_copies():
    """(left by session 32, fixed in 41) A page about as much English as Chinese, and a copy of it with a few English
    words added: one side of `mostly_unspaced`'s line had each character a word, the other its runs of characters,
    so the two shared almost no shingle."""
    from mira_core.unspaced import mostly_unspaced

    rng, p = random.Random(41), DedupParams()
    failures = []
    for k in range(100):
        zh, en = _zh_page(rng), _en_page(rng)
        n_zh = sum(c in ZH_CHARS for c in zh)
        en = " ".join(en.split()[:max(1, n_zh // 5)])  # about as many English letters as Chinese characters
        page = zh + "\n\n" + en
        extra = " ".join(rng.choice(EN_WORDS.split()) for _ in range(3))
        copy = page + " " + extra if mostly_unspaced(page) else extra + " " + page[len(extra) + 1:]
        if mostly_unspaced(page) == mostly_unspaced(copy) or len(page) < 150:
            continue  # only pairs on either side of the line
        if _jaccard(page, copy, p) < p.threshold:
            failures.append((k, round(_jaccard(page, copy, p), 3)))
    assert not failures, f"{len(failures)} copies missed, e.g. {failures[:5]}"


# ---------------------------------------------------------------- decontaminate: words of unspaced text

ZH_ITEM = {"id": "zh1", "question": "为什么天空是蓝色的？",
           "answer": "这是因为瑞利散射。太阳光进入大气层后，波长较短的蓝光比红光更容易被空气分子散射，"
                     "所以我们看到的天空是蓝色的。"}
RU_ITEM = {"id": "ru1", "question": "Какая столица России?",
           "answer": "Москва — столица России и крупнейший город страны. Каждый год сюда приезжают миллионы "
                     "туристов, чтобы посмотреть Кремль и Красную площадь."}


def _bench(tmp_path, *items) -> DecontaminateParams:
    path = tmp_path / "bench.jsonl"
    path.write_text("".join(json.dumps(i, ensure_ascii=False) + "\n" for i in items), encoding="utf-8")
    spec = BenchmarkSpec(name="b", path=str(path), fields=["question", "answer"], id_field="id")
    return DecontaminateParams(benchmarks=[spec], ngram=8)


def _match(text: str, p: DecontaminateParams, tmp_path):
    index = build_index(p, tmp_path)
    h = ngram_hashes(TokenHasher()(words(text)), p.ngram)
    m = best_match(h, index) if len(h) else None
    return index, (index.items[m[0]][1] if m else None)


def test_decontaminate_control_a_verbatim_russian_item_is_caught(tmp_path):
    p = _bench(tmp_path, ZH_ITEM, RU_ITEM)
    _, item = _match("Ответ на вопрос. " + RU_ITEM["question"] + "\n" + RU_ITEM["answer"], p, tmp_path)
    assert item == "ru1"


def test_decontaminate_a_verbatim_chinese_item_is_caught(tmp_path):
    p = _bench(tmp_path, ZH_ITEM, RU_ITEM)
    index, item = _match("问：" + ZH_ITEM["question"] + "\n答：" + ZH_ITEM["answer"], p, tmp_path)
    assert index.summary["items_unmatchable"].to_list() == [0]
    assert item == "zh1"


# ---------------------------------------------------------------- the tokenisation leaves other text alone


def test_text_without_cjk_characters_or_mostly_in_another_script_is_split_as_before():
    from mira_core.teachers.rules.prose import words as prose_words
    from mira_core.unspaced import spaced

    rng = random.Random(7)
    alphabet = ("abcXYZ019 .,;!?'\"()[]{}#_-\n\t  éüßçñ ΑΒΓαβγ ЖжЩщ אבג عرب हिन्दी 한국어 ไทย 🙂🚀 …—“”«» ０１ＡＢ")
    for _ in range(500):
        text = "".join(rng.choice(alphabet) for _ in range(rng.randint(0, 80)))
        assert spaced(text) == text and prose_words(text) == text.split()
    # an English page quoting a few Chinese characters is English: its words are as before
    mixed = EN_PAGE + " The city's name is written 北京 in Chinese."
    assert spaced(mixed) == mixed and prose_words(mixed) == mixed.split()
    assert len(prose_words(ZH_PAGE)) > 150  # and a Chinese page is read character by character


# ---------------------------------------------------------------- docstats (report-only)


def test_docstats_terminal_punct_counts_a_full_width_full_stop():
    lines = "\n".join(["今天天气很好。", "我们去公园散步吧！", "你觉得怎么样？"])
    out = doc_stats("text", lines)
    assert np.isclose(out[INDEX["terminal_punct_line_frac"]], 1.0)
