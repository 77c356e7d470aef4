"""Per-arm summaries over seeds, the within-noise rule, and the printed table.

Rule: arms a and b are *within noise* when |mean_a - mean_b| < k * sqrt(sd_a^2 / n_a + sd_b^2 / n_b),
with sd the sample standard deviation over seeds (ddof 1), n the number of seeds and k
`evaluate.noise_sigmas` (2 by default): the difference is smaller than k standard errors of the
difference of the two means (Welch's). Equal means are within noise even when neither arm varies over its
seeds (an arm whose stream is one window long samples the same windows every seed). With one seed there is
no spread to compare against, so no pair is called within noise and the table says "n/a". Two seeds give a
rough spread; it is a screen, not a test.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from itertools import combinations

import numpy as np


def in_reading_order(arms: Mapping[str, Mapping]) -> dict[str, Mapping]:
    """The arms MIRA first, then `random` and `full` (what it is judged against), then the rest by name:
    metrics/evaluate.json's keys are sorted, which put `full` first wherever the file was read in order."""
    first = [a for a in ("mira", "random", "full") if a in arms]
    return {a: arms[a] for a in [*first, *sorted(set(arms) - set(first))]}


def summarize(losses: Sequence[float]) -> dict[str, float]:
    """Mean and sample sd of the final held-out losses of one arm's seeds, and the mean of their perplexities."""
    a = np.asarray(losses, dtype=float)
    return {"loss_mean": float(a.mean()), "loss_std": float(a.std(ddof=1)) if len(a) > 1 else 0.0,
            "ppl_mean": float(np.exp(a).mean())}


def within_noise(arms: Mapping[str, Mapping], sigmas: float, sd: float | None = None) -> list[list[str]]:
    """Pairs [a, b] (in arm order) whose mean losses differ by less than `sigmas` standard errors.

    Each arm maps to at least loss_mean, loss_std and seeds (one entry per seed). With `sd` (e.g. `pooled`),
    every arm's seeds are taken to spread by that one sd instead of by their own.
    """
    out = []
    for a, b in combinations(arms, 2):
        x, y = arms[a], arms[b]
        nx, ny = len(x["seeds"]), len(y["seeds"])
        if nx < 2 or ny < 2:
            continue
        sx, sy = (sd, sd) if sd is not None else (x["loss_std"], y["loss_std"])
        se = math.sqrt(sx ** 2 / nx + sy ** 2 / ny)
        gap = abs(x["loss_mean"] - y["loss_mean"])
        if gap < sigmas * se or gap == 0:  # with no spread at all, only a tie is within noise
            out.append([a, b])
    return out


def pooled(arms: Mapping[str, Mapping]) -> tuple[float, int] | None:
    """One seed's sd pooled over the arms (their variances weighted by n - 1) and its degrees of freedom; None
    when no arm has two seeds. The arms share the training procedure and differ only in their data, so their
    seed-to-seed spreads estimate one quantity: two seeds give an arm's own sd one degree of freedom (on the
    demo one arm's sd went from 0.026 to 0.002 between two runs of nearly the same selection), the pool one per
    arm. A reading beside the rule, not the rule: an arm whose seeds truly spread more is understated by it.
    An arm that diverged (a seed's loss not finite) has no spread to give and is left out: its NaN sd made the pool
    NaN, and every pair of the other arms then read as beyond noise."""
    num, df = 0.0, 0
    for a in arms.values():
        n = len(a["seeds"])
        if n > 1 and math.isfinite(a["loss_std"]):
            num += (n - 1) * a["loss_std"] ** 2
            df += n - 1
    return (math.sqrt(num / df), df) if df else None


def widest(arms: Mapping[str, Mapping]) -> str:
    """The arm whose seeds spread most: the one that sets most of a `pooled` sd, to read the pool without.

    An arm that diverged (its sd NaN) is not in the pool, so it is never the widest: max() kept a NaN first arm,
    since nothing compares greater than NaN."""
    return max(arms, key=lambda a: sd if math.isfinite(sd := arms[a]["loss_std"]) else -math.inf)


def noise_note(arm: str, arms: Mapping[str, Mapping], pairs: Sequence[Sequence[str]]) -> str:
    """The table's note for one arm, in plain words: which arms it cannot be told apart from, and which it beats
    or trails by more than the noise."""
    if not math.isfinite(arms[arm]["loss_mean"]):
        return "n/a (the held-out loss is not finite: a run diverged; see evaluate.lr and evaluate.grad_clip)"
    if len(arms[arm]["seeds"]) < 2:
        return "n/a (one seed: no noise estimate)"
    close = [b if a == arm else a for a, b in pairs if arm in (a, b)]
    # an arm that diverged is compared with nothing: every comparison with a NaN mean read as "higher"
    apart = [b for b in arms if b != arm and b not in close and len(arms[b]["seeds"]) > 1
             and math.isfinite(arms[b]["loss_mean"])]
    lower = [b for b in apart if arms[arm]["loss_mean"] < arms[b]["loss_mean"]]
    higher = [b for b in apart if b not in lower]
    parts = [f"within noise of {', '.join(close)}"] if close else []
    if lower:
        parts.append(f"lower loss than {', '.join(lower)} (beyond noise)")
    if higher:
        parts.append(f"higher loss than {', '.join(higher)} (beyond noise)")
    return "; ".join(parts)


def relation(arm: Mapping, other: str) -> str:
    """How an arm's mean loss stands to `other`'s, read back from the arm's `noise_note`: "within", "lower" or
    "higher" (KeyError when the note does not name `other`, e.g. one seed)."""
    for part in arm["note"].split(";"):
        part = part.strip().replace(" (beyond noise)", "")
        head, _, names = part.partition(" of " if part.startswith("within") else " than ")
        if other in {n.strip() for n in names.split(",")}:
            return head.split()[0]
    raise KeyError(f"{other} is not in the note {arm['note']!r}")


def table(arms: Mapping[str, Mapping], pairs: Sequence[Sequence[str]]) -> tuple[list[str], list[list[str]]]:
    """(header, rows) of arm | train tokens | held-out loss mean ± sd | ppl | note."""
    header = ["arm", "train tokens", "held-out loss mean ± sd", "ppl", "note"]
    # one seed has no spread: "± 0.0000" read as none at all (the report and summary say n/a too)
    rows = [[arm, f"{r['train_tokens']:,}", f"{r['loss_mean']:.4f} ± "
             + (f"{r['loss_std']:.4f}" if len(r.get("seeds", ())) > 1 else "n/a (one seed)"), f"{r['ppl_mean']:.2f}",
             noise_note(arm, arms, pairs)]
            for arm, r in arms.items()]
    return header, rows


def text_table(header: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    """Aligned plain-text table (numbers right-aligned)."""
    widths = [max(len(str(c)) for c in col) for col in zip(header, *rows, strict=True)]
    right = {1, 2, 3}

    def line(cells: Sequence[str]) -> str:
        return " | ".join(str(c).rjust(w) if i in right else str(c).ljust(w)
                          for i, (c, w) in enumerate(zip(cells, widths, strict=True))).rstrip()

    return "\n".join([line(header), "-+-".join("-" * w for w in widths), *(line(r) for r in rows)])
