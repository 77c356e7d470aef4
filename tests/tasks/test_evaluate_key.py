"""The proxy evaluation's run cache key: a run is served only for what it was trained on and with."""

from __future__ import annotations

import numpy as np
import torch

from mira_core.config import EvaluateParams
from tasks.evaluate import run_key


def test_the_key_holds_the_device_auto_resolved_to_and_the_torch_and_transformers_versions(monkeypatch):
    # `device: auto` reads the same in params on a CPU machine and on a GPU one; the key must not.
    p, stream = EvaluateParams(device="auto"), np.arange(10, dtype=np.uint16)
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)  # a CPU machine, wherever the test runs
    cpu = run_key(p, stream, seed=0)
    assert run_key(p, stream, seed=0) == cpu and run_key(p, stream, seed=1) != cpu
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)  # what a GPU machine answers
    assert run_key(p, stream, seed=0) != cpu
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    monkeypatch.setattr(torch, "__version__", "0.0.0")
    assert run_key(p, stream, seed=0) != cpu
    monkeypatch.undo()
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    assert run_key(p, stream, seed=0) == cpu
    import transformers  # it builds and initialises the GPT-2

    monkeypatch.setattr(transformers, "__version__", "0.0.0")
    assert run_key(p, stream, seed=0) != cpu
