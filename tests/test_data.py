import re
import shutil
import warnings

import numpy as np
import pytest

from course_lib import data
from course_lib.data import (CorruptDataError, add_noise, binarize_dynamic, binarize_static,
                             flatten, load_mnist, one_hot, scale)

TRAIN_COUNTS = [5923, 6742, 5958, 6131, 5842, 5421, 5918, 6265, 5851, 5949]
TEST_COUNTS = [980, 1135, 1032, 1010, 982, 892, 958, 1028, 974, 1009]


@pytest.fixture(scope="module")
def mnist():
    return load_mnist()


def test_shipped_file_matches_checksum():
    assert data._sha256(data.DEFAULT_MNIST_PATH) == data.MNIST_SHA256


def test_keras_layout(mnist):
    (x_train, y_train), (x_test, y_test) = mnist
    assert x_train.shape == (60000, 28, 28) and x_test.shape == (10000, 28, 28)
    assert y_train.shape == (60000,) and y_test.shape == (10000,)
    assert x_train.dtype == np.uint8 and y_train.dtype == np.uint8
    assert x_train.max() == 255 and x_train.min() == 0


def test_published_mnist_facts(mnist):
    (_, y_train), (_, y_test) = mnist
    assert np.bincount(y_train).tolist() == TRAIN_COUNTS
    assert np.bincount(y_test).tolist() == TEST_COUNTS
    assert y_train[:10].tolist() == [5, 0, 4, 1, 9, 2, 1, 3, 1, 4]
    assert y_test[:10].tolist() == [7, 2, 1, 0, 4, 1, 4, 9, 5, 9]


def test_truncated_file_is_a_clear_error(tmp_path):
    bad = tmp_path / "mnist.npz"
    bad.write_bytes(data.DEFAULT_MNIST_PATH.read_bytes()[:1000])
    with pytest.raises(CorruptDataError) as err:
        load_mnist(bad)
    message = str(err.value)
    assert str(bad) in message and "git checkout -- data/mnist.npz" in message
    assert isinstance(err.value, ValueError)


def test_corrupt_file_without_checksum_still_a_clear_error(tmp_path):
    bad = tmp_path / "mnist.npz"
    bad.write_bytes(b"not a zip file at all")
    with pytest.raises(CorruptDataError, match="could not be read"):
        load_mnist(bad, expected_sha256=None)


def test_checksum_checked_once_per_file(tmp_path, monkeypatch):
    copy = tmp_path / "mnist.npz"
    shutil.copy(data.DEFAULT_MNIST_PATH, copy)
    calls = []
    real = data._sha256
    monkeypatch.setattr(data, "_sha256", lambda p: calls.append(p) or real(p))
    load_mnist(copy)
    load_mnist(copy)
    assert len(calls) == 1


def test_missing_default_file_falls_back_to_keras_and_says_so(tmp_path, monkeypatch):
    import keras

    sentinel = ((np.zeros((1, 28, 28), np.uint8), np.zeros(1, np.uint8)),) * 2
    monkeypatch.setattr(keras.datasets.mnist, "load_data", lambda: sentinel)
    monkeypatch.setattr(data, "DEFAULT_MNIST_PATH", tmp_path / "absent.npz")      # the shipped file, gone
    with pytest.warns(UserWarning, match="falling back to keras.datasets.mnist.load_data.*which downloads"):
        assert load_mnist() is sentinel


def test_a_mistyped_path_is_an_error_naming_the_file_not_a_download(tmp_path, monkeypatch):
    import keras

    def no_download():
        raise AssertionError("load_mnist started a download")

    monkeypatch.setattr(keras.datasets.mnist, "load_data", no_download)
    typo = tmp_path / "mnsit.npz"
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        with pytest.raises(data.MissingDataError, match=rf"^{re.escape(str(typo))} not found: no MNIST file there "
                                                        r"\(nothing was downloaded\)"):
            load_mnist(typo)
        with pytest.raises(FileNotFoundError):                   # a MissingDataError is both
            load_mnist(str(typo))
        with pytest.raises(ValueError, match="is a directory: pass the MNIST file itself"):
            load_mnist(tmp_path)
    with pytest.raises(TypeError, match="path must be a file path"):
        load_mnist(60000)


