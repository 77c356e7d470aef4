"""The report's figures: pure functions from arrays to PNG bytes.

Each figure is a `matplotlib.figure.Figure` drawn on an explicit Agg canvas, never through pyplot:
no global figure registry and no backend switch, so rendering is safe in a worker thread and leaks
nothing between calls. Sizes grow with the number of sources and anchors so labels stay legible.
"""

from __future__ import annotations

import io
import math
import warnings
from collections.abc import Mapping, Sequence

import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.patches import Patch, Rectangle

from mira_core.report.markup import share

MIRA_COLOR = "#0969da"
# one colour per other method a selection can hold (4 baselines, 8 ablations): a default run's 9 took 7 colours
# in turn, and random was drawn as length, single_rubric as mira_no_mask
BASELINE_COLORS = ("#8c959f", "#e16f24", "#8250df", "#1b7c83", "#bf3989", "#d4a72c", "#57606a", "#cf222e",
                   "#2da44e", "#953800", "#7a7a00", "#3fb9c4")
LEGEND_COLUMNS = 5  # a legend of a row per 5 entries: one row of 11 ran off the image
MAX_RETENTION_WIDTH = 16.0  # inches: 32 sources x 10 methods drew a 10,000 px strip the page shrank to 45 px
KEPT, DROPPED, HELD, FILTERED = "#1a7f37", "#afb8c1", "#54aeff", "#d4a72c"


def _figure(width: float, height: float) -> Figure:
    fig = Figure(figsize=(width, height), layout="constrained")
    FigureCanvasAgg(fig)
    return fig


def to_png(fig: Figure, dpi: int) -> bytes:
    """The figure as PNG bytes."""
    buf = io.BytesIO()
    with warnings.catch_warnings():
        # a crowded figure (many sources or anchors) is drawn without the constrained layout, which is fine for a
        # report figure; the warning would print on every report run and say nothing a user can act on
        warnings.filterwarnings("ignore", message="constrained_layout not applied", category=UserWarning)
        fig.savefig(buf, format="png", dpi=dpi, facecolor="white")
    return buf.getvalue()


def literal(text: str) -> str:
    """Text drawn as written: matplotlib reads a pair of '$' as mathtext, so an anchor the teacher named
    "LaTeX ($\\LaTeX$)" failed the whole report (unknown symbol) and "costs $5 or $10" lost its dollars to italics."""
    return str(text).replace("$", r"\$")


def shorten(label: str, most: int = 40) -> str:
    """A tick label of at most `most` characters (an ellipsis ends a longer one)."""
    label = str(label)
    return label if len(label) <= most else label[: most - 1] + "…"


