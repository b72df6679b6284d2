"""Classifier-free guidance (course_lib/guidance.py): label dropout really drops labels, the
guided prediction mixes the conditional and unconditional ones as the formula says (w = 0 and
w = 1 are the two models exactly), and bad input is refused with a clear message."""

import keras
import numpy as np
import pytest

from course_lib import diffusion as D
from course_lib import guidance as G


def _tiny_conditional(num_classes=3, T=20, label_dropout=0.1):
    keras.utils.set_random_seed(0)
    return G.ConditionalDiffusion(D.build_mlp_denoiser(2, hidden=16, depth=1, num_classes=num_classes),
                                  T=T, label_dropout=label_dropout)


@pytest.mark.parametrize("p", [0.0, 0.3, 1.0])
def test_drop_labels_replaces_a_share_p_by_the_null_token(p):
    labels = np.arange(20_000, dtype="int32") % 10
    dropped = np.asarray(G.drop_labels(labels, p, null=10, seed=keras.random.SeedGenerator(1)))
    gone = dropped == 10
    assert np.array_equal(dropped[~gone], labels[~gone])              # the rest keep their label
    sd = np.sqrt(p * (1 - p) / len(labels))
    assert abs(gone.mean() - p) <= 4 * sd + 1e-12                      # binomial share, 4 standard deviations
    # independently: every block of 400 labels holds its binomial share too (a contiguous run would not)
    blocks = gone.reshape(50, 400).mean(1)
    assert np.all(np.abs(blocks - p) <= 5 * np.sqrt(p * (1 - p) / 400) + 1e-12)
    for digit in range(10):                                             # and every class alike
        assert abs(gone[labels == digit].mean() - p) <= 5 * np.sqrt(p * (1 - p) / 2000) + 1e-12


def test_label_dropout_reaches_the_network_in_training():
    """A denoiser that outputs 1 for the null token and 0 for every class: its simple loss is
    E(e - out)^2 = 1 + (share of null labels), so the loss reads off how many labels were dropped."""
    x, t, y = keras.Input((2,)), keras.Input((), dtype="int32"), keras.Input((), dtype="int32")
    table = keras.layers.Embedding(4, 2, embeddings_initializer="zeros", name="label_embedding")
    out = keras.layers.Add()([keras.layers.Lambda(lambda v: v * 0.0)(x), table(y)])
    denoiser = keras.Model([x, t, y], out)
    table.embeddings.assign(np.array([[0, 0], [0, 0], [0, 0], [1, 1]], "float32"))
    n = 40_000
    x0, labels = np.zeros((n, 2), "float32"), np.arange(n, dtype="int32") % 3
    for p in (0.0, 0.25, 0.6):
        model = G.ConditionalDiffusion(denoiser, T=10, label_dropout=p, seed=3)
        loss = float(model.simple_loss(x0, labels))
        assert loss == pytest.approx(1 + p, abs=0.03), (p, loss)


def test_guided_prediction_is_the_weighted_sum_and_w0_w1_are_the_two_models():
    model = _tiny_conditional()
    rng = np.random.default_rng(0)
    x, t = rng.standard_normal((6, 2)).astype("float32"), np.full(6, 7, "int32")
    labels = np.array([0, 1, 2, 0, 1, 2], "int32")
    net = model.denoiser
    cond = np.asarray(net([x, t, labels]))
    uncond = np.asarray(net([x, t, np.full(6, model.null_label, "int32")]))
    assert not np.allclose(cond, uncond)                               # the label matters to this network
    for w, expected in ((0.0, uncond), (1.0, cond), (3.0, uncond + 3.0 * (cond - uncond))):
        guided = G.guided_network(net, labels, w, model.null_label)([x, t])
        np.testing.assert_allclose(guided, expected, rtol=1e-5, atol=1e-6)


def test_guided_sampler_at_w0_and_w1_is_the_unguided_sampler_of_each_model():
    model = _tiny_conditional()
    labels = np.array([0, 1, 2, 2, 1], "int32")
    starts = np.random.default_rng(5).standard_normal((5, 2)).astype("float32")
    for w, fixed in ((0.0, np.full(5, model.null_label, "int32")), (1.0, labels)):
        guided = G.guided_sample(model, labels, w, steps=4, seed=5, weights="raw", clip_x0=None)
        plain = D.ddim_sample(lambda inputs, training=False: model.denoiser([inputs[0], inputs[1], fixed]),
                              model.schedule, 5, (2,), steps=4, x_T=starts)
        np.testing.assert_allclose(guided, plain, rtol=1e-4, atol=1e-5)


