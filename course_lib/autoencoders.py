"""The four autoencoders of the slides, in Keras 3. Introduced in 03_autoencoders.

Every builder returns a functional ``keras.Model`` made of two named sub-models,
``model.get_layer("encoder")`` and ``model.get_layer("decoder")``, so that later lectures
can encode images and decode arbitrary codes (04a_vae decodes random latent points).

Shapes, sizes and activations are the slides'; only the Keras 1 spellings changed
(``border_mode`` -> ``padding``, ``Conv2D(16, 3, 3)`` -> ``Conv2D(16, 3)``, the activity
regularizer moved from ``compile`` onto the code layer).
"""

import keras
import numpy as np
from keras import layers, regularizers

from course_lib.checks import positive_int

IMAGE_SHAPE = (28, 28, 1)
INPUT_DIM = 28 * 28  # 784 floats per MNIST image


def _join(encoder, decoder, name):
    """autoencoder(x) = decoder(encoder(x)), keeping both halves reachable by name."""
    inputs = keras.Input(shape=encoder.input_shape[1:], name="image")
    return keras.Model(inputs, decoder(encoder(inputs)), name=name)


def _check_positive(**sizes):
    """The sizes as Python ints, or ValueError (Keras layers refuse NumPy integers)."""
    return [positive_int(value, key) for key, value in sizes.items()]


def simple_autoencoder(encoding_dim=32, input_dim=INPUT_DIM):
    """Slide "Simple Autoencoder for MNIST": 784 -> Dense(32, relu) -> Dense(784, sigmoid).

    32 floats for 784 inputs is the slide's "compression of factor 24.5" (784 / 32).
    """
    encoding_dim, input_dim = _check_positive(encoding_dim=encoding_dim, input_dim=input_dim)
    x = keras.Input(shape=(input_dim,), name="image")
    code = layers.Dense(encoding_dim, activation="relu", name="code")(x)
    encoder = keras.Model(x, code, name="encoder")

    z = keras.Input(shape=(encoding_dim,), name="code")
    x_hat = layers.Dense(input_dim, activation="sigmoid", name="reconstruction")(z)
    decoder = keras.Model(z, x_hat, name="decoder")
    return _join(encoder, decoder, "simple_autoencoder")


def deep_sparse_autoencoder(hidden=(128, 64), encoding_dim=32, l1=10e-5, input_dim=INPUT_DIM):
    """Slide "Adding depth and sparsity constraints": 784-128-64-32-64-128-784.

    The L1 activity regularizer (the slide's ``10e-5``, i.e. 1e-4) sits on the 32-d code
    layer: it adds ``l1 * sum(|code|)`` per image (Keras 3 averages it over the batch) to
    the loss, pushing many code units to exactly 0 for any given image (a sparse code).
    ``l1=0`` gives the plain deep autoencoder.
    """
    encoding_dim, input_dim = _check_positive(encoding_dim=encoding_dim, input_dim=input_dim)
    hidden = tuple(_check_positive(**{f"hidden[{i}]": h for i, h in enumerate(hidden)}))
    if l1 < 0:
        raise ValueError(f"l1 must be >= 0, got {l1}.")
    x = keras.Input(shape=(input_dim,), name="image")
    h = x
    for i, units in enumerate(hidden):
        h = layers.Dense(units, activation="relu", name=f"enc_{units}_{i}")(h)
    code = layers.Dense(encoding_dim, activation="relu", name="code",
                        activity_regularizer=regularizers.l1(l1) if l1 else None)(h)
    encoder = keras.Model(x, code, name="encoder")

    z = keras.Input(shape=(encoding_dim,), name="code")
    h = z
    for i, units in enumerate(reversed(hidden)):
        h = layers.Dense(units, activation="relu", name=f"dec_{units}_{i}")(h)
    x_hat = layers.Dense(input_dim, activation="sigmoid", name="reconstruction")(h)
    decoder = keras.Model(z, x_hat, name="decoder")
    return _join(encoder, decoder, "deep_sparse_autoencoder")


def conv_autoencoder():
    """Slide "Convolutional Autoencoders", shape for shape.

    Encoder: 28x28x1 -> conv16 -> pool -> 14x14 -> conv8 -> pool -> 7x7 -> conv8 -> pool
    ('same' padding rounds 7/2 up) -> (4, 4, 8) = 128-d code.
    Decoder: 4 -> up 8 -> up 16 -> a 'valid' conv16 trims 16 to 14 -> up 28 -> conv1
    (sigmoid) -> 28x28x1. The one conv without padding is what makes 4*2*2*2 = 32 land
    on 28.
    """
    conv = lambda filters, **kw: layers.Conv2D(filters, 3, activation="relu", **kw)  # noqa: E731
    x = keras.Input(shape=IMAGE_SHAPE, name="image")
    h = conv(16, padding="same")(x)
    h = layers.MaxPooling2D(2, padding="same")(h)          # 14x14x16
    h = conv(8, padding="same")(h)
    h = layers.MaxPooling2D(2, padding="same")(h)          # 7x7x8
    h = conv(8, padding="same")(h)
    code = layers.MaxPooling2D(2, padding="same", name="code")(h)  # 4x4x8 = 128-d
    encoder = keras.Model(x, code, name="encoder")

    z = keras.Input(shape=(4, 4, 8), name="code")
    h = conv(8, padding="same")(z)
    h = layers.UpSampling2D(2)(h)                          # 8x8x8
    h = conv(8, padding="same")(h)
    h = layers.UpSampling2D(2)(h)                          # 16x16x8
    h = conv(16)(h)                                        # 'valid': 14x14x16
    h = layers.UpSampling2D(2)(h)                          # 28x28x16
    x_hat = layers.Conv2D(1, 3, activation="sigmoid", padding="same", name="reconstruction")(h)
    decoder = keras.Model(z, x_hat, name="decoder")
    return _join(encoder, decoder, "conv_autoencoder")