def method_colors(methods: Sequence[str]) -> dict[str, str]:
    """MIRA in the accent colour, the baselines in muted ones, stable across figures."""
    others = iter(BASELINE_COLORS * (1 + len(methods) // len(BASELINE_COLORS)))
    return {m: MIRA_COLOR if m == "mira" else next(others) for m in methods}


def retention_chart(sources: Sequence[str], shares: Mapping[str, Mapping[str, float | None]],
                    held_out: set[str], budget_share: float | None, dpi: int) -> bytes:
    """Grouped bars: kept token share per source (x), one bar per method; held-out sources labelled."""
    methods = list(shares)
    colors = method_colors(methods)
    fig = _figure(min(MAX_RETENTION_WIDTH, max(7.0, 1.2 + 0.32 * len(methods) * len(sources))), 4.6)
    ax = fig.add_subplot()
    x = np.arange(len(sources))
    width = 0.8 / max(1, len(methods))
    for i, m in enumerate(methods):
        ys = [shares[m].get(s) or 0.0 for s in sources]
        ax.bar(x - 0.4 + width * (i + 0.5), ys, width, label=literal(m), color=colors[m],
               edgecolor="black" if m == "mira" else "none", linewidth=0.6)
    for i, s in enumerate(sources):
        if s in held_out:
            ax.text(i, 0.03, "held out", ha="center", va="bottom", rotation=90, fontsize=9, color="#57606a")
    if budget_share is not None:  # in the legend, not on the plot, where it would sit on the bars
        ax.axhline(budget_share, color="black", linestyle="--", linewidth=0.8, label=f"budget ({share(budget_share)})")
    ax.set_xticks(x, [literal(shorten(s)) for s in sources], rotation=30, ha="right", fontsize=9)
    ax.set_ylim(0, 1.05)
    ax.yaxis.set_major_formatter(lambda v, _: f"{v:.0%}")
    ax.set_ylabel("kept token share")
    ax.set_xlim(-0.6, len(sources) - 0.4)
    ax.grid(axis="y", alpha=0.3)
    ax.set_axisbelow(True)
    ax.legend(ncols=min(LEGEND_COLUMNS, len(methods) + 1), fontsize=9, loc="lower left", bbox_to_anchor=(0, 1.0),
              frameon=False)
    return to_png(fig, dpi)


def score_histograms(groups: Mapping[str, Mapping[str, np.ndarray]], max_bins: int, dpi: int) -> bytes:
    """One panel per group: stacked histogram of the MIRA score, kept / dropped / held out."""
    names = list(groups)
    cols = min(3, max(1, len(names)))
    rows = math.ceil(len(names) / cols)
    fig = _figure(4.2 * cols, 3.0 * rows)
    axes = fig.subplots(rows, cols, squeeze=False)
    colors = {"kept": KEPT, "dropped": DROPPED, "filtered": FILTERED, "held out": HELD}
    for ax, g in zip(axes.flat, names, strict=False):
        given = {k: np.asarray(v, dtype=float) for k, v in groups[g].items()}
        n_kept = len(given.get("kept", ()))
        # counted before the unscored (NaN) records leave the bars: they are selectable all the same (the budget is a
        # share of their tokens too); held-out and filtered records are never selectable
        selectable = n_kept + len(given.get("dropped", ()))
        parts = {k: v[np.isfinite(v)] for k, v in given.items()}
        every = np.concatenate([v for v in parts.values()]) if parts else np.array([])
        ax.set_title(literal(f"{g}: {n_kept:,} of {selectable:,} selectable kept"), fontsize=10)
        if len(every) == 0:
            ax.text(0.5, 0.5, "no scores", ha="center", va="center", transform=ax.transAxes, color="#57606a")
            ax.set_xticks([])
            ax.set_yticks([])
            continue
        # the square-root rule, capped: a few hundred records should not get 40 near-empty bins
        bins = int(min(max_bins, max(5, math.ceil(math.sqrt(len(every))))))
        lo, hi = float(every.min()), float(every.max())
        edges = np.linspace(lo, hi if hi > lo else lo + 1e-6, bins + 1)
        shown = [k for k in ("kept", "dropped", "filtered", "held out") if len(parts.get(k, ())) > 0]
        ax.hist([parts[k] for k in shown], bins=edges, stacked=True, color=[colors[k] for k in shown],
                label=[f"{k} ({len(parts[k]):,})" for k in shown], edgecolor="white", linewidth=0.3)
        ax.set_xlabel("MIRA score (trimmed mean and lowest of the unmasked anchors)", fontsize=8)
        ax.set_ylabel("records", fontsize=8)
        ax.tick_params(labelsize=8)
        ax.legend(fontsize=7, frameon=False, loc="upper left")
    for ax in list(axes.flat)[len(names):]:
        ax.set_axis_off()
    return to_png(fig, dpi)


def _annotated(ax, m: np.ndarray, on: np.ndarray, cmap: str, vmin: float, vmax: float, fmt: str, dark_above: float,
               dark_below: float):
    """A heatmap with each value printed; masked cells hatched, NaN cells grey with 'n/a'."""
    import matplotlib as mpl

    cm = mpl.colormaps[cmap].with_extremes(bad="#eaeef2")
    im = ax.imshow(np.ma.masked_invalid(m), cmap=cm, vmin=vmin, vmax=vmax, aspect="auto")
    for i in range(m.shape[0]):
        for j in range(m.shape[1]):
            v = m[i, j]
            if not on[i, j]:
                ax.add_patch(Rectangle((j - 0.5, i - 0.5), 1, 1, fill=False, hatch="///", edgecolor="#24292f",
                                       linewidth=0, alpha=0.55))
            text = "n/a" if not np.isfinite(v) else format(v, fmt)
            dark = np.isfinite(v) and (v > dark_above or v < dark_below)
            ax.text(j, i, text, ha="center", va="center", fontsize=7, color="white" if dark else "black",
                    fontweight="normal" if not on[i, j] else "bold")
    return im


def reliability_heatmap(sources: Sequence[str], anchors: Sequence[str], rank: np.ndarray, mae: np.ndarray,
                        on: np.ndarray, dpi: int, rank_name: str = "Spearman") -> bytes:
    """Source x anchor: the val rank agreement the mask reads (top) and val MAE (bottom); masked cells hatched."""
    n_s, n_a = len(sources), len(anchors)
    panel = 0.55 + 0.36 * n_s
    fig = _figure(max(5.5, 2.6 + 0.5 * n_a), 2 * panel + 2.6)
    top, bottom = fig.subplots(2, 1, sharex=True)
    finite_mae = mae[np.isfinite(mae)]
    mae_max = max(1.0, float(finite_mae.max())) if finite_mae.size else 1.0
    for ax, m, cmap, lo, hi, label, fmt, dark_hi, dark_lo in (
            (top, rank, "RdYlGn", -1.0, 1.0, f"val {rank_name} (student vs teacher)", ".2f", 0.7, -0.7),
            (bottom, mae, "YlOrRd", 0.0, mae_max, "val MAE (score points)", ".2f", 0.6 * mae_max, -1.0)):
        im = _annotated(ax, m, on, cmap, lo, hi, fmt, dark_hi, dark_lo)
        ax.set_yticks(range(n_s), [literal(shorten(s)) for s in sources], fontsize=8)
        fig.colorbar(im, ax=ax, fraction=0.035, pad=0.01).ax.tick_params(labelsize=7)  # the title names it
        ax.set_title(label, fontsize=9, loc="left")
    # the anchor table above the figure gives each whole name; a 200-character one pushed the sources off the left
    bottom.set_xticks(range(n_a), [literal(shorten(a)) for a in anchors], rotation=45, ha="right", fontsize=8)
    top.tick_params(labelbottom=False)
    fig.legend(handles=[Patch(facecolor="white", edgecolor="#24292f", hatch="///", label="masked (not used)"),
                        Patch(facecolor="#eaeef2", label="n/a: undefined (a constant side)")],
               loc="outside lower center", ncols=2, fontsize=8, frameon=False)
    return to_png(fig, dpi)


def overlap_heatmap(methods: Sequence[str], matrix: np.ndarray, dpi: int) -> bytes:
    """Jaccard overlap of the kept sets, method x method."""
    n = len(methods)
    fig = _figure(2.2 + 0.62 * n, 1.6 + 0.5 * n)
    ax = fig.add_subplot()
    im = ax.imshow(matrix, cmap="Blues", vmin=0, vmax=1)
    for i in range(n):
        for j in range(n):
            ax.text(j, i, f"{matrix[i, j]:.2f}", ha="center", va="center", fontsize=8,
                    color="white" if matrix[i, j] > 0.6 else "black")
    ax.set_xticks(range(n), [literal(shorten(m)) for m in methods], rotation=30, ha="right", fontsize=9)
    ax.set_yticks(range(n), [literal(shorten(m)) for m in methods], fontsize=9)
    fig.colorbar(im, ax=ax, fraction=0.046).set_label("Jaccard overlap of kept records", fontsize=8)
    return to_png(fig, dpi)


def evaluation_chart(arms: Mapping[str, Mapping[str, float]], dpi: int) -> bytes:
    """Proxy-model eval loss per arm: mean and one standard deviation over seeds, as points.

    Points, not bars: the differences are small against the loss itself, so the axis is zoomed onto
    them, and a bar cut off at a zoomed baseline would exaggerate them.
    """
    names = list(arms)
    colors = method_colors(names)
    fig = _figure(max(5.0, 1.5 + 0.9 * len(names)), 3.4)
    ax = fig.add_subplot()
    for i, a in enumerate(names):
        mean, std = arms[a].get("loss_mean"), arms[a].get("loss_std")
        if mean is None or not math.isfinite(mean):  # a diverged arm: said on the axis, not left a blank column
            ax.annotate("diverged" if mean is not None else "n/a", (i, 0.5), xycoords=("data", "axes fraction"),
                        ha="center", va="center", rotation=90, fontsize=9, color="#57606a")
            continue
        # one seed has no spread: no bar (± 0 would read as a measured one), as the table says n/a
        yerr = [std] if std is not None and math.isfinite(std) else None
        ax.errorbar([i], [mean], yerr=yerr, fmt="o", capsize=5, markersize=7, color=colors[a])
    ax.set_xticks(range(len(names)), [literal(shorten(a)) for a in names], rotation=30, ha="right", fontsize=9)
    ax.set_xlim(-0.6, len(names) - 0.4)
    ax.set_ylabel("held-out eval loss (lower is better)", fontsize=9)
    ax.grid(axis="y", alpha=0.3)
    return to_png(fig, dpi)
