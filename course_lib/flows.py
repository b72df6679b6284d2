"""Normalizing flows: RealNVP-style affine coupling layers (Dinh et al. 2017), exact likelihood.

Change of variables: if z = f(x) is invertible and z ~ N(0, I), then

    log p(x) = log N(f(x); 0, I) + log |det df/dx|.

An affine coupling layer keeps the coordinates a binary mask m selects and moves the others
by a scale and shift computed from the kept ones:

    z = m * x + (1 - m) * (x * exp(s(m * x)) + t(m * x)),      log |det| = sum (1 - m) * s

Its Jacobian is triangular (the moved coordinates never feed s or t), so the determinant is
the product of the diagonal, and the inverse is as cheap as the forward map:
x = m * z + (1 - m) * (z - t(m * z)) * exp(-s(m * z)). Layers alternate their masks so that
every coordinate is moved: halves of a vector (``dense``), or a checkerboard of pixels
(``conv``). ``multiscale`` is RealNVP's image architecture: checkerboard couplings at full
resolution, then twice a *squeeze* (each 2x2 block of pixels becomes 4 channels, a
volume-preserving reshape) followed by couplings on *channel masks* (half of the channels
kept), so the later layers see a wider neighbourhood at a quarter of the cost per layer. s = scale * tanh(.) keeps the first steps stable; the last layer of each s/t
network starts at zero, so an untrained flow is the identity.

Images: 8-bit levels are *dequantized*, x = (level + u) / 256 with u ~ U(0, 1), which makes
the data continuous, and mapped by y = logit(alpha + (1 - 2 alpha) x) to the real line; the
flow models y. ``log_prob_8bit`` adds both Jacobians back, so its bits/dim are those of the
discrete 256-level data (an upper bound in expectation over u, Theis et al. 2016), the same
unit as 06a's 256-way PixelCNN.
"""

import math

import keras
import numpy as np
from keras import layers, ops

from course_lib.checks import CheckedFit, check_number, concrete, positive_int

LOG_2PI = math.log(2 * math.pi)
KINDS = ("dense", "conv")            # what a coupling layer's s/t network is
FLOW_KINDS = ("dense", "conv", "multiscale")
CHANNEL_PATTERNS = ("first", "second", "even", "odd")


def checkerboard(shape, parity=0):
    """A (H, W, C) float mask: 1 where (row + column) % 2 == parity."""
    h, w, c = shape
    board = (np.add.outer(np.arange(h), np.arange(w)) % 2 == parity).astype("float32")
    return np.repeat(board[:, :, None], c, axis=2)


