import json
import subprocess
import sys
import textwrap
import zipfile

import keras
import numpy as np
import pytest
import tensorflow as tf

from course_lib import vae as V
from course_lib.divergences import kl_to_standard_normal


@pytest.fixture(scope="module")
def binary_batch():
    return (np.random.default_rng(0).random((64, 784)) < 0.15).astype("float32")


def test_sample_z_statistics_match_mu_and_variance():
    keras.utils.set_random_seed(0)
    n = 200_000
    mu = np.tile(np.array([[1.0, -2.0]], "float32"), (n, 1))
    log_sigma = np.tile(np.log(np.array([[1.0, 4.0]], "float32")), (n, 1))  # variances 1 and 4
    z = keras.ops.convert_to_numpy(V.sample_z([mu, log_sigma]))
    np.testing.assert_allclose(z.mean(axis=0), [1.0, -2.0], atol=0.02)
    np.testing.assert_allclose(z.var(axis=0), [1.0, 4.0], rtol=0.02)  # exp(log_sigma): a log-variance


def test_gradients_reach_mu_and_log_sigma_through_the_sample():
    mu = tf.Variable([[0.5, -1.0]])
    log_sigma = tf.Variable([[0.2, -0.6]])
    with tf.GradientTape() as tape:
        z = V.sample_z([mu, log_sigma])
        total = tf.reduce_sum(z)
    g_mu, g_ls = tape.gradient(total, [mu, log_sigma])
    eps = (z - mu) / tf.exp(log_sigma / 2)  # the noise that was drawn
    np.testing.assert_allclose(g_mu.numpy(), [[1.0, 1.0]])                          # dz/dmu = 1
    np.testing.assert_allclose(g_ls.numpy(), (0.5 * tf.exp(log_sigma / 2) * eps).numpy(), rtol=1e-5)


def test_architecture_matches_slides():
    vae = V.build_vae(latent_dim=2)
    enc = vae.encoder
    assert [tuple(t.shape) for t in enc.outputs] == [(None, 2), (None, 2)]
    assert enc.get_layer("h_q").units == 512 and enc.get_layer("mu").activation.__name__ == "linear"
    assert vae.decoder.output_shape == (None, 784)
    assert isinstance(vae.sampler, keras.layers.Lambda) and vae.sampler.function is V.sample_z
    assert V.build_vae(latent_dim=20).latent_dim == 20


def test_reconstruction_losses_against_numpy():
    x = np.array([[0.0, 1.0, 1.0]], "float32")
    x_hat = np.array([[0.2, 0.7, 0.9]], "float32")
    np.testing.assert_allclose(V.reconstruction_loss(x, x_hat, "mse"), [0.04 + 0.09 + 0.01], rtol=1e-6)
    expected = -(np.log(0.8) + np.log(0.7) + np.log(0.9))
    np.testing.assert_allclose(V.reconstruction_loss(x, x_hat, "bce"), [expected], rtol=1e-6)
    with pytest.raises(ValueError, match="one of"):
        V.reconstruction_loss(x, x_hat, "l1")
    with pytest.raises(ValueError, match="differ in shape"):
        V.reconstruction_loss(x, x_hat[:, :2])


@pytest.mark.parametrize("weight", [0.0, 1.0, 3.5])
def test_loss_is_reconstruction_plus_weighted_closed_form_kl(binary_batch, weight):
    vae = V.build_vae(latent_dim=3, kl_weight=weight, reconstruction="bce")
    x = binary_batch[:8]
    x_hat, mu, log_sigma = vae(x)
    loss = float(vae.compute_loss(x=x, y_pred=(x_hat, mu, log_sigma)))
    by_hand = np.mean(keras.ops.convert_to_numpy(V.reconstruction_loss(x, x_hat, "bce"))
                      + weight * keras.ops.convert_to_numpy(kl_to_standard_normal(mu, log_sigma)))
    assert loss == pytest.approx(by_hand, rel=1e-5)


