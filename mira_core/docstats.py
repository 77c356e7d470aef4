"""Cheap document statistics: a fixed, documented set of numbers per record that a student reads beside its
embedding or n-grams.

Role: many anchors hinge on exact structure that an embedding blurs: does the code parse, is a tool
call's JSON valid, how repetitive is the text, how long are its lines, is the answer only the question
again. A few changed brackets barely move a MiniLM embedding, so a student on embeddings alone cannot
reproduce a `parses` anchor, the reliability mask then switches the anchor off, and broken code
survives selection. These statistics give the student that structure directly.

Key decisions:
- Teacher-independent. Nothing here calls the rules teacher (mira_core/teachers); the statistics are
  the standard filter statistics of Gopher (Rae et al. 2021: word counts, mean word length, symbol and
  bullet ratios, duplicate lines and n-grams), C4 (terminal punctuation), StarCoder / The Stack (line
  lengths, alphanumeric fraction, auto-generated markers), datatrove's filters and Buse and Weimer's code
  readability features (identifier length), the docstring coverage that interrogate and docstr-coverage report,
  plus parse and JSON validity, compression ratio, ftfy's mojibake measure (text read with the wrong codec) and
  question-answer overlap (Jaccard, and the recall of the question's terms and inline-code names in the answer).
  They do overlap with what the rules teacher
  measures (both come from the same literature), so on the demo, whose teacher is `rules`, a student
  with statistics reproduces the teacher better than it would an LLM teacher's anchors; docs/students.md says so.
- A fixed list in a fixed order (`NAMES`), versioned by `VERSION`: a student trained on one version
  refuses another (the version is part of the embedding fingerprint).
- Every statistic is a finite float for every record of every format (0 where it does not apply, with
  a 0/1 "applies" column where that matters), so no student ever sees a NaN.
- Bounded cost: the text is cut to `MAX_CHARS` before any statistic, and Python is parsed only for code
  records and QA answers; about 1 ms per 2 KB record on one core. Parsing and bracket balance read the
  whole text up to `MAX_PARSE_CHARS` instead, because a cut mid-statement reads as a syntax error (and the
  teacher parses the whole record); a longer record's code is not checked (`py_checked` 0). Past the cut, a
  trace's last message (does it end in an answer?) and a QA record's question and answer are found in the
  whole record, by a search of its end and a plain find, each read cut to `MAX_CHARS`.
"""

from __future__ import annotations

import ast
import json
import math
import re
import threading
import warnings
import zlib
from collections import Counter
from functools import lru_cache

import numpy as np

from mira_core.errors import JSON_REFUSED
from mira_core.marks import marks_in_order
from mira_core.mojibake import mojibake_count
from mira_core.unspaced import FULL_STOPS

VERSION = "docstats/11"  # 2: the question-term recall statistics of QA records; 3: code parsed whole, \r lines;
# 4: upper_frac counts upper-case letters only (circled letters are upper but not alphabetic: it passed 1);
# 5: top_2gram_char_frac is the share of word characters the top bigram covers (overlaps counted twice passed 1);
# 6: past MAX_CHARS, a trace's final message and a QA record's question and answer are found in the whole record
# (a trace's answer after the cut read as none, a question longer than the cut as no QA form); 7: a last tool call with
# empty arguments is a call, a message starts where the teacher's parse starts one (a tool result's `[user]` line is
# not), a code fence's info string may hold more than the language, and a long run of combining marks is put in
# canonical order before parsing (mira_core.marks; the same parse, in linear time), and a line ending in a
# full stop of another script (。 ؟ ।) ends in terminal punctuation; 8: Armenian and Ethiopic full stops too (։ ።), as in
# the rules teacher (unspaced.FULL_STOPS, one list for both); 9: the identifier statistics of code (ident_mean_len,
# ident_short_frac: Buse and Weimer's readability features); 10: docstring coverage of parsed Python (py_doc_frac,
# py_module_doc: what interrogate and docstr-coverage report); 11: mojibake_per_word, ftfy's badness and U+FFFD per
# word (mira_core.mojibake)
BMP = 0x10000
MAX_CHARS = 100_000  # statistics of the first 100,000 characters: enough to see structure, bounded cost on a 37 MB record
MAX_PARSE_CHARS = 1_000_000  # code is parsed whole up to this (at the cap ~1.5 s and ~200 MB, on 2 busy cores)
FORMATS = ("text", "code", "qa", "chat", "agent")

