"""course_lib.pixelrnn: no prediction depends on the pixel itself or a later one, the exact
likelihood, the sampler walks the same conditionals, bad input."""

import keras
import numpy as np
import pytest

from course_lib import pixelrnn as R


def _model(shape=(5, 5), units=8):
    keras.utils.set_random_seed(0)
    model = R.PixelRNN(shape, units=units)
    model(np.zeros((1, shape[0] * shape[1]), "float32"))
    return model


def test_prediction_for_pixel_i_does_not_depend_on_pixels_at_or_after_i():
    model = _model()
    rng = np.random.default_rng(0)
    x = rng.integers(0, 2, (1, 25)).astype("float32")
    base = np.asarray(model(x))[0]
    for j in range(25):                                     # flip pixel j: only logits i > j may move
        flipped = x.copy()
        flipped[0, j] = 1 - flipped[0, j]
        moved = np.abs(np.asarray(model(flipped))[0] - base) > 1e-7
        assert not moved[:j + 1].any(), f"the logit of a pixel <= {j} moved when pixel {j} changed"
        if j < 24:
            assert moved[j + 1]                             # and the next one does see it


def test_log_prob_is_the_sum_of_the_bernoulli_conditionals_and_normalises():
    model = _model((2, 2), units=4)
    every = np.array([[(k >> (3 - i)) & 1 for i in range(4)] for k in range(16)], "float32")   # all 16 images
    log_p = R.log_prob(model, every.reshape(16, 2, 2))
    assert np.exp(log_p).sum() == pytest.approx(1.0, abs=1e-5)
    logits = np.asarray(model(every))
    manual = np.sum(every * -np.log1p(np.exp(-logits)) + (1 - every) * -np.log1p(np.exp(logits)), axis=1)
    np.testing.assert_allclose(log_p, manual, rtol=1e-5)


def test_samples_follow_the_model_conditionals():
    model = _model((2, 2), units=4)
    images = R.sample(model, 4000, seed=1).reshape(4000, 4)
    assert set(np.unique(images)) <= {0.0, 1.0}
    codes = (images * [8, 4, 2, 1]).sum(1).astype(int)
    every = np.array([[(k >> (3 - i)) & 1 for i in range(4)] for k in range(16)], "float32")
    expected = np.exp(R.log_prob(model, every))
    observed = np.bincount(codes, minlength=16) / 4000
    assert np.abs(observed - expected).max() < 0.03          # 4,000 draws: sd at most 0.008


def test_fit_lowers_the_nll_and_rejects_bad_pixels():
    model = _model((4, 4), units=8)
    model.compile(optimizer=keras.optimizers.Adam(1e-2))
    x = np.tile(np.eye(4, dtype="float32").reshape(1, 16), (64, 1))
    loss = model.fit(x, batch_size=32, epochs=8, verbose=0).history["loss"]
    assert loss[-1] < loss[0] - 1
    with pytest.raises(ValueError, match="0 or 1"):
        model.fit(x * 255, batch_size=32, epochs=1, verbose=0)
    with pytest.raises(ValueError, match=r"\(n, 4, 4\)"):
        model.fit(np.zeros((8, 28, 28), "float32"), epochs=1, verbose=0)
    with pytest.raises(ValueError, match="units"):
        R.PixelRNN((4, 4), units=0)


def test_log_prob_rejects_a_bad_batch_size_and_takes_numpy_integers():
    model = _model((2, 2), units=4)
    x = np.array([[0, 1, 1, 0], [1, 1, 1, 1], [0, 0, 0, 0]], "float32")
    for bad in (0, -3):
        with pytest.raises(ValueError, match=rf"^batch_size must be a positive integer, got {bad}\.$"):
            R.log_prob(model, x, batch_size=bad)                           # 0 was "range() arg 3 ..."
    np.testing.assert_array_equal(R.log_prob(model, x, batch_size=np.int64(2)), R.log_prob(model, x))
    assert R.log_prob(model, x[:0]).shape == (0,)
    assert R.PixelRNN((2, 2), units=np.int64(4)).units == 4
    with pytest.raises(ValueError, match=r"expected binary images of shape \(n, 2, 2\) or \(n, 4\)"):
        model.predict(np.zeros((2, 9), "float32"), verbose=0)
