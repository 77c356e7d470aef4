"""Shared test set-up: an isolated, offline, quiet environment and small data builders.

Every test writes under pytest's tmp_path; nothing is written inside the repository. Flow-level
tests share one temporary Prefect server for the session (`prefect_harness`); under pytest-xdist (`make test`
runs two workers) each worker is its own session, with its own server and its own state folder (keyed by pid).
"""

from __future__ import annotations

import json
import os
import shutil
import sys
from pathlib import Path

import pytest

from tests.repo_copy import copy_repo  # noqa: F401 - re-exported for the flow tests

REPO = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent

_STATE = Path(os.environ.get("MIRA_TEST_STATE", "/tmp")) / f"mira-tests-{os.getpid()}"
os.environ.update({
    "PREFECT_HOME": str(_STATE / "prefect-home"),
    "DVC_SITE_CACHE_DIR": str(_STATE / "dvc-site-cache"),
    "HF_HUB_OFFLINE": "1",
    "TRANSFORMERS_OFFLINE": "1",
    "TOKENIZERS_PARALLELISM": "false",
    "OPENBLAS_NUM_THREADS": "1",
    "DO_NOT_TRACK": "true",
    "DVC_NO_ANALYTICS": "1",
    "MLFLOW_DISABLE_TELEMETRY": "true",
    "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
    "PREFECT_LOGGING_LEVEL": "WARNING",
    "PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS": "120",
})
os.environ.pop("PREFECT_API_URL", None)
(_STATE / "prefect-home").mkdir(parents=True, exist_ok=True)


def pytest_sessionfinish(session, exitstatus):
    """The session's Prefect home and DVC site cache go with it: every run of the suite left its own (about 2 MB,
    a thousand of them in /tmp after a few weeks of sessions)."""
    shutil.rmtree(_STATE, ignore_errors=True)


@pytest.fixture(scope="session")
def prefect_harness():
    """One temporary Prefect server (SQLite) for every flow-level test of the session."""
    from prefect.testing.utilities import prefect_test_harness

    with prefect_test_harness(server_startup_timeout=120):
        yield


def write_jsonl(path: Path, rows: list, raw_lines: list[bytes] | None = None) -> Path:
    """JSONL of `rows`, then any `raw_lines` verbatim (for broken input)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    data = b"".join(json.dumps(r).encode() + b"\n" for r in rows) + b"".join(raw_lines or [])
    if path.name.endswith(".gz"):
        import gzip

        data = gzip.compress(data)
    elif path.name.endswith(".zst"):
        import zstandard

        data = zstandard.ZstdCompressor().compress(data)
    path.write_bytes(data)
    return path


def write_corrupt_parquet(path: Path, rows: int = 400, bad_group: int = 2) -> list[str]:
    """A Parquet file of `rows` texts in row groups of 100, with row group `bad_group` overwritten with 0xFF; its
    texts."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    texts = [f"record number {i} " * 5 for i in range(rows)]
    pq.write_table(pa.table({"text": texts}), path, row_group_size=100, compression="none", use_dictionary=False)
    chunk = pq.ParquetFile(path).metadata.row_group(bad_group).column(0)
    start = chunk.dictionary_page_offset or chunk.data_page_offset
    data = bytearray(path.read_bytes())
    data[start:start + chunk.total_compressed_size] = b"\xff" * chunk.total_compressed_size
    path.write_bytes(bytes(data))
    return texts


_GATE = """
import sys as _sys, time as _time
from pathlib import Path as _Path
_gate = _Path(_sys.argv[1])
(_gate / f"ready-{_sys.argv[2]}").touch()
while not (_gate / "go").exists():
    _time.sleep(0.01)
"""


