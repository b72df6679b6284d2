"""Kullback-Leibler divergence: discrete, Gaussian, and fitted in both directions.

Introduced in 02_kl_divergence. The slides define

    D_KL(P || Q) = sum_x P(x) log(P(x) / Q(x))

work it out for P = Binomial(2, 0.4) against Q = uniform on {0, 1, 2}, and use the closed
form of KL(q(z|x) || N(0, I)) as the VAE's regulariser. This module holds:

- ``kl_divergence``, ``binomial_pmf``, ``uniform_pmf``: the worked example;
- ``gaussian_kl``: the closed form between two 1-D Gaussians (float64 reference);
- ``kl_to_standard_normal``: the VAE's KL term in ``keras.ops`` (a training loss), and
  ``kl_to_standard_normal_mc``, its Monte-Carlo estimate, to check the closed form;
- ``mixture_log_pdf``, ``mixture_moments``, ``sample_mixture``: a 1-D Gaussian mixture,
  the bimodal target of the mode-covering vs mode-seeking experiment;
- ``kl_on_grid`` and ``fit_gaussian_kl_on_grid``: fit one Gaussian to a target density by
  forward or reverse KL, with the integral done by quadrature on a fixed grid (deterministic).

Reference values (``kl_divergence``, ``gaussian_kl``, the mixture helpers) are NumPy float64;
losses that gradients flow through return tensors.
"""

import math
from typing import NamedTuple

import numpy as np

from course_lib.likelihood import _log_pdf

PROB_ATOL = 1e-6  # how far from 1 a probability vector's sum may be (float32 inputs round)


# ----------------------------------------------------------------------------- discrete

def _check_prob_vector(p, name):
    p = np.asarray(p, dtype="float64")
    if p.ndim != 1 or p.size == 0:
        raise ValueError(f"{name} must be a non-empty 1-D probability vector, got shape {p.shape}.")
    if not np.all(np.isfinite(p)):
        raise ValueError(f"{name} holds NaN or inf: {p}.")
    if np.any(p < 0):
        raise ValueError(f"{name} has negative entries ({p.min():.3g}); probabilities must be >= 0.")
    if abs(p.sum() - 1.0) > PROB_ATOL:
        raise ValueError(f"{name} must sum to 1, it sums to {p.sum():.6g}.")
    return p


def kl_divergence(p, q):
    """D_KL(P || Q) = sum_x P(x) ln(P(x) / Q(x)) in nats, for two probability vectors.

    Introduced in 02_kl_divergence. The first argument is the distribution the average is
    taken under. Terms with P(x) = 0 contribute 0 (the limit of t ln t); if Q(x) = 0 where
    P(x) > 0 the divergence is infinite and ``inf`` is returned.
    """
    p = _check_prob_vector(p, "p")
    q = _check_prob_vector(q, "q")
    if p.shape != q.shape:
        raise ValueError(f"p and q must have the same support, got shapes {p.shape} and {q.shape}.")
    support = p > 0                                   # 0 * ln(0 / q) = 0 by convention
    if np.any(q[support] == 0):
        return float("inf")                           # P puts mass where Q puts none
    return float(np.sum(p[support] * np.log(p[support] / q[support])))   # sum P ln(P / Q)


def binomial_pmf(n, p):
    """[P(X = k) for k = 0..n] for X ~ Binomial(n, p): C(n, k) p^k (1 - p)^(n - k).

    Introduced in 02_kl_divergence (the slides' P is ``binomial_pmf(2, 0.4)`` = [9, 12, 4] / 25).
    """
    if isinstance(n, bool) or int(n) != n or n < 0:
        raise ValueError(f"n must be a non-negative integer (number of trials), got {n}.")
    if not 0.0 <= p <= 1.0:
        raise ValueError(f"p must be a probability in [0, 1], got {p}.")
    n = int(n)
    return np.array([math.comb(n, k) * p**k * (1 - p) ** (n - k) for k in range(n + 1)])


def uniform_pmf(k):
    """[1/k, ..., 1/k]: the uniform distribution on k outcomes (the slides' Q, k = 3).

    Introduced in 02_kl_divergence.
    """
    if isinstance(k, bool) or int(k) != k or k < 1:
        raise ValueError(f"k must be a positive integer (number of outcomes), got {k}.")
    return np.full(int(k), 1.0 / int(k))


# ----------------------------------------------------------------------------- Gaussian

