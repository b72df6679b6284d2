"""Evaluating generative models from their samples. Introduced in 08a_evaluation (and 08b_evaluation).

A GAN has no likelihood to report, so the slides' 24 GAN evaluation measures compare a set
of generated images with a set of real ones. This module holds the ones 08 computes:

- a feature extractor: ``build_classifier``, ``train_classifier``, ``classifier_outputs``,
  a small MNIST CNN standing in for ImageNet's Inception network (whose weights we cannot
  download): its 128-d "features" layer plays Inception's pool3, its softmax p(y|x);
- distances between feature distributions: ``frechet_distance`` / ``fid``, ``mmd2``, ``kid``;
- scores from a classifier: ``inception_score``, ``modified_inception_score``, ``mode_score``,
  ``am_score``, ``c2st`` (a classifier two-sample test) and ``classification_performance``
  (train on samples, test on real);
- coverage and mode collapse: ``precision_recall`` (k-NN manifolds), ``coverage`` (and
  density), ``ndb`` (bins), ``birthday_support`` (how many distinct images the generator
  can make), ``image_retrieval`` (each sample's nearest real image: memorisation);
- their uncertainty: ``bootstrap_scores``, 95% bootstrap intervals for FID, KID, precision,
  recall and coverage of several models against one real set, paired across the models;
- a likelihood by proxy: ``parzen_log_likelihood`` (and why not to trust it);
- image quality: ``psnr``, ``ssim``, ``reconstruction_error``, ``sharpness``,
  ``image_statistics``, ``statistics_distance``.

``SLIDE_METRICS`` lists all 24 measures of the slide with the function computing each, or
why none does; ``slide_metrics_table()`` prints it with ``plotting.print_table``.

Images are float arrays in [0, 1] of shape (n, 28, 28), (n, 28, 28, 1) or (n, 784);
features are 2-D float arrays (n, d). Everything returned is NumPy float64.
"""

import math
import warnings
from typing import NamedTuple

import keras
import numpy as np
from keras import layers
from scipy import linalg, ndimage, special, stats

IMAGE_SIDE = 28
NUM_PIXELS = IMAGE_SIDE * IMAGE_SIDE  # 784
NUM_CLASSES = 10
PROB_ATOL = 1e-5        # how far from 1 a row of probabilities may sum (float32 softmax rounds)
BLOCK_ROWS = 512        # rows per block of a distance matrix: memory O(BLOCK_ROWS * n)
INK_THRESHOLD = 0.5     # a pixel above this is "ink"
MID_RANGE = (0.1, 0.9)  # a pixel strictly inside this range is neither paper nor ink: blur
KERNELS = ("rbf", "polynomial")
STATISTICS = ("mean_intensity", "ink_fraction", "mid_fraction", "sharpness")
BOOTSTRAP_MEASURES = ("FID", "KID", "precision", "recall", "coverage")
LOWER_IS_BETTER = ("FID", "KID")  # the others: higher is better


# ---------------------------------------------------------------------------------------
# Input checks: images, features, probabilities, integers
# ---------------------------------------------------------------------------------------

def _as_images(x, name, dtype="float64"):
    """(n, 28, 28), (n, 28, 28, 1) or (n, 784) with values in [0, 1] -> (n, 28, 28)."""
    x = np.asarray(x, dtype=dtype)
    shape = x.shape
    if x.ndim == 2 and shape[1] == NUM_PIXELS:
        x = x.reshape(-1, IMAGE_SIDE, IMAGE_SIDE)
    elif x.ndim == 4 and shape[1:] == (IMAGE_SIDE, IMAGE_SIDE, 1):
        x = x[..., 0]
    elif not (x.ndim == 3 and shape[1:] == (IMAGE_SIDE, IMAGE_SIDE)):
        single = shape in ((IMAGE_SIDE, IMAGE_SIDE), (NUM_PIXELS,), (IMAGE_SIDE, IMAGE_SIDE, 1))
        hint = " (one image? add a batch axis: x[None])" if single else ""
        raise ValueError(f"{name} must be a batch of 28x28 images, shape (n, 28, 28), (n, 28, 28, 1) "
                         f"or (n, 784); got shape {shape}{hint}.")
    if len(x) == 0:
        raise ValueError(f"{name} is empty: need at least one image, got shape {shape}.")
    if not np.all(np.isfinite(x)):
        raise ValueError(f"{name} holds NaN or inf; images must have values in [0, 1].")
    if x.min() < 0.0 or x.max() > 1.0:
        raise ValueError(f"{name} must have values in [0, 1] (course_lib.data.scale maps uint8 "
                         f"pixels there), got range {x.min():.3g}..{x.max():.3g}.")
    return x


def _as_flat(x, name):
    """Images in any of the three layouts -> float64 (n, 784)."""
    x = _as_images(x, name)
    return x.reshape(len(x), NUM_PIXELS)


def _as_features(x, name, min_rows=2):
    """A 2-D float array (n, d), n >= min_rows, all finite -> float64."""
    x = np.asarray(x, dtype="float64")
    if x.ndim != 2 or x.shape[1] == 0:
        hint = " (1-D data? use x[:, None])" if x.ndim == 1 else ""
        raise ValueError(f"{name} must be a 2-D array of features, shape (n, d); got shape {x.shape}{hint}.")
    if len(x) < min_rows:
        raise ValueError(f"{name} needs at least {min_rows} rows (samples), got {len(x)}.")
    if not np.all(np.isfinite(x)):
        raise ValueError(f"{name} holds NaN or inf.")
    return x


def _as_samples(x, name, min_rows=2):
    """Images (3-D or 4-D: flattened to pixels) or features (2-D) -> float64 (n, d)."""
    ndim = np.ndim(x)
    if ndim in (3, 4):
        x = _as_flat(x, name)
    return _as_features(x, name, min_rows=min_rows)


def _check_same_dim(a, b, name_a, name_b):
    if a.shape[1] != b.shape[1]:
        raise ValueError(f"{name_a} and {name_b} must have the same feature dimension, "
                         f"got {a.shape[1]} and {b.shape[1]}.")


def _check_int(value, name, minimum=1, maximum=None):
    ok = isinstance(value, (int, np.integer)) and not isinstance(value, bool)
    if not ok or value < minimum or (maximum is not None and value > maximum):
        upper = f" and <= {maximum}" if maximum is not None else ""
        raise ValueError(f"{name} must be an integer >= {minimum}{upper}, got {value!r}.")
    return int(value)


def _check_positive(value, name):
    if isinstance(value, bool) or not np.isscalar(value) or not np.isfinite(value) or value <= 0:
        raise ValueError(f"{name} must be a positive number, got {value!r}.")
    return float(value)


def _check_probs(probs, name):
    p = np.asarray(probs, dtype="float64")
    if p.ndim != 2 or p.shape[0] == 0 or p.shape[1] < 2:
        raise ValueError(f"{name} must be a 2-D array of class probabilities (n, num_classes), "
                         f"one row per image, got shape {p.shape}.")
    if not np.all(np.isfinite(p)):
        raise ValueError(f"{name} holds NaN or inf.")
    if p.min() < 0:
        raise ValueError(f"{name} has negative entries ({p.min():.3g}); probabilities must be >= 0.")
    sums = p.sum(axis=1)
    worst = int(np.argmax(np.abs(sums - 1.0)))
    if abs(sums[worst] - 1.0) > PROB_ATOL:
        raise ValueError(f"every row of {name} must sum to 1 (softmax outputs, not logits); "
                         f"row {worst} sums to {sums[worst]:.6g}.")
    return p


def _as_label_distribution(p_star, num_classes, name):
    """A class distribution p*(y): a vector (K,) summing to 1, or rows of p(y|x) (m, K)
    for m training images, averaged into their marginal. K must be ``num_classes``."""
    p = np.asarray(p_star, dtype="float64")
    if p.ndim == 2:
        p = _check_probs(p, name).mean(axis=0)                     # p*(y) = E_x~train p(y|x)
    elif p.ndim == 1:
        p = _check_probs(p[None, :], name)[0]
    else:
        raise ValueError(f"{name} must be a class distribution of shape ({num_classes},) or rows of "
                         f"class probabilities (m, {num_classes}), got shape {p.shape}.")
    if p.shape[0] != num_classes:
        raise ValueError(f"{name} has {p.shape[0]} classes but probs has {num_classes}.")
    return p


def _pairwise_kl(p, q):
    """KL(p_i || q_j) in nats for every pair of rows, shape (len(p), len(q)).

    Written as sum_k p_ik log p_ik - sum_k p_ik log q_jk so that it is one matrix product
    (memory O(len(p) len(q)), not times K); it is inf where q_j is 0 on a class p_i uses.
    """
    log_q = np.log(q, where=q > 0, out=np.zeros_like(q))
    kl = special.xlogy(p, p).sum(axis=1)[:, None] - p @ log_q.T     # -H(p_i) - sum_k p_ik log q_jk
    missing = ((p > 0).astype("float64") @ (q == 0).T.astype("float64")) > 0   # p_ik > 0 = q_jk
    return np.where(missing, np.inf, np.maximum(kl, 0.0))           # >= 0 up to rounding


def _check_pair(a, b, name_a, name_b):
    """Two image batches of equal size -> two float64 (n, 28, 28) arrays."""
    a, b = _as_images(a, name_a), _as_images(b, name_b)
    if len(a) != len(b):
        raise ValueError(f"{name_a} and {name_b} must hold the same number of images, "
                         f"got {len(a)} and {len(b)}.")
    return a, b


def _blocks(n, size=BLOCK_ROWS):
    return (slice(lo, min(lo + size, n)) for lo in range(0, n, size))


def _sq_distances(a, b):
    """||a_i - b_j||^2 for all pairs, clipped at 0 (the expansion can round below it)."""
    d2 = (a * a).sum(1)[:, None] + (b * b).sum(1)[None, :] - 2.0 * (a @ b.T)   # |a|^2 + |b|^2 - 2 a.b
    return np.maximum(d2, 0.0)


class MeanStd(NamedTuple):
    """A score averaged over splits or subsets, and its standard deviation across them."""
    mean: float
    std: float


# ---------------------------------------------------------------------------------------
# 1. The feature extractor: our own MNIST classifier in place of Inception
# ---------------------------------------------------------------------------------------

