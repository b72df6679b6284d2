"""`make site`: the course as a static, searchable web site, built from the committed (executed)
notebooks without running them, and `make site-check`, which opens it in headless Chromium.

The builder is Jupyter Book 1 (Sphinx, no Node), pinned in requirements-site.txt and installed in
a virtual environment of its own (.venv-site): it pins an older Sphinx than the one .venv holds
for the slides, so the two never share one environment.

    python tools/course_site.py source build/site/source   # the book's source tree (what `build` writes first)
    python tools/course_site.py build  build/site          # source, Jupyter Book, MathJax and slide decks
    python tools/course_site.py check  build/site/html     # every page offline in Chromium, search, formulas, links

What goes in: the README (the landing page, with the contents and the checkpoint table), the 14+
notebooks in their order, the worked solutions, CONTRIBUTING and the bench and data notes, each
course_lib module as a page of its source (the notebooks link to them), and the reveal.js decks of
`make slides`. Offline: MathJax 2 comes from the installed jupyter-server-mathjax (its STIX-Web font,
as in the slides), copied to ``_mathjax/`` beside the theme's ``_static/`` (not inside it, so that the
theme does not load it a second time); no page asks the network for anything.
"""

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path
from urllib.parse import urlparse

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tools"))

import course_render as R  # noqa: E402  (tools/ is not a package)

SITE_VENV = ROOT / ".venv-site"
TITLE = "Unsupervised learning and generative models, in Keras 3"
PAGES = ["CONTRIBUTING.md", "bench/README.md", "bench/results.md", "data/README.md"]   # repository notes
DATA_FILES = ["bench/choices.json", "bench/results.json"]                          # linked from bench/README.md
# MathJax 2 as the slides configure it (course_render.MATHJAX_SETUP): the STIX-Web font it ships.
# Sphinx wraps every formula in \( \) or \[ \] inside an element of class "math"; only those are typeset.
MATHJAX2_CONFIG = {
    "tex2jax": {"inlineMath": [["\\(", "\\)"]], "displayMath": [["\\[", "\\]"]], "processEscapes": True,
                "processEnvironments": True, "processClass": "math", "ignoreClass": "tex2jax_ignore|document"},
    "TeX": {"equationNumbers": {"autoNumber": "AMS", "useLabelIds": True}},
    "HTML-CSS": {"availableFonts": [], "preferredFont": None, "webFont": "STIX-Web", "imageFont": None},
    "SVG": {"font": "STIX-Web"},
    "messageStyle": "none",
}


def notebooks():
    return sorted((ROOT / "notebooks").glob("*.ipynb"))


def solutions():
    return sorted((ROOT / "solutions").glob("*.md"))


def modules():
    return sorted(p for p in (ROOT / "course_lib").glob("*.py") if p.name != "__init__.py")


def first_heading(text, default):
    m = re.search(r"^#\s+(.+)$", text, re.M)
    return m.group(1).strip() if m else default


# ----------------------------------------------------------------------------------------------
# The book's source: the repository's layout, links pointed at pages the book has
# ----------------------------------------------------------------------------------------------

def rewrite_links(text, base):
    """Markdown or HTML ``text`` of a file in folder ``base`` (relative to the repository) with its
    links to course_lib sources pointed at their pages (``X.py`` -> ``X.md``) and a link to the
    solutions folder at its index page."""
    def mapped(m):
        target = m.group(2)
        path, hash_, fragment = target.partition("#")
        if re.match(r"^[a-z][a-z0-9+.-]*:", path, re.I) or not path:
            return m.group(0)
        resolved = os.path.normpath(os.path.join(base, path)).replace(os.sep, "/")
        if resolved.startswith("course_lib/") and resolved.endswith(".py"):
            path = path[:-3] + ".md"
        elif resolved == "solutions":
            path = path.rstrip("/") + "/index.md"
        elif resolved == "README.md":                     # the README is the book's index page
            path = path[:-len("README.md")] + "index.md"
        return m.group(1) + path + hash_ + fragment + m.group(3)

    return R.HTML_LINK.sub(mapped, R.MD_LINK.sub(mapped, text))


NOTEBOOK_LINK = re.compile(r"(\]\((?:\.\./notebooks/)?[\w-]+)\.ipynb(#[^)]*)?(?=\))")


def _write(path, text):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")


