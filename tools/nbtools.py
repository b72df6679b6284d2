"""Notebook plumbing for the Makefile: run, clean and check the course notebooks.

    python tools/nbtools.py run [--html DIR] NOTEBOOK...   execute in place (lecture profile by default)
    python tools/nbtools.py clean NOTEBOOK...              strip metadata noise, keep outputs
    python tools/nbtools.py check NOTEBOOK...              the hygiene gate `make test` runs

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
ALLOWED_CELL_METADATA = {"tags"}
ABS_PATH = re.compile(r"(?<![\w.])/(?:root|home|work|tmp|Users|private|var/folders|opt)/[\w.-]+")
CHECK_MARK = "# NBVAL_CHECK_OUTPUT"


def clean(nb):
    """Strip what changes from machine to machine but keep every output."""
    nb.metadata = nbformat.NotebookNode(
        {"kernelspec": dict(KERNELSPEC), "language_info": dict(LANGUAGE_INFO)}
    )
    for cell in nb.cells:
        cell.metadata = nbformat.NotebookNode(
            {k: v for k, v in cell.metadata.items() if k in ALLOWED_CELL_METADATA}
        )
        if cell.cell_type != "code":
            continue
        for out in cell.get("outputs", []):
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
    text = nbformat.writes(nb)
    for m in sorted(set(ABS_PATH.findall(text))):
        found.append(f"holds an absolute local path ({m}...)")
    extra = set(nb.metadata) - ALLOWED_NB_METADATA
    if extra or nb.metadata.get("kernelspec") != KERNELSPEC or "widgets" in nb.metadata:
        found.append(f"notebook metadata is not clean ({sorted(set(nb.metadata))}); run `make clean-notebooks`")
    noisy = [i for i, c in enumerate(nb.cells) if set(c.metadata) - ALLOWED_CELL_METADATA]
    if noisy:
        found.append(f"cells {noisy} carry metadata noise; run `make clean-notebooks`")
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


def run(paths, html_dir=None, timeout=1800):
    """Execute each notebook in place with the current COURSE_PROFILE; return {name: seconds}."""
    from jupyter_client.manager import KernelManager
    from nbclient import NotebookClient

    profile = os.environ.get("COURSE_PROFILE", "lecture")
    timings = {}
    for k, path in enumerate(paths, 1):
        path = Path(path)
        print(f"[{k}/{len(paths)}] {path.name} ({profile}) ...", end=" ", flush=True)
        nb = nbformat.read(path, as_version=4)
        start = time.perf_counter()
        with tempfile.TemporaryDirectory() as sockets:
            # IPC sockets in a private folder: no "kernel is running over TCP" warning,
            # nothing left behind in the working directory.
            km = KernelManager(kernel_name="python3", transport="ipc", ip=str(Path(sockets) / "kernel"))
            try:
                NotebookClient(nb, km=km, timeout=timeout,
                               resources={"metadata": {"path": str(path.parent)}}).execute()
            finally:  # nbclient leaves a kernel it was handed running: stop it now
                if km.has_kernel:
                    km.shutdown_kernel(now=True)
        seconds = time.perf_counter() - start
        timings[path.stem] = seconds
        nbformat.write(clean(nb), path)
        note = ""
        if html_dir:
            note = f" -> {export_html(nb, path, Path(html_dir))}"
        print(f"done in {seconds:.1f} s{note}", flush=True)
    return timings


def export_html(nb, path, html_dir):
    from nbconvert import HTMLExporter

    html_dir.mkdir(parents=True, exist_ok=True)
    body, _ = HTMLExporter().from_notebook_node(nb)
    target = html_dir / f"{path.stem}.html"
    target.write_text(body, encoding="utf-8")
    try:
        return target.relative_to(Path.cwd())
    except ValueError:
        return target


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("command", choices=["run", "clean", "check"])
    parser.add_argument("notebooks", nargs="+")
    parser.add_argument("--html", help="with run: render each executed notebook to HTML in this folder")
    args = parser.parse_args(argv)

    if args.command == "run":
        run(args.notebooks, args.html)
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