STOPWORDS = frozenset((
    "the", "be", "to", "of", "and", "a", "in", "that", "have", "it", "for", "not", "on", "with", "he", "as", "you",
    "do", "at", "this", "but", "his", "by", "from", "they", "we", "say", "her", "she", "or", "an", "will", "my",
    "one", "all", "would", "there", "their", "what", "so", "up", "out", "if", "about", "who", "get", "which", "go",
    "me", "when", "make", "can", "like", "time", "no", "just", "him", "know", "take", "people", "into", "year",
    "your", "good", "some", "could", "them", "see", "other", "than", "then", "now", "look", "only", "come", "its",
    "over", "think", "also", "back", "after", "use", "two", "how", "our", "work", "first", "well", "way", "even",
    "new", "want", "because", "any", "these", "give", "day", "most", "us", "is", "are", "was", "were", "been",
    "has", "had", "returns", "return",
))
GENERATED = re.compile(r"auto-?generated|generated by|do not edit|don't edit|code generated|@generated", re.I)
LICENSE = re.compile(r"copyright|licen[cs]e|all rights reserved|permission is hereby granted|warranty", re.I)
BULLET = re.compile(r"^\s*(?:[-*•+]|\d+[.)])\s")
COMMENT = re.compile(r"^\s*(?:#|//|/\*|\*|--|;)")
# line ends; full stops, question and exclamation marks and closing quotes of CJK, Arabic, Urdu, Devanagari too
TERMINAL = tuple(".!?:;\"')") + tuple(FULL_STOPS) + tuple("\u300d\u300f\uff09")  # and closing CJK quotes, brackets
WORD = re.compile(r"\w+")
DIGIT = re.compile(r"\d")
ROLE_LINE = re.compile(r"^\[(system|developer|user|assistant|tool|function)(?: id=[^\]]*)?\]$", re.M)
TOOL_CALL = re.compile(r"^\[tool_call(?: id=[^\]]*)?\] ([^\n]*)(?:\n(.*?))?(?=\n\[tool_call|\Z)", re.S | re.M)
# an info string after the language ("```python title=x") too, where the fence starts its line: mid-line, the end of
# an inline span ("wrap it in ```x``` first.") read as a fence opening, and took the real fence's opening as its close
FENCE = re.compile(r"(?:(?<![^\n])[ \t]*```[^\n`]*|```[a-zA-Z0-9_+-]*)\n(.*?)```", re.S)
QA = re.compile(r"\AQuestion:\n(.*?)\n\nAnswer:\n(.*)\Z", re.S)
QA_HEAD, QA_SPLIT = "Question:\n", "\n\nAnswer:\n"  # the same form, read with str methods in a record past the cut
TERM = re.compile(r"[A-Za-z_][A-Za-z0-9_]{2,}")  # a content word or identifier: three characters or more
INLINE_CODE = re.compile(r"`+([^`\n]+)`+")
IDENT = re.compile(r"\b[A-Za-z_][A-Za-z0-9_]*\b")
# String literals and comments of the common languages, removed before identifiers are read: their words are prose,
# not names. An unclosed one runs to the end, a one-line string's to the end of its line, so every opener ends a
# match and the scan stays linear ("/* /* /*" or '"\\"\\' repeated were quadratic). A `#` line of the C
# preprocessor is code, not a comment. Rough by design: no language is detected.
NOT_NAMES = re.compile(r'"""(?:.*?"""|.*)|\'\'\'(?:.*?\'\'\'|.*)|/\*(?:.*?\*/|.*)|'  # block strings, block comments
                       r'"(?:\\.|\\|[^"\\\n])*(?:"|\n|\Z)|\'(?:\\.|\\|[^\'\\\n])*(?:\'|\n|\Z)|'  # one-line strings
                       r"//[^\n]*|"  # and comments
                       r"#(?![ \t]*(?:include|define|undef|if|ifdef|ifndef|elif|else|endif|pragma|error|line)\b)[^\n]*",
                       re.S)
