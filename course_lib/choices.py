"""Choices made on the validation split that a notebook reports but cannot afford to re-run.

Introduced in 04b_vae_likelihood and 05_cvae; also the diffusion sampler (08a_evaluation,
10b_diffusion_mnist) and the WGAN-GP's settings and both GANs' spread over seeds and learning
rates (07b_wgan). A lecture notebook has minutes; comparing four ways to train a VAE takes
longer. ``make choices`` runs each comparison here, on the validation split only (the last
5,000 training digits, binarized with the course's fixed seed; the test set plays no part),
and writes what it measured to ``bench/choices.json`` with the date, the machine and the
command. The notebooks display the figures from that file (``result(name)``), so every number
in their text comes from this code's run.

    python -m course_lib.choices run                      # every comparison (about 1.7 hours)
    python -m course_lib.choices run vae_decoder_schedule
"""

import argparse
import datetime
import json
import os
import platform
import sys
import time
from pathlib import Path

import numpy as np

from course_lib import profile as _profile  # noqa: F401  (quiets TensorFlow's start-up log first)

import keras  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "bench" / "choices.json"
BATCH_SIZE = 100


class ChoiceError(ValueError):
    """A recorded comparison is missing or unknown."""


def _data():
    """The course's split, as ``checkpoints.mnist()`` holds it, flattened for the VAEs."""
    from course_lib.checkpoints import mnist
    from course_lib.data import flatten, one_hot

    d = mnist()
    return {"x_fit": flatten(d["x_fit"]), "c_fit": one_hot(d["y_fit"]),
            "x_val_bin": d["x_val_bin"], "c_val": one_hot(d["y_val"])}


def _train_vae(d, latent_dim, decoder_hidden, epochs, seed, schedule="cosine", conditional=False):
    """One VAE trained as 04b / 05 train it: 55,000 dynamically binarized digits, batches of 100, XLA."""
    from course_lib import vae as V
    from course_lib.data import binarized_batches

    keras.utils.set_random_seed(seed)
    model = V.build_vae(latent_dim=latent_dim, num_classes=10 if conditional else None,
                        decoder_hidden=decoder_hidden, reconstruction="bce")
    batches = binarized_batches(d["x_fit"], BATCH_SIZE, labels=d["c_fit"] if conditional else None, seed=0)
    optimizer = (keras.optimizers.Adam(2e-3) if schedule == "constant"
                 else V.make_optimizer(epochs, len(batches)))
    model.compile(optimizer=optimizer, jit_compile=True)
    model.fit(batches, epochs=epochs, verbose=0)
    return model


def _val_log_p(model, d, k=100):
    from course_lib import vae as V

    return V.iwae_log_likelihood(model, d["x_val_bin"], d["c_val"] if model.num_classes else None, k=k, seed=0)


def _summary(log_p):
    return {"val NLL": float(-log_p.mean()), "std error": float(log_p.std() / np.sqrt(len(log_p)))}


def _paired_se(a, b):
    diff = a - b
    return float(diff.std() / np.sqrt(len(diff)))


def vae_decoder_schedule(log=print):
    """04b, section 2: the decoder's depth x the learning-rate schedule, 2-D VAE, 12 epochs,
    seed 0; then the two schedules of the two-layer decoder once more with seed 1."""
    d, rows, log_ps = _data(), [], {}
    runs = [(h, s, 0) for h in ((512,), (512, 512)) for s in ("constant", "cosine")]
    runs += [((512, 512), s, 1) for s in ("constant", "cosine")]
    for hidden, schedule, seed in runs:
        t = time.perf_counter()
        model = _train_vae(d, 2, hidden, 12, seed, schedule)
        log_p = log_ps[(hidden, schedule, seed)] = _val_log_p(model, d)
        rows.append({"decoder hidden": list(hidden), "schedule": schedule, "seed": seed, **_summary(log_p)})
        log(f"  decoder {hidden}, {schedule}, seed {seed}: {rows[-1]['val NLL']:.2f} nats "
            f"({time.perf_counter() - t:.0f} s)", flush=True)
    seed0 = [key for key in log_ps if key[2] == 0]
    pairs = [_paired_se(log_ps[a], log_ps[b]) for i, a in enumerate(seed0) for b in seed0[i + 1:]]
    return {"rows": rows, "paired std error": {"min": min(pairs), "max": max(pairs)},
            "settings": "2-D VAE, encoder 512, 12 epochs on 55,000 digits, batches of 100; constant = Adam 2e-3, "
                        "cosine = vae.make_optimizer (3e-3 to 1.5e-4); IWAE k = 100 on the 5,000 validation digits"}


