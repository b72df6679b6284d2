"""course_lib.gan: the slides' loss from logits, the alternating steps, toy problems, bad input."""

import keras
import numpy as np
import pytest

from course_lib import gan as G


def _sigmoid(l):
    return 1 / (1 + np.exp(-l))


def test_gan_value_from_logits_equals_the_slide_formula_on_probabilities():
    rng = np.random.default_rng(0)
    real, fake = rng.normal(size=50) * 3, rng.normal(size=40) * 3
    slide = np.mean(np.log(_sigmoid(real))) + np.mean(np.log(1 - _sigmoid(fake)))
    np.testing.assert_allclose(float(G.gan_value(real, fake)), slide, rtol=1e-5)
    np.testing.assert_allclose(float(G.discriminator_loss(real, fake)), -slide, rtol=1e-5)
    # D(.) = 1/2 everywhere gives log(1/4); extreme logits stay finite where the naive form is -inf
    assert float(G.gan_value(np.zeros(3), np.zeros(3))) == pytest.approx(np.log(0.25), rel=1e-6)
    assert np.isfinite(float(G.gan_value(np.array([-100.0]), np.array([100.0]))))
    assert float(G.gan_value(np.array([-100.0]), np.array([100.0]))) == pytest.approx(-200, rel=1e-5)


def test_generator_losses_equal_their_formulas():
    fake = np.linspace(-4, 4, 9)
    d = _sigmoid(fake)
    np.testing.assert_allclose(float(G.generator_loss(fake, "saturating")), np.mean(np.log(1 - d)), rtol=1e-5)
    np.testing.assert_allclose(float(G.generator_loss(fake, "non_saturating")), -np.mean(np.log(d)), rtol=1e-5)


def test_saturating_gradient_vanishes_when_d_rejects_the_fake():
    import tensorflow as tf

    for kind, expected in [("saturating", lambda d: -d), ("non_saturating", lambda d: -(1 - d))]:
        l = tf.Variable([-8.0, 0.0, 8.0])
        with tf.GradientTape() as tape:
            loss = G.generator_loss(l, kind) * 3            # mean over 3 -> per-sample slope
        slope = tape.gradient(loss, l).numpy()
        np.testing.assert_allclose(slope, expected(_sigmoid(np.array([-8.0, 0.0, 8.0]))), rtol=1e-4, atol=1e-7)
        np.testing.assert_allclose(G.generator_loss_slope(_sigmoid(np.array([-8.0, 0.0, 8.0])), kind), slope,
                                   rtol=1e-4, atol=1e-7)
    assert abs(G.generator_loss_slope(1e-4, "saturating")) < 1e-3
    assert abs(G.generator_loss_slope(1e-4, "non_saturating")) > 0.99


def test_networks_have_the_expected_shapes():
    g, d = G.build_generator(16), G.build_discriminator()
    z = np.zeros((3, 16), "float32")
    img = keras.ops.convert_to_numpy(g(z))
    assert img.shape == (3, 28, 28, 1) and img.min() >= 0 and img.max() <= 1
    assert tuple(d(img).shape) == (3, 1)
    gc, dc = G.build_generator(16, num_classes=10), G.build_discriminator(num_classes=10)
    c = np.eye(10, dtype="float32")[:3]
    assert tuple(dc([keras.ops.convert_to_numpy(gc([z, c])), c]).shape) == (3, 1)
    assert tuple(G.build_mlp_discriminator(pack=4)(np.zeros((2, 8), "float32")).shape) == (2, 1)


def _tiny_gan(seed=0):
    gan = G.GAN(G.build_mlp_generator(2, hidden=16), G.build_mlp_discriminator(hidden=16), seed=seed)
    gan.compile(keras.optimizers.SGD(0.05), keras.optimizers.SGD(0.05))
    return gan


def test_one_discriminator_step_raises_its_objective_with_g_fixed():
    keras.utils.set_random_seed(0)
    gan = _tiny_gan()
    real = np.random.default_rng(0).normal(3.0, 0.1, (256, 2)).astype("float32")
    fake = gan.generate(256, seed=1)
    before = float(G.gan_value(gan.discriminator(real), gan.discriminator(fake)))
    gan.g_optimizer.learning_rate.assign(0.0)                  # keep G fixed
    gan.fit(real, batch_size=256, epochs=1, verbose=0, shuffle=False)
    after = float(G.gan_value(gan.discriminator(real), gan.discriminator(fake)))
    assert after > before
    np.testing.assert_allclose(gan.generate(256, seed=1), fake)   # G did not move


