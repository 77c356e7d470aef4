"""metrics/evaluate.json and the loss curves, from the base and the (arm, seed) runs of the evaluate stage."""

from __future__ import annotations

import csv
from pathlib import Path

from mira_core.config import EvaluateParams
from mira_core.errors import InvariantError
from mira_core.evaluation.data import EvalData
from mira_core.evaluation.stats import noise_note, summarize, within_noise
from mira_core.io import atomic_path

CURVE_COLUMNS = ("arm", "seed", "tokens_seen", "loss")
NOISE_RULE = ("within noise: |mean_a - mean_b| < {k:g} * sqrt(sd_a^2/n_a + sd_b^2/n_b), sd over seeds (ddof 1), "
              "n seeds per arm")


def write_curves(rows: list[list], path: Path) -> Path:
    """The loss curves as CSV for `dvc plots` (a header alone when nothing was trained)."""
    with atomic_path(path) as tmp, tmp.open("w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(CURVE_COLUMNS)
        w.writerows(rows)
    return path


def arm_metrics(arm: str, runs: dict[tuple[str, int], dict], data: EvalData) -> dict:
    """One arm's entry of metrics/evaluate.json: seed results, their summary and what it trained on."""
    mine = [r for (a, _), r in runs.items() if a == arm]
    tokens = {r["tokens_seen"] for r in mine}
    if len(tokens) != 1:  # every run of every arm has the same steps x batch x context
        raise InvariantError(f"arm {arm}: seeds saw different token counts {sorted(tokens)}")
    stream = len(data.arms[arm].stream)
    return {**summarize([r["loss"] for r in mine]),
            "seeds": [{"seed": r["seed"], "loss": r["loss"], "ppl": r["ppl"]} for r in mine],
            "train_records": data.arms[arm].records, "train_tokens": tokens.pop(), "stream_tokens": stream,
            "epochs": round(mine[0]["tokens_seen"] / stream, 4),
            "last_train_loss_mean": sum(r["last_train_loss"] for r in mine) / len(mine),
            "wall_s": round(sum(r["wall_s"] for r in mine), 3)}


def build_metrics(p: EvaluateParams, data: EvalData, base: dict, runs: dict[tuple[str, int], dict]) -> dict:
    """metrics/evaluate.json: arms, the within-noise pairs, the target, the config, and the base."""
    arms = {arm: arm_metrics(arm, runs, data) for arm in p.all_arms}
    pairs = within_noise(arms, p.noise_sigmas)
    for arm, m in arms.items():
        m["note"] = noise_note(arm, arms, pairs)
    n_windows, context = data.target.shape
    return {
        "enabled": True, "arms": arms, "within_noise": pairs, "noise_rule": NOISE_RULE.format(k=p.noise_sigmas),
        "target": {"sources": data.target_sources, "tokens": int(n_windows * context), "windows": int(n_windows),
                   "records": data.target_records,
                   # the training records left out of every stream for holding a target record (containment)
                   "holding_left_out": len(data.holding),
                   # target records under target_ngram words: a training record quoting one is not found
                   "unchecked_short": data.unchecked,
                   "holding_examples": [[i, data.holding[i]] for i in sorted(data.holding)[:10]]},
        "config": {**p.model_dump(mode="json"), "tokens_per_run": p.steps * p.batch_size * p.context,
                   "vocab_size_actual": data.tokenizer.vocab_size, "parameters": base["parameters"],
                   "device": base["device"]},
        "base": {k: base[k] for k in ("records", "stream_tokens", "steps", "tokens_seen", "loss", "ppl", "curve",
                                      "wall_s")},
        "curves": [[arm, seed, t, loss] for (arm, seed), r in runs.items() for t, loss in r["curve"]],
    }
