"""Classifier-free guidance (Ho & Salimans 2022): one diffusion network, conditional and
unconditional at once, and a sampler that pushes its samples towards the requested class.

Training is diffusion's simple loss with the label as a third input, except that each
example's label is replaced, with probability ``label_dropout`` p, by a "no label" token
(label ``num_classes``). The one network then learns two noise predictions,

    eps(x_t, t, y)      the conditional model: noise of an image of class y
    eps(x_t, t, none)   the unconditional model: noise of any digit

and sampling mixes them with a guidance weight w,

    eps_w = (1 - w) eps(x_t, t, none) + w eps(x_t, t, y)
          = eps(x_t, t, none) + w [eps(x_t, t, y) - eps(x_t, t, none)],

so w = 0 is the unconditional model, w = 1 the conditional one, and w > 1 goes past the
conditional model, away from the unconditional one. Since eps is proportional to minus the
score, w > 1 samples (approximately) from p(x | y)^w p(x)^(1 - w), that is p(x) p(y | x)^w:
the class is made more certain, at the price of diversity. 11 sweeps w.
"""

import contextlib

import keras
import numpy as np
from keras import ops

from course_lib.checks import check_number, positive_int
from course_lib.diffusion import Diffusion, _check_clip, ddim_sample
from course_lib.distribute import replica_rows, replicas


def drop_labels(labels, p, null, seed=None):
    """``labels`` (n,) with each entry replaced by ``null`` (the "no label" token) with probability
    ``p``, independently: classifier-free guidance's label dropout. Works on tensors inside a
    training step; on several replicas the draws are made for the global batch and cut to this
    replica's rows (``distribute.replica_rows``), as one device would draw them."""
    n = ops.shape(labels)[0]
    u = replica_rows(keras.random.uniform((n * replicas(),), seed=seed), n)
    return ops.where(u >= p, labels, ops.full_like(labels, null))


def _check_labels(labels, num_classes, n=None):
    """Integer class ids in 0..num_classes-1, shape (n,), as int32."""
    values = np.asarray(labels)
    if values.ndim == 2 and values.shape[1] == num_classes:
        raise ValueError(f"expected integer class ids of shape (n,), got one-hot rows of shape {values.shape} "
                         f"(use labels.argmax(1)).")
    if values.ndim != 1 or (n is not None and len(values) != n):
        want = f"({n},)" if n is not None else "(n,)"
        raise ValueError(f"expected one integer class id per example, shape {want}, got shape {values.shape}.")
    if values.size and not np.issubdtype(values.dtype, np.integer):
        if not (np.issubdtype(values.dtype, np.floating) and np.all(np.isfinite(values))
                and np.all(values == np.round(values))):
            raise ValueError(f"expected integer class ids, got dtype {values.dtype} with non-integer values.")
    if values.size and (values.min() < 0 or values.max() >= num_classes):
        raise ValueError(f"class ids must be in 0..{num_classes - 1}, got values in "
                         f"[{values.min():g}, {values.max():g}].")
    return values.astype("int32")


@keras.saving.register_keras_serializable(package="course_lib")
class ConditionalDiffusion(Diffusion):
    """A diffusion model whose denoiser takes ``[x_t, t, label]`` (``diffusion.build_unet(...,
    num_classes=10)``), trained with label dropout: ``fit(x0, labels)`` with integer class ids.
    Each training example's label becomes the "no label" token ``num_classes`` with probability
    ``label_dropout``, so the same network also learns the unconditional model.
    ``label_dropout=0`` trains a purely conditional model (no guidance possible)."""

    def __init__(self, denoiser, label_dropout=0.1, **kwargs):
        if len(denoiser.inputs) != 3:
            raise ValueError("a conditional diffusion model needs a denoiser with a label input: "
                             "diffusion.build_unet(..., num_classes=10).")
        if "int" not in str(denoiser.inputs[1].dtype):
            raise ValueError("a diffusion model's denoiser takes the step t as an integer: this one takes a float "
                             "time (continuous_time=True is flow matching's).")
        self.label_dropout = check_number(label_dropout, "label_dropout", at_least=0, below=1)
        super().__init__(denoiser, **kwargs)
        self.num_classes = _embedding_classes(denoiser)

    @property
    def null_label(self):
        """The "no label" token: one more than the last class id."""
        return self.num_classes

    def simple_loss(self, x0, labels=None):
        """The simple loss with the labels, each dropped to the null token with probability p."""
        if labels is None:
            raise ValueError("a conditional diffusion model's loss needs the labels: simple_loss(x0, labels).")
        x_t, t, noise = self._noised(x0)
        labels = ops.cast(labels, "int32")
        if self.label_dropout > 0:
            labels = drop_labels(labels, self.label_dropout, self.null_label, seed=self.seed_generator)
        return ops.mean(ops.square(noise - self.denoiser([x_t, t, labels], training=True)))

    def _data_loss(self, data):
        x0, labels, _ = keras.utils.unpack_x_y_sample_weight(data)
        if labels is None:
            raise ValueError("a conditional diffusion model trains on (images, labels): fit(x0, labels).")
        return self.simple_loss(ops.cast(x0, "float32"), labels)

    def fit(self, x=None, y=None, *args, **kwargs):
        """``fit(x0, labels)``: images in [-1, 1] and their integer class ids (or a pipeline of
        (images, labels) batches)."""
        if hasattr(x, "shape") and not hasattr(x, "element_spec"):
            if y is None:
                raise ValueError(f"a conditional diffusion model trains on images and their class ids: "
                                 f"fit(x0, labels) with labels of shape ({len(x)},).")
            y = _check_labels(y, self.num_classes, len(x))
        return super().fit(x, y, *args, **kwargs)

    def get_config(self):
        return {**super().get_config(), "label_dropout": self.label_dropout}


