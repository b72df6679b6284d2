"""`make site`: the book's source that tools/course_site.py writes (no Jupyter Book needed here; `make
site-check` builds the site and opens it in Chromium)."""

import json
import os
import re
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tools"))

import course_site as S  # noqa: E402  (tools/ is not a package)


@pytest.fixture(scope="module")
def source(tmp_path_factory):
    return S.write_source(tmp_path_factory.mktemp("site") / "source")


def _toc_files(toc):
    files = [toc["root"]]
    for part in toc["parts"]:
        for chapter in part["chapters"]:
            files.append(chapter["file"])
            files += [s["file"] for s in chapter.get("sections", [])]
    return files


def test_the_toc_holds_every_notebook_solution_and_module_once_and_each_file_exists(source):
    toc = json.loads((source / "_toc.yml").read_text())
    files = _toc_files(toc)
    assert len(files) == len(set(files))
    for stem in [p.stem for p in (ROOT / "notebooks").glob("*.ipynb")]:
        assert f"notebooks/{stem}" in files
    for stem in [p.stem for p in (ROOT / "solutions").glob("*.md")]:
        assert f"solutions/{stem}" in files
    assert "course_lib/vae" in files and "course_lib/__init__" not in files
    for f in files:
        assert (source / f"{f}.md").exists() or (source / f"{f}.ipynb").exists(), f
    lectures = [c["file"] for c in toc["parts"][0]["chapters"]]
    assert lectures == sorted(lectures)          # the course's order: 01, 02, ..., 10b


def _links(text):
    text = re.sub(r"```.*?```", "", text, flags=re.S)     # code is not a link, even where it looks like one
    text = re.sub(r"`[^`\n]*`", "", text)
    return [m.group(2) for m in S.R.MD_LINK.finditer(text)] + [m.group(2) for m in S.R.HTML_LINK.finditer(text)]


def test_every_relative_link_of_the_source_names_a_file_of_the_book(source):
    """What Sphinx and the browser will follow: links into the book, or to the decks built beside it."""
    decks = {f"slides/{p.stem}.slides.html" for p in (ROOT / "notebooks").glob("*.ipynb")} | {"slides/index.html"}
    checked = 0
    for path in sorted(source.rglob("*")):
        if path.suffix == ".md":
            texts = [path.read_text()]
        elif path.suffix == ".ipynb":
            nb = json.loads(path.read_text())
            texts = ["".join(c["source"]) for c in nb["cells"] if c["cell_type"] == "markdown"]
            texts += ["".join(o["data"]["text/markdown"]) for c in nb["cells"] for o in c.get("outputs", [])
                      if "text/markdown" in o.get("data", {})]
        else:
            continue
        for text in texts:
            for link in _links(text):
                target = link.strip("<>").split("#")[0]
                if not target or re.match(r"^[a-z][a-z0-9+.-]*:", target, re.I) or target.startswith("data:"):
                    continue
                checked += 1
                where = os.path.normpath(path.parent / target)
                if target.endswith(".html") and path.suffix == ".ipynb":     # a generated link, to a page
                    assert Path(where).with_suffix(".ipynb").exists(), (path.name, link)
                elif Path(where).relative_to(source).as_posix() in decks:
                    continue
                else:
                    assert Path(where).exists(), (path.relative_to(source), link)
    assert checked > 100


def test_links_to_sources_and_folders_point_at_pages_and_urls_stay():
    text = ("[vae](../course_lib/vae.py#L10) [s](solutions/) [r](../README.md) "
            "[web](https://example.org/x.py) [nb](05_cvae.ipynb) <a href=\"../course_lib/gan.py\">g</a>")
    out = S.rewrite_links(text, "notebooks")
    assert "(../course_lib/vae.md#L10)" in out and '"../course_lib/gan.md"' in out
    assert "(../index.md)" in out and "(https://example.org/x.py)" in out and "(05_cvae.ipynb)" in out
    assert "(solutions/index.md)" in S.rewrite_links("[s](solutions/)", "")


def test_the_config_loads_nothing_from_a_network_and_runs_nothing():
    config = S.config()
    text = json.dumps(config)
    assert "http" not in text
    assert config["execute"]["execute_notebooks"] == "off"
    sphinx = config["sphinx"]["config"]
    assert sphinx["mathjax_path"].startswith("../_mathjax/MathJax.js?config=") and sphinx["nb_ipywidgets_js"] == {}
    assert sphinx["mathjax2_config"]["HTML-CSS"]["webFont"] == "STIX-Web"   # the one font the package ships


def test_the_link_check_finds_a_missing_file_and_passes_a_present_one(tmp_path):
    (tmp_path / "a").mkdir()
    (tmp_path / "a" / "page.html").write_text('<a href="../b.html#x">b</a> <img src="gone.png"> '
                                              '<a href="https://example.org">w</a> <a href="#top">t</a>')
    (tmp_path / "b.html").write_text("<p>b</p>")
    assert S.local_links(tmp_path) == {"a/page.html": ["gone.png"]}
    (tmp_path / "a" / "gone.png").write_bytes(b"")
    assert S.local_links(tmp_path) == {}
