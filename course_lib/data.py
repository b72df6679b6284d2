"""MNIST from the shipped file, and the preprocessing the lectures use.

Introduced in 01_likelihood; used by every lecture. ``load_mnist`` never downloads when
``data/mnist.npz`` is present: it checks the file's sha256 (once per process) and returns
the Keras layout ``(x_train, y_train), (x_test, y_test)``. Only the default file may fall
back to a download, and says so; a path you pass must exist (``MissingDataError``).
"""

import hashlib
import warnings
from pathlib import Path

import numpy as np

from course_lib.checks import check_number, positive_int

MNIST_SHA256 = "06af5dfe73b70e3bc1c36439982b18a8d76803db9b544f6fdf838a37fbb01b64"
DEFAULT_MNIST_PATH = Path(__file__).resolve().parent.parent / "data" / "mnist.npz"
_KEYS = ("x_train", "y_train", "x_test", "y_test")
_verified = set()  # (path, size, mtime) of files whose checksum already matched


class CorruptDataError(ValueError):
    """The data file exists but is not the file the course ships."""


class MissingDataError(FileNotFoundError, ValueError):
    """A data file passed by path does not exist (a FileNotFoundError, and a ValueError like
    the other bad inputs of the course)."""


def _sha256(path, chunk=1 << 20):
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(chunk), b""):
            digest.update(block)
    return digest.hexdigest()


def _fix_hint(path):
    return (
        f"Fix: restore it with `git checkout -- data/mnist.npz` (or delete {path} to fall "
        "back to keras.datasets.mnist.load_data(), which downloads)."
    )


def load_mnist(path=None, expected_sha256=MNIST_SHA256):
    """Return ``(x_train, y_train), (x_test, y_test)`` as uint8 arrays, shapes
    (60000, 28, 28), (60000,), (10000, 28, 28), (10000,).

    - ``path`` defaults to the repository's ``data/mnist.npz``.
    - The sha256 is checked the first time a given file is loaded in this process.
    - If the default file is absent, falls back to ``keras.datasets.mnist.load_data()``
      (which downloads unless ~/.keras/datasets holds MNIST) and warns that it does.
    - Any other ``path`` that does not exist raises ``MissingDataError`` naming the file: a
      mistyped path never starts a download.
    - If the file is corrupt or truncated, raises ``CorruptDataError`` (a ValueError) naming
      the file and the fix.
    """
    if path is not None and not isinstance(path, (str, bytes)) and not hasattr(path, "__fspath__"):
        raise TypeError(f"path must be a file path (str or pathlib.Path), got {type(path).__name__}.")
    path = Path(path) if path is not None else DEFAULT_MNIST_PATH
    if path.is_dir():
        raise MissingDataError(f"{path} is a directory: pass the MNIST file itself, e.g. {path / 'mnist.npz'}.")
    if not path.exists() and path.resolve() != DEFAULT_MNIST_PATH.resolve():
        raise MissingDataError(f"{path} not found: no MNIST file there (nothing was downloaded). Check the "
                               f"path, or call load_mnist() for the course's copy, {DEFAULT_MNIST_PATH}.")
    if not path.exists():
        warnings.warn(
            f"{path} not found: falling back to keras.datasets.mnist.load_data(), which "
            "downloads MNIST unless ~/.keras/datasets holds it. Restore the shipped copy "
            "with `git checkout -- data/mnist.npz` to stay offline.",
            stacklevel=2,
        )
        import keras

        return keras.datasets.mnist.load_data()

    stat = path.stat()
    key = (str(path.resolve()), stat.st_size, stat.st_mtime_ns)
    if key not in _verified:
        got = _sha256(path)
        if expected_sha256 is not None and got != expected_sha256:
            raise CorruptDataError(
                f"{path} is corrupt or truncated: its sha256 is {got}, expected "
                f"{expected_sha256} ({stat.st_size} bytes on disk). {_fix_hint(path)}"
            )
        _verified.add(key)
    try:
        with np.load(path) as f:
            arrays = {k: f[k] for k in _KEYS}
    except Exception as exc:  # zip/pickle errors when the checksum was not enforced
        raise CorruptDataError(f"{path} could not be read ({exc}). {_fix_hint(path)}") from exc
    return (arrays["x_train"], arrays["y_train"]), (arrays["x_test"], arrays["y_test"])


