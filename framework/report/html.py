"""report.html: one self-contained page of a run's results, readable offline.

Plots are Bokeh with its JavaScript inlined (inline resources): the page makes no
network request. It shows the equity curve and its drawdown (x axes linked), the price of each
traded instrument with every entry and exit marked, the statistics, the per-strategy breakdown,
the round trips and the run's fingerprint. Tables are plain HTML, so they read (and copy) as
text. Everything comes from one :class:`framework.report.results.Saved`: the model of the run
that just finished, or the ``results.json`` of a finished run's folder.

This module writes one file; it reads no clock and makes no request.
"""

from __future__ import annotations

import html
import re
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any, Final

from bokeh.embed import components
from bokeh.layouts import column
from bokeh.models import ColumnDataSource, HoverTool, NumeralTickFormatter
from bokeh.plotting import figure
from bokeh.resources import Resources

from framework.report.console import summary_rows
from framework.report.output import iso_time
from framework.report.results import RoundTrip, Saved, Series

__all__ = [
    "BUY_COLOR",
    "DRAWDOWN_COLOR",
    "EQUITY_COLOR",
    "MAX_TRADE_ROWS",
    "PRICE_COLOR",
    "SELL_COLOR",
    "render_report",
    "write_report",
]

EQUITY_COLOR: Final = "#1f5fa8"
DRAWDOWN_COLOR: Final = "#e8a09a"
PRICE_COLOR: Final = "#555555"
BUY_COLOR: Final = "#1e8449"
SELL_COLOR: Final = "#b03a2e"

MAX_TRADE_ROWS: Final = 1000  # round trips listed on the page; trades.csv has them all
_HEIGHT: Final = 260
_TOOLS: Final = "pan,box_zoom,wheel_zoom,reset,save"
# Bokeh's core library inlined, without the widget, table, WebGL and MathJax bundles the page
# does not use: 1.3 MB instead of 4.
_IDS: Final = re.compile(
    r"[\"'](p\d+|[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12})[\"']"
)
_CSS: Final = """
body { font: 14px/1.4 system-ui, sans-serif; margin: 24px auto; max-width: 1400px; color: #222; }
h1 { font-size: 22px; } h2 { font-size: 17px; margin-top: 28px; }
table { border-collapse: collapse; margin: 8px 0; }
td, th { border-bottom: 1px solid #ddd; padding: 3px 8px; text-align: right; white-space: nowrap; }
.wide { overflow-x: auto; }
th { background: #f4f4f4; } td:first-child, th:first-child { text-align: left; }
.mono { font-family: ui-monospace, monospace; font-size: 12px; }
.note { color: #666; }
"""


def write_report(saved: Saved, path: str | Path) -> Path:
    """Write ``report.html`` for a run; returns its path."""
    target = Path(path)
    target.write_text(render_report(saved), encoding="utf-8")
    return target


def render_report(saved: Saved) -> str:
    """The report page as one HTML string."""
    summary = saved.summary
    script, plots = _stable_ids(*components(column(_figures(saved), sizing_mode="stretch_width")))
    strategies = ", ".join(summary.get("strategies", {})) or "no strategy"
    title = f"papertrade report: {strategies}"
    body = [
        f"<h1>{_e(title)}</h1>",
        f"<p>{_e(summary.get('first_time', ''))} .. {_e(summary.get('last_time', ''))}, "
        f"valued in {_e(summary.get('currency', ''))}</p>",
        '<div id="plots">',
        plots,
        "</div>",
        "<h2>Statistics</h2>",
        _table(("statistic", "value"), summary_rows(summary), "statistics"),
        _note(summary),
        "<h2>Per strategy</h2>",
        _per_strategy(summary),
        f"<h2>Round trips ({len(saved.round_trips)})</h2>",
        _trips(saved.round_trips),
        "<h2>Fingerprint</h2>",
        _fingerprint(summary),
    ]
    return "\n".join(
        [
            "<!DOCTYPE html>",
            '<html lang="en"><head><meta charset="utf-8">',
            f"<title>{_e(title)}</title>",
            f"<style>{_CSS}</style>",
            Resources(mode="inline", components=["bokeh"]).render(),
            script,
            "</head><body>",
            *body,
            "</body></html>",
        ]
    )