def cvae_epochs(log=print):
    """05, section 4: 8 or 10 epochs for the 2-D VAE and CVAE (each with its own cosine schedule)."""
    d, rows = _data(), []
    for name, conditional, seed in (("VAE", False, 1), ("CVAE", True, 0)):
        for epochs in (8, 10):
            t = time.perf_counter()
            model = _train_vae(d, 2, (512, 512), epochs, seed, conditional=conditional)
            rows.append({"model": name, "epochs": epochs, **_summary(_val_log_p(model, d))})
            log(f"  {name}, {epochs} epochs: {rows[-1]['val NLL']:.2f} nats ({time.perf_counter() - t:.0f} s)",
                flush=True)
    return {"rows": rows, "settings": "2-D VAE and CVAE as in 05 (decoder 512, 512; vae.make_optimizer over the "
                                      "epochs trained); IWAE k = 100 on the 5,000 validation digits"}


SAMPLER_STEPS = (10, 20, 50)
SAMPLER_BUDGET = 20          # network calls per image that a lecture can afford (08: 2,000 images in about a minute)
SAMPLER_N = 2_000            # samples per sampler, and validation digits they are compared with (08's N_EVAL)
SAMPLER_CLIPS = (None, 1.0)  # x0_hat as predicted, or clipped to the data's range [-1, 1]


def sampler_candidates(has_ema):
    """The samplers compared: with a moving average, every (eta, steps, clip) on its weights and
    the budget's step count on the raw weights beside them; without one, every (eta, steps, clip)."""
    grid = [{"eta": eta, "steps": steps, "clip_x0": clip} for eta in (0.0, 1.0) for steps in SAMPLER_STEPS
            for clip in SAMPLER_CLIPS]
    if not has_ema:
        return [{**g, "weights": "raw"} for g in grid]
    return ([{**g, "weights": "EMA"} for g in grid]
            + [{**g, "weights": "raw"} for g in grid if g["steps"] == SAMPLER_BUDGET])


def diffusion_sampler(log=print, model=None):
    """08a and 10b: the diffusion checkpoint's sampler, DDIM (eta 0) or strided DDPM (eta 1), its
    number of steps, x0 clipping and EMA or raw weights, by classifier-FID against validation digits."""
    from course_lib import checkpoints
    from course_lib import diffusion as D
    from course_lib import metrics as M

    d = checkpoints.mnist()
    model = checkpoints.load("diffusion_mnist") if model is None else model
    classifier = checkpoints.load("classifier")
    reference = d["x_val"][np.random.default_rng(5).choice(len(d["x_val"]), SAMPLER_N, replace=False)]
    real = M.classifier_outputs(classifier, reference)[0]
    rows = []
    for sampler in sampler_candidates(model.ema_decay is not None):
        t = time.perf_counter()
        x = D.to_pixels(D.sample_with(model, SAMPLER_N, sampler, seed=11))
        rows.append({"sampler": "DDIM (eta 0)" if sampler["eta"] == 0 else "strided DDPM (eta 1)", **sampler,
                     "val FID": M.fid(real, M.classifier_outputs(classifier, x)[0])})
        log(f"  {D.describe_sampler(sampler)}: val FID {rows[-1]['val FID']:.1f} ({time.perf_counter() - t:.0f} s)",
            flush=True)
    best = min((r for r in rows if r["steps"] <= SAMPLER_BUDGET), key=lambda r: r["val FID"])
    return {"rows": rows, "chosen": {k: best[k] for k in ("sampler",) + D.SAMPLER_KEYS},
            "budget": SAMPLER_BUDGET,
            "settings": f"the diffusion_mnist checkpoint; {SAMPLER_N:,} samples per sampler (seed 11) against "
                        f"{SAMPLER_N:,} random validation digits (the last 5,000 training digits, seed 5), "
                        f"the course classifier's features; chosen: the lowest FID with at most "
                        f"{SAMPLER_BUDGET} network calls per image"}


