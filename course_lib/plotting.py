"""Figures and tables for the notebooks, kept out of the lesson cells.

Plumbing only: the models and losses a notebook teaches live in the other modules.
"""

import math

import numpy as np


def _plt():
    import matplotlib.pyplot as plt

    return plt


def image_mosaic(rows, gap=2):
    """The rows of images as one array: row r, column c holds image c of ``rows[r]``, with ``gap``
    pixels of NaN between neighbours (drawn as blank). Checks as ``show_image_rows``."""
    if not rows:
        raise ValueError("show_image_rows() needs at least one row of images.")
    rows = [np.asarray(r, dtype="float64") for r in rows]
    n = len(rows[0])
    if any(len(r) != n for r in rows):
        raise ValueError(f"every row must hold the same number of images, got {[len(r) for r in rows]}.")
    pixels = rows[0][0].size if n else 0
    side = int(math.isqrt(pixels))
    if not n or side * side != pixels or any(r[0].size != pixels for r in rows):
        raise ValueError(f"images must be square and of one size, got {[r[0].size if len(r) else 0 for r in rows]} "
                         f"pixels.")
    step = side + gap
    mosaic = np.full((len(rows) * step - gap, n * step - gap), np.nan)
    for r, images in enumerate(rows):
        for c, img in enumerate(images.reshape(n, side, side)):
            mosaic[r * step:r * step + side, c * step:c * step + side] = img
    return mosaic, side


def show_image_rows(rows, row_titles=None, title=None, cmap="gray", size=1.0):
    """Draw rows of images as a grid, one row per entry of ``rows``.

    ``rows`` is a list of arrays of shape (n, 28, 28), (n, 784) or (n, 28, 28, 1); every
    row must hold the same number of images. One picture (``image_mosaic``) on one set of
    axes, the row titles at the left: far quicker to draw than an axes per image. Returns the
    matplotlib Figure.
    """
    if row_titles is not None and rows and len(row_titles) != len(rows):
        raise ValueError(f"got {len(row_titles)} row titles for {len(rows)} rows.")
    mosaic, side = image_mosaic(rows)
    plt = _plt()
    n = len(rows[0])
    fig, ax = plt.subplots(figsize=(size * n, size * len(rows) + (0.4 if title else 0)))
    colours = plt.get_cmap(cmap).with_extremes(bad="white")
    ax.imshow(mosaic, cmap=colours, vmin=0.0, vmax=1.0, interpolation="nearest")
    ax.set_xticks([])
    if row_titles is not None:
        ax.set_yticks([r * (side + 2) + (side - 1) / 2 for r in range(len(rows))], list(map(str, row_titles)),
                      fontsize=9)
        ax.tick_params(axis="y", length=0)
    else:
        ax.set_yticks([])
    for spine in ax.spines.values():
        spine.set_visible(False)
    if title:
        ax.set_title(title)
    fig.tight_layout()
    return fig


def format_table(rows, columns=None, floatfmt=".4f"):
    """Render a list of dicts as a fixed-width text table (deterministic, nbval-friendly).

    A value of None (a measure that does not apply) and a missing key both print as "-".
    """
    if not rows:
        raise ValueError("format_table() needs at least one row.")
    columns = list(columns or rows[0].keys())

    def fmt(v):
        if v is None:
            return "-"
        if isinstance(v, (float, np.floating)):
            return format(float(v), floatfmt)
        return str(v)

    cells = [[fmt(row.get(c)) for c in columns] for row in rows]
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
    if hasattr(model, "summary_rows"):              # subclassed models describe themselves
        rows = model.summary_rows()
        print(format_table(rows) + f"\ntotal params: {model.count_params():,}")
        return
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
    # below the axes, so that it never covers the histogram, the curves or the point labels
    rows = math.ceil((len(fits) + 1) / 2)
    fig.set_figheight(fig.get_figheight() + 0.25 * rows)
    fig.legend(*ax.get_legend_handles_labels(), fontsize=8, loc="lower center", ncol=2, frameon=False)
    fig.tight_layout(rect=(0, 0.07 * rows, 1, 1))
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


def _label_and_fit(fig, ax, xlabel, ylabel, title):
    """The shared finish of the line plots: axis labels, title, a small legend, a tight layout."""
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.set_title(title or "")
    ax.legend(fontsize=8)
    fig.tight_layout()
    return fig


