"""Denoising diffusion (DDPM, Ho et al. 2020) and its deterministic sampler (DDIM, Song et al.
2021), on the course's data.

Forward process: T small Gaussian noising steps, x_t = sqrt(1 - beta_t) x_{t-1} + sqrt(beta_t) e.
They compose in closed form,

    q(x_t | x_0) = N(sqrt(abar_t) x_0, (1 - abar_t) I),    abar_t = prod_{s<=t} (1 - beta_s),

so training draws t and e ~ N(0, I), builds x_t = sqrt(abar_t) x_0 + sqrt(1 - abar_t) e in one
line, and regresses the network's eps(x_t, t) on e (the "simple" loss, mean squared error).
Sampling runs the chain backwards from x_T ~ N(0, I):

    DDPM   x_{t-1} = (x_t - beta_t / sqrt(1 - abar_t) eps) / sqrt(1 - beta_t) + sigma_t z,  T network calls
    DDIM   x0_hat = (x_t - sqrt(1 - abar_t) eps) / sqrt(abar_t);
           x_s = sqrt(abar_s) x0_hat + sqrt(1 - abar_s) eps,  on a few steps t > s,  no noise

Times are 1..T here (``t = 0`` is the data); ``Schedule.alpha_bar[t]`` holds abar_t with
``alpha_bar[0] = 1``.

Two practices that make short runs work, both off by default:

    EMA       w_ema <- d w_ema + (1 - d) w after every optimizer step (``Diffusion(..., ema_decay=0.999)``);
              sample with the average inside ``with model.ema_weights(): ...``
    clipping  x0_hat divides the network's error by sqrt(abar_t), the signal rate: at t = T that is
              an amplification of 160 (linear schedule, abar_T = 4.0e-5) or 2e4 (cosine, abar_T = 2.4e-9).
              ``clip_x0=1`` clips x0_hat to the data's [-1, 1] in the samplers (and re-derives eps
              from it); ``make_schedule(..., min_signal_rate=r)`` keeps sqrt(abar_t) >= r.
"""

import contextlib
import math
from dataclasses import dataclass

import keras
import numpy as np
from keras import layers, ops

from course_lib.checks import CheckedFit, check_int, check_number, concrete, positive_int
from course_lib.distribute import clipped_share, replica_loss, replica_rows, replicas

SCHEDULES = ("linear", "cosine")


@dataclass(frozen=True)
class Schedule:
    """betas[t] and alpha_bar[t] for t = 0..T (index 0: no noise, beta_0 = 0, abar_0 = 1)."""

    betas: np.ndarray
    alpha_bar: np.ndarray

    @property
    def T(self):
        return len(self.betas) - 1


def make_schedule(T=1000, kind="linear", beta_1=1e-4, beta_T=0.02, min_signal_rate=None):
    """The variance schedule: ``linear`` betas from ``beta_1`` to ``beta_T`` (Ho et al. 2020),
    or ``cosine`` (Nichol & Dhariwal 2021: abar_t = cos^2((t/T + s) / (1 + s) * pi/2), s = 0.008,
    betas clipped at 0.999).

    ``min_signal_rate`` r in (0, 1) bounds the signal rate sqrt(abar_t) from below:
    abar_t = max(abar_t, r^2), so x0_hat amplifies the network's error at most 1/r times. Where
    abar_t is above r^2 nothing changes; the steps below it stay at r^2 (beta = 0 after the first).
    Without it (T = 1000) the linear schedule ends at abar_T = 4.0e-5, the cosine one at 2.4e-9."""
    positive_int(T, "T")
    if kind not in SCHEDULES:
        raise ValueError(f"kind must be one of {SCHEDULES}, got {kind!r}.")
    if min_signal_rate is not None:
        check_number(min_signal_rate, "min_signal_rate", above=0, below=1)
    if kind == "linear":
        if not 0 < beta_1 <= beta_T < 1:
            raise ValueError(f"need 0 < beta_1 <= beta_T < 1, got beta_1={beta_1}, beta_T={beta_T}.")
        betas = np.linspace(beta_1, beta_T, T)
    else:
        s = 0.008
        f = np.cos((np.arange(T + 1) / T + s) / (1 + s) * np.pi / 2) ** 2
        betas = np.clip(1 - f[1:] / f[:-1], 0, 0.999)
    betas = np.concatenate([[0.0], betas])
    alpha_bar = np.cumprod(1 - betas)
    if min_signal_rate is not None:
        low = alpha_bar < min_signal_rate ** 2                    # a tail: alpha_bar decreases
        alpha_bar = np.maximum(alpha_bar, min_signal_rate ** 2)
        betas[low] = 1 - alpha_bar[low] / alpha_bar[np.flatnonzero(low) - 1]
    return Schedule(betas=betas, alpha_bar=alpha_bar)


