"""Tasks of the evaluate stage: prepare the shared data, train the shared base, train and score one (arm, seed).

Prefect's task cache is off here (the tasks pass tens of MB of token arrays in memory). Instead each
training run is keyed by exactly what it trains on, so a changed `select.budget` re-trains only the
arms whose data changed:

- the base by the evaluate params (less those only the arm runs use: steps and the decay), its
  general-slice stream, the target windows and the tokenizer; the checkpoint (safetensors +
  tokenizer.json) is kept in .mira/evaluate/base/<key>/ and carries its key in key.json. One folder
  per key, because .mira is the workspace's: a queued DVC experiment with other settings trains its
  own base beside this one instead of replacing it under this stage's arm runs;
- an (arm, seed) run by the params, the arm's stream, the target, the base's key and the seed; its
  result (loss, curve) is kept as .mira/evaluate/runs/<key>.json.

Both keys also cover the mira_core source and this file, so a code change retrains everything. A run
is deterministic (two runs give identical numbers), which is what makes serving a kept result honest.
With `cache.enabled: false` everything is trained again.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import numpy as np
from filelock import FileLock
from prefect import task
from prefect.cache_policies import NO_CACHE

from mira_core.config import EvaluateParams
from mira_core.errors import ConfigError, MiraError
from mira_core.evaluation.data import EvalData, load_manifests, prepare
from mira_core.evaluation.train import (
    load_model,
    n_parameters,
    new_model,
    perplexity,
    resolve_device,
    save_model,
    set_threads,
    train_lm,
)
from mira_core.io import atomic_dir, read_json, write_json
from mira_core.layout import corpus_shards
from tasks.caching import core_digest

# Knobs that cannot change one run's result: which arms and seeds exist, and how results are compared.
NOT_IN_KEY = {"enabled", "arms", "manifests", "seeds", "noise_sigmas"}
# ... and knobs that only the arm runs read: the base trains base_steps with no decay, so changing evaluate.steps or
# the decay retrained a base that came out the same. An arm run's key holds the base's, so it still sees them all.
NOT_IN_BASE_KEY = NOT_IN_KEY | {"steps", "decay_frac", "final_lr_ratio", "decay_shape"}


def run_key(p: EvaluateParams, *arrays: np.ndarray, exclude: set[str] = NOT_IN_KEY, **extra: object) -> str:
    """Digest of what a training run depends on: params, code, its token arrays and `extra` (seed, base key), and
    the device kind and the torch and transformers versions it runs on (`device: auto` is a CPU run on one machine
    and a bf16 CUDA run on another, and transformers builds and initialises the GPT-2: their losses must not be
    served for each other). `exclude`: the params that cannot change the run."""
    import torch
    import transformers

    h = hashlib.blake2b(digest_size=16)
    h.update(json.dumps({"params": p.model_dump(mode="json", exclude=exclude), "mira_core": core_digest(),
                         "device": resolve_device(p.device).type, "torch": torch.__version__,
                         "transformers": transformers.__version__,
                         "task": hashlib.blake2b(Path(__file__).read_bytes()).hexdigest(), **extra},
                        sort_keys=True).encode())
    for a in arrays:
        h.update(str(a.shape).encode())
        h.update(np.ascontiguousarray(a).tobytes())
    return h.hexdigest()


@task(name="evaluate-prepare", cache_policy=NO_CACHE, persist_result=False)
def prepare_data(p: EvaluateParams, held_out: list[str], corpus: Path, selection: Path, root: Path) -> EvalData:
    """Tokenizer, arm streams, general slice and target windows, from the corpus and the selection folders (and
    the files of evaluate.manifests, relative to the project root)."""
    shards = corpus_shards(corpus)
    if not shards:
        raise ConfigError(f"{corpus}: no corpus shards (run ingest first)")
    set_threads(p.threads)
    extra = {name: root / path for name, path in p.manifests.items()}
    return prepare(shards, load_manifests(selection, p.arms, extra), held_out, p)


@task(name="evaluate-base", cache_policy=NO_CACHE, persist_result=False)
def train_base(p: EvaluateParams, data: EvalData, root: Path, reuse: bool = True) -> dict:
    """Train the shared base on the general slice (no decay) and save it, with its tokenizer and key, to
    `root`/<key>; the result's `dir` names that folder."""
    tok = hashlib.blake2b(data.tokenizer.tokenizer.to_str().encode()).hexdigest()
    key = run_key(p, data.base.stream, data.target, exclude=NOT_IN_BASE_KEY, tokenizer=tok)
    locks = root.with_name(f"{root.name}.locks")  # beside the bases: their folder holds one folder per key alone
    locks.mkdir(parents=True, exist_ok=True)
    # The bases are shared by the workspace's queued and temporary DVC experiments, which run in processes of their
    # own: a budget sweep trains one base in two at once. Unlocked, the second's atomic_dir took the first's live
    # temporary folder for a killed run's and deleted it, and the first then renamed a folder of key.json alone over
    # the whole base, which every later run reused and failed on. Locked, the second waits and reuses it.
    with FileLock(str(locks / f"{key}.lock")):
        return _train_base(p, data, root / key, key, reuse)


