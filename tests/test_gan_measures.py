"""Tests for course_lib.gan_measures: each of the six measures against a closed form, a paper's
worked example or a toy case whose answer is known, plus the bad-input paths."""

import math
import sys

import keras
import numpy as np
import pytest
from scipy import special, stats

from course_lib import gan

from course_lib import gan_measures
from course_lib.gan_measures import (
    GAM,
    GLICKO_VOLATILITY_MAX,
    NRDS,
    AdversarialScores,
    BoundaryDistortion,
    GeometryScore,
    Glicko2Rating,
    RealClassifier,
    SkillRatings,
    TournamentWinRate,
    adversarial_accuracy_divergence,
    adversarial_baseline,
    adversarial_scores,
    boundary_distortion,
    discriminator_probabilities,
    gam,
    gam_from_probabilities,
    geometry_score,
    geometry_score_from_rlts,
    glicko2_update,
    nrds,
    nrds_from_curves,
    real_classifier,
    relative_living_times,
    rlt_from_intervals,
    tournament_outputs,
    tournament_skill_ratings,
    tournament_win_rate,
    two_proportion_z,
)

Phi = stats.norm.cdf


def threshold_discriminator(t):
    """D(x) = 1 if |x| < t else 0, on (n, 1) samples: 'real' means close to 0."""
    return lambda x: (np.abs(x[:, 0]) < t).astype("float64")


def step_discriminator(c):
    """D(x) = 1 if x > c else 0, on (n, 1) samples: 'real' means right of c."""
    return lambda x: (x[:, 0] > c).astype("float64")


def normal(n, mean=0.0, sd=1.0, seed=0, d=1):
    return mean + sd * np.random.default_rng(seed).normal(size=(n, d))


def with_border_columns(x, y, seed=0, sparse=20, zeros=5):
    """x with MNIST-border-like columns appended: ``zeros`` columns exactly 0, and ``sparse``
    columns that are 0 but for rare faint ink (1% of the class-1 rows, values below 0.02)."""
    rng = np.random.default_rng(seed + 1000)
    n = len(x)
    ink = (rng.uniform(size=(n, sparse)) < 0.01) & (np.asarray(y)[:, None] == 1)
    faint = np.where(ink, rng.uniform(0.0, 0.02, (n, sparse)), 0.0)
    return np.c_[x, faint, np.zeros((n, zeros))]


def nearly_perfect(x):
    """The review's 'perfect' generator: every value kept but for 0.2%, plus 0.001."""
    return 0.998 * x + 0.001


def circle(n, centre=(0.0, 0.0), noise=0.01, seed=0):
    t = np.random.default_rng(seed).uniform(0.0, 2 * np.pi, n)
    points = np.c_[np.cos(t) + centre[0], np.sin(t) + centre[1]]
    return points + noise * np.random.default_rng(seed + 100).normal(size=(n, 2))


# ----------------------------------------------------------------------------- discriminators

def test_discriminator_probabilities_of_functions_and_keras_models():
    x = np.array([[0.0, 1.0], [2.0, -1.0], [-3.0, 0.5]])
    got = discriminator_probabilities(lambda s: special.expit(s.sum(axis=1, keepdims=True)), x, from_logits=False)
    np.testing.assert_allclose(got, special.expit([1.0, 1.0, -2.5]), rtol=1e-12)      # (n, 1) -> (n,)
    assert got.shape == (3,) and got.dtype == np.float64
    logits = discriminator_probabilities(lambda s: s[:, 0], x, from_logits=True)
    np.testing.assert_allclose(logits, special.expit([0.0, 2.0, -3.0]), rtol=1e-12)
    keras.utils.set_random_seed(0)
    model = keras.Sequential([keras.Input((2,)), keras.layers.Dense(1, activation="sigmoid")])
    w, b = (v.astype("float64") for v in model.layers[0].get_weights())
    np.testing.assert_allclose(discriminator_probabilities(model, x, from_logits=False, batch_size=2),
                               special.expit(x @ w + b)[:, 0], rtol=1e-5)


@pytest.mark.parametrize("discriminator, samples, match", [
    ("not a model", np.zeros((3, 1)), "Keras model or a function"),
    (lambda s: np.zeros((len(s), 2)), np.zeros((3, 1)), r"one value per sample.*\(3, 2\)"),
    (lambda s: np.full(len(s), 2.0), np.zeros((3, 1)), r"\[0, 1\].*from_logits=True"),
    (lambda s: np.full(len(s), np.nan), np.zeros((3, 1)), "NaN"),
    (lambda s: np.zeros(len(s)), np.zeros((0, 1)), "non-empty batch"),
    (lambda s: np.zeros(len(s)), np.full((2, 1), np.inf), "NaN or inf"),
    # uint8 images straight from the data set: 0..255, not [0, 1]
    (lambda s: np.zeros(len(s)), np.full((2, 28, 28, 1), 255, dtype="uint8"), r"values in \[0, 1\].*range 255"),
    (lambda s: np.zeros(len(s)), np.full((2, 784), 2.0), r"values in \[0, 1\]"),
    (lambda s: np.zeros(len(s)), np.zeros((2, 27, 27)), "batch of 28x28 images"),
])
def test_bad_discriminators_and_samples_are_rejected(discriminator, samples, match):
    with pytest.raises(ValueError, match=match):
        discriminator_probabilities(discriminator, samples, from_logits=False)


def test_from_logits_is_a_required_keyword():
    d, x = (lambda s: s[:, 0]), np.full((3, 1), 0.3)
    with pytest.raises(TypeError, match="from_logits"):
        discriminator_probabilities(d, x)
    with pytest.raises(TypeError, match="from_logits"):
        gam(d, d, x, x, x)
    with pytest.raises(TypeError, match="from_logits"):
        tournament_outputs([d], x, [x])
    with pytest.raises(ValueError, match="from_logits must be True"):
        discriminator_probabilities(d, x, from_logits="yes")


def test_course_discriminator_logits_match_sigmoid_probabilities_by_hand():
    # two untrained course discriminators (seeded), their logits turned into D(x) by hand
    keras.utils.set_random_seed(1)
    d1 = gan.build_discriminator()
    keras.utils.set_random_seed(2)
    d2 = gan.build_discriminator()
    rng = np.random.default_rng(0)
    x_test = rng.uniform(size=(24, 28, 28, 1)).astype("float32")
    s1 = (rng.uniform(size=(24, 28, 28, 1)) ** 3).astype("float32")       # darker "samples"
    s2 = np.zeros((24, 28, 28, 1), dtype="float32")

    def by_hand(d, x):
        return special.expit(d.predict(x, verbose=0)[:, 0].astype("float64"))

    got = gam(d1, d2, x_test, s1, s2, from_logits=True)
    expected = gam_from_probabilities(by_hand(d1, x_test), by_hand(d2, x_test), by_hand(d1, s2), by_hand(d2, s1))
    assert got == expected
    d_real, d_fake = tournament_outputs([d1, d2], x_test, [s1, s2], from_logits=True)
    np.testing.assert_allclose(d_real, [by_hand(d1, x_test), by_hand(d2, x_test)], rtol=1e-6)
    np.testing.assert_allclose(d_fake, [[by_hand(d, s) for d in (d1, d2)] for s in (s1, s2)], rtol=1e-6)
    assert 0.0 < d_fake.min() < d_fake.max() < 1.0 and np.ptp(d_real) > 0    # sigmoid, not a constant
    # the logits themselves are not probabilities: D1's include negative ones, rejected
    assert d1.predict(x_test, verbose=0).min() < 0.0
    with pytest.raises(ValueError, match="from_logits=True"):
        tournament_outputs([d1], x_test, [s1], from_logits=False)


# ----------------------------------------------------------------------------- GAM

