"""Generative adversarial networks, as on the slides. Introduced in 07_gan.

    value     L = E_x[log D(x)] + E_z[log(1 - D(G(z)))]       D maximizes it, G minimizes it
    logits    D(x) = sigmoid(l), so log D = -softplus(-l) and log(1 - D) = -softplus(l)

Computing both logs from the logit ``l`` stays finite where ``log(sigmoid(l))`` would round
to log(0). The generator's loss is the slide's ``saturating`` one, E[log(1 - D(G(z)))],
or the ``non_saturating`` one, -E[log D(G(z))], which has the same fixed point and strong
gradients while D still rejects the fakes (Goodfellow et al. 2014).

``GAN.train_step`` is the slides' algorithm: (1) one discriminator step on a real
mini-batch and a generated one, (2) one generator step on fresh noise.
"""

import math

import keras
import numpy as np
from keras import layers, ops

from course_lib.checks import CheckedFit, check_int, check_number, concrete, positive_int
from course_lib.checks import check_labels as _check_one_hot
from course_lib.distribute import clipped_share, replica_loss, replica_rows, replicas, synchronized_batch_norm

GENERATOR_LOSSES = ("non_saturating", "saturating")
# Adam for the MNIST DCGANs: beta_1 = 0.5 as in the DCGAN paper (Radford et al. 2016).
# Learning rates chosen for the short CPU runs of 07/08 on the VALIDATION split (the last
# 5,000 training digits; the models train on the other 55,000): classifier-FID of 2,000
# samples against 2,000 random validation digits, features of a 3-epoch course classifier.
# Unconditional DCGAN, 4 epochs, seeds 0 / 1: 2e-4 75.9; 5e-4 49.9 / 54.0; 1e-3 36.7 / 36.9;
# 2e-3 32.3 / 30.1 (larger rates were not tried). Conditional DCGAN, 2 epochs, seed 0:
# 2e-4 FID 37.5, requested digit read back by the classifier 88%; 5e-4 54.0, 65%;
# 1e-3 32.6, 72%: we keep 2e-4, whose digits are the ones asked for, at a FID near the best.
DCGAN_LEARNING_RATE = 2e-3
CONDITIONAL_DCGAN_LEARNING_RATE = 2e-4
DCGAN_BETA_1 = 0.5
# The dcgan checkpoint's Adam betas, chosen on validation digits beside the WGAN-GP's settings by
# `python -m course_lib.choices run dcgan_settings` (bench/choices.json; a test checks they agree):
# at 07's rate, betas (0, 0.9) gave FID 27.2 after 3 minutes against 31.9 for (0.5, 0.999).
# 07's live runs keep the DCGAN paper's beta_1 = 0.5.
DCGAN_CHECKPOINT_BETAS = (0.0, 0.9)


# ---------------------------------------------------------------------------------------
# The losses, from logits
# ---------------------------------------------------------------------------------------

def gan_value(real_logits, fake_logits):
    """The slides' L = E[log D(x)] + E[log(1 - D(G(z)))], from D's logits. D maximizes it;
    its maximum, 0, means D is certain and right; log(1/4) = -1.386 is D(.) = 1/2 everywhere."""
    return ops.mean(-ops.softplus(-real_logits)) + ops.mean(-ops.softplus(fake_logits))


def discriminator_loss(real_logits, fake_logits):
    """What D minimizes: -L, the binary cross-entropy of "real = 1, fake = 0"."""
    return -gan_value(real_logits, fake_logits)


def _check_kind(kind):
    if kind not in GENERATOR_LOSSES:
        raise ValueError(f"generator loss must be one of {GENERATOR_LOSSES}, got {kind!r}.")


def generator_loss(fake_logits, kind="non_saturating"):
    """What G minimizes: E[log(1 - D(G(z)))] (``saturating``, the slide's) or
    -E[log D(G(z))] (``non_saturating``)."""
    _check_kind(kind)
    if kind == "saturating":
        return ops.mean(-ops.softplus(fake_logits))
    return ops.mean(ops.softplus(-fake_logits))


def generator_loss_slope(d_of_fake, kind="non_saturating"):
    """d loss / d logit for one fake sample, as a function of D(G(z)) = sigmoid(l):
    ``-D`` (saturating: vanishes when D confidently rejects the fake, D -> 0) or
    ``-(1 - D)`` (non-saturating: largest exactly then). NumPy, for plotting."""
    _check_kind(kind)
    d = np.asarray(d_of_fake, dtype="float64")
    if np.any((d < 0) | (d > 1)):
        raise ValueError("D(G(z)) must lie in [0, 1].")
    return -d if kind == "saturating" else -(1.0 - d)