def test_guided_samples_do_not_depend_on_the_batch_size():
    model = _tiny_conditional()
    labels = np.arange(7, dtype="int32") % 3
    one = G.guided_sample(model, labels, 2.0, steps=3, seed=1, batch_size=7, weights="raw")
    chunks = G.guided_sample(model, labels, 2.0, steps=3, seed=1, batch_size=3, weights="raw")
    np.testing.assert_allclose(one, chunks, rtol=1e-5, atol=1e-6)


def test_conditional_model_trains_and_reloads(tmp_path):
    model = _tiny_conditional()
    model.compile(optimizer=keras.optimizers.Adam(1e-3))
    points = np.random.default_rng(0).standard_normal((64, 2)).astype("float32")
    history = model.fit(points, np.arange(64) % 3, batch_size=32, epochs=2, verbose=0)
    assert np.isfinite(history.history["loss"]).all()
    model.save(tmp_path / "m.keras")
    again = keras.saving.load_model(tmp_path / "m.keras")
    assert isinstance(again, G.ConditionalDiffusion) and again.label_dropout == pytest.approx(0.1)
    assert again.num_classes == 3 and again.null_label == 3


@pytest.mark.parametrize("labels, message", [
    (None, "class ids"),
    (np.eye(3)[np.arange(64) % 3], "one-hot"),
    (np.arange(64) % 4, r"in 0\.\.2"),
    (np.arange(63) % 3, r"shape \(64,\)"),
    (np.full(64, 0.5), "non-integer"),
])
def test_fit_refuses_bad_labels(labels, message):
    model = _tiny_conditional()
    model.compile(optimizer="adam")
    with pytest.raises(ValueError, match=message):
        model.fit(np.zeros((64, 2), "float32"), labels, batch_size=32, verbose=0)


def test_bad_models_and_weights_are_refused():
    with pytest.raises(ValueError, match="label input"):
        G.ConditionalDiffusion(D.build_mlp_denoiser(2, hidden=4, depth=0))
    with pytest.raises(ValueError, match="label_dropout"):
        _tiny_conditional(label_dropout=1.0)
    model = _tiny_conditional()
    with pytest.raises(ValueError, match="w must"):
        G.guided_sample(model, [0, 1], -1.0, steps=2)
    with pytest.raises(ValueError, match="ConditionalDiffusion"):
        G.guided_sample(D.Diffusion(D.build_mlp_denoiser(2, hidden=4, depth=0), T=10), [0], 1.0)
    with pytest.raises(ValueError, match=r"in 0\.\.2"):
        G.guided_sample(model, [0, 3], 1.0, steps=2)
    with pytest.raises(ValueError, match="weights"):
        G.guided_sample(model, [0], 1.0, steps=2, weights="average")
    with pytest.raises(ValueError, match="never saw"):
        G.guided_sample(_tiny_conditional(label_dropout=0.0), [0], 2.0, steps=2)
    with pytest.raises(ValueError, match="integer"):
        G.ConditionalDiffusion(D.build_mlp_denoiser(2, hidden=4, depth=0, num_classes=3, continuous_time=True))
    with pytest.raises(ValueError, match="label_std"):
        D.build_mlp_denoiser(2, hidden=4, depth=0, num_classes=3, label_std=0)


def test_label_embedding_starts_at_the_scale_asked_for():
    """Keras' default (uniform in [-0.05, 0.05]) unless ``label_std`` asks for N(0, std^2)."""
    keras.utils.set_random_seed(0)
    default = D.build_unet(filters=4, num_classes=10).get_layer("label_embedding").get_weights()[0]
    assert default.shape == (11, 64) and np.abs(default).max() <= 0.05
    normal = D.build_unet(filters=4, num_classes=10, label_std=1.0).get_layer("label_embedding").get_weights()[0]
    n = normal.size                                                     # 704 draws: std within 4 standard errors
    assert abs(normal.std() - 1.0) <= 4 / np.sqrt(2 * n) and abs(normal.mean()) <= 4 / np.sqrt(n)
    mlp = D.build_mlp_denoiser(2, hidden=8, depth=1, num_classes=3, label_std=2.0)
    assert mlp.get_layer("label_embedding").get_weights()[0].std() > 1.0