# ---------------------------------------------------------------------------------------
# 07b: the WGAN-GP's settings, and both GANs' spread over seeds and learning rates
# ---------------------------------------------------------------------------------------

GAN_MINUTES = 3.0            # each comparison run's training time: a third of the dcgan checkpoint's 9 minutes
GAN_BATCH = 128
GAN_FID_N = 5_000            # samples per run, against the 5,000 validation digits (the checkpoints' validate)
WGAN_GRID = [{"n_critic": n, "lr": lr, "betas": betas, "gp_weight": 10.0}
             for n in (1, 5) for lr in (1e-4, 3e-4, 1e-3) for betas in ((0.5, 0.9), (0.0, 0.9))]
RATE_STEP, WGAN_EDGE_STEPS = 3.0, 2   # a best rate at the grid's edge is tried once more beyond it, up to twice
WGAN_GP_WEIGHTS = (1.0, 30.0)  # the penalty's weight, tried on the best of the grid beside its 10
STABILITY_SEEDS = (0, 1, 2)
STABILITY_LR_FACTORS = (1 / 3, 3.0)
# The DCGAN tuned like the WGAN-GP, for a fair comparison: 07's rate and the stability runs' x 1/3 and
# x 3 (their seed-0 rows are reused), each with 07's betas (Radford et al.'s) and the WGAN-GP's chosen ones
DCGAN_LR_FACTORS = (1 / 3, 1.0, 3.0)


def _gan_model(kind, setting, seed):
    """A fresh DCGAN or WGAN-GP of 07 / 07b with ``setting``'s optimizer, weights drawn from ``seed``."""
    from course_lib import gan as G
    from course_lib import wgan as W

    keras.utils.set_random_seed(seed)
    if kind == "dcgan":
        model = G.build_gan(64, seed=seed)
        model.compile(*G.dcgan_optimizers(learning_rate=setting["lr"], beta_1=setting["betas"][0],
                                          beta_2=setting["betas"][1]))
    else:
        model = W.build_wgan(64, n_critic=setting["n_critic"], gp_weight=setting["gp_weight"], seed=seed)
        model.compile(*W.wgan_optimizers(setting["lr"], tuple(setting["betas"])))
    return model


def _gan_batches(x, seed):
    import tensorflow as tf

    return (tf.data.Dataset.from_tensor_slices(x[..., None]).shuffle(len(x), seed=seed).repeat()
            .batch(GAN_BATCH, drop_remainder=True).prefetch(2))


def _step_seconds(kind, setting, x, steps=60):
    """Seconds per generator step on this machine (after a warm-up call), for equal-minutes budgets."""
    model = _gan_model(kind, setting, seed=0)
    model.fit(_gan_batches(x, 0), epochs=1, steps_per_epoch=5, verbose=0)
    t = time.perf_counter()
    model.fit(_gan_batches(x, 0), epochs=1, steps_per_epoch=steps, verbose=0)
    return (time.perf_counter() - t) / steps


