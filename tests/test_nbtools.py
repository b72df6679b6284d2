import sys
from pathlib import Path

import nbformat
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tools"))
import nbtools  # noqa: E402

LIB = nbtools.course_lib_names()


def make_nb(*code, executed=True, outputs=True):
    nb = nbformat.v4.new_notebook()
    nb.cells.append(nbformat.v4.new_markdown_cell("# Title\n\nGoal."))
    for i, src in enumerate(code, 1):
        cell = nbformat.v4.new_code_cell(src)
        if executed:
            cell.execution_count = i
        if outputs:
            cell.outputs = [nbformat.v4.new_output("stream", name="stdout", text="ok\n")]
        nb.cells.append(cell)
    return nbtools.clean(nb)


GOOD = ("# NBVAL_CHECK_OUTPUT\nfrom course_lib import pick\nprint(1)",)


def test_course_lib_names_are_read_without_import():
    assert {"load_mnist", "pick", "simple_autoencoder", "TrainingTimer"} <= LIB


def test_clean_notebook_passes():
    assert nbtools.problems("x.ipynb", make_nb(*GOOD), LIB) == []


def test_clean_strips_metadata_noise():
    nb = make_nb(*GOOD)
    nb.metadata["widgets"] = {"state": {}}
    nb.metadata["language_info"]["version"] = "3.11.7"
    nb.cells[1].metadata["execution"] = {"iopub.status.busy": "2026-11-23T00:00:00"}
    nb.cells[1].metadata["tags"] = ["keep"]
    assert any("metadata" in p for p in nbtools.problems("x", nb, LIB))
    nbtools.clean(nb)
    assert nb.metadata == {"kernelspec": nbtools.KERNELSPEC, "language_info": {"name": "python"}}
    assert nb.cells[1].metadata == {"tags": ["keep"], "slideshow": {"slide_type": "-"}}


@pytest.mark.parametrize("mutate,expected", [
    (lambda nb: nb.cells[1].outputs.append(nbformat.v4.new_output("error", ename="ValueError", evalue="", traceback=[])), "error output"),
    (lambda nb: nb.cells[1].outputs.append(nbformat.v4.new_output("stream", name="stdout", text="/home/alice/course/data\n")), "absolute local path"),
    (lambda nb: setattr(nb.cells[1], "execution_count", None), "never executed"),
    (lambda nb: setattr(nb.cells[1], "outputs", []), "no stored outputs"),
    (lambda nb: setattr(nb.cells[0], "source", "no title"), "first cell"),
    (lambda nb: setattr(nb.cells[0], "source", "# T\n$\\sqrt{\bar\alpha_t}$"), "control characters (0x07, 0x08)"),
])
def test_problems_are_found(mutate, expected):
    nb = make_nb(*GOOD)
    mutate(nb)
    assert any(expected in p for p in nbtools.problems("x", nb, LIB))


def test_missing_check_mark_and_import():
    found = nbtools.problems("x", make_nb("print(1)"), LIB)
    assert any("NBVAL_CHECK_OUTPUT" in p for p in found)
    assert any("never imports course_lib" in p for p in found)


def test_redefining_course_lib_is_flagged():
    nb = make_nb(*GOOD, "def load_mnist():\n    return None")
    assert any("redefines course_lib's load_mnist" in p for p in nbtools.problems("x", nb, LIB))


def test_present_runs_a_notebook_without_its_checkpoints_in_the_lecture_profile(tmp_path, monkeypatch):
    monkeypatch.setenv("COURSE_PROFILE", "present")
    monkeypatch.setenv("COURSE_CHECKPOINT_DIR", str(tmp_path / "no_checkpoints"))   # nothing trained here
    show = "import os\nprint(os.environ['COURSE_PROFILE'])"         # the profile nbtools.run chose (no TF import)
    needs = tmp_path / "06b_pixelcnn_conditional.ipynb"       # a notebook the specs name
    nbformat.write(make_nb(show + "\nif False and use_checkpoints(): checkpoints.use('pixelcnn_conditional')",
                           executed=False, outputs=False), needs)
    plain = tmp_path / "02_kl_divergence.ipynb"                    # loads no checkpoint
    nbformat.write(make_nb(show, executed=False, outputs=False), plain)
    assert nbtools.present_pending(needs) and nbtools.present_ready([needs, plain]) == []
    nbtools.run([needs, plain])
    assert nbformat.read(needs, as_version=4).cells[1].outputs[0].text == "lecture\n"
    assert nbformat.read(plain, as_version=4).cells[1].outputs[0].text == "present\n"


