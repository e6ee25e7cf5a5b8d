"""``sweep.html``: the ranked points, a heatmap of the objective, and the walk-forward folds.

One self-contained file that opens offline: Bokeh's JavaScript is inlined (only the core
library, no widgets), the tables are plain HTML. The heatmap shows the objective over the first
two parameters that take more than one value; where other parameters vary too, a cell shows the
best value over them. Every text that comes from the user (parameter names and values, errors)
is escaped.
"""

from __future__ import annotations

import html
import math
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, Final

from framework.sweeps.results import Objective

__all__ = ["write_html"]

_SHOWN_STATS: Final = ("total_return", "sharpe", "max_drawdown", "round_trips", "win_rate", "fills")
_MAX_ROWS: Final = 500  # the ranked table is for reading; sweep.csv has every row
_STYLE: Final = """
body { font: 14px/1.4 system-ui, sans-serif; margin: 24px; color: #222; }
table { border-collapse: collapse; margin: 12px 0 24px; }
th, td { padding: 3px 10px; border-bottom: 1px solid #ddd; text-align: right; }
th { background: #f4f4f4; position: sticky; top: 0; }
td.error { color: #b00; text-align: left; }
tr.best td { background: #eef7ee; font-weight: 600; }
.meta { color: #555; }
"""
# Written into the page once Bokeh has drawn: how many canvases its views hold (inside their
# shadow roots), so that a headless browser can tell the plot really rendered.
_RENDERED_PROBE: Final = """
<script>
window.addEventListener("load", function () {
  var tries = 0;
  function canvases(root) {
    var n = 0;
    root.querySelectorAll("*").forEach(function (el) {
      if (el.tagName === "CANVAS") n += 1;
      if (el.shadowRoot) n += canvases(el.shadowRoot);
    });
    return n;
  }
  (function check() {
    var n = canvases(document);
    if (n > 0 || tries++ > 200) { document.body.setAttribute("data-canvases", String(n)); return; }
    setTimeout(check, 25);
  })();
});
</script>
"""


def write_html(
    path: Path,
    title: str,
    ranked: Sequence[Mapping[str, Any]],
    params: Sequence[str],
    objective: Objective,
    folds: Sequence[Mapping[str, Any]] = (),
) -> None:
    """Write the page: heading, heatmap (two or more varied parameters), folds, ranked table."""
    from bokeh.embed import components
    from bokeh.resources import Resources

    varied = [p for p in params if len({_text(r.get(p)) for r in ranked}) > 1]
    plot_html, plot_script = "", ""
    if len(varied) >= 2:
        plot_script, plot_html = components(_heatmap(ranked, varied[0], varied[1], objective))
    resources = Resources(mode="inline", components=["bokeh"]).render_js()
    parts = [
        "<!DOCTYPE html>\n<html lang='en'><head><meta charset='utf-8'>",
        f"<title>{html.escape(title)}</title><style>{_STYLE}</style>",
        resources, plot_script, _RENDERED_PROBE, "</head><body>",
        f"<h1>{html.escape(title)}</h1>",
        f"<p class='meta'>{len(ranked)} runs, ranked by {html.escape(objective.describe())}.</p>",
    ]  # fmt: skip
    if plot_html:
        parts.append(f"<div id='heatmap'>{plot_html}</div>")
    if folds:
        parts.append("<h2>Walk-forward folds</h2>")
        parts.append(_table("folds", folds, list(folds[0].keys()), best=None))
    columns = ["rank", *params, objective.stat]
    columns += [s for s in _SHOWN_STATS if s != objective.stat and any(s in r for r in ranked)]
    columns += ["error"]
    shown = [{"rank": i + 1, **row} for i, row in enumerate(ranked[:_MAX_ROWS])]
    parts.append(f"<h2>Runs, best first</h2>{_table('ranked', shown, columns, best=0)}")
    if len(ranked) > _MAX_ROWS:
        parts.append(
            f"<p class='meta'>The first {_MAX_ROWS} of {len(ranked)}; all in sweep.csv.</p>"
        )
    parts.append("</body></html>\n")
    path.write_text("\n".join(parts), encoding="utf-8")


def _heatmap(rows: Sequence[Mapping[str, Any]], x: str, y: str, objective: Objective) -> Any:
    from bokeh.models import (
        BasicTicker,
        ColumnDataSource,
        FactorRange,
        HoverTool,
        LinearColorMapper,
    )
    from bokeh.models.annotations import ColorBar
    from bokeh.palettes import Viridis256
    from bokeh.plotting import figure

    cells: dict[tuple[str, str], float | None] = {}
    for row in rows:
        key = (_text(row.get(x)), _text(row.get(y)))
        value = objective.value(row)
        old = cells.get(key)
        if key not in cells or (
            value is not None and (old is None or objective.better(value, old))
        ):
            cells[key] = value
    xs = _axis_order(rows, x)
    ys = _axis_order(rows, y)
    values = [v for v in cells.values() if v is not None]
    mapper = LinearColorMapper(
        palette=Viridis256 if objective.maximize else tuple(reversed(Viridis256)),
        low=min(values, default=0.0),
        high=max(values, default=1.0),
        nan_color="#dddddd",
    )
    source = ColumnDataSource(
        {
            "x": [k[0] for k in cells],
            "y": [k[1] for k in cells],
            "value": [math.nan if v is None else v for v in cells.values()],
        }
    )
    fig = figure(
        title=f"{objective.stat} by {x} and {y}", x_range=FactorRange(factors=xs), y_range=FactorRange(factors=ys),
        x_axis_label=x, y_axis_label=y, width=720, height=480, toolbar_location=None,
    )  # fmt: skip
    fig.rect("x", "y", 1, 1, source=source, line_color="white",
             fill_color={"field": "value", "transform": mapper})  # fmt: skip
    fig.add_tools(HoverTool(tooltips=[(x, "@x"), (y, "@y"), (objective.stat, "@value")]))
    fig.add_layout(ColorBar(color_mapper=mapper, ticker=BasicTicker()), "right")
    return fig


def _axis_order(rows: Sequence[Mapping[str, Any]], name: str) -> list[str]:
    """A parameter's values as category labels, in numeric order where they are numbers."""
    values = {row[name] for row in rows if row.get(name) is not None}
    numbers = all(isinstance(v, int | float) and not isinstance(v, bool) for v in values)
    ordered = sorted(values) if numbers else sorted(values, key=_text)
    return [_text(v) for v in ordered]


def _table(
    table_id: str, rows: Sequence[Mapping[str, Any]], columns: Sequence[str], best: int | None
) -> str:
    head = "".join(f"<th>{html.escape(c)}</th>" for c in columns)
    body = []
    for i, row in enumerate(rows):
        cells = []
        for c in columns:
            css = " class='error'" if c == "error" else ""
            cells.append(f"<td{css}>{html.escape(_text(row.get(c)))}</td>")
        css = " class='best'" if i == best and not row.get("error") else ""
        body.append(f"<tr{css}>{''.join(cells)}</tr>")
    return f"<table id='{table_id}'><thead><tr>{head}</tr></thead><tbody>{''.join(body)}</tbody></table>"


def _text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, float):
        return f"{value:.6g}"
    return str(value)