def build_classifier(feature_dim=128):
    """A small MNIST CNN, our stand-in for Inception; sized for a 2-core CPU.

    image (28, 28, 1) in [0, 1] -> Conv 32 3x3 relu -> MaxPool 2 -> Conv 64 3x3 relu
    -> MaxPool 2 -> Dropout 0.25 -> Flatten -> Dense 128 relu "features" -> Dropout 0.5
    -> Dense 10 "logits". Pooling after each convolution keeps it at about 2.6 million
    multiply-adds per image; a few epochs of Adam (``train_classifier``) reach 99% test
    accuracy (08a_evaluation measures it).
    """
    _check_int(feature_dim, "feature_dim")
    x = keras.Input(shape=(IMAGE_SIDE, IMAGE_SIDE, 1), name="image")
    h = layers.Conv2D(32, 3, activation="relu", name="conv_32")(x)             # 26 x 26
    h = layers.MaxPooling2D(2, name="pool_1")(h)                                # 13 x 13
    h = layers.Conv2D(64, 3, activation="relu", name="conv_64")(h)             # 11 x 11
    h = layers.MaxPooling2D(2, name="pool_2")(h)                                # 5 x 5
    h = layers.Dropout(0.25, name="dropout_conv")(h)
    h = layers.Flatten(name="flatten")(h)
    h = layers.Dense(feature_dim, activation="relu", name="features")(h)
    h = layers.Dropout(0.5, name="dropout_features")(h)
    logits = layers.Dense(NUM_CLASSES, name="logits")(h)           # p(y|x) = softmax(logits)
    return keras.Model(x, logits, name="mnist_classifier")


def _as_model_input(x, name):
    return _as_images(x, name, dtype="float32")[..., None]         # (n, 28, 28, 1)


def _as_labels(y, n, name, num_classes=NUM_CLASSES):
    y = np.asarray(y)
    if y.ndim != 1 or not np.issubdtype(y.dtype, np.integer):
        raise ValueError(f"{name} must be a 1-D array of integer labels, got {y.dtype} {y.shape}.")
    if len(y) != n:
        raise ValueError(f"{name} must have one label per image: {n} images, {len(y)} labels.")
    if y.min() < 0 or y.max() >= num_classes:
        raise ValueError(f"{name} must be in 0..{num_classes - 1}, got range {y.min()}..{y.max()}.")
    return y.astype("int32")


def train_classifier(x_train, y_train, epochs, batch_size=128, validation_data=None, seed=0,
                     verbose="auto", learning_rate=2e-3):
    """Build, compile (Adam, cross-entropy from logits, accuracy) and fit the classifier.

    The learning rate follows a cosine from ``learning_rate`` down to 5% of it over the
    run: the last, small steps add a few tenths of a percent of test accuracy.

    ``validation_data`` is ``(x_val, y_val)`` or None. Returns ``(model, history)``.
    """
    x = _as_model_input(x_train, "x_train")
    y = _as_labels(y_train, len(x), "y_train")
    _check_int(epochs, "epochs")
    _check_int(batch_size, "batch_size")
    if validation_data is not None:
        if not (isinstance(validation_data, (tuple, list)) and len(validation_data) == 2):
            raise ValueError("validation_data must be a pair (x_val, y_val) or None, "
                             f"got {type(validation_data).__name__}.")
        x_val = _as_model_input(validation_data[0], "x_val")
        validation_data = (x_val, _as_labels(validation_data[1], len(x_val), "y_val"))
    keras.utils.set_random_seed(seed)                              # same weights, same batches
    model = build_classifier()
    steps = epochs * math.ceil(len(x) / batch_size)
    schedule = keras.optimizers.schedules.CosineDecay(_check_positive(learning_rate, "learning_rate"), steps,
                                                      alpha=0.05)
    model.compile(optimizer=keras.optimizers.Adam(schedule),
                  loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
                  metrics=["accuracy"])
    history = model.fit(x, y, epochs=epochs, batch_size=batch_size,
                        validation_data=validation_data, verbose=verbose)
    return model, history


def _outputs_model(model):
    """One auxiliary model image -> (features, logits), built once and kept on ``model``."""
    aux = getattr(model, "_course_lib_outputs", None)
    if aux is None:
        try:
            outputs = [model.get_layer("features").output, model.get_layer("logits").output]
        except ValueError:
            names = [layer.name for layer in model.layers]
            raise ValueError(f"model must have layers named 'features' and 'logits' "
                             f"(see build_classifier), got {names}.") from None
        aux = keras.Model(model.inputs, outputs, name=f"{model.name}_outputs")
        # object.__setattr__ skips Keras' tracking: the helper is a cache, not a sub-layer
        object.__setattr__(model, "_course_lib_outputs", aux)
    return aux


def classifier_outputs(model, images, batch_size=500):
    """(features, probs) of a ``build_classifier`` model for a batch of images, float64.

    ``features`` (n, 128) is the "features" layer; ``probs`` (n, 10) = softmax(logits),
    i.e. p(y|x). Dropout is off (inference mode).
    """
    x = _as_model_input(images, "images")
    _check_int(batch_size, "batch_size")
    features, logits = _outputs_model(model).predict(x, batch_size=batch_size, verbose=0)
    logits = logits.astype("float64")
    z = np.exp(logits - logits.max(axis=1, keepdims=True))          # softmax, shifted to avoid overflow
    return features.astype("float64"), z / z.sum(axis=1, keepdims=True)


# ---------------------------------------------------------------------------------------
# 2. Frechet distance (FID)
# ---------------------------------------------------------------------------------------

def feature_statistics(features):
    """(mu, sigma): the mean (d,) and covariance (d, d) of a feature set (n, d), n >= 2."""
    x = _as_features(features, "features", min_rows=2)
    return x.mean(axis=0), np.atleast_2d(np.cov(x, rowvar=False))


def frechet_distance(mu1, sigma1, mu2, sigma2, eps=1e-6):
    """Frechet (2-Wasserstein) distance between N(mu1, sigma1) and N(mu2, sigma2).

    d^2 = ||mu1 - mu2||^2 + Tr(sigma1 + sigma2 - 2 (sigma1 sigma2)^(1/2)).
    If the product is singular (fewer samples than dimensions) its square root is taken of
    (sigma1 + eps I)(sigma2 + eps I) instead; rounding's tiny imaginary parts are dropped.
    """
    mu1, mu2 = np.atleast_1d(np.asarray(mu1, "float64")), np.atleast_1d(np.asarray(mu2, "float64"))
    sigma1, sigma2 = np.atleast_2d(np.asarray(sigma1, "float64")), np.atleast_2d(np.asarray(sigma2, "float64"))
    d = mu1.shape[0]
    if mu1.ndim != 1 or mu2.shape != (d,):
        raise ValueError(f"mu1 and mu2 must be 1-D means of the same length, got shapes {mu1.shape} and {mu2.shape}.")
    for name, s in (("sigma1", sigma1), ("sigma2", sigma2)):
        if s.shape != (d, d):
            raise ValueError(f"{name} must be a ({d}, {d}) covariance to match the means, got shape {s.shape}.")
    if not all(np.all(np.isfinite(a)) for a in (mu1, mu2, sigma1, sigma2)):
        raise ValueError("means and covariances must be finite (no NaN or inf).")
    diff = mu1 - mu2
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", linalg.LinAlgWarning)          # singular: use the offset
            covmean = linalg.sqrtm(sigma1 @ sigma2)                       # (sigma1 sigma2)^(1/2)
        singular = not np.all(np.isfinite(covmean))
    except linalg.LinAlgWarning:
        singular = True
    if singular:
        offset = eps * np.eye(d)
        covmean = linalg.sqrtm((sigma1 + offset) @ (sigma2 + offset))
    if np.iscomplexobj(covmean):
        if not np.allclose(np.diagonal(covmean).imag, 0.0, atol=1e-3):
            raise ValueError("sigma1 @ sigma2 has no real square root: are sigma1 and sigma2 "
                             "covariance matrices (symmetric, positive semi-definite)?")
        covmean = covmean.real                                            # rounding noise only
    d2 = diff @ diff + np.trace(sigma1) + np.trace(sigma2) - 2.0 * np.trace(covmean)
    return float(max(d2, 0.0))                                            # >= 0 up to rounding


def fid(features_a, features_b):
    """Frechet Inception Distance: ``frechet_distance`` between Gaussians fitted to two sets.

    With our classifier's features instead of Inception's, the numbers are comparable
    within this course only. FID is biased upwards for small n: compare equal-sized sets.
    """
    a = _as_features(features_a, "features_a", min_rows=2)
    b = _as_features(features_b, "features_b", min_rows=2)
    _check_same_dim(a, b, "features_a", "features_b")
    return frechet_distance(*feature_statistics(a), *feature_statistics(b))


# ---------------------------------------------------------------------------------------
# 3. Inception score and its relatives: m-IS, Mode Score, AM Score
# ---------------------------------------------------------------------------------------

def inception_score(probs, splits=1):
    """IS = exp(E_x KL(p(y|x) || p(y))), with p(y) = E_x p(y|x) (Salimans et al. 2016).

    ``probs`` (n, K) holds p(y|x), one row per generated image. IS runs from 1 (every image
    gets the same prediction) to K (confident predictions, all classes equally often).
    Computed on each of ``splits`` parts; returns ``MeanStd(mean, std)`` over them.
    """
    p = _check_probs(probs, "probs")
    _check_int(splits, "splits", maximum=len(p))
    scores = []
    for part in np.array_split(p, splits):
        p_y = part.mean(axis=0)                                   # the marginal p(y)
        kl = special.rel_entr(part, p_y[None, :]).sum(axis=1)     # KL(p(y|x) || p(y)), 0 log 0 = 0
        scores.append(math.exp(kl.mean()))                        # exp(E_x KL)
    return MeanStd(float(np.mean(scores)), float(np.std(scores)))


def modified_inception_score(probs, labels_pred=None):
    """Modified Inception Score (Gurumurthy et al. 2017, DeLiGAN): diversity within a class.

    m-IS = exp(E_{x_i} E_{x_j} KL(p(y|x_i) || p(y|x_j))), x_j ranging over the samples of the
    same class as x_i. Computed exactly as follows:

    - a sample's class is ``labels_pred`` (e.g. the labels a conditional generator was asked
      for) or, when None, the classifier's prediction argmax_y p(y|x);
    - for each sample x_i of a class c with n_c >= 2 samples, the inner mean runs over the
      n_c - 1 other samples x_j of class c (the zero term j = i is left out);
    - the outer mean runs over all samples of those classes, so a class weighs n_c; classes
      with a single sample have no pair and are skipped (all of them: ``ValueError``).

    m-IS >= 1, with 1 when every sample of a class gets the same p(y|x), as for a generator
    that draws one image per class; it grows as predictions within a class differ. Plain IS
    cannot see that collapse: one confident image per class still scores 10. The score is
    inf when some p(y|x_j) is exactly 0 on a class that p(y|x_i) gives mass to (one-hot
    rows); ``classifier_outputs``' float64 softmax practically never gives an exact 0.
    """
    p = _check_probs(probs, "probs")
    if labels_pred is None:
        labels = p.argmax(axis=1)                                 # the predicted class
    else:
        labels = _as_labels(labels_pred, len(p), "labels_pred", num_classes=p.shape[1])
    total, counted = 0.0, 0
    for c in np.unique(labels):
        members = p[labels == c]
        m = len(members)
        if m < 2:
            continue
        for rows in _blocks(m):
            kl = _pairwise_kl(members[rows], members)             # KL(p(y|x_i) || p(y|x_j))
            kl[np.arange(kl.shape[0]), np.arange(rows.start, rows.stop)] = 0.0   # j = i: 0
            total += kl.sum() / (m - 1)                           # sum_i E_{j != i in class c}
        counted += m
    if counted == 0:
        raise ValueError("modified_inception_score needs a class holding at least two samples; "
                         f"every one of the {len(p)} samples is alone in its class.")
    with np.errstate(over="ignore"):
        return float(np.exp(total / counted))                     # exp(E_i E_j KL)


