"""`make install` and `make lab` on stand-in interpreters: no network, no real venv (milliseconds).

The fake interpreter answers ``--version``, makes a "venv" for ``-m venv DIR`` (a copy of itself)
and logs every other call (the pip steps); it fails those when FAKE_PIP_FAIL is set.
"""

import os
import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent

pytestmark = pytest.mark.skipif(shutil.which("make") is None or shutil.which("bash") is None,
                                reason="needs make and bash")

FAKE = """#!/bin/bash
if [ "$1" = --version ]; then echo "Python {version}"; exit 0; fi
if [ "$1 $2" = "-m venv" ]; then mkdir -p "$3/bin" && cp "$0" "$3/bin/python"; exit 0; fi
echo "$*" >> "{log}"
[ -z "$FAKE_PIP_FAIL" ]
"""


def fake_python(tmp_path, version):
    path = tmp_path / f"python{version}"
    path.write_text(FAKE.format(version=version, log=tmp_path / "calls.log"))
    path.chmod(0o755)
    return path


def make(*args, fail_pip=False):
    env = {k: v for k, v in os.environ.items() if k not in ("MAKEFLAGS", "MFLAGS", "FAKE_PIP_FAIL")}
    if fail_pip:
        env["FAKE_PIP_FAIL"] = "1"
    return subprocess.run(["make", "--no-print-directory", "-C", str(ROOT), *args], env=env,
                          capture_output=True, text=True, timeout=60)


def calls(tmp_path):
    log = tmp_path / "calls.log"
    return log.read_text().splitlines() if log.exists() else []


def test_install_refuses_an_old_python_in_one_line_before_making_a_venv(tmp_path):
    venv = tmp_path / "venv"
    done = make("install", f"PYTHON={fake_python(tmp_path, '3.10.13')}", f"VENV={venv}")
    assert done.returncode != 0
    message = [line for line in done.stderr.splitlines() if line.startswith("make install:")]
    assert len(message) == 1 and "Python 3.11 or newer is needed" in message[0] and "is Python 3.10;" in message[0]
    assert not venv.exists() and calls(tmp_path) == []


def test_install_rebuilds_a_venv_of_another_python_and_stamps_only_a_success(tmp_path):
    venv = tmp_path / "venv"
    subprocess.run([fake_python(tmp_path, "3.10.13"), "-m", "venv", venv], check=True)   # an earlier try with 3.10
    python = f"PYTHON={fake_python(tmp_path, '3.11.7')}"

    failed = make("install", python, f"VENV={venv}", fail_pip=True)
    assert failed.returncode != 0 and f"{venv} was made by Python 3.10, not 3.11: rebuilding it" in failed.stdout
    rebuilt = subprocess.run([venv / "bin" / "python", "--version"], capture_output=True, text=True)
    assert rebuilt.stdout == "Python 3.11.7\n"
    assert not (venv / ".installed").exists()                 # failed: no stamp, so the next run retries

    done = make("install", python, f"VENV={venv}")
    assert done.returncode == 0, done.stdout + done.stderr
    assert "rebuilding" not in done.stdout and (venv / ".installed").exists()
    assert len(calls(tmp_path)) == 1 + 3                      # the failed pip step, then all three

    again = make("install", python, f"VENV={venv}")
    assert again.returncode == 0 and len(calls(tmp_path)) == 4   # installed and same Python: nothing to do


def test_lab_passes_lab_args_and_allow_root_only_as_root(tmp_path):
    venv = tmp_path / "venv"
    subprocess.run([fake_python(tmp_path, "3.11.7"), "-m", "venv", venv], check=True)
    (venv / ".installed").touch()                             # newer than requirements.txt: installed
    done = make("-n", "lab", f"VENV={venv}", "LAB_ARGS=--no-browser --port 8899")
    assert done.returncode == 0, done.stderr
    command = next(line for line in done.stdout.splitlines() if "jupyter lab" in line)
    assert command.endswith("--no-browser --port 8899 notebooks/")
    assert ("--allow-root" in command) == (os.getuid() == 0)
