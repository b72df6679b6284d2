"""Trained weights of the models the course shows: train them, record them, load them.

``make checkpoints NAME=vae_d2`` trains one model at its documented budget (``SPECS``) and
writes ``checkpoints/vae_d2.keras`` (weights and architecture, no optimizer state) and its
entry in ``checkpoints/MANIFEST.json``: sha256, the command and settings, training time,
images seen, the git commit, and the test figures measured on the full MNIST test set.
Training saves its state after every epoch in ``checkpoints/.work/`` (not committed), so
an interrupted run resumes where it stopped when the same command runs again.

Notebooks in the ``present`` profile call ``load(name)``: it checks the file against the
manifest's sha256 and loads it with ``keras.saving.load_model(..., safe_mode=True)``.

    python -m course_lib.checkpoints list              # what exists, what each costs
    python -m course_lib.checkpoints train vae_d2      # train (or resume) one model
    python -m course_lib.checkpoints verify            # every file matches the manifest
"""

import argparse
import contextlib
import datetime
import json
import math
import os
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import numpy as np

from course_lib import profile as _profile  # noqa: F401  (quiets TensorFlow's start-up log first)

import keras  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
DIR_VAR = "COURSE_CHECKPOINT_DIR"
MANIFEST_NAME = "MANIFEST.json"
N_VAL = 5_000                 # the last training digits: the validation split of every notebook
TEST_BIN_SEED, VAL_BIN_SEED = 123, 321   # the course's fixed binarized test / validation sets


class CheckpointError(ValueError):
    """A checkpoint is missing, unknown, or does not match the manifest."""


def checkpoint_dir():
    """``$COURSE_CHECKPOINT_DIR``, or ``checkpoints/`` at the repository's root."""
    return Path(os.environ.get(DIR_VAR) or ROOT / "checkpoints")


def sha256(path):
    """The file's sha256, hex (the same check ``data.load_mnist`` makes on MNIST)."""
    from course_lib.data import _sha256

    return _sha256(path)


def read_manifest(directory=None):
    """The manifest as a dict ``{"models": {name: entry}}`` (empty when there is none yet).

    Raises ``CheckpointError`` naming the file and the fix when it is not a valid manifest
    (cut short, a merge conflict, an edit by hand).
    """
    path = Path(directory or checkpoint_dir()) / MANIFEST_NAME
    if not path.exists():
        return {"models": {}}
    try:
        manifest = json.loads(path.read_text())
    except ValueError as err:                     # json.JSONDecodeError, UnicodeDecodeError
        raise CheckpointError(f"the checkpoint manifest {path} is corrupt, not valid JSON ({err}). "
                              + _manifest_fix(path)) from None
    if not isinstance(manifest, dict) or not isinstance(manifest.get("models"), dict):
        raise CheckpointError(f"the checkpoint manifest {path} is corrupt: it has no \"models\" table. "
                              + _manifest_fix(path))
    return manifest


def _manifest_fix(path):
    committed = f"checkpoints/{MANIFEST_NAME}"
    try:
        shown = path.resolve().relative_to(ROOT).as_posix()
    except ValueError:                            # a copy outside the repository
        return (f"Fix: put a good copy in its place (in the repository, `git checkout -- {committed}` "
                "restores the committed manifest).")
    return f"Fix: `git checkout -- {shown}` (at the repository's root) restores the committed manifest."


def spec_notebooks():
    """{checkpoint: [notebooks that load it]} for every spec, trained or not. The manifest keeps a
    copy under ``"notebooks"``, so that tools/nbtools.py tells which notebooks are ready to present
    from the JSON alone, without starting TensorFlow (a test checks that the copy is current)."""
    return {name: list(spec.notebooks) for name, spec in SPECS.items()}


def _write_manifest(directory, manifest):
    """Write the manifest, with the current ``"notebooks"`` map of every spec (see ``spec_notebooks``)."""
    _write_json(Path(directory) / MANIFEST_NAME, {**manifest, "notebooks": spec_notebooks()})


def _write_json(path, obj):
    tmp = path.with_suffix(path.suffix + ".tmp")
    tmp.write_text(json.dumps(obj, indent=2, sort_keys=False, default=float) + "\n")
    os.replace(tmp, path)


# ---------------------------------------------------------------------------------------
# Loading
# ---------------------------------------------------------------------------------------

def _fix(name):
    return (f"Fix: `git checkout -- checkpoints/` restores the committed files, or "
            f"`make checkpoints NAME={name}` retrains it ({_budget_text(name)}).")


def _budget_text(name):
    spec = SPECS.get(name)
    return f"about {spec.budget_minutes} min on 2 CPU cores" if spec else "see `make checkpoints-list`"


def path_of(name, directory=None):
    """The file of checkpoint ``name``, after checking that it exists and matches the manifest."""
    directory = Path(directory or checkpoint_dir())
    entries = read_manifest(directory)["models"]
    if name not in entries:
        known = ", ".join(sorted(entries)) or "none yet"
        raise CheckpointError(f"no checkpoint named {name!r} in {directory / MANIFEST_NAME} "
                              f"(it holds: {known}). " + _fix(name))
    entry = entries[name]
    path = directory / entry["file"]
    _check_file(path, entry, name)
    if "recorded" in entry:
        _check_file(directory / entry["recorded"]["file"], entry["recorded"], name)
    return path


def _check_file(path, record, name):
    if not path.exists():
        raise CheckpointError(f"checkpoint file {path} is missing. " + _fix(name))
    size = path.stat().st_size
    if size != record["bytes"]:
        what = "it is truncated" if size < record["bytes"] else "it is not the file the manifest records"
        raise CheckpointError(
            f"checkpoint file {path} does not match {MANIFEST_NAME}: {size:,} bytes, expected "
            f"{record['bytes']:,}: {what}, or from another version. " + _fix(name))
    if sha256(path) != record["sha256"]:
        raise CheckpointError(
            f"checkpoint file {path} does not match {MANIFEST_NAME}: its sha256 differs from the manifest's "
            f"(the size, {size:,} bytes, is the same): it was modified, or is from another version. " + _fix(name))


def load(name, directory=None):
    """Load checkpoint ``name`` (see ``SPECS``), sha256-checked, in Keras' safe mode.

    Raises ``CheckpointError`` (a ValueError) naming the file and the fix when the file is
    missing, truncated or does not match the manifest.
    """
    path = path_of(name, directory)
    import course_lib.gan, course_lib.pixelcnn, course_lib.vae  # noqa: E401,F401  (registers the classes)

    return keras.saving.load_model(path, compile=False, safe_mode=True)


def entry(name, directory=None):
    """The manifest entry of ``name`` (figures, settings, training time, ...)."""
    entries = read_manifest(directory)["models"]
    if name not in entries:
        raise CheckpointError(f"no checkpoint named {name!r} in the manifest. " + _fix(name))
    return entries[name]


class TrainedFor:
    """How long a checkpoint trained, read from the manifest; it has the attributes of a
    ``bench.TrainingTimer`` after ``fit`` (``n_examples`` per epoch, ``epochs``, ``seconds``,
    ``images_per_s``), so a notebook's tables read the same in every profile."""

    def __init__(self, record):
        kept = int(record.get("kept_epoch", record["epochs"]))       # early stopping keeps an earlier epoch
        point = record["curve"][kept - 1]
        self.epochs, self.images_seen, self.seconds = kept, int(point["images_seen"]), float(point["train_seconds"])
        self.n_examples = self.images_seen // kept
        self.images_per_s = self.images_seen / self.seconds if self.seconds else float("nan")

    def summary(self, what="digits", unit="images"):
        """The line ``bench.TrainingTimer.summary`` prints, for the checkpoint's training."""
        from course_lib.bench import training_summary

        return training_summary(self, what, unit)


def use(name, directory=None):
    """For a notebook: load checkpoint ``name``, print one line saying what was loaded and
    how it was trained, and return ``(model, TrainedFor)``."""
    from course_lib.diffusion import Diffusion
    from course_lib.pixelcnn import PixelCNN
    from course_lib.vae import VAE

    model = load(name, directory)
    if isinstance(model, (VAE, PixelCNN, Diffusion)):
        model.compile()             # no optimizer needed; lets evaluate() compute the model's own loss
    record = entry(name, directory)
    trained = TrainedFor(record)
    print(f"loaded checkpoints/{record['file']}: {trained.epochs} epochs, {trained.images_seen:,} training "
          f"images, {trained.seconds / 60:.1f} min on 2 CPU cores ({record['command']})\n"
          f"  {record['description']}")
    return model, trained


