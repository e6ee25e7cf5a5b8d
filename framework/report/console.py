"""The end-of-run console view: a compact table of the main statistics, one line per rejection
reason with its count, and where the files went.

A view of ``summary.json``'s content as the run built it (never of the file read back). It
prints with rich, which leaves out colour when the output is not a terminal.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Final

from rich import box
from rich.console import Console
from rich.table import Table

__all__ = ["print_summary", "summary_rows"]

_DASH: Final = "-"


def summary_rows(summary: dict[str, Any]) -> list[tuple[str, str]]:
    """The (label, value) rows of the console table, in display order."""
    s = summary
    counts = s.get("counts", {})
    currency = s["currency"]
    return [
        (
            "period",
            f"{s['first_time']} .. {s['last_time']}"
            if s["first_time"]
            else "none (no line after the header)",
        ),
        ("equity", f"{s['initial_equity']:,.2f} -> {s['final_equity']:,.2f} {currency}"),
        ("return", _pct(s["total_return"])),
        ("buy and hold", _pct(s.get("buy_and_hold_return"))),
        ("CAGR", _pct(s.get("cagr"))),
        ("sharpe / sortino", f"{_num(s.get('sharpe'))} / {_num(s.get('sortino'))}"),
        ("max drawdown", _pct(s["max_drawdown"])),
        ("exposure", _pct(s["exposure"], 1)),
        ("orders / fills", f"{s['orders']} / {s['fills']} ({s['rejections']} rejected)"),
        (
            "round trips",
            f"{s['round_trips']} closed, {s.get('open_trips', 0)} open "
            f"(win rate {_pct(s.get('win_rate'), 1)})",
        ),
        ("profit factor", _num(s.get("profit_factor"))),
        ("fees", ", ".join(f"{v} {k}" for k, v in s["fees_paid"].items()) or "none"),
        (
            "frames",
            f"{counts.get('frames', 0)} ({counts.get('decode_errors', 0)} undecodable, "
            f"{counts.get('corrupt_lines', 0)} corrupt lines)",
        ),
    ]


def print_summary(summary: dict[str, Any], out_dir: Path) -> None:
    """Print the table, the rejection reasons, any note on annualised figures, and the files."""
    console = Console(highlight=False, soft_wrap=True)
    table = Table(box=box.SIMPLE_HEAD, show_header=False, pad_edge=False)
    table.add_column(style="bold")
    table.add_column()
    for label, value in summary_rows(summary):
        table.add_row(label, value)
    console.print(table)
    for reason in summary.get("rejection_reasons", []):
        console.print(
            f"{reason['count']} rejected: {reason['message']} (code {reason['code']})",
            markup=False,
        )
    if summary.get("annualised_note"):
        console.print(f"note: {summary['annualised_note']}", markup=False)
    if summary.get("error"):
        console.print(f"stopped early: {summary['error']}", markup=False)
    console.print(f"output: {out_dir}", markup=False)


def _pct(value: float | None, digits: int = 2) -> str:
    return _DASH if value is None else f"{value:.{digits}%}"


def _num(value: float | None) -> str:
    return _DASH if value is None else f"{value:.3f}"
