"""Tests for course_lib.divergences (02_kl_divergence): the slides' worked example, closed
forms, scipy, Monte Carlo, moment matching and the mode-seeking reverse-KL fit."""

import math

import keras
import numpy as np
import pytest
from keras import ops
from scipy import stats

from course_lib.divergences import (
    GridFit,
    binomial_pmf,
    fit_gaussian_kl_on_grid,
    gaussian_kl,
    kl_divergence,
    kl_on_grid,
    kl_to_standard_normal,
    kl_to_standard_normal_mc,
    mixture_log_pdf,
    mixture_moments,
    sample_mixture,
    uniform_pmf,
)
from course_lib.likelihood import gaussian_log_pdf

# The slides' worked example.
P_SLIDE = [9 / 25, 12 / 25, 4 / 25]
KL_PQ_EXACT = (32 * math.log(2) + 55 * math.log(3) - 50 * math.log(5)) / 25
KL_QP_EXACT = (-4 * math.log(2) - 6 * math.log(3) + 6 * math.log(5)) / 3

# The bimodal target of the mode-covering vs mode-seeking experiment.
WEIGHTS, MEANS, SIGMAS = [0.3, 0.7], [-2.0, 2.0], [0.5, 0.8]
GRID = np.linspace(-10.0, 10.0, 2001)

# A batch of 4 encoder outputs with a 2-D latent space, as in the slides' VAE (d = 2).
MU = np.array([[0.0, 0.0], [1.0, -0.5], [0.3, 2.0], [-1.5, 0.2]], dtype="float32")
LOG_VAR = np.array([[0.0, 0.0], [0.0, -1.0], [-2.0, 0.5], [1.0, -0.3]], dtype="float32")


# ----------------------------------------------------------------------------- worked example

def test_slide_distributions():
    np.testing.assert_allclose(binomial_pmf(2, 0.4), P_SLIDE, rtol=1e-15)
    np.testing.assert_allclose(uniform_pmf(3), [1 / 3] * 3, rtol=1e-15)
    np.testing.assert_allclose(binomial_pmf(7, 0.3), stats.binom.pmf(range(8), 7, 0.3), rtol=1e-12)


def test_slide_kl_values_equal_closed_forms_and_slide_rounding():
    p, q = binomial_pmf(2, 0.4), uniform_pmf(3)
    kl_pq, kl_qp = kl_divergence(p, q), kl_divergence(q, p)
    assert abs(kl_pq - KL_PQ_EXACT) < 1e-12
    assert abs(kl_qp - KL_QP_EXACT) < 1e-12
    assert round(kl_pq, 7) == 0.0852996
    assert round(kl_qp, 6) == 0.097455
    assert kl_pq != pytest.approx(kl_qp, abs=1e-3)          # asymmetric


def test_kl_matches_scipy_and_basic_properties():
    rng = np.random.default_rng(1)
    for _ in range(5):
        p, q = rng.dirichlet(np.ones(6)), rng.dirichlet(np.ones(6))
        assert kl_divergence(p, q) == pytest.approx(stats.entropy(p, q), rel=1e-12)
        assert kl_divergence(p, q) > 0
    assert kl_divergence(P_SLIDE, P_SLIDE) == 0.0
    # a permutation has the same entropy but is a different distribution: KL > 0
    assert kl_divergence(P_SLIDE, P_SLIDE[::-1]) > 0


def test_kl_zero_mass_conventions():
    assert kl_divergence([0.5, 0.5, 0.0], [0.25, 0.25, 0.5]) == pytest.approx(math.log(2))
    assert kl_divergence([0.5, 0.5], [1.0, 0.0]) == math.inf


def test_keras_kl_divergence_agrees_in_float32():
    got = float(keras.losses.kl_divergence(np.array(P_SLIDE), np.full(3, 1 / 3)))
    assert got == pytest.approx(KL_PQ_EXACT, rel=1e-5)


# ----------------------------------------------------------------------------- Gaussian

