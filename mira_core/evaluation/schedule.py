"""The warmup-stable-decay (WSD) learning-rate schedule, as a pure function of the step.

WSD (linear warmup, a long constant phase, a short decay at the end) is the schedule of modern
mid-training: a stable-phase checkpoint can be continued on new data and decayed there, which is
exactly what the evaluate stage does. The base model is trained with the same function and no decay
(a stable-phase checkpoint); each arm re-warms from it and decays to `final_ratio` of the peak.

Steps are 0-based. Warmup reaches the peak on its last step (so step 0 already has a small non-zero
rate), and the decay reaches `final_ratio * peak` on the very last step.
"""

from __future__ import annotations

import math
from typing import Literal

DecayShape = Literal["linear", "1-sqrt"]


def wsd_phases(total: int, warmup_frac: float, decay_frac: float) -> tuple[int, int, int]:
    """(warmup, stable, decay) step counts of a `total`-step run; they add up to `total`."""
    if total < 1:
        raise ValueError(f"total steps must be at least 1, got {total}")
    if not (0 <= warmup_frac <= 1 and 0 <= decay_frac <= 1 and warmup_frac + decay_frac <= 1):
        raise ValueError(f"warmup_frac {warmup_frac} and decay_frac {decay_frac} must be in [0, 1] and add to <= 1")
    # Half rounds up (round() goes to even), and a positive share gets at least one step: a share rounded to no
    # steps left a run that never decays (its last step at the peak) or never warms up. Warmup leaves the decay
    # its step: rounded up to fill the run (5 steps at 0.9 / 0.1), it took the last one, which ended at the peak.
    warmup = min(total - int(decay_frac > 0 and total > 1), max(int(warmup_frac > 0), math.floor(warmup_frac * total + 0.5)))
    decay = min(max(int(decay_frac > 0), math.floor(decay_frac * total + 0.5)), total - warmup)
    return warmup, total - warmup - decay, decay


def wsd_lr(step: int, total: int, peak: float, warmup_frac: float, decay_frac: float, final_ratio: float,
           shape: DecayShape = "linear") -> float:
    """Learning rate of 0-based `step` of a `total`-step WSD run peaking at `peak`."""
    if not 0 <= step < total:
        raise ValueError(f"step {step} is outside 0..{total - 1}")
    warmup, stable, decay = wsd_phases(total, warmup_frac, decay_frac)
    if step < warmup:
        return peak * (step + 1) / warmup
    if step < warmup + stable:
        return peak
    progress = (step - warmup - stable + 1) / decay  # in (0, 1]: the last step is fully decayed
    # 1-sqrt drops fast first and flattens at the end; Hägele et al. (2024) find it beats linear for WSD
    remaining = 1 - math.sqrt(progress) if shape == "1-sqrt" else 1 - progress
    return peak * (final_ratio + (1 - final_ratio) * remaining)
