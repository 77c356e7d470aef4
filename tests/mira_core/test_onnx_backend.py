"""Tests of the ONNX Runtime backend on a tiny random BERT built here: fp32 agrees with torch on padded batches,
int8 stays close, and the export cache is reused only when complete and current."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest

from mira_core import onnx_backend
from mira_core.errors import ConfigError
from mira_core.onnx_backend import OnnxEncoderRunner, export_onnx, onnx_cache_key
from tests.conftest import run_at_once

VOCAB = 100


@pytest.fixture(scope="module")
def tiny_bert(tmp_path_factory):
    """A 2-layer, 32-wide BERT with a 100-token vocabulary and random weights."""
    import torch
    from transformers import BertConfig, BertModel

    out = tmp_path_factory.mktemp("tiny_bert")
    torch.manual_seed(0)
    cfg = BertConfig(vocab_size=VOCAB, hidden_size=32, num_hidden_layers=2, num_attention_heads=2,
                     intermediate_size=64, max_position_embeddings=64)
    BertModel(cfg).save_pretrained(out)
    return out


@pytest.fixture(scope="module")
def cache(tmp_path_factory):
    return tmp_path_factory.mktemp("onnx_cache")


@pytest.fixture(scope="module")
def fp32_path(tiny_bert, cache):
    return export_onnx(tiny_bert, cache, "none")


@pytest.fixture(scope="module")
def int8_path(tiny_bert, cache):
    return export_onnx(tiny_bert, cache, "int8")


def padded_batch(lengths: list[int], seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Random ids, right-padded with 0 to the longest length, and their attention mask."""
    rng = np.random.default_rng(seed)
    ids = np.zeros((len(lengths), max(lengths)), dtype=np.int64)
    mask = np.zeros_like(ids)
    for row, n in enumerate(lengths):
        ids[row, :n] = rng.integers(1, VOCAB, n)
        mask[row, :n] = 1
    return ids, mask


def torch_hidden(model_dir, ids: np.ndarray, mask: np.ndarray) -> np.ndarray:
    import torch
    from transformers import AutoModel

    model = AutoModel.from_pretrained(str(model_dir), local_files_only=True).eval()
    with torch.inference_mode():
        return model(input_ids=torch.from_numpy(ids), attention_mask=torch.from_numpy(mask)).last_hidden_state.numpy()


def mean_pool(hidden: np.ndarray, mask: np.ndarray) -> np.ndarray:
    m = mask[..., None].astype(np.float32)
    v = (hidden * m).sum(1) / np.maximum(m.sum(1), 1.0)
    return v / np.linalg.norm(v, axis=1, keepdims=True)


BATCHES = [[11, 6, 1], [4], [37, 37, 20, 9, 2], [64, 3]]


@pytest.mark.parametrize("lengths", BATCHES)
def test_fp32_matches_torch_on_padded_batches(tiny_bert, fp32_path, lengths):
    ids, mask = padded_batch(lengths, seed=len(lengths))
    got = OnnxEncoderRunner(fp32_path, threads=1)(ids, mask)
    assert got.dtype == np.float32
    assert got.shape == (len(lengths), max(lengths), 32)
    np.testing.assert_allclose(got, torch_hidden(tiny_bert, ids, mask), atol=1e-4)


def test_padding_does_not_change_a_record(fp32_path):
    run = OnnxEncoderRunner(fp32_path)
    ids, mask = padded_batch([30, 7], seed=3)
    alone = run(ids[1:, :7], mask[1:, :7])
    np.testing.assert_allclose(run(ids, mask)[1, :7], alone[0], atol=1e-5)


def test_int8_is_close_to_fp32(fp32_path, int8_path):
    ids, mask = padded_batch([50, 40, 33, 20, 12, 5, 2, 1], seed=7)
    ref = mean_pool(OnnxEncoderRunner(fp32_path)(ids, mask), mask)
    got = mean_pool(OnnxEncoderRunner(int8_path)(ids, mask), mask)
    cos = (ref * got).sum(1)
    assert cos.min() >= 0.999, cos  # a tiny random BERT gives 0.99999 (MiniLM: 0.985 min, 0.992 mean)
    assert not np.allclose(ref, got, atol=1e-6)  # it really is a different graph


def test_int8_quantizes_every_weight_matmul_and_nothing_else(fp32_path, int8_path):
    import onnx

    def ops(path):
        return [n.op_type for n in onnx.load(str(path)).graph.node]

    assert "MatMulInteger" not in ops(fp32_path)
    # 2 layers x 6 weight MatMuls (q, k, v, attention output, FFN in, FFN out); the embedding tables stay fp32.
    assert ops(int8_path).count("MatMulInteger") == 12
    assert "DequantizeLinear" not in ops(int8_path)


