"""Wasserstein GAN with gradient penalty (WGAN-GP, Gulrajani et al. 2017), beside 07's GAN.

The slides answer "GAN problems" with "advanced loss functions"; this is the best known one.
The discriminator becomes a *critic* f: x -> R, a score with no sigmoid, and the game is

    W(p, q) = sup over 1-Lipschitz f of  E_{x~p}[f(x)] - E_{x~q}[f(x)]     (Kantorovich-Rubinstein)

    critic loss      E_z[f(G(z))] - E_x[f(x)] + lambda * E_xhat[(||grad f(xhat)|| - 1)^2]
    generator loss  -E_z[f(G(z))]

where xhat = eps * x + (1 - eps) * G(z), eps ~ U(0, 1) per example, lies on the segment
between a real and a generated example: the penalty keeps the critic's slope near 1 there
instead of clipping its weights (the first WGAN, Arjovsky et al. 2017). The critic takes
``n_critic`` steps per generator step, so that its score difference stays an estimate of
W(data, model): a number that falls as the samples improve, metric 9 of the slides' list
("The Wasserstein Critic").

``WGANGP`` reuses ``gan.GAN``'s networks, ``fit``, ``generate`` and saving; only the steps
differ. Each of the ``n_critic`` critic steps uses the same real mini-batch and fresh fakes.
"""

import keras
import numpy as np
from keras import ops

from course_lib.checks import check_number, finite_array, positive_int
from course_lib.distribute import clipped_share, replica_loss, replica_rows, replicas
from course_lib.gan import GAN


def critic_gap(real_scores, fake_scores):
    """E[f(real)] - E[f(fake)]: the critic's estimate of the Wasserstein-1 distance (a lower
    bound of it when f is 1-Lipschitz)."""
    return ops.mean(real_scores) - ops.mean(fake_scores)


def gradient_penalty(critic, real, fake, epsilon=None, seed=None):
    """E[(||grad_x f(xhat)|| - 1)^2] at xhat = eps * real + (1 - eps) * fake, one eps ~ U(0, 1)
    per example (or the given ``epsilon``, shape (n,)). ``critic`` is any callable x -> scores
    (a Keras model, or a lambda that adds the labels of a conditional critic)."""
    import tensorflow as tf

    real, fake = ops.convert_to_tensor(real, "float32"), ops.convert_to_tensor(fake, "float32")
    if tuple(real.shape[1:]) != tuple(fake.shape[1:]):
        raise ValueError(f"real {tuple(real.shape)} and fake {tuple(fake.shape)} examples must have one shape.")
    n = ops.shape(real)[0]
    if epsilon is None:         # drawn for the global batch and cut to this replica's rows (course_lib.distribute)
        epsilon = replica_rows(keras.random.uniform((n * replicas(),), seed=seed), n)
    epsilon = ops.reshape(ops.convert_to_tensor(epsilon, "float32"), (-1,) + (1,) * (len(real.shape) - 1))
    between = epsilon * real + (1.0 - epsilon) * fake
    with tf.GradientTape() as tape:
        tape.watch(between)
        scores = critic(between)
    grads = ops.reshape(tape.gradient(scores, between), (n, -1))
    return ops.mean(ops.square(ops.sqrt(ops.sum(ops.square(grads), axis=1) + 1e-12) - 1.0))