# ---------------------------------------------------------------------------------------
# Networks
# ---------------------------------------------------------------------------------------

def _check_positive(**values):
    """The values as Python ints (None stays None), or ValueError. Keras layers refuse NumPy
    integers, which the checks accept."""
    return [None if value is None else positive_int(value, key) for key, value in values.items()]


def build_generator(latent_dim=64, num_classes=None):
    """DCGAN-style G for MNIST, small enough for a CPU: z (+ one-hot label) -> Dense 7x7x64
    -> BN, LeakyReLU -> ConvT 32, stride 2 -> BN, LeakyReLU -> ConvT 1, stride 2 -> sigmoid,
    a (28, 28, 1) image in [0, 1] like the rest of the course."""
    latent_dim, num_classes = _check_positive(latent_dim=latent_dim, num_classes=num_classes)
    z = keras.Input((latent_dim,), name="z")
    inputs, h = [z], z
    if num_classes:
        c = keras.Input((num_classes,), name="label")
        inputs, h = [z, c], layers.Concatenate(name="z_and_label")([z, c])
    bn = {"synchronized": True} if synchronized_batch_norm() else {}   # several replicas: global batch statistics
    h = layers.Dense(7 * 7 * 64, use_bias=False)(h)
    h = layers.LeakyReLU(0.2)(layers.BatchNormalization(**bn)(h))
    h = layers.Reshape((7, 7, 64))(h)
    h = layers.Conv2DTranspose(32, 4, strides=2, padding="same", use_bias=False)(h)      # 14 x 14
    h = layers.LeakyReLU(0.2)(layers.BatchNormalization(**bn)(h))
    x = layers.Conv2DTranspose(1, 4, strides=2, padding="same", activation="sigmoid", name="image")(h)
    return keras.Model(inputs if num_classes else z, x, name="generator")


def build_discriminator(num_classes=None):
    """DCGAN-style D for MNIST: image (+ label as a 28x28 map) -> Conv 32, stride 2 ->
    LeakyReLU -> Conv 64, stride 2 -> LeakyReLU -> Dense 1: a logit, D(x) = sigmoid(logit)."""
    (num_classes,) = _check_positive(num_classes=num_classes)
    x = keras.Input((28, 28, 1), name="image")
    inputs, h = [x], x
    if num_classes:
        c = keras.Input((num_classes,), name="label")
        label_map = layers.Reshape((28, 28, 1))(layers.Dense(28 * 28, name="label_map")(c))
        inputs, h = [x, c], layers.Concatenate(name="image_and_label")([x, label_map])
    h = layers.LeakyReLU(0.2)(layers.Conv2D(32, 4, strides=2, padding="same")(h))          # 14 x 14
    h = layers.LeakyReLU(0.2)(layers.Conv2D(64, 4, strides=2, padding="same")(h))          # 7 x 7
    logit = layers.Dense(1, name="logit")(layers.Flatten()(h))
    return keras.Model(inputs if num_classes else x, logit, name="discriminator")


def build_mlp_generator(latent_dim=2, hidden=128, depth=2, output_dim=2):
    """A small MLP generator for toy data; ``depth=0`` is a linear map, G(z) = a z + b
    (with a 1-D z, exactly a Gaussian of learnable mean and scale)."""
    latent_dim, hidden, output_dim = _check_positive(latent_dim=latent_dim, hidden=hidden, output_dim=output_dim)
    depth = check_int(depth, "depth", minimum=0)
    z = keras.Input((latent_dim,), name="z")
    h = z
    for _ in range(depth):
        h = layers.Dense(hidden, activation="relu")(h)
    return keras.Model(z, layers.Dense(output_dim, name="point")(h), name="generator")


def build_mlp_discriminator(input_dim=2, hidden=128, depth=2, pack=1):
    """A small MLP discriminator for 2-D toy data. ``pack`` > 1 is PacGAN (Lin et al. 2018):
    D judges ``pack`` samples at once, concatenated, so a generator that repeats itself is
    easy to spot: a remedy for mode collapse."""
    input_dim, hidden, depth, pack = _check_positive(input_dim=input_dim, hidden=hidden, depth=depth, pack=pack)
    x = keras.Input((input_dim * pack,), name="points")
    h = x
    for _ in range(depth):
        h = layers.LeakyReLU(0.2)(layers.Dense(hidden)(h))
    return keras.Model(x, layers.Dense(1, name="logit")(h), name="discriminator")


