"""Notebook plumbing for the Makefile: run, clean and check the course notebooks.

    python tools/nbtools.py run [--html DIR] NOTEBOOK...   execute in place (lecture profile by default)
    python tools/nbtools.py clean NOTEBOOK...              strip metadata noise, keep outputs
    python tools/nbtools.py check NOTEBOOK...              the hygiene gate `make test` runs
    python tools/nbtools.py toc [--write README.md] NOTEBOOK...   the README's table of contents
    python tools/nbtools.py slides --out DIR NOTEBOOK...   reveal.js decks that work offline, each slide fitting 1280x720
    python tools/nbtools.py html --out DIR NOTEBOOK...     offline HTML pages of notebooks as they are (no execution)
    python tools/nbtools.py slides-check [--shots DIR] FOLDER...   every slide and page of the folders, measured
                                                           in headless Chromium (fails on overflow, math errors,
                                                           broken links, blank slides, network use)
    python tools/nbtools.py shots --out DIR DECK.html...   screenshots of decks in headless Chromium
    python tools/nbtools.py present-ready NOTEBOOK...      those whose checkpoints are all trained
    python tools/nbtools.py present-copies --out DIR NOTEBOOK...   copies of those that set
                                                           COURSE_USE_CHECKPOINTS=1 first (make nbval-present)
    python tools/nbtools.py test-notebooks --out DIR NOTEBOOK...   what `make test` re-executes: each
                                                           notebook, run twice in one kernel if it has a present path;
                                                           `a.ipynb,b.ipynb` chains notebooks in one kernel

Not lesson material: students never need to read this file.
"""

import argparse
import ast
import os
import re
import sys
import tempfile
import time
from pathlib import Path

import nbformat

ROOT = Path(__file__).resolve().parent.parent
KERNELSPEC = {"display_name": "Python 3", "language": "python", "name": "python3"}
LANGUAGE_INFO = {"name": "python"}
ALLOWED_NB_METADATA = {"kernelspec", "language_info"}
ALLOWED_CELL_METADATA = {"tags", "slideshow"}   # slideshow: the cell's slide type (make slides)
SLIDE_TYPES = {"slide", "subslide", "fragment", "skip", "notes", "-"}
ABS_PATH = re.compile(r"(?<![\w.])/(?:root|home|work|tmp|Users|private|var/folders|opt)/[\w.-]+")
CHECK_MARK = "# NBVAL_CHECK_OUTPUT"


def default_slide_type(cell, previous):
    """The slide type a cell gets unless an instructor chose one: the title and every
    '## ' section open a slide, a '### ' heading or the text after a code cell opens a
    sub-slide (one step down), everything else continues the current one."""
    if cell.cell_type == "markdown":
        first = cell.source.lstrip().split("\n", 1)[0]
        if first.startswith(("# ", "## ")):
            return "slide"
        if first.startswith("### ") or (previous is not None and previous.cell_type == "code"):
            return "subslide"
    return "slide" if previous is None else "-"


def tag_slides(nb):
    """Give every cell without a slide type its default one; chosen types are kept."""
    previous = None
    for cell in nb.cells:
        if cell.metadata.get("slideshow", {}).get("slide_type") not in SLIDE_TYPES:
            cell.metadata["slideshow"] = {"slide_type": default_slide_type(cell, previous)}
        previous = cell
    return nb


def clean(nb):
    """Strip what changes from machine to machine but keep every output (and slide types)."""
    nb.metadata = nbformat.NotebookNode(
        {"kernelspec": dict(KERNELSPEC), "language_info": dict(LANGUAGE_INFO)}
    )
    for cell in nb.cells:
        cell.metadata = nbformat.NotebookNode(
            {k: v for k, v in cell.metadata.items() if k in ALLOWED_CELL_METADATA}
        )
    tag_slides(nb)
    for cell in nb.cells:
        if cell.cell_type != "code":
            continue
        cell.outputs = coalesce_streams(cell.get("outputs", []))
        for out in cell.outputs:
            out.pop("transient", None)
            if "metadata" in out:
                out["metadata"] = nbformat.NotebookNode(
                    {k: v for k, v in out["metadata"].items() if k != "execution"}
                )
            # Widget views only make sense with the (stripped) widget state; keep the
            # text/image fallback that every display also carries.
            data = out.get("data")
            if data and "application/vnd.jupyter.widget-view+json" in data:
                del data["application/vnd.jupyter.widget-view+json"]
    return nb


