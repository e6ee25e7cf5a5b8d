"""``papertrade report OUTDIR``: write report.html for a finished run's folder.

The page is rendered from the run's results model (``results.json``), exactly as
``papertrade run ... --report`` renders it at the end of the run.
"""

from __future__ import annotations

from pathlib import Path

import click

__all__ = ["report", "write_run_report"]


def write_run_report(out_dir: Path, target: Path | None = None) -> Path:
    """Render ``out_dir``'s results model to ``target`` (default ``out_dir/report.html``).

    Raises:
        ConfigError: ``out_dir`` holds no results.json papertrade wrote.
    """
    from framework.report.html import write_report  # Bokeh loads only when a report is asked
    from framework.report.results import load_saved

    return write_report(load_saved(out_dir), target or out_dir / "report.html")


@click.command("report")
@click.argument("out_dir", type=click.Path(path_type=Path))
@click.option(
    "--out",
    "target",
    type=click.Path(path_type=Path),
    default=None,
    help="Where to write the page (default: OUT_DIR/report.html).",
)
def report(out_dir: Path, target: Path | None) -> None:
    """Write report.html for the run in OUT_DIR: one self-contained page (opens offline) with
    equity, drawdown, prices with entries and exits, statistics, round trips and the run's
    fingerprint."""
    path = write_run_report(out_dir, target)
    click.echo(f"wrote {path}")