def _stable_ids(script: str, div: str) -> tuple[str, str]:
    """Rename Bokeh's ids (a process-wide counter, and random UUIDs) by order of appearance,
    so the same run gives the same bytes whatever else the process rendered before."""
    found: dict[str, str] = {}
    for match in _IDS.finditer(script + div):
        old = match.group(1)
        found.setdefault(old, f"pt-{len(found) + 1}")
    for old, new in found.items():
        script = script.replace(f'"{old}"', f'"{new}"').replace(f"'{old}'", f"'{new}'")
        div = div.replace(f'"{old}"', f'"{new}"')
    return script, div


# --- plots --------------------------------------------------------------------------------------


def _figures(saved: Saved) -> list[Any]:
    equity = _curve(saved.equity)
    eq = figure(
        title=f"Equity ({saved.summary.get('currency', '')})", x_axis_type="datetime",
        height=_HEIGHT, sizing_mode="stretch_width", tools=_TOOLS, name="equity",
    )  # fmt: skip
    eq.line("t", "v", source=ColumnDataSource(equity), line_width=2, line_color=EQUITY_COLOR,
            name="equity")  # fmt: skip
    eq.yaxis.formatter = NumeralTickFormatter(format="0,0.00")
    eq.add_tools(HoverTool(tooltips=[("time", "@t{%F %T}"), ("equity", "@v{0,0.00}")],
                           formatters={"@t": "datetime"}))  # fmt: skip
    dd = figure(
        title="Drawdown (%)", x_axis_type="datetime", height=_HEIGHT // 2,
        sizing_mode="stretch_width", tools=_TOOLS, x_range=eq.x_range, name="drawdown",
    )  # fmt: skip
    dd.varea("t", y1=0.0, y2="d", source=ColumnDataSource(_drawdown(equity)), fill_alpha=1.0,
             fill_color=DRAWDOWN_COLOR, name="drawdown")  # fmt: skip
    figures = [eq, dd]
    for instrument, series in sorted(saved.prices.items()):
        figures.append(_price_figure(instrument, series, saved, eq))
    return figures


def _price_figure(instrument: str, series: Series, saved: Saved, eq: Any) -> Any:
    fig = figure(
        title=f"{instrument}: price, entries and exits", x_axis_type="datetime",
        height=_HEIGHT, sizing_mode="stretch_width", tools=_TOOLS, x_range=eq.x_range,
        name=f"price {instrument}",
    )  # fmt: skip
    fig.line("t", "v", source=ColumnDataSource(_curve(series)), line_color=PRICE_COLOR,
             name=f"price {instrument}")  # fmt: skip
    fig.yaxis.formatter = NumeralTickFormatter(format="0,0.[00]")
    fills = [f for f in saved.fills if f.instrument == instrument]
    for side, marker, color in (("buy", "triangle", BUY_COLOR),
                                ("sell", "inverted_triangle", SELL_COLOR)):  # fmt: skip
        chosen = [f for f in fills if f.side == side]
        source = ColumnDataSource(
            {
                "t": [f.ts_ns / 1e6 for f in chosen],
                "v": [float(f.price) for f in chosen],
                "strategy": [f.strategy for f in chosen],
                "quantity": [format(f.quantity, "f") for f in chosen],
            }
        )
        fig.scatter("t", "v", source=source, marker=marker, size=11, color=color,
                    legend_label=side, name=f"{side}s {instrument}")  # fmt: skip
    fig.add_tools(HoverTool(tooltips=[("time", "@t{%F %T}"), ("price", "@v"),
                                      ("strategy", "@strategy"), ("quantity", "@quantity")],
                            formatters={"@t": "datetime"}))  # fmt: skip
    fig.legend.location = "top_left"
    return fig


def _curve(series: Series) -> dict[str, list[float]]:
    return {"t": [ts / 1e6 for ts in series.ts_ns], "v": list(series.values)}


