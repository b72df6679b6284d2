"""The renderer of decks and HTML pages (tools/course_render.py): fast, no browser needed.
`make slides-check` measures the real decks in headless Chromium."""

import re
import sys
from pathlib import Path

import nbformat
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tools"))
import course_render as R  # noqa: E402
import nbtools  # noqa: E402

md, code = nbformat.v4.new_markdown_cell, nbformat.v4.new_code_cell
PROSE = ("The encoder maps $x$ to a Gaussian $q(z \\mid x)$ and the decoder maps $z$ back to pixels. "
         "Each sentence here is ordinary lecture prose, long enough to wrap on a slide. ")


def notebook(*cells, stream=None):
    nb = nbformat.v4.new_notebook()
    nb.cells = [md("# 99 · A title\n\nThe goal.")] + list(cells)
    for i, cell in enumerate(c for c in nb.cells if c.cell_type == "code"):
        cell.execution_count = i + 1
        if stream is not None and not cell.outputs:
            cell.outputs = [nbformat.v4.new_output("stream", name="stdout", text=stream)]
    return nbtools.clean(nb)


def kinds(cells):
    return [c.metadata["slideshow"]["slide_type"] for c in cells]


def shown_text(cells):
    return "\n".join(c.source for c in cells if c.metadata["slideshow"]["slide_type"] != "notes")


def test_a_section_heading_inside_a_cell_opens_a_slide():
    nb = notebook(md("The end of section 2.\n\n## 3. The next section\n\nIts first words."))
    assert R.split_at_headings(nb.cells[1].source) == ["The end of section 2.", "## 3. The next section\n\nIts first words."]
    cells = R.layout_cells(nb)
    heading = next(c for c in cells if c.source.startswith("## 3."))
    assert heading.metadata["slideshow"]["slide_type"] == "slide"
    assert kinds(cells).count("slide") == 2                    # the title, then section 3


def test_heading_in_a_code_fence_is_not_a_section():
    assert len(R.split_at_headings("Text\n\n```\n## not a heading\n```")) == 1


def test_long_prose_goes_to_the_speaker_notes():
    long_text = "\n\n".join(PROSE * 3 for _ in range(6))
    cells = R.layout_cells(notebook(md("## 1 · Section\n\n" + long_text)))
    notes = [c for c in cells if c.metadata["slideshow"]["slide_type"] == "notes"]
    assert notes, "the prose that does not fit must go to the notes"
    shown = shown_text(cells)
    assert len(shown) < len(long_text) / 2
    # nothing is lost: what the slide shows and the notes add up to the text
    words = lambda text: re.findall(r"\w+", text)
    assert len(words(shown) + words("\n".join(n.source for n in notes))) >= len(words(long_text))


def test_sentences_are_never_cut_inside_math_or_after_an_abbreviation():
    text = "A model $p(x) = 0. 5$ is fit, e.g. by SGD. Then it samples. (See Fig. 2.) Done."
    parts = R.sentences(text)
    assert parts[0] == "A model $p(x) = 0. 5$ is fit, e.g. by SGD."
    assert all("$" not in p or p.count("$") % 2 == 0 for p in parts)


def test_long_code_is_trimmed_with_a_pointer_to_the_notebook():
    source = "# NBVAL_CHECK_OUTPUT\n" + "\n".join(f"x{i} = {i}" for i in range(40))
    cells = R.layout_cells(notebook(md("## 1 · Code"), code(source)))
    (shown,) = [c for c in cells if c.cell_type == "code" and c.source]
    lines = shown.source.split("\n")
    assert len(lines) <= R.MAX_CODE_LINES
    assert lines[0] == "x0 = 0"                                 # the test marker is not lesson material
    assert "full code in the notebook" in lines[-1] and lines[-1].startswith("#")


def test_text_tables_become_html_tables():
    table = ("model          params  test NLL\n-------------  ------  --------\n"
             "unconditional   30433     96.45\nconditional     31713     94.02\n\nafter the table\n")
    cells = R.layout_cells(notebook(md("## 1 · Table"), code("print_table(rows)"), stream=table))
    htmls = [o["data"]["text/html"] for c in cells if c.cell_type == "code" for o in c.outputs
             if "text/html" in o.get("data", {})]
    assert len(htmls) == 1 and "<table" in htmls[0]
    assert '<td class="num">30433</td>' in htmls[0] and "<th>model</th>" in htmls[0]
    streams = [o.text for c in cells if c.cell_type == "code" for o in c.outputs if o.output_type == "stream"]
    assert streams == ["after the table\n"]


def test_a_tall_output_is_split_over_sub_slides_and_each_fits():
    lines = "".join(f"step {i}: loss {1 / (i + 1):.3f}\n" for i in range(10))
    cells = [md("## 1 · Many outputs")] + [code(f"print({i})") for i in range(8)]
    laid = R.layout_cells(notebook(*cells, stream=lines))
    assert kinds(laid).count("subslide") >= 2
    starts = [c for c in laid if c.metadata["slideshow"]["slide_type"] in ("slide", "subslide")]
    assert all(int(c.metadata["slideshow"]["data"]["estimate"]) <= R.BUDGET for c in starts)


