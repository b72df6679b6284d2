"""Run-size profiles: the one place that reads ``COURSE_PROFILE``.

| profile   | for                       | budget on a 2-core CPU                              |
|-----------|---------------------------|-----------------------------------------------------|
| smoke     | CI and tests              | seconds per notebook; proves cells run              |
| lecture   | students and instructors  | a few minutes per notebook (the default)            |
| full      | a GPU or a long night     | paper-grade numbers                                 |
| present   | instructors in a lecture  | loads ``checkpoints/`` instead of training; <= 60 s |

Notebooks read their sizes at the top::

    EPOCHS = pick(smoke=1, lecture=5, full=50)
    N_RACE = pick(smoke=4, lecture=25, full=100, present=4)

``present`` runs on the same laptop as ``lecture`` and trains nothing that a checkpoint
holds (``use_checkpoints()``); every other size is the lecture's unless ``present=`` is given.
CI runs the present profile in smoke form: ``COURSE_PROFILE=smoke COURSE_USE_CHECKPOINTS=1``
(smoke sizes, models loaded from ``checkpoints/``).
"""

import os

PROFILES = ("smoke", "lecture", "full", "present")
REQUIRED = ("smoke", "lecture", "full")     # pick() needs these; present defaults to lecture
DEFAULT_PROFILE = "lecture"
ENV_VAR = "COURSE_PROFILE"
CHECKPOINTS_VAR = "COURSE_USE_CHECKPOINTS"
DESCRIPTIONS = {
    "smoke": "tiny runs that prove every cell works; its numbers mean nothing",
    "lecture": "every model below is trained live, in this run",
    "full": "long trainings, every model below trained in this run",
    "present": "trained models loaded from checkpoints/, every other cell runs live",
}


def current_profile():
    """Return the active profile name, from ``$COURSE_PROFILE`` (default ``lecture``).

    Raises ValueError for a value that is not one of PROFILES.
    """
    raw = os.environ.get(ENV_VAR, "")
    name = raw.strip().lower() or DEFAULT_PROFILE
    if name not in PROFILES:
        raise ValueError(
            f"{ENV_VAR}={raw!r} is not a known profile; "
            f"valid profiles are {', '.join(PROFILES)} (unset means {DEFAULT_PROFILE!r})."
        )
    return name


def use_checkpoints():
    """True in the ``present`` profile (or with ``COURSE_USE_CHECKPOINTS=1``): notebooks load
    trained models from ``checkpoints/`` (``course_lib.checkpoints``) instead of training them."""
    flag = os.environ.get(CHECKPOINTS_VAR, "").strip().lower()
    if flag not in ("", "0", "1", "false", "true"):
        raise ValueError(f"{CHECKPOINTS_VAR}={flag!r}: use 1 (load checkpoints) or 0.")
    return current_profile() == "present" or flag in ("1", "true")


def describe_profile():
    """One line that says which profile produced what a notebook shows."""
    name = current_profile()
    text = DESCRIPTIONS[name]
    if name != "present" and use_checkpoints():
        text = "trained models loaded from checkpoints/, " + text.split(";")[0]
    return f"profile: {name} ({text})"


def pick(**per_profile):
    """Return the value given for the active profile, e.g. ``pick(smoke=1, lecture=5, full=50)``.

    ``smoke``, ``lecture`` and ``full`` must all be given, so that a notebook never silently
    falls back to a size meant for another machine. ``present`` may be given; without it the
    ``present`` profile uses the ``lecture`` value (same laptop, nothing to train).
    """
    unknown = sorted(set(per_profile) - set(PROFILES))
    missing = [p for p in REQUIRED if p not in per_profile]
    if unknown or missing:
        raise ValueError(
            f"pick() needs exactly one value for each of {', '.join(REQUIRED)} (and optionally present); "
            f"missing: {missing or 'none'}, unknown: {unknown or 'none'}."
        )
    name = current_profile()
    if name == "present" and "present" not in per_profile:
        name = "lecture"
    return per_profile[name]
