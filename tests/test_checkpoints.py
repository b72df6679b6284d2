"""Checkpoints: resumable training, the manifest, sha256-checked loading, and the shipped
files reproduce the figures their manifest records."""

import json
import subprocess
import sys
from pathlib import Path

import keras
import numpy as np
import pytest

from course_lib import checkpoints as C

ROOT = Path(__file__).resolve().parents[1]
MAX_TOTAL_BYTES = 50 * 10**6


def _toy_spec(epochs=3):
    rng = np.random.default_rng(0)
    x = rng.standard_normal((256, 4)).astype("float32")
    y = x @ np.array([[1.0], [-2.0], [0.5], [3.0]], "float32")

    def build():
        model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(8, activation="tanh"),
                                  keras.layers.Dense(1)], name="toy")
        return model

    def compile_(model):
        model.compile(optimizer=keras.optimizers.Adam(1e-2), loss="mse")

    def fit_epoch(model, epoch):
        h = model.fit(x, y, batch_size=32, epochs=1, shuffle=True, verbose=0)
        return {"loss": float(h.history["loss"][-1])}

    def mse(model):
        return float(np.mean((model.predict(x, verbose=0) - y) ** 2))

    return C.Spec("toy", ("none",), "a toy regression", epochs, 1, {"lr": 1e-2}, build, compile_, fit_epoch,
                  len(x), lambda m: ("validation MSE", mse(m)), lambda m: {"MSE": mse(m)},
                  lambda m: ("MSE", mse(m)))


HOST_FIGURES = iter(np.arange(0.5, 100, 0.25))       # a stand-in for `make host-speed`: seconds each, not 5


@pytest.fixture
def toy(monkeypatch, tmp_path):
    monkeypatch.setitem(C.SPECS, "toy", _toy_spec())
    monkeypatch.setattr(C, "host_speed", lambda: float(next(HOST_FIGURES)))
    return tmp_path


def _quiet(*args, **kwargs):
    pass


def test_train_writes_file_and_manifest(toy):
    entry = C.train("toy", directory=toy, log=_quiet)
    assert (toy / "toy.keras").exists()
    manifest = C.read_manifest(toy)["models"]["toy"]
    assert manifest == entry
    assert manifest["sha256"] == C.sha256(toy / "toy.keras")
    assert manifest["images_seen"] == 3 * 256 and manifest["epochs"] == 3
    assert manifest["command"] == "make checkpoints NAME=toy"
    assert len(manifest["curve"]) == 3 and manifest["figures"]["MSE"] == pytest.approx(manifest["check"]["value"])
    import zipfile

    with zipfile.ZipFile(toy / "toy.keras") as z:                # saved without optimizer state
        assert not json.loads(z.read("config.json")).get("compile_config")
    assert getattr(C.load("toy", toy), "optimizer", None) is None
    trained = C.TrainedFor(entry)                # what a notebook's present path prints and tabulates
    assert (trained.epochs, trained.images_seen, trained.n_examples) == (3, 768, 256)
    assert trained.summary("images").startswith("trained 3 epochs of 256 images: ")
    assert C.describe_training(entry).startswith("3 epochs, 768 training images, ") and "kept" not in \
        C.describe_training(entry)
    early = {**entry, "kept_epoch": 2, "train_minutes": 0.3}  # a run that kept its second of three epochs
    assert C.describe_training(early).startswith("2 epochs, 512 training images, ")
    assert C.describe_training(early).endswith("(the epoch of lowest validation figure, kept from a run of 3 epochs, "
                                               "0.3 min)")


def test_resumed_training_equals_uninterrupted(toy, tmp_path_factory):
    straight = tmp_path_factory.mktemp("straight")
    C.train("toy", directory=straight, log=_quiet)
    assert C.train("toy", directory=toy, max_minutes=0, log=_quiet) is None   # stops after one epoch
    assert json.loads((toy / ".work" / "toy" / "state.json").read_text())["epochs_done"] == 1
    C.train("toy", directory=toy, log=_quiet)                                  # resumes: epochs 2 and 3
    a, b = C.load("toy", straight), C.load("toy", toy)
    # the host's speed, taken before each stretch of training, says what its minutes mean
    first, then = C.entry("toy", toy)["host_reference_s"]
    assert then == first + 0.25 and len(C.entry("toy", straight)["host_reference_s"]) == 1
    assert f"min on 2 CPU cores (host reference {first:.2f}/{then:.2f} s)" in C.describe_training(C.entry("toy", toy))
    for wa, wb in zip(a.get_weights(), b.get_weights()):
        np.testing.assert_allclose(wa, wb, rtol=1e-5, atol=1e-6)


