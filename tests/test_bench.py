"""course_lib.bench and bench/run.py. No test here depends on the host's speed: the timers read
``course_lib.bench._now``, which the ``clock`` fixture replaces by a clock that moves only when
a test moves it."""

import json

import keras
import numpy as np
import pytest

from course_lib import bench
from course_lib.bench import TrainingTimer, WallClockBudget, record


class FakeClock:
    """Stands in for time.perf_counter: reads ``now``; ``tick(s)`` moves it on."""

    def __init__(self):
        self.now = 100.0

    def __call__(self):
        return self.now

    def tick(self, seconds):
        self.now += seconds


@pytest.fixture
def clock(monkeypatch):
    fake = FakeClock()
    monkeypatch.setattr(bench, "_now", fake)
    return fake


class Ticks(keras.callbacks.Callback):
    """Moves the fake clock on by ``batch`` seconds after each batch (placed before the timer)
    and by ``epoch`` seconds at each epoch's end."""

    def __init__(self, clock, batch=0.0, epoch=0.0):
        super().__init__()
        self.clock, self.batch, self.epoch = clock, batch, epoch

    def on_train_batch_end(self, batch, logs=None):
        self.clock.tick(self.batch)

    def on_epoch_end(self, epoch, logs=None):
        self.clock.tick(self.epoch)


def test_record_is_a_noop_without_bench_dir(monkeypatch):
    monkeypatch.delenv("COURSE_BENCH_DIR", raising=False)
    assert record("x", [{"a": 1}]) is None


def test_record_writes_json(monkeypatch, tmp_path):
    monkeypatch.setenv("COURSE_BENCH_DIR", str(tmp_path))
    assert record("03_autoencoders", [{"model": "m", "loss": np.float32(0.5)}]) is None
    assert json.loads((tmp_path / "03_autoencoders.json").read_text()) == [{"model": "m", "loss": 0.5}]


def test_record_rejects_bad_rows():
    with pytest.raises(ValueError, match="list of dicts"):
        record("x", {"a": 1})


def test_training_timer_counts_epochs_and_throughput(clock):
    model = keras.Sequential([keras.Input((3,)), keras.layers.Dense(1)])
    model.compile(optimizer="sgd", loss="mse")
    timer = TrainingTimer(32)
    model.fit(np.zeros((32, 3)), np.zeros((32, 1)), epochs=3, verbose=0, callbacks=[Ticks(clock, epoch=2.0), timer])
    assert timer.epochs == 3 and timer.seconds == 6.0
    assert timer.images_per_s == 16.0                                       # 96 examples in 6 s
    assert timer.summary().startswith("trained 3 epochs of 32 digits: ")
    timer.epochs = 1
    assert timer.summary("images").startswith("trained 1 epoch of 32 images: ")
    assert timer.summary().endswith(" images/s")
    assert timer.summary("points", unit="points").endswith(" points/s")      # 2-D data: no images


def test_wall_clock_budget_stops_fit_and_records_its_curve(clock):
    model = keras.Sequential([keras.Input((3,)), keras.layers.Dense(1)])
    model.compile(optimizer="sgd", loss="mse")
    budget = WallClockBudget(1.0, batch_size=4, every=2)
    # each batch "takes" 1/8 s (exact in binary): the budget of 1 s is spent after the 8th batch
    model.fit(np.zeros((400, 3)), np.zeros((400, 1)), batch_size=4, epochs=50, verbose=0,
              callbacks=[Ticks(clock, batch=0.125), budget])
    assert budget.batches == 8 and budget.seconds == 1.0                    # stopped at once, in the first epoch
    assert budget.images_seen == 32 and budget.images_per_s == 32.0
    seconds, seen, loss = zip(*budget.curve)                                # after batch 1, then every 2nd
    assert seconds == (0.125, 0.25, 0.5, 0.75, 1.0) and seen == (4, 8, 16, 24, 32)
    assert np.isfinite(loss).all()
    with pytest.raises(ValueError, match="seconds > 0"):
        WallClockBudget(0, batch_size=4)


def test_wall_clock_budget_counts_every_step_of_a_multi_step_execution(clock):
    """With steps_per_execution, Keras reports to callbacks once per execution: the steps it ran
    still count as images seen, and a curve point falls where a multiple of ``every`` is crossed."""
    model = keras.Sequential([keras.Input((3,)), keras.layers.Dense(1)])
    model.compile(optimizer="sgd", loss="mse", steps_per_execution=5)
    budget = WallClockBudget(0.5, batch_size=4, every=7)
    model.fit(np.zeros((400, 3)), np.zeros((400, 1)), batch_size=4, epochs=50, verbose=0,
              callbacks=[Ticks(clock, batch=0.25), budget])
    assert budget.batches == 10 and budget.images_seen == 40 and budget.seconds == 0.5   # two executions of 5
    assert [point[:2] for point in budget.curve] == [(0.25, 20), (0.5, 40)]            # steps 1 and 7 crossed


def test_training_timer_bad_size():
    with pytest.raises(ValueError, match="positive"):
        TrainingTimer(0)


