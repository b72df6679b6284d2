"""PixelRNN, the recurrent autoregressive model the slides open with (van den Oord et al. 2016),
in its simplest form: one LSTM over the pixels in raster order, one Bernoulli per pixel.

    p(x) = prod_i p(x_i | x_1, ..., x_{i-1}),     h_i = LSTM(h_{i-1}, x_{i-1}),   p(x_i = 1) = sigmoid(w . h_i)

Teacher forcing: training feeds the true previous pixel (the image shifted right by one, a 0
in front), so every conditional of every image is scored in one pass, exactly like PixelCNN's
masks. The difference is the cost: an LSTM walks the H*W pixels one after the other, in
training too, where a masked convolution computes all positions at once. Sampling is
sequential for both.
"""

import math

import keras
import numpy as np
from keras import layers, ops

from course_lib.checks import CheckedFit, positive_int


@keras.saving.register_keras_serializable(package="course_lib")
class PixelRNN(CheckedFit, keras.Model):
    """An LSTM of ``units`` over the ``image_shape`` pixels of binary images (0/1), read in
    raster order. ``fit(x)`` minimises -log p(x) in nats per image, logged as ``loss``."""

    def __init__(self, image_shape=(14, 14), units=64, **kwargs):
        super().__init__(**kwargs)
        self.image_shape = tuple(int(d) for d in image_shape)
        if len(self.image_shape) != 2 or min(self.image_shape) < 1:
            raise ValueError(f"image_shape must be (H, W), got {image_shape!r}.")
        positive_int(units, "units")
        self.units, self.dim = int(units), math.prod(self.image_shape)
        self.cell = layers.LSTMCell(self.units, name="lstm_cell")
        self.rnn = layers.RNN(self.cell, return_sequences=True, name="lstm")
        self.out = layers.Dense(1, name="logit")
        self.nll_tracker = keras.metrics.Mean(name="loss")

    # -- input checks ------------------------------------------------------------------
    def _check_shape(self, shape):
        h, w = self.image_shape
        got = tuple(shape)
        layouts = ((h, w), (h * w,))
        if not any(len(got) == 1 + len(lay) and all(g in (e, None) for g, e in zip(got[1:], lay)) for lay in layouts):
            raise ValueError(f"expected binary images of shape (n, {h}, {w}) or (n, {h * w}), got {got}.")

    def _check_inputs(self, x):
        self._check_shape(x.shape)
        if isinstance(x, np.ndarray) and x.size and not np.isin(x, (0, 1)).all():
            raise ValueError("a PixelRNN expects pixels that are 0 or 1 (binarize first); got values in "
                             f"[{float(x.min()):.4g}, {float(x.max()):.4g}].")

    # -- forward pass --------------------------------------------------------------------
    def call(self, x, training=False):
        """Logits (n, H*W): entry i is the model's logit of p(x_i = 1 | x_<i)."""
        self._check_shape(x.shape)
        x = ops.reshape(ops.cast(x, "float32"), (-1, self.dim))
        previous = ops.concatenate([ops.zeros_like(x[:, :1]), x[:, :-1]], axis=1)   # teacher forcing
        return self.out(self.rnn(previous[..., None], training=training))[..., 0]

    def compute_loss(self, x=None, y=None, y_pred=None, sample_weight=None, training=True):
        x = ops.reshape(ops.cast(x, "float32"), (-1, self.dim))
        loss = ops.mean(ops.sum(ops.binary_crossentropy(x, y_pred, from_logits=True), axis=1))
        self.nll_tracker.update_state(loss)
        return loss

    @property
    def metrics(self):
        return [self.nll_tracker]

    def compute_metrics(self, x, y, y_pred, sample_weight=None):
        return {"loss": self.nll_tracker.result()}

    def get_config(self):
        return {**super().get_config(), "image_shape": list(self.image_shape), "units": self.units}


def log_prob(model, x, batch_size=500):
    """Exact log p(x) in nats per image, (n,), NumPy."""
    positive_int(batch_size, "batch_size")
    x = np.asarray(x)
    model._check_inputs(x)
    if not len(x):
        return np.zeros(0)                                      # no images: no log-likelihoods
    x = x.reshape(len(x), -1).astype("float32")
    out = []
    for s in range(0, len(x), batch_size):
        logits = model(x[s:s + batch_size], training=False)
        out.append(-ops.convert_to_numpy(ops.sum(ops.binary_crossentropy(x[s:s + batch_size], logits,
                                                                          from_logits=True), axis=1)))
    return np.concatenate(out)


def sample(model, n, seed=0, progress=False):
    """``n`` images (n, H, W) of 0/1, one pixel at a time: the LSTM's state carries the past,
    so each step costs one cell update (H*W steps in all)."""
    from course_lib.progress import progress_bar

    positive_int(n, "n")
    if not model.built:
        model(np.zeros((1, model.dim), "float32"))
    u = np.random.default_rng(seed).uniform(size=(n, model.dim)).astype("float32")
    state = [ops.zeros((n, model.units)), ops.zeros((n, model.units))]
    pixel = ops.zeros((n, 1))
    out = np.empty((n, model.dim), "float32")
    steps = range(model.dim)
    for i in (progress_bar(steps, desc="PixelRNN pixels", unit="px") if progress else steps):
        h, state = model.cell(pixel, state)
        p_one = ops.convert_to_numpy(ops.sigmoid(model.out(h)))[:, 0]
        out[:, i] = (u[:, i] < p_one).astype("float32")
        pixel = ops.convert_to_tensor(out[:, i:i + 1])
    return out.reshape((n,) + model.image_shape)
