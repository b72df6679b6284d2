"""Tests for course_lib.metrics (08a_evaluation, 08b_evaluation): each measure against a closed form, a
brute-force definition or a toy case whose answer is known, plus every bad-input path."""

import importlib
import itertools
import math
import re

import keras
import numpy as np
import pytest
from scipy import ndimage, special, stats

from course_lib.data import load_mnist, scale
from course_lib.metrics import (
    BOOTSTRAP_MEASURES,
    C2ST,
    NDB,
    SLIDE_METRICS,
    AMScore,
    BirthdaySupport,
    Bootstrap,
    ClassificationPerformance,
    Coverage,
    ImageRetrieval,
    MeanStd,
    PrecisionRecall,
    am_score,
    birthday_support,
    bootstrap_scores,
    build_classifier,
    c2st,
    calibrate_duplicate_threshold,
    classification_performance,
    classifier_outputs,
    coverage,
    duplicate_probability,
    feature_statistics,
    fid,
    frechet_distance,
    image_retrieval,
    image_statistics,
    inception_score,
    kid,
    median_heuristic,
    mmd2,
    mode_score,
    modified_inception_score,
    ndb,
    parzen_log_likelihood,
    per_image_statistics,
    precision_recall,
    psnr,
    reconstruction_error,
    select_parzen_sigma,
    sharpness,
    slide_metrics_table,
    ssim,
    statistics_distance,
    train_classifier,
)


def gaussian(n, d, shift=0.0, scale_=1.0, seed=0):
    return shift + scale_ * np.random.default_rng(seed).normal(size=(n, d))


@pytest.fixture(scope="module")
def digits():
    """200 MNIST test digits in [0, 1], (200, 28, 28), and their labels."""
    _, (x_test, y_test) = load_mnist()
    return scale(x_test[:200]).astype("float64"), y_test[:200]


# ----------------------------------------------------------------------------- input layouts

def test_the_three_image_layouts_give_the_same_answers(digits):
    x, _ = digits
    y = np.clip(x + 0.1 * np.random.default_rng(0).normal(size=x.shape), 0, 1)
    for layout in (lambda z: z[..., None], lambda z: z.reshape(len(z), 784)):
        np.testing.assert_array_equal(psnr(layout(x), layout(y)), psnr(x, y))
        np.testing.assert_array_equal(ssim(layout(x), y), ssim(x, y))
        np.testing.assert_array_equal(sharpness(layout(x)), sharpness(x))
    # pixel-space measures flatten images of either layout the same way
    assert parzen_log_likelihood(x[:50], y[:20], 0.3) == parzen_log_likelihood(
        x[:50, :, :, None], y[:20].reshape(20, 784), 0.3)


@pytest.mark.parametrize("images, match", [
    (np.zeros((5, 27, 27)), r"shape \(n, 28, 28\)"),
    (np.zeros((5, 28, 28, 3)), r"got shape \(5, 28, 28, 3\)"),
    (np.zeros((5, 783)), r"got shape \(5, 783\)"),
    (np.zeros((28, 28)), r"add a batch axis"),
    (np.zeros((0, 28, 28)), "empty"),
    (np.full((2, 28, 28), 1.5), r"values in \[0, 1\].*range 1.5"),
    (np.full((2, 784), -0.1), r"values in \[0, 1\]"),
    (np.full((2, 28, 28), 255, dtype="uint8"), r"values in \[0, 1\].*scale"),
    (np.full((2, 28, 28), np.nan), "NaN"),
])
def test_bad_images_are_rejected(images, match):
    with pytest.raises(ValueError, match=match):
        sharpness(images)
    with pytest.raises(ValueError, match=match):
        ssim(images, images)


def test_image_pairs_must_match():
    with pytest.raises(ValueError, match="same number of images, got 3 and 4"):
        psnr(np.zeros((3, 28, 28)), np.zeros((4, 784)))
    with pytest.raises(ValueError, match="x_hat"):
        reconstruction_error(np.zeros((3, 28, 28)), np.zeros((3, 28, 29)))


# ----------------------------------------------------------------------------- classifier

def test_classifier_shapes_and_named_layers():
    model = build_classifier()
    assert model.input_shape == (None, 28, 28, 1)
    assert model.output_shape == (None, 10)
    assert model.get_layer("features").output.shape == (None, 128)
    assert model.get_layer("logits").activation is keras.activations.linear


def test_classifier_outputs_are_features_and_softmax_probabilities(digits):
    x, _ = digits
    model = build_classifier()
    features, probs = classifier_outputs(model, x[:7].reshape(7, 784), batch_size=4)
    assert features.shape == (7, 128) and probs.shape == (7, 10)
    assert features.dtype == probs.dtype == np.float64
    np.testing.assert_allclose(probs.sum(axis=1), 1.0, atol=1e-12)
    logits = keras.ops.convert_to_numpy(model(x[:7, :, :, None], training=False)).astype("float64")
    np.testing.assert_allclose(probs, np.exp(logits) / np.exp(logits).sum(1, keepdims=True), atol=1e-6)
    assert np.all(features >= 0)                                   # relu
    aux = model._course_lib_outputs                                # built once, reused
    again, _ = classifier_outputs(model, x[:7, :, :, None])
    assert model._course_lib_outputs is aux
    np.testing.assert_allclose(again, features, rtol=1e-5, atol=1e-6)
    assert len(model.layers) == len(build_classifier().layers)     # the cache is not a sub-layer


def test_train_classifier_compiles_and_fits(digits):
    x, y = digits
    model, history = train_classifier(x[:64], y[:64], epochs=1, batch_size=32,
                                      validation_data=(x[64:96, :, :, None], y[64:96]), verbose=0)
    assert set(history.history) == {"loss", "accuracy", "val_loss", "val_accuracy"}
    assert model.loss.get_config()["from_logits"] is True
    _, probs = classifier_outputs(model, x[:5])
    np.testing.assert_allclose(probs.sum(axis=1), 1.0, atol=1e-12)


def test_classifier_inputs_are_validated(digits):
    x, y = digits
    plain = keras.Sequential([keras.Input((28, 28, 1)), keras.layers.Flatten(), keras.layers.Dense(10)])
    with pytest.raises(ValueError, match="'features' and 'logits'"):
        classifier_outputs(plain, x[:2])
    with pytest.raises(ValueError, match="one label per image"):
        train_classifier(x[:10], y[:9], epochs=1)
    with pytest.raises(ValueError, match=r"in 0..9"):
        train_classifier(x[:2], np.array([0, 10]), epochs=1)
    with pytest.raises(ValueError, match="integer labels"):
        train_classifier(x[:2], np.array([0.0, 1.0]), epochs=1)
    with pytest.raises(ValueError, match="epochs"):
        train_classifier(x[:2], y[:2], epochs=0)
    with pytest.raises(ValueError, match="validation_data"):
        train_classifier(x[:2], y[:2], epochs=1, validation_data=x[:2])
    with pytest.raises(ValueError, match=r"values in \[0, 1\]"):
        train_classifier(x[:2] * 255, y[:2], epochs=1)


# ----------------------------------------------------------------------------- FID

def test_frechet_distance_closed_forms():
    # 1-D: (m1 - m2)^2 + (s1 - s2)^2
    assert frechet_distance([1.0], [[4.0]], [-2.0], [[9.0]]) == pytest.approx(9.0 + 1.0, rel=1e-12)
    # diagonal covariances: sqrtm is elementwise, d^2 = |dmu|^2 + sum (s1 - s2)^2
    mu1, mu2 = np.array([0.0, 1.0, 2.0]), np.array([1.0, 1.0, 0.0])
    s1, s2 = np.array([1.0, 2.0, 0.5]), np.array([3.0, 2.0, 1.5])
    expected = 1.0 + 0.0 + 4.0 + (1 - 3) ** 2 + 0.0 + (0.5 - 1.5) ** 2
    assert frechet_distance(mu1, np.diag(s1**2), mu2, np.diag(s2**2)) == pytest.approx(expected, rel=1e-12)
    # shared eigenvectors (rotated diagonals): the same formula on the eigenvalues
    q, _ = np.linalg.qr(np.random.default_rng(0).normal(size=(3, 3)))
    got = frechet_distance(mu1, q @ np.diag(s1**2) @ q.T, mu2, q @ np.diag(s2**2) @ q.T)
    assert got == pytest.approx(expected, rel=1e-9)


def test_frechet_distance_general_covariances_against_symmetric_form():
    # Tr (S1 S2)^(1/2) = Tr (S1^(1/2) S2 S1^(1/2))^(1/2) = sum of sqrt of its eigenvalues
    rng = np.random.default_rng(1)
    a, b = rng.normal(size=(4, 4)), rng.normal(size=(4, 4))
    s1, s2 = a @ a.T + 0.1 * np.eye(4), b @ b.T + 0.1 * np.eye(4)
    mu1, mu2 = rng.normal(size=4), rng.normal(size=4)
    w, v = np.linalg.eigh(s1)
    root1 = v @ np.diag(np.sqrt(w)) @ v.T
    tr_covmean = np.sqrt(np.linalg.eigvalsh(root1 @ s2 @ root1)).sum()
    expected = np.sum((mu1 - mu2) ** 2) + np.trace(s1) + np.trace(s2) - 2 * tr_covmean
    assert frechet_distance(mu1, s1, mu2, s2) == pytest.approx(expected, rel=1e-9)
    assert frechet_distance(mu1, s1, mu1, s1) == pytest.approx(0.0, abs=1e-9)


