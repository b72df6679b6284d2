import os

os.environ.setdefault("COURSE_PROFILE", "smoke")
os.environ.setdefault("MPLBACKEND", "Agg")

import course_lib  # noqa: E402,F401  (quiet TensorFlow import before any test module imports keras)