def recorded(name, directory=None):
    """What a run recorded during training (sha256-checked ``NAME.npz``), as {key: array}."""
    directory = Path(directory or checkpoint_dir())
    path_of(name, directory)
    record = entry(name, directory)
    if "recorded" not in record:
        raise CheckpointError(f"checkpoint {name!r} recorded nothing during training.")
    with np.load(directory / record["recorded"]["file"]) as stored:    # path_of checked its sha256
        return {k: stored[k] for k in stored.files}


def snapshots(name, directory=None):
    """What a toy run recorded during training: a list of (step, samples, {}) like
    ``gan.train_toy_gan``'s snapshots."""
    stored = recorded(name, directory)
    return [(int(step), samples, {}) for step, samples in zip(stored["steps"], stored["samples"])]


def history(name, directory=None):
    """The training losses per epoch, {metric: [values]} (what ``fit`` returned as ``History.history``),
    up to the epoch the checkpoint kept."""
    record = entry(name, directory)
    kept = int(record.get("kept_epoch", record["epochs"]))
    return {k: v[:kept] for k, v in record["history"].items()}


def pending(notebook, directory=None):
    """The checkpoints ``notebook`` (a name such as ``"06b_pixelcnn_conditional"``) loads in
    the present profile that are not trained yet: empty when the notebook is ready to present."""
    trained = read_manifest(directory)["models"]
    return [name for name, notebooks in spec_notebooks().items() if notebook in notebooks and name not in trained]


def figures(name, directory=None):
    """The test figures the manifest holds for ``name``."""
    return entry(name, directory)["figures"]


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


def _recipe_tools(tiny):
    """What a factory of specs reads its sizes through: ``(data, subset, size)``.

    ``data()`` is ``mnist()`` (``tiny_mnist()`` in a tiny run); ``subset(n, seed)`` is
    ``check_subset`` on that test set; ``size(real, small)`` is the recipe's real number, or the
    small one of a tiny run. A real run's sizes are the recipe's own: ``tiny`` changes nothing else.
    """
    if not tiny:
        return mnist, check_subset, lambda real, small: real
    n_test = TINY_SPLITS["test"]
    return (tiny_mnist, lambda n=200, seed=2026: check_subset(min(n, n_test), seed, total=n_test),
            lambda real, small: small)


# The run train() or baseline() is making: the directory it writes to (its needs, e.g. the
# classifier, and its work files come from there too) and the needs it loaded, once per run.
_RUN = {"directory": None, "loaded": {}}


@contextlib.contextmanager
def _running_in(directory):
    saved = dict(_RUN)
    if _RUN["directory"] != Path(directory):                   # finish() inside train(): the same run
        _RUN.update(directory=Path(directory), loaded={})
    try:
        yield
    finally:
        _RUN.clear()
        _RUN.update(saved)


def _run_directory():
    """The directory of the run in progress, else ``checkpoint_dir()``."""
    return Path(_RUN["directory"] or checkpoint_dir())


def _need(name):
    """Checkpoint ``name`` that a spec's scoring reads (the classifier): from the run's directory,
    loaded once per run (outside a run: from ``checkpoint_dir()``, at every call)."""
    if _RUN["directory"] is None:
        return load(name)
    if name not in _RUN["loaded"]:
        _RUN["loaded"][name] = load(name, _RUN["directory"])
    return _RUN["loaded"][name]


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
    baseline: tuple = None           # (epochs, what): the lecture profile's shorter run of the same recipe,
                                     # measured by ``baseline(name)`` with the same ``evaluate``
    tracked: Callable = None         # (model) -> {name: value}: more figures for each epoch's point of the
                                     # curve, measured after the epoch, outside its training seconds
    tiny: bool = False               # the recipe at tiny sizes (``tiny_specs``): a test run, never a checkpoint


def _steps(n, batch):
    return math.ceil(n / batch)


def _last(history):
    return {k: float(v[-1]) for k, v in history.history.items()}


# -- 08's classifier: every sample-based figure reads digits with it ---------------------

def _classifier_specs(register, tiny=False):
    from course_lib import metrics as M

    data, subset, size = _recipe_tools(tiny)
    epochs, batch, lr = size(8, 1), 128, 2e-3

    def build():
        return M.build_classifier()

    def compile_(model):
        d = data()
        schedule = keras.optimizers.schedules.CosineDecay(lr, epochs * _steps(len(d["x_fit"]), batch), alpha=0.05)
        model.compile(optimizer=keras.optimizers.Adam(schedule),
                      loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True), metrics=["accuracy"])

    def fit_epoch(model, epoch):
        d = data()
        return _last(model.fit(d["x_fit"][..., None], d["y_fit"].astype("int32"), batch_size=batch,
                               epochs=1, verbose=0))

    def accuracy(model, x, y):
        return float((M.classifier_outputs(model, x)[1].argmax(1) == y).mean())

    def validate(model):
        d = data()
        return "validation accuracy", accuracy(model, d["x_val"], d["y_val"])

    def evaluate(model):
        d = data()
        return {"test accuracy": accuracy(model, d["x_test"], d["y_test"]),
                "validation accuracy": validate(model)[1]}

    def check(model):
        d, idx = data(), subset(500)
        probs = M.classifier_outputs(model, d["x_test"][idx])[1]
        return "mean -log p(true label | x), 500 fixed test digits", float(
            -np.log(probs[np.arange(len(idx)), d["y_test"][idx]] + 1e-12).mean())

    register(Spec("classifier", ("08a_evaluation",),
                  "the course's MNIST classifier (metrics.build_classifier): reads every generated digit",
                  epochs, 3, {"batch_size": batch, "peak_lr": lr, "schedule": "cosine to 5%",
                              "train images": "55,000 (the validation split held out)"},
                  build, compile_, fit_epoch, size(55_000, TINY_SPLITS["fit"]), validate, evaluate, check))


# -- 03's four autoencoders -------------------------------------------------------------

def _autoencoder_specs(register, tiny=False):
    from course_lib import autoencoders as ae
    from course_lib.data import add_noise, flatten

    data, subset, size = _recipe_tools(tiny)
    lr, noise = 4e-3, 0.5
    recipes = {  # name: (builder, epochs, batch, dense?, denoising?, budget minutes)
        "ae_simple": (ae.simple_autoencoder, 50, 256, True, False, 3),
        "ae_deep": (ae.deep_sparse_autoencoder, 50, 256, True, False, 3),
        "ae_conv": (ae.conv_autoencoder, 20, 64, False, False, 5),
        "ae_denoising": (ae.denoising_autoencoder, 20, 64, False, True, 5),
    }

    def make(name, builder, epochs, batch, dense, denoising, minutes):
        epochs = size(epochs, 1)
        layout = flatten if dense else (lambda x: x[..., None])

        def compile_(model):
            schedule = keras.optimizers.schedules.CosineDecay(
                lr, epochs * _steps(len(data()["x_fit"]), batch), alpha=0.05)
            model.compile(optimizer=keras.optimizers.Adam(schedule), loss="binary_crossentropy")

        def fit_epoch(model, epoch):
            x = layout(data()["x_fit"])
            x_in = add_noise(x, noise, seed=epoch) if denoising else x   # fresh noise every epoch
            return _last(model.fit(x_in, x, batch_size=batch, epochs=1, shuffle=True, verbose=0))

        def bce(model, x, seed):
            x = layout(x)
            return ae.reconstruction_losses(model, add_noise(x, noise, seed=seed) if denoising else x, x)["bce"]

        def validate(model):
            return "validation BCE", bce(model, data()["x_val"], seed=1)

        def evaluate(model):
            x = layout(data()["x_test"])
            noisy = add_noise(x, noise, seed=0)                   # 03's test noise
            test = ae.reconstruction_losses(model, noisy if denoising else x, x)
            return {"test BCE": test["bce"], "test MSE": test["mse"],
                    "BCE from noisy": ae.reconstruction_losses(model, noisy, x)["bce"],
                    "validation BCE": validate(model)[1], "code floats": ae.code_size(model),
                    "params": model.count_params()}

        def check(model):
            return "BCE on 200 fixed test digits", bce(model, data()["x_test"][subset()], seed=0)

        register(Spec(name, ("03_autoencoders", "08a_evaluation", "08b_evaluation") if name == "ae_simple" else ("03_autoencoders",),
                      builder.__doc__.strip().splitlines()[0], epochs, minutes,
                      {"batch_size": batch, "peak_lr": lr, "optimizer": "Adam, cosine to 5%",
                       "noise_factor": noise if denoising else None, "train images": "55,000"},
                      builder, compile_, fit_epoch, size(55_000, TINY_SPLITS["fit"]), validate, evaluate, check))

    for name, recipe in recipes.items():
        make(name, *recipe)