# ---------------------------------------------------------------------------------------
# The game
# ---------------------------------------------------------------------------------------

def _output_range(generator):
    """The range of G's outputs, read from its last layer: (0, 1) after a sigmoid (the
    course's image generators), (-1, 1) after a tanh, ``None`` (any finite value) otherwise."""
    layers_ = getattr(generator, "layers", None) or [None]
    name = getattr(getattr(layers_[-1], "activation", None), "__name__", None)
    return {"sigmoid": (0.0, 1.0), "tanh": (-1.0, 1.0)}.get(name)


@keras.saving.register_keras_serializable(package="course_lib")
class GAN(CheckedFit, keras.Model):
    """Generator and discriminator, trained by the slides' alternating algorithm.

    ``fit(images)`` (or ``fit(images, one_hot_labels)`` for the conditional GAN) logs per
    epoch: ``d_loss`` (= -L), ``g_loss``, and D's accuracy on real (``d_acc_real``) and on
    generated (``d_acc_fake``) examples, at threshold D = 1/2.

    ``fit`` checks the real examples first (``checks.run_checked``: arrays in full, a tf.data
    pipeline or a generator batch by batch): they must look like G's output, shape
    ``example_shape`` per example and values in ``example_range`` ([0, 1] for the DCGAN's
    sigmoid images: scale uint8 pixels with ``data.scale``), finite for the toy GANs' points.
    """

    checks_predict = False                      # predict(z) takes noise, not real examples

    def __init__(self, generator, discriminator, pack=1, seed=0, **kwargs):
        super().__init__(**kwargs)
        (pack,) = _check_positive(pack=pack)
        self.generator, self.discriminator, self.pack = generator, discriminator, pack
        g_in = generator.inputs
        self.latent_dim = g_in[0].shape[-1]
        self.num_classes = g_in[1].shape[-1] if len(g_in) == 2 else None
        self.seed_generator = keras.random.SeedGenerator(seed)
        self.trackers = {name: keras.metrics.Mean(name=name)
                         for name in ("d_loss", "g_loss", "d_acc_real", "d_acc_fake")}
        self.built = True       # G and D are built: fit() need not call the wrapper on real data to build it

    @property
    def metrics(self):
        return list(self.trackers.values())

    @property
    def example_shape(self):
        """The shape of one example, G's output: (28, 28, 1) for the DCGAN, (2,) for 2-D points."""
        return tuple(self.generator.outputs[0].shape[1:])

    @property
    def example_range(self):
        """(low, high) of G's outputs, which real examples must respect; ``None``: any finite value."""
        return _output_range(self.generator)

    def _check_inputs(self, x):
        """ValueError unless ``x`` is a batch of real examples like G's output (see the class
        docstring). Values are checked when known (arrays, a pipeline's batches), shapes also
        on a pipeline's ``element_spec``."""
        if isinstance(x, (list, tuple)) or not hasattr(x, "shape"):
            raise ValueError("GAN.fit takes the real examples as one array x (and a conditional GAN's one-hot "
                             f"labels as y), got a {type(x).__name__} for x.")
        expected, shape = self.example_shape, tuple(x.shape)
        if len(shape) != 1 + len(expected) or any(g not in (e, None) for g, e in zip(shape[1:], expected)):
            hint = " (add the channel axis: x[..., None])" \
                if len(expected) > 1 and expected[-1] == 1 and shape[1:] == expected[:-1] else ""
            raise ValueError(f"this GAN's generator makes examples of shape {expected}: expected real examples of "
                             f"shape (n, {', '.join(map(str, expected))}){hint}, got shape {shape}.")
        values = concrete(x)
        if values is None or not values.size:
            return
        if not np.issubdtype(values.dtype, np.number):
            raise ValueError(f"expected real examples as numbers, got dtype {values.dtype}.")
        lo, hi = float(values.min()), float(values.max())          # NaN fails every comparison below
        bounds = self.example_range
        if bounds is not None and not (lo >= bounds[0] and hi <= bounds[1]):
            hint = " (scale uint8 images with course_lib.data.scale)" if bounds == (0.0, 1.0) else ""
            raise ValueError(f"this GAN's generator outputs values in [{bounds[0]:g}, {bounds[1]:g}]: expected real "
                             f"examples in that range{hint}, got values in [{lo:.4g}, {hi:.4g}].")
        if bounds is None and not (np.isfinite(lo) and np.isfinite(hi)):
            raise ValueError(f"expected finite real examples, got values in [{lo:.4g}, {hi:.4g}] (NaN or inf).")

    def compile(self, d_optimizer, g_optimizer, generator_loss="non_saturating", **kwargs):
        _check_kind(generator_loss)
        self._compile_two(d_optimizer, g_optimizer, kwargs)
        self.generator_loss_kind = generator_loss

    def _compile_two(self, d_optimizer, g_optimizer, kwargs):
        """Keras' compile, then D's and G's optimizers, built here, where compile() runs (inside a
        distribution strategy's scope, if any): their slots are then mirrored variables."""
        if replicas() > 1:                 # compiled under a strategy of several replicas: XLA fails there
            kwargs["jit_compile"] = False
        keras.Model.compile(self, **kwargs)
        self.d_optimizer, self.g_optimizer = d_optimizer, g_optimizer
        d_optimizer.build(self.discriminator.trainable_variables)
        g_optimizer.build(self.generator.trainable_variables)

    def call(self, z, training=False):
        return self.generator(z, training=training)

    def _noise(self, n):
        """``n`` noise vectors for this replica's share of the batch: drawn for the global batch, the
        same on every replica, and cut to this replica's rows (``distribute.replica_rows``)."""
        z = keras.random.normal((n * replicas(), self.latent_dim), seed=self.seed_generator)
        return replica_rows(z, n)

    def _d(self, x, c, training=True):
        if self.pack > 1:                       # PacGAN: `pack` samples side by side
            x = ops.reshape(x, (-1, self.pack * x.shape[-1]))
        return self.discriminator(x if c is None else [x, c], training=training)

    def _g(self, z, c, training=True):
        return self.generator(z if c is None else [z, c], training=training)

    def train_step(self, data):
        import tensorflow as tf

        x, c, _ = keras.utils.unpack_x_y_sample_weight(data)
        if self.num_classes is None:
            c = None
        n = ops.shape(x)[0]
        # 1. the discriminator: a real mini-batch and a generated one; D ascends L
        fake = self._g(self._noise(n), c)
        with tf.GradientTape() as tape:
            real_logits, fake_logits = self._d(x, c), self._d(fake, c)
            d_loss = discriminator_loss(real_logits, fake_logits)
            scaled = replica_loss(d_loss)               # several replicas' gradients are summed
        d_vars = self.discriminator.trainable_weights
        grads = clipped_share(self.d_optimizer, tape.gradient(scaled, d_vars))
        self.d_optimizer.apply_gradients(zip(grads, d_vars))
        # 2. the generator: fresh noise; G descends its loss
        with tf.GradientTape() as tape:
            g_loss = generator_loss(self._d(self._g(self._noise(n), c), c), self.generator_loss_kind)
            scaled = replica_loss(g_loss)
        g_vars = self.generator.trainable_weights
        grads = clipped_share(self.g_optimizer, tape.gradient(scaled, g_vars))
        self.g_optimizer.apply_gradients(zip(grads, g_vars))
        for name, value in [("d_loss", d_loss), ("g_loss", g_loss),
                            ("d_acc_real", ops.mean(ops.cast(real_logits > 0, "float32"))),
                            ("d_acc_fake", ops.mean(ops.cast(fake_logits < 0, "float32")))]:
            self.trackers[name].update_state(value)
        return {name: t.result() for name, t in self.trackers.items()}

    def fit(self, x=None, y=None, *args, **kwargs):
        """Keras' ``fit`` on real examples ``x`` (and, for a conditional GAN, one-hot labels ``y``,
        or a pipeline of (images, labels)), once they have been checked (``_check_inputs``)."""
        import tensorflow as tf

        if self.num_classes is None and y is not None:
            raise ValueError("this GAN is not conditional: fit(images) takes no labels.")
        if self.num_classes is not None:
            if isinstance(x, tf.data.Dataset):
                if keras.utils.unpack_x_y_sample_weight(x.element_spec)[1] is None:
                    raise ValueError("a conditional GAN trains on (images, one-hot labels): this pipeline yields "
                                     "images only.")
            elif hasattr(x, "shape"):
                if y is None:
                    raise ValueError(f"a conditional GAN trains on images and their one-hot labels: fit(x, y) with "
                                     f"y of shape (n, {self.num_classes}).")
                _check_one_hot(y, self.num_classes, len_like=x)
        batch = kwargs.get("batch_size")
        if batch is not None:
            positive_int(batch, "batch_size")
        if self.pack > 1 and batch and batch % self.pack:
            raise ValueError(f"batch_size ({batch}) must be a multiple of pack ({self.pack}).")
        return super().fit(x, y, *args, **kwargs)

    def generate(self, n, labels=None, seed=0, batch_size=1000):
        """``n`` samples of G as NumPy (images in [0, 1], or points); z ~ N(0, I) from ``seed``.
        A conditional GAN needs ``labels``: one-hot rows (n, num_classes) (``data.one_hot``)."""
        _check_positive(n=n, batch_size=batch_size)
        if self.num_classes is None and labels is not None:
            raise ValueError("this GAN is not conditional: do not pass labels.")
        if self.num_classes is not None:
            if labels is None:
                raise ValueError(f"a conditional GAN needs one-hot labels of width {self.num_classes}.")
            labels = check_labels(labels, self.num_classes, n)
        z = np.random.default_rng(seed).standard_normal((n, self.latent_dim)).astype("float32")
        return generate_from(self.generator, z, labels, batch_size)

    def get_config(self):
        return {**super().get_config(), "pack": self.pack,
                "generator": keras.saving.serialize_keras_object(self.generator),
                "discriminator": keras.saving.serialize_keras_object(self.discriminator)}

    @classmethod
    def from_config(cls, config):
        config = dict(config)
        for key in ("generator", "discriminator"):
            config[key] = keras.saving.deserialize_keras_object(config[key])
        return cls(**config)