def test_fid_of_samples_matches_the_true_parameters():
    a = gaussian(20_000, 4, seed=0)
    b = gaussian(20_000, 4, shift=np.array([1.0, 0.0, 0.0, 0.5]), scale_=np.array([2.0, 1.0, 1.0, 0.5]), seed=1)
    expected = 1.0 + 0.25 + (1 - 2) ** 2 + (1 - 0.5) ** 2      # |dmu|^2 + sum (s1 - s2)^2 = 2.5
    assert fid(a, b) == pytest.approx(expected, abs=0.15)                # sampling sd ~ 0.05
    assert fid(a, a) == pytest.approx(0.0, abs=1e-6)
    mu, sigma = feature_statistics(b)
    np.testing.assert_allclose(mu, [1.0, 0.0, 0.0, 0.5], atol=0.05)
    np.testing.assert_allclose(np.diag(sigma), [4.0, 1.0, 1.0, 0.25], rtol=0.05)


def test_fid_with_fewer_samples_than_dimensions_is_finite():
    a, b = gaussian(5, 10, seed=0), gaussian(5, 10, shift=3.0, seed=1)
    assert fid(a, a) == pytest.approx(0.0, abs=1e-4)
    assert np.isfinite(fid(a, b)) and fid(a, b) > 10 * 9.0 * 0.5


def test_fid_arguments_are_validated():
    with pytest.raises(ValueError, match="same feature dimension, got 3 and 4"):
        fid(np.zeros((5, 3)), np.zeros((5, 4)))
    with pytest.raises(ValueError, match="2-D array of features"):
        fid(np.zeros(5), np.zeros(5))
    with pytest.raises(ValueError, match="at least 2 rows"):
        fid(np.zeros((1, 3)), np.zeros((5, 3)))
    with pytest.raises(ValueError, match="NaN"):
        fid(np.full((3, 2), np.nan), np.zeros((3, 2)))
    with pytest.raises(ValueError, match=r"\(2, 2\) covariance"):
        frechet_distance([0.0, 0.0], np.eye(3), [0.0, 0.0], np.eye(2))
    with pytest.raises(ValueError, match="same length"):
        frechet_distance([0.0, 0.0], np.eye(2), [0.0], np.eye(1))


# ----------------------------------------------------------------------------- inception score

def test_inception_score_extremes():
    one_hot = np.tile(np.eye(10), (3, 1))                      # confident, all classes equally often
    assert inception_score(one_hot) == (pytest.approx(10.0, rel=1e-12), 0.0)
    same = np.tile([0.7, 0.2, 0.1] + [0.0] * 7, (30, 1))      # every image gets the same p(y|x)
    assert inception_score(same).mean == pytest.approx(1.0, rel=1e-12)
    uniform = np.full((30, 10), 0.1)                           # no confidence at all
    assert inception_score(uniform).mean == pytest.approx(1.0, rel=1e-12)
    assert inception_score(np.tile(np.eye(10)[:5], (4, 1))).mean == pytest.approx(5.0)  # 5 classes only


def test_inception_score_worked_example_and_splits():
    # half the images [1, 0], half [1/2, 1/2]: p(y) = [3/4, 1/4]
    probs = np.array([[1.0, 0.0]] * 4 + [[0.5, 0.5]] * 4)
    kl_a = math.log(1 / 0.75)
    kl_b = 0.5 * math.log(0.5 / 0.75) + 0.5 * math.log(0.5 / 0.25)
    score = inception_score(probs)
    assert isinstance(score, MeanStd)
    assert score.mean == pytest.approx(math.exp((kl_a + kl_b) / 2), rel=1e-12) and score.std == 0.0
    # two splits, [1, 0] x 4 (IS 1) and [1/2, 1/2] x 4 (IS 1): mean 1, std 0
    assert inception_score(probs, splits=2) == (pytest.approx(1.0), pytest.approx(0.0))
    # splits of different scores: one-hot (10) then identical rows (1)
    mixed = np.vstack([np.eye(10), np.tile(np.eye(10)[0], (10, 1))])
    assert inception_score(mixed, splits=2) == (pytest.approx(5.5), pytest.approx(4.5))


@pytest.mark.parametrize("probs, splits, match", [
    (np.full((4, 10), 0.11), 1, r"sum to 1.*sums to 1.1"),
    (np.array([[1.5, -0.5], [0.5, 0.5]]), 1, "negative"),
    (np.full(10, 0.1), 1, "2-D array of class probabilities"),
    (np.full((4, 10), 0.1), 5, "splits"),
    (np.full((4, 10), 0.1), 0, "splits"),
])
def test_inception_score_rejects_bad_input(probs, splits, match):
    with pytest.raises(ValueError, match=match):
        inception_score(probs, splits=splits)


# ----------------------------------------------------------------------------- m-IS, Mode Score, AM Score

def _kl(p, q):
    return sum(a * math.log(a / b) for a, b in zip(p, q) if a > 0)


def test_modified_inception_score_worked_example():
    a, b = [0.7, 0.2, 0.1], [0.5, 0.3, 0.2]                        # predicted class 0
    c, d, e = [0.1, 0.8, 0.1], [0.2, 0.6, 0.2], [0.3, 0.5, 0.2]    # predicted class 1
    f = [0.1, 0.2, 0.7]                                            # class 2 alone: no pair, skipped
    probs = np.array([a, b, c, d, e, f])
    # each x_i: mean KL to the other samples of its class; then the mean over the 5 paired x_i
    class_1 = sum(_kl(p, q) for p, q in itertools.permutations([c, d, e], 2)) / 2
    expected = math.exp((_kl(a, b) + _kl(b, a) + class_1) / 5)
    assert modified_inception_score(probs) == pytest.approx(expected, rel=1e-12)
    assert modified_inception_score(probs, labels_pred=np.array([0, 0, 1, 1, 1, 2])) == pytest.approx(
        expected, rel=1e-12)
    # labels from the generator instead: all six in one class, each x_i averages over 5 others
    one_class = sum(_kl(p, q) for p, q in itertools.permutations([a, b, c, d, e, f], 2)) / 5 / 6
    assert modified_inception_score(probs, labels_pred=np.zeros(6, dtype=int)) == pytest.approx(
        math.exp(one_class), rel=1e-12)


def test_modified_inception_score_sees_one_image_per_class_that_is_misses():
    rows = np.full((10, 10), 0.001) + 0.99 * np.eye(10)              # a confident p(y|x) per class
    collapsed = np.tile(rows, (5, 1))                                # 5 copies of each class's image
    entropy = -(0.991 * math.log(0.991) + 9 * 0.001 * math.log(0.001))
    assert inception_score(collapsed).mean == pytest.approx(10 * math.exp(-entropy))   # 9.3 of 10
    assert modified_inception_score(collapsed) == 1.0               # m-IS: no diversity in a class
    varied = collapsed + np.random.default_rng(0).uniform(0, 0.02, size=collapsed.shape)
    varied /= varied.sum(axis=1, keepdims=True)
    assert modified_inception_score(varied) > 1.0
    # a zero where another sample of the class has mass: KL = inf, m-IS = inf
    assert modified_inception_score(np.array([[1.0, 0.0], [0.6, 0.4]])) == math.inf


def test_modified_inception_score_blocks_agree_with_the_broadcast_definition():
    rng = np.random.default_rng(0)
    probs = rng.dirichlet([0.5, 0.5, 0.5], size=700)
    labels = (rng.random(700) < 0.85).astype(int)                  # class 1: ~600 rows, > one block
    kl = special.rel_entr(probs[:, None, :], probs[None, :, :]).sum(axis=2)   # KL(p_i || p_j)
    same = labels[:, None] == labels[None, :]
    inner = (kl * same).sum(axis=1) / (same.sum(axis=1) - 1)        # mean over j != i of i's class
    expected = math.exp(inner.mean())
    assert modified_inception_score(probs, labels_pred=labels) == pytest.approx(expected, rel=1e-9)


@pytest.mark.parametrize("probs, labels, match", [
    (np.eye(3), None, "at least two samples"),
    (np.full((4, 3), 0.3), None, r"sum to 1.*sums to 0.9"),
    (np.full((4, 3), 1 / 3), np.array([0, 1, 2]), "one label per image"),
    (np.full((4, 3), 1 / 3), np.array([0, 1, 2, 3]), r"in 0..2"),
    (np.full((4, 3), 1 / 3), np.array([0.0, 1.0, 1.0, 0.0]), "integer labels"),
])
def test_modified_inception_score_rejects_bad_input(probs, labels, match):
    with pytest.raises(ValueError, match=match):
        modified_inception_score(probs, labels_pred=labels)


def test_mode_score_closed_forms():
    one_hot = np.tile(np.eye(10), (3, 1))                          # IS = 10, p(y) uniform
    uniform = np.full(10, 0.1)
    assert mode_score(one_hot, uniform) == pytest.approx(10.0, rel=1e-12)
    collapsed = np.tile(np.eye(10)[0], (30, 1))                    # IS = 1, KL(e_0 || uniform) = log 10
    assert mode_score(collapsed, uniform) == pytest.approx(0.1, rel=1e-12)
    skewed = np.array([0.5] + [0.5 / 9] * 9)                       # training labels half zeros
    kl = 0.1 * math.log(0.1 / 0.5) + 0.9 * math.log(0.1 / (0.5 / 9))
    assert mode_score(one_hot, skewed) == pytest.approx(10.0 * math.exp(-kl), rel=1e-12)
    # training labels given as the classifier's p(y|x) on training images: their mean is p*(y)
    rows = np.random.default_rng(0).dirichlet(np.ones(10), size=40)
    assert mode_score(one_hot, rows) == pytest.approx(mode_score(one_hot, rows.mean(axis=0)), rel=1e-12)


