"""ONNX Runtime backend of the encoder pass: export a Hugging Face encoder once (fp32 or dynamic int8), run it on CPU.

Measured on all-MiniLM-L6-v2 over 300 chunks of stdlib .py files (253 tokens on average, cut at 256), length-sorted
batches of 64 as in `mira_core.embedding`, 2 threads, on a 2-core AVX2 CPU without VNNI (AMD EPYC) that other jobs
kept at load 6-8. Wall time under that load is noise, so docs/s is 2 x docs per process CPU-second (threads sleep
when idle), two runs where there are two; cosine is of the mean-pooled unit vectors to torch fp32:

    backend                                      docs/s       cosine min / mean
    torch 2.13 fp32 (sdpa attention)             14.3, 15.4   (reference)
    onnx fp32, eager attention                   15.1, 14.5   1.0000 / 1.0000
    onnx fp32, sdpa attention                    13.3         1.0000 / 1.0000
    onnx int8: QInt8 MatMul weights per channel  24.2, 23.0   0.9848 / 0.9922   <- int8 here
    onnx int8: the same, per tensor              24.6         0.8647 / 0.9254   (too lossy; per channel costs nothing)
    onnx int8: QUInt8 weights per channel        20.1         0.9863 / 0.9937
    onnx int8: + reduce_range                    -            0.9831 / 0.9918   (per tensor: 0.66 / 0.77)
    onnx int8: + Gather (quantize_dynamic's default ops: the embedding tables)   0.9797 / 0.9919
    openvino 2026.4 fp32 on the fp32 graph       17.7         1.0000 / 1.0000   (not adopted: below int8)

So int8 is ~1.6x torch fp32 on this CPU, not the ~3x published for CPUs with VNNI int8 dot products; fp32 ONNX only
matches torch. The graph comes from the dynamo exporter (`torch.onnx.export(dynamo=True)`): the TorchScript exporter
bakes transformers 5's mask construction into constants and is wrong on padded batches (max error 1.6 to 3), and so
ONNX Runtime's BERT attention fusion (which wants that exporter's graph) is out of reach. Eager attention exports to
plain MatMul/Softmax, which runs faster than the SDPA graph and its IsNaN/Where guards. int8 quantizes only the MatMul
weights; activations are quantized per batch at run time, and activation-by-activation products stay fp32. Sessions
do not spin their threads between ops: the cores are shared with tokenization and other processes.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
from collections.abc import Iterator
from pathlib import Path
from typing import Literal

import numpy as np

from mira_core.errors import ConfigError
from mira_core.io import atomic_dir, cache_folder, file_digest, write_json

Quantize = Literal["none", "int8"]
RECIPE = 1  # bump when the export or quantization options below change, so old cached graphs are not reused
INPUTS = ("input_ids", "attention_mask")
OUTPUT = "last_hidden_state"


def _weight_files(model_dir: Path) -> list[Path]:
    return sorted(model_dir.glob("*.safetensors")) + sorted(model_dir.glob("*.bin"))


def onnx_cache_key(model_dir: Path, quantize: Quantize) -> str:
    """Name of the cache folder of one export: a digest of the weights' content, the mode and the tool versions."""
    import onnxruntime
    import torch

    model_dir = Path(model_dir)
    payload = {
        "config": file_digest(model_dir / "config.json"),
        "weights": {f.name: file_digest(f) for f in _weight_files(model_dir)},
        "quantize": quantize, "recipe": RECIPE, "onnxruntime": onnxruntime.__version__, "torch": torch.__version__,
    }
    digest = hashlib.blake2b(json.dumps(payload, sort_keys=True).encode(), digest_size=10).hexdigest()
    return f"{quantize}-{digest}"


def export_onnx(model_dir: Path, cache_dir: Path, quantize: Quantize = "none") -> Path:
    """Path of `model_dir`'s encoder as ONNX under `cache_dir/<key>/model.onnx`, exported (and quantized) if missing.

    The folder is built under a temporary name and renamed into place whole, so a crash never leaves a
    `model.onnx` that a later call would trust; a folder without `model.onnx` is rebuilt. A file lock makes a
    second process (another project's stage on a shared cache, `dvc exp run --jobs`) wait for the first
    one's export: unlocked, both exported, and the second one's clean-up of leftovers deleted the first one's
    temporary folder under it.
    """
    from filelock import FileLock

    if quantize not in ("none", "int8"):
        raise ConfigError(f"quantize = {quantize!r}: expected 'none' or 'int8'")
    model_dir = Path(model_dir)
    if not (model_dir / "config.json").exists() or not _weight_files(model_dir):
        raise ConfigError(f"no Hugging Face model folder (config.json and weights) at {model_dir}")
    folder = Path(cache_dir) / onnx_cache_key(model_dir, quantize)
    out = folder / "model.onnx"
    if out.exists():
        return out
    cache_folder(folder.parent, "embed.cache_dir")
    with FileLock(str(folder) + ".lock"):
        if out.exists():  # exported by the process this one waited for
            return out
        with atomic_dir(folder) as tmp:
            fp32 = tmp / ("model.onnx" if quantize == "none" else "fp32.onnx")
            _export_fp32(model_dir, fp32)
            if quantize == "int8":
                _quantize_int8(fp32, tmp / "model.onnx")
                fp32.unlink()
            write_json({"model_dir": str(model_dir), "quantize": quantize, "recipe": RECIPE}, tmp / "export.json")
    return out


