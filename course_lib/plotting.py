"""Figures and tables for the notebooks, kept out of the lesson cells.

Plumbing only: the models and losses a notebook teaches live in the other modules.
"""

import math

import numpy as np


def _plt():
    import matplotlib.pyplot as plt

    return plt


def show_image_rows(rows, row_titles=None, title=None, cmap="gray", size=1.0):
    """Draw rows of images as a grid, one row per entry of ``rows``.

    ``rows`` is a list of arrays of shape (n, 28, 28), (n, 784) or (n, 28, 28, 1); every
    row must hold the same number of images. Returns the matplotlib Figure.
    """
    if not rows:
        raise ValueError("show_image_rows() needs at least one row of images.")
    rows = [np.asarray(r) for r in rows]
    n = len(rows[0])
    if any(len(r) != n for r in rows):
        raise ValueError(f"every row must hold the same number of images, got {[len(r) for r in rows]}.")
    if row_titles is not None and len(row_titles) != len(rows):
        raise ValueError(f"got {len(row_titles)} row titles for {len(rows)} rows.")
    plt = _plt()
    fig, axes = plt.subplots(len(rows), n, figsize=(size * n, size * len(rows) + (0.4 if title else 0)),
                             squeeze=False)
    for r, images in enumerate(rows):
        for c in range(n):
            img = images[c]
            side = int(math.isqrt(img.size))
            if side * side != img.size:
                raise ValueError(f"images must be square, got {img.size} pixels.")
            ax = axes[r, c]
            ax.imshow(img.reshape(side, side), cmap=cmap, vmin=0.0, vmax=1.0)
            ax.set_xticks([])
            ax.set_yticks([])
        if row_titles is not None:
            axes[r, 0].set_ylabel(row_titles[r], rotation=0, ha="right", va="center", fontsize=9)
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    return fig


def format_table(rows, columns=None, floatfmt=".4f"):
    """Render a list of dicts as a fixed-width text table (deterministic, nbval-friendly)."""
    if not rows:
        raise ValueError("format_table() needs at least one row.")
    columns = list(columns or rows[0].keys())

    def fmt(v):
        if isinstance(v, (float, np.floating)):
            return format(float(v), floatfmt)
        return str(v)

    cells = [[fmt(row.get(c, "")) for c in columns] for row in rows]
    widths = [max(len(str(c)), *(len(r[i]) for r in cells)) for i, c in enumerate(columns)]
    line = lambda vals: "  ".join(  # noqa: E731
        v.ljust(w) if i == 0 else v.rjust(w) for i, (v, w) in enumerate(zip(vals, widths)))
    out = [line([str(c) for c in columns]), line(["-" * w for w in widths])]
    out += [line(r) for r in cells]
    return "\n".join(out)


def print_table(rows, columns=None, floatfmt=".4f"):
    """Print ``format_table(rows, columns, floatfmt)``."""
    print(format_table(rows, columns, floatfmt))


def describe_model(model):
    """A compact, deterministic model summary: layer type, output shape, parameters.

    Unlike ``model.summary()`` it leaves out auto-generated layer names (``dense_7``) and
    terminal-width formatting, so its output is the same in every run and nbval can check it.
    """
    rows = []
    for layer in model.layers:
        shape = getattr(layer, "output", None)
        shape = tuple(shape.shape) if shape is not None and hasattr(shape, "shape") else "?"
        rows.append({"layer": type(layer).__name__, "output shape": str(shape),
                     "params": layer.count_params()})
    text = format_table(rows)
    trainable = sum(int(np.prod(w.shape)) for w in model.trainable_weights)
    text += f"\ntotal params: {model.count_params():,} (trainable: {trainable:,})"
    print(text)


def _gaussian_curve(grid, mu, sigma):
    from course_lib.likelihood import gaussian_pdf

    return gaussian_pdf(grid, mu, sigma, dtype="float64")


def plot_density_fits(x, fits, points=None, bins=40, title=None, xlabel="x"):
    """Histogram of 1-D data (scaled as a density) with one Gaussian curve per fit.

    ``fits`` maps a legend label to ``(mu, sigma)``; ``points`` (optional) maps a label to an
    x value marked with a vertical line, e.g. the points an explicit model scores.
    Introduced in 01_likelihood. Returns the Figure.
    """
    x = np.asarray(x)
    if x.ndim != 1 or x.size == 0:
        raise ValueError(f"plot_density_fits() expects a non-empty 1-D array, got shape {x.shape}.")
    if not fits:
        raise ValueError("plot_density_fits() needs at least one fit {label: (mu, sigma)}.")
    points = points or {}
    plt = _plt()
    fig, ax = plt.subplots(figsize=(7, 3.8))
    ax.hist(x, bins=bins, density=True, color="0.8", edgecolor="0.6", label=f"data ({x.size} points)")
    lo = min(x.min(), *points.values()) if points else x.min()
    hi = max(x.max(), *points.values()) if points else x.max()
    pad = 0.1 * (hi - lo)
    grid = np.linspace(lo - pad, hi + pad, 400)
    for (label, (mu, sigma)), style in zip(fits.items(), ["-", "--", ":", "-."] * 4):
        ax.plot(grid, _gaussian_curve(grid, mu, sigma), style, lw=2, label=label)
    top = ax.get_ylim()[1] * (1.35 if points else 1.0)   # head-room for the point labels
    ax.set_ylim(0, top)
    middle = sum(ax.get_xlim()) / 2
    for label, value in points.items():
        ax.axvline(value, color="crimson", lw=1, alpha=0.7)
        left_half = value < middle   # write the label towards the middle, away from the edge
        ax.text(value, top * 0.97, f" {label} ", ha="left" if left_half else "right", va="top",
                fontsize=8, color="crimson")
    ax.set_xlabel(xlabel)
    ax.set_ylabel("density")
    ax.set_title(title or "Data and fitted Gaussians")
    ax.legend(fontsize=8, loc="upper left")
    fig.tight_layout()
    return fig


