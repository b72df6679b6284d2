"""Tests for course_lib.likelihood (01_likelihood): references are scipy.stats and the closed-form MLE."""

import math

import keras
import numpy as np
import pytest
import tensorflow as tf
from scipy import stats

from course_lib.likelihood import (
    GaussianFit,
    fit_gaussian_sgd,
    gaussian_log_pdf,
    gaussian_mle,
    gaussian_nll,
    gaussian_pdf,
    likelihood_product,
    log_likelihood,
    product_underflow_n,
)

MU, SIGMA, N = 1.5, 0.8, 1000


@pytest.fixture(scope="module")
def data():
    return np.random.default_rng(0).normal(MU, SIGMA, N).astype("float32")


# ----------------------------------------------------------------------------- scoring

def test_log_pdf_matches_scipy():
    x = np.linspace(-5, 5, 41)
    got = gaussian_log_pdf(x, 0.7, 1.3, dtype="float64")
    np.testing.assert_allclose(got, stats.norm.logpdf(x, 0.7, 1.3), rtol=1e-12)
    got32 = gaussian_log_pdf(x, 0.7, 1.3)
    assert got32.dtype == np.float32 and got32.shape == x.shape
    np.testing.assert_allclose(got32, stats.norm.logpdf(x, 0.7, 1.3), rtol=1e-5)


def test_pdf_matches_scipy():
    x = np.linspace(-4, 6, 33)
    np.testing.assert_allclose(gaussian_pdf(x, 1.0, 2.0, dtype="float64"),
                               stats.norm.pdf(x, 1.0, 2.0), rtol=1e-12)


def test_explicit_model_scores_in_range_above_outlier():
    inside, outlier = gaussian_log_pdf([MU, MU + 6 * SIGMA], MU, SIGMA, dtype="float64")
    assert inside == pytest.approx(-math.log(math.sqrt(2 * math.pi) * SIGMA))
    assert outlier == pytest.approx(inside - 18.0)       # -(6 sigma)^2 / (2 sigma^2) = -18


def test_product_underflows_in_float32_but_log_stays_finite(data):
    assert likelihood_product(data, MU, SIGMA) == 0.0            # float32: underflow
    assert likelihood_product(data, MU, SIGMA, dtype="float64") == 0.0   # 1000 points: even float64
    ll = log_likelihood(data, MU, SIGMA)
    assert np.isfinite(ll)
    assert ll == pytest.approx(stats.norm.logpdf(data, MU, SIGMA).sum(), rel=1e-5)


def test_product_equals_exp_of_log_likelihood_for_few_points(data):
    few = data[:20]
    prod = likelihood_product(few, MU, SIGMA, dtype="float64")
    assert prod > 0
    assert prod == pytest.approx(math.exp(log_likelihood(few, MU, SIGMA, dtype="float64")), rel=1e-10)


def test_tensorflow_flushes_subnormals_to_zero_numpy_keeps_them():
    # 1e-20 * 1e-20 = 1e-40 lies between float32's smallest subnormal (1.4e-45) and its
    # smallest normal number (1.18e-38): NumPy keeps it, TensorFlow's CPU kernels flush it.
    tiny = np.full(3, 1e-20, dtype="float32")
    assert product_underflow_n(tiny, backend="numpy") == 3          # 1e-60: below every float32
    assert product_underflow_n(tiny, backend="tensorflow") == 2     # 1e-40 is flushed
    assert product_underflow_n(tiny.astype("float64"), backend="numpy") is None


def test_product_underflow_n_on_the_notebook_data(data):
    mu_hat, sigma_hat = gaussian_mle(data)
    d32 = gaussian_pdf(data, mu_hat, sigma_hat)
    n_tf, n_np = product_underflow_n(d32), product_underflow_n(d32, backend="numpy")
    nll = np.cumsum(-np.log(d32.astype("float64")))
    info = np.finfo("float32")
    # TensorFlow: 0.0 once the product is below the smallest normal; NumPy: below the smallest subnormal
    assert nll[n_tf - 2] < -np.log(info.smallest_normal) < nll[n_tf - 1]
    assert n_tf < n_np and nll[n_np - 1] > -np.log(info.smallest_subnormal)
    assert likelihood_product(data[:n_tf - 1], mu_hat, sigma_hat) > 0
    assert likelihood_product(data[:n_tf], mu_hat, sigma_hat) == 0.0


def test_product_underflow_n_validates():
    with pytest.raises(ValueError, match="float32 or float64"):
        product_underflow_n(np.array([1, 2]))
    with pytest.raises(ValueError, match="> 0"):
        product_underflow_n(np.array([0.5, 0.0]))
    with pytest.raises(ValueError, match="backend"):
        product_underflow_n(np.array([0.5]), backend="torch")


# ----------------------------------------------------------------------------- fitting

def test_mle_matches_scipy_fit(data):
    mu, sigma = gaussian_mle(data)
    ref_mu, ref_sigma = stats.norm.fit(data.astype("float64"))
    assert mu == pytest.approx(ref_mu, abs=1e-10)
    assert sigma == pytest.approx(ref_sigma, abs=1e-10)
    assert sigma == pytest.approx(np.std(data.astype("float64"), ddof=0))   # the 1/N estimator


