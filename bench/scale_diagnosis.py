"""Why a group's budget moves between its sources with the ranking scale: a diagnosis on a project's scores.

    python -m bench.scale_diagnosis bench/.work/pipeline     # a project after `select`
    python -m bench.scale_diagnosis PLANTED --truth PLANTED/data/raw/truth.parquet   # and per defect kind

For every group it prints each anchor's mean and sd over the sources it is on for, each source's mean
aggregate score on the raw scale, standardised (z) and centred, and, on the raw scale, how much each
anchor that is on for only some of the group's sources moves a source's mean: the artefact that
`select.standardize` removes (a source pays for a low-mean anchor its neighbours have masked off). Then, per
source, the three anchors its score (select's, worst-anchor term included) follows most on each scale, with
their Spearman on both: which anchors decide the order of a source's records.
With `--truth` (a planted corpus's truth.parquet, `mira planted build`), per source and defect kind: where its
records rank within their source on each scale (a mean percentile rank, select's score; low is dropped first), and
the anchor that is most often their lowest on each: whether the worst-anchor term reads the defect.
Reads only data/scores/, metrics/students.json, data/rubrics/ and params.yaml; writes nothing.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import polars as pl
import yaml

from mira_core.config import SelectParams
from mira_core.layout import Layout
from mira_core.rubric import load_rubrics
from mira_core.selection import aggregate, anchor_scales, anchors_on, reliability_mask


def diagnose(root: Path, truth: Path | None = None) -> list[str]:
    lay = Layout(root)
    kinds = dict(pl.read_parquet(truth, columns=["record_id", "kind"]).iter_rows()) if truth else None
    p = SelectParams(**(yaml.safe_load((root / "params.yaml").read_text()).get("select") or {}))
    reports = json.loads((root / "metrics" / "students.json").read_text())
    mask, rubrics, out = reliability_mask(reports, p), load_rubrics(lay.rubrics), []
    for g in sorted(reports):
        anchors = rubrics[g].anchor_ids()
        names = {a.id: a.name for a in rubrics[g].anchors}
        on, _ = anchors_on(mask, g, anchors)
        extra = ["record_id"] if kinds else []
        frames = {d.name: pl.read_parquet(sorted(d.glob("part-*.parquet")), columns=on.get(d.name, []) + extra)
                  for d in sorted((lay.scores / g).glob("*")) if d.is_dir() and d.name in on}
        z = anchor_scales([(frames[s], on[s]) for s in frames], anchors)
        centred = {a: (m, 1.0) for a, (m, _) in z.items()}
        out.append(f"group {g}")
        for a in sorted({a for s in frames for a in on[s]}):
            users = [s for s in frames if a in on[s]]
            out.append(f"  {a} {names[a][:30]:30s} mean {z[a][0]:.2f} sd {z[a][1]:.2f}  on for {', '.join(users)}")
        partial = [a for a in anchors if 0 < sum(a in on[s] for s in frames) < len(frames)]
        for s, df in frames.items():
            cols = on[s]
            raw = aggregate(df, cols, p.trim, None).mean()
            line = (f"  {s:22s} raw {raw:.3f}  z {aggregate(df, cols, p.trim, z).mean():+.3f}  "
                    f"centred {aggregate(df, cols, p.trim, centred).mean():+.3f}")
            moves = {a: raw - aggregate(df, [c for c in cols if c != a], p.trim, None).mean()
                     for a in partial if a in cols and len(cols) > 1}
            big = {a: d for a, d in moves.items() if abs(d) >= 0.05}
            if big:
                line += "  raw mean moved by " + ", ".join(f"{names[a]} {d:+.2f}" for a, d in big.items())
            out.append(line)
            if len(cols) > 1:
                rows = follows(df, cols, p, z)
                for label, k in (("raw", 1), ("z", 2)):
                    top = sorted(rows, key=lambda t, k=k: -t[k])[:3]
                    out.append(f"  {'':22s} its score follows ({label}; Spearman with the anchor, raw / z): "
                               + ", ".join(f"{names[a]} {r:.2f} / {q:.2f}" for a, r, q in top))
                low = sorted(lowest(df, cols, z), key=lambda t: -t[1])[:3]
                out.append(f"  {'':22s} a record's lowest anchor (raw; share of its records, raw / z): "
                           + ", ".join(f"{names[a]} {r:.0%} / {q:.0%}" for a, r, q in low))
            if kinds is not None:
                out += [f"  {'':22s} {line}" for line in by_kind(df, cols, p, z, kinds, names)]
    return out


def by_kind(df: pl.DataFrame, cols: list[str], p: SelectParams, z: dict, kinds: dict[str, str],
            names: dict[str, str]) -> list[str]:
    """Per kind of record (a planted truth's `kind`): how many, their mean percentile rank within the source by
    select's score on the raw scale and standardised (0 is dropped first), and the anchor most often their lowest on
    each scale, with how many of them it is the lowest of (ties go to the first anchor)."""
    label = np.array([kinds.get(r, "not in the truth") for r in df["record_id"].to_list()])
    x, zx = _both_scales(df, cols, z)
    out, ranks = [], []
    for scales in (None, z):
        score = aggregate(df, cols, p.trim, scales, p.worst_weight)
        ranks.append((np.argsort(np.argsort(score, kind="stable"), kind="stable") + 0.5) / len(score))
    for k in sorted(set(label.tolist())):
        m = label == k
        firsts = []
        for v in (x, zx):
            low = np.bincount(v[m].argmin(axis=1), minlength=len(cols))
            firsts.append(f"{names[cols[int(low.argmax())]]} ({int(low.max())})")
        out.append(f"{k:18s} {int(m.sum()):4d} records  rank raw {ranks[0][m].mean():.2f} / z {ranks[1][m].mean():.2f}"
                   f"  lowest raw {firsts[0]} / z {firsts[1]}")
    return out


def _both_scales(df: pl.DataFrame, cols: list[str], z: dict) -> tuple[np.ndarray, np.ndarray]:
    """The anchors' scores as a matrix, raw and standardised by the group's scales (as `selection.aggregate` does)."""
    x = df.select(cols).to_numpy().astype(np.float64)
    return x, (x - np.array([z[c][0] for c in cols])) / np.array([z[c][1] for c in cols])


def lowest(df: pl.DataFrame, cols: list[str], z: dict) -> list[tuple[str, float, float]]:
    """For each anchor, the share of the source's records whose lowest anchor it is (ties count for each), on the raw
    scale and standardised: the anchor the worst-anchor term reads."""
    x, zx = _both_scales(df, cols, z)
    lo_raw, lo_z = x <= x.min(axis=1, keepdims=True), zx <= zx.min(axis=1, keepdims=True)
    return [(a, float(lo_raw[:, i].mean()), float(lo_z[:, i].mean())) for i, a in enumerate(cols)]


def follows(df: pl.DataFrame, cols: list[str], p: SelectParams, z: dict) -> list[tuple[str, float, float]]:
    """How closely one source's score, as select computes it (trimmed mean and worst anchor), follows each anchor, on
    the raw scale and standardised: (anchor, Spearman raw, Spearman z). An anchor the trimmed mean cuts and the
    worst-anchor term passes over barely moves the order, however low it scores."""
    from scipy.stats import spearmanr

    scores = [aggregate(df, cols, p.trim, scales, p.worst_weight) for scales in (None, z)]

    def rho(score: np.ndarray, x: np.ndarray) -> float:  # 0 where either side is constant: it orders nothing
        return 0.0 if np.ptp(score) == 0 or np.ptp(x) == 0 else float(spearmanr(score, x).statistic)

    return [(a, *(rho(score, df[a].to_numpy()) for score in scores)) for a in cols]


if __name__ == "__main__":
    import argparse

    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("root", nargs="?", default=".", type=Path, help="a project after select")
    ap.add_argument("--truth", type=Path, help="a planted corpus's truth.parquet: adds the per-kind lines")
    args = ap.parse_args()
    print("\n".join(diagnose(args.root, args.truth)))