def _callback_base():
    return keras.callbacks.Callback


class GANMonitor(_callback_base()):
    """Keras callback: the four logged numbers every ``every`` batches, and a fixed-noise
    sample grid after every epoch (the same z each time, so the grids show G learning)."""

    def __init__(self, n=16, every=20, labels=None, seed=0):
        super().__init__()
        _check_positive(n=n, every=every)
        if labels is not None:
            labels = check_labels(labels, np.shape(labels)[-1], n)
        self.n, self.every, self.labels, self.seed = n, every, labels, seed
        self.batch_logs, self.grids, self._batches = [], [], 0

    def on_train_batch_end(self, batch, logs=None):
        self._batches += 1
        if self._batches % self.every == 0 and logs:
            self.batch_logs.append({"batch": self._batches, **{k: float(v) for k, v in logs.items()}})

    def on_epoch_end(self, epoch, logs=None):
        self.grids.append(self.model.generate(self.n, labels=self.labels, seed=self.seed))

    def series(self, key):
        """(batches, values) of one logged number, for plotting."""
        return (np.array([r["batch"] for r in self.batch_logs]), np.array([r[key] for r in self.batch_logs]))


def generator_gradient_norm(gan, n=256, kind="non_saturating", seed=0):
    """The norm of d(generator loss)/d(generator weights) on ``n`` fresh fakes: how strong a
    learning signal G gets from the current D, under either loss."""
    import tensorflow as tf

    _check_kind(kind)
    _check_positive(n=n)
    z = tf.constant(np.random.default_rng(seed).standard_normal((n, gan.latent_dim)), tf.float32)
    c = None if gan.num_classes is None else tf.constant(np.eye(gan.num_classes, dtype="float32")[
        np.arange(n) % gan.num_classes])
    with tf.GradientTape() as tape:
        loss = generator_loss(gan._d(gan._g(z, c, training=False), c, training=False), kind)
    grads = tape.gradient(loss, gan.generator.trainable_weights)
    return float(tf.linalg.global_norm(grads))


