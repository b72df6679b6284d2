"""10b's diffusion model (10 trains its 2-D ring live)."""

import contextlib
import time

import keras
import numpy as np

from course_lib.recipes.base import Spec, TINY_SPLITS, last_logs, need, recipe_tools, run_directory, steps_per_epoch

DIFFUSION_CURVE_STEPS = (5, 10, 20, 50, 100)      # the steps-vs-FID curve of the manifest (DDIM, eta 0 and 1)


def specs(register, tiny=False):
    from course_lib import diffusion as D
    from course_lib import metrics as M

    data, subset, size = recipe_tools(tiny)
    epochs, batch, peak_lr, filters, T, n_curve = size(25, 1), 128, 1e-3, size(32, 8), size(1000, 10), 500
    min_signal, ema_decay, clip = 0.02, 0.999, 1.0
    warmup, curve_steps = size(200, 1), size(DIFFUSION_CURVE_STEPS, (2,))
    ddim_steps, check_steps = size(20, 2), size(10, 2)            # DDIM-20 for the figures, DDIM-10 for the check
    n_val, n_test, n_check, n_curve_run = size(1000, 16), size(10_000, 16), size(200, 16), size(n_curve, 16)
    name = "diffusion_mnist"
    fixed = {"eta": 0.0, "steps": ddim_steps, "clip_x0": clip, "weights": "EMA"}   # before any choice is made

    def build():
        return D.Diffusion(D.build_unet(filters=filters), T=T, schedule="cosine", min_signal_rate=min_signal,
                           ema_decay=ema_decay, ema_warmup=False)

    def compile_(model):
        steps = epochs * steps_per_epoch(len(data()["x_fit"]), batch)
        schedule = keras.optimizers.schedules.CosineDecay(0.0, max(steps - warmup, 1), alpha=0.02,
                                                          warmup_target=peak_lr, warmup_steps=warmup)
        model.compile(optimizer=keras.optimizers.Adam(schedule, global_clipnorm=1.0))

    def fit_epoch(model, epoch):
        logs = last_logs(model.fit(D.to_model_range(data()["x_fit"]), batch_size=batch, epochs=1, shuffle=True,
                               verbose=0))
        work = run_directory() / ".work" / name       # samples of fixed starts after every epoch, kept on resume
        np.save(work / f"samples_epoch{epoch + 1:02d}.npy", D.to_pixels(D.sample_with(model, size(10, 2), fixed, seed=0)))
        return logs

    def artifacts():
        files = sorted((run_directory() / ".work" / name).glob("samples_epoch*.npy"))
        return {"epochs": np.array([int(f.stem[-2:]) for f in files]),
                "samples": np.stack([np.load(f) for f in files]).astype("float32")}

    def fid_of(images, real):
        classifier = need("classifier")
        return float(M.fid(M.classifier_outputs(classifier, images)[0], M.classifier_outputs(classifier, real)[0]))

    def sample(model, n, sampler, seed=0):
        return D.to_pixels(D.sample_with(model, n, sampler, seed=seed))

    def validate(model):
        return "classifier-FID, 1,000 DDIM-20 samples (EMA, x0 clipped) vs 1,000 validation digits", fid_of(
            sample(model, n_val, fixed, seed=1), data()["x_val"][:n_val])

    def evaluate(model):
        from course_lib import choices as C

        d = data()
        picked = C.diffusion_sampler(model=model) if not tiny else {"chosen": {**fixed, "sampler": "DDIM (eta 0)"},
                                                                       "rows": []}
        chosen = {k: picked["chosen"][k] for k in D.SAMPLER_KEYS}
        real = d["x_test"][subset(n_curve, seed=7)]
        curve = []
        for eta in (0.0, 1.0):
            for steps in curve_steps:
                t = time.perf_counter()
                images = sample(model, n_curve_run, {**chosen, "eta": eta, "steps": steps}, seed=3)
                curve.append({"sampler": "DDIM (eta 0)" if eta == 0 else "strided DDPM (eta 1)", "steps": steps,
                              "seconds per 1,000 images": round((time.perf_counter() - t) * 1000 / n_curve_run, 1),
                              "FID": fid_of(images, real)})
        t = time.perf_counter()
        with model.ema_weights() if chosen["weights"] == "EMA" else contextlib.nullcontext():
            images = D.to_pixels(D.ddpm_sample(model.denoiser, model.schedule, n_curve_run, (28, 28, 1), seed=3,
                                               batch_size=500, clip_x0=chosen["clip_x0"])[0])
        curve.append({"sampler": "DDPM (ancestral, all T)", "steps": T,
                      "seconds per 1,000 images": round((time.perf_counter() - t) * 1000 / n_curve_run, 1),
                      "FID": fid_of(images, real)})
        # the lecture's budget caps the chosen sampler at choices.SAMPLER_BUDGET network calls per image;
        # the best on validation at any step count shows what more calls buy
        best = min(picked["rows"], key=lambda r: r["val FID"]) if picked["rows"] else picked["chosen"]
        unbudgeted = {k: best[k] for k in D.SAMPLER_KEYS}
        test, measured = {}, {}
        for label, sampler in (("the sampler chosen on validation", chosen),                # named in the next figure
                               ("the best sampler on validation at any step count", unbudgeted),
                               ("DDIM-20, EMA weights, x0 clipped", fixed),
                               ("DDIM-20, raw weights, x0 clipped", {**fixed, "weights": "raw"})):
            key = tuple(sampler[k] for k in D.SAMPLER_KEYS)                  # the same sampler is measured once
            if key not in measured:
                measured[key] = fid_of(sample(model, n_test, sampler, seed=0), d["x_test"])
            test[f"classifier-FID, 10,000 samples vs the 10,000 test digits: {label}"] = measured[key]
        return {**test, "sampler chosen on validation": picked["chosen"],
                "best sampler on validation at any step count": {"sampler": best.get("sampler"), **unbudgeted},
                "validation classifier-FID of each sampler (2,000 vs 2,000)": picked["rows"],
                "validation classifier-FID (DDIM-20, EMA, clipped, 1,000)": validate(model)[1],
                f"steps vs classifier-FID ({n_curve:,} samples vs {n_curve:,} random test digits, "
                f"the chosen clipping and weights)": curve,
                "params": model.denoiser.count_params()}

    def check(model):
        return "classifier-FID, 200 DDIM-10 samples (EMA, clipped) vs 200 fixed test digits", fid_of(
            sample(model, n_check, {**fixed, "steps": check_steps}, seed=0), data()["x_test"][subset(200)])

    register(Spec(name, ("10b_diffusion_mnist", "08a_evaluation", "08b_evaluation", "11b_flow_matching"),
                  f"DDPM, eps-prediction U-Net (diffusion.build_unet, {filters} filters), cosine schedule "
                  f"(signal rate >= {min_signal:g}), T={T}, EMA {ema_decay:g}",
                  epochs, 60,
                  {"filters": filters, "T": T, "schedule": f"cosine (Nichol & Dhariwal 2021), sqrt(abar_t) >= {min_signal:g}",
                   "EMA of the weights": f"decay {ema_decay:g} from the first step", "batch_size": batch,
                   "optimizer": f"Adam, 200 warm-up steps to {peak_lr:g}, cosine to 2%, global clipnorm 1",
                   "loss": "simple (MSE of eps)", "data": "pixels scaled to [-1, 1]", "train images": "55,000"},
                  build, compile_, fit_epoch, size(55_000, TINY_SPLITS["fit"]), validate, evaluate, check,
                  check_tolerance=1e-2, needs=("classifier",), artifacts=artifacts))