def test_figures_get_a_height_that_fits(tmp_path):
    import base64
    import struct
    import zlib

    def png(w, h):
        raw = b"".join(b"\x00" + b"\xff" * w * 3 for _ in range(h))
        chunk = lambda kind, data: (struct.pack(">I", len(data)) + kind + data
                                    + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF))
        return base64.b64encode(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, 8, 2, 0, 0, 0))
                                + chunk(b"IDAT", zlib.compress(raw)) + chunk(b"IEND", b"")).decode()

    cell = code("show_image_rows(samples)")
    cell.outputs = [nbformat.v4.new_output("display_data", data={"image/png": png(1000, 1040), "text/plain": "<Figure>"})]
    laid = R.layout_cells(notebook(md("## 1 · Samples"), cell))
    (image,) = [o for c in laid if c.cell_type == "code" for o in c.outputs if "image/png" in o.get("data", {})]
    height = image["metadata"]["image/png"]["height"]
    assert R.MIN_IMAGE_H <= height <= R.BUDGET


def test_chosen_slide_types_are_kept():
    nb = notebook(md("## 1 · Section"), md("Say this, do not show it."), code("print(1)"))
    nb.cells[2].metadata["slideshow"] = {"slide_type": "notes"}
    nb.cells[3].metadata["slideshow"] = {"slide_type": "skip"}
    laid = R.layout_cells(nb)
    assert [c.source for c in laid if c.metadata["slideshow"]["slide_type"] == "notes"] == ["Say this, do not show it."]
    assert not any(c.cell_type == "code" and "print(1)" in c.source for c in laid)


def test_links_point_at_what_is_rendered_beside_the_page(tmp_path):
    text = ("See [the next lecture](02_kl_divergence.ipynb#section), [the code](../course_lib/data.py), "
            "[the answers](../solutions/01_likelihood.md) and [the web](https://keras.io).")
    base = nbtools.ROOT / "notebooks"
    slides = R.Site(tmp_path / "slides", "slides").rewrite(text, base)
    assert "(02_kl_divergence.slides.html#section)" in slides
    assert "(course_lib/data.py.html)" in slides and "(solutions/01_likelihood.html)" in slides
    assert "(https://keras.io)" in slides
    assert (tmp_path / "slides" / "course_lib" / "data.py.html").exists()
    answers = (tmp_path / "slides" / "solutions" / "01_likelihood.html").read_text()
    assert 'src="../_static/mathjax/MathJax.js' in answers and (tmp_path / "slides" / "_static" / "mathjax").is_dir()
    pages = R.Site(tmp_path / "html", "html").rewrite(text, base)
    assert "(02_kl_divergence.html#section)" in pages
    # an executed copy elsewhere (make present) still finds the repository's files
    elsewhere = R.Site(tmp_path / "present", "html").rewrite("[c](../course_lib/data.py)", tmp_path / "present")
    assert elsewhere == "[c](course_lib/data.py.html)"


def test_html_pages_load_no_script_from_the_network(tmp_path):
    src = tmp_path / "09_demo.ipynb"
    nbformat.write(notebook(md("## 1 · Formula\n\n$D_{KL}(P \\| Q)$ and [code](../course_lib/data.py)"),
                            code("print(1)"), stream="1\n"), src)
    page = Path(nbtools.export_html(nbformat.read(src, as_version=4), src, tmp_path / "html"))
    text = page.read_text()
    remote = re.findall(r'<script[^>]+src="((?:https?:)?//[^"]+)"', text)
    assert remote == [], "an HTML page must not load a script from the network"
    assert "require.js" not in text and "cdnjs" not in text
    assert 'src="_static/mathjax/MathJax.js?config=' in text and 'webFont: "STIX-Web"' in text
    assert (page.parent / "_static" / "mathjax" / "MathJax.js").exists()
    assert (page.parent / "_static" / "mathjax" / "fonts" / "HTML-CSS" / "STIX-Web").is_dir()
    assert 'href="course_lib/data.py.html"' in text


def test_decks_use_a_1280x720_screen_and_keep_notes_in_the_slide(tmp_path):
    src = tmp_path / "09_demo.ipynb"
    nbformat.write(notebook(md("## 1 · Section\n\n" + "\n\n".join(PROSE * 3 for _ in range(6)))), src)
    (deck,) = nbtools.export_slides([src], tmp_path / "slides")
    text = deck.read_text()
    assert "width: 1280," in text and "height: 720," in text
    assert '<aside class="notes">' in text
    assert re.findall(r'<script[^>]+src="((?:https?:)?//[^"]+)"', text) == []


def test_slides_check_reports_when_chromium_is_missing(monkeypatch, tmp_path):
    monkeypatch.setenv("CHROMIUM", str(tmp_path / "no-such-browser"))
    with pytest.raises(SystemExit, match="apt-get install"):
        R.Browser()
