"""course_lib.choices: the validation comparisons 04b, 05, 08a/08b and 10 display are recorded, complete,
and what the notebooks train is what they chose."""

import json
from pathlib import Path

import pytest

from course_lib import choices as C

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
