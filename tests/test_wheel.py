"""papertrade as a user's CI gets it: a built wheel in a fresh virtual environment, far from
this checkout. One wheel and one environment serve the whole module.

The wheel is built by pip (setuptools from the configured indexes, as any build does) and
installed with ``--no-deps``; its dependencies (msgspec, trio, pytest, Hypothesis...) are lent
from this checkout's environment by a ``.pth`` line, because tests have no network. papertrade
itself, its package data and its pytest plugin come only from the wheel: a test checks that
``framework`` is imported from the fresh environment.
"""

from __future__ import annotations

import re
import subprocess
import sys
import sysconfig
import venv
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


class Installed:
    def __init__(self, root: Path) -> None:
        self.root = root
        self.bin = root / "venv" / "bin"
        self.work = root / "work"  # outside the checkout: no replays/, configs/ or strategies/
        self.work.mkdir()

    def run(self, *args: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [str(self.bin / args[0]), *args[1:]],
            cwd=cwd or self.work,
            capture_output=True,
            text=True,
            timeout=600,
            env={"PATH": f"{self.bin}:/usr/bin:/bin", "HOME": str(self.root)},
        )


@pytest.fixture(scope="module")
def installed(tmp_path_factory: pytest.TempPathFactory) -> Installed:
    root = tmp_path_factory.mktemp("wheel")
    dist = root / "dist"
    built = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", str(ROOT), "--no-deps", "-q", "-w", str(dist)],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert built.returncode == 0, built.stderr
    (wheel,) = dist.glob("papertrade-*.whl")
    venv.create(root / "venv", with_pip=False)
    site = next((root / "venv" / "lib").glob("python3*/site-packages"))
    (site / "lent-dependencies.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    done = subprocess.run(
        [sys.executable, "-m", "pip", "--python", str(root / "venv" / "bin" / "python"),
         "install", "--no-deps", "-q", str(wheel)],
        capture_output=True, text=True, timeout=600,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    return Installed(root)


def test_the_wheel_carries_the_recordings_configs_strategies_and_templates(
    installed: Installed,
) -> None:
    (wheel,) = (installed.root / "dist").glob("papertrade-*.whl")
    names = set(zipfile.ZipFile(wheel).namelist())
    for path in (ROOT / "framework" / "data").rglob("*"):
        if path.is_file() and "__pycache__" not in path.parts:  # byte code is no package data
            assert path.relative_to(ROOT).as_posix() in names
    entry_points = next(n for n in names if n.endswith("entry_points.txt"))
    text = zipfile.ZipFile(wheel).read(entry_points).decode()
    assert "[pytest11]\npapertrade = framework.testing.plugin" in text


def test_framework_comes_from_the_wheel_and_finds_recordings_by_name(
    installed: Installed,
) -> None:
    code = (
        "import framework, framework.testing as t; print(framework.__file__); "
        "print(t.recording('cryptomus-btc-usdt'))"
    )
    done = installed.run("python", "-c", code)
    assert done.returncode == 0, done.stderr
    module, recording = done.stdout.split()
    assert module.startswith(str(installed.root / "venv"))
    assert recording.startswith(str(installed.root / "venv"))
    assert recording.endswith("framework/data/replays/cryptomus-btc-usdt.jsonl.gz")


def test_run_takes_example_names_outside_the_checkout(installed: Installed) -> None:
    done = installed.run(
        "papertrade", "run", "sma_crossover", "--replay", "finazon-btc-usdt-bars",
        "--config", "backtest", "--out", "out",
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert re.search(r"orders / fills\s+16 / 16", done.stdout)
    wrong = installed.run("papertrade", "run", "sma_crossover", "--replay", "nope")
    assert wrong.returncode == 1
    assert wrong.stderr.startswith("Error: recording not found: nope (neither a file nor a")


def readme_blocks() -> list[str]:
    return re.findall(r"```python\n(.*?)```", (ROOT / "README.md").read_text(), re.S)


def test_the_readme_test_kit_examples_pass_there(installed: Installed) -> None:
    project = installed.work / "readme"
    (project / "tests").mkdir(parents=True)
    (project / "strategies_of_mine.py").write_text(
        "from framework.bundled import strategy\n"
        "from framework.run import load_strategy\n\n"
        'SmaCrossover, _ = load_strategy(str(strategy("sma_crossover")))\n'
        'TradeMomentum, _ = load_strategy(str(strategy("trade_momentum")))\n'
    )
    kit = readme_blocks()[1:4]  # the scenario test, the golden run, the property test
    assert ["run_strategy(BuyOnce" in kit[0], "assert_matches_golden" in kit[1],
            "trade_markets()" in kit[2]] == [True, True, True]  # fmt: skip
    for i, block in enumerate(kit):
        (project / "tests" / f"test_readme_{i}.py").write_text(block)
    (project / "pyproject.toml").write_text('[tool.pytest.ini_options]\npythonpath = ["."]\n')
    first = installed.run("python", "-m", "pytest", "-q", "-p", "no:cacheprovider", cwd=project)
    assert first.returncode == 0, first.stdout + first.stderr
    assert "3 passed" in first.stdout
    assert (project / "tests" / "golden" / "sma" / "events.jsonl").read_text().count("\n") == 90
    again = installed.run("python", "-m", "pytest", "-q", "-p", "no:cacheprovider", cwd=project)
    assert again.returncode == 0, again.stdout


def test_a_scaffolded_project_passes_then_catches_a_changed_parameter(
    installed: Installed,
) -> None:
    made = installed.run("papertrade", "new", "dip-buyer")
    assert made.returncode == 0, made.stderr
    project = installed.work / "dip-buyer"
    assert (project / ".github" / "workflows" / "test.yml").read_text().count("- run: pytest") == 1
    first = installed.run("python", "-m", "pytest", "-q", "-p", "no:cacheprovider", cwd=project)
    assert first.returncode == 0, first.stdout + first.stderr
    assert "3 passed" in first.stdout
    golden = project / "tests" / "golden" / "dip_buyer"
    assert (golden / "fills.csv").read_text().count("\n") == 4  # header and three fills

    config = project / "config.toml"
    config.write_text(config.read_text().replace("dip_bps = 5.0", "dip_bps = 8.0"))
    changed = installed.run("python", "-m", "pytest", "-q", "-p", "no:cacheprovider", cwd=project)
    assert changed.returncode == 1
    out = changed.stdout
    assert "1 failed, 2 passed" in out  # only the golden run notices
    assert "the run differs from golden folder tests/golden/dip_buyer" in out
    assert "first divergence at event 1\n" in out
    assert re.search(r"A at frame \d+, 2025-06-26T16:00:\d\d\.\d{3}Z", out)
    assert "! data.info.createTs" in out
    assert "strategies.DipBuyer.dip_bps" in out
    assert max(len(line) for line in out.splitlines()) < 160
