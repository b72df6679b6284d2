"""Autoregressive image models: masked convolutions and the PixelCNN. Introduced in 06a_pixelcnn
(the conditional model in 06b_pixelcnn_conditional, out-of-distribution scores in 06d_likelihood_ood,
the gated PixelCNN without a blind spot in 06e_gated_pixelcnn).

    p(x) = prod_i p(x_i | x_<i)            pixels in raster order (row by row, left to right)

A convolution sees "future" pixels; a *masked* convolution zeroes the kernel taps at and
after the centre so that output i depends on inputs < i only:

    mask "A" (first layer)    the centre is masked: output i never sees input i
    mask "B" (later layers)   the centre is kept: feature i may use feature i, which
                              itself only saw pixels < i

For RGB the channels of a pixel are ordered too, R then G then B:
p(x_i,R | x_<i) p(x_i,G | x_<i, x_i,R) p(x_i,B | x_<i, x_i,R, x_i,G); at the centre tap a
feature of colour group g sees input groups < g (mask A) or <= g (mask B).

``PixelCNN`` predicts, for every pixel at once, a distribution over that pixel's value:
a 256-way softmax (``kind="categorical"``, 8-bit images) or one Bernoulli
(``kind="binary"``, binarized images). One forward pass gives log p(x) exactly (fast
inference); sampling needs one sequential step per pixel, 784 for MNIST (slow sampling).
``sample`` offers three ways to take them: ``"naive"`` (the whole model per pixel via
``predict``), ``"compiled"`` (the whole model per pixel, but in one compiled call) and
``"fast"`` (Ramachandran et al. 2017: cache every layer's activations and compute only the
one new position per step).
"""

import math
import time

import keras
import numpy as np
from keras import layers, ops

from course_lib.checks import CheckedFit, check_int, check_labels, positive_int

MASK_TYPES = ("A", "B")
KINDS = ("categorical", "binary")
SAMPLERS = ("fast", "compiled", "naive")
IMAGE_SHAPE = (28, 28)          # MNIST; the default of PixelCNN(image_shape=...)


# ---------------------------------------------------------------------------------------
# Masks and the masked convolution
# ---------------------------------------------------------------------------------------

def _check_kernel_and_type(kernel_size, mask_type):
    if isinstance(kernel_size, bool) or not isinstance(kernel_size, (int, np.integer)) \
            or kernel_size < 1 or kernel_size % 2 == 0:
        raise ValueError(f"kernel_size must be a positive odd integer (the centre tap is the "
                         f"current pixel), got {kernel_size!r}.")
    if mask_type not in MASK_TYPES:
        raise ValueError(f"mask_type must be 'A' (first layer) or 'B' (later layers), got {mask_type!r}.")


def _colour_groups(channels, color_channels, what):
    """Colour group (0=R, 1=G, 2=B) of each channel: contiguous blocks of channels/colours."""
    if channels % color_channels:
        raise ValueError(f"{what} channels ({channels}) must be a multiple of color_channels "
                         f"({color_channels}), one block per colour.")
    return np.arange(channels) * color_channels // channels


def causal_mask(kernel_size, mask_type="B", in_channels=1, out_channels=1, color_channels=1):
    """The (k, k, in, out) 0/1 mask of a masked convolution.

    ``causal_mask(5, "A")[:, :, 0, 0]`` is the slide's 5x5 mask: ones above the centre row
    and left of the centre, zeros at the centre and after it.
    """
    _check_kernel_and_type(kernel_size, mask_type)
    if color_channels not in (1, 3):
        raise ValueError(f"color_channels must be 1 (grey) or 3 (RGB), got {color_channels!r}.")
    g_in = _colour_groups(in_channels, color_channels, "input")
    g_out = _colour_groups(out_channels, color_channels, "output")
    k, c = kernel_size, kernel_size // 2
    mask = np.ones((k, k, in_channels, out_channels), dtype="float32")
    mask[c, c + 1:] = 0.0          # right of the centre, same row: future pixels
    mask[c + 1:] = 0.0             # rows below: future pixels
    # the centre: the current pixel's colours, in the order R, G, B
    allowed = g_in[:, None] < g_out[None, :] if mask_type == "A" else g_in[:, None] <= g_out[None, :]
    mask[c, c] = allowed.astype("float32")
    return mask


@keras.saving.register_keras_serializable(package="course_lib")
class MaskedConv2D(layers.Layer):
    """A stride-1, "same"-padded 2-D convolution whose kernel is multiplied by ``causal_mask``.

    ``color_channels=3`` orders the channels R, G, B (input and output channels are split
    into three equal blocks).
    """

    def __init__(self, filters, kernel_size, mask_type="B", color_channels=1, activation=None,
                 use_bias=True, kernel_initializer="glorot_uniform", **kwargs):
        super().__init__(**kwargs)
        _check_kernel_and_type(kernel_size, mask_type)
        positive_int(filters, "filters")
        if color_channels not in (1, 3):
            raise ValueError(f"color_channels must be 1 or 3, got {color_channels!r}.")
        self.filters, self.kernel_size, self.mask_type = int(filters), int(kernel_size), mask_type
        self.color_channels, self.use_bias = color_channels, use_bias
        self.activation = keras.activations.get(activation)
        self.kernel_initializer = keras.initializers.get(kernel_initializer)

    def build(self, input_shape):
        in_channels = int(input_shape[-1])
        self.mask = causal_mask(self.kernel_size, self.mask_type, in_channels, self.filters,
                                self.color_channels)
        k = self.kernel_size
        self.kernel = self.add_weight(shape=(k, k, in_channels, self.filters),
                                      initializer=self.kernel_initializer, name="kernel")
        self.bias = self.add_weight(shape=(self.filters,), initializer="zeros", name="bias") \
            if self.use_bias else None

    def masked_kernel(self):
        return self.kernel * ops.convert_to_tensor(self.mask, dtype=self.kernel.dtype)

    def call(self, x):
        y = ops.conv(x, self.masked_kernel(), strides=1, padding="same")
        if self.bias is not None:
            y = y + self.bias
        return self.activation(y)

    def get_config(self):
        return {**super().get_config(), "filters": self.filters, "kernel_size": self.kernel_size,
                "mask_type": self.mask_type, "color_channels": self.color_channels,
                "activation": keras.activations.serialize(self.activation),
                "use_bias": self.use_bias,
                "kernel_initializer": keras.initializers.serialize(self.kernel_initializer)}


