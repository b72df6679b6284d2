"""Input checks shared by the course's models, at the boundary where data comes in.

``run_checked`` wraps a Keras ``fit``/``evaluate`` so that a model's own check function sees
the data first; ``CheckedFit`` gives a model both wrappers (``vae.VAE``, ``pixelcnn.PixelCNN``
and ``pixelrnn.PixelRNN`` use it); ``check_labels`` is the one
definition of "one-hot labels" for the CVAE and the conditional PixelCNN. A bad input gets a ValueError
that says what was expected and what came, also when it arrives through a tf.data pipeline.
"""

import keras
import numpy as np


def run_checked(method, check, x=None, *args, **kwargs):
    """``method(x, ...)`` (a model's Keras ``fit`` or ``evaluate``) once ``check`` has seen
    the inputs, so that bad data fails with ``check``'s ValueError, not deep inside Keras.

    Arrays are checked in full, before Keras traces anything (a failed trace can leave a
    compiled model unusable). A tf.data pipeline is checked by its static shapes
    (``element_spec``) up front and batch by batch as it runs: reading a batch ahead would
    advance its shuffling and random binarization and change what the model trains on.
    ``validation_data`` is checked the same way.
    """
    import tensorflow as tf

    if kwargs.get("_use_cached_eval_dataset"):        # fit's validation data: fit checked it
        return method(x, *args, **kwargs)
    errors = []                                       # what the pipeline checks raised
    x = _checked(x, check, errors, packed=False)
    if kwargs.get("validation_data") is not None:
        kwargs["validation_data"] = _checked(kwargs["validation_data"], check, errors, packed=True)
    try:
        return method(x, *args, **kwargs)
    except tf.errors.OpError:
        if errors:                 # TensorFlow wraps a batch's ValueError: raise the original
            raise errors[0] from None
        raise


class CheckedFit:
    """Mixin for a ``keras.Model`` with a ``_check_inputs(x)`` method: ``fit`` and ``evaluate``
    run it on the data first (``run_checked``). A tf.data pipeline shuffles itself, so
    ``fit`` does not ask Keras to shuffle one."""

    def fit(self, x=None, *args, **kwargs):
        if not hasattr(x, "shape") and not isinstance(x, (list, tuple)):
            kwargs.setdefault("shuffle", False)
        return run_checked(super().fit, self._check_inputs, x, *args, **kwargs)

    def evaluate(self, x=None, *args, **kwargs):
        return run_checked(super().evaluate, self._check_inputs, x, *args, **kwargs)


def _checked(data, check, errors, packed):
    """``data`` with ``check`` applied to its inputs (see ``run_checked``). ``packed``: data is
    (inputs[, targets[, weights]]), as Keras reads ``validation_data`` and pipeline elements."""
    import tensorflow as tf

    if isinstance(data, tf.data.Dataset):
        spec = data.element_spec
        x_spec = keras.utils.unpack_x_y_sample_weight(spec)[0]
        check(x_spec)                                   # static shapes, before any tracing

        def run(*arrays):                               # NumPy, batch by batch, as it runs
            try:
                check(tf.nest.pack_sequence_as(x_spec, arrays))
            except ValueError as err:
                errors.append(err)
                raise
            return np.bool_(True)

        def checked(*element):                          # tf.data passes a tuple's items as arguments
            element = element if isinstance(spec, tuple) else element[0]
            x = keras.utils.unpack_x_y_sample_weight(element)[0]
            passed = tf.numpy_function(run, tf.nest.flatten(x), Tout=tf.bool)
            with tf.control_dependencies([passed]):
                return tf.nest.map_structure(tf.identity, element)

        # prefetch: the checks run ahead of the training step instead of inside it
        return data.map(checked).prefetch(tf.data.AUTOTUNE)
    if hasattr(data, "shape") or isinstance(data, (list, tuple)):
        x = keras.utils.unpack_x_y_sample_weight(data)[0] if packed else data
        check(tuple(np.asarray(a) for a in x) if isinstance(x, (list, tuple)) else np.asarray(x))
    return data                                         # a generator or PyDataset: unchecked


def check_labels(c, num_classes, len_like=None):
    """Raise ValueError unless ``c`` is (n, num_classes) one-hot labels whose count matches
    ``len_like`` (the images, or their number, when given). One-hot: every entry 0 or 1 and
    each row sums to 1. Shapes are checked on anything with a ``shape`` (tensors while
    Keras traces, tensor specs); values only on NumPy arrays."""
    shape = tuple(c.shape)
    if len(shape) != 2 or shape[-1] not in (num_classes, None):
        raise ValueError(f"labels must be one-hot of shape (n, {num_classes}), got shape {shape}; "
                         "use course_lib.data.one_hot(y).")
    if len_like is not None:
        n_x = len_like if isinstance(len_like, (int, np.integer)) else len_like.shape[0]
        n_c = shape[0]
        if n_x is not None and n_c is not None and n_x != n_c:
            raise ValueError(f"got {n_x} images but {n_c} labels.")
    if isinstance(c, np.ndarray) and c.size:
        bad = ~(((c == 0) | (c == 1)).all(axis=1) & (c.sum(axis=1) == 1))
        if bad.any():
            i = int(np.argmax(bad))
            row = np.round(c[i].astype("float64"), 4).tolist()
            raise ValueError(f"labels must be one-hot rows (every entry 0 or 1, one 1 per row), "
                             f"got row {i} = {row}; use course_lib.data.one_hot(y).")