def test_gam_counts_errors_and_names_the_winner():
    d1_test, d2_test = [0.9, 0.8, 0.4, 0.7], [0.6, 0.3, 0.9, 0.9]       # each misses 1 of 4 real
    d1_on_g2, d2_on_g1 = [0.2, 0.6, 0.1, 0.1], [0.9, 0.7, 0.1, 0.3]     # G2 fools D1 1/4, G1 fools D2 2/4
    result = gam_from_probabilities(d1_test, d2_test, d1_on_g2, d2_on_g1)
    assert isinstance(result, GAM)
    assert result == (1.0, 0.5, "M1", True, 0.0, 1.0, 0.25, 0.25, 0.25, 0.5, 1, 1, 1, 2)
    assert gam_from_probabilities(d2_test, d1_test, d2_on_g1, d1_on_g2)[:4] == (1.0, 2.0, "M2", True)
    # a discriminator at exactly 0.5 classifies "fake": an error on real, no error on fake
    assert gam_from_probabilities([0.5, 0.9], [0.1, 0.9], [0.5], [0.5])[:3] == (1.0, 1.0, "tie")
    # r_test = 0.5, but 1 vs 2 errors in 4 images is no evidence that D1 and D2 differ:
    # z = -0.25 / sqrt(3/8 * 5/8 * 2/4) = -0.730, the verdict stands
    small = gam_from_probabilities(d1_test, [0.1, 0.3, 0.9, 0.9], d1_on_g2, d2_on_g1)
    assert small[:4] == (0.5, 0.5, "M1", True)
    assert small.z_test == pytest.approx(-0.25 / math.sqrt(3 / 8 * 5 / 8 * 2 / 4), rel=1e-12)
    # a stricter critical value than |z| makes it a tie (Im et al.: no verdict)
    strict = gam_from_probabilities(d1_test, [0.1, 0.3, 0.9, 0.9], d1_on_g2, d2_on_g1, z_critical=0.5)
    assert (strict.winner, strict.valid) == ("tie", False)
    # both discriminators perfect on real (0/0 = 1, z = 0); only G2 ever fools its opponent (x/0 = inf)
    perfect = gam_from_probabilities([0.9], [0.8], [0.7, 0.2], [0.1, 0.3])
    assert perfect[:6] == (1.0, math.inf, "M2", True, 0.0, 1.0)


def test_gam_validity_is_a_two_proportion_z_test():
    # closed form: 10 and 20 errors of 100, pooled p = 0.15, se = sqrt(0.15 * 0.85 * 2 / 100)
    z, p = two_proportion_z(10, 20, 100)
    assert z == pytest.approx(-0.1 / math.sqrt(0.15 * 0.85 * 0.02), rel=1e-12)          # -1.980
    assert p == pytest.approx(0.04767, abs=1e-5)                                         # 2 (1 - Phi(1.980))
    assert two_proportion_z(20, 10, 100) == pytest.approx((-z, p))
    assert two_proportion_z(7, 7, 100) == (0.0, 1.0) and two_proportion_z(0, 0, 5) == (0.0, 1.0)

    def verdict(k1, k2, n):
        """GAM of two discriminators with k1 and k2 errors on n real images; G1 fools D2 more."""
        d1_test = np.r_[np.full(k1, 0.1), np.full(n - k1, 0.9)]
        d2_test = np.r_[np.full(k2, 0.1), np.full(n - k2, 0.9)]
        return gam_from_probabilities(d1_test, d2_test, [0.9, 0.1, 0.1, 0.1], [0.9, 0.9, 0.1, 0.1])

    unequal = verdict(10, 20, 100)
    assert unequal.z_test == pytest.approx(z) and unequal.p_value == pytest.approx(p)
    assert (unequal.winner, unequal.valid, unequal.errors_d1_test, unequal.errors_d2_test) == ("tie", False, 10, 20)
    # 10 vs 19: z = -0.09 / sqrt(0.145 * 0.855 * 0.02) = -1.807, inside +-1.96
    close = verdict(10, 19, 100)
    assert close.z_test == pytest.approx(-0.09 / math.sqrt(0.145 * 0.855 * 0.02), rel=1e-12)
    assert close.valid and close.winner == "M1"
    # 2% error on 10,000 images: 200 vs 230 errors is r_test = 0.87, noise (z = -1.46);
    # 200 vs 260 is a real difference (z = -2.83)
    assert verdict(200, 230, 10_000).valid and not verdict(200, 260, 10_000).valid
    assert verdict(200, 230, 10_000).r_test == pytest.approx(200 / 230)


def test_gam_of_gaussian_generators_matches_the_closed_form():
    # real data N(0, 1); D(x) = 1[|x| < t]; G1 = N(0, 1.5^2) is closer to the data than G2 = N(0, 3^2).
    # err(D on real) = 2 (1 - Phi(t)); err(D on N(0, s^2)) = P(|y| < t) = 2 Phi(t / s) - 1.
    n = 20_000
    x_test = normal(n, seed=0)
    g1, g2 = normal(n, sd=1.5, seed=1), normal(n, sd=3.0, seed=2)
    result = gam(threshold_discriminator(2.0), threshold_discriminator(2.0), x_test, g1, g2, from_logits=False)
    assert result.r_test == 1.0 and result.valid and result.z_test == 0.0   # same rule on the same images
    expected = (2 * Phi(2.0 / 3.0) - 1) / (2 * Phi(2.0 / 1.5) - 1)    # 0.605
    assert result.r_samples == pytest.approx(expected, abs=0.02)      # sampling sd ~ 0.005
    assert result.winner == "M1"
    assert result.error_d1_test == pytest.approx(2 * (1 - Phi(2.0)), abs=0.005)
    # D2 stricter on real data: r_test = (1 - Phi(2)) / (1 - Phi(1.5)) = 0.34, no verdict
    unequal = gam(threshold_discriminator(2.0), threshold_discriminator(1.5), x_test, g1, g2, from_logits=False)
    assert unequal.r_test == pytest.approx((1 - Phi(2.0)) / (1 - Phi(1.5)), rel=0.1)
    assert unequal.winner == "tie" and not unequal.valid and unequal.z_test < -10
    # r_samples = err(D1 = 1[|x| < 2] on G2) / err(D2 = 1[|x| < 1.5] on G1)
    #           = (2 Phi(2/3) - 1) / (2 Phi(1) - 1) = 0.725; D1 and D2 swapped would give 0.468
    swapped = (2 * Phi(1.5 / 3.0) - 1) / (2 * Phi(2.0 / 1.5) - 1)
    assert unequal.r_samples == pytest.approx((2 * Phi(2 / 3) - 1) / (2 * Phi(1.0) - 1), abs=0.02)
    assert abs(unequal.r_samples - swapped) > 0.2


def test_gam_inputs_are_validated():
    ok = [0.9, 0.1]
    with pytest.raises(ValueError, match="same test images: got lengths 2 and 3"):
        gam_from_probabilities(ok, [0.9, 0.1, 0.5], ok, ok)
    with pytest.raises(ValueError, match=r"d1_on_samples2 must hold probabilities.*\[0, 1\]"):
        gam_from_probabilities(ok, ok, [1.2, 0.3], ok)
    with pytest.raises(ValueError, match="d2_on_samples1 is empty"):
        gam_from_probabilities(ok, ok, ok, [])
    with pytest.raises(ValueError, match="d1_test holds NaN"):
        gam_from_probabilities([np.nan, 0.5], ok, ok, ok)
    with pytest.raises(ValueError, match="1-D array"):
        gam_from_probabilities(np.full((2, 2), 0.5), np.full((2, 2), 0.5), ok, ok)
    with pytest.raises(ValueError, match="z_critical must be a positive number"):
        gam_from_probabilities(ok, ok, ok, ok, z_critical=0)
    with pytest.raises(ValueError, match="z_critical must be a positive number"):
        gam_from_probabilities(ok, ok, ok, ok, z_critical="1.96")
    with pytest.raises(ValueError, match="x_test must be a non-empty batch"):
        gam(threshold_discriminator(1.0), threshold_discriminator(1.0), np.zeros((0, 1)), ok, ok, from_logits=False)
    with pytest.raises(ValueError, match="errors2 must be an integer >= 0 and <= 10"):
        two_proportion_z(3, 11, 10)