def _draw_series(ax, series, marker, logx=False):
    """``{label: (x values, y values)}`` as lines on ``ax`` (``marker`` marks the points)."""
    for label, (x, y) in series.items():
        if len(x) != len(y) or not len(x):
            raise ValueError(f"{label!r}: x and y must have the same non-zero length, got {len(x)} and {len(y)}.")
        ax.plot(x, y, lw=1.5, label=label, marker=marker, markersize=4)
    if logx:
        ax.set_xscale("log")


def plot_curves(series, xlabel, ylabel, title=None, logy=False, logx=False, marker=None):
    """One line per entry of ``series``, ``{label: (x values, y values)}``, on shared axes
    (e.g. training loss against wall-clock seconds, for models of different speeds; 06c).
    ``marker`` (e.g. ``"o"``) marks the measured points. Returns the Figure."""
    if not series:
        raise ValueError("series is empty: give {label: (x, y)}.")
    plt = _plt()
    fig, ax = plt.subplots(figsize=(7, 3.5))
    _draw_series(ax, series, marker, logx)
    if logy:
        ax.set_yscale("log")
    return _label_and_fit(fig, ax, xlabel, ylabel, title)


def plot_panels(panels, xlabel, title=None, logx=False, marker="o"):
    """Side-by-side line plots sharing the x axis: ``panels`` maps each panel's y label to its
    ``{label: (x values, y values)}`` series (11: recognition, FID, precision and recall against
    the guidance weight, one figure). Returns the Figure."""
    if not panels:
        raise ValueError("panels is empty: give {ylabel: {label: (x, y)}}.")
    plt = _plt()
    fig, axes = plt.subplots(1, len(panels), figsize=(3.2 * len(panels), 3.2), squeeze=False)
    for ax, (ylabel, series) in zip(axes[0], panels.items()):
        if not series:
            raise ValueError(f"panel {ylabel!r} has no series.")
        _draw_series(ax, series, marker, logx)
        ax.set_xlabel(xlabel)
        ax.set_ylabel(ylabel)
    axes[0][0].legend(fontsize=7)
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    return fig


def plot_trajectories(panels, centres=None, lim=3.0, suptitle=None):
    """2-D paths side by side: ``panels`` maps a title to an array (steps + 1, n, 2) of n points'
    positions along a sampler's steps; each path is a grey line from its start (dot) to its end
    (blue); ``centres`` (k, 2) as red crosses (11: flow matching's straight paths)."""
    if not panels:
        raise ValueError("panels is empty: give {title: array of shape (steps + 1, n, 2)}.")
    plt = _plt()
    fig, axes = plt.subplots(1, len(panels), figsize=(3.3 * len(panels), 3.4), squeeze=False)
    for ax, (name, path) in zip(axes[0], panels.items()):
        path = np.asarray(path)
        if path.ndim != 3 or path.shape[2] != 2 or len(path) < 2:
            raise ValueError(f"{name!r}: expected positions of shape (steps + 1, n, 2), got {path.shape}.")
        ax.plot(path[:, :, 0], path[:, :, 1], color="0.6", lw=0.7)
        ax.scatter(path[0, :, 0], path[0, :, 1], s=6, c="0.3", label="start (noise)")
        ax.scatter(path[-1, :, 0], path[-1, :, 1], s=8, c="tab:blue", label="end")
        if centres is not None:
            ax.scatter(*np.asarray(centres).T, marker="x", c="red", s=20)
        ax.set_xlim(-lim, lim)
        ax.set_ylim(-lim, lim)
        ax.set_aspect("equal")
        ax.set_title(name, fontsize=9)
    axes[0][0].legend(fontsize=7, loc="lower left")
    if suptitle:
        fig.suptitle(suptitle)
    fig.tight_layout()
    return fig


