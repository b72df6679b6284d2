"""07's GANs."""

import numpy as np

from course_lib.recipes.base import Spec, TINY_SPLITS, last_logs, need, recipe_tools


def specs(register, tiny=False):
    from course_lib import gan as G
    from course_lib import metrics as M
    from course_lib.data import one_hot

    data, subset, size = recipe_tools(tiny)
    batch, latent = 128, 64
    recipes = {  # name: (conditional?, epochs, budget minutes)
        "dcgan": (False, 30, 25),      # FID 22.2 (betas (0, 0.9); 21.9 with 07's), below half of 07's lecture run (`baseline`: 45.9)
        "cgan": (True, 30, 12),
    }
    lecture_epochs = {"dcgan": size(4, 1), "cgan": size(2, 1)}   # 07's EPOCHS and EPOCHS_COND in the lecture profile

    def make(name, conditional, epochs, minutes):
        epochs = size(epochs, 1)

        def build():
            return G.build_gan(latent, num_classes=10 if conditional else None, seed=0)

        def compile_(model):
            if conditional:
                model.compile(*G.dcgan_optimizers(conditional=True))
            else:      # the betas chosen on validation digits (choices.dcgan_settings), 07's rate
                beta_1, beta_2 = G.DCGAN_CHECKPOINT_BETAS
                model.compile(*G.dcgan_optimizers(beta_1=beta_1, beta_2=beta_2))

        def fit_epoch(model, epoch):
            d = data()
            x = d["x_fit"][..., None]
            y = one_hot(d["y_fit"]) if conditional else None
            return last_logs(model.fit(x, y, batch_size=batch, epochs=1, shuffle=True, verbose=0))

        def samples(model, n, seed):
            labels = np.arange(n) % 10
            images = model.generate(n, labels=one_hot(labels) if conditional else None, seed=seed)[..., 0]
            return images, labels

        def fid_against(model, real, n, seed):
            classifier = need("classifier")
            fake = M.classifier_outputs(classifier, samples(model, n, seed)[0])[0]
            return float(M.fid(fake, M.classifier_outputs(classifier, real)[0]))

        def recognised(model, n, seed):
            images, wanted = samples(model, n, seed)
            return float((M.classifier_outputs(need("classifier"), images)[1].argmax(1) == wanted).mean())

        def validate(model):
            return "classifier-FID, 5,000 samples vs the 5,000 validation digits", fid_against(
                model, data()["x_val"], size(5000, 32), seed=1)

        def evaluate(model):
            d = data()
            out = {"classifier-FID, 10,000 samples vs the 10,000 test digits":
                   fid_against(model, d["x_test"], size(10_000, 32), seed=0),
                   "validation classifier-FID (5,000)": validate(model)[1]}
            if conditional:
                out["samples recognised as the requested digit (classifier, 10,000 samples)"] = recognised(
                    model, size(10_000, 32), seed=0)
            return out

        def check(model):
            if conditional:
                return "share recognised, 500 samples", recognised(model, size(500, 32), seed=0)
            return "classifier-FID, 500 samples vs 500 fixed test digits", fid_against(
                model, data()["x_test"][subset(500)], size(500, 32), seed=0)

        register(Spec(name, ("07_gan", "07b_wgan", "08a_evaluation", "08b_evaluation") if name == "dcgan" else ("07_gan", "08a_evaluation", "08b_evaluation", "11a_guidance"),
                      f"conditional DCGAN of 07 (gan.build_gan, z of size {latent})" if conditional else
                      f"DCGAN of 07 (gan.build_gan, z of size {latent}), Adam betas {G.DCGAN_CHECKPOINT_BETAS} "
                      "as chosen in 07b (07's live runs: beta_1 0.5)",
                      epochs, minutes,
                      {"latent_dim": latent, "batch_size": batch, "optimizer": "gan.dcgan_optimizers "
                       f"(Adam lr {G.CONDITIONAL_DCGAN_LEARNING_RATE if conditional else G.DCGAN_LEARNING_RATE}, "
                       + (f"beta_1 {G.DCGAN_BETA_1})" if conditional else
                          f"betas {G.DCGAN_CHECKPOINT_BETAS}, chosen by choices.dcgan_settings)"),
                       "train images": "55,000"},
                      build, compile_, fit_epoch, size(55_000, TINY_SPLITS["fit"]), validate, evaluate, check,
                      check_tolerance=1e-2, needs=("classifier",), keep_best=True,
                      baseline=(lecture_epochs[name], f"07's lecture profile: {lecture_epochs[name]} epochs, "
                                "the last one kept, 07's optimizers",
                                lambda model: model.compile(*G.dcgan_optimizers(conditional=conditional)))))

    for name, recipe in recipes.items():
        make(name, *recipe)
