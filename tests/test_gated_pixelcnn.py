"""course_lib.pixelcnn's gated PixelCNN: causal, no blind spot (the plain one has one), its
cached sampler equal to the whole-model samplers, half-image completion, saving, bad input."""

import math

import keras
import numpy as np
import pytest

from course_lib import pixelcnn as P

GATED_TINY = dict(filters=8, gated_layers=3, first_kernel=5, kernel=3, head_units=8, image_shape=(6, 8))


def _randomize(model, seed=0, scale=1.0):
    """Larger random weights, so that every path carries a gradient and pixels depend on each other."""
    rng = np.random.default_rng(seed)
    for w in model.trainable_weights:
        w.assign(scale * rng.normal(size=w.shape).astype("float32"))
    return model


def _expected_gated_field(model, row, col):
    """The pixels the gated model's prediction for (row, col) should see: all of the
    ``receptive_field_rows`` rows above within its reach sideways (p per layer each side,
    first layer p_A), and the pixels left of col in its own row (p_A + 1 + (L - 1) p)."""
    h, w = model.image_shape
    p_a, p, layers = model.first_kernel // 2, model.kernel // 2, model.gated_layers
    up = P.receptive_field_rows(model)
    side = p_a + (layers - 1) * p
    left = p_a + 1 + (layers - 1) * p
    field = np.zeros((h, w), bool)
    field[max(0, row - up):row, max(0, col - side):col + side + 1] = True
    field[row, max(0, col - left):col] = True
    return field


@pytest.mark.parametrize("image_shape", [(28, 28), (6, 8)])
@pytest.mark.parametrize("kind", ["binary", "categorical"])
def test_gated_pixelcnn_is_autoregressive(kind, image_shape):
    m = _randomize(P.build_gated_pixelcnn(kind, **dict(GATED_TINY, image_shape=image_shape)))
    rng = np.random.default_rng(2)
    n_pix = math.prod(image_shape)
    x = (rng.random((2,) + image_shape) < 0.5).astype("float32") if kind == "binary" \
        else rng.integers(0, 256, (2,) + image_shape).astype("float32")
    y0 = keras.ops.convert_to_numpy(m(x)).reshape(2, n_pix, -1)
    for j in sorted({0, 100 % n_pix, 405 % n_pix, n_pix - 1}):
        x2 = x.copy().reshape(2, n_pix)
        x2[:, j] = 1 - x2[:, j] if kind == "binary" else (x2[:, j] + 128) % 256
        y1 = keras.ops.convert_to_numpy(m(x2.reshape((2,) + image_shape))).reshape(2, n_pix, -1)
        moved = (np.abs(y1 - y0) > 1e-5).any(axis=(0, 2))
        assert not moved[: j + 1].any(), f"an output at or before pixel {j} moved when it changed"
        assert j == n_pix - 1 or moved[j + 1:].any()


@pytest.mark.parametrize("row,col", [(20, 14), (20, 2), (10, 26), (27, 27), (1, 0)])
def test_gated_pixelcnn_sees_every_past_pixel_in_its_receptive_field_and_no_other(row, col):
    m = _randomize(P.build_gated_pixelcnn("binary", filters=8, gated_layers=4, first_kernel=5, kernel=3,
                                          head_units=8))
    seen = P.receptive_field(m, row, col) > 0
    np.testing.assert_array_equal(seen, _expected_gated_field(m, row, col))


def test_the_plain_pixelcnn_has_a_blind_spot_and_the_gated_one_does_not():
    """A masked 3x3 stack reaches at most one column right per row up: pixel (r-1, c+2) is a
    past pixel inside its reach upwards that it never sees. The gated model sees it."""
    plain = _randomize(P.build_pixelcnn("binary", filters=8, hidden_layers=4, first_kernel=3, hidden_kernel=3,
                                        head_units=8))
    gated = _randomize(P.build_gated_pixelcnn("binary", filters=8, gated_layers=4, first_kernel=3, kernel=3,
                                              head_units=8))
    r, c = 14, 10
    plain_seen, gated_seen = P.receptive_field(plain, r, c) > 0, P.receptive_field(gated, r, c) > 0
    rows_up = P.receptive_field_rows(plain)
    assert rows_up == P.receptive_field_rows(gated) == 5
    for d in range(1, rows_up + 1):          # d rows up: the plain model reaches c + d at most
        assert plain_seen[r - d, c - 1:c + d + 1].all()
        assert not plain_seen[r - d, c + d + 1:].any(), f"plain model saw beyond its wedge {d} rows up"
        assert gated_seen[r - d, max(0, c - 4):c + 5].all()
    blind = np.zeros_like(plain_seen)
    for d in range(1, rows_up + 1):
        blind[r - d, c + d + 1:c + 5] = True
    assert blind.sum() > 0 and not plain_seen[blind].any() and gated_seen[blind].all()
    for seen in (plain_seen, gated_seen):    # neither sees the present or the future
        assert not seen.reshape(-1)[r * 28 + c:].any()


