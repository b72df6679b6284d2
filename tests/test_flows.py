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


# ---------------------------------------------------------------------------------------
# Glow's multi-scale flow: ActNorm, InvConv1x1, ChannelCoupling, FactorOut, MultiScaleFlow
# ---------------------------------------------------------------------------------------

def _perturbed(layer, x, scale=0.3, seed=0):
    """``layer`` built on ``x`` (every ActNorm started from it), then noise added to each trainable
    weight: an untrained coupling or prior is the identity, and would test nothing. The Keras seed
    is set first: the convolutions' kernels are drawn when ``layer`` is built, here."""
    keras.utils.set_random_seed(seed)
    layer(x, training=True)
    rng = np.random.default_rng(seed)
    for w in layer.trainable_weights:
        w.assign(w + scale * rng.standard_normal(w.shape).astype("float32"))
    return layer


def _forward(layer, x):
    """A layer's map as (n, D) codes and its log |det| (FactorOut's two outputs concatenated)."""
    out = layer(x)
    z, logdet = (ops_concat(out[:2]), out[2]) if isinstance(layer, F.FactorOut) else out
    return tf.reshape(z, (x.shape[0], -1)), logdet


def ops_concat(parts):
    return tf.concat([tf.reshape(p, (p.shape[0], -1)) for p in parts], axis=1)


def _jacobian_log_det(fn, x):
    with tf.GradientTape() as tape:
        tape.watch(x)
        z, logdet = fn(x)
    jac = tf.reshape(tape.batch_jacobian(z, x), (x.shape[0], z.shape[1], -1)).numpy().astype("float64")
    assert jac.shape[1] == jac.shape[2]                         # as many codes as inputs
    return logdet.numpy(), np.linalg.slogdet(jac)[1]


NEW_LAYERS = {"actnorm": lambda: F.ActNorm(), "conv1x1": lambda: F.InvConv1x1(seed=3),
              "coupling": lambda: F.ChannelCoupling(4, hidden=8), "coupling_swap": lambda: F.ChannelCoupling(4, 8, swap=True),
              "factor_out_learned": lambda: F.FactorOut(4), "factor_out_plain": lambda: F.FactorOut(4, learned_prior=False)}


@pytest.mark.parametrize("name", NEW_LAYERS)
def test_each_new_layer_inverts_and_its_log_det_is_the_autodiff_jacobians(name):
    x = tf.constant(np.random.default_rng(5).normal(1.0, 2.0, size=(6, 2, 2, 4)).astype("float32"))
    layer = _perturbed(NEW_LAYERS[name](), x)
    out = layer(x)
    back = layer.inverse(*out[:2]) if isinstance(layer, F.FactorOut) else layer.inverse(out[0])
    np.testing.assert_allclose(back, x, atol=1e-5)
    logdet, reference = _jacobian_log_det(lambda v: _forward(layer, v), x)
    np.testing.assert_allclose(logdet, reference, rtol=1e-4, atol=1e-4)
    if name != "factor_out_plain":                              # a channel split: a permutation
        assert np.abs(reference).min() > 0.05                   # the layer does change volumes


def test_actnorm_starts_from_its_first_training_batch_eagerly_and_in_a_graph():
    x = np.random.default_rng(6).normal([1.0, -2.0, 5.0], [0.5, 3.0, 1.0], size=(16, 3, 3, 3)).astype("float32")
    for run in (lambda layer, v: layer(v, training=True), tf.function(lambda layer, v: layer(v, training=True))):
        layer = F.ActNorm()
        np.testing.assert_array_equal(layer(x)[0], x)          # not training: untouched, the identity
        z, logdet = run(layer, x)
        z = np.asarray(z).reshape(-1, 3)
        np.testing.assert_allclose(z.mean(0), 0, atol=1e-5)
        np.testing.assert_allclose(z.var(0), 1, atol=1e-4)
        np.testing.assert_allclose(logdet, 9 * -0.5 * np.log(x.reshape(-1, 3).var(0)).sum(), rtol=1e-5)
        assert float(layer.initialized.numpy()) == 1.0
        before = [w.numpy().copy() for w in layer.weights]
        run(layer, x[:4] * 10)                                  # a second batch does not start it again
        assert all(np.array_equal(a, w.numpy()) for a, w in zip(before, layer.weights))


