"""09's normalizing flows: the lecture's RealNVP, and Glow's multi-scale flow (the field's recipe)."""

import numpy as np

from course_lib.recipes.base import Spec, TINY_SPLITS, last_logs, recipe_tools, steps_per_epoch


GLOW_SIZES = dict(scales=2, steps=8, hidden=128, conv1x1=True, learned_prior=True)
GLOW_EPOCHS = 22
GLOW_INIT = 512          # digits that set every actnorm's starting scale and shift


def specs(register, tiny=False):
    from course_lib import flows as F

    data, subset, size = recipe_tools(tiny)
    epochs, batch, peak_lr = size(6, 1), 64, 1e-3
    sizes = size(F.MNIST_SIZES, dict(F.MNIST_SIZES, couplings=2, hidden=8))

    def build():
        model = F.RealNVP((28, 28, 1), **sizes)
        model(np.zeros((1, 28, 28, 1), "float32"))
        return model

    def compile_(model):
        model.compile(optimizer=F.make_optimizer(epochs, steps_per_epoch(len(data()["x_fit_u8"]), batch),
                                                 peak_lr=peak_lr))

    def fit_epoch(model, epoch):
        y = F.to_logit(F.dequantize(data()["x_fit_u8"], seed=epoch))[0]    # fresh noise every epoch
        return last_logs(model.fit(y, batch_size=batch, epochs=1, shuffle=True, verbose=0))

    def score(model, which, idx=None):
        x = data()[f"x_{which}_u8"]
        x = x if idx is None else x[idx]
        return float(F.bits_per_dim(F.log_prob_8bit(model, x, seed=7)).mean())

    def validate(model):                                  # both flows are scored alike
        return "validation bits/dim (1,000 digits)", score(model, "val", np.arange(size(1000, 8)))

    def evaluate(model):
        return {"test bits/dim (10,000 digits, one dequantization each)": score(model, "test"),
                "validation bits/dim": score(model, "val"), "params": model.count_params()}

    def check(model):
        return "bits/dim, 200 fixed test digits", score(model, "test", subset())

    register(Spec("flow_mnist", ("09_flows",),
                  f"RealNVP, multiscale: {sizes['couplings']} affine couplings at each of 3 scales, "
                  f"s/t networks of {sizes['hidden']} channels", epochs, 25,
                  {**sizes, "batch_size": batch, "peak_lr": peak_lr,
                   "optimizer": "flows.make_optimizer (Adam, cosine to 5%, global clipnorm 100)",
                   "data": "8-bit levels, dequantized afresh each epoch, logit", "train images": "55,000"},
                  build, compile_, fit_epoch, size(55_000, TINY_SPLITS["fit"]),
                  validate, evaluate, check))

    glow_epochs = size(GLOW_EPOCHS, 1)
    glow = size(GLOW_SIZES, dict(GLOW_SIZES, steps=1, hidden=8))

    def build_glow():
        model = F.MultiScaleFlow((28, 28, 1), **glow)
        model.initialize(F.to_logit(F.dequantize(data()["x_fit_u8"][:GLOW_INIT], seed=10_000))[0])
        return model

    def compile_glow(model):
        model.compile(optimizer=F.make_optimizer(glow_epochs, steps_per_epoch(len(data()["x_fit_u8"]), batch),
                                                 peak_lr=peak_lr))

    register(Spec("glow_mnist", ("09_flows", "08a_evaluation", "08b_evaluation"),
                  f"Glow-style multi-scale flow: {glow['scales']} scales of {glow['steps']} steps (actnorm, "
                  f"invertible 1x1 convolution, affine coupling of {glow['hidden']} channels), half of the "
                  f"dimensions factored out after the first scale", glow_epochs, 60,
                  {**glow, "batch_size": batch, "peak_lr": peak_lr, "actnorm initialised on": f"{GLOW_INIT} digits",
                   "optimizer": "flows.make_optimizer (Adam, cosine to 5%, global clipnorm 100)",
                   "data": "8-bit levels, dequantized afresh each epoch, logit", "train images": "55,000"},
                  build_glow, compile_glow, fit_epoch, size(55_000, TINY_SPLITS["fit"]),
                  validate, evaluate, check))
