"""Rendering the course for people: HTML pages and reveal.js decks that work offline, decks whose
slides each fit one screen, and the check of both in headless Chromium (`make slides-check`).

tools/nbtools.py calls this module (export_html, export_slides, check); students never need it.
"""

import base64
import copy
import html
import json
import os
import re
import select
import shutil
import struct
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from urllib.parse import unquote, urlparse

ROOT = Path(__file__).resolve().parent.parent
SLIDES_TEMPLATE = ROOT / "tools" / "course_slides"


# ----------------------------------------------------------------------------------------------
# Offline assets: reveal.js and MathJax 2 copied from installed packages beside the pages
# ----------------------------------------------------------------------------------------------

MATHJAX_CONFIG = "TeX-AMS-MML_HTMLorMML-full,Safe"
# The MathJax 2 of jupyter-server-mathjax ships one web font, STIX-Web (fonts/HTML-CSS/STIX-Web and
# jax/output/HTML-CSS/fonts/STIX-Web), and no TeX fonts: left to its default (TeX), MathJax asks for
# files that are not there and shows "[Math Processing Error]" or symbols in a fallback font.
MATHJAX_SETUP = """<script type="text/x-mathjax-config">
MathJax.Hub.Config({
    tex2jax: {inlineMath: [["$", "$"], ["\\\\(", "\\\\)"]], displayMath: [["$$", "$$"], ["\\\\[", "\\\\]"]],
              processEscapes: true, processEnvironments: true, ignoreClass: "tex2jax_ignore|notes"},
    TeX: {equationNumbers: {autoNumber: "AMS", useLabelIds: true}},
    "HTML-CSS": {availableFonts: [], preferredFont: null, webFont: "STIX-Web", imageFont: null},
    SVG: {font: "STIX-Web"},
    // The hidden MathML kept for screen readers (AssistiveMML) is styled with TeX web fonts that
    // are not shipped either: a plain serif there keeps the browser from asking for them.
    NativeMML: {styles: {
        '[class="MJX-tex-oldstyle"]': {"font-family": "serif"}, '[class="MJX-tex-oldstyle-bold"]': {"font-family": "serif"},
        '[class="MJX-tex-caligraphic"]': {"font-family": "serif"}, '[class="MJX-tex-caligraphic-bold"]': {"font-family": "serif"},
        '[mathvariant="double-struck"]': {"font-family": "serif"}, '[mathvariant="script"]': {"font-family": "serif"},
        '[mathvariant="fraktur"]': {"font-family": "serif"}, '[mathvariant="bold-script"]': {"font-family": "serif"},
        '[mathvariant="bold-fraktur"]': {"font-family": "serif"}}},
    displayAlign: "center",
    messageStyle: "none",
    processSectionDelay: 0,
    "fast-preview": {disabled: true}
});
</script>
<script src="{prefix}/mathjax/MathJax.js?config={config}"></script>"""


def mathjax_head(prefix="_static"):
    """The <script> tags that load the local MathJax 2 (``prefix``: the relative URL of _static)."""
    return MATHJAX_SETUP.replace("{prefix}", prefix).replace("{config}", MATHJAX_CONFIG)


def slide_assets():
    """Folders of the installed packages that ship reveal.js and MathJax 2."""
    import jupyter_server_mathjax
    import sphinx_revealjs

    return {"reveal.js": Path(sphinx_revealjs.__file__).parent / "_static" / "revealjs",
            "mathjax": Path(jupyter_server_mathjax.__file__).parent / "static"}


def copy_assets(out_dir, names=("reveal.js", "mathjax")):
    """Copy reveal.js and/or MathJax into ``out_dir/_static`` (once: kept when already there)."""
    static = Path(out_dir) / "_static"
    for name, source in slide_assets().items():
        target = static / name
        if name in names and not (target / ".complete").exists():
            if target.exists():
                shutil.rmtree(target)
            shutil.copytree(source, target, ignore=shutil.ignore_patterns("*.map", "*.esm.js", "__pycache__"))
            (target / ".complete").write_text("copied by tools/course_render.py\n")
    return static


# ----------------------------------------------------------------------------------------------
# Links: every relative link of a rendered page points at a file beside it
# ----------------------------------------------------------------------------------------------

MD_LINK = re.compile(r"(!?\[[^\]\n]*\]\()(<[^>\n]+>|[^)\s]+)((?:\s+\"[^\"\n]*\")?\))")
HTML_LINK = re.compile(r"((?:href|src)\s*=\s*[\"'])([^\"']+)([\"'])", re.I)
PAGE_CSS = """body { font-family: "Source Sans Pro", Helvetica, Arial, sans-serif; max-width: 60em; margin: 2em auto;
  padding: 0 1.5em; line-height: 1.5; color: #222; font-size: 17px; }
pre, code { font-family: "DejaVu Sans Mono", Menlo, Consolas, monospace; font-size: 0.9em; }
pre { background: #f7f7f7; border: 1px solid #e0e0e0; padding: 0.6em; overflow-x: auto; line-height: 1.35; }
table { border-collapse: collapse; } th, td { border-bottom: 1px solid #ddd; padding: 0.2em 0.6em; }
.lineno { color: #aaa; } nav { font-size: 0.9em; color: #666; margin-bottom: 1em; }"""


class Site:
    """One output folder (decks or HTML pages) and how a relative link of a notebook maps into it.

    A link to a notebook (``X.ipynb``) becomes a link to its page in the same folder (``X.html`` or
    ``X.slides.html``); a link to another file of the repository (``../course_lib/vae.py``,
    ``../solutions/05_cvae.md``) becomes a link to a rendered copy of it in the folder
    (``course_lib/vae.py.html``, ``solutions/05_cvae.html``), written on first use."""

    def __init__(self, out_dir, kind):
        self.out = Path(out_dir)
        self.kind = kind                   # "slides" or "html"
        self.done = set()

    def page_name(self, stem):
        return f"{stem}.slides.html" if self.kind == "slides" else f"{stem}.html"

    def rewrite(self, text, base, page_dir=None):
        """``text`` (markdown or HTML) with its relative links pointed into the folder. ``base``:
        the folder the links are relative to in the repository; ``page_dir``: where the page that
        holds them is written (default: the folder itself)."""
        page_dir = Path(page_dir or self.out)

        def mapped(m):
            target = m.group(2)
            bracketed = target.startswith("<") and target.endswith(">")
            new = self.target(target[1:-1] if bracketed else target, base, page_dir)
            return m.group(1) + (f"<{new}>" if bracketed else new) + m.group(3)

        return HTML_LINK.sub(mapped, MD_LINK.sub(mapped, text))

    def source_of(self, link, base):
        """The repository file a relative link names (from ``base`` or, for an executed copy of a
        notebook elsewhere, from notebooks/), or None."""
        for folder in (Path(base), ROOT / "notebooks"):
            candidate = (folder / unquote(link)).resolve()
            if candidate.exists():
                return candidate
        return None

    def target(self, link, base, page_dir):
        if re.match(r"^[a-z][a-z0-9+.-]*:", link, re.I) or link.startswith(("#", "/", "data:")):
            return link                                      # absolute URL, anchor, or absolute path
        path, hash_, fragment = link.partition("#")
        if not path:
            return link
        source = self.source_of(path, base)
        if source is None:
            return link                                      # nothing there: the check reports it
        if source.suffix == ".ipynb":
            rendered = self.out / self.page_name(source.stem)
        else:
            try:
                relative = source.relative_to(ROOT)
            except ValueError:
                return link
            if source.is_dir():
                return link
            rendered = self.out / self.rendered_name(relative)
            self.render_file(source, rendered)
        return os.path.relpath(rendered, page_dir).replace(os.sep, "/") + (hash_ + fragment if hash_ else "")

    @staticmethod
    def rendered_name(relative):
        if relative.suffix == ".py":
            return relative.with_name(relative.name + ".html")
        if relative.suffix == ".md":
            return relative.with_suffix(".html")
        return relative

    def render_file(self, source, target):
        """Write the rendered copy of ``source`` (a .py as highlighted HTML, a .md as HTML with its
        formulas, anything else copied), once per run."""
        if target in self.done:
            return
        self.done.add(target)
        target.parent.mkdir(parents=True, exist_ok=True)
        relative = source.relative_to(ROOT).as_posix()
        static = os.path.relpath(self.out / "_static", target.parent).replace(os.sep, "/")
        if source.suffix == ".py":
            from pygments import highlight
            from pygments.formatters import HtmlFormatter
            from pygments.lexers import PythonLexer

            formatter = HtmlFormatter(linenos="inline", lineanchors="L", anchorlinenos=True, cssclass="source")
            body = highlight(source.read_text(encoding="utf-8"), PythonLexer(), formatter)
            page = _page(relative, f"<nav>{html.escape(relative)}, from the course repository</nav>\n{body}",
                         css=PAGE_CSS + "\n" + formatter.get_style_defs(".source"))
        elif source.suffix == ".md":
            from nbconvert.filters.markdown_mistune import markdown2html_mistune

            copy_assets(self.out, names=("mathjax",))
            text = self.rewrite(source.read_text(encoding="utf-8"), source.parent, target.parent)
            page = _page(relative, f"<nav>{html.escape(relative)}, from the course repository</nav>\n"
                         + markdown2html_mistune(text), css=PAGE_CSS, head=mathjax_head(static))
        else:
            shutil.copyfile(source, target)
            return
        target.write_text(page, encoding="utf-8")


