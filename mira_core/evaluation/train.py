"""The proxy model and its training and evaluation loops: a small GPT-2 built from params, on tensors.

One base model is trained briefly on the general slice (WSD without decay: a stable-phase
checkpoint) and saved as safetensors; every (arm, seed) run loads it, re-warms, and decays on its arm's
windows with a fresh AdamW. The seed picks the training windows and their order; dropout is off, so a
run is a function of (base, arm, seed) alone. Held-out loss is the token-mean next-token cross-entropy
over the fixed target windows, measured at step 0 (the base) and every `eval_every` steps.

Measured on 2 shared CPU cores (torch 2.13, fp32): the default 2-layer, 128-wide model (0.68 M
parameters with a 2048-token vocabulary) does a 16 x 128-token step in 0.11-0.16 s (other users' load
swings it); a 120-step run with 5 evaluations of 32 768 target tokens takes ~20 s, the 60-step base ~15 s.
Two runs side by side on one thread each were no faster than one run on both threads, so the flow runs
them in turn. A peak lr of 1e-3 beat 3e-3 on the demo (held-out 5.58-5.64 against 5.72-5.78 after
120 steps). On CUDA the forward pass runs under bf16 autocast; the loss is computed in fp32.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from contextlib import nullcontext
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from transformers import GPT2Config, GPT2LMHeadModel
from transformers.utils import logging as hf_logging

from mira_core.config import EvaluateParams
from mira_core.errors import check_interrupted
from mira_core.evaluation.data import gather, sample_starts
from mira_core.evaluation.schedule import wsd_lr


@dataclass
class RunResult:
    """One training run: the held-out loss curve (tokens seen -> loss) and what it cost."""

    curve: list[tuple[int, float]]
    tokens_seen: int
    steps: int
    last_train_loss: float
    wall_s: float
    lrs: list[float] = field(default_factory=list)

    @property
    def final_loss(self) -> float:
        return self.curve[-1][1]


def perplexity(loss: float) -> float:
    """exp(loss), inf past what a float holds: a run that diverged scores a loss in the millions, and math.exp
    raised OverflowError on it, failing the stage instead of reporting the run as not finite."""
    try:
        return math.exp(loss)
    except OverflowError:
        return math.inf


def resolve_device(name: str) -> torch.device:
    """auto: CUDA when present, else CPU."""
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(name)


def autocast(device: torch.device):
    """bf16 autocast on CUDA; plain fp32 on CPU (few CPUs here have native bf16, and fp32 is the reference)."""
    return torch.autocast("cuda", dtype=torch.bfloat16) if device.type == "cuda" else nullcontext()


def new_model(p: EvaluateParams, vocab_size: int, eos_id: int, seed: int) -> GPT2LMHeadModel:
    """A freshly initialized GPT-2 of the params' shape (dropout off: seeds differ by data order only)."""
    cfg = GPT2Config(vocab_size=vocab_size, n_positions=p.context, n_embd=p.n_embd, n_layer=p.n_layer,
                     n_head=p.n_head, resid_pdrop=0.0, embd_pdrop=0.0, attn_pdrop=0.0,
                     bos_token_id=eos_id, eos_token_id=eos_id)
    torch.manual_seed(seed)
    return GPT2LMHeadModel(cfg)


def save_model(model: GPT2LMHeadModel, path: Path) -> None:
    """config.json + model.safetensors in `path` (no pickle)."""
    hf_logging.disable_progress_bar()  # the "Writing model shards" bar, once per save
    model.save_pretrained(str(path))  # safetensors: the only format transformers 5 writes


def load_model(path: Path) -> GPT2LMHeadModel:
    """A model written by `save_model`."""
    hf_logging.disable_progress_bar()  # the per-tensor "Loading weights" bar, once per (arm, seed) run
    return GPT2LMHeadModel.from_pretrained(str(path), local_files_only=True)


