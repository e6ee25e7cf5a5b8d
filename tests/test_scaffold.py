"""``papertrade new``: what it refuses (the project it writes is tested from a wheel in test_wheel)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path


def new(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "framework", "new", *args],
        cwd=cwd, capture_output=True, text=True, timeout=60,
    )  # fmt: skip


def test_writes_the_project_files_named_after_the_project(tmp_path: Path) -> None:
    done = new("Mean-Reverter", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    root = tmp_path / "Mean-Reverter"
    files = sorted(p.relative_to(root).as_posix() for p in root.rglob("*") if p.is_file())
    assert files == [
        ".github/workflows/test.yml", "README.md", "config.toml", "mean_reverter.py",
        "pyproject.toml", "tests/test_mean_reverter.py",
    ]  # fmt: skip
    assert "class MeanReverter(Strategy):" in (root / "mean_reverter.py").read_text()
    test = (root / "tests" / "test_mean_reverter.py").read_text()
    assert "from mean_reverter import MeanReverter" in test
    assert 'assert_matches_golden("tests/golden/mean_reverter")' in test
    assert "$" not in test  # every placeholder filled


def test_refuses_a_folder_that_is_not_empty_and_keeps_it(tmp_path: Path) -> None:
    (tmp_path / "mine").mkdir()
    (tmp_path / "mine" / "notes.txt").write_text("keep me")
    done = new("mine", cwd=tmp_path)
    assert done.returncode == 1
    assert done.stderr == "Error: mine already exists and is not empty\n"
    assert (tmp_path / "mine" / "notes.txt").read_text() == "keep me"


def test_refuses_a_name_that_makes_no_module(tmp_path: Path) -> None:
    for name in ("123", "class", "--"):
        done = new("--", name, cwd=tmp_path) if name == "--" else new(name, cwd=tmp_path)
        assert done.returncode != 0
        assert "Traceback" not in done.stderr
    done = new("class", cwd=tmp_path)
    assert (
        done.stderr
        == "Error: project name 'class' does not make a Python module name (try letters, digits, -)\n"
    )