def _page(title, body, css="", head=""):
    return (f"<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\n<title>{html.escape(title)}</title>\n"
            f"<style>\n{css}\n</style>\n{head}\n</head>\n<body>\n{body}\n</body></html>\n")


def rewrite_notebook_links(nb, site, base):
    """A copy of ``nb`` whose markdown (cells and outputs) and HTML outputs link into ``site``."""
    nb = copy.deepcopy(nb)
    for cell in nb.cells:
        if cell.cell_type == "markdown":
            cell.source = site.rewrite(cell.source, base)
        for out in cell.get("outputs", []):
            data = out.get("data", {})
            for mime in ("text/markdown", "text/html"):
                if mime in data:
                    text = data[mime] if isinstance(data[mime], str) else "".join(data[mime])
                    data[mime] = site.rewrite(text, base)
    return nb


# ----------------------------------------------------------------------------------------------
# Slide layout: which cells go on which slide, what moves to the speaker notes, what is trimmed
# ----------------------------------------------------------------------------------------------
# Sizes in CSS pixels of the 1280x720 slide, as the template's style sets them; the renderer
# estimates each piece's height from them (there is no browser at render time) and packs pieces
# into sub-slides. The template scales a slide down a little if an estimate was short.

SLIDE_W, SLIDE_H = 1280, 720
BUDGET = 652                   # the height a sub-slide's content may take (720 less padding and slack)
TEXT_W = SLIDE_W - 80          # the width of the content (padding 40px each side)
LINE = {"text": 24 * 1.35, "code": 17 * 1.3, "out": 16 * 1.3}
CHARS = {"text": 100, "code": 114, "out": 120}    # characters a line holds before it wraps
HEADING = {1: (44 * 1.15, 14, 50), 2: (34 * 1.2, 12, 66), 3: (28 * 1.2, 10, 80), 4: (24 * 1.3, 8, 96)}
PARA_GAP, CELL_GAP, CODE_PAD = 12, 10, 14
TABLE_ROW, TABLE_HEAD = 19 * 1.25 + 7, 19 * 1.25 + 9
TABLE_LINE, TABLE_PAD, TABLE_CHARS = 19 * 1.25, 8, 118      # a markdown table's cells wrap
CONT_H = 17 * 1.35 + 8         # the small section label on a continued sub-slide
PROSE_BUDGET = 330             # the prose one markdown cell may show; the rest goes to the speaker notes
MAX_CODE_LINES = 14            # code lines a slide shows (then "# ... full code in the notebook")
MAX_OUT_LINES = 12             # lines of a text output a slide shows
MAX_TABLE_ROWS = 15            # rows of a table one slide shows (a longer one goes on over more)
MIN_IMAGE_H = 280              # a figure is not shrunk below this (or below half its size)

HEADING_LINE = re.compile(r"^(#{1,6})\s+(.*)$")
FENCE = re.compile(r"^\s*(```|~~~)")
LIST_ITEM = re.compile(r"^(\s*)([-*+]|\d+[.)])\s+")
ABBREVIATIONS = ("e.g.", "i.e.", "et al.", "vs.", "cf.", "Fig.", "Eq.", "etc.", "resp.", "approx.")


def markdown_blocks(text):
    """The top-level blocks of a markdown text, in order: headings, paragraphs, lists, quotes,
    fenced code and display math (blank lines separate them; never inside a fence or $$...$$)."""
    blocks, current, fence, in_math = [], [], None, False

    def flush():
        if current and any(l.strip() for l in current):
            blocks.append("\n".join(current).strip("\n"))
        current.clear()

    for line in text.split("\n"):
        stripped = line.strip()
        if fence:
            current.append(line)
            if stripped.startswith(fence):
                fence = None
                flush()
            continue
        m = FENCE.match(line)
        if m and not in_math:
            flush()
            fence = m.group(1)
            current.append(line)
            continue
        if not in_math and HEADING_LINE.match(line):
            flush()
            blocks.append(line.strip())
            continue
        if line.count("$$") % 2 == 1:
            in_math = not in_math
        if not stripped and not in_math:
            flush()
            continue
        current.append(line)
    flush()
    return blocks


def split_at_headings(source):
    """A markdown cell's source cut before each heading of level 1 to 3 that is not its first line
    (so that every section opens a slide); a list of sources."""
    parts, current, fence = [], [], False
    for line in source.split("\n"):
        if FENCE.match(line):
            fence = not fence
        m = HEADING_LINE.match(line)
        if m and len(m.group(1)) <= 3 and not fence and any(l.strip() for l in current):
            parts.append("\n".join(current).strip("\n"))
            current = []
        current.append(line)
    parts.append("\n".join(current).strip("\n"))
    return [p for p in parts if p.strip()]


def rendered_length(text):
    """About how many characters wide ``text`` (markdown) renders: link targets, emphasis marks and
    HTML tags take no room, a TeX command is one symbol."""
    text = re.sub(r"!?\[([^\]]*)\]\([^)]*\)", r"\1", text)
    text = re.sub(r"<[^>]+>", "", text)

    def math(m):
        tex = m.group(1)
        tex = re.sub(r"\\(?:mathbf|mathrm|mathcal|mathbb|operatorname|text|mathit|boldsymbol)\s*", "", tex)
        tex = re.sub(r"\\[a-zA-Z]+", "x", tex)
        tex = re.sub(r"[{}\\^_]|\\[,;:! ]", "", tex)
        return tex

    text = re.sub(r"\$\$?([^$]*)\$\$?", math, text)
    text = re.sub(r"[*_`]", "", text)
    return len(text)


def tall_math(text):
    """How many lines of ``text`` hold inline math that is taller than a line (fractions, sums)."""
    return len(re.findall(r"\$[^$]*(?:\\frac|\\sum_|\\prod_|\\int_|\\dfrac|\\binom|\\begin)[^$]*\$", text))