# ----------------------------------------------------------------------------- tournament

def test_tournament_win_rules_on_hand_made_matches():
    # 2 discriminators x 4 matches; D1 rejects the real sample of match 3
    d_real = np.array([[0.9, 0.9, 0.9, 0.9],
                       [0.9, 0.9, 0.2, 0.9]])
    # generator 0 fools D0 in matches 0-1 and D1 in match 0; generator 1 never fools anyone
    d_fake = np.array([[[0.8, 0.6, 0.1, 0.1], [0.7, 0.4, 0.1, 0.1]],
                       [[0.1, 0.1, 0.1, 0.1], [0.1, 0.1, 0.1, 0.1]]])
    both = tournament_win_rate(d_real, d_fake)
    assert isinstance(both, TournamentWinRate)
    np.testing.assert_array_equal(both.win_matrix, [[2 / 4, 2 / 4], [0.0, 1 / 4]])   # D1 gives away match 2
    np.testing.assert_array_equal(both.win_rate, [0.5, 0.125])
    np.testing.assert_array_equal(both.discriminator_win_rate, [1 - 1 / 4, 1 - 3 / 8])
    fake_only = tournament_win_rate(d_real, d_fake, rule="fake")
    np.testing.assert_array_equal(fake_only.win_matrix, [[2 / 4, 1 / 4], [0.0, 0.0]])


def test_tournament_win_rate_matches_the_closed_form():
    # real x ~ N(0, 1), G_i(z) ~ N(mu_i, 1), D_j(x) = 1[x > c_j]. Rule "both": D wins iff
    # x > c and G(z) <= c, so P(G wins) = 1 - Phi(-c) Phi(c - mu); rule "fake": Phi(mu - c).
    m, mus, cs = 8000, (-2.0, -0.5), (-1.0, 0.0)
    real = normal(m, seed=0)
    generated = [normal(m, mean=mu, seed=1 + i) for i, mu in enumerate(mus)]
    d_real, d_fake = tournament_outputs([step_discriminator(c) for c in cs], real, generated, from_logits=False)
    assert d_real.shape == (2, m) and d_fake.shape == (2, 2, m)
    both = np.array([[1 - Phi(-c) * Phi(c - mu) for c in cs] for mu in mus])
    fake = np.array([[Phi(mu - c) for c in cs] for mu in mus])
    np.testing.assert_allclose(tournament_win_rate(d_real, d_fake).win_matrix, both, atol=0.02)
    np.testing.assert_allclose(tournament_win_rate(d_real, d_fake, rule="fake").win_matrix, fake, atol=0.02)
    assert tournament_win_rate(d_real, d_fake).win_rate[1] > tournament_win_rate(d_real, d_fake).win_rate[0]


def test_glicko2_reproduces_glickmans_worked_example():
    # Glickman, "Example of the Glicko-2 system": 1500 / RD 200 / 0.06 plays 1400/30 (win),
    # 1550/100 (loss), 1700/300 (loss) with tau = 0.5 -> 1464.06, 151.52, 0.05999
    new = glicko2_update(1500, 200, 0.06, [1400, 1550, 1700], [30, 100, 300], [1, 0, 0], tau=0.5)
    assert isinstance(new, Glicko2Rating)
    assert new.rating == pytest.approx(1464.06, abs=0.02)
    assert new.rd == pytest.approx(151.52, abs=0.01)
    assert new.volatility == pytest.approx(0.05999, abs=1e-5)


def test_glicko2_without_games_and_with_an_even_result():
    # no games: only phi grows, phi' = sqrt(phi^2 + sigma^2)
    idle = glicko2_update(1600.0, 80.0, 0.06, [], [], [])
    assert idle.rating == 1600.0 and idle.volatility == 0.06
    assert idle.rd == pytest.approx(173.7178 * math.sqrt((80 / 173.7178) ** 2 + 0.06**2), rel=1e-12)
    # a draw against an equal player: E = 1/2 = s, so Delta = 0 and the rating stays put
    draw = glicko2_update(1500.0, 200.0, 0.06, [1500.0], [200.0], [0.5])
    assert draw.rating == pytest.approx(1500.0, abs=1e-9) and draw.rd < 200.0
    assert glicko2_update(1500.0, 200.0, 0.06, [1500.0], [200.0], [1.0]).rating > 1500.0


def test_skill_ratings_order_players_and_treat_equals_equally():
    # generators 0 and 1 play identically; generator 2 wins every match, generator 3 none;
    # discriminator 1 rejects every real sample (so under rule "both" it loses every match)
    m = 6
    d_real = np.array([[0.9] * m, [0.1] * m])
    pattern = np.array([[0.9, 0.1, 0.1, 0.9, 0.1, 0.1]] * 2)
    d_fake = np.stack([pattern, pattern, np.full((2, m), 0.9), np.full((2, m), 0.1)])
    ratings = tournament_skill_ratings(d_real, d_fake, num_periods=3)
    assert isinstance(ratings, SkillRatings)
    g = ratings.generator_ratings
    assert g[0] == g[1]                                                # the same results, the same rating
    assert g[2] > g[0] > g[3]
    assert ratings.discriminator_ratings[0] > ratings.discriminator_ratings[1]
    assert np.all(ratings.generator_rds < 350.0)                       # games shrink the uncertainty
    # generator 2 won every match, discriminator 1 lost every one (generator 3 beat it)
    np.testing.assert_array_equal(ratings.generator_perfect_record, [False, False, True, False])
    np.testing.assert_array_equal(ratings.discriminator_perfect_record, [False, True])
    # the win rate orders the generators the same way
    rate = tournament_win_rate(d_real, d_fake).win_rate
    assert rate[2] > rate[0] == rate[1] > rate[3]


def test_one_period_skill_ratings_are_one_glicko2_update_each():
    # one generator against one discriminator, all 40 matches in one period: each player's
    # rating is one Glicko-2 update from the unrated start against the other's start
    m = 40
    rng = np.random.default_rng(3)
    d_real = rng.uniform(size=(1, m))
    d_fake = rng.uniform(size=(1, 1, m))
    generator_won = (d_fake[0, 0] > 0.5) | (d_real[0] <= 0.5)           # rule "both"
    ratings = tournament_skill_ratings(d_real, d_fake, num_periods=1)
    g = glicko2_update(1500.0, 350.0, 0.06, [1500.0] * m, [350.0] * m, generator_won.astype(float))
    d = glicko2_update(1500.0, 350.0, 0.06, [1500.0] * m, [350.0] * m, (~generator_won).astype(float))
    assert 0 < generator_won.sum() < m
    assert ratings.generator_ratings[0] == g.rating and ratings.generator_rds[0] == g.rd
    assert ratings.discriminator_ratings[0] == d.rating and ratings.discriminator_rds[0] == d.rd
    assert g.rating - 1500.0 == pytest.approx(1500.0 - d.rating, rel=1e-9)    # a zero-sum game
    # first period: every expected score is 1/2, so v = 1 / (m g(phi)^2 / 4) whatever the
    # results, and RD' = 173.7178 / sqrt(1 / (phi^2 + sigma'^2) + 1/v) with sigma' ~ 0.06.
    # 2000 games: RD 350 -> 11.6 (the docstring's claim)
    phi = 350.0 / 173.7178
    g_phi = 1.0 / math.sqrt(1.0 + 3.0 * phi**2 / math.pi**2)
    for games in (m, 2000):
        expected_rd = 173.7178 / math.sqrt(1.0 / (phi**2 + 0.06**2) + games * g_phi**2 / 4.0)
        wins = (np.arange(games) % 3 == 0).astype(float)
        assert glicko2_update(1500.0, 350.0, 0.06, [1500.0] * games, [350.0] * games, wins).rd == \
            pytest.approx(expected_rd, abs=0.01)
    assert expected_rd == pytest.approx(11.6, abs=0.05)


