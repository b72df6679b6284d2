"""Flow matching (course_lib/flow_matching.py) against closed forms: the straight path and its
velocity, the optimal velocity of Gaussian data (checked against a regression on samples), the
solvers' orders on a linear field, one Euler step on straight lines, the loss of a zero network."""

import keras
import numpy as np
import pytest

from course_lib import diffusion as D
from course_lib import flow_matching as F


def test_straight_path_ends_and_velocity():
    rng = np.random.default_rng(0)
    x0, x1 = rng.standard_normal((4, 3)).astype("float32"), rng.standard_normal((4, 3)).astype("float32")
    at = lambda t: np.asarray(F.straight_path(x0, x1, np.full(4, t, "float32"))[0])     # noqa: E731
    np.testing.assert_allclose(at(0.0), x0, atol=1e-7)
    np.testing.assert_allclose(at(1.0), x1, atol=1e-6)
    velocity = np.asarray(F.straight_path(x0, x1, np.full(4, 0.3, "float32"))[1])
    np.testing.assert_allclose(velocity, x1 - x0, atol=1e-7)
    np.testing.assert_allclose((at(0.31) - at(0.29)) / 0.02, velocity, atol=1e-3)    # d x_t / dt


@pytest.mark.parametrize("t", [0.1, 0.5, 0.9])
def test_gaussian_velocity_is_the_regression_of_the_velocity_on_x_t(t):
    """For jointly Gaussian (x1 - x0, x_t), E[x1 - x0 | x_t] is the least-squares line: fit it on samples
    and compare where x_t lives (its mean and 1 and 2 standard deviations out), within 5 standard errors."""
    mean, std, n = 1.5, 0.4, 400_000
    rng = np.random.default_rng(1)
    x0, x1 = rng.standard_normal(n), mean + std * rng.standard_normal(n)
    x_t, u = (1 - t) * x0 + t * x1, x1 - x0
    slope, intercept = np.polyfit(x_t, u, 1)
    residual_sd = np.std(u - (slope * x_t + intercept))
    grid = x_t.mean() + x_t.std() * np.array([-2.0, -1.0, 0.0, 1.0, 2.0])
    standard_error = residual_sd / np.sqrt(n) * np.sqrt(1 + ((grid - x_t.mean()) / x_t.std()) ** 2)
    error = np.abs(F.gaussian_velocity(grid, t, mean, std) - (slope * grid + intercept))
    assert np.all(error <= 5 * standard_error), (error, standard_error)


def test_point_mass_field_and_one_euler_step():
    """Data at one point m: v*(x, t) = (m - x) / (1 - t). Its paths are straight, so Euler and Heun
    are exact with any number of steps, one included; the field is infinite at t = 1, where Heun's
    last step (an Euler step) never asks for it: 2k - 1 calls, all at t < 1."""
    m = np.array([0.7, -1.2], "float32")
    x = np.random.default_rng(2).standard_normal((5, 2)).astype("float32")
    np.testing.assert_allclose(F.gaussian_velocity(x, 0.25, m, 0.0), (m - x) / 0.75, rtol=1e-6)
    times = []

    def field(x, t):
        times.append(float(t[0]))
        return (m - x) / (1.0 - t[:, None])

    for method in ("euler", "heun"):
        for steps in (1, 3):
            times.clear()
            np.testing.assert_allclose(F.ode_sample(field, 5, (2,), steps=steps, method=method, x_0=x),
                                       np.tile(m, (5, 1)), atol=1e-5)
            assert len(times) == F.network_calls(method, steps) and max(times) < 1.0, (method, times)


def test_solvers_converge_at_their_order_on_a_linear_field():
    """dx/dt = a x from x0 ends at x0 e^a. Euler's error falls as 1/k, Heun's as 1/k^2."""
    a, x0 = -1.3, np.ones((1, 1), "float32")
    field = lambda x, t: a * x                                                             # noqa: E731
    exact = np.exp(a)
    for method, order in (("euler", 1), ("heun", 2)):
        errors = [abs(float(F.ode_sample(field, 1, (1,), steps=k, method=method, x_0=x0)[0, 0]) - exact)
                  for k in (20, 40, 80)]
        ratios = [errors[i] / errors[i + 1] for i in range(2)]
        np.testing.assert_allclose(ratios, 2.0 ** order, rtol=0.1)
    assert abs(float(F.ode_sample(field, 1, (1,), steps=200, method="heun", x_0=x0)[0, 0]) - exact) < 1e-5