BRACKETS = {"(": ")", "[": "]", "{": "}"}

NAMES: tuple[str, ...] = (
    # size and layout
    "log_chars", "log_lines", "log_words", "mean_line_len", "log_max_line_len", "long_line_frac", "huge_line_char_frac",
    "blank_line_frac", "indented_line_frac",
    # characters
    "alnum_frac", "alpha_frac", "digit_frac", "whitespace_frac", "symbol_frac", "upper_frac", "non_ascii_frac",
    "numeric_line_frac", "mojibake_per_word",
    # words and prose (Gopher, C4)
    "mean_word_len", "stopword_frac", "unique_word_frac", "terminal_punct_line_frac", "bullet_line_frac",
    # repetition (Gopher) and compressibility
    "dup_line_frac", "dup_line_char_frac", "top_line_char_frac", "dup_5gram_char_frac", "top_2gram_char_frac",
    "compression_ratio",
    # code
    "comment_line_frac", "generated_marker", "license_marker", "py_checked", "py_parses", "py_error_at",
    "py_defs_per_line", "py_doc_frac", "py_module_doc", "bracket_imbalance", "bracket_underflow", "ident_mean_len",
    "ident_short_frac",
    # qa
    "qa_form", "qa_answer_log_chars", "qa_answer_question_ratio", "qa_word_overlap", "qa_answer_echo",
    "qa_answer_has_code", "qa_question_term_recall", "qa_question_code", "qa_question_code_recall",
    # chat and agent
    "msg_count_log", "tool_calls_log", "tool_args_json_frac", "tool_repeat_frac", "tool_results_log",
    "final_assistant_text", "assistant_char_frac",
    # the record's format, one-hot (a group may mix formats)
    *(f"format_{f}" for f in FORMATS),
)
INDEX = {n: i for i, n in enumerate(NAMES)}


def _frac(a: float, b: float) -> float:
    return float(a) / b if b else 0.0


def _log(x: float) -> float:
    return math.log1p(max(0.0, float(x)))


def _layout(text: str, lines: list[str], s: dict[str, float]) -> None:
    n = len(lines)
    lengths = [len(x) for x in lines]
    s["log_chars"] = _log(len(text))
    s["log_lines"] = _log(n)
    s["mean_line_len"] = min(_frac(sum(lengths), n), 1000.0) / 100.0
    s["log_max_line_len"] = _log(max(lengths, default=0))
    s["long_line_frac"] = _frac(sum(x > 200 for x in lengths), n)
    s["huge_line_char_frac"] = _frac(sum(x for x in lengths if x > 1000), len(text))  # minified code, dumps
    s["blank_line_frac"] = _frac(sum(not x.strip() for x in lines), n)
    s["indented_line_frac"] = _frac(sum(x[:1] in (" ", "\t") for x in lines), n)


@lru_cache(maxsize=1)
def _classes() -> dict[str, np.ndarray]:
    """Character classes of every BMP code point (the last entry stands for the rest): one table lookup per
    character instead of a Python call per character, ~50x faster on a 6 kB record."""
    chars = [chr(i) for i in range(BMP)]
    table = {name: np.array([getattr(c, name)() for c in chars] + [False], dtype=bool)
             for name in ("isalnum", "isalpha", "isdigit", "isspace", "isupper")}
    return table


