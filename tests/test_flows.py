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
    scale = scale or (0.3 if flow.kind == "dense" else 0.1)
    rng = np.random.default_rng(seed)
    for w in flow.weights:
        w.assign(scale * rng.standard_normal(w.shape).astype("float32") + (1.0 if "scale" in w.path else 0.0))
    return flow


@pytest.mark.parametrize("kind,shape", [("dense", (2,)), ("dense", (5,)), ("conv", (4, 4, 1)), ("conv", (28, 28, 1)),
                                        ("multiscale", (28, 28, 1))])
def test_x_to_z_to_x_is_the_identity(kind, shape):
    x = np.random.default_rng(1).normal(size=(16,) + shape).astype("float32")
    flow = _randomised(F.RealNVP(shape, couplings=4, kind=kind, hidden=16), x)
    z, _ = flow(x)
    assert z.shape[1:] == flow.latent_shape and np.prod(flow.latent_shape) == np.prod(shape)
    untrained = x if kind != "multiscale" else F.Squeeze()(F.Squeeze()(x)[0])[0]   # what the identity gives
    assert not np.allclose(z, untrained, atol=1e-2)              # the flow does move the data
    np.testing.assert_allclose(flow.inverse(z), x, atol=1e-4)


@pytest.mark.parametrize("kind,shape", [("dense", (2,)), ("dense", (3,)), ("conv", (4, 4, 1)), ("multiscale", (4, 4, 1))])
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


def test_squeeze_moves_each_2x2_block_into_channels_and_back():
    x = np.arange(2 * 4 * 4 * 3, dtype="float32").reshape(2, 4, 4, 3)
    squeezed, logdet = F.Squeeze()(x)
    assert squeezed.shape == (2, 2, 2, 12) and np.all(np.asarray(logdet) == 0)
    # channel (2 dy + dx) * C + c of block (i, j) is pixel (2i + dy, 2j + dx), channel c
    np.testing.assert_array_equal(np.asarray(squeezed)[1, 1, 0, (2 * 1 + 0) * 3 + 2], x[1, 3, 0, 2])
    np.testing.assert_array_equal(np.sort(np.asarray(squeezed).ravel()), x.ravel())   # a permutation
    np.testing.assert_array_equal(F.Squeeze().inverse(squeezed), x)


def test_channel_masks_keep_half_of_the_channels():
    for pattern, kept in [("first", [0, 1]), ("second", [2, 3]), ("even", [0, 2]), ("odd", [1, 3])]:
        mask = F.channel_mask((3, 3, 4), pattern)
        assert mask.shape == (3, 3, 4) and np.all(mask[..., kept] == 1) and mask.sum() == 3 * 3 * 2
    with pytest.raises(ValueError, match="even number of channels"):
        F.channel_mask((3, 3, 1), "first")


def test_a_multiscale_flow_saves_and_loads_in_safe_mode(tmp_path):
    x = np.random.default_rng(4).normal(size=(3, 8, 8, 1)).astype("float32")
    flow = _randomised(F.RealNVP((8, 8, 1), couplings=2, kind="multiscale", hidden=4), x)
    assert [type(s).__name__ for s in flow.steps].count("Squeeze") == 2 and flow.latent_shape == (2, 2, 16)
    flow.save(tmp_path / "flow.keras")
    loaded = keras.saving.load_model(tmp_path / "flow.keras", safe_mode=True)
    np.testing.assert_allclose(loaded.log_prob(x), flow.log_prob(x), rtol=1e-5)
    assert loaded.sample(2, seed=1).shape == (2, 8, 8, 1)


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
    with pytest.raises(ValueError, match="divide by 4"):
        F.RealNVP((14, 14, 1), kind="multiscale")
    with pytest.raises(ValueError, match="kind must be"):
        F.RealNVP((4, 4, 1), kind="glow")
    with pytest.raises(ValueError, match=r"codes z of shape \(1, 1, 16\)"):
        F.RealNVP((4, 4, 1), kind="multiscale", couplings=2).inverse(np.zeros((2, 4, 4, 1), "float32"))


def test_to_logit_and_bits_per_dim_reject_what_would_be_nan_or_nonsense():
    levels = np.random.default_rng(0).integers(0, 256, (2, 4, 4)).astype("uint8")
    with pytest.raises(ValueError, match=r"to_logit\(\) expects dequantized values in \[0, 1\] as floats \(8-bit levels\? use "
                                         r"flows.dequantize\(levels\) first\), got dtype uint8"):
        F.to_logit(levels)                                              # used to return NaN
    with pytest.raises(ValueError, match=r"expects dequantized values in \[0, 1\] \(flows.dequantize\), got values "
                                         r"in \[0, 2\d\d\]"):
        F.to_logit(levels.astype("float32"))
    with pytest.raises(ValueError, match=r"got values in \[nan, nan\]"):
        F.to_logit(np.full((2, 3), np.nan))
    with pytest.raises(ValueError, match=r"alpha must be a finite number > 0 and < 0\.5, got 0\.5\."):
        F.to_logit(F.dequantize(levels), alpha=0.5)
    with pytest.raises(ValueError, match=r"^dim must be a positive integer, got 0\.$"):
        F.bits_per_dim(np.array([-100.0]), dim=0)
    with pytest.raises(ValueError, match=r"^batch_size must be a positive integer, got 0\.$"):
        F.log_prob_8bit(F.RealNVP((4, 4, 1), couplings=2, kind="conv", hidden=4), levels, batch_size=0)
    assert F.bits_per_dim(np.array([-784 * np.log(2)]), dim=np.int64(784))[0] == pytest.approx(1.0)


def test_numpy_integers_are_valid_sizes():
    flow = F.RealNVP((2,), couplings=np.int64(2), hidden=np.int64(4))
    flow(np.zeros((1, 2), "float32"))
    assert flow.hidden == 4 and type(flow.hidden) is int
    assert flow.sample(np.int64(3)).shape == (3, 2)
    with pytest.raises(ValueError, match=r"hidden must be a positive integer, got 2\.5\."):
        F.RealNVP((2,), hidden=2.5)


def test_fit_rejects_nan_examples():
    flow = F.RealNVP((2,), couplings=2, hidden=4)
    flow.compile(optimizer="adam")
    points = two_moons(8)
    points[2, 0] = np.nan
    with pytest.raises(ValueError, match=r"expected finite examples, got values in \[nan, nan\] \(NaN or inf\)"):
        flow.fit(points, verbose=0)
    with pytest.raises(ValueError, match=r"expected finite examples"):
        flow.fit(tf.data.Dataset.from_tensor_slices(points).batch(4), verbose=0)
    assert np.isfinite(flow.fit(two_moons(8), batch_size=4, verbose=0).history["loss"]).all()