def mode_score(probs, train_label_probs):
    """Mode Score (Che et al. 2017): the Inception Score, penalised for a class balance
    unlike the training data's.

    MS = exp(E_x KL(p(y|x) || p(y)) - KL(p(y) || p*(y))) = IS * exp(-KL(p(y) || p*(y)))

    p(y) = E_x p(y|x) is the samples' marginal; p*(y) the training labels' distribution:
    ``train_label_probs`` is either that vector (K,) (e.g. ``np.bincount(y_train, minlength=10)
    / len(y_train)``) or the classifier's p(y|x) on training images (m, K), averaged.

    Careful with the formula as it is often quoted, with p*(y) inside the first KL:
    E_x KL(p(y|x) || p*) - KL(p(y) || p*) = H(p(y)) - E_x H(p(y|x)), whatever p* is -- the
    log of the plain IS. The p* term only survives with p(y) in the first KL, as
    Xu et al. (2018, "An empirical study on evaluation metrics of GANs") write it; that is
    what this computes. MS = IS when the samples' classes come in the training proportions,
    and drops below it (0 <= MS <= K) the more they deviate: 1/K for confident samples all
    of one class against balanced training labels.
    """
    p = _check_probs(probs, "probs")
    p_star = _as_label_distribution(train_label_probs, p.shape[1], "train_label_probs")
    p_y = p.mean(axis=0)                                          # the samples' marginal p(y)
    log_is = special.rel_entr(p, p_y[None, :]).sum(axis=1).mean() # E_x KL(p(y|x) || p(y))
    label_kl = max(special.rel_entr(p_y, p_star).sum(), 0.0)      # KL(p(y) || p*(y)) >= 0
    return float(np.exp(log_is - label_kl))


class AMScore(NamedTuple):
    """score = label_kl + mean_entropy (lower is better, 0 is perfect);
    label_kl = KL(p*(y) || p(y)), mean_entropy = E_x H(p(y|x)), both in nats."""
    score: float
    label_kl: float
    mean_entropy: float


def am_score(probs, train_label_probs):
    """AM Score (Zhou et al. 2018, "Activation Maximization Generative Adversarial Nets").

    AM = KL(p*(y) || p(y)) + E_x H(p(y|x)), in nats; lower is better.

    The first term asks for the training data's class balance p*(y) (``train_label_probs``:
    a vector (K,) or rows of p(y|x) on training images, as in ``mode_score``); it is inf if a
    training class never appears in p(y), i.e. a dropped mode. The second asks each sample to
    be classified confidently. Unlike IS, the target balance is the data's, not uniform.
    0 iff every sample is predicted one-hot and the classes come in the training
    proportions. Returns ``AMScore(score, label_kl, mean_entropy)``.
    """
    p = _check_probs(probs, "probs")
    p_star = _as_label_distribution(train_label_probs, p.shape[1], "train_label_probs")
    label_kl = max(float(special.rel_entr(p_star, p.mean(axis=0)).sum()), 0.0)  # KL(p*(y) || p(y))
    mean_entropy = float(special.entr(p).sum(axis=1).mean())         # E_x -sum_y p log p
    return AMScore(label_kl + mean_entropy, label_kl, mean_entropy)


# ---------------------------------------------------------------------------------------
# 4. Maximum mean discrepancy and KID
# ---------------------------------------------------------------------------------------

def median_heuristic(x, y, max_points=1000, seed=0):
    """The RBF bandwidth of Gretton et al. (2012): median distance between pooled points.

    Above ``max_points`` pooled points the median is taken over a fixed random subset.
    ``x`` and ``y``: finite features (n, d) and (m, d), at least one point each.
    """
    x, y = _as_features(x, "x", min_rows=1), _as_features(y, "y", min_rows=1)
    _check_same_dim(x, y, "x", "y")
    max_points = _check_int(max_points, "max_points", minimum=2)
    z = np.concatenate([x, y])
    if len(z) > max_points:
        z = z[np.random.default_rng(seed).choice(len(z), max_points, replace=False)]
    d2 = _sq_distances(z, z)[np.triu_indices(len(z), k=1)]           # each pair once
    bandwidth = float(np.sqrt(np.median(d2)))
    if bandwidth == 0.0:
        raise ValueError("the median distance between the points is 0 (mostly duplicates): "
                         "pass a bandwidth > 0.")
    return bandwidth


def _kernel(a, b, kernel, bandwidth):
    if kernel == "rbf":
        return np.exp(-_sq_distances(a, b) / (2.0 * bandwidth**2))   # exp(-||x - y||^2 / (2 s^2))
    return (a @ b.T / a.shape[1] + 1.0) ** 3                         # (x.y / d + 1)^3


def _kernel_sum(a, b, kernel, bandwidth):
    """sum_ij k(a_i, b_j), a block of rows at a time."""
    return sum(_kernel(a[rows], b, kernel, bandwidth).sum() for rows in _blocks(len(a)))


def _kernel_diagonal_sum(a, kernel):
    """sum_i k(a_i, a_i): the terms the unbiased estimator leaves out."""
    if kernel == "rbf":
        return float(len(a))                                         # exp(0) = 1
    return float(((np.sum(a * a, axis=1) / a.shape[1] + 1.0) ** 3).sum())


def mmd2(x, y, kernel="rbf", bandwidth=None):
    """Unbiased estimate of the squared maximum mean discrepancy (Gretton et al. 2012).

    MMD^2_u = 1/(m(m-1)) sum_{i!=j} k(x_i, x_j) + 1/(n(n-1)) sum_{i!=j} k(y_i, y_j)
              - 2/(mn) sum_{i,j} k(x_i, y_j)

    ``kernel="rbf"``: k = exp(-||x - y||^2 / (2 bandwidth^2)), bandwidth from the median
    heuristic when None. ``kernel="polynomial"``: k = (x.y / d + 1)^3 (KID's). Being
    unbiased, the estimate is about 0 for equal distributions and may be slightly negative.
    """
    x = _as_features(x, "x", min_rows=2)
    y = _as_features(y, "y", min_rows=2)
    _check_same_dim(x, y, "x", "y")
    if kernel not in KERNELS:
        raise ValueError(f"kernel must be one of {KERNELS}, got {kernel!r}.")
    if kernel == "rbf":
        bandwidth = median_heuristic(x, y) if bandwidth is None else _check_positive(bandwidth, "bandwidth")
    elif bandwidth is not None:
        raise ValueError(f"bandwidth applies to the rbf kernel only, got bandwidth={bandwidth!r} "
                         f"with kernel={kernel!r}.")
    m, n = len(x), len(y)
    k_xx = (_kernel_sum(x, x, kernel, bandwidth) - _kernel_diagonal_sum(x, kernel)) / (m * (m - 1))
    k_yy = (_kernel_sum(y, y, kernel, bandwidth) - _kernel_diagonal_sum(y, kernel)) / (n * (n - 1))
    k_xy = _kernel_sum(x, y, kernel, bandwidth) / (m * n)
    return float(k_xx + k_yy - 2.0 * k_xy)


def kid(features_a, features_b, num_subsets=10, subset_size=1000, seed=0):
    """Kernel Inception Distance (Binkowski et al. 2018): unbiased MMD^2 with the cubic
    polynomial kernel (x.y / d + 1)^3, averaged over random subsets.

    ``subset_size`` is clipped to the smaller set; subsets are drawn without replacement.
    Unlike FID it is unbiased, so sets of different sizes compare fairly. Papers often
    report KID x 1000. Returns ``MeanStd(mean, std)`` over the subsets.
    """
    a = _as_features(features_a, "features_a", min_rows=2)
    b = _as_features(features_b, "features_b", min_rows=2)
    _check_same_dim(a, b, "features_a", "features_b")
    _check_int(num_subsets, "num_subsets")
    size = min(_check_int(subset_size, "subset_size", minimum=2), len(a), len(b))
    rng = np.random.default_rng(seed)
    values = [mmd2(a[rng.choice(len(a), size, replace=False)],
                   b[rng.choice(len(b), size, replace=False)], kernel="polynomial")
              for _ in range(num_subsets)]
    return MeanStd(float(np.mean(values)), float(np.std(values)))


# ---------------------------------------------------------------------------------------
# 5. Improved precision and recall (Kynkaanniemi et al. 2019); coverage and density
# ---------------------------------------------------------------------------------------

class PrecisionRecall(NamedTuple):
    """precision: share of fakes inside the real manifold (quality);
    recall: share of reals inside the fake manifold (coverage)."""
    precision: float
    recall: float

    @property
    def f1(self):
        """Harmonic mean 2 P R / (P + R); 0 when both are 0."""
        total = self.precision + self.recall
        return 0.0 if total == 0 else 2.0 * self.precision * self.recall / total


def _knn_sq_radii(x, k):
    """Squared distance from each row of x to its k-th nearest other row."""
    radii = np.empty(len(x))
    for rows in _blocks(len(x)):
        d2 = _sq_distances(x[rows], x)
        radii[rows] = np.partition(d2, k, axis=1)[:, k]        # index 0 is the point itself
    return radii


def _inside(queries, reference, sq_radii):
    """Does each query lie in some ball B(reference_i, radius_i)? ||q - r_i|| <= radius_i."""
    inside = np.empty(len(queries), dtype=bool)
    for rows in _blocks(len(queries)):
        inside[rows] = np.any(_sq_distances(queries[rows], reference) <= sq_radii[None, :], axis=1)
    return inside