def _copy_notebook(source, target):
    nb = json.loads(source.read_text(encoding="utf-8"))
    for cell in nb["cells"]:
        if cell["cell_type"] == "markdown":
            cell["source"] = rewrite_links("".join(cell["source"]), "notebooks")
        for output in cell.get("outputs", []):        # generated markdown: MyST leaves its links as written
            data = output.get("data", {})
            if "text/markdown" in data:
                text = rewrite_links("".join(data["text/markdown"]), "notebooks")
                data["text/markdown"] = NOTEBOOK_LINK.sub(r"\1.html\2", text)
    _write(target, json.dumps(nb, indent=1, ensure_ascii=False) + "\n")


def config():
    """_config.yml of the book, as a dict (written as JSON, which YAML reads)."""
    return {
        "title": TITLE,
        "author": "the course's authors",
        "copyright": "2026",
        "only_build_toc_files": True,
        "execute": {"execute_notebooks": "off"},          # the committed outputs, never re-run
        "html": {"use_repository_button": False, "use_issues_button": False, "use_edit_page_button": False,
                 "use_download_button": True, "use_multitoc_numbering": False, "home_page_in_navbar": True},
        "launch_buttons": {"notebook_interface": "classic", "binderhub_url": "", "jupyterhub_url": "",
                           "thebe": False, "colab_url": "", "deepnote_url": ""},
        "parse": {"myst_enable_extensions": ["dollarmath", "amsmath", "colon_fence", "html_image"]},
        "sphinx": {"config": {
            # a relative mathjax_path is taken from _static/: ../_mathjax is the copy beside it
            "mathjax_path": f"../_mathjax/MathJax.js?config={R.MATHJAX_CONFIG}",
            "mathjax2_config": MATHJAX2_CONFIG,
            "mathjax3_config": None,
            "nb_ipywidgets_js": {},                       # no require.js or widget manager from a CDN
            "myst_heading_anchors": 3,                    # links such as CONTRIBUTING.md#checkpoints
            "html_show_sourcelink": False,
            "html_last_updated_fmt": None,
            "suppress_warnings": ["myst.header"],
        }},
    }


def toc():
    """_toc.yml of the book, as a dict: the README, the notebooks, the solutions, the rest."""
    return {
        "format": "jb-book",
        "root": "index",
        "parts": [
            {"caption": "Lectures", "chapters": [{"file": f"notebooks/{p.stem}"} for p in notebooks()]},
            {"caption": "Worked solutions", "chapters": [{"file": "solutions/index", "sections": [
                {"file": f"solutions/{p.stem}"} for p in solutions()]}]},
            {"caption": "Slides, code and notes", "chapters": [
                {"file": "slides"},
                {"file": "course_lib/index", "sections": [{"file": f"course_lib/{p.stem}"} for p in modules()]},
                *({"file": page[:-3]} for page in PAGES)]},
        ],
    }


def slides_page():
    rows = "\n".join(f'<li><a href="slides/{p.stem}.slides.html">{p.stem}</a></li>' for p in notebooks())
    return ("# Slide decks\n\n"
            "Every notebook as a reveal.js deck (`make slides`), built from the same committed notebooks; each\n"
            "slide fits 1280x720. Keys: arrows to move, `s` for the speaker notes, `Esc` for an overview.\n\n"
            f'<ul>\n<li><a href="slides/index.html">all decks</a></li>\n{rows}\n</ul>\n')