def test_second_call_reuses_the_cache(tiny_bert, cache, fp32_path, monkeypatch):
    mtime = fp32_path.stat().st_mtime_ns

    def no_export(*args, **kwargs):
        raise AssertionError("exported again")

    monkeypatch.setattr(onnx_backend, "_export_fp32", no_export)
    assert export_onnx(tiny_bert, cache, "none") == fp32_path
    assert fp32_path.stat().st_mtime_ns == mtime
    assert fp32_path.parent.name == onnx_cache_key(tiny_bert, "none")


def test_key_sees_mode_and_weight_content(tiny_bert, tmp_path):
    assert onnx_cache_key(tiny_bert, "none") != onnx_cache_key(tiny_bert, "int8")
    other = tmp_path / "other"
    shutil.copytree(tiny_bert, other)
    weights = other / "model.safetensors"
    data = bytearray(weights.read_bytes())
    data[-1] ^= 1  # same name, same size, different content
    weights.write_bytes(bytes(data))
    assert onnx_cache_key(other, "none") != onnx_cache_key(tiny_bert, "none")


def test_partial_cache_folder_is_rebuilt(tiny_bert, tmp_path):
    folder = tmp_path / onnx_cache_key(tiny_bert, "none")
    folder.mkdir(parents=True)
    (folder / "fp32.onnx").write_bytes(b"half a file")
    out = export_onnx(tiny_bert, tmp_path, "none")
    assert out == folder / "model.onnx"
    assert not (folder / "fp32.onnx").exists()
    ids, mask = padded_batch([5, 3], seed=1)
    assert OnnxEncoderRunner(out)(ids, mask).shape == (2, 5, 32)


def test_a_failed_export_leaves_nothing_to_reuse(tiny_bert, tmp_path, monkeypatch):
    def crash(*args, **kwargs):
        raise RuntimeError("killed mid-quantization")

    monkeypatch.setattr(onnx_backend, "_quantize_int8", crash)
    with pytest.raises(RuntimeError, match="mid-quantization"):
        export_onnx(tiny_bert, tmp_path, "int8")
    # only the (empty) lock file stays: removing it could let a third process lock a file a second one holds
    assert [p.name for p in tmp_path.iterdir()] == [f"{onnx_cache_key(tiny_bert, 'int8')}.lock"]
    assert (tmp_path / f"{onnx_cache_key(tiny_bert, 'int8')}.lock").stat().st_size == 0


def test_bad_mode_or_folder_is_a_config_error(tiny_bert, tmp_path):
    with pytest.raises(ConfigError, match="fp16"):
        export_onnx(tiny_bert, tmp_path, "fp16")
    with pytest.raises(ConfigError, match="config.json"):
        export_onnx(tmp_path, tmp_path / "cache", "none")


def test_two_processes_export_into_one_cache_at_once(tiny_bert, tmp_path):
    """Two stages on a shared cache: one exports, the other waits for it; neither breaks the other's export."""
    cache = tmp_path / "cache"
    results = run_at_once("from mira_core.onnx_backend import export_onnx\n",
                          "print(export_onnx(_Path(_sys.argv[3]), _Path(_sys.argv[4]), 'none'))\n",
                          2, tmp_path, str(tiny_bert), str(cache))
    assert [code for code, _ in results] == [0, 0], results
    paths = {out.strip().splitlines()[-1] for _, out in results}
    assert len(paths) == 1 and Path(paths.pop()).is_file()
    assert [c.name for c in cache.iterdir() if c.name.startswith(".")] == []  # no temporary folder left


def test_the_export_says_nothing_a_user_should_act_on(tiny_bert, tmp_path, recwarn, caplog, capfd):
    # once per machine, in the middle of the first run: a wrapper exported in training mode, torchvision's ops
    # skipped, a pytree deprecation, the quantizer's advice on the root logger and the "Loading weights" bar
    import logging

    caplog.set_level(logging.WARNING)
    export_onnx(tiny_bert, tmp_path, "int8")
    assert [str(w.message)[:80] for w in recwarn] == []
    assert [(r.name, r.getMessage()[:80]) for r in caplog.records] == []
    err = capfd.readouterr().err
    assert "torchvision" not in err and "Loading weights" not in err and "pre-processing" not in err, err
    # a warning of mira's own, made while it quantizes, still shows (a filter on the root, not a level)
    with onnx_backend._quiet_logger(""):
        logging.getLogger("mira_core.test").warning("still shown")
        logging.getLogger().warning("dropped")
    assert [r.getMessage() for r in caplog.records] == ["still shown"]
