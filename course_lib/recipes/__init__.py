"""The recipes of the course's checkpoints: how each model is built, trained, scored and checked.

``course_lib/checkpoints.py`` is the mechanism (save, hash, manifest, resume, safe load, the
README's table, the command line) and knows nothing of any model. Each family's recipes sit in a
file of their own here, with their sizes on top, and register one ``Spec`` per checkpoint
(``base.py``: the Spec, the course's data splits, the tools of a tiny run) in one function::

    def specs(register, tiny=False):
        data, subset, size = recipe_tools(tiny)   # the splits, the check's test subset, real or tiny sizes
        ...
        register(Spec("name", notebooks, description, epochs, budget_minutes, settings, build, ...))

``FAMILIES`` lists the family files in the order of ``checkpoints.SPECS`` (the README's checkpoint
table and the tests follow it). A new model adds a file and one line here (or a recipe in its
family's file, e.g. a row of ``pixelcnn.RECIPES``, and nothing here), not lines to the mechanism.
"""

import importlib

FAMILIES = (
    "classifier",      # 08's classifier: the other families' sample figures read digits with it
    "autoencoders",    # 03
    "vae",             # 04a, 04b, 05
    "pixelcnn",        # 06a, 06b
    "gan",             # 07
    "toy",             # 07's ring of Gaussians and two modes
    "flows",           # 09
    "wgan",            # 07b
    "diffusion",       # 10
    "guidance",        # 11
)


def families():
    """The family modules, in ``FAMILIES``' order; each has ``specs(register, tiny=False)``."""
    return [importlib.import_module(f"{__name__}.{name}") for name in FAMILIES]
