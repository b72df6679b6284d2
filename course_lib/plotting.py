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
