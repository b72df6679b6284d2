"""What every recipe is made of: the ``Spec`` it registers, the course's data splits, its real or
tiny sizes, and the run it is scored in (the checkpoints it needs, the directory it writes to).

Nothing here knows a model; ``course_lib/checkpoints.py`` runs the specs (train, save, hash,
manifest, resume, load), the family files beside this one write them.
"""

import contextlib
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import numpy as np

N_VAL = 5_000                 # the last training digits: the validation split of every notebook
TEST_BIN_SEED, VAL_BIN_SEED = 123, 321   # the course's fixed binarized test / validation sets


# ---------------------------------------------------------------------------------------
# What each checkpoint is
# ---------------------------------------------------------------------------------------

@dataclass
class Spec:
    """One checkpoint: how to build, train one epoch, score, and check it."""
    name: str
    notebooks: tuple
    description: str
    epochs: int
    budget_minutes: int              # measured wall time on this course's 2-core CPU, rounded up
    settings: dict
    build: Callable                  # () -> built, uncompiled model
    compile: Callable                # (model) -> None
    fit_epoch: Callable              # (model, epoch) -> dict of logged losses
    images_per_epoch: int
    validate: Callable               # (model) -> (name, value): one cheap figure per epoch
    evaluate: Callable               # (model) -> dict of figures on the full test set
    check: Callable                  # (model) -> (description, value) on a small fixed subset
    check_tolerance: float = 1e-3    # relative
    needs: tuple = field(default=())  # checkpoints the evaluation uses (e.g. the classifier)
    keep_best: bool = False          # keep the epoch with the lowest validation figure (early stopping)
    artifacts: Callable = None       # () -> {name: array} recorded during training, saved as NAME.npz
    baseline: tuple = None           # (epochs, what[, compile]): the lecture profile's shorter run of the same
                                     # recipe, measured by ``baseline(name)`` with the same ``evaluate`` (and
                                     # the lecture's own ``compile`` where the checkpoint's differs)
    tracked: Callable = None         # (model) -> {name: value}: more figures for each epoch's point of the
                                     # curve, measured after the epoch, outside its training seconds
    tiny: bool = False               # the recipe at tiny sizes (``tiny_specs``): a test run, never a checkpoint


def steps_per_epoch(n, batch):
    """Batches of ``batch`` in ``n`` examples, the last one partial."""
    return math.ceil(n / batch)


def last_logs(history):
    """The last epoch's logs of a ``fit``'s ``History``, as floats."""
    return {k: float(v[-1]) for k, v in history.history.items()}


# ---------------------------------------------------------------------------------------
# Data, shared by every spec (loaded once per process)
# ---------------------------------------------------------------------------------------

_DATA = {}


def mnist():
    """The course's splits: x in [0, 1] (n, 28, 28), uint8 levels, labels, and the fixed
    binarized validation and test sets (flat)."""
    if not _DATA:
        from course_lib.data import binarize_dynamic, flatten, load_mnist, scale

        (x_train, y_train), (x_test, y_test) = load_mnist()
        _DATA.update(
            x_fit_u8=x_train[:-N_VAL], y_fit=y_train[:-N_VAL],
            x_val_u8=x_train[-N_VAL:], y_val=y_train[-N_VAL:],
            x_test_u8=x_test, y_test=y_test,
            x_fit=scale(x_train[:-N_VAL]), x_val=scale(x_train[-N_VAL:]), x_test=scale(x_test))
        _DATA["x_val_bin"] = binarize_dynamic(flatten(_DATA["x_val"]), seed=VAL_BIN_SEED)
        _DATA["x_test_bin"] = binarize_dynamic(flatten(_DATA["x_test"]), seed=TEST_BIN_SEED)
    return _DATA


def check_subset(n=200, seed=2026, total=10_000):
    """Fixed random test indices for the CI check of a checkpoint (never the head of the
    test set: MNIST's test set is ordered by writer population)."""
    return np.sort(np.random.default_rng(seed).permutation(total)[:n])


# A tiny run (``train(name, tiny=True)``, ``tiny_specs()``) goes through a recipe's whole path
# (build, training, scoring, saving, the manifest) in seconds, for the test that every recipe can
# finish: the same code on a few dozen digits, one step per epoch, a few samples per figure.
TINY_SPLITS = dict(fit=32, val=32, test=32)     # digits of each split: at most one batch of every recipe

_TINY_DATA = {}


def tiny_mnist():
    """``mnist()`` cut to ``TINY_SPLITS`` digits per split (each split's head), for tiny runs."""
    if not _TINY_DATA:
        _TINY_DATA.update({key: value[:TINY_SPLITS[key.split("_")[1]]] for key, value in mnist().items()})
    return _TINY_DATA


def recipe_tools(tiny):
    """What a family's ``specs`` reads its sizes through: ``(data, subset, size)``.

    ``data()`` is ``mnist()`` (``tiny_mnist()`` in a tiny run); ``subset(n, seed)`` is
    ``check_subset`` on that test set; ``size(real, small)`` is the recipe's real number, or the
    small one of a tiny run. A real run's sizes are the recipe's own: ``tiny`` changes nothing else.
    """
    if not tiny:
        return mnist, check_subset, lambda real, small: real
    n_test = TINY_SPLITS["test"]
    return (tiny_mnist, lambda n=200, seed=2026: check_subset(min(n, n_test), seed, total=n_test),
            lambda real, small: small)


@contextlib.contextmanager
def functions_eager(on):
    """Inside the block, every ``tf.function`` runs eagerly (``on``) or compiled; as before after it."""
    import warnings

    import tensorflow as tf

    saved = tf.config.functions_run_eagerly()
    tf.config.run_functions_eagerly(on)
    try:
        with warnings.catch_warnings():          # "... does not apply to tf.data functions": as intended
            warnings.filterwarnings("ignore", message="Even though the `tf.config.experimental_run_functions_eagerly`")
            yield
    finally:
        tf.config.run_functions_eagerly(saved)


# ---------------------------------------------------------------------------------------
# The run a spec is scored in
# ---------------------------------------------------------------------------------------

# The run checkpoints.train() or baseline() is making: the directory it writes to (its needs, e.g. the
# classifier, and its work files come from there too), the loader it reads them with (checkpoints.load,
# sha256-checked), and the needs it loaded, once per run.
_RUN = {"directory": None, "load": None, "loaded": {}}


@contextlib.contextmanager
def running_in(directory, load):
    """Inside the block, ``need`` and ``run_directory`` serve the run in ``directory``, whose needs
    ``load(name, directory)`` reads (the mechanism passes its ``checkpoints.load``)."""
    saved = dict(_RUN)
    if _RUN["directory"] != Path(directory):                   # finish() inside train(): the same run
        _RUN.update(directory=Path(directory), load=load, loaded={})
    try:
        yield
    finally:
        _RUN.clear()
        _RUN.update(saved)


def run_directory():
    """The directory of the run in progress, else ``checkpoints.checkpoint_dir()``."""
    if _RUN["directory"] is None:
        from course_lib.checkpoints import checkpoint_dir

        return checkpoint_dir()
    return _RUN["directory"]


def need(name):
    """Checkpoint ``name`` that a spec's scoring reads (the classifier): from the run's directory,
    loaded once per run (outside a run: ``checkpoints.load(name)`` from ``checkpoint_dir()``, at every call)."""
    if _RUN["directory"] is None:
        from course_lib.checkpoints import load

        return load(name)
    if name not in _RUN["loaded"]:
        _RUN["loaded"][name] = _RUN["load"](name, _RUN["directory"])
    return _RUN["loaded"][name]
