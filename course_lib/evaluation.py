"""The course's generative models, as lectures 08a and 08b evaluate them.

Introduced in 08a_evaluation (and used again in 08b_evaluation). Each model is the checkpoint
its own lecture loads; ``course_samples`` draws ``n`` images from each, in [0, 1], and says
what each image *is*: a sample of the model, or the mean of its output distribution. A
comparison of models is only fair between like things, so every model also gets a
**binary sample**: each pixel ~ Bernoulli(its grey level), the observation model the VAEs
and the PixelCNN were trained with, compared with real digits binarized the same way.
"""

import hashlib
import json
import time
from dataclasses import dataclass, field, replace

import numpy as np



@dataclass
class CourseSamples:
    """What ``course_samples`` returns. ``images[name]``: (n, 28, 28) in [0, 1], the images the
    grey-level metrics score; ``binary[name]``: (n, 28, 28) of 0/1, a sample of every model under
    the same Bernoulli observation model; ``kind[name]``: what ``images[name]`` is; ``models``:
    the loaded Keras models; ``made[name]``: (checkpoint file, epochs trained); ``seconds``."""
    images: dict = field(default_factory=dict)
    binary: dict = field(default_factory=dict)
    kind: dict = field(default_factory=dict)
    models: dict = field(default_factory=dict)
    made: dict = field(default_factory=dict)
    seconds: dict = field(default_factory=dict)
    labels: np.ndarray = None


# name -> (checkpoint, lecture, family): "likelihood" models are trained by (a bound on) log p(x),
# "adversarial" ones against a discriminator or critic; the autoencoder is neither.
MODELS = {
    "autoencoder": ("ae_simple", "03", "neither"),
    "VAE": ("vae_d20", "04b", "likelihood"),
    "CVAE": ("cvae_d2", "05", "likelihood"),
    "PixelCNN": ("gated_pixelcnn_binary", "06e", "likelihood"),     # the gated one: no blind spot
    "GAN": ("dcgan", "07", "adversarial"),
    "conditional GAN": ("cgan", "07", "adversarial"),
    "WGAN-GP": ("wgan_mnist", "07b", "adversarial"),
    "flow": ("glow_mnist", "09", "likelihood"),
    "diffusion": ("diffusion_mnist", "10b", "likelihood"),
    "guided diffusion": ("cfg_diffusion_mnist", "11a", "likelihood"),
    # a velocity regression, a reweighted diffusion loss (Kingma & Gao 2023), as diffusion's is a reweighted bound
    "flow matching": ("flow_matching_mnist", "11b", "likelihood"),
}
CONDITIONAL = ("CVAE", "conditional GAN", "guided diffusion")


def guided_sampler(figures):
    """The guided diffusion model's sampler, from its checkpoint's figures: 10b's strided DDPM at
    20 steps with x0 clipped, the guidance weight chosen on validation (lowest FID) and the weights
    (EMA or raw) the recipe chose on validation (EMA when it recorded no choice)."""
    return {"w": figures["w chosen on validation (lowest FID)"], "steps": 20, "eta": 1.0, "clip_x0": 1.0,
            "weights": figures.get("weights chosen on validation") or "EMA"}


# Draws already made in this Python process, by their arguments: `make test` runs 08b and then 08a in
# one kernel (a chain), and the second reuses the first's draws instead of sampling every model again.
_DRAWN = {}


