"""report.html in a real browser: every plot drawn with the run's data, tables with its numbers."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from html.parser import HTMLParser
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from framework.errors import ConfigError
from framework.report import html as report_html
from framework.report.results import load_saved
from tests.chromium import dump_dom, require_chromium, screenshot

ROOT = Path(__file__).resolve().parents[2]
SMA = ROOT / "strategies" / "sma_crossover.py"
BARS = ROOT / "replays" / "finazon-btc-usdt-bars.jsonl.gz"

# Appended to a copy of the page: once Bokeh has drawn, it writes what each plot holds and how
# many of its canvas pixels have each glyph's colour into a <pre>, which --dump-dom then shows.
PROBE = """
<pre id="probe"></pre><script>
function probeColors(canvas, colors) {
  var px = canvas.getContext("2d").getImageData(0, 0, canvas.width, canvas.height).data;
  var counts = {};
  for (var name in colors) {
    var c = colors[name], n = 0;
    for (var i = 0; i < px.length; i += 4) {
      if (Math.abs(px[i] - c[0]) + Math.abs(px[i+1] - c[1]) + Math.abs(px[i+2] - c[2]) < 30) n++;
    }
    counts[name] = n;
  }
  return counts;
}
function probe() {
  var plots = [];
  function walk(view) {
    if (view.renderer_views !== undefined) {
      var glyphs = {};
      for (const rv of view.renderer_views.values()) {
        var ds = rv.model.data_source;
        if (ds !== undefined) {
          var cols = Object.keys(ds.data);
          glyphs[rv.model.name] = cols.length ? ds.data[cols[0]].length : 0;
        }
      }
      plots.push({name: view.model.name, glyphs: glyphs,
                  ink: probeColors(view.canvas_view.primary.canvas, COLORS)});
    }
    for (const k of (view.child_views || [])) walk(k);
  }
  for (const v of Bokeh.index) walk(v);
  document.getElementById("probe").textContent = JSON.stringify(plots);
}
setTimeout(probe, 1000);
</script>
"""


def rgb(color: str) -> list[int]:
    return [int(color[i : i + 2], 16) for i in (1, 3, 5)]


COLORS = {
    "equity": rgb(report_html.EQUITY_COLOR),
    "drawdown": rgb(report_html.DRAWDOWN_COLOR),
    "price": rgb(report_html.PRICE_COLOR),
    "buy": rgb(report_html.BUY_COLOR),
    "sell": rgb(report_html.SELL_COLOR),
}


class Tables(HTMLParser):
    """The text of every cell of every table with an id, row by row."""

    def __init__(self) -> None:
        super().__init__()
        self.tables: dict[str, list[list[str]]] = {}
        self._table: list[list[str]] | None = None
        self._cell: list[str] | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "table":
            self._table = self.tables.setdefault(dict(attrs).get("id") or "", [])
        elif tag == "tr" and self._table is not None:
            self._table.append([])
        elif tag in ("td", "th"):
            self._cell = []

    def handle_endtag(self, tag: str) -> None:
        if tag in ("td", "th") and self._cell is not None and self._table is not None:
            self._table[-1].append("".join(self._cell))
            self._cell = None
        elif tag == "table":
            self._table = None

    def handle_data(self, data: str) -> None:
        if self._cell is not None:
            self._cell.append(data)


def papertrade(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "framework", *args], capture_output=True, text=True,
        cwd=ROOT, timeout=300, check=False,
    )  # fmt: skip


@pytest.fixture(scope="module")
def sma_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    require_chromium()
    out = tmp_path_factory.mktemp("sma")
    result = papertrade("run", str(SMA), "--replay", str(BARS), "--out", str(out), "--report")
    assert result.returncode == 0, result.stderr
    assert f"report: {out / 'report.html'}" in result.stdout
    return out


def test_every_plot_is_drawn_with_the_runs_data(sma_run: Path) -> None:
    saved = load_saved(sma_run)
    page = (sma_run / "report.html").read_text()
    probe_page = sma_run / "probe.html"
    colors = "var COLORS = " + json.dumps(COLORS) + ";"
    probe_page.write_text(
        page.replace("</body>", PROBE.replace("<script>", "<script>" + colors) + "</body>")
    )
    dom = dump_dom(probe_page)
    plots = {
        p["name"]: p for p in json.loads(re.search(r'<pre id="probe">(.*?)</pre>', dom).group(1))
    }  # type: ignore[union-attr]
    points = len(saved.equity.ts_ns)
    buys = sum(f.side == "buy" for f in saved.fills)
    sells = sum(f.side == "sell" for f in saved.fills)
    assert (buys, sells) == (8, 8)
    assert plots["equity"]["glyphs"] == {"equity": points}
    assert plots["drawdown"]["glyphs"] == {"drawdown": points}
    assert plots["price BTC/USDT"]["glyphs"] == {
        "price BTC/USDT": len(saved.prices["BTC/USDT"].ts_ns),
        "buys BTC/USDT": buys,
        "sells BTC/USDT": sells,
    }
    # drawn, not just loaded: each glyph's colour covers pixels of its own plot
    assert plots["equity"]["ink"]["equity"] > 500
    assert plots["drawdown"]["ink"]["drawdown"] > 2000
    assert plots["price BTC/USDT"]["ink"]["price"] > 500
    assert plots["price BTC/USDT"]["ink"]["buy"] > buys * 20
    assert plots["price BTC/USDT"]["ink"]["sell"] > sells * 20
    png = screenshot(sma_run / "report.html", sma_run / "report.png", size=(1280, 2200))
    assert png.stat().st_size > 50_000


def test_the_tables_hold_the_runs_numbers(sma_run: Path) -> None:
    summary = json.loads((sma_run / "summary.json").read_text())
    parser = Tables()
    parser.feed(dump_dom(sma_run / "report.html"))
    stats = dict(parser.tables["statistics"][1:])  # type: ignore[arg-type]
    assert stats["return"] == f"{summary['total_return']:.2%}" == "-0.17%"
    assert stats["orders / fills"] == "16 / 16 (0 rejected)"
    assert stats["sharpe / sortino"] == "- / -"  # an 8-hour run: not annualised
    trips = parser.tables["round-trips"]
    with (sma_run / "trades.csv").open() as fh:
        csv_rows = [line.split(",") for line in fh.read().splitlines()[1:]]
    assert len(trips) - 1 == len(csv_rows) == 8
    assert [row[9] for row in trips[1:]] == [row[11] for row in csv_rows]  # net P&L
    (strategy,) = parser.tables["per-strategy"][1:]
    assert strategy[:4] == ["SmaCrossover", "16", "8", "0"]
    fingerprint = dict(parser.tables["fingerprint"][1:])  # type: ignore[arg-type]
    assert fingerprint["recording (SHA-256)"] == summary["fingerprint"]["recording_sha256"]


def test_the_page_loads_nothing_from_the_network(sma_run: Path) -> None:
    page = (sma_run / "report.html").read_text()
    assert not re.search(r"""<(script|link|img|iframe)[^>]+(src|href)=["']?(https?:)?//""", page)
    assert (sma_run / "report.html").stat().st_size < 2_000_000