def test_scale():
    x = np.array([[0, 51, 255]], dtype=np.uint8)
    np.testing.assert_allclose(scale(x), [[0.0, 0.2, 1.0]])
    assert scale(x).dtype == np.float32
    with pytest.raises(ValueError, match="integer"):
        scale(x.astype("float32"))
    with pytest.raises(ValueError, match="0..255"):
        scale(np.array([300]))


def test_flatten():
    assert flatten(np.zeros((3, 28, 28, 1))).shape == (3, 784)
    with pytest.raises(ValueError, match="batch"):
        flatten(np.zeros(5))


def test_downsample_averages_blocks():
    from course_lib.data import downsample

    x = np.arange(2 * 4 * 4, dtype="float32").reshape(2, 4, 4)
    small = downsample(x)
    assert small.shape == (2, 2, 2) and small[0, 0, 0] == np.mean([0, 1, 4, 5]) and small[1, 1, 1] == np.mean([26, 27, 30, 31])
    with pytest.raises(ValueError, match="divisible by 2"):
        downsample(np.zeros((1, 5, 4)))


def test_static_binarization():
    x = np.array([0.0, 0.5, 0.51, 1.0], dtype="float32")
    np.testing.assert_array_equal(binarize_static(x), [0, 0, 1, 1])
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        binarize_static(np.array([0, 255]))


def test_dynamic_binarization_is_bernoulli_of_intensity():
    x = np.full((200_000,), 0.3, dtype="float32")
    b = binarize_dynamic(x, seed=0)
    assert set(np.unique(b)) <= {0.0, 1.0}
    assert abs(b.mean() - 0.3) < 3 * np.sqrt(0.3 * 0.7 / x.size)  # within 3 standard errors
    np.testing.assert_array_equal(b, binarize_dynamic(x, seed=0))
    assert not np.array_equal(b, binarize_dynamic(x, seed=1))
    np.testing.assert_array_equal(binarize_dynamic(np.array([0.0, 1.0]), seed=3), [0.0, 1.0])


def test_one_hot():
    np.testing.assert_array_equal(one_hot(np.array([2, 0]), 3), [[0, 0, 1], [1, 0, 0]])
    with pytest.raises(ValueError, match="0..9"):
        one_hot(np.array([10]))
    with pytest.raises(ValueError, match="1-D"):
        one_hot(np.zeros((2, 2), int))
    with pytest.raises(ValueError, match="integer"):
        one_hot(np.array([0.5]))


def test_add_noise_statistics_and_clipping():
    x = np.full((100_000,), 0.5, dtype="float32")
    raw = add_noise(x, 0.1, seed=0, clip=False)
    assert abs(raw.mean() - 0.5) < 0.002 and abs(raw.std() - 0.1) < 0.002
    clipped = add_noise(x, 2.0, seed=0)
    assert clipped.min() == 0.0 and clipped.max() == 1.0
    np.testing.assert_array_equal(add_noise(x, 0.0, seed=0), x)
    with pytest.raises(ValueError, match="noise_factor"):
        add_noise(x, -1)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        add_noise(x[:10], 0.5, seed=1)


def test_binarized_batches_redraw_every_epoch():
    from course_lib.data import binarized_batches

    x = np.full((40, 784), 0.5, dtype="float32")
    ds = binarized_batches(x, batch_size=16)
    first, second = (np.concatenate([b.numpy() for b in ds]) for _ in range(2))
    assert first.shape == (40, 784) and set(np.unique(first)) <= {0.0, 1.0}
    assert abs(first.mean() - 0.5) < 0.02 and not np.array_equal(first, second)
    labels = np.eye(10, dtype="float32")[np.arange(40) % 10]
    ((images, onehot),) = next(iter(binarized_batches(x, 8, labels=labels)))
    assert images.shape == (8, 784) and onehot.shape == (8, 10)
    with pytest.raises(ValueError, match="40 images but 3 labels"):
        binarized_batches(x, 8, labels=labels[:3])
    with pytest.raises(ValueError, match="batch_size"):
        binarized_batches(x, 0)


def test_ood_sets_are_mnist_shaped_uint8_and_transformed_as_named():
    from course_lib.data import ood_sets

    x = np.random.default_rng(0).integers(0, 256, (5, 28, 28), dtype=np.uint8)
    sets = ood_sets(x)
    assert set(sets) == {"noise", "inverted", "rotated 90", "sklearn 8x8 digits"}
    for v in sets.values():
        assert v.dtype == np.uint8 and v.shape == (5, 28, 28)
    np.testing.assert_array_equal(sets["inverted"], 255 - x)
    np.testing.assert_array_equal(sets["rotated 90"][0], np.rot90(x[0]))
    assert sets["sklearn 8x8 digits"][:, :4].max() == 0 and sets["sklearn 8x8 digits"].max() > 200
    with pytest.raises(ValueError):
        ood_sets(x.astype("float32"))


