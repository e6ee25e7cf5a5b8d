"""The Finazon emulator: ``/v1?apikey=``, bar subscriptions, heartbeat and reset.

Every rule it enforces is in :data:`RULES`, with its source (the Finazon page,
``shared/seeds/000``, and protocols.md section 2) or marked assumed; the README's ``serve``
section tables them. Finazon publishes no error table, so the error codes and the texts not
quoted below are this emulator's choice. In short:

* **Key.** A bad ``apikey`` gets an error frame and a close with 1008; so does a connection
  over ``max_connections`` per key. Unless strict, the page's placeholder ``your_api_key``
  is a key.
* **Subscribe.** Acked ``SUCCESS_SUBSCRIPTION`` with the tickers accepted, ``request_id``
  echoed. Any well-formed ticker of a documented dataset is served (``BASE/QUOTE`` on the
  crypto datasets, ``AAPL`` on the US-stock ones; a market derived from it,
  ``synthetic.params_for``). A malformed ticker gets "The ticker X you have specified is
  unrecognized or unsupported." (the others stay subscribed); tickers already subscribed get
  "You are already subscribed to ticker: A, B."; a bad ``frequency``, ``aggregation``,
  ``channel``, dataset or a missing field gets an error frame and subscribes nothing. A
  subscription is a ticker of a dataset at one frequency.
* **Others.** ``unsubscribe`` is acked ``SUCCESS_UNSUBSCRIPTION``; ``reset`` clears everything
  without a reply; ``heartbeat`` gets ``{"event":"heartbeat","status":"success"}``. WebSocket
  pings are answered by trio-websocket.
* **Limits.** More than ``max_events_per_minute`` client messages in any 60 s, or one over
  ``max_frame_bytes``, gets an error frame and is not served (and closes the connection if
  ``close_on_limit``). Finazon documents no idle timeout; ``idle_timeout`` can set one.

Bars: ``wire.FinazonRenderer`` renders the seeded model's forming bars at each subscriber's
frequency, ``t`` repeating while the minute forms; a recording's bars are passed on to
subscribers of the same frequency, and thinned for a slower one.

This module must not log an API key unredacted or read the wall clock.
"""

from __future__ import annotations

import math
import re
from collections import deque
from collections.abc import Collection, Mapping, Sequence
from typing import Final, Unpack

import msgspec
import trio
from msgspec import UNSET, UnsetType

from framework import instruments
from framework.emulators.market import Happening, MarketParams
from framework.emulators.rules import Leniency, Rule
from framework.emulators.server import (
    Batch,
    Connection,
    EmulatorServer,
    Generated,
    HarnessOptions,
    ModelSource,
    Recorded,
    Rejection,
)
from framework.emulators.synthetic import params_for
from framework.emulators.wire import FinazonRenderer
from framework.errors import ProviderProtocolError
from framework.providers import finazon as wire
from framework.redact import register_secret

__all__ = [
    "DEFAULT_API_KEY",
    "DEFAULT_DATASETS",
    "DOCUMENTED_DATASETS",
    "RULES",
    "SAMPLE_API_KEY",
    "FinazonEmulator",
    "market_source",
]