def _train_base(p: EvaluateParams, data: EvalData, out: Path, key: str, reuse: bool) -> dict:
    if reuse and (out / "key.json").exists() and (out / "tokenizer.json").exists() \
            and read_json(out / "key.json")["key"] == key:
        return {**read_json(out / "key.json")["result"], "key": key, "dir": str(out), "reused": True}
    set_threads(p.threads)
    device = resolve_device(p.device)
    model = new_model(p, data.tokenizer.vocab_size, data.tokenizer.eos_id, p.seed)
    res = train_lm(model, data.base.stream, data.target, p, seed=p.seed, steps=p.base_steps, decay_frac=0.0,
                   device=device)
    result = {"records": data.base.records, "stream_tokens": len(data.base.stream), "steps": res.steps,
              "tokens_seen": res.tokens_seen, "loss": res.final_loss, "ppl": perplexity(res.final_loss),
              "curve": [list(c) for c in res.curve], "wall_s": res.wall_s, "parameters": n_parameters(model),
              "device": str(device)}
    with atomic_dir(out) as tmp:
        save_model(model, tmp)
        data.tokenizer.save(tmp / "tokenizer.json")
        write_json({"key": key, "result": result}, tmp / "key.json")
    return {**result, "key": key, "dir": str(out), "reused": False}


def checkpoint_key(base: Path) -> str:
    """The key of the base checkpoint in `base` (its key.json)."""
    return read_json(base / "key.json")["key"]


def check_base(base: Path, expected: str) -> None:
    """A MiraError unless the checkpoint in `base` is still the base `expected` keys."""
    found = checkpoint_key(base)
    if found != expected:  # each base has a folder of its own key, so only a hand-made change gets here
        raise MiraError(f"{base}: holds the base checkpoint {found}, not {expected}, which this stage trained; "
                        "delete the folder and run the stage again")


@task(name="evaluate-arm", task_run_name="evaluate-{arm}-seed{seed}", cache_policy=NO_CACHE, persist_result=False)
def train_arm(arm: str, seed: int, p: EvaluateParams, data: EvalData, base: Path, runs: Path | None = None,
              base_key: str | None = None) -> dict:
    """Continue the base on the arm's windows (WSD with decay) and score the target along the way.

    `base` is train_base's `dir`. With `runs` (a folder), a run whose key is there is served from it and a new one
    is kept there. `base_key` (train_base's; by default the one in `base`) is the base this run must continue: a
    folder that holds another is an error, not a run reported, and kept, as this stage's.
    """
    expected = base_key or checkpoint_key(base)
    key = run_key(p, data.arms[arm].stream, data.target, seed=seed, base=expected)
    kept = runs / f"{key}.json" if runs is not None else None
    if kept is not None and kept.exists():
        return {**read_json(kept), "arm": arm, "seed": seed, "reused": True}
    set_threads(p.threads)
    device = resolve_device(p.device)
    check_base(base, expected)
    model = load_model(base)
    check_base(base, expected)  # replaced while it loaded: the weights may be either base's, or a mix
    res = train_lm(model, data.arms[arm].stream, data.target, p, seed=seed, steps=p.steps,
                   decay_frac=p.decay_frac, device=device)
    result = {"arm": arm, "seed": seed, "loss": res.final_loss, "ppl": perplexity(res.final_loss),
              "tokens_seen": res.tokens_seen, "last_train_loss": res.last_train_loss,
              "curve": [list(c) for c in res.curve], "wall_s": res.wall_s}
    if kept is not None:
        write_json(result, kept)
    return {**result, "reused": False}
