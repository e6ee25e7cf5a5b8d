"""The dashboard's one page: Bokeh plots of equity and drawdown, tables, and the script that
keeps them current from the server-sent events.

Built once, when the dashboard starts. Bokeh's JavaScript is inlined, so the page needs
nothing but the run's own server. The script writes table cells with ``textContent`` only (a
strategy's rejection message is shown as text, never as HTML).
"""

from __future__ import annotations

import html
from typing import Final

__all__ = ["render_page"]

_STYLE: Final = """
body { font: 14px system-ui, sans-serif; margin: 1.5em; color: #222; }
h1 { font-size: 1.3em; margin: 0 0 .3em; }
h2 { font-size: 1.05em; margin: 1.4em 0 .4em; }
#headline span { margin-right: 1.6em; }
table { border-collapse: collapse; font-variant-numeric: tabular-nums; }
th, td { padding: .2em .7em; border-bottom: 1px solid #ddd; text-align: left; }
th { background: #f4f4f4; }
.down { color: #b00; font-weight: bold; }
.muted { color: #888; }
"""

_SCRIPT: Final = """
const $ = (id) => document.getElementById(id);
let source = null, updates = 0;
const waiting = [];
function equitySource() {
  if (!source && window.Bokeh && Bokeh.documents.length) {
    source = Bokeh.documents[0].get_model_by_name("equity");
  }
  return source;
}
function fill(id, rows, columns) {
  const body = $(id);
  body.replaceChildren();
  for (const row of rows) {
    const tr = document.createElement("tr");
    for (const c of columns) {
      const td = document.createElement("td");
      td.textContent = row[c] === null || row[c] === undefined ? "" : String(row[c]);
      tr.appendChild(td);
    }
    body.appendChild(tr);
  }
}
function plot(s) {
  const cds = equitySource();
  if (!cds) { waiting.push(s); return; }
  while (waiting.length) { stream(cds, waiting.shift()); }
  stream(cds, s);
}
function stream(cds, s) {
  const data = {t: s.t, equity: s.equity_points, drawdown: s.drawdown};
  if (s.reset) { cds.data = data; } else if (s.t.length) { cds.stream(data); }
  $("points").textContent = cds.data.t.length;
}
function show(s) {
  updates += 1;
  $("updates").textContent = updates;
  $("sim-time").textContent = s.sim_time || "";
  $("equity").textContent = (s.equity ?? 0).toLocaleString("en", {minimumFractionDigits: 2});
  $("currency").textContent = s.currency || "";
  $("frames").textContent = (s.frames_per_s ?? 0).toFixed(0);
  $("fill-count").textContent = s.fill_count;
  $("rejection-count").textContent = s.rejection_count;
  $("open-count").textContent = s.open_order_count ?? 0;
  fill("positions", s.positions || [], ["strategy", "instrument", "quantity", "average_price", "last_price", "unrealised_pnl"]);
  fill("orders", s.open_orders || [], ["id", "strategy", "instrument", "side", "type", "price", "quantity", "state"]);
  fill("fills", s.fills || [], ["time", "strategy", "symbol", "side", "role", "price", "quantity", "fee"]);
  fill("rejections", s.rejections || [], ["time", "strategy", "symbol", "type", "side", "code", "message"]);
  const feeds = (s.feeds || []).map((f) => ({
    name: f.name, state: f.connected ? "connected" : "DOWN",
    age: f.last_frame_age_s === null ? "no frames yet" : f.last_frame_age_s.toFixed(1) + " s",
    rate: f.frames_per_s, frames: f.frames, reconnects: f.reconnects, faults: f.faults,
  }));
  fill("feeds", feeds, ["name", "state", "age", "rate", "frames", "reconnects", "faults"]);
  for (const row of $("feeds").children) {
    if (row.children[1].textContent === "DOWN") row.children[1].className = "down";
  }
  plot(s);
}
const events = new EventSource("events");
events.onmessage = (m) => show(JSON.parse(m.data));
events.onerror = () => { $("link").textContent = "reconnecting"; };
events.onopen = () => { $("link").textContent = "live"; };
setInterval(() => { const cds = equitySource(); if (cds && waiting.length) plot({t: [], equity_points: [], drawdown: [], reset: false}); }, 200);
"""

_TABLES: Final = (
    ("Positions by strategy", "positions",
     ("strategy", "instrument", "quantity", "average price", "last price", "unrealised P&L")),
    ("Open orders (<span id='open-count'>0</span>)", "orders",
     ("order", "strategy", "instrument", "side", "type", "price", "quantity", "state")),
    ("Recent fills (<span id='fill-count'>0</span> in all)", "fills",
     ("time", "strategy", "market", "side", "role", "price", "quantity", "fee")),
    ("Recent rejections (<span id='rejection-count'>0</span> in all)", "rejections",
     ("time", "strategy", "market", "type", "side", "code", "message")),
    ("Feeds", "feeds",
     ("provider", "state", "last frame", "frames/s", "frames", "reconnects", "faults")),
)  # fmt: skip


def render_page(title: str) -> str:
    """The whole HTML page (Bokeh inlined), for a run described by ``title``."""
    from bokeh.embed import components
    from bokeh.layouts import column
    from bokeh.models import ColumnDataSource, DataRange1d, NumeralTickFormatter
    from bokeh.plotting import figure
    from bokeh.resources import Resources

    source = ColumnDataSource(data={"t": [], "equity": [], "drawdown": []}, name="equity")
    equity = figure(
        height=260, sizing_mode="stretch_width", x_axis_type="datetime",
        title="Equity (simulated time)", tools="pan,xwheel_zoom,box_zoom,reset",
    )  # fmt: skip
    equity.line("t", "equity", source=source, line_width=2)
    drawdown = figure(
        height=160, sizing_mode="stretch_width", x_axis_type="datetime", title="Drawdown",
        x_range=equity.x_range, y_range=DataRange1d(flipped=True),
        tools="pan,xwheel_zoom,box_zoom,reset",
    )  # fmt: skip
    drawdown.varea(x="t", y1=0, y2="drawdown", source=source, fill_color="#c33", fill_alpha=0.4)
    drawdown.yaxis.formatter = NumeralTickFormatter(format="0.00%")
    script, div = components(column(equity, drawdown, sizing_mode="stretch_width"))
    resources = Resources(mode="inline", components=["bokeh"])
    tables = "\n".join(_table(*spec) for spec in _TABLES)
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>papertrade: {html.escape(title)}</title>
<style>{_STYLE}</style>
{resources.render_js()}
</head><body>
<h1>papertrade live: {html.escape(title)}</h1>
<div id="headline"><span>simulated time <b id="sim-time"></b></span>
<span>equity <b id="equity"></b> <span id="currency"></span></span>
<span><b id="frames">0</b> frames/s</span>
<span class="muted">equity points <span id="points">0</span>, updates <span id="updates">0</span>,
<span id="link">connecting</span></span></div>
{div}
{tables}
{script}
<script>{_SCRIPT}</script>
</body></html>
"""


def _table(title: str, body_id: str, columns: tuple[str, ...]) -> str:
    head = "".join(f"<th>{html.escape(c)}</th>" for c in columns)
    return f"<h2>{title}</h2>\n<table><thead><tr>{head}</tr></thead><tbody id='{body_id}'></tbody></table>"