DEFAULT_API_KEY: Final = "papertrade-emulator-finazon-key"
DEFAULT_DATASETS: Final[Mapping[str, tuple[str, ...]]] = {
    "kucoin": ("BTC/USDT", "ETH/USDT"),
    "us_stocks_essential": ("AAPL.US",),
}
"""Dataset code -> canonical instruments it streams."""
SAMPLE_API_KEY: Final = "your_api_key"  # the placeholder in the page's sample
STOCK_DATASETS: Final = frozenset({"sip_pro", "sip_non_pro", "us_stocks_essential", "nlsp"})
DOCUMENTED_DATASETS: Final = STOCK_DATASETS | {
    "binance", "bybit", "coinbase", "kucoin", "huobi", "uniswap",
}  # fmt: skip
"""The datasets with a WebSocket reference page (protocols.md 2.3)."""
_PAGE: Final = "seed 000 (Finazon page)"
KEY = Rule(
    name="api key", enforces="`?apikey=` in the URL; a bad one gets an `INVALID_API_KEY` error frame, then close 1008",
    source="protocols.md 2.1 (the frame and close are assumed)", documented=True,
)  # fmt: skip
PLACEHOLDER = Rule(
    name="placeholder key", enforces=f"the page's `{SAMPLE_API_KEY}` is not a key",
    source=f"{_PAGE}: the sample connects with it", documented=False,
    lenient=f"`{SAMPLE_API_KEY}` is accepted, counted",
)  # fmt: skip
SUBSCRIBE = Rule(
    name="subscribe",
    enforces="`channel` bars, `frequency` 1s/10s/1m, `aggregation` 1m, `dataset` and `tickers` required; acked `SUCCESS_SUBSCRIPTION` with the tickers, `request_id` echoed; anything else gets an error frame",
    source=f"{_PAGE} (the error frames are assumed)", documented=True,
)  # fmt: skip
TICKERS = Rule(
    name="tickers",
    enforces="any well-formed ticker of a documented dataset is served; a malformed one gets \"The ticker X you have specified is unrecognized or unsupported.\", the others stay subscribed",
    source="protocols.md 2.3, 2.5 (the text is third-party; serving every well-formed ticker is assumed)",
    documented=False,
)  # fmt: skip
ALREADY = Rule(
    name="already subscribed", enforces="\"You are already subscribed to ticker: A, B.\"",
    source="protocols.md 2.5 (third-party)", documented=False,
)  # fmt: skip
UNSUBSCRIBE = Rule(
    name="unsubscribe and reset",
    enforces="`unsubscribe` acked `SUCCESS_UNSUBSCRIPTION`; `reset` clears everything, no reply",
    source=_PAGE, documented=True,
)  # fmt: skip
HEARTBEAT = Rule(
    name="heartbeat", enforces='`heartbeat` gets `{"event":"heartbeat","status":"success"}`; WebSocket pings get pongs',
    source=f"{_PAGE} (the reply's shape is third-party, protocols.md 2.3)", documented=True,
)  # fmt: skip
EVENT_RATE = Rule(
    name="100 events per minute", enforces="the 101st client message in 60 s, or one over 100 KB, gets an error frame and is not served",
    source="protocols.md 2.2 (the reply is assumed)", documented=True,
)  # fmt: skip
CONNECTIONS = Rule(
    name="connections per key", enforces="a 4th connection per key gets an error frame and close 1008",
    source="protocols.md 2.2 (3 on the dataset pages, 5 on the generic one; the reply is assumed)",
    documented=True,
)  # fmt: skip
BARS = Rule(
    name="bars", enforces="the forming 1-minute bar at the subscribed frequency, `t` its open in seconds, OHLCV as JSON numbers",
    source=f"{_PAGE}; protocols.md 2.4", documented=True,
)  # fmt: skip
RULES: Final = (
    KEY, PLACEHOLDER, SUBSCRIBE, TICKERS, ALREADY, UNSUBSCRIBE, HEARTBEAT, EVENT_RATE,
    CONNECTIONS, BARS,
)  # fmt: skip
"""Every rule this emulator enforces, documented or assumed."""
_PAIR: Final = re.compile(r"^[A-Z0-9]{1,12}/[A-Z0-9]{2,12}$")
_STOCK: Final = re.compile(r"^[A-Z][A-Z0-9.]{0,9}$")
REFUSE_CLOSE: Final = 1008  # policy violation: bad key, too many connections, over a limit
IDLE_CLOSE: Final = 1000
_NS: Final = 1_000_000_000
_WINDOW_S: Final = 60.0
_FREQUENCY_NS: Final = {"1s": _NS, "10s": 10 * _NS, "1m": 60 * _NS}
_PUBLISHERS: Final = {"us_stocks_essential": "finazon"}  # p differs from d (third-party seen)
_PARAM_CODES: Final = {
    "$.frequency": ("INVALID_FREQUENCY", "frequency must be one of 1s, 10s, 1m"),
    "$.aggregation": ("INVALID_AGGREGATION", "aggregation must be 1m"),
    "$.channel": ("INVALID_CHANNEL", "channel must be bars"),
    "$.event": ("INVALID_EVENT", "event must be subscribe, unsubscribe, heartbeat or reset"),
}
_ENCODER: Final = msgspec.json.Encoder()
_ANY: Final = msgspec.json.Decoder()
_CANDLE: Final = msgspec.json.Decoder(wire.CandleUpdate)