def test_glicko2_of_extreme_rating_gaps_is_finite_and_exact():
    # an upset against a player 68,500 points above: E ~ 1e-170, so v ~ 1e170 and Delta^2 ~
    # 1e340 overflowed before. The exact update barely depends on the gap once E is tiny: the
    # rating moves by phi*^2 g (s - E) ~ +15, as against a player rated 9,000 (E ~ 2e-19)
    near = glicko2_update(1500, 50, 0.06, [9000], [30], [1])
    far = glicko2_update(1500, 50, 0.06, [70000], [30], [1])
    assert far.rating == pytest.approx(near.rating, abs=1e-6) and far.rating == pytest.approx(1514.95, abs=0.01)
    assert far.rd == pytest.approx(near.rd, rel=1e-9) and far.volatility == pytest.approx(0.06, abs=1e-4)
    # losing as expected to such a player, or any result once the information underflows to
    # exactly 0 (a gap of 198,500 points: every E is 0 in float64), is a period without
    # information: only the RD grows, as for a player who did not compete
    idle_rd = 173.7178 * math.hypot(50 / 173.7178, 0.06)
    for opponent, score in ((70000, 0), (200000, 1), (200000, 0)):
        new = glicko2_update(1500, 50, 0.06, [opponent], [30], [score])
        assert (new.rating, new.volatility) == (1500.0, 0.06) and new.rd == pytest.approx(idle_rd, rel=1e-12)
    # the strong side of the same games: 1 - E ~ 1e-170 is not rounded to 0
    strong = glicko2_update(70000, 30, 0.06, [1500], [50], [1])
    assert strong.rating == 70000.0 and strong.rd > 30.0
    # 2,000 surprising results against an opponent 6,000 points above: sigma' at its cap, finite
    wild = glicko2_update(1500, 50, 0.06, [7500] * 2000, [30] * 2000, [1] * 2000)
    assert wild.volatility == GLICKO_VOLATILITY_MAX == pytest.approx(350 / 173.7178)
    assert all(math.isfinite(x) for x in wild)


def near_certain_tournament(m, generator_1_wins):
    """One discriminator sure of every real sample (0.999999); generator 0 never fools it
    (1e-7), generator 1 fools it (0.999999) on the matches ``generator_1_wins``."""
    d_real = np.full((1, m), 0.999999)
    d_fake = np.stack([np.full((1, m), 1e-7), np.where(generator_1_wins, 0.999999, 1e-7)[None]])
    return d_real, d_fake


def test_skill_ratings_of_near_certain_outputs_never_overflow():
    # before: num_periods=4 of 200 matches overflowed in the 4th period (the simultaneous
    # updates swung the ratings tens of thousands of points apart, then Delta^2 overflowed)
    d_real, d_fake = near_certain_tournament(800, np.arange(800) % 3 == 0)
    old = tournament_skill_ratings(d_real, d_fake, rule="fake", num_periods=4)
    fields = [np.asarray(f, dtype=float) for f in old]
    assert all(np.all(np.isfinite(f)) for f in fields)
    assert np.all(old.generator_volatilities <= GLICKO_VOLATILITY_MAX)
    # the default schedule (15 games per player per period on average, here 11 matches per
    # pair): generator 1 wins a third of its matches, so it sits ~120 points below the
    # discriminator (logit(1/3) = -0.69 on Glicko-2's scale); generator 0 never wins: lowest,
    # flagged, its rating a bound
    new = tournament_skill_ratings(d_real, d_fake, rule="fake")
    assert new.generator_ratings[0] < new.generator_ratings[1] < new.discriminator_ratings[0]
    gap = new.discriminator_ratings[0] - new.generator_ratings[1]
    assert gap == pytest.approx(173.7178 * math.log(2), abs=2 * new.generator_rds[1])
    np.testing.assert_array_equal(new.generator_perfect_record, [True, False])
    np.testing.assert_array_equal(new.discriminator_perfect_record, [False])
    assert np.all(new.generator_volatilities < 0.07) and np.all(new.discriminator_volatilities < 0.07)


def test_skill_ratings_of_the_always_losing_generator_toy():
    # one discriminator; generator 0 always loses, generator 1 wins every other match;
    # 10,000 matches (before, the default 5 periods of 2,000 swung the ratings apart until
    # Delta^2 overflowed in the 5th period)
    d_real, d_fake = near_certain_tournament(10_000, np.arange(10_000) % 2 == 0)
    new = tournament_skill_ratings(d_real, d_fake, rule="fake")
    g, d = new.generator_ratings, new.discriminator_ratings[0]
    assert g[0] < g[1] and abs(g[1] - d) < 2 * new.generator_rds[1]     # an even record: level with D
    assert new.generator_rds[0] > 3 * new.generator_rds[1]              # the perfect loser's games carry no information
    assert new.generator_perfect_record.tolist() == [True, False]
    # the volatility stays near its start, 0.06: below 0.07 here, and never above the cap
    assert np.all(new.generator_volatilities < 0.07) and new.discriminator_volatilities[0] < 0.07
    # the old schedule still overshoots (periods of 2,000 games), but stays finite and capped
    old = tournament_skill_ratings(d_real, d_fake, rule="fake", num_periods=5)
    assert all(np.all(np.isfinite(np.asarray(f, dtype=float))) for f in old)
    assert np.all(np.r_[old.generator_volatilities, old.discriminator_volatilities] <= GLICKO_VOLATILITY_MAX)
    assert old.generator_ratings[0] < old.generator_ratings[1]