def _codepoints(text: str) -> np.ndarray:
    # surrogatepass: a lone surrogate (a JSON escape makes one) is one code point like any other, not a crash
    return np.minimum(np.frombuffer(text.encode("utf-32-le", "surrogatepass"), dtype=np.uint32), BMP)


def _characters(text: str, lines: list[str], s: dict[str, float]) -> None:
    c = _codepoints(text)
    t = _classes()
    n = len(c)
    alnum, alpha, digit = int(t["isalnum"][c].sum()), int(t["isalpha"][c].sum()), int(t["isdigit"][c].sum())
    space = int(t["isspace"][c].sum())
    s["alnum_frac"] = _frac(alnum, n)
    s["alpha_frac"] = _frac(alpha, n)
    s["digit_frac"] = _frac(digit, n)
    s["whitespace_frac"] = _frac(space, n)
    s["symbol_frac"] = _frac(n - alnum - space, n)
    # `isupper` holds for 42 BMP symbols that are not letters (circled Ⓐ-Ⓩ, Roman numerals): counted over the
    # letters, they made a share above 1
    s["upper_frac"] = _frac(int((t["isupper"][c] & t["isalpha"][c]).sum()), alpha)
    s["non_ascii_frac"] = _frac(int((c > 127).sum()), n)
    content = [x for x in lines if x.strip()]
    numeric = sum(len(DIGIT.findall(x)) > 0.4 * len(x.strip()) for x in content)  # data tables, dumps
    s["numeric_line_frac"] = _frac(numeric, len(content))


def _words(text: str, lines: list[str], words: list[str], s: dict[str, float]) -> None:
    n = len(words)
    s["log_words"] = _log(n)
    s["mean_word_len"] = min(_frac(sum(len(w) for w in words), n), 20.0) / 10.0
    lower = [w.lower() for w in words]
    s["stopword_frac"] = _frac(sum(w in STOPWORDS for w in lower), n)
    s["unique_word_frac"] = _frac(len(set(lower)), n)
    content = [x.rstrip() for x in lines if x.strip()]
    s["terminal_punct_line_frac"] = _frac(sum(x.endswith(TERMINAL) for x in content), len(content))
    s["bullet_line_frac"] = _frac(sum(bool(BULLET.match(x)) for x in content), len(content))


def _repetition(text: str, lines: list[str], words: list[str], s: dict[str, float]) -> None:
    content = [x.strip() for x in lines if x.strip()]
    counts = Counter(content)
    dups = sum(c - 1 for c in counts.values())
    s["dup_line_frac"] = _frac(dups, len(content))
    chars = sum(len(x) for x in content)
    s["dup_line_char_frac"] = _frac(sum(len(x) * (c - 1) for x, c in counts.items()), chars)
    if counts:
        line, c = max(counts.items(), key=lambda kv: len(kv[0]) * kv[1])
        s["top_line_char_frac"] = _frac(len(line) * c, chars)
    word_chars = sum(len(w) for w in words)
    if len(words) >= 5:
        grams = list(zip(*(words[i:] for i in range(5)), strict=False))
        seen, dup_chars = set(), 0
        for g in grams:
            if g in seen:
                dup_chars += len(g[-1])  # the characters each repeated 5-gram adds (Gopher's duplicate fraction)
            seen.add(g)
        s["dup_5gram_char_frac"] = _frac(dup_chars, word_chars)
    if len(words) >= 2:
        pairs = list(zip(words, words[1:], strict=False))
        bigram = Counter(pairs).most_common(1)[0][0]
        covered = np.zeros(len(words), bool)  # words inside an occurrence: overlapping ones ("a a a") count once,
        for i, pair in enumerate(pairs):  # so the share stays within [0, 1] (datatrove's product can pass 1)
            if pair == bigram:
                covered[i : i + 2] = True
        s["top_2gram_char_frac"] = _frac(sum(len(w) for w, on in zip(words, covered, strict=True) if on), word_chars)
    raw = text.encode("utf-8", "replace")
    s["compression_ratio"] = _frac(len(zlib.compress(raw, 6)), len(raw))


