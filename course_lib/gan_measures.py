"""The six GAN evaluation measures of the slide that ``metrics`` does not build.

``metrics.SLIDE_METRICS`` lists the slides' 24 measures; its rows 13 and 16-20 name this
module's functions, and notebook 08b reports all six for the course's models (its section 3).
This module computes them, each as its paper defines it (the choices a paper leaves open are
stated in each docstring):

- ``gam`` / ``gam_from_probabilities``: the Generative Adversarial Metric (Im et al. 2016):
  two GANs swap discriminators, and the ratio of error rates names a winner;
- ``tournament_win_rate``, ``tournament_skill_ratings`` (with ``glicko2_update``): generators
  and discriminators play matches and are rated like chess players (Olsson et al. 2018);
- ``nrds`` / ``nrds_from_curves``: the Normalized Relative Discriminative Score (Zhang et al.
  2018): one classifier against all models at once, the area under each model's curve;
- ``adversarial_accuracy_divergence`` / ``adversarial_scores`` / ``adversarial_baseline``:
  classifiers trained on real and on generated labelled data, compared on real data (Yang et
  al. 2017, LR-GAN), and the same for a second real sample as the reference
  (``real_classifier`` fits the real-data classifier once, to reuse for many models);
- ``geometry_score``, ``relative_living_times``, ``rlt_from_intervals``: persistent homology
  of witness complexes (Khrulkov & Oseledets 2018); needs the ``gudhi`` package;
- ``boundary_distortion``: a linear classifier for two classes trained on generated data and
  tested on real data (Santurkar, Schmidt & Madry 2018).

Discriminators are callables (a Keras model or any function) mapping a batch of samples to
one number per sample; every function that takes discriminators has a required keyword
``from_logits``: True when those numbers are logits (every discriminator of ``course_lib.gan``
outputs a logit, D(x) = sigmoid(logit)), False when they are already probabilities of "real".
A sample counts as classified "real" when that probability is above 0.5. The ``*_from_*``
functions take those probabilities as arrays. Images are float arrays in [0, 1] of shape
(n, 28, 28), (n, 28, 28, 1) or (n, 784) (pixels outside [0, 1], e.g. uint8 0-255, raise
ValueError), flattened to pixels where a measure works on vectors; features are 2-D float
arrays (n, d).

Results are NamedTuples: their scalar fields are Python floats (GAM also holds the winner as a
str, its validity as a bool and its error counts as ints), their array fields NumPy float64
arrays (but SkillRatings' perfect-record flags, bool arrays). ``discriminator_probabilities``,
``rlt_from_intervals`` and ``relative_living_times`` return float64 arrays,
``tournament_outputs`` a pair of them.
Bad input raises ValueError with a message naming the argument (leaving out the required
``from_logits`` is Python's own TypeError).
"""

import hashlib
import math
import numbers
from typing import NamedTuple

import keras
import numpy as np
from keras import layers
from scipy import special

from course_lib.metrics import (
    NUM_PIXELS,
    _as_images,
    _as_labels,
    _as_samples,
    _check_int,
    _check_positive,
    _check_probs,
    _check_same_dim,
    _sq_distances,
    classifier_outputs,
    train_classifier,
)

REAL_THRESHOLD = 0.5       # D(x) > 0.5: x is classified real
GAM_Z_CRITICAL = 1.96      # |z| < this: the two discriminators' test error rates do not differ (5%, two-sided)
WIN_RULES = ("both", "fake")
GLICKO_SCALE = 173.7178    # Glicko-2's scale: 400 / ln(10)
GLICKO_START = (1500.0, 350.0, 0.06)   # Glickman's unrated player: rating, RD, volatility
GLICKO_VOLATILITY_MAX = GLICKO_START[1] / GLICKO_SCALE   # ~2.015: sigma' is at most an unrated player's phi
GLICKO_MAX_ITERATIONS = 100                # the volatility step's Illinois iteration stops after this many steps
GLICKO_GAMES_PER_PERIOD = 15               # default mean games per player and rating period (Glickman: >= 10-15)
CLASSIFIERS = ("logistic", "svm")
LOGISTIC_C = 1.0           # inverse L2 penalty of the logistic classifiers (scikit-learn's default)
STD_FLOOR = 0.1            # standardisation divides by max(sd, this): a near-constant pixel cannot dominate
PROB_FLOOR = 1e-6          # p_g(y|x) is clipped at this (and renormalised) before the KL
GS_GAMMA_POINTS = 5000     # the reference's gamma = 1/128 * N / 5000
GS_GAMMA_BASE = 1.0 / 128
GUDHI_HINT = "pip install gudhi==3.13.0 (the version requirements.txt pins)"


# ---------------------------------------------------------------------------------------
# Input checks: numbers, probabilities of "real", discriminators, standardisation
# ---------------------------------------------------------------------------------------

def _is_real_number(value):
    return isinstance(value, numbers.Real) and not isinstance(value, bool)


def _positive(value, name):
    """A finite number > 0 -> float; strings, bools, arrays raise ValueError."""
    if not _is_real_number(value):
        raise ValueError(f"{name} must be a positive number, got {value!r}.")
    return _check_positive(value, name)


def _number_array(values, name):
    """A sequence of real numbers -> float64 array; strings or objects raise ValueError."""
    a = np.asarray(values)
    if a.size and a.dtype.kind not in "biuf":
        raise ValueError(f"{name} must hold numbers, got dtype {a.dtype}.")
    return a.astype("float64")


def _floored_standardiser(x):
    """(mean, scale) of training rows x: scale = max(per-dimension sd, STD_FLOOR)."""
    return x.mean(axis=0), np.maximum(x.std(axis=0), STD_FLOOR)


def _as_real_probabilities(p, name, ndim=1):
    """A finite array of probabilities in [0, 1] with ``ndim`` axes (a trailing axis of size 1,
    a Keras (n, 1) output, is dropped), not empty -> float64."""
    p = np.asarray(p, dtype="float64")
    if p.ndim == ndim + 1 and p.shape[-1] == 1:
        p = p[..., 0]
    if p.ndim != ndim:
        raise ValueError(f"{name} must be a {ndim}-D array of probabilities, got shape {p.shape}.")
    if p.size == 0:
        raise ValueError(f"{name} is empty: need at least one probability, got shape {p.shape}.")
    if not np.all(np.isfinite(p)):
        raise ValueError(f"{name} holds NaN or inf.")
    if p.min() < 0.0 or p.max() > 1.0:
        raise ValueError(f"{name} must hold probabilities of 'real' in [0, 1], got range "
                         f"{p.min():.3g}..{p.max():.3g} (logits? pass from_logits=True).")
    return p


def _as_batch(x, name):
    """Any non-empty batch of samples, finite. Image-shaped batches ((n, 28, 28), (n, 28, 28, 1),
    (n, 784), or any 3-D or 4-D array) are checked as images: 28x28, values in [0, 1]."""
    x = np.asarray(x)
    if x.ndim == 0 or len(x) == 0:
        raise ValueError(f"{name} must be a non-empty batch of samples, got shape {x.shape}.")
    if x.dtype.kind not in "biuf":
        raise ValueError(f"{name} must hold numbers, got dtype {x.dtype}.")
    if not np.all(np.isfinite(x)):
        raise ValueError(f"{name} holds NaN or inf.")
    if x.ndim in (3, 4) or (x.ndim == 2 and x.shape[1] == NUM_PIXELS):
        _as_images(x, name)                                        # layout and range [0, 1]
    return x


def discriminator_probabilities(discriminator, samples, *, from_logits, batch_size=500):
    """D(x) for every sample: the probability of "real" that ``discriminator`` gives, (n,).

    ``discriminator`` is a Keras model (run with ``predict``, in inference mode) or any
    function of the whole batch; it must return one number per sample, shape (n,) or (n, 1).
    ``from_logits`` (required, no default): True when those numbers are logits, and then
    D(x) = sigmoid(logit) (every discriminator of ``course_lib.gan`` outputs a logit); False
    when they are probabilities already, which must then lie in [0, 1]. There is no default
    because a logit that happens to lie in [0, 1] would pass for a probability unnoticed.

    ``samples``: features (n, d), or images in [0, 1] ((n, 28, 28), (n, 28, 28, 1) or
    (n, 784); any 3-D or 4-D batch is taken for images): images are checked, so uint8
    0-255 images raise ValueError (scale them first, ``course_lib.data.scale``).
    They reach the discriminator in the layout given. A conditional discriminator (image and
    label in, like ``gan.build_discriminator(num_classes)``) is passed wrapped with the
    labels of the batch, ``lambda x: d.predict([x, c], verbose=0)`` (or ``lambda x: d([x, c])``),
    ``c`` the one-hot labels in the batch's row order: the function gets the whole batch in one
    call, so ``c`` must describe exactly that batch.
    """
    if not callable(discriminator):
        raise ValueError(f"discriminator must be a Keras model or a function of a batch, "
                         f"got {type(discriminator).__name__}.")
    if not isinstance(from_logits, (bool, np.bool_)):
        raise ValueError(f"from_logits must be True (the discriminator outputs logits) or False "
                         f"(probabilities), got {from_logits!r}.")
    x = _as_batch(samples, "samples")
    _check_int(batch_size, "batch_size")
    if isinstance(discriminator, keras.Model):
        out = discriminator.predict(x.astype("float32"), batch_size=batch_size, verbose=0)
    else:
        out = discriminator(x)
    out = np.asarray(keras.ops.convert_to_numpy(out), dtype="float64")
    if out.ndim == 2 and out.shape[1] == 1:
        out = out[:, 0]
    if out.shape != (len(x),):
        raise ValueError(f"the discriminator must return one value per sample, shape ({len(x)},) "
                         f"or ({len(x)}, 1); got shape {out.shape}.")
    if from_logits:
        if not np.all(np.isfinite(out)):
            raise ValueError("the discriminator's logits hold NaN or inf.")
        out = special.expit(out)                                   # sigmoid(logit)
    return _as_real_probabilities(out, "the discriminator's outputs")


