"""Trained weights of the models the course shows: train them, record them, load them.

``make checkpoints NAME=vae_d2`` trains one model at its documented budget (``SPECS``) and
writes ``checkpoints/vae_d2.keras`` (weights and architecture, no optimizer state) and its
entry in ``checkpoints/MANIFEST.json``: sha256, the command and settings, training time,
images seen, the git commit, and the test figures measured on the full MNIST test set.
Training saves its state after every epoch in ``checkpoints/.work/`` (not committed), so
an interrupted run resumes where it stopped when the same command runs again.

Notebooks in the ``present`` profile call ``load(name)``: it checks the file against the
manifest's sha256 and loads it with ``keras.saving.load_model(..., safe_mode=True)``.

This file is the mechanism and knows no model: what each checkpoint is (its build, training,
scoring and check, a ``Spec``) is a recipe in its family's file in ``course_lib/recipes/``;
``SPECS`` collects them in the order of ``recipes.FAMILIES``.

    python -m course_lib.checkpoints list              # what exists, what each costs
    python -m course_lib.checkpoints train vae_d2      # train (or resume) one model
    python -m course_lib.checkpoints verify            # every file matches the manifest
"""

import argparse
import contextlib
import datetime
import json
import math
import numbers
import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

from course_lib import profile as _profile  # noqa: F401  (quiets TensorFlow's start-up log first)

import keras  # noqa: E402

from course_lib import distribute  # noqa: E402
from course_lib.bench import host_speed  # noqa: E402
from course_lib.recipes.base import functions_eager, running_in  # noqa: E402
# Names read here from before the recipes had files of their own: ``checkpoints.mnist()`` (choices.py),
# ``checkpoints.Spec`` (the tests), ``checkpoints.PIXELCNN_SIZES`` (06a, 06b and 06d's present profile).
from course_lib.recipes.base import (N_VAL, TEST_BIN_SEED, TINY_SPLITS, VAL_BIN_SEED, Spec,  # noqa: E402,F401
                                     check_subset, mnist, tiny_mnist)
from course_lib.recipes.pixelcnn import PIXELCNN_SIZES  # noqa: E402,F401

ROOT = Path(__file__).resolve().parents[1]
DIR_VAR = "COURSE_CHECKPOINT_DIR"
MANIFEST_NAME = "MANIFEST.json"


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
    from course_lib.flow_matching import FlowMatching
    from course_lib.pixelcnn import PixelCNN
    from course_lib.vae import VAE

    model = load(name, directory)
    if isinstance(model, (VAE, PixelCNN, Diffusion, FlowMatching)):
        model.compile()             # no optimizer needed; lets evaluate() compute the model's own loss
    record = entry(name, directory)
    trained = TrainedFor(record)
    print(f"loaded checkpoints/{record['file']}: {describe_training(record)} ({record['command']})\n"
          f"  {record['description']}")
    return model, trained


def host_reference(record):
    """The `make host-speed` figures taken when a checkpoint trained (one per stretch of training),
    as text ("1.05", "0.84/0.91"); None for runs that did not record them."""
    figures = record.get("host_reference_s")
    return "/".join(f"{h:.2f}" for h in figures) if figures else None


def describe_training(record):
    """How a checkpoint trained, in words: its epochs, images and minutes on 2 CPU cores, and, when
    the run kept an earlier epoch (the lowest validation figure), which one of how long a run."""
    trained = TrainedFor(record)
    text = f"{trained.epochs} epochs, {trained.images_seen:,} training images, {trained.seconds / 60:.1f} min on 2 CPU cores"
    if host_reference(record):               # `make host-speed` when it trained: minutes scale with it
        text += f" (host reference {host_reference(record)} s)"
    if trained.epochs < int(record["epochs"]):
        text += (f" (the epoch of lowest validation figure, kept from a run of {record['epochs']} epochs, "
                 f"{record['train_minutes']:.1f} min)")
    return text


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
# What each checkpoint is: the recipes of course_lib/recipes/, one file per family
# ---------------------------------------------------------------------------------------

def _build_specs(tiny=False):
    """Every family's specs (``course_lib.recipes.FAMILIES``, in that order), by name."""
    from course_lib import recipes

    specs = {}

    def register(spec):
        if spec.name in specs:
            raise ValueError(f"two recipes register a checkpoint named {spec.name!r}: names must be unique.")
        spec.tiny = tiny
        specs[spec.name] = spec

    for family in recipes.families():
        family.specs(register, tiny)
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
    with running_in(directory, load), (functions_eager(True) if tiny else contextlib.nullcontext()):
        return _train(spec, max_minutes, fresh, directory, log)


