"""course_lib.wgan: the gradient penalty against its closed form, the critic's steps, bad input."""

import keras
import numpy as np
import pytest

from course_lib import gan as G
from course_lib import wgan as W


def _linear_critic(weights):
    critic = keras.Sequential([keras.Input((len(weights),)), keras.layers.Dense(1, use_bias=True)])
    critic.layers[-1].set_weights([np.asarray(weights, "float32")[:, None], np.array([0.3], "float32")])
    return critic


def test_gradient_penalty_is_zero_for_a_unit_norm_linear_critic_and_its_closed_form_otherwise():
    rng = np.random.default_rng(0)
    real, fake = rng.normal(size=(64, 3)).astype("float32"), rng.normal(size=(64, 3)).astype("float32")
    unit = np.array([0.6, 0.0, 0.8])                        # ||w|| = 1: 1-Lipschitz, slope 1 everywhere
    assert float(W.gradient_penalty(_linear_critic(unit), real, fake, seed=0)) == pytest.approx(0, abs=1e-6)
    # a linear critic's gradient is w everywhere: the penalty is (||w|| - 1)^2 for any interpolate
    for scale in (0.5, 2.0, 3.0):
        gp = float(W.gradient_penalty(_linear_critic(scale * unit), real, fake, seed=0))
        assert gp == pytest.approx((scale - 1) ** 2, rel=1e-5)
    # a non-linear critic: f(x) = ||x||^2 has gradient 2x, so the penalty depends on where xhat lies
    eps = rng.uniform(size=64).astype("float32")
    between = eps[:, None] * real + (1 - eps[:, None]) * fake
    expected = np.mean((2 * np.linalg.norm(between, axis=1) - 1) ** 2)
    square = lambda x: keras.ops.sum(x ** 2, axis=1)  # noqa: E731
    assert float(W.gradient_penalty(square, real, fake, epsilon=eps)) == pytest.approx(expected, rel=1e-4)


def test_critic_gap_is_the_difference_of_means_and_critic_score_batches():
    assert float(W.critic_gap(np.array([1.0, 3.0]), np.array([-1.0, 0.0, 1.0]))) == pytest.approx(2.0)
    critic = _linear_critic([1.0, -1.0])
    x = np.arange(10, dtype="float32").reshape(5, 2)
    np.testing.assert_allclose(W.critic_score(critic, x, batch_size=2), x[:, 0] - x[:, 1] + 0.3, rtol=1e-6)


def test_wgan_gp_steps_train_the_critic_to_separate_and_log_its_estimate():
    points, _ = G.ring_of_gaussians(512, seed=0)
    keras.utils.set_random_seed(0)
    wgan = W.WGANGP(G.build_mlp_generator(2, hidden=16), G.build_mlp_discriminator(2, hidden=16), n_critic=3)
    wgan.compile(keras.optimizers.Adam(1e-3, beta_1=0.5), keras.optimizers.Adam(1e-3, beta_1=0.5))
    hist = wgan.fit(points, batch_size=128, epochs=2, verbose=0).history
    assert set(hist) == {"critic_loss", "g_loss", "gp", "w_estimate"}
    assert all(np.isfinite(v).all() for v in hist.values())
    assert hist["w_estimate"][-1] > 0            # the critic scores real points above the generator's
    clone = W.WGANGP.from_config(wgan.get_config())
    assert clone.n_critic == 3 and clone.gp_weight == 10.0


def test_wgan_gp_bad_settings_raise_value_errors():
    g, d = G.build_mlp_generator(2, hidden=8), G.build_mlp_discriminator(2, hidden=8)
    with pytest.raises(ValueError, match="n_critic"):
        W.WGANGP(g, d, n_critic=0)
    with pytest.raises(ValueError, match="gp_weight"):
        W.WGANGP(g, d, gp_weight=-1.0)
    with pytest.raises(ValueError, match="pack must be 1"):
        W.WGANGP(g, G.build_mlp_discriminator(2, hidden=8, pack=2), pack=2)
    with pytest.raises(ValueError, match="one generator loss"):
        W.WGANGP(g, d).compile(keras.optimizers.Adam(), keras.optimizers.Adam(), generator_loss="saturating")
    with pytest.raises(ValueError, match="one shape"):
        W.gradient_penalty(d, np.zeros((4, 2)), np.zeros((4, 3)))