def gaussian_kl(mu_q, sigma_q, mu_p, sigma_p):
    """KL(N(mu_q, sigma_q^2) || N(mu_p, sigma_p^2)) for 1-D Gaussians, float64, broadcasting.

    Introduced in 02_kl_divergence. Closed form:
    log(sigma_p / sigma_q) + (sigma_q^2 + (mu_q - mu_p)^2) / (2 sigma_p^2) - 1/2.
    """
    args = [np.asarray(a, dtype="float64") for a in (mu_q, sigma_q, mu_p, sigma_p)]
    try:
        mu_q, sigma_q, mu_p, sigma_p = np.broadcast_arrays(*args)
    except ValueError:
        raise ValueError(f"the four parameters must broadcast together, got shapes "
                         f"{[a.shape for a in args]}.") from None
    for name, s in (("sigma_q", sigma_q), ("sigma_p", sigma_p)):
        if not np.all(s > 0):
            raise ValueError(f"{name} must be > 0 (a standard deviation), got min {s.min():.3g}.")
    out = (np.log(sigma_p / sigma_q)
           + (sigma_q**2 + (mu_q - mu_p) ** 2) / (2.0 * sigma_p**2)
           - 0.5)
    return out if out.ndim else float(out)


def _check_mu_log_var(mu, log_var):
    from keras import ops

    shape_mu, shape_lv = tuple(mu.shape), tuple(log_var.shape)  # static shapes: also inside a traced train step
    if shape_mu != shape_lv:
        raise ValueError(f"mu and log_var must have the same shape, got {shape_mu} and {shape_lv}.")
    if len(shape_mu) < 1:
        raise ValueError("mu and log_var need a last axis of latent dimensions, got scalars.")


def kl_to_standard_normal(mu, log_var):
    """KL(q(z|x) || N(0, I)) for q = N(mu, diag(exp(log_var))), one value per example.

    Introduced in 02_kl_divergence; the VAE's KL term (04a_vae). ``mu`` and ``log_var`` have
    shape (..., latent_dim); the sum runs over the last (latent) axis, as in the slides:

        L_KL = -0.5 * sum_i (1 + log sigma_i^2 - mu_i^2 - exp(log sigma_i^2))
             =  0.5 * sum_i (exp(log_var_i) + mu_i^2 - 1 - log_var_i)      (the slides' kl_loss)

    Returns a tensor of shape (...,); average it over the batch for the loss.
    """
    from keras import ops

    mu = ops.convert_to_tensor(mu)
    log_var = ops.convert_to_tensor(log_var, dtype=mu.dtype)
    _check_mu_log_var(mu, log_var)
    # the slides' kl_loss line; -0.5 * (1 + lv - mu^2 - e^lv) rearranged, so a perfect match gives +0.0
    return 0.5 * ops.sum(ops.exp(log_var) + ops.square(mu) - 1.0 - log_var, axis=-1)


def kl_to_standard_normal_mc(mu, log_var, num_samples, seed=0):
    """Monte-Carlo estimate of ``kl_to_standard_normal``: (estimate, standard error), NumPy.

    Introduced in 02_kl_divergence. KL(q || p) = E_{z~q}[log q(z) - log p(z)], so draw
    z = mu + sigma * eps with eps ~ N(0, I) (the reparameterization of the slides) and
    average log q(z) - log p(z) over ``num_samples`` draws.
    """
    import keras
    from keras import ops

    if isinstance(num_samples, bool) or int(num_samples) != num_samples or num_samples < 2:
        raise ValueError(f"num_samples must be an integer >= 2, got {num_samples}.")
    mu = ops.convert_to_tensor(mu, dtype="float32")
    log_var = ops.convert_to_tensor(log_var, dtype="float32")
    _check_mu_log_var(mu, log_var)
    eps = keras.random.normal((int(num_samples),) + tuple(mu.shape), seed=seed)
    z = mu + ops.exp(0.5 * log_var) * eps                                  # z ~ q(z|x)
    log_q = ops.sum(_log_pdf(z, mu, 0.5 * log_var), axis=-1)              # log N(z; mu, sigma^2)
    log_p = ops.sum(_log_pdf(z, 0.0, ops.zeros_like(z)), axis=-1)          # log N(z; 0, 1)
    draws = ops.convert_to_numpy(log_q - log_p).astype("float64")         # one KL sample per draw
    estimate = draws.mean(axis=0)
    stderr = draws.std(axis=0, ddof=1) / math.sqrt(num_samples)
    return estimate, stderr


# ----------------------------------------------------------------------------- mixture

