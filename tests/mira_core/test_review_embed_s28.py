"""Review of the encoder pass (s28): the pooling a sentence-transformers folder asks for (both config formats; what
the pass cannot apply is refused), windows no longer than the encoder's positions hold, a clear message for settings
and folders the pass cannot run, and the stage's coverage total over a shard of no records."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import polars as pl
import pytest

from mira_core.config import EmbedParams
from mira_core.embedding import Encoder, StaticEncoder, embed_shard
from mira_core.errors import ConfigError
from mira_core.schema import CORPUS


def _torch(encoder: Path, **kw) -> EmbedParams:
    return EmbedParams(encoder=str(encoder), dtype="fp32", backend="torch", **kw)


def _copy(src: Path, dst: Path) -> Path:
    shutil.copytree(src, dst)
    return dst


def test_a_cls_pooled_model_saved_by_sentence_transformers_is_cls_pooled(tiny_encoder, tmp_path):
    # sentence-transformers 5+ writes {"pooling_mode": "cls"}, not the pooling_mode_cls_token flag: such a model
    # was mean-pooled here (cosine ~0.5 to the model's own vectors)
    from sentence_transformers import SentenceTransformer, models

    out = tmp_path / "st_cls"
    st = SentenceTransformer(modules=[models.Transformer(str(tiny_encoder)), models.Pooling(32, pooling_mode="cls"),
                                      models.Normalize()], device="cpu")
    st.save(str(out))
    texts = ["hello world, a short text", "another record about parsing JSON lines"]
    enc = Encoder(_torch(out))
    assert (enc.pooling, enc.normalize) == ("cls", True)
    ref = SentenceTransformer(str(out), device="cpu").encode(texts, normalize_embeddings=True)
    assert (enc.encode(texts) * ref).sum(axis=1).min() > 0.9999


@pytest.mark.parametrize("pooling", [{"pooling_mode": "max"}, {"pooling_mode": ["cls", "mean"]},
                                     {"pooling_mode_cls_token": False, "pooling_mode_max_tokens": True}])
def test_a_pooling_the_pass_does_not_apply_is_refused_not_replaced_by_the_mean(tiny_encoder, tmp_path, pooling):
    folder = _copy(tiny_encoder, tmp_path / "enc")
    (folder / "1_Pooling").mkdir()
    (folder / "1_Pooling" / "config.json").write_text(json.dumps({"word_embedding_dimension": 32, **pooling}))
    with pytest.raises(ConfigError, match="1_Pooling/config.json: pooling .* not supported"):
        Encoder(_torch(folder))


def test_a_module_the_pass_does_not_apply_is_refused(tiny_encoder, tmp_path):
    # a Dense layer after the pooling: its vectors (even their width) are not what the pass computes
    folder = _copy(tiny_encoder, tmp_path / "enc")
    (folder / "modules.json").write_text(json.dumps([
        {"idx": 0, "name": "0", "path": "", "type": "sentence_transformers.models.Transformer"},
        {"idx": 1, "name": "1", "path": "1_Pooling", "type": "sentence_transformers.models.Pooling"},
        {"idx": 2, "name": "2", "path": "2_Dense", "type": "sentence_transformers.models.Dense"}]))
    with pytest.raises(ConfigError, match="modules.json: module.s. Dense"):
        Encoder(_torch(folder))


def _tiny_roberta(tiny_encoder: Path, folder: Path) -> Path:
    """A 1-layer RoBERTa (514 position embeddings: 512 tokens, as the family numbers them) with the tiny encoder's
    tokenizer."""
    import torch
    from transformers import RobertaConfig, RobertaModel

    torch.manual_seed(0)
    RobertaModel(RobertaConfig(vocab_size=30522, hidden_size=32, num_hidden_layers=1, num_attention_heads=2,
                               intermediate_size=64, max_position_embeddings=514, pad_token_id=1)).save_pretrained(folder)
    for name in ("tokenizer.json", "tokenizer_config.json", "vocab.txt", "special_tokens_map.json"):
        if (tiny_encoder / name).exists():
            shutil.copy(tiny_encoder / name, folder / name)
    return folder


def test_a_roberta_style_encoder_reads_windows_its_positions_hold(tiny_encoder, tmp_path):
    # RoBERTa-family models number positions from padding_idx + 1: 514 position embeddings hold 512 tokens, and a
    # window of 514 failed with "index 514 is out of bounds"
    folder = _tiny_roberta(tiny_encoder, tmp_path / "roberta")
    enc = Encoder(_torch(folder, max_length=1024))
    assert enc.max_length == 512
    v, cover = enc.encode_records(["word " * 600])
    np.testing.assert_allclose(np.linalg.norm(v, axis=1), 1.0, rtol=1e-5)
    assert 0.0 < cover[0] < 1.0


@pytest.mark.parametrize("max_length", [1, 2])
def test_a_window_too_short_to_hold_a_token_is_a_config_error(tiny_encoder, max_length):
    # 2: [CLS] and [SEP] left no token to read and the window count divided by zero; 1: windows longer than
    # max_length were read, with a coverage of 0.75 for a record of 4 tokens
    with pytest.raises(ConfigError, match=f"embed.max_length = {max_length}"):
        Encoder(_torch(tiny_encoder, max_length=max_length, windows=2))


def test_a_tokenizer_without_cls_or_sep_is_a_config_error(tmp_path):
    import torch
    from tokenizers import Tokenizer, models, pre_tokenizers
    from transformers import BertConfig, BertModel, PreTrainedTokenizerFast

    folder = tmp_path / "no_cls"
    tok = Tokenizer(models.WordLevel({"[UNK]": 0, "[PAD]": 1, "hello": 2, "world": 3}, unk_token="[UNK]"))
    tok.pre_tokenizer = pre_tokenizers.Whitespace()
    PreTrainedTokenizerFast(tokenizer_object=tok, unk_token="[UNK]", pad_token="[PAD]").save_pretrained(folder)
    torch.manual_seed(0)
    BertModel(BertConfig(vocab_size=4, hidden_size=8, num_hidden_layers=1, num_attention_heads=1,
                         intermediate_size=16, max_position_embeddings=32)).save_pretrained(folder)
    with pytest.raises(ConfigError, match="no CLS or SEP token"):
        Encoder(_torch(folder)).encode(["hello world"])


def test_a_static_source_without_tokenizer_json_is_a_config_error(tiny_encoder, tmp_path):
    # distillation ran every token through the model, then failed with "No such file or directory (os error 2)"
    source = _copy(tiny_encoder, tmp_path / "source")
    (source / "tokenizer.json").unlink()
    with pytest.raises(ConfigError, match=r"embed.static_source = .*holds no tokenizer.json"):
        StaticEncoder(EmbedParams(encoder="static", static_source=str(source)), tmp_path / "cache")
    assert not (tmp_path / "cache").exists()  # refused before any distillation


def test_the_stage_totals_coverage_over_a_shard_of_no_records(tiny_encoder, tmp_path):
    # embed_shard gives a zero-record shard a coverage mean of None; the stage's total failed on `0 * None`
    from flows.embed import total_coverage

    enc = Encoder(_torch(tiny_encoder, max_length=32))
    results = []
    for i, texts in enumerate([["hello world", "word " * 100], []]):
        shard = tmp_path / "corpus" / "s" / f"part-{i:05d}.parquet"
        shard.parent.mkdir(parents=True, exist_ok=True)
        pl.DataFrame({"record_id": [f"s/{i}-{j}" for j in range(len(texts))], "source": "s", "format": "text",
                      "text": texts, "n_tokens": [1] * len(texts), "n_chars": [len(t) for t in texts], "meta": "{}"},
                     schema=CORPUS).write_parquet(shard)
        results.append(embed_shard(shard, tmp_path / "emb" / "s" / shard.name, enc, _torch(tiny_encoder)))
    assert results[1]["coverage"]["mean"] is None
    total = total_coverage(results)
    assert total["mean"] == results[0]["coverage"]["mean"] and total["full_records"] == 1
    assert total_coverage(results[1:]) == {"mean": None, "full_records": 0}


def test_windows_at_exact_multiples_of_the_window_body(tiny_encoder):
    # body = max_length - 2 = 14 tokens: 14 tokens are one window, 15 are two, 28 two, 29 three; coverage stays 1
    enc = Encoder(_torch(tiny_encoder, max_length=16, windows=3))
    texts = ["word " * 14, "word " * 15, "word " * 28, "word " * 29, "", " \n\t ", "\U0001f600" * 5]
    windows, owner, cover = enc.window_ids(texts)
    assert np.bincount(owner, minlength=len(texts)).tolist() == [1, 2, 2, 3, 1, 1, 1]
    assert max(len(w) for w in windows) == 16 and cover.tolist() == [1.0] * len(texts)
    v = enc.encode(texts)
    np.testing.assert_allclose(np.linalg.norm(v, axis=1), 1.0, rtol=1e-5)


def test_a_finetune_student_reads_inputs_a_roberta_style_encoder_holds(tiny_encoder, tmp_path):
    # The finetune student capped its inputs at max_position_embeddings alone (514): a RoBERTa-family base with
    # finetune.max_length above 512 failed on the first long record with "index out of range"
    from mira_core.config import DistillParams, FinetuneParams
    from mira_core.students import make_student
    from mira_core.students.base import Inputs

    folder = _tiny_roberta(tiny_encoder, tmp_path / "roberta")
    p = DistillParams(student="finetune", finetune=FinetuneParams(epochs=1, batch_size=4, max_length=1024, device="cpu"))
    s = make_student(p, ["a0"], (1, 5), EmbedParams(encoder=str(folder)), None)
    s.fit(Inputs(texts=["word " * 600, "short one", "word " * 30, "another"]), np.array([[1.0], [5.0], [2.0], [4.0]]))
    assert s.max_length == 512
