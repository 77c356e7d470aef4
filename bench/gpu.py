"""The generative student's two costs on a GPU, in one prepared script: a full fine-tuning step and scoring docs/s.

Role: issue 16's GPU figures. It needs torch and transformers only (no mira import), so it runs as it is on a
machine that has them and nothing else (`python3 bench/gpu.py --out gpu.json`); `python -m bench.run --only gpu`
puts a saved result (bench/.work/gpu.json) into BENCHMARKS.md. The model is SmolLM2-135M's architecture (Llama,
30 layers, hidden 576, 134.5 M parameters) with random weights: speed does not depend on the weights, and no
file has to travel. The shapes are the student's: prompts of `max_input_tokens` (512, the default) and replies of
400 tokens, what a 10-anchor reply with the default 120-character rationales takes in SmolLM2's tokenizer (392 on
the demo's C-header labels); replies are forced to that length, so docs/s is a floor for replies that stop earlier.

`--tiny` runs a 2-layer model of the same family for a few steps: the test that the script works, on CPU.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import time
from pathlib import Path

SMOLLM2 = {"hidden_size": 576, "intermediate_size": 1536, "num_hidden_layers": 30, "num_attention_heads": 9,
           "num_key_value_heads": 3, "vocab_size": 49152, "max_position_embeddings": 8192, "rope_theta": 100000.0,
           "tie_word_embeddings": True, "rms_norm_eps": 1e-5}
TINY = SMOLLM2 | {"hidden_size": 64, "intermediate_size": 128, "num_hidden_layers": 2, "num_attention_heads": 4,
                  "num_key_value_heads": 2, "vocab_size": 512, "max_position_embeddings": 1024}


def measure(tiny: bool, device: str, train_batch: int, prompt_tokens: int, reply_tokens: int, score_batch: int,
            docs: int, steps: int) -> dict:
    import torch
    from transformers import LlamaConfig, LlamaForCausalLM

    if device == "auto":
        device = "cuda" if torch.cuda.is_available() else "cpu"
    dtype = torch.bfloat16 if device == "cuda" else torch.float32
    torch.manual_seed(0)
    cfg = LlamaConfig(**(TINY if tiny else SMOLLM2), bos_token_id=1, eos_token_id=2, pad_token_id=2)
    model = LlamaForCausalLM(cfg).to(device)
    n_params = sum(p.numel() for p in model.parameters())
    vocab = cfg.vocab_size

    def sync() -> None:
        if device == "cuda":
            torch.cuda.synchronize()

    # Training: the student's step (full fine-tuning, AdamW, bf16 autocast on CUDA), prompt + reply tokens per row.
    opt = torch.optim.AdamW(model.parameters(), lr=5e-5)
    ids = torch.randint(3, vocab, (train_batch, prompt_tokens + reply_tokens), device=device)
    labels = ids.clone()
    labels[:, :prompt_tokens] = -100  # as the student: loss on the reply only
    model.train()
    times = []
    for i in range(steps + 2):  # two warm-up steps (kernel selection, allocator)
        sync()
        start = time.perf_counter()
        with torch.autocast(device_type=device, dtype=dtype, enabled=device == "cuda"):
            loss = model(input_ids=ids, labels=labels).loss
        loss.backward()
        opt.step()
        opt.zero_grad(set_to_none=True)
        sync()
        if i >= 2:
            times.append(time.perf_counter() - start)
    step_s = statistics.median(times)
    del opt
    # Scoring: greedy generation, `score_batch` prompts at a time, every reply `reply_tokens` long; fp32 weights
    # under bf16 autocast on CUDA, as the student generates.
    model.eval()
    prompts = torch.randint(3, vocab, (docs, prompt_tokens), device=device)
    with torch.inference_mode(), torch.autocast(device_type=device, dtype=dtype, enabled=device == "cuda"):
        model.generate(input_ids=prompts[:score_batch], attention_mask=torch.ones_like(prompts[:score_batch]),
                       max_new_tokens=4, do_sample=False, pad_token_id=2)  # warm-up
        sync()
        start = time.perf_counter()
        for i in range(0, docs, score_batch):
            batch = prompts[i: i + score_batch]
            model.generate(input_ids=batch, attention_mask=torch.ones_like(batch), max_new_tokens=reply_tokens,
                           min_new_tokens=reply_tokens, do_sample=False, pad_token_id=2)
        sync()
        score_s = time.perf_counter() - start
    name = torch.cuda.get_device_name() if device == "cuda" else platform.processor() or platform.machine()
    return {"model": "tiny llama" if tiny else "SmolLM2-135M architecture (random weights)", "parameters": n_params,
            "device": device, "device_name": name, "dtype": str(dtype).removeprefix("torch."),
            "torch": torch.__version__, "train_batch": train_batch, "prompt_tokens": prompt_tokens,
            "reply_tokens": reply_tokens, "step_seconds": round(step_s, 5),
            "train_records_per_s": round(train_batch / step_s, 2),
            "train_tokens_per_s": round(train_batch * (prompt_tokens + reply_tokens) / step_s, 1),
            "score_batch": score_batch, "docs": docs, "score_seconds": round(score_s, 4),
            "docs_per_s": round(docs / score_s, 3), "reply_tokens_per_s": round(docs * reply_tokens / score_s, 1),
            "peak_gpu_mb": round(torch.cuda.max_memory_allocated() / 2**20) if device == "cuda" else None,
            "cpu_threads": torch.get_num_threads(), "host_cpus": os.cpu_count()}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", type=Path, default=None, help="write the JSON here too")
    ap.add_argument("--tiny", action="store_true", help="a 2-layer model: checks the script, measures nothing useful")
    ap.add_argument("--device", default="auto", choices=["auto", "cuda", "cpu"])
    ap.add_argument("--train-batch", type=int, default=8, help="the student's distill.generative.batch_size")
    ap.add_argument("--prompt-tokens", type=int, default=512, help="distill.generative.max_input_tokens")
    ap.add_argument("--reply-tokens", type=int, default=400, help="tokens of each reply (a 10-anchor reply: ~390)")
    ap.add_argument("--score-batch", type=int, default=16, help="records generated at once (predict_batch)")
    ap.add_argument("--docs", type=int, default=512, help="records scored")
    ap.add_argument("--steps", type=int, default=10, help="timed training steps (after two warm-up steps)")
    args = ap.parse_args()
    result = measure(args.tiny, args.device, args.train_batch, args.prompt_tokens, args.reply_tokens,
                     args.score_batch, args.docs, args.steps)
    text = json.dumps(result, indent=1)
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        tmp = args.out.with_suffix(".tmp")
        tmp.write_text(text)
        tmp.replace(args.out)
    print(text)


if __name__ == "__main__":
    main()
