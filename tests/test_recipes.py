"""Every checkpoint recipe runs its whole path: build, training, scoring, saving, the manifest.

``make checkpoints NAME=...`` trains for minutes to an hour, so a recipe that cannot finish (a
slip in its scoring, say) would only show at the end of a real run. Here each spec of
``checkpoints.SPECS`` runs through ``train(name, tiny=True)``: the same code at tiny sizes
(``checkpoints.tiny_specs``: 32 digits per split, one epoch of one step, a few samples per figure,
small networks, TensorFlow functions run eagerly), into a temporary directory, never checkpoints/.
"""

import ast
import json
import math
from pathlib import Path

import numpy as np
import pytest

from course_lib import checkpoints as C

# Keras warns when it saves a GAN whose build() never ran (its parts are built): the test checks
# that the saved file holds every weight instead.
pytestmark = pytest.mark.filterwarnings("ignore:You are saving a model that has not yet been built")

ROOT = Path(__file__).resolve().parents[1]
SHIPPED = C.read_manifest(ROOT / "checkpoints")["models"]


def _quiet(*args, **kwargs):
    pass


class TinyRuns:
    """One temporary checkpoint directory for the module; each recipe trained at most once in it
    (a recipe's needs, the classifier, first)."""

    def __init__(self, directory):
        self.directory, self.entries = directory, {}

    def entry(self, name):
        if name not in self.entries:
            for need in C.tiny_specs()[name].needs:
                self.entry(need)
            self.entries[name] = C.train(name, directory=self.directory, tiny=True, log=_quiet)
        return self.entries[name]


@pytest.fixture(scope="module")
def tiny_runs(tmp_path_factory):
    return TinyRuns(tmp_path_factory.mktemp("tiny_checkpoints"))


def _shipped_state():
    return sorted((p.name, p.stat().st_size, p.stat().st_mtime_ns) for p in (ROOT / "checkpoints").iterdir())


@pytest.fixture
def default_directory_unused(monkeypatch, tmp_path):
    """A recipe reads and writes only the directory its run was given: the default one
    (``$COURSE_CHECKPOINT_DIR``) points to a folder that must never appear, and the shipped
    checkpoints/ stay as they were."""
    elsewhere = tmp_path / "default-checkpoint-dir-must-stay-unused"
    monkeypatch.setenv(C.DIR_VAR, str(elsewhere))
    before = _shipped_state()
    yield
    assert not elsewhere.exists(), "a recipe used checkpoint_dir() instead of the directory of its run"
    assert _shipped_state() == before, "a tiny run touched checkpoints/"


def _numbers(value, key=""):
    """Every number in a figure (a curve is a list of dicts), as (key, value)."""
    if isinstance(value, dict):
        return [kv for k, v in value.items() for kv in _numbers(v, f"{key}/{k}")]
    if isinstance(value, list):
        return [kv for i, v in enumerate(value) for kv in _numbers(v, f"{key}[{i}]")]
    return [(key, value)] if isinstance(value, (int, float)) and not isinstance(value, bool) else []


