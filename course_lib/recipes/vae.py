"""04's and 05's VAEs."""

from course_lib.recipes.base import Spec, TINY_SPLITS, last_logs, recipe_tools, steps_per_epoch


def specs(register, tiny=False):
    from course_lib import vae as V
    from course_lib.distribute import replicas
    from course_lib.data import binarized_batches, flatten, one_hot

    data, subset, size = recipe_tools(tiny)
    batch, decoder_hidden, k_test = 100, (512, 512), 1000
    recipes = {  # name: (latent_dim, conditional?, epochs, budget minutes)
        "vae_d2": (2, False, 300, 30),
        "vae_d20": (20, False, 300, 30),
        "cvae_d2": (2, True, 300, 30),
    }

    def make(name, latent, conditional, epochs, minutes):
        epochs = size(epochs, 1)

        def build():
            return V.build_vae(latent_dim=latent, hidden=512, num_classes=10 if conditional else None,
                               decoder_hidden=decoder_hidden, reconstruction="bce")

        def compile_(model):
            model.compile(optimizer=V.make_optimizer(epochs, steps_per_epoch(len(data()["x_fit"]), batch)),
                          jit_compile=replicas() == 1)      # XLA fails under a strategy of several replicas

        def fit_epoch(model, epoch):
            d = data()
            labels = one_hot(d["y_fit"]) if conditional else None
            batches = binarized_batches(flatten(d["x_fit"]), batch, labels=labels, seed=epoch)
            return last_logs(model.fit(batches, epochs=1, verbose=0))

        def labels_of(y):
            return one_hot(y) if conditional else None

        def validate(model):
            d = data()
            return "validation -ELBO (nats)", float(-V.elbo(model, d["x_val_bin"][:2000],
                                                         labels_of(d["y_val"][:2000]), num_samples=1).mean())

        def evaluate(model):
            d = data()
            c = labels_of(d["y_test"])
            log_p = V.iwae_log_likelihood(model, d["x_test_bin"], c, k=size(k_test, 4), seed=0)
            return {f"test NLL (nats, IWAE k={k_test}, 10,000 digits)": float(-log_p.mean()),
                    "test -ELBO (nats, 10 samples)": float(-V.elbo(model, d["x_test_bin"], c, num_samples=10).mean()),
                    "validation -ELBO (nats)": validate(model)[1]}

        def check(model):
            d, idx = data(), subset()
            return "IWAE k=10 NLL (nats), 200 fixed test digits", float(
                -V.iwae_log_likelihood(model, d["x_test_bin"][idx], labels_of(d["y_test"][idx]), k=10, seed=0).mean())

        register(Spec(name, ("05_cvae", "08a_evaluation", "08b_evaluation") if conditional else ("04a_vae", "04b_vae_likelihood", "05_cvae")
                      if latent == 2 else ("04b_vae_likelihood", "08a_evaluation", "08b_evaluation"),
                      f"{'conditional ' if conditional else ''}VAE, latent d={latent}, encoder 512, decoder 512-512, "
                      "Bernoulli decoder", epochs, minutes,
                      {"latent_dim": latent, "decoder_hidden": decoder_hidden, "batch_size": batch,
                       "optimizer": "vae.make_optimizer (Adam 3e-3, cosine to 5%)",
                       "data": "dynamically binarized, 55,000 digits"},
                      build, compile_, fit_epoch, size(55_000, TINY_SPLITS["fit"]), validate, evaluate, check,
                      check_tolerance=1e-3))

    for name, recipe in recipes.items():
        make(name, *recipe)