# ---------------------------------------------------------------------------------------
# The PixelCNN
# ---------------------------------------------------------------------------------------

def _check_positive_int(**values):
    """The values as Python ints, or ValueError (Keras layers refuse NumPy integers)."""
    return [positive_int(value, key) for key, value in values.items()]


@keras.saving.register_keras_serializable(package="course_lib")
class PixelCNN(CheckedFit, keras.Model):
    """A PixelCNN for grey images of ``image_shape`` (28 x 28 by default).

        x -> MaskedConv2D(A, first_kernel) -> ReLU
          -> hidden_layers x [h + ReLU(MaskedConv2D(B, hidden_kernel)(h))]   (residual)
          -> 1x1 conv ReLU -> 1x1 conv to logits: 256 per pixel (categorical) or 1 (binary)

    With ``num_classes`` it is the conditional PixelCNN, p(x_i | x_<i, c): the one-hot label
    enters every masked layer as a learned per-channel bias V c (van den Oord et al. 2016).

    ``model(x)`` (or ``model((x, c))``) takes pixel values of shape (n, 28, 28) — integers
    0..255 for ``categorical``, 0/1 for ``binary`` — and returns logits (n, 28, 28, 256) or
    (n, 28, 28) (for 28 x 28 images). Train with ``model.fit(x)``: the images are their own
    targets. The loss is the negative log-likelihood in nats per image. ``fit`` and
    ``evaluate`` check the data first (shape, pixel values, one-hot labels): arrays in full,
    a tf.data pipeline batch by batch (``checks.run_checked``).
    """

    def __init__(self, kind="categorical", filters=64, hidden_layers=5, first_kernel=7,
                 hidden_kernel=3, head_units=128, levels=256, num_classes=None,
                 image_shape=IMAGE_SHAPE, **kwargs):
        super().__init__(**kwargs)
        if kind not in KINDS:
            raise ValueError(f"kind must be one of {KINDS}, got {kind!r}.")
        filters, hidden_layers, head_units = _check_positive_int(filters=filters, hidden_layers=hidden_layers,
                                                                 head_units=head_units)
        _check_kernel_and_type(first_kernel, "A")
        _check_kernel_and_type(hidden_kernel, "B")
        if first_kernel < 3:
            raise ValueError(f"first_kernel (mask A) must be at least 3, got {first_kernel}: a 1x1 mask A "
                             "on a grey image is all zeros, and the model would never see its input.")
        if not isinstance(image_shape, (list, tuple)) or len(image_shape) != 2:
            raise ValueError(f"image_shape must be (height, width), got {image_shape!r}.")
        _check_positive_int(height=image_shape[0], width=image_shape[1])
        self.image_shape = tuple(int(d) for d in image_shape)
        if kind == "categorical":
            check_int(levels, "levels", minimum=2)
        if num_classes is not None:
            (num_classes,) = _check_positive_int(num_classes=num_classes)
        self.kind, self.filters, self.hidden_layers = kind, filters, hidden_layers
        self.first_kernel, self.hidden_kernel, self.head_units = first_kernel, hidden_kernel, head_units
        self.levels = int(levels) if kind == "categorical" else 2
        self.num_classes = num_classes
        self.masked = [MaskedConv2D(filters, first_kernel, "A", name="masked_A")] + [
            MaskedConv2D(filters, hidden_kernel, "B", name=f"masked_B{i + 1}")
            for i in range(hidden_layers)]
        self.label_bias = [layers.Dense(filters, use_bias=False, name=f"label_bias{i}")
                           for i in range(len(self.masked))] if num_classes else []
        self.head = layers.Dense(head_units, activation="relu", name="head")      # a 1x1 conv
        self.out = layers.Dense(self.levels if kind == "categorical" else 1, name="logits")
        self.nll_tracker = keras.metrics.Mean(name="loss")
        self.bpd_tracker = keras.metrics.Mean(name="bits_per_dim")

    # -- inputs ----------------------------------------------------------------------
    def _split(self, inputs):
        if self.num_classes is None:
            if isinstance(inputs, (list, tuple)):
                raise ValueError("this PixelCNN is not conditional: pass images only, not (images, labels).")
            return inputs, None
        if not isinstance(inputs, (list, tuple)) or len(inputs) != 2:
            raise ValueError("a conditional PixelCNN takes (images, one_hot_labels).")
        return inputs[0], inputs[1]

    def _check_shape(self, shape):
        """ValueError unless ``shape`` is a batch of grey images: (n, H, W), (n, H, W, 1) or
        (n, H*W). A size unknown while tracing (None) matches anything."""
        h, w = self.image_shape
        got = tuple(shape)
        layouts = ((h, w), (h, w, 1), (h * w,))
        if not any(len(got) == 1 + len(lay) and all(g in (e, None) for g, e in zip(got[1:], lay))
                   for lay in layouts):
            hint = f" ({got[-1]} channels: this PixelCNN models one grey channel)" \
                if len(got) == 4 and got[1:3] == (h, w) else ""
            raise ValueError(f"expected images of shape (n, {h}, {w}), (n, {h}, {w}, 1) or (n, {h * w}), "
                             f"got {got}{hint}.")

    def _check_pixels(self, x):
        """ValueError unless the NumPy pixel values ``x`` suit the model: 0/1 (binary) or
        integer levels 0..levels-1 (categorical)."""
        if not (np.issubdtype(x.dtype, np.number) or x.dtype == bool):
            raise ValueError(f"expected numeric pixel values, got dtype {x.dtype}.")
        if not x.size:
            return
        lo, hi = float(x.min()), float(x.max())
        got = f"got values in [{lo:.4g}, {hi:.4g}]"
        if self.kind == "binary":
            if not np.isin(x, (0, 1)).all():
                raise ValueError("a binary PixelCNN expects pixels that are 0 or 1 (binarize first, "
                                 f"e.g. course_lib.data.binarize_dynamic); {got}.")
            return
        top = self.levels - 1
        integral = not np.issubdtype(x.dtype, np.floating) or np.all(np.floor(x) == x)   # NaN fails
        if not (lo >= 0 and hi <= top and integral):
            hint = " (these look like [0, 1] intensities: pass the uint8 images)" \
                if not integral and hi <= 1 else ""
            raise ValueError(f"a categorical PixelCNN expects integer levels 0..{top}{hint}; {got}.")

    def _check_inputs(self, x):
        """What ``fit`` and ``evaluate`` check (``checks.run_checked``): NumPy arrays in full,
        tensor specs (a pipeline's ``element_spec``) by shape."""
        images, labels = self._split(x)
        self._check_shape(images.shape)
        if isinstance(images, np.ndarray):
            self._check_pixels(images)
        if labels is not None:
            check_labels(labels, self.num_classes, len_like=images)

    def _as_grid(self, x):
        """(n, H*W) or (n, H, W[, 1]) pixel values -> float32 (n, H, W)."""
        self._check_shape(x.shape)           # static: at trace time in a compiled call
        x = ops.cast(x, "float32")
        return ops.reshape(x, (-1,) + self.image_shape)

    def scale_input(self, x):
        """What the first layer sees: pixel levels mapped to [0, 1]."""
        return x / (self.levels - 1) if self.kind == "categorical" else x

    # -- forward pass ------------------------------------------------------------------
    def call(self, inputs, training=False):
        x, c = self._split(inputs)
        h = self.scale_input(self._as_grid(x))[..., None]
        for i, conv in enumerate(self.masked):
            u = conv(h)
            if c is not None:
                u = u + self.label_bias[i](ops.cast(c, "float32"))[:, None, None, :]
            u = ops.relu(u)
            h = u if i == 0 else h + u          # residual connections after the first layer
        logits = self.out(self.head(h))
        return logits if self.kind == "categorical" else logits[..., 0]

    def pixel_nll(self, x, logits):
        """-log p(x_i | x_<i) per pixel, (n, H, W), in nats."""
        x = self._as_grid(x)
        if self.kind == "categorical":
            return keras.losses.sparse_categorical_crossentropy(
                ops.cast(x, "int32"), logits, from_logits=True)
        return ops.binary_crossentropy(x, logits, from_logits=True)

    def compute_loss(self, x=None, y=None, y_pred=None, sample_weight=None, training=True):
        images, _ = self._split(x)
        nll = ops.sum(self.pixel_nll(images, y_pred), axis=(1, 2))        # nats per image
        loss = ops.mean(nll)
        self.nll_tracker.update_state(loss)
        self.bpd_tracker.update_state(loss / (math.prod(self.image_shape) * math.log(2)))
        return loss

    @property
    def metrics(self):
        return [self.nll_tracker, self.bpd_tracker]

    def compute_metrics(self, x, y, y_pred, sample_weight=None):
        return {m.name: m.result() for m in self.metrics}

    def summary_rows(self):
        """One row per layer in the order of the forward pass (for ``plotting.describe_model``)."""
        hw = ", ".join(map(str, self.image_shape))
        grid = f"(None, {hw}, {self.filters})"
        rows = []
        for i, conv in enumerate(self.masked):
            k = conv.kernel_size
            rows.append({"layer": f"MaskedConv2D {conv.mask_type} {k}x{k}" + (" + residual" if i else ""),
                         "output shape": grid, "params": conv.count_params()})
            if self.label_bias:
                rows.append({"layer": "  + label bias V c", "output shape": grid,
                             "params": self.label_bias[i].count_params()})
        return rows + self._head_rows()

    def _head_rows(self):
        """The summary rows of the 1x1 head, shared by the plain and the gated network."""
        hw = ", ".join(map(str, self.image_shape))
        out = f"(None, {hw}, {self.levels})" if self.kind == "categorical" else f"(None, {hw})"
        return [{"layer": "Dense (1x1 conv)", "output shape": f"(None, {hw}, {self.head_units})",
                 "params": self.head.count_params()},
                {"layer": "Dense logits (1x1 conv)", "output shape": out, "params": self.out.count_params()}]

    def get_config(self):
        return {**super().get_config(), "kind": self.kind, "filters": self.filters,
                "hidden_layers": self.hidden_layers, "first_kernel": self.first_kernel,
                "hidden_kernel": self.hidden_kernel, "head_units": self.head_units,
                "levels": self.levels, "num_classes": self.num_classes,
                "image_shape": list(self.image_shape)}


