import keras
import numpy as np
import pytest

from course_lib.plotting import describe_model, format_table, image_mosaic, show_image_rows


def test_show_image_rows_grid():
    rows = [np.random.default_rng(0).random((3, 784)), np.ones((3, 28, 28, 1))]
    fig = show_image_rows(rows, row_titles=["a", "b"], title="t")
    (ax,) = fig.axes                                                    # one picture, one set of axes
    assert [t.get_text() for t in ax.get_yticklabels()] == ["a", "b"]
    assert ax.get_title() == "t"
    # each title sits at the middle of its row of pixels
    assert np.allclose(ax.get_yticks(), [13.5, 30 + 13.5])
    shown = ax.get_images()[0].get_array()
    assert shown.shape == (2 * 28 + 2, 3 * 28 + 2 * 2)
    assert np.array_equal(shown[:28, 30:58], rows[0][1].reshape(28, 28))   # row 0, image 1
    assert np.array_equal(shown[30:, 60:], np.ones((28, 28)))               # row 1, image 2
    assert np.ma.getmaskarray(shown)[28:30].all() and np.ma.getmaskarray(shown)[:, 28:30].all()  # blank gaps


def test_image_mosaic_places_each_image_and_leaves_gaps_blank():
    rows = [np.arange(2 * 16).reshape(2, 4, 4) / 32, np.zeros((2, 16))]
    mosaic, side = image_mosaic(rows, gap=1)
    assert side == 4 and mosaic.shape == (9, 9)
    assert np.array_equal(mosaic[:4, 5:], rows[0][1]) and np.array_equal(mosaic[5:, :4], np.zeros((4, 4)))
    assert np.isnan(mosaic[4]).all() and np.isnan(mosaic[:, 4]).all()


def test_show_image_rows_bad_input():
    with pytest.raises(ValueError, match="same number"):
        show_image_rows([np.zeros((3, 784)), np.zeros((2, 784))])
    with pytest.raises(ValueError, match="square"):
        show_image_rows([np.zeros((2, 10))])
    with pytest.raises(ValueError, match="one size"):
        show_image_rows([np.zeros((2, 784)), np.zeros((2, 196))])
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


def test_plot_training_history_draws_one_labelled_panel_per_metric():
    from course_lib.plotting import plot_training_history

    logs = {"loss": [3.0, 2.0, 1.5], "kl": [0.1, 0.3, 0.4]}
    fig = plot_training_history(logs, keys=("loss", "kl"), titles=["-ELBO", "KL"])
    assert len(fig.axes) == 2 and [ax.get_title() for ax in fig.axes] == ["-ELBO", "KL"]
    assert all(ax.get_xlabel() == "epoch" and ax.get_ylabel() for ax in fig.axes)
    np.testing.assert_allclose(fig.axes[1].lines[0].get_ydata(), [0.1, 0.3, 0.4])
    with pytest.raises(ValueError, match="no metric"):
        plot_training_history(logs, keys=("reconstruction",))
    with pytest.raises(ValueError, match="2 titles for 1"):
        plot_training_history(logs, keys=("loss",), titles=["a", "b"])


def test_plot_tradeoff_annotates_every_point():
    from course_lib.plotting import plot_tradeoff

    fig = plot_tradeoff([1.0, 2.0, 4.0], [9.0, 5.0, 4.0], ["a", "b", "c"], "KL", "MSE", title="t")
    ax = fig.axes[0]
    assert [t.get_text().strip() for t in ax.texts] == ["a", "b", "c"]
    assert (ax.get_xlabel(), ax.get_ylabel()) == ("KL", "MSE")
    with pytest.raises(ValueError, match="common length"):
        plot_tradeoff([1.0, 2.0], [1.0], ["a", "b"], "x", "y")


