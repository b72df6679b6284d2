import numpy as np

from course_lib import evaluation as E


def test_course_samples_reuses_the_draws_of_the_same_arguments_in_one_process(monkeypatch):
    monkeypatch.setattr(E, "MODELS", {"autoencoder": ("ae_simple", "03", "neither")})   # one small checkpoint
    monkeypatch.setattr(E, "_DRAWN", {})
    x_fit = np.random.default_rng(0).random((200, 28, 28)).astype("float32")
    said = []
    first = E.course_samples(10, x_fit, {"steps": 20}, log=said.append)
    again = E.course_samples(10, x_fit, {"steps": 20}, log=said.append)
    assert "reused" in said[-1] and np.array_equal(first.images["autoencoder"], again.images["autoencoder"])
    again.images["autoencoder"] = None                                   # the caller's dicts are its own
    assert first.images["autoencoder"] is not None
    other = E.course_samples(10, x_fit, {"steps": 20}, seed=5, log=said.append)   # another seed: drawn anew
    assert "reused" not in said[-1] and not np.array_equal(first.images["autoencoder"], other.images["autoencoder"])
    E.course_samples(10, x_fit[::-1], {"steps": 20}, log=said.append)   # other training digits: drawn anew
    assert "reused" not in said[-1]