def test_training_steps_lower_the_loss(binary_batch):
    keras.utils.set_random_seed(0)
    vae = V.build_vae(latent_dim=2, hidden=64, reconstruction="bce")
    vae.compile(optimizer=keras.optimizers.Adam(1e-3))
    before = vae.evaluate(binary_batch, verbose=0, return_dict=True)["loss"]
    history = vae.fit(binary_batch, epochs=5, batch_size=32, verbose=0)
    assert set(history.history) == {"loss", "reconstruction", "kl"}
    assert vae.evaluate(binary_batch, verbose=0, return_dict=True)["loss"] < before


def test_conditional_vae_and_bad_labels(binary_batch):
    cvae = V.build_vae(latent_dim=2, hidden=32, num_classes=10)
    labels = np.eye(10, dtype="float32")[np.arange(64) % 10]
    cvae.compile(optimizer="adam")
    cvae.fit([binary_batch, labels], epochs=1, batch_size=32, verbose=0)
    assert cvae.encoder.get_layer("image_and_label").output.shape[-1] == 794
    with pytest.raises(ValueError, match=r"one-hot of shape \(n, 10\)"):
        cvae.fit([binary_batch, labels[:, :9]], verbose=0)
    with pytest.raises(ValueError, match="64 images but 10 labels"):
        cvae.fit([binary_batch, labels[:10]], verbose=0)
    with pytest.raises(ValueError, match="takes \\[images, one_hot_labels\\]"):
        cvae.fit(binary_batch, verbose=0)
    with pytest.raises(ValueError, match="not conditional"):
        V.build_vae(latent_dim=2, hidden=32).fit([binary_batch, labels], verbose=0)
    with pytest.raises(ValueError, match="exactly when"):
        V.iwae_log_likelihood(cvae, binary_batch, k=2)


@pytest.mark.parametrize("kwargs", [{"latent_dim": 0}, {"hidden": -3}, {"num_classes": 2.5}])
def test_bad_sizes(kwargs):
    with pytest.raises(ValueError, match="positive integer"):
        V.build_vae(**kwargs)


def test_bad_loss_settings():
    with pytest.raises(ValueError, match="kl_weight"):
        V.build_vae(kl_weight=-1)
    with pytest.raises(ValueError, match="reconstruction"):
        V.build_vae(reconstruction="l2")


def test_iwae_is_above_elbo_and_rises_with_k(binary_batch):
    keras.utils.set_random_seed(1)
    vae = V.build_vae(latent_dim=2, hidden=64, reconstruction="bce")
    vae.compile(optimizer="adam")
    vae.fit(binary_batch, epochs=3, batch_size=32, verbose=0)
    elbo = V.elbo(vae, binary_batch, num_samples=200).mean()
    bounds = [V.iwae_log_likelihood(vae, binary_batch, k=k, seed=2).mean() for k in (1, 10, 100)]
    assert bounds[0] == pytest.approx(elbo, abs=0.05 * abs(elbo))  # k = 1 is a one-sample ELBO
    assert elbo <= bounds[1] <= bounds[2]


def test_iwae_converges_to_the_exact_likelihood():
    """With a 1-D latent, log p(x) = log integral p(x|z) p(z) dz by quadrature: the reference."""
    keras.utils.set_random_seed(3)
    vae = V.build_vae(latent_dim=1, hidden=8, input_dim=6, reconstruction="bce")
    x = (np.random.default_rng(4).random((5, 6)) < 0.5).astype("float32")
    grid = np.linspace(-10, 10, 8001)
    logits = np.asarray(V._logits_model(vae)(grid[:, None].astype("float32")), "float64")  # (g, 6)
    log_joint = (x[:, None, :] * logits - np.logaddexp(0, logits)).sum(-1) - 0.5 * (grid**2 + np.log(2 * np.pi))
    m = log_joint.max(axis=1, keepdims=True)
    exact = (m + np.log(np.exp(log_joint - m).sum(axis=1, keepdims=True) * (grid[1] - grid[0])))[:, 0]
    iwae = V.iwae_log_likelihood(vae, x, k=20_000, seed=5)
    assert np.all(V.elbo(vae, x, num_samples=5000, seed=5) <= exact)   # a bound in expectation
    np.testing.assert_allclose(iwae, exact, atol=0.02)


