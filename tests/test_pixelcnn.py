"""course_lib.pixelcnn: the slide's mask, the autoregressive property, exact likelihood, samplers."""

import math

import keras
import numpy as np
import pytest
import tensorflow as tf

from course_lib import pixelcnn as P

SLIDE_MASK = np.array([[1, 1, 1, 1, 1],
                       [1, 1, 1, 1, 1],
                       [1, 1, 0, 0, 0],
                       [0, 0, 0, 0, 0],
                       [0, 0, 0, 0, 0]], dtype="float32")

SMALL = dict(filters=8, hidden_layers=2, head_units=8)
# Sequential sampling costs one step per pixel: the sampler tests use 48-pixel images,
# not square, so that a height/width mix-up would show.
TINY = dict(SMALL, image_shape=(6, 8))


def test_mask_a_is_the_slide_mask_and_b_keeps_the_centre():
    np.testing.assert_array_equal(P.causal_mask(5, "A")[:, :, 0, 0], SLIDE_MASK)
    b = SLIDE_MASK.copy()
    b[2, 2] = 1
    np.testing.assert_array_equal(P.causal_mask(5, "B")[:, :, 0, 0], b)
    assert P.causal_mask(1, "A").sum() == 0 and P.causal_mask(1, "B").sum() == 1


def test_rgb_centre_taps_follow_r_g_b_order():
    a = P.causal_mask(3, "A", in_channels=3, out_channels=3, color_channels=3)[1, 1]
    b = P.causal_mask(3, "B", in_channels=6, out_channels=3, color_channels=3)[1, 1]
    # rows: input channel (R, G, B), columns: output channel; A: G sees R, B sees R and G
    np.testing.assert_array_equal(a, [[0, 1, 1], [0, 0, 1], [0, 0, 0]])
    # B with two input channels per colour: the output colour sees its own block too
    np.testing.assert_array_equal(b, [[1, 1, 1], [1, 1, 1], [0, 1, 1], [0, 1, 1], [0, 0, 1], [0, 0, 1]])


def _perturbation_moves(layer, x, j):
    """Which outputs (flattened position, channel) change when input pixel j changes."""
    y0 = keras.ops.convert_to_numpy(layer(x))
    x2 = x.copy()
    x2.reshape(x.shape[0], -1, x.shape[-1])[:, j, :] += 1.0
    y1 = keras.ops.convert_to_numpy(layer(x2))
    return np.abs(y1 - y0).reshape(x.shape[0], -1, y0.shape[-1]).max(axis=0) > 1e-6


@pytest.mark.parametrize("mask_type,k", [("A", 3), ("A", 5), ("B", 3), ("B", 7)])
def test_no_output_depends_on_a_future_pixel_grey(mask_type, k):
    rng = np.random.default_rng(0)
    layer = P.MaskedConv2D(4, k, mask_type, kernel_initializer="random_normal")
    x = rng.random((2, 6, 6, 1)).astype("float32")
    layer(x)
    for j in [0, 7, 14, 21, 35]:
        moved = _perturbation_moves(layer, x, j).any(axis=1)
        # mask A: output i never sees input i or later; mask B: output i sees input i, never later
        last_blind = j if mask_type == "A" else j - 1
        assert not moved[: last_blind + 1].any(), f"an output at or before {last_blind} moved when pixel {j} changed"
        assert moved[j + 1:].any() or j == 35
        assert moved[j] == (mask_type == "B")


def test_rgb_layer_respects_colour_order_at_the_same_pixel():
    rng = np.random.default_rng(1)
    layer = P.MaskedConv2D(3, 3, "A", color_channels=3, kernel_initializer="random_normal")
    x = rng.random((1, 4, 4, 3)).astype("float32")
    y0 = keras.ops.convert_to_numpy(layer(x))
    for colour in range(3):
        x2 = x.copy()
        x2[0, 1, 1, colour] += 1.0
        moved = np.abs(keras.ops.convert_to_numpy(layer(x2)) - y0)[0, 1, 1] > 1e-6
        # output channel g at the same pixel may see input colours < g only
        np.testing.assert_array_equal(moved, np.arange(3) > colour)