def test_present_copies_set_the_checkpoint_flag_first_and_skip_notebooks_not_ready(tmp_path, monkeypatch):
    import json

    (tmp_path / "ckpt").mkdir()
    trained = {name: {} for name in ("ae_simple", "ae_deep", "ae_conv", "ae_denoising")}   # 03's four
    (tmp_path / "ckpt" / "MANIFEST.json").write_text(json.dumps({"models": trained}))
    monkeypatch.setenv("COURSE_CHECKPOINT_DIR", str(tmp_path / "ckpt"))        # 06b's are not trained here
    ready = tmp_path / "03_autoencoders.ipynb"
    nbformat.write(make_nb("x = 1\nif use_checkpoints(): checkpoints.use('ae_simple')"), ready)
    pending = tmp_path / "06b_pixelcnn_conditional.ipynb"
    nbformat.write(make_nb("if use_checkpoints(): checkpoints.use('pixelcnn_conditional')"), pending)
    (tmp_path / "out").mkdir()
    (tmp_path / "out" / "stale.ipynb").write_text("{}")                         # a copy from an earlier run
    copies = nbtools.present_copies([ready, pending], tmp_path / "out")
    assert copies == [tmp_path / "out" / "03_autoencoders.ipynb"]
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["03_autoencoders.ipynb"]
    copy, original = (nbformat.read(p, as_version=4) for p in (copies[0], ready))
    assert 'os.environ["COURSE_USE_CHECKPOINTS"] = "1"' in copy.cells[0].source
    assert [c.source for c in copy.cells[1:]] == [c.source for c in original.cells]


def test_make_test_runs_a_presentable_notebook_twice_and_a_chain_in_one_kernel(tmp_path, monkeypatch):
    """A chain `a,b` runs its notebooks one after the other in one kernel, each from a cleared
    namespace in the smoke profile; and `nbtools.run` executes a notebook in place and renders its HTML."""
    import json

    (tmp_path / "ckpt").mkdir()
    trained = {name: {} for name in ("ae_simple", "ae_deep", "ae_conv", "ae_denoising")}   # 03's four
    (tmp_path / "ckpt" / "MANIFEST.json").write_text(json.dumps({"models": trained}))
    monkeypatch.setenv("COURSE_CHECKPOINT_DIR", str(tmp_path / "ckpt"))
    monkeypatch.delenv("COURSE_USE_CHECKPOINTS", raising=False)
    probe = "import os\nprint(os.environ.get('COURSE_USE_CHECKPOINTS'), 'leftover' in dir())"
    ready = tmp_path / "03_autoencoders.ipynb"        # a present path (not executed here: no course_lib import)
    nbformat.write(make_nb(probe, "leftover = 1\nif False and use_checkpoints(): checkpoints.use('ae_simple')",
                           executed=False, outputs=False), ready)
    always = tmp_path / "08a_evaluation.ipynb"         # loads checkpoints in every profile: no present path
    nbformat.write(make_nb("checkpoints.use('ae_simple')"), always)
    plain = tmp_path / "01_plain.ipynb"               # no checkpoints at all
    nbformat.write(make_nb(probe, "leftover = 2", executed=False, outputs=False), plain)
    out = tmp_path / "out"
    plan = nbtools.test_notebooks([ready, always, plain, f"{ready},{plain}"], out)
    assert plan == [out / "03_autoencoders+present.ipynb", always, plain, out / "03_autoencoders+present+01_plain.ipynb"]
    nb = nbformat.read(plan[0], as_version=4)
    assert len(nb.cells) == 2 * 3 + 1 and nb.cells[3].id == "switch-to-present"
    chain = nbformat.read(plan[3], as_version=4)
    assert len(chain.cells) == (2 * 3 + 1) + 1 + 3 and "%reset -f" in chain.cells[7].source
    for combined in (nb, chain):
        assert len({c.id for c in combined.cells}) == len(combined.cells)          # ids stay unique
    monkeypatch.setenv("COURSE_PROFILE", "smoke")
    timings = nbtools.run([plan[3]], html_dir=tmp_path / "html")       # `make course`'s runner: in place, HTML
    chain = nbformat.read(plan[3], as_version=4)
    printed = [c.outputs[0].text for c in chain.cells if c.cell_type == "code" and c.outputs]
    # smoke first; then checkpoints and a cleared namespace; then the next notebook: smoke again, cleared again
    assert printed == ["None False\n", "1 False\n", "None False\n"]
    assert chain.cells[1].execution_count == 1 and "execution" not in chain.cells[1].metadata
    name = "03_autoencoders+present+01_plain"
    assert timings[name] > 0 and (tmp_path / "html" / f"{name}.html").exists()


