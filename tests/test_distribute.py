"""Data-parallel training (course_lib.distribute): one training step on two replicas is the step one
device takes on the same global batch. The CPU is split in two logical devices (DEVICES=2), which
must happen before TensorFlow starts its devices: so in a fresh process."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from course_lib import checkpoints as C, distribute

ROOT = Path(__file__).resolve().parent.parent

_STEPS = r"""
import json, os, sys, tempfile
import numpy as np, keras
from course_lib import checkpoints as C, diffusion as D, distribute, flows as F, gan as G, wgan as W
from course_lib import flow_matching as FM, guidance as GD, vae as V

x = np.random.default_rng(0).random((64, 28, 28, 1)).astype("float32")
y = np.eye(10, dtype="float32")[np.arange(64) % 10]
out = {"devices": distribute.strategy(2).extended.worker_devices}
for case, cond in (("gan", None), ("wgan-gp", None)):     # the conditional GAN: the same step, with labels
    weights, logs = {}, {}
    for r in (1, 2):
        strategy = distribute.strategy(r)
        with strategy.scope():
            keras.utils.set_random_seed(0)
            gan = (W.build_wgan(latent_dim=8, n_critic=2) if case == "wgan-gp"
                   else G.build_gan(latent_dim=8, num_classes=cond))
            gan.compile(d_optimizer=keras.optimizers.Adam(1e-3), g_optimizer=keras.optimizers.Adam(1e-3))
        if r == 2:
            try:
                gan.fit(x[:63], y[:63] if cond else None, batch_size=32, epochs=1, verbose=0)
                out["uneven"] = "no error"
            except ValueError as err:
                out["uneven"] = str(err)
        # two steps of 32 on the global batch (the second step: the optimizers' moments, BN's statistics)
        logs[r] = {k: float(v[-1]) for k, v in gan.fit(x, y if cond else None, batch_size=32, epochs=1,
                                                          verbose=0, shuffle=False).history.items()}
        weights[r] = [w for w in gan.get_weights()]
        out.setdefault("synchronized", []).append(
            [l.synchronized for l in gan.generator.layers if isinstance(l, keras.layers.BatchNormalization)])
    out[case] = {"max_abs_diff": max(float(np.abs(a - b).max()) for a, b in zip(weights[1], weights[2])),
                      "max_abs_weight": max(float(np.abs(a).max()) for a in weights[1]),
                      "logs": logs}
# the diffusion model's step (and the moving average of its weights), two steps of 16 points; the
# U-Net of the MNIST model trains through the same step (its tracing costs 10 s more here); then the same
# for 11's class-conditional model (label dropout drawn for the global batch) and flow matching
points2d = np.random.default_rng(2).standard_normal((32, 2)).astype("float32")
labels2d = (np.arange(32) % 3).astype("int32")
makers = {"diffusion": lambda: D.Diffusion(D.build_mlp_denoiser(hidden=16, depth=2, time_dim=8), T=100,
                                           schedule="cosine", ema_decay=0.9),
          "conditional diffusion": lambda: GD.ConditionalDiffusion(
              D.build_mlp_denoiser(hidden=16, depth=2, time_dim=8, num_classes=3), label_dropout=0.3, T=100,
              ema_decay=0.9),
          "flow matching": lambda: FM.FlowMatching(D.build_mlp_denoiser(hidden=16, depth=2, time_dim=8,
                                                                        continuous_time=True), ema_decay=0.9)}
for case, make in makers.items():
    weights, logs = {}, {}
    for r in (1, 2):
        with distribute.strategy(r).scope():
            keras.utils.set_random_seed(0)
            model = make()
            # clipped as diffusion_mnist's optimizer is, and so far below the gradients' norm that it always
            # acts: Keras would clip each replica's gradient before summing them (distribute.clipped_share)
            model.compile(optimizer=keras.optimizers.Adam(1e-3, global_clipnorm=1e-3))
        history = model.fit(points2d, labels2d if case == "conditional diffusion" else None, batch_size=16,
                            epochs=1, verbose=0, shuffle=False).history
        logs[r] = {k: float(v[-1]) for k, v in history.items()}
        weights[r] = [w for w in model.get_weights()]                     # the network's and the average's
    out[case] = {"max_abs_diff": max(float(np.abs(a - b).max()) for a, b in zip(weights[1], weights[2])),
                 "max_abs_weight": max(float(np.abs(a).max()) for a in weights[1]),
                 "logs": logs}
# 04's VAE and 05's CVAE: eps drawn for the global batch from the VAE's own seed generator, each replica
# taking its rows; the loss divided by the replicas (binary pixels, the Bernoulli decoder), two steps of 16
xv = (np.random.default_rng(3).random((32, 784)) > 0.5).astype("float32")
for case, cond in (("vae", None), ("cvae", 10)):
    weights, logs = {}, {}
    for r in (1, 2):
        with distribute.strategy(r).scope():
            keras.utils.set_random_seed(0)
            vae = V.build_vae(latent_dim=2, hidden=16, num_classes=cond, reconstruction="bce")
            vae.compile(optimizer=keras.optimizers.Adam(1e-3))
        history = vae.fit([xv, y[:32]] if cond else xv, batch_size=16, epochs=1, verbose=0, shuffle=False).history
        logs[r] = {k: float(v[-1]) for k, v in history.items()}
        weights[r] = [w for w in vae.get_weights()]
    out[case] = {"max_abs_diff": max(float(np.abs(a - b).max()) for a, b in zip(weights[1], weights[2])),
                 "max_abs_weight": max(float(np.abs(a).max()) for a in weights[1]), "logs": logs}