def test_load_errors_name_the_file_and_the_fix(toy):
    with pytest.raises(C.CheckpointError, match="no checkpoint named 'toy'.*make checkpoints NAME=toy"):
        C.load("toy", toy)
    C.train("toy", directory=toy, log=_quiet)
    path = toy / "toy.keras"
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])                                   # truncated
    with pytest.raises(C.CheckpointError, match=r"toy\.keras does not match.*truncated.*git checkout"):
        C.load("toy", toy)
    path.write_bytes(data[:-1] + bytes([data[-1] ^ 1]))                        # same size, other content
    with pytest.raises(C.CheckpointError, match="sha256 differs from the manifest's.*another version"):
        C.load("toy", toy)
    path.unlink()
    with pytest.raises(C.CheckpointError, match=r"toy\.keras is missing"):
        C.load("toy", toy)
    path.write_bytes(data)
    assert C.load("toy", toy) is not None


def test_baseline_is_the_recipe_cut_short_and_kept_beside_the_model(toy, monkeypatch):
    import dataclasses

    monkeypatch.setitem(C.SPECS, "toy", dataclasses.replace(C.SPECS["toy"], baseline=(1, "one epoch")))
    entry = C.train("toy", directory=toy, log=_quiet)
    short = C.baseline("toy", directory=toy, log=_quiet)
    manifest = C.read_manifest(toy)
    assert manifest["models"]["toy"] == entry                    # the checkpoint's entry is untouched
    assert manifest["baselines"]["toy"] == short and short["epochs"] == 1 and short["images_seen"] == 256
    assert short["figures"]["MSE"] > entry["figures"]["MSE"]      # one epoch fits worse than three
    # a lecture that trains with other optimizers than the checkpoint's gives its own compile
    frozen = lambda model: model.compile(optimizer=keras.optimizers.SGD(0.0), loss="mse")  # noqa: E731
    monkeypatch.setitem(C.SPECS, "toy", dataclasses.replace(C.SPECS["toy"], baseline=(1, "one epoch", frozen)))
    untrained = C.baseline("toy", directory=toy, log=_quiet)
    keras.utils.set_random_seed(0)
    assert untrained["figures"]["MSE"] == pytest.approx(C.SPECS["toy"].evaluate(C.SPECS["toy"].build())["MSE"], rel=1e-5)
    monkeypatch.setitem(C.SPECS, "toy", _toy_spec())
    with pytest.raises(C.CheckpointError, match="no lecture-profile baseline"):
        C.baseline("toy", directory=toy)


def test_rescore_measures_the_shipped_weights_with_the_current_evaluation(toy, monkeypatch):
    import dataclasses

    entry = C.train("toy", directory=toy, log=_quiet)
    spec = C.SPECS["toy"]
    evaluate = spec.evaluate
    monkeypatch.setitem(C.SPECS, "toy", dataclasses.replace(          # the recipe gains a figure
        spec, evaluate=lambda m: {**evaluate(m), "mean |weight|": float(np.mean(np.abs(m.get_weights()[0])))}))
    lines = []
    record = C.rescore("toy", directory=toy, log=lambda *a, **k: lines.append(a[0]))
    kept = {k: v for k, v in entry.items() if k != "figures"}
    assert {k: v for k, v in record.items() if k not in ("figures", "rescored")} == kept   # weights, sha, curve stay
    assert record["figures"]["MSE"] == pytest.approx(entry["figures"]["MSE"], rel=1e-6)
    assert record["figures"]["mean |weight|"] == pytest.approx(
        float(np.mean(np.abs(C.load("toy", toy).get_weights()[0]))))
    assert record["rescored"]["command"] == "python -m course_lib.checkpoints rescore toy"
    assert C.read_manifest(toy)["models"]["toy"] == record
    assert "mean |weight|" in lines[-1]                                     # what changed is reported
    with pytest.raises(C.CheckpointError, match="unknown checkpoint 'nope'"):
        C.rescore("nope", directory=toy)
    monkeypatch.setitem(C.SPECS, "untrained", spec)
    with pytest.raises(C.CheckpointError, match="no checkpoint named 'untrained'"):
        C.rescore("untrained", directory=toy)