# -- 04's and 05's VAEs ---------------------------------------------------------------

def _vae_specs(register, tiny=False):
    from course_lib import vae as V
    from course_lib.data import binarized_batches, flatten, one_hot

    data, subset, size = _recipe_tools(tiny)
    batch, decoder_hidden, k_test = 100, (512, 512), 1000
    recipes = {  # name: (latent_dim, conditional?, epochs, budget minutes)
        "vae_d2": (2, False, 300, 30),
        "vae_d20": (20, False, 300, 30),
        "cvae_d2": (2, True, 300, 30),
    }

    def make(name, latent, conditional, epochs, minutes):
        epochs = size(epochs, 1)

        def build():
            return V.build_vae(latent_dim=latent, hidden=512, num_classes=10 if conditional else None,
                               decoder_hidden=decoder_hidden, reconstruction="bce")

        def compile_(model):
            model.compile(optimizer=V.make_optimizer(epochs, _steps(len(data()["x_fit"]), batch)), jit_compile=True)

        def fit_epoch(model, epoch):
            d = data()
            labels = one_hot(d["y_fit"]) if conditional else None
            batches = binarized_batches(flatten(d["x_fit"]), batch, labels=labels, seed=epoch)
            return _last(model.fit(batches, epochs=1, verbose=0))

        def labels_of(y):
            return one_hot(y) if conditional else None

        def validate(model):
            d = data()
            return "validation -ELBO (nats)", float(-V.elbo(model, d["x_val_bin"][:2000],
                                                         labels_of(d["y_val"][:2000]), num_samples=1).mean())

        def evaluate(model):
            d = data()
            c = labels_of(d["y_test"])
            log_p = V.iwae_log_likelihood(model, d["x_test_bin"], c, k=size(k_test, 4), seed=0)
            return {f"test NLL (nats, IWAE k={k_test}, 10,000 digits)": float(-log_p.mean()),
                    "test -ELBO (nats, 10 samples)": float(-V.elbo(model, d["x_test_bin"], c, num_samples=10).mean()),
                    "validation -ELBO (nats)": validate(model)[1]}

        def check(model):
            d, idx = data(), subset()
            return "IWAE k=10 NLL (nats), 200 fixed test digits", float(
                -V.iwae_log_likelihood(model, d["x_test_bin"][idx], labels_of(d["y_test"][idx]), k=10, seed=0).mean())

        register(Spec(name, ("05_cvae", "08a_evaluation", "08b_evaluation") if conditional else ("04a_vae", "04b_vae_likelihood", "05_cvae")
                      if latent == 2 else ("04b_vae_likelihood", "08a_evaluation", "08b_evaluation"),
                      f"{'conditional ' if conditional else ''}VAE, latent d={latent}, encoder 512, decoder 512-512, "
                      "Bernoulli decoder", epochs, minutes,
                      {"latent_dim": latent, "decoder_hidden": decoder_hidden, "batch_size": batch,
                       "optimizer": "vae.make_optimizer (Adam 3e-3, cosine to 5%)",
                       "data": "dynamically binarized, 55,000 digits"},
                      build, compile_, fit_epoch, size(55_000, TINY_SPLITS["fit"]), validate, evaluate, check,
                      check_tolerance=1e-3))

    for name, recipe in recipes.items():
        make(name, *recipe)


# -- 06's PixelCNNs ---------------------------------------------------------------------

PIXELCNN_SIZES = dict(filters=48, hidden_layers=8, first_kernel=7, hidden_kernel=5, head_units=128)
TINY_PIXELCNN_SIZES = dict(PIXELCNN_SIZES, filters=8, hidden_layers=1, head_units=8)     # a tiny run's


def _pixelcnn_specs(register, tiny=False):
    from course_lib import pixelcnn as P
    from course_lib.data import binarized_batches, flatten, one_hot
    from course_lib.vae import make_optimizer

    data, subset, size = _recipe_tools(tiny)
    batch, sizes = 32, size(PIXELCNN_SIZES, TINY_PIXELCNN_SIZES)
    rows_seen = sizes["first_kernel"] // 2 + sizes["hidden_layers"] * (sizes["hidden_kernel"] // 2)
    # Budgets: pixelcnn_binary's 12 epochs took 60 min on the host that trained it (202 images/s);
    # on a slower host of the same 2-core kind (2026-12-01) the same network trains at about 80
    # images/s, 11 min an epoch, so the later recipes are cut to what fits 60 min there.
    recipes = {  # name: (kind, conditional?, epochs, peak lr, budget minutes)
        "pixelcnn_binary": ("binary", False, 12, 3e-3, 60),
        "pixelcnn_conditional": ("binary", True, 5, 3e-3, 60),
        "pixelcnn_8bit": ("categorical", False, 4, 3e-3, 60),
    }

    def make(name, kind, conditional, epochs, peak_lr, minutes):
        epochs = size(epochs, 1)

        def build():
            return P.build_pixelcnn(kind, num_classes=10 if conditional else None, **sizes)

        def compile_(model):
            model.compile(optimizer=make_optimizer(epochs, _steps(len(data()["x_fit"]), batch), peak_lr=peak_lr))

        def fit_epoch(model, epoch):
            d = data()
            if kind == "binary":
                labels = one_hot(d["y_fit"]) if conditional else None
                batches = binarized_batches(flatten(d["x_fit"]), batch, labels=labels, seed=epoch)
                return _last(model.fit(batches, epochs=1, verbose=0))
            return _last(model.fit(d["x_fit_u8"], batch_size=batch, epochs=1, shuffle=True, verbose=0))

        def score(model, which, idx=None):
            d = data()
            x = d[f"x_{which}_bin"].reshape(-1, 28, 28) if kind == "binary" else d[f"x_{which}_u8"]
            y = d[f"y_{which}"]
            if idx is not None:
                x, y = x[idx], y[idx]
            log_p = P.log_prob(model, x, one_hot(y) if conditional else None)
            return float(-log_p.mean()) if kind == "binary" else float(P.bits_per_dim(log_p).mean())

        unit = "nats" if kind == "binary" else "bits/dim"
        given = " given c" if conditional else ""

        def draw(model, wanted, seed):
            # compiled even in a tiny run: run eagerly, its 784 steps cost more than compiling them
            with _functions_eager(False) if tiny else contextlib.nullcontext():
                return P.sample(model, len(wanted), labels=one_hot(wanted), seed=seed, progress=False)

        def validate(model):
            return f"validation NLL{given} ({unit}, 1,000 digits)", score(model, "val", np.arange(size(1000, 8)))

        def evaluate(model):
            out = {f"test NLL{given} ({unit}, 10,000 digits)": score(model, "test"),
                   "validation NLL": score(model, "val"),
                   "receptive field rows": P.receptive_field_rows(model), "params": model.count_params()}
            if conditional:
                from course_lib import metrics as M

                classifier = _need("classifier")
                wanted = np.repeat(np.arange(10), size(100, 1))
                t = time.perf_counter()
                samples = draw(model, wanted, seed=0)
                out["sampling seconds (1,000 digits, fast sampler)"] = time.perf_counter() - t
                read = M.classifier_outputs(classifier, samples)[1].argmax(1)
                out["samples recognised as the requested digit (classifier, 1,000 samples)"] = float(
                    (read == wanted).mean())
            return out

        def check(model):
            return f"NLL{given} ({unit}), 200 fixed test digits", score(model, "test", subset())

        def tracked(model):   # is the label obeyed yet? 50 samples of each digit, read by the classifier
            from course_lib import metrics as M

            wanted = np.repeat(np.arange(10), size(50, 1))
            samples = draw(model, wanted, seed=1)
            read = M.classifier_outputs(_need("classifier"), samples)[1].argmax(1)
            return {"samples recognised as the requested digit (classifier, 500 samples)": float((read == wanted).mean())}

        register(Spec(name, {"pixelcnn_binary": ("06a_pixelcnn", "06b_pixelcnn_conditional", "08a_evaluation",
                                                 "08b_evaluation"),
                             "pixelcnn_conditional": ("06b_pixelcnn_conditional",),
                             "pixelcnn_8bit": ("06a_pixelcnn", "06d_likelihood_ood", "09_flows")}[name],
                      f"{'class-conditional ' if conditional else ''}{kind} PixelCNN, "
                      f"{sizes['hidden_layers']} residual 5x5 masked layers of "
                      f"{sizes['filters']} filters (sees {rows_seen} rows up)", epochs, minutes,
                      {**sizes, "kind": kind, "batch_size": batch, "peak_lr": peak_lr,
                       "optimizer": "vae.make_optimizer (Adam, cosine to 5%)",
                       "data": "dynamically binarized" if kind == "binary" else "8-bit levels",
                       "train images": "55,000"},
                      build, compile_, fit_epoch, size(55_000, TINY_SPLITS["fit"]), validate, evaluate, check,
                      needs=("classifier",) if conditional else (), tracked=tracked if conditional else None))

    for name, recipe in recipes.items():
        make(name, *recipe)