def check_labels(labels, num_classes, n=None):
    """float32 one-hot labels (n, num_classes), or ValueError: the shape, the count ``n`` when
    given, and the values (every entry 0 or 1, one 1 per row; ``checks.check_labels``)."""
    labels = np.asarray(labels, dtype="float32")
    if labels.ndim != 2 or labels.shape[1] != num_classes or (n is not None and len(labels) != n):
        expected = f"({n if n is not None else 'n'}, {num_classes})"
        raise ValueError(f"expected one-hot labels of shape {expected}, got {labels.shape}.")
    _check_one_hot(labels, num_classes)
    return labels


def generate_from(generator, z, labels=None, batch_size=1000):
    """G(z[, c]) in batches, as NumPy; checks the latent size against the generator's input."""
    _check_positive(batch_size=batch_size)
    z = np.asarray(z, dtype="float32")
    latent_dim = generator.inputs[0].shape[-1]
    if z.ndim != 2 or z.shape[1] != latent_dim:
        raise ValueError(f"the generator takes latent vectors of size {latent_dim}: expected z of shape "
                         f"(n, {latent_dim}), got {z.shape}.")
    out = [generator([z[s:s + batch_size], labels[s:s + batch_size]] if labels is not None
                     else z[s:s + batch_size], training=False) for s in range(0, len(z), batch_size)]
    return np.concatenate([ops.convert_to_numpy(o) for o in out])


