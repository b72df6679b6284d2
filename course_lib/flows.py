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

``MultiScaleFlow`` is the multi-scale architecture as RealNVP and Glow (Kingma & Dhariwal 2018)
describe it: after each scale, half of the channels are *factored out* (they go straight to the
code, under a N(0, I) or a prior conditioned on the kept half), so later scales work on fewer
dimensions; each step is Glow's ``ActNorm`` (a per-channel affine map started from data),
``InvConv1x1`` (a learned channel rotation, LU-decomposed) and a ``ChannelCoupling`` on channel
halves.

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

from course_lib.checks import CheckedFit, check_int, check_number, concrete, positive_int
from course_lib.distribute import clipped_share, in_replica_step, replica_loss

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


class _Flow(CheckedFit, keras.Model):
    """What the flow models share: a N(0, I) base on z = f(x) of shape ``latent_shape``, the
    exact log-likelihood, sampling by f^-1, and ``fit`` on the mean negative log-likelihood (nats
    per example), logged as ``loss``. A subclass sets ``event_shape``, ``latent_shape``, ``dim``
    and ``loss_tracker``, and defines ``call(x) -> (z, log |det df/dx|)`` and ``inverse(z)``."""

    @property
    def metrics(self):
        return [self.loss_tracker]

    def _check(self, x, shape=None, what="examples"):
        shape = self.event_shape if shape is None else shape
        if tuple(x.shape[1:]) != shape:
            raise ValueError(f"this flow takes {what} of shape {shape}, got a batch of shape {tuple(x.shape)}.")

    def log_prob(self, x, training=None):
        """log p(x) in nats per example: log N(f(x); 0, I) + log |det|."""
        z, logdet = self(x, training=training)
        z = ops.reshape(z, (ops.shape(z)[0], -1))
        return -0.5 * ops.sum(ops.square(z), axis=1) - 0.5 * self.dim * LOG_2PI + logdet

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
            loss = -ops.mean(self.log_prob(ops.cast(x, "float32"), training=True))
            scaled = replica_loss(loss)         # several replicas' gradients are summed (course_lib.distribute)
        grads = clipped_share(self.optimizer, tape.gradient(scaled, self.trainable_weights))
        self.optimizer.apply_gradients(zip(grads, self.trainable_weights))
        self.loss_tracker.update_state(loss)
        return {"loss": self.loss_tracker.result()}

    def fit(self, x=None, *args, **kwargs):
        """Keras' ``fit`` (checked, ``CheckedFit``). On several replicas the ActNorm layers must have
        been started first (``initialize``): their data-dependent start is one batch's statistics."""
        if self.distribute_strategy.num_replicas_in_sync > 1 and any(
                not layer.built or float(layer.initialized.numpy()) < 0.5
                for layer in self._flatten_layers() if isinstance(layer, ActNorm)):
            raise ValueError("on several replicas, start the ActNorm layers before fit: flow.initialize(a batch of x).")
        return super().fit(x, *args, **kwargs)

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
        _check_finite(x, "examples", "; images go in as to_logit(dequantize(levels))")


def _check_finite(x, what, hint=""):
    """ValueError if the values of ``x`` are known now (``checks.concrete``) and hold NaN or inf."""
    values = concrete(x)
    if values is not None and values.size and not (np.isfinite(values.min()) and np.isfinite(values.max())):
        raise ValueError(f"expected finite {what}, got values in [{float(values.min()):.4g}, "
                         f"{float(values.max()):.4g}] (NaN or inf){hint}.")


@keras.saving.register_keras_serializable(package="course_lib")
class RealNVP(_Flow):
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

    def call(self, x, return_steps=False):
        """z = f(x) and log |det df/dx| per example (and every intermediate x, with ``return_steps``)."""
        self._check(x)
        logdet, trace = 0.0, [x]
        for step in self.steps:
            x, ld = step(x)
            logdet, trace = logdet + ld, trace + [x]
        return (x, logdet, trace) if return_steps else (x, logdet)

    def inverse(self, z, return_steps=False):
        """x = f^-1(z) (and every intermediate, from z to x, with ``return_steps``)."""
        self._check(z, self.latent_shape, "codes z")
        trace = [z]
        for step in reversed(self.steps):
            z = step.inverse(z)
            trace.append(z)
        return (z, trace) if return_steps else z

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
# Glow's multi-scale flow: actnorm, invertible 1x1 convolutions, channel couplings, factor-out
# ---------------------------------------------------------------------------------------


def _batch(x):
    return ops.shape(x)[0]