BACKSPACE = re.compile(r"[^\n]\x08")  # a character erased by a backspace
CARRIAGE_RETURN = re.compile(r"^.*\r(?=[^\n])", re.MULTILINE)


def resolve_control_characters(text):
    """What a terminal shows for ``text``: a progress bar redrawn with \\r keeps its last state."""
    text = text.replace("\r\n", "\n")
    previous = None
    while previous != text:
        previous, text = text, BACKSPACE.sub("", text)
    return CARRIAGE_RETURN.sub("", text)


def coalesce_streams(outputs):
    """Merge consecutive stream outputs of the same name and resolve their \\r and \\b."""
    merged = []
    for out in outputs:
        if (out.get("output_type") == "stream" and merged and merged[-1].get("output_type") == "stream"
                and merged[-1].get("name") == out.get("name")):
            merged[-1]["text"] += out["text"]
        else:
            merged.append(out)
    for out in merged:
        if out.get("output_type") == "stream":
            out["text"] = resolve_control_characters(out["text"])
    return merged


# tqdm's text bar ("  35%|###   | 7/20 [00:03<00:06, ...]"), also the text fallback of its widget
PROGRESS = re.compile(r"(\d+)/(\d+) \[[0-9:?]+<")


def stuck_progress(text):
    """The unfinished progress bars in ``text`` (last state of each line), as 'done/total' strings."""
    found = []
    for line in resolve_control_characters(text).splitlines():
        m = PROGRESS.search(line)
        if m and int(m.group(1)) < int(m.group(2)):
            found.append(f"{m.group(1)}/{m.group(2)}")
    return found


def drawing_functions():
    """Names of course_lib.plotting functions that draw a matplotlib figure (read with ast).

    A function draws when it calls ``_plt()`` or ``plt.*``, or calls another function that draws.
    """
    tree = ast.parse((ROOT / "course_lib" / "plotting.py").read_text())
    calls = {}
    for node in tree.body:
        if isinstance(node, ast.FunctionDef):
            names = set()
            for sub in ast.walk(node):
                if isinstance(sub, ast.Call):
                    f = sub.func
                    names.add(f.id if isinstance(f, ast.Name) else getattr(f, "attr", None))
                if isinstance(sub, ast.Name) and sub.id == "plt":
                    names.add("_plt")
            calls[node.name] = names
    drawing = {"_plt"}
    while True:
        more = {name for name, called in calls.items() if called & drawing} - drawing
        if not more:
            return sorted(drawing - {"_plt"})
        drawing |= more


def draws(source, drawing_names):
    """True if a code cell calls a drawing function of course_lib.plotting or matplotlib itself."""
    code = "\n".join(l for l in source.splitlines() if not l.lstrip().startswith(("%", "!")))
    try:
        tree = ast.parse(code)
    except SyntaxError:
        return False
    for node in ast.walk(tree):
        if isinstance(node, ast.Call):
            f = node.func
            name = f.id if isinstance(f, ast.Name) else getattr(f, "attr", None)
            if name in drawing_names:
                return True
            if isinstance(f, ast.Attribute) and isinstance(f.value, ast.Name) and f.value.id == "plt":
                return True
    return False


def course_lib_names():
    """Top-level functions and classes defined in course_lib (read with ast, no import)."""
    names = set()
    for path in (ROOT / "course_lib").glob("*.py"):
        tree = ast.parse(path.read_text())
        for node in tree.body:
            if isinstance(node, (ast.FunctionDef, ast.ClassDef)) and not node.name.startswith("_"):
                names.add(node.name)
    return names


