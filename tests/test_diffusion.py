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


# ---------------------------------------------------------------------------------------
# EMA of the weights, x0_hat clipping, a minimum signal rate (issue 24)
# ---------------------------------------------------------------------------------------

def _ema_model(decay=0.9, warmup=True):
    keras.utils.set_random_seed(0)
    model = D.Diffusion(D.build_mlp_denoiser(2, hidden=8, depth=1), T=20, ema_decay=decay, ema_warmup=warmup)
    model.compile(optimizer=keras.optimizers.Adam(1e-2))
    return model


class _RecordWeights(keras.callbacks.Callback):
    def __init__(self, weights):
        super().__init__()
        self.weights, self.seen = weights, [[np.array(w) for w in weights]]

    def on_train_batch_end(self, batch, logs=None):
        self.seen.append([np.array(w) for w in self.weights])


@pytest.mark.parametrize("warmup", [False, True])
def test_ema_after_k_steps_is_the_closed_form_recursion(warmup):
    model = _ema_model(0.9, warmup)
    record = _RecordWeights(model.denoiser.trainable_weights)
    points = np.random.default_rng(0).normal(size=(96, 2)).astype("float32")
    model.fit(points, batch_size=16, epochs=1, verbose=0, callbacks=[record])         # k = 6 steps
    k = len(record.seen) - 1
    assert k == 6 and int(model.ema_updates) == k
    expected = record.seen[0]                                   # the average starts at the initial weights
    for n, raw in enumerate(record.seen[1:]):
        d = min(0.9, (1 + n) / (10 + n)) if warmup else 0.9
        expected = [d * e + (1 - d) * w for e, w in zip(expected, raw)]
    for w_ema, e, raw in zip(model.ema, expected, record.seen[-1]):
        np.testing.assert_allclose(np.array(w_ema), e, rtol=1e-5, atol=1e-6)
    assert max(np.abs(np.array(w_ema) - raw).max() for w_ema, raw in zip(model.ema, record.seen[-1])) > 1e-3


def test_ema_weights_swap_in_the_average_and_restore_the_raw_weights_exactly():
    model = _ema_model()
    model.fit(np.random.default_rng(0).normal(size=(64, 2)).astype("float32"), batch_size=16, verbose=0)
    raw = [np.array(w) for w in model.denoiser.trainable_weights]
    x, t = np.ones((3, 2), "float32"), np.full(3, 5)
    out_raw = np.array(model.denoiser([x, t]))
    with model.ema_weights() as net:
        assert net is model.denoiser
        for w, w_ema in zip(net.trainable_weights, model.ema):
            np.testing.assert_array_equal(np.array(w), np.array(w_ema))
        assert np.abs(np.array(net([x, t])) - out_raw).max() > 1e-4
        sample_ema = D.ddim_sample(net, model.schedule, 3, (2,), steps=3)
    for w, r in zip(model.denoiser.trainable_weights, raw):
        np.testing.assert_array_equal(np.array(w), r)
    assert not np.array_equal(sample_ema, D.ddim_sample(model.denoiser, model.schedule, 3, (2,), steps=3))
    with pytest.raises(RuntimeError, match="inside"):                 # restored on an error too
        with model.ema_weights():
            raise RuntimeError("inside")
    for w, r in zip(model.denoiser.trainable_weights, raw):
        np.testing.assert_array_equal(np.array(w), r)


def test_ema_weights_survive_save_and_load_and_resumable_training_saves_them(tmp_path):
    from course_lib.checkpoints import _state_variables

    model = _ema_model(0.99)
    model.fit(np.random.default_rng(0).normal(size=(64, 2)).astype("float32"), batch_size=16, verbose=0)
    path = tmp_path / "ema.keras"
    model.save(path)
    loaded = keras.saving.load_model(path, compile=False, safe_mode=True)
    assert (loaded.ema_decay, loaded.ema_warmup, int(loaded.ema_updates)) == (0.99, True, 4)
    for a, b in zip(loaded.ema + [loaded.ema_updates], model.ema + [model.ema_updates]):
        np.testing.assert_array_equal(np.array(a), np.array(b))
    with model.ema_weights(), loaded.ema_weights():
        np.testing.assert_array_equal(D.ddim_sample(loaded.denoiser, loaded.schedule, 3, (2,), steps=3),
                                      D.ddim_sample(model.denoiser, model.schedule, 3, (2,), steps=3))
    saved = {id(v) for v in _state_variables(model)}               # what checkpoints' resumable state holds
    assert all(id(v) in saved for v in model.ema + [model.ema_updates])