def test_mode_score_as_often_printed_is_just_the_inception_score():
    # E_x KL(p(y|x) || p*) - KL(p(y) || p*) does not depend on p*: that is why mode_score puts
    # p(y) in the first KL. This checks the algebra, and that our version does depend on p*.
    rng = np.random.default_rng(1)
    probs = rng.dirichlet(np.full(10, 0.3), size=50)
    p_y = probs.mean(axis=0)
    for p_star in (np.full(10, 0.1), rng.dirichlet(np.ones(10))):
        printed = special.rel_entr(probs, p_star).sum(axis=1).mean() - special.rel_entr(p_y, p_star).sum()
        assert math.exp(printed) == pytest.approx(inception_score(probs).mean, rel=1e-12)
        assert mode_score(probs, p_star) == pytest.approx(
            inception_score(probs).mean * math.exp(-special.rel_entr(p_y, p_star).sum()), rel=1e-12)
    assert mode_score(probs, p_y) == pytest.approx(inception_score(probs).mean, rel=1e-12)


def test_am_score_closed_forms():
    uniform = np.full(10, 0.1)
    perfect = am_score(np.tile(np.eye(10), (3, 1)), uniform)       # confident, training balance
    assert isinstance(perfect, AMScore) and perfect == (0.0, 0.0, 0.0)
    unsure = am_score(np.full((20, 10), 0.1), uniform)             # right balance, no confidence
    assert unsure == (pytest.approx(math.log(10)), pytest.approx(0.0, abs=1e-12), pytest.approx(math.log(10)))
    dropped = am_score(np.tile(np.eye(10)[0], (20, 1)), uniform)   # one class only: modes dropped
    assert dropped.score == math.inf and dropped.mean_entropy == 0.0
    # two classes, samples [1, 0] x 3 and [1/2, 1/2] x 1: p(y) = [7/8, 1/8], training [1/2, 1/2]
    probs = np.array([[1.0, 0.0]] * 3 + [[0.5, 0.5]])
    label_kl = 0.5 * math.log(0.5 / (7 / 8)) + 0.5 * math.log(0.5 / (1 / 8))
    mean_entropy = math.log(2) / 4
    got = am_score(probs, [0.5, 0.5])
    assert got.label_kl == pytest.approx(label_kl, rel=1e-12)
    assert got.mean_entropy == pytest.approx(mean_entropy, rel=1e-12)
    assert got.score == pytest.approx(label_kl + mean_entropy, rel=1e-12)
    assert am_score(probs, [[0.9, 0.1], [0.1, 0.9]]) == got         # rows averaged to [1/2, 1/2]


@pytest.mark.parametrize("train, match", [
    (np.full(9, 1 / 9), "9 classes but probs has 10"),
    (np.full(10, 0.2), r"sum to 1.*sums to 2"),
    (np.array([1.5, -0.5] + [0.0] * 8), "negative"),
    (np.full((2, 2, 10), 0.1), r"shape \(10,\) or rows"),
    (np.full((3, 9), 1 / 9), "9 classes"),
])
def test_mode_and_am_scores_check_the_training_label_distribution(train, match):
    probs = np.tile(np.eye(10), (2, 1))
    with pytest.raises(ValueError, match=match):
        mode_score(probs, train)
    with pytest.raises(ValueError, match=match):
        am_score(probs, train)


# ----------------------------------------------------------------------------- MMD and KID

def _mmd2_by_definition(x, y, k):
    m, n = len(x), len(y)
    xx = sum(k(x[i], x[j]) for i, j in itertools.permutations(range(m), 2)) / (m * (m - 1))
    yy = sum(k(y[i], y[j]) for i, j in itertools.permutations(range(n), 2)) / (n * (n - 1))
    xy = sum(k(a, b) for a in x for b in y) / (m * n)
    return xx + yy - 2 * xy


def test_mmd2_equals_the_unbiased_estimator_written_out():
    x, y = gaussian(6, 3, seed=0), gaussian(5, 3, shift=0.5, seed=1)
    h = 1.3
    rbf = lambda a, b: math.exp(-np.sum((a - b) ** 2) / (2 * h**2))      # noqa: E731
    poly = lambda a, b: (a @ b / 3 + 1) ** 3                             # noqa: E731
    assert mmd2(x, y, bandwidth=h) == pytest.approx(_mmd2_by_definition(x, y, rbf), rel=1e-10)
    assert mmd2(x, y, kernel="polynomial") == pytest.approx(_mmd2_by_definition(x, y, poly), rel=1e-10)
    # bandwidth=None is the median of the pooled pairwise distances
    z = np.vstack([x, y])
    median = np.median([np.linalg.norm(a - b) for a, b in itertools.combinations(z, 2)])
    assert median_heuristic(x, y) == pytest.approx(median, rel=1e-10)
    assert mmd2(x, y) == mmd2(x, y, bandwidth=median_heuristic(x, y))


def test_mmd2_matches_its_gaussian_closed_form():
    # x ~ N(0, I), y ~ N(delta, I) in d dims, rbf bandwidth h:
    # MMD^2 = 2 c (1 - exp(-|delta|^2 / (2 (h^2 + 2)))),  c = (h^2 / (h^2 + 2))^(d/2)
    d, h, delta = 2, 1.0, np.array([1.0, 0.0])
    c = (h**2 / (h**2 + 2)) ** (d / 2)
    expected = 2 * c * (1 - math.exp(-1.0 / (2 * (h**2 + 2))))            # 0.1023
    got = mmd2(gaussian(1500, d, seed=0), gaussian(1500, d, shift=delta, seed=1), bandwidth=h)
    assert got == pytest.approx(expected, abs=0.025)                   # estimator's sd ~ 0.007


def test_mmd2_is_zero_for_equal_distributions_and_grows_with_a_shift():
    x = gaussian(300, 5, seed=0)
    same = mmd2(x, gaussian(300, 5, seed=1))
    assert abs(same) < 0.01
    values = [mmd2(x, gaussian(300, 5, shift=s, seed=1), bandwidth=2.0) for s in (0.0, 0.25, 0.5, 1.0, 2.0)]
    assert abs(values[0]) < 0.01 and np.all(np.diff(values) > 0)


def test_kid_is_zero_for_equal_distributions_and_grows_with_a_shift():
    x = gaussian(400, 8, seed=0)
    same = kid(x, gaussian(400, 8, seed=1), num_subsets=5, subset_size=200)
    assert isinstance(same, MeanStd) and abs(same.mean) < 0.05 and same.std > 0
    means = [kid(x, gaussian(400, 8, shift=s, seed=1), num_subsets=5, subset_size=200).mean
             for s in (0.0, 0.5, 1.0, 2.0)]
    assert np.all(np.diff(means) > 0)
    # one subset as large as both sets: all the data, i.e. plain polynomial MMD^2
    y = gaussian(50, 8, shift=0.3, seed=2)
    assert kid(x[:50], y, num_subsets=1, subset_size=1000) == (
        pytest.approx(mmd2(x[:50], y, kernel="polynomial"), rel=1e-9), 0.0)


def test_mmd_and_kid_arguments_are_validated():
    x = gaussian(10, 3)
    with pytest.raises(ValueError, match="kernel must be one of"):
        mmd2(x, x, kernel="laplace")
    with pytest.raises(ValueError, match="bandwidth must be a positive number"):
        mmd2(x, x, bandwidth=0.0)
    with pytest.raises(ValueError, match="rbf kernel only"):
        mmd2(x, x, kernel="polynomial", bandwidth=1.0)
    with pytest.raises(ValueError, match="same feature dimension"):
        mmd2(x, gaussian(10, 4))
    with pytest.raises(ValueError, match="at least 2 rows"):
        mmd2(x[:1], x)
    with pytest.raises(ValueError, match="median distance between the points is 0"):
        mmd2(np.zeros((4, 3)), np.zeros((4, 3)))
    with pytest.raises(ValueError, match="num_subsets"):
        kid(x, x, num_subsets=0)
    with pytest.raises(ValueError, match="subset_size"):
        kid(x, x, subset_size=1)
    with pytest.raises(ValueError, match="same feature dimension"):
        kid(x, gaussian(10, 4))


# ----------------------------------------------------------------------------- precision / recall

def uniform(n, low, high, seed):
    return np.random.default_rng(seed).uniform(low, high, size=(n, len(low)))


def test_precision_recall_on_half_overlapping_squares():
    real = uniform(1000, [0.0, 0.0], [1.0, 1.0], seed=0)
    fake = uniform(1000, [0.5, 0.0], [1.5, 1.0], seed=1)      # half of each square is shared
    pr = precision_recall(real, fake, k=3)
    assert isinstance(pr, PrecisionRecall)
    assert pr.precision == pytest.approx(0.5, abs=0.06)
    assert pr.recall == pytest.approx(0.5, abs=0.06)
    assert pr.f1 == pytest.approx(2 * pr.precision * pr.recall / (pr.precision + pr.recall))


