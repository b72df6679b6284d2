import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tools"))
import nbtools  # noqa: E402

from course_lib.progress import progress_bar


def test_bar_ends_finished_once_carriage_returns_are_resolved(capsys):
    for _ in progress_bar(range(7), desc="work", unit="batch"):
        pass
    shown = nbtools.resolve_control_characters(capsys.readouterr().out)
    assert "7/7" in shown and "100%" in shown
    assert nbtools.stuck_progress(shown) == []


def test_disabled_bar_prints_nothing(capsys):
    assert list(progress_bar(range(3), enabled=False)) == [0, 1, 2]
    assert capsys.readouterr().out == ""