@keras.saving.register_keras_serializable(package="course_lib")
class WGANGP(GAN):
    """Generator and critic trained by WGAN-GP's steps: ``n_critic`` critic steps (penalty
    weight ``gp_weight``), then one generator step. ``fit`` logs per epoch ``critic_loss``,
    ``g_loss``, ``gp`` and ``w_estimate`` (E f(real) - E f(fake), before the penalty)."""

    def __init__(self, generator, discriminator, n_critic=5, gp_weight=10.0, pack=1, seed=0, **kwargs):
        if pack != 1:
            raise ValueError(f"WGANGP penalises the critic's slope per example: pack must be 1, got {pack!r}.")
        super().__init__(generator, discriminator, pack=pack, seed=seed, **kwargs)
        self.n_critic = positive_int(n_critic, "n_critic")
        self.gp_weight = check_number(gp_weight, "gp_weight", at_least=0)
        self.trackers = {name: keras.metrics.Mean(name=name) for name in ("critic_loss", "g_loss", "gp", "w_estimate")}

    def compile(self, d_optimizer, g_optimizer, **kwargs):
        """Two optimizers; the losses are WGAN-GP's (no ``generator_loss`` choice here)."""
        if "generator_loss" in kwargs:
            raise ValueError("a WGAN has one generator loss, -E f(G(z)); do not pass generator_loss.")
        self._compile_two(d_optimizer, g_optimizer, kwargs)

    def train_step(self, data):
        import tensorflow as tf

        x, c, _ = keras.utils.unpack_x_y_sample_weight(data)
        if self.num_classes is None:
            c = None
        n = ops.shape(x)[0]
        d_vars = self.discriminator.trainable_weights
        for _ in range(self.n_critic):          # 1. the critic ascends E f(real) - E f(fake), penalised
            fake = self._g(self._noise(n), c)
            with tf.GradientTape() as tape:
                gap = critic_gap(self._d(x, c), self._d(fake, c))
                gp = gradient_penalty(lambda v: self._d(v, c), x, fake, seed=self.seed_generator)
                critic_loss = -gap + self.gp_weight * gp
                scaled = replica_loss(critic_loss)      # several replicas' gradients are summed
            grads = clipped_share(self.d_optimizer, tape.gradient(scaled, d_vars))
            self.d_optimizer.apply_gradients(zip(grads, d_vars))
        with tf.GradientTape() as tape:         # 2. the generator raises the critic's score of its fakes
            g_loss = -ops.mean(self._d(self._g(self._noise(n), c), c))
            scaled = replica_loss(g_loss)
        g_vars = self.generator.trainable_weights
        grads = clipped_share(self.g_optimizer, tape.gradient(scaled, g_vars))
        self.g_optimizer.apply_gradients(zip(grads, g_vars))
        for name, value in [("critic_loss", critic_loss), ("g_loss", g_loss), ("gp", gp), ("w_estimate", gap)]:
            self.trackers[name].update_state(value)
        return {name: t.result() for name, t in self.trackers.items()}

    def get_config(self):
        return {**super().get_config(), "n_critic": self.n_critic, "gp_weight": self.gp_weight}


def critic_score(critic, x, labels=None, batch_size=1000):
    """f(x) for every example, as NumPy (n,)."""
    positive_int(batch_size, "batch_size")
    x = np.asarray(x, "float32")
    if not len(x):
        return np.zeros(0, "float32")
    out = [critic(x[s:s + batch_size] if labels is None else [x[s:s + batch_size], labels[s:s + batch_size]],
                  training=False) for s in range(0, len(x), batch_size)]
    return np.concatenate([ops.convert_to_numpy(o).reshape(-1) for o in out])


# ---------------------------------------------------------------------------------------
# The settings of 07b: the ring of 8 Gaussians and MNIST
# ---------------------------------------------------------------------------------------

GULRAJANI_BETAS = (0.5, 0.9)          # Gulrajani et al.'s Adam betas (with 5 critic steps and rate 1e-4 for images)
# 07b's MNIST WGAN-GP, chosen on validation digits at equal training minutes by
# `python -m course_lib.choices run wgan_settings` (bench/choices.json; a test checks they agree)
WGAN_N_CRITIC, WGAN_LEARNING_RATE = 1, 0.003
WGAN_BETAS, WGAN_GP_WEIGHT = (0.0, 0.9), 10.0


def wgan_optimizers(learning_rate=WGAN_LEARNING_RATE, betas=WGAN_BETAS):
    """(critic optimizer, generator optimizer): two Adams of one rate and betas (by default the
    settings chosen on validation digits for 07b's MNIST WGAN-GP)."""
    learning_rate = check_number(learning_rate, "learning_rate", above=0)
    if len(betas) != 2:
        raise ValueError(f"betas must be (beta_1, beta_2), got {betas!r}.")
    betas = tuple(check_number(b, f"betas[{i}]", at_least=0, below=1) for i, b in enumerate(betas))
    return tuple(keras.optimizers.Adam(learning_rate, beta_1=betas[0], beta_2=betas[1]) for _ in range(2))


def build_wgan(latent_dim=64, n_critic=WGAN_N_CRITIC, gp_weight=WGAN_GP_WEIGHT, seed=0):
    """07's DCGAN networks trained as a WGAN-GP: the discriminator's logit is the critic's
    score (it has no sigmoid and no batch normalization, which the per-example penalty needs)."""
    from course_lib.gan import build_discriminator, build_generator

    return WGANGP(build_generator(latent_dim), build_discriminator(), n_critic=n_critic, gp_weight=gp_weight,
                  seed=seed, name="wgan_gp")


