"""course_lib.flows: invertibility, the log-determinant against autodiff, a density that
integrates to one, the 8-bit bookkeeping, bad input."""

import keras
import numpy as np
import pytest
import tensorflow as tf

from course_lib import flows as F
from course_lib.data import two_moons


def _randomised(flow, x, scale=None, seed=0):
    """Build ``flow`` on ``x`` and draw every weight at random: an untrained flow is the identity.
    The default scale keeps each s/t network's gain near 1 (3x3 kernels over 16 channels have
    144 inputs), so that float32 round-off is not amplified layer after layer."""
    flow(x)
    scale = scale or (0.1 if flow.kind == "conv" else 0.3)
    rng = np.random.default_rng(seed)
    for w in flow.weights:
        w.assign(scale * rng.standard_normal(w.shape).astype("float32") + (1.0 if "scale" in w.path else 0.0))
    return flow


@pytest.mark.parametrize("kind,shape", [("dense", (2,)), ("dense", (5,)), ("conv", (4, 4, 1)), ("conv", (28, 28, 1))])
def test_x_to_z_to_x_is_the_identity(kind, shape):
    x = np.random.default_rng(1).normal(size=(16,) + shape).astype("float32")
    flow = _randomised(F.RealNVP(shape, couplings=4, kind=kind, hidden=16), x)
    z, _ = flow(x)
    assert not np.allclose(z, x, atol=1e-2)                      # the flow does move the data
    np.testing.assert_allclose(flow.inverse(z), x, atol=1e-4)


@pytest.mark.parametrize("kind,shape", [("dense", (2,)), ("dense", (3,)), ("conv", (4, 4, 1))])
def test_log_determinant_equals_the_autodiff_jacobians(kind, shape):
    x = tf.constant(np.random.default_rng(2).normal(size=(6,) + shape).astype("float32"))
    flow = _randomised(F.RealNVP(shape, couplings=4, kind=kind, hidden=16), x)
    with tf.GradientTape() as tape:
        tape.watch(x)
        z, logdet = flow(x)
        z_flat = tf.reshape(z, (6, -1))
    jac = tape.batch_jacobian(z_flat, x)
    jac = tf.reshape(jac, (6, z_flat.shape[1], z_flat.shape[1]))
    np.testing.assert_allclose(logdet, np.linalg.slogdet(jac.numpy().astype("float64"))[1], rtol=1e-4, atol=1e-4)


def test_a_2d_flow_density_integrates_to_one():
    flow = _randomised(F.RealNVP((2,), couplings=6, hidden=16), np.zeros((1, 2), "float32"), scale=0.4)
    grid = np.linspace(-9, 9, 451)
    xx, yy = np.meshgrid(grid, grid)
    points = np.stack([xx.ravel(), yy.ravel()], axis=1).astype("float32")
    density = np.exp(np.concatenate([flow.log_prob(points[s:s + 50_000]).numpy() for s in range(0, len(points), 50_000)]))
    assert density.sum() * (grid[1] - grid[0]) ** 2 == pytest.approx(1.0, abs=0.02)


def test_flow_learns_two_moons_better_than_the_untrained_one():
    moons = two_moons(1024, seed=0)
    assert np.allclose(moons.mean(0), 0, atol=1e-5) and np.allclose(moons.std(0), 1, atol=1e-5)
    keras.utils.set_random_seed(0)
    flow = F.RealNVP((2,), couplings=4, hidden=32)
    flow.compile(optimizer=keras.optimizers.Adam(3e-3))
    start = -float(np.mean(flow.log_prob(moons)))                # the identity flow: N(0, I), about 2.84
    loss = flow.fit(moons, batch_size=256, epochs=15, verbose=0).history["loss"]
    assert start == pytest.approx(1 + np.log(2 * np.pi), abs=0.01)
    assert loss[-1] < start - 0.3
    clone = F.RealNVP.from_config(flow.get_config())
    assert clone.couplings == 4 and clone.event_shape == (2,)


def test_8bit_log_prob_is_the_dequantized_density_times_the_cube_volume():
    levels = np.random.default_rng(3).integers(0, 256, (3, 28, 28)).astype("uint8")
    flow = F.RealNVP((28, 28, 1), couplings=2, kind="conv", hidden=4)  # the identity: y ~ N(0, I)
    x = F.dequantize(levels, seed=5)
    y, logdet = F.to_logit(x)
    expected = (-0.5 * (y.astype("float64") ** 2).reshape(3, -1).sum(1) - 0.5 * 784 * np.log(2 * np.pi)
                + logdet - 784 * np.log(256))
    np.testing.assert_allclose(F.log_prob_8bit(flow, levels, seed=5), expected, rtol=1e-5)
    assert np.all((x >= 0) & (x < 1)) and np.allclose(np.floor(x * 256)[..., 0], levels)
    np.testing.assert_allclose(F.from_logit(y), x, atol=1e-5)
    assert F.bits_per_dim(np.array([-784 * np.log(2)]))[0] == pytest.approx(1.0)


def test_bad_input_raises_value_errors():
    with pytest.raises(ValueError, match="8-bit levels"):
        F.dequantize(np.array([[0.5, 0.2]]))
    with pytest.raises(ValueError, match="8-bit levels"):
        F.dequantize(np.array([[0, 256]]))
    flow = F.RealNVP((2,), couplings=2)
    with pytest.raises(ValueError, match=r"shape \(2,\)"):
        flow.log_prob(np.zeros((4, 3), "float32"))
    with pytest.raises(ValueError, match=r"shape \(2,\)"):
        flow.fit(np.zeros((4, 3), "float32"), verbose=0)
    with pytest.raises(ValueError, match="couplings"):
        F.RealNVP((2,), couplings=1)
    with pytest.raises(ValueError, match="vectors"):
        F.RealNVP((4, 4, 1), kind="dense")
    with pytest.raises(ValueError, match="both"):
        F.AffineCoupling(np.ones(2))