def _pixels(shape):
    """H * W: the number of positions that share one per-channel map (the axes between the
    batch and the channels)."""
    return int(np.prod(shape[1:-1]))


def _even_channels(channels, what):
    if isinstance(channels, bool) or not isinstance(channels, (int, np.integer)) or channels < 2 or channels % 2:
        raise ValueError(f"{what} splits the channels in halves: it needs an even number of channels >= 2, "
                         f"got {channels!r}.")
    return int(channels)


def _check_bool(value, name):
    if not isinstance(value, (bool, np.bool_)):
        raise ValueError(f"{name} must be True or False, got {value!r}.")
    return bool(value)


def _check_channels(layer, input_shape, channels, rank=4):
    if len(input_shape) != rank or input_shape[-1] != channels:
        raise ValueError(f"{layer.name} takes images of {channels} channels, (n, H, W, {channels}), got "
                         f"{tuple(input_shape)}.")


@keras.saving.register_keras_serializable(package="course_lib")
class ActNorm(layers.Layer):
    """Glow's activation normalisation: z = (x + b) * exp(log_s) with one b and one log_s per
    channel (the last axis). Every position has the same diagonal Jacobian, so
    log |det| = H W sum(log_s); ``inverse``: x = z exp(-log_s) - b.

    Data-dependent initialisation: the first batch the layer sees in training (``training=True``,
    as ``fit``'s first step, or ``MultiScaleFlow.initialize``) sets b = -mean and log_s = -log sd
    of each channel over the batch and the positions, so that batch comes out with zero mean and
    unit variance per channel; until then the layer is the identity. ``initialized`` (a weight, so
    a saved layer keeps it) makes it happen once."""

    def build(self, input_shape):
        if len(input_shape) < 2:
            raise ValueError(f"{self.name} takes a batch (n, ..., channels), got {tuple(input_shape)}.")
        channels = input_shape[-1]
        self.bias = self.add_weight(shape=(channels,), initializer="zeros", name="bias")
        self.log_scale = self.add_weight(shape=(channels,), initializer="zeros", name="log_scale")
        self.initialized = self.add_weight(shape=(), initializer="zeros", trainable=False, name="initialized")

    def _initialize_once(self, x):
        import tensorflow as tf            # a conditional update of variables, also inside fit's graph

        def initialize():
            mean, var = tf.nn.moments(tf.stop_gradient(x), axes=list(range(len(x.shape) - 1)))
            self.bias.assign(-mean)
            self.log_scale.assign(-0.5 * tf.math.log(var + 1e-6))
            self.initialized.assign(1.0)
            return tf.constant(True)

        # reads of b and log_s that follow see the update (tf.function orders a variable's uses)
        tf.cond(self.initialized > 0.5, lambda: tf.constant(False), initialize)

    def call(self, x, training=None):
        if training and not in_replica_step():     # on several replicas: initialized before fit (_Flow.fit)
            self._initialize_once(x)
        z = (x + self.bias) * ops.exp(self.log_scale)
        return z, ops.ones((_batch(x),)) * (_pixels(x.shape) * ops.sum(self.log_scale))

    def inverse(self, z):
        return z * ops.exp(-self.log_scale) - self.bias


