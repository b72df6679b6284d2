import json
import time

import keras
import numpy as np
import pytest

from course_lib.bench import TrainingTimer, WallClockBudget, record


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


def test_training_timer_counts_epochs_and_throughput():
    model = keras.Sequential([keras.Input((3,)), keras.layers.Dense(1)])
    model.compile(optimizer="sgd", loss="mse")
    timer = TrainingTimer(32)
    model.fit(np.zeros((32, 3)), np.zeros((32, 1)), epochs=3, verbose=0, callbacks=[timer])
    assert timer.epochs == 3 and timer.seconds > 0
    assert timer.images_per_s == pytest.approx(96 / timer.seconds)
    assert timer.summary().startswith("trained 3 epochs of 32 digits: ")
    timer.epochs = 1
    assert timer.summary("images").startswith("trained 1 epoch of 32 images: ")
    assert timer.summary().endswith(" images/s")
    assert timer.summary("points", unit="points").endswith(" points/s")      # 2-D data: no images


def test_wall_clock_budget_stops_fit_and_records_its_curve():

    class Slow(keras.callbacks.Callback):
        def on_train_batch_end(self, batch, logs=None):
            time.sleep(0.02)

    model = keras.Sequential([keras.Input((3,)), keras.layers.Dense(1)])
    model.compile(optimizer="sgd", loss="mse")
    budget = WallClockBudget(0.5, batch_size=4, every=2)
    model.fit(np.zeros((400, 3)), np.zeros((400, 1)), batch_size=4, epochs=50, verbose=0, callbacks=[Slow(), budget])
    assert 0.5 <= budget.seconds < 5 and budget.batches < 50 * 100        # stopped long before 50 epochs
    assert budget.images_seen == 4 * budget.batches and budget.images_per_s > 0
    seconds, seen, loss = zip(*budget.curve)
    assert list(seconds) == sorted(seconds) and seen[:2] == (4, 8) and all(np.diff(seen[1:]) == 8)
    assert np.isfinite(loss).all()
    with pytest.raises(ValueError, match="seconds > 0"):
        WallClockBudget(0, batch_size=4)


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
    text = run.render(results)
    assert "| 01_likelihood | lecture | 10.0 | 180 | 144 | yes | d1 |" in text
    # within the budget (600 s) but not within 80% of it: flagged
    assert "| 06_pixelcnn | lecture | 500.0 | 600 | 480 | NO | d2 |" in text
    assert "| 06b_pixelcnn_ood | lecture | 470.0 | 600 | 480 | yes | d3 |" in text
    assert "## 06_pixelcnn: per model" in text and "a \\| b" in text


def test_train_in_segments_gives_each_slice_its_time_and_scores_outside_the_clock(monkeypatch):
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

    def score(model):
        calls.append(model)
        time.sleep(0.3)                                       # slow scoring: must not eat training time
        return {"mean x": float(model.generate(64, seed=0)[:, 0].mean())}

    rows = train_in_segments(gan, points, seconds=1.2, segments=3, batch_size=64, score=score)
    assert len(rows) == len(calls) == 3 and set(rows[0]) == {"train s", "images seen", "mean x"}
    slices = np.diff([0.0] + [r["train s"] for r in rows])
    assert np.all(slices >= 0.4) and np.all(slices < 3.0)      # each slice ran its budget, scoring excluded
    assert rows[-1]["images seen"] > rows[0]["images seen"] > 0
    assert len(at_clock_start) == 3 and at_clock_start[0] == len(traces) > 0   # traced in the warm-up, never on the clock
    with pytest.raises(ValueError, match="segments"):
        train_in_segments(gan, points, seconds=1.0, segments=0, batch_size=64, score=score)
