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
    assert nb.cells[1].metadata == {"tags": ["keep"]}


@pytest.mark.parametrize("mutate,expected", [
    (lambda nb: nb.cells[1].outputs.append(nbformat.v4.new_output("error", ename="ValueError", evalue="", traceback=[])), "error output"),
    (lambda nb: nb.cells[1].outputs.append(nbformat.v4.new_output("stream", name="stdout", text="/home/alice/course/data\n")), "absolute local path"),
    (lambda nb: setattr(nb.cells[1], "execution_count", None), "never executed"),
    (lambda nb: setattr(nb.cells[1], "outputs", []), "no stored outputs"),
    (lambda nb: setattr(nb.cells[0], "source", "no title"), "first cell"),
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


def test_run_executes_in_place_and_renders_html(tmp_path, monkeypatch):
    monkeypatch.setenv("COURSE_PROFILE", "smoke")
    path = tmp_path / "tiny.ipynb"
    nbformat.write(make_nb("from course_lib import current_profile\nprint(current_profile())",
                           executed=False, outputs=False), path)
    timings = nbtools.run([path], html_dir=tmp_path / "html")
    nb = nbformat.read(path, as_version=4)
    assert nb.cells[1].outputs[0].text == "smoke\n" and nb.cells[1].execution_count == 1
    assert timings["tiny"] > 0 and (tmp_path / "html" / "tiny.html").exists()
    assert "execution" not in nb.cells[1].metadata