def plot_rate_and_seed_spread(runs, ylabel, title=None, xlabel="learning rate / the model's own"):
    """How a score moves with the learning rate and with the seed, one colour per model (07b).
    ``runs`` maps a label to ``{"rates": (factors, values), "seeds": values}``: a line over the
    learning-rate factors (log axis; one seed), and the other seeds' values as hollow markers at
    factor 1, spread sideways a little so that equal values stay visible. Returns the Figure."""
    if not runs:
        raise ValueError("runs is empty: give {label: {'rates': (factors, values), 'seeds': values}}.")
    plt = _plt()
    fig, ax = plt.subplots(figsize=(6.5, 3.5))
    for k, (label, run) in enumerate(runs.items()):
        if set(run) != {"rates", "seeds"}:
            raise ValueError(f"{label!r}: expected the keys 'rates' and 'seeds', got {sorted(run)}.")
        factors, values = (np.asarray(v, dtype="float64") for v in run["rates"])
        seeds = np.asarray(run["seeds"], dtype="float64")
        if factors.shape != values.shape or factors.ndim != 1 or not len(factors) or not (factors > 0).all():
            raise ValueError(f"{label!r}: 'rates' needs positive factors and as many values, got shapes "
                             f"{factors.shape} and {values.shape}.")
        order = np.argsort(factors)
        (line,) = ax.plot(factors[order], values[order], marker="o", lw=1.5, label=f"{label}: learning rates")
        if len(seeds):
            jitter = 1.0 + 0.04 * (np.arange(len(seeds)) - (len(seeds) - 1) / 2) + 0.02 * k
            ax.scatter(jitter, seeds, s=40, facecolors="none", edgecolors=line.get_color(), zorder=3,
                       label=f"{label}: seeds")
    ax.set_xscale("log")
    ticks = sorted({float(f) for run in runs.values() for f in run["rates"][0]} | {1.0})
    ax.set_xticks(ticks, [f"x {f:.3g}" for f in ticks])          # the factors themselves, not powers of 10
    ax.minorticks_off()
    return _label_and_fit(fig, ax, xlabel, ylabel, title)


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


def plot_latent_scatter(z, labels, title=None, ax=None, max_points=5000):
    """2-D latent codes as a scatter plot coloured by digit label (04a_vae, 05_cvae).

    More than ``max_points`` codes: a seeded random sample of them is drawn (never the first
    ones: MNIST's test set is ordered by writer population)."""
    z, labels = np.asarray(z), np.asarray(labels)
    if z.ndim != 2 or z.shape[1] != 2:
        raise ValueError(f"plot_latent_scatter() needs 2-D codes of shape (n, 2), got {z.shape}.")
    if len(labels) != len(z):
        raise ValueError(f"got {len(z)} codes but {len(labels)} labels.")
    plt = _plt()
    if ax is None:
        _, ax = plt.subplots(figsize=(5.5, 4.8))
    if len(z) > max_points:
        keep = np.sort(np.random.default_rng(0).permutation(len(z))[:max_points])
        z, labels = z[keep], labels[keep]
    points = ax.scatter(z[:, 0], z[:, 1], c=labels, cmap="tab10", s=4, alpha=0.7, vmin=-0.5, vmax=9.5)
    ax.figure.colorbar(points, ax=ax, ticks=range(10), label="digit")
    ax.set_xlabel("$z_1$")
    ax.set_ylabel("$z_2$")
    ax.set_title(title or "Latent codes of test digits")
    return ax.figure


def latent_grid(n=15, spread=0.95):
    """An n x n grid of 2-D latent points at the N(0, 1) quantiles in (1-spread)/2 .. (1+spread)/2,
    rows from top (high z_2) to bottom, so that equal steps hold equal prior mass."""
    from statistics import NormalDist

    if n < 2:
        raise ValueError(f"n must be >= 2, got {n}.")
    if not 0 < spread < 1:
        raise ValueError(f"spread must be in (0, 1), got {spread}.")
    q = np.array([NormalDist().inv_cdf(p) for p in np.linspace((1 - spread) / 2, (1 + spread) / 2, n)])
    z1, z2 = np.meshgrid(q, q[::-1])
    return np.stack([z1.ravel(), z2.ravel()], axis=1).astype("float32")


def show_manifold(decode, n=15, spread=0.95, title=None):
    """Decode ``latent_grid(n)`` with ``decode`` (a function of (m, 2) codes returning
    (m, 784) images) and draw the n x n manifold of the 2-D latent space."""
    images = np.asarray(decode(latent_grid(n, spread))).reshape(n, n, 28, 28)
    plt = _plt()
    fig, ax = plt.subplots(figsize=(6, 6))
    ax.imshow(images.transpose(0, 2, 1, 3).reshape(n * 28, n * 28), cmap="gray", vmin=0, vmax=1)
    ax.set_xticks([])
    ax.set_yticks([])
    ax.set_xlabel(r"$z_1$: N(0, 1) quantiles $\rightarrow$")
    ax.set_ylabel(r"$z_2$: N(0, 1) quantiles $\rightarrow$")
    ax.set_title(title or "Digits decoded from a grid of the latent space")
    return fig


