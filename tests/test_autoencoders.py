import keras
import numpy as np
import pytest

from course_lib import autoencoders as ae


def dense_params(n_in, n_out):
    return n_in * n_out + n_out


def conv_params(c_in, c_out, k=3):
    return k * k * c_in * c_out + c_out


def test_simple_autoencoder_matches_slide():
    model = ae.simple_autoencoder(encoding_dim=32)
    assert model.output_shape == (None, 784)
    assert ae.code_size(model) == 32 and 784 / ae.code_size(model) == 24.5  # "factor 24.5"
    assert model.count_params() == dense_params(784, 32) + dense_params(32, 784)
    code = model.get_layer("encoder").get_layer("code")
    assert code.activation.__name__ == "relu"
    assert model.get_layer("decoder").layers[-1].activation.__name__ == "sigmoid"


def test_deep_sparse_autoencoder_matches_slide():
    model = ae.deep_sparse_autoencoder()
    sizes = [784, 128, 64, 32, 64, 128, 784]
    assert model.count_params() == sum(dense_params(a, b) for a, b in zip(sizes, sizes[1:]))
    reg = model.get_layer("encoder").get_layer("code").activity_regularizer
    assert reg is not None and reg.get_config()["l1"] == pytest.approx(1e-4)  # 10e-5
    assert ae.deep_sparse_autoencoder(l1=0).get_layer("encoder").get_layer("code").activity_regularizer is None


def test_activity_penalty_is_l1_of_code():
    model = ae.deep_sparse_autoencoder(l1=1e-2)
    x = np.random.default_rng(0).random((8, 784)).astype("float32")
    model(x)
    code = np.asarray(model.get_layer("encoder")(x))
    penalty = sum(float(v) for v in model.losses)
    # l1 * sum |code| per image, averaged over the batch
    assert penalty == pytest.approx(1e-2 * np.abs(code).sum() / len(x), rel=1e-5)
    assert penalty > 0


def test_conv_autoencoder_matches_slide_shapes():
    model = ae.conv_autoencoder()
    encoder, decoder = model.get_layer("encoder"), model.get_layer("decoder")
    assert encoder.output_shape == (None, 4, 4, 8) and ae.code_size(model) == 128
    assert model.output_shape == (None, 28, 28, 1)
    shapes = [tuple(layer.output.shape[1:]) for layer in decoder.layers]
    assert shapes == [(4, 4, 8), (4, 4, 8), (8, 8, 8), (8, 8, 8), (16, 16, 8),
                      (14, 14, 16), (28, 28, 16), (28, 28, 1)]
    expected = (conv_params(1, 16) + conv_params(16, 8) + conv_params(8, 8)
                + conv_params(8, 8) + conv_params(8, 8) + conv_params(8, 16) + conv_params(16, 1))
    assert model.count_params() == expected == 4385


def test_denoising_autoencoder_is_the_conv_architecture():
    den, conv = ae.denoising_autoencoder(), ae.conv_autoencoder()
    assert den.name == "denoising_autoencoder"
    assert den.count_params() == conv.count_params() and den.output_shape == conv.output_shape


@pytest.mark.parametrize("kwargs", [{"encoding_dim": 0}, {"encoding_dim": 2.5}, {"input_dim": -1},
                                    {"encoding_dim": True}])
def test_bad_sizes(kwargs):
    with pytest.raises(ValueError, match=r"must be a positive integer, got"):
        ae.simple_autoencoder(**kwargs)


def test_numpy_integer_sizes_build_the_same_models():
    model = ae.deep_sparse_autoencoder(hidden=(np.int64(16), np.int32(8)), encoding_dim=np.int64(4))
    assert ae.code_size(model) == 4 and model.count_params() == ae.deep_sparse_autoencoder((16, 8), 4).count_params()
    assert ae.code_size(ae.simple_autoencoder(np.int64(8))) == 8


def test_bad_sparse_arguments():
    with pytest.raises(ValueError, match="l1"):
        ae.deep_sparse_autoencoder(l1=-1)
    with pytest.raises(ValueError, match="hidden"):
        ae.deep_sparse_autoencoder(hidden=(128, 0))


def test_bce_floor_closed_forms():
    assert ae.bce_floor(np.array([0.0, 1.0, 1.0])) == 0.0
    assert ae.bce_floor(np.full(4, 0.5)) == pytest.approx(np.log(2))


def test_reconstruction_losses_against_formula():
    # A decoder with zero weights outputs sigmoid(b) for every pixel: the BCE is then a
    # closed form of the targets.
    model = ae.simple_autoencoder(encoding_dim=4, input_dim=9)
    dec = model.get_layer("decoder").get_layer("reconstruction")
    dec.set_weights([np.zeros((4, 9)), np.full(9, np.log(0.25 / 0.75))])  # sigmoid(b) = 0.25
    x = np.random.default_rng(1).random((5, 9)).astype("float32")
    losses = ae.reconstruction_losses(model, x)
    assert losses["bce"] == pytest.approx(-(x * np.log(0.25) + (1 - x) * np.log(0.75)).mean(), rel=1e-5)
    assert losses["mse"] == pytest.approx(((x - 0.25) ** 2).mean(), rel=1e-5)
    # Keras' own loss agrees on the same outputs.
    keras_bce = float(keras.losses.binary_crossentropy(x, np.full_like(x, 0.25)).numpy().mean())
    assert losses["bce"] == pytest.approx(keras_bce, rel=1e-4)