def dcgan_optimizers(conditional=False, learning_rate=None, beta_1=DCGAN_BETA_1, beta_2=0.999):
    """(d_optimizer, g_optimizer) for ``GAN.compile``: two separate Adams, same settings.

    ``learning_rate`` defaults to the measured rate for the (conditional) DCGAN.
    """
    if learning_rate is None:
        learning_rate = CONDITIONAL_DCGAN_LEARNING_RATE if conditional else DCGAN_LEARNING_RATE
    learning_rate = check_number(learning_rate, "learning_rate", above=0)
    beta_1 = check_number(beta_1, "beta_1", at_least=0, below=1)
    beta_2 = check_number(beta_2, "beta_2", at_least=0, below=1)
    return (keras.optimizers.Adam(learning_rate, beta_1=beta_1, beta_2=beta_2),
            keras.optimizers.Adam(learning_rate, beta_1=beta_1, beta_2=beta_2))


def build_gan(latent_dim=64, num_classes=None, seed=0):
    """The DCGAN of 07_gan (conditional with ``num_classes``)."""
    return GAN(build_generator(latent_dim, num_classes), build_discriminator(num_classes), seed=seed,
               name="conditional_gan" if num_classes else "gan")


# ---------------------------------------------------------------------------------------
# Toy problems for the "GAN problems" section
# ---------------------------------------------------------------------------------------

def ring_of_gaussians(n, modes=8, radius=2.0, std=0.02, seed=0):
    """``n`` points from ``modes`` equal Gaussians on a circle; returns (points, centres)."""
    _check_positive(n=n, modes=modes)
    check_number(radius, "radius")
    check_number(std, "std", at_least=0)
    angles = 2 * np.pi * np.arange(modes) / modes
    centres = radius * np.stack([np.cos(angles), np.sin(angles)], axis=1)
    rng = np.random.default_rng(seed)
    points = centres[rng.integers(0, modes, n)] + std * rng.standard_normal((n, 2))
    return points.astype("float32"), centres


def mode_coverage(samples, centres, std, radius_stds=3.0, min_share=0.01):
    """How many modes a set of 2-D samples covers.

    A sample is *high quality* if it lies within ``radius_stds`` standard deviations of a
    centre; a mode is *covered* if at least ``min_share`` of all samples are high-quality
    samples of that mode. Returns (modes covered, share of high-quality samples, counts per mode).
    ``std`` and ``radius_stds`` must be > 0, ``min_share`` in [0, 1]. A NaN sample (a diverged
    generator) is near no mode: it counts as a low-quality sample.
    """
    check_number(std, "std", above=0)
    check_number(radius_stds, "radius_stds", above=0)
    check_number(min_share, "min_share", at_least=0, at_most=1)
    samples, centres = np.asarray(samples, "float64"), np.asarray(centres, "float64")
    if samples.ndim != 2 or centres.ndim != 2 or samples.shape[1] != centres.shape[1] or not len(centres):
        raise ValueError(f"samples {samples.shape} and centres {centres.shape} must be (n, d) and (k, d), k >= 1.")
    dist = np.linalg.norm(samples[:, None, :] - centres[None, :, :], axis=-1)
    nearest, close = dist.argmin(axis=1), dist.min(axis=1) <= radius_stds * std
    counts = np.bincount(nearest[close], minlength=len(centres))
    return int((counts >= min_share * len(samples)).sum()), float(close.mean()), counts