def _export_fp32(model_dir: Path, out: Path) -> None:
    """Export the encoder with dynamic batch and sequence axes; token_type_ids are left to the model's zeros."""
    import io
    import warnings

    import torch
    from transformers import AutoModel
    from transformers.utils import logging as hf_logging

    hf_logging.disable_progress_bar()  # the per-tensor "Loading weights" bar
    model = AutoModel.from_pretrained(str(model_dir), local_files_only=True, dtype=torch.float32,
                                      attn_implementation="eager").eval()

    class Hidden(torch.nn.Module):
        def __init__(self, m: torch.nn.Module) -> None:
            super().__init__()
            self.m = m

        def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
            return self.m(input_ids=input_ids, attention_mask=attention_mask).last_hidden_state

    # Sample sizes >= 2 on both axes with padding in one row, so the exporter neither specialises a size nor the mask.
    ids = torch.full((2, 8), min(5, model.config.vocab_size - 1), dtype=torch.long)
    mask = torch.ones_like(ids)
    mask[1, 5:] = 0
    batch, seq = torch.export.Dim("batch"), torch.export.Dim("seq")
    with torch.no_grad(), contextlib.redirect_stdout(io.StringIO()), warnings.catch_warnings(), \
            _quiet_logger("torch.onnx._internal.exporter._registration"):
        # The exporter prints its steps and warns that input_ids and attention_mask share the names batch and seq,
        # logs that torchvision's ops (which no text encoder uses) are skipped, and its pytree code warns of its own
        # deprecations: none of it is the user's to act on, once per machine, in the middle of the first run.
        warnings.filterwarnings("ignore", message=r".*axis name.*will not be used", category=UserWarning)
        warnings.filterwarnings("ignore", message=r".*LeafSpec.*", category=FutureWarning)
        # One self-contained file: the encoders used here are far below protobuf's 2 GB limit. The wrapper in eval
        # mode too: a module in training mode is exported with a warning (the inner one's mode is what runs).
        torch.onnx.export(Hidden(model).eval(), (ids, mask), str(out), dynamo=True, external_data=False,
                          input_names=list(INPUTS), output_names=[OUTPUT],
                          dynamic_shapes={"input_ids": {0: batch, 1: seq}, "attention_mask": {0: batch, 1: seq}})


def _quantize_int8(src: Path, out: Path) -> None:
    """Dynamic int8: MatMul weights as QInt8 per output channel; activations are quantized per batch at run time."""
    from onnxruntime.quantization import QuantType, quantize_dynamic

    # it logs, on the root logger, advice to pre-process first (shape inference for static quantization): dynamic
    # MatMul weights need none, and the int8 encoder's agreement with fp32 is measured (BENCHMARKS.md)
    with _quiet_logger(""):
        quantize_dynamic(str(src), str(out), weight_type=QuantType.QInt8, per_channel=True, reduce_range=False,
                         op_types_to_quantize=["MatMul"], extra_options={"MatMulConstBOnly": True})


@contextlib.contextmanager
def _quiet_logger(name: str) -> Iterator[None]:
    """What the logger `name` ("" the root) itself logs below ERROR is dropped, for the block's length.

    A filter, not a level: a logger's filters see only the records it makes, so the loggers below it (mira's own,
    which propagate to the root) are not silenced, where a level on the root would have been their level too."""
    logger = logging.getLogger(name)

    def errors_only(record: logging.LogRecord) -> bool:
        return record.levelno >= logging.ERROR

    logger.addFilter(errors_only)
    try:
        yield
    finally:
        logger.removeFilter(errors_only)


class OnnxEncoderRunner:
    """An ONNX Runtime CPU session over an exported encoder; calling it gives last_hidden_state (batch, seq, hidden)."""

    def __init__(self, onnx_path: Path, threads: int = 0) -> None:
        import onnxruntime as ort

        so = ort.SessionOptions()
        so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        if threads > 0:
            so.intra_op_num_threads = threads
        so.inter_op_num_threads = 1
        so.add_session_config_entry("session.intra_op.allow_spinning", "0")  # shared cores: sleep, don't spin
        self.session = ort.InferenceSession(str(onnx_path), so, providers=["CPUExecutionProvider"])
        names = {i.name for i in self.session.get_inputs()}
        if not set(INPUTS) <= names:
            raise ConfigError(f"{onnx_path}: inputs {sorted(names)}, expected {list(INPUTS)}")
        self.token_type_ids = "token_type_ids" in names

    def __call__(self, input_ids: np.ndarray, attention_mask: np.ndarray) -> np.ndarray:
        feeds = {"input_ids": np.ascontiguousarray(input_ids, dtype=np.int64),
                 "attention_mask": np.ascontiguousarray(attention_mask, dtype=np.int64)}
        if self.token_type_ids:
            feeds["token_type_ids"] = np.zeros_like(feeds["input_ids"])
        (hidden,) = self.session.run([OUTPUT], feeds)
        return hidden.astype(np.float32, copy=False)