@pytest.mark.parametrize("image_shape", [(28, 28), (6, 8)])
@pytest.mark.parametrize("kind", ["binary", "categorical"])
def test_whole_pixelcnn_is_autoregressive(kind, image_shape):
    m = P.build_pixelcnn(kind, **SMALL, image_shape=image_shape)
    rng = np.random.default_rng(2)
    n_pix = math.prod(image_shape)
    x = (rng.random((2,) + image_shape) < 0.5).astype("float32") if kind == "binary" \
        else rng.integers(0, 256, (2,) + image_shape).astype("float32")
    y0 = keras.ops.convert_to_numpy(m(x)).reshape(2, n_pix, -1)
    for j in sorted({0, 100 % n_pix, 405 % n_pix, n_pix - 1}):      # 0, 100, 405, 783 on MNIST
        x2 = x.copy().reshape(2, n_pix)
        x2[:, j] = 1 - x2[:, j] if kind == "binary" else (x2[:, j] + 128) % 256
        y1 = keras.ops.convert_to_numpy(m(x2.reshape((2,) + image_shape))).reshape(2, n_pix, -1)
        moved = (np.abs(y1 - y0) > 1e-5).any(axis=(0, 2))
        assert not moved[: j + 1].any()


def test_log_prob_is_the_sum_of_per_pixel_log_probabilities():
    m = P.build_pixelcnn("categorical", **SMALL)
    x = np.random.default_rng(3).integers(0, 256, (3, 28, 28)).astype("uint8")
    logits = keras.ops.convert_to_numpy(m(x.astype("float32"))).astype("float64")
    log_softmax = logits - np.log(np.exp(logits - logits.max(-1, keepdims=True)).sum(-1, keepdims=True)) \
        - logits.max(-1, keepdims=True)
    manual = np.take_along_axis(log_softmax, x[..., None].astype(int), axis=-1)[..., 0].sum(axis=(1, 2))
    np.testing.assert_allclose(P.log_prob(m, x), manual, rtol=1e-5)
    np.testing.assert_allclose(P.bits_per_dim(P.log_prob(m, x)), -manual / (784 * math.log(2)), rtol=1e-5)


def test_binary_log_prob_matches_bernoulli_formula():
    m = P.build_pixelcnn("binary", **SMALL)
    x = (np.random.default_rng(4).random((2, 784)) < 0.3).astype("float32")
    logits = keras.ops.convert_to_numpy(m(x)).reshape(2, 784).astype("float64")
    manual = np.sum(x * logits - np.logaddexp(0, logits), axis=1)
    np.testing.assert_allclose(P.log_prob(m, x), manual, rtol=1e-5)


def test_loss_is_nll_in_nats_per_image():
    m = P.build_pixelcnn("binary", **SMALL)
    m.compile("adam")
    x = (np.random.default_rng(5).random((8, 28, 28)) < 0.3).astype("float32")
    loss = m.evaluate(x, batch_size=8, verbose=0, return_dict=True)
    np.testing.assert_allclose(loss["loss"], -P.log_prob(m, x).mean(), rtol=1e-4)
    np.testing.assert_allclose(loss["bits_per_dim"], P.bits_per_dim(P.log_prob(m, x)).mean(), rtol=1e-4)


def test_sample_of_input_ignoring_model_follows_its_fixed_probabilities():
    m = P.build_pixelcnn("categorical", filters=4, hidden_layers=1, head_units=4, levels=4)
    for conv in m.masked:                      # logits no longer depend on the input
        conv.kernel.assign(np.zeros(conv.kernel.shape, "float32"))
    probs = np.array([0.1, 0.2, 0.3, 0.4])
    m.head.kernel.assign(np.zeros(m.head.kernel.shape, "float32"))
    m.out.bias.assign(np.log(probs).astype("float32"))
    x = P.sample(m, 20, batch_size=20, seed=0, progress=False)
    freq = np.bincount(x.astype(int).ravel(), minlength=4) / x.size
    # 15,680 draws: the standard error is below 0.004
    np.testing.assert_allclose(freq, probs, atol=0.015)


