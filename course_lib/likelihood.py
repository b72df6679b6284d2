"""Gaussian likelihood, its log, and maximum likelihood by SGD.

Introduced in 01_likelihood. The slides fit the parameters of an explicit model by
maximising the likelihood of the data,

    theta* = argmax_theta  prod_i p(x_i | theta)          (the likelihood)
           = argmax_theta  sum_i log p(x_i | theta)       (the log-likelihood, same argmax)

and take the 1-D Gaussian as the worked case. This module holds:

- ``gaussian_log_pdf`` / ``gaussian_pdf``: score points under N(mu, sigma^2);
- ``likelihood_product`` / ``log_likelihood``: the two formulas of the slides, computed
  literally, so that the notebook can show the product underflowing;
- ``product_underflow_n``: from which N the running product is exactly 0.0, in TensorFlow
  (which flushes subnormal numbers to zero) or in NumPy (which keeps them);
- ``gaussian_nll``: the loss SGD minimises, written in ``keras.ops`` with sigma = exp(log_sigma);
- ``fit_gaussian_sgd``: the training loop (Keras variables + a Keras optimizer);
- ``gaussian_mle``: the closed-form answer to check the loop against.

Scoring functions take array-likes and return NumPy values; ``gaussian_nll`` returns a
tensor, because gradients have to flow through it.
"""

import math
from typing import NamedTuple

import numpy as np

LOG_2PI = math.log(2.0 * math.pi)


# ----------------------------------------------------------------------------- checks

def _as_1d_data(x, name="x"):
    x = np.asarray(x)
    if x.ndim != 1:
        raise ValueError(f"{name} must be a 1-D array of scalar observations, got shape {x.shape}.")
    if x.size == 0:
        raise ValueError(f"{name} is empty: the likelihood needs at least one observation.")
    if not np.issubdtype(x.dtype, np.number) or not np.all(np.isfinite(x)):
        raise ValueError(f"{name} must hold finite numbers (no NaN or inf).")
    return x


def _as_scalar(value, name):
    arr = np.asarray(value)
    if arr.shape != ():
        raise ValueError(f"{name} must be a scalar, got shape {arr.shape}.")
    value = float(arr)
    if not math.isfinite(value):
        raise ValueError(f"{name} must be finite, got {value}.")
    return value


def _check_sigma(sigma, name="sigma"):
    sigma = _as_scalar(sigma, name)
    if sigma <= 0:
        raise ValueError(f"{name} must be > 0 (a standard deviation), got {sigma}.")
    return sigma


# ----------------------------------------------------------------------------- scoring

def _log_pdf(x, mu, log_sigma):
    """log N(x; mu, sigma^2) with sigma = exp(log_sigma), in keras.ops (differentiable)."""
    from keras import ops

    z = (x - mu) / ops.exp(log_sigma)
    # log p(x | mu, sigma) = -log(sqrt(2 pi) sigma) - (x - mu)^2 / (2 sigma^2)
    return -0.5 * LOG_2PI - log_sigma - 0.5 * ops.square(z)


def gaussian_log_pdf(x, mu, sigma, dtype="float32"):
    """log p(x | mu, sigma) for every entry of ``x`` (NumPy array of the same shape).

    Introduced in 01_likelihood. ``mu`` and ``sigma`` are scalars, ``sigma > 0``.
    """
    from keras import ops

    x = np.asarray(x)
    if not np.issubdtype(x.dtype, np.number):
        raise ValueError(f"x must be numeric, got dtype {x.dtype}.")
    mu = _as_scalar(mu, "mu")
    sigma = _check_sigma(sigma)
    # convert Python floats straight to ``dtype``: casting via float32 would lose digits
    xt, mu_t, log_sigma_t = (ops.convert_to_tensor(v, dtype=dtype) for v in (x, mu, math.log(sigma)))
    out = _log_pdf(xt, mu_t, log_sigma_t)
    return ops.convert_to_numpy(out)