def scale(x):
    """Map uint8 pixels 0..255 to float32 in [0, 1]."""
    x = np.asarray(x)
    if not np.issubdtype(x.dtype, np.integer):
        raise ValueError(f"scale() expects integer pixels 0..255, got dtype {x.dtype}.")
    if x.size and (x.min() < 0 or x.max() > 255):
        raise ValueError(f"scale() expects pixels in 0..255, got range {x.min()}..{x.max()}.")
    return x.astype("float32") / 255.0


def _check_unit_interval(x, name):
    x = np.asarray(x, dtype="float32")
    if x.size and (np.nanmin(x) < 0.0 or np.nanmax(x) > 1.0 or np.isnan(x).any()):
        raise ValueError(f"{name}() expects values in [0, 1] (use scale() first), "
                         f"got range {np.nanmin(x):.3g}..{np.nanmax(x):.3g}.")
    return x


def flatten(x):
    """(n, 28, 28[, 1]) images -> (n, 784) vectors, the dense models' layout."""
    x = np.asarray(x)
    if x.ndim < 2:
        raise ValueError(f"flatten() expects a batch of images, got shape {x.shape}.")
    return x.reshape(len(x), -1)


def downsample(x, factor=2):
    """Images (n, H, W) -> (n, H/factor, W/factor), each block of factor x factor pixels
    averaged (float32): 28x28 MNIST becomes 14x14 with ``factor=2`` (a positive integer)."""
    factor = positive_int(factor, "factor")
    x = np.asarray(x, dtype="float32")
    if x.ndim != 3 or x.shape[1] % factor or x.shape[2] % factor:
        raise ValueError(f"expected images (n, H, W) with H and W divisible by {factor}, got shape {x.shape}.")
    n, h, w = x.shape
    return x.reshape(n, h // factor, factor, w // factor, factor).mean(axis=(2, 4))


def binarize_static(x, threshold=0.5):
    """Fixed binarization: 1 where the [0, 1] intensity exceeds ``threshold``."""
    check_number(threshold, "threshold")
    x = _check_unit_interval(x, "binarize_static")
    return (x > threshold).astype("float32")


def binarize_dynamic(x, seed=None):
    """Dynamic binarization: each pixel ~ Bernoulli(intensity), drawn anew on every call.

    This is the binarized MNIST used for likelihood numbers in the literature (a new
    draw per epoch acts as data augmentation).
    """
    x = _check_unit_interval(x, "binarize_dynamic")
    rng = np.random.default_rng(seed)
    return (rng.random(x.shape, dtype="float32") < x).astype("float32")


def one_hot(y, num_classes=10):
    """Integer labels (n,) -> float32 one-hot rows (n, num_classes)."""
    positive_int(num_classes, "num_classes")
    y = np.asarray(y)
    if y.ndim != 1:
        raise ValueError(f"one_hot() expects a 1-D array of labels, got shape {y.shape}.")
    if not np.issubdtype(y.dtype, np.integer):
        raise ValueError(f"one_hot() expects integer labels, got dtype {y.dtype}.")
    if y.size and (y.min() < 0 or y.max() >= num_classes):
        raise ValueError(f"one_hot() expects labels in 0..{num_classes - 1}, "
                         f"got range {y.min()}..{y.max()}.")
    return np.eye(num_classes, dtype="float32")[y]


def add_noise(x, noise_factor=0.5, seed=None, clip=True):
    """Corrupt [0, 1] images with additive Gaussian noise of std ``noise_factor``
    (clipped back to [0, 1] by default): the input of a denoising autoencoder."""
    check_number(noise_factor, "noise_factor", at_least=0)
    x = _check_unit_interval(x, "add_noise")
    rng = np.random.default_rng(seed)
    noisy = x + noise_factor * rng.standard_normal(x.shape, dtype="float32")
    return np.clip(noisy, 0.0, 1.0) if clip else noisy


def binarized_batches(x, batch_size=100, labels=None, seed=0):
    """A ``tf.data`` pipeline of shuffled batches, binarized anew every epoch
    (dynamic binarization, as ``binarize_dynamic`` but inside the input pipeline).

    ``x``: [0, 1] images, flat (n, 784). With ``labels`` (one-hot, (n, k)) each element is
    ``((images, labels),)``: both are inputs of a conditional model (05_cvae), and there is
    no target. Introduced in 04a_vae.
    """
    import tensorflow as tf

    x = _check_unit_interval(x, "binarized_batches")
    if labels is not None and len(labels) != len(x):
        raise ValueError(f"got {len(x)} images but {len(labels)} labels.")
    batch_size = positive_int(batch_size, "batch_size")
    data = x if labels is None else (x, np.asarray(labels, dtype="float32"))
    ds = tf.data.Dataset.from_tensor_slices(data).shuffle(len(x), seed=seed).batch(batch_size)
    # A stateful generator: its state advances across epochs. (A plain tf.random.uniform
    # here would replay the same draws every epoch once a global seed is set.)
    generator = tf.random.Generator.from_seed(seed)

    def binarize(images, *rest):
        sample = tf.cast(generator.uniform(tf.shape(images)) < images, tf.float32)
        # ((images, labels),): Keras reads a 1-tuple as inputs only, no targets
        return ((sample, *rest),) if rest else sample

    return ds.map(binarize, num_parallel_calls=tf.data.AUTOTUNE).prefetch(tf.data.AUTOTUNE)


def ood_sets(x_uint8, seed=0):
    """Out-of-distribution test sets built from nothing that needs downloading, as uint8
    (n, 28, 28) pixel levels like MNIST (06d_likelihood_ood):

    - ``noise``: uniform random levels 0..255
    - ``inverted``: 255 - x (white background, black strokes)
    - ``rotated 90``: the digits turned a quarter turn
    - ``sklearn 8x8 digits``: scikit-learn's bundled 8x8 digits (levels 0..16), upscaled to
      20 x 20 and centred in 28 x 28 as MNIST digits are (at most ``len(x)`` of them)
    """
    from scipy.ndimage import zoom
    from sklearn.datasets import load_digits

    x = np.asarray(x_uint8)
    if x.ndim != 3 or x.shape[1:] != (28, 28) or x.dtype != np.uint8:
        raise ValueError(f"ood_sets() expects uint8 images of shape (n, 28, 28), got {x.dtype} {x.shape}.")
    rng = np.random.default_rng(seed)
    small = load_digits().images[rng.permutation(1797)[: len(x)]] / 16.0            # (m, 8, 8) in [0, 1]
    big = np.clip(zoom(small, (1, 2.5, 2.5), order=1), 0, 1)                        # (m, 20, 20)
    digits = np.zeros((len(big), 28, 28))
    digits[:, 4:24, 4:24] = big
    return {"noise": rng.integers(0, 256, x.shape, dtype=np.uint8),
            "inverted": (255 - x).astype(np.uint8),
            "rotated 90": np.rot90(x, k=1, axes=(1, 2)).copy(),
            "sklearn 8x8 digits": np.round(digits * 255).astype(np.uint8)}


def simpler_sets(x_uint8, seed=0):
    """Out-of-distribution sets *simpler* than MNIST digits, uint8 (n, 28, 28) like ``ood_sets``
    (06d, after Nalisnick et al. 2019): images with more background and plainer strokes.

    - ``half-size digits``: the digits shrunk to 14 x 14 and centred (the same strokes, a
      quarter of the area, three quarters black background)
    - ``straight strokes``: one straight line per image, 2 pixels wide, between random points
      of the central 20 x 20 square
    """
    from scipy.ndimage import zoom

    x = np.asarray(x_uint8)
    if x.ndim != 3 or x.shape[1:] != (28, 28) or x.dtype != np.uint8:
        raise ValueError(f"simpler_sets() expects uint8 images of shape (n, 28, 28), got {x.dtype} {x.shape}.")
    small = np.clip(zoom(x / 255.0, (1, 0.5, 0.5), order=1), 0, 1)                 # (n, 14, 14)
    half = np.zeros(x.shape)
    half[:, 7:21, 7:21] = small
    rng = np.random.default_rng(seed)
    rows, cols = np.mgrid[0:28, 0:28]
    strokes = np.zeros(x.shape)
    for i in range(len(x)):
        (r0, c0), (r1, c1) = rng.uniform(4, 24, (2, 2))
        d = np.array([r1 - r0, c1 - c0]) / max(np.hypot(r1 - r0, c1 - c0), 1e-6)
        along = np.clip((rows - r0) * d[0] + (cols - c0) * d[1], 0, np.hypot(r1 - r0, c1 - c0))
        dist = np.hypot(rows - (r0 + along * d[0]), cols - (c0 + along * d[1]))      # to the segment
        strokes[i] = np.clip(1.5 - dist, 0, 1)                                         # 2 px wide, soft edge
    return {"half-size digits": np.round(half * 255).astype(np.uint8),
            "straight strokes": np.round(strokes * 255).astype(np.uint8)}


def slant(images):
    """How far each digit leans: sideways shift in pixels per pixel of height (0 upright,
    > 0 when the top leans right, as in handwriting slanted forward).

    It is the ink-weighted shear cov(column, height) / var(height), the quantity that
    deskewing MNIST removes. ``images``: (n, 784) or (n, 28, 28) in [0, 1], each with some ink.
    Introduced in 05_cvae (what a 2-D style code carries from one digit to another).
    """
    x = _check_unit_interval(images, "slant")
    if x.ndim == 2:
        side = int(round(np.sqrt(x.shape[1])))
        if side * side != x.shape[1]:
            raise ValueError(f"slant() expects square images, got {x.shape[1]} pixels per row.")
        x = x.reshape(len(x), side, side)
    if x.ndim != 3:
        raise ValueError(f"slant() expects (n, 784) or (n, 28, 28) images, got shape {x.shape}.")
    x = x.astype("float64")
    ink = x.sum(axis=(1, 2))
    if (ink <= 0).any():
        raise ValueError("slant() needs some ink in every image; got a blank image.")
    w = x / ink[:, None, None]
    height = -np.arange(x.shape[1], dtype="float64")[None, :, None]      # rows counted upwards
    column = np.arange(x.shape[2], dtype="float64")[None, None, :]
    h_mean = (w * height).sum(axis=(1, 2), keepdims=True)
    c_mean = (w * column).sum(axis=(1, 2), keepdims=True)
    cov = (w * (height - h_mean) * (column - c_mean)).sum(axis=(1, 2))
    var = (w * (height - h_mean) ** 2).sum(axis=(1, 2))
    return cov / var


def two_moons(n, noise=0.05, seed=0):
    """``n`` 2-D points on two interleaved half circles (the "two moons"), with Gaussian
    ``noise`` (a standard deviation, finite and >= 0), standardised to mean 0 and variance 1
    per coordinate; float32 (09_flows). Built here from its formula: nothing is downloaded."""
    if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or n < 2:
        raise ValueError(f"n must be an integer >= 2, got {n!r}.")
    check_number(noise, "noise", at_least=0)
    rng = np.random.default_rng(seed)
    angle = rng.uniform(0, np.pi, n)
    upper = rng.random(n) < 0.5
    points = np.stack([np.where(upper, np.cos(angle), 1 - np.cos(angle)),
                       np.where(upper, np.sin(angle), 0.5 - np.sin(angle))], axis=1)
    points = points + noise * rng.standard_normal((n, 2))
    return ((points - points.mean(0)) / points.std(0)).astype("float32")