def _assert_samplers_agree(m, labels, kind):
    naive = P.sample(m, 2, labels, method="naive", batch_size=2, seed=7, progress=False)
    fast = P.sample(m, 2, labels, method="fast", batch_size=2, seed=7, progress=False)
    compiled = P.sample(m, 2, labels, method="compiled", batch_size=2, seed=7, progress=False)
    assert naive.shape == (2,) + m.image_shape
    np.testing.assert_array_equal(fast, naive)
    np.testing.assert_array_equal(compiled, naive)
    assert fast.min() >= 0 and fast.max() <= (1 if kind == "binary" else 255)


# Two cases cover each branch once: the binary and the 256-way draw, with and without labels
# (each case runs the naive sampler, one model call per pixel: the slow part of the test).
@pytest.mark.parametrize("kind,cond", [("categorical", False), ("binary", True)])
def test_fast_and_compiled_samplers_match_naive_image_for_image(kind, cond):
    m = P.build_pixelcnn(kind, num_classes=10 if cond else None, **TINY)
    labels = np.eye(10, dtype="float32")[[3, 7]] if cond else None
    _assert_samplers_agree(m, labels, kind)


def test_time_sampler_rows_takes_the_first_rows_of_a_whole_model_sampler():
    m = P.build_pixelcnn("binary", **TINY)
    whole, _ = P.time_sampler(m, 3, "compiled", seed=5)
    part, seconds = P.time_sampler(m, 3, "naive", seed=5, rows=2)
    np.testing.assert_array_equal(part[:, :2], whole[:, :2])      # the same pixels as a whole run ...
    assert not part[:, 2:].any() and seconds > 0                   # ... and nothing below the rows taken
    with pytest.raises(ValueError, match="whole-model sampler"):
        P.time_sampler(m, 3, "fast", rows=2)
    with pytest.raises(ValueError, match="at most the image height 6"):
        P.time_sampler(m, 3, "naive", rows=7)


def test_fast_sampler_handles_1x1_hidden_kernels():
    """A 1x1 mask-B layer sees no row above (p = 0): the fast sampler has no window for it."""
    m = P.build_pixelcnn("categorical", num_classes=10, hidden_kernel=1, **TINY)
    for conv in m.masked:                      # larger weights: the pixels must depend on each other
        conv.kernel.assign(np.random.default_rng(0).normal(size=conv.kernel.shape).astype("float32"))
    _assert_samplers_agree(m, np.eye(10, dtype="float32")[[3, 7]], "categorical")


def test_1x1_mask_a_is_rejected():
    # on a grey image the 1x1 mask A is all zeros: the model would never see its input
    with pytest.raises(ValueError, match="first_kernel .*at least 3"):
        P.build_pixelcnn("binary", first_kernel=1)
    with pytest.raises(ValueError, match="first_kernel .*at least 3"):
        P.PixelCNN(first_kernel=1, hidden_kernel=1)


def test_conditional_model_output_depends_on_the_label():
    m = P.build_pixelcnn("binary", num_classes=10, **SMALL)
    for dense in m.label_bias:
        dense.kernel.assign(np.random.default_rng(0).normal(size=dense.kernel.shape).astype("float32"))
    x = np.zeros((2, 28, 28), "float32")
    out = keras.ops.convert_to_numpy(m((x, np.eye(10, dtype="float32")[[0, 1]])))
    assert np.abs(out[0] - out[1]).max() > 1e-3


@pytest.mark.parametrize("image_shape", [(28, 28), (6, 8)])
def test_saved_model_loads_in_safe_mode(tmp_path, image_shape):
    m = P.build_pixelcnn("binary", **SMALL, image_shape=image_shape)
    path = tmp_path / "pcnn.keras"
    m.save(path)
    loaded = keras.saving.load_model(path, safe_mode=True)
    assert loaded.image_shape == image_shape
    x = np.zeros((1,) + image_shape, "float32")
    np.testing.assert_allclose(keras.ops.convert_to_numpy(loaded(x)), keras.ops.convert_to_numpy(m(x)), atol=1e-6)