def test_reconstruction_losses_bad_input():
    model = ae.simple_autoencoder()
    with pytest.raises(ValueError, match="784"):
        ae.reconstruction_losses(model, np.zeros((2, 28, 28)))
    with pytest.raises(ValueError, match="holds 2 images"):
        ae.reconstruction_losses(model, np.zeros((2, 784)), np.zeros((3, 784)))
    with pytest.raises(ValueError, match=r"^batch_size must be a positive integer, got 0\.$"):
        ae.reconstruction_losses(model, np.zeros((2, 784)), batch_size=0)
    with pytest.raises(ValueError, match=r"^batch_size must be a positive integer, got -1\.$"):
        ae.code_sparsity(model, np.zeros((2, 784)), batch_size=-1)


def test_code_sparsity_counts_inactive_units():
    model = ae.simple_autoencoder(encoding_dim=4, input_dim=9)
    code = model.get_layer("encoder").get_layer("code")
    code.set_weights([np.zeros((9, 4)), np.array([-1.0, 0.0, 1.0, 3.0])])  # relu -> 0, 0, 1, 3
    stats = ae.code_sparsity(model, np.ones((6, 9), dtype="float32"))
    assert stats["inactive_fraction"] == 0.5 and stats["mean_activation"] == pytest.approx(1.0)


def test_summary_row_and_shape_check():
    from course_lib.bench import TrainingTimer

    model = ae.simple_autoencoder(encoding_dim=4, input_dim=9)
    timer = TrainingTimer(10)
    timer.epochs, timer.seconds = 1, 0.5
    x = np.random.default_rng(2).random((4, 9)).astype("float32")
    row = ae.summary_row("m", model, timer, x, x)
    assert row["train img/s"] == 20 and row["code floats"] == 4 and row["images seen"] == 10
    assert row["test BCE"] == pytest.approx(row["BCE from noisy"])
    assert "val BCE" not in row
    with pytest.raises(ValueError, match="differ in shape"):
        ae.summary_row("m", model, timer, x, x[:2])


def test_summary_row_validation_column():
    from course_lib.bench import TrainingTimer

    model = ae.simple_autoencoder(encoding_dim=4, input_dim=9)
    timer = TrainingTimer(10)
    timer.epochs, timer.seconds = 2, 1.0
    rng = np.random.default_rng(3)
    x, x_noisy = rng.random((4, 9)).astype("float32"), rng.random((4, 9)).astype("float32")
    val, val_noisy = rng.random((6, 9)).astype("float32"), rng.random((6, 9)).astype("float32")
    row = ae.summary_row("m", model, timer, x, x_noisy, x_val=val)
    assert list(row) == ["model", "code floats", "params", "images seen", "train img/s",
                         "val BCE", "test BCE", "test MSE", "BCE from noisy"]
    assert row["images seen"] == 20
    assert row["val BCE"] == pytest.approx(ae.reconstruction_losses(model, val)["bce"])
    assert row["test BCE"] == pytest.approx(ae.reconstruction_losses(model, x)["bce"])
    assert row["BCE from noisy"] == pytest.approx(ae.reconstruction_losses(model, x_noisy, x)["bce"])
    # a denoiser is validated and tested on noisy inputs against the clean images
    den = ae.summary_row("d", model, timer, x, x_noisy, trained_on_noisy=True, x_val=val, x_val_noisy=val_noisy)
    assert den["val BCE"] == pytest.approx(ae.reconstruction_losses(model, val_noisy, val)["bce"])
    assert den["test BCE"] == pytest.approx(den["BCE from noisy"])
    with pytest.raises(ValueError, match="x_val_noisy"):
        ae.summary_row("d", model, timer, x, x_noisy, trained_on_noisy=True, x_val=val)
    with pytest.raises(ValueError, match="differ in shape"):
        ae.summary_row("m", model, timer, x, x_noisy, x_val=val, x_val_noisy=val_noisy[:2])


@pytest.mark.parametrize("build,shape", [(ae.simple_autoencoder, (784,)), (ae.conv_autoencoder, (28, 28, 1))])
def test_a_few_training_steps_lower_the_loss(build, shape):
    keras.utils.set_random_seed(0)
    x = np.random.default_rng(0).random((64, *shape)).astype("float32") ** 4  # dark, MNIST-like
    model = build()
    model.compile(optimizer=keras.optimizers.Adam(1e-2), loss="binary_crossentropy")
    before = model.evaluate(x, x, verbose=0)
    model.fit(x, x, epochs=5, batch_size=32, verbose=0)
    assert model.evaluate(x, x, verbose=0) < before