def test_slant_of_straight_strokes():
    from course_lib.data import slant

    img = np.zeros((3, 28, 28), "float32")
    rows = np.arange(0, 25, 4)
    img[0, rows, 6 + (24 - rows) // 4] = 1.0      # top to the right: +1 column per 4 rows up
    img[1, rows, 6 + rows // 4] = 0.5             # mirror image, fainter ink
    img[2, :, 14] = 1.0                           # upright
    np.testing.assert_allclose(slant(img), [0.25, -0.25, 0.0], atol=1e-12)
    np.testing.assert_allclose(slant(img.reshape(3, 784)), [0.25, -0.25, 0.0], atol=1e-12)
    with pytest.raises(ValueError, match="blank"):
        slant(np.zeros((1, 784)))
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        slant(img * 255)


def test_simpler_sets_have_more_background_and_keep_the_format():
    from course_lib.data import simpler_sets

    x = np.zeros((6, 28, 28), np.uint8)
    x[:, 4:24, 12:16] = 255                                    # a tall bar, like a 1
    sets = simpler_sets(x, seed=0)
    assert set(sets) == {"half-size digits", "straight strokes"}
    for images in sets.values():
        assert images.shape == x.shape and images.dtype == np.uint8 and (images > 0).any(axis=(1, 2)).all()
    half = sets["half-size digits"]
    assert (half[:, :7] == 0).all() and (half[:, 21:] == 0).all()          # the shrunk digit sits in the centre
    assert 0.15 < (half > 127).sum() / (x > 127).sum() < 0.4                # about a quarter of the ink
    assert ((sets["straight strokes"] > 127).sum(axis=(1, 2)) < 120).all()  # one thin line, not a blob
    with pytest.raises(ValueError, match="uint8"):
        simpler_sets(x.astype("float32"))


# ---------------------------------------------------------------------------------------
# Bad arguments get a clear error (the adversarial review)
# ---------------------------------------------------------------------------------------

def test_add_noise_and_two_moons_reject_a_nan_noise_level():
    """noise_factor=nan and noise=nan used to return all-NaN data."""
    x = np.full((4,), 0.5, dtype="float32")
    for bad in (float("nan"), np.float32("nan"), float("inf"), -0.1, True):
        with pytest.raises(ValueError, match=r"^noise_factor must be a finite number >= 0, got .+\.$"):
            add_noise(x, bad)
        with pytest.raises(ValueError, match=r"^noise must be a finite number >= 0, got .+\.$"):
            data.two_moons(10, noise=bad)
    np.testing.assert_array_equal(add_noise(x, np.float32(0.1), seed=0), add_noise(x, 0.1, seed=0))
    np.testing.assert_array_equal(data.two_moons(np.int64(10), noise=np.float32(0.05)), data.two_moons(10))


def test_downsample_and_batches_take_numpy_integers_and_reject_nonsense():
    from course_lib.data import binarized_batches, downsample

    with pytest.raises(ValueError, match=r"^factor must be a positive integer, got 0\.$"):
        downsample(np.zeros((1, 4, 4)), factor=0)                      # was "integer modulo by zero"
    with pytest.raises(ValueError, match=r"^factor must be a positive integer, got 1\.5\.$"):
        downsample(np.zeros((1, 4, 4)), factor=1.5)
    np.testing.assert_array_equal(downsample(np.ones((1, 4, 4)), factor=np.int64(4)), [[[1.0]]])
    x = np.full((4, 784), 0.5, dtype="float32")
    assert next(iter(binarized_batches(x, np.int64(2)))).shape == (2, 784)   # was "not a positive integer"
    with pytest.raises(ValueError, match=r"^batch_size must be a positive integer, got True\.$"):
        binarized_batches(x, True)
    with pytest.raises(ValueError, match=r"^threshold must be a finite number, got nan\.$"):
        binarize_static(x, threshold=float("nan"))
    with pytest.raises(ValueError, match=r"^num_classes must be a positive integer, got 0\.$"):
        one_hot(np.array([0]), num_classes=0)
