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
    if epsilon is None:
        epsilon = keras.random.uniform((n,), seed=seed)
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
        if isinstance(n_critic, bool) or not isinstance(n_critic, (int, np.integer)) or n_critic < 1:
            raise ValueError(f"n_critic must be a positive integer, got {n_critic!r}.")
        if not (isinstance(gp_weight, (int, float)) and gp_weight >= 0):
            raise ValueError(f"gp_weight must be a number >= 0, got {gp_weight!r}.")
        self.n_critic, self.gp_weight = int(n_critic), float(gp_weight)
        self.trackers = {name: keras.metrics.Mean(name=name) for name in ("critic_loss", "g_loss", "gp", "w_estimate")}

    def compile(self, d_optimizer, g_optimizer, **kwargs):
        """Two optimizers; the losses are WGAN-GP's (no ``generator_loss`` choice here)."""
        if "generator_loss" in kwargs:
            raise ValueError("a WGAN has one generator loss, -E f(G(z)); do not pass generator_loss.")
        keras.Model.compile(self, **kwargs)
        self.d_optimizer, self.g_optimizer = d_optimizer, g_optimizer

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
            self.d_optimizer.apply_gradients(zip(tape.gradient(critic_loss, d_vars), d_vars))
        with tf.GradientTape() as tape:         # 2. the generator raises the critic's score of its fakes
            g_loss = -ops.mean(self._d(self._g(self._noise(n), c), c))
        g_vars = self.generator.trainable_weights
        self.g_optimizer.apply_gradients(zip(tape.gradient(g_loss, g_vars), g_vars))
        for name, value in [("critic_loss", critic_loss), ("g_loss", g_loss), ("gp", gp), ("w_estimate", gap)]:
            self.trackers[name].update_state(value)
        return {name: t.result() for name, t in self.trackers.items()}

    def get_config(self):
        return {**super().get_config(), "n_critic": self.n_critic, "gp_weight": self.gp_weight}


def critic_score(critic, x, labels=None, batch_size=1000):
    """f(x) for every example, as NumPy (n,)."""
    x = np.asarray(x, "float32")
    out = [critic(x[s:s + batch_size] if labels is None else [x[s:s + batch_size], labels[s:s + batch_size]],
                  training=False) for s in range(0, len(x), batch_size)]
    return np.concatenate([ops.convert_to_numpy(o).reshape(-1) for o in out])