def test_image_shape_is_a_parameter():
    m = P.build_pixelcnn("categorical", **TINY)
    x = np.random.default_rng(6).integers(0, 256, (3, 6, 8)).astype("uint8")
    assert tuple(m(x).shape) == (3, 6, 8, 256)
    np.testing.assert_array_equal(P.check_images(m, x.reshape(3, 48)), x)      # (n, H*W) is accepted
    log_p = P.log_prob(m, x)
    np.testing.assert_allclose(P.bits_per_dim(log_p, dims=48), -log_p / (48 * math.log(2)))
    assert m.summary_rows()[-1]["output shape"] == "(None, 6, 8, 256)"
    assert P.receptive_field(m, 5, 7).shape == (6, 8)
    with pytest.raises(ValueError, match=r"\(n, 6, 8\)"):
        P.log_prob(m, np.zeros((2, 28, 28), "uint8"))
    with pytest.raises(ValueError, match="6 x 8"):
        P.receptive_field(m, 6, 0)
    m.compile("adam")
    loss = m.evaluate(x, verbose=0, return_dict=True)
    np.testing.assert_allclose(loss["bits_per_dim"], P.bits_per_dim(log_p, dims=48).mean(), rtol=1e-4)
    for bad in [(28, 28, 1), (6,), (6, 0), "6x8"]:
        with pytest.raises(ValueError, match="image_shape|height|width"):
            P.PixelCNN(image_shape=bad)


@pytest.mark.parametrize("kwargs", [dict(kernel_size=4), dict(kernel_size=0), dict(mask_type="C"),
                                    dict(kernel_size=3.0)])
def test_bad_mask_arguments(kwargs):
    args = dict(kernel_size=3, mask_type="A") | kwargs
    with pytest.raises(ValueError):
        P.causal_mask(**args)
    with pytest.raises(ValueError):
        P.MaskedConv2D(4, **args)


def test_bad_model_and_input_arguments():
    with pytest.raises(ValueError, match="kind"):
        P.build_pixelcnn("gaussian")
    with pytest.raises(ValueError, match="odd"):
        P.PixelCNN(first_kernel=6)
    with pytest.raises(ValueError, match="multiple"):
        P.causal_mask(3, "A", in_channels=4, out_channels=3, color_channels=3)
    cat = P.build_pixelcnn("categorical", **SMALL)
    binary = P.build_pixelcnn("binary", **SMALL)
    with pytest.raises(ValueError, match="shape"):
        P.log_prob(cat, np.zeros((2, 27, 28), "uint8"))
    with pytest.raises(ValueError, match="uint8"):
        P.log_prob(cat, np.full((2, 28, 28), 0.5, "float32"))
    with pytest.raises(ValueError, match="0..255"):
        P.log_prob(cat, np.full((2, 28, 28), 300))
    with pytest.raises(ValueError, match="0 or 1"):
        P.log_prob(binary, np.full((2, 28, 28), 0.5, "float32"))
    with pytest.raises(ValueError, match="not conditional"):
        P.sample(binary, 2, labels=np.eye(10)[:2], progress=False)
    cond = P.build_pixelcnn("binary", num_classes=10, **SMALL)
    with pytest.raises(ValueError, match="one-hot"):
        P.sample(cond, 2, labels=np.eye(7)[:2], progress=False)
    with pytest.raises(ValueError, match="method"):
        P.sample(binary, 2, method="slow", progress=False)


def test_receptive_field_is_zero_on_the_pixel_and_the_future():
    m = P.build_pixelcnn("categorical", **SMALL)
    for conv in m.masked:
        conv.kernel.assign(np.random.default_rng(0).normal(size=conv.kernel.shape).astype("float32"))
    g = P.receptive_field(m, 10, 12)
    flat = g.reshape(-1)
    assert np.all(flat[10 * 28 + 12:] == 0)
    assert flat[: 10 * 28 + 12].max() > 0
    # the receptive field reaches receptive_field_rows(m) rows up, no further
    rows_seen = np.nonzero(g.max(axis=1))[0]
    assert rows_seen.min() == 10 - P.receptive_field_rows(m)
    with pytest.raises(ValueError):
        P.receptive_field(m, 28, 0)