def test_generator_steps_lower_the_generator_loss_with_d_fixed():
    keras.utils.set_random_seed(0)
    gan = _tiny_gan()
    real = np.random.default_rng(0).normal(3.0, 0.1, (256, 2)).astype("float32")
    z = np.random.default_rng(2).standard_normal((256, 2)).astype("float32")
    loss = lambda: float(G.generator_loss(gan.discriminator(G.generate_from(gan.generator, z))))
    before = loss()
    gan.d_optimizer.learning_rate.assign(0.0)
    gan.fit(real, batch_size=256, epochs=5, verbose=0, shuffle=False)
    assert loss() < before


def test_train_step_logs_the_four_numbers_and_the_conditional_gan_trains():
    gan = G.build_gan(latent_dim=8, num_classes=10)
    gan.compile(keras.optimizers.Adam(1e-3), keras.optimizers.Adam(1e-3))
    x = np.random.default_rng(0).random((32, 28, 28, 1)).astype("float32")
    c = np.eye(10, dtype="float32")[np.arange(32) % 10]
    hist = gan.fit(x, c, batch_size=16, epochs=1, verbose=0)
    assert set(hist.history) == {"d_loss", "g_loss", "d_acc_real", "d_acc_fake"}
    assert all(0 <= hist.history[k][0] <= 1 for k in ("d_acc_real", "d_acc_fake"))
    images = gan.generate(5, labels=c[:5])
    assert images.shape == (5, 28, 28, 1) and images.min() >= 0 and images.max() <= 1


def test_ring_and_mode_coverage():
    points, centres = G.ring_of_gaussians(4000, modes=8, std=0.02)
    covered, quality, counts = G.mode_coverage(points, centres, std=0.02)
    assert covered == 8 and quality > 0.98 and counts.sum() > 3900
    one = np.repeat(centres[:1], 100, axis=0)
    assert G.mode_coverage(one, centres, std=0.02)[0] == 1


def test_bilinear_game_spirals_out_at_the_closed_form_rate():
    path = G.bilinear_game(steps=100, lr=0.1)
    r = np.linalg.norm(path, axis=1)
    np.testing.assert_allclose(r[-1] / r[0], (1 + 0.1 ** 2) ** 50, rtol=1e-9)


def test_generator_saves_and_loads_in_safe_mode(tmp_path):
    g = G.build_generator(8)
    g.save(tmp_path / "g.keras")
    loaded = keras.saving.load_model(tmp_path / "g.keras", safe_mode=True)
    z = np.ones((2, 8), "float32")
    np.testing.assert_allclose(keras.ops.convert_to_numpy(loaded(z)), keras.ops.convert_to_numpy(g(z)), atol=1e-6)


def test_bad_input():
    gan = G.build_gan(latent_dim=8)
    with pytest.raises(ValueError, match="latent vectors of size 8"):
        G.generate_from(gan.generator, np.zeros((2, 5)))
    with pytest.raises(ValueError, match="not conditional"):
        gan.generate(2, labels=np.eye(10)[:2])
    cgan = G.build_gan(latent_dim=8, num_classes=10)
    with pytest.raises(ValueError, match="one-hot"):
        cgan.generate(2, labels=np.eye(7)[:2])
    with pytest.raises(ValueError, match="one-hot"):
        cgan.generate(2)
    with pytest.raises(ValueError, match="generator loss"):
        G.generator_loss(np.zeros(2), "minimax")
    with pytest.raises(ValueError, match="generator loss"):
        gan.compile(keras.optimizers.Adam(), keras.optimizers.Adam(), generator_loss="wasserstein")
    with pytest.raises(ValueError, match="pack"):
        G.build_mlp_discriminator(pack=0)
    with pytest.raises(ValueError, match="latent_dim"):
        G.build_generator(0)


def test_dcgan_optimizers_are_two_separate_adams():
    d_opt, g_opt = G.dcgan_optimizers()
    assert d_opt is not g_opt
    assert float(d_opt.learning_rate) == pytest.approx(G.DCGAN_LEARNING_RATE)
    assert float(g_opt.beta_1) == pytest.approx(0.5)
    assert float(G.dcgan_optimizers(conditional=True)[0].learning_rate) == pytest.approx(
        G.CONDITIONAL_DCGAN_LEARNING_RATE)
    with pytest.raises(ValueError, match="learning_rate"):
        G.dcgan_optimizers(learning_rate=0)