def test_integrating_the_exact_gaussian_field_moves_noise_onto_the_data():
    """Gaussian to Gaussian, the exact field's flow is the affine map x(1) = mean + std x(0): each
    start must land there (Heun, 50 steps), so the samples are N(mean, std^2)."""
    mean, std = np.array([2.0, -1.0]), np.array([0.5, 0.3])
    field = lambda x, t: F.gaussian_velocity(x, t[:, None], mean, std).astype("float32")  # noqa: E731
    starts = np.random.default_rng(0).standard_normal((2_000, 2)).astype("float32")
    samples = F.ode_sample(field, 2_000, (2,), steps=50, method="heun", x_0=starts)
    np.testing.assert_allclose(samples, mean + std * starts, atol=2e-3)


def test_loss_of_a_zero_network_is_the_mean_square_velocity():
    """v = 0 everywhere: the loss is E(x1 - x0)^2 = x1^2 + 1 for data at one point x1."""
    x, t = keras.Input((2,)), keras.Input((), dtype="float32")
    out = keras.layers.Dense(2, kernel_initializer="zeros", bias_initializer="zeros")(x)
    model = F.FlowMatching(keras.Model([x, t], out), seed=1)
    x1 = np.tile(np.array([[1.0, -2.0]], "float32"), (50_000, 1))
    assert float(model.loss_of(x1)) == pytest.approx((1 + 4) / 2 + 1, rel=0.02)


def test_flow_matching_trains_on_points_and_reloads(tmp_path):
    keras.utils.set_random_seed(0)
    model = F.FlowMatching(D.build_mlp_denoiser(2, hidden=32, depth=2, continuous_time=True), ema_decay=0.9)
    before = [np.array(w) for w in model.ema]
    model.compile(optimizer=keras.optimizers.Adam(3e-3))
    points = np.random.default_rng(0).normal([1.0, -1.0], 0.1, (2048, 2)).astype("float32")
    history = model.fit(points, batch_size=256, epochs=6, verbose=0)
    assert history.history["loss"][-1] < history.history["loss"][0]
    model.save(tmp_path / "fm.keras")
    again = keras.saving.load_model(tmp_path / "fm.keras")
    assert isinstance(again, F.FlowMatching) and again.ema_decay == pytest.approx(0.9)
    for a, b in zip(model.get_weights(), again.get_weights()):             # the network's and its average's
        np.testing.assert_array_equal(a, b)
    assert any(not np.allclose(a, np.array(b)) for a, b in zip(before, again.ema))    # the average moved
    samples = F.sample_with(again, 500, {"method": "euler", "steps": 20}, seed=0)
    np.testing.assert_allclose(samples.mean(0), [1.0, -1.0], atol=0.3)


def test_bad_input_is_refused():
    with pytest.raises(ValueError, match="float time input"):
        F.FlowMatching(D.build_mlp_denoiser(2, hidden=4, depth=0))              # integer t: a diffusion network
    model = F.FlowMatching(D.build_mlp_denoiser(2, hidden=4, depth=0, continuous_time=True))
    model.compile(optimizer="adam")
    with pytest.raises(ValueError, match=r"shape \(2,\)"):
        model.fit(np.zeros((8, 3), "float32"), batch_size=4, verbose=0)
    with pytest.raises(ValueError, match="finite"):
        model.fit(np.full((8, 2), np.nan, "float32"), batch_size=4, verbose=0)
    images = F.FlowMatching(D.build_unet(4, continuous_time=True))
    images.compile(optimizer="adam")
    with pytest.raises(ValueError, match=r"\[-1, 1\]"):
        images.fit(np.full((4, 28, 28, 1), 2.0, "float32"), batch_size=4, verbose=0)
    with pytest.raises(ValueError, match="method"):
        F.ode_sample(lambda x, t: x, 2, (2,), method="rk4")
    with pytest.raises(ValueError, match="steps"):
        F.ode_sample(lambda x, t: x, 2, (2,), steps=0)
    with pytest.raises(ValueError, match="x_0"):
        F.ode_sample(lambda x, t: x, 2, (2,), x_0=np.zeros((3, 2)))
    with pytest.raises(ValueError, match="solver"):
        F.sample_with(model, 2, {"steps": 2})
    with pytest.raises(ValueError, match="FlowMatching"):
        F.sample_with(D.Diffusion(D.build_mlp_denoiser(2, hidden=4, depth=0), T=10), 2, {"method": "euler", "steps": 2})
    assert F.network_calls("heun", 10) == 19 and F.network_calls("euler", 10) == 10