def _defs(tree: ast.AST):
    """Statements down the tree without descending into expressions: where definitions can be (cheaper than
    ast.walk, which visits every name and constant)."""
    stack = [tree]
    while stack:
        node = stack.pop()
        yield node
        for field in ("body", "orelse", "finalbody", "handlers"):
            stack.extend(getattr(node, field, None) or ())


def _line_count(code: str) -> int:
    """Lines as the Python tokenizer counts them (and so SyntaxError.lineno): \n, \r\n or a lone \r end one."""
    return code.count("\n") + code.count("\r") - code.count("\r\n") + 1


def _code(code: str, s: dict[str, float]) -> None:
    """Identifier, parse and bracket statistics of a whole piece of code; parse and brackets left unchecked when it is
    too long to parse."""
    _identifiers(code[:MAX_CHARS], s)
    if len(code) > MAX_PARSE_CHARS:
        return
    _python(code, s)
    _brackets(code, s)


def _identifiers(code: str, s: dict[str, float]) -> None:
    """How long the code's distinct names are, outside string literals and comments: the mean length and the share of
    one or two characters (leading and trailing underscores aside). Average identifier length is a feature of Buse and
    Weimer's code-readability model (2010); names like `a`, `t2`, `xx` are what a reader calls cryptic. Keywords count
    as names: no language is detected, so this is a rough measure of naming, comparable between records. Only ASCII
    names are read: one holding another letter (Python allows `größe`) is left out whole, not cut at the letter."""
    names = {n.strip("_") for n in IDENT.findall(NOT_NAMES.sub(" ", code))} - {""}
    if not names:
        return
    lengths = np.fromiter((len(n) for n in names), dtype=np.int64, count=len(names))
    s["ident_mean_len"] = min(float(lengths.mean()), 20.0) / 10.0
    s["ident_short_frac"] = float((lengths <= 2).mean())


# CPython 3.11 before 3.11.8 (gh-106905) can raise "SystemError: AST constructor recursion depth mismatch" when two
# threads build ASTs at once (embed's shards run in threads): one parse at a time.
PARSE_LOCK = threading.Lock()


def _python(code: str, s: dict[str, float]) -> None:
    """Whether `code` parses as Python, and where it breaks (share of the text before the error)."""
    s["py_checked"] = 1.0
    n_lines = _line_count(code)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # invalid escape sequences and the like: not our business
            with PARSE_LOCK:  # embed's shards run in threads: see the lock's comment
                tree = ast.parse(marks_in_order(code))  # a long run of marks parsed in quadratic time
        if not isinstance(tree, ast.Module):
            raise ValueError
    except (SyntaxError, ValueError, RecursionError, MemoryError) as e:
        s["py_parses"] = 0.0
        line = getattr(e, "lineno", None) or 1
        s["py_error_at"] = min(1.0, line / n_lines)
        return
    s["py_parses"] = 1.0
    s["py_error_at"] = 1.0
    defs = [x for x in _defs(tree) if isinstance(x, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef)]
    s["py_defs_per_line"] = min(1.0, 10 * len(defs) / n_lines)
    # Docstring coverage as interrogate and docstr-coverage report it (every function, method and class, private ones
    # included, their default): a code-documentation anchor hinges on it, and an embedding of a long module barely
    # moves when its docstrings go. 0 where nothing is defined; py_defs_per_line says whether anything is.
    s["py_doc_frac"] = _frac(sum(ast.get_docstring(x, clean=False) is not None for x in defs), len(defs))
    s["py_module_doc"] = float(ast.get_docstring(tree, clean=False) is not None)