def _check_t(t, schedule, x=None):
    """``t`` as an integer array in 1..T; with a batch ``x``, one t per example (shape (n,))
    or one t for all (a scalar)."""
    t = np.asarray(t)
    if not np.issubdtype(t.dtype, np.integer) or not t.size or t.min() < 1 or t.max() > schedule.T:
        got = f"{t.min()}..{t.max()}" if t.size and np.issubdtype(t.dtype, np.number) else f"shape {t.shape}"
        raise ValueError(f"t must hold integers in 1..{schedule.T}, got {got} ({t.dtype}).")
    if x is not None:
        x_shape = np.shape(x)
        if not x_shape or (t.ndim and t.shape != x_shape[:1]):
            raise ValueError(f"t must hold one time per example, shape ({x_shape[0] if x_shape else 'n'},), or be "
                             f"one integer for all; got t of shape {t.shape} for a batch of shape {x_shape}.")
    return t


def _check_same_shape(a, b, name_a, name_b):
    if np.shape(a) != np.shape(b):
        raise ValueError(f"{name_b} must have the shape of {name_a}, {np.shape(a)}, got {np.shape(b)}.")


def _per_example(values, like):
    """(n,) coefficients shaped to broadcast against a batch ``like`` (n, ...)."""
    return np.reshape(values, (-1,) + (1,) * (np.ndim(like) - 1)).astype("float32")


def q_sample(x0, t, noise, schedule):
    """x_t = sqrt(abar_t) x_0 + sqrt(1 - abar_t) e, for a batch with one t per example (NumPy).
    ``t``: shape (n,) for a batch ``x0`` of n examples (or one integer for all); ``noise``: the
    shape of ``x0``."""
    x0 = np.asarray(x0, "float32")
    _check_same_shape(x0, noise, "x0", "noise")
    ab = schedule.alpha_bar[_check_t(t, schedule, x0)]
    return _per_example(np.sqrt(ab), x0) * x0 + _per_example(np.sqrt(1 - ab), x0) * np.asarray(noise, "float32")


def predict_x0(x_t, t, eps, schedule):
    """The clean example a noise estimate implies: (x_t - sqrt(1 - abar_t) eps) / sqrt(abar_t).
    ``t`` and ``eps`` as in ``q_sample``."""
    _check_same_shape(x_t, eps, "x_t", "eps")
    ab = schedule.alpha_bar[_check_t(t, schedule, x_t)]
    return (np.asarray(x_t, "float32") - _per_example(np.sqrt(1 - ab), x_t) * np.asarray(eps, "float32")) \
        / _per_example(np.sqrt(ab), x_t)


# ---------------------------------------------------------------------------------------
# Networks: eps(x_t, t)
# ---------------------------------------------------------------------------------------

