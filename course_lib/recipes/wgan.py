"""07b's Wasserstein GANs."""

import numpy as np

from course_lib.recipes.base import Spec, TINY_SPLITS, last_logs, need, recipe_tools
from course_lib.recipes.toy import RING

WGAN_RING_STEPS = 4000          # generator steps, as ring_vanilla's
WGAN_MNIST_EPOCHS = 24          # about the dcgan checkpoint's 9 minutes, at the chosen settings' cost per
                                # generator step (bench/choices.json, "seconds per generator step")


def specs(register, tiny=False):
    from course_lib import gan as G
    from course_lib import metrics as M
    from course_lib import wgan as W

    data, subset, size = recipe_tools(tiny)
    # the ring: 07's vanilla GAN's data, networks (z of size 64), Adam rate and generator steps
    snapshot_every, n_snapshot, n_critic, ring_steps = size(500, 1), size(2000, 64), 5, size(WGAN_RING_STEPS, 2)
    points, centres = G.ring_of_gaussians(RING["n"], RING["modes"], RING["radius"], RING["std"], RING["seed"])
    recorded = {}

    def ring_fit(model, epoch):
        trained, snaps = W.train_toy_wgan(points, steps=ring_steps, latent_dim=64, lr=1e-3, n_critic=n_critic,
                                          snapshot_every=snapshot_every, n_snapshot=n_snapshot, seed=0)
        model.set_weights(trained.get_weights())
        recorded["steps"] = np.array([step for step, _, _ in snaps])
        recorded["samples"] = np.stack([samples for _, samples, _ in snaps]).astype("float32")
        recorded["w_estimate"] = np.array([float(h["w_estimate"][-1]) for _, _, h in snaps])
        return {k: float(v[-1]) for k, v in snaps[-1][2].items()}

    def coverage(model, seed):
        return G.mode_coverage(model.generate(n_snapshot, seed=seed), centres, std=RING["std"])[:2]

    register(Spec("ring_wgan", ("07b_wgan",),
                  f"ring of 8 Gaussians, WGAN-GP: 07's MLP networks, z of size 64, Adam 1e-3 (0.5, 0.9), "
                  f"{n_critic} critic steps per generator step, {ring_steps} generator steps", 1, 2,
                  {"steps": ring_steps, "latent_dim": 64, "n_critic": n_critic, "gp_weight": 10.0, "lr": 1e-3,
                   "batch_size": 512, "snapshot_every": snapshot_every, "data": f"gan.ring_of_gaussians({RING})"},
                  lambda: W.toy_wgan(2, 64, n_critic, seed=0),
                  lambda model: model.compile(*W.wgan_optimizers(1e-3, W.GULRAJANI_BETAS)),
                  ring_fit, ring_steps * 512, lambda m: ("modes covered (3 sd), 2,000 samples", coverage(m, 1)[0]),
                  lambda m: dict(zip(("modes covered at the end (3 sd)", "share of samples within 3 sd of a mode"),
                                     coverage(m, 0))),
                  lambda m: ("share of 2,000 samples within 3 sd of a mode", coverage(m, 0)[1]),
                  artifacts=lambda: dict(recorded)))

    # MNIST: 07's DCGAN networks, trained for about as long as the dcgan checkpoint
    epochs, batch, latent = size(WGAN_MNIST_EPOCHS, 1), 128, 64

    def fid_against(model, real, n, seed):
        classifier = need("classifier")
        fake = M.classifier_outputs(classifier, model.generate(n, seed=seed)[..., 0])[0]
        return float(M.fid(fake, M.classifier_outputs(classifier, real)[0]))

    def fit_epoch(model, epoch):
        logs = last_logs(model.fit(data()["x_fit"][..., None], batch_size=batch, epochs=1, shuffle=True, verbose=0))
        # the critic's estimate on digits it never trained on, the curve 07b plots against FID
        logs["held-out w_estimate"] = W.critic_estimate(model, data()["x_val"][:2000, ..., None], seed=epoch)
        return logs

    def validate(model):
        return "classifier-FID, 5,000 samples vs the 5,000 validation digits", fid_against(
            model, data()["x_val"], size(5000, 32), seed=1)

    register(Spec("wgan_mnist", ("07b_wgan", "08a_evaluation", "08b_evaluation"),
                  f"WGAN-GP with 07's DCGAN networks (wgan.build_wgan, z of size {latent}), trained about as long "
                  "as the dcgan checkpoint", epochs, 15,
                  {"latent_dim": latent, "batch_size": batch, "n_critic": W.WGAN_N_CRITIC, "gp_weight": W.WGAN_GP_WEIGHT,
                   "optimizer": f"wgan.wgan_optimizers (Adam lr {W.WGAN_LEARNING_RATE:g}, betas {W.WGAN_BETAS})",
                   "train images": "55,000" + (f" (each real batch serves the {W.WGAN_N_CRITIC} critic steps of one generator "
                                               "step)" if W.WGAN_N_CRITIC > 1 else ""),
                   "settings chosen by": "python -m course_lib.choices run wgan_settings"},
                  lambda: W.build_wgan(latent, seed=0), lambda model: model.compile(*W.wgan_optimizers()),
                  fit_epoch, size(55_000, TINY_SPLITS["fit"]), validate,
                  lambda m: {"classifier-FID, 10,000 samples vs the 10,000 test digits":
                             fid_against(m, data()["x_test"], size(10_000, 32), seed=0),
                             "validation classifier-FID (5,000)": validate(m)[1]},
                  lambda m: ("classifier-FID, 500 samples vs 500 fixed test digits",
                             fid_against(m, data()["x_test"][subset(500)], size(500, 32), seed=0)),
                  check_tolerance=1e-2, needs=("classifier",), keep_best=True))
