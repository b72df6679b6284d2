"""06's PixelCNNs: the binary, class-conditional and 8-bit networks 06a, 06b, 06d (and 08, 09) load.

A checkpoint of this family is a row of ``RECIPES`` and of ``NOTEBOOKS``; ``specs`` turns each row
into its ``Spec`` (``make``: the build, training, scoring and check every row shares).
"""

import contextlib
import time

import numpy as np

from course_lib.recipes.base import Spec, TINY_SPLITS, functions_eager, last_logs, need, recipe_tools, steps_per_epoch

PIXELCNN_SIZES = dict(filters=48, hidden_layers=8, first_kernel=7, hidden_kernel=5, head_units=128)
TINY_PIXELCNN_SIZES = dict(PIXELCNN_SIZES, filters=8, hidden_layers=1, head_units=8)     # a tiny run's
# The gated PixelCNN: about as many parameters as the plain one (460k against 470k), but its gates
# and small shifted convolutions train at about half the plain network's images per second (93
# against 205 on a quiet 2-core host, 2026-12-06): 5 epochs fill the same 60 minutes as its 12.
CHECK_DIGITS = 50      # test digits of a checkpoint's check figure (`python -m course_lib.checkpoints recheck`)
GATED_SIZES = dict(filters=48, gated_layers=10, first_kernel=7, kernel=3, head_units=128)
TINY_GATED_SIZES = dict(GATED_SIZES, filters=8, gated_layers=2, head_units=8)

# Budgets: pixelcnn_binary's 12 epochs took 60 min on the host that trained it (202 images/s);
# on a slower host of the same 2-core kind (2026-12-01) the same network trains at about 80
# images/s, 11 min an epoch, so the later recipes are cut to what fits 60 min there.
RECIPES = {  # name: (network, kind, conditional?, epochs, peak lr, budget minutes)
    "pixelcnn_binary": ("plain", "binary", False, 12, 3e-3, 60),
    "pixelcnn_conditional": ("plain", "binary", True, 5, 3e-3, 60),
    "pixelcnn_8bit": ("plain", "categorical", False, 4, 3e-3, 60),
    "gated_pixelcnn_binary": ("gated", "binary", False, 5, 3e-3, 60),
    "gated_pixelcnn_conditional": ("gated", "binary", True, 5, 3e-3, 60),
    # 256-way head: 57 images/s on a slow day of this host (host reference 0.65 s, 2026-12-07),
    # 16 min an epoch, so 3 epochs fill the hour (the plain 8-bit network: 102 images/s)
    "gated_pixelcnn_8bit": ("gated", "categorical", False, 3, 3e-3, 60),
}
NOTEBOOKS = {  # name: the notebooks that load it (``make present`` trains what they need first)
    "pixelcnn_binary": ("06a_pixelcnn", "06b_pixelcnn_conditional"),
    "pixelcnn_conditional": ("06b_pixelcnn_conditional",),
    "pixelcnn_8bit": ("06a_pixelcnn", "06d_likelihood_ood", "09_flows"),
    "gated_pixelcnn_binary": ("06e_gated_pixelcnn", "08a_evaluation", "08b_evaluation"),
    "gated_pixelcnn_conditional": ("06e_gated_pixelcnn",),
    "gated_pixelcnn_8bit": ("06e_gated_pixelcnn", "09_flows"),
}