# -- 07's GANs --------------------------------------------------------------------------

def _gan_specs(register, tiny=False):
    from course_lib import gan as G
    from course_lib import metrics as M
    from course_lib.data import one_hot

    data, subset, size = _recipe_tools(tiny)
    batch, latent = 128, 64
    recipes = {  # name: (conditional?, epochs, budget minutes)
        "dcgan": (False, 30, 25),      # FID 21.9, below half of 07's lecture run (`baseline`: 45.9)
        "cgan": (True, 30, 12),
    }
    lecture_epochs = {"dcgan": size(4, 1), "cgan": size(2, 1)}   # 07's EPOCHS and EPOCHS_COND in the lecture profile

    def make(name, conditional, epochs, minutes):
        epochs = size(epochs, 1)

        def build():
            return G.build_gan(latent, num_classes=10 if conditional else None, seed=0)

        def compile_(model):
            model.compile(*G.dcgan_optimizers(conditional=conditional))

        def fit_epoch(model, epoch):
            d = data()
            x = d["x_fit"][..., None]
            y = one_hot(d["y_fit"]) if conditional else None
            return _last(model.fit(x, y, batch_size=batch, epochs=1, shuffle=True, verbose=0))

        def samples(model, n, seed):
            labels = np.arange(n) % 10
            images = model.generate(n, labels=one_hot(labels) if conditional else None, seed=seed)[..., 0]
            return images, labels

        def fid_against(model, real, n, seed):
            classifier = _need("classifier")
            fake = M.classifier_outputs(classifier, samples(model, n, seed)[0])[0]
            return float(M.fid(fake, M.classifier_outputs(classifier, real)[0]))

        def recognised(model, n, seed):
            images, wanted = samples(model, n, seed)
            return float((M.classifier_outputs(_need("classifier"), images)[1].argmax(1) == wanted).mean())

        def validate(model):
            return "classifier-FID, 5,000 samples vs the 5,000 validation digits", fid_against(
                model, data()["x_val"], size(5000, 32), seed=1)

        def evaluate(model):
            d = data()
            out = {"classifier-FID, 10,000 samples vs the 10,000 test digits":
                   fid_against(model, d["x_test"], size(10_000, 32), seed=0),
                   "validation classifier-FID (5,000)": validate(model)[1]}
            if conditional:
                out["samples recognised as the requested digit (classifier, 10,000 samples)"] = recognised(
                    model, size(10_000, 32), seed=0)
            return out

        def check(model):
            if conditional:
                return "share recognised, 500 samples", recognised(model, size(500, 32), seed=0)
            return "classifier-FID, 500 samples vs 500 fixed test digits", fid_against(
                model, data()["x_test"][subset(500)], size(500, 32), seed=0)

        register(Spec(name, ("07_gan", "07b_wgan", "08a_evaluation", "08b_evaluation") if name == "dcgan" else ("07_gan", "08a_evaluation", "08b_evaluation"),
                      f"{'conditional ' if conditional else ''}DCGAN of 07 (gan.build_gan, z of size {latent})",
                      epochs, minutes,
                      {"latent_dim": latent, "batch_size": batch, "optimizer": "gan.dcgan_optimizers "
                       f"(Adam lr {G.CONDITIONAL_DCGAN_LEARNING_RATE if conditional else G.DCGAN_LEARNING_RATE}, "
                       f"beta_1 {G.DCGAN_BETA_1})", "train images": "55,000"},
                      build, compile_, fit_epoch, size(55_000, TINY_SPLITS["fit"]), validate, evaluate, check,
                      check_tolerance=1e-2, needs=("classifier",), keep_best=True,
                      baseline=(lecture_epochs[name], f"07's lecture profile: {lecture_epochs[name]} epochs, "
                                "the last one kept")))

    for name, recipe in recipes.items():
        make(name, *recipe)


# -- 07's toy GANs: the ring of 8 Gaussians (collapse, PacGAN, learning rates) and two modes --

RING = dict(n=20_000, modes=8, radius=2.0, std=0.02, seed=0)


def _toy_specs(register, tiny=False):
    from course_lib import gan as G

    _, _, size = _recipe_tools(tiny)
    snapshot_every, n_snapshot = size(500, 1), size(2000, 64)
    recipes = {  # name: (steps, latent_dim, pack, lr, what it shows)
        "ring_vanilla": (4000, 64, 1, 1e-3, "mode collapse"),
        "ring_pacgan": (4000, 64, 4, 1e-3, "PacGAN's remedy"),
        "ring_lr_1e-4": (3000, 2, 1, 1e-4, "learning-rate sweep"),
        "ring_lr_1e-3": (3000, 2, 1, 1e-3, "learning-rate sweep"),
        "ring_lr_1e-2": (3000, 2, 1, 1e-2, "learning-rate sweep"),
    }

    def make(name, steps, latent, pack, lr, shows):
        steps = size(steps, 2)
        recorded = {}
        points, centres = G.ring_of_gaussians(RING["n"], RING["modes"], RING["radius"], RING["std"], RING["seed"])

        def fit_epoch(model, epoch):                      # one "epoch" = the whole run (under a minute)
            # 07's own call, seeds and all, so the recording is the run the lecture profile makes
            trained, snaps = G.train_toy_gan(points, steps=steps, latent_dim=latent, lr=lr, pack=pack,
                                             snapshot_every=snapshot_every, n_snapshot=n_snapshot, seed=0)
            model.set_weights(trained.get_weights())
            recorded["steps"] = np.array([step for step, _, _ in snaps])
            recorded["samples"] = np.stack([samples for _, samples, _ in snaps]).astype("float32")
            return {k: float(v[-1]) for k, v in snaps[-1][2].items()}

        def coverage(model, seed):
            n_covered, quality, _ = G.mode_coverage(model.generate(n_snapshot, seed=seed), centres, std=RING["std"])
            return n_covered, quality

        def validate(model):
            return "modes covered (3 sd), 2,000 samples", coverage(model, 1)[0]

        def evaluate(model):
            n_covered, quality = coverage(model, 0)
            return {"modes covered at the end (3 sd)": n_covered, "share of samples within 3 sd of a mode": quality}

        def check(model):
            return "share of 2,000 samples within 3 sd of a mode", coverage(model, 0)[1]

        shown_in = {"ring_vanilla": ("07_gan", "07b_wgan", "10_diffusion"), "ring_pacgan": ("07_gan", "10_diffusion")}
        register(Spec(name, shown_in.get(name, ("07_gan",)),
                      f"ring of 8 Gaussians, {shows}: MLP GAN, z of size {latent}"
                      + (f", pack {pack}" if pack > 1 else "") + f", Adam {lr:g}, {steps} steps", 1, 2,
                      {"steps": steps, "latent_dim": latent, "pack": pack, "lr": lr, "batch_size": 512,
                       "snapshot_every": snapshot_every, "data": f"gan.ring_of_gaussians({RING})"},
                      lambda: G.toy_gan(2, latent, pack, seed=0),
                      lambda model: G.compile_toy_gan(model, lr, snapshot_every=snapshot_every),
                      fit_epoch, steps * 512 * pack, validate, evaluate, check,
                      artifacts=lambda: dict(recorded)))

    for name, recipe in recipes.items():
        make(name, *recipe)

    bimodal_epochs, bimodal_n = size(40, 1), size(20_000, 256)

    def bimodal_fit(model, epoch):
        points = G.two_modes()[:bimodal_n, None].astype("float32")
        return _last(model.fit(points, batch_size=256, epochs=1, verbose=0))

    def bimodal_moments(model):
        x = model.generate(bimodal_n, seed=0)[:, 0]
        return float(x.mean()), float(x.std())

    register(Spec("bimodal_gan", ("07_gan",), "one Gaussian (a linear G of a 1-D z) fitted by a GAN to two modes",
                  bimodal_epochs, 2, {"epochs": bimodal_epochs, "batch_size": 256, "lr": 1e-3, "data": "gan.two_modes()"},
                  lambda: G.GAN(G.build_mlp_generator(latent_dim=1, depth=0, output_dim=1),
                                G.build_mlp_discriminator(input_dim=1), seed=0),
                  lambda model: model.compile(keras.optimizers.Adam(1e-3, beta_1=0.5),
                                              keras.optimizers.Adam(1e-3, beta_1=0.5)),
                  bimodal_fit, bimodal_n, lambda m: ("sd of G's samples", bimodal_moments(m)[1]),
                  lambda m: dict(zip(("mean of G's samples", "sd of G's samples"), bimodal_moments(m))),
                  lambda m: ("mean of 20,000 samples", bimodal_moments(m)[0])))