def gaussian_pdf(x, mu, sigma, dtype="float32"):
    """p(x | mu, sigma) = exp(-(x - mu)^2 / (2 sigma^2)) / (sqrt(2 pi) sigma), elementwise.

    Introduced in 01_likelihood. Computed in ``dtype`` directly (not as exp of the log), so
    tiny densities round to 0 exactly as a float32 network would see them.
    """
    from keras import ops

    x = np.asarray(x)
    if not np.issubdtype(x.dtype, np.number):
        raise ValueError(f"x must be numeric, got dtype {x.dtype}.")
    mu = _as_scalar(mu, "mu")
    sigma = _check_sigma(sigma)
    xt = ops.convert_to_tensor(x, dtype=dtype)
    norm = 1.0 / (math.sqrt(2.0 * math.pi) * sigma)                       # 1 / (sqrt(2 pi) sigma)
    out = norm * ops.exp(-ops.square(xt - mu) / (2.0 * sigma**2))          # * e^{-(x-mu)^2 / 2 sigma^2}
    return ops.convert_to_numpy(out)


def likelihood_product(x, mu, sigma, dtype="float32"):
    """The likelihood as the slides write it: prod_i p(x_i | mu, sigma), computed literally.

    Introduced in 01_likelihood. Computed with TensorFlow, as a Keras model would. Its CPU
    kernels flush subnormal numbers to zero (FTZ/DAZ), so the product is exactly 0.0 as soon
    as it drops below the smallest *normal* float (1.18e-38 in float32, 2.2e-308 in float64):
    for typical data after some tens of points in float32, several hundred in float64. That
    is the numerical reason the slides move to the log domain.
    """
    from keras import ops

    x = _as_1d_data(x)
    densities = gaussian_pdf(x, mu, sigma, dtype=dtype)
    return ops.convert_to_numpy(ops.prod(ops.convert_to_tensor(densities, dtype=dtype)))


def product_underflow_n(densities, backend="tensorflow"):
    """The smallest N for which prod_{i <= N} densities[i] is exactly 0.0 (None if never).

    Introduced in 01_likelihood. The running product is computed in the dtype of
    ``densities`` (float32 or float64), with ``backend="tensorflow"`` (``keras.ops.cumprod``:
    TensorFlow's CPU kernels flush any result below the smallest normal float to zero) or
    ``backend="numpy"`` (``np.cumprod``: subnormal results are kept, so the product reaches
    0.0 only below the smallest subnormal float). Comparing the two shows flush-to-zero.
    """
    from keras import ops

    densities = _as_1d_data(densities, "densities")
    if densities.dtype not in (np.float32, np.float64):
        raise ValueError(f"densities must be float32 or float64, got {densities.dtype}.")
    if np.any(densities <= 0):
        raise ValueError("densities must be > 0: a zero density makes the product 0 from the start.")
    if backend == "tensorflow":
        running = ops.convert_to_numpy(ops.cumprod(ops.convert_to_tensor(densities)))
    elif backend == "numpy":
        running = np.cumprod(densities)
    else:
        raise ValueError(f"backend must be 'tensorflow' or 'numpy', got {backend!r}.")
    zeros = np.flatnonzero(running == 0)
    return int(zeros[0]) + 1 if zeros.size else None


def log_likelihood(x, mu, sigma, dtype="float32"):
    """sum_i log p(x_i | mu, sigma): the slides' log-likelihood, finite where the product is 0.

    Introduced in 01_likelihood.
    """
    from keras import ops

    x = _as_1d_data(x)
    return ops.convert_to_numpy(ops.sum(gaussian_log_pdf(x, mu, sigma, dtype=dtype)))


# ----------------------------------------------------------------------------- fitting

def gaussian_nll(x, mu, log_sigma):
    """Mean negative log-likelihood -1/N sum_i log p(x_i | mu, exp(log_sigma)), a scalar tensor.

    Introduced in 01_likelihood. This is the loss ``fit_gaussian_sgd`` minimises. Maximising
    the log-likelihood and minimising its negative mean have the same argmax; the mean keeps
    the gradient's size independent of the batch size. ``log_sigma`` is any real number, so
    sigma = exp(log_sigma) stays positive without a constraint.
    """
    from keras import ops

    x = ops.convert_to_tensor(x, dtype="float32")
    if len(x.shape) != 1:
        raise ValueError(f"x must be a 1-D batch of observations, got shape {tuple(x.shape)}.")
    mu, log_sigma = ops.cast(mu, x.dtype), ops.cast(log_sigma, x.dtype)   # accept floats/float64 too
    return -ops.mean(_log_pdf(x, mu, log_sigma))


