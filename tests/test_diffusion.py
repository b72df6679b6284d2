"""course_lib.diffusion: the closed-form forward process, the schedule, the samplers with an
oracle network, the loss, bad input."""

import keras
import numpy as np
import pytest

from course_lib import diffusion as D


@pytest.mark.parametrize("kind", D.SCHEDULES)
def test_alpha_bar_is_monotone_inside_0_1(kind):
    s = D.make_schedule(1000, kind)
    ab = s.alpha_bar[1:]
    assert s.alpha_bar[0] == 1 and np.all((ab > 0) & (ab < 1)) and np.all(np.diff(ab) < 0)
    assert ab[-1] < 1e-3                                  # x_T is almost pure noise


def test_closed_form_q_matches_t_noising_steps_one_at_a_time():
    s = D.make_schedule(200, "linear", beta_T=0.05)
    rng = np.random.default_rng(0)
    x0 = np.full(200_000, 1.5)
    x = x0.copy()
    for t in range(1, s.T + 1):
        x = np.sqrt(1 - s.betas[t]) * x + np.sqrt(s.betas[t]) * rng.standard_normal(x.shape)
        if t in (1, 20, 200):
            closed = D.q_sample(x0, np.full(len(x0), t), rng.standard_normal(x.shape), s)
            for a in (x, closed):    # both: mean sqrt(abar_t) x0, variance 1 - abar_t (MC error ~ 0.003)
                assert a.mean() == pytest.approx(np.sqrt(s.alpha_bar[t]) * 1.5, abs=0.01)
                assert a.var() == pytest.approx(1 - s.alpha_bar[t], abs=0.01 + 0.01 * (1 - s.alpha_bar[t]))


def _oracle(x0, schedule):
    """The noise that makes x_t out of the known x0: a perfect eps network for that x0."""
    def eps(inputs, training=False):
        x_t, t = (np.asarray(v) for v in inputs)
        ab = schedule.alpha_bar[t].reshape((-1,) + (1,) * (x_t.ndim - 1))
        return (x_t - np.sqrt(ab) * x0[:len(x_t)]) / np.sqrt(1 - ab)
    return eps


def test_true_noise_turns_x_t_back_into_x0_and_ddim_with_an_oracle_lands_on_x0():
    s = D.make_schedule(100)
    rng = np.random.default_rng(1)
    x0 = rng.uniform(-1, 1, (8, 28, 28, 1)).astype("float32")
    t, noise = rng.integers(1, 101, 8), rng.standard_normal(x0.shape)
    np.testing.assert_allclose(D.predict_x0(D.q_sample(x0, t, noise, s), t, noise, s), x0, atol=1e-4)
    for steps in (100, 10, 1):
        np.testing.assert_allclose(D.ddim_sample(_oracle(x0, s), s, 8, x0.shape[1:], steps=steps), x0, atol=1e-3)
        # eta = 1 adds noise between the visited times, but the oracle's x0_hat is x0 and the last step adds none
        np.testing.assert_allclose(D.ddim_sample(_oracle(x0, s), s, 8, x0.shape[1:], steps=steps, eta=1.0), x0,
                                   atol=1e-3)
    # DDPM's ancestral chain with the oracle: every step's mean points at x0; the last step adds no noise
    sample, kept = D.ddpm_sample(_oracle(x0, s), s, 8, x0.shape[1:], keep=(100, 50))
    assert set(kept) == {100, 50}
    np.testing.assert_allclose(sample, x0, atol=0.05)


def _spy(schedule, x0):
    """The oracle, recording the time of every network call."""
    oracle, calls = _oracle(x0, schedule), []

    def eps(inputs, training=False):
        calls.append(int(np.asarray(inputs[1])[0]))
        return oracle(inputs, training)
    return eps, calls


@pytest.mark.parametrize("steps", [1, 2, 3, 10, 1000])
@pytest.mark.parametrize("eta", [0.0, 1.0])
def test_every_sampler_first_calls_the_network_at_t_equal_T(steps, eta):
    """x_T ~ N(0, I) lives at t = T: a sampler whose first call is at another t would treat pure
    noise as a less noisy image (a 1-step DDIM at t = 1 returns its input almost unchanged)."""
    s = D.make_schedule(1000, "cosine")
    x0 = np.zeros((2, 4), "float32")
    eps, calls = _spy(s, x0)
    D.ddim_sample(eps, s, 2, (4,), steps=steps, eta=eta)
    assert calls[0] == s.T and len(calls) == steps and calls == sorted(calls, reverse=True)
    assert list(D.ddim_times(s.T, steps)) == calls
    eps, calls = _spy(s, x0)
    D.ddpm_sample(eps, s, 2, (4,))
    assert calls[0] == s.T and calls[-1] == 1 and len(calls) == s.T


