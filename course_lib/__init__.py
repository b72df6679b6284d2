"""course_lib: the layers, losses, models and helpers that the course notebooks teach.

Each module names the notebook that introduces it:

- ``profile``      run sizes (smoke / lecture / full), read from ``COURSE_PROFILE``
- ``data``         MNIST from the shipped, checksummed file, plus preprocessing helpers
- ``likelihood``   Gaussian log-likelihood and its maximisation by SGD (01_likelihood)
- ``divergences``  KL divergence, discrete and Gaussian, forward vs reverse fits (02_kl_divergence)
- ``autoencoders`` the four autoencoders of the slides (03_autoencoders)
- ``plotting``     figures and tables, kept out of the lesson cells
- ``bench``        lets ``make bench`` collect the numbers a notebook measures
"""

import os

# TensorFlow's C++ start-up chatter ("could not find cuda drivers ...") says nothing useful
# on a CPU laptop; hide it unless the user asked for it. Must happen before TF is imported.
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

from course_lib.profile import PROFILES, current_profile, pick  # noqa: E402

__all__ = ["PROFILES", "current_profile", "pick"]
