"""A sweep's results as rows: parameters, every summary statistic, fingerprint, wall time.

Statistics are the run's ``summary.json`` as the run wrote it, flattened: a nested table
becomes dotted names (``counts.frames``, ``fees_paid.USDT``); the parameters (already columns)
and the fingerprint (one digest column, plus ``events_sha256``) are left out of the statistics.
Rows are in spec order (the order of the points, then of the recordings), whatever order the
backend finished them in, so ``sweep.csv`` is the same bytes from every backend apart from the
``wall_s`` column. Ranking is by one objective; a point without a value for it (an error, a
null statistic) ranks last, and ties keep spec order.

A null objective is reported, never replaced: the results model leaves a statistic null when
it cannot compute it (``docs/statistics.md``; the annualised ones, Sharpe among them, below 20
daily returns). :func:`null_note` says in one line how many runs have no value, why (the
summaries' own ``annualised_note`` when it is an annualised figure) and, when no run has one,
which statistics do have values in every run.
"""

from __future__ import annotations

import csv
import hashlib
import math
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any, Final

import msgspec

from framework.errors import ConfigError
from framework.report.results import MIN_DAILY_RETURNS
from framework.sweeps.spec import PointResult, RunSpec

__all__ = [
    "Objective", "check_objective", "flatten", "make_rows", "null_note", "rank", "write_csv",
]  # fmt: skip

_NOT_STATISTICS: Final = frozenset({"fingerprint", "strategies"})
_HEAD: Final = ("point", "fold", "phase", "recording")  # identify a row; before the params
_TAIL: Final = ("fingerprint", "events_sha256", "error", "wall_s")
# statistics the results model leaves null below its minimum of daily returns
_ANNUALISED: Final = frozenset({"cagr", "volatility", "sharpe", "sortino", "calmar"})


class Objective(msgspec.Struct, frozen=True):
    """The statistic to rank by, and which way."""

    stat: str
    maximize: bool = True

    def value(self, row: Mapping[str, Any]) -> float | None:
        """The row's objective as a number, or None when it has none (error, null, NaN)."""
        value = row.get(self.stat)
        if isinstance(value, bool) or not isinstance(value, int | float):
            return None
        return None if math.isnan(value) else float(value)

    def better(self, a: float, b: float) -> bool:
        return a > b if self.maximize else a < b

    def describe(self) -> str:
        return f"{'max' if self.maximize else 'min'} {self.stat}"