def test_precision_recall_sees_mode_dropping_and_the_extremes():
    real = uniform(1000, [0.0, 0.0], [1.0, 1.0], seed=0)
    dropped = uniform(1000, [0.0, 0.0], [0.5, 1.0], seed=1)    # good samples, half the modes
    pr = precision_recall(real, dropped, k=3)
    assert pr.precision > 0.95 and pr.recall == pytest.approx(0.5, abs=0.06)
    assert precision_recall(real, real, k=3) == (1.0, 1.0)
    assert precision_recall(real, real, k=3).f1 == 1.0
    far = precision_recall(real, real + 10.0, k=3)
    assert far == (0.0, 0.0) and far.f1 == 0.0


def test_knn_radii_agree_with_scikit_learn():
    from sklearn.neighbors import NearestNeighbors

    from course_lib.metrics import _knn_sq_radii

    x = gaussian(700, 5, seed=3)                               # > one block of 512 rows
    dist, _ = NearestNeighbors(n_neighbors=4).fit(x).kneighbors(x)  # column 0 is the point itself
    np.testing.assert_allclose(np.sqrt(_knn_sq_radii(x, 3)), dist[:, 3], rtol=1e-9)


def test_precision_recall_arguments_are_validated():
    x = gaussian(10, 2)
    with pytest.raises(ValueError, match="k must be an integer >= 1"):
        precision_recall(x, x, k=0)
    with pytest.raises(ValueError, match="<= 9"):
        precision_recall(x, x, k=10)
    with pytest.raises(ValueError, match="same feature dimension"):
        precision_recall(x, gaussian(10, 3), k=3)


# ----------------------------------------------------------------------------- coverage and density

def integer_points(n, d=2, seed=0):
    """Integer coordinates: every squared distance is exact in float64, so the points on a
    ball's boundary (the k-th neighbour) are counted the same by any formula."""
    return np.random.default_rng(seed).integers(0, 10**6, size=(n, d)).astype("float64")


def _coverage_by_definition(real, fake, k):
    d_rr = ((real[:, None, :] - real[None, :, :]) ** 2).sum(axis=2)
    radii = np.sort(d_rr, axis=1)[:, k]                            # column 0: the point itself
    inside = ((real[:, None, :] - fake[None, :, :]) ** 2).sum(axis=2) <= radii[:, None]   # y_j in B_i
    return inside.any(axis=1).mean(), inside.sum() / (k * len(fake))


def test_coverage_of_the_real_set_itself():
    real = integer_points(200)
    for k in (1, 3, 5):
        result = coverage(real, real.copy(), k=k)
        assert isinstance(result, Coverage)
        assert result.coverage == 1.0                               # every ball holds its centre
        assert result.density == pytest.approx((k + 1) / k, rel=1e-12)   # centre + k neighbours


def test_coverage_of_a_collapse_onto_one_real_point():
    # all fakes on one real point x_j cover x_j and each x_i that has x_j among its k nearest
    real, k = integer_points(60, seed=1), 3
    d_rr = ((real[:, None, :] - real[None, :, :]) ** 2).sum(axis=2)
    sorted_d = np.sort(d_rr, axis=1)
    assert np.all(sorted_d[:, k] < sorted_d[:, k + 1])              # no ties at the k-th neighbour
    in_ball = d_rr <= sorted_d[:, k][:, None]                       # in_ball[i, j]: x_j in B_i
    covers = []
    for j in range(len(real)):
        got = coverage(real, np.repeat(real[[j]], 4, axis=0), k=k)
        neighbours_of = in_ball[:, j].sum()                         # x_j itself + its k-NN in-degree
        assert got.coverage == pytest.approx(neighbours_of / 60, rel=1e-12)
        assert got.density == pytest.approx(neighbours_of / k, rel=1e-12)
        covers.append(got.coverage)
    # the k-NN graph has 60 k edges, so the in-degrees average k: mean coverage (1 + k) / n
    assert np.mean(covers) == pytest.approx((1 + k) / 60, rel=1e-12)
    # an isolated outlier is nobody's neighbour: exactly 1/n, density 1/k
    lonely = np.vstack([real, [[1e8, 1e8]]])
    assert coverage(lonely, np.repeat(lonely[[-1]], 5, axis=0), k=k) == (pytest.approx(1 / 61), pytest.approx(1 / k))


def test_coverage_agrees_with_its_definition_and_ignores_outlying_fakes():
    real, fake = integer_points(600, seed=2), integer_points(300, seed=3)    # > one block of 512
    expected_cov, expected_den = _coverage_by_definition(real, fake, 5)
    got = coverage(real, fake, k=5)
    assert got.coverage == pytest.approx(expected_cov, rel=1e-12)
    assert got.density == pytest.approx(expected_den, rel=1e-12)
    assert coverage(real, real + 1e7, k=5) == (0.0, 0.0)           # far away: nothing covered
    # same distribution, n = m: x_i is uncovered iff its k nearest among the other 2n - 1
    # points are all real, probability prod_t (n - 1 - t) / (2n - 1 - t) ~ 2^-k (Naeem et al.)
    square = uniform(1000, [0.0, 0.0], [1.0, 1.0], seed=0)
    same = coverage(square, uniform(1000, [0.0, 0.0], [1.0, 1.0], seed=1), k=5)
    expected = 1 - math.prod((999 - t) / (1999 - t) for t in range(5))   # 0.969
    assert same.coverage == pytest.approx(expected, abs=0.02) and same.density == pytest.approx(1.0, abs=0.1)
    # half the square dropped: coverage ~ 1/2 (plus a boundary strip), density stays ~ 1
    half = coverage(square, uniform(1000, [0.0, 0.0], [0.5, 1.0], seed=1), k=5)
    assert half.coverage == pytest.approx(0.5, abs=0.06) and half.density == pytest.approx(1.0, abs=0.25)
    # one far fake outlier inflates recall (its ball swallows the data) but not coverage
    few = uniform(50, [0.0, 0.0], [0.2, 0.2], seed=2)
    with_outlier = np.vstack([few, [[5.0, 5.0]]])
    assert precision_recall(square, with_outlier, k=5).recall > 0.9
    assert coverage(square, with_outlier, k=5).coverage < 0.2


def test_coverage_arguments_are_validated():
    x = gaussian(10, 2)
    with pytest.raises(ValueError, match="k must be an integer >= 1 and <= 9"):
        coverage(x, x, k=10)
    with pytest.raises(ValueError, match="k must be an integer"):
        coverage(x, x, k=0)
    with pytest.raises(ValueError, match="same feature dimension"):
        coverage(x, gaussian(10, 3))
    with pytest.raises(ValueError, match="at least 2 rows"):
        coverage(x[:1], x, k=1)
    with pytest.raises(ValueError, match="2-D array of features"):
        coverage(x, np.zeros(2))


# ----------------------------------------------------------------------------- C2ST

def test_c2st_is_at_chance_for_equal_distributions_and_perfect_for_separated_ones():
    real = gaussian(400, 5, seed=0)
    same = c2st(real, gaussian(400, 5, seed=1))
    assert isinstance(same, C2ST) and same.n_test == 400
    assert same.accuracy == pytest.approx(0.5, abs=0.07) and same.p_value > 0.01
    apart = c2st(real, gaussian(400, 5, shift=5.0, seed=1))
    assert apart.accuracy >= 0.99 and apart.p_value < 1e-80
    # p-value: P(Binomial(400, 1/2) >= correct)
    assert apart.p_value == pytest.approx(stats.binom.sf(round(apart.accuracy * 400) - 1, 400, 0.5))


def test_c2st_knn_sees_a_collapsed_spread_that_a_linear_classifier_misses():
    real, collapsed = gaussian(400, 2, seed=0), gaussian(400, 2, scale_=0.1, seed=1)
    assert c2st(real, collapsed, classifier="logistic").accuracy < 0.65
    assert c2st(real, collapsed, classifier="knn").accuracy > 0.85


def test_c2st_balances_the_sets_and_accepts_a_scikit_learn_classifier():
    from sklearn.tree import DecisionTreeClassifier

    result = c2st(gaussian(300, 3, seed=0), gaussian(51, 3, shift=4.0, seed=1),
                  classifier=DecisionTreeClassifier(random_state=0))
    assert result.n_test == 2 * (51 - 25) and result.accuracy > 0.9


def test_c2st_arguments_are_validated():
    x = gaussian(10, 2)
    with pytest.raises(ValueError, match="classifier must be"):
        c2st(x, x, classifier="svm")
    with pytest.raises(ValueError, match="same feature dimension"):
        c2st(x, gaussian(10, 3))
    with pytest.raises(ValueError, match="at least 2 rows"):
        c2st(x, x[:1])


# ----------------------------------------------------------------------------- bootstrap intervals

def _two_models(d=4):
    real = gaussian(120, d, seed=0)
    return real, {"same": gaussian(100, d, seed=1), "shifted": gaussian(90, d, shift=0.7, seed=2)}


def test_bootstrap_estimates_are_the_measures_on_the_full_sets():
    real, fakes = _two_models()
    boot = bootstrap_scores(real, fakes, num_resamples=20, k=3, k_coverage=4)
    assert isinstance(boot, Bootstrap) and boot.level == 0.95
    assert boot.z == pytest.approx(1.959964, abs=1e-6)
    for name, fake in fakes.items():
        pr = precision_recall(real, fake, k=3)
        assert boot.estimates["FID"][name] == pytest.approx(fid(real, fake), rel=1e-6)
        kid_full = mmd2(real, fake, kernel="polynomial")       # not kid's average over subsets
        assert boot.estimates["KID"][name] == pytest.approx(kid_full, rel=1e-9, abs=1e-12)
        assert (boot.estimates["precision"][name], boot.estimates["recall"][name]) == (pr.precision, pr.recall)
        assert boot.estimates["coverage"][name] == coverage(real, fake, k=4).coverage      # exactly
        for measure in BOOTSTRAP_MEASURES:
            assert boot.resamples[measure][name].shape == (20,)