def next_token_loss(model: GPT2LMHeadModel, x: torch.Tensor, reduction: str = "mean") -> torch.Tensor:
    """Cross-entropy of predicting x[:, 1:] from x[:, :-1] (the loss in fp32 even under autocast).

    The last position is cut from the hidden states, before the output layer: it has no next token, and the
    logits are the largest tensor of a small model (cutting them afterwards costs a copy of it).
    """
    hidden = model.transformer(input_ids=x).last_hidden_state[:, :-1]
    logits = model.lm_head(hidden).float()
    return F.cross_entropy(logits.reshape(-1, logits.size(-1)), x[:, 1:].reshape(-1), reduction=reduction)


@torch.inference_mode()
def heldout_loss(model: GPT2LMHeadModel, windows: np.ndarray, batch_size: int, device: torch.device) -> float:
    """Token-mean next-token loss over the fixed target windows."""
    was_training = model.training
    model.eval()
    total, count = 0.0, 0
    for i in range(0, len(windows), batch_size):
        x = torch.from_numpy(windows[i:i + batch_size].astype(np.int64)).to(device)
        with autocast(device):
            total += float(next_token_loss(model, x, reduction="sum"))
        count += x.size(0) * (x.size(1) - 1)
    model.train(was_training)
    return total / count


def optimizer(model: GPT2LMHeadModel, lr: float, weight_decay: float) -> torch.optim.AdamW:
    """AdamW that decays matrices only (not biases, LayerNorm gains); betas of LM training (0.9, 0.95)."""
    params = [q for q in model.parameters() if q.requires_grad]
    groups = [{"params": [q for q in params if q.dim() >= 2], "weight_decay": weight_decay},
              {"params": [q for q in params if q.dim() < 2], "weight_decay": 0.0}]
    return torch.optim.AdamW(groups, lr=lr, betas=(0.9, 0.95))


def train_lm(model: GPT2LMHeadModel, stream: np.ndarray, target: np.ndarray, p: EvaluateParams, *, seed: int,
             steps: int, decay_frac: float, device: torch.device,
             on_eval: Callable[[int, float], None] | None = None) -> RunResult:
    """Train on `steps` x batch windows sampled from `stream` with a WSD schedule; score `target` along the way.

    The curve starts with the model as given (tokens seen 0) and ends at the last step, with points every
    `p.eval_every` steps between.
    """
    t0 = time.perf_counter()
    model.to(device).train()
    opt = optimizer(model, p.lr, p.weight_decay)
    # start positions only (8 bytes a window): the windows themselves are gathered step by step
    starts = sample_starts(len(stream), steps * p.batch_size, p.context, np.random.default_rng(seed))
    tokens_per_step = p.batch_size * p.context

    def evaluate(step: int) -> None:
        loss = heldout_loss(model, target, p.eval_batch_size, device)
        curve.append((step * tokens_per_step, loss))
        if on_eval is not None:
            on_eval(step * tokens_per_step, loss)

    curve: list[tuple[int, float]] = []
    lrs: list[float] = []
    evaluate(0)
    last = math.nan
    for step in range(steps):
        check_interrupted()
        lr = wsd_lr(step, steps, p.lr, p.warmup_frac, decay_frac, p.final_lr_ratio, p.decay_shape)
        for g in opt.param_groups:
            g["lr"] = lr
        lrs.append(lr)
        batch = gather(stream, starts[step * p.batch_size:(step + 1) * p.batch_size], p.context)
        x = torch.from_numpy(batch.astype(np.int64)).to(device)
        with autocast(device):
            loss = next_token_loss(model, x)
        loss.backward()
        if p.grad_clip > 0:
            torch.nn.utils.clip_grad_norm_(model.parameters(), p.grad_clip)
        opt.step()
        opt.zero_grad(set_to_none=True)
        last = float(loss.detach())
        if (step + 1) % p.eval_every == 0 or step + 1 == steps:
            evaluate(step + 1)
    return RunResult(curve, steps * tokens_per_step, steps, last, round(time.perf_counter() - t0, 3), lrs)


def set_threads(threads: int) -> None:
    """Use `threads` CPU threads for torch (0 leaves torch's default: every core)."""
    if threads > 0:
        torch.set_num_threads(threads)


def n_parameters(model: GPT2LMHeadModel) -> int:
    """Trainable parameters (the tied output layer counted once)."""
    return sum(q.numel() for q in model.parameters())