def test_the_committed_checkpoint_keeps_its_moving_average_and_its_floored_cosine_schedule():
    from course_lib import checkpoints

    model = checkpoints.load("diffusion_mnist")
    assert (model.ema_decay, model.ema_warmup, model.min_signal_rate) == (0.999, False, 0.02)
    assert int(model.ema_updates) > 1000
    np.testing.assert_array_equal(model.schedule.alpha_bar,
                                  D.make_schedule(1000, "cosine", min_signal_rate=0.02).alpha_bar)
    with model.ema_weights():
        averaged = [np.array(w) for w in model.denoiser.trainable_weights]
    assert max(np.abs(a - np.array(w)).max() for a, w in zip(averaged, model.denoiser.trainable_weights)) > 1e-4
    plain = D.Diffusion(D.build_mlp_denoiser(2, hidden=8, depth=1), T=10)
    with pytest.raises(ValueError, match=r"keeps no moving average of its weights: build it with "
                                         r"Diffusion\(\.\.\., ema_decay=0\.999\)"):
        with plain.ema_weights():
            pass


def test_sample_with_is_ddim_on_the_weights_and_clipping_it_names():
    model = _ema_model()
    x = np.random.default_rng(0).standard_normal((64, 2)).astype("float32")
    model.fit(x, batch_size=16, epochs=1, verbose=0)
    sampler = {"eta": 1.0, "steps": 5, "clip_x0": 0.5}
    with model.ema_weights():
        on_ema = D.ddim_sample(model.denoiser, model.schedule, 6, (2,), steps=5, eta=1.0, seed=3, clip_x0=0.5)
    on_raw = D.ddim_sample(model.denoiser, model.schedule, 6, (2,), steps=5, eta=1.0, seed=3, clip_x0=0.5)
    assert not np.allclose(on_ema, on_raw)
    np.testing.assert_array_equal(D.sample_with(model, 6, sampler, seed=3), on_ema)          # EMA by default
    np.testing.assert_array_equal(D.sample_with(model, 6, {**sampler, "weights": "EMA"}, seed=3), on_ema)
    np.testing.assert_array_equal(D.sample_with(model, 6, {**sampler, "weights": "raw"}, seed=3), on_raw)
    plain = D.Diffusion(D.build_mlp_denoiser(2, hidden=8, depth=1), T=20)                  # raw by default
    np.testing.assert_array_equal(D.sample_with(plain, 4, {"eta": 0.0, "steps": 3}),
                                  D.ddim_sample(plain.denoiser, plain.schedule, 4, (2,), steps=3))
    assert D.describe_sampler({**sampler, "weights": "raw"}) == "strided DDPM, 5 steps, x0 clipped to [-0.5, 0.5], raw weights"
    assert D.describe_sampler({"eta": 0.0, "steps": 20, "clip_x0": None}) == "DDIM, 20 steps"


@pytest.mark.parametrize("sampler, message", [
    ({"eta": 0.0}, r"sampler must be a dict with keys eta and steps"),
    ({"eta": 0.0, "steps": 3, "guidance": 2}, r"sampler must be a dict with keys eta and steps"),
    ([0.0, 3], r"sampler must be a dict"),
    ({"eta": 0.0, "steps": 3, "weights": "ema"}, r"sampler\['weights'\] must be 'EMA' or 'raw', got 'ema'"),
    ({"eta": 0.0, "steps": 0}, r"steps must be an integer in 1\.\.20, got 0"),
    ({"eta": 0.0, "steps": 3, "clip_x0": -1}, r"clip_x0 must be"),
])
def test_sample_with_rejects_a_bad_sampler(sampler, message):
    with pytest.raises(ValueError, match=message):
        D.sample_with(_ema_model(), 2, sampler)