def problems(path, nb, lib_names):
    """Every reason ``nb`` is not fit to commit, as a list of sentences."""
    found = []
    code = [c for c in nb.cells if c.cell_type == "code"]
    if not nb.cells or nb.cells[0].cell_type != "markdown" or not nb.cells[0].source.startswith("# "):
        found.append("the first cell must be markdown opening with '# Title' (the goal and the slides)")
    if not any(c.get("outputs") for c in code):
        found.append("no stored outputs: run `make course` and commit it executed")
    unexecuted = [i for i, c in enumerate(code) if c.source.strip() and c.execution_count is None]
    if unexecuted:
        found.append(f"code cells {unexecuted} were never executed")
    for i, c in enumerate(code):
        for out in c.get("outputs", []):
            if out.output_type == "error":
                found.append(f"code cell {i} stores an error output ({out.get('ename')})")
            if out.output_type == "stream" and "Traceback (most recent call last)" in out.text:
                found.append(f"code cell {i} stores a traceback in {out.name}")
    drawing_names = drawing_functions()
    for i, c in enumerate(code):
        images = [o for o in c.get("outputs", []) if "image/png" in o.get("data", {})]
        if draws(c.source, drawing_names) and not images:
            found.append(f"code cell {i} draws a figure but stores no image/png "
                         "(was the kernel's matplotlib backend Agg? run it with `make course`)")
        for out in c.get("outputs", []):
            text = out.get("text", "") if out.output_type == "stream" else out.get("data", {}).get("text/plain", "")
            for bar in stuck_progress(text if isinstance(text, str) else "".join(text)):
                found.append(f"code cell {i} stores a progress bar stuck at {bar}")
    for i, c in enumerate(nb.cells):
        control = sorted({f"0x{ord(ch):02x}" for ch in c.source if ord(ch) < 32 and ch not in "\n\t"})
        if control:   # e.g. "\b" of "\bar" typed into a non-raw Python string: the page shows "ar"
            found.append(f"cell {i} holds control characters ({', '.join(control)}) in its source")
    text = nbformat.writes(nb)
    for m in sorted(set(ABS_PATH.findall(text))):
        found.append(f"holds an absolute local path ({m}...)")
    extra = set(nb.metadata) - ALLOWED_NB_METADATA
    if extra or nb.metadata.get("kernelspec") != KERNELSPEC or "widgets" in nb.metadata:
        found.append(f"notebook metadata is not clean ({sorted(set(nb.metadata))}); run `make clean-notebooks`")
    noisy = [i for i, c in enumerate(nb.cells) if set(c.metadata) - ALLOWED_CELL_METADATA]
    if noisy:
        found.append(f"cells {noisy} carry metadata noise; run `make clean-notebooks`")
    untagged = [i for i, c in enumerate(nb.cells)
                if c.metadata.get("slideshow", {}).get("slide_type") not in SLIDE_TYPES]
    if untagged:
        found.append(f"cells {untagged} have no slide type (make slides); run `make clean-notebooks`")
    if not any(CHECK_MARK in c.source for c in code):
        found.append(f"no cell is marked {CHECK_MARK}: nbval would check no result")
    sources = "\n".join(c.source for c in code)
    if "course_lib" not in sources:
        found.append("never imports course_lib")
    for i, c in enumerate(code):
        try:
            tree = ast.parse("\n".join(l for l in c.source.splitlines() if not l.lstrip().startswith(("%", "!"))))
        except SyntaxError as exc:
            found.append(f"code cell {i} is not valid Python ({exc.msg})")
            continue
        for node in ast.walk(tree):
            if isinstance(node, (ast.FunctionDef, ast.ClassDef)) and node.name in lib_names:
                found.append(f"code cell {i} redefines course_lib's {node.name}: import it instead")
    return found


class CellProgress:
    """Prints how far a notebook has got: cells done of total and elapsed time.

    On a terminal the line is redrawn in place; in a log (CI) a line is printed at most
    every ``every`` seconds, so a 10-minute notebook is never silent.
    """

    def __init__(self, label, total, every=30.0, stream=None):
        self.label, self.total, self.every = label, total, every
        self.stream = stream or sys.stdout
        self.tty = self.stream.isatty()
        self.start = self.last = time.perf_counter()
        self.done = 0

    def __call__(self, cell=None, **_):
        if cell is not None and cell.get("cell_type") != "code":
            return
        self.done += 1
        now = time.perf_counter()
        line = f"{self.label}: cell {self.done}/{self.total}, {now - self.start:.0f} s"
        if self.tty:
            print("\r" + line, end="", file=self.stream, flush=True)
        elif now - self.last >= self.every:
            print(line, file=self.stream, flush=True)
            self.last = now

    def finish(self, note=""):
        seconds = time.perf_counter() - self.start
        end = "\r" if self.tty else ""
        print(f"{end}{self.label}: done, {self.total} cells in {seconds:.1f} s{note}", file=self.stream, flush=True)
        return seconds


