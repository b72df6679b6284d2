"""Progress bars that read the same live in Jupyter and in a stored, executed notebook.

tqdm's widget bar (``tqdm.auto`` in a notebook) lives in widget state, which is stripped
before a notebook is committed: what stays is the bar's first text, stuck at 0%. The text
bar below redraws one line with carriage returns; the stored output keeps its final state
(``tools/nbtools.py`` resolves the carriage returns) and a terminal shows it the same way.
"""

import sys


def progress_bar(iterable=None, total=None, desc=None, unit="it", enabled=True):
    """A tqdm text bar on stdout, refreshed at most once a second; ``enabled=False`` shows nothing."""
    from tqdm.std import tqdm

    return tqdm(iterable, total=total, desc=desc, unit=unit, file=sys.stdout, disable=not enabled,
                mininterval=1.0, ncols=90, ascii=False)