def test_train_toy_gan_takes_exactly_the_requested_steps():
    # several steps per compiled call (steps_per_execution) must not change how many are taken
    points, _ = G.ring_of_gaussians(512, seed=0)
    gan, snaps = G.train_toy_gan(points, steps=60, batch_size=64, snapshot_every=30, n_snapshot=50, seed=0)
    assert [step for step, _, _ in snaps] == [30, 60]
    assert int(gan.d_optimizer.iterations) == 60 and int(gan.g_optimizer.iterations) == 60
    assert snaps[-1][1].shape == (50, 2)


def test_modes_visited_lists_the_modes_holding_mass():
    points, centres = G.ring_of_gaussians(2000, modes=8, std=0.02, seed=0)
    np.testing.assert_array_equal(G.modes_visited(points, centres, std=0.02), np.arange(8))
    blob = centres[3] + 0.5 * np.random.default_rng(0).standard_normal((4000, 2))   # a wide blob on mode 3
    assert list(G.modes_visited(blob, centres, std=0.02)) == [3]                      # visited ...
    assert G.mode_coverage(blob, centres, std=0.02)[0] == 0                           # ... but not covered


# ---------------------------------------------------------------------------------------
# Bad input gets a clear error (the adversarial review)
# ---------------------------------------------------------------------------------------

def test_fit_rejects_unscaled_images_however_they_arrive():
    """fit on 0..255 images used to train: G's sigmoid can never reach them."""
    import tensorflow as tf

    gan = G.build_gan(latent_dim=4)
    gan.compile(*G.dcgan_optimizers())
    pixels = np.random.default_rng(0).integers(0, 256, (8, 28, 28, 1)).astype("float32")
    message = (r"this GAN's generator outputs values in \[0, 1\]: expected real examples in that range "
               r"\(scale uint8 images with course_lib.data.scale\), got values in \[0, 255\]")

    def batches():
        yield (pixels[:4] / 255,)
        yield (pixels[4:],)

    for data in (pixels, pixels.astype("uint8"), tf.data.Dataset.from_tensor_slices(pixels).batch(4), batches()):
        with pytest.raises(ValueError, match=message):
            gan.fit(data, batch_size=None if not hasattr(data, "shape") else 4, epochs=1, verbose=0)
    with pytest.raises(ValueError, match=r"got values in \[nan, nan\]"):
        gan.fit(np.full((4, 28, 28, 1), np.nan, "float32"), verbose=0)
    history = gan.fit(pixels / 255, batch_size=4, epochs=1, verbose=0)       # scaled: trains
    assert np.isfinite(history.history["d_loss"]).all()


def test_fit_checks_the_example_shape_before_tracing():
    """4-D then 3-D images used to fail deep inside Keras ("statically known rank")."""
    gan = G.build_gan(latent_dim=4)
    gan.compile(*G.dcgan_optimizers())
    images = np.random.default_rng(0).random((8, 28, 28, 1)).astype("float32")
    gan.fit(images, batch_size=4, epochs=1, verbose=0)
    with pytest.raises(ValueError, match=r"makes examples of shape \(28, 28, 1\): expected real examples of shape "
                                         r"\(n, 28, 28, 1\) \(add the channel axis: x\[\.\.\., None\]\), "
                                         r"got shape \(8, 28, 28\)"):
        gan.fit(images[..., 0], batch_size=4, epochs=1, verbose=0)
    assert np.isfinite(gan.fit(images, batch_size=4, epochs=1, verbose=0).history["d_loss"]).all()
    with pytest.raises(ValueError, match=r"batch_size must be a positive integer, got 0\."):
        gan.fit(images, batch_size=0, verbose=0)


def test_toy_gan_fit_rejects_points_that_are_not_finite():
    gan = _tiny_gan()
    points = np.random.default_rng(0).normal(size=(16, 2)).astype("float32")
    points[3, 1] = np.nan
    with pytest.raises(ValueError, match=r"expected finite real examples, got values in \[nan, nan\] \(NaN or inf\)"):
        gan.fit(points, batch_size=8, verbose=0)
    with pytest.raises(ValueError, match=r"makes examples of shape \(2,\)"):
        gan.fit(np.zeros((8, 3), "float32"), verbose=0)
    assert gan.example_range is None and G.build_gan(latent_dim=4).example_range == (0.0, 1.0)