def toy_wgan(input_dim=2, latent_dim=64, n_critic=5, seed=0):
    """07's toy MLP networks as a WGAN-GP (weights drawn after seeding with ``seed``)."""
    from course_lib.gan import build_mlp_discriminator, build_mlp_generator

    keras.utils.set_random_seed(seed)
    return WGANGP(build_mlp_generator(latent_dim, output_dim=input_dim), build_mlp_discriminator(input_dim),
                  n_critic=n_critic, seed=seed)


def train_toy_wgan(points, steps=4000, batch_size=512, latent_dim=64, lr=1e-3, n_critic=5, snapshot_every=500,
                   n_snapshot=2000, seed=0):
    """Train a toy WGAN-GP on 2-D ``points`` for ``steps`` *generator* steps (each after
    ``n_critic`` critic steps), Adam(lr, *GULRAJANI_BETAS); returns (wgan, snapshots) like
    ``gan.train_toy_gan``: (step, samples, history of the last chunk)."""
    import math

    from course_lib.gan import toy_gan_snapshots

    wgan = toy_wgan(points.shape[1], latent_dim, n_critic, seed)
    wgan.compile(*wgan_optimizers(lr, GULRAJANI_BETAS), steps_per_execution=math.gcd(snapshot_every, 50))
    return wgan, toy_gan_snapshots(wgan, points, steps, batch_size, snapshot_every, n_snapshot, seed)


def critic_estimate(wgan, real, seed=0, batch_size=1000):
    """E f(real) - E f(G(z)) on ``real`` examples the critic never trained on (as many
    generated ones): the critic's estimate of W(data, model), without the penalty."""
    real = finite_array(real, "real", dtype="float32")
    if not len(real):
        raise ValueError(f"real must hold at least one example, got shape {real.shape}.")
    fake = wgan.generate(len(real), seed=seed, batch_size=batch_size)
    return float(np.mean(critic_score(wgan.discriminator, real, batch_size=batch_size))
                 - np.mean(critic_score(wgan.discriminator, fake, batch_size=batch_size)))


def fit_critic(real, fake, steps=500, gp_weight=10.0, hidden=64, lr=1e-3, batch_size=256, seed=0):
    """Train only a critic (a small MLP) to separate two fixed sample sets, by WGAN-GP's critic
    loss; returns (critic, the gap E f(real) - E f(fake) on all examples after training).
    The gap estimates W1(real, fake), but the penalty is soft: for two equal shapes a distance
    m apart (W1 = m) a linear critic of slope s pays lambda (s - 1)^2 for the gap s m, so the
    penalised optimum is s = 1 + m / (2 lambda) and the gap m + m^2 / (2 lambda), above W1.
    Use two or more dimensions: on a line the gradient cannot turn round, so a critic whose
    slope starts negative must pass slope 0 (penalty lambda) to reverse, and can stall at a gap
    near -m (in the plane the gradient rotates, keeping its norm)."""
    import tensorflow as tf

    from course_lib.gan import build_mlp_discriminator

    real, fake = finite_array(real, "real", dtype="float32"), finite_array(fake, "fake", dtype="float32")
    if real.ndim != 2 or real.shape[1:] != fake.shape[1:] or not len(real) or not len(fake):
        raise ValueError(f"real and fake must be non-empty (n, d) arrays of one width, got {real.shape} and "
                         f"{fake.shape}.")
    steps, batch_size, hidden = (positive_int(v, k) for k, v in
                                 (("steps", steps), ("batch_size", batch_size), ("hidden", hidden)))
    gp_weight = check_number(gp_weight, "gp_weight", at_least=0)
    lr = check_number(lr, "lr", above=0)
    keras.utils.set_random_seed(seed)
    critic = build_mlp_discriminator(real.shape[1], hidden=hidden)
    optimizer = keras.optimizers.Adam(lr, beta_1=0.5, beta_2=0.9)
    rng = np.random.default_rng(seed)
    seeds = keras.random.SeedGenerator(seed)

    @tf.function
    def step(r, f):
        with tf.GradientTape() as tape:
            loss = -critic_gap(critic(r), critic(f)) + gp_weight * gradient_penalty(critic, r, f, seed=seeds)
        optimizer.apply_gradients(zip(tape.gradient(loss, critic.trainable_weights), critic.trainable_weights))

    for _ in range(steps):
        step(real[rng.integers(0, len(real), batch_size)], fake[rng.integers(0, len(fake), batch_size)])
    return critic, float(critic_gap(critic_score(critic, real), critic_score(critic, fake)))