class _GanRuns:
    """Trains a GAN setting for GAN_MINUTES of this machine's time (a fixed number of generator steps,
    from a timing of each kind of step made first) and scores it on validation digits. ``previous``, a
    recorded result of the same comparison, lends its timings and the rows it measured: a run with the
    same setting, seed and number of steps is that row, not trained again (the code is deterministic
    up to the order of float sums)."""

    def __init__(self, log, previous=None):
        from course_lib import checkpoints
        from course_lib import metrics as M

        d = checkpoints.mnist()
        self.x, self.log, self.M = d["x_fit"], log, M
        previous = previous or {}
        self.costs = dict(previous.get("seconds per generator step", {}))
        self.done = {self._key(r): r for r in previous.get("rows", [])}
        self.reused = 0
        self.classifier = checkpoints.load("classifier")
        self.real = M.classifier_outputs(self.classifier, d["x_val"][:GAN_FID_N])[0]

    @staticmethod
    def _key(row):
        return (row["model"], row.get("n_critic"), float(row["lr"]), tuple(row["betas"]), row.get("gp_weight"),
                row["seed"], row["generator steps"])

    def steps(self, kind, setting):
        key = "dcgan" if kind == "dcgan" else f"WGAN-GP, {setting['n_critic']} critic steps"
        if key not in self.costs:
            self.costs[key] = _step_seconds(kind, setting, self.x)
        return key, int(GAN_MINUTES * 60 / self.costs[key])

    def __call__(self, kind, setting, seed=0):
        key, steps = self.steps(kind, setting)
        row = {"model": kind, **setting, "betas": list(setting["betas"]), "seed": seed, "generator steps": steps}
        if self._key(row) in self.done:
            self.reused += 1
            return {**row, "val FID": self.done[self._key(row)]["val FID"]}
        t = time.perf_counter()
        model = _gan_model(kind, setting, seed)
        model.fit(_gan_batches(self.x, seed), epochs=1, steps_per_epoch=steps, verbose=0)
        images = model.generate(GAN_FID_N, seed=1)[..., 0]
        fid = (float(self.M.fid(self.M.classifier_outputs(self.classifier, images)[0], self.real))
               if np.isfinite(images).all() else float("nan"))       # a diverged run has no FID
        row["val FID"] = fid if np.isfinite(fid) else None
        self.log(f"  {kind} {setting}, seed {seed}: {steps} steps, val FID {fid:.1f} "
                 f"({time.perf_counter() - t:.0f} s)", flush=True)
        return row


def _rank(row):
    return np.inf if row["val FID"] is None else row["val FID"]


def _finite(value):
    return float(value) if np.isfinite(value) else None


def _recorded(name):
    try:
        return result(name)
    except ChoiceError:
        return {}


def _beyond_the_edge(runs, kind, rows, rates, kept):
    """If the best row's rate is at the edge of ``rates``, run it once more a RATE_STEP beyond that
    edge (``kept``: the other settings of the best row), up to WGAN_EDGE_STEPS times; the best row."""
    best, rates = min(rows, key=_rank), sorted(rates)
    for _ in range(WGAN_EDGE_STEPS):
        lr = best["lr"]
        if lr not in (rates[0], rates[-1]):
            break
        lr = lr * RATE_STEP if lr == rates[-1] else lr / RATE_STEP
        rates = sorted(rates + [lr])
        rows.append(runs(kind, {k: best[k] for k in kept} | {"lr": lr, "betas": tuple(best["betas"])}))
        best = min(rows, key=_rank)
    return best


def wgan_settings(log=print):
    """07b: the WGAN-GP's critic steps, Adam rate and betas, then its penalty weight, by validation
    FID after equal minutes of training (GAN_MINUTES each)."""
    runs = _GanRuns(log, _recorded("wgan_settings"))
    rows = [runs("wgan", setting) for setting in WGAN_GRID]
    best = _beyond_the_edge(runs, "wgan", rows, {g["lr"] for g in WGAN_GRID}, ("n_critic", "gp_weight"))
    base = {k: best[k] for k in ("n_critic", "lr", "gp_weight")} | {"betas": tuple(best["betas"])}
    rows += [runs("wgan", {**base, "gp_weight": w}) for w in WGAN_GP_WEIGHTS]
    best = min(rows, key=_rank)
    return {"rows": rows, "chosen": {k: best[k] for k in ("n_critic", "lr", "betas", "gp_weight")},
            "seconds per generator step": runs.costs, "rows reused from the previous record": runs.reused,
            "settings": f"07's DCGAN networks as a WGAN-GP, z of size 64, batches of {GAN_BATCH}, seed 0; each run "
                        f"trains {GAN_MINUTES:g} minutes of this machine's time (generator steps = minutes / the "
                        f"seconds per step timed first); classifier-FID of {GAN_FID_N:,} samples against the "
                        f"{GAN_FID_N:,} validation digits; the grid first (penalty weight 10); if its best rate is "
                        f"at the grid's edge, the rate x or / {RATE_STEP:g} beyond it (at most {WGAN_EDGE_STEPS} "
                        f"times); then the weights {', '.join(f'{w:g}' for w in WGAN_GP_WEIGHTS)} on the best"}