def _check_mixture(weights, means, sigmas):
    weights = _check_prob_vector(weights, "weights")
    means = np.asarray(means, dtype="float64")
    sigmas = np.asarray(sigmas, dtype="float64")
    if means.shape != weights.shape or sigmas.shape != weights.shape:
        raise ValueError(f"weights, means and sigmas need one entry per component, got shapes "
                         f"{weights.shape}, {means.shape}, {sigmas.shape}.")
    if not np.all(np.isfinite(means)):
        raise ValueError("means must be finite.")
    if not np.all(sigmas > 0):
        raise ValueError(f"sigmas must be > 0, got {sigmas}.")
    return weights, means, sigmas


def mixture_log_pdf(x, weights, means, sigmas):
    """log p(x) for p = sum_k w_k N(mu_k, sigma_k^2), elementwise, float64.

    Introduced in 02_kl_divergence. Uses log-sum-exp, so it stays finite far in the tails
    where every component's density underflows.
    """
    from scipy.special import logsumexp

    weights, means, sigmas = _check_mixture(weights, means, sigmas)
    x = np.asarray(x, dtype="float64")[..., None]                           # (..., 1) vs (K,)
    log_components = (-0.5 * math.log(2 * math.pi) - np.log(sigmas)
                      - 0.5 * ((x - means) / sigmas) ** 2)                  # log N(x; mu_k, sigma_k)
    return logsumexp(np.log(weights) + log_components, axis=-1)            # log sum_k w_k N_k(x)


def mixture_moments(weights, means, sigmas):
    """Mean and standard deviation of a 1-D Gaussian mixture (closed form).

    Introduced in 02_kl_divergence: the Gaussian that minimises the forward KL(p || q) is
    the one with p's mean and variance (moment matching).
    mean = sum_k w_k mu_k;  var = sum_k w_k (sigma_k^2 + mu_k^2) - mean^2.
    """
    weights, means, sigmas = _check_mixture(weights, means, sigmas)
    mean = np.sum(weights * means)
    var = np.sum(weights * (sigmas**2 + means**2)) - mean**2
    return float(mean), float(math.sqrt(var))


def sample_mixture(n, weights, means, sigmas, seed=0):
    """``n`` draws from the mixture: pick component k with probability w_k, then N(mu_k, sigma_k^2).

    Introduced in 02_kl_divergence.
    """
    weights, means, sigmas = _check_mixture(weights, means, sigmas)
    if isinstance(n, bool) or int(n) != n or n < 1:
        raise ValueError(f"n must be a positive integer, got {n}.")
    rng = np.random.default_rng(seed)
    k = rng.choice(len(weights), size=int(n), p=weights)
    return rng.normal(means[k], sigmas[k])


# ----------------------------------------------------------------------------- fitting by KL

def _check_grid(grid):
    grid = np.asarray(grid, dtype="float64")
    if grid.ndim != 1 or grid.size < 3:
        raise ValueError(f"grid must be a 1-D array of at least 3 points, got shape {grid.shape}.")
    steps = np.diff(grid)
    if not np.all(steps > 0) or not np.allclose(steps, steps[0], rtol=1e-6, atol=0):
        raise ValueError("grid must be increasing and evenly spaced (e.g. np.linspace(a, b, n)).")
    return grid, float(steps[0])


def kl_on_grid(log_a, log_b, grid):
    """KL(a || b) = integral a(x) (log a(x) - log b(x)) dx by the rectangle rule on ``grid``.

    Introduced in 02_kl_divergence. ``log_a`` and ``log_b`` hold log-densities at the grid
    points on their last axis (they broadcast against each other); returns one value per
    leading index, as a tensor, so it can be differentiated. The grid must cover the mass
    of both densities: the tails it cuts off are ignored.
    """
    from keras import ops

    grid, dx = _check_grid(grid)
    log_a = ops.convert_to_tensor(log_a, dtype="float32")
    log_b = ops.convert_to_tensor(log_b, dtype="float32")
    for name, t in (("log_a", log_a), ("log_b", log_b)):
        if len(t.shape) == 0 or t.shape[-1] != grid.size:
            raise ValueError(f"{name} must hold one value per grid point on its last axis "
                             f"({grid.size}), got shape {tuple(t.shape)}.")
    # sum_g a(x_g) (log a(x_g) - log b(x_g)) dx; where a underflows to 0 the term is 0.
    return ops.sum(ops.exp(log_a) * (log_a - log_b), axis=-1) * dx