def test_gaussian_kl_closed_form_against_quadrature():
    from scipy.integrate import quad

    def integrand(x):
        return stats.norm.pdf(x, 0.5, 0.7) * (stats.norm.logpdf(x, 0.5, 0.7) - stats.norm.logpdf(x, -1.0, 1.8))

    ref, _ = quad(integrand, -15, 15)
    assert gaussian_kl(0.5, 0.7, -1.0, 1.8) == pytest.approx(ref, rel=1e-9)
    assert gaussian_kl(0.0, 1.0, 0.0, 2.0) == pytest.approx(math.log(2) + 1 / 8 - 1 / 2)
    assert gaussian_kl(0.0, 2.0, 0.0, 1.0) == pytest.approx(math.log(0.5) + 2.0 - 0.5)
    assert gaussian_kl(1.0, 1.0, 1.0, 1.0) == 0.0


def test_vae_kl_term_matches_slide_formula_and_per_dimension_closed_form():
    got = ops.convert_to_numpy(kl_to_standard_normal(MU, LOG_VAR))
    assert got.shape == (4,)
    slide = -0.5 * np.sum(1 + LOG_VAR - MU**2 - np.exp(LOG_VAR), axis=1)    # L_KL, slide form
    np.testing.assert_allclose(got, slide, rtol=1e-6, atol=1e-7)
    per_dim = gaussian_kl(MU, np.exp(0.5 * LOG_VAR.astype("float64")), 0.0, 1.0).sum(axis=1)
    np.testing.assert_allclose(got, per_dim, rtol=1e-6, atol=1e-7)
    assert got[0] == 0.0                                       # q = N(0, I): no penalty


def test_vae_kl_term_monte_carlo_agrees_with_closed_form():
    estimate, stderr = kl_to_standard_normal_mc(MU, LOG_VAR, num_samples=50_000, seed=0)
    closed = ops.convert_to_numpy(kl_to_standard_normal(MU, LOG_VAR))
    assert estimate.shape == stderr.shape == (4,)
    assert np.all(np.abs(estimate - closed) <= 4 * stderr + 1e-6)
    assert np.all(stderr < 0.02)
    again, _ = kl_to_standard_normal_mc(MU, LOG_VAR, num_samples=50_000, seed=0)
    np.testing.assert_array_equal(estimate, again)            # fixed seed, same numbers


# ----------------------------------------------------------------------------- mixture

def test_mixture_density_and_moments():
    x = np.linspace(-6, 6, 25)
    ref = 0.3 * stats.norm.pdf(x, -2.0, 0.5) + 0.7 * stats.norm.pdf(x, 2.0, 0.8)
    np.testing.assert_allclose(np.exp(mixture_log_pdf(x, WEIGHTS, MEANS, SIGMAS)), ref, rtol=1e-12)
    assert np.isfinite(mixture_log_pdf(60.0, WEIGHTS, MEANS, SIGMAS))       # log-sum-exp in the tail
    mean, std = mixture_moments(WEIGHTS, MEANS, SIGMAS)
    assert mean == pytest.approx(0.8)
    assert std == pytest.approx(math.sqrt(0.3 * (0.25 + 4) + 0.7 * (0.64 + 4) - 0.64))
    samples = sample_mixture(200_000, WEIGHTS, MEANS, SIGMAS, seed=0)
    assert samples.mean() == pytest.approx(mean, abs=0.02)
    assert samples.std() == pytest.approx(std, abs=0.02)


def test_kl_on_grid_matches_gaussian_closed_form():
    log_a = gaussian_log_pdf(GRID, 0.5, 0.7, dtype="float64")
    log_b = gaussian_log_pdf(GRID, -1.0, 1.8, dtype="float64")
    got = float(kl_on_grid(log_a, log_b, GRID))
    assert got == pytest.approx(gaussian_kl(0.5, 0.7, -1.0, 1.8), rel=1e-4)


@pytest.fixture(scope="module")
def target():
    return mixture_log_pdf(GRID, WEIGHTS, MEANS, SIGMAS)