def latent_explorer(decode, limit=3.0):
    """Sliders over a 2-D latent code that redraw the decoded digit (ipywidgets, live kernel).

    Always also returns a static figure: the digits along each axis, which is what the
    sliders show, for viewers where widgets do not render (GitHub, HTML exports, nbval).
    """
    plt = _plt()
    steps = np.linspace(-limit, limit, 9).astype("float32")
    along = np.concatenate([np.stack([steps, np.zeros_like(steps)], 1),
                            np.stack([np.zeros_like(steps), steps], 1)])
    images = np.asarray(decode(along)).reshape(2, 9, 28, 28)
    fig, axes = plt.subplots(2, 9, figsize=(9, 3.0))
    for r, name in enumerate(["$z_1$", "$z_2$"]):
        for c in range(9):
            axes[r, c].imshow(images[r, c], cmap="gray", vmin=0, vmax=1)
            axes[r, c].set_xticks([])
            axes[r, c].set_yticks([])
            axes[r, c].set_title(f"{steps[c]:+.1f}", fontsize=7)
        axes[r, 0].set_ylabel(name + " varies", fontsize=8)
    fig.suptitle("What the sliders show (static fallback): one latent coordinate moves, the other is 0")
    fig.tight_layout()
    try:
        import ipywidgets as widgets
        from IPython.display import display
    except ImportError:  # plain Python: the static figure is all there is
        return fig

    out = widgets.Output()

    def redraw(z1=0.0, z2=0.0):
        with out:
            out.clear_output(wait=True)
            image = np.asarray(decode(np.array([[z1, z2]], "float32"))).reshape(28, 28)
            small, ax = plt.subplots(figsize=(2.2, 2.2))
            ax.imshow(image, cmap="gray", vmin=0, vmax=1)
            ax.set_axis_off()
            ax.set_title(f"z = ({z1:+.1f}, {z2:+.1f})", fontsize=9)
            display(small)
            plt.close(small)

    sliders = {k: widgets.FloatSlider(0.0, min=-limit, max=limit, step=0.1, description=k) for k in ("z1", "z2")}
    display(widgets.HBox([widgets.VBox(list(sliders.values())), out]))
    widgets.interactive_output(redraw, sliders)
    return fig