def test_invconv1x1_starts_as_a_seeded_random_rotation_and_its_lu_log_det_is_exact():
    x = np.random.default_rng(7).normal(size=(2, 3, 3, 6)).astype("float32")
    layer = F.InvConv1x1(seed=11)
    z, logdet = layer(x)
    w = layer.kernel().numpy()
    np.testing.assert_allclose(w @ w.T, np.eye(6), atol=1e-5)                    # orthogonal
    assert abs(np.linalg.slogdet(w)[1]) < 1e-5 and np.abs(np.asarray(logdet)).max() < 1e-4
    assert np.abs(w - np.diag(np.diag(w))).max() > 0.1                          # it mixes channels
    np.testing.assert_allclose(np.asarray(z), x @ w.T, atol=1e-5)
    p = layer.permutation.numpy()
    assert np.array_equal(np.sort(p, 0)[-1], np.ones(6)) and p.sum() == 6       # a permutation matrix
    np.testing.assert_array_equal(F.InvConv1x1(seed=11)(x)[0], z)               # the seed draws W
    assert not np.allclose(F.InvConv1x1(seed=12)(x)[0], z)
    for v in (layer.lower, layer.upper, layer.log_s):                           # trained: log |det W| = sum log_s
        v.assign(v + 0.5 * np.random.default_rng(8).standard_normal(v.shape).astype("float32"))
    np.testing.assert_allclose(np.linalg.slogdet(layer.kernel().numpy().astype("float64"))[1],
                               layer.log_s.numpy().sum(), rtol=1e-5, atol=1e-5)


def test_the_new_layers_stacked_make_a_2d_density_that_integrates_to_one():
    """(1, 1, 2) 'images': ActNorm -> InvConv1x1 -> ChannelCoupling -> FactorOut (Glow's learned
    prior): p(x) = N(kept) N(e) |det|, summed over a grid."""
    steps = [F.ActNorm(), F.InvConv1x1(seed=1), F.ChannelCoupling(2, hidden=8), F.ActNorm(), F.FactorOut(2)]
    x = np.random.default_rng(9).normal(size=(256, 1, 1, 2)).astype("float32")
    for step in steps:
        x = _perturbed(step, x, scale=0.5)(x)[0] if not isinstance(step, F.FactorOut) else _perturbed(step, x, 0.5)

    def log_p(v):
        logdet = 0.0
        for step in steps[:-1]:
            v, ld = step(v)
            logdet += ld
        kept, e, ld = steps[-1](v)
        z = tf.concat([tf.reshape(kept, (-1, 1)), tf.reshape(e, (-1, 1))], axis=1)
        return (-0.5 * tf.reduce_sum(z ** 2, axis=1) - np.log(2 * np.pi) + logdet + ld).numpy()

    grid = np.linspace(-30, 30, 1201)
    points = np.stack(np.meshgrid(grid, grid), -1).reshape(-1, 1, 1, 2).astype("float32")
    assert np.exp(log_p(points)).sum() * (grid[1] - grid[0]) ** 2 == pytest.approx(1.0, abs=0.005)


@pytest.mark.parametrize("conv1x1", [True, False])
def test_multiscale_flow_codes_every_dimension_and_decodes_them_back(conv1x1):
    x = np.random.default_rng(10).normal(size=(8, 28, 28, 1)).astype("float32")
    flow = F.MultiScaleFlow((28, 28, 1), scales=2, steps=2, hidden=8, conv1x1=conv1x1)
    assert flow.latent_shapes == ((14, 14, 2), (7, 7, 8)) and flow.latent_shape == (784,)
    if not conv1x1:     # untrained and unmixed: a permutation, and its first 392 codes are what the split dropped
        z = flow.encode(x)
        np.testing.assert_array_equal(z[:, :392], np.asarray(F.Squeeze()(x)[0])[..., 2:].reshape(8, -1))
        np.testing.assert_array_equal(np.sort(z, axis=1), np.sort(x.reshape(8, -1), axis=1))
    flow = _perturbed(flow, x, scale=0.1)
    z = flow.encode(x)
    assert z.shape == (8, 784) and not np.allclose(z, flow.encode(x + 0.01), atol=1e-3)
    np.testing.assert_allclose(flow.decode(z), x, atol=1e-5)
    np.testing.assert_allclose(flow.decode(z, batch_size=3), flow.decode(z), atol=1e-6)
    x = x.reshape(8, -1)[:, :128].reshape(8, 8, 8, 2)
    three = _perturbed(F.MultiScaleFlow((8, 8, 2), scales=3, steps=1, hidden=4), x, scale=0.1)
    assert three.latent_shapes == ((4, 4, 4), (2, 2, 8), (1, 1, 32)) and sum(map(np.prod, three.latent_shapes)) == 128
    np.testing.assert_allclose(three.decode(three.encode(x)), x, atol=1e-5)