# ---------------------------------------------------------------------------------------
# 1. Generative Adversarial Metric (Im, Kim, Jiang & Memisevic 2016)
# ---------------------------------------------------------------------------------------

class GAM(NamedTuple):
    """r_test, r_samples: the two ratios of error rates; winner: "M1", "M2" or "tie" (Im et
    al.'s verdict); valid: the test error rates do not differ significantly, |z_test| <
    z_critical; z_test and its two-sided p_value: the two-proportion z-test of those rates;
    the four error rates behind the ratios and the four error counts behind the rates."""
    r_test: float
    r_samples: float
    winner: str
    valid: bool
    z_test: float
    p_value: float
    error_d1_test: float
    error_d2_test: float
    error_d1_samples2: float
    error_d2_samples1: float
    errors_d1_test: int
    errors_d2_test: int
    errors_d1_samples2: int
    errors_d2_samples1: int


def _ratio(a, b):
    """a / b for error rates: 1 when both are 0 (equally perfect), inf when only b is 0."""
    if b == 0.0:
        return 1.0 if a == 0.0 else math.inf
    return a / b


def two_proportion_z(errors1, errors2, n):
    """Two-proportion z-test of k1 = ``errors1`` and k2 = ``errors2`` errors out of ``n``
    trials each: with the pooled rate p = (k1 + k2) / (2n),

        z = (k1/n - k2/n) / sqrt(p (1 - p) 2/n),   p-value = 2 (1 - Phi(|z|)) (two-sided);

    z = 0 and p-value 1 when p is 0 or 1 (both rates equal). Returns ``(z, p_value)``."""
    n = _check_int(n, "n")
    k1 = _check_int(errors1, "errors1", minimum=0, maximum=n)
    k2 = _check_int(errors2, "errors2", minimum=0, maximum=n)
    pooled = (k1 + k2) / (2.0 * n)
    if pooled in (0.0, 1.0):
        return 0.0, 1.0
    z = (k1 - k2) / n / math.sqrt(pooled * (1.0 - pooled) * 2.0 / n)
    return z, float(special.erfc(abs(z) / math.sqrt(2.0)))          # 2 (1 - Phi(|z|))


def gam_from_probabilities(d1_test, d2_test, d1_on_samples2, d2_on_samples1, z_critical=GAM_Z_CRITICAL):
    """Generative Adversarial Metric (Im et al. 2016, "Generating images with recurrent
    adversarial networks") from the two discriminators' outputs.

    Two GANs M1 = (G1, D1) and M2 = (G2, D2) swap opponents. With err the classification
    error at threshold 0.5 (a real image is misclassified when D(x) <= 0.5, a generated
    one when D(x) > 0.5):

        r_test    = err(D1 on real test images) / err(D2 on the same images)
        r_samples = err(D1 on G2's samples)     / err(D2 on G1's samples)

    r_samples < 1: G2 fools D1 less often than G1 fools D2, so M1 wins; > 1: M2 wins. The
    verdict only counts when both discriminators are about equally good on real data,
    r_test ~ 1; otherwise, as when r_samples = 1, the paper calls it a tie. The paper leaves
    "~" open; a fixed tolerance on r_test would be mostly noise (two discriminators with 2%
    error on 10,000 images give r_test a standard deviation of about 0.1), so here the verdict
    counts when the two test error rates do not differ significantly: the two-proportion
    z-test (``two_proportion_z``) of the error counts gives |z| < ``z_critical`` (default
    1.96, a two-sided 5% test). The test treats the two rates as independent; on the same
    test images the errors are usually positively correlated, which makes it conservative
    (slower to call the discriminators different). A ratio 0/0 is 1, x/0 (x > 0) is inf.

    Inputs: D1's and D2's probabilities of "real" on the same test images (equal lengths),
    D1's on G2's samples and D2's on G1's samples. Returns ``GAM``.
    """
    p1_test = _as_real_probabilities(d1_test, "d1_test")
    p2_test = _as_real_probabilities(d2_test, "d2_test")
    if len(p1_test) != len(p2_test):
        raise ValueError(f"d1_test and d2_test must be the two discriminators' outputs on the same test "
                         f"images: got lengths {len(p1_test)} and {len(p2_test)}.")
    p1_s2 = _as_real_probabilities(d1_on_samples2, "d1_on_samples2")
    p2_s1 = _as_real_probabilities(d2_on_samples1, "d2_on_samples1")
    z_critical = _positive(z_critical, "z_critical")
    k1_test, k2_test = int(np.sum(p1_test <= REAL_THRESHOLD)), int(np.sum(p2_test <= REAL_THRESHOLD))
    k1_s2, k2_s1 = int(np.sum(p1_s2 > REAL_THRESHOLD)), int(np.sum(p2_s1 > REAL_THRESHOLD))
    e1_test, e2_test = k1_test / len(p1_test), k2_test / len(p2_test)
    e1_s2, e2_s1 = k1_s2 / len(p1_s2), k2_s1 / len(p2_s1)
    r_test, r_samples = _ratio(e1_test, e2_test), _ratio(e1_s2, e2_s1)
    z, p_value = two_proportion_z(k1_test, k2_test, len(p1_test))
    valid = abs(z) < z_critical
    winner = "tie"
    if valid and r_samples < 1.0:
        winner = "M1"
    elif valid and r_samples > 1.0:
        winner = "M2"
    return GAM(r_test, r_samples, winner, bool(valid), z, p_value, e1_test, e2_test, e1_s2, e2_s1,
               k1_test, k2_test, k1_s2, k2_s1)


def gam(d1, d2, x_test, samples1, samples2, *, from_logits, z_critical=GAM_Z_CRITICAL, batch_size=500):
    """Generative Adversarial Metric (Im et al. 2016) of two GANs, from their discriminators.

    ``d1``, ``d2``: the discriminators (Keras models or functions of a batch, see
    ``discriminator_probabilities``); ``from_logits`` (required): True when they output
    logits, as the course's discriminators do, False when they output probabilities of
    "real". ``x_test``: real test samples; ``samples1``, ``samples2``: samples of G1 and G2
    (images in [0, 1] or features). Evaluates D1 and D2 on ``x_test``, D1 on ``samples2``
    and D2 on ``samples1``, then ``gam_from_probabilities`` (``z_critical``). Returns ``GAM``.

    Conditional discriminators (image and label in) see three batches here; wrap each as
    ``lambda x: d.predict([x, c], verbose=0)`` only if all three batches hold the same number
    of samples in the same label order ``c`` (e.g. both generators asked for the test
    labels); otherwise compute each batch's probabilities with ``discriminator_probabilities``
    and its own labels, and call ``gam_from_probabilities``.
    """
    x_test = _as_batch(x_test, "x_test")
    samples1, samples2 = _as_batch(samples1, "samples1"), _as_batch(samples2, "samples2")

    def probs(d, x):
        return discriminator_probabilities(d, x, from_logits=from_logits, batch_size=batch_size)

    return gam_from_probabilities(probs(d1, x_test), probs(d2, x_test), probs(d1, samples2),
                                  probs(d2, samples1), z_critical=z_critical)


# ---------------------------------------------------------------------------------------
# 2. Tournament win rate and skill rating (Olsson et al. 2018)
# ---------------------------------------------------------------------------------------

class TournamentWinRate(NamedTuple):
    """win_rate (n_generators,): share of its matches each generator wins, over all
    discriminators; win_matrix (n_generators, n_discriminators): the share against each;
    discriminator_win_rate (n_discriminators,): share of its matches each discriminator wins."""
    win_rate: np.ndarray
    win_matrix: np.ndarray
    discriminator_win_rate: np.ndarray


class Glicko2Rating(NamedTuple):
    """A Glicko-2 rating on the usual scale (1500 for a new player), its rating deviation
    (RD, one standard deviation of the rating's uncertainty) and its volatility."""
    rating: float
    rd: float
    volatility: float


class SkillRatings(NamedTuple):
    """Glicko-2 ratings, RDs and volatilities after the tournament: generators, then
    discriminators. ``*_perfect_record``: True for a player that won every one of its games or
    lost every one, whose rating is then a bound, not an estimate (``tournament_skill_ratings``).
    The last four fields default to None, so a four-field ``SkillRatings(...)`` still builds."""
    generator_ratings: np.ndarray
    generator_rds: np.ndarray
    discriminator_ratings: np.ndarray
    discriminator_rds: np.ndarray
    generator_volatilities: np.ndarray = None
    discriminator_volatilities: np.ndarray = None
    generator_perfect_record: np.ndarray = None
    discriminator_perfect_record: np.ndarray = None