def precision_recall(real_features, fake_features, k=3):
    """Improved precision and recall with k-NN hyperspheres (Kynkaanniemi et al. 2019).

    Each set's manifold is the union of balls around its points, each ball reaching the
    point's k-th nearest neighbour in the same set. precision = fraction of fakes inside the
    real manifold, recall = fraction of reals inside the fake manifold. Distances are
    computed in blocks (memory O(512 n)). Returns ``PrecisionRecall(precision, recall)``
    with an ``f1`` property.
    """
    real = _as_features(real_features, "real_features", min_rows=2)
    fake = _as_features(fake_features, "fake_features", min_rows=2)
    _check_same_dim(real, fake, "real_features", "fake_features")
    _check_int(k, "k", maximum=min(len(real), len(fake)) - 1)
    precision = _inside(fake, real, _knn_sq_radii(real, k)).mean()    # fakes in the real manifold
    recall = _inside(real, fake, _knn_sq_radii(fake, k)).mean()       # reals in the fake manifold
    return PrecisionRecall(float(precision), float(recall))


class Coverage(NamedTuple):
    """coverage: share of real points whose k-NN ball holds at least one fake (diversity);
    density: mean number of real balls a fake lies in, divided by k (fidelity; ~1 when the
    distributions match, can exceed 1)."""
    coverage: float
    density: float


def coverage(real_features, fake_features, k=5):
    """Coverage and density (Naeem et al. 2020, "Reliable fidelity and diversity metrics").

    Around each real point x_i a ball B_i reaches its k-th nearest real neighbour (the
    radii of ``precision_recall``'s real manifold). With n real and m fake points:

        coverage = 1/n sum_i 1[some fake y_j lies in B_i]
        density  = 1/(k m) sum_j #{i : y_j in B_i}

    Only real points carry balls, so a few far-out fakes cannot inflate either number, as
    they inflate recall (the fake manifold's balls grow around outliers). Closed forms: fakes
    equal to the reals give coverage 1 and density (k + 1)/k (each ball holds its centre and
    its k neighbours); all fakes on one real point x_0 cover x_0 and the points having x_0
    among their k nearest neighbours, (1 + k) / n on average over x_0. Returns
    ``Coverage(coverage, density)``.
    """
    real = _as_features(real_features, "real_features", min_rows=2)
    fake = _as_features(fake_features, "fake_features", min_rows=1)
    _check_same_dim(real, fake, "real_features", "fake_features")
    _check_int(k, "k", maximum=len(real) - 1)
    sq_radii = _knn_sq_radii(real, k)                              # ||x_i - its k-th neighbour||^2
    covered = np.empty(len(real), dtype=bool)
    hits = 0
    for rows in _blocks(len(real)):
        inside = _sq_distances(real[rows], fake) <= sq_radii[rows, None]   # y_j in B_i
        covered[rows] = inside.any(axis=1)
        hits += int(inside.sum())
    return Coverage(float(covered.mean()), hits / (k * len(fake)))


# ---------------------------------------------------------------------------------------
# 6. Classifier two-sample test (Lopez-Paz & Oquab 2017)
# ---------------------------------------------------------------------------------------

class C2ST(NamedTuple):
    """Held-out accuracy of a real-vs-fake classifier, the one-sided p-value of
    "no better than chance" (Binomial(n_test, 1/2)), and the number of test samples."""
    accuracy: float
    p_value: float
    n_test: int


def _two_sample_classifier(classifier):
    from sklearn.base import clone
    from sklearn.linear_model import LogisticRegression
    from sklearn.neighbors import KNeighborsClassifier
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    if classifier == "logistic":
        return make_pipeline(StandardScaler(), LogisticRegression(max_iter=1000))
    if classifier == "knn":
        return KNeighborsClassifier(n_neighbors=5)
    if hasattr(classifier, "fit") and hasattr(classifier, "predict"):
        return clone(classifier)
    raise ValueError(f"classifier must be 'logistic', 'knn' or a scikit-learn classifier, got {classifier!r}.")


def c2st(real_features, fake_features, classifier="logistic", seed=0):
    """Classifier two-sample test: can a classifier tell real from fake on held-out data?

    Both sets are cut to the same size n (chance = 1/2), each is split in halves, the
    classifier is fitted on one half of each and scored on the other. Accuracy 0.5: the sets
    are indistinguishable to this classifier; 1.0: perfectly separable. ``"logistic"``
    (standardised logistic regression) sees only linear differences such as a shifted mean;
    ``"knn"`` (5 neighbours) also sees a collapsed spread. Returns ``C2ST``.
    """
    real = _as_features(real_features, "real_features", min_rows=2)
    fake = _as_features(fake_features, "fake_features", min_rows=2)
    _check_same_dim(real, fake, "real_features", "fake_features")
    model = _two_sample_classifier(classifier)
    rng = np.random.default_rng(seed)
    n = min(len(real), len(fake))
    real = real[rng.choice(len(real), n, replace=False)]          # random order, balanced sizes
    fake = fake[rng.choice(len(fake), n, replace=False)]
    half = n // 2
    x_train = np.concatenate([real[:half], fake[:half]])
    y_train = np.repeat([1, 0], half)                             # 1 = real, 0 = fake
    x_test = np.concatenate([real[half:], fake[half:]])
    y_test = np.repeat([1, 0], n - half)
    model.fit(x_train, y_train)
    correct = int(np.sum(model.predict(x_test) == y_test))
    p_value = stats.binom.sf(correct - 1, len(y_test), 0.5)       # P(X >= correct | chance)
    return C2ST(correct / len(y_test), float(p_value), len(y_test))


# ---------------------------------------------------------------------------------------
# 6b. Bootstrap intervals for FID, KID, precision, recall and coverage, paired across models
# ---------------------------------------------------------------------------------------

class Bootstrap(NamedTuple):
    """Bootstrap replicates of several measures for several models, all against one real set.

    estimates[measure][model]: the measure on the full sets; resamples[measure][model]: its
    (num_resamples,) replicates, replicate b of every model scored against the same resample b
    of the real set; level: the confidence level. Intervals are normal intervals, estimate
    +- z sd(replicates), z = ``stats.norm.ppf(0.5 + level / 2)`` (``bootstrap_scores`` says why).
    """
    estimates: dict
    resamples: dict
    level: float

    @property
    def z(self):
        """The two-sided normal quantile of ``level``: 1.96 for 0.95."""
        return float(stats.norm.ppf(0.5 + self.level / 2.0))

    def _scores(self, measure, model):
        if measure not in self.estimates:
            raise ValueError(f"measure must be one of {tuple(self.estimates)}, got {measure!r}.")
        if model not in self.estimates[measure]:
            raise ValueError(f"model must be one of {tuple(self.estimates[measure])}, got {model!r}.")
        return self.estimates[measure][model], self.resamples[measure][model]

    def _normal_interval(self, estimate, replicates):
        half = self.z * float(np.std(replicates, ddof=1))
        return float(estimate - half), float(estimate + half)

    def sd(self, measure, model):
        """The standard deviation of a model's replicates: the measure's standard error."""
        return float(np.std(self._scores(measure, model)[1], ddof=1))

    def interval(self, measure, model):
        """(lo, hi) = estimate -+ z sd(replicates); for the shares (precision, recall, coverage)
        cut to [0, 1], the values they can take."""
        lo, hi = self._normal_interval(*self._scores(measure, model))
        return (max(lo, 0.0), min(hi, 1.0)) if measure in ("precision", "recall", "coverage") else (lo, hi)

    def difference(self, measure, a, b):
        """(estimate_a - estimate_b, lo, hi), the interval from the paired replicates a_b - b_b:
        the variation of the shared real set cancels from them."""
        estimate_a, replicates_a = self._scores(measure, a)
        estimate_b, replicates_b = self._scores(measure, b)
        estimate = estimate_a - estimate_b
        return (float(estimate), *self._normal_interval(estimate, replicates_a - replicates_b))

    def ahead(self, measure, a, b):
        """Is model a better than model b beyond the interval of their difference? Better is
        lower for FID and KID, higher for precision, recall and coverage."""
        _, lo, hi = self.difference(measure, a, b)
        return hi < 0.0 if measure in LOWER_IS_BETTER else lo > 0.0


def _check_measures(measures):
    """A measure name or a sequence of them, from BOOTSTRAP_MEASURES -> a tuple without repeats."""
    names = (measures,) if isinstance(measures, str) else measures
    try:
        names = tuple(names)
    except TypeError:
        names = ()
    if not names or not all(isinstance(m, str) and m in BOOTSTRAP_MEASURES for m in names):
        raise ValueError(f"measures must be names from {BOOTSTRAP_MEASURES}, got {measures!r}.")
    return tuple(dict.fromkeys(names))


def _as_feature_sets(fake_features, real):
    """{model name: features (n_i, d)} with d that of ``real`` -> {name: float64 (n_i, d)}."""
    if not isinstance(fake_features, dict):
        raise ValueError(f"fake_features must be a dict {{model name: features (n, d)}}, "
                         f"got {type(fake_features).__name__}.")
    if not fake_features:
        raise ValueError("fake_features is empty: give at least one model, {name: features (n, d)}.")
    sets = {}
    for name, features in fake_features.items():
        if not isinstance(name, str):
            raise ValueError(f"fake_features' keys must be model names (str), got {name!r}.")
        label = f"fake_features[{name!r}]"
        sets[name] = _as_features(features, label, min_rows=2)
        _check_same_dim(real, sets[name], "real_features", label)
    return sets


def _check_knn_rows(x, name, k, k_name):
    """A resample keeps ~63% distinct rows and its k-NN radii need more than k of them."""
    if len(x) < 2 * k + 2:
        raise ValueError(f"{name} has {len(x)} rows; with {k_name} = {k} the bootstrap needs at least "
                         f"2 {k_name} + 2 = {2 * k + 2}, so that a resample (~63% distinct rows) "
                         f"keeps more than {k_name} distinct rows.")


def _resample_indices(n_real, fake_sizes, num_resamples, seed):
    """Row indices of the resamples, row 0 the full set (each row once, in order): real
    (1 + num_resamples, n_real) and {model: (1 + num_resamples, n_model)}. The real rows come from
    one stream, shared by all models; model i draws from its own (child i + 1 of
    ``SeedSequence(seed)``, in dict order), so adding a model changes no other's replicates."""
    streams = np.random.SeedSequence(seed).spawn(1 + len(fake_sizes))

    def draw(stream, n):
        return np.vstack([np.arange(n), np.random.default_rng(stream).integers(0, n, size=(num_resamples, n))])

    return draw(streams[0], n_real), {name: draw(s, n) for s, (name, n) in zip(streams[1:], fake_sizes.items())}