def write_source(src):
    """The book's source tree in ``src`` (emptied first). Returns ``src``."""
    src = Path(src)
    if src.exists():
        shutil.rmtree(src)
    src.mkdir(parents=True)
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    _write(src / "index.md", rewrite_links(readme, ""))
    for nb in notebooks():
        _copy_notebook(nb, src / "notebooks" / nb.name)
    listed = []
    for sol in solutions():
        text = sol.read_text(encoding="utf-8")
        _write(src / "solutions" / sol.name, rewrite_links(text, "solutions"))
        listed.append(f"- [{first_heading(text, sol.stem)}]({sol.name})")
    _write(src / "solutions" / "index.md", "# Worked solutions\n\nThe exercises of each notebook, worked "
           "with the numbers they gave here (try them first).\n\n" + "\n".join(listed) + "\n")
    listed = []
    for mod in modules():
        (src / "course_lib").mkdir(exist_ok=True)
        shutil.copyfile(mod, src / "course_lib" / mod.name)
        doc = " ".join(mod.read_text(encoding="utf-8").split('"""')[1].strip().split("\n\n")[0].split())
        _write(src / "course_lib" / f"{mod.stem}.md",
               f"# course_lib/{mod.name}\n\n{doc}\n\n```{{literalinclude}} {mod.name}\n:language: python\n"
               ":linenos:\n```\n")
        listed.append(f"- [`{mod.name}`]({mod.stem}.md): {doc}")
    _write(src / "course_lib" / "index.md", "# The library: course_lib\n\nThe layers, losses and models the "
           "notebooks import, one module per family; each page shows a module's source.\n\n"
           + "\n".join(listed) + "\n")
    for page in PAGES:
        _write(src / page, rewrite_links((ROOT / page).read_text(encoding="utf-8"), str(Path(page).parent)))
    for data in DATA_FILES:
        shutil.copyfile(ROOT / data, src / data)
    _write(src / "slides.md", slides_page())
    _write(src / "_config.yml", json.dumps(config(), indent=1) + "\n")
    _write(src / "_toc.yml", json.dumps(toc(), indent=1) + "\n")
    return src


# ----------------------------------------------------------------------------------------------
# Build: Jupyter Book, then MathJax and the decks beside its pages
# ----------------------------------------------------------------------------------------------

def build(out, log=print):
    out = Path(out)
    jb = SITE_VENV / "bin" / "jupyter-book"
    if not jb.exists():
        raise SystemExit(f"{jb} is missing: `make site` installs it (requirements-site.txt).")
    src = write_source(out / "source")
    book = out / "book"
    if book.exists():
        shutil.rmtree(book)
    log(f"building the book from {src} ...", flush=True)
    run = subprocess.run([str(jb), "build", str(src), "--path-output", str(book), "--builder", "html",
                          "--keep-going"], capture_output=True, text=True)
    if run.returncode != 0:
        sys.stderr.write(run.stdout[-4000:] + run.stderr[-4000:])
        raise SystemExit(f"jupyter-book build failed ({run.returncode})")
    warnings = [ln for ln in (run.stdout + run.stderr).splitlines() if "WARNING" in ln]
    html_dir = out / "html"
    if html_dir.exists():
        shutil.rmtree(html_dir)
    shutil.copytree(book / "_build" / "html", html_dir)
    shutil.copytree(R.slide_assets()["mathjax"], html_dir / "_mathjax",
                    ignore=shutil.ignore_patterns("*.map", "__pycache__"))
    R.export_slides(notebooks(), html_dir / "slides")
    for w in warnings:
        log(w)
    log(f"{len(warnings)} Sphinx warnings; the site: {html_dir / 'index.html'} "
        "(open it in a browser, no server needed)")
    return html_dir


# ----------------------------------------------------------------------------------------------
# Check: every page offline, links, search, formulas
# ----------------------------------------------------------------------------------------------

def local_links(html_dir):
    """{page: [relative link targets of it that name no file]} over every HTML page outside the decks
    and MathJax (the decks have `make slides-check`)."""
    html_dir = Path(html_dir)
    broken = {}
    for page in sorted(html_dir.rglob("*.html")):
        rel = page.relative_to(html_dir)
        if rel.parts[0] in ("_mathjax", "slides", "_static", "_sources"):
            continue
        text = page.read_text(encoding="utf-8", errors="replace")
        missing = []
        for m in R.HTML_LINK.finditer(text):
            link = m.group(2).strip()
            if re.match(r"^[a-z][a-z0-9+.-]*:", link, re.I) or link.startswith(("#", "//")):
                continue
            path = link.split("#")[0].split("?")[0]
            if path and not (page.parent / R.unquote(path)).exists():
                missing.append(link)
        if missing:
            broken[rel.as_posix()] = sorted(set(missing))
    return broken


SEARCH_TERM = "precision"           # a measure 08 teaches; its pages must come up in the search