def specs(register, tiny=False):
    from course_lib import pixelcnn as P
    from course_lib.data import binarized_batches, flatten, one_hot
    from course_lib.vae import make_optimizer

    data, subset, size = recipe_tools(tiny)
    batch = 32

    def make(name, network, kind, conditional, epochs, peak_lr, minutes):
        epochs = size(epochs, 1)
        gated = network == "gated"
        sizes = size(GATED_SIZES, TINY_GATED_SIZES) if gated else size(PIXELCNN_SIZES, TINY_PIXELCNN_SIZES)
        builder = P.build_gated_pixelcnn if gated else P.build_pixelcnn

        def build():
            return builder(kind, num_classes=10 if conditional else None, **sizes)

        def compile_(model):
            model.compile(optimizer=make_optimizer(epochs, steps_per_epoch(len(data()["x_fit"]), batch),
                                                   peak_lr=peak_lr))

        def fit_epoch(model, epoch):
            d = data()
            if kind == "binary":
                labels = one_hot(d["y_fit"]) if conditional else None
                batches = binarized_batches(flatten(d["x_fit"]), batch, labels=labels, seed=epoch)
                return last_logs(model.fit(batches, epochs=1, verbose=0))
            return last_logs(model.fit(d["x_fit_u8"], batch_size=batch, epochs=1, shuffle=True, verbose=0))

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
            with functions_eager(False) if tiny else contextlib.nullcontext():
                return P.sample(model, len(wanted), labels=one_hot(wanted), seed=seed, progress=False)

        def validate(model):
            return f"validation NLL{given} ({unit}, 1,000 digits)", score(model, "val", np.arange(size(1000, 8)))

        def evaluate(model):
            out = {f"test NLL{given} ({unit}, 10,000 digits)": score(model, "test"),
                   "validation NLL": score(model, "val"),
                   "receptive field rows": P.receptive_field_rows(model), "params": model.count_params()}
            if conditional:
                from course_lib import metrics as M

                classifier = need("classifier")
                wanted = np.repeat(np.arange(10), size(100, 1))
                t = time.perf_counter()
                samples = draw(model, wanted, seed=0)
                out["sampling seconds (1,000 digits, fast sampler)"] = time.perf_counter() - t
                read = M.classifier_outputs(classifier, samples)[1].argmax(1)
                out["samples recognised as the requested digit (classifier, 1,000 samples)"] = float(
                    (read == wanted).mean())
            return out

        def check(model):   # CI recomputes it for every checkpoint: 50 digits (the gated network costs ~15 ms each)
            return f"NLL{given} ({unit}), {CHECK_DIGITS} fixed test digits", score(model, "test", subset(CHECK_DIGITS))

        def tracked(model):   # is the label obeyed yet? 50 samples of each digit, read by the classifier
            from course_lib import metrics as M

            wanted = np.repeat(np.arange(10), size(50, 1))
            samples = draw(model, wanted, seed=1)
            read = M.classifier_outputs(need("classifier"), samples)[1].argmax(1)
            return {"samples recognised as the requested digit (classifier, 500 samples)": float((read == wanted).mean())}

        if gated:
            k = sizes["kernel"]
            layers_ = (f"{sizes['gated_layers']} gated layers (vertical {k // 2 + 1}x{k} and horizontal "
                       f"1x{k // 2 + 1} stacks) of {sizes['filters']} filters, no blind spot")
        else:
            layers_ = f"{sizes['hidden_layers']} residual 5x5 masked layers of {sizes['filters']} filters"
        network_class = P.GatedPixelCNN if gated else P.PixelCNN      # constructed, not built: importing the
        rows_seen = P.receptive_field_rows(network_class(kind=kind, **sizes))   # recipes builds no network
        register(Spec(name, NOTEBOOKS[name],
                      f"{'class-conditional ' if conditional else ''}{kind} {'gated ' if gated else ''}PixelCNN, "
                      f"{layers_} (sees {rows_seen} rows up)", epochs, minutes,
                      {**sizes, "kind": kind, "batch_size": batch, "peak_lr": peak_lr,
                       "optimizer": "vae.make_optimizer (Adam, cosine to 5%)",
                       "data": "dynamically binarized" if kind == "binary" else "8-bit levels",
                       "train images": "55,000"},
                      build, compile_, fit_epoch, size(55_000, TINY_SPLITS["fit"]), validate, evaluate, check,
                      needs=("classifier",) if conditional else (), tracked=tracked if conditional else None))

    for name, recipe in RECIPES.items():
        make(name, *recipe)
