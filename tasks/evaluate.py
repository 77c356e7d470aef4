"""Tasks of the evaluate stage: prepare the shared data, train the shared base, train and score one (arm, seed).

Not cached and results not persisted: they pass tens of MB of token arrays in memory, and DVC already
skips the whole stage when nothing it reads has changed. The base checkpoint is written (safetensors)
under .mira/evaluate/base, so every arm run starts from the same bytes.
"""

from __future__ import annotations

import math
from pathlib import Path

from prefect import task
from prefect.cache_policies import NO_CACHE

from mira_core.config import EvaluateParams
from mira_core.errors import ConfigError
from mira_core.evaluation.data import EvalData, load_manifests, prepare
from mira_core.evaluation.train import (
    load_model,
    n_parameters,
    new_model,
    resolve_device,
    save_model,
    set_threads,
    train_lm,
)
from mira_core.io import atomic_dir
from mira_core.layout import Layout


@task(name="evaluate-prepare", cache_policy=NO_CACHE, persist_result=False)
def prepare_data(p: EvaluateParams, held_out: list[str], root: str) -> EvalData:
    """Tokenizer, arm streams, general slice and target windows of the project at `root`."""
    lay = Layout(Path(root))
    shards = lay.corpus_shards()
    if not shards:
        raise ConfigError(f"{lay.corpus}: no corpus shards (run ingest first)")
    set_threads(p.threads)
    return prepare(shards, load_manifests(lay.root / "data" / "selection", p.arms), held_out, p)


@task(name="evaluate-base", cache_policy=NO_CACHE, persist_result=False)
def train_base(p: EvaluateParams, data: EvalData, out: Path) -> dict:
    """Train the shared base on the general slice (no decay) and save it, with its tokenizer, to `out`."""
    set_threads(p.threads)
    device = resolve_device(p.device)
    model = new_model(p, data.tokenizer.vocab_size, data.tokenizer.eos_id, p.seed)
    res = train_lm(model, data.base.stream, data.target, p, seed=p.seed, steps=p.base_steps, decay_frac=0.0,
                   device=device)
    with atomic_dir(out) as tmp:
        save_model(model, tmp)
        data.tokenizer.save(tmp / "tokenizer.json")
    return {"records": data.base.records, "stream_tokens": len(data.base.stream), "steps": res.steps,
            "tokens_seen": res.tokens_seen, "loss": res.final_loss, "ppl": math.exp(res.final_loss),
            "curve": [list(c) for c in res.curve], "wall_s": res.wall_s, "parameters": n_parameters(model),
            "device": str(device)}


@task(name="evaluate-arm", task_run_name="evaluate-{arm}-seed{seed}", cache_policy=NO_CACHE, persist_result=False)
def train_arm(arm: str, seed: int, p: EvaluateParams, data: EvalData, base: Path) -> dict:
    """Continue the base on the arm's windows (WSD with decay) and score the target along the way."""
    set_threads(p.threads)
    device = resolve_device(p.device)
    res = train_lm(load_model(base), data.arms[arm].stream, data.target, p, seed=seed, steps=p.steps,
                   decay_frac=p.decay_frac, device=device)
    return {"arm": arm, "seed": seed, "loss": res.final_loss, "ppl": math.exp(res.final_loss),
            "tokens_seen": res.tokens_seen, "last_train_loss": res.last_train_loss,
            "curve": [list(c) for c in res.curve], "wall_s": res.wall_s}