def test_recheck_records_the_current_check_of_the_shipped_weights_and_nothing_else(toy, monkeypatch):
    import dataclasses

    entry = C.train("toy", directory=toy, log=_quiet)
    spec = C.SPECS["toy"]
    monkeypatch.setitem(C.SPECS, "toy", dataclasses.replace(          # the recipe's check changes
        spec, check=lambda m: ("mean |weight|", float(np.mean(np.abs(m.get_weights()[0]))))))
    lines = []
    record = C.recheck("toy", directory=toy, log=lambda *a, **k: lines.append(a[0]))
    kept = {k: v for k, v in entry.items() if k != "check"}
    assert {k: v for k, v in record.items() if k not in ("check", "rechecked")} == kept   # weights, figures stay
    assert record["check"]["figure"] == "mean |weight|"
    assert record["check"]["value"] == pytest.approx(float(np.mean(np.abs(C.load("toy", toy).get_weights()[0]))))
    assert record["rechecked"]["command"] == "python -m course_lib.checkpoints recheck toy"
    assert C.read_manifest(toy)["models"]["toy"] == record
    assert entry["check"]["figure"] in lines[-1] and "mean |weight|" in lines[-1]
    with pytest.raises(C.CheckpointError, match="unknown checkpoint 'nope'"):
        C.recheck("nope", directory=toy)


def test_unknown_checkpoint_is_a_clear_error(tmp_path):
    with pytest.raises(C.CheckpointError, match="unknown checkpoint 'nope'"):
        C.train("nope", directory=tmp_path)


def test_every_spec_fits_one_session():
    for name, spec in C.SPECS.items():
        assert 0 < spec.budget_minutes <= 60, name
        assert spec.epochs >= 1 and spec.images_per_epoch > 0, name


# ---------------------------------------------------------------------------------------
# The shipped checkpoints
# ---------------------------------------------------------------------------------------

SHIPPED = C.read_manifest(ROOT / "checkpoints")["models"]


def _copy_shipped(tmp_path, *names):
    """checkpoints/MANIFEST.json and the files of ``names``, copied into ``tmp_path``."""
    import shutil

    shutil.copy(ROOT / "checkpoints" / C.MANIFEST_NAME, tmp_path)
    for name in names:
        shutil.copy(ROOT / "checkpoints" / SHIPPED[name]["file"], tmp_path)
    return tmp_path


@pytest.mark.skipif("ae_conv" not in SHIPPED, reason="ae_conv is not trained yet")
def test_tampered_copy_says_sha256_differs_and_truncated_copy_says_truncated(tmp_path):
    folder = _copy_shipped(tmp_path, "ae_conv")
    path = folder / SHIPPED["ae_conv"]["file"]
    data = path.read_bytes()
    middle = len(data) // 2
    path.write_bytes(data[:middle] + bytes([data[middle] ^ 0xFF]) + data[middle + 1:])   # same size
    with pytest.raises(C.CheckpointError) as err:
        C.path_of("ae_conv", folder)
    message = str(err.value)
    assert "ae_conv.keras does not match MANIFEST.json: its sha256 differs from the manifest's" in message
    assert "truncated" not in message and "git checkout -- checkpoints/" in message
    path.write_bytes(data[:-10])                                              # cut short
    with pytest.raises(C.CheckpointError, match=f"{len(data) - 10:,} bytes, expected {len(data):,}: it is truncated"):
        C.path_of("ae_conv", folder)
    path.write_bytes(data)
    assert C.path_of("ae_conv", folder) == path                               # the same bytes pass again