def run(paths, html_dir=None, timeout=1800, out_dir=None):
    """Execute each notebook with the current COURSE_PROFILE; return {name: seconds}.

    The executed notebook replaces the original, or goes to ``out_dir`` when given (the
    committed notebooks then keep their lecture-profile outputs)."""
    from jupyter_client.manager import KernelManager
    from nbclient import NotebookClient

    # ipykernel draws figures inline (stored as image/png) only when MPLBACKEND is unset;
    # a value inherited from the shell (often Agg, for headless scripts) would lose them all.
    os.environ.pop("MPLBACKEND", None)
    requested = os.environ.get("COURSE_PROFILE", "lecture")
    timings = {}
    for k, path in enumerate(paths, 1):
        path = Path(path)
        profile = requested
        missing = present_pending(path) if requested == "present" else []
        if missing:   # its models are not trained yet: show it as the lecture profile would
            profile = "lecture"
            print(f"{path.name}: checkpoints {', '.join(missing)} not trained yet "
                  f"(`make checkpoints NAME={missing[0]}`): running it in the lecture profile", flush=True)
        os.environ["COURSE_PROFILE"] = profile                    # what the kernel starts with
        nb = nbformat.read(path, as_version=4)
        total = sum(1 for c in nb.cells if c.cell_type == "code")
        progress = CellProgress(f"[{k}/{len(paths)}] {path.name} ({profile})", total)
        with tempfile.TemporaryDirectory() as sockets:
            # IPC sockets in a private folder: no "kernel is running over TCP" warning,
            # nothing left behind in the working directory.
            km = KernelManager(kernel_name="python3", transport="ipc", ip=str(Path(sockets) / "kernel"))
            try:
                NotebookClient(nb, km=km, timeout=timeout, on_cell_executed=progress,
                               resources={"metadata": {"path": str(path.parent)}}).execute()
            finally:  # nbclient leaves a kernel it was handed running: stop it now
                if km.has_kernel:
                    km.shutdown_kernel(now=True)
        seconds = time.perf_counter() - progress.start
        timings[path.stem] = seconds
        target = path if out_dir is None else Path(out_dir) / path.name
        target.parent.mkdir(parents=True, exist_ok=True)
        nbformat.write(clean(nb), target)
        note = ""
        if html_dir:
            note = f" -> {export_html(nb, path, Path(html_dir))}"
        progress.finish(note)
    os.environ["COURSE_PROFILE"] = requested
    return timings


def loads_checkpoints(path):
    """True if the notebook has a present-profile path: it calls ``checkpoints.use`` where
    ``use_checkpoints()`` says so. (A notebook that loads checkpoints in every profile, as 08
    does, has no separate present path.)"""
    nb = nbformat.read(path, as_version=4)
    code = "\n".join(c.source for c in nb.cells if c.cell_type == "code")
    return "checkpoints.use(" in code and "use_checkpoints()" in code


def present_pending(path):
    """The checkpoints a notebook loads in the present profile that are not trained yet. Read from
    the manifest's JSON (its ``"notebooks"`` map, kept current by course_lib.checkpoints), so that
    `make test` need not start TensorFlow to plan its runs."""
    if not loads_checkpoints(path):
        return []
    import json

    folder = Path(os.environ.get("COURSE_CHECKPOINT_DIR") or Path(__file__).resolve().parents[1] / "checkpoints")
    manifest = folder / "MANIFEST.json"
    manifest = json.loads(manifest.read_text()) if manifest.exists() else {}
    stem = Path(path).stem
    if "notebooks" not in manifest:                   # no manifest yet: ask the specs themselves (slow)
        from course_lib import checkpoints

        return checkpoints.pending(stem, folder)
    return [name for name, notebooks in manifest["notebooks"].items()
            if stem in notebooks and name not in manifest["models"]]


def present_ready(paths):
    """The notebooks that load checkpoints and have every one of them trained."""
    return [p for p in paths if loads_checkpoints(p) and not present_pending(p)]


PRESENT_SETUP = ("# Added by `nbtools.py present-copies` for `make nbval-present`: this copy runs as the present profile\n"
                 "# in smoke form (smoke sizes, trained models loaded from checkpoints/).\n"
                 "import os\n\nos.environ[\"COURSE_USE_CHECKPOINTS\"] = \"1\"")


def _fresh_state(checkpoint_flag):
    """The body of a cell that makes a running kernel look new to the cells after it: empty
    namespace, fresh Keras layer names, no open figures, ``COURSE_USE_CHECKPOINTS`` as given."""
    flag = ("os.environ[\"COURSE_USE_CHECKPOINTS\"] = \"1\"\n" if checkpoint_flag
            else "os.environ.pop(\"COURSE_USE_CHECKPOINTS\", None)\n")
    return ("%reset -f\n"
            "import os\n\nimport keras\nimport matplotlib.pyplot as plt\n\n"
            "keras.backend.clear_session()   # fresh layer names, as in a new kernel\n"
            "plt.close(\"all\")\n" + flag + "del os, keras, plt")