def test_likelihood_bad_input(binary_batch):
    vae = V.build_vae(latent_dim=2, hidden=16)
    with pytest.raises(ValueError, match="binary"):
        V.iwae_log_likelihood(vae, binary_batch * 0.5 + 0.1)
    with pytest.raises(ValueError, match=r"\(n, 784\)"):
        V.elbo(vae, binary_batch.reshape(-1, 28, 28))
    with pytest.raises(ValueError, match="k must"):
        V.iwae_log_likelihood(vae, binary_batch, k=0)


def test_saved_vae_loads_in_safe_mode_in_a_fresh_process(tmp_path):
    keras.utils.set_random_seed(6)
    vae = V.build_vae(latent_dim=2, hidden=32, kl_weight=0.5, reconstruction="bce")
    path = tmp_path / "vae.keras"
    vae.save(path)
    # What makes it load in safe mode: the saved config holds no Lambda at all (the registered
    # VAE subclass stores encoder, decoder and loss settings; its __init__ rebuilds Lambda(sample_z)).
    config = zipfile.ZipFile(path).read("config.json").decode()
    assert "Lambda" not in config and "sample_z" not in config
    z = np.linspace(-2, 2, 10, dtype="float32").reshape(5, 2)
    expected = np.asarray(vae.decoder(z))
    script = textwrap.dedent(f"""
        import json, numpy as np, keras
        import course_lib.vae  # registers the VAE class
        vae = keras.saving.load_model({str(path)!r}, safe_mode=True)
        z = np.linspace(-2, 2, 10, dtype="float32").reshape(5, 2)
        out = np.asarray(vae.decoder(z))
        print(json.dumps({{"out": out.tolist(), "w": vae.kl_weight, "rec": vae.reconstruction,
                          "fn": vae.sampler.function.__name__}}))
    """)
    run = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120)
    assert run.returncode == 0, run.stderr
    got = json.loads(run.stdout.strip().splitlines()[-1])
    np.testing.assert_allclose(np.array(got["out"]), expected, rtol=1e-6)
    assert (got["w"], got["rec"], got["fn"]) == (0.5, "bce", "sample_z")


def test_kl_weight_can_change_after_compiling(binary_batch):
    """KL annealing: a new weight reaches the already-traced loss."""
    vae = V.build_vae(latent_dim=2, hidden=16, kl_weight=0.0, reconstruction="bce")
    vae.compile(optimizer="adam")
    keras.utils.set_random_seed(0)
    first = vae.evaluate(binary_batch, batch_size=64, verbose=0, return_dict=True)
    assert first["loss"] == pytest.approx(first["reconstruction"], rel=1e-5)
    vae.kl_weight = 2.0
    keras.utils.set_random_seed(0)
    second = vae.evaluate(binary_batch, batch_size=64, verbose=0, return_dict=True)
    assert second["loss"] == pytest.approx(second["reconstruction"] + 2.0 * second["kl"], rel=1e-5)
    with pytest.raises(ValueError, match="kl_weight"):
        vae.kl_weight = -1.0


def test_decoder_can_stack_hidden_layers():
    vae = V.build_vae(latent_dim=2, decoder_hidden=(512, 512))
    dense = [l for l in vae.decoder.layers if isinstance(l, keras.layers.Dense)]
    assert [l.units for l in dense] == [512, 512, 784]
    assert vae.encoder.get_layer("h_q").units == 512
    with pytest.raises(ValueError, match="hidden"):
        V.build_vae(decoder_hidden=(512, 0))


def test_make_optimizer_decays_from_peak_to_floor():
    opt = V.make_optimizer(epochs=2, steps_per_epoch=50, peak_lr=1e-2, final_fraction=0.1)
    schedule = opt.learning_rate if callable(opt.learning_rate) else opt._learning_rate
    assert float(schedule(0)) == pytest.approx(1e-2)
    assert float(schedule(50)) == pytest.approx(1e-2 * (0.1 + 0.9 * 0.5), rel=1e-5)  # half-way
    assert float(schedule(100)) == pytest.approx(1e-3, rel=1e-5)
    with pytest.raises(ValueError):
        V.make_optimizer(epochs=0, steps_per_epoch=10)
    with pytest.raises(ValueError):
        V.make_optimizer(epochs=1, steps_per_epoch=10, peak_lr=-1)