# -- 09's normalizing flow ---------------------------------------------------------------

def _flow_specs(register, tiny=False):
    from course_lib import flows as F

    data, subset, size = _recipe_tools(tiny)
    epochs, batch, peak_lr = size(6, 1), 64, 1e-3
    sizes = size(F.MNIST_SIZES, dict(F.MNIST_SIZES, couplings=2, hidden=8))

    def build():
        model = F.RealNVP((28, 28, 1), **sizes)
        model(np.zeros((1, 28, 28, 1), "float32"))
        return model

    def compile_(model):
        model.compile(optimizer=F.make_optimizer(epochs, _steps(len(data()["x_fit_u8"]), batch), peak_lr=peak_lr))

    def fit_epoch(model, epoch):
        y = F.to_logit(F.dequantize(data()["x_fit_u8"], seed=epoch))[0]    # fresh noise every epoch
        return _last(model.fit(y, batch_size=batch, epochs=1, shuffle=True, verbose=0))

    def score(model, which, idx=None):
        x = data()[f"x_{which}_u8"]
        x = x if idx is None else x[idx]
        return float(F.bits_per_dim(F.log_prob_8bit(model, x, seed=7)).mean())

    register(Spec("flow_mnist", ("09_flows", "08a_evaluation", "08b_evaluation"),
                  f"RealNVP, multiscale: {sizes['couplings']} affine couplings at each of 3 scales, "
                  f"s/t networks of {sizes['hidden']} channels", epochs, 25,
                  {**sizes, "batch_size": batch, "peak_lr": peak_lr,
                   "optimizer": "flows.make_optimizer (Adam, cosine to 5%, global clipnorm 100)",
                   "data": "8-bit levels, dequantized afresh each epoch, logit", "train images": "55,000"},
                  build, compile_, fit_epoch, size(55_000, TINY_SPLITS["fit"]),
                  lambda m: ("validation bits/dim (1,000 digits)", score(m, "val", np.arange(size(1000, 8)))),
                  lambda m: {"test bits/dim (10,000 digits, one dequantization each)": score(m, "test"),
                             "validation bits/dim": score(m, "val"), "params": m.count_params()},
                  lambda m: ("bits/dim, 200 fixed test digits", score(m, "test", subset()))))


# -- 07b's Wasserstein GANs ---------------------------------------------------------------

WGAN_RING_STEPS = 4000          # generator steps, as ring_vanilla's


def _wgan_specs(register, tiny=False):
    from course_lib import gan as G
    from course_lib import metrics as M
    from course_lib import wgan as W

    data, subset, size = _recipe_tools(tiny)
    # the ring: 07's vanilla GAN's data, networks (z of size 64), Adam rate and generator steps
    snapshot_every, n_snapshot, n_critic, ring_steps = size(500, 1), size(2000, 64), 5, size(WGAN_RING_STEPS, 2)
    points, centres = G.ring_of_gaussians(RING["n"], RING["modes"], RING["radius"], RING["std"], RING["seed"])
    recorded = {}

    def ring_fit(model, epoch):
        trained, snaps = W.train_toy_wgan(points, steps=ring_steps, latent_dim=64, lr=1e-3, n_critic=n_critic,
                                          snapshot_every=snapshot_every, n_snapshot=n_snapshot, seed=0)
        model.set_weights(trained.get_weights())
        recorded["steps"] = np.array([step for step, _, _ in snaps])
        recorded["samples"] = np.stack([samples for _, samples, _ in snaps]).astype("float32")
        recorded["w_estimate"] = np.array([float(h["w_estimate"][-1]) for _, _, h in snaps])
        return {k: float(v[-1]) for k, v in snaps[-1][2].items()}

    def coverage(model, seed):
        return G.mode_coverage(model.generate(n_snapshot, seed=seed), centres, std=RING["std"])[:2]

    register(Spec("ring_wgan", ("07b_wgan",),
                  f"ring of 8 Gaussians, WGAN-GP: 07's MLP networks, z of size 64, Adam 1e-3 (0.5, 0.9), "
                  f"{n_critic} critic steps per generator step, {ring_steps} generator steps", 1, 2,
                  {"steps": ring_steps, "latent_dim": 64, "n_critic": n_critic, "gp_weight": 10.0, "lr": 1e-3,
                   "batch_size": 512, "snapshot_every": snapshot_every, "data": f"gan.ring_of_gaussians({RING})"},
                  lambda: W.toy_wgan(2, 64, n_critic, seed=0),
                  lambda model: model.compile(*W.wgan_optimizers(1e-3)),
                  ring_fit, ring_steps * 512, lambda m: ("modes covered (3 sd), 2,000 samples", coverage(m, 1)[0]),
                  lambda m: dict(zip(("modes covered at the end (3 sd)", "share of samples within 3 sd of a mode"),
                                     coverage(m, 0))),
                  lambda m: ("share of 2,000 samples within 3 sd of a mode", coverage(m, 0)[1]),
                  artifacts=lambda: dict(recorded)))

    # MNIST: 07's DCGAN networks, trained for about as long as the dcgan checkpoint
    epochs, batch, latent = size(WGAN_MNIST_EPOCHS, 1), 128, 64

    def fid_against(model, real, n, seed):
        classifier = _need("classifier")
        fake = M.classifier_outputs(classifier, model.generate(n, seed=seed)[..., 0])[0]
        return float(M.fid(fake, M.classifier_outputs(classifier, real)[0]))

    def fit_epoch(model, epoch):
        logs = _last(model.fit(data()["x_fit"][..., None], batch_size=batch, epochs=1, shuffle=True, verbose=0))
        # the critic's estimate on digits it never trained on, the curve 07b plots against FID
        logs["held-out w_estimate"] = W.critic_estimate(model, data()["x_val"][:2000, ..., None], seed=epoch)
        return logs

    def validate(model):
        return "classifier-FID, 5,000 samples vs the 5,000 validation digits", fid_against(
            model, data()["x_val"], size(5000, 32), seed=1)

    register(Spec("wgan_mnist", ("07b_wgan", "08a_evaluation", "08b_evaluation"),
                  f"WGAN-GP with 07's DCGAN networks (wgan.build_wgan, z of size {latent}), trained about as long "
                  "as the dcgan checkpoint", epochs, 12,
                  {"latent_dim": latent, "batch_size": batch, "n_critic": 5, "gp_weight": 10.0,
                   "optimizer": f"wgan.wgan_optimizers (Adam lr {W.WGAN_LEARNING_RATE:g}, betas {W.WGAN_BETAS})",
                   "train images": "55,000 (each real batch serves the 5 critic steps of one generator step)"},
                  lambda: W.build_wgan(latent, seed=0), lambda model: model.compile(*W.wgan_optimizers()),
                  fit_epoch, size(55_000, TINY_SPLITS["fit"]), validate,
                  lambda m: {"classifier-FID, 10,000 samples vs the 10,000 test digits":
                             fid_against(m, data()["x_test"], size(10_000, 32), seed=0),
                             "validation classifier-FID (5,000)": validate(m)[1]},
                  lambda m: ("classifier-FID, 500 samples vs 500 fixed test digits",
                             fid_against(m, data()["x_test"][subset(500)], size(500, 32), seed=0)),
                  check_tolerance=1e-2, needs=("classifier",), keep_best=True))


