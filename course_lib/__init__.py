"""course_lib: the layers, losses, models and helpers that the course notebooks teach.

Each module names the notebook that introduces it:

- ``profile``      run sizes (smoke / lecture / full / present), read from ``COURSE_PROFILE``
- ``data``         MNIST from the shipped, checksummed file, plus preprocessing helpers
- ``likelihood``   Gaussian log-likelihood and its maximisation by SGD (01_likelihood)
- ``divergences``  KL divergence, discrete and Gaussian, forward vs reverse fits (02_kl_divergence)
- ``autoencoders`` the four autoencoders of the slides (03_autoencoders)
- ``vae``          the VAE and the conditional VAE, IWAE likelihood (04a_vae, 04b_vae_likelihood, 05_cvae)
- ``pixelcnn``     masked convolutions, the plain and the gated PixelCNN, exact likelihood, samplers (06a_pixelcnn, 06b_pixelcnn_conditional, 06d_likelihood_ood, 06e_gated_pixelcnn)
- ``pixelrnn``     the Row LSTM and the Diagonal BiLSTM (06c_pixelrnn)
- ``gan``          the GAN game, DCGAN, conditional GAN, toy problems (07_gan)
- ``wgan``         the Wasserstein GAN with gradient penalty (07b_wgan)
- ``metrics``      the slides' evaluation measures on a trained MNIST classifier (08a_evaluation, 08b_evaluation)
- ``gan_measures`` the slides' six measures that compare models or need more than features: GAM, tournaments, NRDS, adversarial accuracy, geometry score, boundary distortion
- ``evaluation``   08's samples of every course model
- ``flows``        normalizing flows: couplings, ActNorm, Glow-style multi-scale flow (09_flows)
- ``diffusion``    noise schedules, the denoisers, DDPM and DDIM samplers (10_diffusion, 10b_diffusion_mnist)
- ``guidance``     the class-conditional diffusion model and classifier-free guidance (11a_guidance)
- ``flow_matching`` straight-path flow matching and its ODE solvers (11b_flow_matching)
- ``checkpoints``  ``make checkpoints``: the recipes (``course_lib.recipes``), training, the manifest, loading
- ``choices``      choices made on validation data, recorded for the notebooks that use them
- ``distribute``   data-parallel training on several devices (``DEVICES=2``)
- ``plotting``     figures and tables, kept out of the lesson cells; ``show_source`` prints the code
- ``checks``       input checks at the models' boundary (shared by the models)
- ``progress``     text progress bars that are stored finished in executed notebooks
- ``bench``        lets ``make bench`` collect the numbers a notebook measures
"""

import os

# TensorFlow's C++ start-up chatter ("could not find cuda drivers ...") says nothing useful
# on a CPU laptop; hide it unless the user asked for it. Must happen before TF is imported.
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
# oneDNN's CPU kernels: TensorFlow turns them on by itself only on CPUs it deems new enough
# (here: on with AVX-512, off with AVX2 alone). The course's networks train about twice as fast
# with them (a PixelCNN step: 187 against 94 images/s on 2 AVX-512 cores, 2026-12-06;
# `make bench` measures it), so ask for them everywhere. TF_ENABLE_ONEDNN_OPTS=0 turns them off.
os.environ.setdefault("TF_ENABLE_ONEDNN_OPTS", "1")


def _import_tensorflow_quietly():
    """Import TensorFlow with the C++ stderr silenced for the duration of the import.

    Its start-up lines ("Could not find cuda drivers ... GPU will not be used") are written
    by absl before TF_CPP_MIN_LOG_LEVEL takes effect, and would clutter the first cell of
    every notebook. Python exceptions are not affected: a broken install still raises.
    """
    from course_lib.distribute import split_cpu_if_asked

    if os.environ.get("COURSE_VERBOSE_TF"):
        split_cpu_if_asked()        # DEVICES=2 on a CPU: two logical devices, before the first op
        return
    import sys

    sys.stderr.flush()
    saved, devnull = os.dup(2), os.open(os.devnull, os.O_WRONLY)
    try:
        os.dup2(devnull, 2)
        import tensorflow  # noqa: F401
        split_cpu_if_asked()        # DEVICES=2 on a CPU: two logical devices, before the first op
        tensorflow.constant(0.0) + 1.0  # the first op initialises the devices (more chatter)
        # Python-side warnings such as "5 out of the last 7 calls ... triggered tf.function
        # retracing" (predict on batches of new sizes) are harmless here.
        tensorflow.get_logger().setLevel("ERROR")
    finally:
        os.dup2(saved, 2)
        os.close(saved)
        os.close(devnull)


_import_tensorflow_quietly()

from course_lib.profile import PROFILES, current_profile, describe_profile, pick, use_checkpoints  # noqa: E402

__all__ = ["PROFILES", "current_profile", "describe_profile", "pick", "use_checkpoints"]

# The modules that register the classes Keras needs to rebuild a saved model (VAE, PixelCNN, GAN,
# RealNVP, Diffusion, ...: ``@keras.saving.register_keras_serializable``). Importing them here means
# that after ``import course_lib`` a plain ``keras.saving.load_model("checkpoints/vae_d2.keras")``
# (safe mode, the default) works in a fresh process. They cost about 0.02 s: TensorFlow, already
# imported above, is the whole start-up.
from course_lib import diffusion, flow_matching, flows, gan, guidance, pixelcnn, pixelrnn, vae, wgan  # noqa: E402,F401