def test_conditional_vae_trains_on_a_binarized_pipeline():
    from course_lib.data import binarized_batches

    x = np.random.default_rng(0).random((64, 784)).astype("float32")
    labels = np.eye(10, dtype="float32")[np.arange(64) % 10]
    cvae = V.build_vae(latent_dim=2, hidden=16, num_classes=10, reconstruction="bce")
    cvae.compile(optimizer="adam")
    history = cvae.fit(binarized_batches(x, 32, labels=labels), epochs=2, verbose=0)
    assert len(history.history["loss"]) == 2 and np.isfinite(history.history["loss"]).all()


def test_encode_decode_accept_mixed_arrays_and_tensors():
    cvae = V.build_vae(latent_dim=2, hidden=16, num_classes=3)
    mu, _ = cvae.encode(np.zeros((4, 784), "float32"), np.eye(3, dtype="float32")[[0, 1, 2, 0]])
    out = cvae.decode(mu, np.eye(3, dtype="float32")[[0, 1, 2, 0]])   # tensor + array
    assert tuple(out.shape) == (4, 784)


# ---------------------------------------------------------------------------------------
# Bad data fails at the model's boundary: fit and evaluate, arrays and tf.data pipelines
# ---------------------------------------------------------------------------------------

def _pipeline(*arrays, batch_size=32):
    """A tf.data pipeline of model inputs, as data.binarized_batches yields them."""
    data = arrays[0] if len(arrays) == 1 else tuple(arrays)
    ds = tf.data.Dataset.from_tensor_slices(data).batch(batch_size)
    return ds if len(arrays) == 1 else ds.map(lambda *xs: (xs,))      # ((images, labels),)


def test_unscaled_images_are_rejected(binary_batch):
    vae = V.build_vae(latent_dim=2, hidden=16)
    vae.compile(optimizer="adam")
    pixels = np.round(binary_batch * 255)                     # 0..255, as loaded, not scaled
    message = r"expected pixel values in \[0, 1\] .*got values in \[0, 255\]"
    for bad in (pixels, pixels.astype("uint8")):
        with pytest.raises(ValueError, match=message):
            vae.fit(bad, epochs=1, verbose=0)
    with pytest.raises(ValueError, match=message):
        vae.fit(_pipeline(pixels), epochs=1, verbose=0)
    with pytest.raises(ValueError, match=message):
        vae.fit(binary_batch, validation_data=(pixels,), epochs=1, verbose=0)
    with pytest.raises(ValueError, match=message):
        vae.evaluate(pixels, verbose=0)
    with pytest.raises(ValueError, match=r"got values in \[nan, nan\]"):
        vae.fit(np.full((4, 784), np.nan, "float32"), verbose=0)
    history = vae.fit(_pipeline(binary_batch), epochs=1, verbose=0)   # still trains afterwards
    assert np.isfinite(history.history["loss"]).all()


BAD_LABELS = {"all-zero rows": lambda c: 0 * c, "scaled": lambda c: 2 * c,
              "negative": lambda c: c - 0.5, "soft": lambda c: 0.9 * c + 0.01}


def test_cvae_rejects_labels_that_are_not_one_hot(binary_batch):
    cvae = V.build_vae(latent_dim=2, hidden=16, num_classes=10)
    cvae.compile(optimizer="adam")
    one_hot = np.eye(10, dtype="float32")[np.arange(64) % 10]
    message = r"one-hot rows \(every entry 0 or 1, one 1 per row\), got row \d+ = \["
    for bad in BAD_LABELS.values():
        labels = bad(one_hot)
        with pytest.raises(ValueError, match=message):
            V.check_labels(labels, 10)
        with pytest.raises(ValueError, match=message):
            cvae.fit([binary_batch, labels], epochs=1, verbose=0)
        with pytest.raises(ValueError, match=message):
            cvae.fit(_pipeline(binary_batch, labels), epochs=1, verbose=0)
        with pytest.raises(ValueError, match=message):
            V.elbo(cvae, binary_batch, labels, num_samples=1)
    with pytest.raises(ValueError, match=r"got row 3 = \[0.0, 0.0, 0.0, 0.0"):    # the first bad row
        V.check_labels(np.concatenate([one_hot[:3], 0 * one_hot[3:]]), 10)
    V.check_labels(one_hot.astype("uint8"), 10)                                # integer one-hot is fine
    cvae.fit(_pipeline(binary_batch, one_hot), epochs=1, verbose=0)