def gan_stability(log=print):
    """07b: the spread of validation FID over seeds and learning rates, for the DCGAN and the
    WGAN-GP at their chosen settings (GAN_MINUTES of training each)."""
    from course_lib import gan as G

    tuned, previous = result("wgan_settings"), _recorded("gan_stability")
    settings = {"dcgan": {"lr": G.DCGAN_LEARNING_RATE, "betas": G.DCGAN_CHECKPOINT_BETAS},
                "wgan": {**tuned["chosen"], "betas": tuple(tuned["chosen"]["betas"])}}
    # the WGAN-GP's timing and its seed-0 run at the chosen setting come from wgan_settings' record,
    # the DCGAN's seed-0 runs at its rates from dcgan_settings' (when recorded)
    lent = {"seconds per generator step": {**tuned["seconds per generator step"],
                                           **previous.get("seconds per generator step", {})},
            "rows": tuned["rows"] + _recorded("dcgan_settings").get("rows", []) + previous.get("rows", [])}
    runs, rows = _GanRuns(log, lent), []
    for kind, setting in settings.items():
        rows += [{**runs(kind, setting, seed), "lr factor": 1.0} for seed in STABILITY_SEEDS]
        rows += [{**runs(kind, {**setting, "lr": setting["lr"] * f}, 0), "lr factor": f} for f in STABILITY_LR_FACTORS]
    summary = {}
    for kind in settings:
        seeds = [_rank(r) for r in rows if r["model"] == kind and r["lr factor"] == 1.0]
        lrs = [_rank(r) for r in rows if r["model"] == kind and r["seed"] == 0]
        summary[kind] = {"seeds: min, max": [_finite(min(seeds)), _finite(max(seeds))],
                         "seeds: mean": _finite(float(np.mean(seeds))),
                         "learning rates: min, max": [_finite(min(lrs)), _finite(max(lrs))],
                         "runs without an FID (diverged)": sum(r["val FID"] is None for r in rows if r["model"] == kind)}
    return {"rows": rows, "summary": summary, "seconds per generator step": runs.costs,
            "rows reused from earlier records": runs.reused,
            "settings": f"each model at its checkpoint's settings (chosen by wgan_settings and dcgan_settings), seeds "
                        f"{', '.join(map(str, STABILITY_SEEDS))}, then learning rate x "
                        f"{', '.join(f'{f:.3g}' for f in STABILITY_LR_FACTORS)} with seed 0; {GAN_MINUTES:g} minutes "
                        f"of training each; classifier-FID of {GAN_FID_N:,} samples against the {GAN_FID_N:,} "
                        "validation digits; the WGAN-GP's seconds per step and its seed-0 run come from "
                        "wgan_settings' record, the DCGAN's seed-0 runs from dcgan_settings' (its step is timed here "
                        "if not recorded)"}


def dcgan_betas():
    """The DCGAN's betas tried by ``dcgan_settings``: 07's (Radford et al.'s) and the WGAN-GP's chosen ones."""
    from course_lib import gan as G

    return ((G.DCGAN_BETA_1, 0.999), tuple(result("wgan_settings")["chosen"]["betas"]))