def with_output(nb, cell, output):
    nb.cells[cell].outputs.append(output)
    return nb


PNG = {"image/png": "iVBORw0KGgo=", "text/plain": "<Figure size 640x480 with 1 Axes>"}


@pytest.mark.parametrize("source", [
    "from course_lib.plotting import show_image_rows\nshow_image_rows([x]);",
    "import course_lib.plotting as plotting\nplotting.plot_loss_curves([1.0, 0.5])",
    "import matplotlib.pyplot as plt\nplt.plot([1, 2])",
])
def test_a_drawing_cell_must_store_its_image(source):
    nb = make_nb(*GOOD, source)
    assert any("draws a figure but stores no image/png" in p for p in nbtools.problems("x", nb, LIB))
    with_output(nb, 2, nbformat.v4.new_output("display_data", data=PNG))
    assert nbtools.problems("x", nb, LIB) == []


def test_drawing_functions_are_read_from_plotting():
    names = nbtools.drawing_functions()
    assert {"show_image_rows", "plot_loss_curves", "plot_histograms"} <= set(names)
    assert "format_table" not in names and "print_table" not in names


@pytest.mark.parametrize("output", [
    nbformat.v4.new_output("display_data", data={"text/plain": "IWAE k=100:   0%|          | 0/20 [00:00<?, ?batch/s]"}),
    nbformat.v4.new_output("stream", name="stdout",
                           text="sampling:   0%|    | 0/28 [00:00<?, ?row/s]\rsampling:  50%|##  | 14/28 [00:02<00:02, 7row/s]"),
])
def test_a_stuck_progress_bar_is_found(output):
    nb = with_output(make_nb(*GOOD), 1, output)
    assert any("progress bar stuck at" in p for p in nbtools.problems("x", nb, LIB))


def test_clean_keeps_the_last_state_of_a_redrawn_bar():
    nb = make_nb(*GOOD)
    nb.cells[1].outputs = [
        nbformat.v4.new_output("stream", name="stdout", text="start\n"),
        nbformat.v4.new_output("stream", name="stdout", text="bar:   0%|    | 0/4 [00:00<?, ?it/s]"),
        nbformat.v4.new_output("stream", name="stdout", text="\rbar: 100%|####| 4/4 [00:01<00:00, 4it/s]\n"),
    ]
    nbtools.clean(nb)
    assert [o.text for o in nb.cells[1].outputs] == ["start\nbar: 100%|####| 4/4 [00:01<00:00, 4it/s]\n"]
    assert nbtools.problems("x", nb, LIB) == []


def test_cell_progress_reports_cells_done_and_time(capsys):
    progress = nbtools.CellProgress("[1/1] nb.ipynb (smoke)", total=2, every=0.0)
    progress(cell={"cell_type": "markdown"})
    progress(cell={"cell_type": "code"})
    progress(cell={"cell_type": "code"})
    progress.finish()
    out = capsys.readouterr().out
    assert "cell 1/2" in out and "cell 2/2" in out and "done, 2 cells in" in out