def gaussian_mle(x):
    """Closed-form maximum-likelihood estimate (mu_hat, sigma_hat) of a 1-D Gaussian.

    Introduced in 01_likelihood. Setting the gradient of the log-likelihood to zero gives
    mu_hat = mean(x) and sigma_hat = sqrt(mean((x - mu_hat)^2)): the 1/N ("biased")
    standard deviation, not the 1/(N-1) one.
    """
    x = _as_1d_data(x).astype("float64")
    mu = x.mean()                                   # mu_hat = 1/N sum_i x_i
    sigma = np.sqrt(np.mean((x - mu) ** 2))         # sigma_hat^2 = 1/N sum_i (x_i - mu_hat)^2
    if sigma == 0:
        raise ValueError("all observations are equal: the MLE of sigma is 0 (a degenerate Gaussian).")
    return float(mu), float(sigma)


class GaussianFit(NamedTuple):
    """What ``fit_gaussian_sgd`` returns: the fitted parameters and the loss at every step.

    Introduced in 01_likelihood.
    """

    mu: float
    sigma: float
    losses: np.ndarray


def _check_fit_args(x, optimizer, steps, batch_size, mu_init, sigma_init):
    import keras

    x = _as_1d_data(x).astype("float32")
    if not isinstance(optimizer, keras.optimizers.Optimizer):
        raise ValueError(f"optimizer must be a keras.optimizers.Optimizer, got {type(optimizer).__name__}.")
    if optimizer.built:
        raise ValueError("optimizer is already built for other variables: pass a new optimizer to each fit.")
    if int(steps) != steps or steps < 1:
        raise ValueError(f"steps must be a positive integer, got {steps}.")
    n = len(x)
    batch_size = n if batch_size is None else batch_size
    if int(batch_size) != batch_size or not 1 <= batch_size <= n:
        raise ValueError(f"batch_size must be an integer in 1..{n} (the number of points), got {batch_size}.")
    _as_scalar(mu_init, "mu_init")
    _check_sigma(sigma_init, "sigma_init")
    return x, int(steps), int(batch_size)


def fit_gaussian_sgd(x, optimizer, steps, batch_size=None, mu_init=0.0, sigma_init=1.0, seed=0):
    """Fit N(mu, sigma^2) to ``x`` by minimising ``gaussian_nll`` with a Keras optimizer.

    Introduced in 01_likelihood (and reused in 02_kl_divergence: forward KL = maximum
    likelihood). ``batch_size=None`` uses every point at every step (full-batch gradient
    descent); a smaller batch makes it stochastic. Returns ``GaussianFit(mu, sigma, losses)``.
    """
    import keras
    import tensorflow as tf

    x, steps, batch_size = _check_fit_args(x, optimizer, steps, batch_size, mu_init, sigma_init)
    n = len(x)

    # The parameters are Keras variables; sigma lives in log space so it stays positive.
    mu = keras.Variable(mu_init, dtype="float32", name="mu")
    log_sigma = keras.Variable(math.log(sigma_init), dtype="float32", name="log_sigma")
    params = [mu, log_sigma]
    optimizer.build(params)

    @tf.function  # compiles one step; the Python loop below stays readable and fast
    def train_step(batch):
        with tf.GradientTape() as tape:
            loss = gaussian_nll(batch, mu, log_sigma)        # -1/B sum_b log p(x_b | mu, sigma)
        grads = tape.gradient(loss, params)                  # d loss / d(mu, log sigma)
        optimizer.apply(grads, params)                       # one (S)GD update
        return loss

    rng = np.random.default_rng(seed)
    losses = np.empty(steps, dtype="float32")
    for step in range(steps):
        # a fresh random mini-batch each step: that is what makes the gradient "stochastic"
        batch = x if batch_size == n else x[rng.choice(n, size=batch_size, replace=False)]
        losses[step] = float(train_step(batch))
    return GaussianFit(float(mu.numpy()), float(np.exp(log_sigma.numpy())), losses)