def test_nll_is_mean_negative_log_pdf_and_stationary_at_mle(data):
    mu_hat, sigma_hat = gaussian_mle(data)
    nll = float(gaussian_nll(data, mu_hat, math.log(sigma_hat)))
    assert nll == pytest.approx(-stats.norm.logpdf(data, mu_hat, sigma_hat).mean(), rel=1e-5)
    mu = tf.Variable(mu_hat, dtype="float32")
    log_sigma = tf.Variable(math.log(sigma_hat), dtype="float32")
    with tf.GradientTape() as tape:
        loss = gaussian_nll(data, mu, log_sigma)
    grads = tape.gradient(loss, [mu, log_sigma])
    np.testing.assert_allclose([float(g) for g in grads], [0.0, 0.0], atol=1e-4)


def test_full_batch_gradient_descent_reaches_closed_form_mle(data):
    fit = fit_gaussian_sgd(data, keras.optimizers.SGD(learning_rate=0.2), steps=300)
    assert isinstance(fit, GaussianFit) and fit.losses.shape == (300,)
    mu_hat, sigma_hat = gaussian_mle(data)
    assert fit.mu == pytest.approx(mu_hat, abs=1e-4)
    assert fit.sigma == pytest.approx(sigma_hat, abs=1e-4)
    assert fit.losses[-1] < fit.losses[0]


def test_minibatch_sgd_lands_near_mle_and_is_reproducible(data):
    def run():
        schedule = keras.optimizers.schedules.CosineDecay(0.1, 400)
        return fit_gaussian_sgd(data, keras.optimizers.SGD(learning_rate=schedule), steps=400,
                                batch_size=100, seed=3)

    first, second = run(), run()
    mu_hat, sigma_hat = gaussian_mle(data)
    assert first.mu == pytest.approx(mu_hat, abs=0.03)
    assert first.sigma == pytest.approx(sigma_hat, abs=0.03)
    assert (first.mu, first.sigma) == (second.mu, second.sigma)


# ----------------------------------------------------------------------------- errors

@pytest.mark.parametrize("sigma", [0.0, -1.0])
def test_non_positive_sigma_is_rejected(sigma):
    for fn in (gaussian_log_pdf, gaussian_pdf, likelihood_product, log_likelihood):
        with pytest.raises(ValueError, match="sigma must be > 0"):
            fn([0.0, 1.0], 0.0, sigma)


@pytest.mark.parametrize("bad, match", [
    (np.zeros((3, 2)), "1-D"),
    (np.array([]), "empty"),
    (np.array([0.0, np.nan]), "finite"),
])
def test_bad_data_is_rejected(bad, match):
    with pytest.raises(ValueError, match=match):
        gaussian_mle(bad)
    with pytest.raises(ValueError, match=match):
        likelihood_product(bad, 0.0, 1.0)


def test_non_scalar_parameters_and_bad_types_are_rejected():
    with pytest.raises(ValueError, match="mu must be a scalar"):
        gaussian_log_pdf([0.0], [0.0, 1.0], 1.0)
    with pytest.raises(ValueError, match="sigma must be a scalar"):
        gaussian_pdf([0.0], 0.0, [1.0, 2.0])
    with pytest.raises(ValueError, match="numeric"):
        gaussian_log_pdf(["a"], 0.0, 1.0)
    with pytest.raises(ValueError, match="1-D"):
        gaussian_nll(np.zeros((2, 2)), 0.0, 0.0)


def test_degenerate_data_is_rejected():
    with pytest.raises(ValueError, match="all observations are equal"):
        gaussian_mle([2.0, 2.0, 2.0])


@pytest.mark.parametrize("kwargs, match", [
    ({"optimizer": "sgd"}, "keras.optimizers.Optimizer"),
    ({"steps": 0}, "steps"),
    ({"steps": 2.5}, "steps"),
    ({"batch_size": 0}, "batch_size"),
    ({"batch_size": 11}, "batch_size"),
    ({"sigma_init": 0.0}, "sigma_init must be > 0"),
    ({"mu_init": float("nan")}, "mu_init must be finite"),
])
def test_fit_arguments_are_validated(kwargs, match):
    args = {"x": np.linspace(0, 1, 10), "optimizer": keras.optimizers.SGD(0.1), "steps": 5}
    args.update(kwargs)
    with pytest.raises(ValueError, match=match):
        fit_gaussian_sgd(**args)


def test_an_optimizer_cannot_be_reused_across_fits():
    optimizer = keras.optimizers.SGD(0.1)
    fit_gaussian_sgd(np.linspace(0, 1, 10), optimizer, steps=2)
    with pytest.raises(ValueError, match="already built"):
        fit_gaussian_sgd(np.linspace(0, 1, 10), optimizer, steps=2)


# ----------------------------------------------------------------------------- figures (01's plotting helpers)

def test_plotting_helpers_draw_and_validate(data):
    import matplotlib.pyplot as plt

    from course_lib.plotting import plot_density_fits, plot_loss_curves

    fig = plot_density_fits(data, {"fit": (MU, SIGMA)}, points={"outlier": 6.0})
    assert len(fig.axes[0].lines) == 2                  # the Gaussian curve and the point's marker
    plt.close(fig)
    fig = plot_loss_curves(np.ones((5, 2)), labels=["a", "b"], references={"optimum": 1.0})
    assert len(fig.axes[0].lines) == 3
    plt.close(fig)
    with pytest.raises(ValueError, match="1-D"):
        plot_density_fits(np.zeros((2, 2)), {"fit": (0.0, 1.0)})
    with pytest.raises(ValueError, match="at least one fit"):
        plot_density_fits(data, {})
    with pytest.raises(ValueError, match="labels"):
        plot_loss_curves(np.ones((5, 2)), labels=["only one"])
    with pytest.raises(ValueError, match="steps"):
        plot_loss_curves(np.ones((2, 2, 2)))