def text_height(text, chars=None):
    """The height of a paragraph of ``text`` (markdown, one block) in slide pixels."""
    chars = chars or CHARS["text"]
    lines = 0
    for line in re.split(r"\n(?=\s*(?:[-*+]|\d+[.)])\s)", text):     # list items start new lines
        lines += max(1, -(-rendered_length(" ".join(line.split())) // chars))
    return lines * LINE["text"] + tall_math(text) * 10


def block_height(block):
    """Estimated height of one markdown block (see ``markdown_blocks``) on a slide."""
    m = HEADING_LINE.match(block)
    if m and "\n" not in block:
        size, gap, chars = HEADING[min(len(m.group(1)), 4)]
        return max(1, -(-rendered_length(m.group(2)) // chars)) * size + gap
    if FENCE.match(block):
        return code_lines("\n".join(block.split("\n")[1:-1]) or " ") * LINE["code"] + CODE_PAD + PARA_GAP
    stripped = block.strip()
    if stripped.startswith("$$") and stripped.endswith("$$"):
        tex = stripped[2:-2]
        rows = 1 + tex.count("\\\\")
        big = bool(re.search(r"\\frac|\\sum|\\prod|\\int|\\begin|\\Big|\\bigg|\\dfrac|\\underbrace", tex))
        return rows * (LINE["text"] * (1.9 if big else 1.3)) + PARA_GAP
    if is_md_table(stripped):
        lines = stripped.split("\n")
        rows = [_md_row(lines[0])] + [_md_row(l) for l in lines[2:]]
        return sum(md_table_row_heights(rows, len(rows[0]))) + PARA_GAP
    chars = CHARS["text"] - (3 if LIST_ITEM.match(block) or stripped.startswith(">") else 0)
    height = text_height(re.sub(r"^\s*>\s?", "", block, flags=re.M), chars) + PARA_GAP
    # display math inside a paragraph: a line of its own, taller
    for tex in re.findall(r"\$\$(.*?)\$\$", block, re.S):
        big = bool(re.search(r"\\frac|\\sum|\\prod|\\int|\\begin|\\Big|\\dfrac", tex))
        height += LINE["text"] * (1.2 if big else 0.6)
    if LIST_ITEM.match(block):
        height += 4 * len([l for l in block.split("\n") if LIST_ITEM.match(l)])
    return height


def wrapped(line, chars):
    return max(1, -(-len(line.rstrip()) // chars))


def sentences(paragraph):
    """``paragraph`` cut into sentences, never inside $...$, `...` or after an abbreviation."""
    protected = [(m.start(), m.end()) for m in re.finditer(r"\$\$.*?\$\$|\$[^$]*\$|`[^`]*`|\([^()]*\)", paragraph, re.S)]
    cuts, start = [], 0
    for m in re.finditer(r"(?<=[.!?:;])\s+(?=[A-Z(\[\"*_$`])", paragraph):
        if any(a < m.start() < b for a, b in protected):
            continue
        before = paragraph[max(0, m.start() - 8):m.start()]
        if any(before.endswith(abbr) for abbr in ABBREVIATIONS):
            continue
        cuts.append(paragraph[start:m.start()])
        start = m.end()
    cuts.append(paragraph[start:])
    return [c for c in cuts if c.strip()]


def list_items(block):
    """A list block cut into its top-level items."""
    items, current = [], []
    indent = len(LIST_ITEM.match(block).group(1)) if LIST_ITEM.match(block) else 0
    for line in block.split("\n"):
        m = LIST_ITEM.match(line)
        if m and len(m.group(1)) <= indent and current:
            items.append("\n".join(current))
            current = []
        current.append(line)
    items.append("\n".join(current))
    return items


def take_prose(blocks, budget):
    """Split prose ``blocks`` into what a slide shows (as much as fits ``budget``, at least a
    sentence or a list item) and what goes to the speaker notes. Returns (shown, notes, height)."""
    shown, height = [], 0.0
    for k, block in enumerate(blocks):
        h = block_height(block)
        if height + h <= budget:
            shown.append(block)
            height += h
            continue
        rest = blocks[k + 1:]
        if LIST_ITEM.match(block):
            parts, joiner = list_items(block), "\n"
        elif block.lstrip().startswith(("$$", "|", "```", "~~~")) or HEADING_LINE.match(block):
            parts, joiner = [block], ""
        else:
            parts, joiner = sentences(block), " "
        head = []
        for part in parts:
            candidate = joiner.join(head + [part])
            if height + block_height(candidate) > budget and (head or shown):
                break
            head.append(part)
        if head:
            text = joiner.join(head)
            shown.append(text)
            height += block_height(text)
        tail = joiner.join(parts[len(head):])
        return shown, ([tail] if tail.strip() else []) + rest, height
    return shown, [], height


class Piece:
    """One thing a sub-slide shows: the cells that render it, its estimated height (``min_h``
    when it can shrink: a figure), and notes for the speaker (cells of slide type notes)."""

    def __init__(self, cells, height, min_h=None, notes=(), image=None, keep_with_next=False, heading=None):
        self.cells, self.height = list(cells), height
        self.min_h = height if min_h is None else min_h
        self.notes = list(notes)
        self.image = image                  # (output, natural width, natural height) for a figure
        self.keep_with_next = keep_with_next
        self.heading = heading              # (level, text) when the piece is a heading


def _md_cell(source, **metadata):
    import nbformat

    cell = nbformat.v4.new_markdown_cell(source)
    cell.metadata.update(metadata)
    return cell


def _notes(blocks):
    return [_md_cell("\n\n".join(blocks))] if blocks else []


def prose_pieces(source, budget=PROSE_BUDGET, where="the notebook"):
    """Pieces for a markdown text: its headings; each run of prose cut to what ``budget`` allows,
    the rest of the run becoming speaker notes; its tables (split over several pieces when long)
    and its fenced code (trimmed) as pieces of their own."""
    blocks = markdown_blocks(source)
    pieces = []
    while blocks and HEADING_LINE.match(blocks[0]):
        m = HEADING_LINE.match(blocks[0])
        pieces.append(Piece([_md_cell(blocks[0])], block_height(blocks[0]),
                            heading=(len(m.group(1)), m.group(2).strip())))
        blocks = blocks[1:]
    run = []

    def flush(keep_with_next=False):
        if not run:
            return
        shown, notes, height = take_prose(run, budget)
        if shown:
            pieces.append(Piece([_md_cell("\n\n".join(shown))], height, notes=_notes(notes),
                                keep_with_next=keep_with_next and not notes))
        elif notes:
            pieces.append(Piece([], 0, notes=_notes(notes)))
        run.clear()

    for block in blocks:
        if is_md_table(block):
            flush(keep_with_next=True)
            pieces.extend(md_table_pieces(block))
        elif FENCE.match(block):
            flush(keep_with_next=True)
            lines = block.split("\n")
            closed = len(lines) > 1 and FENCE.match(lines[-1])
            body, _ = trim_code("\n".join(lines[1:-1] if closed else lines[1:]), where=where)
            fenced = "\n".join([lines[0], body, lines[-1] if closed else lines[0].strip()[:3]])
            pieces.append(Piece([_md_cell(fenced)], block_height(fenced)))
        else:
            run.append(block)
    flush()
    return pieces


MD_TABLE_RULE = re.compile(r"^\s*\|?\s*:?-{3,}:?\s*(\|\s*:?-{3,}:?\s*)*\|?\s*$")


def is_md_table(block):
    lines = block.strip().split("\n")
    return len(lines) >= 2 and "|" in lines[0] and bool(MD_TABLE_RULE.match(lines[1]))


def _md_row(line):
    cells = re.split(r"(?<!\\)\|", line.strip().strip("|"))
    return [c.strip() for c in cells]


def md_table_row_heights(rows, n_cols):
    """The height of each row of a markdown table: its cells wrap in columns as wide as their
    longest content allows (the browser's automatic table layout, roughly)."""
    lengths = [[rendered_length(c) for c in r] + [0] * (n_cols - len(r)) for r in rows]
    widest = [max(l[j] for l in lengths) + 2 for j in range(n_cols)]
    room = TABLE_CHARS - n_cols * 1.5
    if sum(widest) > room:                     # shrink the wide columns, keep the narrow ones whole
        widths = widest[:]
        for _ in range(n_cols):
            narrow = [j for j in range(n_cols) if widest[j] <= room / n_cols]
            wide = [j for j in range(n_cols) if j not in narrow]
            left = room - sum(widest[j] for j in narrow)
            for j in wide:
                widths[j] = max(8, left * widest[j] / max(1, sum(widest[k] for k in wide)))
        widest = widths
    return [max(-(-l[j] // max(1, int(widest[j]))) for j in range(n_cols)) * TABLE_LINE + TABLE_PAD
            for l in lengths]


def md_table_pieces(block, budget=None, max_parts=4):
    """A markdown table as one piece, or several (its header repeated) when it is taller than a
    sub-slide; past ``max_parts`` pieces, a last row says how many rows the notebook has more."""
    budget = budget or (BUDGET - CONT_H - 10)
    lines = block.strip().split("\n")
    header, rule, rows = lines[0], lines[1], lines[2:]
    n_cols = len(_md_row(header))
    heights = md_table_row_heights([_md_row(header)] + [_md_row(r) for r in rows], n_cols)
    head_h, heights = heights[0], heights[1:]
    parts, current, used = [], [], head_h + PARA_GAP
    for row, h in zip(rows, heights):
        if current and used + h > budget:
            parts.append((current, used))
            current, used = [], head_h + PARA_GAP
        current.append(row)
        used += h
    parts.append((current, used))
    if len(parts) > max_parts:
        left = sum(len(p[0]) for p in parts[max_parts:])
        last_rows, last_h = parts[max_parts - 1]
        note = "| " + " | ".join([f"… {left} more rows in the notebook"] + [""] * (n_cols - 1)) + " |"
        parts = parts[:max_parts - 1] + [(last_rows[:-1] + [note], last_h)]
    return [Piece([_md_cell("\n".join([header, rule] + part))], h) for part, h in parts]


def trim_code(source, max_lines=MAX_CODE_LINES, where="the notebook"):
    """The first ``max_lines`` lines of a code cell (the test-only marker left out), and a last
    line saying how much more the notebook has."""
    lines = [l for l in source.rstrip().split("\n") if l.strip() != "# NBVAL_CHECK_OUTPUT"]
    while lines and not lines[0].strip():
        lines.pop(0)
    if len(lines) <= max_lines:
        return "\n".join(lines), len(lines)
    keep = max_lines - 1
    # end on a whole statement when one ends shortly before the cut
    for k in range(keep, max(keep - 4, 1), -1):
        if not lines[k].startswith((" ", "\t", ")", "]", "}")) and lines[k].strip():
            keep = k
            break
    shown = lines[:keep]
    while shown and not shown[-1].strip():
        shown.pop()
    more = len(lines) - len(shown)
    return "\n".join(shown + [f"# … {more} more lines: full code in {where}"]), len(shown) + 1


CODE_SHRINK = 0.85             # code up to 1/0.85 times as wide as the slide gets smaller type, not wrapped lines


def code_lines(source):
    """How many lines of slide height a code listing takes: its lines, in smaller type when the
    widest is a little too wide, else with the too-long ones wrapped."""
    lines = source.split("\n")
    widest = max(len(l.rstrip()) for l in lines)
    if widest <= CHARS["code"] / CODE_SHRINK:
        return len(lines) * min(1.0, CHARS["code"] / max(1, widest))
    return sum(wrapped(l, CHARS["code"]) for l in lines)


def code_height(source):
    return code_lines(source) * LINE["code"] + CODE_PAD + CELL_GAP


TABLE_RULE = re.compile(r"^ *-{2,}(?: +-{2,})+ *$")


def text_segments(text):
    """A text output cut into ("text", str) and ("table", header, rows, spans) segments: a table is
    what ``tabulate``'s simple format prints (a header line, a rule of dashes, rows)."""
    lines = text.rstrip("\n").split("\n")
    segments, k, plain = [], 0, []
    while k < len(lines):
        if k + 1 < len(lines) and TABLE_RULE.match(lines[k + 1]) and lines[k].strip():
            spans = [(m.start(), m.end()) for m in re.finditer(r"-+", lines[k + 1])]
            rows, j = [], k + 2
            while j < len(lines) and _is_row(lines[j], spans):
                rows.append(lines[j])
                j += 1
            if not _is_row(lines[k], spans):
                plain.append(lines[k])
                k += 1
                continue
            if plain:
                segments.append(("text", "\n".join(plain)))
                plain = []
            segments.append(("table", lines[k], rows, spans))
            k = j
            continue
        plain.append(lines[k])
        k += 1
    if plain and any(l.strip() for l in plain):
        segments.append(("text", "\n".join(plain).strip("\n")))
    return segments


def _is_row(line, spans):
    """True if ``line`` is a row of the simple table whose rule has dashes at ``spans``: blank
    between the columns and not much longer than the rule."""
    if not line.strip() or TABLE_RULE.match(line) or len(line.rstrip()) > spans[-1][1] + 2:
        return False
    return all(not line[e:s].strip() for (_, e), (s, _) in zip(spans, spans[1:]))


def wrap_text(text, chars=CHARS["out"]):
    """Long lines of plain text (a sentence printed by a cell, not aligned columns) wrapped at
    ``chars``, continued under a two-space indent; aligned lines are kept whole (they shrink)."""
    import textwrap

    out = []
    for line in text.split("\n"):
        body = line.strip()
        if len(line) <= chars or re.search(r"\S {2,}\S", body):
            out.append(line)
            continue
        indent = line[:len(line) - len(line.lstrip())]
        out.extend(textwrap.wrap(body, chars, initial_indent=indent, subsequent_indent=indent + "  ",
                                 break_long_words=True, break_on_hyphens=False) or [line])
    return "\n".join(out)


def _cells_of(line, spans):
    """The cells of one row of a simple table: the text under each column's dashes (a value that
    spills past its column's dashes into the gap is kept whole)."""
    cells = []
    bounds = [s for s, _ in spans[1:]] + [None]
    start = 0
    for (s, e), nxt in zip(spans, bounds):
        end = nxt if nxt is not None else len(line)
        cells.append(line[start:end].strip())
        start = end
    return cells


NUMBER = re.compile(r"^[-+−]?(\d[\d,]*\.?\d*(e[-+]?\d+)?|\.\d+|nan|inf|-)%?$", re.I)


def table_html(header, rows, spans, max_rows=MAX_TABLE_ROWS, max_parts=3):
    """A simple text table as HTML tables (numbers right-aligned): one, or several of at most
    ``max_rows`` rows each (header repeated) for a long one, and past ``max_parts`` of them a last
    row saying how many rows the notebook has more. Returns [(markup, height)]."""
    head = _cells_of(header, spans)
    body = [_cells_of(r, spans) for r in rows]
    numeric = [all(NUMBER.match(r[i]) or not r[i] for r in body) and any(r[i] for r in body)
               for i in range(len(head))]
    cls = lambda i: ' class="num"' if numeric[i] else ""
    chunks = [body[k:k + max_rows] for k in range(0, len(body), max_rows)] or [[]]
    left = sum(len(c) for c in chunks[max_parts:])
    chunks = chunks[:max_parts]
    parts = []
    for n, chunk in enumerate(chunks):
        out = ['<table class="course-table"><thead><tr>']
        out += [f"<th{cls(i)}>{html.escape(h)}</th>" for i, h in enumerate(head)]
        out.append("</tr></thead><tbody>")
        for r in chunk:
            out.append("<tr>" + "".join(f"<td{cls(i)}>{html.escape(c)}</td>" for i, c in enumerate(r)) + "</tr>")
        more = left if n == len(chunks) - 1 else 0
        if more:
            out.append(f'<tr><td colspan="{len(head)}">… {more} more rows in the notebook</td></tr>')
        out.append("</tbody></table>")
        parts.append(("".join(out), TABLE_HEAD + (len(chunk) + bool(more)) * TABLE_ROW + CELL_GAP))
    return parts


def trim_text(text, max_lines=MAX_OUT_LINES):
    """A long text output cut to its first lines and its last two, with a line between saying how
    many were left out."""
    lines = text.split("\n")
    if len(lines) <= max_lines:
        return text, len(lines)
    head, tail = lines[:max_lines - 3], lines[-2:]
    return "\n".join(head + [f"… {len(lines) - len(head) - len(tail)} more lines in the notebook …"] + tail), max_lines


def text_block_height(text):
    lines = text.split("\n")
    widest = max(len(l) for l in lines)
    scale = min(1.0, CHARS["out"] / widest) if widest else 1.0        # wide lines: the type shrinks to fit
    return len(lines) * LINE["out"] * scale + 8 + CELL_GAP


def png_size(data):
    """(width, height) of a base64 PNG, read from its header."""
    raw = base64.b64decode(data[:64] if isinstance(data, str) else "".join(data)[:64])
    if raw[:8] != b"\x89PNG\r\n\x1a\n":
        return None
    return struct.unpack(">II", raw[16:24])


def _output_cell(outputs):
    import nbformat

    cell = nbformat.v4.new_code_cell("")
    cell.outputs = outputs
    cell.metadata["tags"] = ["course-output"]
    return cell


def _stream(text, name="stdout"):
    import nbformat

    return nbformat.v4.new_output("stream", name=name, text=text)


def _html_output(markup):
    import nbformat

    return nbformat.v4.new_output("display_data", data={"text/html": markup, "text/plain": ""})


def output_pieces(outputs):
    """Pieces for a code cell's outputs: text cut into plain text and HTML tables, markdown as
    prose (long prose to the notes, long code listings trimmed), figures that may shrink."""
    pieces = []
    for out in outputs:
        kind = out.get("output_type")
        if kind == "stream" or (kind in ("execute_result", "display_data") and set(out.get("data", {})) <= {"text/plain"}):
            text = out.get("text") if kind == "stream" else out["data"].get("text/plain", "")
            text = text if isinstance(text, str) else "".join(text)
            if not text.strip():
                continue
            segments = text_segments(text)
            for k, segment in enumerate(segments):
                if segment[0] == "table":
                    for markup, height in table_html(*segment[1:]):
                        pieces.append(Piece([_output_cell([_html_output(markup)])], height))
                else:
                    shown, n_lines = trim_text(wrap_text(segment[1]))
                    lead_in = n_lines <= 3 and k + 1 < len(segments) and segments[k + 1][0] == "table"
                    pieces.append(Piece([_output_cell([_stream(shown + "\n", out.get("name", "stdout"))])],
                                        text_block_height(shown), keep_with_next=lead_in))
            continue
        if kind == "error":
            continue
        data = out.get("data", {})
        if "image/png" in data:
            size = png_size(data["image/png"])
            meta = out.get("metadata", {}).get("image/png", {})
            if size:
                w, h = size
                if meta.get("width"):                      # a figure shown at a set width keeps its shape
                    w, h = meta["width"], h * meta["width"] / size[0]
                if w > TEXT_W:
                    w, h = TEXT_W, h * TEXT_W / w
                image_min = min(h, max(MIN_IMAGE_H, 0.5 * h), BUDGET - CONT_H - 2 * CELL_GAP)
                pieces.append(Piece([_output_cell([copy.deepcopy(out)])], h + CELL_GAP, min_h=image_min + CELL_GAP,
                                    image=(out, w, h)))
                continue
        if "text/markdown" in data:
            text = data["text/markdown"] if isinstance(data["text/markdown"], str) else "".join(data["text/markdown"])
            pieces.extend(markdown_output_pieces(text))
            continue
        if "text/html" in data:
            markup = data["text/html"] if isinstance(data["text/html"], str) else "".join(data["text/html"])
            rows = markup.count("<tr")
            pieces.append(Piece([_output_cell([copy.deepcopy(out)])], max(rows * TABLE_ROW, 2 * LINE["text"]) + CELL_GAP))
            continue
        pieces.append(Piece([_output_cell([copy.deepcopy(out)])], 2 * LINE["out"] + CELL_GAP))
    return pieces


def markdown_output_pieces(text):
    """A markdown output (``display(Markdown(...))``): prose, tables and code listings as in a
    markdown cell; a listing of course_lib (``show_source``) is trimmed with a pointer to its file."""
    source = re.search(r"(course_lib/[\w/]+\.py)", text)
    return prose_pieces(text, budget=PROSE_BUDGET * 0.7, where=source.group(1) if source else "the notebook")


def code_pieces(cell):
    """Pieces for a code cell: its (trimmed) code, kept with its first output, then its outputs."""
    source, _ = trim_code(cell.source)
    pieces = []
    outputs = output_pieces(cell.get("outputs", []))
    if source.strip():
        import nbformat

        shown = nbformat.v4.new_code_cell(source)
        shown.execution_count = cell.get("execution_count")
        pieces.append(Piece([shown], code_height(source), keep_with_next=bool(outputs)))
    return pieces + outputs


def chosen_slide_type(cell, previous):
    """The slide type an instructor chose for ``cell`` (one that differs from what ``clean`` gives
    every cell by default), else None."""
    import nbtools

    stored = cell.metadata.get("slideshow", {}).get("slide_type")
    if stored is None or stored == nbtools.default_slide_type(cell, previous):
        return None
    return stored


class Group:
    """Cells that open on a new slide or sub-slide of their own: a section (``##`` heading), a
    ``###`` heading, the text after a code cell. Its pieces are packed into sub-slides."""

    def __init__(self, level, section, title):
        self.level, self.section, self.title = level, section, title
        self.pieces = []


def group_cells(nb):
    """The notebook's cells as groups of pieces (see ``Group``)."""
    groups, previous, section, title = [], None, None, None
    for cell in nb.cells:
        chosen = chosen_slide_type(cell, previous)
        if chosen == "skip":
            previous = cell
            continue
        sources = split_at_headings(cell.source) if cell.cell_type == "markdown" else [None]
        for k, source in enumerate(sources):
            if cell.cell_type == "markdown":
                m = HEADING_LINE.match(source.lstrip().split("\n", 1)[0])
                level = len(m.group(1)) if m else None
                if chosen == "notes":
                    target = groups[-1] if groups else None
                    if target is None:
                        groups.append(Group("slide", section, title))
                        target = groups[-1]
                    target.pieces.append(Piece([], 0, notes=[_md_cell(source)]))
                    continue
                if level is not None and level <= 2:
                    section = m.group(2).strip()
                    title = section
                    groups.append(Group("slide", section, title))
                elif level == 3:
                    title = f"{section} · {m.group(2).strip()}" if section else m.group(2).strip()
                    groups.append(Group("subslide", section, title))
                elif (not groups or chosen in ("slide", "subslide")
                      or (k == 0 and previous is not None and previous.cell_type == "code")):
                    groups.append(Group(chosen if chosen in ("slide", "subslide") else ("slide" if not groups else "subslide"),
                                        section, title))
                groups[-1].pieces.extend(prose_pieces(source))
            else:
                if not groups or chosen in ("slide", "subslide"):
                    groups.append(Group(chosen if chosen in ("slide", "subslide") else "slide", section, title))
                pieces = code_pieces(cell)
                if chosen == "notes":
                    for piece in pieces:
                        piece.notes, piece.cells, piece.height, piece.min_h = piece.cells + piece.notes, [], 0, 0
                groups[-1].pieces.extend(pieces)
        previous = cell
    return groups


def pack(group):
    """The group's pieces as sub-slides (lists of pieces), each filled up to ``BUDGET``."""
    subslides, used = [[]], 0.0
    starts_with_heading = bool(group.pieces and group.pieces[0].heading)
    used = 0.0 if starts_with_heading else CONT_H
    visible = lambda sub: any(p.cells for p in sub)
    for k, piece in enumerate(group.pieces):
        if not piece.cells:                         # notes only: they go with what is on the slide now
            subslides[-1].append(piece)
            continue
        need = piece.min_h
        if piece.keep_with_next:
            following = next((p for p in group.pieces[k + 1:] if p.cells), None)
            if following is not None:
                need += following.min_h
        last_is_heading = subslides[-1] and subslides[-1][-1].heading and all(p.heading or not p.cells for p in subslides[-1])
        if visible(subslides[-1]) and used + need > BUDGET and not (last_is_heading and used + piece.min_h <= BUDGET):
            subslides.append([])
            used = CONT_H
        subslides[-1].append(piece)
        used += piece.min_h
    return [s for s in subslides if s]


def size_images(subslide, has_label):
    """Give the figures of a sub-slide the room left, up to their natural size."""
    images = [p for p in subslide if p.image]
    if not images:
        return
    fixed = sum(p.height for p in subslide if not p.image) + (CONT_H if has_label else 0)
    room = BUDGET - fixed
    want = sum(p.height for p in images)
    least = sum(p.min_h for p in images)
    for p in images:
        out, w, h = p.image
        if want <= room:
            shown = min(h, BUDGET - CONT_H - 2 * CELL_GAP)
        else:
            share = (p.min_h - CELL_GAP) + max(0.0, room - least) * (p.height - p.min_h) / max(1e-9, want - least)
            shown = max(p.min_h - CELL_GAP, min(h, share, BUDGET - CONT_H - 2 * CELL_GAP))
        cell_out = p.cells[0].outputs[0]
        meta = cell_out.setdefault("metadata", {}).setdefault("image/png", {})
        meta["height"] = int(shown)
        meta["width"] = int(w * shown / h)
        p.height = shown + CELL_GAP


def layout_cells(nb):
    """The notebook re-cut for slides: cells with their slide types, notes and trimmed content
    (see ``group_cells``, ``pack``). The notebook itself is not changed."""
    out = []
    first = True
    for group in group_cells(nb):
        opened = False
        for subslide in pack(group):
            visible = [p for p in subslide if p.cells]
            notes = [n for piece in subslide for n in piece.notes]
            if not visible:                          # notes alone: they go with the slide before
                for n in notes:
                    n.metadata["slideshow"] = {"slide_type": "notes"}
                out.extend(notes if out else [])
                continue
            has_label = not visible[0].heading and bool(group.title)
            size_images(subslide, has_label)
            cells = []
            if has_label:
                cells.append(_md_cell(f'<div class="course-cont">{html.escape(group.title)}</div>'))
            for piece in subslide:
                cells.extend(piece.cells)
            kind = "slide" if (first or (group.level == "slide" and not opened)) else "subslide"
            first, opened = False, True
            estimate = sum(p.height for p in subslide) + (CONT_H if has_label else 0)
            for i, cell in enumerate(cells):
                cell.metadata["slideshow"] = {"slide_type": kind if i == 0 else "-"}
            cells[0].metadata["slideshow"]["data"] = {"estimate": str(int(estimate))}
            for n in notes:
                n.metadata["slideshow"] = {"slide_type": "notes"}
            out.extend(cells + notes)
    for k, cell in enumerate(out):             # the same deck for the same notebook, render after render
        cell["id"] = f"s{k}"
    return out


def layout_deck(nb):
    """A copy of ``nb`` laid out as slides (``layout_cells``)."""
    laid = copy.deepcopy(nb)
    laid.cells = layout_cells(nb)
    return laid


# ----------------------------------------------------------------------------------------------
# Export: decks and HTML pages
# ----------------------------------------------------------------------------------------------

def _title(nb, default):
    return next((c.source.lstrip().split("\n", 1)[0][2:].strip() for c in nb.cells
                 if c.cell_type == "markdown" and c.source.lstrip().startswith("# ")), default)


def export_slides(paths, out_dir):
    """Render each notebook as a reveal.js deck in ``out_dir`` (1280x720, every slide laid out to
    fit; see ``layout_cells``), with reveal.js and MathJax copied beside the decks (``_static/``)
    and the files the notebooks link to rendered there, so that the decks open without a network.
    Writes ``index.html`` linking every deck; returns the deck paths."""
    import nbformat
    from nbconvert import SlidesExporter

    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    copy_assets(out_dir)
    site = Site(out_dir, "slides")
    exporter = SlidesExporter(extra_template_basedirs=[str(SLIDES_TEMPLATE.parent)],
                              template_name=SLIDES_TEMPLATE.name,
                              reveal_url_prefix="_static/reveal.js", reveal_theme="white",
                              reveal_transition="none", reveal_number="c/t",
                              reveal_width=str(SLIDE_W), reveal_height=str(SLIDE_H))
    decks, links = [], []
    for path in paths:
        path = Path(path)
        nb = nbformat.read(path, as_version=4)
        laid = layout_deck(rewrite_notebook_links(nb, site, path.parent))
        body, _ = exporter.from_notebook_node(laid, resources={"metadata": {"name": path.stem},
                                                               "course_mathjax": mathjax_head("_static")})
        target = out_dir / f"{path.stem}.slides.html"
        target.write_text(body, encoding="utf-8")
        decks.append(target)
        links.append(f'<li><a href="{target.name}">{html.escape(path.stem)}</a>: {html.escape(_title(nb, path.stem))}</li>')
    (out_dir / "index.html").write_text(
        "<!DOCTYPE html><html><head><meta charset='utf-8'><title>Course slides</title></head><body>"
        "<h1>Slide decks</h1><p>Arrow keys move (down: the rest of a section); <kbd>S</kbd> opens the speaker "
        "view with the notes; <kbd>F</kbd> full screen; <kbd>Esc</kbd> the overview.</p><ul>"
        + "".join(links) + "</ul></body></html>\n", encoding="utf-8")
    return decks


def export_html(nb, path, html_dir):
    """Render one notebook as an HTML page ``html_dir/STEM.html`` that works offline: MathJax from
    ``html_dir/_static`` (copied from jupyter-server-mathjax), no RequireJS or other CDN script, and
    its relative links pointed at pages and files in ``html_dir``."""
    from nbconvert import HTMLExporter

    html_dir = Path(html_dir)
    html_dir.mkdir(parents=True, exist_ok=True)
    copy_assets(html_dir, names=("mathjax",))
    path = Path(path)
    site = Site(html_dir, "html")
    exporter = HTMLExporter(extra_template_basedirs=[str(HTML_TEMPLATE.parent)], template_name=HTML_TEMPLATE.name)
    body, _ = exporter.from_notebook_node(rewrite_notebook_links(nb, site, path.parent),
                                          resources={"metadata": {"name": path.stem},
                                                     "course_mathjax": mathjax_head("_static")})
    target = html_dir / f"{path.stem}.html"
    target.write_text(body, encoding="utf-8")
    return target


HTML_TEMPLATE = ROOT / "tools" / "course_html"


def rendered_pages(folders):
    """What ``check`` measures in each folder: its decks (``*.slides.html``), its HTML pages and
    the pages rendered beside them (``solutions/``, ``course_lib/``); none of a missing folder."""
    found = []
    for folder in folders:
        folder = Path(folder)
        if folder.is_file():
            found.append(folder)
            continue
        if not folder.is_dir():
            continue
        found += sorted(folder.glob("*.slides.html"))
        found += sorted(p for p in folder.glob("*.html") if not p.name.endswith(".slides.html"))
        for sub in sorted(p for p in folder.iterdir() if p.is_dir() and not p.name.startswith(("_", "."))):
            found += sorted(p for p in sub.glob("*.html") if p.name.endswith((".md.html",)) or sub.name in ("solutions", "course_lib"))
    return found


# ----------------------------------------------------------------------------------------------
# Headless Chromium, driven over the DevTools protocol on a pipe (no port, no extra package)
# ----------------------------------------------------------------------------------------------

CHROMIUM_FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                  "--disable-background-networking", "--disable-component-update", "--disable-sync",
                  "--hide-scrollbars", "--mute-audio", "--disable-extensions"]
CHROMIUM_MISSING = ("no Chromium found. `make slides-check` measures every slide in headless Chromium; install it:\n"
                    "    Debian/Ubuntu: sudo apt-get install -y chromium      (or chromium-browser)\n"
                    "    macOS: brew install --cask chromium\n"
                    "or point CHROMIUM=/path/to/chromium-or-chrome at a Chrome/Chromium binary.")


def find_chromium():
    """The Chromium (or Chrome) binary: $CHROMIUM, else the first one on PATH, else None."""
    named = os.environ.get("CHROMIUM")
    if named:
        return named if Path(named).exists() or shutil.which(named) else None
    for name in ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable", "chrome"):
        found = shutil.which(name)
        if found:
            return found
    return None


class Browser:
    """One headless Chromium; ``send`` runs a DevTools command and returns its result. The
    protocol runs over the pipe pair Chromium reads on fd 3 and writes on fd 4
    (``--remote-debugging-pipe``): no TCP port is opened, nothing but the standard library needed."""

    def __init__(self, exe=None, width=1280, height=720):
        exe = exe or find_chromium()
        if exe is None:
            raise SystemExit(CHROMIUM_MISSING)
        self.width, self.height = width, height
        self.profile = tempfile.TemporaryDirectory(prefix="course-chromium-")
        to_child_r, self._to_child = os.pipe()
        self._from_child, from_child_w = os.pipe()

        def child_fds():               # the child's fd 3 and 4 (dup first: a pipe end may already be 3 or 4)
            a, b = os.dup(to_child_r), os.dup(from_child_w)
            os.dup2(a, 3)
            os.dup2(b, 4)

        self.proc = subprocess.Popen(
            [exe, *CHROMIUM_FLAGS, "--remote-debugging-pipe", f"--user-data-dir={self.profile.name}",
             f"--window-size={width},{height}", "about:blank"],
            preexec_fn=child_fds, close_fds=False, stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        os.close(to_child_r)
        os.close(from_child_w)
        self._buffer, self._id, self.events = b"", 0, []
        self.session = None

    def _read(self, timeout):
        end = time.monotonic() + timeout
        while b"\0" not in self._buffer:
            left = end - time.monotonic()
            if left <= 0:
                raise TimeoutError("Chromium did not answer in time")
            ready, _, _ = select.select([self._from_child], [], [], left)
            if ready:
                chunk = os.read(self._from_child, 1 << 20)
                if not chunk:
                    raise RuntimeError("Chromium exited")
                self._buffer += chunk
        message, self._buffer = self._buffer.split(b"\0", 1)
        return json.loads(message)

    def send(self, method, params=None, timeout=120, session=True):
        self._id += 1
        message = {"id": self._id, "method": method, "params": params or {}}
        if session and self.session:
            message["sessionId"] = self.session
        os.write(self._to_child, json.dumps(message).encode() + b"\0")
        while True:
            answer = self._read(timeout)
            if answer.get("id") == self._id:
                if "error" in answer:
                    raise RuntimeError(f"{method}: {answer['error'].get('message')}")
                return answer.get("result", {})
            self.events.append(answer)

    def open(self):
        """A page (tab) of ``width`` x ``height`` CSS pixels, with page and network events on."""
        target = self.send("Target.createTarget", {"url": "about:blank"}, session=False)
        self.session = self.send("Target.attachToTarget", {"targetId": target["targetId"], "flatten": True},
                                 session=False)["sessionId"]
        for domain in ("Page", "Network", "Runtime"):
            self.send(f"{domain}.enable")
        self.send("Emulation.setDeviceMetricsOverride",
                  {"width": self.width, "height": self.height, "deviceScaleFactor": 1, "mobile": False})
        return self

    def load(self, url, timeout=60):
        """Navigate and wait for the load event; returns the requests and failed loads seen."""
        self.events.clear()
        self.send("Page.navigate", {"url": url})
        end = time.monotonic() + timeout
        while not any(e.get("method") == "Page.loadEventFired" for e in self.events):
            if time.monotonic() > end:
                raise TimeoutError(f"{url} did not load in {timeout} s")
            try:
                self.events.append(self._read(max(0.1, end - time.monotonic())))
            except TimeoutError:
                pass

    def evaluate(self, expression, timeout=600):
        result = self.send("Runtime.evaluate", {"expression": expression, "awaitPromise": True,
                                                "returnByValue": True}, timeout=timeout)
        if "exceptionDetails" in result:
            details = result["exceptionDetails"]
            raise RuntimeError(f"JavaScript: {details.get('exception', {}).get('description') or details.get('text')}")
        return result["result"].get("value")

    def requests(self):
        """(URLs requested from the network, file loads that failed) since the last ``load``."""
        urls = {}
        for e in self.events:
            if e.get("method") == "Network.requestWillBeSent":
                urls[e["params"]["requestId"]] = e["params"]["request"]["url"]
        remote = sorted({u for u in urls.values() if u.startswith(("http:", "https:", "ws:", "wss:", "ftp:"))})
        failed = sorted({urls.get(e["params"]["requestId"], "?") for e in self.events
                         if e.get("method") == "Network.loadingFailed"
                         and not e["params"].get("canceled")} - set(remote) - {"about:blank"})
        return remote, failed

    def screenshot(self, target):
        data = self.send("Page.captureScreenshot", {"format": "png"})["data"]
        Path(target).write_bytes(base64.b64decode(data))
        return Path(target)

    def close(self):
        try:
            self.send("Browser.close", session=False, timeout=10)
        except Exception:
            pass
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        os.close(self._to_child)
        os.close(self._from_child)
        self.profile.cleanup()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


MEASURE_JS = SLIDES_TEMPLATE / "measure.js"


def _local_target(url):
    """The file a file:// URL names (without #fragment or ?query), else None."""
    parsed = urlparse(url)
    if parsed.scheme != "file":
        return None
    return Path(unquote(parsed.path))


def measure(browser, path):
    """Every slide of the deck (or the page) at ``path``, measured in ``browser``; adds the
    broken links (relative href/src with no file behind), network requests and failed loads."""
    path = Path(path).resolve()
    browser.load(path.as_uri())
    browser.evaluate(MEASURE_JS.read_text())
    report = browser.evaluate("window.courseMeasure()")
    if report is None or "error" in report:
        raise RuntimeError(f"{path.name}: {report and report.get('error')}")
    remote, failed = browser.requests()
    def broken(links):
        found = []
        for link in links:
            if re.match(r"^[a-z][a-z0-9+.-]*:", link["raw"], re.I) and not link["raw"].startswith("file:"):
                continue                      # an absolute URL (https:, mailto:): not a relative link
            target = _local_target(link["url"])
            if target is None or not target.exists():
                found.append(link["raw"])
        return found

    for slide in report["slides"]:
        slide["broken"] = broken(slide.pop("links"))
    report["slides"][0]["broken"] += broken(report.pop("links", []))     # the page's own scripts and styles
    report["remote"], report["failed"] = remote, failed
    report["path"] = str(path)
    return report


KINDS = ("overflow", "math", "broken links", "blank", "offline")


def problems_of(report, slide):
    """The kinds of problem one slide (or page) has, with a short reason each."""
    found = {}
    if report["kind"] == "deck":
        over = []
        if slide["height"] > report["height"] + 1:
            over.append(f"{slide['height']}px tall")
            found["taller"] = True
        if slide["width"] > report["width"] + 1:
            over.append(f"{slide['width']}px wide")
            found["wider"] = True
        if slide["clipped"]:
            over += [c["what"] + f" (+{c['by']}px)" for c in slide["clipped"][:2]]
            found["clipped"] = True
        if over:
            found["overflow"] = "; ".join(over)
        if slide["blank"]:
            found["blank"] = "nothing shown"
    if slide["math"]:
        found["math"] = "; ".join(slide["math"][:3])
    if slide["broken"]:
        found["broken links"] = ", ".join(slide["broken"][:4]) + ("..." if len(slide["broken"]) > 4 else "")
    return found


def badness(report, slide):
    """How bad a slide's overflow is (for picking the worst to show): screens of height past one."""
    if report["kind"] != "deck":
        return 0
    return max(slide["height"] / report["height"], slide["width"] / report["width"],
               *[1 + c["by"] / report["height"] for c in slide["clipped"]], 1) - 1


def check(paths, shots_dir=None, worst=8, per_kind=10, out=sys.stdout):
    """Measure every deck and page in ``paths``; print the count of each kind of problem and the
    worst slides; save screenshots of the worst (or, with no problem, of the tallest) slides under
    ``shots_dir``. Returns the counts (all zero: the check passes)."""
    counts = {kind: 0 for kind in KINDS}
    details = {"taller": 0, "wider": 0, "clipped": 0}
    if not paths:
        print("nothing to check: no deck or page was found (run `make slides` first)", file=out)
        return {"nothing rendered": 1}
    listed, scored = [], []
    n_slides = n_pages = 0
    n_broken = 0
    fonts = set()
    with Browser() as browser:
        browser.open()
        reports = []
        for path in paths:
            report = measure(browser, path)
            reports.append(report)
            fonts.add(report.get("font"))
            name = os.path.relpath(path)
            if report["kind"] == "deck":
                n_slides += len(report["slides"])
            else:
                n_pages += 1
            if report["remote"] or report["failed"]:
                counts["offline"] += 1
                what = []
                if report["remote"]:
                    what.append(f"requests the network: {', '.join(report['remote'][:3])}")
                if report["failed"]:
                    what.append(f"files that failed to load: {', '.join(report['failed'][:3])}")
                listed.append((name, "-", "offline", "; ".join(what)))
            for slide in report["slides"]:
                found = problems_of(report, slide)
                for kind, reason in found.items():
                    if kind in KINDS:
                        counts[kind] += 1
                        listed.append((name, slide["index"], kind, reason))
                    else:
                        details[kind] += 1
                n_broken += len(slide["broken"])
                scored.append((badness(report, slide), report, slide))
        n_decks = sum(r["kind"] == "deck" for r in reports)
        scales = sorted(s["fit"] for r in reports if r["kind"] == "deck" for s in r["slides"] if s["fit"] < 0.995)
        deck = next((r for r in reports if r["kind"] == "deck"), {})
        print(f"checked {n_slides} slides in {n_decks} decks and {n_pages} HTML pages "
              f"(screen {deck.get('width', '-')}x{deck.get('height', '-')} for decks; "
              f"MathJax font: {', '.join(sorted(str(f) for f in fonts))})", file=out)
        print("  slides overflowing the screen: {overflow} ({taller} taller, {wider} wider, "
              "{clipped} with a box that clips or scrolls what it holds)\n  slides or pages with math errors: {math}\n"
              "  slides or pages with broken links: {broken links} ({n_broken} links)\n  blank slides: {blank}\n"
              "  pages that are not offline (network requests, failed loads): {offline}".format(**counts, **details, n_broken=n_broken),
              file=out)
        if scales:
            print(f"  (slides the deck's safety net scaled down to fit: {len(scales)}, to {scales[0]:.0%} at the least; "
                  f"a scale is not a failure)", file=out)
        rank = {(os.path.relpath(r["path"]), s["index"]): b for b, r, s in scored}
        for kind in KINDS:
            of_kind = sorted((item for item in listed if item[2] == kind),
                             key=lambda item: -rank.get((item[0], item[1]), 0))
            if of_kind:
                print(f"{kind}, the worst {min(len(of_kind), per_kind)} of {len(of_kind)}:", file=out)
                for name, index, _, reason in of_kind[:per_kind]:
                    print(f"  {name} #{index}: {reason}", file=out)
        if counts["offline"]:
            print("  (a page that asks the network for MathJax or RequireJS was rendered before the renderer served them "
                  "from _static/: `make course` or `make present` renders it again, or, from its executed notebook, "
                  "`python tools/nbtools.py html --out FOLDER NOTEBOOK...`)", file=out)
        if shots_dir:
            shots_dir = Path(shots_dir)
            shots_dir.mkdir(parents=True, exist_ok=True)
            for old in shots_dir.glob("worst-*.png"):
                old.unlink()
            decks = [(b, r, s) for b, r, s in scored if r["kind"] == "deck"]
            decks.sort(key=lambda t: (-t[0], t[2]["fit"], -t[2].get("content", 0)))
            saved = []
            for k, (b, report, slide) in enumerate(decks[:worst], 1):
                browser.load(Path(report["path"]).as_uri())
                browser.evaluate(MEASURE_JS.read_text())
                browser.evaluate(f"window.courseShow({json.dumps(slide['index'])})")
                stem = Path(report["path"]).name.split(".")[0]
                saved.append(browser.screenshot(shots_dir / f"worst-{k}-{stem}-{slide['index'].replace('/', '-')}.png"))
            if saved:
                print(f"screenshots of the {len(saved)} worst slides (overflowing, else scaled down, else the "
                      f"fullest): {shots_dir}/worst-*.png", file=out)
    return counts


def screenshots(decks, out_dir, slides=("0", "2")):
    """PNG screenshots of slides ``slides`` (reveal.js indices h or h/v) of each deck, taken in
    headless Chromium over file:// once the slide's formulas are typeset and it is fitted."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    shots = []
    with Browser() as browser:
        browser.open()
        for deck in decks:
            deck = Path(deck).resolve()
            browser.load(deck.as_uri())
            browser.evaluate(MEASURE_JS.read_text())
            for slide in slides:
                browser.evaluate(f"window.courseShow({json.dumps(str(slide))})")
                target = out_dir / f"{deck.name.split('.')[0]}_slide_{str(slide).replace('/', '-')}.png"
                shots.append(browser.screenshot(target))
    return shots