SWITCH_TO_PRESENT = (
    "# Added by `nbtools.py test-notebooks` for `make test`. The cells above ran this notebook in the\n"
    "# smoke profile; the cells below run it again, in the same kernel (one start-up, not two), as the\n"
    "# present profile in smoke form: smoke sizes, trained models loaded from checkpoints/.\n"
    + _fresh_state(checkpoint_flag=True))


def next_notebook(previous, following):
    """The cell between two notebooks of a chain."""
    return ("# Added by `nbtools.py test-notebooks` for `make test`. The cells above ran " + previous + "; the cells\n"
            "# below run " + following + " in the same kernel (TensorFlow is imported once per chain, not once per\n"
            "# notebook), from a cleared namespace, fresh layer names and the smoke profile.\n"
            + _fresh_state(checkpoint_flag=False))


def _renamed(cells, prefix):
    return [nbformat.from_dict({**c, "id": f"{prefix}{c.get('id', i)}"}) for i, c in enumerate(cells)]


def test_notebooks(paths, out_dir):
    """The notebooks ``make test`` re-executes. A path may name a chain, ``a.ipynb,b.ipynb,...``:
    one file in ``out_dir`` that runs them one after the other in one kernel, separated by a cell
    that clears the namespace, Keras' layer names, the figures and ``COURSE_USE_CHECKPOINTS``,
    so that the kernel start and TensorFlow import (about 4-6 s) are paid once per chain. A
    notebook ready to present appears twice, its smoke cells then (after a cell that clears the
    namespace and sets ``COURSE_USE_CHECKPOINTS=1``) its present cells in smoke form; alone it
    becomes ``NAME+present.ipynb``. A single notebook with no present path, and every other path
    (the test files), pass through. Returns the paths to run, in the order given."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    for stale in out_dir.glob("*.ipynb"):
        stale.unlink()
    notebooks = [p for arg in paths for p in str(arg).split(",") if p.endswith(".ipynb")]
    ready = set(map(str, present_ready(notebooks)))
    plan = []
    for arg in paths:
        members = str(arg).split(",")
        if len(members) == 1 and (not members[0].endswith(".ipynb") or members[0] not in ready):
            plan.append(Path(arg))
            continue
        combined, names = None, []
        for k, path in enumerate(members):
            nb = nbformat.read(path, as_version=4)
            stem = Path(path).stem
            prefix = f"{stem}-" if len(members) > 1 else ""           # cell ids stay unique in a chain
            cells = _renamed(nb.cells, prefix)
            if path in ready:
                cells += [nbformat.v4.new_code_cell(SWITCH_TO_PRESENT, id=f"{prefix}switch-to-present")]
                cells += _renamed(nb.cells, f"{prefix}present-")
                names.append(f"{stem}+present")
            else:
                names.append(stem)
            if combined is None:
                combined = nb
                combined.cells = cells
            else:
                switch = next_notebook(members[k - 1], path)
                combined.cells += [nbformat.v4.new_code_cell(switch, id=f"{stem}-next-notebook")] + cells
        target = out_dir / ("+".join(names) + ".ipynb")
        nbformat.write(combined, target)
        plan.append(target)
    return plan


def present_copies(paths, out_dir):
    """For each notebook ready to present, a copy in ``out_dir`` whose first cell sets
    ``COURSE_USE_CHECKPOINTS=1``, for ``make nbval-present`` (the present half alone; ``make test``
    uses ``test_notebooks``). Returns the copies' paths."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    for stale in out_dir.glob("*.ipynb"):
        stale.unlink()
    copies = []
    for path in present_ready(paths):
        nb = nbformat.read(path, as_version=4)
        nb.cells.insert(0, nbformat.v4.new_code_cell(PRESENT_SETUP, id="present0"))
        target = out_dir / Path(path).name
        nbformat.write(nb, target)
        copies.append(target)
    return copies


# Rendering for people (offline HTML pages, slide decks laid out to fit a screen, and their check in
# headless Chromium) lives in tools/course_render.py; these names stay here for the Makefile and tests.

def _render():
    tools = str(Path(__file__).resolve().parent)
    if tools not in sys.path:
        sys.path.insert(0, tools)
    import course_render

    return course_render