def test_default_periods_are_bounded_and_rotated_per_pair():
    # one pair: games_per_period=10 is 4 periods of 10 matches, the same as num_periods=4
    rng = np.random.default_rng(5)
    d_real, d_fake = rng.uniform(size=(1, 40)), rng.uniform(size=(1, 1, 40))
    by_size = tournament_skill_ratings(d_real, d_fake, games_per_period=10)
    by_count = tournament_skill_ratings(d_real, d_fake, num_periods=4)
    for a, b in zip(by_size, by_count):
        np.testing.assert_array_equal(a, b)
    # rule "both": a discriminator that rejects a real sample loses that match to every
    # generator. Cut into small periods of the same matches for all (num_periods), its results
    # swing together and Glicko-2 reads that as volatility; rotated per pair (the default),
    # they do not, and the ratings order the generators by win rate
    m, n_gen = 2000, 10
    d_real = np.where(rng.uniform(size=(1, m)) < 0.3, 0.1, 0.9)
    fool = np.linspace(0.05, 0.5, n_gen)[:, None, None]
    d_fake = np.where(rng.uniform(size=(n_gen, 1, m)) < fool, 0.9, 0.1)
    rotated = tournament_skill_ratings(d_real, d_fake)                  # 8 matches per pair and period
    same = tournament_skill_ratings(d_real, d_fake, num_periods=m // 8)
    assert rotated.discriminator_volatilities[0] < 0.07 < 0.3 < same.discriminator_volatilities[0]
    rate = tournament_win_rate(d_real, d_fake).win_rate
    assert stats.spearmanr(rate, rotated.generator_ratings)[0] > 0.9
    # the added fields have defaults: the four-field SkillRatings still builds
    assert SkillRatings(*rotated[:4]).generator_perfect_record is None


def test_tournament_and_glicko2_inputs_are_validated():
    d_real, d_fake = np.full((2, 3), 0.9), np.full((1, 2, 3), 0.1)
    with pytest.raises(ValueError, match=r"d_fake must have shape \(n_generators, 2, 3\)"):
        tournament_win_rate(d_real, np.full((1, 3, 3), 0.1))
    with pytest.raises(ValueError, match="rule must be one of"):
        tournament_win_rate(d_real, d_fake, rule="elo")
    with pytest.raises(ValueError, match=r"d_real must hold probabilities.*\[0, 1\]"):
        tournament_win_rate(d_real * 2, d_fake)
    with pytest.raises(ValueError, match="num_periods must be an integer >= 1 and <= 3"):
        tournament_skill_ratings(d_real, d_fake, num_periods=4)
    with pytest.raises(ValueError, match="num_periods"):
        tournament_skill_ratings(d_real, d_fake, num_periods=2.0)
    with pytest.raises(ValueError, match="games_per_period must be an integer >= 1"):
        tournament_skill_ratings(d_real, d_fake, games_per_period=0)
    with pytest.raises(ValueError, match="not both"):
        tournament_skill_ratings(d_real, d_fake, num_periods=2, games_per_period=10)
    with pytest.raises(ValueError, match="one match per real sample: generated"):
        tournament_outputs([step_discriminator(0.0)], np.zeros((3, 1)), [np.zeros((2, 1))], from_logits=False)
    with pytest.raises(ValueError, match="discriminators must be a non-empty list"):
        tournament_outputs([], np.zeros((3, 1)), [np.zeros((3, 1))], from_logits=False)
    with pytest.raises(ValueError, match=r"generated\[0\] must have values in \[0, 1\]"):
        tournament_outputs([step_discriminator(0.0)], np.zeros((3, 28, 28)), [np.full((3, 28, 28), 255.0)],
                           from_logits=False)
    with pytest.raises(ValueError, match="one entry per game"):
        glicko2_update(1500, 200, 0.06, [1400, 1500], [30], [1, 0])
    with pytest.raises(ValueError, match=r"scores must be in \[0, 1\]"):
        glicko2_update(1500, 200, 0.06, [1400], [30], [2])
    with pytest.raises(ValueError, match="rd must be a positive number"):
        glicko2_update(1500, -1, 0.06, [1400], [30], [1])
    with pytest.raises(ValueError, match="opponent_rds must be positive"):
        glicko2_update(1500, 200, 0.06, [1400], [0], [1])
    with pytest.raises(ValueError, match="NaN or inf"):
        glicko2_update(1500, 200, 0.06, [np.nan], [30], [1])
    with pytest.raises(ValueError, match="rating must be a finite number, got '1500'"):
        glicko2_update("1500", 200, 0.06, [1400], [30], [1])
    with pytest.raises(ValueError, match="rd must be a positive number, got '200'"):
        glicko2_update(1500, "200", 0.06, [1400], [30], [1])
    with pytest.raises(ValueError, match="opponent_ratings must hold numbers"):
        glicko2_update(1500, 200, 0.06, ["1400"], [30], [1])


# ----------------------------------------------------------------------------- NRDS

def test_nrds_from_curves_is_the_normalised_trapezoidal_area():
    curves = [[1.0, 1.0, 1.0], [0.0, 0.5, 1.0], [0.5, 0.25, 0.0]]      # areas 2, 1, 0.5
    result = nrds_from_curves(curves)
    assert isinstance(result, NRDS)
    np.testing.assert_allclose(result.areas, [2.0, 1.0, 0.5], rtol=1e-12)
    np.testing.assert_allclose(result.scores, [2 / 3.5, 1 / 3.5, 0.5 / 3.5], rtol=1e-12)


def test_nrds_ranks_models_by_how_long_they_pass_for_real():
    # real N(0, I); models A and B draw from the same distribution, C is shifted by 4:
    # the classifier learns to reject C at once, and cannot tell A or B from real data
    real = normal(600, d=2, seed=0)
    fakes = [normal(600, d=2, seed=1), normal(600, d=2, seed=2), normal(600, mean=4.0, d=2, seed=3)]
    result = nrds(real, fakes, epochs=4)
    assert result.curves.shape == (3, 4)
    assert result.scores.sum() == pytest.approx(1.0, rel=1e-12)
    assert result.scores[0] == pytest.approx(result.scores[1], abs=0.03)   # same distribution: same score
    assert min(result.scores[:2]) > 2 * result.scores[2]
    assert result.curves[2, -1] < result.curves[2, 0] < 0.5 < result.curves[0, -1]


def test_nrds_is_not_fooled_by_a_constant_offset_on_constant_features():
    # real data: two N(0, 1) features and six columns that are exactly 0 (like MNIST's border
    # pixels). Model A draws from the same distribution; model B is a nearly perfect model,
    # x -> 0.998 x + 0.001. Both pass for real alike, so both score ~1/2. Standardising by
    # the pool's own (tiny) deviation of the 0 / 0.001 columns would let the classifier
    # separate B at once (scores about 0.75 / 0.25).
    def sample(n, seed):
        return np.c_[normal(n, d=2, seed=seed), np.zeros((n, 6))]

    result = nrds(sample(400, 0), [sample(400, 1), nearly_perfect(sample(400, 2))], epochs=3)
    assert result.scores == pytest.approx([0.5, 0.5], abs=0.03)
    assert np.abs(result.curves[0] - result.curves[1]).max() < 0.05


def test_nrds_inputs_are_validated():
    x = normal(10, d=2)
    with pytest.raises(ValueError, match="at least two models"):
        nrds(x, [x])
    with pytest.raises(ValueError, match="at least two models"):
        nrds(x, x)
    with pytest.raises(ValueError, match="epochs must be an integer >= 2"):
        nrds(x, [x, x], epochs=1)
    with pytest.raises(ValueError, match=r"holdout must be a fraction in \(0, 1\)"):
        nrds(x, [x, x], holdout=1.0)
    with pytest.raises(ValueError, match="same feature dimension, got 2 and 3"):
        nrds(x, [x, normal(10, d=3)])
    with pytest.raises(ValueError, match=r"fakes\[1\] holds NaN"):
        nrds(x, [x, np.full((10, 2), np.nan)])
    with pytest.raises(ValueError, match="at least 2 epochs"):
        nrds_from_curves([[0.5], [0.5]])
    with pytest.raises(ValueError, match=r"curves must hold probabilities.*\[0, 1\]"):
        nrds_from_curves([[0.5, 1.5], [0.5, 0.5]])
    with pytest.raises(ValueError, match="every curve is 0"):
        nrds_from_curves([[0.0, 0.0], [0.0, 0.0]])


# ----------------------------------------------------------------------------- adversarial accuracy

def test_adversarial_scores_worked_example():
    probs_real = np.array([[0.5, 0.5], [0.9, 0.1]])
    probs_fake = np.array([[0.25, 0.75], [0.9, 0.1]])
    result = adversarial_scores(probs_real, probs_fake, np.array([1, 0]))
    assert isinstance(result, AdversarialScores)
    assert result.accuracy == 1.0 and result.real_accuracy == 0.5      # argmax of [0.5, 0.5] is class 0
    kl_first = 0.5 * math.log(0.5 / 0.25) + 0.5 * math.log(0.5 / 0.75)
    assert result.divergence == pytest.approx(kl_first / 2, rel=1e-12)  # no entry below eps: no clip
    # C_g gives exactly 0 to a class C_r uses: unclipped (eps=0) the divergence is infinite;
    # clipped, q = (1, eps) / (1 + eps) and KL = 0.5 log(0.5 (1 + eps)) + 0.5 log(0.5 (1 + eps) / eps)
    assert adversarial_scores([[0.5, 0.5]], [[1.0, 0.0]], np.array([0]), eps=0).divergence == math.inf
    eps = 1e-6
    clipped = adversarial_scores([[0.5, 0.5]], [[1.0, 0.0]], np.array([0]))
    assert clipped.divergence == pytest.approx(0.5 * math.log(0.5 * (1 + eps)) + 0.5 * math.log(0.5 * (1 + eps) / eps),
                                               rel=1e-12)                # 6.215 nats
    # the bound: KL(p || q) <= log((1 + K eps) / eps) for q clipped at eps, reached when p is
    # sure of a class q rules out; here K = 3 and q = (0.5, 0.5, eps) / (1 + eps)
    worst = adversarial_scores([[0.0, 0.0, 1.0]], [[0.5, 0.5, 0.0]], np.array([2]))
    assert worst.divergence == pytest.approx(math.log((1 + eps) / eps), rel=1e-12)
    assert worst.divergence <= math.log((1 + 3 * eps) / eps)


def two_gaussian_classes(n, separation=3.0, seed=0, angle=0.0, means=None):
    """Labels 0/1 with equal counts; class k ~ N(m_k, I_2), m_1 = -m_0 = (separation/2) u,
    u the unit vector at ``angle``; ``means`` overrides (m_0, m_1)."""
    rng = np.random.default_rng(seed)
    y = np.arange(n) % 2
    u = np.array([math.cos(angle), math.sin(angle)])
    m0, m1 = means if means is not None else (-separation / 2 * u, separation / 2 * u)
    centres = np.where(y[:, None] == 1, m1, m0)
    return centres + rng.normal(size=(n, 2)), y


def test_adversarial_accuracy_against_copies_swaps_and_unlabelled_copies():
    # two classes N(+-1.5 e1, I): the best rule sign(x1) has accuracy Phi(1.5) = 0.933
    x_real, y_real = two_gaussian_classes(2000, seed=0)
    x_val, y_val = two_gaussian_classes(4000, seed=1)
    same = adversarial_accuracy_divergence(x_real, y_real, x_real, y_real, x_val, y_val)
    assert same.real_accuracy == pytest.approx(Phi(1.5), abs=0.015)
    # the same fit twice: the only divergence left is the clip's, at most log(1 + K eps) = 2e-6
    assert same.accuracy == same.real_accuracy and 0.0 <= same.divergence <= math.log(1 + 2e-6)
    # a generator that draws each class under the other's label: C_g learns the mirror rule
    x_fake, y_fake = two_gaussian_classes(2000, seed=2)
    swapped = adversarial_accuracy_divergence(x_real, y_real, x_fake, 1 - y_fake, x_val, y_val)
    assert swapped.accuracy == pytest.approx(1 - Phi(1.5), abs=0.015)
    assert swapped.divergence > 1.0
    # unlabelled samples of the right distribution, labelled by C_r (LR-GAN's procedure)
    unlabelled = adversarial_accuracy_divergence(x_real, y_real, x_fake, None, x_val, y_val)
    assert unlabelled.accuracy == pytest.approx(unlabelled.real_accuracy, abs=0.01)
    assert unlabelled.divergence < 0.1
    # the real-vs-real baseline: a second real sample scores like the right distribution,
    # above 0 (training noise) but far below the swapped generator
    baseline = adversarial_baseline(x_real, y_real, x_fake, y_fake, x_val, y_val)
    assert baseline.accuracy == pytest.approx(Phi(1.5), abs=0.015)
    assert 0.0 < baseline.divergence < 0.05 < swapped.divergence / 20


def test_adversarial_divergence_of_a_mode_dropping_generator_is_finite():
    # three classes at 120 degrees, 2 from the centre; the generator never draws class 2.
    # C_g gives class 2 probability exactly 0, so unclipped the divergence is inf; clipped at
    # eps = 1e-6 it is finite, below log((1 + 3 eps) / eps), and near 1/3 log(1/eps) = 4.6
    # (C_r is nearly sure of class 2 on the third of the data that is class 2)
    def three_classes(n, seed, classes=(0, 1, 2)):
        rng = np.random.default_rng(seed)
        y = np.array(classes)[np.arange(n) % len(classes)]
        angles = 2 * np.pi * y / 3
        return 2.0 * np.c_[np.cos(angles), np.sin(angles)] + rng.normal(size=(n, 2)), y

    x_real, y_real = three_classes(1500, seed=0)
    x_val, y_val = three_classes(1500, seed=1)
    x_fake, y_fake = three_classes(1000, seed=2, classes=(0, 1))
    unclipped = adversarial_accuracy_divergence(x_real, y_real, x_fake, y_fake, x_val, y_val, eps=0)
    dropped = adversarial_accuracy_divergence(x_real, y_real, x_fake, y_fake, x_val, y_val)
    assert unclipped.divergence == math.inf
    assert dropped.divergence <= math.log((1 + 3e-6) / 1e-6)
    assert dropped.divergence == pytest.approx(math.log(1e6) / 3, rel=0.25)
    assert dropped.accuracy == pytest.approx(dropped.real_accuracy * 2 / 3, abs=0.03)    # class 2 all wrong
    baseline = adversarial_baseline(x_real, y_real, *three_classes(1500, seed=3), x_val, y_val)
    assert 0.0 < baseline.divergence < 0.05


def test_adversarial_logistic_path_ignores_a_constant_offset_on_constant_features():
    # C_g trained on x -> 0.998 x + 0.001 of the real data (labels kept): the same boundary
    # up to 0.2%, so the same predictions. Border-like columns (exactly 0, or 0 but for rare
    # faint ink) must not turn the 0.001 into a large z-score that swings C_g's predictions
    x, y = two_gaussian_classes(2000, seed=0)
    x_val, y_val = two_gaussian_classes(2000, seed=1)
    x, x_val = with_border_columns(x, y, seed=0), with_border_columns(x_val, y_val, seed=1)
    result = adversarial_accuracy_divergence(x, y, nearly_perfect(x), y, x_val, y_val)
    assert result.real_accuracy == pytest.approx(Phi(1.5), abs=0.015)
    assert result.accuracy == pytest.approx(result.real_accuracy, abs=0.005)
    assert result.divergence < 0.01


def test_adversarial_real_classifier_is_fitted_once_and_reused(monkeypatch):
    x_real, y_real = two_gaussian_classes(2000, seed=0)
    x_val, y_val = two_gaussian_classes(1000, seed=1)
    x_fake, y_fake = two_gaussian_classes(500, seed=2, separation=2.0)
    refit = [adversarial_accuracy_divergence(x_real, y_real, x_fake, y_fake, x_val, y_val),
             adversarial_accuracy_divergence(x_real, y_real, x_fake, None, x_val, y_val),
             adversarial_baseline(x_real, y_real, x_fake, y_fake, x_val, y_val)]
    c_r = real_classifier(x_real, y_real)
    assert isinstance(c_r, RealClassifier) and c_r.kind == "logistic"
    fits = []
    original = gan_measures._LogisticClassifier.__init__
    monkeypatch.setattr(gan_measures._LogisticClassifier, "__init__",
                        lambda self, x, y: fits.append(len(x)) or original(self, x, y))
    reused = [adversarial_accuracy_divergence(x_real, y_real, x_fake, y_fake, x_val, y_val, c_r=c_r),
              adversarial_accuracy_divergence(x_real, y_real, x_fake, None, x_val, y_val, c_r=c_r),
              adversarial_baseline(x_real, y_real, x_fake, y_fake, x_val, y_val, c_r=c_r)]
    assert reused == refit                                             # the same floats, to the bit
    assert fits == [500, 500, 500]                                     # only C_g is trained
    # C_r of other real data, or of the other kind, is refused
    with pytest.raises(ValueError, match="c_r was fitted on other real data"):
        adversarial_accuracy_divergence(x_real[:-1], y_real[:-1], x_fake, y_fake, x_val, y_val, c_r=c_r)
    with pytest.raises(ValueError, match="c_r was fitted on other real data"):
        adversarial_accuracy_divergence(x_real, 1 - y_real, x_fake, y_fake, x_val, y_val, c_r=c_r)
    with pytest.raises(ValueError, match="c_r is a 'logistic' classifier but classifier='cnn'"):
        adversarial_accuracy_divergence(x_real, y_real, x_fake, y_fake, x_val, y_val, classifier="cnn", c_r=c_r)
    with pytest.raises(ValueError, match="c_r must be a RealClassifier"):
        adversarial_accuracy_divergence(x_real, y_real, x_fake, y_fake, x_val, y_val, c_r=c_r.model)
    with pytest.raises(ValueError, match="classifier must be 'logistic' or 'cnn'"):
        real_classifier(x_real, y_real, classifier="forest")


def test_adversarial_accuracy_with_the_course_cnn_matches_for_a_copy():
    # same images, same labels, same seed: C_g is C_r up to TensorFlow's rounding
    x = np.random.default_rng(0).uniform(size=(40, 28, 28))
    y = np.arange(40) % 10
    result = adversarial_accuracy_divergence(x, y, x, y, x[:20], y[:20], classifier="cnn", epochs=1)
    assert result.accuracy == pytest.approx(result.real_accuracy, abs=1 / 20)
    assert result.divergence == pytest.approx(0.0, abs=1e-4)


def test_adversarial_inputs_are_validated():
    with pytest.raises(ValueError, match=r"same images, got shapes \(1, 2\) and \(2, 2\)"):
        adversarial_scores([[0.5, 0.5]], [[0.5, 0.5], [0.5, 0.5]], np.array([0]))
    with pytest.raises(ValueError, match="sum to 1"):
        adversarial_scores([[0.5, 0.6]], [[0.5, 0.5]], np.array([0]))
    with pytest.raises(ValueError, match="one label per image"):
        adversarial_scores([[0.5, 0.5]], [[0.5, 0.5]], np.array([0, 1]))
    x, y = two_gaussian_classes(20)
    with pytest.raises(ValueError, match="classifier must be 'logistic' or 'cnn'"):
        adversarial_accuracy_divergence(x, y, x, y, x, y, classifier="forest")
    with pytest.raises(ValueError, match="at least two classes"):
        adversarial_accuracy_divergence(x, y, x, np.zeros(20, dtype=int), x, y)
    with pytest.raises(ValueError, match="y_fake must be a non-empty 1-D array of integer labels"):
        adversarial_accuracy_divergence(x, y, x, y.astype(float), x, y)
    with pytest.raises(ValueError, match="y_val must have one label per image"):
        adversarial_accuracy_divergence(x, y, x, y, x, y[:5])
    with pytest.raises(ValueError, match="same feature dimension"):
        adversarial_accuracy_divergence(x, y, x, y, np.zeros((20, 3)), y)
    with pytest.raises(ValueError, match=r"eps must be a number in \[0, 1/K\)"):
        adversarial_scores([[0.5, 0.5]], [[0.5, 0.5]], np.array([0]), eps=0.5)
    with pytest.raises(ValueError, match="x_real_other is x_real again"):
        adversarial_baseline(x, y, x.copy(), y, x, y)


# ----------------------------------------------------------------------------- geometry score

def test_rlt_from_intervals_worked_example():
    # beta_1 = 1 on [0, 1/4), 2 on [1/4, 1/2), 1 on [1/2, 1]: RLT = (0, 3/4, 1/4)
    rlt = rlt_from_intervals([[0.0, 0.5], [0.25, np.inf]], alpha_max=1.0, i_max=4)
    np.testing.assert_allclose(rlt, [0.0, 0.75, 0.25, 0.0], rtol=1e-12)
    # a hole born at 0.2 of a filtration ending at 0.8, never dying: 0 holes for 1/4 of it
    np.testing.assert_allclose(rlt_from_intervals([[0.2, np.inf]], 0.8, i_max=2), [0.25, 0.75], rtol=1e-12)
    np.testing.assert_array_equal(rlt_from_intervals(np.zeros((0, 2)), 1.0, i_max=3), [1.0, 0.0, 0.0])
    # more holes at once than i_max - 1: that time is not counted
    np.testing.assert_allclose(rlt_from_intervals([[0, 1], [0, 1], [0, 0.5]], 1.0, i_max=3), [0.0, 0.0, 0.5])


def test_mrlt_counts_the_holes_of_circles_with_the_reference_defaults():
    # L0 = 64 landmarks, gamma = 1/128 * n / 5000 (here 1/320), i_max = 100: one circle peaks
    # at 1 hole, two disjoint circles at 2
    one = relative_living_times(circle(2000), trials=5).mean(axis=0)
    two = relative_living_times(np.r_[circle(1000, seed=1), circle(1000, centre=(4.0, 0.0), seed=2)],
                                trials=5).mean(axis=0)
    assert one.shape == (100,) and one.sum() == pytest.approx(1.0, abs=1e-9)
    assert one.argmax() == 1 and one[1] > 0.8
    assert two.argmax() == 2 and two[2] > 0.8


def test_default_gamma_is_the_references_scaling_with_the_number_of_points():
    # gamma=None -> 1/128 * n / 5000: 1/320 for 2000 points, 1/640 for 1000; the same seed
    # draws the same landmarks, so the RLTs must equal those of the explicit gamma
    for n, gamma in ((2000, 1 / 320), (1000, 1 / 640)):
        x = circle(n)
        default = relative_living_times(x, trials=2, seed=4)
        np.testing.assert_allclose(default, relative_living_times(x, gamma=gamma, trials=2, seed=4), rtol=1e-9)
        assert not np.array_equal(default, relative_living_times(x, gamma=1 / 128, trials=2, seed=4))


def test_geometry_score_from_rlts_worked_example():
    # MRLT_a = mean of (1, 0, 0) and (0, 1, 0) = (1/2, 1/2, 0); MRLT_b = (0, 1, 0):
    # GS = (1/2)^2 + (1/2)^2 + 0 = 1/2. Two sets with one and with no hole at all times: GS = 2
    result = geometry_score_from_rlts([[1.0, 0.0, 0.0], [0.0, 1.0, 0.0]], [[0.0, 1.0, 0.0]])
    assert isinstance(result, GeometryScore)
    assert result.score == pytest.approx(0.5, rel=1e-12)
    np.testing.assert_allclose(result.mrlt_a, [0.5, 0.5, 0.0], rtol=1e-12)
    np.testing.assert_allclose(result.mrlt_b, [0.0, 1.0, 0.0], rtol=1e-12)
    assert geometry_score_from_rlts([[0.0, 1.0]], [[1.0, 0.0]]).score == 2.0
    assert geometry_score_from_rlts([[0.2, 0.8]] * 3, [[0.2, 0.8]]).score == pytest.approx(0.0, abs=1e-15)


def test_geometry_score_tells_a_circle_from_a_blob():
    # a Gaussian blob has no hole. Its filled region needs many witnesses per landmark for the
    # witness complex to close every triangle: at the reference's defaults 1000 points show
    # about 20 spurious holes, so this test departs from them: 16 landmarks, gamma = 1/32.
    blob_a, blob_b = normal(1000, d=2, seed=0), normal(1000, d=2, seed=7)
    assert relative_living_times(blob_a, trials=3).mean(axis=0).argmax() > 5        # the defaults
    kwargs = dict(num_landmarks=16, gamma=1 / 32, trials=10)
    same_blobs = geometry_score(blob_a, blob_b, **kwargs)
    assert same_blobs.mrlt_a.argmax() == 0 and same_blobs.mrlt_b.argmax() == 0
    same_circles = geometry_score(circle(1000, seed=0), circle(1000, seed=5), **kwargs)
    circle_blob = geometry_score(circle(1000, seed=0), blob_a, **kwargs)
    assert circle_blob.mrlt_a.argmax() == 1 and circle_blob.mrlt_a[1] > 0.9
    # an ideal circle (1 hole throughout) against an ideal blob (none) gives GS = 1 + 1 = 2,
    # the largest possible; the blob's remaining short-lived holes bring it down a little
    assert 1.0 < circle_blob.score <= 2.0
    assert same_blobs.score < circle_blob.score / 20 and same_circles.score < circle_blob.score / 20


def test_geometry_score_inputs_are_validated(monkeypatch):
    with pytest.raises(ValueError, match=r"\(k, 2\) array"):
        rlt_from_intervals([[0.0, 1.0, 2.0]], 1.0)
    with pytest.raises(ValueError, match="0 <= birth <= death"):
        rlt_from_intervals([[0.5, 0.2]], 1.0)
    with pytest.raises(ValueError, match="NaN"):
        rlt_from_intervals([[np.nan, 0.2]], 1.0)
    with pytest.raises(ValueError, match="alpha_max must be a positive number"):
        rlt_from_intervals([[0.0, 0.2]], 0.0)
    with pytest.raises(ValueError, match="at least 64 rows"):
        relative_living_times(normal(63, d=2))
    with pytest.raises(ValueError, match="all points of x coincide"):
        relative_living_times(np.ones((70, 2)))
    with pytest.raises(ValueError, match="trials must be an integer"):
        relative_living_times(normal(70, d=2), trials=0)
    with pytest.raises(ValueError, match="same i_max"):
        geometry_score_from_rlts(np.zeros((2, 5)), np.zeros((2, 4)))
    monkeypatch.setitem(sys.modules, "gudhi", None)                    # as if gudhi were not installed
    with pytest.raises(ImportError, match="needs the gudhi package.*pip install gudhi=="):
        relative_living_times(normal(70, d=2))


# ----------------------------------------------------------------------------- boundary distortion

def test_boundary_distortion_of_real_data_and_of_a_nearly_perfect_model():
    # real classes N(-+1.5 e1, I): the learned rule is x1 > 0, accuracy Phi(1.5) = 0.933
    x, y = two_gaussian_classes(2000, seed=0)
    x_test, y_test = two_gaussian_classes(2000, seed=1)
    result = boundary_distortion(x, y, x, y, x_test, y_test)
    assert isinstance(result, BoundaryDistortion)
    assert result.real_accuracy == pytest.approx(Phi(1.5), abs=0.015) and result.drop == 0.0
    # a second real sample as the "generated" data: the same rule up to sampling noise
    x_other, y_other = two_gaussian_classes(2000, seed=2)
    other = boundary_distortion(x, y, x_other, y_other, x_test, y_test)
    assert other.fake_accuracy == pytest.approx(Phi(1.5), abs=0.015) and abs(other.drop) < 0.01
    # the nearly perfect model x -> 0.998 x + 0.001 on data with MNIST-border-like columns
    # (exactly 0, or 0 but for rare faint ink): the drop must stay ~0 for both classifiers
    # (dividing by those columns' own tiny deviations gave a drop of 0.36)
    xb, xb_test = with_border_columns(x, y, seed=0), with_border_columns(x_test, y_test, seed=1)
    for classifier in ("logistic", "svm"):
        offset = boundary_distortion(xb, y, nearly_perfect(xb), y, xb_test, y_test, classifier=classifier)
        assert offset.real_accuracy == pytest.approx(Phi(1.5), abs=0.015)
        assert abs(offset.drop) <= 0.01


def test_boundary_distortion_matches_the_closed_forms():
    # real classes N(-+1.5 e1, I): the learned rule is x1 > 0, accuracy Phi(1.5).
    n = 4000
    x_real, y_real = two_gaussian_classes(n, seed=0)
    x_test, y_test = two_gaussian_classes(n, seed=1)
    # generated classes rotated by 60 degrees: the rule u.x > 0 scores Phi(1.5 cos 60) on real data
    x_rot, y_rot = two_gaussian_classes(n, seed=2, angle=math.pi / 3)
    rotated = boundary_distortion(x_real, y_real, x_rot, y_rot, x_test, y_test)
    assert rotated.real_accuracy == pytest.approx(Phi(1.5), abs=0.015)
    assert rotated.fake_accuracy == pytest.approx(Phi(0.75), abs=0.02)
    assert rotated.drop == pytest.approx(Phi(1.5) - Phi(0.75), abs=0.025)
    # class 1 drawn 2 closer to class 0 (means -1.5 and -0.5): the boundary moves to x1 = -1,
    # accuracy (Phi(2.5) + Phi(0.5)) / 2 on the real classes
    e1 = np.array([1.0, 0.0])
    x_near, y_near = two_gaussian_classes(n, seed=3, means=(-1.5 * e1, -0.5 * e1))
    shifted = boundary_distortion(x_real, y_real, x_near, y_near, x_test, y_test)
    assert shifted.fake_accuracy == pytest.approx((Phi(2.5) + Phi(0.5)) / 2, abs=0.02)
    # both means shrunk halfway to the centre: the boundary stays at x1 = 0, nothing to see
    x_shrunk, y_shrunk = two_gaussian_classes(n, seed=4, separation=1.5)
    shrunk = boundary_distortion(x_real, y_real, x_shrunk, y_shrunk, x_test, y_test)
    assert shrunk.drop == pytest.approx(0.0, abs=0.01)


def test_boundary_distortion_picks_a_class_pair_and_other_classifiers():
    x, y = two_gaussian_classes(600, seed=0)
    x_test, y_test = two_gaussian_classes(600, seed=1)
    # a third class far away, labelled 5, must be left out when classes=(0, 1)
    x3, y3 = np.r_[x, normal(50, mean=20.0, d=2)], np.r_[y, np.full(50, 5)]
    pair = boundary_distortion(x3, y3, x3, y3, x_test, y_test, classes=(0, 1))
    assert pair == boundary_distortion(x, y, x, y, x_test, y_test)
    assert pair == boundary_distortion(x3, y3, x3, y3, x_test, y_test, classes=np.array([0, 1]))
    assert pair == boundary_distortion(x3, y3, x3, y3, x_test, y_test, classes=[np.int64(1), 0])
    svm = boundary_distortion(x, y, x, y, x_test, y_test, classifier="svm")
    assert svm.real_accuracy == pytest.approx(Phi(1.5), abs=0.04) and svm.drop == 0.0
    with pytest.raises(ValueError, match="holds 3 classes"):
        boundary_distortion(x3, y3, x, y, x_test, y_test)
    with pytest.raises(ValueError, match="y_fake has no example of class 1"):
        boundary_distortion(x, y, x[y == 0], y[y == 0], x_test, y_test)
    for bad in ((1, 1), (0, 1, 5), np.array([0.0, 1.0]), 1, ("0", "1")):
        with pytest.raises(ValueError, match="pair of two different integer labels"):
            boundary_distortion(x, y, x, y, x_test, y_test, classes=bad)
    with pytest.raises(ValueError, match="one label per sample: 600 samples, 599 labels"):
        boundary_distortion(x, y, x, y[:-1], x_test, y_test)
    with pytest.raises(ValueError, match="integer labels"):
        boundary_distortion(x, y.astype(float), x, y, x_test, y_test)
    with pytest.raises(ValueError, match="classifier must be one of"):
        boundary_distortion(x, y, x, y, x_test, y_test, classifier="forest")
    with pytest.raises(ValueError, match="same feature dimension"):
        boundary_distortion(x, y, x, y, np.zeros((600, 3)), y_test)
