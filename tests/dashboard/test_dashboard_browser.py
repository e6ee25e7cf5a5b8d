"""The live dashboard in a real headless Chromium, during a real live run against the emulator:
the page's own script keeps the equity plot and the tables current from server-sent events."""

from __future__ import annotations

import html
import os
import re
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.chromium import dump_dom, require_chromium

REPO = Path(__file__).resolve().parents[2]
LIMIT_S = 120
CHURN = """
from framework.strategy import Strategy


class Churn(Strategy):
    def on_book(self, book, event):
        if self.position(event.instrument) > 0:
            self.sell_market(event.instrument, "0.0001")
        else:
            self.buy_market(event.instrument, quantity="0.0001")
"""


def clean_env() -> dict[str, str]:
    return {
        k: v for k, v in os.environ.items() if not k.startswith(("CRYPTOMUS", "ALLTICK", "FINAZON"))
    }


def read(url: str) -> dict[str, object]:
    """One DOM read: the counters the page shows and the rows of its tables."""
    dom = dump_dom(url, budget_ms=500, timeout_s=LIMIT_S)
    spans = dict(re.findall(r'id="(points|updates|fill-count|sim-time)">([^<]*)<', dom))
    tables = {}
    for name in ("fills", "positions", "feeds"):
        body = re.search(rf"<tbody id=\"{name}\">(.*?)</tbody>", dom, re.S)
        assert body is not None, name
        tables[name] = [
            [html.unescape(cell) for cell in re.findall(r"<td[^>]*>(.*?)</td>", row)]
            for row in re.findall(r"<tr>(.*?)</tr>", body.group(1), re.S)
        ]
    return {**spans, **tables}


@pytest.fixture
def live_dashboard(tmp_path: Path):  # type: ignore[no-untyped-def]
    require_chromium()
    (tmp_path / "churn.py").write_text(CHURN)
    child = subprocess.Popen(
        [sys.executable, "-m", "framework", "run", str(tmp_path / "churn.py"), "--live",
         "--dashboard", "0", "--quiet", "--out", str(tmp_path / "out")],
        cwd=REPO, env=clean_env(), text=True, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
    )  # fmt: skip
    try:
        assert child.stdout is not None
        url = ""
        deadline = time.monotonic() + LIMIT_S
        while not url and time.monotonic() < deadline:
            line = child.stdout.readline()
            assert line, child.stderr.read() if child.stderr else "the run ended"
            if line.startswith("dashboard at "):
                url = line.removeprefix("dashboard at ").strip()
        assert re.fullmatch(r"http://127\.0\.0\.1:\d+/", url)
        yield url
    finally:
        child.terminate()
        child.communicate(timeout=LIMIT_S)


def test_the_page_grows_its_equity_plot_and_fills_table_while_the_run_goes_on(
    live_dashboard: str,
) -> None:
    first = read(live_dashboard)
    time.sleep(2)
    second = read(live_dashboard)
    for page in (first, second):
        assert int(str(page["updates"])) >= 2  # pushed by the server, not loaded once
        [feed] = page["feeds"]
        assert feed[:2] == ["cryptomus", "connected"]
    assert 0 < int(str(first["points"])) < int(str(second["points"]))
    assert 0 < int(str(first["fill-count"])) < int(str(second["fill-count"]))
    fills_1, fills_2 = first["fills"], second["fills"]
    assert isinstance(fills_1, list) and isinstance(fills_2, list)
    assert 0 < len(fills_1) <= len(fills_2) <= 50
    newest_1, newest_2 = fills_1[0], fills_2[0]
    assert newest_2[0] > newest_1[0]  # the newest fill is later (ISO times sort)
    assert newest_2[1:3] == ["Churn", "BTC_USDT"] and newest_2[3] in ("buy", "sell")
    assert str(second["sim-time"]) > str(first["sim-time"])
