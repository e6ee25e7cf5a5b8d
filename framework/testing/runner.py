"""Run strategies on a recording or a :class:`Scenario` and collect what they did.

:func:`run_strategy` replays through ``framework.run.replay_engine``, exactly as
``papertrade run`` does, then reads the run's own output files back into a
:class:`RunResult`: the private events as ``events.jsonl`` holds them, and the fills and round
trips from the run's results model as ``results.json`` keeps it (the same model ``fills.csv``
and ``trades.csv`` are written from), so a test asserts on what a user would see.

This module must not read the wall clock or use unseeded randomness; it writes only under the
directory it is given (or a temporary one it removes).
"""

from __future__ import annotations

import inspect
import tempfile
from collections.abc import Sequence
from decimal import Decimal
from pathlib import Path
from typing import Any, Final

import msgspec

from framework import events as ev
from framework.bundled import resolve_recording
from framework.config import Config, load_config
from framework.diff import Side, replay_stamped, stamped_folder
from framework.errors import ConfigError
from framework.report.results import Fill as ModelFill
from framework.report.results import RoundTrip, load_saved
from framework.run import RunSetup, sha256_file
from framework.strategy import Strategy
from framework.testing.golden import assert_matches_golden
from framework.testing.scenario import Scenario

__all__ = ["Fill", "RunResult", "run_strategy"]

_PRIVATE: Final[dict[str, msgspec.json.Decoder[Any]]] = {
    "order_update": msgspec.json.Decoder(ev.OrderUpdate),
    "deal_update": msgspec.json.Decoder(ev.DealUpdate),
    "balance_update": msgspec.json.Decoder(ev.BalanceUpdate),
    "order_rejected": msgspec.json.Decoder(ev.OrderRejected),
}


class _Method(msgspec.Struct):
    method: str  # which private frame a line of events.jsonl is


_METHOD: Final = msgspec.json.Decoder(_Method)


class Fill(msgspec.Struct, frozen=True, kw_only=True):
    """One fill of one of the strategy's orders, as ``fills.csv`` records it (money exact)."""

    strategy: str  # the strategy whose order filled
    ts_ns: int  # when it filled, simulated time (whole seconds, as Cryptomus stamps deals)
    order_id: str
    deal_id: str
    symbol: str  # Cryptomus spelling, "BTC_USDT"
    direction: str  # "buy" | "sell"
    role: str  # "maker" | "taker"
    price: Decimal
    quantity: Decimal
    value: Decimal
    fee: Decimal
    fee_currency: str


