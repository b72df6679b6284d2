"""07's toy GANs: the ring of 8 Gaussians (collapse, PacGAN, learning rates) and two modes."""

import keras
import numpy as np

from course_lib.recipes.base import Spec, last_logs, recipe_tools

RING = dict(n=20_000, modes=8, radius=2.0, std=0.02, seed=0)


def specs(register, tiny=False):
    from course_lib import gan as G

    _, _, size = recipe_tools(tiny)
    snapshot_every, n_snapshot = size(500, 1), size(2000, 64)
    recipes = {  # name: (steps, latent_dim, pack, lr, what it shows)
        "ring_vanilla": (4000, 64, 1, 1e-3, "mode collapse"),
        "ring_pacgan": (4000, 64, 4, 1e-3, "PacGAN's remedy"),
        "ring_lr_1e-4": (3000, 2, 1, 1e-4, "learning-rate sweep"),
        "ring_lr_1e-3": (3000, 2, 1, 1e-3, "learning-rate sweep"),
        "ring_lr_1e-2": (3000, 2, 1, 1e-2, "learning-rate sweep"),
    }

    def make(name, steps, latent, pack, lr, shows):
        steps = size(steps, 2)
        recorded = {}
        points, centres = G.ring_of_gaussians(RING["n"], RING["modes"], RING["radius"], RING["std"], RING["seed"])

        def fit_epoch(model, epoch):                      # one "epoch" = the whole run (under a minute)
            # 07's own call, seeds and all, so the recording is the run the lecture profile makes
            trained, snaps = G.train_toy_gan(points, steps=steps, latent_dim=latent, lr=lr, pack=pack,
                                             snapshot_every=snapshot_every, n_snapshot=n_snapshot, seed=0)
            model.set_weights(trained.get_weights())
            recorded["steps"] = np.array([step for step, _, _ in snaps])
            recorded["samples"] = np.stack([samples for _, samples, _ in snaps]).astype("float32")
            return {k: float(v[-1]) for k, v in snaps[-1][2].items()}

        def coverage(model, seed):
            n_covered, quality, _ = G.mode_coverage(model.generate(n_snapshot, seed=seed), centres, std=RING["std"])
            return n_covered, quality

        def validate(model):
            return "modes covered (3 sd), 2,000 samples", coverage(model, 1)[0]

        def evaluate(model):
            n_covered, quality = coverage(model, 0)
            return {"modes covered at the end (3 sd)": n_covered, "share of samples within 3 sd of a mode": quality}

        def check(model):
            return "share of 2,000 samples within 3 sd of a mode", coverage(model, 0)[1]

        shown_in = {"ring_vanilla": ("07_gan", "07b_wgan", "10_diffusion"), "ring_pacgan": ("07_gan", "10_diffusion")}
        register(Spec(name, shown_in.get(name, ("07_gan",)),
                      f"ring of 8 Gaussians, {shows}: MLP GAN, z of size {latent}"
                      + (f", pack {pack}" if pack > 1 else "") + f", Adam {lr:g}, {steps} steps", 1, 2,
                      {"steps": steps, "latent_dim": latent, "pack": pack, "lr": lr, "batch_size": 512,
                       "snapshot_every": snapshot_every, "data": f"gan.ring_of_gaussians({RING})"},
                      lambda: G.toy_gan(2, latent, pack, seed=0),
                      lambda model: G.compile_toy_gan(model, lr, snapshot_every=snapshot_every),
                      fit_epoch, steps * 512 * pack, validate, evaluate, check,
                      artifacts=lambda: dict(recorded)))

    for name, recipe in recipes.items():
        make(name, *recipe)

    bimodal_epochs, bimodal_n = size(40, 1), size(20_000, 256)

    def bimodal_fit(model, epoch):
        points = G.two_modes()[:bimodal_n, None].astype("float32")
        return last_logs(model.fit(points, batch_size=256, epochs=1, verbose=0))

    def bimodal_moments(model):
        x = model.generate(bimodal_n, seed=0)[:, 0]
        return float(x.mean()), float(x.std())

    register(Spec("bimodal_gan", ("07_gan",), "one Gaussian (a linear G of a 1-D z) fitted by a GAN to two modes",
                  bimodal_epochs, 2, {"epochs": bimodal_epochs, "batch_size": 256, "lr": 1e-3, "data": "gan.two_modes()"},
                  lambda: G.GAN(G.build_mlp_generator(latent_dim=1, depth=0, output_dim=1),
                                G.build_mlp_discriminator(input_dim=1), seed=0),
                  lambda model: model.compile(keras.optimizers.Adam(1e-3, beta_1=0.5),
                                              keras.optimizers.Adam(1e-3, beta_1=0.5)),
                  bimodal_fit, bimodal_n, lambda m: ("sd of G's samples", bimodal_moments(m)[1]),
                  lambda m: dict(zip(("mean of G's samples", "sd of G's samples"), bimodal_moments(m))),
                  lambda m: ("mean of 20,000 samples", bimodal_moments(m)[0])))