def course_samples(n, x_fit, diffusion_sampler, seed=4, log=print):
    """Load every model of ``MODELS`` and draw ``n`` images from each.

    ``x_fit``: training digits in [0, 1], (m, 28, 28): the autoencoder has no prior, so its
    codes of the first 10,000 are fitted by a Gaussian to sample from. ``diffusion_sampler``:
    ``{"eta": ..., "steps": ..., "clip_x0": ..., "weights": ...}`` (``diffusion.sample_with``), chosen on
    validation digits (``choices.result("diffusion_sampler")["chosen"]``).
    The guided diffusion model and the flow-matching model sample as their checkpoints' figures
    say (``guided_sampler``; the solver chosen on validation). Conditional models get labels 0-9
    in equal numbers (``.labels``)."""
    from course_lib import checkpoints
    from course_lib import diffusion as D
    from course_lib import flow_matching as FM
    from course_lib import guidance as G
    from course_lib import flows as F
    from course_lib import pixelcnn as P
    from course_lib.data import binarize_dynamic, flatten, one_hot

    if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or n < 1:
        raise ValueError(f"n must be a positive integer (images per model), got {n!r}.")
    n = int(n)
    key = (n, seed, json.dumps(diffusion_sampler, sort_keys=True, default=str),
           hashlib.sha256(np.ascontiguousarray(x_fit[:10_000], dtype="float32").tobytes()).hexdigest())
    if key in _DRAWN:
        log("(the same arguments as an earlier call in this Python process: its draws, reused)")
        done = _DRAWN[key]
        return replace(done, **{f: dict(getattr(done, f)) for f in ("images", "binary", "kind", "models", "made",
                                                                    "seconds")})
    out = CourseSamples(labels=np.arange(n) % 10)
    c = one_hot(out.labels)
    rng = np.random.default_rng(seed)
    for name, (ckpt, _, _) in MODELS.items():
        start = time.perf_counter()
        model, trained = checkpoints.use(ckpt)
        out.models[name], out.made[name] = model, (f"checkpoints/{ckpt}.keras", trained.epochs)
        if name == "autoencoder":
            codes = model.get_layer("encoder").predict(flatten(x_fit[:10_000]), verbose=0)
            z = rng.multivariate_normal(codes.mean(0), np.cov(codes, rowvar=False), n).astype("float32")
            images, kind = model.get_layer("decoder").predict(z, verbose=0), "decoder output (no prior: a Gaussian fitted to codes)"
        elif name in ("VAE", "CVAE"):
            z = rng.standard_normal((n, model.latent_dim)).astype("float32")
            images, kind = np.asarray(model.decode(z, c if name == "CVAE" else None)), "Bernoulli means"
        elif name == "PixelCNN":
            images, kind = P.sample(model, n, batch_size=500, seed=seed), "samples (0/1)"
        elif name in ("GAN", "conditional GAN", "WGAN-GP"):
            images, kind = model.generate(n, labels=c if name == "conditional GAN" else None, seed=seed)[..., 0], "samples"
        elif name == "flow":
            images, kind = F.from_logit(model.sample(n, seed=seed))[..., 0], "samples"
        elif name == "guided diffusion":
            s = guided_sampler(checkpoints.figures(ckpt))
            images = D.to_pixels(G.guided_sample(model, out.labels, seed=seed, **s))
            kind = (f"samples (guided, w = {s['w']:g}, strided DDPM, {s['steps']} steps, x0 clipped, "
                    f"{s['weights']} weights)")
        elif name == "flow matching":
            solver = {k: v for k, v in checkpoints.figures(ckpt)["solver chosen on validation"].items()
                      if k in FM.SOLVER_KEYS}                         # the figure also records its budget
            images = D.to_pixels(FM.sample_with(model, n, solver, seed=seed))
            kind = (f"samples ({solver['method'].capitalize()}, {solver['steps']} steps, "
                    f"{FM.network_calls(solver['method'], solver['steps'])} calls, {solver.get('weights', 'EMA')} weights)")
        else:
            sampler = {k: diffusion_sampler[k] for k in D.SAMPLER_KEYS if k in diffusion_sampler}
            images, kind = D.to_pixels(D.sample_with(model, n, sampler, seed=seed)), f"samples ({D.describe_sampler(sampler)})"
        out.images[name] = np.clip(np.asarray(images, "float32").reshape(n, 28, 28), 0, 1)
        out.kind[name] = kind
        out.binary[name] = (out.images[name] if name == "PixelCNN"
                            else binarize_dynamic(out.images[name], seed=seed + 1000 + len(out.binary)))
        out.seconds[name] = time.perf_counter() - start
        log(f"{name}: {out.seconds[name]:.0f} s")
    _DRAWN[key] = out
    return out