# -- 10's diffusion model ------------------------------------------------------------------

WGAN_MNIST_EPOCHS = 3             # about the dcgan checkpoint's 9 minutes: an epoch takes about 3.5 min (five critic steps per batch)
DIFFUSION_CURVE_STEPS = (5, 10, 20, 50, 100)      # the steps-vs-FID curve of the manifest (DDIM, eta 0 and 1)


def _diffusion_specs(register, tiny=False):
    from course_lib import diffusion as D
    from course_lib import metrics as M

    data, subset, size = _recipe_tools(tiny)
    epochs, batch, peak_lr, filters, T, n_curve = size(10, 1), 128, 1e-3, size(32, 8), size(1000, 10), 500
    warmup, curve_steps = size(200, 1), size(DIFFUSION_CURVE_STEPS, (2,))
    ddim_steps, check_steps = size(20, 2), size(10, 2)            # DDIM-20 for the figures, DDIM-10 for the check
    n_val, n_test, n_check, n_curve_run = size(1000, 16), size(10_000, 16), size(200, 16), size(n_curve, 16)
    name = "diffusion_mnist"

    def build():
        return D.Diffusion(D.build_unet(filters=filters), T=T, schedule="linear")

    def compile_(model):
        steps = epochs * _steps(len(data()["x_fit"]), batch)
        schedule = keras.optimizers.schedules.CosineDecay(0.0, max(steps - warmup, 1), alpha=0.02,
                                                          warmup_target=peak_lr, warmup_steps=warmup)
        model.compile(optimizer=keras.optimizers.Adam(schedule, global_clipnorm=1.0))

    def fit_epoch(model, epoch):
        logs = _last(model.fit(D.to_model_range(data()["x_fit"]), batch_size=batch, epochs=1, shuffle=True,
                               verbose=0))
        work = _run_directory() / ".work" / name       # samples of fixed starts after every epoch, kept on resume
        np.save(work / f"samples_epoch{epoch + 1:02d}.npy",
                D.to_pixels(D.ddim_sample(model.denoiser, model.schedule, size(10, 2), (28, 28, 1), steps=ddim_steps,
                                          seed=0)))
        return logs

    def artifacts():
        files = sorted((_run_directory() / ".work" / name).glob("samples_epoch*.npy"))
        return {"epochs": np.array([int(f.stem[-2:]) for f in files]),
                "samples": np.stack([np.load(f) for f in files]).astype("float32")}

    def fid_of(images, real):
        classifier = _need("classifier")
        return float(M.fid(M.classifier_outputs(classifier, images)[0], M.classifier_outputs(classifier, real)[0]))

    def sample(model, n, steps, eta=0.0, seed=0):
        return D.to_pixels(D.ddim_sample(model.denoiser, model.schedule, n, (28, 28, 1), steps=steps, eta=eta,
                                         seed=seed, batch_size=500))

    def validate(model):
        return "classifier-FID, 1,000 DDIM-20 samples vs 1,000 validation digits", fid_of(
            sample(model, n_val, ddim_steps, seed=1), data()["x_val"][:n_val])

    def evaluate(model):
        d = data()
        real = d["x_test"][subset(n_curve, seed=7)]
        curve = []
        for eta in (0.0, 1.0):
            for steps in curve_steps:
                t = time.perf_counter()
                images = sample(model, n_curve_run, steps, eta, seed=3)
                curve.append({"sampler": "DDIM (eta 0)" if eta == 0 else "strided DDPM (eta 1)", "steps": steps,
                              "seconds per 1,000 images": round((time.perf_counter() - t) * 1000 / n_curve_run, 1),
                              "FID": fid_of(images, real)})
        t = time.perf_counter()
        images = D.to_pixels(D.ddpm_sample(model.denoiser, model.schedule, n_curve_run, (28, 28, 1), seed=3,
                                           batch_size=500)[0])
        curve.append({"sampler": "DDPM (ancestral, all T)", "steps": T,
                      "seconds per 1,000 images": round((time.perf_counter() - t) * 1000 / n_curve_run, 1),
                      "FID": fid_of(images, real)})
        return {"classifier-FID, 10,000 DDIM-20 samples vs the 10,000 test digits":
                fid_of(sample(model, n_test, ddim_steps, seed=0), d["x_test"]),
                "validation classifier-FID (DDIM-20, 1,000)": validate(model)[1],
                f"steps vs classifier-FID ({n_curve:,} samples vs {n_curve:,} random test digits)": curve,
                "params": model.denoiser.count_params()}

    def check(model):
        return "classifier-FID, 200 DDIM-10 samples vs 200 fixed test digits", fid_of(
            sample(model, n_check, check_steps, seed=0), data()["x_test"][subset(200)])

    register(Spec(name, ("10_diffusion", "08a_evaluation", "08b_evaluation"),
                  f"DDPM, eps-prediction U-Net (diffusion.build_unet, {filters} filters), linear schedule, T={T}",
                  epochs, 60,
                  {"filters": filters, "T": T, "schedule": "linear 1e-4..0.02", "batch_size": batch,
                   "optimizer": f"Adam, 200 warm-up steps to {peak_lr:g}, cosine to 2%, global clipnorm 1",
                   "loss": "simple (MSE of eps)", "data": "pixels scaled to [-1, 1]", "train images": "55,000"},
                  build, compile_, fit_epoch, size(55_000, TINY_SPLITS["fit"]), validate, evaluate, check,
                  check_tolerance=1e-2, needs=("classifier",), artifacts=artifacts))


_FACTORIES = (_classifier_specs, _autoencoder_specs, _vae_specs, _pixelcnn_specs, _gan_specs, _toy_specs,
              _flow_specs, _wgan_specs, _diffusion_specs)


def _build_specs(tiny=False):
    specs = {}

    def register(spec):
        spec.tiny = tiny
        specs[spec.name] = spec

    for make in _FACTORIES:
        make(register, tiny)
    return specs


SPECS = _build_specs()
_TINY_SPECS = {}


def tiny_specs():
    """Every spec of ``SPECS`` at tiny sizes: the same recipe (code, architecture, figures) on a few
    dozen digits (``TINY_SPLITS``), one epoch (a run of a few steps for the toy GANs), a handful of
    samples per figure. What ``train(name, tiny=True)`` runs; the figures' names stay the real ones."""
    if not _TINY_SPECS:
        _TINY_SPECS.update(_build_specs(tiny=True))
    return _TINY_SPECS


# ---------------------------------------------------------------------------------------
# Training, resumable
# ---------------------------------------------------------------------------------------

def _optimizers(model):
    if hasattr(model, "d_optimizer"):                              # a GAN: two optimizers
        return [(model.d_optimizer, model.discriminator), (model.g_optimizer, model.generator)]
    return [(model.optimizer, model)]


def _state_variables(model):
    """Every variable training changes: the model's, then each optimizer's (built first)."""
    variables = list(model.variables)
    for optimizer, part in _optimizers(model):
        if not optimizer.built:
            optimizer.build(part.trainable_variables)
        variables += list(optimizer.variables)
    return variables


def _save_state(model, work, state):
    values = [np.asarray(v.numpy()) for v in _state_variables(model)]
    tmp = work / "variables.tmp.npz"
    np.savez(tmp, *values)
    os.replace(tmp, work / "variables.npz")
    _write_json(work / "state.json", state)


def _restore_state(model, work):
    variables = _state_variables(model)
    with np.load(work / "variables.npz") as stored:
        values = [stored[f"arr_{i}"] for i in range(len(stored.files))]
    if len(values) != len(variables) or any(v.shape != tuple(var.shape) for v, var in zip(values, variables)):
        raise CheckpointError(f"the saved training state in {work} does not fit this model "
                              "(the code changed since): delete that folder to start again.")
    for var, value in zip(variables, values):
        var.assign(value)