def test_forward_kl_fit_is_moment_matching(target):
    fit = fit_gaussian_kl_on_grid(target, GRID, [-3.0, 0.0, 3.0], 1.0, keras.optimizers.Adam(0.05),
                                  steps=400, direction="forward")
    assert isinstance(fit, GridFit) and fit.losses.shape == (400, 3)
    mean, std = mixture_moments(WEIGHTS, MEANS, SIGMAS)
    np.testing.assert_allclose(fit.mu, mean, atol=2e-3)
    np.testing.assert_allclose(fit.sigma, std, atol=2e-3)


def test_reverse_kl_fit_locks_onto_one_mode(target):
    fit = fit_gaussian_kl_on_grid(target, GRID, [-4.0, 4.0], 1.0, keras.optimizers.Adam(0.05),
                                  steps=300, direction="reverse")
    left, right = 0, 1
    assert fit.mu[left] == pytest.approx(-2.0, abs=0.05) and fit.sigma[left] == pytest.approx(0.5, abs=0.05)
    assert fit.mu[right] == pytest.approx(2.0, abs=0.05) and fit.sigma[right] == pytest.approx(0.8, abs=0.05)
    # q close to component k costs about -log w_k: the mass of p it leaves out
    np.testing.assert_allclose(fit.losses[-1], -np.log(WEIGHTS), atol=0.01)
    # and each reverse fit is far from the forward (moment-matching) answer
    mean, std = mixture_moments(WEIGHTS, MEANS, SIGMAS)
    assert np.all(np.abs(fit.mu - mean) > 1.0) and np.all(fit.sigma < std / 2)


def test_mixture_maximum_likelihood_by_sgd_matches_moment_matching():
    """Forward KL = maximum likelihood: fitting samples by SGD gives the mixture's moments."""
    from course_lib.likelihood import fit_gaussian_sgd, gaussian_mle

    samples = sample_mixture(5000, WEIGHTS, MEANS, SIGMAS, seed=0)
    fit = fit_gaussian_sgd(samples, keras.optimizers.Adam(0.1), steps=300)
    mle = gaussian_mle(samples)
    assert fit.mu == pytest.approx(mle[0], abs=5e-3) and fit.sigma == pytest.approx(mle[1], abs=5e-3)
    mean, std = mixture_moments(WEIGHTS, MEANS, SIGMAS)
    assert fit.mu == pytest.approx(mean, abs=0.06) and fit.sigma == pytest.approx(std, abs=0.06)


# ----------------------------------------------------------------------------- errors

@pytest.mark.parametrize("p, q, match", [
    ([0.5, 0.4], [0.5, 0.5], "sum to 1"),
    ([1.2, -0.2], [0.5, 0.5], "negative"),
    ([0.5, 0.5], [1 / 3] * 3, "same support"),
    ([[0.5, 0.5]], [[0.5, 0.5]], "1-D"),
    ([], [], "non-empty"),
    ([np.nan, 1.0], [0.5, 0.5], "NaN"),
])
def test_kl_divergence_rejects_bad_probability_vectors(p, q, match):
    with pytest.raises(ValueError, match=match):
        kl_divergence(p, q)


def test_pmf_arguments_are_validated():
    with pytest.raises(ValueError, match="n must be"):
        binomial_pmf(-1, 0.5)
    with pytest.raises(ValueError, match="n must be"):
        binomial_pmf(2.5, 0.5)
    with pytest.raises(ValueError, match="p must be"):
        binomial_pmf(2, 1.5)
    with pytest.raises(ValueError, match="k must be"):
        uniform_pmf(0)


def test_gaussian_kl_arguments_are_validated():
    with pytest.raises(ValueError, match="sigma_q must be > 0"):
        gaussian_kl(0.0, 0.0, 0.0, 1.0)
    with pytest.raises(ValueError, match="sigma_p must be > 0"):
        gaussian_kl(0.0, 1.0, 0.0, -1.0)
    with pytest.raises(ValueError, match="broadcast"):
        gaussian_kl([0.0, 1.0], [1.0, 1.0, 1.0], 0.0, 1.0)