# the Glow-style flow's step (ActNorm started before fit, invertible 1x1 convolutions), two steps of 16
points = np.random.default_rng(1).standard_normal((32, 8, 8, 1)).astype("float32")
weights, logs = {}, {}
for r in (1, 2):
    with distribute.strategy(r).scope():
        keras.utils.set_random_seed(0)
        flow = F.MultiScaleFlow((8, 8, 1), scales=2, steps=1, hidden=8)
        # SGD: Adam's first steps divide each gradient by its own size, and some of the flow's start
        # near zero (its couplings start as the identity): float rounding would become step sizes
        flow.compile(optimizer=keras.optimizers.SGD(1e-2, global_clipnorm=1.0))   # acts (unclipped sums fail here)
        if r == 2:
            try:
                flow.fit(points, batch_size=16, epochs=1, verbose=0)
                out["flow not started"] = "no error"
            except ValueError as err:
                out["flow not started"] = str(err)
        flow.initialize(points[:16])          # inside the scope: the flow's variables are made here
    history = flow.fit(points, batch_size=16, epochs=1, verbose=0, shuffle=False).history
    logs[r] = {k: float(v[-1]) for k, v in history.items()}
    weights[r] = [w for w in flow.get_weights()]
out["flow"] = {"max_abs_diff": max(float(np.abs(a - b).max()) for a, b in zip(weights[1], weights[2])),
               "max_abs_weight": max(float(np.abs(a).max()) for a in weights[1]), "logs": logs}
lines, folder = [], tempfile.mkdtemp()
os.environ["DEVICES"] = "1"                       # the classifier the GAN recipe scores with: one device
C.train("classifier", directory=folder, tiny=True, log=lambda *a, **k: None)
os.environ["DEVICES"] = "2"
C.train("dcgan", directory=folder, tiny=True, log=lambda *a, **k: lines.append(" ".join(map(str, a))))
try:                                              # a toy GAN of 07: its own training loop, not fit
    C.train("ring_vanilla", directory=folder, tiny=True, log=lambda *a, **k: None)
    out["refused"] = "no error"
except C.CheckpointError as err:
    out["refused"] = str(err)
out["make checkpoints"] = [ln for ln in lines if "replicas" in ln]
print("RESULT" + json.dumps(out))
"""


@pytest.fixture(scope="module")
def two_devices():
    env = {**os.environ, "DEVICES": "2"}
    run = subprocess.run([sys.executable, "-c", _STEPS], cwd=ROOT, env=env, capture_output=True, text=True,
                         timeout=600)
    assert run.returncode == 0, run.stderr[-3000:]
    line = [ln for ln in run.stdout.splitlines() if ln.startswith("RESULT")][-1]
    return json.loads(line[len("RESULT"):])


@pytest.mark.parametrize("case", ["gan", "wgan-gp", "diffusion", "conditional diffusion", "flow matching", "flow",
                                  "vae", "cvae"])
def test_two_steps_on_two_replicas_equal_them_on_one_device(two_devices, case):
    result = two_devices[case]
    assert two_devices["devices"] == ["/job:localhost/replica:0/task:0/device:CPU:0",
                                      "/job:localhost/replica:0/task:0/device:CPU:1"]
    # float32 sums in another order: about 1e-6 of weights of size about 1 (without the loss
    # divided by the replicas, the noise cut per replica and synchronized BN: 2e-3 and more)
    assert result["max_abs_diff"] <= 1e-5 * result["max_abs_weight"], result
    # the conditional model's logged loss: 1.1e-5 apart (relative), measured, its weights within the bound
    # above; which labels are dropped moves that loss at another scale (4e-2 between dropout 0 and 0.3)
    rel = 5e-5 if case == "conditional diffusion" else 1e-5
    for name, value in result["logs"]["1"].items():
        assert result["logs"]["2"][name] == pytest.approx(value, rel=rel, abs=1e-6), name


def test_the_generator_synchronizes_batch_norm_only_on_several_replicas(two_devices):
    assert two_devices["synchronized"][0::2] == [[False, False]] * 2     # one device: the layers as before
    assert two_devices["synchronized"][1::2] == [[True, True]] * 2


def test_a_batch_that_does_not_split_evenly_is_refused(two_devices):
    assert "must be multiples of 2" in two_devices["uneven"] and "x[:len(x) - 31]" in two_devices["uneven"]


def test_a_flow_must_start_its_actnorm_layers_before_fit_on_several_replicas(two_devices):
    assert "flow.initialize" in two_devices["flow not started"]


def test_make_checkpoints_trains_a_gan_data_parallel_when_asked_and_refuses_other_recipes(two_devices):
    assert len(two_devices["make checkpoints"]) == 1
    assert "data-parallel on 2 replicas" in two_devices["make checkpoints"][0]
    assert "ring_vanilla is not one yet" in two_devices["refused"]


def test_one_device_is_the_default_and_bad_device_counts_are_refused():
    assert distribute.replicas() == 1
    for bad in ("two", "-1", 0):
        with pytest.raises(ValueError, match="devices"):
            distribute.strategy(bad)


def test_a_recipe_batch_must_split_evenly_over_the_devices():
    assert distribute.check_batch_splits(100, 2) == 100 and distribute.check_batch_splits(100, 5) == 100
    for size, devices in ((100, 3), (128, 3), (0, 2), (12.0, 2)):
        with pytest.raises(ValueError, match="split evenly"):
            distribute.check_batch_splits(size, devices)
    assert all("batch_size" in C.SPECS[name].settings for name in distribute.DATA_PARALLEL)   # each is checked