def plot_loss_curves(losses, labels=None, references=None, title=None, ylabel="loss", xlabel="step"):
    """Loss against step: ``losses`` is (steps,) or (steps, runs), one line per run.

    ``references`` maps a label to a value drawn as a dashed horizontal line (the closed-form
    optimum to compare with). Introduced in 01_likelihood. Returns the Figure.
    """
    losses = np.asarray(losses, dtype="float64")
    if losses.ndim == 1:
        losses = losses[:, None]
    if losses.ndim != 2 or losses.shape[0] == 0:
        raise ValueError(f"losses must have shape (steps,) or (steps, runs), got {losses.shape}.")
    if labels is not None and len(labels) != losses.shape[1]:
        raise ValueError(f"got {len(labels)} labels for {losses.shape[1]} runs.")
    plt = _plt()
    fig, ax = plt.subplots(figsize=(7, 3.5))
    steps = np.arange(1, losses.shape[0] + 1)
    for j in range(losses.shape[1]):
        ax.plot(steps, losses[:, j], lw=1.5, label=None if labels is None else labels[j])
    for (label, value), color in zip((references or {}).items(), ["k", "0.4", "0.6", "0.2"] * 4):
        ax.axhline(value, ls="--", lw=1, color=color, label=label)
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.set_title(title or "Training loss")
    if labels is not None or references:
        ax.legend(fontsize=8)
    fig.tight_layout()
    return fig


def plot_pmfs(pmfs, support=None, title=None, xlabel="x"):
    """Grouped bar chart of discrete distributions; ``pmfs`` maps a label to a probability vector.

    Introduced in 02_kl_divergence. Returns the Figure.
    """
    if not pmfs:
        raise ValueError("plot_pmfs() needs at least one distribution {label: probabilities}.")
    arrays = {k: np.asarray(v, dtype="float64") for k, v in pmfs.items()}
    n = {a.shape for a in arrays.values()}
    if len(n) != 1 or len(next(iter(n))) != 1:
        raise ValueError(f"every pmf must be a 1-D vector of the same length, got shapes {sorted(n)}.")
    size = next(iter(n))[0]
    support = np.arange(size) if support is None else np.asarray(support)
    if support.shape != (size,):
        raise ValueError(f"support has shape {support.shape}, the pmfs have {size} entries.")
    plt = _plt()
    fig, ax = plt.subplots(figsize=(5.5, 3.2))
    width = 0.8 / len(arrays)
    for j, (label, p) in enumerate(arrays.items()):
        offset = (j - (len(arrays) - 1) / 2) * width
        bars = ax.bar(np.arange(size) + offset, p, width, label=label)
        ax.bar_label(bars, fmt="%.3f", fontsize=8)
    ax.set_xticks(np.arange(size), [str(s) for s in support])
    ax.set_xlabel(xlabel)
    ax.set_ylabel("probability")
    ax.set_ylim(0, max(a.max() for a in arrays.values()) * 1.2)
    ax.set_title(title or "Distributions")
    ax.legend(fontsize=8)
    fig.tight_layout()
    return fig


def plot_mode_fits(grid, log_p, fits, title=None, target_label="target p(x)", xlim=None):
    """A target density (shaded) with Gaussian fits drawn over it.

    ``log_p`` holds the target's log-density on ``grid``; ``fits`` maps a legend label to
    ``(mu, sigma)``; ``xlim`` optionally zooms in. Introduced in 02_kl_divergence (forward vs
    reverse KL). Returns the Figure.
    """
    grid, log_p = np.asarray(grid, dtype="float64"), np.asarray(log_p, dtype="float64")
    if grid.ndim != 1 or grid.shape != log_p.shape:
        raise ValueError(f"grid and log_p must be 1-D of the same length, got {grid.shape} and {log_p.shape}.")
    if not fits:
        raise ValueError("plot_mode_fits() needs at least one fit {label: (mu, sigma)}.")
    plt = _plt()
    fig, ax = plt.subplots(figsize=(7.5, 4))
    ax.fill_between(grid, np.exp(log_p), color="0.85", label=target_label)
    ax.plot(grid, np.exp(log_p), color="0.4", lw=1)
    for (label, (mu, sigma)), style in zip(fits.items(), ["-", "--", "-.", ":"] * 4):
        ax.plot(grid, _gaussian_curve(grid, mu, sigma), style, lw=2, label=label)
    ax.set_xlabel("x")
    ax.set_ylabel("density")
    if xlim is not None:
        ax.set_xlim(*xlim)
    ax.set_title(title or "Gaussian fits to a bimodal target")
    ax.legend(fontsize=8, loc="upper right")
    fig.tight_layout()
    return fig