def test_bootstrap_fid_and_kid_replicates_are_the_measures_on_the_materialised_resamples():
    from course_lib.metrics import _bootstrap_values, _resample_indices

    real, fakes = _two_models()
    real_idx, fake_idx = _resample_indices(len(real), {n: len(f) for n, f in fakes.items()}, 5, seed=3)
    assert np.array_equal(real_idx[0], np.arange(len(real)))                   # row 0: the full set
    values = _bootstrap_values(real, fakes, real_idx, fake_idx, ("FID", "KID"))
    for name, fake in fakes.items():
        for r in range(1, 6):
            x, y = real[real_idx[r]], fake[fake_idx[name][r]]                    # copies and all
            assert values["FID"][name][r] == pytest.approx(fid(x, y), rel=1e-6)
            assert values["KID"][name][r] == pytest.approx(mmd2(x, y, kernel="polynomial"), rel=1e-9, abs=1e-12)


def _shares_on_distinct_rows(real, fake, real_rows, fake_rows, k, k_coverage):
    """precision, recall, coverage of one resample: k-NN balls on the distinct rows, the
    indicators weighted by how often each row was drawn."""
    from course_lib.metrics import _inside, _knn_sq_radii

    (ur, cr), (uf, cf) = np.unique(real_rows, return_counts=True), np.unique(fake_rows, return_counts=True)
    precision = cf @ _inside(fake[uf], real[ur], _knn_sq_radii(real[ur], k)) / len(fake_rows)
    recall = cr @ _inside(real[ur], fake[uf], _knn_sq_radii(fake[uf], k)) / len(real_rows)
    balls = ((real[ur, None, :] - fake[None, uf, :]) ** 2).sum(2) <= _knn_sq_radii(real[ur], k_coverage)[:, None]
    return precision, recall, cr @ balls.any(axis=1) / len(real_rows)


def test_bootstrap_knn_replicates_use_the_distinct_rows_weighted_by_their_copies():
    from course_lib.metrics import _bootstrap_values, _resample_indices

    real = integer_points(90, d=3, seed=4)                        # exact distances: exact equality
    fakes = {"a": integer_points(70, d=3, seed=5), "b": 3e5 + integer_points(110, d=3, seed=6)}
    real_idx, fake_idx = _resample_indices(90, {"a": 70, "b": 110}, 8, seed=1)
    values = _bootstrap_values(real, fakes, real_idx, fake_idx, ("precision", "recall", "coverage"), 3, 5)
    for name, fake in fakes.items():
        for r in range(9):
            expected = _shares_on_distinct_rows(real, fake, real_idx[r], fake_idx[name][r], 3, 5)
            got = tuple(values[m][name][r] for m in ("precision", "recall", "coverage"))
            assert got == pytest.approx(expected, rel=1e-12)


def test_resample_radii_from_short_lists_and_the_fallback_agree_with_the_distinct_rows():
    from course_lib.metrics import (
        _ball_hits,
        _block_sq_distances,
        _candidate_pairs,
        _knn_sq_radii,
        _nearest_lists,
        _resample_sq_radii,
    )

    x, queries = integer_points(80, d=3, seed=7), integer_points(50, d=3, seed=8)
    drawn = np.random.default_rng(0).random(80) < 0.6
    d2, d_qx = _block_sq_distances(x, x), _block_sq_distances(queries, x)
    brute = ((queries[:, None, :] - x[None, drawn, :]) ** 2).sum(2) <= _knn_sq_radii(x[drawn], 3)[None, :]
    for length in (4, 6, 16, 80):                                # 4: almost every radius falls back
        nearest = _nearest_lists(d2, length)
        (sq_radii,) = _resample_sq_radii(d2, nearest, drawn, (3,), "x")
        np.testing.assert_array_equal(sq_radii[drawn], _knn_sq_radii(x[drawn], 3))
        assert np.all(sq_radii[~drawn] == -np.inf)                # rows not drawn carry no ball
        bound, everyone = nearest[0][:, -1], np.ones(50, dtype=bool)
        pairs = _candidate_pairs(d_qx, bound)
        np.testing.assert_array_equal(_ball_hits(d_qx, pairs, sq_radii, bound, everyone), brute.any(axis=1))
        per_ball = _ball_hits(d_qx, pairs, sq_radii, bound, everyone, per_ball=True)
        np.testing.assert_array_equal(per_ball[drawn], brute.any(axis=0))


def test_bootstrap_pairs_the_models_through_one_real_resample():
    from course_lib.metrics import _resample_indices

    # little real data, much fake data: most of the variation comes from the shared real set
    real = gaussian(60, 3, seed=0)
    fakes = {"a": gaussian(300, 3, shift=0.5, seed=1), "b": gaussian(300, 3, shift=0.6, seed=2)}
    boot = bootstrap_scores(real, fakes, num_resamples=100, measures=("FID", "precision"))
    for measure in ("FID", "precision"):
        paired = np.std(boot.resamples[measure]["a"] - boot.resamples[measure]["b"], ddof=1)
        assert paired < 0.7 * math.hypot(boot.sd(measure, "a"), boot.sd(measure, "b"))
        estimate, lo, hi = boot.difference(measure, "a", "b")
        assert hi - lo == pytest.approx(2 * boot.z * paired, rel=1e-12)
        assert estimate == pytest.approx(boot.estimates[measure]["a"] - boot.estimates[measure]["b"], rel=1e-12)
    # the real stream is one, each model has its own: a model's replicates do not depend on the others
    alone = bootstrap_scores(real, {"a": fakes["a"]}, num_resamples=100, measures=("FID", "precision"))
    for measure in ("FID", "precision"):
        np.testing.assert_array_equal(alone.resamples[measure]["a"], boot.resamples[measure]["a"])
    real_one, _ = _resample_indices(60, {"a": 300}, 4, seed=0)
    real_two, fake_two = _resample_indices(60, {"a": 300, "b": 300}, 4, seed=0)
    np.testing.assert_array_equal(real_one, real_two)
    assert not np.array_equal(fake_two["a"][1:], fake_two["b"][1:])


def test_bootstrap_sd_matches_the_spread_over_independent_samples():
    # two Gaussians, n = 150, d = 2: the bootstrap's sd estimates the sd of the measure over
    # fresh draws of both sets, within a factor 2 (seeded; it sits within 0.7..1.4 here)
    boot = bootstrap_scores(gaussian(150, 2, seed=0), {"f": gaussian(150, 2, shift=0.5, seed=1)},
                            num_resamples=200, measures=("FID", "precision", "recall"))
    fresh = {"FID": [], "precision": [], "recall": []}
    for i in range(100):
        real, fake = gaussian(150, 2, seed=2 + 2 * i), gaussian(150, 2, shift=0.5, seed=3 + 2 * i)
        fresh["FID"].append(fid(real, fake))
        pr = precision_recall(real, fake, k=3)
        fresh["precision"].append(pr.precision)
        fresh["recall"].append(pr.recall)
    for measure, values in fresh.items():
        assert 0.5 < boot.sd(measure, "f") / np.std(values, ddof=1) < 2.0, measure
        lo, hi = boot.interval(measure, "f")
        assert lo <= boot.estimates[measure]["f"] <= hi and lo < hi
        if measure == "FID" or 0.0 < lo and hi < 1.0:                 # normal, symmetric unless cut at 0 or 1
            assert (lo + hi) / 2 == pytest.approx(boot.estimates[measure]["f"], rel=1e-12)
        else:
            assert 0.0 <= lo and hi <= 1.0


def test_bootstrap_intervals_of_shares_stay_within_0_and_1():
    # a fake set far from the real one: recall ~ 0, its normal interval would reach below 0
    boot = bootstrap_scores(gaussian(120, 2, seed=0), {"far": gaussian(120, 2, shift=4.0, seed=1)},
                            num_resamples=50, measures=("precision", "recall", "coverage"))
    for measure in ("precision", "recall", "coverage"):
        lo, hi = boot.interval(measure, "far")
        assert 0.0 <= lo <= boot.estimates[measure]["far"] <= hi <= 1.0
    assert boot.interval("recall", "far")[0] == 0.0


def test_bootstrap_ahead_knows_which_way_is_better():
    real = gaussian(150, 3, seed=0)
    fakes = {"good": gaussian(150, 3, seed=1), "far": gaussian(150, 3, shift=3.0, seed=2)}
    boot = bootstrap_scores(real, fakes, num_resamples=50)
    for measure in ("FID", "KID", "precision", "recall", "coverage"):
        assert boot.ahead(measure, "good", "far") and not boot.ahead(measure, "far", "good"), measure
        assert not boot.ahead(measure, "good", "good")
    assert boot.difference("FID", "good", "far")[2] < 0 < boot.difference("precision", "good", "far")[1]
    assert boot.difference("KID", "far", "far") == (0.0, 0.0, 0.0)


def test_bootstrap_is_deterministic_under_a_seed():
    real, fakes = _two_models(d=3)
    first, again = (bootstrap_scores(real, fakes, num_resamples=10, seed=5) for _ in range(2))
    other = bootstrap_scores(real, fakes, num_resamples=10, seed=6)
    for measure in BOOTSTRAP_MEASURES:
        for name in fakes:
            np.testing.assert_array_equal(first.resamples[measure][name], again.resamples[measure][name])
            assert first.estimates[measure][name] == other.estimates[measure][name]
    assert not np.array_equal(first.resamples["FID"]["same"], other.resamples["FID"]["same"])
    only = bootstrap_scores(real, fakes, num_resamples=10, seed=5, measures="KID")
    assert set(only.estimates) == {"KID"}
    np.testing.assert_array_equal(only.resamples["KID"]["same"], first.resamples["KID"]["same"])