class RunResult:
    """What a strategy did in one run. Money is Decimal; lists are in event order.

    Attributes:
        strategies: the strategy instances, after ``on_stop`` (inspect their state freely).
        events: every private event, as the run's ``events.jsonl`` holds it.
        orders: each order's last known state (``OrderInfo``), in creation order.
        fills: every fill, with its order's direction and strategy.
        round_trips: every round trip, as ``trades.csv`` lists them (closed ones, then those
            still open at the end, marked at the last price).
        rejections: why each refused order or cancel was refused.
        balances: each currency's final total (available plus held), by currency code.
        available: each currency's final available amount.
        summary: the run's ``summary.json`` content (equity, return, counts, fingerprint).
        out_dir: the output directory, or None when it was temporary and is gone.
    """

    def __init__(
        self,
        strategies: list[Strategy],
        balances: dict[str, tuple[Decimal, Decimal]],
        positions: dict[str, Decimal],
        summary: dict[str, Any],
        out_dir: Path,
        keep: bool,
        side: Side,
    ) -> None:
        self.strategies = strategies
        self.summary = summary
        self.side = side
        self.events = _read_events(out_dir / "events.jsonl")
        saved = load_saved(out_dir)  # the run keeps no list of them in memory
        self.fills = [_fill(f) for f in saved.fills]
        self.round_trips: list[RoundTrip] = saved.round_trips
        orders: dict[str, ev.OrderInfo] = {}
        for event in self.events:
            if isinstance(event, ev.OrderUpdate):
                orders[event.data.info.id] = event.data.info
        self.orders = list(orders.values())
        self.rejections = [e.data.info for e in self.events if isinstance(e, ev.OrderRejected)]
        self.balances = {cur: available + held for cur, (available, held) in balances.items()}
        self.available = {cur: available for cur, (available, _) in balances.items()}
        self._positions = positions
        self.out_dir = out_dir if keep else None

    @property
    def strategy(self) -> Strategy:
        """The (first) strategy instance."""
        return self.strategies[0]

    @property
    def buys(self) -> list[Fill]:
        """The buy fills."""
        return [f for f in self.fills if f.direction == "buy"]

    @property
    def sells(self) -> list[Fill]:
        """The sell fills."""
        return [f for f in self.fills if f.direction == "sell"]

    def position(self, instrument: str) -> Decimal:
        """The final total balance of the instrument's base currency (``BTC`` for BTC/USDT)."""
        return self._positions.get(instrument, Decimal(0))

    def assert_no_rejections(self) -> None:
        """Fail, listing them, if any order or cancel was refused."""
        if self.rejections:
            listed = "; ".join(f"{r.orderType} {r.direction} {r.symbol}: [{r.code}] {r.message}"
                               for r in self.rejections)  # fmt: skip
            raise AssertionError(f"{len(self.rejections)} rejected: {listed}")

    def assert_balance(self, currency: str, expected: Decimal | str) -> None:
        """Fail unless the final total of ``currency`` is exactly ``expected``."""
        actual = self.balances.get(currency, Decimal(0))
        if actual != Decimal(expected):
            raise AssertionError(
                f"{currency} balance is {actual}, expected {expected}\n{self.describe()}"
            )

    def assert_matches_golden(self, folder: str | Path, *, update: bool | None = None) -> None:
        """Fail unless the private events, fills and statistics equal a stored golden run.

        The first run (no golden folder yet), ``pytest --papertrade-update-golden`` or
        ``update=True`` writes the folder instead. A mismatch fails with the first divergence
        as ``papertrade diff`` shows it. A relative ``folder`` is under pytest's rootdir.
        """
        __tracebackhide__ = True
        assert_matches_golden(self.side, folder, update=update)

    @property
    def unfinished_orders(self) -> list[ev.OrderInfo]:
        """Orders still open when the run ended (no ``finished`` update), in creation order."""
        finished = {e.data.info.id for e in self.events
                    if isinstance(e, ev.OrderUpdate) and e.data.type == "finished"}  # fmt: skip
        return [o for o in self.orders if o.id not in finished]

    @property
    def max_position(self) -> Decimal:
        """The largest net quantity bought (buys minus sells, from the fills) of any one
        market at any point of the run."""
        held: dict[str, Decimal] = {}
        peak = Decimal(0)
        for fill in self.fills:
            signed = fill.quantity if fill.direction == "buy" else -fill.quantity
            held[fill.symbol] = held.get(fill.symbol, Decimal(0)) + signed
            peak = max(peak, held[fill.symbol])
        return peak

    def describe(self) -> str:
        """The orders, fills and balances, one per line: a readable account of the run."""
        lines = [f"order {o.id} {o.orderType} {o.direction} {o.symbol} qty {o.quantity} "
                 f"filled {o.filledQuantity} {o.state or 'open'}" for o in self.orders]  # fmt: skip
        lines += [f"fill {f.direction} {f.quantity} @ {f.price} ({f.role}, fee {f.fee} "
                  f"{f.fee_currency})" for f in self.fills]  # fmt: skip
        lines += [f"rejected {r.direction} {r.orderType}: {r.message}" for r in self.rejections]
        lines += [f"balance {cur} {amount:f}" for cur, amount in self.balances.items()]
        return "\n".join(lines)