def _embedding_classes(denoiser):
    """The number of classes of a denoiser built with ``num_classes`` (its label embedding holds one more)."""
    for layer in denoiser.layers:
        if layer.name == "label_embedding":
            return layer.input_dim - 1
    raise ValueError("the denoiser has no layer named 'label_embedding' (diffusion.build_unet(..., num_classes=10)).")


def guided_network(network, labels, w, null):
    """eps_w(x_t, t) = (1 - w) eps(x_t, t, null) + w eps(x_t, t, y), as a callable [x_t, t] -> eps
    for the samplers of ``course_lib.diffusion``, for one batch whose labels are ``labels``.
    ``network``: a three-input denoiser (a Keras model, or a function (x_t, t, y) -> eps). Both
    predictions come from one call on the doubled batch [x_t; x_t] with labels [y; null].
    Written as a weighted sum, w = 0 and w = 1 give the two predictions exactly."""
    w = check_number(w, "w", at_least=0)
    labels = np.asarray(labels, "int32")
    both = np.concatenate([labels, np.full_like(labels, null)])
    call = _network3(network) if isinstance(network, keras.Model) else network

    def eps(inputs, training=False):
        x, t = inputs
        if len(x) != len(labels):
            raise ValueError(f"this guided network holds {len(labels)} labels, got a batch of {len(x)}.")
        out = ops.convert_to_numpy(call(np.concatenate([x, x]), np.concatenate([t, t]), both))
        conditional, unconditional = out[:len(x)], out[len(x):]
        return (1.0 - w) * unconditional + w * conditional

    return eps


def _network3(denoiser):
    """``_network`` for a three-input denoiser: a compiled function (x_t, t, label) -> eps."""
    fn = getattr(denoiser, "_course_sampling_fn3", None)
    if fn is None:
        import tensorflow as tf

        fn = tf.function(lambda x, t, y: denoiser([x, t, y], training=False), reduce_retracing=True)
        object.__setattr__(denoiser, "_course_sampling_fn3", fn)
    return fn


def guided_sample(model, labels, w, steps=20, eta=0.0, seed=0, batch_size=250, clip_x0=1.0, weights="EMA",
                  progress=False):
    """One sample per entry of ``labels`` (integer class ids) from a ``ConditionalDiffusion``
    with guidance weight ``w``, in the model's range: DDIM (``eta=0``) or strided DDPM
    (``eta=1``) on ``steps`` steps, each costing two predictions (conditional and unconditional).
    The starts x_T come from ``seed`` for all samples at once, so sample i depends on the seed and
    its label, not on ``batch_size``; with ``eta > 0`` the added noise is drawn per batch, from the
    seed and the batch's offset (streams apart from every other seed's starts)."""
    from course_lib.progress import progress_bar

    if not isinstance(model, ConditionalDiffusion):
        raise ValueError(f"model must be a ConditionalDiffusion, got {type(model).__name__}.")
    labels = _check_labels(labels, model.num_classes)
    positive_int(len(labels), "the number of labels")
    batch_size, clip_x0 = positive_int(batch_size, "batch_size"), _check_clip(clip_x0)
    if weights not in ("EMA", "raw"):
        raise ValueError(f"weights must be 'EMA' or 'raw', got {weights!r}.")
    check_number(w, "w", at_least=0)
    if model.label_dropout == 0 and w != 1:
        raise ValueError("this model trained without label dropout: it never saw the 'no label' token, so only "
                         "w = 1 (the conditional model) means anything.")
    starts = np.random.default_rng(seed).standard_normal((len(labels),) + model.input_shape_).astype("float32")
    chunks = range(0, len(labels), batch_size)
    out = []
    with model.ema_weights() if weights == "EMA" else contextlib.nullcontext():
        for s in (progress_bar(chunks, desc=f"guided samples, w = {w:g}") if progress else chunks):
            y = labels[s:s + batch_size]
            eps = guided_network(model.denoiser, y, w, model.null_label)
            out.append(ddim_sample(eps, model.schedule, len(y), model.input_shape_, steps=steps, eta=eta,
                                   seed=[seed, 1 + s], batch_size=len(y), x_T=starts[s:s + batch_size],
                                   clip_x0=clip_x0))
    return np.concatenate(out)