def test_one_step_ddim_returns_the_networks_x0_estimate_not_the_noise():
    s = D.make_schedule(1000, "cosine")
    x0 = np.full((3, 4), 0.5, "float32")
    start = np.random.default_rng(0).standard_normal((3, 4)).astype("float32")
    out = D.ddim_sample(_oracle(x0, s), s, 3, (4,), steps=1, x_T=start)
    np.testing.assert_allclose(out, x0, atol=1e-3)        # the oracle's x0_hat, far from the start
    assert np.abs(out - start).max() > 0.5


def test_diffusion_trains_on_points_and_checks_its_input():
    keras.utils.set_random_seed(0)
    model = D.Diffusion(D.build_mlp_denoiser(2, hidden=32, depth=2), T=50)
    model.compile(optimizer=keras.optimizers.Adam(1e-3))
    points = np.random.default_rng(0).normal(size=(512, 2)).astype("float32")
    loss = model.fit(points, batch_size=128, epochs=3, verbose=0).history["loss"]
    assert np.isfinite(loss).all() and loss[-1] < 1.1              # an untrained net's error is about 1
    with pytest.raises(ValueError, match=r"shape \(2,\)"):
        model.fit(np.zeros((4, 3), "float32"), verbose=0)
    clone = D.Diffusion.from_config(model.get_config())
    assert clone.T == 50 and clone.schedule_kind == "linear"
    assert D.build_unet(filters=8)([np.zeros((2, 28, 28, 1), "float32"), np.array([1, 5])]).shape == (2, 28, 28, 1)


def test_bad_settings_raise_value_errors():
    s = D.make_schedule(10)
    with pytest.raises(ValueError, match="T must be"):
        D.make_schedule(0)
    with pytest.raises(ValueError, match="kind"):
        D.make_schedule(10, "quadratic")
    with pytest.raises(ValueError, match="1..10"):
        D.q_sample(np.zeros(2), np.array([0, 3]), np.zeros(2), s)
    with pytest.raises(ValueError, match="steps"):
        D.ddim_times(10, 11)
    with pytest.raises(ValueError, match="even"):
        D.TimeEmbedding(3)
    with pytest.raises(ValueError, match="eta"):
        D.ddim_sample(lambda inputs, training=False: inputs[0], s, 2, (2,), steps=2, eta=2.0)
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        D.to_model_range(np.full((2, 28, 28), 255.0))


def test_images_must_be_scaled_to_minus_one_one_and_epoch_samples_are_recorded():
    keras.utils.set_random_seed(0)
    model = D.Diffusion(D.build_unet(filters=4, time_dim=8), T=20)
    model.compile(optimizer=keras.optimizers.Adam(1e-3))
    levels = np.random.default_rng(0).integers(0, 256, (8, 28, 28, 1)).astype("float32")
    with pytest.raises(ValueError, match=r"\[-1, 1\]"):
        model.fit(levels, verbose=0)
    images = D.to_model_range(levels[..., 0] / 255)
    assert images.shape == (8, 28, 28, 1) and images.min() >= -1 and images.max() <= 1
    np.testing.assert_allclose(D.to_pixels(images), levels[..., 0] / 255, atol=1e-6)
    monitor = D.EpochSamples(n=3, steps=2)
    model.fit(images, batch_size=4, epochs=2, verbose=0, callbacks=[monitor])
    assert len(monitor.grids) == 2 and monitor.grids[0].shape == (3, 28, 28)
    assert 0 <= monitor.grids[1].min() and monitor.grids[1].max() <= 1


# ---------------------------------------------------------------------------------------
# Bad input gets a clear error (the adversarial review)
# ---------------------------------------------------------------------------------------