def test_bench_render_keeps_every_notebook_and_flags_budgets():
    import sys
    from pathlib import Path

    sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "bench"))
    import run

    results = {"01_likelihood": {"date": "d1", "profile": "lecture", "machine": "m", "seconds": 10.0, "tables": []},
               "06_pixelcnn": {"date": "d2", "profile": "lecture", "machine": "m", "seconds": 500.0,
                               "tables": [{"model": "a | b", "nll": 96.5}]},
               "06b_pixelcnn_ood": {"date": "d3", "profile": "lecture", "machine": "m", "seconds": 470.0, "tables": []}}
    results["01_likelihood"]["host_s"] = 1.234                              # measured with a host figure
    text = run.render(results)
    assert "| 01_likelihood | lecture | 10.0 | 1.23 | 180 | 144 | yes | d1 |" in text
    # within the budget (600 s) but not within 80% of it: flagged; no host figure: "not recorded"
    assert "| 06_pixelcnn | lecture | 500.0 | not recorded | 600 | 480 | NO | d2 |" in text
    assert "| 06b_pixelcnn_ood | lecture | 470.0 | not recorded | 600 | 480 | yes | d3 |" in text
    assert "## 06_pixelcnn: per model" in text and "a \\| b" in text


def test_bench_present_limits_must_hold_on_a_host_one_and_a_half_times_slower():
    import sys
    from pathlib import Path

    sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "bench"))
    import run

    def entry(seconds, host=None):
        return {"tables": [], "present": {"date": "d", "machine": "m", "seconds": seconds,
                                          **({"host_s": host} if host else {})}}

    results = {"03_autoencoders": entry(40.0, 2.0), "04a_vae": entry(40.1), "08_evaluation": entry(80.1)}
    text = run.render(results)
    assert "| 03_autoencoders | 40.0 | 2.00 | 60 | 40 | yes | d |" in text      # 60 s / 1.5
    assert "| 04a_vae | 40.1 | not recorded | 60 | 40 | NO | d |" in text         # under 60 s, not under 40 s
    assert "| 08_evaluation | 80.1 | not recorded | 120 | 80 | NO | d |" in text


def test_host_speed_runs_and_returns_positive_seconds():
    """The real reference workload, one repetition of each part (its value is the host's business,
    not the test's)."""
    total, parts = bench.host_speed(rounds=1, parts=True, fraction=0.01)
    assert set(parts) == {"float32 matmul", "conv training steps"}
    assert total > 0 and all(s > 0 for s in parts.values()) and total == pytest.approx(sum(parts.values()))
    with pytest.raises(ValueError, match="rounds"):
        bench.host_speed(rounds=0)
    with pytest.raises(ValueError, match="fraction"):
        bench.host_speed(fraction=0)


def test_host_speed_takes_the_best_of_its_rounds_per_part(clock, monkeypatch):
    durations = {"a": iter([3.0, 1.0, 2.0]), "b": iter([0.5, 0.75, 0.25])}

    def work(name):
        return lambda repeats: clock.tick(next(durations[name]))

    monkeypatch.setattr(bench, "_host_workloads", lambda: {"a": (work("a"), 5), "b": (work("b"), 5)})
    assert bench.host_speed(rounds=3, parts=True) == (1.25, {"a": 1.0, "b": 0.25})


def test_host_speed_command_prints_one_line(monkeypatch, capsys):
    monkeypatch.setattr(bench, "host_speed", lambda rounds, parts: (1.5, {"a": 1.0, "b": 0.5}))
    assert bench.main(["host-speed"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("host reference: 1.50 s (best of 3: a 1.00 s + b 0.50 s;") and out.count("\n") == 1


def test_train_in_segments_gives_each_slice_its_time_and_scores_outside_the_clock(monkeypatch, clock):
    from course_lib import gan as G
    from course_lib.bench import train_in_segments

    gan = G.compile_toy_gan(G.toy_gan(2, 2, seed=0))
    points = G.ring_of_gaussians(500, seed=0)[0]            # not a multiple of the batch: a last, short batch
    calls, traces, at_clock_start = [], [], []
    step = gan.train_step

    def counting_step(data):                                   # runs once per trace of the training graph
        traces.append(1)
        return step(data)

    gan.train_step = counting_step
    start = WallClockBudget.on_train_begin

    def clock_starts(self, logs=None):
        at_clock_start.append(len(traces))
        start(self, logs)

    monkeypatch.setattr(WallClockBudget, "on_train_begin", clock_starts)
    batch_end = WallClockBudget.on_train_batch_end

    def execution_takes_an_eighth(self, batch, logs=None):    # the toy GAN runs its steps in executions
        clock.tick(0.125)
        batch_end(self, batch, logs)

    monkeypatch.setattr(WallClockBudget, "on_train_batch_end", execution_takes_an_eighth)

    def score(model):
        calls.append(model)
        clock.tick(10.0)                                      # slow scoring: must not eat training time
        return {"mean x": float(model.generate(64, seed=0)[:, 0].mean())}

    rows = train_in_segments(gan, points, seconds=1.2, segments=3, batch_size=64, score=score)
    assert len(rows) == len(calls) == 3 and set(rows[0]) == {"train s", "images seen", "mean x"}
    # each slice of 0.4 s stops after the execution that crosses it (4 x 1/8 s); scoring excluded
    assert [r["train s"] for r in rows] == [0.5, 1.0, 1.5]
    per_slice = np.diff([64] + [r["images seen"] for r in rows])   # 64: the warm-up step
    assert per_slice[0] > 0 and np.all(per_slice == per_slice[0])
    assert len(at_clock_start) == 3 and at_clock_start[0] == len(traces) > 0   # traced in the warm-up, never on the clock
    with pytest.raises(ValueError, match="segments"):
        train_in_segments(gan, points, seconds=1.0, segments=0, batch_size=64, score=score)