def run_strategy(
    strategy: type[Strategy] | Sequence[type[Strategy]],
    source: Scenario | str | Path,
    *,
    config: Config | str | Path | None = None,
    params: dict[str, Any] | None = None,
    seed: int = 0,
    tmp_path: str | Path | None = None,
) -> RunResult:
    """Replay a recording or a scenario through strategies, as ``papertrade run`` does.

    Args:
        strategy: a Strategy class, or several (delivered to in that order).
        source: a :class:`Scenario`, the path of a recording, or a bundled recording's name
            (``"cryptomus-btc-usdt"``).
        config: a :class:`~framework.config.Config`, a TOML file, or None for the defaults.
            Unlike ``papertrade run --replay``, positions are not closed at the end unless
            the config sets ``[run] finalize = true``.
        params: strategy parameters (``{"fast": 5}`` or ``{"SmaCrossover.fast": 5}``), applied
            over the config's.
        seed: seeds order ids.
        tmp_path: where the scenario recording and the run's output files go (pytest's
            ``tmp_path``); None uses a temporary directory removed before returning.

    Raises:
        ConfigError: a bad config or parameter, or a scenario whose frames did not decode.
        RecordingError: the recording cannot be read.
        StrategyError: a strategy callback raised.
    """
    classes = (strategy,) if isinstance(strategy, type) else tuple(strategy)
    if not isinstance(config, Config):
        config = load_config(config)
    if params:
        config = msgspec.structs.replace(config, params={**config.params, **params})
    if config.run.finalize is None:  # a test asserts what the strategy did: no close-out
        config = msgspec.structs.replace(
            config, run=msgspec.structs.replace(config.run, finalize=False)
        )
    setup = RunSetup(
        strategies=classes,
        strategy_sources={cls.__name__: _source_digest(cls) for cls in classes},
        config=config,
        seed=seed,
    )
    if tmp_path is not None:
        return _run(setup, source, Path(tmp_path), keep=True)
    with tempfile.TemporaryDirectory(prefix="papertrade-test-") as tmp:
        return _run(setup, source, Path(tmp), keep=False)


# --- running ------------------------------------------------------------------------------------


def _run(setup: RunSetup, source: Scenario | str | Path, work: Path, keep: bool) -> RunResult:
    recording = (
        source.write(work / "scenario.jsonl")
        if isinstance(source, Scenario)
        else resolve_recording(source)
    )
    out_dir = work / "out"
    summary, engine, stamps = replay_stamped(setup, recording, out_dir)
    if isinstance(source, Scenario) and engine.stats.decode_errors:
        raise ConfigError(
            f"{engine.stats.decode_errors} scenario frame(s) did not decode (see the warning "
            "logged); a bar interval other than 1m needs a Finazon codec that accepts it"
        )
    exchange = engine.exchange
    positions = {name: exchange.position(name) for name in setup.config.exchange.markets}
    label = "this run" if isinstance(source, Scenario) else f"this run on {recording.name}"
    side = stamped_folder(out_dir, stamps, label)
    return RunResult(
        list(engine.strategies), exchange.balances(), positions, summary, out_dir, keep,
        side,
    )  # fmt: skip


def _source_digest(cls: type[Strategy]) -> str:
    try:
        source = inspect.getsourcefile(cls)
    except (OSError, TypeError):  # defined in a REPL or exec'd text: no file to hash
        return ""
    return sha256_file(Path(source)) if source else ""


def _read_events(path: Path) -> list[ev.PrivateEvent]:
    out: list[ev.PrivateEvent] = []
    for line in path.read_bytes().splitlines():
        method = _METHOD.decode(line).method
        out.append(_PRIVATE[method].decode(line))
    return out


def _fill(fill: ModelFill) -> Fill:
    return Fill(
        strategy=fill.strategy, ts_ns=fill.ts_ns, order_id=fill.order_id, deal_id=fill.deal_id,
        symbol=fill.symbol, direction=fill.side, role=fill.role, price=fill.price,
        quantity=fill.quantity, value=fill.value, fee=fill.fee, fee_currency=fill.fee_currency,
    )  # fmt: skip