def test_sample_with_takes_a_diffusion_model_only():
    with pytest.raises(ValueError, match=r"model must be a Diffusion, got Functional"):
        D.sample_with(D.build_mlp_denoiser(2, hidden=8, depth=1), 2, {"eta": 0.0, "steps": 2})


def _today_ddpm(denoiser, schedule, n, shape, seed=0, batch_size=1000):
    """ddpm_sample before clip_x0 existed, verbatim."""
    rng, x = D._start(shape, n, seed)
    for t in range(schedule.T, 0, -1):
        beta, ab = schedule.betas[t], schedule.alpha_bar[t]
        eps = D._eps(denoiser, x, t, batch_size)
        x = (x - beta / np.sqrt(1 - ab) * eps) / np.sqrt(1 - beta)
        if t > 1:
            x = x + np.sqrt(beta) * rng.standard_normal(x.shape).astype("float32")
    return x


def _today_ddim(denoiser, schedule, n, shape, steps, eta, seed=0, batch_size=1000):
    """ddim_sample before clip_x0 existed, verbatim."""
    rng, x = D._start(shape, n, seed)
    times = D.ddim_times(schedule.T, steps)
    for t, s in zip(times, list(times[1:]) + [0]):
        ab_t, ab_s = schedule.alpha_bar[t], schedule.alpha_bar[s]
        eps = D._eps(denoiser, x, int(t), batch_size)
        x0_hat = (x - np.sqrt(1 - ab_t) * eps) / np.sqrt(ab_t)
        sigma = eta * np.sqrt((1 - ab_s) / (1 - ab_t) * (1 - ab_t / ab_s))
        x = np.sqrt(ab_s) * x0_hat + np.sqrt(max(1 - ab_s - sigma ** 2, 0.0)) * eps
        if sigma > 0:
            x = x + sigma * rng.standard_normal(x.shape).astype("float32")
    return x.astype("float32")