def _resample_counts(indices, n):
    """Row indices (R, size) -> counts (R, n), float64: how often each row was drawn."""
    offsets = n * np.arange(len(indices))[:, None]
    return np.bincount((indices + offsets).ravel(), minlength=len(indices) * n).reshape(-1, n).astype("float64")


def _resample_moments(x, counts):
    """Means (R, d) and covariances (R, d, d) (ddof 1) of the resamples holding row i of x
    counts[r, i] times, from weighted sums over the drawn rows: no copy of a resample.
    The rows are centred first, so the second moment cancels nothing large."""
    centre = x.mean(axis=0)
    x = x - centre
    sizes = counts.sum(axis=1)
    means = counts @ x / sizes[:, None]
    covs = np.empty((len(counts), x.shape[1], x.shape[1]))
    for r, c in enumerate(counts):
        rows = np.flatnonzero(c)
        upper = linalg.blas.dsyrk(1.0, x[rows] * np.sqrt(c[rows])[:, None], trans=1)  # sum_i c_i x_i x_i^T
        second = np.triu(upper) + np.triu(upper, 1).T
        covs[r] = (second - sizes[r] * np.outer(means[r], means[r])) / (sizes[r] - 1)
    return means + centre, covs


def _psd_sqrt(s):
    """Symmetric square roots of symmetric PSD matrices (..., d, d); rounding's negative
    eigenvalues clipped to 0, so a singular matrix has one too."""
    w, v = np.linalg.eigh(s)
    return (v * np.sqrt(np.clip(w, 0.0, None))[..., None, :]) @ np.swapaxes(v, -1, -2)


def _resample_fids(real_means, real_roots, fake_means, fake_covs, real_covs_trace):
    """Frechet distances, one per resample. tr((S1 S2)^(1/2)) = sum_i sqrt(lambda_i) over the
    eigenvalues of S1^(1/2) S2 S1^(1/2), symmetric PSD with the eigenvalues of S1 S2: exact,
    also for a singular S1 (no eps offset needed)."""
    w = np.linalg.eigvalsh(real_roots @ fake_covs @ real_roots)
    trace_sqrt = np.sqrt(np.clip(w, 0.0, None)).sum(axis=1)
    diff = real_means - fake_means
    d2 = (diff * diff).sum(1) + real_covs_trace + np.trace(fake_covs, axis1=1, axis2=2) - 2.0 * trace_sqrt
    return np.maximum(d2, 0.0)


def _pair_means(counts, gram):
    """Mean of K over the pairs of different positions p != q of each resample (counts (R, n)):
    (c^T K c - sum_i c_i K_ii) / (s (s - 1)), s = sum_i c_i; copies of one row do pair up."""
    sizes = counts.sum(axis=1)
    return ((counts @ gram * counts).sum(1) - counts @ np.diagonal(gram)) / (sizes * (sizes - 1))


def _block_sq_distances(a, b):
    """``_sq_distances(a, b)`` a block of rows at a time, as ``_knn_sq_radii``, ``_inside`` and
    ``coverage`` compute it: every entry is bit for bit the one they compare."""
    return np.concatenate([_sq_distances(a[rows], b) for rows in _blocks(len(a))])


def _nearest_lists(d2, length):
    """The ``length`` smallest entries of each row of d2 (its own among them), ascending, and
    their columns: (values, columns), each (n, length)."""
    columns = np.argpartition(d2, length - 1, axis=1)[:, :length]
    values = np.take_along_axis(d2, columns, axis=1)
    order = np.argsort(values, axis=1, kind="stable")
    return np.take_along_axis(values, order, axis=1), np.take_along_axis(columns, order, axis=1)


def _resample_sq_radii(d2, nearest, drawn, ks, name):
    """Squared k-NN radii in one resample, for each k in ks: row i's k-th nearest *distinct*
    other drawn row, i.e. entry k of d2[i, drawn rows] sorted (its own entry is entry 0), the
    radius ``_knn_sq_radii`` gives on the distinct rows. -inf for rows not drawn: no ball.

    Read off row i's sorted list of nearest rows: the first drawn ones in it are its nearest
    drawn ones. A row with at most k drawn rows in its list partitions the whole row instead."""
    values, columns = nearest
    rows = np.flatnonzero(drawn)
    if len(rows) <= max(ks):
        raise ValueError(f"a resample of {name} has only {len(rows)} distinct rows, too few for "
                         f"k-NN radii with k = {max(ks)}: give more rows.")
    seen = np.cumsum(drawn[columns[rows]], axis=1)               # drawn rows among the list's first j
    radii = []
    for k in ks:
        sq_radii = np.full(len(drawn), -np.inf)
        found = seen[:, -1] > k
        position = np.argmax(seen[found] > k, axis=1)           # where the (k+1)-th drawn row stands
        sq_radii[rows[found]] = values[rows[found], position]
        short = rows[~found]
        if len(short):
            sq_radii[short] = np.partition(d2[np.ix_(short, rows)], k, axis=1)[:, k]
        radii.append(sq_radii)
    return radii


def _candidate_pairs(d2, bound):
    """(queries, balls, d2 values) of the entries d2[q, b] <= bound[b]: a ball b whose radius
    stays within its bound can hold no other query."""
    queries, balls = np.nonzero(d2 <= bound[None, :])
    return queries, balls, d2[queries, balls]


def _ball_hits(d2, pairs, sq_radii, bound, drawn, per_ball=False):
    """d2[q, b] <= sq_radii[b] for a drawn query q: per query, is it in some ball (per_ball
    False); per ball, does it hold some query (True). Balls larger than their bound (their
    radius fell back to the whole row) compare their whole column."""
    queries, balls, values = pairs
    hit = (values <= sq_radii[balls]) & drawn[queries]
    out = np.zeros(d2.shape[1] if per_ball else d2.shape[0], dtype=bool)
    out[(balls if per_ball else queries)[hit]] = True
    large = np.flatnonzero(sq_radii > bound)
    if len(large):
        full = (d2[:, large] <= sq_radii[large]) & drawn[:, None]
        if per_ball:
            out[large] |= full.any(axis=0)
        else:
            out |= full.any(axis=1)
    return out


def _resample_shares(d2, sq_radii, bound, weights, drawn, per_ball=False):
    """``_ball_hits`` in every resample (row r of sq_radii, weights, drawn), averaged with the
    weights (the counts of the queries, or per_ball of the balls): (R,) shares."""
    pairs = _candidate_pairs(d2, bound)
    hits = [w @ _ball_hits(d2, pairs, radii, bound, seen, per_ball)
            for w, radii, seen in zip(weights, sq_radii, drawn)]
    return np.array(hits) / weights.sum(axis=1)


def _knn_radii_per_resample(d2, counts, ks, name):
    """The bound of each row's radii (the last of its list of nearest rows, long enough for
    max(ks) in nearly every resample) and {k: squared radii (R, n) of every resample}."""
    nearest = _nearest_lists(d2, min(len(d2), 4 * (max(ks) + 1)))   # ~63% of a list is drawn
    radii = [_resample_sq_radii(d2, nearest, c > 0, ks, name) for c in counts]
    return nearest[0][:, -1], {k: np.array(r) for k, r in zip(ks, zip(*radii))}


def _bootstrap_values(real, fakes, real_idx, fake_idx, measures, k=3, k_coverage=5):
    """Each measure on each resample: {measure: {model: (R,) array}}, resample r of the real set
    holding rows real_idx[r] and of model m rows fake_idx[m][r] (with repeats). Row 0 of the
    indices being every row once, value 0 is the measure on the full sets."""
    real_counts = _resample_counts(real_idx, len(real))
    real_sizes, real_drawn = real_counts.sum(axis=1), real_counts > 0
    if "FID" in measures:
        real_means, real_covs = _resample_moments(real, real_counts)
        real_roots, real_covs_trace = _psd_sqrt(real_covs), np.trace(real_covs, axis1=1, axis2=2)
        del real_covs
    if "KID" in measures:
        real_kernel_means = _pair_means(real_counts, _kernel(real, real, "polynomial", None))
    real_ks = tuple(dict.fromkeys([k] * ("precision" in measures) + [k_coverage] * ("coverage" in measures)))
    if real_ks:                                                        # the real balls, for every resample
        d_rr = _block_sq_distances(real, real)
        real_bound, real_radii = _knn_radii_per_resample(d_rr, real_counts, real_ks, "real_features")
        del d_rr
    values = {m: {} for m in measures}
    for name, fake in fakes.items():                                  # one model at a time
        fake_counts = _resample_counts(fake_idx[name], len(fake))
        fake_sizes, fake_drawn = fake_counts.sum(axis=1), fake_counts > 0
        if "FID" in measures:
            values["FID"][name] = _resample_fids(real_means, real_roots, *_resample_moments(fake, fake_counts),
                                                 real_covs_trace)
        if "KID" in measures:
            cross = (real_counts @ _kernel(real, fake, "polynomial", None) * fake_counts).sum(1)
            fake_kernel_means = _pair_means(fake_counts, _kernel(fake, fake, "polynomial", None))
            values["KID"][name] = real_kernel_means + fake_kernel_means - 2.0 * cross / (real_sizes * fake_sizes)
        if "precision" in measures:                                   # fakes in the real manifold
            d_fr = _block_sq_distances(fake, real)
            values["precision"][name] = _resample_shares(d_fr, real_radii[k], real_bound, fake_counts, fake_drawn)
        if "coverage" in measures or "recall" in measures:
            d_rf = _block_sq_distances(real, fake)
        if "coverage" in measures:                                    # real balls holding a fake
            values["coverage"][name] = _resample_shares(d_rf.T, real_radii[k_coverage], real_bound, real_counts,
                                                        fake_drawn, per_ball=True)
        if "recall" in measures:                                      # reals in the fake manifold
            d_ff = _block_sq_distances(fake, fake)
            fake_bound, fake_radii = _knn_radii_per_resample(d_ff, fake_counts, (k,), f"fake_features[{name!r}]")
            values["recall"][name] = _resample_shares(d_rf, fake_radii[k], fake_bound, real_counts, real_drawn)
    return values


