import keras
import numpy as np
import pytest

from course_lib.plotting import describe_model, format_table, show_image_rows


def test_show_image_rows_grid():
    fig = show_image_rows([np.zeros((3, 784)), np.ones((3, 28, 28, 1))], row_titles=["a", "b"], title="t")
    assert len(fig.axes) == 6
    assert fig.axes[0].get_ylabel() == "a" and fig.axes[3].get_ylabel() == "b"


def test_show_image_rows_bad_input():
    with pytest.raises(ValueError, match="same number"):
        show_image_rows([np.zeros((3, 784)), np.zeros((2, 784))])
    with pytest.raises(ValueError, match="square"):
        show_image_rows([np.zeros((2, 10))])
    with pytest.raises(ValueError, match="row titles"):
        show_image_rows([np.zeros((2, 784))], row_titles=["a", "b"])
    with pytest.raises(ValueError, match="at least one"):
        show_image_rows([])


def test_format_table_aligns_columns():
    text = format_table([{"model": "a", "loss": 0.123456}, {"model": "longer", "loss": 2.0}])
    lines = text.splitlines()
    assert lines[0].split() == ["model", "loss"]
    assert lines[2].endswith("0.1235") and lines[3].endswith("2.0000")
    assert len({len(l) for l in lines}) == 1
    with pytest.raises(ValueError):
        format_table([])


def test_format_table_prints_a_dash_where_a_value_does_not_apply():
    lines = format_table([{"model": "a", "nll": 1.5}, {"model": "b", "nll": None}, {"model": "c"}]).splitlines()
    assert [l.split()[-1] for l in lines[2:]] == ["1.5000", "-", "-"]


def test_describe_model_is_deterministic(capsys):
    def build():
        x = keras.Input((4,))
        return keras.Model(x, keras.layers.Dense(3)(keras.layers.Dense(5)(x)))

    describe_model(build())
    first = capsys.readouterr().out
    describe_model(build())  # new auto-generated layer names, same text
    assert capsys.readouterr().out == first
    assert "total params: 43" in first and "(None, 3)" in first


def test_latent_grid_sits_at_normal_quantiles():
    from statistics import NormalDist

    from course_lib.plotting import latent_grid

    grid = latent_grid(n=3, spread=0.5)
    q = NormalDist().inv_cdf(0.75)
    assert grid.shape == (9, 2)
    np.testing.assert_allclose(grid[0], [-q, q], rtol=1e-6)     # top-left: low z1, high z2
    np.testing.assert_allclose(grid[4], [0.0, 0.0], atol=1e-7)  # centre
    with pytest.raises(ValueError, match="spread"):
        latent_grid(spread=1.0)
    with pytest.raises(ValueError, match="n must"):
        latent_grid(n=1)


def test_latent_figures():
    from course_lib.plotting import latent_explorer, plot_latent_scatter, show_manifold

    decode = lambda z: np.tile(np.clip(z[:, :1], 0, 1), (1, 784))  # noqa: E731
    fig = show_manifold(decode, n=4)
    assert fig.axes[0].images[0].get_array().shape == (4 * 28, 4 * 28)
    assert len(latent_explorer(decode).axes) == 18
    assert plot_latent_scatter(np.zeros((5, 2)), np.arange(5)).axes
    with pytest.raises(ValueError, match=r"\(n, 2\)"):
        plot_latent_scatter(np.zeros((5, 3)), np.arange(5))
    with pytest.raises(ValueError, match="5 codes but 4 labels"):
        plot_latent_scatter(np.zeros((5, 2)), np.arange(4))


def test_show_source_displays_the_code_and_the_slide(monkeypatch):
    import IPython.display

    from course_lib import likelihood, plotting

    shown = []
    monkeypatch.setattr(IPython.display, "display", lambda obj: shown.append(obj.data))
    plotting.show_source(likelihood.gaussian_nll, slide="x = Dense(2)(h)")
    text = shown[0]
    assert "def gaussian_nll(" in text and "course_lib/likelihood.py" in text
    assert text.index("x = Dense(2)(h)") < text.index("def gaussian_nll(")
    with pytest.raises(ValueError, match="function, class or method"):
        plotting.show_source(3)