def test_ood_auroc_against_known_orderings():
    assert P.ood_auroc([0, 1, 2], [-3, -2, -1]) == 1.0       # out-of-distribution all less likely
    assert P.ood_auroc([-3, -2, -1], [0, 1, 2]) == 0.0
    assert P.ood_auroc([1, 1], [1, 1]) == 0.5
    rng = np.random.default_rng(0)
    assert abs(P.ood_auroc(rng.normal(size=4000), rng.normal(size=4000)) - 0.5) < 0.03
    with pytest.raises(ValueError):
        P.ood_auroc([], [1.0])


# ---------------------------------------------------------------------------------------
# Bad data fails at the model's boundary: fit (arrays and tf.data pipelines), call, log_prob
# ---------------------------------------------------------------------------------------

def _pipeline(*arrays, batch_size=4):
    """A tf.data pipeline of model inputs, as data.binarized_batches yields them."""
    data = arrays[0] if len(arrays) == 1 else tuple(arrays)
    ds = tf.data.Dataset.from_tensor_slices(data).batch(batch_size)
    return ds if len(arrays) == 1 else ds.map(lambda *xs: (xs,))      # ((images, labels),)


def test_binary_model_rejects_8bit_pixels():
    m = P.build_pixelcnn("binary", **SMALL)
    m.compile("adam")
    x = np.random.default_rng(7).integers(0, 256, (8, 28, 28)).astype("uint8")
    message = r"0 or 1 .*got values in \[0, 255\]"
    with pytest.raises(ValueError, match=message):
        m.fit(x, epochs=1, verbose=0)
    with pytest.raises(ValueError, match=message):
        m.fit(_pipeline(x.astype("float32")), epochs=1, verbose=0)
    with pytest.raises(ValueError, match=message):
        m.evaluate(_pipeline(x.astype("float32")), verbose=0)
    # a failed pipeline leaves the model trainable
    history = m.fit(_pipeline((x > 127).astype("float32")), epochs=1, verbose=0)
    assert np.isfinite(history.history["loss"]).all()


def test_categorical_model_rejects_unit_intensities():
    m = P.build_pixelcnn("categorical", **SMALL)
    m.compile("adam")
    x = np.random.default_rng(8).random((8, 28, 28)).astype("float32")
    message = r"integer levels 0\.\.255 .*uint8 images.*got values in \[0.\d+, 0.99"
    with pytest.raises(ValueError, match=message):
        m.fit(x, epochs=1, verbose=0)
    with pytest.raises(ValueError, match=message):
        m.fit(_pipeline(x), epochs=1, verbose=0)
    with pytest.raises(ValueError, match=message):
        m.fit(np.round(x * 255).reshape(8, 784), validation_data=(x,), epochs=1, verbose=0)


def test_rgb_batch_is_rejected_by_call_fit_and_log_prob():
    m = P.build_pixelcnn("categorical", **SMALL)
    m.compile("adam")
    rgb = np.random.default_rng(9).integers(0, 256, (4, 28, 28, 3)).astype("uint8")
    message = r"got \(4, 28, 28, 3\) \(3 channels: this PixelCNN models one grey channel\)"
    with pytest.raises(ValueError, match=message):
        m(rgb)
    with pytest.raises(ValueError, match=r"\(None, 28, 28, 3\) \(3 channels"):     # at trace time
        tf.function(m).get_concrete_function(tf.TensorSpec((None, 28, 28, 3), tf.float32))
    with pytest.raises(ValueError, match=message):
        m.fit(rgb, epochs=1, verbose=0)
    with pytest.raises(ValueError, match=r"\(None, 28, 28, 3\) \(3 channels"):     # element_spec
        m.fit(_pipeline(rgb), epochs=1, verbose=0)
    with pytest.raises(ValueError, match=message):
        P.log_prob(m, rgb)


BAD_LABELS = {"all-zero rows": lambda c: 0 * c, "scaled": lambda c: 2 * c,
              "negative": lambda c: c - 0.5, "soft": lambda c: 0.9 * c + 0.01}