def channel_mask(shape, pattern):
    """A (H, W, C) float mask keeping half of the channels: the ``first`` or ``second`` half, or
    the ``even`` or ``odd`` ones. After a squeeze, channel (2 dy + dx) C0 + c holds the pixel at
    (dy, dx) of each 2x2 block, so halves split a block's rows and even/odd its columns (C0 = 1)."""
    h, w, c = shape
    if pattern not in CHANNEL_PATTERNS or c < 2 or c % 2:
        raise ValueError(f"channel masks need an even number of channels and a pattern in {CHANNEL_PATTERNS}, "
                         f"got {c} channels and {pattern!r}.")
    index = np.arange(c)
    keep = {"first": index < c // 2, "second": index >= c // 2, "even": index % 2 == 0, "odd": index % 2 == 1}[pattern]
    return np.broadcast_to(keep.astype("float32"), (h, w, c)).copy()


def halves(dim, parity=0):
    """A (dim,) mask keeping the first half (parity 0) or the second (parity 1)."""
    mask = (np.arange(dim) < dim // 2).astype("float32")
    return mask if parity == 0 else 1 - mask


@keras.saving.register_keras_serializable(package="course_lib")
class AffineCoupling(layers.Layer):
    """One affine coupling layer on examples of ``event_shape`` (a vector for ``dense``, an
    (H, W, C) image for ``conv``); ``mask`` has that shape, 1 = kept."""

    def __init__(self, mask, kind="dense", hidden=64, **kwargs):
        super().__init__(**kwargs)
        if kind not in KINDS:
            raise ValueError(f"kind must be one of {KINDS}, got {kind!r}.")
        self.mask_values = np.asarray(mask, "float32")
        if not np.isin(self.mask_values, (0.0, 1.0)).all() or self.mask_values.min() == self.mask_values.max():
            raise ValueError("mask must hold 0s and 1s, and both: a coupling layer keeps some coordinates "
                             "and moves the others.")
        self.kind, self.hidden = kind, positive_int(hidden, "hidden")
        hidden, channels = self.hidden, self.mask_values.shape[-1]
        if kind == "dense":
            self.net = [layers.Dense(hidden, activation="relu"), layers.Dense(hidden, activation="relu"),
                        layers.Dense(2 * channels, kernel_initializer="zeros")]
        else:
            self.net = [layers.Conv2D(hidden, 3, padding="same", activation="relu"),
                        layers.Conv2D(hidden, 3, padding="same", activation="relu"),
                        layers.Conv2D(2 * channels, 3, padding="same", kernel_initializer="zeros")]

    def build(self, input_shape):
        if tuple(input_shape[1:]) != self.mask_values.shape:
            raise ValueError(f"this coupling layer takes examples of shape {self.mask_values.shape}, got "
                             f"{tuple(input_shape)}.")
        self.scale = self.add_weight(shape=self.mask_values.shape, initializer="ones", name="scale")
        shape = input_shape
        for layer in self.net:
            layer.build(shape)
            shape = layer.compute_output_shape(shape)

    def _s_t(self, kept):
        h = kept
        for layer in self.net:
            h = layer(h)
        raw_s, t = ops.split(h, 2, axis=-1)
        moved = 1.0 - ops.convert_to_tensor(self.mask_values)
        return moved * self.scale * ops.tanh(raw_s), moved * t

    def call(self, x):
        """z and log |det dz/dx| per example."""
        mask = ops.convert_to_tensor(self.mask_values)
        s, t = self._s_t(x * mask)
        z = x * mask + (1.0 - mask) * (x * ops.exp(s) + t)
        return z, ops.sum(ops.reshape(s, (ops.shape(x)[0], -1)), axis=1)

    def inverse(self, z):
        mask = ops.convert_to_tensor(self.mask_values)
        s, t = self._s_t(z * mask)
        return z * mask + (1.0 - mask) * (z - t) * ops.exp(-s)

    def get_config(self):
        return {**super().get_config(), "mask": self.mask_values.tolist(), "kind": self.kind, "hidden": self.hidden}


@keras.saving.register_keras_serializable(package="course_lib")
class Squeeze(layers.Layer):
    """(H, W, C) -> (H/2, W/2, 4C): each 2x2 block of pixels becomes 4 channels. A permutation
    of the coordinates, so log |det| = 0; ``inverse`` undoes it."""

    def call(self, x):
        n, h, w, c = ops.shape(x)[0], x.shape[1], x.shape[2], x.shape[3]
        x = ops.reshape(x, (n, h // 2, 2, w // 2, 2, c))
        x = ops.transpose(x, (0, 1, 3, 2, 4, 5))
        return ops.reshape(x, (n, h // 2, w // 2, 4 * c)), ops.zeros((n,))

    def inverse(self, z):
        n, h, w, c = ops.shape(z)[0], z.shape[1], z.shape[2], z.shape[3]
        z = ops.reshape(z, (n, h, w, 2, 2, c // 4))
        z = ops.transpose(z, (0, 1, 3, 2, 4, 5))
        return ops.reshape(z, (n, 2 * h, 2 * w, c // 4))


@keras.saving.register_keras_serializable(package="course_lib")
class RealNVP(CheckedFit, keras.Model):
    """A stack of ``couplings`` affine coupling layers with alternating masks and a N(0, I) base.
    ``multiscale`` (images whose sides divide by 4): ``couplings`` layers at each of three
    scales, full resolution (checkerboards), then after each of two squeezes (channel masks
    cycling first / second / even / odd); z then has shape ``latent_shape``, (H/4, W/4, 16C).
    ``fit(x)`` minimises the mean negative log-likelihood (nats per example), logged as ``loss``;
    ``fit``, ``evaluate`` and ``predict`` check the data first (shape, finite values;
    ``checks.run_checked``)."""

    def __init__(self, event_shape, couplings=6, kind="dense", hidden=64, seed=0, **kwargs):
        super().__init__(**kwargs)
        self.event_shape = tuple(int(d) for d in event_shape)
        if isinstance(couplings, bool) or not isinstance(couplings, (int, np.integer)) or couplings < 2:
            raise ValueError(f"couplings must be an integer >= 2 (each half is moved at least once), got {couplings!r}.")
        if kind == "dense" and len(self.event_shape) != 1:
            raise ValueError(f"a dense flow takes vectors: event_shape must be (d,), got {self.event_shape}.")
        if kind not in FLOW_KINDS:
            raise ValueError(f"kind must be one of {FLOW_KINDS}, got {kind!r}.")
        if kind in ("conv", "multiscale") and len(self.event_shape) != 3:
            raise ValueError(f"a {kind} flow takes images: event_shape must be (H, W, C), got {self.event_shape}.")
        if kind == "multiscale" and (self.event_shape[0] % 4 or self.event_shape[1] % 4):
            raise ValueError(f"a multiscale flow squeezes twice: height and width must divide by 4, got "
                             f"{self.event_shape}.")
        self.couplings, self.kind, self.hidden, self.seed = int(couplings), kind, positive_int(hidden, "hidden"), seed
        hidden = self.hidden                    # a Python int: Keras layers refuse NumPy integers
        if kind == "dense":
            self.steps = [AffineCoupling(halves(self.event_shape[0], i % 2), "dense", hidden, name=f"coupling_{i}")
                          for i in range(couplings)]
        elif kind == "conv":
            self.steps = [AffineCoupling(checkerboard(self.event_shape, i % 2), "conv", hidden, name=f"coupling_{i}")
                          for i in range(couplings)]
        else:
            h, w, c = self.event_shape
            self.steps = [AffineCoupling(checkerboard(self.event_shape, i % 2), "conv", hidden, name=f"coupling_0_{i}")
                          for i in range(couplings)]
            for scale in (1, 2):
                self.steps.append(Squeeze(name=f"squeeze_{scale}"))
                shape = (h >> scale, w >> scale, c << (2 * scale))
                self.steps += [AffineCoupling(channel_mask(shape, CHANNEL_PATTERNS[i % 4]), "conv", hidden,
                                              name=f"coupling_{scale}_{i}") for i in range(couplings)]
        self.latent_shape = self.event_shape if kind != "multiscale" else \
            (self.event_shape[0] // 4, self.event_shape[1] // 4, self.event_shape[2] * 16)
        self.loss_tracker = keras.metrics.Mean(name="loss")
        self.dim = int(np.prod(self.event_shape))

    @property
    def metrics(self):
        return [self.loss_tracker]

    def _check(self, x, shape=None, what="examples"):
        shape = self.event_shape if shape is None else shape
        if tuple(x.shape[1:]) != shape:
            raise ValueError(f"this flow takes {what} of shape {shape}, got a batch of shape {tuple(x.shape)}.")

    def call(self, x, return_steps=False):
        """z = f(x) and log |det df/dx| per example (and every intermediate x, with ``return_steps``)."""
        self._check(x)
        logdet, trace = 0.0, [x]
        for step in self.steps:
            x, ld = step(x)
            logdet, trace = logdet + ld, trace + [x]
        return (x, logdet, trace) if return_steps else (x, logdet)

    def log_prob(self, x):
        """log p(x) in nats per example: log N(f(x); 0, I) + log |det|."""
        z, logdet = self(x)
        z = ops.reshape(z, (ops.shape(z)[0], -1))
        return -0.5 * ops.sum(ops.square(z), axis=1) - 0.5 * self.dim * LOG_2PI + logdet

    def inverse(self, z, return_steps=False):
        """x = f^-1(z) (and every intermediate, from z to x, with ``return_steps``)."""
        self._check(z, self.latent_shape, "codes z")
        trace = [z]
        for step in reversed(self.steps):
            z = step.inverse(z)
            trace.append(z)
        return (z, trace) if return_steps else z

    def sample(self, n, seed=0, temperature=1.0):
        """``n`` samples x = f^-1(z), z ~ N(0, temperature^2 I), as NumPy."""
        positive_int(n, "n")
        check_number(temperature, "temperature", at_least=0)
        z = temperature * np.random.default_rng(seed).standard_normal((n,) + self.latent_shape).astype("float32")
        return ops.convert_to_numpy(self.inverse(z))

    def train_step(self, data):
        import tensorflow as tf

        x, _, _ = keras.utils.unpack_x_y_sample_weight(data)
        with tf.GradientTape() as tape:
            loss = -ops.mean(self.log_prob(ops.cast(x, "float32")))
        grads = tape.gradient(loss, self.trainable_weights)
        self.optimizer.apply_gradients(zip(grads, self.trainable_weights))
        self.loss_tracker.update_state(loss)
        return {"loss": self.loss_tracker.result()}

    def test_step(self, data):
        x, _, _ = keras.utils.unpack_x_y_sample_weight(data)
        self.loss_tracker.update_state(-ops.mean(self.log_prob(ops.cast(x, "float32"))))
        return {"loss": self.loss_tracker.result()}

    def _check_inputs(self, x):
        """What ``fit``, ``evaluate`` and ``predict`` check: examples of ``event_shape``, finite
        when their values are known (NaN in, NaN loss out, and the weights are lost)."""
        if isinstance(x, (list, tuple)) or not hasattr(x, "shape"):
            raise ValueError(f"this flow takes one array of examples, got a {type(x).__name__}.")
        self._check(x)
        values = concrete(x)
        if values is not None and values.size and not (np.isfinite(values.min()) and np.isfinite(values.max())):
            raise ValueError(f"expected finite examples, got values in [{float(values.min()):.4g}, "
                             f"{float(values.max()):.4g}] (NaN or inf); images go in as to_logit(dequantize(levels)).")

    def get_config(self):
        return {**super().get_config(), "event_shape": list(self.event_shape), "couplings": self.couplings,
                "kind": self.kind, "hidden": self.hidden, "seed": self.seed}


MNIST_SIZES = dict(kind="multiscale", couplings=3, hidden=48)   # 09's MNIST flow, and its checkpoint


def make_optimizer(epochs, steps_per_epoch, peak_lr=1e-3, clipnorm=100.0):
    """Adam on a cosine from ``peak_lr`` to 5% of it, with the gradient's global norm clipped:
    a deep flow's loss can jump by a few bits/dim after an unlucky step (seen while choosing 09's
    sizes, with s/t networks of 64 channels and no clip: 2.9, then 5.2, then 2.4 validation
    bits/dim in three epochs)."""
    positive_int(epochs, "epochs"), positive_int(steps_per_epoch, "steps_per_epoch")
    check_number(peak_lr, "peak_lr", above=0), check_number(clipnorm, "clipnorm", above=0)
    schedule = keras.optimizers.schedules.CosineDecay(peak_lr, epochs * steps_per_epoch, alpha=0.05)
    return keras.optimizers.Adam(schedule, global_clipnorm=clipnorm)


# ---------------------------------------------------------------------------------------
# 8-bit images: dequantize, logit, and back
# ---------------------------------------------------------------------------------------

LOGIT_ALPHA = 0.05


def _check_levels(levels):
    levels = np.asarray(levels)
    if not np.issubdtype(levels.dtype, np.integer) or levels.min() < 0 or levels.max() > 255:
        raise ValueError(f"expected 8-bit levels (integers 0..255), got {levels.dtype} in "
                         f"[{levels.min()}, {levels.max()}].")
    return levels


def dequantize(levels, seed=0):
    """8-bit levels -> (level + u) / 256 with u ~ U(0, 1), shape (n, H, W, 1), float32."""
    levels = _check_levels(levels)
    u = np.random.default_rng(seed).uniform(size=levels.shape)
    x = ((levels + u) / 256.0).astype("float32")
    return x.reshape(x.shape + (1,)) if x.ndim == 3 else x


def to_logit(x, alpha=LOGIT_ALPHA):
    """y = logit(alpha + (1 - 2 alpha) x) and log |dy/dx| summed per example.

    ``x``: a batch (n, ...) of dequantized values in [0, 1] (``dequantize``), floats; 8-bit
    levels (an integer array, e.g. uint8 MNIST) are rejected: dequantize them first.
    ``alpha`` in (0, 0.5) keeps the logit finite at 0 and 1."""
    alpha = check_number(alpha, "alpha", above=0, below=0.5)
    x = np.asarray(x)
    if not np.issubdtype(x.dtype, np.floating):
        hint = " (8-bit levels? use flows.dequantize(levels) first)" if np.issubdtype(x.dtype, np.integer) else ""
        raise ValueError(f"to_logit() expects dequantized values in [0, 1] as floats{hint}, got dtype {x.dtype}.")
    if x.ndim < 1 or not len(x):
        raise ValueError(f"to_logit() expects a non-empty batch (n, ...), got shape {x.shape}.")
    if not (x.min() >= 0 and x.max() <= 1):                   # NaN fails both comparisons
        raise ValueError(f"to_logit() expects dequantized values in [0, 1] (flows.dequantize), got values in "
                         f"[{float(x.min()):.4g}, {float(x.max()):.4g}].")
    p = alpha + (1 - 2 * alpha) * x.astype("float64")
    y = np.log(p) - np.log1p(-p)
    logdet = (math.log(1 - 2 * alpha) - np.log(p) - np.log1p(-p)).reshape(len(p), -1).sum(axis=1)
    return y.astype("float32"), logdet


def from_logit(y, alpha=LOGIT_ALPHA):
    """The inverse of ``to_logit``: back to [0, 1], clipped."""
    return np.clip((1 / (1 + np.exp(-np.asarray(y, "float64"))) - alpha) / (1 - 2 * alpha), 0, 1).astype("float32")


def log_prob_8bit(flow, levels, seed=0, batch_size=500):
    """log P(levels) in nats per image (n,) for 8-bit images, from one dequantized draw: the
    flow's log p(y), plus log |dy/dx| (the density of x on [0, 1]^D), plus D log(1/256) (each
    level is a cube of side 1/256 in x)."""
    positive_int(batch_size, "batch_size")
    x = dequantize(levels, seed)
    y, logdet = to_logit(x)
    log_p = np.concatenate([ops.convert_to_numpy(flow.log_prob(y[s:s + batch_size]))
                            for s in range(0, len(y), batch_size)])
    dim = int(np.prod(x.shape[1:]))
    return log_p + logdet - dim * math.log(256)


def bits_per_dim(log_p, dim=784):
    """-log2 P / D: bits per pixel of 8-bit data; ``dim`` (D) is the number of pixels per image,
    a positive integer."""
    positive_int(dim, "dim")
    return -np.asarray(log_p) / (dim * math.log(2))