_REAL = gaussian(20, 2, seed=0)


@pytest.mark.parametrize("fakes, kwargs, match", [
    ([_REAL], {}, r"^fake_features must be a dict \{model name: features \(n, d\)\}, got list\.$"),
    ({}, {}, r"^fake_features is empty"),
    ({3: _REAL}, {}, r"^fake_features' keys must be model names \(str\), got 3\.$"),
    ({"a": gaussian(20, 3)}, {}, r"real_features and fake_features\['a'\] must have the same feature dimension"),
    ({"a": np.where(_REAL > 1, np.nan, _REAL)}, {}, r"^fake_features\['a'\] holds NaN or inf\.$"),
    ({"a": _REAL[:, 0]}, {}, r"^fake_features\['a'\] must be a 2-D array of features"),
    ({"a": _REAL[:7]}, {}, r"fake_features\['a'\] has 7 rows; with k = 3 the bootstrap needs at least 2 k \+ 2 = 8"),
    ({"a": _REAL}, {"k_coverage": 10}, r"real_features has 20 rows; with k_coverage = 10 .* 2 k_coverage \+ 2 = 22"),
    ({"a": _REAL}, {"num_resamples": 1}, r"^num_resamples must be an integer >= 2, got 1\.$"),
    ({"a": _REAL}, {"num_resamples": 10.0}, r"^num_resamples must be an integer >= 2, got 10\.0\.$"),
    ({"a": _REAL}, {"k": 0}, r"^k must be an integer >= 1, got 0\.$"),
    ({"a": _REAL}, {"seed": -1}, r"^seed must be an integer >= 0, got -1\.$"),
    ({"a": _REAL}, {"level": 1.0}, r"^level must be a confidence level in \(0, 1\), got 1\.0\.$"),
    ({"a": _REAL}, {"level": 95}, r"^level must be a confidence level in \(0, 1\), got 95\.$"),
    ({"a": _REAL}, {"level": float("nan")}, r"^level must be a confidence level in \(0, 1\), got nan\.$"),
    ({"a": _REAL}, {"level": True}, r"^level must be a confidence level"),
    ({"a": _REAL}, {"measures": ("FID", "IS")}, r"^measures must be names from \('FID', .*, got \('FID', 'IS'\)"),
    ({"a": _REAL}, {"measures": ()}, r"^measures must be names from"),
    ({"a": _REAL}, {"measures": None}, r"^measures must be names from"),
])
def test_bootstrap_rejects_bad_input(fakes, kwargs, match):
    with pytest.raises(ValueError, match=match):
        bootstrap_scores(_REAL, fakes, num_resamples=kwargs.pop("num_resamples", 3), **kwargs)


def test_bootstrap_rejects_unknown_measures_and_models():
    boot = bootstrap_scores(_REAL, {"a": _REAL + 1.0, "b": _REAL}, num_resamples=3, measures=("FID", "recall"))
    with pytest.raises(ValueError, match=r"^measure must be one of \('FID', 'recall'\), got 'KID'\.$"):
        boot.interval("KID", "a")
    with pytest.raises(ValueError, match=r"^model must be one of \('a', 'b'\), got 'c'\.$"):
        boot.difference("FID", "a", "c")
    with pytest.raises(ValueError, match=r"^model must be one of"):
        boot.ahead("recall", "z", "a")
    with pytest.raises(ValueError, match=r"^real_features needs at least 2 rows"):
        bootstrap_scores(_REAL[:1], {"a": _REAL}, measures="FID")


# ----------------------------------------------------------------------------- NDB

def blobs(n, centres, seed):
    rng = np.random.default_rng(seed)
    centres = np.asarray(centres, dtype="float64")
    return centres[rng.integers(len(centres), size=n)] + 0.3 * rng.normal(size=(n, centres.shape[1]))


CENTRES = [[0, 0], [5, 0], [0, 5], [5, 5]]


def test_ndb_finds_nothing_for_the_same_distribution():
    real = blobs(2000, CENTRES, seed=0)
    result = ndb(real, blobs(2000, CENTRES, seed=1), num_bins=8)
    assert isinstance(result, NDB) and result.count <= 2
    assert result.fraction == result.count / 8
    np.testing.assert_allclose([result.real_proportions.sum(), result.fake_proportions.sum()], 1.0)
    assert ndb(real, real, num_bins=8).count == 0               # identical sets: same proportions


def test_ndb_flags_the_bins_of_dropped_modes():
    real = blobs(2000, CENTRES, seed=0)
    fake = blobs(2000, CENTRES[:2], seed=1)                     # modes (0, 5) and (5, 5) are gone
    result = ndb(real, fake, num_bins=8)
    in_dropped = result.centroids[:, 1] > 2.5
    assert in_dropped.sum() >= 2
    assert np.all(result.significant[in_dropped]) and np.all(result.fake_proportions[in_dropped] == 0)
    assert result.count == 8                                    # the kept modes are over-full


def test_ndb_on_images_sees_mode_collapse(digits):
    x, y = digits
    real, other = x[:100], x[100:]
    assert ndb(real, other, num_bins=5).count <= 1              # other digits, same distribution
    ones = np.resize(other[y[100:] == 1], (100, 28, 28))        # a generator that only draws "1"s
    collapsed = ndb(real.reshape(100, 784), ones, num_bins=5)
    assert collapsed.count == 5 and np.sort(collapsed.fake_proportions)[-1] == 1.0


def test_ndb_arguments_are_validated():
    x = gaussian(20, 2)
    with pytest.raises(ValueError, match="num_bins"):
        ndb(x, x, num_bins=1)
    with pytest.raises(ValueError, match="at least 50 rows"):
        ndb(x, x, num_bins=50)
    with pytest.raises(ValueError, match="alpha"):
        ndb(x, x, num_bins=3, alpha=1.5)
    with pytest.raises(ValueError, match="same feature dimension"):
        ndb(x, gaussian(20, 3), num_bins=3)


# ----------------------------------------------------------------------------- birthday paradox

def repeated_images(support, copies, seed=0):
    """``support`` distinct random images, each ``copies`` times, shuffled: a generator that
    can make exactly ``support`` images."""
    rng = np.random.default_rng(seed)
    distinct = rng.random((support, 28, 28))
    return distinct[rng.permutation(np.repeat(np.arange(support), copies))]


def test_duplicate_probability_matches_the_exact_birthday_probability():
    support, copies, s = 100, 30, 12
    pool = repeated_images(support, copies)
    # P(no duplicate) drawing s of the N m images without replacement: C(N, s) m^s / C(N m, s)
    p_exact = 1 - math.comb(support, s) * copies**s / math.comb(support * copies, s)   # 0.50
    got = duplicate_probability(pool, s, threshold=1.0, trials=400)
    assert got == pytest.approx(p_exact, abs=3 * math.sqrt(p_exact * (1 - p_exact) / 400))


@pytest.mark.parametrize("support", [50, 400])
def test_birthday_support_recovers_the_support_size(support):
    result = birthday_support(repeated_images(support, 20), threshold=1.0, trials=50)
    assert isinstance(result, BirthdaySupport)
    assert support / 2.5 <= result.support <= 2.5 * support    # s^2 ~ 1.4 N for a uniform support
    assert result.support == result.batch_size**2
    assert result.probabilities[result.batch_sizes == result.batch_size][0] >= 0.5
    assert np.all(np.diff(result.probabilities) >= 0)           # one ordering per trial: monotone


def test_birthday_support_without_duplicates():
    distinct = np.random.default_rng(0).random((200, 28, 28))
    result = birthday_support(distinct, threshold=1.0, batch_sizes=[10, 100, 200], trials=5)
    assert result.batch_size is None and math.isnan(result.support)
    np.testing.assert_array_equal(result.probabilities, 0.0)


def test_calibrated_threshold_is_a_nearest_neighbour_quantile():
    grid = np.arange(30.0)[:, None] * [[1.0, 0.0]] + [[0.0, 0.0]]   # neighbours exactly 1 apart
    assert calibrate_duplicate_threshold(grid, quantile=0.01) == pytest.approx(1.0)
    assert calibrate_duplicate_threshold(np.vstack([grid, grid]), quantile=0.5) == pytest.approx(1.0)
    spread = np.vstack([grid, [[100.0, 0.0]]])                    # one far point: NN distance 71
    assert calibrate_duplicate_threshold(spread, quantile=1.0) == pytest.approx(71.0)


def test_birthday_arguments_are_validated():
    pool = repeated_images(10, 3)
    with pytest.raises(ValueError, match=r"batch_size must be an integer >= 2 and <= 30"):
        duplicate_probability(pool, 31, threshold=1.0)
    with pytest.raises(ValueError, match="threshold must be a positive number"):
        duplicate_probability(pool, 5, threshold=0.0)
    with pytest.raises(ValueError, match="trials"):
        birthday_support(pool, threshold=1.0, trials=0)
    with pytest.raises(ValueError, match="increasing integers"):
        birthday_support(pool, threshold=1.0, batch_sizes=[5, 3])
    with pytest.raises(ValueError, match="increasing integers"):
        birthday_support(pool, threshold=1.0, batch_sizes=[2, 40])
    with pytest.raises(ValueError, match="quantile"):
        calibrate_duplicate_threshold(pool, quantile=2.0)
    with pytest.raises(ValueError, match="no two distinct samples"):
        calibrate_duplicate_threshold(np.zeros((5, 3)))