def _brackets(code: str, s: dict[str, float]) -> None:
    """Unbalanced brackets, any language: string literals and comments are not skipped, so this is a rough count.

    Per bracket kind, the running depth's final value and its lowest point below zero (a closer with no
    opener) are the unbalanced brackets."""
    c = _codepoints(code)
    unbalanced, total, underflow = 0, 0, False
    for o, k in BRACKETS.items():
        step = (c == ord(o)).astype(np.int32) - (c == ord(k)).astype(np.int32)
        total += int(np.abs(step).sum())
        if not step.any():
            continue
        depth = np.cumsum(step)
        low = max(0, -int(depth.min()))
        underflow |= low > 0
        unbalanced += low + abs(int(depth[-1]) + low)
    s["bracket_imbalance"] = _frac(unbalanced, total + 1) * 10
    s["bracket_underflow"] = float(underflow)


def _looks_like_code(answer: str) -> str | None:
    fenced = FENCE.findall(answer)
    if fenced:
        return "\n".join(fenced)
    lines = [x for x in answer.splitlines() if x.strip()]
    codey = sum(bool(re.match(r"\s*(def |class |return |import |from |if |for |while |@|\w+\s*=)", x)) for x in lines)
    return answer if lines and codey >= 0.3 * len(lines) else None


def _qa(text: str, s: dict[str, float], whole: str) -> None:
    """QA statistics of `text` (cut to MAX_CHARS); an answer's code is read from `whole`, the uncut record. A question
    longer than the cut is found in `whole`, and it and its answer are each cut to MAX_CHARS."""
    m = QA.match(text)
    if m:
        q, a = m.group(1).strip(), m.group(2).strip()
    elif len(whole) > len(text) and whole.startswith(QA_HEAD) and (i := whole.find(QA_SPLIT)) >= 0:
        q, a = whole[len(QA_HEAD): i][:MAX_CHARS].strip(), whole[i + len(QA_SPLIT):][:MAX_CHARS].strip()
    else:
        return
    s["qa_form"] = 1.0
    s["qa_answer_log_chars"] = _log(len(a))
    s["qa_answer_question_ratio"] = math.log((len(a) + 1) / (len(q) + 1))
    qw, aw = set(WORD.findall(q.lower())), set(WORD.findall(a.lower()))
    s["qa_word_overlap"] = _frac(len(qw & aw), len(qw | aw))
    # Recall, not Jaccard: the share of what the question is about that the answer takes up. Jaccard
    # falls as a relevant answer grows longer, so alone it cannot tell a long on-topic answer from an
    # unrelated one (on the planted QA it ranks good answers the wrong way round).
    terms = {w.lower() for w in TERM.findall(q)} - STOPWORDS
    s["qa_question_term_recall"] = _frac(len(terms & aw), len(terms))
    # The names a question writes as inline code (`name(args)`, `module.attr`) are what it asks about.
    named = {w.lower() for span in INLINE_CODE.findall(q) for w in TERM.findall(span)} - STOPWORDS
    s["qa_question_code"] = float(bool(named))
    s["qa_question_code_recall"] = _frac(len(named & aw), len(named))
    s["qa_answer_echo"] = float(a.lower() in q.lower() or q.lower() in a.lower())
    code = _looks_like_code(a)
    s["qa_answer_has_code"] = float(code is not None)
    if code is not None and len(whole) > len(text):  # the answer was cut: read its code from the whole record
        whole_match = QA.match(whole)
        code = _looks_like_code(whole_match.group(2).strip()) if whole_match else None
    if code is not None:
        _code(code, s)


def _json_object(args: str) -> bool:
    """Whether a tool call's arguments are exactly one JSON object."""
    try:
        return isinstance(json.loads(args), dict)
    except JSON_REFUSED:  # bad JSON, or valid JSON past Python's limits (digits, nesting)
        return False