def export_html(nb, path, html_dir):
    """Render one notebook as an offline HTML page in ``html_dir`` (MathJax copied beside it, its
    links pointed at pages there); returns the page's path."""
    target = _render().export_html(nb, path, Path(html_dir))
    try:
        return target.relative_to(Path.cwd())
    except ValueError:
        return target


def export_slides(paths, out_dir):
    """Render each notebook as a reveal.js deck in ``out_dir`` that works offline and whose every
    slide fits 1280x720 (see course_render.export_slides); returns the deck paths."""
    return _render().export_slides(paths, out_dir)


def screenshots(decks, out_dir, slides=("0", "2")):
    """PNG screenshots of slides ``slides`` (reveal.js indices h or h/v) of each deck, taken by
    headless Chromium over file:// with the network off: what an offline laptop shows."""
    return _render().screenshots(decks, out_dir, slides)


TOC_START, TOC_END = "<!-- toc: written by `make toc` -->", "<!-- /toc -->"


def table_of_contents(paths):
    """One markdown line per notebook: its title, linked, then its sections (## headings)."""
    lines = []
    for path in paths:
        path = Path(path)
        nb = nbformat.read(path, as_version=4)
        title, sections = path.stem, []
        for cell in nb.cells:
            if cell.cell_type != "markdown":
                continue
            for line in cell.source.splitlines():
                if line.startswith("# ") and title == path.stem:
                    title = line[2:].strip()
                elif line.startswith("## "):
                    sections.append(line[3:].strip())
        lines.append(f"- [{title}](notebooks/{path.name}): " + "; ".join(sections))
    return "\n".join(lines)


def write_toc(readme, paths):
    """Replace the block between the TOC markers of ``readme``; return True if it changed."""
    readme = Path(readme)
    text = readme.read_text()
    if TOC_START not in text or TOC_END not in text:
        raise ValueError(f"{readme} has no {TOC_START} ... {TOC_END} block to fill.")
    head, rest = text.split(TOC_START, 1)
    _, tail = rest.split(TOC_END, 1)
    new = f"{head}{TOC_START}\n{table_of_contents(paths)}\n{TOC_END}{tail}"
    readme.write_text(new)
    return new != text


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("command", choices=["run", "clean", "check", "toc", "slides", "html", "slides-check", "shots",
                                            "present-ready", "present-copies", "test-notebooks"])
    parser.add_argument("notebooks", nargs="+")
    parser.add_argument("--html", help="with run: render each executed notebook to HTML in this folder")
    parser.add_argument("--executed", help="with run: write executed notebooks here instead of in place")
    parser.add_argument("--write", help="with toc: fill the table-of-contents block of this README")
    parser.add_argument("--out", default="build/slides",
                        help="with slides: the folder for the decks; with present-copies and test-notebooks: "
                             "for the copies")
    parser.add_argument("--shots", help="with slides-check: save screenshots of the worst slides in this folder")
    args = parser.parse_args(argv)

    if args.command == "shots":
        for shot in screenshots(args.notebooks, args.out):
            print(shot)
        return 0
    if args.command == "slides":
        for deck in export_slides(args.notebooks, args.out):
            print(deck)
        return 0
    if args.command == "html":
        for path in args.notebooks:
            print(export_html(nbformat.read(path, as_version=4), Path(path), Path(args.out)))
        return 0
    if args.command == "slides-check":
        render = _render()
        counts = render.check(render.rendered_pages(args.notebooks), shots_dir=args.shots)
        return 1 if any(counts.values()) else 0
    if args.command == "run":
        run(args.notebooks, args.html, out_dir=args.executed)
        return 0
    if args.command == "test-notebooks":
        print(" ".join(str(p) for p in test_notebooks(args.notebooks, args.out)))
        return 0
    if args.command == "present-copies":
        print(" ".join(str(p) for p in present_copies(args.notebooks, args.out)))
        return 0
    if args.command == "present-ready":
        print(" ".join(str(p) for p in present_ready(args.notebooks)))
        return 0
    if args.command == "toc":
        if args.write:
            write_toc(args.write, args.notebooks)
        else:
            print(table_of_contents(args.notebooks))
        return 0
    if args.command == "clean":
        for path in args.notebooks:
            nbformat.write(clean(nbformat.read(path, as_version=4)), path)
        return 0
    lib_names = course_lib_names()
    failed = 0
    for path in args.notebooks:
        found = problems(path, nbformat.read(path, as_version=4), lib_names)
        failed += bool(found)
        status = "ok" if not found else "NOT CLEAN"
        print(f"{Path(path).name}: {status}")
        for f in found:
            print(f"  - {f}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
