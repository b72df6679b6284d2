"""course_lib.choices: the validation comparisons 04b, 05, 08a/08b and 10 display are recorded, complete,
and what the notebooks train is what they chose."""

import json
from pathlib import Path

import pytest

from course_lib import choices as C
from course_lib import gan as G
from course_lib.gan import DCGAN_LEARNING_RATE

ROOT = Path(__file__).resolve().parents[1]


def test_missing_or_unknown_record_is_a_clear_error(tmp_path):
    with pytest.raises(C.ChoiceError, match="unknown comparison 'nope'"):
        C.result("nope", tmp_path / "none.json")
    with pytest.raises(C.ChoiceError, match=r"no result for 'cvae_epochs'.*make choices"):
        C.result("cvae_epochs", tmp_path / "none.json")
    with pytest.raises(C.ChoiceError, match="unknown comparison"):
        C.run(["nope"], tmp_path / "x.json")


def test_every_comparison_is_recorded_with_its_command():
    recorded = json.loads(C.RESULTS.read_text())
    assert set(recorded) == set(C.COMPARISONS)
    for name, out in recorded.items():
        assert out["command"] == f"python -m course_lib.choices run {name}" and out["rows"], name
        for row in out["rows"]:
            if name == "diffusion_sampler":
                assert 0 < row["val FID"] < 300 and row["eta"] in (0.0, 1.0) and row["steps"] >= 1, row
            elif name in ("wgan_settings", "gan_stability", "dcgan_settings"):
                assert row["model"] in ("dcgan", "wgan") and row["generator steps"] > 0, row
                assert row["val FID"] is None or 0 < row["val FID"] < 500, row
            else:
                assert 60 < row["val NLL"] < 250 and 0 < row["std error"] < 5, (name, row)


def test_the_chosen_sampler_is_the_best_recorded_one_within_the_budget():
    """08a/08b and 10 use the diffusion sampler `make choices` picked on validation digits: the lowest
    validation FID among the samplers of at most `budget` network calls, never one beyond it."""
    out = C.result("diffusion_sampler")
    affordable = [r for r in out["rows"] if r["steps"] <= out["budget"]]
    best = min(affordable, key=lambda r: r["val FID"])
    assert out["chosen"] == {k: best[k] for k in ("sampler", "eta", "steps", "clip_x0", "weights")}
    assert {r["steps"] for r in out["rows"]} > {r["steps"] for r in affordable}   # the curve goes beyond the budget
    assert "validation digits" in out["settings"] and "test" not in out["settings"]


def test_the_recorded_comparisons_cover_what_the_notebooks_compare():
    vae = C.result("vae_decoder_schedule")["rows"]
    assert {(tuple(r["decoder hidden"]), r["schedule"], r["seed"]) for r in vae} == {
        ((512,), "constant", 0), ((512,), "cosine", 0), ((512, 512), "constant", 0), ((512, 512), "cosine", 0),
        ((512, 512), "constant", 1), ((512, 512), "cosine", 1)}
    cvae = C.result("cvae_epochs")["rows"]
    assert {(r["model"], r["epochs"]) for r in cvae} == {("VAE", 8), ("VAE", 10), ("CVAE", 8), ("CVAE", 10)}


def test_the_gan_comparisons_train_equal_minutes_and_choose_the_lowest_validation_fid():
    """07b: every WGAN-GP setting of the grid and every penalty weight was run; the chosen one has the
    lowest validation FID; runs of one kind of step got one number of generator steps (equal minutes),
    and a kind with more critic steps per generator step got fewer of them."""
    out = C.result("wgan_settings")
    key = lambda r: (r["n_critic"], r["lr"], tuple(r["betas"]), r["gp_weight"])  # noqa: E731
    grid = {key(g) for g in C.WGAN_GRID}
    assert grid <= {key(r) for r in out["rows"]}
    rates = sorted(g["lr"] for g in C.WGAN_GRID)
    beyond = [r["lr"] for r in out["rows"] if not rates[0] <= r["lr"] <= rates[-1] and r["gp_weight"] == 10.0]  # edge
    assert len(out["rows"]) == len(grid) + len(beyond) + len(C.WGAN_GP_WEIGHTS) and len(beyond) <= C.WGAN_EDGE_STEPS
    assert all(r["gp_weight"] == 10.0 for r in out["rows"][:len(grid) + len(beyond)])
    assert {r["gp_weight"] for r in out["rows"][len(grid) + len(beyond):]} == set(C.WGAN_GP_WEIGHTS)
    scored = [r for r in out["rows"] if r["val FID"] is not None]
    best = min(scored, key=lambda r: r["val FID"])
    assert out["chosen"] == {"n_critic": best["n_critic"], "lr": best["lr"], "betas": best["betas"],
                             "gp_weight": best["gp_weight"]}
    steps = {}
    for r in out["rows"]:
        steps.setdefault(r["n_critic"], set()).add(r["generator steps"])
    assert all(len(v) == 1 for v in steps.values()) and min(steps[1]) > min(steps[5])
    stability = C.result("gan_stability")
    for kind in ("dcgan", "wgan"):
        rows = [r for r in stability["rows"] if r["model"] == kind]
        assert sorted(r["seed"] for r in rows if r["lr factor"] == 1.0) == list(C.STABILITY_SEEDS)
        assert sorted(r["lr factor"] for r in rows if r["seed"] == 0) == sorted((1.0, *C.STABILITY_LR_FACTORS))
    dcgan = C.result("dcgan_settings")               # the DCGAN tuned alike: its grid, its best, equal minutes
    rates = [DCGAN_LEARNING_RATE * f for f in C.DCGAN_LR_FACTORS]
    grid = {(lr, b) for lr in rates for b in ((0.5, 0.999), tuple(out["chosen"]["betas"]))}
    assert [(r["lr"], tuple(r["betas"])) for r in dcgan["rows"][:len(grid)]] == [
        (lr, b) for b in C.dcgan_betas() for lr in rates] and set(C.dcgan_betas()) == {b for _, b in grid}
    beyond = dcgan["rows"][len(grid):]                            # the edge rule's runs, outside the grid's rates
    assert len(beyond) <= C.WGAN_EDGE_STEPS and all(not rates[0] <= r["lr"] <= rates[-1] for r in beyond)
    best = min((r for r in dcgan["rows"] if r["val FID"] is not None), key=lambda r: r["val FID"])
    assert dcgan["chosen"] == {"lr": best["lr"], "betas": best["betas"]}
    assert {r["generator steps"] for r in dcgan["rows"]} == {
        r["generator steps"] for r in stability["rows"] if r["model"] == "dcgan"}
    # gan_stability runs the DCGAN at its checkpoint's setting; its seed-0 runs are dcgan_settings' (one run, two uses)
    stable = {r["lr"]: r["val FID"] for r in stability["rows"] if r["model"] == "dcgan" and r["seed"] == 0}
    assert {tuple(r["betas"]) for r in stability["rows"] if r["model"] == "dcgan"} == {G.DCGAN_CHECKPOINT_BETAS}
    shared = [r for r in dcgan["rows"] if tuple(r["betas"]) == G.DCGAN_CHECKPOINT_BETAS and r["lr"] in stable]
    assert len(shared) == 3 and all(stable[r["lr"]] == r["val FID"] for r in shared)
    chosen_wgan = [r for r in stability["rows"] if r["model"] == "wgan"]
    assert all((r["n_critic"], r["gp_weight"], r["betas"]) == (out["chosen"]["n_critic"], out["chosen"]["gp_weight"],
                                                              out["chosen"]["betas"]) for r in chosen_wgan)