def test_vae_kl_arguments_are_validated():
    with pytest.raises(ValueError, match="same shape"):
        kl_to_standard_normal(np.zeros((4, 2)), np.zeros((4, 3)))
    with pytest.raises(ValueError, match="last axis"):
        kl_to_standard_normal(0.0, 0.0)
    with pytest.raises(ValueError, match="same shape"):
        kl_to_standard_normal_mc(np.zeros((4, 2)), np.zeros((2, 4)), num_samples=10)
    with pytest.raises(ValueError, match="num_samples"):
        kl_to_standard_normal_mc(MU, LOG_VAR, num_samples=1)


def test_mixture_arguments_are_validated():
    with pytest.raises(ValueError, match="sum to 1"):
        mixture_moments([0.5, 0.6], MEANS, SIGMAS)
    with pytest.raises(ValueError, match="one entry per component"):
        mixture_log_pdf(0.0, WEIGHTS, [0.0], SIGMAS)
    with pytest.raises(ValueError, match="sigmas must be > 0"):
        sample_mixture(10, WEIGHTS, MEANS, [0.5, 0.0])
    with pytest.raises(ValueError, match="n must be"):
        sample_mixture(0, WEIGHTS, MEANS, SIGMAS)


def test_grid_arguments_are_validated(target):
    adam = keras.optimizers.Adam(0.05)
    with pytest.raises(ValueError, match="evenly spaced"):
        kl_on_grid(np.zeros(3), np.zeros(3), [0.0, 1.0, 3.0])
    with pytest.raises(ValueError, match="one value per grid point"):
        kl_on_grid(np.zeros(4), np.zeros(3), [0.0, 1.0, 2.0])
    with pytest.raises(ValueError, match="integrates to"):
        fit_gaussian_kl_on_grid(target, np.linspace(-3, 3, 2001), 0.0, 1.0, adam, 10)
    with pytest.raises(ValueError, match="one log-density per grid point"):
        fit_gaussian_kl_on_grid(target[:-1], GRID, 0.0, 1.0, adam, 10)
    with pytest.raises(ValueError, match="sigma_init must be > 0"):
        fit_gaussian_kl_on_grid(target, GRID, 0.0, -1.0, adam, 10)
    with pytest.raises(ValueError, match="direction"):
        fit_gaussian_kl_on_grid(target, GRID, 0.0, 1.0, adam, 10, direction="sideways")
    with pytest.raises(ValueError, match="steps"):
        fit_gaussian_kl_on_grid(target, GRID, 0.0, 1.0, adam, 0)
    with pytest.raises(ValueError, match="Optimizer"):
        fit_gaussian_kl_on_grid(target, GRID, 0.0, 1.0, "adam", 10)
    fit_gaussian_kl_on_grid(target, GRID, 0.0, 1.0, adam, 1)
    with pytest.raises(ValueError, match="already built"):
        fit_gaussian_kl_on_grid(target, GRID, 0.0, 1.0, adam, 1)


# ----------------------------------------------------------------------------- figures (02's plotting helpers)

def test_plotting_helpers_draw_and_validate(target):
    import matplotlib.pyplot as plt

    from course_lib.plotting import plot_mode_fits, plot_pmfs

    fig = plot_pmfs({"P": P_SLIDE, "Q": uniform_pmf(3)}, support=[0, 1, 2])
    assert len(fig.axes[0].patches) == 6
    plt.close(fig)
    fig = plot_mode_fits(GRID, target, {"forward": (0.8, 1.97), "reverse": (2.0, 0.8)}, xlim=(-6, 7))
    assert fig.axes[0].get_xlim() == (-6, 7)
    plt.close(fig)
    with pytest.raises(ValueError, match="same length"):
        plot_pmfs({"P": P_SLIDE, "Q": [0.5, 0.5]})
    with pytest.raises(ValueError, match="support"):
        plot_pmfs({"P": P_SLIDE}, support=[0, 1])
    with pytest.raises(ValueError, match="same length"):
        plot_mode_fits(GRID[:-1], target, {"q": (0.0, 1.0)})
    with pytest.raises(ValueError, match="at least one fit"):
        plot_mode_fits(GRID, target, {})
