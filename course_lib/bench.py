"""Let ``make bench`` collect the figures a notebook measures, from the notebook's own run.

``record()`` writes JSON only when ``$COURSE_BENCH_DIR`` is set (bench/run.py sets it);
in a normal notebook run it does nothing. ``TrainingTimer`` measures training throughput;
``WallClockBudget`` stops a ``fit`` after a given number of seconds (equal-time races).
"""

import json
import os
import time
from pathlib import Path

BENCH_DIR_VAR = "COURSE_BENCH_DIR"


def record(section, rows):
    """Store ``rows`` (a list of flat dicts) under ``section`` for bench/run.py; no-op otherwise.

    Returns None, so a notebook cell ending in ``record(...)`` shows no output (a stored
    temporary path would differ on every run).
    """
    if not isinstance(rows, list) or not all(isinstance(r, dict) for r in rows):
        raise ValueError("record() expects a list of dicts, one per measured model.")
    target = os.environ.get(BENCH_DIR_VAR)
    if not target:
        return None
    path = Path(target) / f"{section}.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(rows, indent=2, default=float))


def _callback_base():
    import keras

    return keras.callbacks.Callback


class TrainingTimer(_callback_base()):
    """Keras callback: wall time of ``fit`` and training throughput in examples/s.

    The first epoch includes tracing the graph; ``images_per_s`` counts it too, which is
    what a student waiting for ``fit`` experiences.
    """

    def __init__(self, n_examples):
        super().__init__()
        if n_examples <= 0:
            raise ValueError(f"n_examples must be positive, got {n_examples}.")
        self.n_examples = int(n_examples)
        self.epochs = 0
        self.seconds = 0.0

    def on_train_begin(self, logs=None):
        self._start = time.perf_counter()
        self.epochs = 0

    def on_epoch_end(self, epoch, logs=None):
        self.epochs += 1

    def on_train_end(self, logs=None):
        self.seconds = time.perf_counter() - self._start

    @property
    def images_per_s(self):
        return self.n_examples * self.epochs / self.seconds if self.seconds else float("nan")

    def summary(self, what="digits", unit="images"):
        """One line for a notebook: "trained 2 epochs of 55,000 digits: 149 s, 739 images/s"
        (``unit`` names what the rate counts: ``summary("points", unit="points")`` for 2-D data)."""
        return training_summary(self, what, unit)


class WallClockBudget(_callback_base()):
    """Keras callback: stop ``fit`` once ``seconds`` of wall time have passed (checked after each
    batch), so that two models can be compared at an equal training time. Records the curve
    ``(seconds, images seen, loss)`` after the first batch and every ``every`` batches; ``loss``
    is the batch loss Keras reports (its running mean over the epoch)."""

    def __init__(self, seconds, batch_size, every=10):
        super().__init__()
        if not seconds > 0 or batch_size < 1 or every < 1:
            raise ValueError(f"need seconds > 0, batch_size >= 1 and every >= 1, got {seconds}, {batch_size}, {every}.")
        self.budget, self.batch_size, self.every = float(seconds), int(batch_size), int(every)
        self.curve, self.batches, self.seconds = [], 0, 0.0

    def on_train_begin(self, logs=None):
        self._start, self.batches, self.curve = time.perf_counter(), 0, []

    def on_train_batch_end(self, batch, logs=None):
        self.batches += 1
        elapsed = time.perf_counter() - self._start
        if (self.batches == 1 or self.batches % self.every == 0) and logs and "loss" in logs:
            self.curve.append((elapsed, self.images_seen, float(logs["loss"])))
        if elapsed >= self.budget:
            self.model.stop_training = True

    def on_train_end(self, logs=None):
        self.seconds = time.perf_counter() - self._start

    @property
    def images_seen(self):
        return self.batches * self.batch_size

    @property
    def images_per_s(self):
        return self.images_seen / self.seconds if self.seconds else float("nan")


def training_summary(timer, what="digits", unit="images"):
    """The line ``TrainingTimer.summary`` prints, for anything with its attributes (also a
    checkpoint's ``checkpoints.TrainedFor``)."""
    epochs = f"{timer.epochs} epoch{'' if timer.epochs == 1 else 's'}"
    return f"trained {epochs} of {timer.n_examples:,} {what}: {timer.seconds:.0f} s, {timer.images_per_s:.0f} {unit}/s"


def train_in_segments(model, x, seconds, segments, batch_size, score):
    """Train a compiled ``model`` on ``x`` for ``seconds`` of wall time in ``segments`` equal
    slices (``WallClockBudget`` stops each ``fit``), calling ``score(model)`` (a dict) after
    each slice, outside the clock: two models given the same ``seconds`` get the same training
    time, whatever their scoring costs. Returns one row per slice: the training seconds and
    images seen so far, and the scores.

    Before the clock starts, one warm-up step traces the training graph (a WGAN-GP's, with
    five critic steps and a gradient of a gradient, takes seconds longer to trace than a
    GAN's); its images are counted in ``images seen``. The step runs through the same input
    pipeline as the timed ``fit`` calls (all of ``x``, one step): warmed up on a slice such as
    ``x[:batch_size]``, whose batch shape is fixed, the graph would be traced again inside the
    first slice's clock."""
    if not seconds > 0 or isinstance(segments, bool) or not isinstance(segments, int) or segments < 1:
        raise ValueError(f"need seconds > 0 and an integer segments >= 1, got {seconds!r} and {segments!r}.")
    model.fit(x, batch_size=batch_size, epochs=1, steps_per_epoch=1, verbose=0)
    rows, trained, images = [], 0.0, batch_size
    for _ in range(segments):
        budget = WallClockBudget(seconds / segments, batch_size, every=10 ** 9)
        model.fit(x, batch_size=batch_size, epochs=10 ** 6, shuffle=True, verbose=0, callbacks=[budget])
        trained, images = trained + budget.seconds, images + budget.images_seen
        rows.append({"train s": trained, "images seen": images, **score(model)})
    return rows