def test_toy_and_image_wgans_are_built_trained_and_scored_like_07s_gans():
    points, _ = G.ring_of_gaussians(1024, seed=0)
    wgan, snaps = W.train_toy_wgan(points, steps=20, batch_size=64, latent_dim=4, n_critic=2, snapshot_every=10,
                                   n_snapshot=50)
    assert [s for s, _, _ in snaps] == [10, 20] and snaps[-1][1].shape == (50, 2)
    assert set(snaps[-1][2]) == {"critic_loss", "g_loss", "gp", "w_estimate"}
    # the estimate on held-out points is the difference of the critic's mean scores
    held_out = G.ring_of_gaussians(200, seed=1)[0]
    fake = wgan.generate(200, seed=3)
    expected = W.critic_score(wgan.discriminator, held_out).mean() - W.critic_score(wgan.discriminator, fake).mean()
    assert W.critic_estimate(wgan, held_out, seed=3) == pytest.approx(expected, rel=1e-5)
    image_wgan = W.build_wgan(latent_dim=8)
    assert image_wgan.generate(2, seed=0).shape == (2, 28, 28, 1) and image_wgan.n_critic == W.WGAN_N_CRITIC
    d_opt, g_opt = W.wgan_optimizers()
    assert d_opt is not g_opt and float(d_opt.beta_2) == 0.9
    with pytest.raises(ValueError, match="learning_rate"):
        W.wgan_optimizers(learning_rate=0)


def test_a_penalised_critic_estimates_the_wasserstein_distance_of_two_clusters():
    rng = np.random.default_rng(0)
    a = 0.05 * rng.normal(size=(4000, 2))
    # W1 of two equal shapes d apart is d. The penalty is soft: a linear critic of slope s scores the gap s d
    # at the cost lambda (s - 1)^2, so the penalised optimum is s = 1 + d / (2 lambda), a gap of d + d^2 / (2 lambda)
    for d in (0.25, 4.0):
        _, gap = W.fit_critic(a, a[::-1] + [d, 0.0], steps=400, seed=0)
        assert gap == pytest.approx(d + d ** 2 / 20, rel=0.02)
    assert gap > 4.0                                          # above W1: an estimate, not a bound
    with pytest.raises(ValueError, match="one width"):
        W.fit_critic(np.zeros((4, 2)), np.zeros((4, 3)))


def test_bad_input_gets_a_clear_error_and_numpy_numbers_are_valid():
    g, d = G.build_mlp_generator(2, hidden=8), G.build_mlp_discriminator(2, hidden=8)
    wgan = W.WGANGP(g, d, n_critic=np.int64(2), gp_weight=np.float32(10.0))      # used to be rejected
    assert (wgan.n_critic, wgan.gp_weight) == (2, 10.0)
    assert float(W.wgan_optimizers(np.float32(1e-4))[0].learning_rate) == pytest.approx(1e-4)
    with pytest.raises(ValueError, match=r"gp_weight must be a finite number >= 0, got nan\."):
        W.WGANGP(g, d, gp_weight=float("nan"))
    with pytest.raises(ValueError, match=r"^batch_size must be a positive integer, got 0\.$"):
        W.critic_score(d, np.zeros((3, 2)), batch_size=0)                     # was "range() arg 3 ..."
    with pytest.raises(ValueError, match=r"^batch_size must be a positive integer, got 0\.$"):
        W.critic_estimate(wgan, np.zeros((3, 2), "float32"), batch_size=0)
    real = np.random.default_rng(0).normal(size=(16, 2))
    with pytest.raises(ValueError, match=r"^steps must be a positive integer, got 0\.$"):
        W.fit_critic(real, real + 1, steps=0)                                  # used to return an untrained gap
    with pytest.raises(ValueError, match=r"real must hold finite numbers, got 1 NaN or inf value"):
        W.fit_critic(np.where(np.arange(32).reshape(16, 2) == 5, np.nan, real), real + 1, steps=1)
    with pytest.raises(ValueError, match=r"fake must hold finite numbers"):
        W.fit_critic(real, np.full((16, 2), np.inf), steps=1)
    with pytest.raises(ValueError, match=r"^batch_size must be a positive integer, got -1\.$"):
        W.fit_critic(real, real + 1, steps=1, batch_size=-1)
    with pytest.raises(ValueError, match=r"non-empty \(n, d\) arrays"):
        W.fit_critic(real[:0], real, steps=1)
    _, gap = W.fit_critic(real, real + 1, steps=np.int64(2), batch_size=np.int64(8), gp_weight=np.float32(10))
    assert np.isfinite(gap)


def test_the_image_wgans_defaults_are_the_settings_chosen_on_validation_digits():
    """07b's MNIST WGAN-GP (the live run and the wgan_mnist checkpoint) uses what `make choices` chose:
    the library's defaults must equal bench/choices.json's record, and build them."""
    from course_lib import choices

    chosen = choices.result("wgan_settings")["chosen"]
    assert (W.WGAN_N_CRITIC, W.WGAN_LEARNING_RATE, W.WGAN_BETAS, W.WGAN_GP_WEIGHT) == (
        chosen["n_critic"], chosen["lr"], tuple(chosen["betas"]), chosen["gp_weight"])
    wgan = W.build_wgan(latent_dim=8)
    d_opt, _ = W.wgan_optimizers()
    assert (wgan.n_critic, wgan.gp_weight) == (chosen["n_critic"], chosen["gp_weight"])
    assert float(d_opt.learning_rate) == pytest.approx(chosen["lr"])
    assert (float(d_opt.beta_1), float(d_opt.beta_2)) == pytest.approx(tuple(chosen["betas"]))