def build_pixelcnn(kind="categorical", num_classes=None, **sizes):
    """A built ``PixelCNN`` (weights created): 8-bit (``categorical``) or ``binary``,
    conditional when ``num_classes`` is given. ``sizes``: the other ``PixelCNN`` arguments
    (``filters``, ``hidden_layers``, ..., ``image_shape=(28, 28)``)."""
    model = PixelCNN(kind=kind, num_classes=num_classes,
                     name=("conditional_" if num_classes else "") + f"pixelcnn_{kind}", **sizes)
    dummy = np.zeros((1,) + model.image_shape, "float32")
    model(dummy if num_classes is None else (dummy, np.eye(num_classes, dtype="float32")[:1]))
    return model


def receptive_field_rows(model):
    """How many rows above a pixel its prediction can see: (k_A // 2) + L * (k_B // 2) for the
    plain PixelCNN, (k_A // 2 + 1) + (L - 1) * (k // 2) for the gated one (its first vertical
    convolution is shifted down a row)."""
    if isinstance(model, GatedPixelCNN):
        return model.first_kernel // 2 + 1 + (model.gated_layers - 1) * (model.kernel // 2)
    return model.first_kernel // 2 + model.hidden_layers * (model.hidden_kernel // 2)


# ---------------------------------------------------------------------------------------
# The gated PixelCNN: two stacks, no blind spot
# ---------------------------------------------------------------------------------------
#
# A stack of masked 3x3 (or 5x5) convolutions has a blind spot: the mask drops the pixels
# right of the centre in the current row, so each layer reaches at most p columns further
# right per row it moves up, and a wedge of past pixels up and to the right is never seen. The gated PixelCNN (van den Oord
# et al. 2016, "Conditional Image Generation with PixelCNN Decoders", Fig. 1-2) splits each
# layer in two:
#
#   vertical stack    v(i, j) sees a rectangle of the rows above i, p columns wider per layer
#   horizontal stack  h(i, j) sees row i left of j, p columns further per layer, plus the vertical stack at (i, j)
#
# and replaces the ReLU by a gate (eq. 2-4):   y = tanh(W_f * x + V_f c) ⊙ σ(W_g * x + V_g c)