def test_plot_latent_comparison_and_random_subsample():
    from course_lib.plotting import plot_latent_comparison, plot_latent_scatter

    z = np.stack([np.arange(100.0), np.zeros(100)], axis=1)
    fig = plot_latent_comparison({"A": z, "B": -z}, np.arange(100) % 10, max_points=30)
    titled = [ax for ax in fig.axes if ax.get_title()]            # the colour bars have no title
    assert [ax.get_title() for ax in titled] == ["A", "B"]
    shown = titled[0].collections[0].get_offsets()[:, 0]
    assert len(shown) == 30 and shown.max() > 30                    # a random sample, not the first 30
    assert len(plot_latent_scatter(z, np.arange(100), max_points=500).axes[0].collections[0].get_offsets()) == 100
    with pytest.raises(ValueError, match="non-empty dict"):
        plot_latent_comparison({}, np.arange(3))


def test_plot_density_fits_legend_sits_outside_the_axes():
    import matplotlib.pyplot as plt

    from course_lib.plotting import plot_density_fits

    x = np.random.default_rng(0).normal(1.5, 0.8, 500)
    fig = plot_density_fits(x, {"fit a": (1.5, 0.8), "fit b": (1.4, 0.7)}, points={"outlier": 6.0})
    fig.canvas.draw()
    ax = fig.axes[0]
    legend = fig.legends[0]
    assert [t.get_text() for t in legend.get_texts()] == ["data (500 points)", "fit a", "fit b"]
    renderer = fig.canvas.get_renderer()
    assert not legend.get_window_extent(renderer).overlaps(ax.get_window_extent(renderer))
    assert ax.get_xlabel() and ax.get_ylabel()
    plt.close(fig)


def _legend_overlaps_axes(fig, ax, legend):
    fig.canvas.draw()
    renderer = fig.canvas.get_renderer()
    return legend.get_window_extent(renderer).overlaps(ax.get_window_extent(renderer))


def test_receptive_field_figures_label_their_axes():
    import matplotlib.pyplot as plt

    from course_lib.plotting import plot_receptive_field, plot_receptive_fields

    grad = np.zeros((28, 28))
    grad[10:14, 5:20] = 1.0
    fig = plot_receptive_fields([(grad, 14, 14, "a"), (grad, 27, 27, "b")], title="t")
    assert [ax.get_title() for ax in fig.axes] == ["a", "b"]
    assert all(ax.get_xlabel() == "input column" and ax.get_ylabel() == "input row" for ax in fig.axes)
    assert plot_receptive_field(grad, 3, 4).axes[0].get_title() == "inputs that pixel (3, 4) sees"
    with pytest.raises(ValueError, match="non-empty list"):
        plot_receptive_fields([])
    plt.close("all")


def test_plot_histograms_legend_sits_outside_the_axes():
    import matplotlib.pyplot as plt

    from course_lib.plotting import plot_histograms

    rng = np.random.default_rng(0)
    fig = plot_histograms({"a": rng.normal(0, 1, 500), "b": rng.normal(3, 1, 500)}, xlabel="bits")
    ax = fig.axes[0]
    assert (ax.get_xlabel(), ax.get_ylabel()) == ("bits", "density")
    assert not _legend_overlaps_axes(fig, ax, ax.get_legend())
    plt.close(fig)


def test_plot_point_snapshots_labels_the_outer_axes():
    import matplotlib.pyplot as plt

    from course_lib.plotting import plot_point_snapshots

    pts = np.zeros((10, 2))
    fig = plot_point_snapshots([[pts, pts], [pts, pts]], centres=pts[:2], titles=[["a", "b"], ["c", "d"]])
    axes = np.array(fig.axes).reshape(2, 2)
    assert [ax.get_ylabel() for ax in axes[:, 0]] == ["$x_2$"] * 2
    assert [ax.get_xlabel() for ax in axes[1]] == ["$x_1$"] * 2
    plt.close(fig)