def test_report_command_writes_the_same_bytes_as_run_report(sma_run: Path, tmp_path: Path) -> None:
    result = papertrade("report", str(sma_run), "--out", str(tmp_path / "again.html"))
    assert result.returncode == 0, result.stderr
    assert (tmp_path / "again.html").read_bytes() == (sma_run / "report.html").read_bytes()


def test_report_of_a_folder_without_a_run_is_one_clear_line(tmp_path: Path) -> None:
    result = papertrade("report", str(tmp_path))
    assert result.returncode == 1
    assert result.stderr.strip() == (
        f"Error: {tmp_path}: no results.json here; write a run there first "
        "(papertrade run ... --out DIR)"
    )


@settings(max_examples=200, deadline=None)
@given(st.binary(max_size=300) | st.text(max_size=300).map(str.encode))
def test_a_damaged_results_file_is_a_config_error(
    tmp_path_factory: pytest.TempPathFactory, data: bytes
) -> None:
    folder = tmp_path_factory.mktemp("damaged")
    (folder / "results.json").write_bytes(data)
    with pytest.raises(ConfigError, match="is not a papertrade results file"):
        load_saved(folder)


def test_a_deeply_nested_results_file_is_a_config_error(tmp_path: Path) -> None:
    (tmp_path / "results.json").write_bytes(b'{"summary":' + b"[" * 100_000 + b"]" * 100_000 + b"}")
    with pytest.raises(ConfigError):
        load_saved(tmp_path)
