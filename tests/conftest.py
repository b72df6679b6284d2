import os

os.environ.setdefault("COURSE_PROFILE", "smoke")

import matplotlib  # noqa: E402

# Agg for the figures the unit tests draw, set here and not through MPLBACKEND: `make test`
# runs these tests in one pytest session with the notebooks, whose kernels inherit the
# environment and keep their figures only when MPLBACKEND is unset.
matplotlib.use("Agg")

import course_lib  # noqa: E402,F401  (quiet TensorFlow import before any test module imports keras)