def _train(spec, max_minutes, fresh, directory, log):
    name = spec.name
    work = directory / ".work" / name
    work.mkdir(parents=True, exist_ok=True)
    host = None if spec.tiny else round(host_speed(), 2)       # this host's speed now (`make host-speed`)
    keras.utils.set_random_seed(0)
    strategy = distribute.strategy()                           # DEVICES=2: data-parallel on two devices
    with strategy.scope():                                     # the model, its variables and optimizers
        model = spec.build()
        spec.compile(model)
    if strategy.num_replicas_in_sync > 1:
        if name not in distribute.DATA_PARALLEL:
            ready = ", ".join(sorted(distribute.DATA_PARALLEL))
            raise CheckpointError(f"{name}: DEVICES={strategy.num_replicas_in_sync} trains only the checkpoints whose "
                                  f"training step is made for several replicas ({ready}); "
                                  f"{name} is not one yet: train it without DEVICES.")
        if spec.settings.get("batch_size") is not None:           # a tf.data pipeline is not checked by fit
            try:
                distribute.check_batch_splits(spec.settings["batch_size"], strategy.num_replicas_in_sync)
            except ValueError as err:
                raise CheckpointError(f"{name}: {err}") from None
        log(f"[{name}] data-parallel on {strategy.num_replicas_in_sync} replicas: "
            f"{', '.join(strategy.extended.worker_devices)}")
    state = {"epochs_done": 0, "images_seen": 0, "train_seconds": 0.0, "curve": [], "log": []}
    if (work / "state.json").exists() and not fresh:
        state = json.loads((work / "state.json").read_text())
        _restore_state(model, work)
        log(f"[{name}] resuming after epoch {state['epochs_done']}/{spec.epochs} "
            f"({state['train_seconds'] / 60:.1f} min trained)")
    else:
        log(f"[{name}] {spec.description}: {spec.epochs} epochs, budget about {spec.budget_minutes} min")
    if host is not None:                  # one figure per (resumed) stretch of training, taken before it
        state.setdefault("host_reference_s", []).append(host)
        log(f"[{name}] host reference {host:.2f} s (lower is faster; `make host-speed`)")
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
    with running_in(directory, load):
        return _baseline(spec, directory, log)


def _baseline(spec, directory, log):
    name = spec.name
    epochs, what, *lecture_compile = spec.baseline
    log(f"[{name} baseline] {what}", flush=True)
    keras.utils.set_random_seed(0)
    model = spec.build()
    (lecture_compile[0] if lecture_compile else spec.compile)(model)
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


def _shipped(name, directory):
    """(spec, folder) of a trained checkpoint whose recipe and needed checkpoints are all there,
    or a clear ``CheckpointError``: what rescore and recheck start from."""
    spec = SPECS.get(name)
    if spec is None:
        raise CheckpointError(f"unknown checkpoint {name!r}; known: {', '.join(SPECS)}.")
    directory = Path(directory or checkpoint_dir())
    entry(name, directory)                                      # trained and in the manifest, or a clear error
    for need in spec.needs:
        path_of(need, directory)
    return spec, directory


def rescore(name, directory=None, log=print):
    """Measure the figures of the shipped checkpoint ``name`` again with its recipe's current
    ``evaluate`` (e.g. after a figure was added to it), without training: the weights, their
    sha256, curve and check stay; ``figures`` is replaced and ``rescored`` says when and how."""
    spec, directory = _shipped(name, directory)
    log(f"[{name}] measuring the manifest's figures of the shipped weights again ...", flush=True)
    t = time.perf_counter()
    with running_in(directory, load):
        clean = spec.build()                                    # as finish() scores it: built, never compiled
        clean.set_weights(load(name, directory).get_weights())
        results = spec.evaluate(clean)
    results = json.loads(json.dumps(results, default=float))     # as the manifest stores them (lists, floats)
    manifest = read_manifest(directory)
    record = manifest["models"][name]
    old = record["figures"]
    changed = [k for k in {**old, **results} if not _same(old.get(k), results.get(k))]
    record["figures"] = results
    record["rescored"] = {"date": datetime.date.today().isoformat(), "commit": git_commit(),
                          "evaluation_seconds": round(time.perf_counter() - t),
                          "versions": {"keras": keras.__version__, "tensorflow": _tf_version(),
                                       "python": sys.version.split()[0]},
                          "command": f"python -m course_lib.checkpoints rescore {name}"}
    _write_manifest(directory, manifest)
    log(f"[{name}] figures that changed or are new: " + ("; ".join(
        f"{k}: {_change(k, old.get(k), results.get(k))}" for k in changed) or "none"))
    return record


def recheck(name, directory=None, log=print):
    """Record the check figure of the shipped checkpoint ``name`` again with its recipe's current
    ``check`` (e.g. after the check was made cheaper), without training or measuring the figures:
    the weights, figures and curve stay; ``check`` is replaced and ``rechecked`` says when and how."""
    spec, directory = _shipped(name, directory)
    with running_in(directory, load):
        check_name, check_value = spec.check(load(name, directory))   # the saved file, as the CI test loads it
    manifest = read_manifest(directory)
    record = manifest["models"][name]
    old = record["check"]
    record["check"] = {"figure": check_name, "value": check_value, "relative_tolerance": spec.check_tolerance}
    record["rechecked"] = {"date": datetime.date.today().isoformat(), "commit": git_commit(),
                           "command": f"python -m course_lib.checkpoints recheck {name}"}
    _write_manifest(directory, manifest)
    log(f"[{name}] check: {old['figure']} = {old['value']:.6g} -> {check_name} = {check_value:.6g}")
    return record