@keras.saving.register_keras_serializable(package="course_lib")
class TimeEmbedding(layers.Layer):
    """Sinusoidal features of the step t (as in the Transformer's positions), shape (n, dim)."""

    def __init__(self, dim=32, max_period=10_000, **kwargs):
        super().__init__(**kwargs)
        if isinstance(dim, bool) or not isinstance(dim, (int, np.integer)) or dim < 2 or dim % 2:
            raise ValueError(f"dim must be an even integer >= 2, got {dim!r}.")
        self.dim, self.max_period = int(dim), max_period

    def call(self, t):
        t = ops.reshape(ops.cast(t, "float32"), (-1, 1))
        freqs = ops.exp(-math.log(self.max_period) * ops.arange(self.dim // 2, dtype="float32") / (self.dim // 2))
        angles = t * freqs[None, :]
        return ops.concatenate([ops.sin(angles), ops.cos(angles)], axis=-1)

    def compute_output_shape(self, input_shape):
        return (input_shape[0], self.dim)

    def get_config(self):
        return {**super().get_config(), "dim": self.dim, "max_period": self.max_period}


def _time_input(continuous_time):
    """The step's input: an integer t in 1..T (diffusion), or a float t in [0, 1] (flow matching,
    ``continuous_time=True``), scaled by 1,000 so that the sinusoids see the same range."""
    if not continuous_time:
        return keras.Input((), dtype="int32", name="t"), None
    t = keras.Input((), dtype="float32", name="t")
    return t, layers.Rescaling(1000.0, name="t_times_1000")(t)


def _conditioning(temb, width, num_classes, label_std=None):
    """The label's input and ``temb`` plus its embedding; label ``num_classes`` is the "no label"
    token of classifier-free guidance (``course_lib.guidance``). ``num_classes=None``: no label.
    ``label_std``: the embedding starts N(0, label_std^2) (PyTorch's default is 1); None: Keras'
    default, uniform in [-0.05, 0.05]."""
    if num_classes is None:
        return [], temb
    num_classes = positive_int(num_classes, "num_classes")
    init = "uniform" if label_std is None else keras.initializers.RandomNormal(
        stddev=check_number(label_std, "label_std", above=0))
    y = keras.Input((), dtype="int32", name="label")
    return [y], layers.Add()([temb, layers.Embedding(num_classes + 1, width, embeddings_initializer=init,
                                                     name="label_embedding")(y)])


def build_mlp_denoiser(input_dim=2, hidden=128, depth=3, time_dim=32, num_classes=None, continuous_time=False,
                       label_std=None):
    """eps(x_t, t) for 2-D toy data: [x_t, embedding(t)] -> ``depth`` Dense(hidden, SiLU) -> Dense(input_dim).
    ``num_classes``, ``label_std``: a third input, the label (see ``_conditioning``); ``continuous_time``: t is a
    float in [0, 1] (flow matching's velocity network, ``course_lib.flow_matching``)."""
    input_dim, hidden = positive_int(input_dim, "input_dim"), positive_int(hidden, "hidden")
    depth, time_dim = check_int(depth, "depth", minimum=0), check_int(time_dim, "time_dim", minimum=2)
    x = keras.Input((input_dim,), name="x_t")
    t, t_scaled = _time_input(continuous_time)
    temb = layers.Dense(hidden, activation="silu")(TimeEmbedding(time_dim)(t if t_scaled is None else t_scaled))
    labels, temb = _conditioning(temb, hidden, num_classes, label_std)
    h = layers.Dense(hidden)(x)
    for _ in range(depth):
        h = layers.Dense(hidden, activation="silu")(layers.Add()([h, temb]))
    name = "velocity" if continuous_time else "eps"
    return keras.Model([x, t] + labels, layers.Dense(input_dim, name=name)(h),
                       name="mlp_velocity" if continuous_time else "mlp_denoiser")


def build_unet(filters=32, time_dim=64, num_classes=None, continuous_time=False, label_std=None):
    """A small U-Net eps(x_t, t) for (28, 28, 1) images: 28 -> 14 -> 7 and back, with skip
    connections; the step's embedding is added to every block's features. ``num_classes``: a
    third input, the label, whose embedding (``label_std``: see ``_conditioning``) is added to the
    step's; ``continuous_time``: t is a float in [0, 1] and the output a velocity (flow matching)."""
    filters, time_dim = positive_int(filters, "filters"), check_int(time_dim, "time_dim", minimum=2)
    x = keras.Input((28, 28, 1), name="x_t")
    t, t_scaled = _time_input(continuous_time)
    temb = layers.Dense(time_dim, activation="silu")(TimeEmbedding(time_dim)(t if t_scaled is None else t_scaled))
    labels, temb = _conditioning(temb, time_dim, num_classes, label_std)

    def block(h, width):
        h = layers.Conv2D(width, 3, padding="same", activation="silu")(h)
        h = layers.Add()([h, layers.Reshape((1, 1, width))(layers.Dense(width)(temb))])
        return layers.Conv2D(width, 3, padding="same", activation="silu")(h)

    h28 = block(x, filters)                                                   # 28 x 28
    h14 = block(layers.AveragePooling2D(2)(h28), 2 * filters)                  # 14 x 14
    h7 = block(layers.AveragePooling2D(2)(h14), 2 * filters)                   # 7 x 7
    u14 = block(layers.Concatenate()([layers.UpSampling2D()(h7), h14]), 2 * filters)
    u28 = block(layers.Concatenate()([layers.UpSampling2D()(u14), h28]), filters)
    name = "velocity" if continuous_time else "eps"
    return keras.Model([x, t] + labels, layers.Conv2D(1, 1, name=name)(u28),
                       name="unet" if not (continuous_time or num_classes) else f"unet_{name}"
                       + ("_conditional" if num_classes else ""))


class WeightAverage:
    """Mixin for a model that trains one ``network``: an exponential moving average of its
    trainable weights (``ema_decay`` d in (0, 1), or None for none), kept as non-trainable
    weights of the model (saved with it) and updated by ``update_ema`` after every optimizer
    step; ``ema_warmup`` uses min(d, (1 + n) / (10 + n)) at the n-th update, so the average soon
    forgets the random start. ``with model.ema_weights(): ...`` samples with the average."""

    @property
    def _averaged(self):
        """The network whose weights are averaged (the denoiser, the velocity network)."""
        raise NotImplementedError

    def _init_average(self, network, ema_decay, ema_warmup):
        if ema_decay is not None:
            ema_decay = check_number(ema_decay, "ema_decay", above=0, below=1)
            # "only_first_replica": on several replicas (course_lib.distribute) the weights, hence their
            # average, are the same on every replica, and one replica's update is kept
            self.ema = [self.add_weight(shape=w.shape, initializer="zeros", trainable=False, name=f"ema_{i}",
                                        aggregation="only_first_replica")
                        for i, w in enumerate(network.trainable_weights)]
            for w_ema, w in zip(self.ema, network.trainable_weights):
                w_ema.assign(w)
            self.ema_updates = self.add_weight(shape=(), initializer="zeros", dtype="int64", trainable=False,
                                               name="ema_updates", aggregation="only_first_replica")
        self.ema_decay, self.ema_warmup = ema_decay, bool(ema_warmup)

    def update_ema(self):
        """w_ema <- d w_ema + (1 - d) w for each trainable weight w of the denoiser."""
        n = ops.cast(self.ema_updates, "float32")
        d = ops.minimum(self.ema_decay, (1 + n) / (10 + n)) if self.ema_warmup else self.ema_decay
        for w_ema, w in zip(self.ema, self._averaged.trainable_weights):
            w_ema.assign(d * w_ema + (1 - d) * w)
        self.ema_updates.assign_add(1)

    @contextlib.contextmanager
    def ema_weights(self):
        """Inside the block the network holds the averaged weights (sample from ``model.denoiser``
        or ``model.velocity`` as usual, or from the network the block yields); on exit the raw
        weights come back exactly."""
        if self.ema_decay is None:
            raise ValueError(f"this model keeps no moving average of its weights: build it with "
                             f"{type(self).__name__}(..., ema_decay=0.999).")
        weights = self._averaged.trainable_weights
        raw = [ops.convert_to_numpy(w) for w in weights]
        for w, w_ema in zip(weights, self.ema):
            w.assign(w_ema)
        try:
            yield self._averaged
        finally:
            for w, value in zip(weights, raw):
                w.assign(value)


class TrainsOneNetwork(WeightAverage):
    """Mixin for a model that trains one network (``_averaged``) on one loss (``_data_loss(data)``,
    the batch as ``fit`` passes it): logs ``loss``; on several replicas (``course_lib.distribute``)
    the gradient is the global batch's; the average of the weights follows every step."""

    @property
    def metrics(self):
        return [self.loss_tracker]

    def call(self, inputs, training=False):
        return self._averaged(inputs, training=training)

    def _data_loss(self, data):
        raise NotImplementedError

    def train_step(self, data):
        import tensorflow as tf

        network = self._averaged
        with tf.GradientTape() as tape:
            loss = self._data_loss(data)
            scaled = replica_loss(loss)         # several replicas' gradients are summed
        grads = clipped_share(self.optimizer, tape.gradient(scaled, network.trainable_weights))
        self.optimizer.apply_gradients(zip(grads, network.trainable_weights))
        if self.ema_decay is not None:
            self.update_ema()
        self.loss_tracker.update_state(loss)
        return {"loss": self.loss_tracker.result()}

    def test_step(self, data):
        self.loss_tracker.update_state(self._data_loss(data))
        return {"loss": self.loss_tracker.result()}


class ExampleChecks:
    """Mixin: what ``fit`` and ``evaluate`` check of the examples of a model whose network takes
    ``input_shape_`` examples (``kind`` names the model in the messages)."""

    kind = "model"

    def _check_batch(self, x):
        """The shape of a batch (static: a tensor being traced, a tensor spec); None matches anything."""
        shape = tuple(x.shape)
        if len(shape) != 1 + len(self.input_shape_) or any(g not in (e, None) for g, e in
                                                           zip(shape[1:], self.input_shape_)):
            raise ValueError(f"this {self.kind} takes examples of shape {self.input_shape_}, got a batch "
                             f"of shape {shape}.")

    def _check_inputs(self, x):
        """What ``fit`` and ``evaluate`` check: the shape, and the values when they are known:
        finite, and for images within [-1, 1] (NaN fails both comparisons of the min/max check)."""
        if isinstance(x, (list, tuple)) or not hasattr(x, "shape"):
            raise ValueError(f"a {self.kind} trains on one array of examples, got a {type(x).__name__}.")
        self._check_batch(x)
        values = concrete(x)
        if values is None or not values.size:
            return
        if not np.issubdtype(values.dtype, np.number):
            raise ValueError(f"expected examples as numbers, got dtype {values.dtype}.")
        lo, hi = float(np.min(values)), float(np.max(values))
        if len(self.input_shape_) == 3 and not (lo >= -1.001 and hi <= 1.001):
            raise ValueError(f"images go into a {self.kind} scaled to [-1, 1] (diffusion.to_model_range), "
                             f"got values in [{lo:g}, {hi:g}].")
        if not (np.isfinite(lo) and np.isfinite(hi)):
            raise ValueError(f"expected finite examples, got values in [{lo:g}, {hi:g}] (NaN or inf).")


@keras.saving.register_keras_serializable(package="course_lib")
class Diffusion(TrainsOneNetwork, ExampleChecks, CheckedFit, keras.Model):
    """A denoiser network and its schedule, trained on the simple loss: ``fit(x0)`` with
    examples scaled to [-1, 1] (images) or standardised (points). Logs ``loss``, the mean
    squared error between the true and the predicted noise.

    ``fit`` and ``evaluate`` check the data first (``checks.run_checked``: arrays in full, a
    tf.data pipeline or a generator batch by batch): the denoiser's example shape, finite
    values, and images in [-1, 1] (``to_model_range``).

    ``min_signal_rate``: see ``make_schedule``. ``ema_decay`` d in (0, 1) keeps an exponential
    moving average of the denoiser's trainable weights, non-trainable weights of this model
    (saved with it), updated after every optimizer step; ``ema_warmup`` uses
    min(d, (1 + n) / (10 + n)) at the n-th update, so the average soon forgets the random start."""

    checks_predict = False                      # predict takes (x_t, t), not clean examples
    kind = "diffusion model"

    def __init__(self, denoiser, T=1000, schedule="linear", seed=0, min_signal_rate=None, ema_decay=None,
                 ema_warmup=True, **kwargs):
        super().__init__(**kwargs)
        self.denoiser, self.schedule_kind = denoiser, schedule
        self.schedule = make_schedule(T, schedule, min_signal_rate=min_signal_rate)
        self.min_signal_rate = None if min_signal_rate is None else float(min_signal_rate)
        self._init_average(denoiser, ema_decay, ema_warmup)
        self.seed_generator = keras.random.SeedGenerator(seed)
        self._alpha_bar = ops.convert_to_tensor(self.schedule.alpha_bar, "float32")
        self.loss_tracker = keras.metrics.Mean(name="loss")
        self.input_shape_ = tuple(denoiser.inputs[0].shape[1:])
        self.built = True       # the denoiser is built: fit() need not call the wrapper on data to build it

    @property
    def T(self):
        return self.schedule.T

    @property
    def _averaged(self):
        return self.denoiser

    def _noised(self, x0):
        """(x_t, t, e) for a batch x0: one random t per example, e ~ N(0, I)."""
        self._check_batch(x0)
        n, r = ops.shape(x0)[0], replicas()    # t and e drawn for the global batch, cut to this replica's rows
        t = replica_rows(keras.random.randint((n * r,), 1, self.T + 1, seed=self.seed_generator), n)
        noise = replica_rows(keras.random.normal((n * r,) + tuple(ops.shape(x0)[1:]), seed=self.seed_generator), n)
        ab = ops.reshape(ops.take(self._alpha_bar, t), (-1,) + (1,) * (len(x0.shape) - 1))
        return ops.sqrt(ab) * x0 + ops.sqrt(1.0 - ab) * noise, t, noise

    def simple_loss(self, x0):
        """E_{t, e} ||e - eps(x_t, t)||^2 / dim on the batch, one random t per example."""
        x_t, t, noise = self._noised(x0)
        return ops.mean(ops.square(noise - self.denoiser([x_t, t], training=True)))

    def _data_loss(self, data):
        """The loss of one batch as ``fit`` and ``evaluate`` pass it (x0 only, here)."""
        x0, _, _ = keras.utils.unpack_x_y_sample_weight(data)
        return self.simple_loss(ops.cast(x0, "float32"))

    def get_config(self):
        return {**super().get_config(), "T": self.T, "schedule": self.schedule_kind,
                "min_signal_rate": self.min_signal_rate, "ema_decay": self.ema_decay, "ema_warmup": self.ema_warmup,
                "denoiser": keras.saving.serialize_keras_object(self.denoiser)}

    @classmethod
    def from_config(cls, config):
        config = dict(config)
        config["denoiser"] = keras.saving.deserialize_keras_object(config["denoiser"])
        return cls(**config)


# ---------------------------------------------------------------------------------------
# Samplers
# ---------------------------------------------------------------------------------------

def _network(denoiser):
    """The denoiser as a compiled function (x_t, t) -> eps, built once per network: a sampler
    calls it hundreds of times, and an eager Keras call of a small batch costs several times
    the arithmetic. Plain Python callables (e.g. the tests' oracle) are used as they are."""
    if not isinstance(denoiser, keras.Model):
        return lambda x, t: denoiser([x, t], training=False)
    fn = getattr(denoiser, "_course_sampling_fn", None)
    if fn is None:
        import tensorflow as tf

        fn = tf.function(lambda x, t: denoiser([x, t], training=False), reduce_retracing=True)
        object.__setattr__(denoiser, "_course_sampling_fn", fn)   # a cache, not a tracked attribute
    return fn


def _check_sampler_args(shape, batch_size):
    """``shape`` as a tuple of positive integers; ``batch_size`` a positive integer."""
    positive_int(batch_size, "batch_size")
    if isinstance(shape, (int, np.integer)):
        shape = (shape,)
    if not isinstance(shape, (tuple, list)) or not shape:
        raise ValueError(f"shape must be the shape of one example, e.g. (28, 28, 1) or (2,), got {shape!r}.")
    return tuple(positive_int(d, f"shape[{i}]") for i, d in enumerate(shape))


def _eps(denoiser, x, t, batch_size):
    call = _network(denoiser)
    out = [call(x[s:s + batch_size], np.full(len(x[s:s + batch_size]), t, "int32"))
           for s in range(0, len(x), batch_size)]
    return np.concatenate([ops.convert_to_numpy(o) for o in out])


def _x0_and_eps(x, eps, ab, clip_x0):
    """x0_hat = (x_t - sqrt(1 - abar_t) eps) / sqrt(abar_t) and eps; with ``clip_x0`` c, x0_hat
    clipped to [-c, c] and the eps that the clipped x0_hat implies (Ho et al. 2020's sampler)."""
    x0_hat = (x - np.sqrt(1 - ab) * eps) / np.sqrt(ab)
    if clip_x0 is None:
        return x0_hat, eps
    x0_hat = np.clip(x0_hat, -clip_x0, clip_x0)
    return x0_hat, (x - np.sqrt(ab) * x0_hat) / np.sqrt(1 - ab)


def _check_clip(clip_x0):
    return None if clip_x0 is None else check_number(clip_x0, "clip_x0", above=0)


def _start(shape, n, seed):
    positive_int(n, "n")
    rng = np.random.default_rng(seed)
    return rng, rng.standard_normal((n,) + tuple(shape)).astype("float32")


def ddpm_sample(denoiser, schedule, n, shape, seed=0, batch_size=1000, keep=(), progress=False, clip_x0=None):
    """Ancestral sampling: T network calls from x_T ~ N(0, I), sigma_t^2 = beta_t. Returns
    (x_0, {t: x_t for t in keep}). ``clip_x0`` c: every step moves towards x0_hat clipped to [-c, c]."""
    from course_lib.progress import progress_bar

    shape, clip_x0 = _check_sampler_args(shape, batch_size), _check_clip(clip_x0)
    rng, x = _start(shape, n, seed)
    kept = {}
    steps = range(schedule.T, 0, -1)
    for t in (progress_bar(steps, desc="DDPM steps") if progress else steps):
        if t in keep:
            kept[t] = x.copy()
        beta, ab = schedule.betas[t], schedule.alpha_bar[t]
        eps = _x0_and_eps(x, _eps(denoiser, x, t, batch_size), ab, clip_x0)[1]
        x = (x - beta / np.sqrt(1 - ab) * eps) / np.sqrt(1 - beta)
        if t > 1:
            x = x + np.sqrt(beta) * rng.standard_normal(x.shape).astype("float32")
    return x, kept


def ddim_times(T, steps):
    """The ``steps`` times DDIM visits, evenly spaced from T down to 1. The first is always T,
    where the start x_T ~ N(0, I) lives: one step is a single network call at t = T that jumps
    to x0_hat; two steps visit T and 1."""
    if isinstance(steps, bool) or not isinstance(steps, (int, np.integer)) or not 1 <= steps <= T:
        raise ValueError(f"steps must be an integer in 1..{T}, got {steps!r}.")
    return np.unique(np.round(np.linspace(T, 1, steps)).astype(int))[::-1]


def ddim_sample(denoiser, schedule, n, shape, steps=50, eta=0.0, seed=0, batch_size=1000, x_T=None,
                progress=False, clip_x0=None):
    """DDIM (Song et al. 2021) on ``steps`` evenly spaced times: ``steps`` network calls; returns x_0.

    ``eta = 0`` is deterministic: the same start ``x_T`` (or ``seed``) gives the same sample, a
    map from noise to data. ``eta = 1`` adds the noise of DDPM's ancestral step between the
    visited times (sigma^2 = (1 - abar_s)/(1 - abar_t) (1 - abar_t/abar_s)): on all T steps it is
    DDPM with the posterior variance; on few steps, "DDPM with a strided schedule".

    ``clip_x0`` c clips every x0_hat to [-c, c] (the data's range is [-1, 1]) and steps with the
    eps it implies; the last step returns x0_hat, so the samples stay in [-c, c]."""
    from course_lib.progress import progress_bar

    if not 0 <= eta <= 1:
        raise ValueError(f"eta must be in [0, 1] (0: DDIM, 1: DDPM-like noise), got {eta!r}.")
    shape, clip_x0 = _check_sampler_args(shape, batch_size), _check_clip(clip_x0)
    rng, start = _start(shape, n, seed)
    if x_T is not None:
        x_T = np.array(x_T, "float32")
        if x_T.shape != start.shape:
            raise ValueError(f"x_T must be n starts of the example shape, {start.shape}, got {x_T.shape}.")
        if not np.isfinite(x_T).all():
            raise ValueError("x_T must hold finite numbers, got NaN or inf.")
    x = start if x_T is None else x_T
    times = ddim_times(schedule.T, steps)
    pairs = list(zip(times, list(times[1:]) + [0]))
    for t, s in (progress_bar(pairs, desc="DDIM steps") if progress else pairs):
        ab_t, ab_s = schedule.alpha_bar[t], schedule.alpha_bar[s]
        x0_hat, eps = _x0_and_eps(x, _eps(denoiser, x, int(t), batch_size), ab_t, clip_x0)
        sigma = eta * np.sqrt((1 - ab_s) / (1 - ab_t) * (1 - ab_t / ab_s))
        x = np.sqrt(ab_s) * x0_hat + np.sqrt(max(1 - ab_s - sigma ** 2, 0.0)) * eps
        if sigma > 0:
            x = x + sigma * rng.standard_normal(x.shape).astype("float32")
    return x.astype("float32")


SAMPLER_KEYS = ("eta", "steps", "clip_x0", "weights")


def sample_with(model, n, sampler, seed=0, batch_size=500, progress=False):
    """``n`` samples of a trained ``Diffusion`` with a named sampler, in the model's range.

    ``sampler``: ``{"eta": 0 or 1, "steps": k}`` (DDIM or strided DDPM on k steps), optionally
    ``"clip_x0": c`` (or None) and ``"weights": "EMA"`` (the moving average, the default when
    the model keeps one) or ``"raw"`` (the weights the optimizer left). The choices 08a and 10b
    report are made on validation digits (``choices.diffusion_sampler``)."""
    if not isinstance(model, Diffusion):
        raise ValueError(f"model must be a Diffusion, got {type(model).__name__}.")
    if not isinstance(sampler, dict) or not {"eta", "steps"} <= set(sampler) or set(sampler) - set(SAMPLER_KEYS):
        raise ValueError(f"sampler must be a dict with keys eta and steps (and optionally clip_x0, weights), "
                         f"got {sampler!r}.")
    weights = sampler.get("weights", "raw" if model.ema_decay is None else "EMA")
    if weights not in ("EMA", "raw"):
        raise ValueError(f"sampler['weights'] must be 'EMA' or 'raw', got {weights!r}.")
    with model.ema_weights() if weights == "EMA" else contextlib.nullcontext():
        return ddim_sample(model.denoiser, model.schedule, n, model.input_shape_, steps=sampler["steps"],
                           eta=sampler["eta"], seed=seed, batch_size=batch_size, progress=progress,
                           clip_x0=sampler.get("clip_x0"))


def describe_sampler(sampler):
    """'DDIM, 20 steps, x0 clipped to [-1, 1], EMA weights' and the like."""
    words = ["DDIM" if sampler["eta"] == 0 else "strided DDPM", f"{sampler['steps']} steps"]
    if sampler.get("clip_x0") is not None:
        c = sampler["clip_x0"]
        words.append(f"x0 clipped to [-{c:g}, {c:g}]")
    if "weights" in sampler:
        words.append(f"{sampler['weights']} weights")
    return ", ".join(words)


# ---------------------------------------------------------------------------------------
# Images
# ---------------------------------------------------------------------------------------

def to_model_range(images):
    """Pixels in [0, 1] (n, 28, 28) or (n, 28, 28, 1) -> the model's range [-1, 1], (n, 28, 28, 1).
    Any other shape (flat (n, 784) rows, one image without a batch axis) and any value outside
    [0, 1], NaN included, is a ValueError."""
    images = np.asarray(images, "float32")
    if images.shape[1:] not in ((28, 28), (28, 28, 1)):
        hint = " (flat rows? reshape them: x.reshape(-1, 28, 28))" if images.ndim == 2 and images.shape[1] == 784 \
            else " (one image? add a batch axis: x[None])" if images.shape in ((28, 28), (28, 28, 1)) else ""
        raise ValueError(f"expected images of shape (n, 28, 28) or (n, 28, 28, 1){hint}, got shape {images.shape}.")
    if images.size and not (images.min() >= 0 and images.max() <= 1):      # NaN fails both
        raise ValueError(f"expected pixels in [0, 1] (data.scale), got values in [{images.min():g}, {images.max():g}].")
    return (2 * images - 1).reshape(images.shape[:3] + (1,))


def to_pixels(x):
    """The model's [-1, 1] -> pixels in [0, 1], (n, 28, 28), clipped (a sample can overshoot)."""
    return np.clip((np.asarray(x, "float32") + 1) / 2, 0, 1).reshape(np.shape(x)[:3])


class EpochSamples(keras.callbacks.Callback):
    """After each epoch, DDIM samples from one fixed set of starts: ``grids[k]`` holds epoch
    k+1's images in [0, 1], so a notebook can show the samples improving epoch by epoch."""

    def __init__(self, n=10, steps=20, seed=0):
        super().__init__()
        positive_int(n, "n"), positive_int(steps, "steps")
        self.n, self.steps, self.seed, self.grids = n, steps, seed, []

    def on_epoch_end(self, epoch, logs=None):
        m = self.model
        x = ddim_sample(m.denoiser, m.schedule, self.n, m.input_shape_, steps=self.steps, seed=self.seed)
        self.grids.append(to_pixels(x))