def git_commit():
    try:
        commit = subprocess.run(["git", "rev-parse", "HEAD"], cwd=ROOT, capture_output=True, text=True,
                                check=True).stdout.strip()
        dirty = subprocess.run(["git", "status", "--porcelain", "--", "course_lib"], cwd=ROOT,
                               capture_output=True, text=True, check=True).stdout.strip()
        return commit + ("+uncommitted course_lib changes" if dirty else "")
    except (OSError, subprocess.CalledProcessError):
        return "unknown"


def train(name, max_minutes=None, fresh=False, directory=None, log=print, tiny=False):
    """Train checkpoint ``name`` to its budget, resuming from ``.work/`` if a run stopped.

    ``max_minutes`` stops after the epoch that crosses it (the state is saved; run again
    to go on). ``fresh`` discards a saved state. When all epochs are done, the model is
    scored, saved without optimizer state, and entered in the manifest.

    ``tiny`` runs the recipe at tiny sizes (``tiny_specs``): its whole path in seconds, for tests;
    it needs a ``directory`` (or ``$COURSE_CHECKPOINT_DIR``) other than the repository's checkpoints/.
    """
    specs = tiny_specs() if tiny else SPECS
    if name not in specs:
        raise CheckpointError(f"unknown checkpoint {name!r}; known: {', '.join(specs)}.")
    spec = specs[name]
    directory = Path(directory or checkpoint_dir())
    if tiny and directory.resolve() == (ROOT / "checkpoints").resolve():
        raise CheckpointError(f"a tiny run writes no checkpoint into {directory}: give it another directory "
                              f"(directory=..., or ${DIR_VAR}).")
    read_manifest(directory)                                     # a corrupt manifest fails now, not after an hour
    for need in spec.needs:
        path_of(need, directory)                                 # fail now, not after an hour
    # A tiny run executes every tf.function (Keras' train and predict steps, most samplers) eagerly:
    # one step on a tiny model does not repay tracing it into a graph (seconds per model).
    with _running_in(directory), (_functions_eager(True) if tiny else contextlib.nullcontext()):
        return _train(spec, max_minutes, fresh, directory, log)


@contextlib.contextmanager
def _functions_eager(on):
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


def _train(spec, max_minutes, fresh, directory, log):
    name = spec.name
    work = directory / ".work" / name
    work.mkdir(parents=True, exist_ok=True)
    keras.utils.set_random_seed(0)
    model = spec.build()
    spec.compile(model)
    state = {"epochs_done": 0, "images_seen": 0, "train_seconds": 0.0, "curve": [], "log": []}
    if (work / "state.json").exists() and not fresh:
        state = json.loads((work / "state.json").read_text())
        _restore_state(model, work)
        log(f"[{name}] resuming after epoch {state['epochs_done']}/{spec.epochs} "
            f"({state['train_seconds'] / 60:.1f} min trained)")
    else:
        log(f"[{name}] {spec.description}: {spec.epochs} epochs, budget about {spec.budget_minutes} min")
    start = time.perf_counter()
    while state["epochs_done"] < spec.epochs:
        epoch = state["epochs_done"]
        keras.utils.set_random_seed(1000 + epoch)                # the same batches, resumed or not
        t = time.perf_counter()
        logs = spec.fit_epoch(model, epoch)
        seconds = time.perf_counter() - t
        state["epochs_done"] += 1
        state["images_seen"] += spec.images_per_epoch
        state["train_seconds"] += seconds
        val_name, val = spec.validate(model)
        state["curve"].append({"epoch": epoch + 1, "train_seconds": round(state["train_seconds"], 1),
                               "images_seen": state["images_seen"], val_name: val,
                               **(spec.tracked(model) if spec.tracked else {})})
        state["log"].append({k: round(v, 5) for k, v in logs.items()})
        if spec.keep_best and (state.get("best") is None or val < state["best"]["value"]):
            state["best"] = {"epoch": epoch + 1, "value": val}
            np.savez(work / "best.npz", *[np.asarray(w) for w in model.get_weights()])
        _save_state(model, work, state)
        log(f"[{name}] epoch {epoch + 1}/{spec.epochs}  {seconds:.0f} s  "
            + "  ".join(f"{k} {v:.4g}" for k, v in logs.items())
            + f"  | {val_name} {val:.4g}  | {state['train_seconds'] / 60:.1f} min in all", flush=True)
        if max_minutes is not None and (time.perf_counter() - start) / 60 >= max_minutes \
                and state["epochs_done"] < spec.epochs:
            log(f"[{name}] stopped after {max_minutes} min; run the same command again to resume.")
            return None
    if spec.keep_best:
        with np.load(work / "best.npz") as stored:
            model.set_weights([stored[f"arr_{i}"] for i in range(len(stored.files))])
        log(f"[{name}] keeping epoch {state['best']['epoch']}, the best on the validation split")
    return finish(name, model, state, directory, log, spec=spec)


def baseline(name, directory=None, log=print):
    """Train ``name``'s recipe for the lecture profile's epochs only, score it with the spec's own
    ``evaluate`` (the manifest's protocol), and record it under ``baselines`` in the manifest:
    the figure a checkpoint's target is stated against (e.g. "half the lecture DCGAN's FID")."""
    spec = SPECS.get(name)
    if spec is None or spec.baseline is None:
        with_baseline = [n for n, s in SPECS.items() if s.baseline]
        raise CheckpointError(f"{name!r} has no lecture-profile baseline; these do: {', '.join(with_baseline)}.")
    directory = Path(directory or checkpoint_dir())
    read_manifest(directory)
    for need in spec.needs:
        path_of(need, directory)
    with _running_in(directory):
        return _baseline(spec, directory, log)


def _baseline(spec, directory, log):
    name = spec.name
    epochs, what = spec.baseline
    log(f"[{name} baseline] {what}", flush=True)
    keras.utils.set_random_seed(0)
    model = spec.build()
    spec.compile(model)
    start = time.perf_counter()
    for epoch in range(epochs):
        keras.utils.set_random_seed(1000 + epoch)                # the checkpoint's own first epochs
        spec.fit_epoch(model, epoch)
        log(f"[{name} baseline] epoch {epoch + 1}/{epochs}, {time.perf_counter() - start:.0f} s", flush=True)
    seconds = time.perf_counter() - start
    results = spec.evaluate(model)
    manifest = read_manifest(directory)
    manifest.setdefault("baselines", {})[name] = {
        "what": what, "epochs": epochs, "images_seen": epochs * spec.images_per_epoch,
        "train_minutes": round(seconds / 60, 1), "figures": results,
        "command": f"make checkpoints-baseline NAME={name}", "commit": git_commit(),
        "date": datetime.date.today().isoformat()}
    _write_manifest(directory, manifest)
    log(f"[{name} baseline] " + "; ".join(f"{k}: {_fmt(k, v)}" for k, v in results.items()))
    return manifest["baselines"][name]


def finish(name, model, state, directory, log=print, spec=None):
    """Score the trained ``model``, save it without optimizer state, enter it in the manifest."""
    spec = spec or SPECS[name]
    directory = Path(directory)
    log(f"[{name}] measuring the manifest's figures ...", flush=True)
    t = time.perf_counter()
    clean = spec.build()                                        # same architecture, never compiled
    clean.set_weights(model.get_weights())
    with _running_in(directory):
        results = spec.evaluate(clean)
        eval_seconds = time.perf_counter() - t
        path = directory / f"{name}.keras"
        clean.save(path)
        reloaded = keras.saving.load_model(path, compile=False, safe_mode=True)
        check_name, check_value = spec.check(reloaded)          # what the CI test recomputes
        extra = None
        if spec.artifacts is not None:                          # what the run recorded, e.g. snapshots
            extra_path = directory / f"{name}.npz"
            np.savez(extra_path, **spec.artifacts())
            extra = {"file": extra_path.name, "bytes": extra_path.stat().st_size, "sha256": sha256(extra_path)}
    command = f"python -m course_lib.checkpoints train --tiny {name}" if spec.tiny else \
        f"make checkpoints NAME={name}"
    manifest = read_manifest(directory)
    manifest.setdefault("models", {})[name] = {
        "file": path.name, "bytes": path.stat().st_size, "sha256": sha256(path),
        "description": spec.description, "notebooks": list(spec.notebooks),
        "command": command, "settings": spec.settings,
        "epochs": spec.epochs, "images_seen": state["images_seen"],
        "kept_epoch": state["best"]["epoch"] if spec.keep_best else spec.epochs,
        **({"recorded": extra} if extra else {}),
        "train_minutes": round(state["train_seconds"] / 60, 1), "budget_minutes": spec.budget_minutes,
        "evaluation_seconds": round(eval_seconds), "figures": results,
        "check": {"figure": check_name, "value": check_value, "relative_tolerance": spec.check_tolerance},
        "curve": state["curve"], "history": _history(state["log"]), "commit": git_commit(),
        "versions": {"keras": keras.__version__, "tensorflow": _tf_version(), "python": sys.version.split()[0]},
        "date": datetime.date.today().isoformat(),
        **({"tiny": True} if spec.tiny else {}),               # a test run (train(..., tiny=True)), no checkpoint
    }
    manifest["models"] = dict(sorted(manifest["models"].items()))
    _write_manifest(directory, manifest)
    log(f"[{name}] saved {path} ({path.stat().st_size / 1e6:.1f} MB); "
        + "; ".join(f"{k}: {v:.4g}" if isinstance(v, float) else f"{k}: {v}" for k, v in results.items()))
    return manifest["models"][name]


