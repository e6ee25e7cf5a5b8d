"""The curated public API stays sorted, complete and importable."""

from __future__ import annotations

import ast
import re
import tomllib
from pathlib import Path

import pytest

import framework

ROOT = Path(__file__).resolve().parent.parent


def test_all_is_sorted_and_every_name_resolves() -> None:
    # isort-style, as ruff keeps it: CONSTANTS, then Classes, then functions
    def group(name: str) -> tuple[int, str]:
        return (0 if name.isupper() else 1 if name[0].isupper() else 2), name

    assert framework.__all__ == sorted(framework.__all__, key=group)
    for name in framework.__all__:
        assert getattr(framework, name) is not None


def test_the_strategy_api_is_reachable_from_the_package() -> None:
    from framework.strategy import Strategy, param

    assert framework.Strategy is Strategy and framework.param is param


def _framework_imports(path: Path) -> list[tuple[int, str]]:
    """(line, module) of every ``framework`` import in a file, at any depth."""
    found: list[tuple[int, str]] = []
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            if node.module.split(".")[0] == "framework":
                found.append((node.lineno, node.module))
        elif isinstance(node, ast.Import):
            found += [(node.lineno, a.name) for a in node.names if a.name.startswith("framework")]
    return found


@pytest.mark.parametrize("path", sorted(ROOT.joinpath("strategies").glob("*.py")), ids=str)
def test_example_strategies_import_only_the_public_api(path: Path) -> None:
    imports = _framework_imports(path)
    assert imports, f"{path.name} imports nothing from framework"
    assert [(line, m) for line, m in imports if m != "framework"] == []


def test_readme_examples_import_only_the_public_api() -> None:
    text = ROOT.joinpath("README.md").read_text()
    blocks = re.findall(r"```python\n(.*?)```", text, re.S)
    imports = [line for b in blocks for line in b.splitlines() if "import" in line]
    assert any(line.startswith("from framework import ") for line in imports)
    # framework.testing.markets is the one module outside the package's namespace: it needs
    # Hypothesis (the testing extra), which importing framework must not.
    optional = "from framework.testing.markets import"
    assert [line for line in imports if "framework." in line and optional not in line] == []


def test_the_package_is_typed() -> None:
    assert ROOT.joinpath("framework", "py.typed").is_file()
    pyproject = tomllib.loads(ROOT.joinpath("pyproject.toml").read_text())
    # shipped in the wheel, not only the tree
    assert "py.typed" in pyproject["tool"]["setuptools"]["package-data"]["framework"]


def test_a_strategy_written_against_the_public_api_runs(tmp_path: Path) -> None:
    # Every name the callbacks and the test kit need resolves from the package alone.
    from framework import NS_PER_SECOND, Scenario, Strategy, Trade, run_strategy

    class Buyer(Strategy):
        def on_trade(self, trade: Trade) -> None:
            if not self.open_orders() and self.position(trade.instrument) == 0:
                self.buy_market(trade.instrument, value="100")

    scenario = Scenario("BTC/USDT").trade(0, 100.0, 1.0).trade(1, 101.0, 1.0)
    result = run_strategy(Buyer, scenario, tmp_path=tmp_path)
    assert NS_PER_SECOND == 1_000_000_000
    assert [f.direction for f in result.fills] == ["buy"]