Key = tuple[str, str, str]  # (dataset, ticker, frequency)


class _Subs:
    """One connection: its subscriptions and its event-rate window."""

    def __init__(self) -> None:
        self.keys: dict[Key, int] = {}  # subscription -> last time bucket sent (thinning)
        self.events: deque[float] = deque()  # times of client messages in the last minute


class FinazonEmulator(EmulatorServer):
    """A strict Finazon server on loopback; see the module docstring.

    Args:
        api_keys: the valid keys; defaults to :data:`DEFAULT_API_KEY`.
        datasets: dataset code -> canonical instruments it streams (``AAPL.US`` is ``AAPL``).
        max_connections: connections per key (3 on the dataset pages, 5 on the generic one).
        max_events_per_minute: client messages allowed in any 60 seconds.
        max_frame_bytes: the largest client message served.
        close_on_limit: close with 1008 after the error when a limit is exceeded.
        idle_timeout: close a connection silent this long (None: never; not documented).
        strict: refuse the page's placeholder key (see :data:`RULES`).
        **options: the harness's options (``source``, ``faults``, ``speed``, ``port``...).
    """

    name = "finazon"

    def __init__(
        self,
        *,
        api_keys: Collection[str] = (DEFAULT_API_KEY,),
        datasets: Mapping[str, Sequence[str]] = DEFAULT_DATASETS,
        max_connections: int = 3,
        max_events_per_minute: int = 100,
        max_frame_bytes: int = 100_000,
        close_on_limit: bool = False,
        idle_timeout: float | None = None,
        strict: bool = False,
        **options: Unpack[HarnessOptions],
    ) -> None:
        super().__init__(**options)
        self.leniency = Leniency(self.name, strict=strict)
        self.api_keys = frozenset(api_keys)
        for key in self.api_keys:
            register_secret(key)
        self.datasets = {name: dict[str, str]() for name in sorted(DOCUMENTED_DATASETS)}
        for name, members in datasets.items():
            self.datasets[name] = {instruments.to_finazon(i): i for i in members}
        self.max_connections = max_connections
        self.max_events_per_minute = max_events_per_minute
        self.max_frame_bytes = max_frame_bytes
        self.close_on_limit = close_on_limit
        self.idle_timeout = idle_timeout
        self._renderers: dict[Key, FinazonRenderer] = {}
        self._sessions: dict[int, tuple[Connection, _Subs, str]] = {}

    def check_handshake(self, path: str, query: dict[str, str]) -> Rejection | None:
        """Only ``/v1`` exists."""
        return None if path == "/v1" else Rejection(404)

    async def session(self, conn: Connection) -> None:
        """Check the key and the cap, then serve client events."""
        key = conn.query.get("apikey", "")
        known = key in self.api_keys or (
            key == SAMPLE_API_KEY and self.leniency.waive(PLACEHOLDER, f"#{conn.id}")
        )
        if not known or self.take_auth_fault():  # rule KEY
            conn.reply(_error("INVALID_API_KEY", "invalid api key"))
            conn.close(REFUSE_CLOSE, "invalid api key")
            return
        if (
            sum(1 for *_, k in self._sessions.values() if k == key) >= self.max_connections
        ):  # rule CONNECTIONS
            text = f"too many connections: at most {self.max_connections} per api key"
            conn.reply(_error("TOO_MANY_CONNECTIONS", text))
            conn.close(REFUSE_CLOSE, "too many connections")
            return
        subs = _Subs()
        self._sessions[conn.id] = (conn, subs, key)
        idle = math.inf if self.idle_timeout is None else self.idle_timeout
        try:
            while not conn.closing:
                message = await conn.receive(conn.last_received_at + idle)
                if message is None:
                    conn.close(IDLE_CLOSE, "idle timeout")
                elif self._within_limits(conn, subs, message):
                    self._on_message(conn, subs, message)
        finally:
            del self._sessions[conn.id]

    def _within_limits(self, conn: Connection, subs: _Subs, message: str | bytes) -> bool:
        # Rule EVENT_RATE.
        now = trio.current_time()
        while subs.events and subs.events[0] <= now - _WINDOW_S:
            subs.events.popleft()
        subs.events.append(now)
        if len(message) > self.max_frame_bytes:
            text = f"message of {len(message)} bytes, over {self.max_frame_bytes}"
            conn.reply(_error("MESSAGE_TOO_LARGE", text, _request_id(message)))
        elif len(subs.events) > self.max_events_per_minute:
            text = f"too many event messages: at most {self.max_events_per_minute} per minute"
            conn.reply(_error("TOO_MANY_REQUESTS", text, _request_id(message)))
        else:
            return True
        if self.close_on_limit:
            conn.close(REFUSE_CLOSE, "limit exceeded")
        return False

    def _on_message(self, conn: Connection, subs: _Subs, message: str | bytes) -> None:
        try:
            request = wire.decode_request(message)
        except ProviderProtocolError as exc:
            conn.reply(_invalid(exc, message))  # rule SUBSCRIBE
            return
        if isinstance(request, wire.Heartbeat):  # rule HEARTBEAT
            reply = wire.HeartbeatReply(
                event="heartbeat", status="success", request_id=request.request_id
            )
            conn.reply(_json(reply))
        elif isinstance(request, wire.Reset):
            subs.keys.clear()  # rule UNSUBSCRIBE: documented, the server does not reply
        elif request.dataset not in self.datasets:
            text = (
                f"The dataset {request.dataset} you have specified is unrecognized or unsupported."
            )
            conn.reply(_error("INVALID_DATASET", text, request.request_id))
        elif isinstance(request, wire.Subscribe):
            self._subscribe(conn, subs, request)
        else:
            keys = [(request.dataset, t, request.frequency) for t in request.tickers]
            removed = tuple(k[1] for k in keys if subs.keys.pop(k, None) is not None)
            conn.reply(_success("SUCCESS_UNSUBSCRIPTION", removed, request.request_id))

    def _subscribe(self, conn: Connection, subs: _Subs, request: wire.Subscribe) -> None:
        accepted: list[str] = []
        already: list[str] = []
        for ticker in dict.fromkeys(request.tickers):
            key = (request.dataset, ticker, request.frequency)
            if not self._serves(request.dataset, ticker):  # rule TICKERS
                text = f"The ticker {ticker} you have specified is unrecognized or unsupported."
                conn.reply(_error("INVALID_TICKER", text, request.request_id))
            elif key in subs.keys:  # rule ALREADY
                already.append(ticker)
            else:
                accepted.append(ticker)
                subs.keys[key] = -1
        if already:
            text = f"You are already subscribed to ticker: {', '.join(already)}."
            conn.reply(_error("ALREADY_SUBSCRIBED", text, request.request_id))
        if accepted:
            conn.reply(_success("SUCCESS_SUBSCRIPTION", tuple(accepted), request.request_id))

    def _serves(self, dataset: str, ticker: str) -> bool:
        """True when ``ticker`` of ``dataset`` is served, bringing its market in if need be."""
        known = self.datasets[dataset]
        if ticker in known:
            return True
        stocks = dataset in STOCK_DATASETS
        if not (_STOCK if stocks else _PAIR).match(ticker):
            return False
        name = f"{ticker}.US" if stocks else ticker
        known[ticker] = name
        if isinstance(self.source, ModelSource):  # a recording has only the tickers it recorded
            self.source.add(name, _cadence(params_for(name)))
        return True

    # --- market data ---------------------------------------------------------------------------

    def on_batch(self, batch: Batch) -> None:
        """Render bars per subscribed (dataset, ticker, frequency) and push them (rule BARS)."""
        wanted = {key for _, subs, _ in self._sessions.values() for key in subs.keys}
        rendered: dict[Key, list[str]] = {}
        by_instrument: dict[str, list[Happening]] = {}
        recorded: list[tuple[wire.CandleUpdate, str]] = []
        for item in batch.items:
            if isinstance(item, Generated):
                by_instrument.setdefault(item.instrument, []).append(item.happening)
            elif isinstance(item, Recorded):
                candle = _candle(item.data)
                if candle is not None:
                    recorded.append((candle, item.data))
        for key in sorted(wanted):
            instrument = self.datasets[key[0]].get(key[1], "")
            if instrument in by_instrument:
                frames = self._renderer(key).render(by_instrument[instrument])
                rendered[key] = [frame.text for frame in frames]
        for conn, subs, _ in list(self._sessions.values()):
            for key in subs.keys:
                for text in rendered.get(key, ()):
                    conn.push(text)
            for candle, text in recorded:
                self._pass_on(conn, subs, candle, text, batch.ts_ns)

    def _renderer(self, key: Key) -> FinazonRenderer:
        renderer = self._renderers.get(key)
        if renderer is None:
            dataset, ticker, frequency = key
            renderer = self._renderers[key] = FinazonRenderer(
                ticker, dataset=dataset, frequency=wire.FREQUENCIES[frequency],
                publisher=_PUBLISHERS.get(dataset, ""),
            )  # fmt: skip
        return renderer

    @staticmethod
    def _pass_on(
        conn: Connection, subs: _Subs, candle: wire.CandleUpdate, text: str, ts_ns: int
    ) -> None:
        # A recorded bar goes to its own frequency byte for byte, and to a slower frequency
        # once per period of that frequency (the first bar of each period).
        recorded_ns = _FREQUENCY_NS.get(candle.f or "1s", _NS)
        for key in subs.keys:
            dataset, ticker, frequency = key
            period = _FREQUENCY_NS[frequency]
            if ticker != candle.s or (candle.d or dataset) != dataset or period < recorded_ns:
                continue
            bucket = ts_ns // period
            if period == recorded_ns:
                conn.push(text)
            elif bucket != subs.keys[key]:
                subs.keys[key] = bucket
                conn.push(_json(msgspec.structs.replace(candle, f=frequency)))


