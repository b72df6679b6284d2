"""Input checks shared by the course's models, at the boundary where data comes in.

``run_checked`` wraps a Keras ``fit``/``evaluate``/``predict`` so that a model's own check
function sees the data first; ``CheckedFit`` gives a model those wrappers (``vae.VAE``,
``pixelcnn.PixelCNN``, ``pixelrnn.PixelRNN``, ``gan.GAN`` and ``diffusion.Diffusion`` use it);
``check_labels`` is the one definition of "one-hot labels" for the CVAE, the conditional
PixelCNN and the conditional GAN. A bad input gets a ValueError that says what was expected
and what came, also when it arrives through a tf.data pipeline or a Python generator.

The small validators below are what every module uses for its arguments:

- ``check_int`` / ``positive_int``: counts and sizes. Python and NumPy integers (``np.int64``)
  are accepted; bools, floats and strings are not.
- ``check_number``: weights, rates, noise levels. A finite real number (``int``, ``float`` or
  a NumPy scalar such as ``np.float32``, not a bool, not NaN or inf) within optional bounds.
- ``finite_array``: an array of numbers without NaN or inf.
- ``concrete``: the values of an array or an eager tensor, ``None`` for a symbolic tensor
  (a value check then waits for the data; shapes are checked at trace time).
"""

import inspect
import math

import numpy as np          # keras and tensorflow are imported where needed: data.py uses the validators


def _is_int(value):
    return isinstance(value, (int, np.integer)) and not isinstance(value, (bool, np.bool_))


def check_int(value, name, minimum=1, maximum=None):
    """``value`` as an ``int``, or ValueError unless it is an integer (Python or NumPy, not a
    bool) in ``minimum``..``maximum``: e.g. "batch_size must be a positive integer, got -3."."""
    if not _is_int(value) or value < minimum or (maximum is not None and value > maximum):
        if maximum is not None:
            what = f"an integer in {minimum}..{maximum}"
        else:
            what = "a positive integer" if minimum == 1 else f"an integer >= {minimum}"
        raise ValueError(f"{name} must be {what}, got {value!r}.")
    return int(value)


def positive_int(value, name):
    """``value`` as an ``int`` >= 1 (see ``check_int``)."""
    return check_int(value, name, 1)


def check_number(value, name, *, above=None, at_least=None, below=None, at_most=None):
    """``value`` as a ``float``, or ValueError unless it is a finite real number (``int``,
    ``float``, a NumPy scalar or 0-d array; not a bool) within the given bounds, e.g.
    "noise_factor must be a finite number >= 0, got nan."."""
    if isinstance(value, np.ndarray) and value.ndim == 0:
        value = value[()]
    ok = isinstance(value, (int, float, np.integer, np.floating)) and not isinstance(value, (bool, np.bool_))
    number = float(value) if ok else math.nan
    ok = ok and math.isfinite(number) and (above is None or number > above) \
        and (at_least is None or number >= at_least) and (below is None or number < below) \
        and (at_most is None or number <= at_most)
    if not ok:
        bounds = [f"{op} {bound:g}" for op, bound in ((">", above), (">=", at_least), ("<", below), ("<=", at_most))
                  if bound is not None]
        raise ValueError(f"{name} must be a finite number{' ' + ' and '.join(bounds) if bounds else ''}, "
                         f"got {value!r}.")
    return number


def finite_array(x, name, dtype="float64"):
    """``x`` as a NumPy array of ``dtype``, or ValueError unless it holds numbers, none of
    them NaN or inf."""
    arr = np.asarray(x)
    if not (np.issubdtype(arr.dtype, np.number) or arr.dtype == bool):
        raise ValueError(f"{name} must hold numbers, got dtype {arr.dtype}.")
    arr = arr.astype(dtype, copy=False) if dtype is not None else arr
    finite = np.isfinite(arr)
    if not finite.all():
        bad = int(finite.size - np.count_nonzero(finite))
        raise ValueError(f"{name} must hold finite numbers, got {bad} NaN or inf value(s) "
                         f"in an array of shape {arr.shape}.")
    return arr


def concrete(a):
    """The values of ``a`` as NumPy when they are known now (a NumPy array, or an eager
    TensorFlow tensor), else ``None`` (a tensor being traced, a Keras tensor, a tensor spec)."""
    if isinstance(a, np.ndarray):
        return a
    import tensorflow as tf

    if isinstance(a, (tf.Tensor, tf.Variable)) and tf.executing_eagerly():
        return a.numpy()
    return None


def _as_numpy(x):
    """Model inputs (an array, or a list/tuple of arrays) as NumPy, for a check function."""
    return tuple(np.asarray(a) for a in x) if isinstance(x, (list, tuple)) else np.asarray(x)


def run_checked(method, check, x=None, *args, **kwargs):
    """``method(x, ...)`` (a model's Keras ``fit``, ``evaluate`` or ``predict``) once ``check``
    has seen the inputs, so that bad data fails with ``check``'s ValueError, not deep inside Keras.

    Arrays are checked in full, before Keras traces anything (a failed trace can leave a
    compiled model unusable). A tf.data pipeline is checked by its static shapes
    (``element_spec``) up front and batch by batch as it runs: reading a batch ahead would
    advance its shuffling and random binarization and change what the model trains on.
    A Python generator is checked batch by batch as Keras draws from it. ``validation_data``
    is checked the same way. A ``keras.utils.PyDataset`` is passed on unchecked.
    ``batch_size`` (and ``validation_batch_size``), when given, must be a positive integer.
    """
    import tensorflow as tf

    if kwargs.get("_use_cached_eval_dataset"):        # fit's validation data: fit checked it
        return method(x, *args, **kwargs)
    for key in ("batch_size", "validation_batch_size"):
        if kwargs.get(key) is not None:
            positive_int(kwargs[key], key)
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