@pytest.mark.parametrize("shape", [(64, 28, 28), (64, 100)])
def test_wrong_image_shape_fails_before_tracing(binary_batch, shape):
    """Keras used to trace the train step on the bad shape, and the half-built step broke
    every later fit until the model was compiled again."""
    vae = V.build_vae(latent_dim=2, hidden=16)
    vae.compile(optimizer="adam")
    bad = binary_batch.reshape(64, 28, 28) if len(shape) == 3 else binary_batch[:, :100]
    message = rf"expected flat images of shape \(n, 784\).*got shape \({shape[0]}, {shape[1]}"
    with pytest.raises(ValueError, match=message):
        vae.fit(bad, epochs=1, batch_size=32, verbose=0)
    with pytest.raises(ValueError, match=r"\(n, 784\).*got shape \(None, "):       # element_spec
        vae.fit(_pipeline(bad), epochs=1, verbose=0)
    with pytest.raises(ValueError, match=message):
        vae.evaluate(bad, verbose=0)
    history = vae.fit(binary_batch, epochs=1, batch_size=32, verbose=0)      # the same compiled model
    assert np.isfinite(history.history["loss"]).all()


# ---------------------------------------------------------------------------------------
# Bad input gets a clear error (the adversarial review): sizes, shapes, values, every entry point
# ---------------------------------------------------------------------------------------

@pytest.mark.parametrize("batch_size", [-3, 0, 2.5, True])
def test_likelihoods_reject_a_bad_batch_size(binary_batch, batch_size):
    """A negative batch_size used to return np.empty's uninitialised memory (log p(x) = -1.6e131)."""
    vae = V.build_vae(latent_dim=2, hidden=8)
    message = rf"^batch_size must be a positive integer, got {batch_size!r}\.$"
    with pytest.raises(ValueError, match=message):
        V.iwae_log_likelihood(vae, binary_batch, k=2, batch_size=batch_size)
    with pytest.raises(ValueError, match=message):
        V.elbo(vae, binary_batch, num_samples=1, batch_size=batch_size)


def test_elbo_rejects_no_samples_and_an_empty_batch(binary_batch):
    vae = V.build_vae(latent_dim=2, hidden=8)
    with pytest.raises(ValueError, match=r"^num_samples must be a positive integer, got 0\.$"):
        V.elbo(vae, binary_batch, num_samples=0)
    with pytest.raises(ValueError, match=r"need at least one image, got an empty batch of shape \(0, 784\)"):
        V.elbo(vae, binary_batch[:0])
    with pytest.raises(ValueError, match=r"need at least one image"):
        V.iwae_log_likelihood(vae, binary_batch[:0])


def test_numpy_integers_are_valid_counts(binary_batch):
    vae = V.build_vae(latent_dim=np.int64(2), hidden=np.int32(8))
    a = V.iwae_log_likelihood(vae, binary_batch[:5], k=np.int64(3), batch_size=np.int64(2))
    b = V.iwae_log_likelihood(vae, binary_batch[:5], k=3, batch_size=2)
    np.testing.assert_array_equal(a, b)
    assert V.elbo(vae, binary_batch[:5], num_samples=np.int64(2), batch_size=np.int16(3)).shape == (5,)
    vae.kl_weight = np.float32(0.5)
    assert vae.kl_weight == 0.5
    for bad in (np.nan, True, "1"):
        with pytest.raises(ValueError, match="kl_weight must be a finite number >= 0"):
            vae.kl_weight = bad