def tournament_outputs(discriminators, real, generated, *, from_logits, batch_size=500):
    """The probabilities a tournament needs, from discriminators and samples.

    ``discriminators``: a list of Keras models or functions (``discriminator_probabilities``);
    ``from_logits`` (required): True when they output logits, as the course's discriminators
    do, False when they output probabilities of "real". ``real``: m real samples;
    ``generated``: a list with m samples of each generator (images in [0, 1] or features).
    Match k of generator i against discriminator j pairs ``real[k]`` with ``generated[i][k]``.
    A conditional discriminator can be wrapped as ``lambda x: d.predict([x, c], verbose=0)``
    when ``real[k]`` and every ``generated[i][k]`` have the label ``c[k]`` (each generator asked
    for the real samples' labels). Returns ``(d_real, d_fake)``: (n_discriminators, m) and
    (n_generators, n_discriminators, m).
    """
    if not isinstance(discriminators, (list, tuple)) or len(discriminators) == 0:
        raise ValueError("discriminators must be a non-empty list of Keras models or functions.")
    if not isinstance(generated, (list, tuple)) or len(generated) == 0:
        raise ValueError("generated must be a non-empty list of sample batches, one per generator.")
    real = _as_batch(real, "real")
    fakes = [_as_batch(g, f"generated[{i}]") for i, g in enumerate(generated)]
    for i, g in enumerate(fakes):
        if len(g) != len(real):
            raise ValueError(f"every generator plays one match per real sample: generated[{i}] has "
                             f"{len(g)} samples but real has {len(real)}.")

    def probs(d, x):
        return discriminator_probabilities(d, x, from_logits=from_logits, batch_size=batch_size)

    d_real = np.stack([probs(d, real) for d in discriminators])
    d_fake = np.stack([np.stack([probs(d, g) for d in discriminators]) for g in fakes])
    return d_real, d_fake


def _generator_wins(d_real, d_fake, rule):
    """Checked inputs -> bool (n_generators, n_discriminators, m): does the generator win?"""
    if rule not in WIN_RULES:
        raise ValueError(f"rule must be one of {WIN_RULES}, got {rule!r}.")
    p_real = _as_real_probabilities(d_real, "d_real", ndim=2)
    p_fake = _as_real_probabilities(d_fake, "d_fake", ndim=3)
    if p_fake.shape[1:] != p_real.shape:
        raise ValueError(f"d_fake must have shape (n_generators, {p_real.shape[0]}, {p_real.shape[1]}) to match "
                         f"d_real (n_discriminators, m) = {p_real.shape}, got {p_fake.shape}.")
    fooled = p_fake > REAL_THRESHOLD                               # G(z) classified real
    if rule == "fake":
        return fooled
    rejected_real = (p_real <= REAL_THRESHOLD)[None, :, :]         # x classified fake
    return fooled | rejected_real                                  # D must get both right


def tournament_win_rate(d_real, d_fake, rule="both"):
    """Tournament win rate (Olsson et al. 2018, "Skill rating for generative models").

    Generators and discriminators are players; in one match a discriminator D judges one
    real sample x and one sample G(z) of a generator G. ``d_real[j, k]`` = D_j(x_k),
    ``d_fake[i, j, k]`` = D_j(G_i(z_k)) (probabilities of "real", e.g. from
    ``tournament_outputs``). Who wins match k of G_i against D_j:

    - ``rule="both"`` (default): D wins iff it classifies both samples correctly,
      D(x) > 0.5 and D(G(z)) <= 0.5; otherwise G wins;
    - ``rule="fake"``: G wins iff D(G(z)) > 0.5, whatever D says of x.

    A generator's tournament win rate is the share of all its matches that it wins, against
    the whole panel of discriminators. Returns ``TournamentWinRate``.
    """
    wins = _generator_wins(d_real, d_fake, rule)
    win_matrix = wins.mean(axis=2)
    return TournamentWinRate(win_matrix.mean(axis=1), win_matrix, 1.0 - win_matrix.mean(axis=0))


def _glicko2_volatility(log_delta_sq, phi, log_v, sigma, tau, epsilon):
    """Glickman's step 5: the new volatility, the root of f by the Illinois method.

    Delta^2 and v enter by their logarithms, and f(x) = e^x (Delta^2 - phi^2 - v - e^x) /
    (2 (phi^2 + v + e^x)^2) - (x - a) / tau^2 is evaluated as u (Delta^2 / q - 1) / 2 -
    (x - a) / tau^2 with q = phi^2 + v + e^x and u = e^x / q (the same function), the ratio's
    exponent capped at 700 (f is then about 1e304, of the sign it has without the cap): no
    step squares a huge Delta or forms a huge v. Glickman's bracket and iteration are
    otherwise his, at most ``GLICKO_MAX_ITERATIONS`` steps (the bracket is kept, so A stays
    within |B - A| of the root); the result is capped at ``GLICKO_VOLATILITY_MAX``.
    """
    a = 2.0 * math.log(sigma)
    log_p = float(np.logaddexp(2.0 * math.log(phi), log_v))       # log(phi^2 + v)

    def f(x):
        log_q = float(np.logaddexp(log_p, x))
        ratio = math.exp(min(log_delta_sq - log_q, 700.0))
        return math.exp(x - log_q) * (ratio - 1.0) / 2.0 - (x - a) / tau**2

    big_a = a
    if log_delta_sq > log_p:                                      # Delta^2 > phi^2 + v
        big_b = log_delta_sq + math.log1p(-math.exp(log_p - log_delta_sq))    # log(Delta^2 - phi^2 - v)
    else:
        k = 1
        while f(a - k * tau) < 0:                                 # f(a - k tau) > k / tau - 1/2: k < tau / 2 + 1
            k += 1
        big_b = a - k * tau
    f_a, f_b = f(big_a), f(big_b)
    for _ in range(GLICKO_MAX_ITERATIONS):
        if abs(big_b - big_a) <= epsilon:
            break
        big_c = big_a + (big_a - big_b) * (f_a / (f_b - f_a))     # f_a, f_b of opposite signs: C between A and B
        f_c = f(big_c)
        if f_c * f_b <= 0:
            big_a, f_a = big_b, f_b
        else:
            f_a = f_a / 2.0
        big_b, f_b = big_c, f_c
    return GLICKO_VOLATILITY_MAX if big_a >= 2.0 * math.log(GLICKO_VOLATILITY_MAX) else math.exp(big_a / 2.0)


def _glicko2_step(mu, phi, sigma, mu_j, phi_j, s, tau, epsilon):
    """One rating period on Glicko-2's scale (checked inputs; opponents and scores as arrays)
    -> (mu', phi', sigma')."""
    g = 1.0 / np.sqrt(1.0 + 3.0 * phi_j**2 / math.pi**2)
    z = g * (mu - mu_j)
    e, one_minus_e = special.expit(z), special.expit(-z)          # E and 1 - E, each exact in its own tail
    information = float(np.sum(g**2 * e * one_minus_e))           # 1 / v
    if information == 0.0:                                        # no games, or every E is 0 or 1 in float64:
        return mu, math.hypot(phi, sigma), sigma                  # only the uncertainty grows
    improvement = float(np.sum(g * (s * one_minus_e - (1.0 - s) * e)))    # sum_j g(phi_j) (s_j - E_j)
    log_v = -math.log(information)
    log_delta_sq = 2.0 * (math.log(abs(improvement)) + log_v) if improvement != 0.0 else -math.inf
    new_sigma = _glicko2_volatility(log_delta_sq, phi, log_v, sigma, tau, epsilon)
    phi_star = math.hypot(phi, new_sigma)
    new_phi = 1.0 / math.sqrt(1.0 / phi_star**2 + information)
    return mu + new_phi**2 * improvement, new_phi, new_sigma