@keras.saving.register_keras_serializable(package="course_lib")
class InvConv1x1(layers.Layer):
    """Glow's invertible 1x1 convolution: z = W x at every position, a learned mixing of the C
    channels; log |det| = H W log |det W|. W is kept LU-decomposed,

        W = P L (U + diag(sign_s * exp(log_s))),

    P a fixed permutation, L unit lower-triangular, U strictly upper-triangular, sign_s fixed and
    log_s learned, so log |det W| = sum(log_s): no determinant to compute, cheap and stable.
    W starts as a random rotation (drawn from ``seed``): orthogonal, log |det| = 0."""

    def __init__(self, seed=0, **kwargs):
        super().__init__(**kwargs)
        self.seed = check_int(seed, "seed", 0)

    def build(self, input_shape):
        import scipy.linalg

        channels = input_shape[-1] if len(input_shape) >= 2 else 0
        if channels < 2:
            raise ValueError(f"{self.name} mixes channels: it takes a batch (n, ..., C) with C >= 2, got "
                             f"{tuple(input_shape)}.")
        rotation = np.linalg.qr(np.random.default_rng(self.seed).standard_normal((channels, channels)))[0]
        p, lower, upper = scipy.linalg.lu(rotation)           # rotation = p @ lower @ upper
        s = np.diag(upper)

        def weight(name, value, trainable=True):
            return self.add_weight(shape=(channels, channels) if np.ndim(value) == 2 else (channels,), name=name,
                                   initializer=keras.initializers.Constant(np.asarray(value, "float32")),
                                   trainable=trainable)

        self.permutation = weight("permutation", p, trainable=False)
        self.lower = weight("lower", np.tril(lower, -1))
        self.upper = weight("upper", np.triu(upper, 1))
        self.sign_s = weight("sign_s", np.sign(s), trainable=False)
        self.log_s = weight("log_s", np.log(np.abs(s)))
        self.strictly_lower = np.tril(np.ones((channels, channels), "float32"), -1)

    def kernel(self):
        """W, (C, C)."""
        eye = ops.eye(self.strictly_lower.shape[0])
        lower = self.lower * self.strictly_lower + eye
        upper = self.upper * ops.transpose(self.strictly_lower) + ops.diag(self.sign_s * ops.exp(self.log_s))
        return ops.matmul(self.permutation, ops.matmul(lower, upper))

    @staticmethod
    def _mix(x, w):
        """W x at every position: one (positions, C) x (C, C) product (a broadcast batched
        product of the 4-d tensor trains at half the speed on CPU)."""
        return ops.reshape(ops.matmul(ops.reshape(x, (-1, x.shape[-1])), ops.transpose(w)), ops.shape(x))

    def call(self, x):
        return self._mix(x, self.kernel()), ops.ones((_batch(x),)) * (_pixels(x.shape) * ops.sum(self.log_s))

    def inverse(self, z):
        return self._mix(z, ops.cast(ops.inv(ops.cast(self.kernel(), "float64")), z.dtype))

    def get_config(self):
        return {**super().get_config(), "seed": self.seed}