@pytest.mark.parametrize("name", list(C.SPECS))
def test_recipe_runs_its_whole_path_at_tiny_sizes(name, tiny_runs, default_directory_unused):
    spec, directory = C.tiny_specs()[name], tiny_runs.directory
    entry = tiny_runs.entry(name)

    # the manifest's record: the one train() returned, marked as a tiny run
    assert C.read_manifest(directory)["models"][name] == json.loads(json.dumps(entry, default=float))
    assert entry["tiny"] is True and entry["command"] == f"python -m course_lib.checkpoints train --tiny {name}"
    assert entry["epochs"] == spec.epochs and entry["images_seen"] == spec.epochs * spec.images_per_epoch > 0
    assert len(entry["curve"]) == spec.epochs and len(entry["history"]) > 0

    # the figures: the ones the shipped checkpoint records (same names), every number finite
    figures = entry["figures"]
    assert figures, f"{name}: evaluate() measured nothing"
    if name in SHIPPED:
        assert list(figures) == list(SHIPPED[name]["figures"])
        assert entry["check"]["figure"] == SHIPPED[name]["check"]["figure"]
    numbers = _numbers(figures) + _numbers(entry["check"]["value"], "check") + _numbers(entry["curve"], "curve")
    assert all(math.isfinite(v) for _, v in numbers), [kv for kv in numbers if not math.isfinite(kv[1])]
    assert len(_numbers(figures)) >= len(figures)

    # the file: its size and sha256 are the record's; it reloads through the safe loader notebooks use
    path = directory / entry["file"]
    assert (path.stat().st_size, C.sha256(path)) == (entry["bytes"], entry["sha256"])
    model = C.load(name, directory)                   # sha256 check + keras.saving.load_model(safe_mode=True)
    weights = model.get_weights()
    assert weights and all(np.all(np.isfinite(w)) for w in weights)
    if "params" in figures:                           # the network the figures were measured on
        # a diffusion or flow-matching model also holds its network's moving average
        network = getattr(model, "denoiser", None) or getattr(model, "velocity", model)
        assert sum(int(np.prod(w.shape)) for w in network.weights) == figures["params"]

    # what the run recorded (the toy GANs' snapshots, the diffusion model's samples per epoch)
    assert ("recorded" in entry) == (spec.artifacts is not None)
    if spec.artifacts is not None:
        stored = C.recorded(name, directory)          # sha256-checked too
        assert stored and all(np.all(np.isfinite(a)) for a in stored.values())


def test_tiny_recipes_are_the_real_ones_cut_down():
    """The tiny sizes leave every real recipe as the shipped manifest records it."""
    tiny = C.tiny_specs()
    assert list(tiny) == list(C.SPECS)
    for name, spec in C.SPECS.items():
        assert not spec.tiny and tiny[name].tiny, name
        assert tiny[name].notebooks == spec.notebooks and tiny[name].needs == spec.needs, name
        assert tiny[name].epochs <= spec.epochs, name
        if name in SHIPPED:
            assert json.loads(json.dumps(spec.settings)) == SHIPPED[name]["settings"], name
            assert spec.epochs == SHIPPED[name]["epochs"], name
            assert SHIPPED[name]["images_seen"] == spec.epochs * spec.images_per_epoch, name


def test_a_tiny_run_never_writes_into_the_shipped_checkpoints():
    with pytest.raises(C.CheckpointError, match="tiny run writes no checkpoint"):
        C.train("ae_simple", directory=ROOT / "checkpoints", tiny=True, log=_quiet)


# -- where the recipes live: one file per family (course_lib/recipes/), none in the mechanism --

MODEL_MODULES = {"autoencoders", "vae", "pixelcnn", "gan", "wgan", "flows", "diffusion", "pixelrnn"}


def test_each_family_file_registers_specs_of_its_own_in_the_order_of_SPECS():
    from course_lib import recipes

    owner = {}
    for family in recipes.families():
        registered = []
        family.specs(registered.append)
        assert registered, f"{family.__name__} registers no spec"
        for spec in registered:
            assert spec.name not in owner, f"{spec.name!r} is registered by {owner[spec.name]} and {family.__name__}"
            owner[spec.name] = family.__name__
    assert list(owner) == list(C.SPECS)


def _module_level_imports(path):
    """The modules (and ``module.name`` of a from-import) a file imports outside its functions and classes."""
    stack, found = list(ast.parse(path.read_text()).body), []
    while stack:
        node = stack.pop()
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            continue
        if isinstance(node, ast.Import):
            found += [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            found += [node.module] + [f"{node.module}.{alias.name}" for alias in node.names]
        else:
            stack.extend(ast.iter_child_nodes(node))
    return found


@pytest.mark.parametrize("path", ["course_lib/checkpoints.py", "course_lib/recipes/base.py",
                                  "course_lib/recipes/__init__.py"])
def test_the_checkpoint_mechanism_imports_no_model_module(path):
    """The mechanism (and the recipes' shared tools) know no model: only the family files import one."""
    imported = _module_level_imports(ROOT / path)
    assert imported, f"found no import in {path}"
    models = [m for m in imported if m.split(".")[:2] in [["course_lib", model] for model in MODEL_MODULES]]
    assert models == [], f"{path} imports model modules at module level: {models}"