def test_fit_rejects_nan_points_and_images_also_from_a_pipeline():
    """A min/max range check lets NaN through (every comparison with NaN is False)."""
    import tensorflow as tf

    points_model = D.Diffusion(D.build_mlp_denoiser(2, hidden=8, depth=1), T=10)
    points_model.compile(optimizer="adam")
    points = np.zeros((4, 2), "float32")
    points[1, 0] = np.nan
    with pytest.raises(ValueError, match=r"expected finite examples, got values in \[nan, nan\] \(NaN or inf\)"):
        points_model.fit(points, verbose=0)
    with pytest.raises(ValueError, match=r"expected finite examples"):
        points_model.fit(tf.data.Dataset.from_tensor_slices(points).batch(2), verbose=0)
    with pytest.raises(ValueError, match=r"batch_size must be a positive integer, got 0\."):
        points_model.fit(np.zeros((4, 2), "float32"), batch_size=0, verbose=0)
    image_model = D.Diffusion(D.build_unet(filters=4, time_dim=8), T=10)
    image_model.compile(optimizer="adam")
    images = np.full((2, 28, 28, 1), np.nan, "float32")
    message = r"images go into a diffusion model scaled to \[-1, 1\] \(diffusion.to_model_range\), got values in \[nan"
    with pytest.raises(ValueError, match=message):
        image_model.fit(images, verbose=0)
    with pytest.raises(ValueError, match=message):
        image_model.fit(tf.data.Dataset.from_tensor_slices(images).batch(2), verbose=0)
    with pytest.raises(ValueError, match=message):
        image_model.evaluate(images, verbose=0)


def test_to_model_range_rejects_nan_and_flat_rows():
    with pytest.raises(ValueError, match=r"expected pixels in \[0, 1\] \(data.scale\), got values in \[nan, nan\]"):
        D.to_model_range(np.full((2, 28, 28), np.nan))
    with pytest.raises(ValueError, match=r"expected images of shape \(n, 28, 28\) or \(n, 28, 28, 1\) \(flat rows\? "
                                         r"reshape them: x.reshape\(-1, 28, 28\)\), got shape \(2, 784\)"):
        D.to_model_range(np.zeros((2, 784)))                          # used to return (2, 784, 1)
    with pytest.raises(ValueError, match=r"one image\? add a batch axis"):
        D.to_model_range(np.zeros((28, 28)))
    with pytest.raises(ValueError, match=r"got shape \(2, 14, 14\)"):
        D.to_model_range(np.zeros((2, 14, 14)))
    assert D.to_model_range(np.zeros((2, 28, 28, 1))).shape == (2, 28, 28, 1)


def test_q_sample_and_predict_x0_need_one_t_per_example():
    s = D.make_schedule(10)
    x0 = np.zeros((3, 2), "float32")
    message = (r"t must hold one time per example, shape \(3,\), or be one integer for all; got t of shape \(2,\) "
               r"for a batch of shape \(3, 2\)")
    with pytest.raises(ValueError, match=message):
        D.q_sample(x0, np.array([1, 2]), np.zeros((3, 2)), s)
    with pytest.raises(ValueError, match=message):
        D.predict_x0(x0, np.array([1, 2]), np.zeros((3, 2)), s)
    with pytest.raises(ValueError, match=r"noise must have the shape of x0, \(3, 2\), got \(3, 1\)"):
        D.q_sample(x0, np.array([1, 2, 3]), np.zeros((3, 1)), s)
    with pytest.raises(ValueError, match=r"t must hold integers in 1\.\.10, got shape \(0,\)"):
        D.q_sample(x0, np.array([], "int64"), x0, s)
    np.testing.assert_allclose(D.q_sample(x0 + 1, 4, x0, s), D.q_sample(x0 + 1, np.full(3, 4), x0, s))  # one t for all


def test_samplers_check_their_start_and_batch_size():
    s = D.make_schedule(10)
    eps = _oracle(np.zeros((3, 2), "float32"), s)
    with pytest.raises(ValueError, match=r"x_T must be n starts of the example shape, \(3, 2\), got \(2, 2\)"):
        D.ddim_sample(eps, s, 3, (2,), steps=2, x_T=np.zeros((2, 2)))
    with pytest.raises(ValueError, match=r"x_T must hold finite numbers"):
        D.ddim_sample(eps, s, 3, (2,), steps=2, x_T=np.full((3, 2), np.nan))
    for sampler in (lambda **kw: D.ddim_sample(eps, s, 3, (2,), steps=2, **kw),
                    lambda **kw: D.ddpm_sample(eps, s, 3, (2,), **kw)):
        with pytest.raises(ValueError, match=r"^batch_size must be a positive integer, got 0\.$"):
            sampler(batch_size=0)                                       # was "range() arg 3 must not be zero"
    with pytest.raises(ValueError, match=r"shape\[1\] must be a positive integer, got 0\."):
        D.ddpm_sample(eps, s, 3, (2, 0))
    x = D.ddim_sample(eps, s, np.int64(3), (np.int64(2),), steps=np.int64(2), batch_size=np.int64(2))
    np.testing.assert_allclose(x, 0, atol=1e-3)
