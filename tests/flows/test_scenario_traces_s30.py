"""Scenario s30 (chat and agent traces, some over 150,000 characters, ingest.max_chars raised so they are kept
whole): findings reproduced on tiny data, each failing before its fix."""

from __future__ import annotations

import numpy as np
import pytest

from mira_core.config import EmbedParams
from mira_core.embedding import Encoder, StaticEncoder

# A trace kept whole by ingest with `ingest.max_chars: 400000` (the default 100,000 would have cut it): its
# tool output fills the first 150,000 characters, and the part that tells two traces apart (the final answer)
# lies after them.
BODY = "[user]\nCount the ERROR lines.\n\n[tool id=c1]\n" + "2024-05-01 INFO worker handled request\n" * 4000
GOOD = BODY + "\n\n[assistant]\nThere are 42 ERROR lines, mostly connection resets from worker three."
BAD = BODY + "\n\n[assistant]\nzebra quartz violin harbour lantern meadow"


def test_the_trace_is_longer_than_the_embeddings_cut():
    assert len(GOOD) > 150_000 and len(BAD) > 150_000


def test_static_encoder_reads_a_whole_trace_that_ingest_kept(tiny_encoder, tmp_path):
    enc = StaticEncoder(EmbedParams(encoder="static", static_source=str(tiny_encoder)), tmp_path / "cache")
    v, cover = enc.encode_records([GOOD, BAD])
    assert list(cover) == [1.0, 1.0]  # before: 0.64 each (a cut at 100,000 characters)
    assert np.abs(v[0] - v[1]).max() > 1e-6  # before: identical, the endings unread


def test_transformer_windows_reach_the_tail_of_a_long_trace(tiny_encoder):
    enc = Encoder(EmbedParams(encoder=str(tiny_encoder), dtype="fp32", max_length=64, windows=4, backend="torch"))
    v, _ = enc.encode_records([GOOD, BAD])
    assert np.abs(v[0] - v[1]).max() > 1e-6  # before: identical


def _reason(fmt: str, payload: dict, field: str) -> tuple[str, str]:
    from mira_core.errors import RecordError
    from mira_core.ingest.render import render

    with pytest.raises(RecordError) as e:
        render(fmt, payload, text_field=field, question_field="question", answer_field="answer", messages_field=field)
    return str(e.value.reason), str(e.value)


def test_a_null_messages_field_is_missing_field_as_a_null_text_field_is():
    assert "missing_field" in _reason("text", {"text": None}, "text")[0]  # passes today
    reason, detail = _reason("agent", {"trace_id": "t1", "messages": None}, "messages")
    assert "missing_field" in reason and "null" in detail  # before: invalid_messages