def _same(a, b, rel=1e-9):
    if isinstance(a, numbers.Real) and isinstance(b, numbers.Real):
        return math.isclose(a, b, rel_tol=rel) or (math.isnan(a) and math.isnan(b))
    return a == b


def _change(key, old, new):
    def text(v):
        return "none" if v is None else _fmt(key, v) if isinstance(v, numbers.Real) else "(a table, in the manifest)"
    return f"{text(old)} -> {text(new)}"


def finish(name, model, state, directory, log=print, spec=None):
    """Score the trained ``model``, save it without optimizer state, enter it in the manifest."""
    spec = spec or SPECS[name]
    directory = Path(directory)
    log(f"[{name}] measuring the manifest's figures ...", flush=True)
    t = time.perf_counter()
    clean = spec.build()                                        # same architecture, never compiled
    clean.set_weights(model.get_weights())
    with running_in(directory, load):
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
        **({"host_reference_s": state["host_reference_s"]} if state.get("host_reference_s") else {}),
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
        shown = {k: v for k, v in e["figures"].items() if not k.startswith(("validation", "params", "code floats"))
                 and not isinstance(v, (list, dict))}            # curves and choices: in the manifest
        kept = f", kept epoch {e['kept_epoch']}" if e.get("kept_epoch", e["epochs"]) != e["epochs"] else ""
        host = f" (host {host_reference(e)} s)" if host_reference(e) else ""   # `make host-speed` when it trained
        lines.append(f"| `{name}` | {', '.join(spec.notebooks)} | {_epochs(spec.epochs)}, ~{spec.budget_minutes} min "
                     f"| {_epochs(e['epochs'])}, {e['train_minutes']:.1f} min{host}, {e['images_seen']:,} examples{kept} "
                     f"| {e['bytes'] / 1e6:.1f} "
                     f"| {'; '.join(f'{k}: {_fmt(k, v)}' for k, v in shown.items())}{_baseline_text(baselines.get(name))} |")
    total = sum(e["bytes"] for e in entries.values()) / 1e6
    lines.append(f"\n{len(entries)} of {len(SPECS)} checkpoints trained, {total:.1f} MB in all.")
    return "\n".join(lines + ["", targets_table(entries)])


def _curve_text(e, most=8):
    """A run's validation figure after each epoch, "1: 1.15 · 2: 1.13 · … · 22: 1.28" (the first two and
    the last ``most - 2`` epochs when there are more than ``most``); a run that kept an earlier epoch
    marks it with "(kept)" and shows it even when it falls in the gap."""
    curve, kept = e["curve"], e.get("kept_epoch", e["epochs"])
    key = next(k for k in curve[0] if k not in ("epoch", "train_seconds", "images_seen"))
    shown = range(len(curve)) if len(curve) <= most else [0, 1, *range(len(curve) - most + 2, len(curve))]
    shown = sorted(set(shown) | {kept - 1})
    points, last = [], -1
    for i in shown:
        if i > last + 1:
            points.append("…")
        p = curve[i]
        points.append(f"{p['epoch']}: {p[key]:.4g}" + (" (kept)" if p["epoch"] == kept and kept != e["epochs"] else ""))
        last = i
    return f"{key}, by epoch: " + " · ".join(points)


def targets_table(entries):
    """The checkpoints' targets (``recipes.targets.TARGETS``): measured figure, met or not, and the
    validation curve of the run, which says whether it was still improving when the budget ended."""
    from course_lib.recipes.targets import TARGETS

    lines = ["**Targets.** What some checkpoints aimed at, measured on the full test set; a missed "
             "target's validation curve shows where its run stood when the budget ran out.", "",
             "| checkpoint | figure | target | why | measured | met | validation curve (manifest) |",
             "|---|---|---|---|---|---|---|"]
    for t in TARGETS:
        met, row = t.met(entries), f"| `{t.name}` | {t.figure} | {t.describe(entries, _fmt)} | {t.why} "
        if met is None:
            lines.append(row + "| not yet measured | | |")
            continue
        e = entries[t.name]
        lines.append(row + f"| {_fmt(t.figure, e['figures'][t.figure])} | {'yes' if met else 'no'} | {_curve_text(e)} |")
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
    r = sub.add_parser("rescore", help="measure a shipped checkpoint's figures again with its recipe's "
                                       "current evaluation (no training; the weights stay)")
    r.add_argument("names", nargs="+")
    k = sub.add_parser("recheck", help="record a shipped checkpoint's check figure again with its recipe's "
                                       "current check (no training, no figures)")
    k.add_argument("names", nargs="+")
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
    if args.command in ("rescore", "recheck"):
        for name in args.names:
            (rescore if args.command == "rescore" else recheck)(name)
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