def dcgan_settings(log=print):
    """07b: the DCGAN's Adam rate and betas tuned as the WGAN-GP's were (GAN_MINUTES each), so that the
    two checkpoints' comparison is not between a tuned and an untuned model."""
    from course_lib import gan as G

    stability = result("gan_stability")        # its DCGAN timing and seed-0 runs are reused
    runs = _GanRuns(log, {"seconds per generator step": {"dcgan": stability["seconds per generator step"]["dcgan"]},
                          "rows": stability["rows"] + _recorded("dcgan_settings").get("rows", [])})
    rates = [G.DCGAN_LEARNING_RATE * f for f in DCGAN_LR_FACTORS]
    betas_tried = dcgan_betas()
    rows = [runs("dcgan", {"lr": lr, "betas": betas}) for betas in betas_tried for lr in rates]
    best = _beyond_the_edge(runs, "dcgan", rows, rates, ())
    return {"rows": rows, "chosen": {"lr": best["lr"], "betas": best["betas"]},
            "07's setting": {"lr": G.DCGAN_LEARNING_RATE, "betas": [G.DCGAN_BETA_1, 0.999]},
            "seconds per generator step": runs.costs, "rows reused from earlier records": runs.reused,
            "settings": f"07's DCGAN, z of size 64, batches of {GAN_BATCH}, seed 0; Adam rate "
                        f"{', '.join(f'{r:.3g}' for r in rates)} x betas {', '.join(map(str, betas_tried))} "
                        f"(07's, and the WGAN-GP's chosen ones), then the rate x or / {RATE_STEP:g} beyond the "
                        f"grid's edge if the best is there (at most {WGAN_EDGE_STEPS} times); {GAN_MINUTES:g} "
                        f"minutes of training each (the DCGAN step timed by gan_stability); classifier-FID of "
                        f"{GAN_FID_N:,} samples against the {GAN_FID_N:,} validation digits"}


COMPARISONS = {"vae_decoder_schedule": vae_decoder_schedule, "cvae_epochs": cvae_epochs,
               "diffusion_sampler": diffusion_sampler, "wgan_settings": wgan_settings,
               "gan_stability": gan_stability, "dcgan_settings": dcgan_settings}


def result(name, path=None):
    """The recorded outcome of comparison ``name`` (what ``make choices`` measured)."""
    path = Path(path or RESULTS)
    recorded = json.loads(path.read_text()) if path.exists() else {}
    if name not in COMPARISONS:
        raise ChoiceError(f"unknown comparison {name!r}; known: {', '.join(COMPARISONS)}.")
    if name not in recorded:
        raise ChoiceError(f"{path} holds no result for {name!r}: run `make choices` "
                          f"(python -m course_lib.choices run {name}).")
    return recorded[name]


def run(names=None, path=None, log=print):
    path = Path(path or RESULTS)
    names = list(names or COMPARISONS)
    unknown = [n for n in names if n not in COMPARISONS]
    if unknown:
        raise ChoiceError(f"unknown comparison(s) {', '.join(unknown)}; known: {', '.join(COMPARISONS)}.")
    for name in names:
        log(f"[{name}] {COMPARISONS[name].__doc__.split(chr(10))[0]}", flush=True)
        start = time.perf_counter()
        out = COMPARISONS[name](log=log)
        out.update({"minutes": round((time.perf_counter() - start) / 60, 1),
                    "command": f"python -m course_lib.choices run {name}",
                    "machine": f"{os.cpu_count()} CPU cores ({platform.machine()}), Keras {keras.__version__}",
                    "date": datetime.date.today().isoformat()})
        recorded = json.loads(path.read_text()) if path.exists() else {}
        recorded[name] = out
        path.write_text(json.dumps(dict(sorted(recorded.items())), indent=1) + "\n")
        log(f"[{name}] written to {path} ({out['minutes']} min)", flush=True)


def main(argv=None):
    parser = argparse.ArgumentParser(prog="python -m course_lib.choices", description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    r = sub.add_parser("run", help="run comparisons and record them in bench/choices.json")
    r.add_argument("names", nargs="*", help=f"default: all ({', '.join(COMPARISONS)})")
    args = parser.parse_args(argv)
    run(args.names)
    return 0


if __name__ == "__main__":
    sys.exit(main())