def run_at_once(imports: str, body: str, n: int, gate: Path, *args: str) -> list[tuple[int, str]]:
    """(exit code, output) of `n` Python processes that run `imports`, wait until all have, then run `body`
    together: the way to meet a race between processes. `body` reads its own arguments as sys.argv[3:]."""
    import subprocess
    import time

    code = imports + _GATE + body
    procs = [subprocess.Popen([sys.executable, "-c", code, str(gate), str(i), *args], stdout=subprocess.PIPE,
                              stderr=subprocess.STDOUT, text=True) for i in range(n)]
    deadline = time.monotonic() + 120  # heavy imports take seconds each on two busy cores
    while time.monotonic() < deadline and len(list(gate.glob("ready-*"))) < n:
        time.sleep(0.05)
    (gate / "go").touch()
    outs = [p.communicate(timeout=600)[0] for p in procs]
    return [(p.returncode, out) for p, out in zip(procs, outs, strict=True)]


def tool_env() -> dict[str, str]:
    """Environment for running the project's console tools (mira, dvc) in a subprocess."""
    return {**os.environ, "PATH": f"{BIN}{os.pathsep}{os.environ['PATH']}", "GIT_AUTHOR_NAME": "t",
            "GIT_AUTHOR_EMAIL": "t@t", "GIT_COMMITTER_NAME": "t", "GIT_COMMITTER_EMAIL": "t@t"}


@pytest.fixture(scope="session")
def tiny_encoder(tmp_path_factory) -> Path:
    """A 2-layer, 32-wide BERT with random weights and the MiniLM tokenizer: a real encoder, built here."""
    import torch
    from transformers import BertConfig, BertModel

    from mira_core.ingest.tokens import minilm_path

    out = tmp_path_factory.mktemp("tiny_encoder")
    torch.manual_seed(0)
    cfg = BertConfig(vocab_size=30522, hidden_size=32, num_hidden_layers=2, num_attention_heads=2,
                     intermediate_size=64, max_position_embeddings=512)
    BertModel(cfg).save_pretrained(out)
    for name in ("tokenizer.json", "tokenizer_config.json", "vocab.txt", "special_tokens_map.json"):
        if (minilm_path() / name).exists():
            shutil.copy(minilm_path() / name, out / name)
    return out


@pytest.fixture(scope="session")
def tiny_causal_lm(tmp_path_factory) -> Path:
    """A 2-layer GPT-2 with random weights and a word-level tokenizer trained here on a few sentences."""
    import torch
    from tokenizers import Tokenizer, models, pre_tokenizers, trainers
    from transformers import GPT2Config, GPT2LMHeadModel, PreTrainedTokenizerFast

    out = tmp_path_factory.mktemp("tiny_lm")
    tok = Tokenizer(models.WordLevel(unk_token="[UNK]"))
    tok.pre_tokenizer = pre_tokenizers.Whitespace()
    corpus = ['{"judgments": [{"name": "clarity", "score": 3, "reason": "short"}]}',
              "You judge the quality of training data and reply with a single JSON object only."]
    tok.train_from_iterator(corpus, trainers.WordLevelTrainer(special_tokens=["[UNK]", "[PAD]", "[EOS]"]))
    fast = PreTrainedTokenizerFast(tokenizer_object=tok, unk_token="[UNK]", pad_token="[PAD]", eos_token="[EOS]")
    fast.save_pretrained(out)
    torch.manual_seed(0)
    cfg = GPT2Config(vocab_size=fast.vocab_size, n_positions=4096, n_embd=16, n_layer=2, n_head=2,
                     eos_token_id=fast.eos_token_id, pad_token_id=fast.pad_token_id)
    GPT2LMHeadModel(cfg).save_pretrained(out)
    return out


@pytest.fixture
def http_folder(tmp_path):
    """A folder served over HTTP on 127.0.0.1 (fsspec's http filesystem reads URL sources from it): its path and
    port."""
    import functools
    import http.server
    import threading

    class Quiet(http.server.SimpleHTTPRequestHandler):
        def log_message(self, *args):  # no request lines on the test's stderr
            pass

    (tmp_path / "served").mkdir()
    srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(Quiet, directory=tmp_path / "served"))
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    yield tmp_path / "served", srv.server_address[1]
    srv.shutdown()
    srv.server_close()