@keras.saving.register_keras_serializable(package="course_lib")
class GatedBlock(layers.Layer):
    """One layer of the gated PixelCNN: a vertical and a horizontal stack, each gated.

    With p = kernel_size // 2:

        v_pre = conv_{(p+1) x k}(v)       rows i-p..i of v, columns j-p..j+p
        h_pre = conv_{1 x (p+1)}(h) + 1x1(v_pre)      row i of h, columns j-p..j
        v_out = tanh(v_pre_f + V_f c) ⊙ σ(v_pre_g + V_g c)
        h_out = h + 1x1( tanh(h_pre_f + V_f' c) ⊙ σ(h_pre_g + V_g' c) )    (residual)

    ``first=True`` is the first layer (mask "A"): both convolutions are shifted by one, the
    vertical one down (v sees rows < i only) and the horizontal one right (h sees columns < j
    only), and h_out has no residual (its input is the image). In every layer the vertical
    features at row i depend only on rows above i, so adding them to h leaks no future pixel.
    ``last=True``: the last layer, whose v_out nothing reads, does not compute it.
    """

    def __init__(self, filters, kernel_size=3, first=False, num_classes=None, last=False, **kwargs):
        super().__init__(**kwargs)
        (self.filters,) = _check_positive_int(filters=filters)
        _check_kernel_and_type(kernel_size, "B")
        if kernel_size < 3:
            raise ValueError(f"kernel_size must be at least 3 (a 1-wide vertical kernel never looks "
                             f"sideways), got {kernel_size}.")
        self.kernel_size, self.first, self.last = int(kernel_size), bool(first), bool(last)
        self.num_classes = None if num_classes is None else _check_positive_int(num_classes=num_classes)[0]
        p, f2 = self.kernel_size // 2, 2 * self.filters
        self.v_conv = layers.Conv2D(f2, (p + 1, self.kernel_size), padding="valid", name="v_conv")
        self.h_conv = layers.Conv2D(f2, (1, p + 1), padding="valid", name="h_conv")
        self.v_to_h = layers.Conv2D(f2, 1, name="v_to_h")
        self.h_out = layers.Conv2D(self.filters, 1, name="h_out")
        if self.num_classes:                # V c: a per-channel bias from the one-hot label
            self.h_label = layers.Dense(f2, use_bias=False, name="h_label")
            if not self.last:               # the last layer's vertical output feeds nothing
                self.v_label = layers.Dense(f2, use_bias=False, name="v_label")

    @staticmethod
    def gate(pre):
        f, g = ops.split(pre, 2, axis=-1)
        return ops.tanh(f) * ops.sigmoid(g)

    def vertical(self, v):
        """v_pre, the vertical convolution: at row i it sees rows above i only."""
        p, shift = self.kernel_size // 2, int(self.first)
        x = ops.pad(v, ((0, 0), (p + shift, 0), (p, p), (0, 0)))   # rows above, both sides
        v_pre = self.v_conv(x)
        return v_pre[:, :-1] if shift else v_pre                    # first layer: shift down a row

    def vertical_out(self, v_pre, c=None):
        """The vertical stack's output, the next layer's v: the gate of v_pre (+ V c)."""
        return self.gate(v_pre if c is None else v_pre + self.v_label(c)[:, None, None, :])

    def horizontal(self, h, v_pre, c=None):
        """h_out from h (row i, columns up to j) and the vertical features of the same row."""
        p, shift = self.kernel_size // 2, int(self.first)
        x = ops.pad(h, ((0, 0), (0, 0), (p + shift, 0), (0, 0)))   # columns to the left only
        h_pre = self.h_conv(x)
        if shift:
            h_pre = h_pre[:, :, :-1]                                # shift right by one column
        h_pre = h_pre + self.v_to_h(v_pre)
        if c is not None:
            h_pre = h_pre + self.h_label(c)[:, None, None, :]
        out = self.h_out(self.gate(h_pre))
        return out if self.first else h + out

    def call(self, v, h, c=None):
        """(v_out, h_out); v_out is None in the last layer."""
        v_pre = self.vertical(v)
        return (None if self.last else self.vertical_out(v_pre, c)), self.horizontal(h, v_pre, c)

    def get_config(self):
        return {**super().get_config(), "filters": self.filters, "kernel_size": self.kernel_size,
                "first": self.first, "num_classes": self.num_classes, "last": self.last}


@keras.saving.register_keras_serializable(package="course_lib")
class GatedPixelCNN(PixelCNN):
    """The gated PixelCNN (van den Oord et al. 2016): ``gated_layers`` ``GatedBlock``s, the
    first with kernel ``first_kernel`` (shifted, mask "A"), the others ``kernel``; then the
    plain PixelCNN's head: 1x1 conv ReLU -> 1x1 conv to logits. With ``num_classes`` the
    one-hot label enters every gate of both stacks (V c).

    Inputs, outputs, loss, checks, ``log_prob`` and ``sample`` are those of ``PixelCNN``.
    Every past pixel within ``receptive_field_rows`` rows above and first_kernel // 2 +
    (gated_layers - 1) * (kernel // 2) columns to either side is seen, and the current row back to
    first_kernel // 2 + 1 + (gated_layers - 1) * (kernel // 2) columns to the left: no blind spot.
    """

    def __init__(self, kind="binary", filters=64, gated_layers=8, first_kernel=7, kernel=3,
                 head_units=128, levels=256, num_classes=None, image_shape=IMAGE_SHAPE, **kwargs):
        super(PixelCNN, self).__init__(**kwargs)          # the layers below, not PixelCNN's
        if kind not in KINDS:
            raise ValueError(f"kind must be one of {KINDS}, got {kind!r}.")
        filters, gated_layers, head_units = _check_positive_int(filters=filters, gated_layers=gated_layers,
                                                                head_units=head_units)
        if not isinstance(image_shape, (list, tuple)) or len(image_shape) != 2:
            raise ValueError(f"image_shape must be (height, width), got {image_shape!r}.")
        _check_positive_int(height=image_shape[0], width=image_shape[1])
        self.image_shape = tuple(int(d) for d in image_shape)
        if kind == "categorical":
            check_int(levels, "levels", minimum=2)
        self.kind, self.filters, self.gated_layers = kind, filters, gated_layers
        self.first_kernel, self.kernel, self.head_units = first_kernel, kernel, head_units
        self.levels = int(levels) if kind == "categorical" else 2
        self.num_classes = None if num_classes is None else _check_positive_int(num_classes=num_classes)[0]
        self.blocks = [GatedBlock(filters, first_kernel if i == 0 else kernel, first=(i == 0),
                                  num_classes=self.num_classes, last=(i == gated_layers - 1), name=f"gated{i}")
                       for i in range(gated_layers)]
        self.head = layers.Dense(head_units, activation="relu", name="head")
        self.out = layers.Dense(self.levels if kind == "categorical" else 1, name="logits")
        self.nll_tracker = keras.metrics.Mean(name="loss")
        self.bpd_tracker = keras.metrics.Mean(name="bits_per_dim")

    @property
    def masked(self):          # the plain model's layer list; the gated model has none
        return []

    def logits_from(self, h):
        logits = self.out(self.head(h))
        return logits if self.kind == "categorical" else logits[..., 0]

    def call(self, inputs, training=False):
        x, c = self._split(inputs)
        x = self.scale_input(self._as_grid(x))[..., None]
        c = None if c is None else ops.cast(c, "float32")
        v = h = x
        for block in self.blocks:
            v, h = block(v, h, c)
        return self.logits_from(h)

    def summary_rows(self):
        hw = ", ".join(map(str, self.image_shape))
        rows = []
        for i, block in enumerate(self.blocks):
            k, p = block.kernel_size, block.kernel_size // 2
            what = "shifted (mask A)" if block.first else "+ residual"
            rows.append({"layer": f"Gated: vertical {p + 1}x{k}, horizontal 1x{p + 1}, {what}"
                                  + (", label V c" if self.num_classes else ""),
                         "output shape": f"2 x (None, {hw}, {self.filters})", "params": block.count_params()})
        return rows + self._head_rows()

    def get_config(self):
        config = keras.Model.get_config(self)
        return {**config, "kind": self.kind, "filters": self.filters, "gated_layers": self.gated_layers,
                "first_kernel": self.first_kernel, "kernel": self.kernel, "head_units": self.head_units,
                "levels": self.levels, "num_classes": self.num_classes, "image_shape": list(self.image_shape)}