def market_source(
    seed: int, start_ns: int, datasets: Mapping[str, Sequence[str]] = DEFAULT_DATASETS
) -> ModelSource:
    """The seeded market model with Finazon's cadence: the forming bar every second, no book."""
    names = list(dict.fromkeys(name for members in datasets.values() for name in members))
    params = {name: _cadence(params_for(name)) for name in names}
    return ModelSource(names, seed, start_ns, params)


def _cadence(params: MarketParams) -> MarketParams:
    return msgspec.structs.replace(
        params, bar_update_ns=_NS, book_interval_ns=0, ticker_interval_ns=0
    )


def _json(message: object) -> str:
    return _ENCODER.encode(message).decode("utf-8")


def _error(code: str, message: str, request_id: wire.RequestId | UnsetType = UNSET) -> str:
    return _json(
        wire.ErrorMessage(status="error", code=code, message=message, request_id=request_id)
    )


def _success(code: str, tickers: tuple[str, ...], request_id: wire.RequestId | UnsetType) -> str:
    reply = wire.SuccessReply(status="success", code=code, data=tickers, request_id=request_id)  # type: ignore[arg-type]
    return _json(reply)


def _invalid(exc: ProviderProtocolError, message: str | bytes) -> str:
    try:
        _ANY.decode(message)
    except msgspec.DecodeError:
        return _error("INVALID_JSON", "the message is not valid JSON")
    if exc.path in _PARAM_CODES:
        code, text = _PARAM_CODES[exc.path]
    elif "missing required field" in exc.reason:
        field = exc.reason.rpartition("`")[0].rpartition("`")[2]
        code, text = "MISSING_PARAMETER", f"missing required parameter: {field}"
    else:
        code, text = "INVALID_PARAMETER", f"invalid parameter {exc.path or '$'}: {exc.reason}"
    return _error(code, text, _request_id(message))


def _request_id(message: str | bytes) -> wire.RequestId | UnsetType:
    # The id of a message that failed to decode, so that its error can still be matched.
    try:
        loose = _ANY.decode(message)
    except msgspec.DecodeError:
        return UNSET
    value = loose.get("request_id") if isinstance(loose, dict) else None
    return value if isinstance(value, int | str) and not isinstance(value, bool) else UNSET


def _candle(data: str) -> wire.CandleUpdate | None:
    try:
        return _CANDLE.decode(data)
    except msgspec.DecodeError:
        return None  # a reply or garbage: not a bar to pass on