def _check_even_batches(model, x, batch_size):
    """On several replicas (course_lib.distribute) every batch of an array must split evenly: a
    replica's share of the noise is cut by its index, and an empty share gives a NaN mean."""
    replicas = model.distribute_strategy.num_replicas_in_sync       # the strategy the model was built under
    if replicas == 1 or not hasattr(x, "shape") or not hasattr(x, "__len__"):
        return
    batch = batch_size or 32
    last = len(x) % batch
    if batch % replicas or last % replicas:
        raise ValueError(f"on {replicas} replicas every batch must split evenly: batch_size ({batch}) and the last "
                         f"batch ({last} of {len(x)} examples) must be multiples of {replicas}; drop the remainder, "
                         f"e.g. x[:len(x) - {last}].")


class CheckedFit:
    """Mixin for a ``keras.Model`` with a ``_check_inputs(x)`` method: ``fit``, ``evaluate``
    and ``predict`` run it on the data first (``run_checked``). A tf.data pipeline shuffles
    itself, so ``fit`` does not ask Keras to shuffle one. A model whose ``call`` takes other
    inputs than ``fit`` (a GAN's noise, a denoiser's (x_t, t)) sets ``checks_predict = False``:
    its ``predict`` then only gets Keras' own checks."""

    checks_predict = True

    def fit(self, x=None, *args, **kwargs):
        if not hasattr(x, "shape") and not isinstance(x, (list, tuple)):
            kwargs.setdefault("shuffle", False)
        _check_even_batches(self, x, kwargs.get("batch_size"))
        return run_checked(super().fit, self._check_inputs, x, *args, **kwargs)

    def evaluate(self, x=None, *args, **kwargs):
        return run_checked(super().evaluate, self._check_inputs, x, *args, **kwargs)

    def predict(self, x, *args, **kwargs):
        if not self.checks_predict:
            return super().predict(x, *args, **kwargs)
        return run_checked(super().predict, self._check_inputs, x, *args, **kwargs)


def _checked(data, check, errors, packed):
    """``data`` with ``check`` applied to its inputs (see ``run_checked``). ``packed``: data is
    (inputs[, targets[, weights]]), as Keras reads ``validation_data`` and pipeline elements."""
    import keras
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
    if inspect.isgenerator(data):
        return _checked_generator(data, check, errors)
    if hasattr(data, "shape") or isinstance(data, (list, tuple)):
        x = keras.utils.unpack_x_y_sample_weight(data)[0] if packed else data
        check(_as_numpy(x))
    return data                                         # a PyDataset: unchecked


def _checked_generator(generator, check, errors):
    """``generator``'s elements, each checked as Keras draws it (elements are packed:
    inputs, or (inputs[, targets[, weights]]), as Keras reads them). Still a generator, so
    Keras treats it as the original."""
    import keras

    for element in generator:
        try:
            check(_as_numpy(keras.utils.unpack_x_y_sample_weight(element)[0]))
        except ValueError as err:
            errors.append(err)
            raise
        yield element


def check_labels(c, num_classes, len_like=None):
    """Raise ValueError unless ``c`` is (n, num_classes) one-hot labels whose count matches
    ``len_like`` (the images, or their number, when given). One-hot: every entry 0 or 1 and
    each row sums to 1. Shapes are checked on anything with a ``shape`` (tensors while
    Keras traces, tensor specs); values when they are known (NumPy arrays, eager tensors,
    lists), not on a tensor being traced."""
    if not hasattr(c, "shape"):
        c = np.asarray(c)
    shape = tuple(c.shape)
    if len(shape) != 2 or shape[-1] not in (num_classes, None):
        raise ValueError(f"labels must be one-hot of shape (n, {num_classes}), got shape {shape}; "
                         "use course_lib.data.one_hot(y).")
    if len_like is not None:
        n_x = len_like if isinstance(len_like, (int, np.integer)) else len_like.shape[0]
        n_c = shape[0]
        if n_x is not None and n_c is not None and n_x != n_c:
            raise ValueError(f"got {n_x} images but {n_c} labels.")
    c = concrete(c)
    if c is not None and c.size:
        if not (np.issubdtype(c.dtype, np.number) or c.dtype == bool):
            raise ValueError(f"labels must be one-hot numbers, got dtype {c.dtype}; use course_lib.data.one_hot(y).")
        bad = ~(((c == 0) | (c == 1)).all(axis=1) & (c.sum(axis=1) == 1))
        if bad.any():
            i = int(np.argmax(bad))
            row = np.round(c[i].astype("float64"), 4).tolist()
            raise ValueError(f"labels must be one-hot rows (every entry 0 or 1, one 1 per row), "
                             f"got row {i} = {row}; use course_lib.data.one_hot(y).")
