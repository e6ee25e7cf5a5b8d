"""The README's examples, run as written: the test-kit section, the Strategy API example, the sweep."""

from __future__ import annotations

import re
import subprocess
import sys
from decimal import Decimal
from pathlib import Path

import pytest

from framework.events import Trade
from framework.strategy import Strategy, param
from framework.testing import Scenario, run_strategy


class BuyOnce(Strategy):
    size = param(Decimal("0.01"), help="BTC to buy on the first trade")

    def on_trade(self, trade: Trade) -> None:
        if not self.open_orders() and self.position(trade.instrument) == 0:
            self.buy_market(trade.instrument, quantity=self.size)


def test_buys_at_the_ask(tmp_path: Path) -> None:
    scenario = (
        Scenario("BTC/USDT")
        .book(0, bids=[(100.0, 1.0)], asks=[(101.0, 1.0)])
        .trade(1, 100.5, 0.1, "buy")
    )
    result = run_strategy(BuyOnce, scenario, tmp_path=tmp_path)
    result.assert_no_rejections()
    assert [(f.direction, f.price, f.quantity) for f in result.fills] == [
        ("buy", Decimal("101"), Decimal("0.01"))
    ]
    result.assert_balance("USDT", "9998.98899")  # 10,000 - 1.01 - 0.1 % taker fee


ROOT = Path(__file__).resolve().parent.parent


def _readme_block(language: str, index: int) -> str:
    blocks = re.findall(rf"```{language}\n(.*?)```", (ROOT / "README.md").read_text(), re.S)
    return blocks[index]


def test_the_readme_test_kit_example_is_this_file() -> None:
    kit = _readme_block("python", 1)
    assert "class BuyOnce(Strategy):" in kit and 'assert_balance("USDT", "9998.98899")' in kit


def test_the_readme_strategy_example_runs_on_the_bundled_bars(tmp_path: Path) -> None:
    strategy = tmp_path / "sma.py"
    strategy.write_text(_readme_block("python", 0))
    out = tmp_path / "out"
    result = subprocess.run(
        [sys.executable, "-m", "framework", "run", str(strategy), "--replay",
         str(ROOT / "replays" / "finazon-btc-usdt-bars.jsonl.gz"), "--out", str(out)],
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert "round trips" in result.stdout


def test_the_readme_sweep_example_finds_the_best_point_it_shows(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    blocks = re.findall(r"```python\n(.*?)```", (ROOT / "README.md").read_text(), re.S)
    (example,) = [b for b in blocks if "framework.sweep(" in b]
    shown = re.search(r"result\.best\s+# (\{.*\})", example)
    assert shown is not None
    monkeypatch.chdir(ROOT)
    namespace: dict[str, object] = {}
    exec(compile(example, "README.md", "exec"), namespace)
    result = namespace["result"]
    assert repr(result.best) == shown.group(1)  # type: ignore[attr-defined]
    assert result.ranked[0]["error"] == ""  # type: ignore[attr-defined]