def glicko2_update(rating, rd, volatility, opponent_ratings, opponent_rds, scores, tau=0.5, epsilon=1e-6):
    """One rating period of the Glicko-2 system (Glickman, "Example of the Glicko-2 system").

    A player (``rating``, ``rd``, ``volatility``) plays games against opponents with ratings
    ``opponent_ratings`` and deviations ``opponent_rds``, scoring ``scores`` (1 win, 0.5 draw,
    0 loss; one entry per game). On Glicko-2's scale mu = (r - 1500) / 173.7178,
    phi = RD / 173.7178:

        g(phi_j) = 1 / sqrt(1 + 3 phi_j^2 / pi^2),  E_j = 1 / (1 + exp(-g(phi_j)(mu - mu_j)))
        v = 1 / sum_j g(phi_j)^2 E_j (1 - E_j),     Delta = v sum_j g(phi_j)(s_j - E_j)

    the volatility sigma' solves Glickman's equation (Illinois method, tolerance
    ``epsilon``; ``tau`` constrains its change), then phi* = sqrt(phi^2 + sigma'^2),
    phi' = 1 / sqrt(1/phi*^2 + 1/v), mu' = mu + phi'^2 sum_j g(phi_j)(s_j - E_j). With no
    games only the deviation grows: phi' = sqrt(phi^2 + sigma^2). Returns ``Glicko2Rating``.

    That is Glickman's algorithm, computed so that extreme rating gaps cannot overflow:

    - E_j and 1 - E_j are both logistic functions (of +-g(phi_j)(mu - mu_j)), so 1 - E_j does
      not round to 0 for a gap above ~37 on this scale (6,400 rating points);
    - v and Delta^2 enter the volatility step only by their logarithms (and phi', mu' use
      1/v), so a tiny information sum_j g^2 E_j (1 - E_j) no longer makes v astronomically
      large and Delta^2 overflow. The exact update in that limit is that of a player who did
      not compete: results as expected against opponents far above or below leave the rating
      and volatility as they were and the RD grows; an upset moves the rating by at most
      phi*^2 g per game (Glickman's step 7), e.g. +15 points for RD 50 beating a player rated
      9,000 or 70,000 (the latter overflowed before);
    - if the information underflows to exactly 0 (every E_j is 0 or 1 in float64: gaps above
      ~745 / g, about 130,000 points), the period is treated as uninformative for this
      player: only the RD grows, as for a player who did not compete (so a win the ratings
      give probability 0 is ignored);
    - sigma' is capped at ``GLICKO_VOLATILITY_MAX`` = 350 / 173.7178 = 2.015, an unrated
      player's phi: one period's volatility adds at most the uncertainty about a player we
      know nothing of (Glicko-1 caps the RD at 350 likewise). Without a cap, a period of
      thousands of surprising results can drive sigma' past any float; with it, ratings stay
      finite. The Illinois iteration stops after ``GLICKO_MAX_ITERATIONS`` = 100 steps (it
      usually needs fewer than 10, at most 15 in 08b's tournaments).
    """
    if not _is_real_number(rating) or not math.isfinite(rating):
        raise ValueError(f"rating must be a finite number, got {rating!r}.")
    rd, volatility = _positive(rd, "rd"), _positive(volatility, "volatility")
    tau, epsilon = _positive(tau, "tau"), _positive(epsilon, "epsilon")
    opp_r = _number_array(opponent_ratings, "opponent_ratings")
    opp_rd = _number_array(opponent_rds, "opponent_rds")
    s = _number_array(scores, "scores")
    if opp_r.ndim != 1 or opp_r.shape != opp_rd.shape or opp_r.shape != s.shape:
        raise ValueError(f"opponent_ratings, opponent_rds and scores must be 1-D with one entry per game, "
                         f"got shapes {opp_r.shape}, {opp_rd.shape} and {s.shape}.")
    if not (np.all(np.isfinite(opp_r)) and np.all(np.isfinite(opp_rd)) and np.all(np.isfinite(s))):
        raise ValueError("opponent_ratings, opponent_rds and scores hold NaN or inf.")
    if np.any(opp_rd <= 0):
        raise ValueError(f"opponent_rds must be positive, got minimum {opp_rd.min():.3g}.")
    if np.any((s < 0) | (s > 1)):
        raise ValueError(f"scores must be in [0, 1] (1 win, 0.5 draw, 0 loss), got range {s.min():.3g}..{s.max():.3g}.")
    mu, phi = (float(rating) - 1500.0) / GLICKO_SCALE, rd / GLICKO_SCALE
    new_mu, new_phi, new_volatility = _glicko2_step(mu, phi, volatility, (opp_r - 1500.0) / GLICKO_SCALE,
                                                    opp_rd / GLICKO_SCALE, s, tau, epsilon)
    return Glicko2Rating(float(rating) + GLICKO_SCALE * (new_mu - mu), GLICKO_SCALE * new_phi, new_volatility)