def build_gated_pixelcnn(kind="binary", num_classes=None, **sizes):
    """A built ``GatedPixelCNN`` (weights created); ``sizes``: ``filters``, ``gated_layers``,
    ``first_kernel``, ``kernel``, ``head_units``, ``image_shape``."""
    model = GatedPixelCNN(kind=kind, num_classes=num_classes,
                          name=("conditional_" if num_classes else "") + f"gated_pixelcnn_{kind}", **sizes)
    dummy = np.zeros((1,) + model.image_shape, "float32")
    model(dummy if num_classes is None else (dummy, np.eye(num_classes, dtype="float32")[:1]))
    return model


# ---------------------------------------------------------------------------------------
# Input checks and likelihood
# ---------------------------------------------------------------------------------------

def check_images(model, x):
    """Pixel values as the model expects them, as float32 (n, H, W); ValueError otherwise.

    Accepts (n, H, W), (n, H, W, 1) or (n, H*W) — (n, 28, 28), ... for MNIST; categorical
    models need integer levels 0..levels-1 (uint8 MNIST as loaded), binary models need 0/1.
    """
    x = np.asarray(x)
    model._check_shape(x.shape)
    model._check_pixels(x)
    return x.reshape((-1,) + model.image_shape).astype("float32")


def _check_labels(model, labels, n):
    if model.num_classes is None:
        if labels is not None:
            raise ValueError("this PixelCNN is not conditional: do not pass labels.")
        return None
    if labels is None:
        raise ValueError(f"a conditional PixelCNN needs one-hot labels of width {model.num_classes}.")
    labels = np.asarray(labels, dtype="float32")
    check_labels(labels, model.num_classes, len_like=n)
    return labels


def pixel_log_probs(model, x, labels=None, batch_size=500):
    """log p(x_i | x_<i[, c]) of every pixel, (n, H, W) float64, from one forward pass per batch."""
    _check_positive_int(batch_size=batch_size)
    x = check_images(model, x)
    labels = _check_labels(model, labels, len(x))
    out = np.empty(x.shape, dtype="float64")
    for s in range(0, len(x), batch_size):
        xb = x[s:s + batch_size]
        inputs = xb if labels is None else (xb, labels[s:s + batch_size])
        logits = model(inputs, training=False)
        out[s:s + len(xb)] = -ops.convert_to_numpy(model.pixel_nll(xb, logits))
    return out


def log_prob(model, x, labels=None, batch_size=500):
    """Exact log p(x) in nats, one value per image: the chain rule, sum_i log p(x_i | x_<i)."""
    return pixel_log_probs(model, x, labels, batch_size).sum(axis=(1, 2))


def bits_per_dim(log_px, dims=math.prod(IMAGE_SHAPE)):
    """Negative log-likelihood in bits per pixel: -log p(x) / (dims * ln 2). ``dims``: pixels
    per image (a positive integer), 784 for MNIST (``math.prod(model.image_shape)`` in general)."""
    _check_positive_int(dims=dims)
    return -np.asarray(log_px, dtype="float64") / (dims * math.log(2))


# ---------------------------------------------------------------------------------------
# Sampling: one sequential step per pixel (784 for MNIST), three ways
# ---------------------------------------------------------------------------------------

def draw_pixel(logits, u, kind):
    """The pixel value whose CDF interval contains the uniform draw ``u`` (inverse-CDF sampling).

    The same draw ``u`` gives the same pixel in every sampler, so samplers can be compared
    image for image. ``logits``: (b, levels) (categorical) or (b,) (binary); ``u``: (b,).
    """
    if kind == "binary":
        return ops.cast(u < ops.sigmoid(logits), "float32")
    cdf = ops.cumsum(ops.softmax(logits, axis=-1), axis=-1)
    level = ops.sum(ops.cast(cdf < u[:, None], "int32"), axis=-1)
    # float32 rounding can leave cdf[-1] a hair below 1: never step past the top level
    return ops.cast(ops.minimum(level, ops.shape(logits)[-1] - 1), "float32")


def _sampler_inputs(model, n, labels, seed):
    _check_positive_int(n=n)
    labels = _check_labels(model, labels, n)
    u = np.random.default_rng(seed).random((n,) + model.image_shape, dtype="float32")
    return labels, u