def plot_receptive_field(grad_map, row, col, title=None, ax=None):
    """A receptive-field map (06a_pixelcnn): grey where the prediction for pixel (row, col)
    depends on the input, the pixel itself outlined in red, future pixels hatched."""
    grad_map = np.asarray(grad_map, dtype="float64")
    if grad_map.ndim != 2:
        raise ValueError(f"plot_receptive_field() needs a 2-D map, got shape {grad_map.shape}.")
    plt = _plt()
    if ax is None:
        _, ax = plt.subplots(figsize=(4, 4))
    h, w = grad_map.shape
    ax.imshow(grad_map > 0, cmap="Greys", vmin=0, vmax=1.6)
    future = (np.arange(h * w).reshape(h, w) >= row * w + col).astype(float)
    ax.contourf(np.arange(w), np.arange(h), future, levels=[0.5, 1.5], colors="none", hatches=["///"])
    ax.add_patch(plt.Rectangle((col - 0.5, row - 0.5), 1, 1, fill=False, edgecolor="red", lw=2))
    ax.set_xticks(sorted({0, w // 2, w - 1}))
    ax.set_yticks(sorted({0, h // 2, h - 1}))
    ax.set_xlabel("input column")
    ax.set_ylabel("input row")
    ax.set_title(title or f"inputs that pixel ({row}, {col}) sees")
    return ax.figure


def plot_histograms(values, title=None, xlabel="value", bins=60, ax=None):
    """Overlaid, normalised histograms of several named 1-D arrays (``{name: values}``)."""
    if not isinstance(values, dict) or not values:
        raise ValueError("plot_histograms() expects a non-empty dict {name: 1-D array}.")
    plt = _plt()
    if ax is None:
        _, ax = plt.subplots(figsize=(8, 3.6))
    finite = np.concatenate([np.asarray(v, "float64")[np.isfinite(v)] for v in values.values()])
    edges = np.histogram_bin_edges(finite, bins=bins)
    for name, v in values.items():
        ax.hist(np.asarray(v, "float64"), bins=edges, density=True, alpha=0.5, label=name)
    ax.set_xlabel(xlabel)
    ax.set_ylabel("density")
    # outside the axes, on the right: a legend inside would cover some histogram's bars
    ax.legend(fontsize=8, loc="upper left", bbox_to_anchor=(1.01, 1.0), borderaxespad=0.0)
    ax.set_title(title or "")
    ax.figure.tight_layout()
    return ax.figure


def plot_scatter_groups(groups, xlabel, ylabel, title=None, diagonal=False, max_points=1000):
    """One colour per named set of points, ``{name: (x values, y values)}`` (06d: each image's
    model bits against its PNG bits); ``diagonal`` draws y = x. Returns the Figure."""
    if not isinstance(groups, dict) or not groups:
        raise ValueError("plot_scatter_groups() expects a non-empty dict {name: (x, y)}.")
    plt = _plt()
    fig, ax = plt.subplots(figsize=(6.5, 4.2))
    for name, (x, y) in groups.items():
        x, y = np.asarray(x, "float64")[:max_points], np.asarray(y, "float64")[:max_points]
        if x.shape != y.shape:
            raise ValueError(f"{name!r}: x and y must have the same length, got {len(x)} and {len(y)}.")
        ax.scatter(x, y, s=4, alpha=0.4, label=name)
    if diagonal:
        lo, hi = ax.get_xlim()
        ax.plot([lo, hi], [lo, hi], color="grey", lw=0.8, ls="--", label="y = x")
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.set_title(title or "")
    ax.legend(fontsize=8, loc="upper left", bbox_to_anchor=(1.01, 1.0), borderaxespad=0.0, markerscale=3)
    fig.tight_layout()
    return fig


def plot_point_snapshots(snapshots, centres=None, titles=None, lim=3.0, suptitle=None):
    """Rows of 2-D scatter plots (07_gan): ``snapshots`` is a list of rows, each a list of
    (n, 2) point sets; ``centres`` (k, 2) are drawn as red crosses on every panel."""
    if not snapshots or not all(len(r) == len(snapshots[0]) for r in snapshots):
        raise ValueError("plot_point_snapshots() needs a non-empty list of rows of equal length.")
    plt = _plt()
    n_rows, n_cols = len(snapshots), len(snapshots[0])
    fig, axes = plt.subplots(n_rows, n_cols, figsize=(2.1 * n_cols, 2.1 * n_rows + 0.4), squeeze=False)
    for r, row in enumerate(snapshots):
        for c, points in enumerate(row):
            ax = axes[r, c]
            points = np.asarray(points)
            ax.scatter(points[:, 0], points[:, 1], s=1, alpha=0.3)
            if centres is not None:
                ax.scatter(*np.asarray(centres).T, marker="x", c="red", s=20)
            ax.set_xlim(-lim, lim)
            ax.set_ylim(-lim, lim)
            ax.set_xticks([-lim, 0, lim] if r == n_rows - 1 else [])
            ax.set_yticks([-lim, 0, lim] if c == 0 else [])
            if r == n_rows - 1:
                ax.set_xlabel("$x_1$")
            if c == 0:
                ax.set_ylabel("$x_2$")
            if titles is not None:
                ax.set_title(titles[r][c], fontsize=8)
    if suptitle:
        fig.suptitle(suptitle)
    fig.tight_layout()
    return fig


def show_source(obj, slide=None, slide_title="The slide's code (Keras 1/2)"):
    """Display the source of a course_lib function, class or method, syntax-highlighted.

    With ``slide`` (the slide's code as a string) it is shown first, so the two read side
    by side: what the lecture wrote, then the Keras 3 code this course runs. The source is
    read from the installed module, so what is shown is exactly what the notebook calls.
    """
    import inspect
    import textwrap
    from pathlib import Path

    from IPython.display import Markdown, display

    try:
        source = textwrap.dedent(inspect.getsource(obj))
        file = inspect.getsourcefile(obj)
    except (TypeError, OSError) as err:
        raise ValueError(f"show_source() needs a function, class or method defined in a file, got {obj!r}.") from err
    module = getattr(obj, "__module__", "") or ""
    where = Path(file).name if not module else module.replace(".", "/") + ".py"
    name = getattr(obj, "__qualname__", getattr(obj, "__name__", "?"))
    parts = []
    if slide is not None:
        parts += [f"**{slide_title}**", "", "```python", textwrap.dedent(slide).strip("\n"), "```", ""]
    parts += [f"**`{name}`**, from `{where}` (Keras 3, what this notebook runs)", "",
              "```python", source.rstrip("\n"), "```"]
    display(Markdown("\n".join(parts)))


def plot_training_history(history, keys=("loss", "reconstruction", "kl"), titles=None,
                          ylabel="nats per image", xlabel="epoch"):
    """One panel per metric of a Keras ``History`` (or a dict {metric: per-epoch values}),
    side by side: how each term of the loss moved during training (04a_vae). Returns the Figure."""
    logs = getattr(history, "history", history)
    if not isinstance(logs, dict):
        raise ValueError(f"plot_training_history() needs a keras History or a dict, got {type(history).__name__}.")
    missing = [k for k in keys if k not in logs]
    if not keys or missing:
        raise ValueError(f"no metric {missing or 'given'} in the history; it holds {sorted(logs)}.")
    if titles is not None and len(titles) != len(keys):
        raise ValueError(f"got {len(titles)} titles for {len(keys)} metrics.")
    plt = _plt()
    fig, axes = plt.subplots(1, len(keys), figsize=(3.7 * len(keys), 3.1), squeeze=False)
    for j, (ax, key) in enumerate(zip(axes[0], keys)):
        values = np.asarray(logs[key], dtype="float64")
        ax.plot(np.arange(1, len(values) + 1), values, marker=".")
        ax.xaxis.set_major_locator(plt.MaxNLocator(integer=True))   # epochs are whole numbers
        ax.set_title(key if titles is None else titles[j], fontsize=10)
        ax.set_xlabel(xlabel)
        ax.set_ylabel(ylabel)
    fig.tight_layout()
    return fig


def plot_tradeoff(x, y, point_labels, xlabel, ylabel, title=None):
    """A curve through points (x_i, y_i), each annotated with its label: e.g. KL against
    reconstruction error, one point per KL weight (04a_vae). Returns the Figure."""
    x, y = np.asarray(x, dtype="float64"), np.asarray(y, dtype="float64")
    if x.ndim != 1 or x.shape != y.shape or len(point_labels) != len(x) or len(x) == 0:
        raise ValueError(f"plot_tradeoff() needs x, y and point_labels of one common length, "
                         f"got {x.shape}, {y.shape} and {len(point_labels)}.")
    plt = _plt()
    fig, ax = plt.subplots(figsize=(5.5, 3.8))
    ax.plot(x, y, "o-")
    for xi, yi, label in zip(x, y, point_labels):
        ax.annotate(f"  {label}", (xi, yi), fontsize=8)
    ax.margins(x=0.2, y=0.1)  # room for the annotations
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.set_title(title or "")
    fig.tight_layout()
    return fig


def plot_latent_comparison(codes, labels, max_points=5000):
    """2-D latent codes of several models side by side, coloured by digit label (05_cvae).

    ``codes`` maps a panel title to an (n, 2) array; ``labels`` (n,) is shared. Returns the Figure.
    """
    if not isinstance(codes, dict) or not codes:
        raise ValueError("plot_latent_comparison() expects a non-empty dict {title: (n, 2) codes}.")
    plt = _plt()
    fig, axes = plt.subplots(1, len(codes), figsize=(5.5 * len(codes), 4.6), squeeze=False)
    for ax, (title, z) in zip(axes[0], codes.items()):
        plot_latent_scatter(z, labels, title=title, ax=ax, max_points=max_points)
    fig.tight_layout()
    return fig


def plot_receptive_fields(maps, title=None):
    """Receptive-field maps side by side (06a_pixelcnn). ``maps`` is a list of
    ``(grad_map, row, col, panel_title)``, each drawn by ``plot_receptive_field``. Returns the Figure."""
    if not maps or any(len(m) != 4 for m in maps):
        raise ValueError("plot_receptive_fields() needs a non-empty list of (grad_map, row, col, title).")
    plt = _plt()
    fig, axes = plt.subplots(1, len(maps), figsize=(4.2 * len(maps), 4.4), squeeze=False)
    for ax, (grad_map, row, col, panel_title) in zip(axes[0], maps):
        plot_receptive_field(grad_map, row, col, title=panel_title, ax=ax)
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    return fig


def plot_gan_curves(series, d_loss_equilibrium=None, title=None, xlabel="batch"):
    """A GAN's logged numbers against the batch (07_gan): losses on the left, D's accuracies
    (names containing "acc") on the right. ``series`` maps a name to ``(batches, values)``
    (or ``(epochs, values)`` with ``xlabel="epoch"``); ``d_loss_equilibrium`` draws D's loss
    at the game's equilibrium, log 4. Returns the Figure."""
    if not isinstance(series, dict) or not series:
        raise ValueError("plot_gan_curves() expects a non-empty dict {name: (batches, values)}.")
    plt = _plt()
    fig, (ax_loss, ax_acc) = plt.subplots(1, 2, figsize=(11, 3.4))
    for name, (batches, values) in series.items():
        (ax_acc if "acc" in name else ax_loss).plot(batches, values, label=name)
    if d_loss_equilibrium is not None:
        ax_loss.axhline(d_loss_equilibrium, ls="--", c="k", lw=1, label="d_loss at equilibrium, log 4")
    for ax, ylabel, panel in [(ax_loss, "loss (running mean over the epoch)", "the two players' losses"),
                              (ax_acc, "D's accuracy (threshold D = 1/2)", "D's accuracy on real and on fake")]:
        ax.set_xlabel(xlabel)
        ax.set_ylabel(ylabel)
        ax.set_title(panel)
        if ax.get_legend_handles_labels()[0]:
            ax.legend(fontsize=8, loc="best")
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    return fig


def plot_game_path(path, title=None):
    """Gradient play on a two-player game (07_gan): ``path`` is the (steps + 1, 2) trajectory
    of (x, y). Left, both players' parameters against the step; right, the path in the
    (x, y) plane around the equilibrium (0, 0). Returns the Figure."""
    path = np.asarray(path, dtype="float64")
    if path.ndim != 2 or path.shape[1] != 2 or len(path) < 2:
        raise ValueError(f"plot_game_path() needs a (steps + 1, 2) trajectory, got shape {path.shape}.")
    plt = _plt()
    fig, (ax_t, ax_xy) = plt.subplots(1, 2, figsize=(10, 3.6))
    ax_t.plot(path[:, 0], label="x (minimizer)")
    ax_t.plot(path[:, 1], label="y (maximizer)")
    ax_t.set_xlabel("step")
    ax_t.set_ylabel("parameter value")
    ax_t.set_title("the players' parameters against the step")
    ax_t.legend(fontsize=8, loc="upper left")
    ax_xy.plot(path[:, 0], path[:, 1], lw=1, label="path")
    ax_xy.scatter([path[0, 0]], [path[0, 1]], c="k", s=15, zorder=3, label="start")
    ax_xy.scatter([0], [0], c="red", marker="x", zorder=3, label="equilibrium (0, 0)")
    ax_xy.set_aspect("equal")
    ax_xy.set_xlabel("x (minimizer)")
    ax_xy.set_ylabel("y (maximizer)")
    ax_xy.set_title("the path in the (x, y) plane")
    ax_xy.legend(fontsize=8, loc="upper left", bbox_to_anchor=(1.02, 1.0), borderaxespad=0.0)
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    return fig


def plot_precision_recall(points, kinds=None, title="Precision vs recall", k=None):
    """Scatter each model at (recall, precision); ``points`` maps name -> (recall, precision).

    ``kinds`` maps name -> a family ("likelihood", "adversarial", ...) that sets the marker.
    The legend sits outside the axes, so it never covers a point. Returns the Figure.
    """
    if not points:
        raise ValueError("plot_precision_recall() needs at least one model.")
    kinds = kinds or {}
    markers = {"likelihood": "o", "adversarial": "s", "reference": "*"}
    plt = _plt()
    fig, ax = plt.subplots(figsize=(8.5, 4.5))
    colours = plt.cm.tab20(np.arange(len(points)) % 20)          # more than 10 models: no colour twice
    for colour, (name, (recall, precision)) in zip(colours, points.items()):
        kind = kinds.get(name, "other")
        ax.scatter(recall, precision, marker=markers.get(kind, "^"), s=90 if kind == "reference" else 60,
                   color=colour, label=f"{name} ({kind})")
    ax.set_xlabel("recall (share of real digits covered by the samples)")
    ax.set_ylabel("precision (share of samples that look real)")
    ax.set_xlim(-0.02, 1.02)
    ax.set_ylim(-0.02, 1.02)
    ax.grid(alpha=0.3)
    ax.set_title(title + (f", k = {k}" if k else ""))
    ax.legend(fontsize=8, loc="center left", bbox_to_anchor=(1.02, 0.5), frameon=False)
    fig.tight_layout()
    return fig


def plot_density_2d(panels, lim=3.0, grid=200, suptitle=None):
    """One row of 2-D panels (09_flows, 10_diffusion): each entry of ``panels`` is
    (title, points) with points (n, 2), drawn as a scatter, or (title, log_density) with a
    callable (m, 2) -> (m,) log p, drawn as the density p on a ``grid`` x ``grid`` square."""
    if not panels:
        raise ValueError("plot_density_2d() needs at least one (title, points or log_density) panel.")
    plt = _plt()
    fig, axes = plt.subplots(1, len(panels), figsize=(2.8 * len(panels), 3.0), squeeze=False)
    axis = np.linspace(-lim, lim, grid)
    xx, yy = np.meshgrid(axis, axis)
    square = np.stack([xx.ravel(), yy.ravel()], axis=1).astype("float32")
    for ax, (title, what) in zip(axes[0], panels):
        if callable(what):
            density = np.exp(np.asarray(what(square), "float64")).reshape(grid, grid)
            ax.imshow(density, origin="lower", extent=(-lim, lim, -lim, lim), cmap="viridis", aspect="equal")
        else:
            points = np.asarray(what)
            if points.ndim != 2 or points.shape[1] != 2:
                raise ValueError(f"points must be (n, 2), got {points.shape} for panel {title!r}.")
            ax.scatter(points[:, 0], points[:, 1], s=1, alpha=0.3)
            ax.set_xlim(-lim, lim)
            ax.set_ylim(-lim, lim)
            ax.set_aspect("equal")
        ax.set_title(title, fontsize=9)
        ax.set_xlabel("$x_1$")
        ax.set_ylabel("$x_2$")
    if suptitle:
        fig.suptitle(suptitle)
    fig.tight_layout()
    return fig


def plot_intervals(panels, xlabel, title=None, logx=False):
    """Point estimates with their intervals, one panel per entry of ``panels`` (e.g. one per
    feature space): ``panels`` maps a panel title -> {name: (estimate, low, high)}. Every panel
    lists the names of the first in the same order, top to bottom, so a model's row is the same
    row in each panel and a change of rank shows as a change of position along x. Returns the Figure."""
    if not isinstance(panels, dict) or not panels or not all(isinstance(p, dict) and p for p in panels.values()):
        raise ValueError("plot_intervals() needs a dict of panels, each a non-empty {name: (estimate, low, high)}.")
    names = list(next(iter(panels.values())))
    for panel_title, panel in panels.items():
        if set(panel) != set(names):
            raise ValueError(f"panel {panel_title!r} names {sorted(panel)}, the first names {sorted(names)}: "
                             "every panel must hold the same names.")
        for name, value in panel.items():
            est, low, high = (float(v) for v in value)
            if not (np.isfinite([est, low, high]).all() and low <= est <= high):
                raise ValueError(f"{panel_title!r}, {name!r}: need finite low <= estimate <= high, got {value!r}.")
    plt = _plt()
    fig, axes = plt.subplots(1, len(panels), figsize=(4.2 * len(panels) + 1.6, 0.32 * len(names) + 1.4),
                             sharey=True, squeeze=False)
    rows = np.arange(len(names))[::-1]
    for ax, (panel_title, panel) in zip(axes[0], panels.items()):
        est, low, high = (np.array([float(panel[n][i]) for n in names]) for i in range(3))
        ax.errorbar(est, rows, xerr=[est - low, high - est], fmt="o", ms=4, capsize=3)
        ax.set_title(panel_title, fontsize=10)
        ax.set_xlabel(xlabel)
        if logx:
            ax.set_xscale("log")
        ax.grid(alpha=0.3, axis="x")
    axes[0][0].set_yticks(rows)
    axes[0][0].set_yticklabels(names)
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    return fig