@pytest.mark.parametrize("kind", D.SCHEDULES)
def test_without_clipping_the_samplers_give_exactly_todays_outputs(kind):
    keras.utils.set_random_seed(0)
    net, s = D.build_mlp_denoiser(2, hidden=16, depth=1), D.make_schedule(50, kind)
    for eta in (0.0, 1.0):
        today = _today_ddim(net, s, 5, (2,), steps=7, eta=eta, seed=3)
        np.testing.assert_array_equal(D.ddim_sample(net, s, 5, (2,), steps=7, eta=eta, seed=3), today)
        np.testing.assert_array_equal(D.ddim_sample(net, s, 5, (2,), steps=7, eta=eta, seed=3, clip_x0=None), today)
        # a clip far outside every x0_hat: the re-derived eps is the network's, up to rounding
        np.testing.assert_allclose(D.ddim_sample(net, s, 5, (2,), steps=7, eta=eta, seed=3, clip_x0=1e12), today,
                                   rtol=1e-4, atol=1e-4)
    today = _today_ddpm(net, s, 5, (2,), seed=3)
    np.testing.assert_array_equal(D.ddpm_sample(net, s, 5, (2,), seed=3)[0], today)
    np.testing.assert_array_equal(D.ddpm_sample(net, s, 5, (2,), seed=3, clip_x0=None)[0], today)
    np.testing.assert_allclose(D.ddpm_sample(net, s, 5, (2,), seed=3, clip_x0=1e12)[0], today, rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize("c", [1.0, 0.5])
def test_clipping_keeps_samples_of_a_network_with_a_huge_x0_inside_minus_c_c(c):
    s = D.make_schedule(100, "cosine")
    huge = _oracle(np.full((4, 3), 50.0, "float32"), s)       # x0_hat = 50 at every step
    samplers = {"DDIM": lambda **kw: D.ddim_sample(huge, s, 4, (3,), steps=10, **kw),
                "strided DDPM": lambda **kw: D.ddim_sample(huge, s, 4, (3,), steps=10, eta=1.0, **kw),
                "DDPM": lambda **kw: D.ddpm_sample(huge, s, 4, (3,), **kw)[0]}
    for name, sample in samplers.items():
        assert sample().min() > 49, name                         # unclipped: where the network points
        clipped = sample(clip_x0=c)
        assert np.abs(clipped).max() <= c + 1e-5, name
        np.testing.assert_allclose(clipped, c, atol=1e-4)       # x0_hat clipped to c at every step: lands on c


@pytest.mark.parametrize("kind", D.SCHEDULES)
def test_min_signal_rate_bounds_alpha_bar_and_leaves_the_rest_of_the_schedule_alone(kind):
    plain, floored = D.make_schedule(1000, kind), D.make_schedule(1000, kind, min_signal_rate=0.02)
    documented = {"linear": 4.0e-5, "cosine": 2.4e-9}[kind]           # make_schedule's docstring
    assert plain.alpha_bar[-1] == pytest.approx(documented, rel=0.02)
    assert floored.alpha_bar.min() >= 0.02 ** 2 and floored.alpha_bar[-1] == pytest.approx(0.02 ** 2)
    above = plain.alpha_bar >= 0.02 ** 2
    assert 0 < (~above).sum() < 200                                  # a tail, not the whole schedule
    np.testing.assert_array_equal(floored.alpha_bar[above], plain.alpha_bar[above])
    np.testing.assert_array_equal(floored.betas[above], plain.betas[above])
    np.testing.assert_allclose(np.cumprod(1 - floored.betas), floored.alpha_bar, rtol=1e-9)
    assert np.all(np.diff(floored.alpha_bar) <= 0) and np.all((floored.betas >= 0) & (floored.betas < 1))
    for r in (1e-6, None):                                           # a floor below abar_T changes nothing
        np.testing.assert_array_equal(D.make_schedule(1000, kind, min_signal_rate=r).betas, plain.betas)
    model = D.Diffusion(D.build_mlp_denoiser(2, hidden=4, depth=0), T=1000, schedule=kind, min_signal_rate=0.02)
    np.testing.assert_array_equal(model.schedule.alpha_bar, floored.alpha_bar)
    assert D.Diffusion.from_config(model.get_config()).schedule.alpha_bar.min() == floored.alpha_bar.min()
    x0 = np.full((2, 3), 0.5, "float32")                                # samplers work on the flat tail
    for eta in (0.0, 1.0):
        np.testing.assert_allclose(D.ddim_sample(_oracle(x0, floored), floored, 2, (3,), steps=20, eta=eta), x0,
                                   atol=1e-3)


def test_bad_ema_clip_and_floor_settings_raise_value_errors():
    net = D.build_mlp_denoiser(2, hidden=4, depth=0)
    for decay in (0, 1, 1.5, -0.1, np.nan, True, "0.9"):
        with pytest.raises(ValueError, match=r"^ema_decay must be a finite number > 0 and < 1, got "):
            D.Diffusion(net, T=10, ema_decay=decay)
    s = D.make_schedule(10)
    eps = _oracle(np.zeros((3, 2), "float32"), s)
    for clip in (-1.0, 0, np.inf, "1"):
        with pytest.raises(ValueError, match=r"^clip_x0 must be a finite number > 0, got "):
            D.ddim_sample(eps, s, 3, (2,), steps=2, clip_x0=clip)
        with pytest.raises(ValueError, match=r"^clip_x0 must be a finite number > 0, got "):
            D.ddpm_sample(eps, s, 3, (2,), clip_x0=clip)
    for r in (0, 1, -0.5, 2.0, np.nan):
        with pytest.raises(ValueError, match=r"^min_signal_rate must be a finite number > 0 and < 1, got "):
            D.make_schedule(10, "cosine", min_signal_rate=r)
    with pytest.raises(ValueError, match=r"^min_signal_rate must be"):
        D.Diffusion(net, T=10, min_signal_rate=1.0)