def test_reconstruction_loss_sums_over_every_pixel_axis_and_rejects_a_missing_batch_axis(binary_batch):
    """(n, 28, 28) used to return row sums, (n, 28); it now gives the same n numbers as (n, 784)."""
    x, x_hat = binary_batch[:4], np.clip(binary_batch[:4] * 0.8 + 0.1, 0, 1)
    for kind in V.RECONSTRUCTIONS:
        flat = keras.ops.convert_to_numpy(V.reconstruction_loss(x, x_hat, kind))
        for shape in ((4, 28, 28), (4, 28, 28, 1)):
            grid = keras.ops.convert_to_numpy(V.reconstruction_loss(x.reshape(shape), x_hat.reshape(shape), kind))
            assert grid.shape == (4,)
            np.testing.assert_allclose(grid, flat, rtol=1e-6)
    with pytest.raises(ValueError, match=r"expected a batch of examples.*got shape \(784,\); one example is x\[None\]"):
        V.reconstruction_loss(x[0], x_hat[0])


def test_encode_call_and_predict_check_their_inputs(binary_batch):
    """predict on 0..255 pixels used to return NaN; encode and vae(x) took anything."""
    vae = V.build_vae(latent_dim=2, hidden=8)
    pixels = binary_batch * 255
    message = r"expected pixel values in \[0, 1\] .*got values in \[0, 255\]"
    with pytest.raises(ValueError, match=message):
        vae.encode(pixels)
    with pytest.raises(ValueError, match=message):
        vae.encode(tf.constant(pixels))                                  # an eager tensor: values known
    with pytest.raises(ValueError, match=message):
        vae(pixels)
    with pytest.raises(ValueError, match=message):
        vae.predict(pixels, verbose=0)
    with pytest.raises(ValueError, match=message):
        vae.predict(_pipeline(pixels), verbose=0)
    with pytest.raises(ValueError, match=r"got values in \[nan, nan\]"):
        vae.predict(np.full((2, 784), np.nan, "float32"), verbose=0)
    with pytest.raises(ValueError, match=r"expected flat images of shape \(n, 784\) \(flatten them"):
        vae.encode(binary_batch.reshape(-1, 28, 28))
    with pytest.raises(ValueError, match=r"batch_size must be a positive integer, got 0\."):
        vae.predict(binary_batch, batch_size=0, verbose=0)
    # valid input: the same numbers as before the checks (encode = the encoder's output)
    mu, _ = vae.encode(binary_batch)
    np.testing.assert_allclose(np.asarray(mu), np.asarray(vae.encoder(binary_batch)[0]), rtol=1e-6)
    assert [np.asarray(a).shape for a in vae.predict(binary_batch, verbose=0)] == [(64, 784), (64, 2), (64, 2)]


def test_cvae_encode_checks_its_labels(binary_batch):
    cvae = V.build_vae(latent_dim=2, hidden=8, num_classes=3)
    with pytest.raises(ValueError, match=r"one-hot rows .*got row 0 = \[0.3333, 0.3333, 0.3333\]"):
        cvae.encode(binary_batch[:2], np.full((2, 3), 1 / 3, "float32"))
    with pytest.raises(ValueError, match=r"takes \[images, one_hot_labels\]"):
        cvae.encode(binary_batch[:2])
    with pytest.raises(ValueError, match="2 images but 3 labels"):
        cvae.encode(binary_batch[:2], np.eye(3, dtype="float32"))
    with pytest.raises(ValueError, match="not conditional"):
        V.build_vae(latent_dim=2, hidden=8).encode(binary_batch[:2], np.eye(3, dtype="float32")[:2])


def test_fit_checks_a_python_generator_and_the_batch_size(binary_batch):
    vae = V.build_vae(latent_dim=2, hidden=8)
    vae.compile(optimizer="adam")

    def batches(scale_last):
        yield (binary_batch[:32],)
        yield (binary_batch[32:] * scale_last,)

    with pytest.raises(ValueError, match=r"expected pixel values in \[0, 1\] .*got values in \[0, 255\]"):
        vae.fit(batches(255), epochs=1, verbose=0)
    with pytest.raises(ValueError, match=r"^batch_size must be a positive integer, got 0\.$"):
        vae.fit(binary_batch, batch_size=0, verbose=0)
    history = vae.fit(batches(1), epochs=1, steps_per_epoch=2, verbose=0)  # good batches still train
    assert np.isfinite(history.history["loss"]).all()