def modes_visited(samples, centres, std, radius_stds=15.0, min_share=0.01):
    """Indices of the modes that hold at least ``min_share`` of the samples within
    ``radius_stds`` standard deviations: where G puts its mass, sharp or not (07_gan reads a
    ring of 8 modes 1.5 apart with ``radius_stds=15``, i.e. within 0.3 of a mode)."""
    counts = mode_coverage(samples, centres, std, radius_stds=radius_stds, min_share=min_share)[2]
    return np.flatnonzero(counts >= min_share * len(samples))


def toy_gan(input_dim=2, latent_dim=2, pack=1, seed=0):
    """The MLP GAN of 07's toy problems, built (weights drawn after seeding with ``seed``)."""
    keras.utils.set_random_seed(seed)
    return GAN(build_mlp_generator(latent_dim, output_dim=input_dim), build_mlp_discriminator(input_dim, pack=pack),
               pack=pack, seed=seed)


def compile_toy_gan(gan, lr=1e-3, generator_loss="non_saturating", snapshot_every=250):
    """Adam(lr, beta_1=0.5) for both players. Tiny networks: a step costs a few ms, part of
    it fit's per-call overhead; running up to 50 steps per compiled call saved about 15% of
    the CPU time of 07's ring runs, the steps themselves unchanged."""
    gan.compile(keras.optimizers.Adam(lr, beta_1=0.5), keras.optimizers.Adam(lr, beta_1=0.5), generator_loss,
                steps_per_execution=math.gcd(snapshot_every, 50))
    return gan


def toy_gan_snapshots(gan, points, steps=2000, batch_size=512, snapshot_every=250, n_snapshot=2000, seed=0):
    """Train a (compiled) toy GAN on ``points`` for ``steps`` steps; every ``snapshot_every``
    steps keep (step, ``n_snapshot`` samples, history dict of the last chunk). Returns the list."""
    _check_positive(steps=steps, batch_size=batch_size, snapshot_every=snapshot_every, n_snapshot=n_snapshot)
    import tensorflow as tf

    data = tf.data.Dataset.from_tensor_slices(points).shuffle(len(points), seed=seed).repeat() \
        .batch(batch_size * gan.pack, drop_remainder=True)
    snapshots = []
    for step in range(snapshot_every, steps + 1, snapshot_every):
        hist = gan.fit(data, epochs=1, steps_per_epoch=snapshot_every, verbose=0, shuffle=False)
        snapshots.append((step, gan.generate(n_snapshot, seed=step), hist.history))
    return snapshots


def train_toy_gan(points, steps=2000, batch_size=512, latent_dim=2, lr=1e-3, generator_loss="non_saturating",
                  pack=1, snapshot_every=250, n_snapshot=2000, seed=0):
    """Train an MLP GAN on 2-D ``points``; returns (gan, snapshots) where snapshots is a list
    of (step, samples, history dict of the last chunk)."""
    _check_positive(steps=steps, batch_size=batch_size, snapshot_every=snapshot_every)
    gan = compile_toy_gan(toy_gan(points.shape[1], latent_dim, pack, seed), lr, generator_loss, snapshot_every)
    return gan, toy_gan_snapshots(gan, points, steps, batch_size, snapshot_every, n_snapshot, seed)


def two_modes(n=20_000, seed=0):
    """07's section 8 data: ``n`` points, half near -2 and half near +2 (sd 0.5), float64."""
    _check_positive(n=n)
    rng = np.random.default_rng(seed)
    return np.where(rng.random(n) < 0.5, -2.0, 2.0) + 0.5 * rng.standard_normal(n)


def bilinear_game(steps=200, lr=0.1, x0=1.0, y0=1.0):
    """Simultaneous gradient play on min_x max_y x*y, the simplest game with an equilibrium
    (0, 0): x <- x - lr*y, y <- y + lr*x. Returns the (steps + 1, 2) trajectory. Each step
    multiplies the distance to the equilibrium by sqrt(1 + lr^2): the players circle it
    and spiral outwards, they never converge."""
    _check_positive(steps=steps)
    lr = check_number(lr, "lr", above=0)
    x0, y0 = check_number(x0, "x0"), check_number(y0, "y0")
    path = np.empty((steps + 1, 2))
    path[0] = x0, y0
    for t in range(steps):
        x, y = path[t]
        path[t + 1] = x - lr * y, y + lr * x
    return path