# Two cases cover each branch once: the binary and the 256-way draw, with and without labels
# (each case runs the naive sampler, one model call per pixel: the slow part of the test).
@pytest.mark.parametrize("kind,cond", [("categorical", False), ("binary", True)])
def test_gated_fast_sampler_matches_the_whole_model_samplers_image_for_image(kind, cond):
    m = _randomize(P.build_gated_pixelcnn(kind, num_classes=10 if cond else None, **GATED_TINY), scale=0.3)
    labels = np.eye(10, dtype="float32")[[3, 7]] if cond else None
    naive = P.sample(m, 2, labels, method="naive", batch_size=2, seed=7, progress=False)
    fast = P.sample(m, 2, labels, method="fast", batch_size=2, seed=7, progress=False)
    compiled = P.sample(m, 2, labels, method="compiled", batch_size=2, seed=7, progress=False)
    np.testing.assert_array_equal(fast, naive)
    np.testing.assert_array_equal(compiled, naive)
    assert 0 < naive.mean() < (1 if kind == "binary" else 255)


@pytest.mark.parametrize("gated", [True, False])
def test_complete_keeps_the_given_rows_and_samples_the_rest_as_sample_would(gated):
    m = _randomize(P.build_gated_pixelcnn("binary", **GATED_TINY) if gated
                   else P.build_pixelcnn("binary", filters=8, hidden_layers=2, head_units=8, image_shape=(6, 8)))
    x = (np.random.default_rng(4).random((3, 6, 8)) < 0.5).astype("float32")
    done = P.complete(m, x, 3, seed=9)
    np.testing.assert_array_equal(done[:, :3], x[:, :3])
    # the same draws as the naive sampler started from those rows
    labels, u = P._sampler_inputs(m, 3, None, 9)
    start = x.copy()
    start[:, 3:] = 0
    naive = P._WholeModelSampler(m, "naive").sample_batch(None, u, start=start, first_row=3)
    np.testing.assert_array_equal(done, naive)
    # keeping no row is sampling from scratch
    np.testing.assert_array_equal(P.complete(m, x, 0, seed=9), P.sample(m, 3, seed=9, progress=False))
    for bad in (6, -1, 2.0, True):
        with pytest.raises(ValueError, match="rows"):
            P.complete(m, x, bad)


def test_conditional_gated_model_listens_to_the_label():
    m = _randomize(P.build_gated_pixelcnn("binary", num_classes=10, **GATED_TINY))
    x = np.zeros((2, 6, 8), "float32")
    out = keras.ops.convert_to_numpy(m((x, np.eye(10, dtype="float32")[[0, 1]])))
    assert np.abs(out[0] - out[1]).max() > 1e-3
    with pytest.raises(ValueError, match="one-hot"):
        P.log_prob(m, x, labels=np.full((2, 10), 0.1))
    with pytest.raises(ValueError, match="not conditional"):
        P.log_prob(P.build_gated_pixelcnn("binary", **GATED_TINY), x, labels=np.eye(10)[:2])


def test_gated_model_saves_loads_in_safe_mode_and_trains(tmp_path):
    m = P.build_gated_pixelcnn("categorical", num_classes=10, **GATED_TINY)
    path = tmp_path / "gated.keras"
    m.save(path)
    loaded = keras.saving.load_model(path, safe_mode=True)
    assert isinstance(loaded, P.GatedPixelCNN) and loaded.gated_layers == 3 and loaded.kernel == 3
    x = np.random.default_rng(1).integers(0, 256, (4, 6, 8)).astype("uint8")
    y = np.eye(10, dtype="float32")[[0, 1, 2, 3]]
    np.testing.assert_allclose(P.log_prob(loaded, x, y), P.log_prob(m, x, y), rtol=1e-6)
    m.compile(optimizer="adam")
    before = m.evaluate((x, y), verbose=0, return_dict=True)["loss"]
    np.testing.assert_allclose(before, -P.log_prob(m, x, y).mean(), rtol=1e-4)
    m.fit((x, y), epochs=3, batch_size=4, verbose=0)
    assert m.evaluate((x, y), verbose=0, return_dict=True)["loss"] < before
    rows = m.summary_rows()
    assert len(rows) == 3 + 2 and sum(r["params"] for r in rows) == m.count_params()


@pytest.mark.parametrize("kwargs,message", [
    (dict(kernel=4), "odd"), (dict(kernel=1), "at least 3"), (dict(first_kernel=2), "odd"),
    (dict(filters=0), "filters"), (dict(gated_layers=0), "gated_layers"), (dict(kind="gaussian"), "kind"),
    (dict(image_shape=(6,)), "image_shape")])
def test_bad_gated_arguments(kwargs, message):
    with pytest.raises(ValueError, match=message):
        P.GatedPixelCNN(**dict(dict(filters=4, gated_layers=2, head_units=4), **kwargs))


def test_gated_model_rejects_bad_pixels_through_fit():
    m = P.build_gated_pixelcnn("binary", **GATED_TINY)
    m.compile(optimizer="adam")
    with pytest.raises(ValueError, match="0 or 1"):
        m.fit(np.full((4, 6, 8), 0.5, "float32"), epochs=1, verbose=0)
    with pytest.raises(ValueError, match=r"\(n, 6, 8\)"):
        m.fit(np.zeros((4, 28, 28), "float32"), epochs=1, verbose=0)