class GridFit(NamedTuple):
    """What ``fit_gaussian_kl_on_grid`` returns: one fitted Gaussian per start, and the losses.

    Introduced in 02_kl_divergence.
    """

    mu: np.ndarray
    sigma: np.ndarray
    losses: np.ndarray  # (steps, number of starts)


def _check_grid_fit_args(log_p, grid, mu_init, sigma_init, optimizer, steps, direction):
    import keras

    grid, dx = _check_grid(grid)
    log_p = np.asarray(log_p, dtype="float64")
    if log_p.shape != grid.shape:
        raise ValueError(f"log_p must hold one log-density per grid point, got shape "
                         f"{log_p.shape} for a grid of {grid.size} points.")
    if np.any(np.isnan(log_p)) or np.any(log_p == np.inf):
        raise ValueError("log_p holds NaN or +inf.")
    mass = np.exp(log_p).sum() * dx
    if abs(mass - 1.0) > 1e-3:
        raise ValueError(f"exp(log_p) integrates to {mass:.4f} on this grid, not 1: widen the grid "
                         "or normalise the target.")
    mu_init = np.atleast_1d(np.asarray(mu_init, dtype="float64"))
    sigma_init = np.broadcast_to(np.asarray(sigma_init, dtype="float64"), mu_init.shape)
    if mu_init.ndim != 1 or not np.all(np.isfinite(mu_init)):
        raise ValueError(f"mu_init must be a finite scalar or 1-D array of starts, got {mu_init}.")
    if not np.all(sigma_init > 0):
        raise ValueError(f"sigma_init must be > 0, got {sigma_init}.")
    if not isinstance(optimizer, keras.optimizers.Optimizer):
        raise ValueError(f"optimizer must be a keras.optimizers.Optimizer, got {type(optimizer).__name__}.")
    if optimizer.built:
        raise ValueError("optimizer is already built for other variables: pass a new optimizer to each fit.")
    if isinstance(steps, bool) or int(steps) != steps or steps < 1:
        raise ValueError(f"steps must be a positive integer, got {steps}.")
    if direction not in ("forward", "reverse"):
        raise ValueError(f"direction must be 'forward' (KL(p||q)) or 'reverse' (KL(q||p)), got {direction!r}.")
    return grid, log_p, mu_init, sigma_init, int(steps)


def fit_gaussian_kl_on_grid(log_p, grid, mu_init, sigma_init, optimizer, steps, direction="reverse"):
    """Fit q = N(mu, sigma^2) to the density exp(log_p) on ``grid`` by minimising a KL.

    Introduced in 02_kl_divergence.

    - ``direction="forward"``: minimise KL(p || q) = E_p[log p - log q], i.e. maximise the
      expected log-likelihood of q under p: maximum likelihood, mode-covering.
    - ``direction="reverse"``: minimise KL(q || p) = E_q[log q - log p]: q is punished
      wherever it puts mass that p lacks, so it hides inside one mode: mode-seeking.

    ``mu_init`` may be an array of starts: all are fitted at once, each with its own
    (mu, log sigma); the loss is their sum, and since each KL depends only on its own pair
    the fits do not interact. Returns ``GridFit(mu, sigma, losses)``.
    """
    import keras
    import tensorflow as tf
    from keras import ops

    grid, log_p, mu_init, sigma_init, steps = _check_grid_fit_args(
        log_p, grid, mu_init, sigma_init, optimizer, steps, direction)

    mu = keras.Variable(mu_init, dtype="float32", name="mu")
    log_sigma = keras.Variable(np.log(sigma_init), dtype="float32", name="log_sigma")
    params = [mu, log_sigma]
    optimizer.build(params)
    x = ops.convert_to_tensor(grid[None, :], dtype="float32")               # (1, G)
    log_p_t = ops.convert_to_tensor(log_p[None, :], dtype="float32")        # (1, G)

    @tf.function
    def train_step():
        with tf.GradientTape() as tape:
            log_q = _log_pdf(x, mu[:, None], log_sigma[:, None])           # (starts, G)
            if direction == "forward":
                kl = kl_on_grid(log_p_t, log_q, grid)                       # KL(p || q)
            else:
                kl = kl_on_grid(log_q, log_p_t, grid)                       # KL(q || p)
            loss = ops.sum(kl)                                              # independent fits
        optimizer.apply(tape.gradient(loss, params), params)
        return kl

    losses = np.stack([ops.convert_to_numpy(train_step()) for _ in range(steps)])
    return GridFit(mu.numpy().astype("float64"), np.exp(log_sigma.numpy().astype("float64")), losses)
