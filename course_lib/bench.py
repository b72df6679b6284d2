"""Let ``make bench`` collect the figures a notebook measures, from the notebook's own run.

``record()`` writes JSON only when ``$COURSE_BENCH_DIR`` is set (bench/run.py sets it);
in a normal notebook run it does nothing. ``TrainingTimer`` measures training throughput;
``WallClockBudget`` stops a ``fit`` after a given number of seconds (equal-time races).
``host_speed()`` times a fixed reference workload, so that a time measured on one day can be
compared with one measured on another (the host's speed varies by a third between days):

    python -m course_lib.bench host-speed       (or make host-speed)
"""

import json
import os
import sys
import time
from pathlib import Path

BENCH_DIR_VAR = "COURSE_BENCH_DIR"

# The clock every timer here reads; the unit tests replace it with a fake one, so that they
# check the logic whatever the host's speed.
_now = time.perf_counter


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
        self._start = _now()
        self.epochs = 0

    def on_epoch_end(self, epoch, logs=None):
        self.epochs += 1

    def on_train_end(self, logs=None):
        self.seconds = _now() - self._start

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
    is the batch loss Keras reports (its running mean over the epoch). A model compiled with
    ``steps_per_execution`` > 1 reports to callbacks once per execution: ``batches`` still counts
    every step (the steps the execution ran), and the clock is read once per execution."""

    def __init__(self, seconds, batch_size, every=10):
        super().__init__()
        if not seconds > 0 or batch_size < 1 or every < 1:
            raise ValueError(f"need seconds > 0, batch_size >= 1 and every >= 1, got {seconds}, {batch_size}, {every}.")
        self.budget, self.batch_size, self.every = float(seconds), int(batch_size), int(every)
        self.curve, self.batches, self.seconds = [], 0, 0.0

    def on_train_begin(self, logs=None):
        self._start, self.batches, self.curve = _now(), 0, []

    def on_train_batch_begin(self, batch, logs=None):
        self._first_step = batch

    def on_train_batch_end(self, batch, logs=None):
        before = self.batches                 # Keras passes the execution's first step, then its last
        self.batches += max(1, batch - getattr(self, "_first_step", batch) + 1)
        elapsed = _now() - self._start
        if (before == 0 or before // self.every != self.batches // self.every) and logs and "loss" in logs:
            self.curve.append((elapsed, self.images_seen, float(logs["loss"])))
        if elapsed >= self.budget:
            self.model.stop_training = True

    def on_train_end(self, logs=None):
        self.seconds = _now() - self._start

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


# The reference workload of host_speed(): fixed sizes, seeds and step counts (change them and
# every host figure recorded so far stops being comparable).
HOST_MATMUL = (1024, 32)        # an n x n float32 matmul, repeated
HOST_CONV = (64, 40)            # a small conv net's training step on a batch of 28 x 28 images, repeated


def _host_workloads():
    """The two parts of the reference workload, built and warmed up (graph traced, memory
    allocated) outside the clock: name -> (run(n), n), where ``run(n)`` does ``n`` repetitions.
    The global random seeds are left alone: the work does not depend on the values."""
    import keras
    import numpy as np

    rng = np.random.default_rng(0)
    n, matmuls = HOST_MATMUL
    a = keras.ops.convert_to_tensor(rng.standard_normal((n, n), dtype=np.float32))
    b = keras.ops.convert_to_tensor(rng.standard_normal((n, n), dtype=np.float32))

    def matmul(repeats):
        for _ in range(repeats):
            c = keras.ops.matmul(a, b)
        return keras.ops.convert_to_numpy(c[0, 0])

    batch, steps = HOST_CONV
    model = keras.Sequential([keras.Input((28, 28, 1)), keras.layers.Conv2D(32, 3, activation="relu"),
                              keras.layers.Conv2D(64, 3, strides=2, activation="relu"), keras.layers.Flatten(),
                              keras.layers.Dense(10)])
    model.compile(optimizer=keras.optimizers.Adam(1e-3),
                  loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True), jit_compile=False)
    x = rng.random((batch, 28, 28, 1), dtype=np.float32)
    y = rng.integers(0, 10, batch)

    def conv_steps(repeats):
        for _ in range(repeats):
            loss = model.train_on_batch(x, y)
        return loss

    for work in (matmul, conv_steps):
        work(2)
    return {"float32 matmul": (matmul, matmuls), "conv training steps": (conv_steps, steps)}


def host_speed(rounds=3, parts=False, *, fraction=1.0):
    """Seconds this host takes for a fixed reference workload: 32 float32 1024 x 1024 matmuls plus
    40 training steps of a small conv net (batch of 64 28 x 28 images), each part timed as the
    best of ``rounds`` runs after a warm-up; a second or two per round on a 2-core CPU.

    Lower is faster. A time ``t`` measured where the figure was ``h`` would take about
    ``t * h2 / h`` where it is ``h2``. It depends on the thread settings, like every time
    TensorFlow measures (TF_NUM_INTRAOP_THREADS etc.). ``parts=True`` returns
    ``(total, {part: seconds})``. ``fraction`` < 1 runs that share of each part (at least one
    repetition): a quick check that the workload runs, whose figure is no host reference."""
    if isinstance(rounds, bool) or not isinstance(rounds, int) or rounds < 1:
        raise ValueError(f"rounds must be an integer >= 1, got {rounds!r}.")
    if not 0 < fraction <= 1:
        raise ValueError(f"fraction must be in (0, 1], got {fraction!r}.")
    best = {}
    for name, (work, repeats) in _host_workloads().items():
        times = []
        for _ in range(rounds):
            start = _now()
            work(max(1, round(repeats * fraction)))
            times.append(_now() - start)
        best[name] = min(times)
    total = sum(best.values())
    return (total, best) if parts else total


def host_speed_line(rounds=3):
    """One line for a report: the host figure, its parts and the thread settings."""
    total, best = host_speed(rounds, parts=True)
    threads = os.environ.get("TF_NUM_INTRAOP_THREADS", "default")
    detail = " + ".join(f"{name} {s:.2f} s" for name, s in best.items())
    return (f"host reference: {total:.2f} s (best of {rounds}: {detail}; {os.cpu_count()} CPU cores, "
            f"TF_NUM_INTRAOP_THREADS={threads}; lower is faster)")


def main(argv=None):
    import argparse

    parser = argparse.ArgumentParser(prog="python -m course_lib.bench", description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    speed = sub.add_parser("host-speed", help="time the fixed reference workload; print the host figure (seconds)")
    speed.add_argument("--rounds", type=int, default=3, help="take the best of this many runs (default 3)")
    args = parser.parse_args(argv)
    print(host_speed_line(args.rounds))
    return 0


if __name__ == "__main__":
    sys.exit(main())