@pytest.mark.parametrize("conv1x1,learned_prior", [(True, True), (False, False)])
def test_multiscale_log_prob_is_the_change_of_variables_with_the_autodiff_jacobian(conv1x1, learned_prior):
    x = tf.constant(np.random.default_rng(11).normal(size=(5, 4, 4, 2)).astype("float32"))
    flow = _perturbed(F.MultiScaleFlow((4, 4, 2), scales=2, steps=2, hidden=8, conv1x1=conv1x1,
                                       learned_prior=learned_prior), x, scale=0.2)
    logdet, reference = _jacobian_log_det(flow, x)
    np.testing.assert_allclose(logdet, reference, rtol=1e-4, atol=1e-4)
    z = flow.encode(x.numpy()).astype("float64")
    expected = -0.5 * (z ** 2).sum(1) - 16 * np.log(2 * np.pi) + reference
    np.testing.assert_allclose(flow.log_prob(x), expected, rtol=1e-5, atol=1e-4)


def test_a_4d_multiscale_flow_density_integrates_to_one():
    flow = F.MultiScaleFlow((2, 2, 1), scales=1, steps=2, hidden=8)
    _perturbed(flow, np.random.default_rng(12).normal(size=(256, 2, 2, 1)).astype("float32"), scale=0.3)
    grid = np.linspace(-7, 7, 36)
    points = np.stack(np.meshgrid(grid, grid, grid, grid, indexing="ij"), -1).reshape(-1, 2, 2, 1).astype("float32")
    density = np.exp(np.concatenate([flow.log_prob(points[s:s + 200_000]).numpy() for s in range(0, len(points), 200_000)]))
    assert density.sum() * (grid[1] - grid[0]) ** 4 == pytest.approx(1.0, abs=0.02)


def test_multiscale_samples_are_decoded_gaussian_codes_at_a_temperature():
    flow = _perturbed(F.MultiScaleFlow((8, 8, 1), scales=2, steps=2, hidden=4),
                      np.random.default_rng(13).normal(size=(16, 8, 8, 1)).astype("float32"), scale=0.1)
    samples = flow.sample(4, seed=3, temperature=0.7)
    assert samples.shape == (4, 8, 8, 1)
    codes = 0.7 * np.random.default_rng(3).standard_normal((4, 64))
    np.testing.assert_allclose(flow.encode(samples), codes, atol=1e-4)
    np.testing.assert_allclose(flow.sample(2, temperature=0), flow.decode(np.zeros((2, 64))), atol=1e-6)


def test_a_multiscale_flow_saves_and_loads_with_its_actnorm_state(tmp_path):
    rng = np.random.default_rng(14)
    x, other = rng.normal(size=(2, 6, 8, 8, 1)).astype("float32")
    flow = _perturbed(F.MultiScaleFlow((8, 8, 1), scales=2, steps=2, hidden=4, seed=5), x, scale=0.1)
    flow.save(tmp_path / "glow.keras")
    loaded = keras.saving.load_model(tmp_path / "glow.keras", safe_mode=True)
    assert type(loaded) is F.MultiScaleFlow and loaded.get_config() == flow.get_config()
    np.testing.assert_array_equal(loaded.log_prob(other), flow.log_prob(other))
    loaded.initialize(other * 3 + 1)                            # started already: a new batch changes nothing
    np.testing.assert_array_equal(loaded.log_prob(other), flow.log_prob(other))
    np.testing.assert_array_equal(loaded.sample(2, seed=1), flow.sample(2, seed=1))
    clone = F.MultiScaleFlow.from_config(flow.get_config())
    clone(other)
    assert [tuple(w.shape) for w in clone.weights] == [tuple(w.shape) for w in flow.weights]