def test_conditional_model_rejects_labels_that_are_not_one_hot():
    m = P.build_pixelcnn("binary", num_classes=10, **SMALL)
    m.compile("adam")
    x = (np.random.default_rng(10).random((8, 28, 28)) < 0.3).astype("float32")
    one_hot = np.eye(10, dtype="float32")[np.arange(8) % 10]
    message = r"one-hot rows \(every entry 0 or 1, one 1 per row\), got row \d"
    for bad in BAD_LABELS.values():
        labels = bad(one_hot)
        with pytest.raises(ValueError, match=message):
            m.fit((x, labels), epochs=1, verbose=0)
        with pytest.raises(ValueError, match=message):
            m.fit(_pipeline(x, labels), epochs=1, verbose=0)
        with pytest.raises(ValueError, match=message):
            P.log_prob(m, x, labels)
        with pytest.raises(ValueError, match=message):
            P.sample(m, 2, labels=labels[:2], progress=False)
    m.fit(_pipeline(x, one_hot), epochs=1, verbose=0)        # one-hot rows pass


def test_png_bits_and_the_complexity_score():
    from course_lib.pixelcnn import complexity_score, png_bits

    rng = np.random.default_rng(0)
    blank, noise = np.zeros((2, 28, 28), np.uint8), rng.integers(0, 256, (2, 28, 28), dtype=np.uint8)
    bits_blank, bits_noise = png_bits(blank), png_bits(noise)
    assert (bits_blank < 1000).all() and (bits_noise > 0.95 * 8 * 784).all()   # noise is incompressible
    log_p = np.array([-100.0, -200.0])                                         # nats
    np.testing.assert_allclose(complexity_score(log_p, noise), -log_p / np.log(2) - bits_noise)
    with pytest.raises(ValueError, match="one log p"):
        complexity_score(log_p[:1], noise)
    with pytest.raises(ValueError, match="uint8"):
        png_bits(noise.astype("float32"))


# ---------------------------------------------------------------------------------------
# Bad arguments get a clear error (the adversarial review)
# ---------------------------------------------------------------------------------------

@pytest.mark.parametrize("batch_size", [-3, 0])
def test_likelihood_rejects_a_bad_batch_size(batch_size):
    """A negative batch_size used to return np.empty's uninitialised memory; 0 raised "range() arg 3"."""
    m = P.build_pixelcnn("binary", **TINY)
    x = np.random.default_rng(0).integers(0, 2, (3, 6, 8)).astype("float32")
    message = rf"^batch_size must be a positive integer, got {batch_size}\.$"
    with pytest.raises(ValueError, match=message):
        P.log_prob(m, x, batch_size=batch_size)
    with pytest.raises(ValueError, match=message):
        P.pixel_log_probs(m, x, batch_size=batch_size)
    with pytest.raises(ValueError, match=message):
        m.predict(x, batch_size=batch_size, verbose=0)
    np.testing.assert_array_equal(P.log_prob(m, x, batch_size=np.int64(2)), P.log_prob(m, x, batch_size=2))


def test_bits_per_dim_ood_auroc_and_predict_reject_nonsense():
    with pytest.raises(ValueError, match=r"^dims must be a positive integer, got 0\.$"):
        P.bits_per_dim(np.array([-100.0]), dims=0)                     # used to return -inf/inf
    assert P.bits_per_dim(np.array([-48 * math.log(2)]), dims=np.int64(48))[0] == pytest.approx(1.0)
    with pytest.raises(ValueError, match=r"needs a score for every image: log_p_out holds 1 NaN of 2"):
        P.ood_auroc([0.0, 1.0], [np.nan, 2.0])                          # used to return NaN
    assert P.ood_auroc([0.0, 1.0], [-np.inf, 2.0]) == 0.5               # -inf is a score: it ranks lowest
    m = P.build_pixelcnn("categorical", **TINY)
    with pytest.raises(ValueError, match=r"integer levels 0\.\.255 \(these look like \[0, 1\] intensities"):
        m.predict(np.full((2, 6, 8), 0.5, "float32"), verbose=0)
    model = P.PixelCNN("binary", filters=np.int64(4), hidden_layers=np.int64(1), head_units=np.int64(4),
                       num_classes=np.int64(3), image_shape=(6, 8))
    assert model.filters == 4 and type(model.filters) is int
