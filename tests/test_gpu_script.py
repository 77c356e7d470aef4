"""bench/gpu.py, the prepared GPU measurement of the generative student: it must run unchanged where only torch and
transformers are installed, so it is run here as a plain script (no mira import) on CPU with its tiny model."""

from __future__ import annotations

import ast
import json
import subprocess
import sys
from pathlib import Path

SCRIPT = Path(__file__).resolve().parents[1] / "bench" / "gpu.py"


def test_the_script_imports_nothing_of_mira():
    tree = ast.parse(SCRIPT.read_text())
    names = {a.name.split(".")[0] for n in ast.walk(tree) if isinstance(n, ast.Import) for a in n.names}
    names |= {n.module.split(".")[0] for n in ast.walk(tree) if isinstance(n, ast.ImportFrom) and n.module}
    assert names <= {"__future__", "argparse", "json", "os", "platform", "statistics", "time", "pathlib", "torch",
                     "transformers"}, names


def test_the_script_measures_a_step_and_scoring_and_writes_its_json(tmp_path):
    out = tmp_path / "gpu.json"
    res = subprocess.run([sys.executable, str(SCRIPT), "--tiny", "--device", "cpu", "--docs", "6", "--score-batch", "4",
                          "--steps", "1", "--train-batch", "2", "--prompt-tokens", "16", "--reply-tokens", "5",
                          "--out", str(out)], capture_output=True, text=True, cwd=tmp_path, timeout=300)
    assert res.returncode == 0, res.stderr[-2000:]
    r = json.loads(out.read_text())
    assert r == json.loads(res.stdout)
    assert r["device"] == "cpu" and r["docs"] == 6 and r["reply_tokens"] == 5 and r["peak_gpu_mb"] is None
    assert r["step_seconds"] > 0 and r["score_seconds"] > 0
    assert abs(r["docs_per_s"] * r["score_seconds"] - 6) < 0.1  # rates from the times (which are rounded)
    assert abs(r["train_tokens_per_s"] * r["step_seconds"] - 2 * 21) < 0.5  # 2 rows of 16 + 5 tokens