def test_plot_gan_curves_splits_losses_and_accuracies():
    import matplotlib.pyplot as plt

    from course_lib.plotting import plot_gan_curves

    b = np.arange(1, 6)
    fig = plot_gan_curves({"d_loss": (b, b * 0.1), "g_loss": (b, b * 0.2), "d_acc_real": (b, b / 10)},
                          d_loss_equilibrium=np.log(4))
    loss_ax, acc_ax = fig.axes
    assert len(loss_ax.lines) == 3 and len(acc_ax.lines) == 1          # two losses + the log 4 line
    np.testing.assert_allclose(loss_ax.lines[2].get_ydata(), [np.log(4)] * 2)
    assert all(ax.get_xlabel() == "batch" and ax.get_ylabel() for ax in fig.axes)
    with pytest.raises(ValueError, match="non-empty dict"):
        plot_gan_curves({})
    plt.close(fig)


def test_plot_game_path_draws_both_views_with_labels():
    import matplotlib.pyplot as plt

    from course_lib.plotting import plot_game_path

    t = np.linspace(0, 6, 50)
    fig = plot_game_path(np.stack([np.cos(t), np.sin(t)], axis=1) * (1 + t[:, None]))
    ax_t, ax_xy = fig.axes
    assert (ax_t.get_xlabel(), ax_t.get_ylabel()) == ("step", "parameter value")
    assert (ax_xy.get_xlabel(), ax_xy.get_ylabel()) == ("x (minimizer)", "y (maximizer)")
    assert not _legend_overlaps_axes(fig, ax_xy, ax_xy.get_legend())
    with pytest.raises(ValueError, match=r"\(steps \+ 1, 2\)"):
        plot_game_path(np.zeros((5, 3)))
    plt.close(fig)



def test_plot_precision_recall_labels_axes_and_keeps_legend_outside():
    from course_lib.plotting import plot_precision_recall

    fig = plot_precision_recall({"GAN": (0.6, 0.7), "VAE": (0.4, 0.9)}, {"GAN": "adversarial", "VAE": "likelihood"}, k=3)
    ax = fig.axes[0]
    assert ax.get_xlabel().startswith("recall") and ax.get_ylabel().startswith("precision")
    assert len(ax.collections) == 2 and ax.get_legend().get_bbox_to_anchor() is not None
    with pytest.raises(ValueError):
        plot_precision_recall({})


def test_plot_density_2d_draws_points_and_densities():
    from course_lib.plotting import plot_density_2d

    seen = []

    def log_p(points):
        seen.append(points.shape)
        return -0.5 * (points ** 2).sum(1) - np.log(2 * np.pi)

    fig = plot_density_2d([("data", np.zeros((10, 2))), ("model", log_p)], grid=20, suptitle="s")
    assert len(fig.axes) == 2 and seen == [(400, 2)]
    assert fig.axes[1].images[0].get_array().max() == pytest.approx(1 / (2 * np.pi), rel=0.05)
    assert fig.axes[0].get_xlabel() == "$x_1$" and fig.axes[1].get_title() == "model"
    with pytest.raises(ValueError, match=r"\(n, 2\)"):
        plot_density_2d([("bad", np.zeros((3, 3)))])
    with pytest.raises(ValueError, match="at least one"):
        plot_density_2d([])


def test_plot_curves_draws_one_labelled_line_per_series():
    from course_lib.plotting import plot_curves

    fig = plot_curves({"a": ([0, 1, 2], [3.0, 2.0, 1.5]), "b": ([0, 5], [3.0, 1.0])}, "seconds", "loss", title="t")
    ax = fig.axes[0]
    assert [line.get_label() for line in ax.lines] == ["a", "b"] and ax.get_xlabel() == "seconds"
    assert list(ax.lines[1].get_xdata()) == [0, 5]
    ax = plot_curves({"a": ([1, 10], [2.0, 1.0])}, "steps", "FID", logx=True, marker="o").axes[0]
    assert ax.get_xscale() == "log" and ax.lines[0].get_marker() == "o"
    with pytest.raises(ValueError, match="same non-zero length"):
        plot_curves({"a": ([0, 1], [1.0])}, "x", "y")