def _messages(text: str, s: dict[str, float], whole: str) -> None:
    """Message statistics of `text` (cut to MAX_CHARS); the final message, which says whether a trace ends in an
    answer, is read from `whole`, where a long trace's ending lies."""
    heads = [h for h in ROLE_LINE.finditer(text) if _starts_message(text, h.start())]
    if not heads:
        return
    bodies = [(h.group(1), text[h.end(): heads[i + 1].start() if i + 1 < len(heads) else len(text)].strip())
              for i, h in enumerate(heads)]
    s["msg_count_log"] = _log(len(bodies))
    calls = [(m.group(1).strip(), (m.group(2) or "").strip()) for role, body in bodies if role == "assistant"
             for m in TOOL_CALL.finditer(body)]
    s["tool_calls_log"] = _log(len(calls))
    valid = sum(_json_object(args) for _, args in calls)
    s["tool_args_json_frac"] = _frac(valid, len(calls)) if calls else 1.0
    s["tool_repeat_frac"] = _frac(len(calls) - len(set(calls)), len(calls))
    s["tool_results_log"] = _log(sum(role in ("tool", "function") for role, _ in bodies))
    role, body = bodies[-1] if len(whole) <= len(text) else _last_message(whole)
    final_text = body.split("[tool_call")[0].strip() if role == "assistant" else ""
    s["final_assistant_text"] = float(bool(final_text))
    s["assistant_char_frac"] = _frac(sum(len(b) for r, b in bodies if r == "assistant"), len(text))


def _starts_message(text: str, at: int) -> bool:
    """Whether a role line at `at` heads a message, as the rules teacher reads one (dialog._HEADER): at the start, or
    after a blank line. A line `[user]` right under another line is content: an INI file a tool printed (a
    .gitconfig) held `[user]`, which made a fifth message of a four-message trace."""
    return at == 0 or (at >= 2 and text[at - 2: at] == "\n\n")


def _last_message(whole: str) -> tuple[str, str]:
    """The role and body of a record's last message, searched in ever longer tails (a head found at a tail's start
    counts only where a line starts there). Called only when the cut text holds a message head, so one is found."""
    window = MAX_CHARS
    while True:
        start = max(0, len(whole) - window)
        tail, last = whole[start:], None
        for m in ROLE_LINE.finditer(tail):
            if _starts_message(whole, start + m.start()):
                last = m
        if last is not None or not start:
            return (last.group(1), tail[last.end():].strip()) if last else ("", "")
        window *= 4


def doc_stats(fmt: str, text: str) -> np.ndarray:
    """The statistics of one record, in `NAMES` order, as float32."""
    whole, text = text, text[:MAX_CHARS]
    s = dict.fromkeys(NAMES, 0.0)
    lines = text.splitlines() or [""]
    words = text.split()
    _layout(text, lines, s)
    _characters(text, lines, s)
    _words(text, lines, words, s)
    # text read with the wrong codec: its letters are letters to every other statistic (mira_core.mojibake)
    s["mojibake_per_word"] = min(_frac(mojibake_count(text), len(words)), 1.0)
    _repetition(text, lines, words, s)
    content = [x for x in lines if x.strip()]
    s["comment_line_frac"] = _frac(sum(bool(COMMENT.match(x)) for x in content), len(content))
    head = text[:4000]
    s["generated_marker"] = float(bool(GENERATED.search(head)))
    s["license_marker"] = float(bool(LICENSE.search(head)))
    if fmt == "code":
        _code(whole, s)
    elif fmt == "qa":
        _qa(text, s, whole)
    elif fmt in ("chat", "agent"):
        _messages(text, s, whole)
    if fmt in FORMATS:
        s[f"format_{fmt}"] = 1.0
    out = np.fromiter((s[n] for n in NAMES), dtype=np.float64, count=len(NAMES))
    return np.nan_to_num(out, nan=0.0, posinf=0.0, neginf=0.0).astype(np.float32)


def doc_stats_matrix(formats: list[str], texts: list[str]) -> np.ndarray:
    """(n, len(NAMES)) float32 statistics of many records."""
    out = np.zeros((len(texts), len(NAMES)), dtype=np.float32)
    for i, (fmt, text) in enumerate(zip(formats, texts, strict=True)):
        out[i] = doc_stats(fmt, text)
    return out