# ----------------------------------------------------------------------------- Parzen

def test_parzen_with_one_sample_is_a_gaussian_density():
    test = gaussian(20, 3, seed=1)
    expected = stats.multivariate_normal(np.zeros(3), 0.5**2 * np.eye(3)).logpdf(test).mean()
    assert parzen_log_likelihood(np.zeros((1, 3)), test, 0.5) == pytest.approx(expected, rel=1e-12)
    # two samples: log(1/2 N(t; s1) + 1/2 N(t; s2)), far in the tail (log-sum-exp, no underflow)
    t = np.array([[40.0]])
    ref = np.logaddexp(stats.norm.logpdf(40.0, 0.0, 0.1), stats.norm.logpdf(40.0, 1.0, 0.1)) - math.log(2)
    assert parzen_log_likelihood(np.array([[0.0], [1.0]]), t, 0.1) == pytest.approx(ref, rel=1e-12)
    assert np.isfinite(ref) and ref < -7000


def test_parzen_of_a_gaussian_sample_is_the_smoothed_gaussian_log_likelihood():
    # KDE of N(0, 1) with bandwidth h -> N(0, 1 + h^2); E_x~N(0,1) log N(x; 0, 1 + h^2) in closed form
    h = 0.3
    expected = -0.5 * math.log(2 * math.pi * (1 + h**2)) - 1 / (2 * (1 + h**2))
    got = parzen_log_likelihood(gaussian(4000, 1, seed=0), gaussian(2000, 1, seed=1), h)
    assert got == pytest.approx(expected, abs=0.05)


def test_select_parzen_sigma_prefers_the_textbook_bandwidth():
    samples, validation = gaussian(500, 1, seed=0), gaussian(500, 1, seed=1)
    sigmas = [0.01, 0.1, 0.3, 1.0, 3.0]                          # Silverman: 1.06 * 500^(-1/5) = 0.30
    result = select_parzen_sigma(samples, validation, sigmas)
    assert result.sigma == 0.3
    np.testing.assert_allclose(result.log_likelihoods,
                               [parzen_log_likelihood(samples, validation, s) for s in sigmas])


def test_parzen_arguments_are_validated():
    x = gaussian(10, 2)
    with pytest.raises(ValueError, match="sigma must be a positive number"):
        parzen_log_likelihood(x, x, 0.0)
    with pytest.raises(ValueError, match="same feature dimension"):
        parzen_log_likelihood(x, gaussian(10, 3), 1.0)
    with pytest.raises(ValueError, match=r"1-D data\? use x\[:, None\]"):
        parzen_log_likelihood(np.zeros(10), np.zeros(10), 1.0)
    with pytest.raises(ValueError, match="non-empty"):
        select_parzen_sigma(x, x, [])


# ----------------------------------------------------------------------------- image quality

def test_psnr_and_reconstruction_error_closed_forms(digits):
    x, _ = digits
    x = x[:10] * 0.8                                          # room for +0.1 without clipping
    assert np.all(psnr(x, x) == np.inf)
    np.testing.assert_allclose(reconstruction_error(x, x + 0.1), 0.01, rtol=1e-12)
    np.testing.assert_allclose(psnr(x, x + 0.1), 20.0, rtol=1e-12)          # 10 log10(1 / 0.01)
    noisy = np.clip(x + 0.05 * np.random.default_rng(0).normal(size=x.shape), 0, 1)
    mse = ((x - noisy) ** 2).reshape(10, -1).mean(axis=1)
    np.testing.assert_allclose(reconstruction_error(x, noisy), mse, rtol=1e-12)
    np.testing.assert_allclose(psnr(x, noisy), 10 * np.log10(1 / mse), rtol=1e-12)
    np.testing.assert_allclose(psnr(x / 2, noisy / 2, data_range=0.5), 10 * np.log10(0.25 / (mse / 4)))
    with pytest.raises(ValueError, match="data_range"):
        psnr(x, x, data_range=0)


def test_ssim_identity_constants_and_noise(digits):
    x, _ = digits
    x = x[:20]
    assert np.all(ssim(x, x) == 1.0)
    # flat images a, b: variances vanish, SSIM = (2ab + C1) / (a^2 + b^2 + C1)
    c1 = 0.01**2
    got = ssim(np.full((1, 28, 28), 0.2), np.full((1, 28, 28), 0.6))
    assert got[0] == pytest.approx((2 * 0.2 * 0.6 + c1) / (0.2**2 + 0.6**2 + c1), rel=1e-9)
    rng = np.random.default_rng(0)
    scores = [ssim(x, np.clip(x + s * rng.normal(size=x.shape), 0, 1)).mean() for s in (0.05, 0.1, 0.2, 0.4)]
    assert np.all(np.diff(scores) < 0) and scores[0] < 1.0 and scores[-1] > -1.0
    y = np.clip(x + 0.1 * rng.normal(size=x.shape), 0, 1)
    np.testing.assert_allclose(ssim(x, y), ssim(y, x), rtol=1e-12)       # symmetric
    with pytest.raises(ValueError, match="does not fit"):
        ssim(x, x, sigma=4.0)


def test_sharpness_closed_forms_and_blur(digits):
    x, _ = digits
    assert np.all(sharpness(np.full((2, 28, 28), 0.4)) == 0.0)
    ramp = np.tile(np.arange(28.0) / 27, (1, 28, 1))             # x[i, j] = j / 27
    assert sharpness(ramp)[0] == pytest.approx(1 / 27, rel=1e-12)
    blurred = ndimage.gaussian_filter(x[:20], 1.0, axes=(1, 2))
    assert np.all(sharpness(blurred) < sharpness(x[:20]))


def test_image_statistics_closed_forms(digits):
    flat = np.full((3, 28, 28), 0.3)
    assert image_statistics(flat) == {"mean_intensity": pytest.approx(0.3), "ink_fraction": 0.0,
                                      "mid_fraction": 1.0, "sharpness": 0.0}
    checker = (np.indices((28, 28)).sum(axis=0) % 2).astype("float64")[None]
    stats_ = image_statistics(checker)
    assert stats_["mean_intensity"] == 0.5 and stats_["ink_fraction"] == 0.5 and stats_["mid_fraction"] == 0.0
    x, _ = digits
    per = per_image_statistics(x)
    assert set(per) == {"mean_intensity", "ink_fraction", "mid_fraction", "sharpness"}
    assert all(v.shape == (200,) for v in per.values())
    blurred = ndimage.gaussian_filter(x, 1.0, axes=(1, 2))
    assert image_statistics(blurred)["mid_fraction"] > image_statistics(x)["mid_fraction"]


def test_statistics_distance_is_a_wasserstein_distance_per_statistic(digits):
    x, _ = digits
    assert statistics_distance(x[:100], x[:100]) == {name: 0.0 for name in
                                                     ("mean_intensity", "ink_fraction", "mid_fraction", "sharpness")}
    dist = statistics_distance(np.full((4, 28, 28), 0.2), np.full((6, 28, 28), 0.6))
    assert dist["mean_intensity"] == pytest.approx(0.4)        # point masses 0.4 apart
    assert dist["ink_fraction"] == pytest.approx(1.0)          # no ink vs all ink
    assert dist["mid_fraction"] == 0.0 and dist["sharpness"] == 0.0
    blurred = ndimage.gaussian_filter(x[100:], 1.0, axes=(1, 2))
    assert statistics_distance(x[:100], blurred)["sharpness"] > statistics_distance(x[:100], x[100:])["sharpness"]


# ----------------------------------------------------------------------------- image retrieval

def test_image_retrieval_worked_example():
    real = np.array([[0.0, 0.0], [10.0, 0.0]])
    fake = np.array([[1.0, 0.0], [7.0, 0.0], [5.0, 0.0], [10.0, 0.0]])   # the third is halfway
    result = image_retrieval(fake, real)
    assert isinstance(result, ImageRetrieval)
    np.testing.assert_array_equal(result.indices, [0, 1, 0, 1])    # a tie goes to the lower index
    np.testing.assert_array_equal(result.distances, [1.0, 3.0, 5.0, 0.0])
    assert result.median_distance == 2.0 and result.mean_distance == 2.25


def test_image_retrieval_finds_memorised_digits(digits):
    x, _ = digits
    order = np.random.default_rng(0).permutation(100)
    copies = x[order]                                              # a "generator" that copies
    result = image_retrieval(copies, x[:100, :, :, None])
    np.testing.assert_array_equal(result.indices, order)
    assert np.all(result.distances == 0.0) and result.median_distance == 0.0
    novel = image_retrieval(x[100:], x[:100])                      # other digits: no copies
    assert np.all(novel.distances > 0) and novel.median_distance > 3.0
    np.testing.assert_allclose(novel.distances, np.linalg.norm(
        x[100:].reshape(100, -1) - x[:100].reshape(100, -1)[novel.indices], axis=1), rtol=1e-12)