@keras.saving.register_keras_serializable(package="course_lib")
class ChannelCoupling(layers.Layer):
    """An affine coupling on the two halves of the channels (Glow): keeps x_a and moves x_b,

        z_b = x_b * exp(s) + t,  (s, t) = NN(x_a),  log |det| = sum(s),

    with s = scale * tanh(.) (one learned scale per channel, starting at 1) for stability. NN: a
    3x3 and a 1x1 convolution of ``hidden`` channels with ReLU, then a 3x3 convolution that
    starts at zero, so the layer starts as the identity. ``swap``: keep the second half and move
    the first (alternate it when no 1x1 convolution mixes the channels in between)."""

    def __init__(self, channels, hidden=64, swap=False, **kwargs):
        super().__init__(**kwargs)
        self.channels = _even_channels(channels, "a channel coupling")
        self.hidden, self.swap = positive_int(hidden, "hidden"), _check_bool(swap, "swap")
        self.net = [layers.Conv2D(self.hidden, 3, padding="same", activation="relu"),
                    layers.Conv2D(self.hidden, 1, activation="relu"),
                    layers.Conv2D(self.channels, 3, padding="same", kernel_initializer="zeros")]

    def build(self, input_shape):
        _check_channels(self, input_shape, self.channels)
        self.scale = self.add_weight(shape=(self.channels // 2,), initializer="ones", name="scale")
        shape = tuple(input_shape[:-1]) + (self.channels // 2,)
        for layer in self.net:
            layer.build(shape)
            shape = layer.compute_output_shape(shape)

    def _split(self, x):
        a, b = ops.split(x, 2, axis=-1)
        return (b, a) if self.swap else (a, b)

    def _join(self, kept, moved):
        return ops.concatenate([moved, kept] if self.swap else [kept, moved], axis=-1)

    def _s_t(self, kept):
        h = kept
        for layer in self.net:
            h = layer(h)
        raw_s, t = ops.split(h, 2, axis=-1)
        return self.scale * ops.tanh(raw_s), t

    def call(self, x):
        kept, moved = self._split(x)
        s, t = self._s_t(kept)
        return self._join(kept, moved * ops.exp(s) + t), ops.sum(ops.reshape(s, (_batch(x), -1)), axis=1)

    def inverse(self, z):
        kept, moved = self._split(z)
        s, t = self._s_t(kept)
        return self._join(kept, (moved - t) * ops.exp(-s))

    def get_config(self):
        return {**super().get_config(), "channels": self.channels, "hidden": self.hidden, "swap": self.swap}


@keras.saving.register_keras_serializable(package="course_lib")
class FactorOut(layers.Layer):
    """The end of a scale (RealNVP's factor-out, Glow's split): x = [x_a, x_b] (channel halves)
    -> (x_a, e). x_a goes on to the next scale; e is a final part of the latent code.

    ``learned_prior`` (Glow): x_b ~ N(mu(x_a), sigma(x_a)^2), a conditional prior from the kept
    half (mu and log sigma = scale * tanh(.) from a 3x3 convolution of x_a that starts at zero),
    and e = (x_b - mu) / sigma, log |det| = -sum(log sigma). Without it, e = x_b, log |det| = 0.
    Either way e ~ N(0, I) under the model: the flow's whole latent code is standard normal.
    ``call`` returns (x_a, e, log |det|); ``inverse(x_a, e)`` gives x back."""

    def __init__(self, channels, learned_prior=True, **kwargs):
        super().__init__(**kwargs)
        self.channels = _even_channels(channels, "a factor-out")
        self.learned_prior = _check_bool(learned_prior, "learned_prior")
        self.net = layers.Conv2D(self.channels, 3, padding="same", kernel_initializer="zeros") \
            if self.learned_prior else None

    def build(self, input_shape):
        _check_channels(self, input_shape, self.channels)
        if self.learned_prior:
            self.scale = self.add_weight(shape=(self.channels // 2,), initializer="ones", name="scale")
            self.net.build(tuple(input_shape[:-1]) + (self.channels // 2,))

    def _mu_log_sigma(self, kept):
        mu, raw = ops.split(self.net(kept), 2, axis=-1)
        return mu, self.scale * ops.tanh(raw)

    def call(self, x):
        kept, moved = ops.split(x, 2, axis=-1)
        if not self.learned_prior:
            return kept, moved, ops.zeros((_batch(x),))
        mu, log_sigma = self._mu_log_sigma(kept)
        return kept, (moved - mu) * ops.exp(-log_sigma), -ops.sum(ops.reshape(log_sigma, (_batch(x), -1)), axis=1)

    def inverse(self, kept, e):
        if not self.learned_prior:
            return ops.concatenate([kept, e], axis=-1)
        mu, log_sigma = self._mu_log_sigma(kept)
        return ops.concatenate([kept, mu + ops.exp(log_sigma) * e], axis=-1)

    def get_config(self):
        return {**super().get_config(), "channels": self.channels, "learned_prior": self.learned_prior}


@keras.saving.register_keras_serializable(package="course_lib")
class MultiScaleFlow(_Flow):
    """Glow's multi-scale flow (Kingma & Dhariwal 2018; RealNVP's factor-out, Dinh et al. 2017)
    on images (H, W, C) whose sides divide by 2**``scales``. Each scale: a squeeze
    (H, W, C) -> (H/2, W/2, 4C); ``steps`` steps of ActNorm -> InvConv1x1 (``conv1x1``; without
    it the couplings alternate halves instead) -> ChannelCoupling; then, at every scale but the
    last, FactorOut: half of the channels leave as part of the code (with ``learned_prior``, under
    Glow's conditional prior), the other half goes on. MNIST with 2 scales: 28x28x1 -> 14x14x4,
    14x14x2 factored out -> 7x7x8, kept.

    The latent code z = f(x) is every factored-out part, then the last scale's output, each
    flattened, concatenated: (n, H W C), N(0, I) under the model (``latent_shapes``: the parts'
    shapes). ``encode``/``decode`` map whole arrays (decode(encode(x)) == x), ``sample`` draws
    z ~ N(0, temperature^2 I); mixing codes acts on every scale. It takes what RealNVP takes,
    y = to_logit(dequantize(levels)): ``log_prob`` is in nats in that space, so ``log_prob_8bit``
    and ``bits_per_dim`` score it as they score RealNVP. Every ActNorm starts from the first batch
    the flow is trained on, or from ``initialize(x)``. ``fit``, ``evaluate`` and ``predict``
    check the data first (shape, finite values); so do ``log_prob``, ``encode`` and ``decode``."""

    def __init__(self, event_shape, scales=2, steps=4, hidden=64, conv1x1=True, learned_prior=True, seed=0,
                 **kwargs):
        super().__init__(**kwargs)
        self.event_shape = tuple(int(d) for d in event_shape)
        self.scales, self.steps_per_scale = positive_int(scales, "scales"), positive_int(steps, "steps")
        self.hidden, self.seed = positive_int(hidden, "hidden"), check_int(seed, "seed", 0)
        self.conv1x1 = _check_bool(conv1x1, "conv1x1")
        self.learned_prior = _check_bool(learned_prior, "learned_prior")
        if len(self.event_shape) != 3 or min(self.event_shape) < 1:
            raise ValueError(f"a multi-scale flow takes images: event_shape must be (H, W, C), got {self.event_shape}.")
        side = 2 ** self.scales
        if self.event_shape[0] % side or self.event_shape[1] % side:
            raise ValueError(f"a flow of {self.scales} scales squeezes {self.scales} times: height and width must "
                             f"divide by {side}, got {self.event_shape}.")
        if not self.conv1x1 and self.steps_per_scale < 2:
            raise ValueError(f"without 1x1 convolutions the couplings alternate halves: steps must be >= 2 (each "
                             f"half is moved at least once), got {steps!r}.")
        (h, w, c), self.steps, shapes = self.event_shape, [], []
        for scale in range(self.scales):
            h, w, c = h // 2, w // 2, 4 * c
            self.steps.append(Squeeze(name=f"squeeze_{scale}"))
            for k in range(self.steps_per_scale):
                self.steps.append(ActNorm(name=f"actnorm_{scale}_{k}"))
                if self.conv1x1:
                    self.steps.append(InvConv1x1(seed=1000 * self.seed + 100 * scale + k, name=f"conv1x1_{scale}_{k}"))
                self.steps.append(ChannelCoupling(c, self.hidden, swap=not self.conv1x1 and k % 2 == 1,
                                                  name=f"coupling_{scale}_{k}"))
            if scale < self.scales - 1:
                self.steps.append(FactorOut(c, self.learned_prior, name=f"factor_out_{scale}"))
                c //= 2
                shapes.append((h, w, c))
        self.latent_shapes = tuple(shapes) + ((h, w, c),)
        self.dim = int(np.prod(self.event_shape))
        self.latent_shape = (self.dim,)
        self.loss_tracker = keras.metrics.Mean(name="loss")

    def build(self, input_shape):
        shape = (None,) + self.event_shape
        for step in self.steps:
            step.build(shape)
            n, h, w, c = shape
            shape = (n, h // 2, w // 2, 4 * c) if isinstance(step, Squeeze) else \
                (n, h, w, c // 2) if isinstance(step, FactorOut) else shape

    def _check(self, x, shape=None, what="examples"):
        """The shape, and finite values when they are known (``log_prob``, ``encode`` and
        ``decode`` take arrays too)."""
        super()._check(x, shape, what)
        _check_finite(x, what)

    def call(self, x, training=None):
        """z = f(x), (n, D), and log |det df/dx| per example."""
        self._check(x)
        parts, logdet = [], 0.0
        for step in self.steps:
            if isinstance(step, FactorOut):
                x, e, ld = step(x)
                parts.append(e)
            else:
                x, ld = step(x)
            logdet = logdet + ld
        n = _batch(x)
        return ops.concatenate([ops.reshape(p, (n, -1)) for p in parts + [x]], axis=1), logdet

    def inverse(self, z):
        """x = f^-1(z) for codes z of shape (n, D)."""
        self._check(z, self.latent_shape, "codes z")
        n, sizes = _batch(z), [int(np.prod(s)) for s in self.latent_shapes]
        parts = [ops.reshape(p, (n,) + s) for p, s in
                 zip(ops.split(z, np.cumsum(sizes)[:-1].tolist(), axis=1), self.latent_shapes)]
        x = parts.pop()
        for step in reversed(self.steps):
            x = step.inverse(x, parts.pop()) if isinstance(step, FactorOut) else step.inverse(x)
        return x

    def _map(self, fn, a, batch_size):
        positive_int(batch_size, "batch_size")
        a = np.asarray(a, "float32")
        if a.ndim < 2 or not len(a):
            raise ValueError(f"expected a non-empty batch, got an array of shape {a.shape}.")
        return np.concatenate([ops.convert_to_numpy(fn(a[s:s + batch_size])) for s in range(0, len(a), batch_size)])

    def encode(self, x, batch_size=500):
        """The codes z = f(x) of examples x, (n, D) NumPy."""
        return self._map(lambda b: self(b)[0], x, batch_size)

    def decode(self, z, batch_size=500):
        """x = f^-1(z) for codes z of shape (n, D), NumPy."""
        return self._map(self.inverse, z, batch_size)

    def initialize(self, x):
        """Start every ActNorm from the batch ``x`` (otherwise: from the first training batch),
        e.g. a larger batch than fit's; a flow that has started keeps its weights."""
        self(np.asarray(x, "float32"), training=True)

    def get_config(self):
        return {**super().get_config(), "event_shape": list(self.event_shape), "scales": self.scales,
                "steps": self.steps_per_scale, "hidden": self.hidden, "conv1x1": self.conv1x1,
                "learned_prior": self.learned_prior, "seed": self.seed}


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
