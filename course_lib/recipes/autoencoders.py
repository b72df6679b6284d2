"""03's four autoencoders."""

import keras

from course_lib.recipes.base import Spec, TINY_SPLITS, last_logs, recipe_tools, steps_per_epoch


def specs(register, tiny=False):
    from course_lib import autoencoders as ae
    from course_lib.data import add_noise, flatten

    data, subset, size = recipe_tools(tiny)
    lr, noise = 4e-3, 0.5
    recipes = {  # name: (builder, epochs, batch, dense?, denoising?, budget minutes)
        "ae_simple": (ae.simple_autoencoder, 50, 256, True, False, 3),
        "ae_deep": (ae.deep_sparse_autoencoder, 50, 256, True, False, 3),
        "ae_conv": (ae.conv_autoencoder, 20, 64, False, False, 5),
        "ae_denoising": (ae.denoising_autoencoder, 20, 64, False, True, 5),
    }

    def make(name, builder, epochs, batch, dense, denoising, minutes):
        epochs = size(epochs, 1)
        layout = flatten if dense else (lambda x: x[..., None])

        def compile_(model):
            schedule = keras.optimizers.schedules.CosineDecay(
                lr, epochs * steps_per_epoch(len(data()["x_fit"]), batch), alpha=0.05)
            model.compile(optimizer=keras.optimizers.Adam(schedule), loss="binary_crossentropy")

        def fit_epoch(model, epoch):
            x = layout(data()["x_fit"])
            x_in = add_noise(x, noise, seed=epoch) if denoising else x   # fresh noise every epoch
            return last_logs(model.fit(x_in, x, batch_size=batch, epochs=1, shuffle=True, verbose=0))

        def bce(model, x, seed):
            x = layout(x)
            return ae.reconstruction_losses(model, add_noise(x, noise, seed=seed) if denoising else x, x)["bce"]

        def validate(model):
            return "validation BCE", bce(model, data()["x_val"], seed=1)

        def evaluate(model):
            x = layout(data()["x_test"])
            noisy = add_noise(x, noise, seed=0)                   # 03's test noise
            test = ae.reconstruction_losses(model, noisy if denoising else x, x)
            return {"test BCE": test["bce"], "test MSE": test["mse"],
                    "BCE from noisy": ae.reconstruction_losses(model, noisy, x)["bce"],
                    "validation BCE": validate(model)[1], "code floats": ae.code_size(model),
                    "params": model.count_params()}

        def check(model):
            return "BCE on 200 fixed test digits", bce(model, data()["x_test"][subset()], seed=0)

        users = {"ae_simple": ("03_autoencoders", "08a_evaluation", "08b_evaluation"),   # 08's autoencoder row
                 "ae_conv": ("03_autoencoders", "08a_evaluation")}                     # 08a's second feature space
        register(Spec(name, users.get(name, ("03_autoencoders",)),
                      builder.__doc__.strip().splitlines()[0], epochs, minutes,
                      {"batch_size": batch, "peak_lr": lr, "optimizer": "Adam, cosine to 5%",
                       "noise_factor": noise if denoising else None, "train images": "55,000"},
                      builder, compile_, fit_epoch, size(55_000, TINY_SPLITS["fit"]), validate, evaluate, check))

    for name, recipe in recipes.items():
        make(name, *recipe)