def test_image_retrieval_agrees_with_brute_force_in_both_directions():
    fake, real = gaussian(600, 4, seed=0), gaussian(300, 4, seed=1)    # > one block of 512
    d = np.linalg.norm(fake[:, None, :] - real[None, :, :], axis=2)
    forward = image_retrieval(fake, real)
    np.testing.assert_array_equal(forward.indices, d.argmin(axis=1))
    np.testing.assert_allclose(forward.distances, d.min(axis=1), rtol=1e-12)
    assert forward.median_distance == pytest.approx(np.median(d.min(axis=1)), rel=1e-12)
    backward = image_retrieval(real, fake)                         # each real point's nearest sample
    np.testing.assert_array_equal(backward.indices, d.argmin(axis=0))


def test_image_retrieval_arguments_are_validated():
    with pytest.raises(ValueError, match="same feature dimension, got 784 and 3"):
        image_retrieval(np.zeros((2, 28, 28)), gaussian(5, 3))
    with pytest.raises(ValueError, match=r"1-D data\?"):
        image_retrieval(np.zeros(3), gaussian(5, 3))
    with pytest.raises(ValueError, match="real_features needs at least 1 rows"):
        image_retrieval(gaussian(5, 3), np.zeros((0, 3)))


# ----------------------------------------------------------------------------- classification performance

def stripes(n_per_class, seed):
    """A separable toy "conditional generator": class c is a bright band at rows 4 + 2c,
    on uniform noise; shuffled order."""
    rng = np.random.default_rng(seed)
    y = np.repeat(np.arange(10), n_per_class)
    x = 0.3 * rng.random((len(y), 28, 28))
    for i, c in enumerate(y):
        x[i, 4 + 2 * c: 6 + 2 * c, 4:24] = 1.0
    order = rng.permutation(len(y))
    return x[order], y[order]


def test_classification_performance_tells_matching_labels_from_shuffled_ones():
    x_fake, y_fake = stripes(20, seed=0)
    x_test, y_test = stripes(20, seed=1)
    seen = y_test < 9                                              # no real 9s in this test set
    good = classification_performance(x_fake, y_fake, x_test[seen], y_test[seen], epochs=2, batch_size=32)
    assert isinstance(good, ClassificationPerformance)
    assert good.accuracy >= 0.95 and good.class_accuracy.shape == (10,)
    assert np.isnan(good.class_accuracy[9]) and np.all(np.isfinite(good.class_accuracy[:9]))
    np.testing.assert_allclose(good.class_accuracy[:9].mean(), good.accuracy)   # balanced test set
    _, probs = classifier_outputs(good.model, x_test[seen])
    assert good.accuracy == np.mean(probs.argmax(axis=1) == y_test[seen])
    # a generator whose labels do not match its images trains a classifier at chance (0.1).
    # Each band is learnt as one whole, so the accuracy is about (bands whose label comes out
    # right by luck) / 10, ~ Binomial(10, 1/10) / 10: <= 0.3 but for a 1% tail.
    shuffled = np.random.default_rng(2).permutation(y_fake)
    bad = classification_performance(x_fake, shuffled, x_test, y_test, epochs=2, batch_size=32)
    assert bad.accuracy <= 0.3


def test_classification_performance_checks_inputs_before_training():
    x, y = stripes(1, seed=0)
    with pytest.raises(ValueError, match="y_real_test must have one label per image"):
        classification_performance(x, y, x, y[:5], epochs=1)
    with pytest.raises(ValueError, match="y_fake must be in 0..9"):
        classification_performance(x, y + 1, x, y, epochs=1)
    with pytest.raises(ValueError, match=r"x_fake must have values in \[0, 1\]"):
        classification_performance(x * 2 - 1, y, x, y, epochs=1)
    with pytest.raises(ValueError, match="x_real_test must be a batch of 28x28 images"):
        classification_performance(x, y, x.reshape(10, -1)[:, :700], y, epochs=1)
    with pytest.raises(ValueError, match="epochs must be an integer >= 1"):
        classification_performance(x, y, x, y, epochs=0)


# ----------------------------------------------------------------------------- the slide's 24 measures

SLIDE_NAMES = [
    "Average Log-likelihood", "Coverage Metric", "Inception Score (IS)", "Modified Inception Score (m-IS)",
    "Mode Score", "AM Score", "Frechet Inception Distance (FID)", "Maximum Mean Discrepancy (MMD)",
    "The Wasserstein Critic", "Birthday Paradox Test", "Classifier Two-sample Tests (C2ST)",
    "Classification Performance", "Boundary Distortion", "Number of Statistically-Different Bins (NDB)",
    "Image Retrieval Performance", "Generative Adversarial Metric (GAM)", "Tournament Win Rate and Skill Rating",
    "Normalized Relative Discriminative Score (NRDS)", "Adversarial Accuracy and Adversarial Divergence",
    "Geometry Score", "Reconstruction Error", "Image Quality Measures (SSIM, PSNR and Sharpness Difference)",
    "Low-level Image Statistics", "Precision, Recall and F1 Score",
]


def _resolve(dotted):
    module, name = dotted.split(".")
    return getattr(importlib.import_module(f"course_lib.{module}"), name, None)


def test_slide_metrics_lists_the_24_measures_in_order():
    assert [m.number for m in SLIDE_METRICS] == list(range(1, 25))
    assert [m.name for m in SLIDE_METRICS] == SLIDE_NAMES
    for m in SLIDE_METRICS:
        assert m.note and "\n" not in m.note, m.number
        assert m.function is None or re.fullmatch(r"[a-z_]+\.[a-z_0-9]+", m.function), m.function
    implemented = {m.number for m in SLIDE_METRICS if m.function is not None}
    assert implemented == set(range(1, 25))                       # every measure of the slide has a function
    last_six = {m.number: m.function.split(".")[0] for m in SLIDE_METRICS if m.number in (13, 16, 17, 18, 19, 20)}
    assert last_six == dict.fromkeys((13, 16, 17, 18, 19, 20), "gan_measures"), last_six


def test_slide_metrics_name_only_functions_that_exist():
    for m in SLIDE_METRICS:
        if m.function is not None:
            assert callable(_resolve(m.function)), f"{m.number} {m.name}: {m.function} not found"
        for dotted in re.findall(r"\b(?:metrics|pixelcnn|vae|gan_measures|gan|wgan|plotting)\.[a-z_0-9]+", m.note):
            assert callable(_resolve(dotted)), f"{m.number} {m.name}: note names {dotted}, not found"


def test_slide_metrics_table_prints():
    from course_lib.plotting import format_table

    rows = slide_metrics_table()
    assert len(rows) == 24 and all(list(r) == ["no", "name", "implemented by", "note"] for r in rows)
    assert rows[6] == {"no": 7, "name": "Frechet Inception Distance (FID)", "implemented by": "metrics.fid",
                       "note": SLIDE_METRICS[6].note}
    text = format_table(rows)
    assert len(text.splitlines()) == 2 + 24
    assert "The Wasserstein Critic" in text and "gan_measures.geometry_score" in text
    assert all(r["implemented by"] for r in rows)                 # all 24 implemented: no "-" row


def test_stroke_statistics_counts_ink_and_pieces():
    from course_lib.metrics import stroke_statistics

    one = np.zeros((28, 28))
    one[5:20, 10] = 1.0                        # one stroke, 15 pixels
    two = one.copy()
    two[25, 25] = two[25, 26] = 1.0            # plus a 2-pixel speck
    diag = np.eye(28)                          # diagonal pixels touch at corners: one 8-connected piece
    stats = stroke_statistics(np.stack([one, two, diag, np.zeros((28, 28))]))
    assert stats["pieces"] == pytest.approx((1 + 2 + 1 + 0) / 4)
    assert stats["largest piece"] == pytest.approx((1 + 15 / 17 + 1 + 0) / 4)
    assert stats["ink"] == pytest.approx((15 + 17 + 28) / (4 * 784))
    assert stroke_statistics(one.reshape(1, 784)) == stroke_statistics(one[None])
    with pytest.raises(ValueError, match="non-empty"):
        stroke_statistics(np.zeros((0, 28, 28)))


# ---------------------------------------------------------------------------------------
# Bad arguments get a clear error (the adversarial review)
# ---------------------------------------------------------------------------------------

def test_median_heuristic_rejects_nan_and_1d_input():
    x, y = gaussian(5, 2, seed=0), gaussian(4, 2, seed=1)
    with pytest.raises(ValueError, match=r"^x holds NaN or inf\.$"):
        median_heuristic(np.where(x > 1, np.nan, x), y)                 # used to return NaN
    with pytest.raises(ValueError, match=r"x must be a 2-D array of features.*\(1-D data\? use x\[:, None\]\)"):
        median_heuristic(x[:, 0], y[:, 0])
    with pytest.raises(ValueError, match=r"x and y must have the same feature dimension, got 2 and 3"):
        median_heuristic(x, gaussian(4, 3, seed=1))
    with pytest.raises(ValueError, match=r"y needs at least 1 rows"):
        median_heuristic(x[:1], y[:0])
    with pytest.raises(ValueError, match=r"max_points must be an integer >= 2, got 0\."):
        median_heuristic(x, y, max_points=0)
    assert median_heuristic(x[:1], y[:1]) == pytest.approx(np.linalg.norm(x[0] - y[0]), rel=1e-12)
    assert median_heuristic(x, y, max_points=np.int64(5)) == median_heuristic(x, y, max_points=5)


def test_ssim_rejects_a_truncate_that_is_not_positive():
    a = np.full((1, 28, 28), 0.5)
    for bad in (-1, 0, float("nan")):
        with pytest.raises(ValueError, match=r"^truncate must be a positive number, got .+\.$"):
            ssim(a, a, truncate=bad)
    assert ssim(a, a, truncate=np.float32(3.5))[0] == 1.0