def check(html_dir, shots_dir=None, out=sys.stdout):
    """Open the site in headless Chromium from file:// and fail on: a request to the network, a file
    that did not load, a broken local link, a formula MathJax could not typeset, a search for a term
    of 08 that does not find 08. Returns the number of problems."""
    html_dir = Path(html_dir).resolve()
    problems = []
    broken = local_links(html_dir)
    for page, links in broken.items():
        problems.append(f"{page}: broken links {links[:5]}")
    pages = ["index.html", *(f"notebooks/{p.stem}.html" for p in notebooks()), "slides.html",
             "solutions/index.html", "course_lib/index.html", "course_lib/vae.html", "CONTRIBUTING.html"]
    browser = R.Browser().open()
    typeset = {}
    try:
        for page in pages:
            path = html_dir / page
            if not path.exists():
                problems.append(f"{page}: missing")
                continue
            browser.load(path.as_uri())
            counts = browser.evaluate("""new Promise(done => {
                const finish = () => done({
                    math: document.querySelectorAll('.math').length,
                    typeset: document.querySelectorAll('.MathJax, .MathJax_Display, .MathJax_CHTML').length,
                    errors: document.querySelectorAll('.MathJax_Error, merror').length
                        + (document.body.innerText.includes('Math Processing Error') ? 1 : 0),
                    mathjax: typeof MathJax !== 'undefined' && !!MathJax.Hub,
                    height: document.body.scrollHeight});
                if (typeof MathJax !== 'undefined' && MathJax.Hub) MathJax.Hub.Queue(finish);
                else setTimeout(finish, 500);
            })""")
            remote, failed = browser.requests()
            failed = [u for u in failed if u != "?"]   # "?": a request of the page before, cut off by leaving it
            typeset[page] = counts
            if remote:
                problems.append(f"{page}: asked the network for {remote[:3]}")
            if failed:
                problems.append(f"{page}: files that did not load {failed[:3]}")
            if counts["math"] and not counts["mathjax"]:
                problems.append(f"{page}: {counts['math']} formulas but no MathJax")
            if counts["errors"]:
                problems.append(f"{page}: {counts['errors']} formulas MathJax could not typeset")
            if counts["math"] and counts["typeset"] == 0:
                problems.append(f"{page}: {counts['math']} formulas, none typeset")
            if shots_dir and page in ("index.html", "notebooks/01_likelihood.html", "notebooks/08a_evaluation.html"):
                Path(shots_dir).mkdir(parents=True, exist_ok=True)
                browser.screenshot(Path(shots_dir) / (page.replace("/", "_") + ".png"))
        # the search page of Sphinx, from file://: the results list fills in after the index loads
        browser.load((html_dir / "search.html").as_uri() + f"?q={SEARCH_TERM}")
        found = browser.evaluate("""new Promise(done => {
            let tries = 0;
            const look = () => {
                const summary = document.querySelector('.search-summary, #search-results p');
                const finished = summary && /found/i.test(summary.innerText);
                if (finished || ++tries > 200)
                    done([...document.querySelectorAll('#search-results a, ul.search a')]
                         .map(a => a.getAttribute('href')));
                else setTimeout(look, 100);
            };
            look();
        })""")
        if shots_dir:
            browser.screenshot(Path(shots_dir) / "search.png")
        remote, failed = browser.requests()
        # Sphinx's search fetches each result page for a summary line, which file:// refuses: the
        # results stand without it. Any other failure, and any request to the network, is a problem.
        failed = [u for u in failed if not (u.startswith("file:") and Path(R.unquote(urlparse(u).path)).exists())]
        if remote or failed:
            problems.append(f"search.html: network {remote[:3]}, failed {failed[:3]}")
        if not any("08a_evaluation" in (h or "") or "08b_evaluation" in (h or "") for h in found):
            problems.append(f"search for {SEARCH_TERM!r} did not find 08 (found {found[:5]})")
    finally:
        browser.close()
    formulas = sum(c["typeset"] for c in typeset.values())
    print(f"{len(typeset)} pages opened offline, {formulas} formulas typeset, "
          f"search for {SEARCH_TERM!r}: {len(found)} results ({sum('08' in (h or '') for h in found)} in 08), "
          f"{sum(len(v) for v in broken.values())} broken links", file=out)
    for p in problems:
        print("  - " + p, file=out)
    return len(problems)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("command", choices=["source", "build", "check"])
    parser.add_argument("path", help="source: the folder for the book's source; build: the output folder; "
                                     "check: the built site's html folder")
    parser.add_argument("--shots", help="with check: save screenshots here")
    args = parser.parse_args(argv)
    if args.command == "source":
        print(write_source(args.path))
    elif args.command == "build":
        build(args.path)
    else:
        return 1 if check(args.path, shots_dir=args.shots) else 0
    return 0


if __name__ == "__main__":
    sys.exit(main())