def bootstrap_scores(real_features, fake_features, num_resamples=200, k=3, k_coverage=5, level=0.95,
                     seed=0, measures=BOOTSTRAP_MEASURES):
    """Bootstrap intervals for FID, KID, precision, recall and coverage of several models
    scored against one real set, paired across the models. Returns ``Bootstrap``.

    ``fake_features``: {model name: features (n_i, d)}, sets of any sizes; ``measures`` a
    selection of ("FID", "KID", "precision", "recall", "coverage"); ``k`` is precision and
    recall's, ``k_coverage`` coverage's. The estimates are the measures on the full sets:
    ``fid``, ``mmd2(real, fake, kernel="polynomial")`` (the unbiased KID on all the rows: report
    it, not ``kid``'s average over subsets, so estimate and interval belong together),
    ``precision_recall(real, fake, k)`` and ``coverage(real, fake, k_coverage).coverage``.
    Then each of ``num_resamples`` replicates redraws every set with replacement, at its size:

    - paired over models: replicate b draws the real rows once and scores every model against
      that same real resample; each model redraws its own rows from its own random stream.
      ``difference(measure, a, b)`` then works replicate by replicate, and the variation of
      the shared real set, which moves both models alike, cancels from it;
    - normal intervals, estimate +- z sd(replicates), not percentile ones: a resample holds
      only ~63% distinct rows, FID is biased upwards and more so with fewer distinct rows, and
      in KID the copies of a row pair up (k(x, x) > k(x, y) mostly). So their replicates sit
      above the estimate, FID's by several sd at n = 2,000, d = 128: a percentile interval
      might not even contain it. Their spread (sd) is what we use. Precision, recall and
      coverage see a manifold of ~63% of the points with larger balls, and shift a little
      either way;
    - FID from counts: a resample's mean and covariance are weighted sums over the drawn rows
      (no copy), tr((S1 S2)^(1/2)) is the sum of the square roots of the eigenvalues of
      S1^(1/2) S2 S1^(1/2) (exact, also for a singular S1; agrees with ``frechet_distance``
      to rounding, up to the effect of its eps offset when a covariance is singular, e.g. a
      dead ReLU unit: ~1e-5 relative);
    - KID from counts: the three kernel matrices are computed once per model (real-real once);
      a resample's sum over its pairs of positions p != q is c^T K c - sum_i c_i K_ii;
    - precision, recall, coverage from distance matrices computed once per model: a point's
      k-NN radius reaches its k-th nearest *distinct* other drawn row (copies of itself left
      out, copies of another row counted once), the query indicators are averaged with the
      copies' multiplicities. The radius is read off the row's sorted list of its 4 (k + 1)
      nearest rows (the first drawn ones in it), falling back to ``np.partition`` of the drawn
      part of the row; only the pairs within the list's reach are compared.

    A resample needs more than k distinct rows: each set needs at least 2 k + 2 rows. Time:
    about 10 s for 11 models of 2,000 x 128 against 2,000 real, 200 resamples, on one core
    (half of it FID's covariances and eigenvalues); memory: a few (n, n) matrices at a time.
    """
    measures = _check_measures(measures)
    num_resamples = _check_int(num_resamples, "num_resamples", minimum=2)
    k, k_coverage = _check_int(k, "k"), _check_int(k_coverage, "k_coverage")
    seed = _check_int(seed, "seed", minimum=0)
    is_number = isinstance(level, (int, float, np.integer, np.floating)) and not isinstance(level, bool)
    if not is_number or not 0.0 < level < 1.0:
        raise ValueError(f"level must be a confidence level in (0, 1), got {level!r}.")
    real = _as_features(real_features, "real_features", min_rows=2)
    fakes = _as_feature_sets(fake_features, real)
    if "precision" in measures or "recall" in measures:
        for name, x in (("real_features", real), *((f"fake_features[{n!r}]", f) for n, f in fakes.items())):
            _check_knn_rows(x, name, k, "k")
    if "coverage" in measures:
        _check_knn_rows(real, "real_features", k_coverage, "k_coverage")
    real_idx, fake_idx = _resample_indices(len(real), {n: len(f) for n, f in fakes.items()}, num_resamples, seed)
    values = _bootstrap_values(real, fakes, real_idx, fake_idx, measures, k, k_coverage)
    return Bootstrap({m: {n: float(v[0]) for n, v in values[m].items()} for m in measures},
                     {m: {n: v[1:] for n, v in values[m].items()} for m in measures}, float(level))


# ---------------------------------------------------------------------------------------
# 7. Number of statistically different bins (Richardson & Weiss 2018)
# ---------------------------------------------------------------------------------------

class NDB(NamedTuple):
    """count = number of bins whose real and fake proportions differ significantly,
    fraction = count / K; per bin: proportions, the significance mask, the k-means centroid."""
    count: int
    fraction: float
    real_proportions: np.ndarray
    fake_proportions: np.ndarray
    significant: np.ndarray
    centroids: np.ndarray


def ndb(real, fake, num_bins=50, alpha=0.05, seed=0):
    """NDB: k-means bins on the real samples, then a two-proportion z-test per bin.

    ``real`` and ``fake`` are images (compared pixel by pixel) or features (n, d). K-means
    with ``num_bins`` centroids is fitted on ``real``; both sets are assigned to the nearest
    centroid; bin k is significant when

        z = (p_real - p_fake) / sqrt(p (1 - p) (1/n_real + 1/n_fake)),  p = pooled proportion

    has a two-sided p-value below ``alpha``. A generator that drops or over-produces modes
    empties or fills bins. About alpha * K bins come out significant by chance alone.
    """
    from sklearn.cluster import KMeans

    _check_int(num_bins, "num_bins", minimum=2)
    r = _as_samples(real, "real", min_rows=num_bins)
    f = _as_samples(fake, "fake", min_rows=2)
    _check_same_dim(r, f, "real", "fake")
    if not 0.0 < alpha < 1.0:
        raise ValueError(f"alpha must be a significance level in (0, 1), got {alpha!r}.")
    kmeans = KMeans(n_clusters=num_bins, n_init=3, random_state=seed).fit(r)
    real_counts = np.bincount(kmeans.labels_, minlength=num_bins)
    fake_counts = np.bincount(kmeans.predict(f), minlength=num_bins)
    p_real, p_fake = real_counts / len(r), fake_counts / len(f)
    pooled = (real_counts + fake_counts) / (len(r) + len(f))           # p under H0: same proportion
    se = np.sqrt(pooled * (1 - pooled) * (1 / len(r) + 1 / len(f)))    # its standard error
    with np.errstate(divide="ignore", invalid="ignore"):
        z = np.where(se > 0, (p_real - p_fake) / se, 0.0)
    significant = 2 * stats.norm.sf(np.abs(z)) < alpha                  # two-sided p-value
    count = int(significant.sum())
    return NDB(count, count / num_bins, p_real, p_fake, significant, kmeans.cluster_centers_)


# ---------------------------------------------------------------------------------------
# 8. Birthday-paradox support estimate (Arora & Zhang 2017)
# ---------------------------------------------------------------------------------------

class BirthdaySupport(NamedTuple):
    """batch_size: smallest s with P(duplicate in s samples) >= 1/2 (None if none reached it);
    support: s^2 (nan if none); the curve: batch_sizes and their duplicate probabilities."""
    batch_size: int | None
    support: float
    batch_sizes: np.ndarray
    probabilities: np.ndarray


def _first_duplicate(x, threshold, max_size, trials, seed):
    """For each trial, a random ordering of the samples (drawn without replacement); the
    length of its shortest prefix holding a pair closer than ``threshold``, else max_size + 1.

    A prefix of a random ordering is a random batch, so one ordering answers "does a batch
    of size s hold a duplicate?" for every s <= max_size at once: yes iff first <= s.
    """
    rng = np.random.default_rng(seed)
    first = np.full(trials, max_size + 1)
    for t in range(trials):
        batch = x[rng.choice(len(x), max_size, replace=False)]
        for lo in range(0, max_size, 128):
            hi = min(lo + 128, max_size)
            d2 = _sq_distances(batch[lo:hi], batch[:hi])                   # rows j, columns i
            earlier = np.arange(hi)[None, :] < np.arange(lo, hi)[:, None]  # pairs i < j only
            hit = np.any((d2 < threshold**2) & earlier, axis=1)
            if hit.any():
                first[t] = lo + int(np.argmax(hit)) + 1
                break
    return first


def duplicate_probability(samples, batch_size, threshold, trials=50, seed=0):
    """Fraction of ``trials`` random batches of ``batch_size`` samples (without replacement)
    that hold at least one pair closer than ``threshold`` (Euclidean, pixels or features)."""
    x = _as_samples(samples, "samples", min_rows=2)
    _check_int(batch_size, "batch_size", minimum=2, maximum=len(x))
    threshold = _check_positive(threshold, "threshold")
    _check_int(trials, "trials")
    return float(np.mean(_first_duplicate(x, threshold, batch_size, trials, seed) <= batch_size))


def birthday_support(samples, threshold, batch_sizes=None, trials=50, seed=0):
    """Birthday-paradox estimate of the support size of a generator (Arora & Zhang 2017).

    If a distribution is uniform on N items, a batch of s ~ sqrt(N) draws holds a duplicate
    with probability about 1/2 (1 - exp(-s^2 / 2N)); read backwards, the smallest s with
    P(duplicate) >= 1/2 estimates the support as N ~ s^2. This is an order-of-magnitude
    estimate: real generators are far from uniform, and "duplicate" depends on ``threshold``,
    which must be calibrated (``calibrate_duplicate_threshold``: a low percentile of
    nearest-neighbour distances between distinct real images). The paper inspected the
    closest pairs by eye. ``samples`` should be many more than the batch sizes.

    ``batch_sizes`` (increasing integers >= 2) default to 2, 3, ..., min(n, 1000).
    Returns ``BirthdaySupport(batch_size, support, batch_sizes, probabilities)``.
    """
    x = _as_samples(samples, "samples", min_rows=2)
    threshold = _check_positive(threshold, "threshold")
    _check_int(trials, "trials")
    if batch_sizes is None:
        batch_sizes = np.arange(2, min(len(x), 1000) + 1)
    sizes = np.asarray(batch_sizes)
    if (sizes.ndim != 1 or sizes.size == 0 or not np.issubdtype(sizes.dtype, np.integer)
            or sizes.min() < 2 or sizes.max() > len(x) or np.any(np.diff(sizes) <= 0)):
        raise ValueError(f"batch_sizes must be increasing integers in 2..{len(x)} (the number of "
                         f"samples), got {batch_sizes!r}.")
    first = _first_duplicate(x, threshold, int(sizes.max()), trials, seed)
    probabilities = np.array([np.mean(first <= s) for s in sizes])       # P(duplicate in s samples)
    reached = np.flatnonzero(probabilities >= 0.5)
    if reached.size == 0:
        return BirthdaySupport(None, float("nan"), sizes, probabilities)
    s = int(sizes[reached[0]])
    return BirthdaySupport(s, float(s**2), sizes, probabilities)         # N ~ s^2