def test_plot_scatter_groups_draws_one_labelled_set_per_group():
    from course_lib.plotting import plot_scatter_groups

    fig = plot_scatter_groups({"a": ([1, 2], [1, 3]), "b": ([0, 1, 2], [2, 2, 2])}, "x", "y", diagonal=True)
    ax = fig.axes[0]
    assert [c.get_label() for c in ax.collections] == ["a", "b"] and len(ax.lines) == 1
    assert ax.get_xlabel() == "x" and ax.get_legend() is not None
    with pytest.raises(ValueError, match="same length"):
        plot_scatter_groups({"a": ([1, 2], [1])}, "x", "y")


def test_plot_rate_and_seed_spread_draws_a_line_per_model_and_the_seeds_at_factor_one():
    from course_lib.plotting import plot_rate_and_seed_spread

    fig = plot_rate_and_seed_spread({"a": {"rates": ([3.0, 1 / 3, 1.0], [5.0, 4.0, 2.0]), "seeds": [2.0, 2.5, 3.0]},
                                     "b": {"rates": ([1.0], [7.0]), "seeds": []}}, "FID", title="t")
    ax = fig.axes[0]
    assert [line.get_label() for line in ax.lines] == ["a: learning rates", "b: learning rates"]
    assert list(ax.lines[0].get_xdata()) == [1 / 3, 1.0, 3.0] and list(ax.lines[0].get_ydata()) == [4.0, 2.0, 5.0]
    assert len(ax.collections) == 1 and ax.collections[0].get_label() == "a: seeds"
    offsets = ax.collections[0].get_offsets()
    assert list(offsets[:, 1]) == [2.0, 2.5, 3.0] and np.all(np.abs(offsets[:, 0] - 1) < 0.1)
    assert ax.get_xscale() == "log" and list(ax.get_xticks()) == [1 / 3, 1.0, 3.0]
    assert [t.get_text() for t in ax.get_xticklabels()] == ["x 0.333", "x 1", "x 3"]
    with pytest.raises(ValueError, match="positive factors"):
        plot_rate_and_seed_spread({"a": {"rates": ([0.0], [1.0]), "seeds": []}}, "FID")
    with pytest.raises(ValueError, match="keys"):
        plot_rate_and_seed_spread({"a": {"rates": ([1.0], [1.0])}}, "FID")
    with pytest.raises(ValueError, match="empty"):
        plot_rate_and_seed_spread({}, "FID")


def test_plot_intervals_keeps_each_name_on_one_row_across_panels():
    import matplotlib.pyplot as plt

    from course_lib.plotting import plot_intervals

    panels = {"classifier": {"GAN": (2.0, 1.5, 2.5), "VAE": (5.0, 4.0, 6.0)},
              "autoencoder": {"VAE": (1.0, 0.5, 1.5), "GAN": (3.0, 2.0, 4.0)}}
    fig = plot_intervals(panels, xlabel="FID", title="t")
    left, right = fig.axes
    labels = dict(zip(left.get_yticks(), (t.get_text() for t in left.get_yticklabels())))
    assert labels == {1: "GAN", 0: "VAE"}                               # the first panel's order, top down
    ys = {}
    for ax in (left, right):
        line = ax.lines[0]
        ys[ax.get_title()] = dict(zip(line.get_xdata(), line.get_ydata()))
    assert ys["classifier"][2.0] == ys["autoencoder"][3.0] == 1      # GAN: the top row in both panels
    assert ys["classifier"][5.0] == ys["autoencoder"][1.0] == 0
    plt.close(fig)
    for bad in ({}, {"a": {}}, {"a": {"GAN": (1.0, 2.0, 3.0)}},                      # estimate outside its interval
                {"a": {"GAN": (1, 0, 2)}, "b": {"VAE": (1, 0, 2)}}, {"a": {"GAN": (np.nan, 0, 2)}}):
        with pytest.raises(ValueError):
            plot_intervals(bad, xlabel="x")