def test_corrupt_manifest_names_the_file_and_the_fix(tmp_path, monkeypatch, capsys):
    folder = _copy_shipped(tmp_path)
    manifest = folder / C.MANIFEST_NAME
    text = manifest.read_text()
    manifest.write_text(text[: len(text) // 2])                               # cut short (a failed write, a bad merge)
    fix = "git checkout -- checkpoints/MANIFEST.json"
    for call in (lambda: C.read_manifest(folder), lambda: C.load("vae_d2", folder), lambda: C.verify(folder),
                 lambda: C.train("vae_d2", directory=folder, tiny=True)):
        with pytest.raises(C.CheckpointError) as err:
            call()
        assert f"checkpoint manifest {manifest} is corrupt, not valid JSON" in str(err.value)
        assert fix in str(err.value)
    monkeypatch.setenv(C.DIR_VAR, str(folder))                                  # the command line: no traceback
    assert C.main(["verify"]) == 1
    assert "is corrupt, not valid JSON" in capsys.readouterr().err
    manifest.write_text(json.dumps({"notebooks": {}}))                        # valid JSON, no models table
    with pytest.raises(C.CheckpointError, match=r'corrupt: it has no "models" table'):
        C.read_manifest(folder)
    # the repository's own manifest: the fix is the exact command
    assert f"`{fix}`" in C._manifest_fix(ROOT / "checkpoints" / C.MANIFEST_NAME)


def test_shipped_files_match_manifest_and_size_limit():
    folder = ROOT / "checkpoints"
    files = {p.name for p in folder.glob("*.keras")} | {p.name for p in folder.glob("*.npz")}
    listed = {e["file"] for e in SHIPPED.values()} | {e["recorded"]["file"] for e in SHIPPED.values() if "recorded" in e}
    assert files == listed, "every file in checkpoints/ has a manifest entry, and back"
    assert all(problem is None for _, problem in C.verify(folder)), C.verify(folder)
    total = sum((folder / f).stat().st_size for f in files)
    assert total <= MAX_TOTAL_BYTES, f"checkpoints take {total / 1e6:.1f} MB, more than 50 MB"
    for name, entry in SHIPPED.items():
        assert name in C.SPECS, f"{name} is in the manifest but has no spec"
        assert entry["figures"] and entry["images_seen"] > 0 and entry["commit"], name


def test_manifest_names_the_notebooks_of_every_spec():
    """tools/nbtools.py reads which notebooks load which checkpoint from the manifest's JSON."""
    assert C.read_manifest(ROOT / "checkpoints").get("notebooks") == C.spec_notebooks(), \
        "the manifest's notebook map is stale: run `make checkpoints-list`"


_REPRODUCE = """
import json, sys
import course_lib                           # registers the course's classes (VAE, PixelCNN, GAN, ...)
import keras
from pathlib import Path

# a student's way: plain keras.saving.load_model (safe mode, the default), nothing imported but course_lib
files = json.loads(Path("checkpoints/MANIFEST.json").read_text())["models"]
models, failed = {}, {}
for name in sys.argv[1:]:
    try:
        models[name] = keras.saving.load_model(Path("checkpoints") / files[name]["file"])
    except Exception as err:
        failed[name] = f"{type(err).__name__}: {err}"[:500]
imported = sorted(m for m in sys.modules if m.startswith("course_lib."))

from course_lib import checkpoints as C
out = {}
for name, model in models.items():
    C.path_of(name)                         # the file is the manifest's (sha256), as checkpoints.load checks
    out[name] = C.SPECS[name].check(model)
print("RESULT" + json.dumps({"check": out, "failed": failed, "imported": imported}))
"""


@pytest.fixture(scope="module")
def reproduced():
    """Every shipped checkpoint loaded in a fresh Python process by plain ``keras.saving.load_model``
    after ``import course_lib``, its check figure recomputed."""
    if not SHIPPED:
        return {"check": {}, "failed": {}, "imported": []}
    run = subprocess.run([sys.executable, "-c", _REPRODUCE, *SHIPPED], cwd=ROOT, capture_output=True,
                         text=True, timeout=600)
    assert run.returncode == 0, run.stderr[-3000:]
    line = [ln for ln in run.stdout.splitlines() if ln.startswith("RESULT")][-1]
    return json.loads(line[len("RESULT"):])


def test_import_course_lib_lets_plain_keras_load_every_checkpoint(reproduced):
    """``import course_lib`` registers every class a checkpoint holds: a fresh process loads each
    one with ``keras.saving.load_model(path)`` (safe mode), without importing course_lib.checkpoints."""
    assert reproduced["failed"] == {}, "\n".join(f"{n}: {e}" for n, e in reproduced["failed"].items())
    assert "course_lib.checkpoints" not in reproduced["imported"]
    assert set(reproduced["check"]) == set(SHIPPED)


@pytest.mark.parametrize("name", sorted(SHIPPED))
def test_checkpoint_reproduces_its_manifest_figure(reproduced, name):
    check = SHIPPED[name]["check"]
    assert name in reproduced["check"], f"{name} did not load: {reproduced['failed'].get(name)}"
    figure, value = reproduced["check"][name]
    assert figure == check["figure"]
    assert value == pytest.approx(check["value"], rel=check["relative_tolerance"]), (
        f"{name}: {figure} is {value:.6g} now, the manifest says {check['value']:.6g}: "
        "the checkpoint or the code that scores it changed")


def test_readme_checkpoint_table_is_current():
    readme = (ROOT / "README.md").read_text()
    block = f"{C.TABLE_START}\n{C.manifest_table(ROOT / 'checkpoints')}\n{C.TABLE_END}"
    assert block in readme, "the README's checkpoint table is stale: run `make checkpoints-list`"


def test_pending_lists_what_a_notebook_still_needs(toy):
    assert C.pending("none", toy) == ["toy"]          # the toy spec names notebook "none"
    C.train("toy", directory=toy, log=_quiet)
    assert C.pending("none", toy) == []
    assert C.pending("no_such_notebook", toy) == []


def test_every_checkpoint_a_notebook_loads_names_that_notebook():
    import re

    uses = re.compile(r"checkpoints\.(?:use|figures|history)\(\s*[\"']([\w-]+)[\"']")
    for path in sorted((ROOT / "notebooks").glob("*.ipynb")):
        cells = json.loads(path.read_text())["cells"]
        code = "\n".join("".join(c["source"]) for c in cells if c["cell_type"] == "code")
        loaded = set(uses.findall(code))
        if "course_samples(" in code:          # evaluation.course_samples loads every model of evaluation.MODELS
            from course_lib import evaluation

            loaded |= {ckpt for ckpt, _, _ in evaluation.MODELS.values()}
        for name in loaded:
            assert name in C.SPECS, f"{path.name} loads unknown checkpoint {name!r}"
            assert path.stem in C.SPECS[name].notebooks, (
                f"{path.name} loads {name!r}, but SPECS[{name!r}].notebooks does not list it, so "
                "`make present` would not know the notebook needs it")


def test_targets_compare_a_figure_with_a_number_or_another_checkpoints_figure():
    from course_lib.recipes.targets import TARGETS, Target

    entries = {"a": {"figures": {"fid": 30.0}}, "b": {"figures": {"fid": 21.0}}}
    assert Target("a", "fid", "<=", ("b", "fid", 1.5)).met(entries) is True             # 30 <= 31.5
    assert Target("a", "fid", "<=", ("b", "fid")).met(entries) is False
    assert Target("a", "fid", ">=", 30).met(entries) is True and Target("a", "fid", "<", 30).met(entries) is False
    assert Target("a", "other", "<=", 1).met(entries) is None                           # not measured yet
    assert Target("c", "fid", "<=", 1).met(entries) is None                             # not trained yet
    assert Target("a", "fid", "<=", ("b", "fid", 1.5)).describe(entries) == "<= 1.5 x `b`'s (31.5)"
    with pytest.raises(ValueError, match="op must be one of"):
        Target("a", "fid", "==", 1)
    run = {"epochs": 10, "kept_epoch": 4, "curve": [{"epoch": i, "train_seconds": i, "images_seen": i, "val": 10 - i / 2}
                                                    for i in range(1, 11)]}
    assert C._curve_text(run, most=6) == ("val, by epoch: 1: 9.5 · 2: 9 · … · 4: 8 (kept) · … · 7: 6.5 · 8: 6 · "
                                          "9: 5.5 · 10: 5")                  # every epoch trained, the kept one marked
    shipped = C.read_manifest(ROOT / "checkpoints")["models"]
    for t in TARGETS:                                  # every target names recipes and, once trained, their figures
        named = [(t.name, t.figure)] + ([] if isinstance(t.value, (int, float)) else [tuple(t.value[:2])])
        for name, figure in named:
            assert name in C.SPECS, t
            assert name not in shipped or figure in shipped[name]["figures"], (name, figure)