def calibrate_duplicate_threshold(real, quantile=0.01, max_samples=2000, seed=0):
    """A duplicate threshold from real data: the ``quantile`` of the distances from each real
    sample to its nearest distinct real neighbour (exact copies are skipped).

    With quantile 0.01, two generated images count as duplicates when they are closer than
    all but 1% of real images are to their nearest neighbour. At most ``max_samples`` real
    samples (a fixed random subset) are used.
    """
    x = _as_samples(real, "real", min_rows=2)
    if not 0.0 <= quantile <= 1.0:
        raise ValueError(f"quantile must be in [0, 1], got {quantile!r}.")
    _check_int(max_samples, "max_samples", minimum=2)
    if len(x) > max_samples:
        x = x[np.random.default_rng(seed).choice(len(x), max_samples, replace=False)]
    sq_norms = (x * x).sum(axis=1)
    nearest = np.empty(len(x))
    for rows in _blocks(len(x)):
        d2 = _sq_distances(x[rows], x)
        same = d2 <= 1e-9 * (1.0 + sq_norms[rows, None] + sq_norms[None, :])   # itself, or a copy
        nearest[rows] = np.sqrt(np.where(same, np.inf, d2).min(axis=1))
    nearest = nearest[np.isfinite(nearest)]
    if nearest.size == 0:
        raise ValueError("real holds no two distinct samples: cannot calibrate a threshold.")
    return float(np.quantile(nearest, quantile))


# ---------------------------------------------------------------------------------------
# 9. Parzen window log-likelihood (and why not to trust it)
# ---------------------------------------------------------------------------------------

def parzen_log_likelihood(samples, test, sigma):
    """Mean log-likelihood of ``test`` under a Gaussian kernel density on ``samples``.

    p(x) = 1/n sum_i N(x; s_i, sigma^2 I), so
    log p(x) = logsumexp_i(-||x - s_i||^2 / (2 sigma^2)) - log n - (d/2) log(2 pi sigma^2).

    The GAN paper (Goodfellow et al. 2014) reported this on MNIST. Theis, van den Oord &
    Bethge (2016) showed why not to: the estimate converges very slowly with the number of
    samples even in low dimension, does not track the true log-likelihood, can rank models
    wrongly, and a "model" that just returns k-means centroids of the training data beats
    real models on it. Shown in 08 as a cautionary tale. ``sigma`` comes from a validation
    set (``select_parzen_sigma``), never from the test set.
    """
    s = _as_samples(samples, "samples", min_rows=1)
    t = _as_samples(test, "test", min_rows=1)
    _check_same_dim(s, t, "samples", "test")
    sigma = _check_positive(sigma, "sigma")
    n, d = s.shape
    log_norm = -math.log(n) - 0.5 * d * math.log(2.0 * math.pi * sigma**2)   # log(1/n) + Gaussian constant
    total = 0.0
    for rows in _blocks(len(t)):
        d2 = _sq_distances(t[rows], s)
        total += (special.logsumexp(-d2 / (2.0 * sigma**2), axis=1) + log_norm).sum()
    return float(total / len(t))


class SigmaSearch(NamedTuple):
    """The best sigma, and the validation log-likelihood for each candidate."""
    sigma: float
    log_likelihoods: np.ndarray


def select_parzen_sigma(samples, validation, sigmas):
    """Pick the Parzen bandwidth with the highest mean log-likelihood on ``validation``."""
    sigmas = np.atleast_1d(np.asarray(sigmas, dtype="float64"))
    if sigmas.ndim != 1 or sigmas.size == 0:
        raise ValueError(f"sigmas must be a non-empty 1-D list of bandwidths, got {sigmas!r}.")
    scores = np.array([parzen_log_likelihood(samples, validation, s) for s in sigmas])
    return SigmaSearch(float(sigmas[np.argmax(scores)]), scores)


# ---------------------------------------------------------------------------------------
# 10. Image quality: reconstruction error, PSNR, SSIM, sharpness
# ---------------------------------------------------------------------------------------

def reconstruction_error(x, x_hat):
    """Per-image mean squared error mean_pixels (x - x_hat)^2, shape (n,)."""
    x, x_hat = _check_pair(x, x_hat, "x", "x_hat")
    return ((x - x_hat) ** 2).mean(axis=(1, 2))


def psnr(a, b, data_range=1.0):
    """Per-image peak signal-to-noise ratio 10 log10(data_range^2 / MSE) in dB; inf if a == b."""
    a, b = _check_pair(a, b, "a", "b")
    data_range = _check_positive(data_range, "data_range")
    mse = ((a - b) ** 2).mean(axis=(1, 2))
    with np.errstate(divide="ignore"):
        return 10.0 * np.log10(data_range**2 / mse)


def ssim(a, b, data_range=1.0, sigma=1.5, truncate=3.5):
    """Per-image structural similarity (Wang et al. 2004), in [-1, 1]; 1 iff a == b.

    Local means, variances and covariance come from a Gaussian window (sigma 1.5, 11x11):

        SSIM = (2 mu_a mu_b + C1)(2 cov_ab + C2) / ((mu_a^2 + mu_b^2 + C1)(var_a + var_b + C2))

    with C1 = (0.01 L)^2, C2 = (0.03 L)^2, L = ``data_range``; the map is averaged over the
    pixels whose window fits inside the image, as scikit-image does.
    """
    a, b = _check_pair(a, b, "a", "b")
    data_range = _check_positive(data_range, "data_range")
    sigma = _check_positive(sigma, "sigma")
    truncate = _check_positive(truncate, "truncate")
    r = int(truncate * sigma + 0.5)                               # the window's half-width: 5
    if 2 * r >= IMAGE_SIDE:
        raise ValueError(f"a Gaussian window of half-width {r} (sigma={sigma}, truncate={truncate}) "
                         f"does not fit in a {IMAGE_SIDE}x{IMAGE_SIDE} image.")
    c1, c2 = (0.01 * data_range) ** 2, (0.03 * data_range) ** 2

    def window(z):                                                # Gaussian-weighted local mean
        return ndimage.gaussian_filter(z, sigma, truncate=truncate, mode="reflect", axes=(1, 2))

    mu_a, mu_b = window(a), window(b)
    var_a = window(a * a) - mu_a * mu_a                           # E[a^2] - E[a]^2
    var_b = window(b * b) - mu_b * mu_b
    cov = window(a * b) - mu_a * mu_b                             # E[ab] - E[a] E[b]
    s = ((2 * mu_a * mu_b + c1) * (2 * cov + c2)) / ((mu_a**2 + mu_b**2 + c1) * (var_a + var_b + c2))
    return s[:, r:IMAGE_SIDE - r, r:IMAGE_SIDE - r].mean(axis=(1, 2))


def sharpness(images):
    """Per-image mean gradient magnitude mean |grad x| (central differences), shape (n,).

    0 for a flat image; blurry samples (a VAE's) score lower than crisp digits.
    """
    x = _as_images(images, "images")
    gy, gx = np.gradient(x, axis=(1, 2))                          # d/drow, d/dcol
    return np.sqrt(gx**2 + gy**2).mean(axis=(1, 2))               # |grad| = sqrt(gx^2 + gy^2)


# ---------------------------------------------------------------------------------------
# 11. Low-level image statistics, real vs fake
# ---------------------------------------------------------------------------------------

def per_image_statistics(images):
    """Dict of per-image statistics, each of shape (n,): ``mean_intensity``, ``ink_fraction``
    (pixels > 0.5), ``mid_fraction`` (pixels in (0.1, 0.9): grey, a sign of blur) and
    ``sharpness`` (mean gradient magnitude)."""
    x = _as_images(images, "images")
    lo, hi = MID_RANGE
    return {
        "mean_intensity": x.mean(axis=(1, 2)),
        "ink_fraction": (x > INK_THRESHOLD).mean(axis=(1, 2)),
        "mid_fraction": ((x > lo) & (x < hi)).mean(axis=(1, 2)),
        "sharpness": sharpness(x),
    }


def image_statistics(images):
    """The set averages of ``per_image_statistics``: one float per statistic."""
    return {name: float(values.mean()) for name, values in per_image_statistics(images).items()}


def stroke_statistics(images):
    """What a grid of digit samples shows, as numbers (06a_pixelcnn, 06b, 07_gan): the set
    averages of ``ink`` (share of pixels above ``INK_THRESHOLD``, as ``ink_fraction``),
    ``pieces`` (separate 8-connected pieces of ink per image) and ``largest piece`` (share of
    an image's ink in its largest piece; 1 for a single connected stroke, 0 for an empty image)."""
    if np.ndim(images) < 2 or len(images) == 0:
        raise ValueError(f"stroke_statistics() expects a non-empty batch of images, got shape {np.shape(images)}.")
    ink = _as_images(images, "images") > INK_THRESHOLD
    pieces, largest = [], []
    for image in ink:
        labels, count = ndimage.label(image, structure=np.ones((3, 3)))
        sizes = np.bincount(labels.ravel())[1:]
        pieces.append(count)
        largest.append(sizes.max() / sizes.sum() if count else 0.0)
    return {"ink": float(ink.mean()), "pieces": float(np.mean(pieces)), "largest piece": float(np.mean(largest))}


def statistics_distance(real, fake):
    """For each statistic of ``per_image_statistics``, the 1-D Wasserstein distance between
    its distribution over real images and over fake ones (same units as the statistic;
    0 when the histograms match). One number per statistic, for a table."""
    real_stats, fake_stats = per_image_statistics(real), per_image_statistics(fake)
    return {name: float(stats.wasserstein_distance(real_stats[name], fake_stats[name]))
            for name in STATISTICS}


# ---------------------------------------------------------------------------------------
# 12. Classification performance: train on synthetic, test on real (Ravuri & Vinyals 2019)
# ---------------------------------------------------------------------------------------

class ClassificationPerformance(NamedTuple):
    """accuracy: on the real test images; class_accuracy (10,): per real class (nan for a class
    absent from the test set); model: the classifier trained on the samples."""
    accuracy: float
    class_accuracy: np.ndarray
    model: keras.Model


