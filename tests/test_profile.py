import pytest

from course_lib.profile import PROFILES, current_profile, pick, use_checkpoints


def test_default_is_lecture(monkeypatch):
    monkeypatch.delenv("COURSE_PROFILE", raising=False)
    assert current_profile() == "lecture"


@pytest.mark.parametrize("raw,expected", [("smoke", "smoke"), (" FULL ", "full"), ("", "lecture")])
def test_reads_environment(monkeypatch, raw, expected):
    monkeypatch.setenv("COURSE_PROFILE", raw)
    assert current_profile() == expected


def test_unknown_profile_lists_valid_ones(monkeypatch):
    monkeypatch.setenv("COURSE_PROFILE", "huge")
    with pytest.raises(ValueError) as err:
        current_profile()
    for name in PROFILES:
        assert name in str(err.value)
    assert "huge" in str(err.value)


def test_pick_follows_profile(monkeypatch):
    for name, value in zip(PROFILES, (1, 5, 50, 4)):
        monkeypatch.setenv("COURSE_PROFILE", name)
        assert pick(smoke=1, lecture=5, full=50, present=4) == value


def test_present_takes_lecture_sizes_unless_given(monkeypatch):
    monkeypatch.setenv("COURSE_PROFILE", "present")
    assert pick(smoke=1, lecture=5, full=50) == 5
    assert use_checkpoints()
    monkeypatch.setenv("COURSE_PROFILE", "lecture")
    assert not use_checkpoints()


def test_pick_needs_every_profile_and_no_other():
    with pytest.raises(ValueError, match="missing"):
        pick(smoke=1, lecture=5)
    with pytest.raises(ValueError, match="unknown"):
        pick(smoke=1, lecture=5, full=50, gpu=100)
    with pytest.raises(ValueError, match="missing"):
        pick(smoke=1, full=50, present=5)


def test_checkpoint_flag_and_profile_line(monkeypatch):
    from course_lib.profile import describe_profile

    monkeypatch.setenv("COURSE_PROFILE", "smoke")
    monkeypatch.setenv("COURSE_USE_CHECKPOINTS", "1")
    assert use_checkpoints()
    assert describe_profile().startswith("profile: smoke (trained models loaded from checkpoints/")
    monkeypatch.setenv("COURSE_USE_CHECKPOINTS", "0")
    assert not use_checkpoints() and "trained live" not in describe_profile()
    monkeypatch.setenv("COURSE_PROFILE", "present")
    assert "loaded from checkpoints/" in describe_profile()
    monkeypatch.setenv("COURSE_USE_CHECKPOINTS", "maybe")
    with pytest.raises(ValueError, match="COURSE_USE_CHECKPOINTS"):
        use_checkpoints()