def flatten(summary: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    """Nested summary tables as dotted names; lists as JSON text; fingerprint left out."""
    out: dict[str, Any] = {}
    for key in sorted(summary):
        if not prefix and key in _NOT_STATISTICS:
            continue
        value = summary[key]
        name = f"{prefix}{key}"
        if isinstance(value, Mapping):
            out.update(flatten(value, name + "."))
        elif isinstance(value, list | tuple):
            out[name] = msgspec.json.encode(value).decode()
        else:
            out[name] = value
    return out


def make_rows(
    specs: Sequence[RunSpec],
    results: Iterable[PointResult],
    extra: Mapping[int, Mapping[str, Any]] | None = None,
) -> list[dict[str, Any]]:
    """One row per spec, in spec order. ``extra`` adds columns by spec index (fold, phase)."""
    by_index = {r.index: r for r in results}
    rows = []
    for spec in specs:
        result = by_index.get(spec.index) or PointResult(index=spec.index, error="not run")
        row: dict[str, Any] = {"point": spec.index, "recording": spec.recording}
        row.update((extra or {}).get(spec.index, {}))
        row.update(spec.params)
        if result.summary is not None:
            row.update(flatten(result.summary))
            fingerprint = result.summary.get("fingerprint", {})
            row["fingerprint"] = _digest(fingerprint)
            row["events_sha256"] = fingerprint.get("events_sha256", "")
        row["error"] = result.error
        row["wall_s"] = round(result.wall_s, 6)
        rows.append(row)
    return rows


def check_objective(objective: Objective, summary: Mapping[str, Any]) -> None:
    """The objective names a numeric statistic of ``summary``; else a ConfigError listing them.

    Checked on the first point that runs, so that a misspelt statistic stops the sweep at once.
    """
    flat = flatten(summary)
    if objective.stat in flat:
        return
    available = sorted(  # numbers, and the statistics this run left null (sharpe ...)
        k
        for k, v in flat.items()
        if (v is None and k != "annualised_note")
        or (isinstance(v, int | float) and not isinstance(v, bool))
    )
    flag = "--maximize" if objective.maximize else "--minimize"
    raise ConfigError(
        f"{flag} {objective.stat}: the run summary has no such statistic; "
        f"available: {', '.join(available)}"
    )


def rank(rows: Sequence[dict[str, Any]], objective: Objective) -> list[dict[str, Any]]:
    """Rows best first; rows with no objective value last; ties in the rows' order."""
    sign = -1.0 if objective.maximize else 1.0

    def key(item: tuple[int, dict[str, Any]]) -> tuple[int, float, int]:
        position, row = item
        value = objective.value(row)
        return (1, 0.0, position) if value is None else (0, sign * value, position)

    return [row for _, row in sorted(enumerate(rows), key=key)]


def null_note(
    rows: Sequence[Mapping[str, Any]], objective: Objective, params: Sequence[str] = ()
) -> str:
    """One line on the runs that ran but have no value for the objective; "" when none.

    Names the statistic, how many runs, why it is null, and, when no run has a value, the
    top-level statistics that have one in every run (what the sweep could rank by instead).
    """
    ran = [row for row in rows if not row.get("error")]
    null = [row for row in ran if objective.value(row) is None]
    if not null:
        return ""
    short = [row["daily_returns"] for row in null if row.get("annualised_note")]
    if objective.stat in _ANNUALISED and len(short) == len(null):
        low, high = min(short), max(short)
        why = f"annualised figures need at least {MIN_DAILY_RETURNS} daily returns; " + (
            f"each run has {low}" if low == high else f"the runs have {low} to {high}"
        )
    elif objective.stat not in ran[0]:
        why = "the summaries have no such field"
    else:
        why = "the results model leaves it null when it cannot be computed (docs/statistics.md)"
    stat = objective.stat
    if len(null) < len(ran):
        return f"{len(null)} of {len(ran)} runs have no value for {stat} (null; ranked last): {why}"
    valued = sorted(
        k for k in ran[0]
        if "." not in k and k not in _HEAD and k not in _TAIL and k not in params
        and all(Objective(k).value(row) is not None for row in ran)
        and not k.endswith("_ns")
    )  # fmt: skip
    return (
        f"no run has a value for {stat} ({why}), so there is no best point; "
        f"statistics with values: {', '.join(valued)}"
    )


def columns_of(rows: Sequence[Mapping[str, Any]], params: Sequence[str]) -> list[str]:
    """CSV columns: identity, parameters, statistics (sorted), fingerprint, error, wall time."""
    present = {k for row in rows for k in row}
    head = [c for c in _HEAD if c in present]
    stats = sorted(present - {*_HEAD, *_TAIL, *params})
    return [*head, *params, *stats, *_TAIL]


def write_csv(
    path: Path,
    rows: Sequence[Mapping[str, Any]],
    params: Sequence[str],
    columns: Sequence[str] | None = None,
) -> None:
    """``sweep.csv`` (or, given ``columns``, any table of rows): a header line, then one line
    per row; absent values are empty cells."""
    columns = columns or columns_of(rows, params)
    with open(path, "w", newline="", encoding="utf-8") as fh:
        writer = csv.writer(fh, lineterminator="\n")
        writer.writerow(columns)
        for row in rows:
            writer.writerow([_cell(row.get(c)) for c in columns])


def _cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return repr(value)
    return str(value)


def _digest(fingerprint: Mapping[str, Any]) -> str:
    """One SHA-256 over the run's fingerprint (recording, config, strategy, seed, events)."""
    return hashlib.sha256(msgspec.json.encode(fingerprint, order="sorted")).hexdigest()