class _FastSampler:
    """Cached generation for ``PixelCNN`` (after Ramachandran et al. 2017).

    Rows above the current one are final, so each layer's contribution from them to the
    whole current row is one small convolution per row ("top"). Inside the row, a step
    adds only the centre-row taps at the one new position and draws the pixel: per step,
    every layer computes one position instead of a whole H x W convolution. One row of
    W steps is one compiled call; each layer keeps only its last few rows of activations.
    """

    def __init__(self, model):
        import tensorflow as tf

        self.model = model
        self.pads = [conv.kernel_size // 2 for conv in model.masked]
        self.channels = [1] + [model.filters] * (len(model.masked) - 1)
        self._row = tf.function(self._row_steps, jit_compile=True, reduce_retracing=True)

    def _row_steps(self, windows, u_row, labels):
        """windows[i]: (n, p_i, W + 2 p_i, C_i), layer i's input in the p_i rows above
        (None when p_i = 0)."""
        m, width = self.model, self.model.image_shape[1]
        n = ops.shape(u_row)[0]
        tops, centre = [], []
        for i, (conv, p) in enumerate(zip(m.masked, self.pads)):
            kern = conv.masked_kernel()
            # the rows above through the kernel's top p rows; a 1x1 kernel (p = 0) sees none
            above = ops.conv(windows[i], kern[:p], strides=1, padding="valid")[:, 0] if p \
                else ops.zeros((n, width, m.filters))
            top = above + conv.bias                                                          # (n, W, F)
            if m.label_bias:
                top = top + m.label_bias[i](labels)[:, None, :]
            tops.append(top)
            centre.append(kern[p, : p + 1])            # centre row, up to the centre: (p+1, C, F)
        rows = tuple(ops.zeros((n, width + 2 * p, ch)) for p, ch in zip(self.pads, self.channels))

        def step(c, state):
            rows, pixels = state
            rows = list(rows)
            h = None
            for i, p in enumerate(self.pads):
                patch = ops.slice(rows[i], (0, c, 0), (n, p + 1, self.channels[i]))   # cols c-p..c
                top_c = ops.slice(tops[i], (0, c, 0), (n, 1, m.filters))[:, 0]
                u = ops.relu(top_c + ops.einsum("bjc,jcf->bf", patch, centre[i]))
                h = u if i == 0 else h + u
                if i + 1 < len(self.pads):
                    q = self.pads[i + 1]
                    rows[i + 1] = ops.slice_update(rows[i + 1], (0, c + q, 0), h[:, None, :])
            logits = m.out(m.head(h))
            pixel = draw_pixel(logits if m.kind == "categorical" else logits[:, 0], u_row[:, c], m.kind)
            rows[0] = ops.slice_update(rows[0], (0, c + self.pads[0], 0), m.scale_input(pixel)[:, None, None])
            pixels = ops.slice_update(pixels, (0, c), pixel[:, None])
            return tuple(rows), pixels

        return ops.fori_loop(0, width, step, (rows, ops.zeros((n, width))))

    def _start(self, labels, u):
        n = len(u)
        history = [[ops.zeros((n, self.model.image_shape[1] + 2 * p, ch))] * p
                   for p, ch in zip(self.pads, self.channels)]
        lab = ops.zeros((n, 1)) if labels is None else ops.convert_to_tensor(labels)
        return history, lab

    def _windows(self, history):
        return tuple(ops.stack(h[-p:], axis=1) if p else None for h, p in zip(history, self.pads))

    def warm(self, labels, u):
        history, lab = self._start(labels, u)
        self._row(self._windows(history), ops.convert_to_tensor(u[:, 0]), lab)

    def sample_batch(self, labels, u, on_row=None):
        history, lab = self._start(labels, u)
        image = []
        for r in range(self.model.image_shape[0]):
            rows, pixels = self._row(self._windows(history), ops.convert_to_tensor(u[:, r]), lab)
            for h, row, p in zip(history, rows, self.pads):
                h.append(row)
                del h[:len(h) - p]             # keep the p rows the next row can see (none if p = 0)
            image.append(ops.convert_to_numpy(pixels))
            if on_row:
                on_row()
        return np.stack(image, axis=1)


class _GatedSampler:
    """Cached generation for ``GatedPixelCNN``: per pixel, each layer computes one position.

    Vertical stack: at row r a layer's vertical convolution reads only rows r-p..r of its input
    (the first layer: the image's rows r-p-1..r-1), so once per row each layer runs it on that
    window, keeping the last p rows of its input; its output at row r is the link to the
    horizontal stack and the next layer's input. Horizontal stack: at column c a layer reads
    columns c-p..c of its input row (the first: the image's c-p-1..c-1), kept in a row buffer
    that each step fills one column further. One row is one compiled call."""

    def __init__(self, model):
        import tensorflow as tf

        self.model = model
        self.pads = [block.kernel_size // 2 for block in model.blocks]
        self.channels = [1] + [model.filters] * (len(model.blocks) - 1)       # each layer's input channels
        self._vertical = tf.function(self._vertical_row, jit_compile=True, reduce_retracing=True)
        self._row = tf.function(self._row_steps, jit_compile=True, reduce_retracing=True)

    def _vertical_row(self, history, labels):
        """(links, new rows): each layer's vertical pre-activation at the current row, (n, 1, W, 2F),
        and the rows of the layers' inputs (after the first) that this row adds to ``history``.
        history[0]: the image's last p_0 + 1 rows (scaled); history[i]: layer i's input, its last p_i rows."""
        m = self.model
        c = labels if m.num_classes else None
        links, new_rows, window = [], [], history[0]
        for i, (block, p) in enumerate(zip(m.blocks, self.pads)):
            if i:
                window = ops.concatenate([history[i], new_rows[-1]], axis=1)      # rows r-p..r
            v_pre = block.v_conv(ops.pad(window, ((0, 0), (0, 0), (p, p), (0, 0))))
            links.append(v_pre)
            if not block.last:
                new_rows.append(block.vertical_out(v_pre, c))
        return tuple(links), tuple(new_rows)

    def _row_steps(self, history, u_row, labels):
        m, width = self.model, self.model.image_shape[1]
        c = labels if m.num_classes else None
        links, new_rows = self._vertical_row(history, labels)
        n = ops.shape(u_row)[0]
        shifts = [p + int(block.first) for block, p in zip(m.blocks, self.pads)]   # columns left of c read
        rows = tuple(ops.zeros((n, 1, width + s, ch)) for s, ch in zip(shifts, self.channels))

        def step(col, state):
            rows, pixels = state
            rows = list(rows)
            h = None
            for i, (block, p, s) in enumerate(zip(m.blocks, self.pads, shifts)):
                window = ops.slice(rows[i], (0, 0, col, 0), (n, 1, p + 1, self.channels[i]))
                h_pre = block.h_conv(window) + block.v_to_h(ops.slice(links[i], (0, 0, col, 0),
                                                                      (n, 1, 1, 2 * m.filters)))
                if c is not None:
                    h_pre = h_pre + block.h_label(c)[:, None, None, :]
                out = block.h_out(block.gate(h_pre))
                h = out if block.first else ops.slice(rows[i], (0, 0, col + s, 0), (n, 1, 1, m.filters)) + out
                if i + 1 < len(rows):
                    rows[i + 1] = ops.slice_update(rows[i + 1], (0, 0, col + shifts[i + 1], 0), h)
            pixel = draw_pixel(m.logits_from(h)[:, 0, 0], u_row[:, col], m.kind)
            rows[0] = ops.slice_update(rows[0], (0, 0, col + shifts[0], 0), m.scale_input(pixel)[:, None, None, None])
            return tuple(rows), ops.slice_update(pixels, (0, col), pixel[:, None])

        _, pixels = ops.fori_loop(0, width, step, (rows, ops.zeros((n, width))))
        return pixels, new_rows

    def _start(self, n):
        width = self.model.image_shape[1]
        return [np.zeros((n, p + 1 if i == 0 else p, width, ch), "float32")
                for i, (p, ch) in enumerate(zip(self.pads, self.channels))]

    def _advance(self, history, x_row, new_rows):
        """history after a row: the image's scaled row and each layer's new input row appended."""
        scaled = ops.convert_to_numpy(self.model.scale_input(ops.convert_to_tensor(x_row)))[:, None, :, None]
        return [np.concatenate([h[:, 1:], new], axis=1)
                for h, new in zip(history, [scaled] + [ops.convert_to_numpy(r) for r in new_rows])]

    def _labels(self, labels, n):
        return ops.zeros((n, 1)) if labels is None else ops.convert_to_tensor(labels)

    def warm(self, labels, u):
        history, lab = self._start(len(u)), self._labels(labels, len(u))
        self._row(tuple(map(ops.convert_to_tensor, history)), ops.convert_to_tensor(u[:, 0]), lab)

    def sample_batch(self, labels, u, on_row=None, start=None, first_row=0):
        x = np.zeros(u.shape, "float32") if start is None else start.copy()
        history, lab = self._start(len(u)), self._labels(labels, len(u))
        for r in range(self.model.image_shape[0]):
            hist = tuple(map(ops.convert_to_tensor, history))
            if r < first_row:                       # a kept row: only the vertical stack runs
                _, new_rows = self._vertical(hist, lab)
            else:
                pixels, new_rows = self._row(hist, ops.convert_to_tensor(u[:, r]), lab)
                x[:, r] = ops.convert_to_numpy(pixels)
                if on_row:
                    on_row()
            history = self._advance(history, x[:, r], new_rows)
        return x


class _WholeModelSampler:
    """Per pixel, run the whole model on the partial images and draw pixel (r, c) from its output."""

    def __init__(self, model, method):
        import tensorflow as tf

        self.model, self.method = model, method
        if method == "compiled":
            self._logits = tf.function(lambda inputs: model(inputs, training=False),
                                       jit_compile=True, reduce_retracing=True)

    def logits_of(self, x, labels):
        inputs = x if labels is None else [x, labels]
        if self.method == "naive":
            return self.model.predict(inputs, batch_size=len(x), verbose=0)
        return self._logits(inputs)

    def warm(self, labels, u):
        self.logits_of(np.zeros(u.shape, "float32"), labels)

    def sample_batch(self, labels, u, on_row=None, rows=None, start=None, first_row=0):
        x = np.zeros(u.shape, "float32") if start is None else start.copy()
        for r in range(first_row, rows or self.model.image_shape[0]):
            for c in range(self.model.image_shape[1]):
                logits = ops.convert_to_tensor(self.logits_of(x, labels))[:, r, c]
                x[:, r, c] = ops.convert_to_numpy(
                    draw_pixel(logits, ops.convert_to_tensor(u[:, r, c]), self.model.kind))
            if on_row:
                on_row()
        return x


def _sampler(model, method):
    """One sampler object per model and method, so compiled functions are traced once."""
    cache = model.__dict__.setdefault("_course_samplers", {})
    if method not in cache:
        if method == "fast":
            cache[method] = _GatedSampler(model) if isinstance(model, GatedPixelCNN) else _FastSampler(model)
        else:
            cache[method] = _WholeModelSampler(model, method)
    return cache[method]


def sample(model, n, labels=None, method="fast", batch_size=100, seed=0, progress=True):
    """Draw ``n`` images pixel by pixel in raster order: float32 (n, H, W) pixel values
    (levels 0..255, or 0/1 for a binary model); (n, 28, 28) for MNIST.

    ``method``: ``"fast"`` (cached activations, one compiled call per row), ``"compiled"``
    (the whole model per pixel, compiled) or ``"naive"`` (the whole model per pixel via
    ``model.predict``: H x W calls per batch, 784 for MNIST). With the same ``seed`` all
    three make the same images: each pixel is drawn by inverse CDF from one shared uniform draw.
    """
    if method not in SAMPLERS:
        raise ValueError(f"method must be one of {SAMPLERS}, got {method!r}.")
    _check_positive_int(batch_size=batch_size)
    labels, u = _sampler_inputs(model, n, labels, seed)
    sample_batch = _sampler(model, method).sample_batch
    bar = None
    if progress:
        from course_lib.progress import progress_bar

        bar = progress_bar(total=math.ceil(n / batch_size) * model.image_shape[0], unit="row",
                           desc=f"sampling {n} ({method})")
    out = []
    for s in range(0, n, batch_size):
        lab = None if labels is None else labels[s:s + batch_size]
        out.append(sample_batch(lab, u[s:s + batch_size], bar.update if bar else None))
    if bar:
        bar.close()
    return np.concatenate(out)


def time_sampler(model, n, method, labels=None, batch_size=100, seed=0, rows=None):
    """(images, seconds) for ``sample`` without a progress bar. The compiled samplers are
    traced first on a batch of the same size, so the time is sampling, not compiling.

    ``rows``: for the whole-model samplers (``"naive"``, ``"compiled"``), take only the
    first ``rows`` rows and return their time scaled to the whole image (every row costs
    the same W whole-model passes), for a deep model whose 784 passes would take minutes.
    The returned images are then complete in those rows only (zeros below).
    """
    if method not in SAMPLERS:
        raise ValueError(f"method must be one of {SAMPLERS}, got {method!r}.")
    height = model.image_shape[0]
    if rows is not None:
        if method == "fast":
            raise ValueError("rows= times the first rows of a whole-model sampler (naive or compiled), "
                             "whose rows all cost the same; time the fast sampler whole (rows=None).")
        _check_positive_int(rows=rows)
        if rows > height:
            raise ValueError(f"rows must be at most the image height {height}, got {rows}.")
    _check_positive_int(batch_size=batch_size)
    labels_checked, u = _sampler_inputs(model, n, labels, seed)
    b = min(n, batch_size)
    sampler = _sampler(model, method)
    sampler.warm(None if labels_checked is None else labels_checked[:b], u[:b])
    if rows is None:
        start = time.perf_counter()
        images = sample(model, n, labels, method=method, batch_size=batch_size, seed=seed, progress=False)
        return images, time.perf_counter() - start
    start = time.perf_counter()
    images = np.concatenate([
        sampler.sample_batch(None if labels_checked is None else labels_checked[s:s + b], u[s:s + b], rows=rows)
        for s in range(0, n, b)])
    return images, (time.perf_counter() - start) * height / rows


def complete(model, images, rows, labels=None, seed=0, batch_size=100):
    """Keep the first ``rows`` rows of each image and sample the rest, pixel by pixel:
    float32 (n, H, W). The gated model uses its cached sampler; the plain one runs the whole
    model per pixel (compiled). The same ``seed`` gives the same draws as ``sample``."""
    x = check_images(model, images)
    h = model.image_shape[0]
    if isinstance(rows, bool) or not isinstance(rows, (int, np.integer)) or not 0 <= rows < h:
        raise ValueError(f"rows (the rows kept) must be an integer in 0..{h - 1}, got {rows!r}.")
    _check_positive_int(batch_size=batch_size)
    labels, u = _sampler_inputs(model, len(x), labels, seed)
    sampler = _sampler(model, "fast" if isinstance(model, GatedPixelCNN) else "compiled")
    x[:, rows:] = 0.0
    return np.concatenate([
        sampler.sample_batch(None if labels is None else labels[s:s + batch_size], u[s:s + batch_size],
                             start=x[s:s + batch_size], first_row=int(rows))
        for s in range(0, len(x), batch_size)])


# ---------------------------------------------------------------------------------------
# Looking inside: receptive field, and likelihood as an out-of-distribution score
# ---------------------------------------------------------------------------------------

def receptive_field(model, row, col, x=None, labels=None):
    """|d output(row, col) / d input|, an (H, W) map: which input pixels the prediction
    for pixel (row, col) can use. For an autoregressive model it is zero at (row, col) and
    at every later pixel in raster order. ``x`` defaults to a mid-grey image."""
    import tensorflow as tf

    h, w = model.image_shape
    if not (0 <= row < h and 0 <= col < w):
        raise ValueError(f"(row, col) must lie inside the {h} x {w} image, got ({row}, {col}).")
    if x is None:
        x = np.full((1, h, w), (model.levels - 1) / 2 if model.kind == "categorical" else 0.5, "float32")
    x = tf.convert_to_tensor(np.asarray(x, "float32").reshape((1, h, w)))
    with tf.GradientTape() as tape:
        tape.watch(x)
        logits = model(x if labels is None else (x, tf.convert_to_tensor(labels, tf.float32)))
        target = tf.reduce_sum(logits[0, row, col])       # all 256 logits (or the one) of that pixel
    return np.abs(tape.gradient(target, x).numpy()[0])


def ood_auroc(log_p_in, log_p_out):
    """AUROC of "low log p(x) means out-of-distribution": the probability that a random
    out-of-distribution image scores lower than a random in-distribution one (ties count
    half). 1 is a perfect detector, 0.5 chance, below 0.5 the likelihood points the wrong way.
    A NaN score has no rank: it is an error (-inf, an impossible image, ranks lowest)."""
    a, b = np.asarray(log_p_in, "float64"), np.asarray(log_p_out, "float64")
    if a.ndim != 1 or b.ndim != 1 or not len(a) or not len(b):
        raise ValueError(f"ood_auroc() expects two non-empty 1-D arrays of log-likelihoods, got shapes "
                         f"{a.shape} and {b.shape}.")
    for name, scores in (("log_p_in", a), ("log_p_out", b)):
        if np.isnan(scores).any():
            raise ValueError(f"ood_auroc() needs a score for every image: {name} holds "
                             f"{int(np.isnan(scores).sum())} NaN of {len(scores)}.")
    # Mann-Whitney U statistic from ranks of the pooled scores
    from scipy.stats import rankdata

    ranks = rankdata(np.concatenate([a, b]))
    u = ranks[: len(a)].sum() - len(a) * (len(a) + 1) / 2
    return u / (len(a) * len(b))


def png_bits(levels):
    """The length in bits of each uint8 image (n, H, W) compressed losslessly as a PNG
    (Pillow, best compression): a generic estimate of how complex the image is."""
    import io

    from PIL import Image

    x = np.asarray(levels)
    if x.ndim != 3 or x.dtype != np.uint8:
        raise ValueError(f"png_bits() expects uint8 images (n, H, W), got {x.dtype} {x.shape}.")
    out = np.empty(len(x))
    for i, image in enumerate(x):
        buffer = io.BytesIO()
        Image.fromarray(image).save(buffer, format="PNG", optimize=True)
        out[i] = 8 * buffer.tell()
    return out


def complexity_score(log_p, levels):
    """Serra et al. (2020)'s input-complexity corrected score, in bits per image: the model's
    code length -log2 p(x) minus a generic compressor's (``png_bits``). High means "the model
    needs many more bits than its simplicity explains": out of distribution. ``log_p`` in nats."""
    log_p = np.asarray(log_p, "float64")
    if log_p.ndim != 1 or len(log_p) != len(levels):
        raise ValueError(f"need one log p(x) per image: got {log_p.shape} for {len(levels)} images.")
    return -log_p / np.log(2) - png_bits(levels)