def test_make_course_stores_figures_even_when_the_shell_says_agg(tmp_path):
    """The README's command, on one small notebook: its drawing cell must keep its image."""
    import subprocess

    root = Path(nbtools.ROOT)
    path = tmp_path / "draw.ipynb"
    nbformat.write(make_nb("from course_lib.plotting import plot_loss_curves\nplot_loss_curves([1.0, 0.5, 0.25]);",
                           executed=False, outputs=False), path)
    env = {**__import__("os").environ, "MPLBACKEND": "Agg", "COURSE_PROFILE": "smoke"}
    done = subprocess.run(["make", "-s", "-C", str(root), "course", f"NOTEBOOKS={path}", f"BUILD={tmp_path / 'html'}"],
                          env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stdout + done.stderr
    nb = nbformat.read(path, as_version=4)
    assert any("image/png" in o.get("data", {}) for o in nb.cells[1].outputs)
    assert "data:image/png;base64" in (tmp_path / "html" / "draw.html").read_text()
    assert "cell 1/1" in done.stdout or "done, 1 cells" in done.stdout


def test_readme_table_of_contents_is_current():
    """The README lists every notebook's sections; `make toc` rewrites it after a change."""
    root = Path(nbtools.ROOT)
    readme = (root / "README.md").read_text()
    notebooks = sorted((root / "notebooks").glob("*.ipynb"))
    expected = nbtools.table_of_contents(notebooks)
    assert f"{nbtools.TOC_START}\n{expected}\n{nbtools.TOC_END}" in readme, "run `make toc`"


def test_write_toc_fills_the_block(tmp_path):
    path = tmp_path / "nb.ipynb"
    nb = make_nb(*GOOD)
    nb.cells.append(nbformat.v4.new_markdown_cell("## 1 · First\n\ntext\n\n## Summary"))
    nbformat.write(nb, path)
    readme = tmp_path / "README.md"
    readme.write_text(f"intro\n{nbtools.TOC_START}\nold\n{nbtools.TOC_END}\nend\n")
    assert nbtools.write_toc(readme, [path])
    assert readme.read_text() == (f"intro\n{nbtools.TOC_START}\n- [Title](notebooks/nb.ipynb): 1 · First; Summary\n"
                                  f"{nbtools.TOC_END}\nend\n")


def _lecture_like_nb():
    nb = nbformat.v4.new_notebook()
    md, code = nbformat.v4.new_markdown_cell, nbformat.v4.new_code_cell
    nb.cells = [md("# Title\n\nGoal, with $q(z \\mid x)$."), code("from course_lib import pick\nprint(1)"),
                md("## 1 · First section"), md("Text that continues the slide."), code("print(2)"),
                md("After a code cell: a sub-slide."), code("print(3)"), md("### A sub-heading"),
                md("## 2 · Second section"), code("print(4)")]
    for i, cell in enumerate(c for c in nb.cells if c.cell_type == "code"):
        cell.execution_count = i + 1
        cell.outputs = [nbformat.v4.new_output("stream", name="stdout", text=f"{i}\n")]
    return nb


def test_cells_get_slide_types_and_chosen_ones_are_kept():
    nb = _lecture_like_nb()
    nb.cells[3].metadata["slideshow"] = {"slide_type": "fragment"}        # an instructor's choice
    nbtools.clean(nb)
    types = [c.metadata["slideshow"]["slide_type"] for c in nb.cells]
    assert types == ["slide", "-", "slide", "fragment", "-", "subslide", "-", "subslide", "slide", "-"]
    del nb.cells[4].metadata["slideshow"]
    assert any("no slide type" in p for p in nbtools.problems("x", nb, LIB))


def test_slides_render_offline_with_one_section_per_slide(tmp_path):
    src = tmp_path / "09_demo.ipynb"
    nbformat.write(nbtools.clean(_lecture_like_nb()), src)
    (deck,) = nbtools.export_slides([src], tmp_path / "slides")
    html = deck.read_text()
    import re

    remote = re.findall(r'<(?:script|link)[^>]+(?:src|href)="(https?:)?//[^"]+"', html)
    assert remote == [], "a deck must not load anything from the network"
    local = re.findall(r'<(?:script|link)[^>]+(?:src|href)="([^"#?]+)', html)
    assert any(p.endswith("reveal.js") for p in local) and any("MathJax.js" in p for p in local)
    for asset in local:
        assert (deck.parent / asset).exists(), asset
    # reveal.js nests: each slide is a <section> holding its first sub-slide's <section>,
    # then its other sub-slides: 3 slides x 2 + 2 more sub-slides = 8
    assert html.count("<section") == 8
    assert "09_demo.slides.html" in (tmp_path / "slides" / "index.html").read_text()