def _history(log):
    """Per-epoch training logs as {metric: [value per epoch]}, like ``keras.callbacks.History.history``."""
    keys = sorted({k for row in log for k in row})
    return {k: [row.get(k) for row in log] for k in keys}


def _tf_version():
    import tensorflow as tf

    return tf.__version__


def verify(directory=None):
    """Check every manifest entry's file; returns a list of (name, problem or None)."""
    out = []
    for name in read_manifest(directory)["models"]:
        try:
            path_of(name, directory)
            out.append((name, None))
        except CheckpointError as err:
            out.append((name, str(err)))
    return out


def _status_rows(directory=None):
    entries = read_manifest(directory)["models"]
    rows = []
    for name, spec in SPECS.items():
        work = Path(directory or checkpoint_dir()) / ".work" / name / "state.json"
        if name in entries:
            status = f"trained: {entries[name]['train_minutes']} min, {entries[name]['bytes'] / 1e6:.1f} MB"
        elif work.exists():
            status = f"in progress: epoch {json.loads(work.read_text())['epochs_done']}/{spec.epochs}"
        else:
            status = "not trained"
        rows.append((name, spec.epochs, spec.budget_minutes, status, ", ".join(spec.notebooks)))
    return rows


TABLE_START, TABLE_END = "<!-- checkpoints: written by `make checkpoints-list` -->", "<!-- /checkpoints -->"


def _epochs(n):
    return f"{n} epoch{'s' if n != 1 else ''}"


def _fmt(key, value):
    if isinstance(value, float):
        return f"{value:.2%}" if ("accuracy" in key or "recognised" in key) else f"{value:.4g}"
    return f"{value:,}" if isinstance(value, int) else str(value)


def manifest_table(directory=None):
    """The README's table of checkpoints, from the manifest and the specs: one row per model."""
    manifest = read_manifest(directory)
    entries, baselines = manifest["models"], manifest.get("baselines", {})
    lines = ["| checkpoint | notebooks | budget | trained (examples seen) | MB | test figures (full MNIST test set) |",
             "|---|---|---|---|---|---|"]
    for name, spec in SPECS.items():
        e = entries.get(name)
        if e is None:
            lines.append(f"| `{name}` | {', '.join(spec.notebooks)} | {_epochs(spec.epochs)}, ~{spec.budget_minutes} min "
                         "| not yet | | |")
            continue
        shown = {k: v for k, v in e["figures"].items() if not k.startswith(("validation", "params", "code floats"))}
        kept = f", kept epoch {e['kept_epoch']}" if e.get("kept_epoch", e["epochs"]) != e["epochs"] else ""
        lines.append(f"| `{name}` | {', '.join(spec.notebooks)} | {_epochs(spec.epochs)}, ~{spec.budget_minutes} min "
                     f"| {_epochs(e['epochs'])}, {e['train_minutes']:.1f} min, {e['images_seen']:,} examples{kept} "
                     f"| {e['bytes'] / 1e6:.1f} "
                     f"| {'; '.join(f'{k}: {_fmt(k, v)}' for k, v in shown.items())}{_baseline_text(baselines.get(name))} |")
    total = sum(e["bytes"] for e in entries.values()) / 1e6
    lines.append(f"\n{len(entries)} of {len(SPECS)} checkpoints trained, {total:.1f} MB in all.")
    return "\n".join(lines)


def _baseline_text(b):
    if not b:
        return ""
    shown = {k: v for k, v in b["figures"].items() if not k.startswith("validation")}
    return (f" (lecture profile, {_epochs(b['epochs'])}: "
            + "; ".join(f"{_short(k)}: {_fmt(k, v)}" for k, v in shown.items()) + ")")


def _short(key):
    """A figure's name without its protocol: "classifier-FID, 10,000 samples ..." -> "classifier-FID"."""
    import re

    return re.sub(r"\s*\([^)]*\)", "", key).split(",")[0]


def write_table(readme):
    """Fill the README's checkpoint block; return True if it changed."""
    readme = Path(readme)
    text = readme.read_text()
    if TABLE_START not in text or TABLE_END not in text:
        raise ValueError(f"{readme} has no {TABLE_START} ... {TABLE_END} block to fill.")
    head, rest = text.split(TABLE_START, 1)
    _, tail = rest.split(TABLE_END, 1)
    new = f"{head}{TABLE_START}\n{manifest_table()}\n{TABLE_END}{tail}"
    readme.write_text(new)
    return new != text


def main(argv=None):
    parser = argparse.ArgumentParser(prog="python -m course_lib.checkpoints", description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    lst = sub.add_parser("list", help="every checkpoint, its budget and status")
    lst.add_argument("--write", help="also fill the checkpoint table of this README")
    t = sub.add_parser("train", help="train (or resume) checkpoints")
    t.add_argument("names", nargs="*", help="checkpoints to train (default: every one not yet trained)")
    t.add_argument("--max-minutes", type=float, default=None, help="stop after the epoch that crosses this")
    t.add_argument("--fresh", action="store_true", help="discard a saved training state and start again")
    t.add_argument("--tiny", action="store_true", help=f"the recipes at tiny sizes, a test of their whole path in "
                   f"seconds (into ${DIR_VAR}, never into checkpoints/)")
    sub.add_parser("verify", help="check every file against the manifest's sha256")
    b = sub.add_parser("baseline", help="measure the lecture profile's short run of a recipe (the target's reference)")
    b.add_argument("names", nargs="+")
    args = parser.parse_args(argv)
    try:
        return _run(parser, args)
    except CheckpointError as err:                # a corrupt manifest, a missing classifier, ...: no traceback
        print(f"error: {err}", file=sys.stderr)
        return 1


def _run(parser, args):
    if args.command == "list":
        print(f"{'name':22s} {'epochs':>6s} {'budget':>7s}  status")
        for name, epochs, minutes, status, notebooks in _status_rows():
            print(f"{name:22s} {epochs:6d} {minutes:5d} m  {status}   ({notebooks})")
        if args.write:
            write_table(args.write)
            manifest = read_manifest()         # refresh which notebooks load each checkpoint
            for name, entry_ in manifest["models"].items():
                if name in SPECS:
                    entry_["notebooks"] = list(SPECS[name].notebooks)
            _write_manifest(checkpoint_dir(), manifest)
        return 0
    if args.command == "verify":
        problems = [(n, p) for n, p in verify() if p]
        for name, problem in problems:
            print(problem)
        print(f"{len(read_manifest()['models']) - len(problems)} checkpoint(s) match the manifest, "
              f"{len(problems)} do not.")
        return 1 if problems else 0
    if args.command == "baseline":
        for name in args.names:
            baseline(name)
        return 0
    names = args.names or [n for n in SPECS if n not in read_manifest()["models"]]
    unknown = [n for n in names if n not in SPECS]
    if unknown:
        parser.error(f"unknown checkpoint(s) {', '.join(unknown)}; known: {', '.join(SPECS)}")
    for name in names:
        if train(name, max_minutes=args.max_minutes, fresh=args.fresh, tiny=args.tiny) is None:
            return 0                                             # stopped by --max-minutes
    return 0


if __name__ == "__main__":
    sys.exit(main())