def _drawdown(curve: dict[str, list[float]]) -> dict[str, list[float]]:
    peak = float("-inf")
    depth = []
    for value in curve["v"]:
        peak = max(peak, value)
        depth.append(-(peak - value) / peak * 100 if peak > 0 else 0.0)
    return {"t": curve["t"], "d": depth}


# --- tables -------------------------------------------------------------------------------------


def _table(head: Sequence[str], rows: Iterable[Sequence[object]], table_id: str) -> str:
    out = [f'<table id="{table_id}"><tr>' + "".join(f"<th>{_e(h)}</th>" for h in head) + "</tr>"]
    for row in rows:
        out.append("<tr>" + "".join(f"<td>{_e(_text(c))}</td>" for c in row) + "</tr>")
    out.append("</table>")
    return "\n".join(out)


def _note(summary: dict[str, Any]) -> str:
    notes = [summary.get("annualised_note")] + [
        f"{r['count']} rejected: {r['message']} (code {r['code']})"
        for r in summary.get("rejection_reasons", [])
    ]
    return "".join(f'<p class="note">{_e(n)}</p>' for n in notes if n)


def _per_strategy(summary: dict[str, Any]) -> str:
    rows = []
    for name, s in summary.get("per_strategy", {}).items():
        positions = ", ".join(f"{q} {i}" for i, q in s["positions"].items()) or "flat"
        rows.append((name, s["fills"], s["round_trips"], s["open_trips"], s["net_pnl"],
                     s["realised_pnl"], s["fees"], _pct(s["win_rate"]), positions))  # fmt: skip
    head = ("strategy", "fills", "round trips", "open", "net P&L", "realised P&L", "fees",
            "win rate", "positions")  # fmt: skip
    return _table(head, rows, "per-strategy")


def _trips(trips: list[RoundTrip]) -> str:
    head = ("strategy", "instrument", "side", "status", "entry (UTC)", "exit (UTC)", "entry price",
            "exit price", "quantity", "net P&L", "return", "finalizing")  # fmt: skip
    rows = [
        (t.strategy, t.instrument, t.side, t.status, _short_time(t.entry_ns),
         _short_time(t.exit_ns) if t.status == "closed" else "", t.entry_price, t.exit_price,
         t.quantity, t.net_pnl, _pct(t.net_return), "yes" if t.finalizing else "")
        for t in trips[:MAX_TRADE_ROWS]
    ]  # fmt: skip
    more = len(trips) - MAX_TRADE_ROWS
    tail = f'<p class="note">{more} more in trades.csv</p>' if more > 0 else ""
    return '<div class="wide">' + _table(head, rows, "round-trips") + "</div>" + tail


def _fingerprint(summary: dict[str, Any]) -> str:
    fp = summary.get("fingerprint", {})
    rows: list[tuple[str, str]] = [
        ("recording (SHA-256)", fp.get("recording_sha256", "")),
        ("config (SHA-256)", fp.get("config_sha256", "")),
        ("seed", str(fp.get("seed", ""))),
        ("events.jsonl (SHA-256)", fp.get("events_sha256", "")),
        ("papertrade", fp.get("papertrade", "")),
    ]
    for name, digest in fp.get("strategy_sha256", {}).items():
        params = summary.get("strategies", {}).get(name, {})
        listed = ", ".join(f"{k}={v}" for k, v in params.items())
        rows.append((f"strategy {name} (SHA-256)", f"{digest} ({listed})"))
    return _table(("part", "value"), rows, "fingerprint").replace("<td>", '<td class="mono">')


def _short_time(ts_ns: int) -> str:
    """``2025-06-26 16:45:10``: UTC to the second, short enough for a table cell."""
    return iso_time(ts_ns)[:19].replace("T", " ")


def _pct(value: float | None) -> str:
    return "-" if value is None else f"{value:.2%}"


def _text(value: object) -> str:
    if isinstance(value, float):
        return f"{value:,.6g}" if abs(value) < 1e6 else f"{value:,.2f}"
    return "-" if value is None else str(value)


def _e(text: object) -> str:
    return html.escape(str(text))