def classification_performance(x_fake, y_fake, x_real_test, y_real_test, epochs, batch_size=128,
                               learning_rate=2e-3, seed=0, verbose=0):
    """Classification Accuracy Score (CAS, Ravuri & Vinyals 2019): train on synthetic, test on real.

    A conditional generator is asked for images of given labels (``x_fake``, ``y_fake``);
    the course classifier (``train_classifier``: ``build_classifier`` with Adam) is trained on
    these pairs only, then scored on real test digits. High accuracy needs samples that are
    recognisable as their label *and* varied enough to stand in for the real class; a
    generator that ignores its label, or draws one image per class, trains a poor classifier
    even when its IS looks good. Compare with the same classifier trained on as many real
    digits (``train_classifier``). A few epochs on a few thousand samples keep this at
    seconds on a laptop CPU.

    Returns ``ClassificationPerformance(accuracy, class_accuracy, model)``.
    """
    x_real = _as_model_input(x_real_test, "x_real_test")           # checked before any training
    y_real = _as_labels(y_real_test, len(x_real), "y_real_test")
    x_fake = _as_model_input(x_fake, "x_fake")
    _as_labels(y_fake, len(x_fake), "y_fake")
    _check_int(epochs, "epochs")
    model, _ = train_classifier(x_fake, y_fake, epochs, batch_size=batch_size, seed=seed,
                                verbose=verbose, learning_rate=learning_rate)
    _, probs = classifier_outputs(model, x_real)
    correct = probs.argmax(axis=1) == y_real
    class_accuracy = np.array([correct[y_real == c].mean() if np.any(y_real == c) else np.nan
                               for c in range(NUM_CLASSES)])
    return ClassificationPerformance(float(correct.mean()), class_accuracy, model)


# ---------------------------------------------------------------------------------------
# 13. Image retrieval: each sample's nearest real image (Wang et al. 2016)
# ---------------------------------------------------------------------------------------

class ImageRetrieval(NamedTuple):
    """For each query (sample): the index of its nearest reference (real) point and the
    Euclidean distance to it; their median and mean over the queries."""
    indices: np.ndarray
    distances: np.ndarray
    median_distance: float
    mean_distance: float


def image_retrieval(fake_features, real_features):
    """Image retrieval between samples and real images (Wang et al. 2016, "Ensembles of
    generative adversarial networks"): each sample's nearest real image.

    For every sample, the real point closest to it in Euclidean distance, in pixel space
    (images are flattened) or in a feature space (n, d); ties go to the lower index.
    Showing each sample beside its nearest real image tells a new digit from a memorised
    one: an exact copy of a training image has distance 0 (computed as ||y - x|| of the
    pair, not by the expansion used for the search, so a copy gives exactly 0). A sample
    set whose distances are far below the real images' distances to their own nearest
    neighbours (``calibrate_duplicate_threshold``) is copying rather than generating.

    Swap the arguments for the other direction: ``image_retrieval(real, fake)`` gives each
    real test image its nearest sample, and the real images with the largest distances are
    the ones the model does not make (comparing two models on these is a retrieval test).

    Distances are computed in blocks (memory O(512 n_real)). Returns
    ``ImageRetrieval(indices, distances, median_distance, mean_distance)``.
    """
    queries = _as_samples(fake_features, "fake_features", min_rows=1)
    reference = _as_samples(real_features, "real_features", min_rows=1)
    _check_same_dim(queries, reference, "fake_features", "real_features")
    indices = np.empty(len(queries), dtype="int64")
    for rows in _blocks(len(queries)):
        indices[rows] = _sq_distances(queries[rows], reference).argmin(axis=1)   # first of ties
    distances = np.linalg.norm(queries - reference[indices], axis=1)             # ||y - x_nearest||
    return ImageRetrieval(indices, distances, float(np.median(distances)), float(distances.mean()))


# ---------------------------------------------------------------------------------------
# 14. The slides' 24 GAN evaluation measures, and where each lives in course_lib
# ---------------------------------------------------------------------------------------

class SlideMetric(NamedTuple):
    """One measure of the slide: its number and name there, the course_lib function that
    computes it ("module.name", or None), and a one-line note."""
    number: int
    name: str
    function: str | None
    note: str


SLIDE_METRICS = (
    SlideMetric(1, "Average Log-likelihood", "pixelcnn.log_prob",
                "exact for the PixelCNN (pixelcnn.log_prob), an IWAE lower bound for the VAE "
                "(vae.iwae_log_likelihood); a GAN has none: GAN papers used a Parzen window on samples "
                "(metrics.parzen_log_likelihood), which Theis et al. (2016) showed misleading"),
    SlideMetric(2, "Coverage Metric", "metrics.coverage",
                "the slide's (Tolstikhin et al. 2017) is the real mass inside the model's 95% KDE region; "
                "we use the k-NN coverage/density of Naeem et al. (2020): no density estimate"),
    SlideMetric(3, "Inception Score (IS)", "metrics.inception_score",
                "exp E KL(p(y|x) || p(y)): confident and class-balanced samples; needs our MNIST classifier"),
    SlideMetric(4, "Modified Inception Score (m-IS)", "metrics.modified_inception_score",
                "IS-like KL between the predictions p(y|x) of samples of one class (1 = all identical); with a "
                "confident classifier it reflects ambiguous images more than visual variety"),
    SlideMetric(5, "Mode Score", "metrics.mode_score",
                "IS times exp(-KL(p(y) || p*(y))): also asks for the training labels' class balance"),
    SlideMetric(6, "AM Score", "metrics.am_score",
                "KL(p*(y) || p(y)) + E H(p(y|x)), lower is better: training class balance plus confidence"),
    SlideMetric(7, "Frechet Inception Distance (FID)", "metrics.fid",
                "Frechet distance of Gaussians fitted to classifier features, real vs fake; biased for small n"),
    SlideMetric(8, "Maximum Mean Discrepancy (MMD)", "metrics.mmd2",
                "unbiased kernel two-sample distance on features; metrics.kid is its polynomial-kernel KID"),
    SlideMetric(9, "The Wasserstein Critic", "wgan.critic_estimate",
                "E f(real) - E f(G(z)) of a WGAN-GP critic on held-out digits (07b): a diagnostic of one WGAN's "
                "training whose scale is set by its critic, itself training; it does not compare models"),
    SlideMetric(10, "Birthday Paradox Test", "metrics.birthday_support",
                "support size ~ s^2 from the batch size s at which near-duplicates appear; threshold from "
                "metrics.calibrate_duplicate_threshold"),
    SlideMetric(11, "Classifier Two-sample Tests (C2ST)", "metrics.c2st",
                "held-out accuracy of a real-vs-fake classifier (0.5 = indistinguishable) and its p-value"),
    SlideMetric(12, "Classification Performance", "metrics.classification_performance",
                "train on a conditional model's labelled samples, test on real digits (CAS); needs labels"),
    SlideMetric(13, "Boundary Distortion", "gan_measures.boundary_distortion",
                "a linear classifier for one pair of classes trained on labelled samples, another on real data, "
                "both scored on real test data: the accuracy drop (Santurkar et al. 2018); logistic regression "
                "by default (or a linear SVM), one pair at a time: 08b takes the pair its MNIST classifier "
                "confuses most on validation digits, and labels unconditional models' images by that classifier "
                "(the paper: the class each sample was generated for)"),
    SlideMetric(14, "Number of Statistically-Different Bins (NDB)", "metrics.ndb",
                "k-means bins on real data, two-proportion z-test per bin: dropped or over-full modes"),
    SlideMetric(15, "Image Retrieval Performance", "metrics.image_retrieval",
                "nearest real image of each sample (or nearest sample of each real image): memorisation, "
                "missed images"),
    SlideMetric(16, "Generative Adversarial Metric (GAM)", "gan_measures.gam",
                "two GANs swap discriminators: the ratio of each D's error rate on the other's samples names a "
                "winner, if the two Ds' error rates on real test data agree (Im et al. 2016); 'agree' is here a "
                "two-proportion z-test at 5%; 08b pairs the GAN with the conditional GAN, whose D is given the "
                "MNIST classifier's labels for the GAN's samples (the WGAN-GP's critic gives no probabilities)"),
    SlideMetric(17, "Tournament Win Rate and Skill Rating", "gan_measures.tournament_win_rate",
                "discriminators judge one real and one generated sample per match, the generator winning unless "
                "D gets both right (rule 'both': the course's reading, not checked against the paper): win rates, "
                "and Glicko-2 ratings in gan_measures.tournament_skill_ratings (Olsson et al. 2018), by default in "
                "periods in which every generator-discriminator pair plays a few matches (at most 15 games per "
                "player on average); 08b's players are final models, not training snapshots, and it prints the "
                "ratings' RDs and checks whether they order the models as the win rates do"),
    SlideMetric(18, "Normalized Relative Discriminative Score (NRDS)", "gan_measures.nrds",
                "one classifier (an MLP on inputs standardised, sd floored at 0.1) trained on real data against "
                "all models' samples at once: each model's share of the area under its held-out samples' "
                "mean-output curve over the epochs (Zhang et al. 2018)"),
    SlideMetric(19, "Adversarial Accuracy and Adversarial Divergence", "gan_measures.adversarial_accuracy_divergence",
                "classifiers trained on labelled samples (C_g) and on real data (C_r), compared on held-out real "
                "test data: C_g's accuracy and KL(C_r || C_g) (the course's reading of the direction, not checked "
                "against the paper), p_g clipped at 1e-6 (Yang et al. 2017); logistic "
                "regression (or our CNN); read against gan_measures.adversarial_baseline, a second real sample"),
    SlideMetric(20, "Geometry Score", "gan_measures.geometry_score",
                "persistent homology (gudhi) of witness complexes on random landmarks: the squared distance "
                "between two sets' mean relative living times of 1-D holes (Khrulkov & Oseledets 2018); the "
                "reference code's 64 landmarks, drawn without replacement, GS_TRIALS landmark sets in 08b (20 in the "
                "lecture profile, 10 in the present one) instead of 1,000"),
    SlideMetric(21, "Reconstruction Error", "metrics.reconstruction_error",
                "per-image MSE; for a GAN the measure first inverts the generator (optimise z so that G(z) "
                "fits a test image), which is not built; direct for autoencoders and VAEs"),
    SlideMetric(22, "Image Quality Measures (SSIM, PSNR and Sharpness Difference)", "metrics.ssim",
                "paired measures: metrics.ssim, metrics.psnr; metrics.sharpness per image, its real-vs-fake "
                "difference in metrics.statistics_distance"),
    SlideMetric(23, "Low-level Image Statistics", "metrics.image_statistics",
                "mean intensity, ink, grey (blur) and sharpness per set; metrics.statistics_distance compares "
                "their distributions"),
    SlideMetric(24, "Precision, Recall and F1 Score", "metrics.precision_recall",
                "the measure in the list is Lucic et al. (2018)'s, on a synthetic manifold; we use the k-NN "
                "precision (quality) and recall (coverage) of Kynkaanniemi et al. (2019), with F1 as a property"),
)


def slide_metrics_table():
    """``SLIDE_METRICS`` as rows for ``course_lib.plotting.print_table``: one dict per measure
    with keys "no", "name", "implemented by" (None prints as "-") and "note"."""
    return [{"no": m.number, "name": m.name, "implemented by": m.function, "note": m.note}
            for m in SLIDE_METRICS]