def tournament_skill_ratings(d_real, d_fake, rule="both", num_periods=None, tau=0.5, games_per_period=None):
    """Skill rating (Olsson et al. 2018): Glicko-2 ratings of generators and discriminators
    from the matches of a tournament.

    The matches (``d_real``, ``d_fake`` and ``rule`` as in ``tournament_win_rate``) are
    played in rating periods; in each period every generator plays every discriminator on
    some of their m matches (a win scores 1, a loss 0). Every player starts unrated (1500,
    RD 350, volatility 0.06) and, after each period, all are updated at once with
    ``glicko2_update`` against their opponents' ratings from before that period. A
    generator's rating is its skill; higher is better. Ratings compare only players of the
    same tournament. Returns ``SkillRatings``.

    The matches are i.i.d. draws (the players do not change during the tournament), so the
    periods are arbitrary cuts, but their size matters. Give one of:

    - ``games_per_period`` (the default, ``GLICKO_GAMES_PER_PERIOD`` = 15): each pair
      (G_i, D_j) plays b of its matches per period, b = max(1, floor(games_per_period
      (n_G + n_D) / (2 n_G n_D))), the most for which the players average at most
      ``games_per_period`` games per period (Glickman advises an average of at least 10-15,
      for the volatility); 12 generators and 2 discriminators: b = 4, so 8 games per
      generator and 48 per discriminator. Each pair takes its matches in its own rotated
      order, pair p = i n_D + j from match floor(p m / (n_G n_D)) on: under rule "both" a
      discriminator that rejects real sample k loses match k to every generator, and if all
      pairs played the same few matches in a period, its results would swing together,
      which Glicko-2 reads as volatility (then amplifies). The price: two generators with
      the same outputs play their matches in different orders and can end up a fraction of
      their RD apart.
    - ``num_periods`` (the schedule before ``games_per_period``): match indices 0..m-1 are
      cut into that many consecutive blocks, and every pair plays the block's matches.
      Generators with the same outputs get the same rating, but with many games per period
      the simultaneous updates overshoot: each player takes nearly the whole step its
      results ask for, against opponents that take theirs at the same time, so a rating gap
      comes back too large the other way, and the volatility grows with the swings. One
      discriminator, one generator that always loses and one that wins every other match,
      ``num_periods=5`` of 2,000 matches: after 4 periods the discriminator is rated
      -42,700 and the second generator 70,100, and in the 5th the first generator, now
      expected to win, loses 2,000 times and falls to -1.4 million (before
      ``glicko2_update``'s numerical safeguards: an OverflowError). The results stay
      finite, but they are no longer estimates: keep ``num_periods`` for few games per
      period. (The default schedule rates the same matches 155, 1,707 and 1,708.)

    With small periods Glicko-2 weighs the later periods more, like a running estimate (RDs
    of a few tens of points), where the win rate (``tournament_win_rate``) uses every match
    alike. One period of 2,000 games between two unrated players takes the RD from 350 to
    about 11.6, whatever the results (every expected score is 1/2, so v = 1 / (2000 g^2 / 4)
    and RD = 173.7 / sqrt(1/phi*^2 + 1/v)). Olsson et al. rate snapshots taken during
    training, where the order of the periods carries meaning; here it does not.

    A player that wins every one of its games, or loses every one, has no finite
    maximum-likelihood rating: each period moves it further (ever less, as its expected
    score nears its result) and, once its games carry almost no information, its RD grows
    instead of shrinking. Its rating is a bound (it is at least, or at most, this good), not
    an estimate; ``generator_perfect_record`` and ``discriminator_perfect_record`` flag such
    players. (Other cases without finite ratings, e.g. a group of players none of whom ever
    beats anyone outside it, are not flagged.) Volatilities never exceed
    ``GLICKO_VOLATILITY_MAX`` = 2.015 (``glicko2_update``).
    """
    wins = _generator_wins(d_real, d_fake, rule).astype("float64")    # 1 = the generator won
    n_gen, n_disc, m = wins.shape
    tau = _positive(tau, "tau")
    if num_periods is not None and games_per_period is not None:
        raise ValueError("give num_periods (consecutive blocks of matches) or games_per_period (periods of "
                         "a bounded size, rotated per pair), not both.")
    if num_periods is not None:
        num_periods = _check_int(num_periods, "num_periods", maximum=m)
    else:
        per = _check_int(GLICKO_GAMES_PER_PERIOD if games_per_period is None else games_per_period,
                         "games_per_period")
        block = max(1, per * (n_gen + n_disc) // (2 * n_gen * n_disc))
        num_periods = -(-m // block)
        first = np.arange(n_gen * n_disc).reshape(n_gen, n_disc, 1) * m // (n_gen * n_disc)
        wins = np.take_along_axis(wins, (first + np.arange(m)) % m, axis=2)   # pair p from match p m / (n_G n_D) on
    players = [((GLICKO_START[0] - 1500.0) / GLICKO_SCALE, GLICKO_START[1] / GLICKO_SCALE, GLICKO_START[2])
               ] * (n_gen + n_disc)                                # (mu, phi, sigma) on Glicko-2's scale
    for block in np.array_split(np.arange(m), num_periods):
        w = wins[:, :, block]                                     # (n_gen, n_disc, games)
        mu = np.array([p[0] for p in players])
        phi = np.array([p[1] for p in players])
        games = len(block)
        updated = []
        for i in range(n_gen):                                    # w[i] row-major: D_0's games first
            updated.append(_glicko2_step(*players[i], np.repeat(mu[n_gen:], games), np.repeat(phi[n_gen:], games),
                                         w[i].ravel(), tau, 1e-6))
        for j in range(n_disc):
            updated.append(_glicko2_step(*players[n_gen + j], np.repeat(mu[:n_gen], games),
                                         np.repeat(phi[:n_gen], games), 1.0 - w[:, j].ravel(), tau, 1e-6))
        players = updated
    mu, phi, sigma = (np.array(column) for column in zip(*players))
    ratings, rds = 1500.0 + GLICKO_SCALE * mu, GLICKO_SCALE * phi
    generator_wins = wins.sum(axis=(1, 2))
    discriminator_wins = (1.0 - wins).sum(axis=(0, 2))
    return SkillRatings(ratings[:n_gen], rds[:n_gen], ratings[n_gen:], rds[n_gen:], sigma[:n_gen], sigma[n_gen:],
                        (generator_wins == 0) | (generator_wins == n_disc * m),
                        (discriminator_wins == 0) | (discriminator_wins == n_gen * m))


# ---------------------------------------------------------------------------------------
# 3. Normalized Relative Discriminative Score (Zhang, Song & Qi 2018)
# ---------------------------------------------------------------------------------------

class NRDS(NamedTuple):
    """scores (n_models,): NRDS_i = A_i / sum_j A_j, summing to 1 (higher: the model's
    samples pass for real longer); areas: A_i; curves (n_models, epochs): the classifier's
    mean output on each model's held-out samples after each epoch."""
    scores: np.ndarray
    areas: np.ndarray
    curves: np.ndarray


def nrds_from_curves(curves):
    """NRDS from the curves: A_i = trapezoidal area under row i of ``curves`` (n_models,
    epochs), one unit of x per epoch; NRDS_i = A_i / sum_j A_j. Returns ``NRDS``."""
    c = np.asarray(curves, dtype="float64")
    if c.ndim != 2 or c.shape[0] < 1 or c.shape[1] < 2:
        raise ValueError(f"curves must be a 2-D array (n_models, epochs) with at least 2 epochs, got shape {c.shape}.")
    c = _as_real_probabilities(c, "curves", ndim=2)
    areas = np.trapezoid(c, dx=1.0, axis=1)
    total = areas.sum()
    if total == 0.0:
        raise ValueError("every curve is 0: the areas cannot be normalised.")
    return NRDS(areas / total, areas, c)


def _build_nrds_classifier(dim, hidden_units, learning_rate):
    model = keras.Sequential([keras.Input(shape=(dim,), name="sample"),
                              layers.Dense(hidden_units, activation="relu", name="hidden"),
                              layers.Dense(1, activation="sigmoid", name="p_real")], name="nrds_classifier")
    model.compile(optimizer=keras.optimizers.Adam(learning_rate), loss="binary_crossentropy")
    return model


def nrds(real, fakes, epochs=10, holdout=0.5, hidden_units=64, batch_size=128, learning_rate=1e-3,
         seed=0, verbose=0):
    """Normalized Relative Discriminative Score (Zhang et al. 2018, "Decoupled learning for
    conditional adversarial networks").

    One binary classifier learns to tell real samples (label 1) from the samples of all n
    models at once (label 0). After every training epoch, its mean output on each model's
    held-out samples is recorded: a model whose samples look real keeps a high output for
    more epochs. A_i = area under model i's curve, NRDS_i = A_i / sum_j A_j; the models are
    ranked by it (higher is better), and the scores sum to 1.

    Choices the paper leaves open: a share ``holdout`` of each model's samples (a fixed
    random subset) is held out and never trained on; all real samples are trained on; real
    and fake get equal total weight in the loss (each model's samples being one n-th of the
    fake side); inputs are standardised by the training pool's per-dimension mean and
    standard deviation, the standard deviation floored at ``STD_FLOOR`` = 0.1; the curve has
    one point per epoch and its area is the trapezoidal rule (``nrds_from_curves``).

    The floor matters for images: MNIST's border pixels are exactly 0 in real digits, and a
    generator that leaves 0.001 there would, divided by the tiny pooled deviation, become
    a feature many deviations wide that the classifier separates on: a nearly perfect model
    (x -> 0.998 x + 0.001) would score as badly as a useless one. Divided by at least 0.1
    (pixels live in [0, 1], digit pixels vary by about 0.3-0.45), that offset stays 0.01.
    Features on a scale much smaller than 0.1 should be rescaled before calling.

    ``real`` and each entry of the list ``fakes`` (at least two models) are images
    (flattened to pixels) or features (n, d) of one dimension. The classifier is a seeded
    Keras MLP, input -> Dense ``hidden_units`` relu -> Dense 1 sigmoid, trained with Adam on
    binary cross-entropy. Returns ``NRDS``.
    """
    r = _as_samples(real, "real", min_rows=2)
    if not isinstance(fakes, (list, tuple)) or len(fakes) < 2:
        raise ValueError("fakes must be a list of at least two models' samples: NRDS compares models.")
    models = [_as_samples(x, f"fakes[{i}]", min_rows=2) for i, x in enumerate(fakes)]
    for i, x in enumerate(models):
        _check_same_dim(r, x, "real", f"fakes[{i}]")
    _check_int(epochs, "epochs", minimum=2)
    if isinstance(holdout, bool) or not np.isscalar(holdout) or not 0.0 < holdout < 1.0:
        raise ValueError(f"holdout must be a fraction in (0, 1), got {holdout!r}.")
    _check_int(hidden_units, "hidden_units")
    _check_int(batch_size, "batch_size")
    learning_rate = _positive(learning_rate, "learning_rate")
    rng = np.random.default_rng(seed)
    train_parts, held = [], []
    for x in models:
        order = rng.permutation(len(x))
        n_held = min(max(1, round(holdout * len(x))), len(x) - 1)  # at least one on each side
        held.append(x[order[:n_held]])
        train_parts.append(x[order[n_held:]])
    weights = np.concatenate([np.full(len(r), 0.5 / len(r))]
                             + [np.full(len(t), 0.5 / (len(models) * len(t))) for t in train_parts])
    x_train = np.concatenate([r] + train_parts)
    y_train = np.concatenate([np.ones(len(r)), np.zeros(len(x_train) - len(r))]).astype("float32")
    weights = (weights * len(x_train)).astype("float32")           # mean weight 1
    mean, std = _floored_standardiser(x_train)                     # sd floored at STD_FLOOR
    x_train = ((x_train - mean) / std).astype("float32")
    x_held = ((np.concatenate(held) - mean) / std).astype("float32")
    bounds = np.cumsum([0] + [len(h) for h in held])
    keras.utils.set_random_seed(seed)                              # same weights, same batches
    model = _build_nrds_classifier(r.shape[1], hidden_units, learning_rate)
    curves = np.empty((len(models), epochs))
    for epoch in range(epochs):
        model.fit(x_train, y_train, sample_weight=weights, epochs=1, batch_size=batch_size,
                  shuffle=True, verbose=verbose)
        p = model.predict(x_held, batch_size=1024, verbose=0)[:, 0].astype("float64")
        curves[:, epoch] = [p[lo:hi].mean() for lo, hi in zip(bounds[:-1], bounds[1:])]
    return nrds_from_curves(np.clip(curves, 0.0, 1.0))


# ---------------------------------------------------------------------------------------
# 4. Adversarial accuracy and adversarial divergence (Yang et al. 2017, LR-GAN)
# ---------------------------------------------------------------------------------------

class AdversarialScores(NamedTuple):
    """accuracy: the adversarial accuracy, C_g's accuracy on the real validation data;
    real_accuracy: C_r's, for reference; divergence: the adversarial divergence, mean
    KL(C_r(x) || C_g(x)) over the validation data, in nats, after C_g's probabilities are
    clipped at ``eps`` and renormalised (finite; at most log((1 + K eps) / eps))."""
    accuracy: float
    real_accuracy: float
    divergence: float


def adversarial_scores(probs_real, probs_fake, y_val, eps=PROB_FLOOR):
    """Adversarial accuracy and divergence (Yang et al. 2017, "LR-GAN: layered recursive
    generative adversarial networks for image generation", ICLR) from two classifiers'
    outputs on the same real validation data.

    LR-GAN's definitions, paraphrased (not quoted): the adversarial accuracy is the accuracy,
    on real validation data, of a classifier trained on generated labelled data, read
    against that of the same classifier trained on real data; the adversarial divergence is
    the KL divergence between the two classifiers' predictive distributions p(y|x) on the
    real data. We could not confirm from the paper which distribution comes first; this
    module computes KL(p_r || p_g), the real-data classifier's first, and that direction is
    the course's reading.

    ``probs_real`` (n, K): p_r(y|x) of C_r, trained on real labelled data; ``probs_fake``
    (n, K): p_g(y|x) of C_g, trained on generated labelled data; ``y_val``: the n true
    labels. accuracy = mean [argmax p_g(y|x) = y], real_accuracy the same for p_r,
    divergence = mean_x KL(p_r(y|x) || p_g'(y|x)) with p_g' = max(p_g, ``eps``), renormalised
    to sum to 1 (``eps`` = 1e-6 by default; ``eps=0`` keeps p_g as it is, and the divergence is
    inf wherever p_g is 0 on a class p_r uses). Without the clip, a classifier that is sure
    of itself (a probability that rounds to exactly 0) makes the mean infinite, and every
    model that drops a mode scores inf alike; with it, a row where C_r is sure of a class
    that C_g rules out adds about log(1/eps) = 13.8 nats. The clip also leaves two identical
    classifiers a divergence of at most log(1 + K eps) ~ K eps instead of exactly 0.

    What the values mean: even a second sample of real data does not give divergence 0
    (C_r and C_g then differ by their training noise) nor exactly C_r's accuracy; compare
    with ``adversarial_baseline``, the same measure with a second real sample in place of
    the generated one. Returns ``AdversarialScores``.
    """
    pr = _check_probs(probs_real, "probs_real")
    pg = _check_probs(probs_fake, "probs_fake")
    if pr.shape != pg.shape:
        raise ValueError(f"probs_real and probs_fake must be two classifiers' outputs on the same images, "
                         f"got shapes {pr.shape} and {pg.shape}.")
    y = _as_labels(y_val, len(pr), "y_val", num_classes=pr.shape[1])
    if not _is_real_number(eps) or not 0.0 <= eps < 1.0 / pr.shape[1]:
        raise ValueError(f"eps must be a number in [0, 1/K) = [0, {1.0 / pr.shape[1]:.3g}) for K = "
                         f"{pr.shape[1]} classes, got {eps!r}.")
    if eps > 0.0:
        pg = np.maximum(pg, eps)
        pg = pg / pg.sum(axis=1, keepdims=True)
    accuracy = float(np.mean(pg.argmax(axis=1) == y))
    real_accuracy = float(np.mean(pr.argmax(axis=1) == y))
    divergence = float(special.rel_entr(pr, pg).sum(axis=1).mean())  # 0 log 0 = 0, p log(p/0) = inf
    return AdversarialScores(accuracy, real_accuracy, divergence)


def _class_count(labels_and_names):
    """1 + the largest label among the 1-D non-negative integer label arrays (checked)."""
    top = 0
    for y, name in labels_and_names:
        y = np.asarray(y)
        if y.ndim != 1 or y.size == 0 or not np.issubdtype(y.dtype, np.integer):
            raise ValueError(f"{name} must be a non-empty 1-D array of integer labels, got {y.dtype} {y.shape}.")
        if y.min() < 0:
            raise ValueError(f"{name} must hold labels >= 0, got minimum {y.min()}.")
        top = max(top, int(y.max()))
    return top + 1


class _LogisticClassifier:
    """Multinomial logistic regression (L2 penalty, C = ``LOGISTIC_C``) on inputs standardised
    by the training rows' mean and standard deviation floored at ``STD_FLOOR``."""

    def __init__(self, x, y):
        from sklearn.linear_model import LogisticRegression

        if len(np.unique(y)) < 2:
            raise ValueError(f"a classifier needs training labels of at least two classes, got only {np.unique(y)}.")
        self.mean, self.scale = _floored_standardiser(x)
        self.model = LogisticRegression(C=LOGISTIC_C, max_iter=1000).fit((x - self.mean) / self.scale, y)

    def predict(self, x):
        return self.model.predict((x - self.mean) / self.scale)

    def probs(self, x, num_classes):
        """p(y|x) with all K columns (0 for a class absent from the training labels)."""
        probs = np.zeros((len(x), num_classes))
        probs[:, self.model.classes_] = self.model.predict_proba((x - self.mean) / self.scale)
        return probs


class RealClassifier(NamedTuple):
    """C_r of ``adversarial_accuracy_divergence``, fitted once by ``real_classifier``. kind:
    ``"logistic"`` or ``"cnn"``; model: the fitted classifier; fingerprint: a SHA-256 digest of
    the real data and training settings it was fitted on, checked when it is reused."""
    kind: str
    model: object
    fingerprint: str


def _real_fingerprint(kind, x_real, y_real, epochs, batch_size, seed):
    """SHA-256 of the real data (as float64 rows and int64 labels) and of what else shapes C_r."""
    settings = (kind, LOGISTIC_C, STD_FLOOR) if kind == "logistic" else (kind, epochs, batch_size, seed)
    digest = hashlib.sha256(repr(settings).encode())
    x = np.ascontiguousarray(np.asarray(x_real, dtype="float64").reshape(len(x_real), -1))
    for a in (x, np.ascontiguousarray(np.asarray(y_real, dtype="int64"))):
        digest.update(repr(a.shape).encode())
        digest.update(a.tobytes())
    return digest.hexdigest()


def _fit_real_classifier(kind, x_real, y_real, epochs, batch_size, seed):
    """Checked real data -> ``RealClassifier``."""
    if kind == "cnn":
        model, _ = train_classifier(x_real, y_real, epochs, batch_size=batch_size, seed=seed, verbose=0)
    else:
        model = _LogisticClassifier(x_real, y_real)
    return RealClassifier(kind, model, _real_fingerprint(kind, x_real, y_real, epochs, batch_size, seed))


def _checked_real_classifier(c_r, kind, x_real, y_real, epochs, batch_size, seed):
    """C_r given to ``adversarial_accuracy_divergence``: fitted now (None) or checked against the data."""
    if c_r is None:
        return _fit_real_classifier(kind, x_real, y_real, epochs, batch_size, seed)
    if not isinstance(c_r, RealClassifier):
        raise ValueError(f"c_r must be a RealClassifier from real_classifier(...), got {type(c_r).__name__}.")
    if c_r.kind != kind:
        raise ValueError(f"c_r is a {c_r.kind!r} classifier but classifier={kind!r}.")
    if c_r.fingerprint != _real_fingerprint(kind, x_real, y_real, epochs, batch_size, seed):
        raise ValueError("c_r was fitted on other real data (x_real, y_real)"
                         + (" or with other epochs, batch_size or seed" if kind == "cnn" else "")
                         + ": fit it with real_classifier on the x_real and y_real given here.")
    return c_r


def _check_cnn_inputs(x_real, y_real, epochs):
    _as_labels(y_real, len(np.asarray(x_real)), "y_real")
    _check_int(epochs, "epochs")


def _check_classifier_name(classifier):
    if classifier not in ("logistic", "cnn"):
        raise ValueError(f"classifier must be 'logistic' or 'cnn', got {classifier!r}.")


def real_classifier(x_real, y_real, classifier="logistic", epochs=3, batch_size=128, seed=0):
    """C_r of ``adversarial_accuracy_divergence``, trained once on the real labelled data
    (``x_real``, ``y_real``), to score many models against the same real data: pass it as
    ``c_r`` to ``adversarial_accuracy_divergence`` or ``adversarial_baseline`` with the same
    ``x_real``, ``y_real``, ``classifier`` (and, for ``"cnn"``, the same ``epochs``,
    ``batch_size`` and ``seed``), and the result is the one a refit gives, without the refit.
    Given other real data or settings, those functions raise ValueError. Returns
    ``RealClassifier``.
    """
    _check_classifier_name(classifier)
    if classifier == "cnn":
        _check_cnn_inputs(x_real, y_real, epochs)
        return _fit_real_classifier("cnn", x_real, y_real, epochs, batch_size, seed)
    xr = _as_samples(x_real, "x_real", min_rows=2)
    yr = _as_labels(y_real, len(xr), "y_real", num_classes=_class_count([(y_real, "y_real")]))
    return _fit_real_classifier("logistic", xr, yr, epochs, batch_size, seed)


def adversarial_accuracy_divergence(x_real, y_real, x_fake, y_fake, x_val, y_val, classifier="logistic",
                                    epochs=3, batch_size=128, seed=0, eps=PROB_FLOOR, c_r=None):
    """Adversarial accuracy and divergence (Yang et al. 2017, "LR-GAN: layered recursive
    generative adversarial networks for image generation"), training both classifiers.

    C_r is trained on the real labelled data (``x_real``, ``y_real``), C_g on generated data
    (``x_fake`` with labels ``y_fake``: a conditional model's samples and the labels it was
    asked for). With ``y_fake=None`` the samples are labelled by C_r's predictions, as
    LR-GAN did for its unconditional model. Both are then compared on the real validation
    data (``x_val``, ``y_val``) by ``adversarial_scores`` (``eps``: the clip of p_g there).
    Read the result against ``adversarial_baseline``.

    ``classifier="logistic"``: multinomial logistic regression (scikit-learn, L2 penalty with
    C = 1, scikit-learn's default) on features (n, d) or flattened images, K = 1 + the
    largest label. Each classifier standardises its inputs by its training data's mean and
    standard deviation, the deviation floored at ``STD_FLOOR`` = 0.1: without the floor, a
    pixel that is exactly 0 in real digits and 0.001 in generated ones (x -> 0.998 x + 0.001,
    a nearly perfect model) becomes a large z-score on which C_g's predictions for real
    images swing. ``"cnn"``: the course's MNIST classifier (``metrics.train_classifier``,
    ``epochs``, ``batch_size``, ``seed``) on 28x28 images in [0, 1], K = 10. ``c_r``: None
    (C_r is trained here) or C_r from ``real_classifier`` on the same real data and settings,
    reused (scoring 12 models against the same real data then trains C_r once, not 12
    times; the results are the same). Returns ``AdversarialScores``.
    """
    _check_classifier_name(classifier)
    if classifier == "cnn":
        x_val_img = np.asarray(x_val)
        _check_cnn_inputs(x_real, y_real, epochs)
        if y_fake is not None:
            _as_labels(y_fake, len(np.asarray(x_fake)), "y_fake")
        y_val = _as_labels(y_val, len(x_val_img), "y_val")
        c_r = _checked_real_classifier(c_r, "cnn", x_real, y_real, epochs, batch_size, seed).model
        _, probs_r = classifier_outputs(c_r, x_val_img)
        if y_fake is None:
            y_fake = classifier_outputs(c_r, x_fake)[1].argmax(axis=1)
        c_g, _ = train_classifier(x_fake, y_fake, epochs, batch_size=batch_size, seed=seed, verbose=0)
        _, probs_g = classifier_outputs(c_g, x_val_img)
        return adversarial_scores(probs_r, probs_g, y_val, eps=eps)
    xr = _as_samples(x_real, "x_real", min_rows=2)
    xf = _as_samples(x_fake, "x_fake", min_rows=2)
    xv = _as_samples(x_val, "x_val", min_rows=1)
    _check_same_dim(xr, xf, "x_real", "x_fake")
    _check_same_dim(xr, xv, "x_real", "x_val")
    named = [(y_real, "y_real"), (y_val, "y_val")] + ([(y_fake, "y_fake")] if y_fake is not None else [])
    k = _class_count(named)
    yr = _as_labels(y_real, len(xr), "y_real", num_classes=k)
    yv = _as_labels(y_val, len(xv), "y_val", num_classes=k)
    c_r = _checked_real_classifier(c_r, "logistic", xr, yr, epochs, batch_size, seed).model
    yf = c_r.predict(xf) if y_fake is None else _as_labels(y_fake, len(xf), "y_fake", num_classes=k)
    c_g = _LogisticClassifier(xf, yf)
    return adversarial_scores(c_r.probs(xv, k), c_g.probs(xv, k), yv, eps=eps)


def adversarial_baseline(x_real, y_real, x_real_other, y_real_other, x_val, y_val, classifier="logistic",
                         epochs=3, batch_size=128, seed=0, eps=PROB_FLOOR, c_r=None):
    """The real-vs-real reference for ``adversarial_accuracy_divergence``: the same measure
    with a second sample of real labelled data (``x_real_other``, ``y_real_other``: another
    split of the training data, disjoint from ``x_real``) in place of the generated data.

    Its accuracy and divergence are what generated data exactly as good as real data would
    score, up to the training noise of the classifiers: a model's divergence is read against
    this one (e.g. 0.1 nats above the baseline), not against 0. For a like-for-like
    reference, give the second real sample as many examples as the generated sample has,
    and ``y_real_other=None`` if the generated data were labelled by C_r. Same arguments and
    classifiers as ``adversarial_accuracy_divergence`` (``c_r`` too). Returns
    ``AdversarialScores``.
    """
    a, b = np.asarray(x_real), np.asarray(x_real_other)
    if a.shape == b.shape and np.array_equal(a, b):
        raise ValueError("x_real_other is x_real again: the baseline needs a second, different sample of "
                         "real data (another split), or C_g is C_r and the divergence is 0 by construction.")
    return adversarial_accuracy_divergence(x_real, y_real, x_real_other, y_real_other, x_val, y_val,
                                           classifier=classifier, epochs=epochs, batch_size=batch_size,
                                           seed=seed, eps=eps, c_r=c_r)


# ---------------------------------------------------------------------------------------
# 5. Geometry score (Khrulkov & Oseledets 2018)
# ---------------------------------------------------------------------------------------

class GeometryScore(NamedTuple):
    """score: sum_i (MRLT_a(i) - MRLT_b(i))^2 (0: the same topology; lower is better);
    mrlt_a, mrlt_b (i_max,): the two sets' mean relative living times."""
    score: float
    mrlt_a: np.ndarray
    mrlt_b: np.ndarray


def _import_gudhi():
    try:
        import gudhi
    except ImportError as err:
        raise ImportError(f"the geometry score needs the gudhi package (persistent homology): {GUDHI_HINT}.") from err
    return gudhi


def rlt_from_intervals(intervals, alpha_max, i_max=100):
    """Relative living times of a persistence diagram (Khrulkov & Oseledets 2018, eq. 2-3).

    ``intervals`` (k, 2): the (birth, death) of each 1-dimensional homology class, deaths
    possibly inf; ``alpha_max`` > 0 the end of the filtration. With beta_1(alpha) = the number
    of intervals holding alpha (birth <= alpha < death, deaths cut at ``alpha_max``),

        RLT(i) = |{alpha in [0, alpha_max] : beta_1(alpha) = i}| / alpha_max,  i = 0..i_max-1,

    the share of the filtration during which exactly i holes are alive. It sums to 1 unless
    more than i_max - 1 holes live at once (that time is not counted). Returns (i_max,).
    """
    iv = np.asarray(intervals, dtype="float64")
    if iv.size == 0:
        iv = iv.reshape(0, 2)
    if iv.ndim != 2 or iv.shape[1] != 2:
        raise ValueError(f"intervals must be a (k, 2) array of (birth, death) pairs, got shape {iv.shape}.")
    if np.any(np.isnan(iv)) or not np.all(np.isfinite(iv[:, 0])):
        raise ValueError("intervals hold NaN, or an infinite birth.")
    if np.any(iv[:, 0] < 0) or np.any(iv[:, 1] < iv[:, 0]):
        raise ValueError("every interval needs 0 <= birth <= death.")
    alpha_max = _positive(alpha_max, "alpha_max")
    _check_int(i_max, "i_max")
    births = np.minimum(iv[:, 0], alpha_max)
    deaths = np.minimum(iv[:, 1], alpha_max)                       # still alive at the end: cut
    edges = np.unique(np.concatenate([[0.0, alpha_max], births, deaths]))
    mids, lengths = (edges[:-1] + edges[1:]) / 2.0, np.diff(edges)
    alive = ((births[None, :] <= mids[:, None]) & (mids[:, None] < deaths[None, :])).sum(axis=1)
    return np.bincount(alive, weights=lengths, minlength=i_max)[:i_max] / alpha_max


def _witness_rlt(gudhi, x, landmarks, gamma, i_max):
    """One trial of the paper's Algorithm 1: witness complex of the landmarks, all points
    as witnesses, filtration up to alpha_max = gamma * max distance(witness, landmark)."""
    d = np.sqrt(_sq_distances(x, x[landmarks]))                    # (n witnesses, L landmarks)
    order = np.argsort(d, axis=1, kind="stable")
    nearest = np.take_along_axis(d, order, axis=1)
    table = [list(zip(o.tolist(), s.tolist())) for o, s in zip(order, nearest)]
    alpha_max = gamma * float(d.max())
    tree = gudhi.WitnessComplex(nearest_landmark_table=table).create_simplex_tree(
        max_alpha_square=alpha_max, limit_dimension=2)             # triangles: enough for H_1
    tree.compute_persistence(homology_coeff_field=2)
    return rlt_from_intervals(tree.persistence_intervals_in_dimension(1), alpha_max, i_max)


def _reference_gamma(n):
    """The reference code's default gamma for n points: 1/128 * n / 5000."""
    return GS_GAMMA_BASE * n / GS_GAMMA_POINTS


def relative_living_times(x, num_landmarks=64, gamma=None, i_max=100, trials=100, seed=0):
    """RLTs of ``trials`` random landmark sets (Khrulkov & Oseledets 2018, Algorithm 1).

    Each trial draws ``num_landmarks`` (L0) landmarks from the points, builds the (weak)
    witness complex of the landmarks with every point as a witness (Euclidean distances,
    gudhi's ``WitnessComplex``), computes the persistence of its 1-dimensional homology over
    [0, alpha_max], alpha_max = ``gamma`` * the largest witness-landmark distance, and its
    ``rlt_from_intervals``. ``x``: images (flattened) or features (n, d), n >= L0. Returns
    (trials, i_max); its mean over trials is the MRLT.

    Defaults and departures from the authors' reference code (KhrulkovV/geometry-score):

    - L0 = 64 and i_max = 100, as there;
    - ``gamma=None`` is the reference's default, which scales with the number of points n:
      gamma = 1/128 * n / 5000 (1/128 at 5,000 points); an explicit ``gamma`` is used as given;
    - as there, the distances (not their squares) go to gudhi's ``max_alpha_square``;
    - departure: landmarks are drawn without replacement (the reference draws with
      replacement, so a landmark can repeat);
    - departure: ``trials`` defaults to 100 (the reference's default is 1,000), for time; the
      MRLT's sampling noise shrinks like 1/sqrt(trials).

    The witness complex needs many witnesses per landmark: with few points (or many
    dimensions) thin triangles go unwitnessed and short-lived spurious holes appear, and the
    reference's default makes the filtration shorter for smaller sets, leaving them more of
    those. Measured with the defaults (10 trials): a noisy circle of 1,000 or 2,000 points
    peaks at 1 hole (85% of the filtration), but a filled 2-D Gaussian blob of 1,000 points
    peaks at about 20 spurious holes, and one of 5,000 points peaks at 0 holes for only 22%
    of the filtration. For small sets, fewer landmarks and a larger explicit ``gamma`` than
    the reference's remove them (the tests use 16 landmarks and gamma = 1/32 for blobs of
    1,000 points): a departure from the reference, to be stated with the results. Compare
    only sets of equal size with equal parameters (``gamma=None`` gives sets of different
    sizes different gammas). A trial takes about 0.1 s for 5000 MNIST digits.
    """
    gudhi = _import_gudhi()
    _check_int(num_landmarks, "num_landmarks", minimum=3)
    data = _as_samples(x, "x", min_rows=num_landmarks)
    gamma = _reference_gamma(len(data)) if gamma is None else _positive(gamma, "gamma")
    _check_int(i_max, "i_max")
    _check_int(trials, "trials")
    if not np.any(data != data[0]):
        raise ValueError("all points of x coincide: there is no geometry to measure.")
    rng = np.random.default_rng(seed)
    return np.stack([_witness_rlt(gudhi, data, rng.choice(len(data), num_landmarks, replace=False), gamma, i_max)
                     for _ in range(trials)])


def geometry_score_from_rlts(rlts_a, rlts_b):
    """Geometry score from two sets of RLTs (Khrulkov & Oseledets 2018, Algorithm 2):
    GS = sum_i (MRLT_a(i) - MRLT_b(i))^2, MRLT = the mean of the rows (trials, i_max).
    Returns ``GeometryScore``."""
    a = np.asarray(rlts_a, dtype="float64")
    b = np.asarray(rlts_b, dtype="float64")
    if a.ndim != 2 or b.ndim != 2 or a.shape[0] == 0 or b.shape[0] == 0 or a.shape[1] != b.shape[1]:
        raise ValueError(f"rlts_a and rlts_b must be non-empty (trials, i_max) arrays with the same i_max, "
                         f"got shapes {a.shape} and {b.shape}.")
    if not (np.all(np.isfinite(a)) and np.all(np.isfinite(b))):
        raise ValueError("rlts_a and rlts_b hold NaN or inf.")
    mrlt_a, mrlt_b = a.mean(axis=0), b.mean(axis=0)
    return GeometryScore(float(np.sum((mrlt_a - mrlt_b) ** 2)), mrlt_a, mrlt_b)


def geometry_score(x_a, x_b, num_landmarks=64, gamma=None, i_max=100, trials=100, seed=0):
    """Geometry Score (Khrulkov & Oseledets 2018, "Geometry Score: a method for comparing
    generative adversarial networks"): how alike the topology of two point sets is.

    ``relative_living_times`` of each set (``trials`` random landmark sets of
    ``num_landmarks`` each), averaged into MRLTs, then GS = sum of their squared
    differences (``geometry_score_from_rlts``); the score lies in [0, 2] (two MRLTs that
    each sum to 1). The MRLT of a set shows how many holes (1-dimensional homology) its
    manifold has: at the defaults, points on a noisy circle peak at 1 and on two disjoint
    circles at 2; a filled blob has none, but its MRLT peaks at 0 only with enough witnesses
    per landmark (see ``relative_living_times``: a 2-D blob of 1,000 points peaks at about
    20 spurious holes at the defaults, and at 0 with 16 landmarks and gamma = 1/32). Only
    distances within each set are used, so the two sets may even live in different spaces.
    ``x_a``, ``x_b``: images (flattened) or features; ``gamma=None`` is the reference's
    1/128 * n / 5000 for each set's own n, so give both sets the same size. Returns
    ``GeometryScore``.
    """
    rlts_a = relative_living_times(x_a, num_landmarks, gamma, i_max, trials, seed)
    rlts_b = relative_living_times(x_b, num_landmarks, gamma, i_max, trials, seed + 1)
    return geometry_score_from_rlts(rlts_a, rlts_b)


# ---------------------------------------------------------------------------------------
# 6. Boundary distortion (Santurkar, Schmidt & Madry 2018)
# ---------------------------------------------------------------------------------------

class BoundaryDistortion(NamedTuple):
    """On the real test examples of the two classes: real_accuracy of the linear classifier
    trained on real examples, fake_accuracy of the one trained on generated examples, and
    drop = real_accuracy - fake_accuracy (> 0: the generated classes' boundary is distorted)."""
    real_accuracy: float
    fake_accuracy: float
    drop: float


def _fit_predict(classifier, x_train, y_train, x_test):
    """Fit the named or given classifier on the training rows, predict the test rows. The
    named ones standardise by the training rows (deviation floored at ``STD_FLOOR``)."""
    from sklearn.base import clone
    from sklearn.linear_model import LogisticRegression
    from sklearn.svm import LinearSVC

    if isinstance(classifier, str) and classifier in CLASSIFIERS:
        mean, scale = _floored_standardiser(x_train)
        model = LogisticRegression(C=LOGISTIC_C, max_iter=1000) if classifier == "logistic" else LinearSVC()
        return model.fit((x_train - mean) / scale, y_train).predict((x_test - mean) / scale)
    return clone(classifier).fit(x_train, y_train).predict(x_test)


def _check_classifier(classifier):
    named = isinstance(classifier, str) and classifier in CLASSIFIERS
    estimator = not isinstance(classifier, str) and hasattr(classifier, "fit") and hasattr(classifier, "predict")
    if not (named or estimator):
        raise ValueError(f"classifier must be one of {CLASSIFIERS} or a scikit-learn classifier, got {classifier!r}.")


def _as_class_pair(classes):
    """Any length-2 sequence of two different integer labels -> [a, b] (Python ints)."""
    c = np.asarray(classes) if isinstance(classes, (list, tuple, np.ndarray)) else np.asarray([classes])
    if c.shape != (2,) or not np.issubdtype(c.dtype, np.integer) or c[0] == c[1]:
        raise ValueError(f"classes must be a pair of two different integer labels (a, b), got {classes!r}.")
    return [int(c[0]), int(c[1])]


def _two_classes(x, y, classes, name):
    """Rows of samples x (labels y) in the two classes, both present -> (x, y)."""
    keep = np.isin(y, classes)
    missing = [c for c in classes if not np.any(y == c)]
    if missing:
        raise ValueError(f"{name} has no example of class {missing[0]}; each set needs both classes {tuple(classes)}.")
    return x[keep], y[keep]


def boundary_distortion(x_real, y_real, x_fake, y_fake, x_test, y_test, classes=None, classifier="logistic"):
    """Boundary distortion (Santurkar, Schmidt & Madry 2018, "A classification-based study of
    covariate shift in GAN distributions"), for one pair of classes.

    A linear classifier is trained on real examples of the two classes (``x_real``,
    ``y_real``) and another on generated examples of them (``x_fake`` with labels
    ``y_fake``); both are scored on real test examples of the two classes (``x_test``,
    ``y_test``). The generated examples need labels: in the paper they came from the
    generators themselves (one generator per class, or a conditional generator asked for
    each class). Here ``y_fake`` is whatever labels the caller gives: the class each sample
    was generated for, for a conditional model; 08b labels an unconditional model's images
    by its MNIST classifier instead, a departure from the paper.

    A linear boundary moves only when the generated classes change asymmetrically: one
    class shifted toward the other, or shrunk or spread unlike the other, or the axis
    between them rotated. Then the generated-data classifier's boundary is off and its
    accuracy on real data drops below the real-trained one's. A symmetric change, e.g.
    both classes' spread shrunk alike or both means pulled halfway to the centre, leaves the
    boundary where it was: the drop stays about 0, so this measure does not see it.

    ``classes``: the pair (a, b) to use (any length-2 sequence or array of two different
    integer labels; other examples are left out); None: the labels must hold exactly two
    classes. ``classifier``: ``"logistic"`` (logistic regression, L2 penalty with C = 1) or
    ``"svm"`` (linear SVM, ``LinearSVC``), each on inputs standardised by its own training
    data's mean and standard deviation, the deviation floored at ``STD_FLOOR`` = 0.1 (so a
    pixel that is 0 in every real digit and 0.001 in generated ones cannot become a large
    z-score that moves the boundary); or any scikit-learn classifier (cloned, fitted on the
    raw inputs). Samples are images (flattened) or features (n, d). Returns
    ``BoundaryDistortion``.
    """
    _check_classifier(classifier)
    sets = {}
    for name, x, y in (("real", x_real, y_real), ("fake", x_fake, y_fake), ("test", x_test, y_test)):
        xs = _as_samples(x, f"x_{name}", min_rows=2)
        ys = np.asarray(y)
        if ys.ndim != 1 or not np.issubdtype(ys.dtype, np.integer):
            raise ValueError(f"y_{name} must be a 1-D array of integer labels, got {ys.dtype} {ys.shape}.")
        if len(ys) != len(xs):
            raise ValueError(f"y_{name} must have one label per sample: {len(xs)} samples, {len(ys)} labels.")
        sets[name] = (xs, ys)
    _check_same_dim(sets["real"][0], sets["fake"][0], "x_real", "x_fake")
    _check_same_dim(sets["real"][0], sets["test"][0], "x_real", "x_test")
    if classes is None:
        present = np.unique(sets["real"][1])
        if len(present) != 2:
            raise ValueError(f"y_real holds {len(present)} classes ({present.tolist()}): pass classes=(a, b) "
                             f"to choose the pair.")
        classes = present.tolist()
    else:
        classes = _as_class_pair(classes)
    xr, yr = _two_classes(*sets["real"], classes, "y_real")
    xf, yf = _two_classes(*sets["fake"], classes, "y_fake")
    xt, yt = _two_classes(*sets["test"], classes, "y_test")
    real_accuracy = float(np.mean(_fit_predict(classifier, xr, yr, xt) == yt))
    fake_accuracy = float(np.mean(_fit_predict(classifier, xf, yf, xt) == yt))
    return BoundaryDistortion(real_accuracy, fake_accuracy, real_accuracy - fake_accuracy)