def test_multiscale_flow_fits_8bit_digits_and_scores_with_log_prob_8bit():
    rng = np.random.default_rng(15)
    levels = np.zeros((256, 8, 8), "uint8")                     # bright strokes, a row or a column each
    for i, k in enumerate(rng.integers(1, 7, 256)):
        (levels[i, k, 1:7] if i % 2 else levels[i, 1:7, k])[:] = rng.integers(180, 256, 6)
    y = F.to_logit(F.dequantize(levels, seed=1))[0]
    keras.utils.set_random_seed(0)
    flow = F.MultiScaleFlow((8, 8, 1), scales=2, steps=2, hidden=16)
    flow.compile(optimizer=keras.optimizers.Adam(3e-3))
    untrained = F.bits_per_dim(F.log_prob_8bit(flow, levels, seed=2), dim=64).mean()
    loss = flow.fit(y, batch_size=32, epochs=4, verbose=0).history["loss"]
    assert all(float(s.initialized.numpy()) == 1 for s in flow.steps if isinstance(s, F.ActNorm))   # inside fit
    trained = F.bits_per_dim(F.log_prob_8bit(flow, levels, seed=2), dim=64).mean()
    assert np.isfinite(loss).all() and loss[-1] < loss[0] and trained < untrained - 1.0


def test_multiscale_bad_input_raises_value_errors():
    flow = F.MultiScaleFlow((8, 8, 1), scales=2, steps=2, hidden=4)
    flow.compile(optimizer="adam")
    with pytest.raises(ValueError, match=r"takes examples of shape \(8, 8, 1\), got a batch of shape \(2, 8, 8, 2\)"):
        flow.log_prob(np.zeros((2, 8, 8, 2), "float32"))
    with pytest.raises(ValueError, match=r"shape \(8, 8, 1\)"):
        flow.fit(np.zeros((4, 4, 4, 1), "float32"), verbose=0)
    with pytest.raises(ValueError, match=r"codes z of shape \(64,\)"):
        flow.decode(np.zeros((2, 63), "float32"))
    bad = np.zeros((4, 8, 8, 1), "float32")
    bad[1, 2, 3] = np.inf
    for run in (flow.log_prob, flow.encode, lambda v: flow.fit(v, verbose=0),
                lambda v: flow.fit(tf.data.Dataset.from_tensor_slices(v).batch(2), verbose=0)):
        with pytest.raises(ValueError, match=r"expected finite examples, got values in \[0, inf\]"):
            run(bad)
    with pytest.raises(ValueError, match="expected finite codes z"):
        flow.decode(np.full((1, 64), np.nan, "float32"))
    with pytest.raises(ValueError, match=r"8-bit levels \(integers 0\.\.255\)"):
        F.log_prob_8bit(flow, np.full((2, 8, 8), 256))
    with pytest.raises(ValueError, match=r"8-bit levels"):
        F.log_prob_8bit(flow, np.full((2, 8, 8), 0.5))
    with pytest.raises(ValueError, match="even number of channels >= 2, got 3"):
        F.FactorOut(3)
    with pytest.raises(ValueError, match="even number of channels >= 2, got 1"):
        F.ChannelCoupling(1)
    with pytest.raises(ValueError, match=r"takes images of 4 channels, \(n, H, W, 4\), got \(2, 3, 3, 6\)"):
        F.FactorOut(4)(np.zeros((2, 3, 3, 6), "float32"))
    with pytest.raises(ValueError, match="must divide by 8"):
        F.MultiScaleFlow((28, 28, 1), scales=3)
    with pytest.raises(ValueError, match=r"event_shape must be \(H, W, C\)"):
        F.MultiScaleFlow((784,))
    with pytest.raises(ValueError, match="steps must be >= 2"):
        F.MultiScaleFlow((8, 8, 1), steps=1, conv1x1=False)
    with pytest.raises(ValueError, match="conv1x1 must be True or False"):
        F.MultiScaleFlow((8, 8, 1), conv1x1="yes")
    with pytest.raises(ValueError, match=r"scales must be a positive integer, got 0\."):
        F.MultiScaleFlow((8, 8, 1), scales=0)
    with pytest.raises(ValueError, match=r"temperature must be a finite number >= 0"):
        flow.sample(2, temperature=-1.0)