def test_conditional_gan_needs_one_hot_labels():
    cgan = G.build_gan(latent_dim=4, num_classes=10)
    cgan.compile(*G.dcgan_optimizers(conditional=True))
    message = r"labels must be one-hot rows \(every entry 0 or 1, one 1 per row\), got row 0 = \[0.1, 0.1"
    with pytest.raises(ValueError, match=message):
        cgan.generate(2, labels=np.full((2, 10), 0.1))                        # used to generate from them
    with pytest.raises(ValueError, match=message):
        G.GANMonitor(n=2, labels=np.full((2, 10), 0.1))
    images = np.random.default_rng(0).random((4, 28, 28, 1)).astype("float32")
    with pytest.raises(ValueError, match=r"one-hot rows .*got row 0 = \[2.0, 0.0"):
        cgan.fit(images, 2 * np.eye(10, dtype="float32")[:4], verbose=0)
    with pytest.raises(ValueError, match=r"a conditional GAN trains on images and their one-hot labels"):
        cgan.fit(images, verbose=0)
    assert cgan.generate(np.int64(2), labels=np.eye(10)[:2], batch_size=np.int64(1)).shape == (2, 28, 28, 1)


def test_numpy_numbers_are_valid_settings_and_bad_settings_are_named():
    assert G.build_mlp_generator(np.int64(2), hidden=np.int32(4), depth=np.int64(1)).output_shape == (None, 2)
    assert G.build_mlp_discriminator(np.int64(2), hidden=np.int64(4), pack=np.int64(2)).input_shape == (None, 4)
    assert G.build_generator(np.int64(4), num_classes=np.int64(3)).output_shape == (None, 28, 28, 1)
    d_opt, _ = G.dcgan_optimizers(learning_rate=np.float32(1e-3))
    assert float(d_opt.learning_rate) == pytest.approx(1e-3)
    with pytest.raises(ValueError, match=r"learning_rate must be a finite number > 0, got nan\."):
        G.dcgan_optimizers(learning_rate=float("nan"))
    with pytest.raises(ValueError, match=r"depth must be an integer >= 0, got True\."):
        G.build_mlp_generator(depth=True)


def test_mode_coverage_rejects_a_scale_that_is_not_positive():
    points, centres = G.ring_of_gaussians(100, std=0.02)
    for std in (-0.02, 0.0, float("nan")):
        with pytest.raises(ValueError, match=rf"std must be a finite number > 0, got {std}\."):
            G.mode_coverage(points, centres, std=std)
    with pytest.raises(ValueError, match=r"radius_stds must be a finite number > 0"):
        G.modes_visited(points, centres, std=0.02, radius_stds=-1)
    with pytest.raises(ValueError, match=r"min_share must be a finite number >= 0 and <= 1"):
        G.mode_coverage(points, centres, std=0.02, min_share=2)
    assert G.mode_coverage(points, centres, std=np.float32(0.02))[0] == 8


def test_the_dcgan_checkpoints_betas_are_the_ones_chosen_on_validation_digits():
    """The dcgan checkpoint trains with the betas `choices.dcgan_settings` chose (bench/choices.json),
    at 07's rate; 07's live runs keep beta_1 = 0.5."""
    from course_lib import choices
    from course_lib.recipes import gan as recipes

    chosen = choices.result("dcgan_settings")["chosen"]
    assert G.DCGAN_CHECKPOINT_BETAS == tuple(chosen["betas"]) and G.DCGAN_LEARNING_RATE == chosen["lr"]
    specs = {}
    recipes.specs(lambda spec: specs.setdefault(spec.name, spec), tiny=True)
    model = specs["dcgan"].build()
    specs["dcgan"].compile(model)
    for optimizer in (model.d_optimizer, model.g_optimizer):
        assert (float(optimizer.beta_1), float(optimizer.beta_2)) == pytest.approx(tuple(chosen["betas"]))
        assert float(optimizer.learning_rate) == pytest.approx(chosen["lr"])
    assert "(0.0, 0.9)" in specs["dcgan"].description
