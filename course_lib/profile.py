"""Run-size profiles: the one place that reads ``COURSE_PROFILE``.

| profile   | for                       | budget on a 2-core CPU                    |
|-----------|---------------------------|-------------------------------------------|
| smoke     | CI and tests              | seconds per notebook; proves cells run    |
| lecture   | students and instructors  | a few minutes per notebook (the default)  |
| full      | a GPU or a long night     | paper-grade numbers                       |

Notebooks read their sizes at the top::

    EPOCHS = pick(smoke=1, lecture=5, full=50)
"""

import os

PROFILES = ("smoke", "lecture", "full")
DEFAULT_PROFILE = "lecture"
ENV_VAR = "COURSE_PROFILE"


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


def pick(**per_profile):
    """Return the value given for the active profile, e.g. ``pick(smoke=1, lecture=5, full=50)``.

    Every profile must be given, so that a notebook never silently falls back to a size
    meant for another machine.
    """
    unknown = sorted(set(per_profile) - set(PROFILES))
    missing = [p for p in PROFILES if p not in per_profile]
    if unknown or missing:
        raise ValueError(
            f"pick() needs exactly one value for each of {', '.join(PROFILES)}; "
            f"missing: {missing or 'none'}, unknown: {unknown or 'none'}."
        )
    return per_profile[current_profile()]