def denoising_autoencoder():
    """Slide "Denoising Autoencoders": the convolutional autoencoder, trained to map a
    noisy image (``course_lib.data.add_noise``) to its clean original. The noise is a
    regulariser: the code can no longer just copy pixels, it must capture what digits
    look like."""
    model = conv_autoencoder()
    return keras.Model(model.inputs, model.outputs, name="denoising_autoencoder")


def code_size(model):
    """Number of floats in the code (the encoder's output) of one image."""
    return int(np.prod(model.get_layer("encoder").output.shape[1:]))


def reconstruction_losses(model, x_input, x_target=None, batch_size=512):
    """Mean per-pixel binary cross-entropy and MSE of ``model(x_input)`` against ``x_target``
    (default: ``x_input``), without any regularization term. Returns a dict.

    BCE on grey-level targets is not 0 for a perfect reconstruction; compare with
    ``bce_floor(x_target)``.
    """
    positive_int(batch_size, "batch_size")
    x_target = x_input if x_target is None else x_target
    x_input, x_target = np.asarray(x_input), np.asarray(x_target, dtype="float32")
    if x_input.shape[0] != x_target.shape[0]:
        raise ValueError(f"x_input holds {x_input.shape[0]} images but x_target {x_target.shape[0]}.")
    expected = tuple(model.input_shape[1:])
    if tuple(x_input.shape[1:]) != expected:
        raise ValueError(f"{model.name} expects images of shape {expected}, got {x_input.shape[1:]}.")
    x_hat = np.asarray(model.predict(x_input, batch_size=batch_size, verbose=0)).reshape(x_target.shape)
    eps = 1e-7
    p = np.clip(x_hat, eps, 1 - eps)
    bce = -(x_target * np.log(p) + (1 - x_target) * np.log(1 - p)).mean()
    mse = ((x_target - x_hat) ** 2).mean()
    return {"bce": float(bce), "mse": float(mse)}


def bce_floor(x):
    """The lowest mean binary cross-entropy any model can reach on targets ``x`` in [0, 1]:
    the mean binary entropy of the pixels (reached when the output equals the target)."""
    x = np.clip(np.asarray(x, dtype="float64"), 0.0, 1.0)
    with np.errstate(divide="ignore", invalid="ignore"):
        h = -(np.where(x > 0, x * np.log(x), 0.0) + np.where(x < 1, (1 - x) * np.log(1 - x), 0.0))
    return float(h.mean())


def code_sparsity(model, x, threshold=1e-3, batch_size=512):
    """Mean code activation and fraction of code units below ``threshold`` (inactive),
    over the images ``x``: the number that the L1 activity regularizer drives."""
    positive_int(batch_size, "batch_size")
    codes = np.asarray(model.get_layer("encoder").predict(x, batch_size=batch_size, verbose=0))
    codes = codes.reshape(len(codes), -1)
    return {"mean_activation": float(codes.mean()), "inactive_fraction": float((codes < threshold).mean())}


def summary_row(name, model, timer, x_clean, x_noisy, trained_on_noisy=False, x_val=None, x_val_noisy=None):
    """One row of the lecture's comparison table: size, training and losses of ``model``.

    Introduced in 03_autoencoders. ``x_clean`` are test images in the model's layout and
    ``x_noisy`` the same images corrupted. "test BCE/MSE" feed the model what it was trained
    on (noisy images for a denoiser) and compare with the clean images; "BCE from noisy"
    feeds every model the noisy images. With ``x_val`` (held-out *training* images, clean;
    ``x_val_noisy`` their corrupted copies, needed for a denoiser) the row gains "val BCE",
    the loss to compare settings by; the test columns are the final figures.
    """
    if np.shape(x_clean) != np.shape(x_noisy):
        raise ValueError(f"x_clean {np.shape(x_clean)} and x_noisy {np.shape(x_noisy)} differ in shape.")
    row = {"model": name, "code floats": code_size(model), "params": model.count_params(),
           "images seen": timer.n_examples * timer.epochs, "train img/s": round(timer.images_per_s)}
    if x_val is not None:
        if trained_on_noisy and x_val_noisy is None:
            raise ValueError("a model trained on noisy images is validated on noisy inputs: pass x_val_noisy.")
        if x_val_noisy is not None and np.shape(x_val_noisy) != np.shape(x_val):
            raise ValueError(f"x_val {np.shape(x_val)} and x_val_noisy {np.shape(x_val_noisy)} differ in shape.")
        row["val BCE"] = reconstruction_losses(model, x_val_noisy if trained_on_noisy else x_val, x_val)["bce"]
    test = reconstruction_losses(model, x_noisy if trained_on_noisy else x_clean, x_clean)
    from_noisy = test if trained_on_noisy else reconstruction_losses(model, x_noisy, x_clean)  # no second pass
    row.update({"test BCE": test["bce"], "test MSE": test["mse"], "BCE from noisy": from_noisy["bce"]})
    return row
